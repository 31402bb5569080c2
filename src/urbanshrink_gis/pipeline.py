"""The whole job: a TOML run configuration, validated once, and ``run`` in stage order.

Stages: read boundaries -> land-cover and night-light metrics per city and year -> population
join -> analysis (flags, indicators, tallies) -> export. Paths in a configuration file are
relative to that file's folder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import functools
import importlib.metadata
import logging
import os
import re
import shutil
import tempfile
import tomllib
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import geopandas as gpd
import pandas as pd
import rasterio
from pyproj import CRS

from urbanshrink_gis import change, cog, export, metrics, qgisxml, vacancy
from urbanshrink_gis._checkpoints import CHECKPOINT_DIR, Checkpoints, file_fingerprint
from urbanshrink_gis.analysis import (
    AnalysisConfig,
    analyse,
    match_population,
    sensitivity,
    summarise,
)
from urbanshrink_gis.demo import write_demo_data
from urbanshrink_gis.errors import ConfigError, PopulationError, RasterError
from urbanshrink_gis.io.boundaries import read_boundaries
from urbanshrink_gis.io.population import PopulationSpec, interpolate_population, read_population
from urbanshrink_gis.io.rasters import open_raster, reading_env
from urbanshrink_gis.products import Product, custom_product, get_product
from urbanshrink_gis.zonal import Coverage, Grid, Zones

__all__ = [
    "BoundariesConfig",
    "OutputConfig",
    "PopulationConfig",
    "RasterConfig",
    "RasterPlan",
    "RunConfig",
    "RunResult",
    "city_year_table",
    "discover_years",
    "load_config",
    "new_builtup_table",
    "raster_plans",
    "raster_series",
    "read_city_year",
    "report_from_outputs",
    "run",
    "run_demo",
]

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
RASTER_DIR = "rasters"
_TREND_NAMES = {"ols": "OLS", "theil_sen": "Theil-Sen"}
RasterKind = Literal["landcover", "nightlight"]
Interpolation = Literal["linear", "loglinear"]


@dataclass(frozen=True, slots=True)
class BoundariesConfig:
    """Where the city boundaries are and which fields identify and name the cities.

    Parameters
    ----------
    path
        Vector file (any OGR format).
    id
        Field with the city code (kept as text).
    layer
        Layer of a multi-layer file.
    name
        Field with the city name.
    province
        Field with the province name (for the regional tallies); else the first two digits of
        a 6-digit code.
    """

    path: Path
    id: str = "adcode"
    layer: str | None = None
    name: str | None = None
    province: str | None = None


@dataclass(frozen=True, slots=True)
class RasterConfig:
    """One raster series: its product preset and a path pattern with ``{year}``.

    Parameters
    ----------
    kind
        ``"landcover"`` or ``"nightlight"``.
    product
        Preset name (see :func:`urbanshrink_gis.products.product_names`) or ``"custom"``.
    path
        Path pattern containing ``{year}``.
    years
        Years to use; discovered from the files matching the pattern when omitted.
    coverage
        Pixel rule of the zonal engine.
    lit_threshold
        Night light: overrides the preset's lit threshold.
    overrides
        Preset fields to override (nodata, scale, builtup_classes, ...); all fields of a
        custom product.
    """

    kind: RasterKind
    product: str
    path: str
    years: tuple[int, ...] | None = None
    coverage: Coverage = "center"
    lit_threshold: float | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)

    def preset(self) -> Product:
        """The product preset with the overrides applied."""
        if self.product.lower() == "custom":
            return custom_product(kind=self.kind, **self.overrides)
        base = get_product(self.product)
        return base.replace(**self.overrides) if self.overrides else base


@dataclass(frozen=True, slots=True)
class PopulationConfig:
    """The population table and whether years between censuses may be interpolated."""

    spec: PopulationSpec
    interpolate: Interpolation | None = None


@dataclass(frozen=True, slots=True)
class OutputConfig:
    """Output folder and choices of the written outputs.

    Parameters
    ----------
    dir
        Output folder.
    trend
        Per-pixel night-light trend: ordinary least squares (``"ols"``) or the median of
        pairwise slopes (``"theil_sen"``, robust to a single odd year).
    """

    dir: Path = Path("outputs")
    trend: change.TrendMethod = "ols"


@dataclass(frozen=True, slots=True)
class RunConfig:
    """A whole run, validated once by :func:`load_config`."""

    boundaries: BoundariesConfig
    rasters: tuple[RasterConfig, ...]
    analysis: AnalysisConfig
    population: PopulationConfig | None = None
    output: OutputConfig = OutputConfig()


@dataclass(frozen=True, slots=True)
class RunResult:
    """Tables of a run and the files written (``sensitivity``: the threshold grid)."""

    city_year: pd.DataFrame
    cities: gpd.GeoDataFrame
    summary: pd.DataFrame
    files: tuple[Path, ...]
    sensitivity: pd.DataFrame | None = None


_SECTIONS = ("boundaries", "rasters", "population", "analysis", "output")


def load_config(path: str | os.PathLike) -> RunConfig:
    """Read and validate a TOML run configuration.

    Parameters
    ----------
    path
        The ``.toml`` file; relative paths inside are resolved against its folder.

    Returns
    -------
    RunConfig

    Raises
    ------
    ConfigError
        The file is missing or not TOML, a key is unknown (the nearest valid one is named), a
        value has the wrong type, or a required section or key is absent.
    """
    file = Path(path)
    if not file.exists():
        raise ConfigError("file not found", where=str(file), fix="check the configuration path")
    if file.is_dir():
        raise ConfigError(
            "is a folder, not a file", where=str(file), fix="give the configuration (.toml) file"
        )
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(
            f"cannot be read ({err.strerror})", where=str(file), fix="check its permissions"
        ) from err
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"not valid TOML ({err})", where=str(file), fix="fix the syntax") from err
    return config_from_dict(raw, base=file.parent, source=str(file))


def config_from_dict(raw: Mapping[str, Any], *, base: Path, source: str = "config") -> RunConfig:
    """Build a :class:`RunConfig` from parsed TOML (see :func:`load_config`)."""
    _check_keys(raw, _SECTIONS, source)
    for section in ("boundaries", "rasters", "analysis"):
        if section not in raw:
            raise ConfigError(
                f"missing section [{section}]", where=source, fix=f"add a [{section}] table"
            )
    b = _build(BoundariesConfig, raw["boundaries"], f"{source} [boundaries]")
    boundaries = dataclasses.replace(b, path=_resolve(base, b.path))
    rasters_raw = raw["rasters"]
    if not isinstance(rasters_raw, list) or not rasters_raw:
        raise ConfigError(
            "[[rasters]] must list at least one raster series",
            where=source,
            fix='add [[rasters]] tables with kind, product and path = "...{year}..."',
        )
    rasters = tuple(
        _raster(r, base, f"{source} [[rasters]] #{i + 1}") for i, r in enumerate(rasters_raw)
    )
    analysis = _build(AnalysisConfig, raw["analysis"], f"{source} [analysis]")
    population = None
    if "population" in raw:
        if not isinstance(raw["population"], Mapping):
            raise ConfigError(
                "is not a table",
                where=f"{source} [population]",
                fix="write it as [population] key = value",
            )
        pop = dict(raw["population"])
        interpolate = pop.pop("interpolate", None)
        spec = _build(PopulationSpec, pop, f"{source} [population]")
        spec = dataclasses.replace(spec, path=str(_resolve(base, Path(spec.path))))
        population = _build(
            PopulationConfig, {"spec": spec, "interpolate": interpolate}, f"{source} [population]"
        )
    output = OutputConfig()
    if "output" in raw:
        o = _build(OutputConfig, raw["output"], f"{source} [output]")
        output = dataclasses.replace(o, dir=_resolve(base, o.dir))
    return RunConfig(boundaries, rasters, analysis, population, output)


def _raster(raw: Any, base: Path, where: str) -> RasterConfig:
    if not isinstance(raw, Mapping):
        raise ConfigError("is not a table", where=where, fix="write it as [[rasters]] key = value")
    own = {f.name for f in dataclasses.fields(RasterConfig)} - {"overrides"}
    known = {k: v for k, v in raw.items() if k in own}
    overrides = {k: v for k, v in raw.items() if k not in own}
    if overrides and str(raw.get("product", "")).lower() != "custom":
        product_fields = {f.name for f in dataclasses.fields(Product)}
        _check_keys(overrides, tuple(sorted(own | product_fields)), where)
    cfg = _build(RasterConfig, known, where)
    if "{year}" not in cfg.path:
        raise ConfigError(
            f"path {cfg.path!r} has no {{year}}",
            where=where,
            fix='write the year as {year}, e.g. path = "ntl/vnl2_{year}.tif"',
        )
    path = cfg.path if cfg.path.startswith("/vsi") else str(_resolve(base, Path(cfg.path)))
    cfg = dataclasses.replace(cfg, path=path, overrides=overrides)
    try:
        cfg.preset()  # an unknown preset or a bad override stops the run before any work
    except ConfigError as err:
        raise _located(err, where) from err
    return cfg


def _located(err: ConfigError, where: str) -> ConfigError:
    """The same error, its place prefixed by the configuration file and table."""
    if err.where and err.where not in where:
        where = f"{where} ({err.where})"
    return type(err)(err.what, where=where, fix=err.fix)


def _resolve(base: Path, path: Path) -> Path:
    return path if path.is_absolute() else base / path


def _check_keys(raw: Mapping[str, Any], valid: tuple[str, ...] | list[str], where: str) -> None:
    for key in raw:
        if key not in valid:
            near = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
            hint = f"did you mean {near[0]!r}?" if near else f"valid keys: {', '.join(valid)}"
            raise ConfigError(f"unknown key {key!r}", where=where, fix=hint)


def _build(cls: type, raw: Any, where: str) -> Any:
    """Instantiate a config dataclass from a TOML table, checking keys and value types."""
    if not isinstance(raw, Mapping):
        raise ConfigError("is not a table", where=where, fix="write it as [section] key = value")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    _check_keys(raw, list(fields), where)
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in raw.items():
        values[key] = _coerce(value, hints[key], f"{where} {key}")
    missing = [
        name
        for name, f in fields.items()
        if name not in values
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(
            f"missing key(s) {', '.join(missing)}", where=where, fix="add them to the table"
        )
    try:
        return cls(**values)
    except ConfigError as err:
        raise _located(err, where) from err
    except (TypeError, ValueError) as err:
        raise ConfigError(str(err), where=where, fix="check the values") from err


def _coerce(value: Any, hint: Any, where: str) -> Any:  # noqa: C901 - one branch per type form
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, where)
            except ConfigError as err:
                errors.append(err)
        raise errors[0]
    if origin is Literal:
        if value not in args:
            near = difflib.get_close_matches(str(value), [str(a) for a in args], n=1)
            hint_text = f"did you mean {near[0]!r}? " if near else ""
            raise ConfigError(
                f"{value!r} is not one of {', '.join(map(repr, args))}",
                where=where,
                fix=f"{hint_text}choose one of them",
            )
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{value!r} is not a list", where=where, fix="write [a, b, ...]")
        inner = args[0] if args else Any
        return tuple(_coerce(v, inner, where) for v in value)
    if origin in (Mapping, dict) or hint is Any:
        return value
    if hint is Path:
        if not isinstance(value, str):
            raise ConfigError(f"{value!r} is not a path", where=where, fix="write a quoted path")
        return Path(value)
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint) and isinstance(value, hint):
        return value
    if (isinstance(hint, type) and not isinstance(value, hint)) or (
        isinstance(value, bool) and hint is not bool
    ):
        name = getattr(hint, "__name__", str(hint))
        raise ConfigError(
            f"{value!r} is a {type(value).__name__}, not {name}",
            where=where,
            fix=f"write a {name} value",
        )
    return value


def discover_years(pattern: str) -> tuple[int, ...]:
    """Years whose file exists for a ``{year}`` path pattern, sorted."""
    path = Path(pattern)
    glob = path.name.replace("{year}", "*")
    regex = re.compile(re.escape(path.name).replace(re.escape("{year}"), r"(\d{4})") + "$")
    years = []
    if path.parent.is_dir():
        for candidate in path.parent.glob(glob):
            m = regex.match(candidate.name)
            if m:
                years.append(int(m.group(1)))
    return tuple(sorted(years))


def raster_series(pattern: str, years: tuple[int, ...] | None = None) -> dict[int, str]:
    """Year to path for a ``{year}`` pattern: the given years, else those found on disk.

    Raises
    ------
    RasterError
        The pattern has no ``{year}`` or no file matches it.
    """
    if "{year}" not in pattern:
        raise RasterError(
            "path pattern has no {year}",
            where=pattern,
            fix='write the year as {year}, e.g. "ntl/vnl2_{year}.tif"',
        )
    years = years or discover_years(pattern)
    if not years:
        raise RasterError(
            "no file matches the {year} pattern",
            where=pattern,
            fix="check the folder and file names, or list the years",
        )
    return {y: pattern.replace("{year}", str(y)) for y in years}


def city_year_table(
    config: RunConfig,
    boundaries: gpd.GeoDataFrame | None = None,
    *,
    checkpoints: str | os.PathLike | None = None,
    scheduler: str = "threads",
    workers: int | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Metrics of every raster series and the population, one row per city and year.

    Parameters
    ----------
    config
        The run configuration.
    boundaries
        Boundaries already read (read from the configuration otherwise).
    checkpoints
        Folder of checkpoints: each raster series x year is saved there when done and reused
        while its inputs and settings are unchanged (see :mod:`urbanshrink_gis._checkpoints`).
    scheduler, workers
        Where the zonal engine runs (see :mod:`urbanshrink_gis.parallel`).
    progress
        Called with (stage name, done, total).

    Returns
    -------
    pandas.DataFrame
        Columns ``city_id, year`` then metrics (``builtup_km2``, ``ntl_sum``, ...) and
        population columns, sorted by city and year.
    """
    b = config.boundaries
    if boundaries is None:
        boundaries = read_boundaries(b.path, id_field=b.id, name_field=b.name, layer=b.layer)
    store = Checkpoints(checkpoints)
    tables = [
        _series_metrics(config, raster, boundaries, store, scheduler, workers, progress)
        for raster in config.rasters
    ]
    pair = _vacancy_pair(config)
    if pair is not None:
        tables.append(_dark_series(config, *pair, boundaries, store, scheduler, workers, progress))
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
        pop = read_population(config.population.spec)
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


