"""The zonal-statistics engine: zones prepared once per grid, rasters streamed by blocks.

Terms
-----
grid
    A raster's shape, transform and CRS. Rasters on the same grid share prepared zones.
zones
    City polygons reprojected to a grid's CRS (never the raster to the zones') and turned into
    pixel runs band by band (see :mod:`urbanshrink_gis._coverage`).
pixel area
    True area in km²: on a geographic grid the ellipsoidal area of each row's pixel (rows differ
    by latitude), on a projected grid the transform's cell size.

area sum
    ``area_sum``: value x true pixel area (km²) summed over the zone's valid pixels, an area
    integral (radiance x km²), where ``sum`` adds pixels whatever their size.
weights raster
    A second raster (population counts) for ``weighted_sum`` (sum of weight x value) and
    ``weighted_mean`` (that over the sum of weights), over pixels valid in both. On the value
    raster's grid it is read as it is; on any other grid GDAL warps it onto the value grid
    window by window, nearest neighbour (each value pixel takes the weight under its centre).

A pixel covered by several overlapping zones counts in each of them, as in rasterstats.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, get_args, runtime_checkable

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
from affine import Affine
from pyproj import CRS
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from urbanshrink_gis import _kernels
from urbanshrink_gis._coverage import Coverage, EdgeIndex, Runs, runs_for_band
from urbanshrink_gis.errors import ConfigError, RasterError, UrbanShrinkWarning
from urbanshrink_gis.io.boundaries import read_boundaries
from urbanshrink_gis.io.rasters import band_nodata, open_raster, read_block, reading_env
from urbanshrink_gis.parallel import check_scheduler, decode_threads, map_ordered

__all__ = [
    "DEFAULT_STATS",
    "STATISTICS",
    "Coverage",
    "Grid",
    "WindowSource",
    "Zones",
    "check_class_raster",
    "zonal_stats",
    "zonal_stats_many",
]

log = logging.getLogger(__name__)

DEFAULT_STATS = ("count", "sum", "mean", "min", "max")
_MOMENT_STATS = {"count", "nodata_count", "sum", "mean", "min", "max", "std", "range", "area_km2"}
_THRESHOLD_STATS = {"above_count", "above_km2"}
_VALUE_STATS = {"median", "majority", "minority", "unique"}
_AREA_STATS = {"area_sum"}
_WEIGHTED_STATS = {"weighted_sum", "weighted_mean"}
_KNOWN_STATS = _MOMENT_STATS | _VALUE_STATS | _THRESHOLD_STATS | _AREA_STATS | _WEIGHTED_STATS
#: Every statistic :func:`zonal_stats` takes; ``percentile_N`` stands for any N in 0..100.
STATISTICS = (*sorted(_KNOWN_STATS), "percentile_N")
_PERCENTILE = re.compile(r"percentile_(\d+(\.\d+)?)$")
_WINDOW_PIXELS = 1 << 22  # ~4 M pixels per window bounds the memory of one read
_EQUAL_AREA_WORDS = ("equal area", "equal-area", "mollweide", "sinusoidal", "equal earth")


@dataclass(frozen=True, slots=True)
class Grid:
    """Shape, transform and CRS of a raster; rasters on one grid share prepared zones.

    Parameters
    ----------
    transform
        North-up affine transform.
    width, height
        Size in pixels.
    crs
        Coordinate reference system.
    block_height, block_width
        Natural block size of the file (for window alignment).
    """

    transform: Affine
    width: int
    height: int
    crs: CRS
    block_height: int = 256
    block_width: int = 256

    @classmethod
    def of(cls, ds: rasterio.DatasetReader, band: int = 1) -> Grid:
        """Grid of an open dataset."""
        bh, bw = ds.block_shapes[band - 1]
        crs = CRS.from_user_input(ds.crs.to_wkt())
        return cls(ds.transform, ds.width, ds.height, crs, bh, bw)

    def same_as(self, other: Grid) -> bool:
        """True when both grids have the same pixels (block sizes may differ)."""
        return (
            self.width == other.width
            and self.height == other.height
            and self.transform.almost_equals(other.transform, precision=1e-9)
            and self.crs == other.crs
        )

    def row_areas_km2(self) -> np.ndarray:
        """True pixel area of every row in km² (geodesic on geographic grids).

        Warns with :class:`UrbanShrinkWarning` when the grid is projected but not equal-area.
        """
        t = self.transform
        if self.crs.is_geographic:
            return _geographic_row_areas(self.crs, t, self.height)
        if not _is_equal_area(self.crs):
            warnings.warn(
                f"areas on a projected grid that is not equal-area ({self.crs.name}) are "
                "distorted; reproject the raster to an equal-area CRS for true areas",
                UrbanShrinkWarning,
                stacklevel=3,
            )
        unit = self.crs.axis_info[0].unit_conversion_factor if self.crs.axis_info else 1.0
        return np.full(self.height, abs(t.a * t.e) * unit * unit / 1e6)


def _is_equal_area(crs: CRS) -> bool:
    op = crs.coordinate_operation
    text = f"{crs.name} {op.method_name if op else ''}".lower()
    return any(word in text for word in _EQUAL_AREA_WORDS)


def _geographic_row_areas(crs: CRS, t: Affine, height: int) -> np.ndarray:
    """Ellipsoidal area of one pixel in each row, from the area of latitude zones."""
    ell = crs.ellipsoid
    a, b = ell.semi_major_metre, ell.semi_minor_metre
    e = math.sqrt(1 - (b / a) ** 2)
    edges = np.radians(np.clip(t.f + t.e * np.arange(height + 1), -90, 90))

    def zone_area(phi: np.ndarray) -> np.ndarray:
        s = np.sin(phi)
        if e == 0:
            return a * a * s
        return (b * b / 2) * (s / (1 - (e * s) ** 2) + np.arctanh(e * s) / e)

    dlon = math.radians(abs(t.a))
    return np.abs(np.diff(zone_area(edges))) * dlon / 1e6


class Zones:
    """City polygons prepared for one raster grid and coverage rule.

    Preparing is cheap (edges in pixel coordinates); the pixel runs of a band of rows are
    computed when first needed and kept, so a series of rasters on the grid (ten years of one
    product) finds its zones once.

    Parameters
    ----------
    boundaries
        Checked boundaries with a ``city_id`` column (see :func:`read_boundaries`).
    grid
        The raster grid.
    coverage
        ``"center"``, ``"all_touched"`` or ``"exact"``.
    cache_runs
        Keep the runs of every band for reuse (memory grows with the zone boundary length).
    """

    def __init__(
        self,
        boundaries: gpd.GeoDataFrame,
        grid: Grid,
        *,
        coverage: Coverage = "center",
        cache_runs: bool = True,
    ) -> None:
        if coverage not in get_args(Coverage):
            raise ConfigError(
                f"unknown coverage {coverage!r}",
                where="coverage",
                fix=f"use one of {', '.join(get_args(Coverage))}",
            )
        self.grid = grid
        self.coverage = coverage
        self.ids = boundaries["city_id"].astype(str).to_numpy()
        geoms = boundaries.geometry
        if boundaries.crs is not None and CRS.from_user_input(boundaries.crs) != grid.crs:
            geoms = geoms.to_crs(grid.crs)
        self.edges = EdgeIndex.from_geometries(
            geoms.to_numpy(), grid.transform, height=grid.height, band_rows=self.band_rows()
        )
        self._cache: dict[tuple[int, int], Runs] | None = {} if cache_runs else None

    def __len__(self) -> int:
        return len(self.ids)

    def runs(self, r0: int, r1: int) -> Runs:
        """Pixel runs of every zone in rows ``r0:r1``."""
        key = (r0, r1)
        if self._cache is not None and key in self._cache:
            return self._cache[key]
        runs = runs_for_band(self.edges, r0, r1, self.grid.width, self.coverage)
        if self._cache is not None:
            self._cache[key] = runs
        return runs

    def band_rows(self) -> int:
        """Rows per band: aligned to the grid's blocks, about 4 M pixels or one block row."""
        g = self.grid
        rows = _WINDOW_PIXELS // max(g.width, 1) // g.block_height * g.block_height
        return max(g.block_height, rows)

    def bands(self) -> Iterator[tuple[int, int]]:
        """Bands of rows: the units of work of the engine."""
        rows = self.band_rows()
        for r0 in range(0, self.grid.height, rows):
            yield r0, min(r0 + rows, self.grid.height)

    def band_windows(self, r0: int, r1: int) -> Iterator[tuple[Window, Runs]]:
        """Windows of a band to read (only where zones are), with their runs in local numbers."""
        g = self.grid
        box = self.runs(r0, r1).bounds()
        if box is None:
            return
        rr0, rr1, cc0, cc1 = box
        step = _WINDOW_PIXELS // max(rr1 - rr0, 1) // g.block_width * g.block_width
        cols = max(g.block_width, step)
        start = cc0 // g.block_width * g.block_width
        for c0 in range(start, cc1, cols):
            left, right = max(c0, cc0), min(c0 + cols, cc1)
            local = self.runs(r0, r1).window(rr0, rr1, left, right)
            if len(local.zone):
                yield Window(left, rr0, right - left, rr1 - rr0), local

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the cached runs (workers compute their own)."""
        state = self.__dict__.copy()
        state["_cache"] = {} if self._cache is not None else None
        return state


@dataclass
class _Moments:
    """Per-zone moments that add up across bands, threads, processes and Dask workers.

    Inside one band the kernel adds sums shifted by each zone's first value (``shift``, ``s``,
    ``q``) for precision; :meth:`close` turns them into sum and squared deviations (``m2``),
    which :meth:`merge` combines with Chan's formula.
    """

    n_zones: int
    n: np.ndarray = field(init=False)
    total: np.ndarray = field(init=False)
    area: np.ndarray = field(init=False)
    above_n: np.ndarray = field(init=False)
    above_area: np.ndarray = field(init=False)
    shift: np.ndarray = field(init=False)
    has_shift: np.ndarray = field(init=False)
    s: np.ndarray = field(init=False)
    q: np.ndarray = field(init=False)
    sum: np.ndarray = field(init=False)
    m2: np.ndarray = field(init=False)
    vmin: np.ndarray = field(init=False)
    vmax: np.ndarray = field(init=False)
    area_sum: np.ndarray = field(init=False)
    wn: np.ndarray = field(init=False)
    w: np.ndarray = field(init=False)
    wv: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        z = self.n_zones
        for name in (*_ADDITIVE, "shift", "s", "q", "m2"):
            setattr(self, name, np.zeros(z))
        self.has_shift = np.zeros(z, bool)
        self.vmin = np.full(z, np.inf)
        self.vmax = np.full(z, -np.inf)

    def add(
        self, block: np.ndarray, mask: np.ndarray | None, reading: _Reading, runs: Runs,
        row_area: np.ndarray,
    ) -> None:  # fmt: skip
        """Add the pixels of one window's runs (shifted sums; call :meth:`close` after)."""
        _kernels.accumulate_moments(
            block, _mask_or_dummy(mask), mask is not None, *reading.nodata_args,
            reading.scale, reading.offset,
            runs.zone, runs.row, runs.col0, runs.col1, runs.weight, row_area, reading.threshold,
            self.n, self.total, self.area, self.above_n, self.above_area, self.shift,
            self.has_shift, self.s, self.q, self.vmin, self.vmax,
        )  # fmt: skip

    def add_weighted(
        self, block: np.ndarray, mask: np.ndarray | None, reading: _Reading, runs: Runs,
        row_area: np.ndarray, weights: np.ndarray | None,
    ) -> None:  # fmt: skip
        """Add the area sums and, with ``weights`` (float64, NaN = no weight), weighted sums."""
        _kernels.accumulate_weighted(
            block, _mask_or_dummy(mask), mask is not None, *reading.nodata_args,
            reading.scale, reading.offset,
            np.zeros((1, 1)) if weights is None else weights, weights is not None,
            runs.zone, runs.row, runs.col0, runs.col1, runs.weight, row_area,
            self.area_sum, self.wn, self.w, self.wv,
        )  # fmt: skip

    def close(self) -> _Moments:
        """Turn the shifted sums of a band into sums and squared deviations."""
        some = self.n > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            self.sum = np.where(some, self.s + self.n * self.shift, 0.0)
            self.m2 = np.where(some, np.maximum(self.q - self.s**2 / self.n, 0.0), 0.0)
        return self

    def merge(self, other: _Moments) -> None:
        """Add another (closed) partial into this one."""
        n = self.n + other.n
        with np.errstate(invalid="ignore", divide="ignore"):
            delta = np.where(
                (self.n > 0) & (other.n > 0), other.sum / other.n - self.sum / self.n, 0.0
            )
            cross = np.where(n > 0, delta**2 * self.n * other.n / n, 0.0)
        self.m2 = self.m2 + other.m2 + cross
        for name in _ADDITIVE:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.vmin = np.minimum(self.vmin, other.vmin)
        self.vmax = np.maximum(self.vmax, other.vmax)

    def table(self, stats: Sequence[str]) -> dict[str, np.ndarray]:
        """Final statistics from the accumulators."""
        n = self.n
        some = n > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            out = {
                "count": n,
                "nodata_count": self.total - n,
                "sum": np.where(some, self.sum, np.nan),
                "mean": np.where(some, self.sum / n, np.nan),
                "min": np.where(some, self.vmin, np.nan),
                "max": np.where(some, self.vmax, np.nan),
                "std": np.where(some, np.sqrt(self.m2 / n), np.nan),
                "range": np.where(some, self.vmax - self.vmin, np.nan),
                "area_km2": self.area,
                "above_count": self.above_n,
                "above_km2": self.above_area,
                "area_sum": np.where(some, self.area_sum, np.nan),
                "weighted_sum": np.where(self.wn > 0, self.wv, np.nan),
                "weighted_mean": np.where((self.wn > 0) & (self.w != 0), self.wv / self.w, np.nan),
            }
        return {s: out[s] for s in stats if s in out}


