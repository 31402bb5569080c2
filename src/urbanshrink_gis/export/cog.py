"""Write rasters streamed by blocks as Cloud Optimized GeoTIFFs, each with a QGIS style beside it.

Terms
-----
COG
    A GeoTIFF laid out by GDAL's COG driver: 512 x 512 tiles, DEFLATE compression, internal
    overviews (down to one tile) and the header and overviews before the full-resolution data.
categories
    The legend of a class raster (:class:`~urbanshrink_gis.products.ClassInfo` entries with
    integer codes): they become the file's colour table (the
    nodata code transparent), its category names and a paletted QGIS style. A GeoTIFF has no
    tag GDAL reads category names from (up to GDAL 3.11; 3.12 added a raster attribute table
    in the ``GDAL_METADATA`` tag): they are written twice, inside the file as band metadata
    items ``CATEGORY_<code>=<name>`` (``GDAL_METADATA`` tag, kept by the COG driver, shown by
    ``gdalinfo`` and in QGIS's layer information), and as GDAL category names in the PAM file
    ``<name>.tif.aux.xml``, the only place GDAL (and QGIS, when no style labels them) takes
    them from.
ramp
    The colour ramp of a continuous raster's QGIS style: ``"diverging"`` (blue - white - red,
    centred on 0 between +- the 98th percentile of the absolute values) or ``"sequential"``
    (viridis from the 2nd to the 98th percentile of the values). The percentiles come from a
    regular sample of at most about a million pixels; the ends are rounded outwards to two
    significant digits, and the legend shows them with as many decimals and the units.
overviews
    The COG's reduced-resolution levels: GDAL's COG driver halves the grid (sizes rounded
    down) until it fits one 512 tile, each level from the one before, averaging a continuous
    raster and taking the nearest pixel of a class raster. A class raster's levels are taken
    here as the strips are computed (:func:`nearest_overviews`, pixel-identical to GDAL's),
    so that the COG copy only compresses them.
style
    The QGIS 3.22 ``.qml`` file named as the raster (``x.tif`` -> ``x.qml``), which QGIS
    applies as the layer's default style when it opens the raster; written by
    :mod:`urbanshrink_gis.export.qgisxml`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, get_args, runtime_checkable

import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.dtypes import dtype_rev, typename_fwd
from rasterio.io import DatasetReader, DatasetWriter
from rasterio.windows import Window

from urbanshrink_gis._files import atomic_path, temp_prefix
from urbanshrink_gis._legend import ClassInfo, rgb
from urbanshrink_gis._progress import Progress
from urbanshrink_gis.errors import ConfigError, OutputExistsError
from urbanshrink_gis.export import qgisxml
from urbanshrink_gis.io.rasters import reading_env
from urbanshrink_gis.zonal.engine import Engine
from urbanshrink_gis.zonal.parallel import decode_threads, map_ordered

__all__ = [
    "CogRequest",
    "Ramp",
    "Rendered",
    "Strips",
    "nearest_overviews",
    "qml_path",
    "render",
    "render_layers",
    "write_cog",
    "write_cogs",
]

log = logging.getLogger(__name__)

Ramp = Literal["diverging", "sequential"]

_BLOCK = 512
_SAMPLE_PIXELS = 1 << 20  # pixels sampled for the ramp's percentiles
#: The COG copy (with overviews) in progress, as a share of the blocks' pixels: nationwide at
#: 30 m it took ~90 s after 200-450 s of blocks.
_COPY_SHARE = 0.4
_PERCENTILE = 98.0
_TASK_PIXELS = 1 << 24  # pixels of one strip task at least (rows rounded up to tiles)...
_MIN_TASKS = 8  # ...unless the grid then makes fewer strip tasks than this (rows of tiles)


@runtime_checkable
class Strips(Protocol):
    """Blocks that can be computed a strip of rows at a time, side by side.

    Such as :class:`urbanshrink_gis.metrics.change.PixelBlocks` and
    :class:`urbanshrink_gis.metrics.vacancy.BuiltupLight`; it must pickle to run on processes
    or a Dask cluster. For :func:`render_layers`, each window has one array per raster.
    """

    def strip(self, row: int, end: int) -> Iterable[tuple[Window, Any]]:
        """The ``(window, array)`` pairs tiling rows ``row`` to ``end`` of the grid."""


# The temporary tiled GeoTIFFs, fast to write and to read: ZSTD level 1 wrote a built-up
# change raster 4.4x faster than DEFLATE level 1 for the same size, and GDAL's COG copy read
# it 15 % faster (0.4 G px: 0.48 s against 2.09 s, copy 3.74 s against 4.42 s).
_SOURCE_OPTIONS = {
    "driver": "GTiff",
    "tiled": True,
    "blockxsize": _BLOCK,
    "blockysize": _BLOCK,
    "compress": "zstd",
    "zstd_level": 1,
    "num_threads": "all_cpus",
    "bigtiff": "IF_SAFER",
}
# Colour stops, low to high: QGIS's RdBu inverted (declines blue, growth red) and viridis.
_RAMPS: dict[str, tuple[str, ...]] = {
    "diverging": ("#0571b0", "#92c5de", "#f7f7f7", "#f4a582", "#ca0020"),
    "sequential": ("#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"),
}


def write_cog(
    path: str | os.PathLike,
    profile_like: DatasetReader | Mapping[str, Any],
    blocks: Iterable[tuple[Window, np.ndarray]] | Strips | Rendered,
    *,
    dtype: str | np.dtype,
    nodata: float | None,
    description: str,
    units: str = "",
    scale: float = 1.0,
    offset: float = 0.0,
    categories: Sequence[ClassInfo] | None = None,
    ramp: Ramp | None = None,
    overwrite: bool = False,
    engine: Engine = Engine(),
    progress: Progress | None = None,
) -> Path:
    """Write one band, given block by block, as a COG with a QGIS style beside it.

    The blocks go into tiled temporary GeoTIFFs in the output's folder (one per strip of rows
    when ``blocks`` are :class:`Strips`, each written by the task that computed it), which
    GDAL's COG driver then copies as one (a VRT of the strips), adding overviews, to a
    temporary name that replaces the output when complete.

    Parameters
    ----------
    path
        Output ``.tif``.
    profile_like
        An open dataset, or a mapping with ``crs``, ``transform``, ``width`` and ``height``:
        the output's grid.
    blocks
        ``(window, array)`` pairs covering the grid (as from :mod:`urbanshrink_gis.metrics.change`);
        arrays are cast to ``dtype``. :class:`Strips` are computed strip by strip on
        ``engine``'s scheduler; :class:`Rendered` strips (from :func:`render`, with the same
        grid and dtype) are copied as they are.
    dtype
        Band data type (uint8 or uint16 with ``categories``).
    nodata
        Nodata value (NaN for floats), or None.
    description
        Band description (what a value is).
    units
        Units of the values after ``scale`` and ``offset``.
    scale, offset
        Value = stored value x scale + offset, recorded for readers.
    categories
        The legend of a class raster, integer codes: colour table, category names and a
        paletted style; overviews by nearest neighbour.
    ramp
        ``"diverging"`` or ``"sequential"``: a pseudocolour style for a continuous raster;
        overviews by averaging.
    overwrite
        Replace an existing output (and its style).
    engine
        Where the strips of :class:`Strips` blocks are computed and written (threads,
        processes or a Dask cluster whose workers reach the output folder); its ``coverage``
        plays no part.
    progress
        Called with (done, total) after each block or strip, in pixels written, and once more
        when the COG copy is done: it counts as :data:`_COPY_SHARE` of the grid's pixels, so
        ``done == total`` only when the raster is complete.

    Returns
    -------
    pathlib.Path
        The written raster. Beside it: ``<stem>.qml`` when ``categories`` or ``ramp`` is
        given, and ``<name>.aux.xml`` (category names) when ``categories`` is.

    Raises
    ------
    ConfigError
        Both ``categories`` and ``ramp``, an unknown ramp, empty categories, or categories
        with a dtype other than uint8 or uint16 (the only ones a GeoTIFF colour table fits).
    OutputExistsError
        The raster or its style exists and ``overwrite`` is False.

    Notes
    -----
    Memory holds one block per task at a time (plus GDAL's block cache); disk needs room for
    the temporary GeoTIFFs (ZSTD level 1) beside the output until the COG is complete.
    """
    request = CogRequest(
        path, profile_like, blocks, dtype=dtype, nodata=nodata, description=description,
        units=units, scale=scale, offset=offset, categories=categories, ramp=ramp,
        progress=progress,
    )  # fmt: skip
    (written,) = write_cogs([request], overwrite=overwrite, engine=engine)
    return written


@dataclass(frozen=True, slots=True)
class CogRequest:
    """One raster for :func:`write_cogs`.

    The arguments of :func:`write_cog` but ``overwrite`` and ``engine``, which the rasters
    written together share.
    """

    path: str | os.PathLike
    profile_like: DatasetReader | Mapping[str, Any]
    blocks: Iterable[tuple[Window, np.ndarray]] | Strips | Rendered
    dtype: str | np.dtype
    nodata: float | None
    description: str
    units: str = ""
    scale: float = 1.0
    offset: float = 0.0
    categories: Sequence[ClassInfo] | None = None
    ramp: Ramp | None = None
    progress: Progress | None = None


def write_cogs(
    requests: Sequence[CogRequest], *, overwrite: bool = False, engine: Engine = Engine()
) -> list[Path]:
    """Write several rasters as :func:`write_cog` does, their COG copies side by side.

    Each raster's blocks are computed (strips on ``engine``'s scheduler) one raster after
    another; then GDAL's COG driver copies every raster at once, each copy a task on the same
    scheduler, the largest first (a Dask worker writes the COG into the shared output
    folder). All the outputs are checked before any work, and none replaces its file unless
    every copy succeeded.

    Returns
    -------
    list of pathlib.Path
        The written rasters, in the order of ``requests``.
    """
    finals = [Path(r.path) for r in requests]
    for final, r in zip(finals, requests, strict=True):
        _check_request(final, np.dtype(r.dtype).name, r.categories, r.ramp)
    if not overwrite:
        existing = [str(p) for f in finals for p in (f, qml_path(f)) if p.exists()]
        if existing:
            raise OutputExistsError(
                "output exists",
                where=", ".join(existing),
                fix="pass --overwrite or choose another output",
            )
    with contextlib.ExitStack() as stack:
        copies, samples, done = [], [], []
        for final, r in zip(finals, requests, strict=True):
            tmp = stack.enter_context(atomic_path(final, overwrite=overwrite))
            work = stack.enter_context(
                tempfile.TemporaryDirectory(prefix=temp_prefix(final), dir=final.parent)
            )
            mosaic, sample, finish = _rendered_mosaic(Path(work), r, engine)
            options = _cog_options(np.dtype(r.dtype).name, r.categories)
            copies.append((os.path.abspath(mosaic), os.path.abspath(tmp), options))  # for workers
            samples.append(sample)
            done.append(finish)
        threads = decode_threads(engine.scheduler, engine.workers)
        order = sorted(range(len(requests)), key=lambda i: -_raster_bytes(requests[i]))
        tasks = map_ordered(  # the largest first, so that the copies end together
            _copy_task, threads, [copies[i] for i in order], scheduler=engine.scheduler,
            workers=engine.workers,
        )  # fmt: skip
        for i, _ in zip(order, tasks, strict=True):
            done[i]()
    for final, r, sample in zip(finals, requests, samples, strict=True):
        _write_sidecars(final, r, sample)
        log.info("wrote %s", final)
    return finals


def _rendered_mosaic(
    work: Path, r: CogRequest, engine: Engine
) -> tuple[Path, np.ndarray, Callable[[], None]]:
    """A request's blocks rendered into ``work`` (unless they are) and stacked by a VRT.

    Returns the VRT (with the band's metadata), the ramp's sample, and the call that reports
    the raster complete.
    """
    grid = _grid_of(r.profile_like)
    dtype = np.dtype(r.dtype).name
    colours = None if r.categories is None else _colour_table(r.categories, r.nodata)
    names = tuple((c.code, c.name) for c in r.categories or ())
    band = _Band(r.description, r.units, r.scale, r.offset, colours, names)
    pixels = grid["width"] * grid["height"]
    total = pixels + math.ceil(pixels * _COPY_SHARE)

    def done_so_far(done: int, _: int) -> None:
        if r.progress is not None:
            r.progress(done, total)

    rendered = r.blocks
    if isinstance(rendered, Rendered):
        done_so_far(pixels, total)  # its pixels are done: the COG copy remains
    else:
        rendered = render(
            work, grid, rendered, dtype=dtype, nodata=r.nodata, keep_sample=r.ramp is not None,
            overviews=r.categories is not None, engine=engine, progress=done_so_far,
        )  # fmt: skip
    # the strips' own tiles as the VRT's blocks: GDAL then reads each tile once (2-3x faster)
    tiles = {"blockxsize": _BLOCK, "blockysize": _BLOCK}
    profile = {**grid, "dtype": dtype, "nodata": r.nodata, **tiles}
    overviews = []  # a class raster's levels rendered with it: the COG driver copies them
    levels = nearest_overviews(grid["width"], grid["height"]) if rendered.overviews else ()
    if r.categories is not None and levels and len(rendered.overviews) == len(levels):
        for k, ((rows, cols), files) in enumerate(zip(levels, rendered.overviews, strict=True), 1):
            level = {**profile, **_level_grid(grid, rows.size, cols.size)}
            overviews.append(_mosaic(work / f"overview-{k}.vrt", files, level))
    mosaic = _mosaic(work / "source.vrt", rendered.parts, profile, band, overviews)
    return mosaic, rendered.sample, lambda: done_so_far(total, total)


def _copy_task(threads: int | str, copy: tuple[str, str, dict[str, Any]]) -> str:
    """One COG copy, where the scheduler runs it, on ``threads`` compression threads."""
    source, target, options = copy
    rasterio.shutil.copy(source, target, driver="COG", **{**options, "NUM_THREADS": threads})
    return target


def _write_sidecars(final: Path, r: CogRequest, sample: np.ndarray) -> None:
    """The category names' PAM file and the QGIS style beside a written raster."""
    pam = None if r.categories is None else _pam(r.categories)
    _replace_sidecar(final.with_name(final.name + ".aux.xml"), pam)
    style = None
    if r.categories is not None:
        style = qgisxml.paletted_qml(r.categories, nodata=r.nodata)
    elif r.ramp is not None:
        values = sample * r.scale + r.offset
        style = qgisxml.pseudocolor_qml(_ramp_limits(values, r.ramp), _RAMPS[r.ramp], units=r.units)
    _replace_sidecar(qml_path(final), style)


@dataclass(frozen=True, slots=True)
class Rendered:
    """Blocks already computed into tiled GeoTIFF strips (see :func:`render`).

    ``parts`` are the strips' files in row order, ``vrt`` stacks them (a raster the zonal
    engine can read), ``sample`` holds the values sampled for a colour ramp (empty unless
    asked), ``overviews`` the strips of each overview level (:func:`nearest_overviews`), in
    level and row order (empty unless asked).
    """

    parts: tuple[Path, ...]
    vrt: Path
    sample: np.ndarray
    overviews: tuple[tuple[Path, ...], ...] = ()


def render(
    folder: str | os.PathLike,
    profile_like: DatasetReader | Mapping[str, Any],
    blocks: Iterable[tuple[Window, np.ndarray]] | Strips,
    *,
    dtype: str | np.dtype,
    nodata: float | None,
    keep_sample: bool = False,
    overviews: bool = False,
    block: Mapping[str, int] | None = None,
    engine: Engine = Engine(),
    progress: Progress | None = None,
) -> Rendered:
    """Compute blocks into tiled GeoTIFF strips in ``folder``, stacked by ``folder/blocks.vrt``.

    The first half of :func:`write_cog`, on its own so that the strips can be read (by the
    zonal engine, say) before the same pixels become a COG: pass the result as
    :func:`write_cog`'s ``blocks``. :class:`Strips` are computed strip by strip on
    ``engine``'s scheduler; ``progress`` is called with (pixels done, pixels in all).
    ``block`` (``blockxsize``, ``blockysize``) gives the VRT the block shape of the rasters
    the blocks come from, so that the zonal engine reads it in the same windows as them.
    ``overviews`` also writes the COG's overview levels of a class raster, by nearest
    neighbour as GDAL's COG driver computes them (:func:`nearest_overviews`).
    """
    (rendered,) = render_layers(
        [folder], profile_like, blocks, dtype=dtype, nodata=nodata, keep_sample=keep_sample,
        overviews=overviews, block=block, engine=engine, progress=progress,
    )  # fmt: skip
    return rendered


def render_layers(
    folders: Sequence[str | os.PathLike],
    profile_like: DatasetReader | Mapping[str, Any],
    blocks: Iterable[tuple[Window, Sequence[np.ndarray]]] | Strips,
    *,
    dtype: str | np.dtype,
    nodata: float | None,
    keep_sample: bool = False,
    overviews: bool = False,
    block: Mapping[str, int] | None = None,
    engine: Engine = Engine(),
    progress: Progress | None = None,
) -> tuple[Rendered, ...]:
    """:func:`render` for blocks of several rasters at once, one folder each.

    Each window's arrays (one per folder, in order; a single array with one folder) are
    computed together, so that rasters sharing their inputs read them once; every raster
    takes ``dtype`` and ``nodata``, ``keep_sample`` samples each and ``overviews`` writes
    each one's overview levels.
    """
    grid = _grid_of(profile_like)
    dtype = np.dtype(dtype).name
    profile = {**_SOURCE_OPTIONS, **grid, "count": 1, "dtype": dtype, "nodata": nodata}
    vrt_profile = {**profile, **(block or {})}
    step = max(1, math.ceil(math.sqrt(grid["width"] * grid["height"] / _SAMPLE_PIXELS)))
    paths = tuple(os.fspath(f) for f in folders)
    levels = nearest_overviews(grid["width"], grid["height"]) if overviews else ()
    parts = _Parts(paths, profile, step, keep_sample, levels)
    written = _write_parts(parts, blocks, engine, progress or (lambda done, total: None))
    rendered = []
    for n, folder in enumerate(paths):
        files = tuple(Path(w.paths[n]) for w in written)
        vrt = _mosaic(Path(folder) / "blocks.vrt", files, vrt_profile)
        sample = np.concatenate([w.samples[n] for w in written])
        by_level = tuple(
            tuple(Path(path) for w in written for level, path in w.overviews[n] if level == k)
            for k in range(1, len(levels) + 1)
        )
        rendered.append(Rendered(files, vrt, sample, by_level))
    return tuple(rendered)


def nearest_overviews(width: int, height: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """The full-resolution rows and columns that each COG overview level of a class raster keeps.

    GDAL's COG driver halves the grid (sizes rounded down) until it fits one 512 tile and
    computes each level from the one before; by nearest neighbour, destination pixel ``i``
    of ``m`` takes source pixel ``int(0.5 + i * n / m)`` of ``n`` (GDAL's
    ``GDALResampleChunk_Near``). Composed level by level, each level is a choice of the
    full-resolution rows and columns (int32, ascending). Empty when a level would be empty
    (a grid under two pixels wide or high): GDAL then decides alone.
    """
    rows, cols = np.arange(height, dtype=np.int32), np.arange(width, dtype=np.int32)
    levels = []
    while cols.size > _BLOCK or rows.size > _BLOCK:
        if cols.size < 2 or rows.size < 2:
            return ()
        rows, cols = rows[_nearest(rows.size)], cols[_nearest(cols.size)]
        levels.append((rows, cols))
    return tuple(levels)


def _nearest(n: int) -> np.ndarray:
    """Which of ``n`` source pixels the ``n // 2`` of the next level take (GDAL's arithmetic)."""
    m = n // 2
    return (0.5 + np.arange(m, dtype=np.float64) * (n / m)).astype(np.int64)


def _raster_bytes(r: CogRequest) -> int:
    grid = _grid_of(r.profile_like)
    return grid["width"] * grid["height"] * np.dtype(r.dtype).itemsize


def _grid_of(profile_like: DatasetReader | Mapping[str, Any]) -> dict[str, Any]:
    source = profile_like if isinstance(profile_like, Mapping) else profile_like.profile
    return {key: source[key] for key in ("crs", "transform", "width", "height")}


def qml_path(path: str | os.PathLike) -> Path:
    """The QGIS style path that goes with a raster: same folder and stem, ``.qml``."""
    return Path(path).with_suffix(".qml")


def _check_request(
    path: Path, dtype: str, categories: Sequence[ClassInfo] | None, ramp: Ramp | None
) -> None:
    if categories is not None and ramp is not None:
        raise ConfigError(
            "both categories and a colour ramp were given",
            where=str(path),
            fix="give categories for a class raster or a ramp for a continuous one",
        )
    if ramp is not None and ramp not in get_args(Ramp):
        raise ConfigError(
            f"unknown colour ramp {ramp!r}",
            where=str(path),
            fix=f"use one of {', '.join(get_args(Ramp))}",
        )
    if categories is not None and not categories:
        raise ConfigError(
            "the list of categories is empty",
            where=str(path),
            fix="give a ClassInfo for each class, or no categories",
        )
    if categories is not None and dtype not in ("uint8", "uint16"):
        raise ConfigError(
            f"a colour table needs uint8 or uint16 codes, not {dtype}",
            where=str(path),
            fix="write class codes as uint8 (or uint16)",
        )


@dataclass(frozen=True, slots=True)
class _Band:
    """What the band's metadata says: GDAL keeps it through the COG copy."""

    description: str
    units: str
    scale: float
    offset: float
    colours: dict[int, tuple[int, int, int, int]] | None
    names: tuple[tuple[int, str], ...] = ()

    def apply(self, dst: DatasetWriter) -> None:
        """Set the metadata on a dataset open for writing."""
        dst.set_band_description(1, self.description)
        if self.units:
            dst.set_band_unit(1, self.units)
        dst.scales, dst.offsets = (self.scale,), (self.offset,)
        if self.colours is not None:
            dst.write_colormap(1, self.colours)
        if self.names:
            dst.update_tags(1, **{f"CATEGORY_{code}": name for code, name in self.names})


@dataclass(frozen=True, slots=True)
class _LevelStrip:
    """A strip's rows of one overview level, its file open for writing.

    ``rows`` and ``cols`` are the full-resolution ones the level keeps
    (:func:`nearest_overviews`), ``first`` the level row the strip starts at.
    """

    level: int
    path: str
    rows: np.ndarray
    cols: np.ndarray
    first: int
    dst: Any


@dataclass(frozen=True, slots=True)
class _Written:
    """A strip written: its file in each folder, their samples, and per folder its overviews.

    ``overviews[n]`` are folder ``n``'s ``(level, file)`` of the levels the strip has rows
    at (only names travel back from a worker).
    """

    paths: tuple[str, ...]
    samples: tuple[np.ndarray, ...]
    overviews: tuple[tuple[tuple[int, str], ...], ...]


@dataclass(frozen=True, slots=True)
class _Parts:
    """How a strip of the outputs is written (a task's shared data).

    Folders, profile, sampling, and the overview levels to write beside each strip
    (:func:`nearest_overviews`; none when empty).
    """

    folders: tuple[str, ...]
    profile: dict[str, Any]
    step: int
    keep_sample: bool
    levels: tuple[tuple[np.ndarray, np.ndarray], ...] = ()

    def write(
        self,
        row: int,
        end: int,
        blocks: Iterable[tuple[Window, Any]],
        progress: Any = None,
    ) -> _Written:
        """Write rows ``row`` to ``end`` as a tiled GeoTIFF in each folder, overviews beside."""
        name = f"part-{row:09d}.tif"
        paths = tuple(os.path.join(folder, name) for folder in self.folders)
        transform = self.profile["transform"] * Affine.translation(0, row)
        profile = {**self.profile, "height": end - row, "transform": transform}
        samples: list[list[np.ndarray]] = [[] for _ in paths]
        done = 0
        with contextlib.ExitStack() as stack:
            outputs = [stack.enter_context(rasterio.open(p, "w", **profile)) for p in paths]
            levels = [self._level(stack, folder, row, end) for folder in self.folders]
            for window, arrays in blocks:
                local = Window(window.col_off, window.row_off - row, window.width, window.height)
                arrays = (arrays,) if len(paths) == 1 else arrays
                for dst, array, kept, level in zip(outputs, arrays, samples, levels, strict=True):
                    data = np.asarray(array).astype(profile["dtype"], copy=False)
                    dst.write(data, 1, window=local)
                    if self.keep_sample:
                        kept.append(_sample(window, data, self.step, profile["nodata"]))
                    _write_overviews(level, window, data)
                done += int(window.width) * int(window.height)
                if progress is not None:
                    progress(done)
        overviews = tuple(tuple((o.level, o.path) for o in level) for level in levels)
        kept = tuple(np.concatenate(k) if k else np.empty(0) for k in samples)
        return _Written(paths, kept, overviews)

    def _level(
        self, stack: contextlib.ExitStack, folder: str, row: int, end: int
    ) -> list[_LevelStrip]:
        """The overview levels this strip has rows at, each strip file open for writing."""
        opened = []
        for k, (rows, cols) in enumerate(self.levels, 1):
            first, stop = (int(i) for i in np.searchsorted(rows, (row, end)))
            if first == stop:
                continue
            path = os.path.join(folder, f"overview-{k}", f"part-{first:09d}.tif")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            grid = _level_grid(self.profile, rows.size, cols.size)
            height = stop - first
            profile = {**self.profile, **grid, "height": height,
                       "transform": grid["transform"] * Affine.translation(0, first),
                       "blockysize": min(_BLOCK, -(-height // 16) * 16)}  # fmt: skip
            dst = stack.enter_context(rasterio.open(path, "w", **profile))
            opened.append(_LevelStrip(k, path, rows, cols, first, dst))
        return opened


def _write_overviews(levels: Sequence[_LevelStrip], window: Window, data: np.ndarray) -> None:
    """The pixels of a window that each overview level keeps, written into its strip."""
    r0, c0 = int(window.row_off), int(window.col_off)
    r1, c1 = r0 + int(window.height), c0 + int(window.width)
    for level in levels:
        ya, yb = (int(i) for i in np.searchsorted(level.rows, (r0, r1)))
        xa, xb = (int(i) for i in np.searchsorted(level.cols, (c0, c1)))
        if ya < yb and xa < xb:
            kept = data[level.rows[ya:yb] - r0][:, level.cols[xa:xb] - c0]
            window_here = Window(xa, ya - level.first, xb - xa, yb - ya)
            level.dst.write(kept, 1, window=window_here)


def _level_grid(grid: Mapping[str, Any], height: int, width: int) -> dict[str, Any]:
    """Size and transform of an overview level of ``height`` x ``width`` over ``grid``."""
    scale = Affine.scale(grid["width"] / width, grid["height"] / height)
    return {"width": width, "height": height, "transform": grid["transform"] * scale}


def _write_parts(
    parts: _Parts,
    blocks: Iterable[tuple[Window, Any]] | Strips,
    engine: Engine,
    progress: Progress,
) -> list[_Written]:
    """Write the blocks as strips on the engine's scheduler (one strip if not :class:`Strips`)."""
    width, height = parts.profile["width"], parts.profile["height"]
    total = width * height
    if not isinstance(blocks, Strips):
        return [parts.write(0, height, blocks, lambda done: progress(done, total))]
    tiles = min(math.ceil(_TASK_PIXELS / width / _BLOCK), math.ceil(height / _MIN_TASKS / _BLOCK))
    rows = max(1, tiles) * _BLOCK
    strips = [(r, min(r + rows, height)) for r in range(0, height, rows)]
    threads = decode_threads(engine.scheduler, engine.workers)
    written, done = [], 0
    tasks = map_ordered(
        _strip_task, (parts, blocks, threads), strips, scheduler=engine.scheduler,
        workers=engine.workers,
    )  # fmt: skip
    for (row, end), part in zip(strips, tasks, strict=True):
        written.append(part)
        done += width * (end - row)
        progress(done, total)
    return written


def _strip_task(shared: tuple[_Parts, Strips, int | str], rows: tuple[int, int]) -> _Written:
    """One strip computed and written where the scheduler runs it."""
    parts, blocks, threads = shared
    with reading_env(threads):
        return parts.write(*rows, blocks.strip(*rows))


def _mosaic(
    path: Path,
    parts: Sequence[Path],
    profile: dict[str, Any],
    band: _Band | None = None,
    overviews: Sequence[Path] = (),
) -> Path:
    """A VRT stacking the strips (full width, in row order), with the band's metadata if given.

    ``overviews`` are rasters (VRTs of overview strips) the band lists as its overviews.
    """
    width, height, dtype = profile["width"], profile["height"], profile["dtype"]
    root = ET.Element("VRTDataset", rasterXSize=str(width), rasterYSize=str(height))
    ET.SubElement(root, "SRS").text = rasterio.crs.CRS.from_user_input(profile["crs"]).to_wkt()
    ET.SubElement(root, "GeoTransform").text = ", ".join(
        repr(v) for v in Affine(*profile["transform"][:6]).to_gdal()
    )
    block = {}
    if "blockxsize" in profile:  # the VRT's blocks as the source's: the zonal engine's windows
        block = {"blockXSize": str(profile["blockxsize"]), "blockYSize": str(profile["blockysize"])}
    gdal_type = typename_fwd[dtype_rev[dtype]]  # GDAL's name of the type
    vrt_band = ET.SubElement(root, "VRTRasterBand", dataType=gdal_type, band="1", **block)
    if profile["nodata"] is not None:
        ET.SubElement(vrt_band, "NoDataValue").text = repr(float(profile["nodata"]))
    for part in parts:
        with rasterio.open(part) as ds:
            row = round((ds.transform.f - profile["transform"].f) / profile["transform"].e)
            rect = {"xOff": "0", "xSize": str(ds.width), "ySize": str(ds.height)}
        source = ET.SubElement(vrt_band, "SimpleSource")
        ET.SubElement(source, "SourceFilename", relativeToVRT="0").text = os.path.abspath(part)
        ET.SubElement(source, "SourceBand").text = "1"
        ET.SubElement(source, "SrcRect", yOff="0", **rect)
        ET.SubElement(source, "DstRect", yOff=str(row), **rect)
    for overview in overviews:
        element = ET.SubElement(vrt_band, "Overview")
        ET.SubElement(element, "SourceFilename", relativeToVRT="0").text = str(overview)
        ET.SubElement(element, "SourceBand").text = "1"
    ET.ElementTree(root).write(path, encoding="utf-8")
    if band is not None:
        with rasterio.open(path, "r+") as dst:  # GDAL writes the metadata back into the VRT
            band.apply(dst)
    return path


def _sample(window: Window, array: np.ndarray, step: int, nodata: float | None) -> np.ndarray:
    """Valid values of a block on the grid's every ``step``-th row and column."""
    rows = -int(window.row_off) % step
    cols = -int(window.col_off) % step
    values = np.asarray(array, np.float64)[rows::step, cols::step].ravel()
    keep = np.isfinite(values)
    if nodata is not None:
        keep &= values != nodata
    return values[keep]


def _cog_options(dtype: str, categories: Sequence[ClassInfo] | None) -> dict[str, Any]:
    options = {
        "COMPRESS": "DEFLATE",
        # Level 3 writes 3.5x faster than GDAL's default 6 for files ~8 % larger (measured on
        # a built-up change raster): it matters for nationwide 30 m outputs.
        "LEVEL": 3,
        "BLOCKSIZE": _BLOCK,
        "OVERVIEWS": "AUTO",
        "RESAMPLING": "AVERAGE" if categories is None else "NEAREST",
        "BIGTIFF": "IF_SAFER",
        "NUM_THREADS": "ALL_CPUS",
    }
    if np.dtype(dtype).kind == "f":
        options["PREDICTOR"] = "YES"  # floating-point predictor: smaller files
    return options


def _colour_table(
    categories: Sequence[ClassInfo], nodata: float | None
) -> dict[int, tuple[int, int, int, int]]:
    """Colour table entries of the categories, the nodata code transparent."""
    return {c.code: (*rgb(c.colour), 0 if c.code == nodata else 255) for c in categories}


def _pam(categories: Sequence[ClassInfo]) -> str:
    """A GDAL PAM file holding the band's category names (index = code, gaps empty)."""
    names = [""] * (max(c.code for c in categories) + 1)
    for c in categories:
        names[c.code] = c.name
    root = ET.Element("PAMDataset")
    band = ET.SubElement(root, "PAMRasterBand", band="1")
    element = ET.SubElement(band, "CategoryNames")
    for name in names:
        ET.SubElement(element, "Category").text = name
    ET.indent(root)
    return ET.tostring(root, encoding="unicode") + "\n"


def _ramp_limits(values: np.ndarray, ramp: Ramp) -> tuple[float, float]:
    """Low and high ends of the colour ramp from the sampled values, rounded outwards."""
    if ramp == "diverging":
        high = float(np.percentile(np.abs(values), _PERCENTILE)) if values.size else 0.0
        high = _round_out(high, high, up=True) or 1.0  # all zero or empty: any symmetric range
        return -high, high
    if not values.size:
        return 0.0, 1.0
    low, high = (float(v) for v in np.percentile(values, [100 - _PERCENTILE, _PERCENTILE]))
    if high <= low:
        return low, low + 1.0
    span = high - low
    return _round_out(low, span, up=False), _round_out(high, span, up=True)


def _step(span: float) -> float:
    """The rounding step of a ramp spanning ``span``: its second significant digit."""
    return 10.0 ** (math.floor(math.log10(span)) - 1) if span > 0 else 1.0


def _round_out(value: float, span: float, *, up: bool) -> float:
    """``value`` rounded away from the ramp's middle to the step of ``span``."""
    step = _step(abs(span))
    n = math.ceil(value / step - 1e-9) if up else math.floor(value / step + 1e-9)
    return float(f"{n * step:.12g}")


def _replace_sidecar(path: Path, text: str | None) -> None:
    """Write a sidecar file atomically, or remove a stale one when there is nothing to write."""
    if text is None:
        path.unlink(missing_ok=True)
        return
    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_text(text, encoding="utf-8")
