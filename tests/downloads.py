"""Fixtures shaped like the real downloads of ../shared/PRODUCTS.md, with answers known by hand.

Each builder writes files into a folder exactly as the producer names, archives, tiles and
georeferences them (real pixel size, real tile grid, real dtype, fill and scale attributes, CRS
as the real file declares it), but almost every pixel is empty: the GeoTIFFs are tiled,
deflate-compressed and written with GDAL's ``SPARSE_OK=TRUE``, so blocks never written cost
nothing (they read as 0, or as the nodata value where one is declared); HDF5 datasets are
chunked and gzipped and only the chunks under the zones are allocated.

Layout of the values
--------------------
Zones are small lon/lat rectangles. Around each zone a background of valid pixels is painted
(dark or a non-built class), and inside it blocks of known values: bright or built-up blocks,
and blocks of the product's fill or nodata value that must be masked. Every block lies at least
two pixels inside its zone, so the expected values do not depend on how an engine decides which
edge pixels belong to a zone. On geographic grids the zone edges also sit on pixel edges.

Expected values are computed here from the painted arrays alone, never from urbanshrink_gis:

- ``nl_sum``: sum of the physical radiance (or DN) of every valid pixel in the zone; the
  background is 0, so ``nl_sum_lit`` (the sum over lit pixels) equals it, except for DMSP where
  dim blocks below the DN > 7 rule sit inside zones.
- ``lit_pixels`` / ``lit_km2``: count and true area of lit pixels. Radiance blocks are at least
  2 nW/cm²/sr, so any threshold in (0, 2) gives the same count; DMSP uses DN > 7.
- ``builtup_pixels`` / ``builtup_km2``: count of built-up class pixels and their area.
- ``fill_pixels``: pixels holding the fill or nodata value inside the zone (must not count).
- ``covered_share`` (WorldCover, Black Marble): share of the zone's pixels that the tiles
  written hold; the other columns count those pixels only.

Areas on geographic grids are Σ over rows of count × the geodesic area of one pixel of that row
(``pyproj.Geod`` on WGS84, edges densified), so an engine using ellipsoidal row areas should agree
to a relative 1e-6 (``Fixture.rtol``). On equal-area grids (CLCD Albers, GHSL Mollweide) areas are
count × pixel area, exact. GlobeLand30 (UTM) gives count × 900 m², which overstates the true area
by the UTM scale error (about 0.1 % near a zone edge): compare counts exactly, km² to 2e-3.
"""

from __future__ import annotations

import gzip
import shutil
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import h5py
import numpy as np
import pandas as pd
import rasterio
from pyproj import CRS, Geod, Transformer
from rasterio.transform import from_origin
from rasterio.windows import Window
from shapely.geometry import Polygon

GEOD = Geod(ellps="WGS84")
# PRODUCTS.md §4, verbatim
CLCD_PROJ = (
    "+proj=aea +lat_1=25 +lat_2=47 +lat_0=0 +lon_0=105 +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs"
)
VNL_RES = 1 / 240
VNL_WEST, VNL_NORTH = -180 - VNL_RES / 2, 75 + VNL_RES / 2  # edges half a pixel out (§1)
VNL_WIDTH, VNL_HEIGHT = 86401, 33601
# V2.2 production stamps differ per year; these are made up in the documented shape.
VNL22_STAMPS = {2022: "202303062300", 2023: "202404271200", 2024: "202502101500"}
VNL_LAYER = "average_masked"


@dataclass(frozen=True)
class Fixture:
    """What a builder wrote and what a correct run must find.

    Attributes
    ----------
    product
        Preset name the files are shaped for (``vnl2``, ``blackmarble``, ...).
    files
        Every file written, side files and archives included, sorted.
    path_pattern
        Suggested ``path`` for a configuration: ``{year}`` plus glob wildcards, relative to the
        folder (a ``/vsizip/`` or ``/vsigzip/`` prefix is the reader's business).
    zones
        EPSG:4326 polygons with text ``adcode`` and ``name``; also written as ``zones.gpkg``.
    zones_path
        The GeoPackage holding ``zones`` (layer ``zones``).
    expected
        One row per (adcode, year); columns depend on the kind (see the module docstring).
    rtol
        Relative tolerance per expected column (0 means exact).
    notes
        What about these files is a choice of the fixture, not of the real product.
    """

    product: str
    files: tuple[Path, ...]
    path_pattern: str
    zones: gpd.GeoDataFrame
    zones_path: Path
    expected: pd.DataFrame
    rtol: dict[str, float] = field(default_factory=dict)
    notes: str = ""


# ----------------------------------------------------------------------------- shared helpers


@dataclass(frozen=True)
class _Block:
    """A rectangle of one value: global pixel rows/cols [r0, r1) x [c0, c1) or lon/lat bounds."""

    bounds: tuple[float, float, float, float]
    value: float


def _geo_pixel_area_m2(lat_top: float, lat_bottom: float, res: float) -> float:
    """Geodesic area (WGS84) of one pixel of a lon/lat grid, edges densified along parallels."""
    n = 8
    lons = np.r_[np.linspace(0, res, n), np.full(n, res), np.linspace(res, 0, n), np.zeros(n)]
    lats = np.r_[np.full(n, lat_top), np.linspace(lat_top, lat_bottom, n)]
    lats = np.r_[lats, np.full(n, lat_bottom), np.linspace(lat_bottom, lat_top, n)]
    area, _ = GEOD.polygon_area_perimeter(lons, lats)
    return abs(area)


def _tif_profile(width, height, dtype, crs, transform, nodata=None, count=1, block=512):
    return dict(
        driver="GTiff",
        width=width,
        height=height,
        count=count,
        dtype=dtype,
        crs=crs,
        transform=transform,
        nodata=nodata,
        tiled=True,
        blockxsize=block,
        blockysize=block,
        compress="deflate",
        SPARSE_OK="TRUE",
    )


def _paint(shape, blocks: Iterable[_Block], r0: int, c0: int, dtype, default) -> np.ndarray:
    """Array of `shape` whose top-left is global pixel (r0, c0), blocks painted in order."""
    a = np.full(shape, default, dtype=dtype)
    for b in blocks:
        br0, bc0, br1, bc1 = (int(v) for v in b.bounds)
        rs, re_ = max(br0 - r0, 0), min(br1 - r0, shape[0])
        cs, ce = max(bc0 - c0, 0), min(bc1 - c0, shape[1])
        if rs < re_ and cs < ce:
            a[rs:re_, cs:ce] = b.value
    return a