_ADDITIVE = ("n", "total", "area", "above_n", "above_area", "sum", "area_sum", "wn", "w", "wv")


@dataclass
class _Classes:
    """Per-zone, per-class pixel weights and areas, with classes found as they appear."""

    n_zones: int
    values: list[float] = field(default_factory=list)
    count: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    area: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    def add(
        self,
        coded: tuple[np.ndarray, np.ndarray, int, np.ndarray],
        runs: Runs,
        mask: np.ndarray | None,
        row_area: np.ndarray,
    ) -> None:
        """Count the classes of one window coded by :func:`_class_lut`."""
        values, lut, offset, classes = coded
        if len(classes) == 0:
            return
        index = self._index(classes)
        lut = np.where(lut >= 0, index[np.maximum(lut, 0)], -1).astype(np.int64)
        k = len(self.values)
        count = np.zeros(self.n_zones * k)
        area = np.zeros(self.n_zones * k)
        _kernels.accumulate_classes(
            values,
            lut,
            offset,
            _mask_or_dummy(mask),
            mask is not None,
            runs.zone,
            runs.row,
            runs.col0,
            runs.col1,
            runs.weight,
            row_area,
            k,
            count,
            area,
        )
        self.count += count.reshape(self.n_zones, k)
        self.area += area.reshape(self.n_zones, k)

    def merge(self, other: _Classes) -> None:
        """Add another partial (its classes may differ) into this one."""
        if not other.values:
            return
        index = self._index(np.asarray(other.values))
        count = self.count.reshape(self.n_zones, -1)
        area = self.area.reshape(self.n_zones, -1)
        count[:, index] += other.count.reshape(self.n_zones, -1)
        area[:, index] += other.area.reshape(self.n_zones, -1)

    def _index(self, classes: np.ndarray) -> np.ndarray:
        known = {v: i for i, v in enumerate(self.values)}
        fresh = [c for c in classes.tolist() if c not in known]
        if fresh:
            self.values.extend(fresh)
            grow = len(fresh)
            self.count = np.pad(self.count.reshape(self.n_zones, -1), ((0, 0), (0, grow)))
            self.area = np.pad(self.area.reshape(self.n_zones, -1), ((0, 0), (0, grow)))
            known = {v: i for i, v in enumerate(self.values)}
        return np.array([known[c] for c in classes.tolist()], np.int64)

    def table(self, *, areas: bool) -> dict[Any, np.ndarray]:
        """Counts per class seen in some zone, by class, plus ``area_km2_<class>`` if asked."""
        count = self.count.reshape(self.n_zones, -1)
        area = self.area.reshape(self.n_zones, -1)
        seen = np.flatnonzero(count.any(axis=0))
        order = seen[np.argsort(np.asarray(self.values)[seen], kind="stable")]
        out: dict[Any, np.ndarray] = {}
        for i in order:
            out[_class_label(self.values[i])] = count[:, i]
        if areas:
            for i in order:
                out[f"area_km2_{_class_label(self.values[i])}"] = area[:, i]
        return out