def _vacancy_pair(config: RunConfig) -> tuple[RasterConfig, RasterConfig] | None:
    """The land-cover and night-light series whose dark built-up is measured, if both exist."""
    lc = next((r for r in config.rasters if r.kind == "landcover"), None)
    ntl = next((r for r in config.rasters if r.kind == "nightlight"), None)
    if lc is None or ntl is None or lc.preset().kind != "landcover":
        return None
    return lc, ntl


def _fingerprint(config: RunConfig, raster: RasterConfig) -> dict[str, Any]:
    """What a checkpoint of one raster series depends on, besides its files."""
    b = config.boundaries
    return {
        "version": importlib.metadata.version("urbanshrink_gis"),
        "boundaries": file_fingerprint(b.path),
        "id": b.id,
        "layer": b.layer,
        "product": repr(raster.preset()),
        "coverage": raster.coverage,
        "lit_threshold": raster.lit_threshold,
    }


@dataclass
class _LazyZones:
    """Zones prepared on the grid of a series' first raster, only when a year needs computing."""

    boundaries: gpd.GeoDataFrame
    coverage: Coverage
    zones: Zones | None = None

    def on_grid_of(self, path: str, band: int) -> Zones:
        """The prepared zones (every year of a series shares its grid)."""
        if self.zones is None:
            with open_raster(path, band=band) as ds:
                self.zones = Zones(self.boundaries, Grid.of(ds, band), coverage=self.coverage)
        return self.zones