def _write_geo_tile(dst, blocks: Sequence[_Block], tile_r0: int, tile_c0: int, dtype, default):
    """Write the part of `blocks` (global pixel rects) in the tile at (tile_r0, tile_c0)."""
    h, w = dst.height, dst.width
    rects = []
    for b in blocks:
        br0, bc0, br1, bc1 = b.bounds
        rs, re_ = max(br0 - tile_r0, 0), min(br1 - tile_r0, h)
        cs, ce = max(bc0 - tile_c0, 0), min(bc1 - tile_c0, w)
        if rs < re_ and cs < ce:
            rects.append((int(rs), int(cs), int(re_), int(ce)))
    if not rects:
        return
    rs = min(r[0] for r in rects)
    cs = min(r[1] for r in rects)
    re_ = max(r[2] for r in rects)
    ce = max(r[3] for r in rects)
    a = _paint((re_ - rs, ce - cs), blocks, tile_r0 + rs, tile_c0 + cs, dtype, default)
    dst.write(a, 1, window=Window(cs, rs, ce - cs, re_ - rs))


@dataclass(frozen=True)
class _GeoZone:
    adcode: str
    name: str
    rect: tuple[int, int, int, int]  # global pixel rows/cols [r0, r1) x [c0, c1)
    blocks: tuple[_Block, ...]  # inside the zone, painted over its background


