"""Raster sources as downloaded: the files of each year, checked against the preset, as mosaics.

Terms
-----
pattern
    A path holding ``{year}`` (any number of times, in file or folder names), the glob
    wildcards ``*`` and ``?`` (within one name) and ``**`` (any depth of folders). Every other
    character is literal: brackets in a real file name are not a glob.
file
    One downloaded file: any GDAL raster; a ``.gz`` (read through ``/vsigzip/``); a ``.zip``
    (each raster inside through ``/vsizip/``); a Black Marble HDF5 tile (georeferenced from
    its ``hHHvVV``); an MCD12Q1 HDF4 tile (described from its metadata, converted once when
    its values are first checked, see :mod:`urbanshrink_gis.io.modis`).
tile
    One raster of a file as GDAL opens it, with its grid and the metadata it declares.
group
    The tiles of a series that share a CRS. A year of one group is read as one mosaic (a GDAL
    VRT on the group's grid, the union of every year's tiles), so the years of a group share
    their pixels. Tiles in several CRSs (GlobeLand30's UTM zones) make several groups, each
    measured on its own grid.
declared metadata
    What a file says about itself: its nodata/``_FillValue``, ``scale_factor`` and
    ``add_offset``. Declared metadata wins over the preset, with a warning naming both.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import re
import warnings
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import rasterio.shutil
import shapely
from affine import Affine
from pyproj import CRS, Geod, Transformer
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window, from_bounds
from shapely.geometry.base import BaseGeometry

from urbanshrink_gis.errors import ConfigError, RasterError, UrbanShrinkWarning
from urbanshrink_gis.io import blackmarble
from urbanshrink_gis.io.rasters import open_raster, read_block
from urbanshrink_gis.products.check import check_raster, crs_labels
from urbanshrink_gis.products.model import Product

__all__ = [
    "Series",
    "Tile",
    "check_against",
    "check_series_values",
    "clip_series",
    "covered_share",
    "find_files",
    "read_tiles",
    "resolve_series",
    "year_of_files",
]

log = logging.getLogger(__name__)

_RASTER_SUFFIXES = (".tif", ".tiff", ".img", ".vrt", ".h5", ".hdf", ".nc", ".jp2")
_SAMPLES = 12  # windows read per year to check values against the preset
_SAMPLE_SIDE = 256
_OUTSIDE_FIX = (
    "check that these are the product's files, choose the matching preset, or set "
    "allow_outside_product = true in this [[rasters]] table to use them anyway"
)
_ALIGN = 1e-6  # tiles of one group must sit on one pixel grid within this fraction of a pixel


def _pattern_regex(parts: Sequence[str]) -> re.Pattern[str]:
    """Regex of the path parts after the literal root: {year}, *, ?, ** and literal text."""
    out, year_seen = [], False
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "**":
            out.append("(?:[^/]+/)*")
            continue
        text = part
        while text:
            if text.startswith("{year}"):
                out.append(r"(?P=year)" if year_seen else r"(?P<year>\d{4})")
                year_seen, text = True, text[6:]
            elif text[0] == "*":
                out.append("[^/]*")
                text = text.lstrip("*")
            elif text[0] == "?":
                out.append("[^/]")
                text = text[1:]
            else:
                out.append(re.escape(text[0]))
                text = text[1:]
        if not last:
            out.append("/")
    return re.compile("".join(out))


def _is_literal(part: str) -> bool:
    return "{year}" not in part and "*" not in part and "?" not in part


def find_files(
    pattern: str | os.PathLike,
    years: Iterable[int] | None = None,
    *,
    root: str | os.PathLike | None = None,
) -> dict[int, tuple[str, ...]]:
    """Files matching a ``{year}`` pattern, grouped by year and sorted.

    Parameters
    ----------
    pattern
        Path pattern (see the module's terms); relative to `root`, else to the working folder,
        when relative.
    years
        Keep only these years (all found otherwise).
    root
        A folder taken literally (its ``{year}``, ``*``, ``?`` are characters of its names,
        as in a configuration's folder).

    Returns
    -------
    dict
        Year to the sorted absolute paths of its files; years without a file are absent.

    Raises
    ------
    ConfigError
        The pattern has no ``{year}``.
    RasterError
        One of the given years has no file.
    """
    text = os.fspath(pattern)
    if "{year}" not in text:
        raise ConfigError(
            f"path pattern {text!r} has no {{year}}",
            where="path",
            fix='write the year as {year}, e.g. "ntl/VNL_*_{year}_*.average_masked.dat.tif.gz"',
        )
    literal = 0 if root is None else len(Path(os.path.abspath(root)).parts)
    parts = Path(os.path.abspath(os.path.join(root or "", text))).parts
    cut = next(i for i, p in enumerate(parts) if i >= literal and not _is_literal(p))
    root, rest = Path(*parts[:cut]), parts[cut:]
    regex = _pattern_regex(rest)
    deep = "**" in rest
    wanted = None if years is None else {int(y) for y in years}
    found: dict[int, list[str]] = {}
    for folder, dirs, files in os.walk(root, followlinks=True):
        rel_folder = Path(folder).relative_to(root)
        depth = 0 if str(rel_folder) == "." else len(rel_folder.parts)
        if not deep and depth >= len(rest) - 1:
            dirs[:] = []
        dirs.sort()
        for name in files:
            rel = (rel_folder / name).as_posix() if depth else name
            m = regex.fullmatch(rel)
            if m is None:
                continue
            year = int(m.group("year"))
            if wanted is None or year in wanted:
                found.setdefault(year, []).append(os.path.join(folder, name))
    missing = sorted((wanted or set()) - set(found))
    if missing:
        raise RasterError(
            "file not found",
            where=os.path.join(root or "", text.replace("{year}", str(missing[0]))),
            fix="check the raster path (wildcards * ? ** may stand for stamps), or drop the "
            "year from years",
        )
    return {y: tuple(sorted(found[y])) for y in sorted(found)}


def year_of_files(
    paths: Mapping[str | int, str | Sequence[str]], base: Path
) -> dict[int, tuple[str, ...]]:
    """Explicit files per year (as ``paths = {2015 = [...], 2020 = "..."}`` in a config).

    Raises
    ------
    ConfigError
        A key is not a year, or a listed file does not exist.
    """
    out: dict[int, tuple[str, ...]] = {}
    for key, value in paths.items():
        try:
            year = int(key)
        except (TypeError, ValueError):
            raise ConfigError(
                f"paths key {key!r} is not a year",
                where="paths",
                fix="write paths = {2015 = [...]}",
            ) from None
        items = [value] if isinstance(value, str) else list(value)
        files = []
        for item in items:
            path = item if str(item).startswith("/vsi") else os.path.join(base, item)
            if not str(path).startswith("/vsi") and not Path(path).exists():
                raise ConfigError(
                    "file not found", where=f"paths {year}: {path}", fix="check the path"
                )
            files.append(os.path.abspath(path) if not str(path).startswith("/vsi") else str(path))
        if not files:
            raise ConfigError(f"paths {year} lists no file", where="paths", fix="list its files")
        out[year] = tuple(files)
    return dict(sorted(out.items()))


@dataclass(frozen=True, slots=True)
class Tile:
    """One raster of a downloaded file.

    Parameters
    ----------
    file
        The downloaded file it comes from.
    name
        What GDAL opens (``/vsigzip/…``, ``/vsizip/…/member``, ``HDF5:"…"://…``, a path).
    crs, transform, width, height, dtype
        Its grid and band type; Black Marble tiles carry the transform of their ``hHHvVV``.
    nodata, scale, offset
        The file's declared values (None when it declares none).
    pending
        True for an HDF4 tile whose GeoTIFF (``name``) is not written yet: nothing reads
        it before :func:`check_series_values` converts it.
    """

    file: str
    name: str
    crs: CRS
    transform: Affine
    width: int
    height: int
    dtype: str
    nodata: float | None
    scale: float | None
    offset: float | None
    pending: bool = False

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """West, south, east, north in the tile's CRS."""
        t = self.transform
        return t.c, t.f + t.e * self.height, t.c + t.a * self.width, t.f


def _members(file: str, product: Product) -> list[str]:
    """GDAL names of the rasters inside a zip: the product's layer when the names tell."""
    try:
        with zipfile.ZipFile(file) as z:
            names = [n for n in z.namelist() if n.lower().endswith(_RASTER_SUFFIXES)]
    except (OSError, zipfile.BadZipFile) as err:
        raise RasterError(
            f"is not a readable zip ({err})", where=file, fix="download it again"
        ) from err
    wanted = Path(product.path_pattern).name.replace("{year}", "*") if product.path_pattern else ""
    own = [n for n in names if wanted and fnmatch(Path(n).name, wanted)]
    chosen = own or names
    if not chosen:
        raise RasterError("holds no raster", where=file, fix="give the zip of the product's tiles")
    return [f"/vsizip/{file}/{n}" for n in chosen]


def read_tiles(file: str, product: Product, *, cache: Path | None = None) -> list[Tile]:
    """The tiles of one downloaded file, described from the file itself.

    Parameters
    ----------
    file
        The file (or a ``/vsi…`` name).
    product
        Its preset: the band, and the layer of a container file.
    cache
        Folder for the GeoTIFFs converted from HDF4 tiles (MCD12Q1); they are described from
        their metadata here, and written only by :func:`check_series_values`.

    Raises
    ------
    RasterError
        The file cannot be opened, has no CRS, or lacks the band or layer.
    """
    lower = file.lower()
    if lower.endswith(".zip"):
        return [_tile(file, name, product) for name in _members(file, product)]
    if lower.endswith(".gz") and not file.startswith("/vsi"):
        return [_tile(file, f"/vsigzip/{file}", product)]
    if lower.endswith(".h5") and product.subdataset:
        return [_hdf5_tile(file, product)]
    if lower.endswith(".hdf"):
        return [_hdf4_tile(file, product, cache)]
    return [_tile(file, file, product)]


def _declared(
    ds: rasterio.DatasetReader, band: int
) -> tuple[float | None, float | None, float | None]:
    """Nodata, scale and offset as the file declares them (None where it says nothing)."""
    tags = {k.lower(): v for k, v in ds.tags(band).items()}
    nodata = ds.nodatavals[band - 1]
    says_scale = "scale_factor" in tags or "add_offset" in tags
    scale, offset = ds.scales[band - 1], ds.offsets[band - 1]
    if not says_scale and scale == 1 and offset == 0:
        return (None if nodata is None else float(nodata)), None, None
    return (None if nodata is None else float(nodata)), float(scale), float(offset)


def _tile(file: str, name: str, product: Product) -> Tile:
    with open_raster(name, band=product.band) as ds:
        nodata, scale, offset = _declared(ds, product.band)
        return Tile(
            file, name, CRS.from_user_input(ds.crs.to_wkt()), ds.transform, ds.width, ds.height,
            ds.dtypes[product.band - 1], nodata, scale, offset,
        )  # fmt: skip


def _hdf5_tile(file: str, product: Product) -> Tile:
    """A Black Marble tile: the layer through GDAL's HDF5 driver, placed by its hHHvVV."""
    vrt_name = blackmarble.open_blackmarble(file, layer=product.subdataset or "")
    gdal_name = vrt_name.removeprefix("vrt://").split("?", 1)[0]
    west, south, east, north = blackmarble.tile_bounds(file)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(gdal_name) as ds:
            nodata, scale, offset = _declared(ds, 1)
            width, height, dtype = ds.width, ds.height, ds.dtypes[0]
    transform = Affine((east - west) / width, 0, west, 0, -(north - south) / height, north)
    crs = CRS.from_epsg(4326)
    return Tile(file, gdal_name, crs, transform, width, height, dtype, nodata, scale, offset)


def _hdf4_layer(product: Product) -> str:
    return (product.subdataset or "LC_Type1").rsplit(":", 1)[-1]


def _hdf4_tile(file: str, product: Product, cache: Path | None) -> Tile:
    """An MCD12Q1 tile as its GeoTIFF in ``cache`` will be (GDAL here reads no HDF4)."""
    from urbanshrink_gis.io import modis

    if cache is None:
        raise RasterError(
            "is HDF4, which is converted once before reading and no cache folder was given",
            where=file,
            fix="run through `urbanshrink run` (it caches under OUT/.checkpoints) or pass cache",
        )
    tif = modis.describe_hdf4(file, cache, layer=_hdf4_layer(product))
    return Tile(
        file, os.fspath(tif.geotiff), CRS.from_user_input(modis.MODIS_SINUSOIDAL), tif.transform,
        tif.size, tif.size, tif.dtype, tif.nodata, tif.scale, tif.offset,
        pending=not tif.geotiff.exists(),
    )  # fmt: skip


def _convert_hdf4(series: Series) -> None:
    """Write the GeoTIFFs of a series' HDF4 tiles that :func:`read_tiles` only described."""
    from urbanshrink_gis.io import modis

    hdf4 = [f for fs in series.files.values() for f in fs if f.lower().endswith(".hdf")]
    for file in hdf4:
        assert series.folder is not None  # read_tiles refused HDF4 without a folder
        modis.hdf4_to_geotiff(file, series.folder, layer=_hdf4_layer(series.product))


@dataclass(frozen=True, slots=True)
class Series:
    """The years of one raster series, read through one mosaic per year and CRS group.

    Parameters
    ----------
    label
        Short name used for the mosaics' files and in messages.
    product
        The preset with the files' declared metadata applied (the values actually used).
    files
        Year to the downloaded files (for fingerprints and messages).
    groups
        Year to one GDAL name per CRS group present that year (index into ``crs``).
    crs
        The CRS of each group, in group order.
    notes
        Facts the outputs' metadata should carry (processing breaks, allowed violations).
    """

    label: str
    product: Product
    files: dict[int, tuple[str, ...]]
    groups: dict[int, dict[int, str]]
    crs: tuple[CRS, ...]
    notes: tuple[str, ...] = ()
    folder: Path | None = field(default=None, compare=False)
    footprints: dict[int, BaseGeometry] = field(default_factory=dict, compare=False)
    grid_crs: str | None = None

    @property
    def years(self) -> tuple[int, ...]:
        """The series' years, sorted."""
        return tuple(sorted(self.files))

    def path(self, year: int) -> str:
        """The one GDAL name of a year on one grid (the warped mosaic for several CRSs)."""
        names = self.groups[year]
        if len(self.crs) == 1:
            return names[0]
        return self._warped(year)

    def _warped(self, year: int) -> str:
        """A VRT of every group of a year warped (nearest) to the first group's grid."""
        if self.folder is None:
            raise RasterError(
                "spans several CRSs and needs a folder for its warped mosaic",
                where=self.label,
                fix="resolve the series with a folder",
            )
        return _warped_mosaic(self, year)


def _crs_key(crs: CRS) -> str:
    return crs.to_wkt()


def resolve_series(
    files: Mapping[int, Sequence[str]],
    product: Product,
    *,
    label: str,
    folder: Path | None,
    zones_bounds: Sequence[tuple[float, float, float, float, CRS]] | None = None,
    allow_outside_product: bool = False,
    grid_crs: str | None = None,
    check_values: bool = True,
) -> Series:
    """Describe, check and mosaic the files of a series, before any zonal work.

    Parameters
    ----------
    files
        Year to its files (from :func:`find_files` or :func:`year_of_files`).
    product
        The preset (with the configuration's overrides).
    label
        Name of the series in file names and messages.
    folder
        Where mosaics (VRTs) and converted tiles are written; None only when every year is a
        single plain raster.
    zones_bounds
        Boxes where the analysis reads (west, south, east, north, CRS), where values are
        sampled for the legend and range checks.
    allow_outside_product
        Turn violations of the preset into warnings (and a note in the outputs' metadata).
    grid_crs
        CRS of the per-pixel outputs of a multi-CRS series (default: the first group's).
    check_values
        Also sample its values for the legend and range checks (:func:`check_values`);
        False leaves that to a later call, so that no pixel is read yet.

    Returns
    -------
    Series

    Raises
    ------
    RasterError
        A year has no file, a file cannot be read, tiles disagree among themselves or overlap
        with different values, or a file violates its preset (see :func:`check_against`).
    """
    if not files:
        raise RasterError(
            "no file matches", where=label, fix="check the path pattern, or list paths per year"
        )
    _note_archives(files, label)
    tiles = {
        y: [t for f in fs for t in read_tiles(f, product, cache=folder)] for y, fs in files.items()
    }
    effective, notes = _effective_product(tiles, product, allow_outside_product, label)
    violations = [v for y, ts in tiles.items() for v in check_against(ts, effective, year=y)]
    notes += _version_notes(files)
    if violations:
        _refuse_or_note(violations, allow_outside_product, notes, label)
    keys: list[str] = []
    crs_list: list[CRS] = []
    for ts in tiles.values():
        for t in ts:
            if _crs_key(t.crs) not in keys:
                keys.append(_crs_key(t.crs))
                crs_list.append(t.crs)
    by_group = []
    for key in keys:
        members = {y: [t for t in ts if _crs_key(t.crs) == key] for y, ts in tiles.items()}
        by_group.append({y: ts for y, ts in members.items() if ts})
    direct = len(by_group) == 1 and _direct(by_group[0])
    if direct:
        _check_one_grid(by_group[0])
    source_product = effective  # how the downloaded files are read
    if not direct:
        effective = effective.replace(band=1)  # a mosaic holds the product's band as band 1
    groups: dict[int, dict[int, str]] = {}
    for g, members in enumerate(by_group):
        names = (
            {y: ts[0].name for y, ts in members.items()}
            if direct
            else _group_mosaics(members, source_product, folder, f"{label}-g{g}")
        )
        for year, name in names.items():
            groups.setdefault(year, {})[g] = name
    if len(keys) > 1:
        _check_cross_group_overlap(tiles, source_product)
    footprints = {y: _footprint(ts) for y, ts in tiles.items()}
    series = Series(
        label, effective, {y: tuple(fs) for y, fs in sorted(files.items())},
        dict(sorted(groups.items())), tuple(crs_list), tuple(notes), folder, footprints,
    )  # fmt: skip
    series = dataclasses.replace(series, grid_crs=grid_crs)
    if check_values:
        series = check_series_values(series, zones_bounds, allow_outside_product)
    return series


def check_series_values(
    series: Series,
    zones_bounds: Sequence[tuple[float, float, float, float, CRS]] | None = None,
    allow_outside_product: bool = False,
) -> Series:
    """The legend and valid-range checks of :func:`resolve_series`, on sampled windows.

    The series' pixels are first read here: HDF4 tiles are converted to GeoTIFFs first.

    Returns
    -------
    Series
        The series with a note per violation that `allow_outside_product` lets through.

    Raises
    ------
    RasterError
        A value outside the preset's legend or valid range (unless allowed).
    """
    _convert_hdf4(series)
    notes = _check_values(series, zones_bounds, allow_outside_product)
    return dataclasses.replace(series, notes=(*series.notes, *notes))


def _note_archives(files: Mapping[int, Sequence[str]], label: str) -> None:
    """One warning when a series is read from gzip files (every read starts from the top)."""
    gz = [f for fs in files.values() for f in fs if f.lower().endswith(".gz")]
    if gz:
        warnings.warn(
            f"{label}: {len(gz)} file(s) are gzipped ({Path(gz[0]).name}, ...): GDAL "
            "decompresses from the start of the file for every read, slow for a global year; "
            "`urbanshrink prepare CONFIG --out DIR` clips them once to the boundaries",
            UrbanShrinkWarning,
            stacklevel=3,
        )


# --- declared metadata against the preset ------------------------------------------------


def _agreed(tiles: dict[int, list[Tile]], attr: str, label: str) -> tuple[bool, float | None]:
    """Whether any tile declares ``attr``, and the one value all declaring tiles share."""
    seen: dict[float | None, str] = {}
    for ts in tiles.values():
        for t in ts:
            value = getattr(t, attr)
            if value is not None:
                seen.setdefault("nan" if math.isnan(value) else value, t.file)
    if len(seen) > 1:
        (a, fa), (b, fb) = list(seen.items())[:2]
        raise RasterError(
            f"files of one series declare different {attr} values ({a} in {fa}, {b} in {fb})",
            where=label,
            fix="give one product's files per series (collections and releases are separate "
            "presets)",
        )
    if not seen:
        return False, None
    value = next(iter(seen))
    return True, (math.nan if value == "nan" else value)


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return a == b or (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-6)


def _effective_product(
    tiles: dict[int, list[Tile]], product: Product, allow: bool, label: str
) -> tuple[Product, list[str]]:
    """The preset with the files' declared fill, scale and offset winning, warned once each."""
    changes: dict[str, float] = {}
    said = []
    for attr in ("nodata", "scale", "offset"):
        declared, value = _agreed(tiles, attr, label)
        preset = getattr(product, attr)
        if declared and not _same(value, preset):
            changes[attr] = value  # type: ignore[assignment]
            if preset is not None:  # a fill the preset does not know is no disagreement
                said.append(f"{attr} {value:g} (preset {product.name!r}: {preset:g})")
    dtypes = {t.dtype for ts in tiles.values() for t in ts}
    notes: list[str] = []
    if said:
        warnings.warn(
            f"{label}: the files declare {', '.join(said)}; the files' values are used",
            UrbanShrinkWarning,
            stacklevel=3,
        )
        notes.append(f"{label}: file metadata used over the preset: {', '.join(said)}")
    if (
        len(dtypes) == 1
        and next(iter(dtypes)) != product.dtype
        and ("scale" in changes or "nodata" in changes)
    ):
        changes["dtype"] = next(iter(dtypes))  # the declared fill and scale explain the type
    return (product.replace(**changes) if changes else product), notes


def check_against(tiles: Sequence[Tile], product: Product, *, year: int) -> list[str]:
    """Violations of a preset by one year's tiles: year, dtype, CRS and pixel size.

    Returns
    -------
    list of str
        One phrase per violation, naming the file and both values.
    """
    out = []
    if product.years is not None and not product.years[0] <= year <= product.years[1]:
        first, last = product.years
        out.append(f"year {year} is outside the years of product {product.name!r} ({first}-{last})")
    elif product.epochs and year not in product.epochs:
        shown = ", ".join(map(str, product.epochs))
        out.append(f"year {year} is not an epoch of product {product.name!r} ({shown})")
    for t in tiles:
        where = Path(t.file).name
        if len(tiles) > 1 or t.name != t.file:
            where = f"{where}" if t.name == t.file else f"{where} ({Path(t.name).name})"
        float_classes = product.kind == "landcover" and np.dtype(t.dtype).kind == "f"
        if t.dtype != product.dtype and not float_classes:  # classes as floats: values named
            out.append(f"{where} is {t.dtype}, not {product.dtype} as product {product.name!r}")
        if product.crs is not None and not _crs_equal(t.crs, product.crs):
            found, wanted = crs_labels(t.crs, product.crs)
            out.append(f"{where} is in {found}, not the CRS of product {product.name!r} ({wanted})")
        if product.pixel_size is not None:
            res = (abs(t.transform.a), abs(t.transform.e))
            if not all(math.isclose(r, product.pixel_size, rel_tol=1e-6) for r in res):
                out.append(
                    f"{where} has {res[0]:.8g} x {res[1]:.8g} pixels, not the "
                    f"{product.pixel_size:.8g} of product {product.name!r}"
                )
    return out


def _crs_equal(crs: CRS, expected: str) -> bool:
    other = CRS.from_user_input(expected)
    if crs.equals(other, ignore_axis_order=True):
        return True
    try:  # a PROJ string and the WKT GDAL writes for it may differ only in names
        return crs.to_proj4() == other.to_proj4()
    except Exception:  # a CRS with no PROJ.4 form is simply not equal
        return False


def _version_notes(files: Mapping[int, Sequence[str]]) -> list[str]:
    """Processing breaks the names reveal (VNL v2.1 to 2021, v2.2 from 2022)."""
    versions = {}
    for year, fs in files.items():
        for f in fs:
            name = Path(f).name
            if name.startswith("VNL_v21"):
                versions.setdefault("v2.1", []).append(year)
            elif name.startswith("VNL_v22") or name.startswith("VNL_npp_"):
                versions.setdefault("v2.2", []).append(year)
    if len(versions) < 2:
        return []
    spans = "; ".join(f"{v}: {min(ys)}-{max(ys)}" for v, ys in sorted(versions.items()))
    return [f"VNL processing break between versions ({spans}): compare across it with care"]


def _refuse_or_note(violations: list[str], allow: bool, notes: list[str], label: str) -> None:
    shown = "; ".join(violations[:3]) + (
        f"; and {len(violations) - 3} more" if len(violations) > 3 else ""
    )
    if not allow:
        raise RasterError(shown, where=label, fix=_OUTSIDE_FIX)
    warnings.warn(
        f"{label}: outside the product, allowed: {shown}", UrbanShrinkWarning, stacklevel=4
    )
    notes.append(f"{label}: allow_outside_product = true: {shown}")


def _check_values(
    series: Series,
    zones_bounds: Sequence[tuple[float, float, float, float, CRS]] | None,
    allow: bool,
) -> list[str]:
    """Legend and valid range on windows where the zones are (the centre when none given).

    Returns the notes of violations allowed by ``allow``.
    """
    notes: list[str] = []
    for year, names in series.groups.items():
        files = series.files[year]
        where = files[0] if len(files) == 1 else f"{files[0]} and {len(files) - 1} more"
        for name in names.values():
            with open_raster(name, band=series.product.band) as ds:
                windows = list(_sample_windows(ds, zones_bounds))
                blocks = [read_block(ds, w, band=series.product.band) for w in windows]
                if not blocks:
                    continue
                raw = np.ma.masked_array(
                    np.concatenate([v.ravel() for v, _ in blocks]),
                    mask=np.concatenate(
                        [np.zeros(v.size, bool) if m is None else m.ravel() == 0 for v, m in blocks]
                    ),
                )
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("error", UrbanShrinkWarning)
                        check_raster(ds, series.product, sample=raw)
                except (UrbanShrinkWarning, RasterError) as problem:
                    what = problem.what if isinstance(problem, RasterError) else str(problem)
                    what = what.removeprefix(f"{ds.name}: ")
                    if not allow:
                        fix = getattr(problem, "fix", None) or _OUTSIDE_FIX
                        raise RasterError(what, where=f"{where} (year {year})", fix=fix) from None
                    _refuse_or_note([f"{where} (year {year}): {what}"], allow, notes, series.label)
    return notes


def _sample_windows(
    ds: rasterio.DatasetReader,
    zones_bounds: Sequence[tuple[float, float, float, float, CRS]] | None,
) -> Iterable[Window]:
    """Up to a dozen small windows at the zones' boxes (their centres), inside the raster."""
    from rasterio.warp import transform_bounds

    boxes = zones_bounds or []
    step = max(1, len(boxes) // _SAMPLES)
    for w, s, e, n, crs in list(boxes)[::step][:_SAMPLES]:
        try:
            bw, bs, be, bn = transform_bounds(crs, ds.crs, w, s, e, n)
        except Exception:  # a box that does not project here is not sampled
            continue
        win = from_bounds(bw, bs, be, bn, ds.transform)
        row = int(win.row_off + win.height / 2)
        col = int(win.col_off + win.width / 2)
        r0 = max(0, row - _SAMPLE_SIDE // 2)
        c0 = max(0, col - _SAMPLE_SIDE // 2)
        if r0 >= ds.height or c0 >= ds.width or row < 0 or col < 0:
            continue
        yield Window(c0, r0, min(_SAMPLE_SIDE, ds.width - c0), min(_SAMPLE_SIDE, ds.height - r0))
    if not boxes:
        h, w = min(_SAMPLE_SIDE, ds.height), min(_SAMPLE_SIDE, ds.width)
        yield Window((ds.width - w) // 2, (ds.height - h) // 2, w, h)


# --- mosaics ------------------------------------------------------------------------------


def _group_mosaics(
    members: dict[int, list[Tile]], product: Product, folder: Path | None, label: str
) -> dict[int, str]:
    """One VRT per year for a CRS group, on the grid of the group's tiles of every year."""
    all_tiles = [t for ts in members.values() for t in ts]
    if folder is None:
        raise RasterError(
            "has several tiles per year or tiles to georeference, and no folder for its mosaics",
            where=label,
            fix="resolve the series with a folder",
        )
    grid = _union_grid(all_tiles, label)
    for ts in members.values():
        _check_overlaps(ts, product)
    folder.mkdir(parents=True, exist_ok=True)
    return {
        y: os.fspath(_write_vrt(folder / f"{label}-{y}.vrt", ts, grid, product))
        for y, ts in members.items()
    }


def _direct(members: dict[int, list[Tile]]) -> bool:
    """Whether every year is one plain raster GDAL opens as it is (no mosaic needed).

    Single files on grids that differ between years (half-cell offsets of some DMSP years)
    stay direct: each year is then measured on its own grid.
    """
    return all(len(ts) == 1 and ts[0].name == ts[0].file for ts in members.values())


def _check_one_grid(members: dict[int, list[Tile]]) -> None:
    """Refuse single files per year whose grids differ (the years must share their pixels)."""
    (first, (ref, *_)), *rest = sorted(members.items())
    for year, (t, *_) in rest:
        if (t.width, t.height) != (ref.width, ref.height) or not t.transform.almost_equals(
            ref.transform, precision=1e-9
        ):
            raise RasterError(
                f"is on another grid than {ref.file} (year {first}): size or transform differ",
                where=f"{t.file} (year {year})",
                fix="warp the series onto one grid (gdalwarp with the first file's -te and -tr; "
                "nearest resampling for classes)",
            )


def _aligned(tiles: Sequence[Tile]) -> bool:
    a, e = tiles[0].transform.a, tiles[0].transform.e
    x0, y0 = tiles[0].transform.c, tiles[0].transform.f
    for t in tiles:
        if not (
            math.isclose(t.transform.a, a, rel_tol=1e-9)
            and math.isclose(t.transform.e, e, rel_tol=1e-9)
        ):
            return False
        cx, cy = (t.transform.c - x0) / a, (t.transform.f - y0) / e
        if abs(cx - round(cx)) > _ALIGN or abs(cy - round(cy)) > _ALIGN:
            return False
    return True


def _union_grid(tiles: Sequence[Tile], label: str) -> tuple[Affine, int, int, CRS]:
    """The grid covering every tile of a group, on the tiles' common pixel grid."""
    if not _aligned(tiles):
        raise RasterError(
            "tiles of one CRS are not on one pixel grid (pixel sizes or origins differ)",
            where=f"{label}: {Path(tiles[0].file).name} and others",
            fix="give tiles of one product release; warp odd tiles onto the others' grid with "
            "nearest-neighbour resampling",
        )
    a, e = tiles[0].transform.a, tiles[0].transform.e
    x0, y0 = tiles[0].transform.c, tiles[0].transform.f
    cols = [round((t.transform.c - x0) / a) for t in tiles]
    rows = [round((t.transform.f - y0) / e) for t in tiles]
    c_min, r_min = min(cols), min(rows)
    c_max = max(c + t.width for c, t in zip(cols, tiles, strict=True))
    r_max = max(r + t.height for r, t in zip(rows, tiles, strict=True))
    transform = Affine(a, 0, x0 + c_min * a, 0, e, y0 + r_min * e)
    return transform, c_max - c_min, r_max - r_min, tiles[0].crs


_NUMPY_TO_GDAL = {
    "uint8": "Byte", "int8": "Int8", "uint16": "UInt16", "int16": "Int16", "uint32": "UInt32",
    "int32": "Int32", "float32": "Float32", "float64": "Float64", "int64": "Int64",
    "uint64": "UInt64",
}  # fmt: skip


def _fill_of(product: Product, dtype: str) -> float | None:
    """The mosaic's nodata: the product's fill, else NaN for floats (None for integers)."""
    if product.nodata is not None:
        return product.nodata
    return float("nan") if np.dtype(dtype).kind == "f" else None


def _write_vrt(
    path: Path,
    tiles: Sequence[Tile],
    grid: tuple[Affine, int, int, CRS],
    product: Product,
    *,
    window: Window | None = None,
) -> Path:
    """Write a mosaic VRT of tiles on a grid (only when its text changed); return its path.

    With ``window``, the one tile's window fills the grid (a cut of the same pixels).
    """
    transform, width, height, crs = grid
    dtype = tiles[0].dtype
    fill = product.nodata if window is not None else _fill_of(product, dtype)
    root = ET.Element("VRTDataset", rasterXSize=str(width), rasterYSize=str(height))
    ET.SubElement(root, "SRS").text = crs.to_wkt()
    ET.SubElement(root, "GeoTransform").text = ", ".join(
        repr(v) for v in (transform.c, transform.a, 0.0, transform.f, 0.0, transform.e)
    )
    band = ET.SubElement(root, "VRTRasterBand", dataType=_NUMPY_TO_GDAL[dtype], band="1")
    if fill is None and window is None:
        raise RasterError(
            f"tiles of product {product.name!r} have no fill value to mosaic them with",
            where=Path(tiles[0].file).name,
            fix="set nodata for this [[rasters]] series (the value outside the tiles' data)",
        )
    if fill is not None:
        ET.SubElement(band, "NoDataValue").text = "nan" if math.isnan(fill) else repr(fill)
    if (product.scale, product.offset) != (1.0, 0.0):  # declared, as the files declared it
        ET.SubElement(band, "Offset").text = repr(product.offset)
        ET.SubElement(band, "Scale").text = repr(product.scale)
    for t in tiles:
        source = ET.SubElement(band, "ComplexSource" if fill is not None else "SimpleSource")
        ET.SubElement(source, "SourceFilename", relativeToVRT="0").text = t.name
        source_band = 1 if t.name.startswith("HDF5:") else product.band
        ET.SubElement(source, "SourceBand").text = str(source_band)
        if window is not None:
            src = (int(window.col_off), int(window.row_off), width, height)
            dst = (0, 0, width, height)
        else:
            col = round((t.transform.c - transform.c) / transform.a)
            row = round((t.transform.f - transform.f) / transform.e)
            src, dst = (0, 0, t.width, t.height), (col, row, t.width, t.height)
        keys = ("xOff", "yOff", "xSize", "ySize")
        ET.SubElement(source, "SrcRect", dict(zip(keys, map(str, src), strict=True)))
        ET.SubElement(source, "DstRect", dict(zip(keys, map(str, dst), strict=True)))
        tile_fill = t.nodata if t.nodata is not None else fill
        if tile_fill is not None:
            ET.SubElement(source, "NODATA").text = (
                "nan" if math.isnan(tile_fill) else repr(tile_fill)
            )
    _write_if_changed(path, ET.tostring(root, encoding="unicode"))
    return path


def _write_if_changed(path: Path, text: str) -> None:
    """Write a small text file atomically, leaving it untouched when it already holds text."""
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _check_overlaps(tiles: Sequence[Tile], product: Product) -> None:
    """Stop when two tiles of one year and CRS overlap with different valid values."""
    for i, a in enumerate(tiles):
        for b in tiles[i + 1 :]:
            _compare_overlap(a, b, product)


def _intersection(
    a: tuple[float, ...], b: tuple[float, ...]
) -> tuple[float, float, float, float] | None:
    w, s = max(a[0], b[0]), max(a[1], b[1])
    e, n = min(a[2], b[2]), min(a[3], b[3])
    return (w, s, e, n) if w < e and s < n else None


def _compare_overlap(a: Tile, b: Tile, product: Product, *, warp: bool = False) -> None:
    """Read both tiles where they overlap (b warped by nearest onto a's grid) and compare."""
    from rasterio.warp import transform_bounds

    bb = b.bounds if not warp else transform_bounds(b.crs, a.crs, *b.bounds)
    box = _intersection(a.bounds, bb)
    if box is None:
        return
    win = from_bounds(*box, a.transform).round_offsets().round_lengths()
    if win.width < 1 or win.height < 1:
        return  # tiles that only abut
    if a.pending or b.pending:  # MODIS tiles of one grid overlap only when they are one tile
        raise RasterError(
            f"is the same tile as {Path(b.file).name} (one place given twice)",
            where=Path(a.file).name,
            fix="give each tile once: drop one of the two files",
        )
    win = win.intersection(Window(0, 0, a.width, a.height))
    step = max(1, int(max(win.width, win.height) // 512))
    shape = (max(1, int(win.height // step)), max(1, int(win.width // step)))
    fill_b = _fill_of(product, b.dtype)
    with rasterio.open(a.name) as da, rasterio.open(b.name) as db:
        va = da.read(
            1 if a.name.startswith("HDF5:") else product.band,
            window=win,
            out_shape=shape,
            resampling=Resampling.nearest,
        )
        with WarpedVRT(
            db, crs=a.crs, width=shape[1], height=shape[0],
            transform=da.window_transform(win)
            * Affine.scale(win.width / shape[1], win.height / shape[0]),
            resampling=Resampling.nearest, src_nodata=fill_b, nodata=fill_b,
        ) as vb:  # fmt: skip
            wb = vb.read(1 if b.name.startswith("HDF5:") else product.band)
    fill = product.nodata
    both = np.ones(va.shape, bool)
    for v in (va, wb):
        if fill is not None:
            both &= v != fill
        if v.dtype.kind == "f":
            both &= ~np.isnan(v)
    differ = both & (va != wb)
    if differ.sum() > max(2, 0.01 * both.sum()) and both.sum() > 0:
        raise RasterError(
            f"overlaps {Path(b.file).name} with different values ({int(differ.sum())} of "
            f"{int(both.sum())} sampled pixels differ)",
            where=Path(a.file).name,
            fix="give each place once: drop one of the two files, or keep tiles of one release",
        )
    if warp and both.sum() > max(2, 0.01 * both.size):  # more than the seam between zones
        raise RasterError(
            f"holds the same place as {Path(b.file).name}, in another CRS ({int(both.sum())} "
            f"of {both.size} sampled pixels valid in both): it would be counted twice",
            where=Path(a.file).name,
            fix="give each place once: drop one of the two files (tiles of different CRSs are "
            "measured separately and added)",
        )


def _check_cross_group_overlap(tiles: dict[int, list[Tile]], product: Product) -> None:
    """Tiles of different CRSs must not hold the same land twice with different values."""
    for ts in tiles.values():
        for i, a in enumerate(ts):
            for b in ts[i + 1 :]:
                if _crs_key(a.crs) != _crs_key(b.crs):
                    _compare_overlap(a, b, product, warp=True)


def _warped_mosaic(series: Series, year: int) -> str:
    """Every group of a year warped by nearest neighbour onto the first group's grid."""
    assert series.folder is not None
    names = series.groups[year]
    from rasterio.warp import calculate_default_transform, transform_bounds

    first = next(n for _, n in sorted(series.groups[series.years[0]].items()))
    target = series.crs[0] if series.grid_crs is None else CRS.from_user_input(series.grid_crs)
    with rasterio.open(first) as ref:
        t, _, _ = calculate_default_transform(ref.crs, target, ref.width, ref.height, *ref.bounds)
        res = (abs(t.a), abs(t.e))
    bounds = []

    for name in names.values():
        with rasterio.open(name) as ds:
            bounds.append(transform_bounds(ds.crs, target, *ds.bounds))
    west, south = min(b[0] for b in bounds), min(b[1] for b in bounds)
    east, north = max(b[2] for b in bounds), max(b[3] for b in bounds)
    width, height = math.ceil((east - west) / res[0]), math.ceil((north - south) / res[1])
    transform = Affine(res[0], 0, west, 0, -res[1], north)
    fill = _fill_of(series.product, series.product.dtype)
    parts = []
    for g, name in sorted(names.items()):
        path = series.folder / f"{series.label}-{year}-g{g}-warped.vrt"
        with rasterio.open(name) as src, WarpedVRT(
            src, crs=target, transform=transform, width=width, height=height,
            resampling=Resampling.nearest, src_nodata=fill, nodata=fill,
        ) as vrt:  # fmt: skip
            tmp = path.with_name(f".{path.name}.tmp")
            rasterio.shutil.copy(vrt, tmp, driver="VRT")
            os.replace(tmp, path)
        parts.append(path)
    tiles = [
        Tile(
            os.fspath(p),
            os.fspath(p),
            target,
            transform,
            width,
            height,
            series.product.dtype,
            fill,
            None,
            None,
        )
        for p in parts
    ]
    out = series.folder / f"{series.label}-{year}-onegrid.vrt"
    return os.fspath(
        _write_vrt(
            out,
            tiles,
            (transform, width, height, target),
            series.product,
        )
    )


# --- coverage -----------------------------------------------------------------------------


def _footprint(tiles: Sequence[Tile]) -> BaseGeometry:
    """The union of the tiles' rectangles, in longitude and latitude (WGS84)."""
    shapes = []
    for t in tiles:
        to_wgs84 = Transformer.from_crs(t.crs, "EPSG:4326", always_xy=True)
        ring = shapely.segmentize(
            shapely.box(*t.bounds), max(t.bounds[2] - t.bounds[0], t.bounds[3] - t.bounds[1]) / 64
        )
        shapes.append(
            shapely.transform(
                ring, lambda xy, f=to_wgs84: np.column_stack(f.transform(xy[:, 0], xy[:, 1]))
            )
        )
    return shapely.union_all(shapes)


def covered_share(series: Series, boundaries: gpd.GeoDataFrame) -> pd.Series:
    """Percent of each city's area inside each year's files (their rectangles).

    Returns
    -------
    pandas.Series
        Indexed by (``city_id``, ``year``).
    """
    cities = boundaries.to_crs("EPSG:4326")
    geod = Geod(ellps="WGS84")
    area = np.array([abs(geod.geometry_area_perimeter(g)[0]) for g in cities.geometry])
    rows = []
    for year, footprint in sorted(series.footprints.items()):
        inside = shapely.intersection(cities.geometry.values, footprint)
        covered = np.array([abs(geod.geometry_area_perimeter(g)[0]) for g in inside])
        share = np.where(
            area > 0, np.minimum(100.0, 100.0 * covered / np.where(area > 0, area, 1)), 100.0
        )
        rows.append(
            pd.DataFrame({"city_id": cities["city_id"].values, "year": year, "share": share})
        )
    table = pd.concat(rows, ignore_index=True)
    return table.set_index(["city_id", "year"])["share"]


# --- the analysis extent ----------------------------------------------------------------------


def clip_series(series: Series, boundaries: gpd.GeoDataFrame) -> Series:
    """The series cut to the boundaries' extent plus one pixel: VRT windows, same pixels.

    Per-pixel outputs (change and trend rasters) of a global file then cover the cities, not
    the globe. Each CRS group keeps one window for all its years.
    """
    if series.folder is None:
        return series
    groups: dict[int, dict[int, str]] = {}
    windows: dict[int, tuple[Window, Affine, int, int]] = {}
    for year, names in series.groups.items():
        for g, name in names.items():
            with open_raster(name, band=series.product.band) as ds:
                if g not in windows:
                    windows[g] = _extent_window(ds, boundaries)
                window, transform, width, height = windows[g]
                if window is None:
                    groups.setdefault(year, {})[g] = name
                    continue
                path = series.folder / f"{series.label}-{year}-g{g}-extent.vrt"
                tile = Tile(
                    name, name, CRS.from_user_input(ds.crs.to_wkt()), ds.transform, ds.width,
                    ds.height, ds.dtypes[series.product.band - 1], None, None, None,
                )  # fmt: skip
            _write_vrt(path, [tile], (transform, width, height, tile.crs), series.product,
                       window=window)  # fmt: skip
            groups.setdefault(year, {})[g] = os.fspath(path)
    return dataclasses.replace(series, groups=groups)


def _extent_window(
    ds: rasterio.DatasetReader, boundaries: gpd.GeoDataFrame
) -> tuple[Window | None, Affine, int, int]:
    """The window of the boundaries' extent plus one pixel; None when it is the whole raster."""
    from rasterio.warp import transform_bounds

    box = transform_bounds(boundaries.crs, ds.crs, *boundaries.total_bounds, densify_pts=64)
    win = from_bounds(*box, ds.transform)
    c0, r0 = max(0, math.floor(win.col_off) - 1), max(0, math.floor(win.row_off) - 1)
    c1 = min(ds.width, math.ceil(win.col_off + win.width) + 1)
    r1 = min(ds.height, math.ceil(win.row_off + win.height) + 1)
    if c1 <= c0 or r1 <= r0 or (c0, r0, c1, r1) == (0, 0, ds.width, ds.height):
        return None, ds.transform, ds.width, ds.height
    window = Window(c0, r0, c1 - c0, r1 - r0)
    return window, ds.window_transform(window), c1 - c0, r1 - r0
