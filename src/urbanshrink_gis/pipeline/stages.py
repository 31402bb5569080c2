"""The stages of a run: metrics per raster series and year, through checkpoints."""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from urbanshrink_gis import metrics
from urbanshrink_gis._progress import StageProgress, for_stage
from urbanshrink_gis.analysis import (
    match_population,
)
from urbanshrink_gis.errors import (
    ConfigError,
    PopulationError,
    UrbanShrinkWarning,
)
from urbanshrink_gis.export import cog
from urbanshrink_gis.io import series as sources
from urbanshrink_gis.io.boundaries import read_boundaries
from urbanshrink_gis.io.population import interpolate_population, read_population
from urbanshrink_gis.io.rasters import open_raster
from urbanshrink_gis.metrics import vacancy
from urbanshrink_gis.pipeline.checkpoints import Checkpoints, file_fingerprint
from urbanshrink_gis.pipeline.config import RasterConfig, RunConfig
from urbanshrink_gis.pipeline.sources import _year_files, raster_series, resolve_sources
from urbanshrink_gis.products.model import Product
from urbanshrink_gis.zonal.coverage import Coverage
from urbanshrink_gis.zonal.engine import Engine
from urbanshrink_gis.zonal.grid import Grid
from urbanshrink_gis.zonal.zones import Zones

__all__ = ["city_year_table", "new_builtup_table", "period_pixels"]

log = logging.getLogger(__name__)


def city_year_table(
    config: RunConfig,
    boundaries: gpd.GeoDataFrame | None = None,
    *,
    series: Sequence[sources.Series] | None = None,
    checkpoints: str | os.PathLike | None = None,
    engine: Engine = Engine(),
    progress: StageProgress | None = None,
    population: pd.DataFrame | None = None,
    lit_dark: cog.Rendered | None = None,
) -> pd.DataFrame:
    """Metrics of every raster series and the population, one row per city and year.

    Parameters
    ----------
    config
        The run configuration.
    boundaries
        Boundaries already read (read from the configuration otherwise).
    series
        The raster series resolved by :func:`resolve_sources` (resolved here otherwise, with
        mosaics in a temporary folder).
    checkpoints
        Folder of checkpoints: each raster series x year is saved there when done and reused
        while its inputs and settings are unchanged (:mod:`urbanshrink_gis.pipeline.checkpoints`).
    engine
        Where the zonal engine runs (:class:`~urbanshrink_gis.zonal.Engine`); each raster
        series takes its own ``coverage`` from the configuration.
    progress
        Called with (stage name, done, total).
    population
        The ``[population]`` table already read by
        :func:`~urbanshrink_gis.io.population.read_population` (read here otherwise).
    lit_dark
        The period's lit/dark codes already rendered (:func:`period_pixels`): the dark
        built-up of the period's end year is counted on them when they share the land
        cover's grid, instead of warping the light again.

    Returns
    -------
    pandas.DataFrame
        Columns ``city_id, year`` then metrics (``builtup_km2``, ``ntl_sum``, ...) and
        population columns, sorted by city and year.
    """
    b = config.boundaries
    if boundaries is None:
        boundaries = read_boundaries(b.path, id_field=b.id, name_field=b.name, layer=b.layer)
    with contextlib.ExitStack() as stack:
        if series is None:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="urbanshrink-"))
            series = resolve_sources(config, boundaries, folder=folder)
        return _city_year(
            config, boundaries, series, checkpoints, engine, progress, population, lit_dark
        )


def _city_year(
    config: RunConfig,
    boundaries: gpd.GeoDataFrame,
    series: Sequence[sources.Series],
    checkpoints: str | os.PathLike | None,
    engine: Engine,
    progress: StageProgress | None,
    population: pd.DataFrame | None = None,
    lit_dark: cog.Rendered | None = None,
) -> pd.DataFrame:
    store = Checkpoints(checkpoints)
    tables = [
        _series_metrics(config, raster, one, boundaries, store, engine, progress)
        for raster, one in zip(config.rasters, series, strict=True)
    ]
    tables.append(_coverage_table(config, series, boundaries))
    pair = _vacancy_pair(config, series)
    if pair is not None:
        tables.append(_dark_series(config, *pair, boundaries, store, engine, progress, lit_dark))
    if checkpoints is not None:
        log.info("checkpoints: %d reused, %d computed", store.reused, store.computed)
    table = tables[0]
    for more in tables[1:]:
        overlap = [c for c in more.columns if c in table.columns and c not in ("city_id", "year")]
        if overlap:
            raise ConfigError(
                f"two raster series give the same metrics ({', '.join(overlap)})",
                where="[[rasters]]",
                fix="use one land-cover and one night-light series",
            )
        table = table.merge(more, on=["city_id", "year"], how="outer")
    if "dark_builtup_km2" in table:
        share = table["dark_builtup_km2"] / table["builtup_km2"] * 100  # percent
        table["dark_builtup_share_pct"] = share.where(table["builtup_km2"] > 0)
    if config.population is not None:
        pop = read_population(config.population.spec) if population is None else population
        if config.population.interpolate is not None:
            years = sorted(set(table["year"]) | set(pop["year"]))
            pop = interpolate_population(pop, years, method=config.population.interpolate)
        _check_population_years(pop, config)
        pop = match_population(pop, boundaries["city_id"])  # warns what matched nothing
        table = table.merge(pop, on=["city_id", "year"], how="outer")
    return table.sort_values(["city_id", "year"], ignore_index=True)