def _through_checkpoints(
    store: Checkpoints,
    units: list[tuple[str, dict[str, Any], Callable[[], pd.DataFrame]]],
    stage: str,
    progress: Progress | None,
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
    lc: RasterConfig,
    ntl: RasterConfig,
    boundaries: gpd.GeoDataFrame,
    store: Checkpoints,
    scheduler: str,
    workers: int | None,
    progress: Progress | None,
) -> pd.DataFrame:
    """Dark built-up km² for every year that has both land cover and night light."""
    lc_series, ntl_series = raster_series(lc.path, lc.years), raster_series(ntl.path, ntl.years)
    base = {"landcover": _fingerprint(config, lc), "nightlight": _fingerprint(config, ntl)}
    lc_product, ntl_product = lc.preset(), ntl.preset()
    zones = _LazyZones(boundaries, lc.coverage)

    def compute(year: int) -> pd.DataFrame:
        return vacancy.dark_builtup_metrics(
            zones.on_grid_of(lc_series[year], lc_product.band),
            {year: (lc_series[year], ntl_series[year])}, lc_product, ntl_product,
            threshold=ntl.lit_threshold, coverage=lc.coverage, scheduler=scheduler,
            workers=workers,
        )  # fmt: skip

    units = [
        (
            f"dark-{year}",
            {
                **base,
                "files": [file_fingerprint(lc_series[year]), file_fingerprint(ntl_series[year])],
            },
            functools.partial(compute, year),
        )
        for year in sorted(set(lc_series) & set(ntl_series))
    ]
    tables = _through_checkpoints(store, units, "dark built-up", progress)
    columns = ["city_id", "year", "dark_builtup_km2"]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=columns)