def _geo_layout(
    spec: Sequence[tuple[str, str, int, int]],
    size: int,
    values: Sequence[float],
    fill: float | None,
    background: float,
    grow: int = 0,
) -> list[_GeoZone]:
    """Zones of `size` px whose top-left global pixel is (row, col); 2-3 value blocks each.

    Block k holds ``values[k]``; block 0 grows by `grow` columns (a later year's growth); a
    block of `fill` (when given) sits inside every zone too. Blocks keep 2 px from the zone edge.
    """
    zones = []
    s = size
    for adcode, name, r, c in spec:
        blocks = [_Block((r, c, r + s, c + s), background)]
        blocks.append(_Block((r + 2, c + 2, r + s // 2, c + s // 2 + grow), values[0]))
        blocks.append(_Block((r + s // 2 + 1, c + 3, r + s - 2, c + s // 2), values[1]))
        if len(values) > 2:
            blocks.append(_Block((r + 2, c + s - 5, r + 6, c + s - 2), values[2]))
        if fill is not None:
            blocks.append(_Block((r + s - 5, c + s - 6, r + s - 2, c + s - 3), fill))
        zones.append(_GeoZone(adcode, name, (r, c, r + s, c + s), tuple(blocks)))
    return zones


def _geo_zones_gdf(zones: Sequence[_GeoZone], west: float, north: float, res: float):
    polys = []
    for z in zones:
        r0, c0, r1, c1 = z.rect
        x0, x1 = west + c0 * res, west + c1 * res
        y0, y1 = north - r1 * res, north - r0 * res
        polys.append(Polygon([(x0, y0), (x1, y0), (x1, y1), (x0, y1)]))
    return gpd.GeoDataFrame(
        {"adcode": [z.adcode for z in zones], "name": [z.name for z in zones]},
        geometry=polys,
        crs="EPSG:4326",
    )


def _geo_stats(
    z: _GeoZone, north: float, res: float, *, fill, lit, built, scale=1.0, tiles=None
) -> dict:
    """Expected values of a zone on a lon/lat grid, from its painted pixels.

    ``tiles`` (global pixel rects of the tiles written) limits the count to pixels that some
    file holds, and adds ``covered_share`` (the zone's pixels held by a tile, 0–1).
    """
    r0, c0, r1, c1 = z.rect
    a = _paint((r1 - r0, c1 - c0), z.blocks, r0, c0, np.float64, np.nan)
    held = np.ones(a.shape, bool)
    if tiles is not None:
        held = _paint(a.shape, [_Block(t, 1) for t in tiles], r0, c0, bool, False)
    rows = np.arange(r0, r1)
    area = np.array([_geo_pixel_area_m2(north - r * res, north - (r + 1) * res, res) for r in rows])
    valid = held & (~np.isnan(a) if fill is None else (a != fill))
    out = {"fill_pixels": int((held & ~valid).sum())}
    if tiles is not None:
        out["covered_share"] = float(held.mean())
    if built is not None:
        m = valid & np.isin(a, built)
        out["builtup_pixels"] = int(m.sum())
        out["builtup_km2"] = float((m.sum(axis=1) * area).sum() / 1e6)
    if lit is not None:
        phys = np.where(valid, a * scale, 0.0)
        m = valid & lit(phys)
        out["nl_sum"] = float(phys.sum())
        out["nl_sum_lit"] = float(np.where(m, phys, 0).sum())
        out["lit_pixels"] = int(m.sum())
        out["lit_km2"] = float((m.sum(axis=1) * area).sum() / 1e6)
    return out


def _finish(product, folder, files, pattern, zones, rows, rtol, notes) -> Fixture:
    folder = Path(folder)
    zones_path = folder / "zones.gpkg"
    zones.to_file(zones_path, layer="zones", driver="GPKG")
    expected = pd.DataFrame(rows).sort_values(["adcode", "year"], ignore_index=True)
    return Fixture(
        product=product,
        files=tuple(sorted(Path(f) for f in files)),
        path_pattern=pattern,
        zones=zones,
        zones_path=zones_path,
        expected=expected,
        rtol=rtol,
        notes=notes,
    )


def _gzip(path: Path) -> Path:
    gz = path.with_name(path.name + ".gz")
    with path.open("rb") as src, gzip.open(gz, "wb", compresslevel=6) as dst:
        shutil.copyfileobj(src, dst)
    path.unlink()
    return gz


def _year_values(base: Sequence[float], k: int) -> list[float]:
    """Block values of the k-th year: exact in float32 (multiples of 1/4)."""
    return [v + 0.25 * k * (i + 1) for i, v in enumerate(base)]


# ----------------------------------------------------------------------------- 1. VNL v2


def vnl_name(year: int, layer: str = VNL_LAYER) -> str:
    """EOG file name of a VNL v2 annual layer (PRODUCTS.md §1), gzipped."""
    if year == 2012:
        return f"VNL_v21_npp_201204-201212_global_vcmcfg_c202205302300.{layer}.dat.tif.gz"
    if year <= 2021:
        return f"VNL_v21_npp_{year}_global_vcmslcfg_c202205302300.{layer}.dat.tif.gz"
    return f"VNL_v22_npp-j01_{year}_global_vcmslcfg_c{VNL22_STAMPS[year]}.{layer}.dat.tif.gz"


VNL_ZONES = (  # (adcode, name, lon west, lat north) of each zone, snapped to the grid
    ("420100", "Wuhan", 114.20, 30.70),
    ("310000", "Shanghai", 121.40, 31.30),
    ("230700", "Yichun", 128.80, 47.80),
)


def vnl_v2(
    folder: str | Path, years: Sequence[int] = (2015, 2020, 2022), *, cvg_year: int | None = None
) -> Fixture:
    """Gzipped global VNL v2 ``average_masked`` GeoTIFFs, one per year, on the real 15″ grid.

    Parameters
    ----------
    folder
        Where to write (created if needed).
    years
        Years to write; 2012 gets its own name, ≤ 2021 V2.1, ≥ 2022 V2.2 (2022–2024).
    cvg_year
        The year that also gets a ``cf_cvg`` layer file beside it (default: the first year).

    Returns
    -------
    Fixture
        Night-light expectations: ``nl_sum``, ``nl_sum_lit``, ``lit_pixels``, ``lit_km2``.

    Notes
    -----
    86401 × 33601 float32, origin (−180.0020833, 75.0020833), no nodata tag, background 0. The
    layout inside the real ``.gz`` (tiling, compression) is not documented: here 512² tiles,
    deflate. Each file is about 60 kB.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cvg_year = years[0] if cvg_year is None else cvg_year
    transform = from_origin(VNL_WEST, VNL_NORTH, VNL_RES, VNL_RES)
    spec = [
        (a, n, round((VNL_NORTH - lat) / VNL_RES), round((lon - VNL_WEST) / VNL_RES))
        for a, n, lon, lat in VNL_ZONES
    ]
    files, rows = [], []
    zones0 = None
    for k, year in enumerate(years):
        zones = _geo_layout(spec, 24, _year_values((2.5, 10.0, 40.5), k), None, 0.0, grow=k)
        zones0 = zones0 or zones
        for layer in (VNL_LAYER, "cf_cvg") if year == cvg_year else (VNL_LAYER,):
            # cf_cvg: cloud-free observation counts, non-zero everywhere in the zones (a glob
            # that takes it instead of average_masked finds very different sums)
            dtype = "float32" if layer == VNL_LAYER else "uint16"
            blocks = [
                b if layer == VNL_LAYER else _Block(b.bounds, 17 + i)
                for i, b in enumerate([b for z in zones for b in z.blocks])
            ]
            path = folder / vnl_name(year, layer).removesuffix(".gz")
            prof = _tif_profile(VNL_WIDTH, VNL_HEIGHT, dtype, "EPSG:4326", transform)
            with rasterio.open(path, "w", **prof) as dst:
                _write_geo_tile(dst, blocks, 0, 0, dtype, 0)
            files.append(_gzip(path))
        for z in zones:
            st = _geo_stats(z, VNL_NORTH, VNL_RES, fill=None, lit=lambda v: v > 0, built=None)
            rows.append({"adcode": z.adcode, "year": year, **st})
    gdf = _geo_zones_gdf(zones0, VNL_WEST, VNL_NORTH, VNL_RES)
    pattern = f"VNL_v2*_{{year}}*_global_vcm*cfg_c*.{VNL_LAYER}.dat.tif.gz"
    rtol = {"nl_sum": 1e-9, "nl_sum_lit": 1e-9, "lit_pixels": 0, "lit_km2": 1e-6}
    notes = "V2.2 stamps are made up; one global file per layer and year, as EOG ships them."
    return _finish("vnl2", folder, files, pattern, gdf, rows, rtol, notes)


# ----------------------------------------------------------------------------- 2. Black Marble

BM_RES = 1 / 240
BM_LAYERS = ("AllAngle_Composite_Snow_Free", "NearNadir_Composite_Snow_Free")
BM_ZONES = (  # (adcode, name, lon west, lat north); the first one straddles h29/h30 at 120 E
    ("320500", "Suzhou", 119.95, 31.60),
    ("420100", "Wuhan", 114.20, 30.70),
    ("330100", "Hangzhou", 121.00, 30.40),
)


def _bm_tile_origin(tile: str) -> tuple[float, float]:
    h, v = int(tile[1:3]), int(tile[4:6])
    return -180.0 + 10 * h, 90.0 - 10 * v


def _structmetadata(tile: str, fields: Sequence[tuple[str, str]]) -> str:
    """HDF-EOS5 StructMetadata.0 of a VNP46 grid (GCTP_GEO, corners in packed DMS)."""
    west, north = _bm_tile_origin(tile)

    def dms(deg: float) -> str:
        return f"{round(deg) * 1_000_000:.6f}"

    objects = "".join(
        f'\t\t\tOBJECT=DataField_{i}\n\t\t\t\tDataFieldName="{name}"\n'
        f"\t\t\t\tDataType={h5type}\n"
        '\t\t\t\tDimList=("YDim","XDim")\n\t\t\t\tMaxdimList=("YDim","XDim")\n'
        f"\t\t\tEND_OBJECT=DataField_{i}\n"
        for i, (name, h5type) in enumerate(fields, start=1)
    )
    return (
        "GROUP=SwathStructure\nEND_GROUP=SwathStructure\nGROUP=GridStructure\n"
        '\tGROUP=GRID_1\n\t\tGridName="VIIRS_Grid_DNB_2d"\n\t\tXDim=2400\n\t\tYDim=2400\n'
        f"\t\tUpperLeftPointMtrs=({dms(west)},{dms(north)})\n"
        f"\t\tLowerRightMtrs=({dms(west + 10)},{dms(north - 10)})\n"
        "\t\tProjection=HE5_GCTP_GEO\n\t\tGridOrigin=HE5_HDFE_GD_UL\n"
        "\t\tGROUP=Dimension\n\t\tEND_GROUP=Dimension\n"
        f"\t\tGROUP=DataField\n{objects}\t\tEND_GROUP=DataField\n"
        "\t\tGROUP=MergedFields\n\t\tEND_GROUP=MergedFields\n"
        "\tEND_GROUP=GRID_1\nEND_GROUP=GridStructure\n"
        "GROUP=PointStructure\nEND_GROUP=PointStructure\nGROUP=ZaStructure\nEND_GROUP=ZaStructure\n"
        "END\n"
    )


def _blackmarble(folder, years, tiles, collection: str) -> Fixture:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    c2 = collection == "002"
    fill, dtype = (np.float32(-999.9), "float32") if c2 else (np.uint16(65535), "uint16")
    scale = 1.0 if c2 else 0.1
    spec = [
        (a, n, round((90 - lat) / BM_RES), round((lon + 180) / BM_RES))
        for a, n, lon, lat in BM_ZONES
    ]
    files, rows, zones0 = [], [], None
    for k, year in enumerate(years):
        phys = _year_values((2.5, 12.0, 55.5), k)
        stored = phys if c2 else [round(v / scale) for v in phys]
        zones = _geo_layout(spec, 24, stored, float(fill), 0.0, grow=k)
        zones0 = zones0 or zones
        blocks = [b for z in zones for b in z.blocks]
        held = []
        for t, tile in enumerate(tiles):
            west, north = _bm_tile_origin(tile)
            r0, c0 = round((90 - north) / BM_RES), round((west + 180) / BM_RES)
            held.append((r0, c0, r0 + 2400, c0 + 2400))
            stamp = f"{2025 - (not c2) * 4}{162 + 7 * k + t:03d}{82259 + 1111 * k + 37 * t:06d}"
            path = folder / f"VNP46A4.A{year}001.{tile}.{collection}.{stamp}.h5"
            with h5py.File(path, "w") as f:
                h5t = "H5T_NATIVE_FLOAT" if c2 else "H5T_NATIVE_USHORT"
                fields = [
                    (f"{lay}{sfx}", t)
                    for lay in BM_LAYERS
                    for sfx, t in (
                        ("", h5t),
                        ("_Num", "H5T_NATIVE_USHORT"),
                        ("_Quality", "H5T_NATIVE_UCHAR"),
                    )
                ]
                f["HDFEOS INFORMATION/StructMetadata.0"] = np.bytes_(_structmetadata(tile, fields))
                grid = f.create_group("HDFEOS/GRIDS/VIIRS_Grid_DNB_2d")
                data = grid.create_group("Data Fields")
                lat = north - (np.arange(2400) + 0.5) * BM_RES
                lon = west + (np.arange(2400) + 0.5) * BM_RES
                for nm, arr in (("lat", lat), ("lon", lon)):
                    ds = data.create_dataset(nm, data=arr.astype("float64"))
                    ds.attrs["units"] = np.bytes_(
                        "degrees_north" if nm == "lat" else "degrees_east"
                    )
                rad = _paint((2400, 2400), blocks, r0, c0, dtype, fill)
                good = rad != fill
                for layer in BM_LAYERS:
                    kw = dict(chunks=(240, 240), compression="gzip", compression_opts=4)
                    ds = data.create_dataset(layer, data=rad, fillvalue=fill, **kw)
                    ds.attrs["_FillValue"] = np.array([fill], dtype=dtype)
                    ds.attrs["scale_factor"] = np.array([scale], dtype="float32")
                    ds.attrs["add_offset"] = np.array([0.0], dtype="float32")
                    ds.attrs["units"] = np.bytes_("nW/(cm2 sr)")
                    ds.attrs["long_name"] = np.bytes_(layer.replace("_", " "))
                    num = np.where(good, np.uint16(9), np.uint16(65535))
                    ds = data.create_dataset(f"{layer}_Num", data=num, fillvalue=65535, **kw)
                    ds.attrs["_FillValue"] = np.array([65535], dtype="uint16")
                    qa = np.where(good, np.uint8(0), np.uint8(255))
                    ds = data.create_dataset(f"{layer}_Quality", data=qa, fillvalue=255, **kw)
                    ds.attrs["_FillValue"] = np.array([255], dtype="uint8")
            files.append(path)
        for z in zones:
            st = _geo_stats(
                z,
                90.0,
                BM_RES,
                fill=float(fill),
                lit=lambda v: v > 0,
                built=None,
                scale=scale,
                tiles=held,
            )
            rows.append({"adcode": z.adcode, "year": year, **st})
    gdf = _geo_zones_gdf(zones0, -180.0, 90.0, BM_RES)
    pattern = f"VNP46A4.A{{year}}001.h??v??.{collection}.*.h5"
    rtol = {"nl_sum": 1e-6, "nl_sum_lit": 1e-6, "lit_pixels": 0, "lit_km2": 1e-6}
    rtol["covered_share"] = 0
    notes = (
        "Whole tiles outside the painted zones hold the fill (ocean-like); production stamps are "
        "made up in the documented shape; StructMetadata.0 is a minimal GCTP_GEO one."
    )
    product = "blackmarble" if c2 else "blackmarble_c1"
    return _finish(product, folder, files, pattern, gdf, rows, rtol, notes)


def blackmarble_c2(
    folder: str | Path,
    years: Sequence[int] = (2015, 2020),
    tiles: Sequence[str] = ("h29v05", "h30v05"),
) -> Fixture:
    """VNP46A4 collection 2 (``.002``) HDF5 tiles: float32, ``_FillValue`` −999.9, scale 1.

    Parameters
    ----------
    folder
        Where to write.
    years
        Annual composites to write (``A{YYYY}001``).
    tiles
        ``hHHvVV`` tiles of 2400 × 2400 px; the default pair has its seam at 120 E, which the
        first zone straddles.

    Returns
    -------
    Fixture
        Night-light expectations; −999.9 blocks inside every zone count as nothing;
        ``covered_share`` as in :func:`worldcover`.
    """
    return _blackmarble(folder, years, tiles, "002")


def blackmarble_c1(
    folder: str | Path,
    years: Sequence[int] = (2015, 2020),
    tiles: Sequence[str] = ("h29v05", "h30v05"),
) -> Fixture:
    """VNP46A4 collection 1 (``.001``) HDF5 tiles: uint16, fill 65535, ``scale_factor`` 0.1.

    Same layout as :func:`blackmarble_c2`; expected values are physical (raw × 0.1).
    """
    return _blackmarble(folder, years, tiles, "001")


# ----------------------------------------------------------------------------- 3. WorldCover

WC_RES = 1 / 12000
WC_VERSION = {2020: "v100", 2021: "v200"}


def worldcover_name(year: int, tile: str, kind: str = "Map") -> str:
    """``ESA_WorldCover_10m_{YYYY}_{v100|v200}_{N30E114}_{Map|InputQuality}.tif`` (§5)."""
    return f"ESA_WorldCover_10m_{year}_{WC_VERSION[year]}_{tile}_{kind}.tif"


def _wc_tile_origin(tile: str) -> tuple[float, float]:
    """(west, north) of a WorldCover tile named by its SW corner."""
    lat = int(tile[1:3]) * (1 if tile[0] == "N" else -1)
    lon = int(tile[4:7]) * (1 if tile[3] == "E" else -1)
    return float(lon), float(lat + 3)


def worldcover(
    folder: str | Path,
    year: int = 2020,
    tiles: Sequence[str] = ("N30E111", "N30E114", "N27E111", "N27E114"),
) -> Fixture:
    """ESA WorldCover 3°×3° tiles (36000² px, uint8, nodata 0) with InputQuality beside them.

    Parameters
    ----------
    folder
        Where to write.
    year
        2020 (``v100``) or 2021 (``v200``).
    tiles
        SW-corner names; the default 2×2 block meets at (114 E, 30 N), which zone ``420100``
        straddles, its built-up block lying in all four tiles.

    Returns
    -------
    Fixture
        ``builtup_pixels`` (class 50), ``builtup_km2`` (geodesic), ``fill_pixels`` (nodata 0),
        ``covered_share`` (share of the zone's pixels in the tiles written): counts cover only
        the tiles written.

    Notes
    -----
    Tiled 1024² and deflated like the real COGs, without overviews. ``_InputQuality.tif``
    (3 bands, 1/2000°, uint16 here) sits beside each map: a glob must take ``*_Map.tif`` only.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    k = year - 2020
    pts = [("420100", "Wuhan", 114.0, 30.0), ("421100", "Huanggang", 114.9, 30.45)]
    spec = [
        (a, n, round((90 - lat) / WC_RES) - 24, round((lon + 180) / WC_RES) - 24)
        for a, n, lon, lat in pts
    ]
    zones = _geo_layout(spec, 48, (50, 50, 80), 0, 40, grow=2 * k)
    # the built-up block of the corner zone spans the corner: rows/cols 2..24+ around 24
    z0 = zones[0]
    r, c = z0.rect[:2]
    zones[0] = _GeoZone(
        z0.adcode,
        z0.name,
        z0.rect,
        (*z0.blocks, _Block((r + 20, c + 18, r + 30, c + 30 + 2 * k), 50)),
    )
    blocks = [b for z in zones for b in z.blocks]
    files, held = [], []
    for tile in tiles:
        west, north = _wc_tile_origin(tile)
        r0, c0 = round((90 - north) / WC_RES), round((west + 180) / WC_RES)
        held.append((r0, c0, r0 + 36000, c0 + 36000))
        prof = _tif_profile(
            36000,
            36000,
            "uint8",
            "EPSG:4326",
            from_origin(west, north, WC_RES, WC_RES),
            nodata=0,
            block=1024,
        )
        path = folder / worldcover_name(year, tile)
        with rasterio.open(path, "w", **prof) as dst:
            _write_geo_tile(dst, blocks, r0, c0, "uint8", 0)
        files.append(path)
        q = _tif_profile(
            6000, 6000, "uint16", "EPSG:4326", from_origin(west, north, 1 / 2000, 1 / 2000), count=3
        )
        qpath = folder / worldcover_name(year, tile, "InputQuality")
        with rasterio.open(qpath, "w", **q) as dst:
            dst.write(np.full((3, 512, 512), 7, "uint16"), window=Window(0, 0, 512, 512))
        files.append(qpath)
    rows = []
    for z in zones:
        st = _geo_stats(z, 90.0, WC_RES, fill=0, lit=None, built=[50], tiles=held)
        rows.append({"adcode": z.adcode, "year": year, **st})
    gdf = _geo_zones_gdf(zones, -180.0, 90.0, WC_RES)
    pattern = "ESA_WorldCover_10m_{year}_v*_*_Map.tif"
    rtol = {"builtup_pixels": 0, "builtup_km2": 1e-6, "fill_pixels": 0, "covered_share": 0}
    notes = "No overviews; InputQuality values are placeholders."
    return _finish("worldcover", folder, files, pattern, gdf, rows, rtol, notes)


# ----------------------------------------------------------------------------- projected grids


@dataclass(frozen=True)
class _LLZone:
    adcode: str
    name: str
    bounds: tuple[float, float, float, float]  # lon/lat west, south, east, north
    blocks: tuple[_Block, ...]  # lon/lat bounds, painted in order (background first)


def _ll_layout(pts, size, values, fill, background, grow=0.0, seam_block=None) -> list[_LLZone]:
    """Lon/lat zones of `size`° around (lon, lat) centres, value blocks at fixed fractions.

    ``values`` are the classes (or m²) of blocks A, B, C; ``fill`` (when not None) fills block
    D; block B's east edge moves by `grow` (a fraction of the zone) for later years. Blocks keep
    a tenth of the zone from its edge. ``seam_block`` adds one more block of ``values[0]`` across
    the zone's centre line (the zone straddling a seam).
    """
    zones = []
    for adcode, name, lon, lat in pts:
        w, s = lon - size / 2, lat - size / 2

        def rect(fx0, fy0, fx1, fy1, w=w, s=s):
            return (w + fx0 * size, s + fy0 * size, w + fx1 * size, s + fy1 * size)

        blocks = [_Block(rect(-0.2, -0.2, 1.2, 1.2), background)]
        blocks.append(_Block(rect(0.1, 0.1, 0.45, 0.45), values[0]))
        blocks.append(_Block(rect(0.55, 0.1, 0.75 + grow, 0.4), values[1]))
        blocks.append(_Block(rect(0.1, 0.6, 0.4, 0.9), values[2]))
        if fill is not None:
            blocks.append(_Block(rect(0.6, 0.6, 0.85, 0.85), fill))
        if seam_block is not None and adcode == seam_block:
            blocks.append(_Block(rect(0.3, 0.46, 0.7, 0.54), values[0]))
        zones.append(_LLZone(adcode, name, rect(0, 0, 1, 1), tuple(blocks)))
    return zones


def _ll_zones_gdf(zones: Sequence[_LLZone]) -> gpd.GeoDataFrame:
    polys = []
    for z in zones:
        w, s, e, n = z.bounds
        polys.append(Polygon([(w, s), (e, s), (e, n), (w, n)]))
    return gpd.GeoDataFrame(
        {"adcode": [z.adcode for z in zones], "name": [z.name for z in zones]},
        geometry=polys,
        crs="EPSG:4326",
    )


def _projected_window(transform, crs, bounds_ll, width, height, pad=3):
    """Pixel window (row0, col0, row1, col1) covering lon/lat `bounds_ll` on a projected grid."""
    tr = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    xs, ys = (
        tr.transform_bounds(*bounds_ll, densify_pts=51)[::2],
        tr.transform_bounds(*bounds_ll, densify_pts=51)[1::2],
    )
    inv = ~transform
    c0, r1 = inv * (xs[0], ys[0])
    c1, r0 = inv * (xs[1], ys[1])
    r0, c0 = max(int(np.floor(r0)) - pad, 0), max(int(np.floor(c0)) - pad, 0)
    r1, c1 = min(int(np.ceil(r1)) + pad, height), min(int(np.ceil(c1)) + pad, width)
    return r0, c0, r1, c1


def _paint_projected(zones, transform, crs, width, height, dtype, default, cell=None):
    """Paint lon/lat blocks on a projected grid by pixel centre: [(window, array, lon, lat)].

    ``cell`` (west, south, east, north) keeps only pixels whose centre lies in it (the rest get
    `default`): GlobeLand30's tile rectangle holds data only inside its lat/lon cell.
    """
    tr = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    out = []
    for z in zones:
        r0, c0, r1, c1 = _projected_window(transform, crs, z.blocks[0].bounds, width, height)
        if r0 >= r1 or c0 >= c1:
            out.append(None)
            continue
        cols, rows = np.meshgrid(np.arange(c0, c1) + 0.5, np.arange(r0, r1) + 0.5)
        x, y = transform * (cols, rows)
        lon, lat = tr.transform(x, y)
        a = np.full(lon.shape, default, dtype=dtype)
        for b in z.blocks:
            w, s, e, n = b.bounds
            a[(lon >= w) & (lon < e) & (lat >= s) & (lat < n)] = b.value
        if cell is not None:
            w, s, e, n = cell
            a[~((lon >= w) & (lon < e) & (lat >= s) & (lat < n))] = default
        out.append(((r0, c0, r1, c1), a, lon, lat))
    return out


def _write_painted(dst, painted):
    for p in painted:
        if p is not None:
            (r0, c0, r1, c1), a, _, _ = p
            dst.write(a, 1, window=Window(c0, r0, c1 - c0, r1 - r0))


def _count_in_zone(painted, zones, values, *, sum_values=False) -> list[float]:
    """Per zone: pixels (or Σ values) equal to any of `values` with centre in the zone."""
    out = []
    for p, z in zip(painted, zones, strict=True):
        if p is None:
            out.append(0)
            continue
        _, a, lon, lat = p
        w, s, e, n = z.bounds
        inside = (lon >= w) & (lon < e) & (lat >= s) & (lat < n)
        m = inside & np.isin(a, values)
        out.append(float(a[m].astype("float64").sum()) if sum_values else int(m.sum()))
    return out


# ----------------------------------------------------------------------------- 4. GlobeLand30


def globeland30_name(zone: int, lat_south: int, year: int) -> str:
    """Tile name ``N{utm zone}_{lat}_{YYYY}LC030``: UNVERIFIED convention (PRODUCTS.md §6).

    Assumed here: the number after ``N`` is the UTM zone and the second the tile's southern
    latitude; read the real tiles' own metadata before relying on it.
    """
    return f"N{zone:02d}_{lat_south:02d}_{year}LC030"


def _utm_tile(zone: int, lat_south: int):
    """WGS84/UTM rectangle (snapped out to 30 m) around the 6°×5° cell of a UTM zone."""
    crs = CRS.from_epsg(32600 + zone)
    west = -180 + 6 * (zone - 1)
    cell = (float(west), float(lat_south), float(west + 6), float(lat_south + 5))
    tr = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x0, y0, x1, y1 = tr.transform_bounds(*cell, densify_pts=101)
    x0, y0 = np.floor(x0 / 30) * 30, np.floor(y0 / 30) * 30
    x1, y1 = np.ceil(x1 / 30) * 30, np.ceil(y1 / 30) * 30
    width, height = int((x1 - x0) / 30), int((y1 - y0) / 30)
    return crs, from_origin(x0, y1, 30, 30), width, height, cell


def globeland30(
    folder: str | Path,
    year: int = 2020,
    tiles: Sequence[tuple[int, int]] = ((49, 30), (50, 30)),
) -> Fixture:
    """GlobeLand30 tiles as ZIPs, each a UTM GeoTIFF (30 m, uint8, nodata 0) plus side files.

    Parameters
    ----------
    folder
        Where to write.
    year
        2000, 2010 or 2020 (only the names and the built-up growth depend on it).
    tiles
        (UTM zone, southern latitude) of each 6°×5° tile; the default pair meets at 114 E,
        which zone ``420100`` straddles.

    Returns
    -------
    Fixture
        ``builtup_pixels`` (class 80, exact), ``builtup_km2`` = pixels × 900 m² (UTM is not
        equal-area: true areas differ by ~0.1 %, rtol 2e-3), ``fill_pixels`` (0 inside zones).

    Notes
    -----
    Each tile's raster is the UTM bounding rectangle of its lat/lon cell; pixels whose centre
    lies outside the cell are 0 (no data), as are the unwritten (sparse) blocks. The ZIP holds
    ``{tile}/{tile}.tif``, a coordinate ``.txt`` and an ``.xml`` (member names unverified).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    k = {2000: 0, 2010: 1, 2020: 2}.get(year, 0)
    pts = [("420100", "Wuhan", 114.0, 31.5), ("420900", "Xiaogan", 113.0, 31.0)]
    zones = _ll_layout(pts, 0.04, (80, 80, 10), 0, 30, grow=0.05 * k, seam_block="420100")
    files = []
    built = [0] * len(zones)
    fills = [0] * len(zones)
    for zone, lat_south in tiles:
        crs, transform, width, height, cell = _utm_tile(zone, lat_south)
        painted = _paint_projected(zones, transform, crs, width, height, "uint8", 0, cell)
        built = [a + b for a, b in zip(built, _count_in_zone(painted, zones, [80]), strict=True)]
        # nodata pixels inside the zone and inside this tile's own cell (the fill block)
        for i, (p, z) in enumerate(zip(painted, zones, strict=True)):
            if p is not None:
                _, a, lon, lat = p
                w, s, e, n = z.bounds
                inside = (lon >= w) & (lon < e) & (lat >= s) & (lat < n)
                incell = (lon >= cell[0]) & (lon < cell[2]) & (lat >= cell[1]) & (lat < cell[3])
                fills[i] += int((inside & incell & (a == 0)).sum())
        name = globeland30_name(zone, lat_south, year)
        tmp = folder / f"{name}.tif"
        prof = _tif_profile(width, height, "uint8", crs, transform, nodata=0)
        with rasterio.open(tmp, "w", **prof) as dst:
            _write_painted(dst, painted)
        zpath = folder / f"{name}.zip"
        with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.write(tmp, f"{name}/{name}.tif")
            corners = ", ".join(f"{v:.6f}" for v in cell)
            zf.writestr(f"{name}/{name}.txt", f"tile {name}\nlon/lat cell (W S E N): {corners}\n")
            zf.writestr(
                f"{name}/{name}.xml",
                f'<?xml version="1.0"?>\n<metadata><tile>{name}</tile>'
                f"<crs>EPSG:{crs.to_epsg()}</crs></metadata>\n",
            )
        tmp.unlink()
        files.append(zpath)
    rows = [
        {
            "adcode": z.adcode,
            "year": year,
            "builtup_pixels": n,
            "builtup_km2": n * 900 / 1e6,
            "fill_pixels": f,
        }
        for z, n, f in zip(zones, built, fills, strict=True)
    ]
    pattern = "N??_??_{year}LC030.zip"
    rtol = {"builtup_pixels": 0, "builtup_km2": 2e-3, "fill_pixels": 0}
    notes = "Tile names, ZIP member names and side files are unverified (PRODUCTS.md §6)."
    return _finish("globeland30", folder, files, pattern, _ll_zones_gdf(zones), rows, rtol, notes)


# ----------------------------------------------------------------------------- 5. CLCD

CLCD_COLORS = {
    0: (0, 0, 0, 0),
    1: (250, 227, 156, 255),
    2: (68, 111, 51, 255),
    3: (51, 160, 44, 255),
    4: (171, 211, 123, 255),
    5: (30, 105, 180, 255),
    6: (166, 202, 255, 255),
    7: (249, 160, 60, 255),
    8: (220, 56, 255, 255),
    9: (0, 255, 255, 255),
}


def clcd(folder: str | Path, years: Sequence[int] = (2000, 2010, 2020)) -> Fixture:
    """``CLCD_v01_{YYYY}_albert.tif``: Albers (PROJ string, no EPSG), 30 m, uint8, no nodata tag.

    Parameters
    ----------
    folder
        Where to write.
    years
        One file per year; the impervious (class 8) block grows each year.

    Returns
    -------
    Fixture
        ``builtup_pixels`` (class 8), ``builtup_km2`` = pixels × 0.0009 (equal-area, exact),
        ``fill_pixels`` (0 = outside China, inside the zones; must not count as any class).

    Notes
    -----
    The real file covers all China (≈ 220,900 × 145,000 px); this one covers only lon 112–117,
    lat 29–33 (17,058 × 16,412 px, sparse) on a 30 m grid snapped to multiples of 30 m (the
    real origin is not documented). Colour table for classes 0–9, no overviews.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    crs = CRS.from_proj4(CLCD_PROJ)
    tr = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x0, y0, x1, y1 = tr.transform_bounds(112, 29, 117, 33, densify_pts=101)
    x0, y1 = np.floor(x0 / 30) * 30, np.ceil(y1 / 30) * 30
    width, height = int(np.ceil((x1 - x0) / 30)), int(np.ceil((y1 - y0) / 30))
    transform = from_origin(x0, y1, 30, 30)
    pts = [("420100", "Wuhan", 114.3, 30.6), ("421000", "Jingzhou", 112.25, 30.35)]
    files, rows = [], []
    for k, year in enumerate(years):
        zones = _ll_layout(pts, 0.05, (8, 8, 1), 0, 2, grow=0.05 * k)
        painted = _paint_projected(zones, transform, crs, width, height, "uint8", 0)
        path = folder / f"CLCD_v01_{year}_albert.tif"
        prof = _tif_profile(width, height, "uint8", crs, transform)
        prof["photometric"] = "PALETTE"
        with rasterio.open(path, "w", **prof) as dst:
            _write_painted(dst, painted)
            dst.write_colormap(1, CLCD_COLORS)
        files.append(path)
        built = _count_in_zone(painted, zones, [8])
        fills = _count_in_zone(painted, zones, [0])
        for z, n, f in zip(zones, built, fills, strict=True):
            rows.append(
                {
                    "adcode": z.adcode,
                    "year": year,
                    "builtup_pixels": n,
                    "builtup_km2": n * 0.0009,
                    "fill_pixels": f,
                }
            )
    pattern = "CLCD_v01_{year}_albert.tif"
    rtol = {"builtup_pixels": 0, "builtup_km2": 1e-12, "fill_pixels": 0}
    notes = "A lon 112–117 / lat 29–33 chunk of the China grid; grid origin chosen here."
    return _finish("clcd", folder, files, pattern, _ll_zones_gdf(zones), rows, rtol, notes)


# ----------------------------------------------------------------------------- 6. DMSP-VIIRS

DMSP_RES = 1 / 120


def dmsp_harmonized(folder: str | Path, years: Sequence[int] = (2012, 2013, 2014, 2018)) -> Fixture:
    """``Harmonized_DN_NTL_{YYYY}_{calDMSP|simVIIRS}.tif``: global 30″, uint8 DN, no nodata.

    Parameters
    ----------
    folder
        Where to write.
    years
        ``calDMSP`` for ≤ 2013, ``simVIIRS`` for ≥ 2014.

    Returns
    -------
    Fixture
        ``nl_sum`` (Σ DN of all pixels), ``nl_sum_lit`` and ``lit_pixels`` / ``lit_km2`` under
        the authors' DN > 7 rule (a DN 5 block in every zone is not lit), geodesic rtol 1e-6.

    Notes
    -----
    43200 × 16800 px from (−180, 75) (extent unverified; every year on the same grid here,
    although some real years are reported half a cell off).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    west, north = -180.0, 75.0
    pts = [("420100", "Wuhan", 114.2, 30.7), ("310000", "Shanghai", 121.4, 31.3)]
    spec = [
        (a, n, round((north - la) / DMSP_RES), round((lo - west) / DMSP_RES))
        for a, n, lo, la in pts
    ]
    transform = from_origin(west, north, DMSP_RES, DMSP_RES)
    files, rows, zones0 = [], [], None
    for k, year in enumerate(years):
        zones = _geo_layout(spec, 20, (63, 20 + 3 * k, 5), None, 0, grow=k)
        zones0 = zones0 or zones
        kind = "calDMSP" if year <= 2013 else "simVIIRS"
        path = folder / f"Harmonized_DN_NTL_{year}_{kind}.tif"
        prof = _tif_profile(43200, 16800, "uint8", "EPSG:4326", transform)
        with rasterio.open(path, "w", **prof) as dst:
            _write_geo_tile(dst, [b for z in zones for b in z.blocks], 0, 0, "uint8", 0)
        files.append(path)
        for z in zones:
            st = _geo_stats(z, north, DMSP_RES, fill=None, lit=lambda v: v > 7, built=None)
            rows.append({"adcode": z.adcode, "year": year, **st})
    gdf = _geo_zones_gdf(zones0, west, north, DMSP_RES)
    pattern = "Harmonized_DN_NTL_{year}_*.tif"
    rtol = {"nl_sum": 0, "nl_sum_lit": 0, "lit_pixels": 0, "lit_km2": 1e-6}
    return _finish("dmsp_harmonized", folder, files, pattern, gdf, rows, rtol, "Grid unverified.")


# ----------------------------------------------------------------------------- 7. GHSL

GHSL_X0, GHSL_Y0, GHSL_TILE = -18_041_000.0, 9_000_000.0, 1_000_000.0


def ghsl_name(year: int, r: int, c: int) -> str:
    """``GHS_BUILT_S_E{YYYY}_GLOBE_R2023A_54009_100_V1_0_R{r}_C{c}.tif`` (PRODUCTS.md §8)."""
    return f"GHS_BUILT_S_E{year}_GLOBE_R2023A_54009_100_V1_0_R{r}_C{c}.tif"


def ghsl_built_s(folder: str | Path, year: int = 2020) -> Fixture:
    """Two GHS-BUILT-S R2023A 100 m Mollweide tiles (ESRI:54009, uint16 m², nodata 65535).

    Parameters
    ----------
    folder
        Where to write.
    year
        Epoch (1975–2030 by 5); block values grow with it.

    Returns
    -------
    Fixture
        ``builtup_km2`` = Σ m² / 1e6 of valid pixels (exact), ``fill_pixels`` (65535 blocks
        inside every zone; unwritten blocks read 65535 too). Zone ``420100`` straddles the
        seam between the two tiles.

    Notes
    -----
    Tile origin x −18041000, y 9000000, 1000 km tiles of 10000² px (third-party, §8).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    crs = CRS.from_user_input("ESRI:54009")
    fwd = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    inv = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    x, y = fwd.transform(114.3, 30.6)
    c = int((x - GHSL_X0) // GHSL_TILE) + 1
    r = int((GHSL_Y0 - y) // GHSL_TILE) + 1
    xs = GHSL_X0 + c * GHSL_TILE  # east edge of column c
    if xs - x > GHSL_TILE / 2:
        c -= 1
        xs -= GHSL_TILE
    seam_lon, _ = inv.transform(xs, y)
    k = (year - 1975) // 5
    # near Wuhan's latitude, moved west onto the seam between tile columns c and c + 1
    pts = [
        ("420100", f"seam C{c}|C{c + 1}", seam_lon, 30.6),
        ("421200", f"inside C{c}", seam_lon - 0.5, 30.3),
    ]
    zones = _ll_layout(pts, 0.2, (10000, 2500 + 100 * k, 400), 65535, 0, grow=0.01 * k)
    files = []
    sums = [0.0] * len(zones)
    fills = [0] * len(zones)
    for cc in (c, c + 1):
        transform = from_origin(
            GHSL_X0 + (cc - 1) * GHSL_TILE, GHSL_Y0 - (r - 1) * GHSL_TILE, 100, 100
        )
        painted = _paint_projected(zones, transform, crs, 10000, 10000, "uint16", 65535)
        vals = [v for b in zones[0].blocks for v in [b.value] if v != 65535]
        s = _count_in_zone(painted, zones, vals, sum_values=True)
        f = _count_in_zone(painted, zones, [65535])
        sums = [a + b for a, b in zip(sums, s, strict=True)]
        fills = [a + b for a, b in zip(fills, f, strict=True)]
        path = folder / ghsl_name(year, r, cc)
        prof = _tif_profile(10000, 10000, "uint16", crs, transform, nodata=65535)
        with rasterio.open(path, "w", **prof) as dst:
            _write_painted(dst, painted)
        files.append(path)
    rows = [
        {"adcode": z.adcode, "year": year, "builtup_km2": s / 1e6, "fill_pixels": f}
        for z, s, f in zip(zones, sums, fills, strict=True)
    ]
    pattern = "GHS_BUILT_S_E{year}_GLOBE_R2023A_54009_100_V1_0_R*_C*.tif"
    rtol = {"builtup_km2": 1e-12, "fill_pixels": 0}
    notes = (
        "fill_pixels counts the 65535 pixels whose centre is in the zone, on both tiles; tiles "
        "ship as ZIPs in reality, here as bare .tif."
    )
    return _finish("ghsl_built_s", folder, files, pattern, _ll_zones_gdf(zones), rows, rtol, notes)