def _check_population_years(pop: pd.DataFrame, config: RunConfig) -> None:
    """Refuse a population table without rows for the analysis' start or end year."""
    a, spec = config.analysis, config.population.spec  # type: ignore[union-attr]
    present = set(pop["year"])
    missing = [str(y) for y in (a.start, a.end) if y not in present]
    if missing:
        shown = ", ".join(map(str, sorted(present)))
        raise PopulationError(
            f"has no rows for year {' and '.join(missing)} (years present: {shown})",
            where=str(spec.path),
            fix='add that year, set [population] interpolate = "linear" for a year between '
            "censuses, or change [analysis] start / end",
        )


_Pair = tuple[RasterConfig, sources.Series]


def _first_of(
    config: RunConfig, series: Sequence[sources.Series], kind: str
) -> tuple[RasterConfig, sources.Series] | None:
    return next(
        ((r, s) for r, s in zip(config.rasters, series, strict=True) if r.kind == kind), None
    )


def _vacancy_pair(
    config: RunConfig, series: Sequence[sources.Series]
) -> tuple[_Pair, _Pair] | None:
    """The land-cover and night-light series whose dark built-up is measured, if both exist."""
    lc, ntl = _first_of(config, series, "landcover"), _first_of(config, series, "nightlight")
    if lc is None or ntl is None or lc[1].product.kind != "landcover":
        return None
    return lc, ntl


def _fingerprint(config: RunConfig, raster: RasterConfig, series: sources.Series) -> dict[str, Any]:
    """What a checkpoint of one raster series depends on, besides its files."""
    b = config.boundaries
    return {
        "version": importlib.metadata.version("urbanshrink_gis"),
        "boundaries": file_fingerprint(b.path),
        "id": b.id,
        "layer": b.layer,
        "product": repr(series.product),
        "coverage": raster.coverage,
        "lit_threshold": raster.lit_threshold,
        "weights": raster.weights,
        **({} if raster.weights_nodata is None else {"weights_nodata": raster.weights_nodata}),
        "default_value": raster.default_value,
        "population_column": raster.population_column,
        "columns": 2,  # ntl_area_sum was added to the night-light tables
    }


@dataclass
class _LazyZones:
    """Zones prepared on each grid a series uses, only when a year needs computing."""

    boundaries: gpd.GeoDataFrame
    coverage: Coverage
    zones: dict[tuple[Any, ...], Zones] = field(default_factory=dict)

    def on_grid_of(self, path: str, band: int) -> Zones:
        """The zones prepared on the grid of a raster (shared by rasters of that grid)."""
        with open_raster(path, band=band) as ds:
            grid = Grid.of(ds, band)
        key = (tuple(grid.transform), grid.width, grid.height, grid.crs.to_wkt())
        if key not in self.zones:
            self.zones[key] = Zones(self.boundaries, grid, coverage=self.coverage)
        return self.zones[key]


def _through_checkpoints(
    store: Checkpoints,
    units: list[tuple[str, dict[str, Any], Callable[[], pd.DataFrame]]],
    stage: str,
    progress: StageProgress | None,
) -> list[pd.DataFrame]:
    """Tables of units ``(label, fingerprint, compute)``, reused from checkpoints when fresh."""
    if progress is not None:
        progress(stage, 0, len(units))  # the stage starts: a bar shows before the first unit
    tables = []
    for done, (label, fingerprint, compute) in enumerate(units, start=1):
        key = store.key(label, fingerprint)
        table = store.load(key)
        if table is None:
            table = compute()
            store.save(key, table)
        tables.append(table)
        if progress is not None:
            progress(stage, done, len(units))
    return tables


