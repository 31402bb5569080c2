"""Per-pixel change and trend of raster series, streamed window by window; writes nothing.

Each ``*_blocks`` function checks its inputs when called and returns :class:`PixelBlocks`, an
iterable of ``(window, array)`` pairs that together tile the rasters' grid; the rasters are
opened and read only as it is iterated (by :func:`urbanshrink_gis.export.cog.write_cog`, say),
one window at a time, so memory does not grow with the raster size, and strips of rows can be
computed side by side on a scheduler (:meth:`PixelBlocks.strip`). Wrap the consumption in
:func:`urbanshrink_gis.io.rasters.reading_env` for multi-threaded decoding.

Terms
-----
valid pixel
    A pixel that is not the product's fill value (else the file's nodata), not masked by the
    file's internal mask and not NaN.
value
    A valid pixel's raw value x ``scale`` + ``offset`` of the product (see
    :mod:`urbanshrink_gis.products`).
built-up change
    The class of a pixel between two land-cover years, coded as in
    :data:`BUILTUP_CHANGE_CLASSES`: built-up means one of the product's ``builtup_classes``.
night-light change
    End value - start value, in the product's units; NaN where either year is not valid.
trend
    Slope of a pixel's values against the year, in the product's units per year, over its
    valid years (NaN with fewer than two): ordinary least squares (``"ols"``) or Theil-Sen,
    the median of the slopes between every pair of valid years (``"theil_sen"``), which a few
    outlying years do not sway.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import rasterio
from rasterio.windows import Window

from urbanshrink_gis._legend import ClassInfo
from urbanshrink_gis.errors import ConfigError, RasterError
from urbanshrink_gis.io.rasters import band_nodata, open_raster, read_block
from urbanshrink_gis.products.model import Product
from urbanshrink_gis.zonal.grid import Grid

__all__ = [
    "BUILTUP_CHANGE_CLASSES",
    "PixelBlocks",
    "TrendMethod",
    "builtup_change",
    "builtup_change_blocks",
    "nightlight_change_blocks",
    "nightlight_trend_blocks",
    "ols_slope",
    "theil_sen_slope",
]

TrendMethod = Literal["ols", "theil_sen"]

#: Codes of a built-up change raster, in legend order; 0 is nodata.
BUILTUP_CHANGE_CLASSES: tuple[ClassInfo, ...] = (
    ClassInfo(0, "nodata", "#000000"),
    ClassInfo(1, "never built-up", "#e6e6e6"),
    ClassInfo(2, "stable built-up", "#7a7a7a"),
    ClassInfo(3, "built-up gain", "#d7301f"),
    ClassInfo(4, "built-up loss", "#2c7fb8"),
)
# Code of each (built-up at start, built-up at end) pair, indexed by 2 x start + end.
_CHANGE_CODES = np.array([1, 3, 4, 2], dtype=np.uint8)

_STRIP_ROWS = 512  # rows per window: one row of the output COG's 512 x 512 tiles
_WINDOW_VALUES = 1 << 21  # pixels x layers read per window (~16 MB of float64 per layer set)
_PAIR_VALUES = 1 << 22  # pairwise slopes held at once by theil_sen_slope (32 MB of float64)

Blocks = Iterator[tuple[Window, np.ndarray]]
Layer = tuple[np.ndarray, np.ndarray]  # raw values, valid mask


def builtup_change_blocks(
    start: str | os.PathLike, end: str | os.PathLike, product: Product
) -> PixelBlocks:
    """Built-up change class of every pixel between two land-cover rasters, block by block.

    Parameters
    ----------
    start, end
        Land-cover rasters of the first and last year, on one grid.
    product
        The land-cover preset: its ``builtup_classes``, ``nodata`` and ``band`` apply.

    Returns
    -------
    PixelBlocks
        (window, array) pairs tiling the grid, each with its uint8 codes of
        :data:`BUILTUP_CHANGE_CLASSES` (0 where either year is not valid).

    Raises
    ------
    ConfigError
        The product is not a land-cover product.
    RasterError
        A raster cannot be opened, or the two are not on one grid.
    """
    if product.kind != "landcover":
        raise ConfigError(
            f"built-up change needs class codes, but product {product.name!r} is {product.kind}",
            where=f"product {product.name!r}",
            fix="give a land-cover product such as 'clcd'",
        )
    return _stream([start, end], product, functools.partial(_change_codes, product.builtup_classes))


def _change_codes(codes: Sequence[int], layers: Sequence[Layer]) -> np.ndarray:
    (first, valid_first), (last, valid_last) = layers
    return builtup_change(_is_any(first, codes), _is_any(last, codes), valid_first & valid_last)


def nightlight_change_blocks(
    start: str | os.PathLike, end: str | os.PathLike, product: Product
) -> PixelBlocks:
    """Change of night-light value of every pixel between two rasters, block by block.

    Parameters
    ----------
    start, end
        Rasters of the first and last year, on one grid.
    product
        The night-light preset (or any product of continuous values): its ``nodata``,
        ``scale``, ``offset`` and ``band`` apply.

    Returns
    -------
    PixelBlocks
        (window, array) pairs tiling the grid, each with float32 end value - start value in
        the product's units, NaN where either year is not valid.

    Raises
    ------
    ConfigError
        The product holds class codes, whose differences mean nothing.
    RasterError
        A raster cannot be opened, or the two are not on one grid.
    """
    _check_continuous(product)
    return _stream([start, end], product, functools.partial(_value_change, product))


def _value_change(product: Product, layers: Sequence[Layer]) -> np.ndarray:
    first, last = (_values(layer, product) for layer in layers)
    return (last - first).astype(np.float32)


def nightlight_trend_blocks(
    series: Mapping[int, str | os.PathLike],
    product: Product,
    *,
    method: TrendMethod = "ols",
) -> PixelBlocks:
    """Per-pixel trend (slope per year) of a night-light series, block by block.

    Parameters
    ----------
    series
        Year to raster, two years or more, all on one grid.
    product
        The night-light preset (or any product of continuous values): its ``nodata``,
        ``scale``, ``offset`` and ``band`` apply.
    method
        ``"ols"`` (least squares) or ``"theil_sen"`` (median of pairwise slopes).

    Returns
    -------
    PixelBlocks
        (window, array) pairs tiling the grid, each with the float32 slope in the product's
        units per year, NaN where a pixel has fewer than two valid years.

    Raises
    ------
    ConfigError
        Fewer than two years, an unknown method, or a product of class codes.
    RasterError
        A raster cannot be opened, or the rasters are not on one grid.

    Notes
    -----
    A window holds every year's values as float64, so windows narrow as the series grows
    (about 2 M values per window in all). Theil-Sen computes n (n - 1) / 2 slopes per pixel,
    a few pixels at a time: it costs about n / 4 times the least-squares time.
    """
    _check_continuous(product)
    if method not in get_args(TrendMethod):
        raise ConfigError(
            f"unknown trend method {method!r}",
            where="method",
            fix=f"use one of {', '.join(get_args(TrendMethod))}",
        )
    if len(series) < 2:
        raise ConfigError(
            f"a trend needs two years or more, got {len(series)}",
            where="series",
            fix="give rasters of more years",
        )
    years = sorted(series)
    slope = ols_slope if method == "ols" else theil_sen_slope
    compute = functools.partial(_value_slope, product, slope, tuple(years))
    return _stream([series[y] for y in years], product, compute)


def _value_slope(
    product: Product,
    slope: Callable[[Sequence[int], np.ndarray], np.ndarray],
    years: Sequence[int],
    layers: Sequence[Layer],
) -> np.ndarray:
    stack = np.stack([_values(layer, product) for layer in layers])
    return slope(years, stack).astype(np.float32)


def builtup_change(
    start_builtup: np.ndarray, end_builtup: np.ndarray, valid: np.ndarray
) -> np.ndarray:
    """Code the built-up change of pixels as in :data:`BUILTUP_CHANGE_CLASSES`.

    Parameters
    ----------
    start_builtup, end_builtup
        Boolean arrays: the pixel is built-up in the first and in the last year.
    valid
        Boolean array: the pixel is valid in both years.

    Returns
    -------
    numpy.ndarray
        uint8 codes, 0 where not valid.
    """
    index = np.asarray(start_builtup, bool).view(np.uint8) << 1
    index |= np.asarray(end_builtup, bool).view(np.uint8)
    codes = np.take(_CHANGE_CODES, index)
    codes *= np.asarray(valid, bool).view(np.uint8)  # 0 where not valid
    return codes


def ols_slope(years: Sequence[int], stack: np.ndarray) -> np.ndarray:
    """Least-squares slope of each pixel's values against the years, NaN values left out.

    Parameters
    ----------
    years
        The distinct years of the layers, in the order of ``stack``.
    stack
        Values with the years on the first axis, NaN where missing.

    Returns
    -------
    numpy.ndarray
        float64 slopes (value units per year) of shape ``stack.shape[1:]``; NaN where a pixel
        has fewer than two values.
    """
    y = np.asarray(stack, np.float64)
    x = np.asarray(years, np.float64).reshape((-1,) + (1,) * (y.ndim - 1))
    valid = ~np.isnan(y)
    n = valid.sum(axis=0)
    enough = n >= 2
    x_mean = _mean_where(np.broadcast_to(x, y.shape), valid, n)
    y_mean = _mean_where(y, valid, n)
    dx = np.where(valid, x - x_mean, 0.0)
    dy = np.where(valid, y - y_mean, 0.0)
    sxy, sxx = (dx * dy).sum(axis=0), (dx * dx).sum(axis=0)
    return np.divide(sxy, sxx, out=np.full(sxy.shape, np.nan), where=enough)


def _mean_where(values: np.ndarray, valid: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Mean over the first axis of the valid values (0 where none)."""
    total = np.where(valid, values, 0.0).sum(axis=0)
    return np.divide(total, n, out=np.zeros(total.shape), where=n > 0)