def _class_label(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def _mask_or_dummy(mask: np.ndarray | None) -> np.ndarray:
    return mask if mask is not None else np.ones((1, 1), np.uint8)


def _check_stats(
    stats: Iterable[str], threshold: float | None, *, weighted: bool = False
) -> tuple[str, ...]:
    stats = tuple(stats)
    for s in stats:
        if s in _THRESHOLD_STATS and threshold is None:
            raise ConfigError(
                f"statistic {s!r} needs a threshold",
                where="stats",
                fix="pass threshold=VALUE (--threshold VALUE)",
            )
        if s in _WEIGHTED_STATS and not weighted:
            raise ConfigError(
                f"statistic {s!r} needs a weights raster",
                where="stats",
                fix="pass weights=RASTER (--weights RASTER)",
            )
        m = _PERCENTILE.match(s)
        if s in _KNOWN_STATS or (m and 0 <= float(m.group(1)) <= 100):
            continue
        raise ConfigError(
            f"unknown statistic {s!r}", where="stats", fix=f"choose from {', '.join(STATISTICS)}"
        )
    return stats


@runtime_checkable
class WindowSource(Protocol):
    """A raster computed window by window on a grid, instead of read from a file.

    It must pickle (for process and Dask schedulers) and be cheap to call per window.
    """

    @property
    def grid(self) -> Grid:
        """The grid the values are on."""

    @property
    def nodata(self) -> float | None:
        """Value of pixels to ignore."""

    def read(self, window: Window) -> np.ndarray:
        """Values of one window."""


@dataclass(frozen=True, slots=True)
class _Reading:
    """How to read one raster: path, band, nodata override and scale."""

    path: str
    band: int
    nodata: float | None
    scale: float
    offset: float
    threshold: float
    source: WindowSource | None = None

    @property
    def nodata_args(self) -> tuple[float, bool]:
        """Nodata as the kernels take it: a value and whether it applies."""
        return (0.0, False) if self.nodata is None else (self.nodata, True)


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
    progress: Callable[[int, int], None] | None = None,
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
        Any of count, nodata_count, sum, mean, min, max, std, range, area_km2, above_count,
        above_km2, area_sum, weighted_sum, weighted_mean, median, majority, minority, unique
        and percentile_N (N from 0 to 100). ``area_sum`` is the sum of value x true pixel area
        (km²); ``weighted_sum`` (sum of weight x value) and ``weighted_mean`` (that divided by
        the sum of weights) need ``weights``. Ignored when ``categorical``.
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
        :mod:`urbanshrink_gis.parallel`). Results are identical whichever is used.
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
        coverage=coverage,
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
        scheduler=scheduler,
        workers=workers,
        progress=progress,
    )
    return result.droplevel("key")