def _dark_series(
    config: RunConfig,
    lc_pair: _Pair,
    ntl_pair: _Pair,
    boundaries: gpd.GeoDataFrame,
    store: Checkpoints,
    engine: Engine,
    progress: StageProgress | None,
    lit_dark: cog.Rendered | None = None,
) -> pd.DataFrame:
    """Dark built-up km² for every year that has both land cover and night light.

    The period's end year is counted on ``lit_dark`` (its rendered codes) when they lie on
    that year's land-cover grid: the same pixels, the light not warped again.
    """
    (lc, lc_series), (ntl, ntl_series) = lc_pair, ntl_pair
    base = {
        "landcover": _fingerprint(config, lc, lc_series),
        "nightlight": _fingerprint(config, ntl, ntl_series),
    }
    zones = _LazyZones(boundaries, lc.coverage)
    _, end = _period_years(config, lc_series)

    def compute(year: int) -> pd.DataFrame:
        landcover = lc_series.path(year)
        prepared = zones.on_grid_of(landcover, lc_series.product.band)
        pair: tuple[str, str] | Path = (landcover, ntl_series.path(year))
        if year == end and lit_dark is not None and _on_grid(lit_dark.vrt, prepared.grid):
            pair = lit_dark.vrt
        return vacancy.dark_builtup_metrics(
            prepared, {year: pair}, lc_series.product, ntl_series.product,
            threshold=ntl.lit_threshold, engine=engine.with_coverage(lc.coverage),
        )  # fmt: skip

    units = [
        (
            f"dark-{year}",
            {**base, "files": _year_files(lc_series, year) + _year_files(ntl_series, year)},
            functools.partial(compute, year),
        )
        for year in sorted(set(lc_series.files) & set(ntl_series.files))
    ]
    tables = _through_checkpoints(store, units, "dark built-up", progress)
    columns = ["city_id", "year", "dark_builtup_km2"]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=columns)


def _on_grid(path: str | os.PathLike, grid: Grid) -> bool:
    """Whether a raster has the pixels of ``grid``."""
    with open_raster(path) as ds:
        return Grid.of(ds).same_as(grid)


def _series_metrics(
    config: RunConfig,
    raster: RasterConfig,
    series: sources.Series,
    boundaries: gpd.GeoDataFrame,
    store: Checkpoints,
    engine: Engine,
    progress: StageProgress | None,
) -> pd.DataFrame:
    """Metrics of one raster series, year by year, through the checkpoints.

    A year of tiles in several CRSs is measured on each CRS group's grid (the zones
    reprojected to each) and the groups' areas and sums are added.
    """
    product = series.product
    weights = _weights_series(raster, series.years)
    base = _fingerprint(config, raster, series)
    zones = _LazyZones(boundaries, raster.coverage)

    def compute(year: int) -> pd.DataFrame:
        tables = []
        for path in series.groups[year].values():
            prepared = zones.on_grid_of(path, product.band)
            tables.append(_year_metrics(
                raster, product, prepared, {year: path}, engine.with_coverage(raster.coverage),
                weights=None if weights is None else {year: weights[year]},
            ))  # fmt: skip
        return tables[0] if len(tables) == 1 else metrics.add_groups(tables, product)

    units = [
        (
            f"{raster.kind}-{product.name}-{year}",
            {
                **base,
                "raster": _year_files(series, year),
                **({} if weights is None else {"weights_file": file_fingerprint(weights[year])}),
            },
            functools.partial(compute, year),
        )
        for year in series.years
    ]
    stage = f"{raster.kind} {product.name}"
    return pd.concat(_through_checkpoints(store, units, stage, progress), ignore_index=True)


def _weights_series(raster: RasterConfig, years: tuple[int, ...]) -> dict[int, str] | None:
    """Year to weights raster of a series: its ``{year}`` pattern, or one file for all years."""
    if raster.weights is None:
        return None
    pattern, root = raster.own_pattern(raster.weights)  # a folder's {year} is no placeholder
    if "{year}" in pattern:
        return raster_series(pattern, years, root=root)
    return dict.fromkeys(years, raster.weights)


def _year_metrics(
    raster: RasterConfig,
    product: Product,
    zones: Zones,
    series: dict[int, str],
    engine: Engine,
    *,
    weights: dict[int, str] | None = None,
) -> pd.DataFrame:
    if raster.kind == "landcover":
        return metrics.landcover_metrics(zones, series, product, engine=engine)
    if raster.kind == "population":
        return metrics.population_metrics(
            zones, series, product, default_value=raster.default_value,
            column=raster.population_column, engine=engine,
        )  # fmt: skip
    return metrics.nightlight_metrics(
        zones, series, product, lit_threshold=raster.lit_threshold, weights=weights,
        weights_nodata=raster.weights_nodata, engine=engine,
    )  # fmt: skip