def theil_sen_slope(years: Sequence[int], stack: np.ndarray) -> np.ndarray:
    """Theil-Sen slope of each pixel: the median slope over pairs of its valid years.

    Parameters
    ----------
    years
        The distinct years of the layers, in the order of ``stack``.
    stack
        Values with the years on the first axis, NaN where missing.

    Returns
    -------
    numpy.ndarray
        float64 slopes (value units per year) of shape ``stack.shape[1:]``; NaN where a pixel
        has fewer than two values. An even number of pairs takes the mean of the middle two.

    Notes
    -----
    Pixels are processed in chunks so that at most about 4 M pairwise slopes are held at once.
    """
    y = np.asarray(stack, np.float64)
    flat = y.reshape(len(y), -1)
    first, second = np.triu_indices(len(y), k=1)
    x = np.asarray(years, np.float64)
    run = (x[second] - x[first])[:, np.newaxis]
    out = np.empty(flat.shape[1])
    step = max(1, _PAIR_VALUES // max(len(first), 1))
    for c0 in range(0, flat.shape[1], step):
        chunk = flat[:, c0 : c0 + step]
        slopes = np.sort((chunk[second] - chunk[first]) / run, axis=0)  # NaN sort last
        n = np.count_nonzero(~np.isnan(slopes), axis=0)
        low = np.take_along_axis(slopes, (np.maximum(n - 1, 0) // 2)[np.newaxis], axis=0)[0]
        high = np.take_along_axis(slopes, (n // 2)[np.newaxis], axis=0)[0]
        out[c0 : c0 + step] = np.where(n > 0, (low + high) / 2, np.nan)
    return out.reshape(y.shape[1:])


def _is_any(values: np.ndarray, codes: Sequence[int]) -> np.ndarray:
    """Where values equal one of the codes (a few comparisons beat np.isin for a few codes)."""
    found = values == codes[0]
    for code in codes[1:]:
        found |= values == code
    return found


def _check_continuous(product: Product) -> None:
    if product.kind == "landcover":
        raise ConfigError(
            f"product {product.name!r} holds class codes, whose differences mean nothing",
            where=f"product {product.name!r}",
            fix="give a night-light product such as 'vnl2', or use built-up change",
        )


def _stream(
    paths: Sequence[str | os.PathLike],
    product: Product,
    compute: Callable[[Sequence[Layer]], np.ndarray],
) -> PixelBlocks:
    """Check that the rasters share one grid now; return the lazy computed blocks."""
    grid = _common_grid(paths, product.band)
    return PixelBlocks(tuple(os.fspath(p) for p in paths), product, grid, compute)


@dataclass(frozen=True, slots=True)
class PixelBlocks:
    """A per-pixel function of rasters on one grid, computed window by window when iterated.

    Iterating gives ``(window, array)`` pairs tiling the grid; :meth:`strip` gives those of
    some rows only, so that strips can be computed side by side (it pickles: a task for
    threads, processes or a Dask worker).

    Parameters
    ----------
    paths
        The input rasters, in the order ``compute`` takes them.
    product
        The inputs' preset (band, nodata).
    grid
        Their common grid.
    compute
        Output array of a window from each input's ``(raw values, valid mask)``.
    """

    paths: tuple[str, ...]
    product: Product
    grid: Grid
    compute: Callable[[Sequence[Layer]], np.ndarray]

    def __iter__(self) -> Blocks:
        return self.strip(0, self.grid.height)

    def strip(self, row: int, end: int) -> Blocks:
        """The blocks of rows ``row`` to ``end`` (multiples of 512 but for the grid's end)."""
        band = self.product.band
        with contextlib.ExitStack() as stack:
            datasets = [stack.enter_context(open_raster(p, band=band)) for p in self.paths]
            nodata = [band_nodata(ds, band, self.product.nodata) for ds in datasets]
            for window in _windows(self.grid.width, row, end, layers=len(self.paths)):
                layers = [
                    _read(ds, window, band, fill) for ds, fill in zip(datasets, nodata, strict=True)
                ]
                yield window, self.compute(layers)


def _common_grid(paths: Sequence[str | os.PathLike], band: int) -> Grid:
    grids = []
    for path in paths:
        with open_raster(path, band=band) as ds:
            grids.append(Grid.of(ds, band))
    first = grids[0]
    for path, grid in zip(paths[1:], grids[1:], strict=True):
        if not grid.same_as(first):
            raise RasterError(
                f"is not on the grid of {os.fspath(paths[0])} ({_difference(grid, first)})",
                where=os.fspath(path),
                fix="warp the rasters onto one grid (gdalwarp with the first one's -t_srs, -te "
                "and -tr; nearest resampling for classes)",
            )
    return first


def _difference(grid: Grid, first: Grid) -> str:
    """How a grid differs from the first one, in words."""
    size, first_size = (f"{g.width} x {g.height} px" for g in (grid, first))
    if size != first_size:
        return f"{size}, not {first_size}"
    if grid.crs != first.crs:
        return f"CRS {grid.crs.name!r}, not {first.crs.name!r}"
    origin, first_origin = (f"({g.transform.c:.10g}, {g.transform.f:.10g})" for g in (grid, first))
    pixel, first_pixel = (f"{g.transform.a:.10g} x {-g.transform.e:.10g}" for g in (grid, first))
    return f"origin {origin} and pixel {pixel}, not {first_origin} and {first_pixel}"


def _windows(width: int, row: int, end: int, *, layers: int) -> Iterator[Window]:
    """Strips of 512 rows cut into windows of a multiple of 512 columns, row by row."""
    cols = max(_STRIP_ROWS, _WINDOW_VALUES // layers // _STRIP_ROWS // _STRIP_ROWS * _STRIP_ROWS)
    for r in range(row, end, _STRIP_ROWS):
        for col in range(0, width, cols):
            yield Window(col, r, min(cols, width - col), min(_STRIP_ROWS, end - r))


def _read(ds: rasterio.DatasetReader, window: Window, band: int, nodata: float | None) -> Layer:
    """Raw values of a window and where they are valid."""
    values, mask = read_block(ds, window, band=band)
    valid = np.ones(values.shape, bool) if mask is None else mask > 0
    if nodata is not None:
        valid &= values != nodata
    if values.dtype.kind == "f":
        valid &= ~np.isnan(values)
    return values, valid


def _values(layer: Layer, product: Product) -> np.ndarray:
    """Scaled float64 values, NaN where not valid."""
    raw, valid = layer
    values = raw.astype(np.float64) * product.scale + product.offset
    values[~valid] = np.nan
    return values