def _series_metrics(
    config: RunConfig,
    raster: RasterConfig,
    boundaries: gpd.GeoDataFrame,
    store: Checkpoints,
    scheduler: str,
    workers: int | None,
    progress: Progress | None,
) -> pd.DataFrame:
    """Metrics of one raster series, year by year, through the checkpoints."""
    series = raster_series(raster.path, raster.years)
    product = raster.preset()
    base = _fingerprint(config, raster)
    zones = _LazyZones(boundaries, raster.coverage)

    def compute(year: int, path: str) -> pd.DataFrame:
        prepared = zones.on_grid_of(path, product.band)
        return _year_metrics(raster, product, prepared, {year: path}, scheduler, workers)

    units = [
        (
            f"{raster.kind}-{product.name}-{year}",
            {**base, "raster": file_fingerprint(path)},
            functools.partial(compute, year, path),
        )
        for year, path in sorted(series.items())
    ]
    stage = f"{raster.kind} {product.name}"
    return pd.concat(_through_checkpoints(store, units, stage, progress), ignore_index=True)


def _year_metrics(
    raster: RasterConfig,
    product: Product,
    zones: Zones,
    series: dict[int, str],
    scheduler: str,
    workers: int | None,
) -> pd.DataFrame:
    engine = dict(coverage=raster.coverage, scheduler=scheduler, workers=workers)
    if raster.kind == "landcover":
        return metrics.landcover_metrics(zones, series, product, **engine)
    return metrics.nightlight_metrics(
        zones, series, product, lit_threshold=raster.lit_threshold, **engine
    )


