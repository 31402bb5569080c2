"""The bundled demo: real boundaries of north-east China (and a few contrasts) with seeded
synthetic rasters, so that every command can be tried without downloads.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
from rasterio.transform import from_origin

from urbanshrink_gis.errors import InputError, OutputExistsError
from urbanshrink_gis.zonal import zonal_stats

__all__ = ["DemoData", "demo_root", "run_demo", "write_demo_data"]

log = logging.getLogger(__name__)

NTL_RES = 1 / 240  # 15 arc-seconds, as VIIRS VNL v2


@dataclass(frozen=True, slots=True)
class DemoData:
    """Paths of a written demo dataset."""

    root: Path
    boundaries: Path
    nightlight: Path


def demo_root() -> Path:
    """Folder of the bundled demo data (``data/`` of the source tree)."""
    root = Path(__file__).resolve().parents[2] / "data"
    if not (root / "boundaries" / "cities.gpkg").exists():
        raise InputError(
            "the bundled demo data is missing",
            where=str(root),
            fix="run from a source checkout (git clone) with an editable install",
        )
    return root


def write_demo_data(directory: str | os.PathLike, *, overwrite: bool = False) -> DemoData:
    """Write the demo boundaries and a seeded night-light raster to ``directory``.

    Parameters
    ----------
    directory
        Output folder; created if needed.
    overwrite
        Replace an existing demo dataset there.

    Returns
    -------
    DemoData
        Where each part was written.
    """
    root = Path(directory)
    boundaries = root / "boundaries" / "cities.gpkg"
    nightlight = root / "rasters" / "ntl" / "vnl2_2020.tif"
    if boundaries.exists() and not overwrite:
        raise OutputExistsError(
            "demo data exists", where=str(root), fix="pass --overwrite or choose another folder"
        )
    boundaries.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(demo_root() / "boundaries" / "cities.gpkg", boundaries)
    cities = gpd.read_file(boundaries, layer="cities")
    _write_nightlight(cities, nightlight, seed=2020)
    return DemoData(root, boundaries, nightlight)


def _write_nightlight(cities: gpd.GeoDataFrame, path: Path, *, seed: int) -> None:
    """Night light as VNL v2 ships it: float32, EPSG:4326, 15", background zeroed."""
    rng = np.random.default_rng(seed)
    west, south, east, north = cities.total_bounds
    west, north = np.floor(west), np.ceil(north)
    width = int(np.ceil((east - west) / NTL_RES))
    height = int(np.ceil((north - south) / NTL_RES))
    lon = west + (np.arange(width) + 0.5) * NTL_RES
    lat = north - (np.arange(height) + 0.5) * NTL_RES
    light = np.zeros((height, width), np.float32)
    for x, y in zip(cities["lon"], cities["lat"], strict=True):
        peak, radius = rng.uniform(20, 80), rng.uniform(0.05, 0.2)
        cols = slice(*np.searchsorted(lon, [x - 4 * radius, x + 4 * radius]))
        rows = slice(*np.searchsorted(-lat, [-(y + 4 * radius), -(y - 4 * radius)]))
        dx, dy = np.meshgrid(lon[cols] - x, lat[rows] - y)
        light[rows, cols] += (peak * np.exp(-(dx**2 + dy**2) / (2 * radius**2))).astype(np.float32)
    light[light < 0.3] = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = dict(
        driver="GTiff", width=width, height=height, count=1, dtype="float32", crs="EPSG:4326",
        transform=from_origin(west, north, NTL_RES, NTL_RES), tiled=True, blockxsize=512,
        blockysize=512, compress="deflate", predictor=3,
    )  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(light, 1)
        dst.set_band_description(1, "average_masked radiance (nW/cm2/sr), synthetic")


def run_demo(out_dir: str | os.PathLike) -> tuple[pd.DataFrame, Path]:
    """Write the demo data under ``out_dir`` and return its night-light zonal statistics."""
    out = Path(out_dir)
    data = write_demo_data(out / "data", overwrite=True)
    table = zonal_stats(
        data.boundaries,
        data.nightlight,
        ("count", "sum", "mean", "max", "area_km2"),
        zone_id="adcode",
    )
    names = gpd.read_file(data.boundaries, layer="cities").set_index("adcode")["name"]
    table.insert(0, "name", names.reindex(table.index).to_numpy())
    from urbanshrink_gis.export import write_table

    write_table(table, out / "zonal_ntl_2020.csv", overwrite=True)
    return table, out