def _coverage_table(
    config: RunConfig, series: Sequence[sources.Series], boundaries: gpd.GeoDataFrame
) -> pd.DataFrame:
    """Share of each city inside each year's files, per series kind; warns of partial cover."""
    frames = []
    for raster, one in zip(config.rasters, series, strict=True):
        share = sources.covered_share(one, boundaries)
        column = f"{raster.kind}_covered_pct"
        frame = share.rename(column).reset_index()
        frames.append(frame)
        partial = frame[frame[column] < 99.9]
        if len(partial):
            ids = ", ".join(partial["city_id"].drop_duplicates().astype(str).head(5))
            warnings.warn(
                f"{raster.label}: {partial['city_id'].nunique()} cities are not fully inside "
                f"the files of some years (first: {ids}); see {column} in city_year",
                UrbanShrinkWarning,
                stacklevel=3,
            )
    table = frames[0]
    for more in frames[1:]:
        table = table.merge(more, on=["city_id", "year"], how="outer")
    return table


def new_builtup_table(
    config: RunConfig,
    boundaries: gpd.GeoDataFrame,
    series: Sequence[sources.Series],
    *,
    checkpoints: str | os.PathLike | None = None,
    lit_dark: cog.Rendered | None = None,
    engine: Engine = Engine(),
    progress: StageProgress | None = None,
) -> pd.DataFrame | None:
    """Built-up gained over the analysis period and the part of it dark at the end, per city.

    The land cover of the period's first and last years with the night light of the last (see
    :func:`vacancy_source`), through the checkpoints like a raster series x year; None
    without such a pair. Columns as :func:`urbanshrink_gis.metrics.vacancy.new_builtup_metrics`.
    With ``lit_dark``, the codes already rendered by :func:`period_pixels` (from ``series``),
    the table counts them, so that every scope and the ``new_builtup_dark.tif`` raster share
    one computation of them.
    """
    pair, source = _vacancy_pair(config, series), vacancy_source(config, series)
    if pair is None or source is None:
        return None
    (lc, _), _ = pair
    fingerprint = _new_builtup_fingerprint(config, series)
    stage = "new built-up"
    step = None if progress is None else for_stage(progress, stage)

    def compute() -> pd.DataFrame:
        codes = source if lit_dark is None else os.fspath(lit_dark.vrt)
        return vacancy.new_builtup_metrics(
            boundaries, codes, engine=engine.with_coverage(lc.coverage), progress=step,
        )  # fmt: skip

    store = Checkpoints(checkpoints)
    (table,) = _through_checkpoints(store, [("new-builtup", fingerprint, compute)], stage, None)
    if store.reused:
        log.info("checkpoints: new built-up reused")
        if progress is not None:
            progress(stage, 1, 1)
    return table


#: The rasters whose pixels :func:`period_pixels` renders ahead of their COGs, and where.
LIT_DARK = "new_builtup_dark.tif"
_CHANGE = "builtup_change_{}_{}.tif"
PIXEL_DIR = "pixels"  # under OUT/.checkpoints; removed once the outputs are in place
_DONE = "done"  # written in a render folder once every strip is
_LAYERS = {"lit-dark": LIT_DARK, "change": _CHANGE}  # render subfolder: raster


def builtup_change_name(first: int, last: int) -> str:
    """File name of the built-up change raster between two years."""
    return _CHANGE.format(first, last)


def rendered_ahead(names: Collection[str]) -> list[str]:
    """Which of a run's rasters (by name) :func:`period_pixels` renders: none without lit/dark."""
    if LIT_DARK not in names:
        return []
    return [n for n in names if n == LIT_DARK or n.startswith(_CHANGE.split("{")[0])]


