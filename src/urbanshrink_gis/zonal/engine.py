"""The zonal-statistics engine: zones prepared once per grid, rasters streamed by blocks."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from urbanshrink_gis._progress import Progress
from urbanshrink_gis.errors import ConfigError, RasterError
from urbanshrink_gis.io.boundaries import read_boundaries
from urbanshrink_gis.io.rasters import band_nodata, open_raster, read_block, reading_env
from urbanshrink_gis.zonal import _kernels
from urbanshrink_gis.zonal.coverage import Coverage, Runs, check_coverage
from urbanshrink_gis.zonal.grid import Grid
from urbanshrink_gis.zonal.parallel import check_scheduler, decode_threads, map_ordered
from urbanshrink_gis.zonal.reading import WindowSource, _mask_or_dummy, _Reading, window_reader
from urbanshrink_gis.zonal.stats import (
    DEFAULT_STATS,
    _check_stats,
    _class_lut,
    _Classes,
    _Moments,
    _value_stats,
    kind_of,
    statistics_section,
)
from urbanshrink_gis.zonal.zones import Zones

__all__ = ["Engine", "check_class_raster", "zonal_stats", "zonal_stats_many"]

log = logging.getLogger(__name__)


def check_class_raster(raster: str | os.PathLike, *, band: int = 1) -> None:
    """Refuse a floating-point band for categorical statistics (counts per class value).

    Parameters
    ----------
    raster
        Any GDAL-readable path.
    band
        Band number (1-based).

    Raises
    ------
    RasterError
        The band holds floating-point values (each distinct value would become a class), or
        the raster cannot be read.
    """
    with open_raster(raster, band=band) as ds:
        dtype = ds.dtypes[band - 1]
        name = ds.name
    if np.dtype(dtype).kind == "f":
        raise RasterError(
            f"band {band} is {dtype}: categories are counted per class value, which needs an "
            "integer raster",
            where=name,
            fix="convert the classes to integers (gdal_translate -ot Int16), or compute "
            "statistics of its values instead",
        )


@dataclass(frozen=True)
class Engine:
    """How the zonal engine runs: which pixels a zone covers, and where the work is done.

    Terms
    -----
    coverage
        ``"center"`` (pixel centre inside, rasterstats' default), ``"all_touched"`` (every
        pixel the polygon touches) or ``"exact"`` (pixels weighted by their covered fraction,
        as exactextract). The only setting that changes results.
    scheduler
        Where bands of rows are processed: ``"synchronous"``, ``"threads"`` (default),
        ``"processes"`` or ``"tcp://HOST:PORT"`` of a Dask scheduler (see
        :mod:`urbanshrink_gis.zonal.parallel`).
    workers
        Threads or processes on this machine (default: one per CPU).
    """

    coverage: Coverage = "center"
    scheduler: str = "threads"
    workers: int | None = None

    def with_coverage(self, coverage: Coverage) -> Engine:
        """The same engine with another pixel rule (each raster series has its own)."""
        return dataclasses.replace(self, coverage=coverage)

    def __post_init__(self) -> None:
        check_coverage(self.coverage)
        check_scheduler(self.scheduler)
        if self.workers is not None and self.workers < 1:
            raise ConfigError(
                f"workers must be at least 1, not {self.workers}", where="--workers",
                fix="give a positive number, or leave it out for one per CPU",
            )  # fmt: skip


def zonal_stats(
    zones: Zones | gpd.GeoDataFrame | str | os.PathLike,
    raster: str | os.PathLike,
    stats: Iterable[str] = DEFAULT_STATS,
    *,
    zone_id: str | None = None,
    coverage: Coverage = "center",
    categorical: bool = False,
    areas: bool = False,
    band: int = 1,
    nodata: float | None = None,
    scale: float | None = None,
    offset: float | None = None,
    threshold: float | None = None,
    weights: str | os.PathLike | None = None,
    weights_nodata: float | None = None,
    layer: str | None = None,
    scheduler: str = "threads",
    workers: int | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Statistics of a raster band within each zone.

    Parameters
    ----------
    zones
        Prepared :class:`Zones`, a GeoDataFrame, or a vector path; ``zone_id`` names the id field
        of the latter two.
    raster
        Any GDAL-readable path (``/vsigzip/…`` too).
    stats
        Names from :data:`~urbanshrink_gis.zonal.stats.REGISTRY` (listed under Statistics
        below). ``weighted_*`` need ``weights``, ``above_*`` a ``threshold``. Ignored when
        ``categorical``.
    zone_id
        Field of ``zones`` that identifies each zone (not needed for prepared zones).
    coverage
        ``"center"`` (pixel centre inside, rasterstats' default), ``"all_touched"`` (every pixel
        the polygon touches) or ``"exact"`` (pixels weighted by their covered fraction, as
        exactextract).
    categorical
        Count pixels per class value instead (one column per class).
    areas
        With ``categorical``, add ``area_km2_<class>`` columns (true areas).
    band
        Band number (1-based).
    nodata
        Overrides the band's nodata value.
    scale, offset
        Applied to valid values (``value * scale + offset``); default from the file, else 1, 0.
    threshold
        For ``above_count`` and ``above_km2``: valid pixels whose scaled value exceeds it (such
        as lit night-light pixels).
    weights
        Weights raster (such as population counts) for ``weighted_sum`` and ``weighted_mean``:
        pixels count where both rasters are valid (the weights' nodata, NaN and mask are left
        out). On the value raster's grid it is read as it is; on another grid GDAL warps it
        onto the value grid window by window, nearest neighbour, so each value pixel takes the
        weight under its centre (aggregate a much finer weights raster to the value grid
        first, e.g. ``gdalwarp -r sum``, to keep every weight).
    weights_nodata
        Overrides the weights band's nodata value.
    layer
        Layer of a vector ``zones`` path.
    scheduler
        Where bands of rows are processed: ``"synchronous"``, ``"threads"`` (default),
        ``"processes"`` or ``"tcp://HOST:PORT"`` of a Dask scheduler (see
        :mod:`urbanshrink_gis.zonal.parallel`). Results are identical whichever is used.
    workers
        Threads or processes on this machine (default: one per CPU).
    progress
        Called with (bands done, bands total).

    Returns
    -------
    pandas.DataFrame
        Indexed by zone id (``city_id``), one column per statistic (or class). Zones that cover
        no valid pixel have count 0 and NaN statistics.

    Notes
    -----
    Memory is bounded by one window (about 4 M pixels) per worker plus the zones' runs; median,
    percentiles, majority, minority and unique keep every covered value of a zone until the end.
    """
    result = zonal_stats_many(
        zones,
        {None: raster},
        stats,
        zone_id=zone_id,
        engine=Engine(coverage, scheduler, workers),
        categorical=categorical,
        areas=areas,
        band=band,
        nodata=nodata,
        scale=scale,
        offset=offset,
        threshold=threshold,
        weights=None if weights is None else {None: weights},
        weights_nodata=weights_nodata,
        layer=layer,
        progress=progress,
    )
    return result.droplevel("key")


