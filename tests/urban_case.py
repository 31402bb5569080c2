"""The crafted case of urban footprints: two prefectures, two CLCD years, a census table.

A prefecture whose residents fall (-10 %, rural out-migration) while its town's residents rise
(+10 %) and its core grows inside the footprint. Under the prefecture scope it is in the
paradox (shrinking, expanding); under the urban scope it grows and expands. Land cover is CLCD
as downloaded (``CLCD_v01_{year}_albert.tif``, Albers PROJ string, 30 m, uint8, no nodata tag);
pixel areas are exact there (0.0009 km²), so footprint areas are known. The ``crafted`` fixture
of conftest.py writes it.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from pyproj import CRS
from rasterio.transform import from_origin

from downloads import CLCD_PROJ
from urbanshrink_gis import pipeline

RES = 30.0
ALBERS = CRS.from_proj4(CLCD_PROJ)
X0, Y1 = 600_000.0, 3_600_000.0  # north-west corner of the grid (Albers metres)
SIZE = 400  # pixels a side: 12 km
BUILT = 8  # CLCD impervious
CONFIG = """
[boundaries]
path = "cities.gpkg"
id = "adcode"
name = "name"
scope = ["prefecture", "urban"]
{urban}
[[rasters]]
kind = "landcover"
product = "clcd"
path = "lc/CLCD_v01_{{year}}_albert.tif"

[population]
path = "census.csv"
id = "adcode"
year = "year"
resident = "pop_resident"
urban = "pop_urban"

[analysis]
start = 2010
end = 2020
"""


def square(x0: float, y0: float, x1: float, y1: float) -> shapely.Polygon:
    return shapely.box(x0, y0, x1, y1)


def prefecture_frame() -> gpd.GeoDataFrame:
    """Two 6 km x 12 km prefectures side by side, written in EPSG:4326 (reprojected back)."""
    west = square(X0, Y1 - SIZE * RES, X0 + SIZE * RES / 2, Y1)
    east = square(X0 + SIZE * RES / 2, Y1 - SIZE * RES, X0 + SIZE * RES, Y1)
    gdf = gpd.GeoDataFrame(
        {"adcode": ["420100", "420200"], "name": ["西城", "东乡"]},
        geometry=[west, east],
        crs=ALBERS,
    )
    return gdf.to_crs("EPSG:4326")


def paint(lc: np.ndarray, col0: int, row0: int, cols: int, rows: int) -> None:
    lc[row0 : row0 + rows, col0 : col0 + cols] = BUILT


def write_landcover(folder, year: int) -> None:
    """The west prefecture's core (2 km square in 2010, 2.4 km in 2020), a village, sprawl."""
    lc = np.full((SIZE, SIZE), 1, np.uint8)  # cropland
    grow = 0 if year == 2010 else 7  # 2020: 7 pixels more on each side (0.21 km)
    paint(lc, 67 - grow, 167 - grow, 67 + 2 * grow, 67 + 2 * grow)  # core, centre (100, 200)
    lc[190:200, 90:95] = 5  # a pond inside the core: a hole, filled in the footprint
    paint(lc, 20, 20, 10, 10)  # a village of 0.09 km², far from the core: below min_km2
    if year == 2020:
        paint(lc, 20, 330, 34, 34)  # rural sprawl of ~1.04 km², outside the footprint
    folder.mkdir(parents=True, exist_ok=True)
    profile = dict(
        driver="GTiff", width=SIZE, height=SIZE, count=1, dtype="uint8", crs=ALBERS,
        transform=from_origin(X0, Y1, RES, RES), tiled=True, blockxsize=256, blockysize=256,
        compress="deflate",
    )  # fmt: skip
    with rasterio.open(folder / f"CLCD_v01_{year}_albert.tif", "w", **profile) as dst:
        dst.write(lc, 1)


def write_case(folder: Path) -> str:
    """Write the boundaries, two CLCD years and the census table; return the config text."""
    prefecture_frame().to_file(folder / "cities.gpkg", layer="cities", engine="pyogrio")
    for year in (2010, 2020):
        write_landcover(folder / "lc", year)
    pd.DataFrame(
        {
            "adcode": ["420100", "420100", "420200", "420200"],
            "year": [2010, 2020, 2010, 2020],
            "pop_resident": [1_000_000, 900_000, 300_000, 310_000],
            "pop_urban": [400_000, 440_000, 50_000, 60_000],
        }
    ).to_csv(folder / "census.csv", index=False)
    return CONFIG


def case_config(folder, text: str, urban: str = "") -> pipeline.RunConfig:
    """Write ``text`` (with its ``{urban}`` table) as the folder's configuration and load it."""
    path = folder / "urbanshrink.toml"
    path.write_text(text.format(urban=urban), encoding="utf-8")
    return pipeline.load_config(path)
