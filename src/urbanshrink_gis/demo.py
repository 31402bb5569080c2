"""The bundled demo: real boundaries and census, seeded synthetic rasters, known truth.

The demo covers north-east China (Liaoning, Jilin, Heilongjiang) and four contrasts.
The generator builds, for every city, a built-up core whose area follows its 2010 census
population (110 m² per resident) and grows or shrinks by a chosen rate; night light follows
population over the built-up land. A few cities get a new district: 鹤岗 (230400) builds one
that stays dark, 哈尔滨 (230100) one that is lit. The land cover copies CLCD's grid (Albers
105/25/47, uint8, no nodata tag like the real file, CLCD legend) at 250 m instead of 30 m so
that ``make demo`` stays well under two minutes (the configuration says so with
``pixel_size = 250``); the night light copies the harmonized DMSP-VIIRS series (uint8 DN 0-63,
EPSG:4326, 30", ``_calDMSP`` names to 2013 and ``_simVIIRS`` after), whose years span the
census period.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
from rasterio.features import rasterize
from rasterio.transform import from_origin

from urbanshrink_gis.errors import InputError, OutputExistsError
from urbanshrink_gis.products.presets import get_product

__all__ = ["DEMO_YEARS", "DemoData", "demo_root", "write_demo_data"]

log = logging.getLogger(__name__)

DEMO_YEARS = (2010, 2015, 2020)
LC_RES = 250.0
NTL_RES = 1 / 120  # the harmonized DMSP-VIIRS grid (30 arc-seconds)
ALBERS = get_product("clcd").crs
BUILTUP_M2_PER_PERSON = 110.0
CLCD_BUILTUP = 8
#: Built-up change 2010 -> 2020 (fraction) of the cities that do not take the default.
CONTRACTING = {"232700": -0.25, "220600": -0.2, "230900": -0.2}
EXPANDING_DEFAULT = 0.3
#: New districts: city -> (lit?, area km² by 2020, offset of its centre east of the core, km).
NEW_DISTRICTS = {"230400": (False, 60.0, 26.0), "230100": (True, 120.0, 25.0)}

_CONFIG = """\
# Demo run: real boundaries and census, seeded synthetic rasters (see SOURCE.md of the repo).
[boundaries]
path = "boundaries/cities.gpkg"
layer = "cities"
id = "adcode"
name = "name"
province = "province_name"
# Both units: the whole prefectures (the headline) and their urban footprints, derived from the
# land cover of the start year (built-up clusters of 1 km² and more, grown by 1 km) and paired
# with the census' urban residents. 鞍山 loses residents (-8.8 %) while its towns gain them.
scope = ["prefecture", "urban"]

[boundaries.urban]
min_km2 = 1.0
buffer_m = 1000.0
population = "urban"

[[rasters]]
kind = "landcover"
product = "clcd"
path = "rasters/landcover/CLCD_v01_{{year}}_albert.tif"
pixel_size = 250.0  # the synthetic demo land cover is coarser than CLCD's 30 m

[[rasters]]
kind = "nightlight"
product = "dmsp_harmonized"  # the harmonized series spans 2010-2020 (VNL v2 starts in 2012)
path = "rasters/ntl/Harmonized_DN_NTL_{{year}}_*.tif"

[population]
path = "population/census_demo.csv"
id = "adcode"
year = "year"
resident = "pop_resident"
urban = "pop_urban"
age60 = "age60_share"