def zonal_stats_many(
    zones: Zones | gpd.GeoDataFrame | str | os.PathLike,
    rasters: Mapping[Any, str | os.PathLike],
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
    weights: str | os.PathLike | Mapping[Any, str | os.PathLike] | None = None,
    weights_nodata: float | None = None,
    layer: str | None = None,
    scheduler: str = "threads",
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Statistics of several rasters on one grid (a yearly series) in one pass over the zones.

    Parameters
    ----------
    rasters
        Key (such as the year) to raster path, or to a :class:`WindowSource` computing the
        values; every raster must share the first one's grid.
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
    gather = any(s in _VALUE_STATS or _PERCENTILE.match(s) for s in stats)
    prepared = _prepare(
        zones, grid, zone_id=zone_id, coverage=coverage, layer=layer,
        where=f"{readings[0].path} (key {keys[0]})",
    )  # fmt: skip
    wants_area = areas or any(s in stats for s in ("area_km2", "above_km2", "area_sum"))
    row_area = grid.row_areas_km2() if wants_area else np.ones(grid.height)
    threads = decode_threads(check_scheduler(scheduler), workers)
    weighing = _weighings(keys, weights, weights_nodata, grid, categorical)
    extra = not categorical and any(s in _AREA_STATS | _WEIGHTED_STATS for s in stats)
    job = _Job(
        prepared, tuple(readings), stats, categorical, gather, row_area, threads, weighing, extra
    )
    tables = _run(job, areas=areas, scheduler=scheduler, workers=workers, progress=progress)
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
            None if r.source else stack.enter_context(open_raster(r.path, band=r.band))
            for r in job.readings
        ]
        weight_sets = [None if w is None else w.open(stack, zones.grid) for w in weights]
        for window, runs in zones.band_windows(*band):
            areas = job.row_area[window.row_off : window.row_off + window.height]
            for ds, reading, part, wds, w in zip(
                datasets, job.readings, parts, weight_sets, weights, strict=True
            ):
                if ds is None:
                    block, mask = reading.source.read(window), None
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
    scheduler: str,
    workers: int | None,
    progress: Callable[[int, int], None] | None,
) -> list[dict[Any, np.ndarray]]:
    zones = job.zones
    n = len(zones)
    bands = list(zones.bands())
    totals = [_Partial.empty(n) for _ in job.readings]
    if progress is not None:
        progress(0, len(bands))
    results = map_ordered(_band_task, job, bands, scheduler=scheduler, workers=workers)
    for done, parts in enumerate(results, start=1):
        for total, part in zip(totals, parts, strict=True):
            total.merge(part)
        if progress is not None:
            progress(done, len(bands))
    if job.categorical:
        return [t.classes.table(areas=areas) for t in totals]
    gather = [s for s in job.stats if s in _VALUE_STATS or _PERCENTILE.match(s)]
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