def _stage(progress: Progress, name: str) -> Callable[[int, int], None]:
    def step(done: int, total: int) -> None:
        progress(name, done, total)

    return step


def run(
    config: RunConfig,
    *,
    out_dir: str | os.PathLike | None = None,
    overwrite: bool = False,
    scheduler: str = "threads",
    workers: int | None = None,
    with_report: bool = True,
    progress: Progress | None = None,
) -> RunResult:
    """Run the whole job and write its outputs.

    Parameters
    ----------
    config
        The validated configuration.
    out_dir
        Overrides ``[output] dir``.
    overwrite
        Replace existing outputs; without it an existing output stops the run before any work.
    scheduler, workers
        Where the zonal engine runs (see :mod:`urbanshrink_gis.parallel`); results are the same.
    with_report
        Also write ``report/`` (charts and report.html); without it, the GeoPackage, CSVs and
        rasters only (``urbanshrink export``).
    progress
        Called with (stage name, done, total).

    Returns
    -------
    RunResult
        The ``city_year``, ``cities``, ``summary`` and ``sensitivity`` tables (see
        :func:`urbanshrink_gis.analysis.sensitivity`) and the files written.

    Notes
    -----
    Every raster series x year is checkpointed under ``OUT/.checkpoints``: a run that was
    killed, or is repeated with some inputs changed, recomputes only what is missing or stale.
    """
    out = Path(out_dir) if out_dir is not None else config.output.dir
    plans = raster_plans(config)
    _check_outputs(out, overwrite, [f"{RASTER_DIR}/{p.name}" for p in plans], with_report)
    b = config.boundaries
    boundaries = read_boundaries(b.path, id_field=b.id, name_field=b.name, layer=b.layer)
    city_year = city_year_table(
        config, boundaries, checkpoints=out / CHECKPOINT_DIR, scheduler=scheduler,
        workers=workers, progress=progress,
    )  # fmt: skip
    new = new_builtup_table(
        config, boundaries, checkpoints=out / CHECKPOINT_DIR, scheduler=scheduler,
        workers=workers, progress=progress,
    )  # fmt: skip
    gained = None if new is None else new["new_builtup_km2"]  # for the hollowing rule
    table = analyse(city_year, config.analysis, new_builtup=gained)
    sens = sensitivity(city_year, config.analysis, new_builtup=gained)
    if new is not None:
        table = table.join(new)
    keep = ["city_id", *(["name"] if b.name else []), "geometry"]
    cities = boundaries[keep].merge(table.reset_index(), on="city_id", how="left")
    province = boundaries.set_index("city_id")[b.province] if b.province else None
    summary = summarise(table, province)
    with _staged(out) as stage:  # all files or none: a late failure keeps the previous run's
        layers = []
        for plan in plans:
            step = None if progress is None else _stage(progress, f"raster {plan.name}")
            layers.append(plan.write(stage / RASTER_DIR, overwrite=True, progress=step))
        files = export.write_run(
            stage, city_year, cities, summary, rasters=[lay for lay, _ in layers],
            sensitivity=sens, overwrite=True,
        )  # fmt: skip
        pages = (
            _report().write_report(
                stage / "report", cities, city_year, summary, sensitivity=sens, overwrite=True
            )
            if with_report
            else ()
        )
        written = (*files, *(p for _, p in layers), *pages)
    paths = tuple(out / p.relative_to(stage) for p in written)
    return RunResult(city_year, cities, summary, paths, sens)


