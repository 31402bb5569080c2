"""Built-up land in the dark: a vacancy signal for the "expanding while shrinking" paradox.

Terms
-----
dark built-up
    Built-up land (on the land-cover grid) whose night light is at or below the night-light
    product's lit threshold. The light of a land-cover pixel is the light pixel under its
    centre (nearest neighbour, warped by GDAL on the fly: the light is classified on its own
    grid and the one-byte dark mask warped), so each 30 m built-up pixel takes the light of
    the ~460 m light pixel it falls in. Areas are land-cover pixel areas.
new built-up
    Built-up at the end of the period and not at its start (same land-cover series).

Choice and error: sampling the light under each built-up pixel keeps built-up areas exact on
the land-cover grid (no fractional resampling) and classifies each pixel by the light of the
pixel that contains it; the error is confined to land-cover pixels whose light pixel straddles
a lit/dark edge, i.e. within one light pixel (~0.5 km) of the edge of a lit area. Built-up
pixels with no light data (light nodata) count as lit, never as dark.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.io import MemoryFile
from rasterio.transform import array_bounds, rowcol
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from urbanshrink_gis._legend import ClassInfo
from urbanshrink_gis._progress import Progress
from urbanshrink_gis.errors import ConfigError
from urbanshrink_gis.io.rasters import band_nodata, open_raster, read_block
from urbanshrink_gis.metrics.change import builtup_change
from urbanshrink_gis.products.model import Product
from urbanshrink_gis.zonal.engine import Engine, zonal_stats_many
from urbanshrink_gis.zonal.grid import Grid
from urbanshrink_gis.zonal.zones import Zones

__all__ = [
    "VACANCY_CLASSES",
    "BuiltupLight",
    "BuiltupLightChange",
    "dark_builtup_metrics",
    "new_builtup_metrics",
]

#: Codes of :class:`BuiltupLight` windows, in legend order; 0 is nodata.
VACANCY_CLASSES: tuple[ClassInfo, ...] = (
    ClassInfo(0, "nodata", "#000000"),
    ClassInfo(1, "not built-up", "#f0f0f0"),
    ClassInfo(2, "old built-up, lit", "#fdb863"),
    ClassInfo(3, "old built-up, dark", "#542788"),
    ClassInfo(4, "new built-up, lit", "#e66101"),
    ClassInfo(5, "new built-up, dark", "#2d004b"),
)
_OLD_LIT, _OLD_DARK, _NEW_LIT, _NEW_DARK = 2, 3, 4, 5  # valid 1 + built-up 1 + dark 1 + new 2
# A period's codes as its end year's land cover and light alone code them: all built-up is old.
_AS_END_YEAR = np.array([0, 1, _OLD_LIT, _OLD_DARK, _OLD_LIT, _OLD_DARK], np.uint8)
_MARGIN = 2  # light pixels around a window's box: the warp's approximations stay inside
_FLOAT32_EXACT = tuple(np.dtype(t) for t in ("float32", "uint8", "int8", "uint16", "int16"))
_BLOCK_PIXELS = 1 << 22


@dataclass(frozen=True, slots=True)
class BuiltupLight:
    """Land-cover pixels coded by built-up state and light (a zonal ``WindowSource``).

    Parameters
    ----------
    landcover
        Land-cover raster of the year the light belongs to (the period's end).
    nightlight
        Night-light raster of that year (any grid: warped to the land cover's).
    landcover_product, nightlight_product
        Presets giving built-up classes, nodata, scale and the lit threshold.
    threshold
        Lit threshold (scaled units); the night-light product's when None.
    start
        Land-cover raster of the period's start: built-up that is not built-up there is new.
        Without it every built-up pixel counts as old.
    """

    landcover: str
    nightlight: str
    landcover_product: Product
    nightlight_product: Product
    threshold: float | None = None
    start: str | None = None

    @property
    def grid(self) -> Grid:
        """The land-cover grid."""
        with open_raster(self.landcover, band=self.landcover_product.band) as ds:
            return Grid.of(ds, self.landcover_product.band)

    @property
    def nodata(self) -> float:
        """Code 0: land cover without data."""
        return 0.0

    @property
    def lit_threshold(self) -> float:
        """The threshold in force."""
        limit = (
            self.threshold if self.threshold is not None else self.nightlight_product.lit_threshold
        )
        if limit is None:
            raise ConfigError(
                f"night-light product {self.nightlight_product.name!r} has no lit threshold",
                where="[[rasters]] lit_threshold",
                fix="set lit_threshold for the night-light series",
            )
        return float(limit)

    def blocks(self) -> Iterator[tuple[Window, np.ndarray]]:
        """Codes of the whole land-cover grid, window by window (about 4 M pixels each)."""
        return self.strip(0, self.grid.height)

    def strip(self, row: int, end: int) -> Iterator[tuple[Window, np.ndarray]]:
        """Codes of the windows of rows ``row`` to ``end``, the rasters opened once."""
        return self._strip(row, end, with_change=False)

    def with_change(self) -> BuiltupLightChange:
        """Strips of these codes and of the period's built-up change, from one read."""
        if self.start is None:
            raise ConfigError("no start land cover", where="built-up change", fix="give start=")
        return BuiltupLightChange(self)

    def _strip(self, row: int, end: int, *, with_change: bool) -> Iterator[tuple[Window, Any]]:
        g = self.grid
        cols = min(g.width, max(512, _BLOCK_PIXELS // 512 // 512 * 512))
        with self._opened() as datasets:
            for r0 in range(row, end, 512):
                for c0 in range(0, g.width, cols):
                    window = Window(c0, r0, min(cols, g.width - c0), min(512, end - r0))
                    yield window, self._codes(window, *datasets, with_change=with_change)

    def read(self, window: Window) -> np.ndarray:
        """Codes of :data:`VACANCY_CLASSES` for one window of the land-cover grid."""
        with self.reader() as read:
            return read(window)

    @contextlib.contextmanager
    def reader(self) -> Iterator[Callable[[Window], np.ndarray]]:
        """:meth:`read` with the rasters opened once, for many windows."""
        with self._opened() as datasets:
            yield lambda window: self._codes(window, *datasets)

    @contextlib.contextmanager
    def _opened(self) -> Iterator[tuple[Any, ...]]:
        """The land cover, a function opening the light once when first needed, the start."""
        lc, ntl = self.landcover_product, self.nightlight_product
        with contextlib.ExitStack() as stack:
            opened: list[rasterio.DatasetReader] = []

            def light() -> rasterio.DatasetReader:
                if not opened:  # windows without built-up land never read the light
                    opened.append(stack.enter_context(open_raster(self.nightlight, band=ntl.band)))
                return opened[0]

            ds = stack.enter_context(open_raster(self.landcover, band=lc.band))
            start = None
            if self.start is not None:
                start = stack.enter_context(open_raster(self.start, band=lc.band))
            yield ds, light, start

    def _codes(
        self,
        window: Window,
        ds: rasterio.DatasetReader,
        light: Callable[[], rasterio.DatasetReader],
        start: rasterio.DatasetReader | None,
        *,
        with_change: bool = False,
    ) -> Any:
        """The window's codes; with the built-up change codes too (needs ``start``)."""
        lc = self.landcover_product
        built, valid = _builtup(ds, window, lc)
        codes = valid.astype(np.uint8)  # 1 valid, 0 nodata
        before = valid_before = None
        if start is not None and (with_change or built.any()):
            before, valid_before = _builtup(start, window, lc)
        if built.any():  # else no light to warp, nothing new (most of a nationwide grid)
            dark = _dark(self, light(), window, ds.window_transform(window), ds.crs)
            # built-up adds 1, dark 1 more, new 2 more: the codes 2 to 5
            step = dark.view(np.uint8) + np.uint8(1)
            if before is not None:
                step += (~before).view(np.uint8) << 1
            codes += built.view(np.uint8) * step
        if not with_change:
            return codes
        return codes, builtup_change(before, built, valid & valid_before)


@dataclass(frozen=True, slots=True)
class BuiltupLightChange:
    """Strips of a :class:`BuiltupLight`'s codes and of the period's built-up change.

    Each window yields ``(codes, change)``: the codes of :data:`VACANCY_CLASSES` and those of
    :data:`~urbanshrink_gis.metrics.change.BUILTUP_CHANGE_CLASSES` between ``start`` and
    ``landcover``, computed from one read of both years (for
    :func:`urbanshrink_gis.export.cog.render_layers`).
    """

    source: BuiltupLight

    def strip(self, row: int, end: int) -> Iterator[tuple[Window, tuple[np.ndarray, np.ndarray]]]:
        """The ``(window, (codes, change))`` pairs of rows ``row`` to ``end``."""
        return self.source._strip(row, end, with_change=True)


def _builtup(
    ds: rasterio.DatasetReader, window: Window, product: Product
) -> tuple[np.ndarray, np.ndarray]:
    """Built-up and valid masks of a land-cover window."""
    values, mask = read_block(ds, window, band=product.band)
    nodata = band_nodata(ds, product.band, product.nodata)
    first, *others = product.builtup_classes
    built = values == first
    for code in others:
        built |= values == code
    if mask is not None:
        valid = mask > 0
        if nodata is not None:
            valid &= values != nodata
    elif nodata is not None:
        valid = values != nodata
    else:
        valid = np.ones(values.shape, bool)
    built &= valid
    return built, valid


def _dark(
    source: BuiltupLight, ds: rasterio.DatasetReader, window: Window, transform: Affine, crs: CRS
) -> np.ndarray:
    """Light at or below the threshold under each land-cover pixel (nodata light is not dark).

    The light is classified on its own grid first, over the part the window needs, and only
    the one-byte dark mask is warped to the land cover (nearest neighbour, as the light would
    be: the same pixels, about 3x faster to warp than the float light with its nodata).
    """
    height, width = int(window.height), int(window.width)
    part = _light_window(ds, transform, width, height, crs)
    if part is None:  # no light under the window: all of it counts as lit
        return np.zeros((height, width), bool)
    dark = _dark_on_light_grid(source, ds, part)
    profile = {"driver": "GTiff", "width": int(part.width), "height": int(part.height),
               "count": 1, "dtype": "uint8", "crs": ds.crs,
               "transform": ds.window_transform(part)}  # fmt: skip
    with MemoryFile() as file:
        with file.open(**profile) as mask:
            mask.write(dark, 1)
        with file.open() as mask, WarpedVRT(
            mask, crs=crs, transform=transform, width=width, height=height, nodata=None,
            dtype="uint8", resampling=Resampling.nearest,
        ) as warped:  # fmt: skip
            return warped.read(1).view(bool)  # outside the light: 0, not dark


def _light_window(
    ds: rasterio.DatasetReader, transform: Affine, width: int, height: int, crs: CRS
) -> Window | None:
    """The light's pixels under a land-cover window, with a margin; None if none."""
    box = transform_bounds(crs, ds.crs, *array_bounds(height, width, transform), densify_pts=21)
    if not all(np.isfinite(box)):
        return Window(0, 0, ds.width, ds.height)
    rows, cols = rowcol(ds.transform, [box[0], box[2]], [box[3], box[1]])
    r0, r1 = sorted(rows)
    c0, c1 = sorted(cols)
    r0, c0 = max(r0 - _MARGIN, 0), max(c0 - _MARGIN, 0)
    r1, c1 = min(r1 + _MARGIN + 1, ds.height), min(c1 + _MARGIN + 1, ds.width)
    if r0 >= r1 or c0 >= c1:
        return None
    return Window(c0, r0, c1 - c0, r1 - r0)


def _dark_on_light_grid(
    source: BuiltupLight, ds: rasterio.DatasetReader, part: Window
) -> np.ndarray:
    """Dark (1) or not (0) per light pixel of ``part``.

    The light is read through GDAL's warper onto its own grid, so that its nodata and masks
    mean what they mean to the warp.
    """
    ntl = source.nightlight_product
    fill = band_nodata(ds, ntl.band, ntl.nodata)
    # float32 holds float32 and 16-bit integer light exactly: the same values, read faster
    exact = np.dtype(ds.dtypes[ntl.band - 1]) in _FLOAT32_EXACT
    with WarpedVRT(
        ds, crs=ds.crs, transform=ds.window_transform(part), width=int(part.width),
        height=int(part.height), src_nodata=fill, nodata=np.nan,
        dtype="float32" if exact else "float64", resampling=Resampling.nearest,
    ) as same_grid:  # fmt: skip
        light = same_grid.read(ntl.band).astype(np.float64)
    scaled = light * ntl.scale + ntl.offset
    return (scaled <= source.lit_threshold).astype(np.uint8)  # NaN (nodata) is not dark


def _areas_by_code(
    zones: Zones | gpd.GeoDataFrame,
    sources: Mapping[int, BuiltupLight | str | os.PathLike],
    *,
    engine: Engine,
    progress: Progress | None,
) -> pd.DataFrame:
    table = zonal_stats_many(
        zones, sources, categorical=True, areas=True, zone_id="city_id", engine=engine,
        progress=progress,
    )  # fmt: skip
    out = pd.DataFrame(index=table.index)
    for c in VACANCY_CLASSES[1:]:
        out[c.code] = table.get(f"area_km2_{c.code}", 0.0)
    return out


def dark_builtup_metrics(
    zones: Zones | gpd.GeoDataFrame,
    pairs: Mapping[int, tuple[str | os.PathLike, str | os.PathLike] | str | os.PathLike],
    landcover_product: Product,
    nightlight_product: Product,
    *,
    threshold: float | None = None,
    engine: Engine = Engine(),
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Dark built-up km² per city and year.

    Parameters
    ----------
    zones
        Zones prepared on the land-cover grid, or boundaries with ``city_id``.
    pairs
        Year to (land-cover raster, night-light raster) of that year; or to a raster of the
        codes (:data:`VACANCY_CLASSES`) of a period ending that year, already computed
        (see :meth:`BuiltupLight.with_change`): the same pixels, counted without the light
        warped again.
    landcover_product, nightlight_product
        The series' presets.
    threshold
        Overrides the night-light product's lit threshold.
    engine, progress
        As :func:`urbanshrink_gis.zonal.zonal_stats_many`.

    Returns
    -------
    pandas.DataFrame
        Columns ``city_id, year, dark_builtup_km2``.
    """
    sources: dict[int, BuiltupLight | _EndYearCodes] = {}
    for year, pair in pairs.items():
        if isinstance(pair, str | os.PathLike):
            sources[year] = _EndYearCodes(os.fspath(pair))
            continue
        lc, ntl = pair
        sources[year] = BuiltupLight(
            os.fspath(lc), os.fspath(ntl), landcover_product, nightlight_product, threshold
        )
    areas = _areas_by_code(zones, sources, engine=engine, progress=progress)
    out = pd.DataFrame({"dark_builtup_km2": areas[_OLD_DARK] + areas[_NEW_DARK]})
    out = out.reset_index().rename(columns={"key": "year"})
    return out[["city_id", "year", "dark_builtup_km2"]].sort_values(
        ["city_id", "year"], ignore_index=True
    )


@dataclass(frozen=True, slots=True)
class _EndYearCodes:
    """Rendered codes of a period, read as its end year alone codes them (a WindowSource).

    New built-up reads as old, so that the areas add up exactly as a :class:`BuiltupLight`
    without ``start`` adds them.
    """

    path: str

    @property
    def grid(self) -> Grid:
        """The codes' grid."""
        with open_raster(self.path) as ds:
            return Grid.of(ds)

    @property
    def nodata(self) -> float:
        """Code 0."""
        return 0.0

    def read(self, window: Window) -> np.ndarray:
        """The codes of one window."""
        with self.reader() as read:
            return read(window)

    @contextlib.contextmanager
    def reader(self) -> Iterator[Callable[[Window], np.ndarray]]:
        """:meth:`read` with the raster opened once."""
        with open_raster(self.path) as ds:
            yield lambda window: _AS_END_YEAR[read_block(ds, window, band=1)[0]]


def new_builtup_metrics(
    zones: Zones | gpd.GeoDataFrame,
    source: BuiltupLight | str | os.PathLike,
    *,
    engine: Engine = Engine(),
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Built-up gained over a period, and the part of it dark at the end, per city.

    Parameters
    ----------
    zones
        Zones prepared on the land-cover grid, or boundaries with ``city_id``.
    source
        Land cover at the end and ``start``, with the night light of the end year; or a
        raster of such a source's codes (:data:`VACANCY_CLASSES`), already computed.
    engine, progress
        As :func:`urbanshrink_gis.zonal.zonal_stats_many`.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``city_id``: ``new_builtup_km2``, ``new_dark_builtup_km2``.
    """
    if isinstance(source, BuiltupLight) and source.start is None:
        raise ConfigError("no start land cover", where="new built-up", fix="give start=")
    areas = _areas_by_code(zones, {0: source}, engine=engine, progress=progress)
    areas = areas.droplevel("key")
    return pd.DataFrame(
        {
            "new_builtup_km2": areas[_NEW_LIT] + areas[_NEW_DARK],
            "new_dark_builtup_km2": areas[_NEW_DARK],
        }
    )
