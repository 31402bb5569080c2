"""Synthetic benchmark data, built once into ``bench/.cache`` (seeded, reused on later runs).

Files
-----
zones.gpkg, zones_detailed.gpkg
    The real 375 prefectures (EPSG:4326), and the same densified to a vertex every ~100 m.
ntl_<year>.tif (2012-2021)
    VIIRS-like float32 night lights over lon 73-135, lat 18-54 (15 arc-second pixels): lights
    that follow the cities, multiplicative noise, a zeroed dark background and sparse nodata.
    Year 2012 is scenario A; the ten years are A10.
clcd_<seed>.tif, zones_b.gpkg, zones_p.gpkg
    CLCD-like uint8 land cover (classes 1-9, 8 = impervious, nodata 0) at 30 m in Albers,
    centred near 113E 34N; the boundaries that intersect it, projected to the raster's CRS
    (``zones_b``: the id alone; ``zones_p``: every field, in EPSG:4326 as the shared file, the
    province-size whole run's boundaries).
clcd_china.vrt, clcd_china_later.vrt
    A CLCD-size nationwide mosaic (about 161,000 x 184,000 pixels) that repeats three tiles,
    and a "later year" of it with the tiles in another order (for the change raster).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from pyproj import CRS, Transformer
from rasterio.transform import from_origin
from rasterio.windows import Window

BOUNDARIES = Path(__file__).resolve().parents[2] / "shared/data/china_prefectures"
BOUNDARIES = BOUNDARIES / "cn_city_tianditu.gpkg"
ZONE_ID = "city_adcode"
YEARS = tuple(range(2012, 2022))
# CLCD's own Albers (WGS84 datum), so that the whole run's CLCD preset accepts the land cover
ALBERS = CRS.from_proj4(
    "+proj=aea +lat_0=0 +lon_0=105 +lat_1=25 +lat_2=47 +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs"
)
BOX = (73.0, 18.0, 135.0, 54.0)  # lon/lat of the night-light grid
B_CENTRE = (113.0, 34.0)
NTL_NODATA = -999.0
TILE = 512
_STRIP = 512  # rows generated and written at a time (one row of tiles)


@dataclass(frozen=True)
class Sizes:
    """Grid sizes of one data set (full size, or small for ``--quick``).

    Parameters
    ----------
    ntl_res
        Night-light pixel size in degrees.
    clcd_size
        Width and height of the land-cover raster in pixels.
    clcd_res
        Land-cover pixel size in metres (also the nationwide mosaic's).
    """

    ntl_res: float
    clcd_size: int
    clcd_res: float


FULL = Sizes(ntl_res=1 / 240, clcd_size=20000, clcd_res=30.0)
QUICK = Sizes(ntl_res=1 / 30, clcd_size=2500, clcd_res=240.0)


def _creation(dtype: str, nodata: float, width: int, height: int, crs: CRS, transform) -> dict:
    return {
        "driver": "GTiff",
        "dtype": dtype,
        "count": 1,
        "width": width,
        "height": height,
        "crs": crs,
        "transform": transform,
        "nodata": nodata,
        "tiled": True,
        "blockxsize": TILE,
        "blockysize": TILE,
        "compress": "DEFLATE",
        "num_threads": "ALL_CPUS",
        "BIGTIFF": "IF_SAFER",
    }


def _write(path: Path, profile: dict, strip: Callable[[int, int], np.ndarray]) -> None:
    """Write a raster strip by strip, through a temporary name so a crash leaves no file."""
    tmp = path.with_suffix(".tmp.tif")
    with rasterio.open(tmp, "w", **profile) as dst:
        for r0 in range(0, profile["height"], _STRIP):
            r1 = min(r0 + _STRIP, profile["height"])
            dst.write(strip(r0, r1), 1, window=Window(0, r0, profile["width"], r1 - r0))
    tmp.replace(path)


def _interp(coarse: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Bilinear sample of ``coarse`` at fractional (row, col) positions (a grid of them)."""
    r0 = np.clip(np.floor(rows).astype(int), 0, coarse.shape[0] - 2)
    c0 = np.clip(np.floor(cols).astype(int), 0, coarse.shape[1] - 2)
    wr = np.clip(rows - r0, 0, 1).astype(np.float32)[:, None]
    wc = np.clip(cols - c0, 0, 1).astype(np.float32)
    top = coarse[r0, :] * (1 - wr) + coarse[r0 + 1, :] * wr
    return top[:, c0] * (1 - wc) + top[:, c0 + 1] * wc


def _blobs(
    x: np.ndarray, y: np.ndarray, cx: np.ndarray, cy: np.ndarray, amp: np.ndarray, sigma: np.ndarray
) -> np.ndarray:
    """Sum of Gaussian blobs on the grid of coordinates ``x`` (columns) by ``y`` (rows)."""
    field = np.zeros((y.size, x.size), np.float32)
    for i in range(cx.size):
        gx = np.exp(-0.5 * ((x - cx[i]) / sigma[i]) ** 2).astype(np.float32)
        gy = np.exp(-0.5 * ((y - cy[i]) / sigma[i]) ** 2).astype(np.float32)
        field += amp[i] * np.outer(gy, gx)
    return field


def _cities(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """City centres (lon, lat), brightness and yearly growth rate of every prefecture."""
    zones = gpd.read_file(BOUNDARIES, columns=["lon", "lat"])
    rng = np.random.default_rng(seed)
    amp = rng.lognormal(3.0, 0.8, len(zones)).astype(np.float32)
    growth = rng.normal(0.03, 0.04, len(zones)).astype(np.float32)
    return zones["lon"].to_numpy(), zones["lat"].to_numpy(), amp, growth


def write_ntl(path: Path, sizes: Sizes, year: int) -> None:
    """One year of VIIRS-like night lights (float32, nodata -999)."""
    res = sizes.ntl_res
    width, height = round((BOX[2] - BOX[0]) / res), round((BOX[3] - BOX[1]) / res)
    lon, lat, amp, growth = _cities(seed=1)
    amp = amp * (1 + growth) ** (year - YEARS[0])
    step = 1 / 16  # coarse field: 3.75 arc-minutes
    cx = np.arange(BOX[0], BOX[2] + step, step)
    cy = np.arange(BOX[3], BOX[1] - step, -step)
    shrink = np.cos(np.radians(35))  # degrees of longitude to degrees of latitude, roughly
    coarse = _blobs(cx * shrink, cy, lon * shrink, lat, amp, np.full(lon.size, 0.25))
    coarse += _blobs(cx * shrink, cy, lon * shrink, lat, amp * 0.05, np.full(lon.size, 1.5))
    rng = np.random.default_rng(year)
    cols = np.arange(width) * res / step

    def strip(r0: int, r1: int) -> np.ndarray:
        rows = np.arange(r0, r1) * res / step
        light = _interp(coarse, rows, cols)
        light *= rng.lognormal(0.0, 0.6, light.shape).astype(np.float32)
        light[light < 0.5] = 0.0
        light[rng.random(light.shape, np.float32) < 5e-4] = NTL_NODATA
        return light

    transform = from_origin(BOX[0], BOX[3], res, res)
    profile = _creation("float32", NTL_NODATA, width, height, CRS.from_epsg(4326), transform)
    profile["predictor"] = 3
    _write(path, profile, strip)


def _clcd_origin(sizes: Sizes) -> tuple[float, float]:
    x, y = Transformer.from_crs(4326, ALBERS, always_xy=True).transform(*B_CENTRE)
    half = sizes.clcd_size * sizes.clcd_res / 2
    snap = sizes.clcd_res
    return round((x - half) / snap) * snap, round((y + half) / snap) * snap


def write_clcd(path: Path, sizes: Sizes, seed: int) -> None:
    """CLCD-like land cover around 113E 34N (uint8 classes 1-9, nodata 0)."""
    n, res = sizes.clcd_size, sizes.clcd_res
    x0, y0 = _clcd_origin(sizes)
    lon, lat, amp, _ = _cities(seed=1)
    cxs, cys = Transformer.from_crs(4326, ALBERS, always_xy=True).transform(lon, lat)
    step = 64  # coarse cells of 64 pixels
    nc = n // step + 2
    cx = x0 + (np.arange(nc) + 0.5) * step * res
    cy = y0 - (np.arange(nc) + 0.5) * step * res
    urban = _blobs(cx, cy, cxs, cys, amp / np.median(amp) / 4, np.full(lon.size, 15e3))
    rng = np.random.default_rng(seed)
    land = rng.random((nc, nc), np.float32)
    cols = np.arange(n) / step - 0.5
    bounds = np.array([0.45, 0.62, 0.68, 0.8, 0.84, 0.845, 0.9, 2.0], np.float32)
    classes = np.array([1, 2, 3, 4, 5, 6, 7, 9], np.uint8)

    def strip(r0: int, r1: int) -> np.ndarray:
        rows = np.arange(r0, r1) / step - 0.5
        noise = rng.random((r1 - r0, n), np.float32)
        lc = classes[np.searchsorted(bounds, _interp(land, rows, cols) + 0.08 * noise)]
        lc[_interp(urban, rows, cols) * 4 + noise > 1.2] = 8
        lc[np.add.outer(np.arange(r0, r1), np.arange(n)) > 1.8 * n] = 0  # a corner off the data
        return lc

    profile = _creation("uint8", 0, n, n, ALBERS, from_origin(x0, y0, res, res))
    profile["predictor"] = 2
    _write(path, profile, strip)


def write_mosaic(path: Path, tiles: list[Path], sizes: Sizes) -> tuple[int, int]:
    """A nationwide VRT over all boundaries that repeats ``tiles``; returns (width, height)."""
    res, n = sizes.clcd_res, sizes.clcd_size
    left, bottom, right, top = gpd.read_file(BOUNDARIES).to_crs(ALBERS).total_bounds
    left, top = np.floor(left / res) * res, np.ceil(top / res) * res
    width, height = int(np.ceil((right - left) / res)), int(np.ceil((top - bottom) / res))
    sources = []
    for i, r0 in enumerate(range(0, height, n)):
        for j, c0 in enumerate(range(0, width, n)):
            w, h = min(n, width - c0), min(n, height - r0)
            tile = tiles[(i + j) % len(tiles)]
            sources.append(
                "<SimpleSource>"
                f'<SourceFilename relativeToVRT="1">{tile.name}</SourceFilename>'
                "<SourceBand>1</SourceBand>"
                f'<SourceProperties RasterXSize="{n}" RasterYSize="{n}" DataType="Byte" '
                f'BlockXSize="{TILE}" BlockYSize="{TILE}"/>'
                f'<SrcRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/>'
                f'<DstRect xOff="{c0}" yOff="{r0}" xSize="{w}" ySize="{h}"/>'
                "</SimpleSource>"
            )
    srs = ALBERS.to_wkt().replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    xml = (
        f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">'
        f"<SRS>{srs}</SRS><GeoTransform>{left}, {res}, 0, {top}, 0, {-res}</GeoTransform>"
        f'<VRTRasterBand dataType="Byte" band="1" blockXSize="{TILE}" blockYSize="{TILE}">'
        f"<NoDataValue>0</NoDataValue>{''.join(sources)}</VRTRasterBand></VRTDataset>"
    )
    path.write_text(xml)
    return width, height


def write_zones(folder: Path, sizes: Sizes) -> None:
    """The real boundaries, their densified copy, and the subset over the land-cover raster."""
    zones = gpd.read_file(BOUNDARIES, columns=[ZONE_ID])
    zones.to_file(folder / "zones.gpkg")
    detailed = zones.set_geometry(shapely.segmentize(zones.geometry.values, 0.001))
    detailed.to_file(folder / "zones_detailed.gpkg")
    x0, y0 = _clcd_origin(sizes)
    side = sizes.clcd_size * sizes.clcd_res
    box = shapely.box(x0, y0 - side, x0 + side, y0)
    albers = zones.to_crs(ALBERS)
    inside = albers.intersects(box).to_numpy()
    albers[inside].to_file(folder / "zones_b.gpkg")
    full = gpd.read_file(BOUNDARIES)
    full[inside].to_file(folder / "zones_p.gpkg", layer="cn_city")


class Cache:
    """Paths of the benchmark data in one cache folder, built on first use.

    Parameters
    ----------
    folder
        Cache folder (``bench/.cache``, or its ``quick`` subfolder).
    sizes
        Grid sizes of the data.
    """

    def __init__(self, folder: Path, sizes: Sizes) -> None:
        self.folder = folder
        self.sizes = sizes

    def zones(self, name: str) -> Path:
        """A zones file (zones, zones_detailed, zones_b, zones_p), written with the rest if new."""
        path = self.folder / f"{name}.gpkg"
        if not path.exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            write_zones(self.folder, self.sizes)
        return path

    def ntl(self, year: int) -> Path:
        """Night lights of one year."""
        return self._built(f"ntl_{year}.tif", lambda p: write_ntl(p, self.sizes, year))

    def clcd(self, seed: int = 1) -> Path:
        """Land cover around 113E 34N (seeds 2 and 3 are extra tiles of the mosaic)."""
        return self._built(f"clcd_{seed}.tif", lambda p: write_clcd(p, self.sizes, seed))

    def mosaic(self, later: bool = False) -> Path:
        """The nationwide VRT mosaic, or its later year (the tiles shifted by one)."""
        tiles = [self.clcd(seed) for seed in ((2, 3, 1) if later else (1, 2, 3))]
        name = "clcd_china_later.vrt" if later else "clcd_china.vrt"
        return self._built(name, lambda p: write_mosaic(p, tiles, self.sizes))

    def _built(self, name: str, write: Callable[[Path], object]) -> Path:
        path = self.folder / name
        if not path.exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            print(f"  building {path} ...", flush=True)
            write(path)
        return path