@contextlib.contextmanager
def _staged(out: Path) -> Iterator[Path]:
    """A hidden folder in ``out`` for a run's files, moved into place only once all are written.

    Only renames remain after the last file is complete, so a failure leaves the previous
    run's outputs as they were and no temporary file behind.
    """
    out.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".staging-", dir=out))
    try:
        yield stage
        for src in sorted(p for p in stage.rglob("*") if p.is_file()):
            dst = out / src.relative_to(stage)
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _check_outputs(
    out: Path, overwrite: bool, rasters: Sequence[str] = (), with_report: bool = True
) -> None:
    pages = [f"report/{n}" for n in _report().REPORT_FILES] if with_report else []
    export.check_outputs(out, [*export.RUN_OUTPUTS, *rasters, *pages], overwrite=overwrite)


def _report() -> ModuleType:
    """The report stage, imported on first use: only runs that write a report load matplotlib."""
    from urbanshrink_gis import report

    return report


def report_from_outputs(out_dir: str | os.PathLike, *, overwrite: bool = False) -> tuple[Path, ...]:
    """Write ``report/`` again from the tables of an earlier run in ``out_dir``.

    Raises
    ------
    ConfigError
        ``out_dir`` holds no run (no ``urbanshrink.gpkg`` or CSV tables).
    """
    out = Path(out_dir)
    gpkg = out / "urbanshrink.gpkg"
    if not gpkg.exists():
        raise ConfigError(
            "holds no run (no urbanshrink.gpkg)", where=str(out), fix="run `urbanshrink run` first"
        )
    cities = gpd.read_file(gpkg, layer="cities", engine="pyogrio")
    city_year = read_city_year(out / "city_year.csv")
    summary = pd.read_csv(out / "summary.csv", index_col=0)
    sens = out / "sensitivity.csv"  # absent in runs of earlier versions
    sens = pd.read_csv(sens, index_col=[0, 1]) if sens.exists() else None
    return _report().write_report(
        out / "report", cities, city_year, summary, sensitivity=sens, overwrite=overwrite
    )