def period_pixels(
    config: RunConfig,
    series: Sequence[sources.Series],
    folder: str | os.PathLike,
    *,
    engine: Engine = Engine(),
    progress: StageProgress | None = None,
) -> dict[str, cog.Rendered]:
    """The period's lit/dark codes (:data:`LIT_DARK`) and built-up change, rendered once.

    Both come from one read of the period's first and last land cover (and the light of the
    last, warped once), strip by strip on the engine's scheduler, into tiled GeoTIFFs under
    ``folder/<label-digest>/`` (the digest of the inputs, as a checkpoint's). The lit/dark
    codes are then counted by every scope's dark and new built-up tables, and both become
    their rasters' COGs; a render that did not finish (no ``done`` file) is computed again.

    Returns
    -------
    dict
        Raster file name (:data:`LIT_DARK`, ``builtup_change_<first>_<last>.tif``) to its
        rendered strips.

    Raises
    ------
    ConfigError
        The run has no land cover and night light sharing the period's end.
    """
    source = vacancy_source(config, series)
    if source is None:
        raise ConfigError(
            "no lit/dark pixels: land cover and night light share no period end",
            where="[[rasters]]",
            fix="give night light for the land cover's last year within [analysis]",
        )
    with open_raster(source.landcover, band=source.landcover_product.band) as ref:
        profile = {"crs": ref.crs, "transform": ref.transform,
                   "width": ref.width, "height": ref.height}  # fmt: skip
        bh, bw = ref.block_shapes[source.landcover_product.band - 1]
    (_, lc_series), (ntl, ntl_series) = _vacancy_pair(config, series)  # type: ignore[misc]
    first, last = _period_years(config, lc_series)
    fingerprint = {  # the pixels: not the boundaries, so that every scope shares them
        "version": importlib.metadata.version("urbanshrink_gis"),
        "products": [repr(lc_series.product), repr(ntl_series.product)],
        "lit_threshold": ntl.lit_threshold,
        "files": _year_files(lc_series, first, last) + _year_files(ntl_series, last),
        "grid": [list(profile["transform"])[:6], profile["width"], profile["height"]],
        "layers": list(_LAYERS),
    }
    here = Path(folder) / Checkpoints.key("period", fingerprint).removesuffix(".pkl")
    names = [name.format(first, last) for name in _LAYERS.values()]
    folders = [here / layer for layer in _LAYERS]
    if (here / _DONE).exists():
        return {name: _rendered_in(f) for name, f in zip(names, folders, strict=True)}
    shutil.rmtree(here, ignore_errors=True)  # an unfinished render of a killed run
    for f in folders:
        f.mkdir(parents=True)
    stage = "pixels (lit/dark, built-up change)"
    step = None if progress is None else for_stage(progress, stage)
    rendered = cog.render_layers(
        folders, profile, source.with_change(), dtype="uint8", nodata=0, overviews=True,
        engine=engine, block={"blockxsize": bw, "blockysize": bh}, progress=step,
    )  # fmt: skip
    (here / _DONE).touch()
    return dict(zip(names, rendered, strict=True))


def _rendered_in(folder: Path) -> cog.Rendered:
    """The strips a finished render left in ``folder``, its overview levels' included."""
    levels = sorted(folder.glob("overview-*"), key=lambda f: int(f.name.split("-")[1]))
    return cog.Rendered(
        tuple(sorted(folder.glob("part-*.tif"))), folder / "blocks.vrt", np.empty(0),
        tuple(tuple(sorted(level.glob("part-*.tif"))) for level in levels),
    )  # fmt: skip


def _new_builtup_fingerprint(config: RunConfig, series: Sequence[sources.Series]) -> dict[str, Any]:
    """What the new built-up table depends on, besides the code."""
    (lc, lc_series), (ntl, ntl_series) = _vacancy_pair(config, series)  # type: ignore[misc]
    first, last = _period_years(config, lc_series)
    return {
        "landcover": _fingerprint(config, lc, lc_series),
        "nightlight": _fingerprint(config, ntl, ntl_series),
        "files": _year_files(lc_series, first, last) + _year_files(ntl_series, last),
    }


def _period_years(config: RunConfig, series: sources.Series) -> tuple[int, int]:
    """First and last year of a series within ``[analysis] start..end`` (equal when < 2)."""
    a = config.analysis
    years = [y for y in series.years if a.start <= y <= a.end] or [0]
    return years[0], years[-1]


def vacancy_source(
    config: RunConfig, series: Sequence[sources.Series]
) -> vacancy.BuiltupLight | None:
    """Land cover at the period's first and last years with the night light of the last.

    None unless the run has both series and the night light covers the land cover's last
    year within ``[analysis] start..end``.
    """
    pair = _vacancy_pair(config, series)
    if pair is None:
        return None
    (_, lc), (ntl_config, ntl) = pair
    first, last = _period_years(config, lc)
    if first == last or last not in ntl.files:
        log.info("no dark built-up change: land cover and night light share no period end")
        return None
    return vacancy.BuiltupLight(
        lc.path(last), ntl.path(last), lc.product, ntl.product,
        threshold=ntl_config.lit_threshold, start=lc.path(first),
    )  # fmt: skip