def _class_lut(
    reading: _Reading, values: np.ndarray, runs: Runs
) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """Code a window's values as class indices.

    Returns the array to index, a lookup table (class index, -1 for nodata), the table's
    offset and the class values found in the runs. 8- and 16-bit integers use a direct table
    over the type's range; other types are coded through ``np.unique``.
    """
    if values.dtype.kind in "iu" and values.dtype.itemsize <= 2:
        info = np.iinfo(values.dtype)
        if values.dtype.itemsize == 1:  # every value is a class; unseen ones count 0
            present = np.ones(256, bool)
        else:
            present = np.zeros(int(info.max) - int(info.min) + 1, bool)
            _kernels.mark_values(
                values, int(info.min), runs.zone, runs.row, runs.col0, runs.col1, present
            )
        if reading.nodata is not None and info.min <= reading.nodata <= info.max:
            present[int(reading.nodata) - info.min] = False
        classes = np.flatnonzero(present) + info.min
        table = np.full(len(present), -1, np.int64)
        table[classes - info.min] = np.arange(len(classes))
        return values, table, int(info.min), classes.astype(np.float64)
    uniq, inverse = np.unique(values, return_inverse=True)
    keep = ~np.isnan(uniq) if uniq.dtype.kind == "f" else np.ones(len(uniq), bool)
    if reading.nodata is not None:
        keep &= uniq != reading.nodata
    table = np.full(len(uniq), -1, np.int64)
    table[keep] = np.arange(int(keep.sum()))
    return inverse.reshape(values.shape), table, 0, uniq[keep].astype(np.float64)