@dataclass(frozen=True, slots=True)
class RasterPlan:
    """One change or trend raster a run writes (``rasters/<name>``) and how."""

    name: str
    description: str
    blocks: Callable[[], Iterable[tuple[Any, Any]]]
    template: str
    dtype: str
    nodata: float | None
    units: str = ""
    categories: tuple[tuple[int, str, str], ...] | None = None
    ramp: cog.Ramp | None = None
    visible: bool = True

    def write(
        self, folder: Path, *, overwrite: bool, progress: Callable[[int, int], None] | None
    ) -> tuple[qgisxml.ProjectLayer, Path]:
        """Write the raster as a COG with its .qml; return its project layer and path."""
        path = folder / self.name
        with reading_env(), rasterio.open(self.template) as ref:
            crs = CRS.from_user_input(ref.crs.to_wkt())
            cog.write_cog(
                path, ref, self.blocks(), dtype=self.dtype, nodata=self.nodata,
                description=self.description, units=self.units, categories=self.categories,
                ramp=self.ramp, overwrite=overwrite, progress=progress,
            )  # fmt: skip
        style = cog.qml_path(path).read_text(encoding="utf-8")
        layer = qgisxml.ProjectLayer(
            name=path.stem, source=f"./{RASTER_DIR}/{self.name}", kind="raster", style=style,
            crs=crs, visible=self.visible,
        )  # fmt: skip
        return layer, path