zonal_stats.__doc__ = (zonal_stats.__doc__ or "") + statistics_section()


def zonal_stats_many(
    zones: Zones | gpd.GeoDataFrame | str | os.PathLike,
    rasters: Mapping[Any, str | os.PathLike],
    stats: Iterable[str] = DEFAULT_STATS,
    *,
    zone_id: str | None = None,
    engine: Engine = Engine(),
    categorical: bool = False,
    areas: bool = False,
    band: int = 1,
    nodata: float | None = None,
    scale: float | None = None,
    offset: float | None = None,
    threshold: float | None = None,
    weights: str | os.PathLike | Mapping[Any, str | os.PathLike] | None = None,
    weights_nodata: float | None = None,
    layer: str | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Statistics of several rasters on one grid (a yearly series) in one pass over the zones.

    Parameters
    ----------
    rasters
        Key (such as the year) to raster path, or to a :class:`WindowSource` computing the
        values; every raster must share the first one's grid.
    engine
        How the engine runs: coverage, scheduler and workers (:class:`Engine`).
    weights
        One weights raster for every key, or a mapping from every key to its own (see
        :func:`zonal_stats`).
    **others
        As :func:`zonal_stats`.

    Returns
    -------
    pandas.DataFrame
        Indexed by (``key``, ``city_id``), one column per statistic or class.

    Raises
    ------
    RasterError
        A raster cannot be read or is on another grid than the first.
    ConfigError
        A statistic is unknown, a weighted one has no weights, or a key has no weights raster.
    """
    stats = _check_stats(stats, threshold, weighted=weights is not None)
    limit = np.inf if threshold is None else float(threshold)
    keys = list(rasters)
    if not keys:
        raise ConfigError("no raster given", where="rasters", fix="give at least one raster")
    with contextlib.ExitStack() as stack:
        readings, grids = [], []
        for k in keys:
            item = rasters[k]
            if isinstance(item, WindowSource):
                fill = item.nodata if nodata is None else nodata
                factor = (1.0 if scale is None else scale, 0.0 if offset is None else offset)
                readings.append(_Reading(f"<{k}>", 1, fill, *factor, limit, source=item))
                grids.append(item.grid)
                continue
            ds = stack.enter_context(open_raster(item, band=band))
            fill = band_nodata(ds, band, nodata)
            readings.append(
                _Reading(ds.name, band, fill, *_scale_offset(ds, band, scale, offset), limit)
            )
            grids.append(Grid.of(ds, band))
        grid = grids[0]
        for k, reading, other in zip(keys[1:], readings[1:], grids[1:], strict=True):
            if not other.same_as(grid):
                raise RasterError(
                    f"is on another grid than {readings[0].path} (size, transform or CRS differ)",
                    where=f"{reading.path} (key {k})",
                    fix="warp the series onto one grid, or give each grid its own raster entry",
                )
    gather = any(kind_of(s) == "value" for s in stats)
    prepared = _prepare(
        zones, grid, zone_id=zone_id, coverage=engine.coverage, layer=layer,
        where=f"{readings[0].path} (key {keys[0]})",
    )  # fmt: skip
    wants_area = areas or any(s in stats for s in ("area_km2", "above_km2", "area_sum"))
    row_area = grid.row_areas_km2() if wants_area else np.ones(grid.height)
    threads = decode_threads(engine.scheduler, engine.workers)
    weighing = _weighings(keys, weights, weights_nodata, grid, categorical)
    extra = not categorical and any(kind_of(s) in ("area", "weighted") for s in stats)
    job = _Job(
        prepared, tuple(readings), stats, categorical, gather, row_area, threads, weighing, extra
    )
    tables = _run(job, areas=areas, engine=engine, progress=progress)
    frames = []
    for key, table in zip(keys, tables, strict=True):
        if prepared.coverage != "exact":
            table = {k: _as_count(k, v, categorical) for k, v in table.items()}
        frame = pd.DataFrame(table, index=pd.Index(prepared.ids, name="city_id"))
        frames.append(frame.assign(key=key).set_index("key", append=True).swaplevel())
    return pd.concat(frames)


def _as_count(name: Any, values: np.ndarray, categorical: bool) -> np.ndarray:
    """Pixel counts as integers when every pixel weighs 1."""
    is_count = name in ("count", "nodata_count", "above_count") or (
        categorical and not isinstance(name, str)
    )
    return values.astype(np.int64) if is_count else values


def _prepare(
    zones: Zones | gpd.GeoDataFrame | str | os.PathLike,
    grid: Grid,
    *,
    zone_id: str | None,
    coverage: Coverage,
    layer: str | None,
    where: str,
) -> Zones:
    if isinstance(zones, Zones):
        if not zones.grid.same_as(grid):
            raise RasterError(
                "is on another grid than the zones were prepared for (the series' first raster)",
                where=where,
                fix="warp the series onto one grid, or give each grid its own raster entry",
            )
        return zones
    if zone_id is None:
        raise ConfigError("no zone id field given", where="zone_id", fix="name the id field")
    boundaries = read_boundaries(zones, id_field=zone_id, layer=layer)
    return Zones(boundaries, grid, coverage=coverage)


def _scale_offset(
    ds: rasterio.DatasetReader, band: int, scale: float | None, offset: float | None
) -> tuple[float, float]:
    s = ds.scales[band - 1] if scale is None else scale
    o = ds.offsets[band - 1] if offset is None else offset
    return float(1.0 if s is None else s), float(0.0 if o is None else o)


@dataclass(frozen=True, slots=True)
class _Job:
    """What every band task needs: zones, how to read each raster, what to add up."""

    zones: Zones
    readings: tuple[_Reading, ...]
    stats: tuple[str, ...]
    categorical: bool
    gather: bool
    row_area: np.ndarray
    threads: int | str = "ALL_CPUS"
    weights: tuple[_Weights | None, ...] = ()
    extra: bool = False


@dataclass
class _Partial:
    """Additive aggregates of one raster over some bands."""

    moments: _Moments
    classes: _Classes
    values: list[tuple[np.ndarray, ...]]

    @classmethod
    def empty(cls, n_zones: int) -> _Partial:
        """Aggregates of nothing yet."""
        return cls(_Moments(n_zones), _Classes(n_zones), [])

    def merge(self, other: _Partial) -> None:
        """Add a later band's aggregates into these."""
        self.moments.merge(other.moments)
        self.classes.merge(other.classes)
        self.values.extend(other.values)


def _band_task(job: _Job, band: tuple[int, int]) -> list[_Partial]:
    """Aggregates of every raster over one band of rows (one unit of parallel work)."""
    zones = job.zones
    parts = [_Partial.empty(len(zones)) for _ in job.readings]
    weights = job.weights or (None,) * len(job.readings)
    with reading_env(job.threads), contextlib.ExitStack() as stack:
        datasets = [
            stack.enter_context(window_reader(r.source))
            if r.source
            else stack.enter_context(open_raster(r.path, band=r.band))
            for r in job.readings
        ]
        weight_sets = [None if w is None else w.open(stack, zones.grid) for w in weights]
        for window, runs in zones.band_windows(*band):
            areas = job.row_area[window.row_off : window.row_off + window.height]
            for ds, reading, part, wds, w in zip(
                datasets, job.readings, parts, weight_sets, weights, strict=True
            ):
                if reading.source is not None:
                    block, mask = ds(window), None  # the source's reader
                else:
                    block, mask = read_block(ds, window, band=reading.band)
                block = _kernels.as_window(block)
                if job.categorical:
                    part.classes.add(_class_lut(reading, block, runs), runs, mask, areas)
                    continue
                part.moments.add(block, mask, reading, runs, areas)
                if job.extra:
                    wblock = None if w is None else w.read(wds, window)
                    part.moments.add_weighted(block, mask, reading, runs, areas, wblock)
                if job.gather:
                    part.values.append(_collect(block, mask, reading, runs))
    for part in parts:
        part.moments.close()
    return parts


@dataclass(frozen=True, slots=True)
class _Weights:
    """How to read a weights raster on the value grid: as it is, or warped (nearest)."""

    path: str
    band: int
    nodata: float | None
    warp: bool

    def open(self, stack: contextlib.ExitStack, grid: Grid) -> rasterio.DatasetReader | WarpedVRT:
        """The dataset to read windows of the value grid from."""
        ds = stack.enter_context(open_raster(self.path, band=self.band))
        if not self.warp:
            return ds
        return stack.enter_context(
            WarpedVRT(
                ds, crs=grid.crs.to_wkt(), transform=grid.transform, width=grid.width,
                height=grid.height, src_nodata=self.nodata, nodata=np.nan, dtype="float64",
                resampling=Resampling.nearest,
            )
        )  # fmt: skip

    def read(self, ds: rasterio.DatasetReader | WarpedVRT, window: Window) -> np.ndarray:
        """Weights of one window as C-contiguous float64, NaN where there is no valid weight."""
        if self.warp:
            return np.ascontiguousarray(ds.read(self.band, window=window), np.float64)
        raw, mask = read_block(ds, window, band=self.band)
        out = raw.astype(np.float64)
        if self.nodata is not None:
            out[raw == self.nodata] = np.nan
        if mask is not None:
            out[mask == 0] = np.nan
        return np.ascontiguousarray(out)


def _weighings(
    keys: list[Any],
    weights: str | os.PathLike | Mapping[Any, str | os.PathLike] | None,
    nodata: float | None,
    grid: Grid,
    categorical: bool,
) -> tuple[_Weights | None, ...]:
    """One :class:`_Weights` per key, checked once: readable, and one for every key."""
    if weights is None:
        return ()
    if categorical:
        raise ConfigError(
            "weights apply to statistics, not to categorical class counts",
            where="weights",
            fix="drop the weights, or ask weighted_sum / weighted_mean without categorical",
        )
    if isinstance(weights, Mapping):
        missing = [k for k in keys if k not in weights]
        if missing:
            raise ConfigError(
                f"no weights raster for key {', '.join(map(str, missing))}",
                where="weights",
                fix="give a weights raster for every raster of the series",
            )
        paths = [weights[k] for k in keys]
    else:
        paths = [weights] * len(keys)
    out = []
    for path in paths:
        with open_raster(path) as ds:
            fill = band_nodata(ds, 1, nodata)
            warp = not Grid.of(ds).same_as(grid)
            if warp:
                log.debug("weights %s are warped onto the value grid (nearest)", ds.name)
            out.append(_Weights(ds.name, 1, fill, warp))
    return tuple(out)


def _run(
    job: _Job,
    *,
    areas: bool,
    engine: Engine,
    progress: Progress | None,
) -> list[dict[Any, np.ndarray]]:
    zones = job.zones
    n = len(zones)
    bands = list(zones.bands())
    totals = [_Partial.empty(n) for _ in job.readings]
    if progress is not None:
        progress(0, len(bands))
    results = map_ordered(
        _band_task, job, bands, scheduler=engine.scheduler, workers=engine.workers
    )
    for done, parts in enumerate(results, start=1):
        for total, part in zip(totals, parts, strict=True):
            total.merge(part)
        if progress is not None:
            progress(done, len(bands))
    if job.categorical:
        return [t.classes.table(areas=areas) for t in totals]
    gather = [s for s in job.stats if kind_of(s) == "value"]
    out = []
    for total in totals:
        table = total.moments.table(job.stats)
        if gather:
            table.update(_value_stats(total.values, n, gather, zones.coverage == "exact"))
        out.append({s: table[s] for s in job.stats})
    return out


def _collect(
    block: np.ndarray, mask: np.ndarray | None, reading: _Reading, runs: Runs
) -> tuple[np.ndarray, ...]:
    return _kernels.collect_values(
        block, _mask_or_dummy(mask), mask is not None, *reading.nodata_args,
        reading.scale, reading.offset, runs.zone, runs.row, runs.col0, runs.col1, runs.weight,
    )  # fmt: skip