[analysis]
start = {start}
end = {end}
"""


@dataclass(frozen=True, slots=True)
class DemoData:
    """Paths of a written demo dataset."""

    root: Path
    config: Path
    boundaries: Path
    population: Path
    truth: Path


def demo_root() -> Path:
    """Folder of the bundled demo data (``demo_data/`` inside the installed package)."""
    root = Path(str(resources.files("urbanshrink_gis") / "demo_data"))
    if not (root / "boundaries" / "cities.gpkg").exists():
        raise InputError(
            "the bundled demo data is missing",
            where=str(root),
            fix="reinstall urbanshrink_gis (pip install --force-reinstall urbanshrink_gis)",
        )
    return root


def write_demo_data(
    directory: str | os.PathLike, *, overwrite: bool = False, seed: int = 2020
) -> DemoData:
    """Write the demo dataset and its run configuration to ``directory``.

    Parameters
    ----------
    directory
        Output folder; created if needed.
    overwrite
        Replace an existing demo dataset there.
    seed
        Seed of the synthetic rasters.

    Returns
    -------
    DemoData
        Where the parts were written; ``config`` runs the whole job on them.
    """
    root = Path(directory)
    config = root / "urbanshrink.toml"
    if config.exists() and not overwrite:
        raise OutputExistsError(
            "demo data exists", where=str(root), fix="pass --overwrite or choose another folder"
        )
    source = demo_root()
    data = DemoData(
        root,
        config,
        root / "boundaries" / "cities.gpkg",
        root / "population" / "census_demo.csv",
        root / "truth.csv",
    )
    for src, dst in [
        (source / "boundaries" / "cities.gpkg", data.boundaries),
        (source / "population" / "census_demo.csv", data.population),
    ]:
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    cities = gpd.read_file(data.boundaries, layer="cities")
    population = pd.read_csv(data.population, dtype={"adcode": str})
    truth = demo_truth(cities, population)
    rng = np.random.default_rng(seed)
    district = _write_landcover(cities, truth, root / "rasters" / "landcover", rng)
    truth["new_district_km2"] = truth["city_id"].map(district).fillna(0.0)
    dark = truth["new_district"] == "dark"
    truth["new_dark_builtup_km2"] = truth["new_district_km2"].where(dark, 0.0)
    _write_nightlight(cities, truth, population, root / "rasters" / "ntl", rng)
    truth.to_csv(data.truth, index=False)
    config.write_text(_CONFIG.format(start=DEMO_YEARS[0], end=DEMO_YEARS[-1]), encoding="utf-8")
    return data


def demo_truth(cities: gpd.GeoDataFrame, population: pd.DataFrame) -> pd.DataFrame:
    """The class each demo city is built to have (from the census and the chosen growth)."""
    pop = population.pivot(index="adcode", columns="year", values="pop_resident")
    first, last = DEMO_YEARS[0], DEMO_YEARS[-1]
    t = pd.DataFrame({"city_id": cities["adcode"], "lon": cities["lon"], "lat": cities["lat"]})
    t["pop_start"] = t["city_id"].map(pop[first]).astype(float)
    t["pop_end"] = t["city_id"].map(pop[last]).astype(float)
    t["builtup_growth"] = t["city_id"].map(CONTRACTING).fillna(EXPANDING_DEFAULT)
    t["new_district"] = (
        t["city_id"]
        .map({k: "lit" if v[0] else "dark" for k, v in NEW_DISTRICTS.items()})
        .fillna("none")
    )
    shrinking = t["pop_end"] < t["pop_start"]
    grows = t["builtup_growth"] > 0
    t["class"] = np.select(
        [shrinking & grows, shrinking & ~grows, ~shrinking & grows],
        ["shrinking_expanding", "shrinking_contracting", "growing_expanding"],
        "growing_contracting",
    )
    return t.sort_values("city_id", ignore_index=True)


def _core_area_km2(row: pd.Series, year: int) -> float:
    """Area of the built-up core in ``year``: linear between the census-based start and end."""
    frac = (year - DEMO_YEARS[0]) / (DEMO_YEARS[-1] - DEMO_YEARS[0])
    return row["pop_start"] * BUILTUP_M2_PER_PERSON / 1e6 * (1 + row["builtup_growth"] * frac)


def _district_area_km2(city_id: str, year: int) -> float:
    """New districts appear after 2010 and reach their full area by the last year."""
    if city_id not in NEW_DISTRICTS or year <= DEMO_YEARS[0]:
        return 0.0
    frac = (year - DEMO_YEARS[0]) / (DEMO_YEARS[-1] - DEMO_YEARS[0])
    return NEW_DISTRICTS[city_id][1] * frac


def _discs(row: pd.Series, year: int) -> list[tuple[float, float, float, bool]]:
    """(east km, north km, radius km, lit) of the built-up discs of a city around its centre."""
    discs = [(0.0, 0.0, np.sqrt(_core_area_km2(row, year) / np.pi), True)]
    district = _district_area_km2(row["city_id"], year)
    if district > 0:
        lit, _, east = NEW_DISTRICTS[row["city_id"]]
        discs.append((east, 0.0, np.sqrt(district / np.pi), lit))
    return discs


def _write_landcover(
    cities: gpd.GeoDataFrame, truth: pd.DataFrame, folder: Path, rng: np.random.Generator
) -> dict[str, float]:
    """CLCD-like land cover: smooth random background classes plus each city's built-up discs.

    Returns the km² of each new district as painted (inside its city) in the last year.
    """
    albers = cities.to_crs(ALBERS)
    west, south, east, north = albers.total_bounds
    width = int(np.ceil((east - west) / LC_RES))
    height = int(np.ceil((north - south) / LC_RES))
    transform = from_origin(west, north, LC_RES, LC_RES)
    labels = rasterize(
        ((g, i + 1) for i, g in enumerate(albers.geometry)),
        out_shape=(height, width),
        transform=transform,
        dtype="int16",
    )
    coarse = rng.choice([1, 1, 1, 2, 2, 3, 4, 5, 7, 9], size=(height // 40 + 1, width // 40 + 1))
    background = np.repeat(np.repeat(coarse, 40, axis=0), 40, axis=1)[:height, :width]
    background = background.astype(np.uint8)
    centres = gpd.GeoSeries(gpd.points_from_xy(truth["lon"], truth["lat"]), crs="EPSG:4326").to_crs(
        ALBERS
    )
    folder.mkdir(parents=True, exist_ok=True)
    district: dict[str, float] = {}
    for year in DEMO_YEARS:
        lc = background.copy()
        for i, row in truth.iterrows():
            label = int(np.flatnonzero(cities["adcode"].to_numpy() == row["city_id"])[0]) + 1
            for k, (dx, dy, radius, _) in enumerate(_discs(row, year)):
                cx, cy = centres.x[i] + dx * 1000, centres.y[i] + dy * 1000
                painted = _paint_disc(lc, labels, label, transform, cx, cy, radius * 1000)
                if k == 1:
                    district[row["city_id"]] = painted * LC_RES**2 / 1e6
        lc[labels == 0] = 0
        _write(folder / f"CLCD_v01_{year}_albert.tif", lc, transform, ALBERS, nodata=None)
    return district


def _paint_disc(
    lc: np.ndarray, labels: np.ndarray, label: int, transform, cx: float, cy: float, r: float
) -> int:
    """Paint a built-up disc inside one city; return the number of pixels painted."""
    c0, r0 = ~transform * (cx - r, cy + r)
    c1, r1 = ~transform * (cx + r, cy - r)
    rows = slice(max(int(r0), 0), max(int(np.ceil(r1)) + 1, 0))
    cols = slice(max(int(c0), 0), max(int(np.ceil(c1)) + 1, 0))
    yy, xx = np.mgrid[rows, cols]
    x = transform.c + (xx + 0.5) * transform.a
    y = transform.f + (yy + 0.5) * transform.e
    inside = ((x - cx) ** 2 + (y - cy) ** 2 <= r * r) & (labels[rows, cols] == label)
    lc[rows, cols][inside] = CLCD_BUILTUP
    return int(inside.sum())


def _write_nightlight(
    cities: gpd.GeoDataFrame,
    truth: pd.DataFrame,
    population: pd.DataFrame,
    folder: Path,
    rng: np.random.Generator,
) -> None:
    """VNL v2-like night light: radiance over the lit discs, scaled by people per km² built."""
    west, south, east, north = cities.total_bounds
    west, north = np.floor(west), np.ceil(north)
    width = int(np.ceil((east - west) / NTL_RES))
    height = int(np.ceil((north - south) / NTL_RES))
    lon = west + (np.arange(width) + 0.5) * NTL_RES
    lat = north - (np.arange(height) + 0.5) * NTL_RES
    pop = population.pivot(index="adcode", columns="year", values="pop_resident").astype(float)
    folder.mkdir(parents=True, exist_ok=True)
    for year in DEMO_YEARS:
        light = np.zeros((height, width), np.float32)
        for _, row in truth.iterrows():
            people = np.interp(year, [DEMO_YEARS[0], DEMO_YEARS[-1]], pop.loc[row["city_id"]])
            for dx, dy, radius, lit in _discs(row, year):
                if not lit:
                    continue
                peak = 5 + 40 * people / 1e7
                _glow(light, lon, lat, row["lon"], row["lat"], dx, dy, radius, peak)
        light += rng.gamma(0.5, 0.2, size=light.shape).astype(np.float32) * (light > 0)
        light[light < 0.3] = 0
        dn = np.clip(np.rint(light * 1.4), 0, 63).astype(np.uint8)  # DMSP-like DN 0-63
        source = "calDMSP" if year <= 2013 else "simVIIRS"
        _write(folder / f"Harmonized_DN_NTL_{year}_{source}.tif", dn,
               from_origin(west, north, NTL_RES, NTL_RES), "EPSG:4326", nodata=None)  # fmt: skip


def _glow(light, lon, lat, lon0, lat0, dx_km, dy_km, radius_km, peak) -> None:
    kx = 111.32 * np.cos(np.radians(lat0))
    cx, cy = lon0 + dx_km / kx, lat0 + dy_km / 110.57
    reach = 2.5 * radius_km
    cols = slice(*np.searchsorted(lon, [cx - reach / kx, cx + reach / kx]))
    rows = slice(*np.searchsorted(-lat, [-(cy + reach / 110.57), -(cy - reach / 110.57)]))
    ex, ny = np.meshgrid((lon[cols] - cx) * kx, (lat[rows] - cy) * 110.57)
    d = np.hypot(ex, ny)
    core = np.where(
        d <= radius_km, peak, peak * np.exp(-((d - radius_km) ** 2) / (0.5 * radius_km**2))
    )
    light[rows, cols] += core.astype(np.float32)


def _write(path: Path, array: np.ndarray, transform, crs: str, *, nodata: float | None) -> None:
    profile = dict(
        driver="GTiff", width=array.shape[1], height=array.shape[0], count=1, dtype=array.dtype,
        crs=crs, transform=transform, nodata=nodata, tiled=True, blockxsize=512, blockysize=512,
        compress="deflate",
    )  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array, 1)