def new_builtup_table(
    config: RunConfig,
    boundaries: gpd.GeoDataFrame,
    *,
    checkpoints: str | os.PathLike | None = None,
    scheduler: str = "threads",
    workers: int | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame | None:
    """Built-up gained over the analysis period and the part of it dark at the end, per city.

    The land cover of the period's first and last years with the night light of the last (see
    :func:`vacancy_source`), through the checkpoints like a raster series x year; None
    without such a pair. Columns as :func:`urbanshrink_gis.vacancy.new_builtup_metrics`.
    """
    pair, source = _vacancy_pair(config), vacancy_source(config)
    if pair is None or source is None:
        return None
    lc, ntl = pair
    files = (source.start, source.landcover, source.nightlight)
    fingerprint = {
        "landcover": _fingerprint(config, lc),
        "nightlight": _fingerprint(config, ntl),
        "files": [file_fingerprint(path) for path in files if path is not None],
    }
    stage = "new built-up"
    step = None if progress is None else _stage(progress, stage)

    def compute() -> pd.DataFrame:
        return vacancy.new_builtup_metrics(
            boundaries, source, coverage=lc.coverage, scheduler=scheduler, workers=workers,
            progress=step,
        )  # fmt: skip

    store = Checkpoints(checkpoints)
    (table,) = _through_checkpoints(store, [("new-builtup", fingerprint, compute)], stage, None)
    if store.reused:
        log.info("checkpoints: new built-up reused")
        if progress is not None:
            progress(stage, 1, 1)
    return table


def vacancy_source(config: RunConfig) -> vacancy.BuiltupLight | None:
    """Land cover at the period's first and last years with the night light of the last.

    None unless the run has both series and the night light covers the land cover's last
    year within ``[analysis] start..end``.
    """
    pair = _vacancy_pair(config)
    if pair is None:
        return None
    lc, ntl = pair
    a = config.analysis
    lc_series, ntl_series = raster_series(lc.path, lc.years), raster_series(ntl.path, ntl.years)
    years = [y for y in sorted(lc_series) if a.start <= y <= a.end]
    if len(years) < 2 or years[-1] not in ntl_series:
        log.info("no dark built-up change: land cover and night light share no period end")
        return None
    return vacancy.BuiltupLight(
        lc_series[years[-1]], ntl_series[years[-1]], lc.preset(), ntl.preset(),
        threshold=ntl.lit_threshold, start=lc_series[years[0]],
    )  # fmt: skip


def raster_plans(config: RunConfig) -> list[RasterPlan]:
    """The change and trend rasters of a run over its analysis period.

    Built-up change (gain / loss / stable / never) from the first land-cover series; night-light
    change and per-pixel OLS trend from the first night-light series; each between the first
    and last of the series' years that fall within ``[analysis] start..end``; and new built-up
    lit or dark (see :func:`vacancy_source`).
    """
    a = config.analysis
    plans: list[RasterPlan] = []
    for kind in ("landcover", "nightlight"):
        raster = next((r for r in config.rasters if r.kind == kind), None)
        if raster is None:
            continue
        series = raster_series(raster.path, raster.years)
        years = [y for y in sorted(series) if a.start <= y <= a.end]
        if len(years) < 2:
            continue
        first, last, product = series[years[0]], series[years[-1]], raster.preset()
        span = f"{years[0]}_{years[-1]}"
        if kind == "landcover":
            plans.append(RasterPlan(
                f"builtup_change_{span}.tif", f"built-up change {years[0]}-{years[-1]}",
                functools.partial(change.builtup_change_blocks, first, last, product), first,
                "uint8", 0, categories=change.BUILTUP_CHANGE_CLASSES,
            ))  # fmt: skip
            continue
        units = product.units or "radiance"
        plans.append(RasterPlan(
            f"ntl_change_{span}.tif", f"night-light change {years[0]}-{years[-1]} (end - start)",
            functools.partial(change.nightlight_change_blocks, first, last, product), first,
            "float32", float("nan"), units=units, ramp="diverging",
        ))  # fmt: skip
        within = {y: series[y] for y in years}
        method = config.output.trend
        plans.append(RasterPlan(
            f"ntl_trend_{span}.tif",
            f"night-light trend {years[0]}-{years[-1]} ({_TREND_NAMES[method]} slope per year)",
            functools.partial(change.nightlight_trend_blocks, within, product, method=method),
            first,
            "float32", float("nan"), units=f"{units} per year", ramp="diverging", visible=False,
        ))  # fmt: skip
    source = vacancy_source(config)
    if source is not None:
        plans.append(RasterPlan(
            "new_builtup_dark.tif", "built-up old and new, lit or dark at the period's end",
            source.blocks, source.landcover, "uint8", 0, categories=vacancy.VACANCY_CLASSES,
        ))  # fmt: skip
    return plans


def run_demo(
    out_dir: str | os.PathLike = "outputs/demo",
    *,
    overwrite: bool = False,
    scheduler: str = "threads",
    workers: int | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """Write the demo dataset under ``out_dir/data`` (once) and run the whole job on it."""
    out = Path(out_dir)
    _check_outputs(out, overwrite)
    config = out / "data" / "urbanshrink.toml"
    if not config.exists():  # kept when present, so a repeated demo resumes from checkpoints
        write_demo_data(out / "data")
    return run(
        load_config(config), out_dir=out, overwrite=overwrite, scheduler=scheduler,
        workers=workers, progress=progress,
    )  # fmt: skip


def read_city_year(path: str | os.PathLike) -> pd.DataFrame:
    """Read a ``city_year`` table written by a run (CSV), keeping city ids as text."""
    file = Path(path)
    if not file.exists():
        raise ConfigError("file not found", where=str(file), fix="check the city_year table path")
    table = pd.read_csv(file, dtype={"city_id": str})
    for col in ("city_id", "year"):
        if col not in table:
            raise ConfigError(
                f"no column {col!r}", where=str(file), fix="give a city_year table from a run"
            )
    return table
