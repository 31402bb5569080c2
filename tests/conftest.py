"""Fixtures and helpers shared by the test modules.

Small real GeoTIFFs and vector files with answers known by hand, the whole demo run once, the
tiny runnable dataset, the crafted urban case (tests/urban_case.py), a guard against reading
HDF4 pixels, and the rule of the fuzz tests.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from click.testing import CliRunner, Result
from hypothesis import settings
from rasterio.transform import from_origin
from shapely.geometry import box

from urbanshrink_gis import export
from urbanshrink_gis.cli import cli
from urbanshrink_gis.errors import UrbanShrinkError, UrbanShrinkWarning

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


# --- a tiny runnable dataset ---------------------------------------------------------------
#
# Two cities on a 64 x 64 grid: tiled DEFLATE GeoTIFFs, a GeoPackage written with GDAL, a census
# CSV and the configuration. test_bad_input.py and test_reliability.py break one thing of it at
# a time; previous_run is one successful run of it, copied into each case's output folder.

YEARS = (2010, 2020)
SIZE, RES, ORIGIN = 64, 0.01, (100.0, 40.0)
CITIES = {  # id: (name, box in lon/lat)
    "230100": ("哈尔滨市", (100.02, 39.70, 100.30, 39.98)),
    "230400": ("鹤岗市", (100.34, 39.40, 100.62, 39.68)),
}
POPULATION = """\
adcode,name,year,pop_resident
230100,哈尔滨市,2010,10635971
230100,哈尔滨市,2020,10009854
230400,鹤岗市,2010,1058665
230400,鹤岗市,2020,891271
"""
CONFIG = """\
[boundaries]
path = "boundaries/cities.gpkg"
layer = "cities"
id = "adcode"
name = "name"

[[rasters]]
kind = "landcover"
product = "clcd"
path = "rasters/clcd_{year}.tif"
crs = "EPSG:4326"  # the tiny grid is geographic and coarse: said, so the preset check passes
pixel_size = 0.01

[[rasters]]
kind = "nightlight"
product = "custom"  # VNL v2 starts in 2012: the tiny 2010 light is a custom product
path = "rasters/vnl2_{year}.tif"
dtype = "float32"
lit_threshold = 0.0

[population]
path = "population.csv"
id = "adcode"
year = "year"
resident = "pop_resident"

[analysis]
start = 2010
end = 2020
"""


def boundaries_frame() -> gpd.GeoDataFrame:
    ids = list(CITIES)
    return gpd.GeoDataFrame(
        {"adcode": ids, "name": [CITIES[i][0] for i in ids]},
        geometry=[box(*CITIES[i][1]) for i in ids],
        crs="EPSG:4326",
    )


def landcover(year: int) -> np.ndarray:
    """Class 1 everywhere, a built-up (8) square per city that grows from 2010 to 2020."""
    a = np.ones((SIZE, SIZE), np.uint8)
    half = 4 if year == YEARS[0] else 6
    for row, col in ((16, 16), (46, 48)):
        a[row - half : row + half, col - half : col + half] = 8
    return a


def nightlight(year: int) -> np.ndarray:
    a = np.zeros((SIZE, SIZE), np.float32)
    a[8:24, 8:24] = 30.0 if year == YEARS[0] else 25.0
    a[40:52, 40:56] = 10.0
    return a


def write_raster(
    path: Path, array: np.ndarray, *, nodata=None, crs="EPSG:4326", res=RES, tiled=True
) -> Path:
    profile = dict(
        driver="GTiff", width=array.shape[1], height=array.shape[0], count=1, dtype=array.dtype,
        transform=from_origin(*ORIGIN, res, res), nodata=nodata, compress="deflate",
    )  # fmt: skip
    if tiled:
        profile.update(tiled=True, blockxsize=16, blockysize=16)
    if crs is not None:
        profile["crs"] = crs
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(array, 1)
    return path


def write_boundaries(root: Path, gdf: gpd.GeoDataFrame, name: str = "cities.gpkg") -> Path:
    path = root / "boundaries" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "'crs' was not provided", UserWarning)
        gdf.to_file(path, layer="cities", driver="GPKG")
    return path


def write_tiny(root: Path) -> Path:
    """Write the tiny dataset and its configuration under ``root``; return the configuration."""
    write_boundaries(root, boundaries_frame())
    for year in YEARS:
        write_raster(root / "rasters" / f"clcd_{year}.tif", landcover(year), nodata=0)
        write_raster(root / "rasters" / f"vnl2_{year}.tif", nightlight(year))
    (root / "population.csv").write_text(POPULATION, encoding="utf-8")
    config = root / "urbanshrink.toml"
    config.write_text(CONFIG, encoding="utf-8")
    return config


def edit_config(root: Path, old: str, new: str) -> None:
    config = root / "urbanshrink.toml"
    text = config.read_text(encoding="utf-8")
    assert old in text, old
    config.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.fixture(scope="session")
def previous_run(tmp_path_factory) -> Path:
    """Outputs of one successful run of the tiny dataset (copied into every case's folder)."""
    root = tmp_path_factory.mktemp("tiny")
    out = root / "out"
    result = CliRunner().invoke(cli, ["run", str(write_tiny(root)), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert set(export.RUN_OUTPUTS) <= {p.name for p in out.iterdir()}
    return out


@pytest.fixture
def tiny(tmp_path, previous_run) -> tuple[Path, Path]:
    """(dataset root, output folder holding a previous run's outputs and checkpoints)."""
    root = tmp_path / "d"
    write_tiny(root)
    out = tmp_path / "out"
    shutil.copytree(previous_run, out)
    return root, out


def assert_one_line_error(result: Result, *needles: str) -> str:
    """Exit 2, one ``Error:`` line on stderr containing every needle, and no traceback.

    Stages that finished before the error may have printed their progress lines on stdout.
    """
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.output
    line = lines[0]
    assert line.startswith("Error: "), line
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in line, f"{needle!r} not in {line!r}"
    return line


def full_tree(folder: Path) -> dict[str, str]:
    """Relative path to SHA-256 of every file and ``/`` of every folder, hidden ones included."""
    if not folder.exists() and not folder.is_symlink():
        return {}
    tree = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        tree[rel] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "/"
    return tree


def cli_run(*args: str | os.PathLike) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def warning_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("Warning: ")]


# --- the crafted urban case ------------------------------------------------------------------


@pytest.fixture
def crafted(tmp_path):
    """Boundaries, two CLCD years and a census table of the crafted case; the config text."""
    from urban_case import write_case

    return tmp_path, write_case(tmp_path)


# --- HDF4 tiles -------------------------------------------------------------------------------


@pytest.fixture
def no_pixel_read(monkeypatch):
    """pyhdf's SDS.get (the one call reading a layer's pixels) fails the test."""
    from pyhdf.SD import SDS

    def refuse(*args, **kwargs):
        raise AssertionError("a pixel was read")

    monkeypatch.setattr(SDS, "get", refuse)
    return monkeypatch


# --- fuzzing ----------------------------------------------------------------------------------


def allowed(call: Callable[[], object], also: tuple[type[Warning], ...] = ()) -> object | None:
    """The call's result, or None when it raised an UrbanShrinkError; warnings must be ours.

    ``also`` names more warning classes that may pass (GDAL's remarks on odd files).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = call()
        except UrbanShrinkError as err:
            assert str(err) and "\n" not in str(err)
            result = None
    assert all(issubclass(w.category, (UrbanShrinkWarning, *also)) for w in caught), [
        str(w.message) for w in caught
    ]
    return result
