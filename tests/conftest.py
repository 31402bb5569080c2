"""Fixtures that write small real GeoTIFFs and vector files with answers known by hand."""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from hypothesis import settings
from rasterio.transform import from_origin

# Timing is for `make bench`, not for tests: no hypothesis deadlines (CI machines are shared).
# On CI the examples are derived from each test's name, so a run can be repeated exactly;
# on a developer's machine they are fresh every time and keep finding new cases.
settings.register_profile("urbanshrink", deadline=None, derandomize=bool(os.environ.get("CI")))
settings.load_profile("urbanshrink")

SHARED = Path(__file__).resolve().parents[2] / "shared"
CHINA_CITIES = SHARED / "data" / "china_prefectures" / "cn_city_tianditu.gpkg"
CHINA_CENSUS = SHARED / "data" / "china_population" / "census_city_2010-2020_v1.csv"

requires_shared = pytest.mark.skipif(
    not CHINA_CITIES.exists(), reason="../shared (real China boundaries) is not beside the repo"
)


@pytest.fixture
def make_raster(tmp_path):
    """Write an array to a GeoTIFF; returns its path."""

    def make(
        values,
        *,
        res=0.01,
        origin=(100.0, 40.0),
        nodata=None,
        crs="EPSG:4326",
        name="r.tif",
        **profile,
    ):
        a, path = np.asarray(values), tmp_path / name
        grid = dict(height=a.shape[0], width=a.shape[1], transform=from_origin(*origin, res, res))
        band = dict(count=1, dtype=a.dtype, nodata=nodata, crs=crs)
        with rasterio.open(path, "w", driver="GTiff", **grid, **band, **profile) as dst:
            dst.write(a, 1)
        return path

    return make


@pytest.fixture
def make_zones(tmp_path):
    """Write polygons (with ids "a", "b", ...) to a GeoPackage; returns its path."""

    def make(geoms, *, crs="EPSG:4326", ids=None, name="zones.gpkg"):
        ids = ids if ids is not None else [chr(ord("a") + i) for i in range(len(geoms))]
        path = tmp_path / name
        gpd.GeoDataFrame({"id": ids}, geometry=list(geoms), crs=crs).to_file(path)
        return path

    return make


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """The whole job on the bundled demo, run once per session: (RunResult, output folder)."""
    from urbanshrink_gis import pipeline
    from urbanshrink_gis.errors import UrbanShrinkWarning

    out = tmp_path_factory.mktemp("demo")
    # the census has no urban population for 通化 and 周口: their urban footprints are no_data
    with pytest.warns(UrbanShrinkWarning, match=r"urban scope: 2 of 40 units left no_data"):
        return pipeline.run_demo(out), out