def _value_stats(
    parts: list[tuple[np.ndarray, ...]], n_zones: int, names: list[str], weighted: bool
) -> dict[str, np.ndarray]:
    """Median, percentiles, majority, minority and unique from gathered values."""
    out = {name: np.full(n_zones, np.nan) for name in names}
    if not parts:
        return out
    zone = np.concatenate([p[0] for p in parts])
    value = np.concatenate([p[1] for p in parts])
    weight = np.concatenate([p[2] for p in parts])
    order = np.lexsort((value, zone))
    zone, value, weight = zone[order], value[order], weight[order]
    bounds = np.searchsorted(zone, np.arange(n_zones + 1))
    for z in range(n_zones):
        v = value[bounds[z] : bounds[z + 1]]
        if v.size == 0:
            continue
        w = weight[bounds[z] : bounds[z + 1]]
        for name in names:
            out[name][z] = _one_value_stat(name, v, w, weighted)
    return out


def _one_value_stat(name: str, v: np.ndarray, w: np.ndarray, weighted: bool) -> float:
    if name in ("majority", "minority", "unique"):
        uniq, start = np.unique(v, return_index=True)
        if name == "unique":
            return float(len(uniq))
        totals = np.add.reduceat(w, start)
        pick = np.argmax(totals) if name == "majority" else np.argmin(totals)
        return float(uniq[pick])
    q = 50.0 if name == "median" else float(_PERCENTILE.match(name).group(1))  # type: ignore[union-attr]
    if not weighted:
        return float(np.percentile(v, q))
    cum = np.cumsum(w)
    return float(v[min(np.searchsorted(cum, q / 100 * cum[-1]), len(v) - 1)])
