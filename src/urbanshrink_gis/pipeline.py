"""The whole job: a TOML run configuration, validated once, and ``run`` in stage order.

Stages: read boundaries -> land-cover and night-light metrics per city and year -> population
join -> analysis (flags, indicators, tallies) -> export. Paths in a configuration file are
relative to that file's folder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import difflib
import functools
import hashlib
import importlib.metadata
import logging
import os
import shutil
import tempfile
import tomllib
import typing
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import geopandas as gpd
import pandas as pd
import rasterio
import shapely
from pyproj import CRS

from urbanshrink_gis import change, cog, export, metrics, qgisxml, sources, vacancy
from urbanshrink_gis import urban as urban_stage
from urbanshrink_gis._checkpoints import CHECKPOINT_DIR, Checkpoints, file_fingerprint
from urbanshrink_gis.analysis import (
    AnalysisConfig,
    PopulationKind,
    analyse,
    match_population,
    sensitivity,
    summarise,
)
from urbanshrink_gis.demo import write_demo_data
from urbanshrink_gis.errors import (
    ConfigError,
    InputError,
    OutputError,
    PopulationError,
    RasterError,
    UrbanShrinkError,
    UrbanShrinkWarning,
)
from urbanshrink_gis.io.boundaries import read_boundaries
from urbanshrink_gis.io.population import PopulationSpec, interpolate_population, read_population
from urbanshrink_gis.io.rasters import open_raster, reading_env
from urbanshrink_gis.products import Product, custom_product, get_product
from urbanshrink_gis.zonal import Coverage, Grid, Zones

__all__ = [
    "BoundariesConfig",
    "CheckedRun",
    "OutputConfig",
    "PopulationConfig",
    "RasterConfig",
    "RasterPlan",
    "RunConfig",
    "RunResult",
    "check_source_values",
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
    "validate_run",
    "with_excel_csv",
]

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
RASTER_DIR = "rasters"
_TREND_NAMES = {"ols": "OLS", "theil_sen": "Theil-Sen"}
RasterKind = Literal["landcover", "nightlight", "population"]
PopulationColumn = Literal["pop_grid", "pop_resident"]
Interpolation = Literal["linear", "loglinear"]
Scope = Literal["prefecture", "urban"]


@dataclass(frozen=True, slots=True)
class UrbanConfig:
    """The urban footprint of each prefecture, the unit of the ``"urban"`` scope.

    Either a polygon layer (``path``) joined to the prefectures by ``id``, or, without
    ``path``, derived from the land cover of ``year`` (see
    :func:`urbanshrink_gis.urban.derive_footprints`) and written as layer
    ``urban_footprint``.

    Parameters
    ----------
    path
        Vector file of urban polygons (urban districts, urban-centre polygons); several
        polygons of one prefecture are dissolved.
    layer
        Its layer.
    id
        Its field holding the prefecture id (default: the boundaries' ``id``).
    min_km2
        Derived footprints: smallest contiguous built-up cluster kept, km².
    buffer_m
        Derived footprints: growth of the clusters, metres, so the fringe where the city
        expands after ``year`` is inside (0 keeps the start year's built-up land only, which
        then cannot grow).
    year
        Derived footprints: land-cover year (default: ``[analysis] start``).
    population
        Population of the urban scope: ``"urban"`` (the table's urban residents, ``pop_urban``)
        or ``"resident"`` (only from a population raster with ``population_column =
        "pop_resident"``, then summed over each footprint).
    """

    path: Path | None = None
    layer: str | None = None
    id: str | None = None
    min_km2: float = 1.0
    buffer_m: float = 1000.0
    year: int | None = None
    population: PopulationKind = "urban"

    def __post_init__(self) -> None:
        for name in ("min_km2", "buffer_m"):
            if getattr(self, name) < 0:
                raise ConfigError(
                    f"{name} = {getattr(self, name)!r} is negative",
                    where="[boundaries.urban]",
                    fix=f"set {name} to 0 or more",
                )


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
    scope
        Unit of the analysis: ``"prefecture"`` (the boundaries as they are) or ``"urban"``
        (each prefecture's urban footprint, see :class:`UrbanConfig`); a list gives both, the
        first being the headline (``cities``, ``city_year``, ...), the other written with its
        name as suffix (``cities_urban``, ...).
    urban
        How the urban footprints are made (``[boundaries.urban]``); the defaults derive them
        from the land cover.
    """

    path: Path
    id: str = "adcode"
    layer: str | None = None
    name: str | None = None
    province: str | None = None
    scope: tuple[Scope, ...] = ("prefecture",)
    urban: UrbanConfig | None = None


@dataclass(frozen=True, slots=True)
class RasterConfig:
    """One raster series: its product preset and a path pattern with ``{year}``.

    Parameters
    ----------
    kind
        ``"landcover"``, ``"nightlight"`` or ``"population"`` (people per pixel, summed per
        city and year).
    product
        Preset name (see :func:`urbanshrink_gis.products.product_names`) or ``"custom"``.
    path
        Path pattern containing ``{year}`` and glob wildcards (``*``, ``?``, ``**``) in any
        part (see :mod:`urbanshrink_gis.sources`); the files of a year form its mosaic.
    paths
        Instead of ``path``: year to a file or a list of files (``{2015 = [...]}``).
    years
        Years to use; discovered from the files matching the pattern when omitted.
    coverage
        Pixel rule of the zonal engine.
    lit_threshold
        Night light: overrides the preset's lit threshold.
    allow_outside_product
        Use files that violate the preset (CRS, pixel size, years, legend, ...) with a warning
        each, noted in the outputs' metadata, instead of stopping the run.
    grid_crs
        CRS of the per-pixel output rasters of a series whose tiles are in several CRSs
        (default: the CRS of the first group).
    weights
        Night light: a population raster (a ``{year}`` pattern, or one file for every year)
        giving ``ntl_pop_weighted_mean``; on another grid it is warped onto the light's,
        nearest neighbour.
    weights_nodata
        Night light: the weights rasters' nodata value, where their files have no (or a
        wrong) nodata tag.
    default_value
        Population: people counted for each nodata pixel (``0``: nodata is nobody, so a city
        wholly on nodata has 0, not a missing value); default: nodata left out.
    population_column
        Population: ``"pop_grid"`` (default, beside a census table) or ``"pop_resident"`` (the
        raster is the resident population of the analysis; no [population] resident then).
    overrides
        Preset fields to override (nodata, scale, builtup_classes, ...); all fields of a
        custom product.
    """

    kind: RasterKind
    product: str
    path: str | None = None
    paths: Mapping[str, Any] | None = None
    years: tuple[int, ...] | None = None
    coverage: Coverage = "center"
    lit_threshold: float | None = None
    allow_outside_product: bool = False
    grid_crs: str | None = None
    weights: str | None = None
    weights_nodata: float | None = None
    default_value: float | None = None
    population_column: PopulationColumn = "pop_grid"
    overrides: Mapping[str, Any] = field(default_factory=dict)
    base: Path = Path(".")

    @property
    def label(self) -> str:
        """Short name of the series: kind and product."""
        return f"{self.kind}-{self.product.lower()}"

    def files(self) -> dict[int, tuple[str, ...]]:
        """Year to the series' files (from ``paths``, else the files matching ``path``)."""
        if self.paths is not None:
            files = sources.year_of_files(self.paths, self.base)
            return {y: f for y, f in files.items() if not self.years or y in self.years}
        base = os.path.join(self.base, "")  # the configuration's folder is taken literally
        if self.path is not None and self.path.startswith(base) and base != os.sep:
            return sources.find_files(self.path[len(base) :], self.years, root=self.base)
        return sources.find_files(self.path, self.years)  # type: ignore[arg-type]

    def preset(self) -> Product:
        """The product preset with the overrides applied."""
        if self.product.lower() == "custom":
            lit = {} if self.lit_threshold is None else {"lit_threshold": self.lit_threshold}
            return custom_product(kind=self.kind, **lit, **self.overrides)
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
    project_crs
        CRS of the QGIS project's map (an EPSG code or a PROJ string); default the
        equal-area Albers for China, :data:`urbanshrink_gis.export.DEFAULT_PROJECT_CRS`.
    excel_csv
        Start every CSV with a UTF-8 byte order mark, so that Excel (on a Chinese Windows too)
        reads the names as UTF-8.
    """

    dir: Path = Path("outputs")
    trend: change.TrendMethod = "ols"
    project_crs: str = export.DEFAULT_PROJECT_CRS
    excel_csv: bool = False

    def __post_init__(self) -> None:
        export.project_crs(self.project_crs)  # refused here, before any work


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
    """Tables of a run and the files written.

    ``sensitivity`` is the threshold grid; ``scopes`` the tables of every scope (the first is
    the headline, whose tables the other fields repeat) and ``compared`` their national
    tallies side by side when there are two.
    """

    city_year: pd.DataFrame
    cities: gpd.GeoDataFrame
    summary: pd.DataFrame
    files: tuple[Path, ...]
    sensitivity: pd.DataFrame | None = None
    scopes: tuple[ScopeTables, ...] = ()
    compared: pd.DataFrame | None = None


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
    boundaries = _boundaries(raw["boundaries"], base, f"{source} [boundaries]")
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
    _check_population_source(rasters, population, source)
    _check_urban_scope(boundaries, rasters, population, source)
    output = OutputConfig()
    if "output" in raw:
        o = _build(OutputConfig, raw["output"], f"{source} [output]")
        output = dataclasses.replace(o, dir=_resolve(base, o.dir))
    return RunConfig(boundaries, rasters, analysis, population, output)


def _boundaries(raw: Any, base: Path, where: str) -> BoundariesConfig:
    """[boundaries] with its optional [boundaries.urban] table; ``scope`` may be one name."""
    if not isinstance(raw, Mapping):
        raise ConfigError("is not a table", where=where, fix="write it as [boundaries] key = value")
    raw = dict(raw)
    if isinstance(raw.get("scope"), str):
        raw["scope"] = [raw["scope"]]
    if "urban" in raw:
        urban = _build(UrbanConfig, raw["urban"], f"{where[:-1]}.urban]")
        path = None if urban.path is None else _resolve(base, urban.path)
        raw["urban"] = dataclasses.replace(urban, path=path)
    b = _build(BoundariesConfig, raw, where)
    if not b.scope or len(set(b.scope)) != len(b.scope):
        raise ConfigError(
            f"scope = {list(b.scope)!r} must name each of its scopes once",
            where=where,
            fix='write scope = "prefecture", "urban" or ["prefecture", "urban"]',
        )
    if b.urban is not None and "urban" not in b.scope:
        raise ConfigError(
            '[boundaries.urban] is given but scope has no "urban"',
            where=where,
            fix='add it: scope = ["prefecture", "urban"] (or remove [boundaries.urban])',
        )
    if "urban" in b.scope and b.urban is None:
        b = dataclasses.replace(b, urban=UrbanConfig())
    return dataclasses.replace(b, path=_resolve(base, b.path))


def _check_urban_scope(
    b: BoundariesConfig,
    rasters: tuple[RasterConfig, ...],
    population: PopulationConfig | None,
    source: str,
) -> None:
    """The urban scope needs land cover to derive its footprints and a population of its own."""
    urban, where = b.urban, f"{source} [boundaries.urban]"
    if urban is None:
        return
    if urban.path is None and not any(r.kind == "landcover" for r in rasters):
        raise ConfigError(
            "derived urban footprints need a land-cover series",
            where=where,
            fix='add a [[rasters]] kind = "landcover" series, or give the footprints as path',
        )
    if urban.population == "urban":
        if population is None or population.spec.urban is None:
            raise ConfigError(
                'population = "urban" needs the urban residents in the population table',
                where=where,
                fix="set [population] urban = COLUMN, or use a population raster "
                '(population_column = "pop_resident") with population = "resident"',
            )
    elif not any(r.population_column == "pop_resident" for r in rasters if r.kind == "population"):
        raise ConfigError(
            'population = "resident" in the urban scope would pair the whole prefecture\'s '
            "census residents with its urban footprint",
            where=where,
            fix='use population = "urban", or a population raster with population_column = '
            '"pop_resident" (summed over each footprint)',
        )


def _raster(raw: Any, base: Path, where: str) -> RasterConfig:
    if not isinstance(raw, Mapping):
        raise ConfigError("is not a table", where=where, fix="write it as [[rasters]] key = value")
    own = {f.name for f in dataclasses.fields(RasterConfig)} - {"overrides", "base"}
    known = {k: v for k, v in raw.items() if k in own}
    overrides = {k: v for k, v in raw.items() if k not in own}
    if overrides and str(raw.get("product", "")).lower() != "custom":
        product_fields = {f.name for f in dataclasses.fields(Product)}
        _check_keys(overrides, tuple(sorted(own | product_fields)), where)
    cfg = _build(RasterConfig, known, where)
    if (cfg.path is None) == (cfg.paths is None):
        raise ConfigError(
            "give either path (a pattern with {year}) or paths (files per year)",
            where=where,
            fix='write path = "ntl/VNL_*_{year}_*.average_masked.dat.tif.gz" or '
            'paths = {2015 = ["a.tif", "b.tif"]}',
        )
    if cfg.path is not None and "{year}" not in cfg.path:
        raise ConfigError(
            f"path {cfg.path!r} has no {{year}}",
            where=where,
            fix='write the year as {year}, e.g. path = "ntl/vnl2_{year}.tif"',
        )
    path = cfg.path
    if path is not None and not path.startswith("/vsi"):
        path = str(_resolve(base, Path(path)))
    cfg = dataclasses.replace(cfg, path=path, overrides=overrides, base=base)
    _check_kind_keys(cfg, raw, where)
    if cfg.weights_nodata is not None and cfg.weights is None:
        raise ConfigError(
            "weights_nodata is given without weights",
            where=where,
            fix='add weights = "pop/worldpop_{year}.tif", or remove weights_nodata',
        )
    if cfg.weights is not None and not cfg.weights.startswith("/vsi"):
        cfg = dataclasses.replace(cfg, weights=str(_resolve(base, Path(cfg.weights))))
    try:
        cfg.preset()  # an unknown preset or a bad override stops the run before any work
    except ConfigError as err:
        raise _located(err, where) from err
    return cfg


def _check_kind_keys(cfg: RasterConfig, raw: Mapping[str, Any], where: str) -> None:
    """Refuse keys that the series' kind does not use (weights only for night light, ...)."""
    allowed = {"weights": "nightlight", "weights_nodata": "nightlight"}
    allowed["default_value"] = "population"
    allowed["population_column"] = "population"
    for key, kind in allowed.items():
        if key in raw and cfg.kind != kind:
            raise ConfigError(
                f"{key} applies to kind = {kind!r} series, not {cfg.kind!r}",
                where=where,
                fix=f"remove {key}, or move it to the {kind} series",
            )


def _check_population_source(
    rasters: tuple[RasterConfig, ...], population: PopulationConfig | None, source: str
) -> None:
    """One source of ``pop_resident``: a population raster series or the table, not both."""
    columns = [r.population_column for r in rasters if r.kind == "population"]
    if len(columns) != len(set(columns)):
        raise ConfigError(
            "two population raster series give the same column",
            where=f"{source} [[rasters]]",
            fix='set population_column = "pop_grid" on one and "pop_resident" on the other',
        )
    if "pop_resident" in columns and population is not None:
        raise ConfigError(
            'a population raster gives pop_resident (population_column = "pop_resident") and '
            "so does the [population] table",
            where=f"{source} [[rasters]]",
            fix='keep population_column = "pop_grid" beside a census table, or drop [population]',
        )


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
    """Years that have at least one file matching a ``{year}`` path pattern, sorted."""
    return tuple(sources.find_files(pattern))


def raster_series(pattern: str, years: tuple[int, ...] | None = None) -> dict[int, str]:
    """Year to its one file for a ``{year}`` pattern of one file per year.

    Raises
    ------
    RasterError
        The pattern has no ``{year}``, no file matches it, or a year has several files (a
        year of tiles is read through :func:`resolve_sources`).
    """
    if "{year}" not in pattern:
        raise RasterError(
            "path pattern has no {year}",
            where=pattern,
            fix='write the year as {year}, e.g. "ntl/vnl2_{year}.tif"',
        )
    found = sources.find_files(pattern, years)
    if not found:
        raise RasterError(
            "no file matches the {year} pattern",
            where=pattern,
            fix="check the folder and file names, or list the years",
        )
    several = [y for y, files in found.items() if len(files) > 1]
    if several:
        raise RasterError(
            f"year {several[0]} has {len(found[several[0]])} files",
            where=pattern,
            fix="read a year of tiles through a run configuration (its files form one mosaic)",
        )
    return {y: files[0] for y, files in found.items()}


def resolve_sources(
    config: RunConfig,
    boundaries: gpd.GeoDataFrame,
    *,
    folder: str | os.PathLike,
    check_values: bool = True,
) -> tuple[sources.Series, ...]:
    """Find, check and mosaic every raster series of a run before any zonal work.

    Parameters
    ----------
    config
        The run configuration.
    boundaries
        The cities (values are sampled where they are).
    folder
        Where mosaics (VRTs) and converted tiles are kept.
    check_values
        Also sample the values (legend, valid range); False leaves that to
        :func:`check_source_values`, so that a run reads no pixel before its free-space check.

    Returns
    -------
    tuple of Series
        One per ``[[rasters]]`` table, in order.

    Raises
    ------
    RasterError
        A series has no file, a file is unreadable, or violates its preset (see
        :func:`urbanshrink_gis.sources.resolve_series`).
    ConfigError
        Night-light series of different sensors are compared without a harmonized product.
    """
    boxes = _zone_boxes(boundaries)
    out = []
    for raster in config.rasters:
        files = raster.files()
        if not files:
            raise RasterError(
                "no file matches the {year} pattern",
                where=raster.path or "paths",
                fix="check the folder and file names (wildcards * ? ** are allowed), or list "
                "the files per year with paths = {2015 = [...]}",
            )
        series = sources.resolve_series(
            files, raster.preset(), label=raster.label, folder=Path(folder), zones_bounds=boxes,
            allow_outside_product=raster.allow_outside_product, grid_crs=raster.grid_crs,
            check_values=check_values,
        )  # fmt: skip
        out.append(series)
    _check_sensors(config, out)
    return tuple(out)


def check_source_values(
    config: RunConfig, boundaries: gpd.GeoDataFrame, series: Sequence[sources.Series]
) -> tuple[sources.Series, ...]:
    """The value checks :func:`resolve_sources` left out (``check_values=False``)."""
    boxes = _zone_boxes(boundaries)
    return tuple(
        sources.check_series_values(one, boxes, raster.allow_outside_product)
        for raster, one in zip(config.rasters, series, strict=True)
    )


def _zone_boxes(boundaries: gpd.GeoDataFrame) -> list[tuple[float, float, float, float, Any]]:
    """Each city's bounding box with the boundaries' CRS (where values are sampled)."""
    crs = boundaries.crs
    return [
        (*geom.bounds, crs)
        for geom in boundaries.geometry
        if geom is not None and not geom.is_empty
    ]


def _check_sensors(config: RunConfig, series: Sequence[sources.Series]) -> None:
    """Refuse night-light series of different sensors unless they are harmonized."""
    sensors = {
        s.product.sensor
        for r, s in zip(config.rasters, series, strict=True)
        if r.kind == "nightlight" and s.product.sensor is not None
    }
    if len(sensors) > 1:
        raise ConfigError(
            f"night-light series of different sensors ({', '.join(sorted(sensors))}) would be "
            "compared across the period",
            where="[[rasters]]",
            fix="use one sensor, or the harmonized DMSP-VIIRS series (product dmsp_harmonized)",
        )


def city_year_table(
    config: RunConfig,
    boundaries: gpd.GeoDataFrame | None = None,
    *,
    series: Sequence[sources.Series] | None = None,
    checkpoints: str | os.PathLike | None = None,
    scheduler: str = "threads",
    workers: int | None = None,
    progress: Progress | None = None,
    population: pd.DataFrame | None = None,
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
        while its inputs and settings are unchanged (see :mod:`urbanshrink_gis._checkpoints`).
    scheduler, workers
        Where the zonal engine runs (see :mod:`urbanshrink_gis.parallel`).
    progress
        Called with (stage name, done, total).
    population
        The ``[population]`` table already read by
        :func:`~urbanshrink_gis.io.population.read_population` (read here otherwise).

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
            config, boundaries, series, checkpoints, scheduler, workers, progress, population
        )


def _city_year(
    config: RunConfig,
    boundaries: gpd.GeoDataFrame,
    series: Sequence[sources.Series],
    checkpoints: str | os.PathLike | None,
    scheduler: str,
    workers: int | None,
    progress: Progress | None,
    population: pd.DataFrame | None = None,
) -> pd.DataFrame:
    store = Checkpoints(checkpoints)
    tables = [
        _series_metrics(config, raster, one, boundaries, store, scheduler, workers, progress)
        for raster, one in zip(config.rasters, series, strict=True)
    ]
    tables.append(_coverage_table(config, series, boundaries))
    pair = _vacancy_pair(config, series)
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


def _year_files(series: sources.Series, *years: int) -> list[dict[str, Any]]:
    """Fingerprints of the downloaded files of some years of a series."""
    return [file_fingerprint(f) for y in years for f in series.files[y]]


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
    lc_pair: _Pair,
    ntl_pair: _Pair,
    boundaries: gpd.GeoDataFrame,
    store: Checkpoints,
    scheduler: str,
    workers: int | None,
    progress: Progress | None,
) -> pd.DataFrame:
    """Dark built-up km² for every year that has both land cover and night light."""
    (lc, lc_series), (ntl, ntl_series) = lc_pair, ntl_pair
    base = {
        "landcover": _fingerprint(config, lc, lc_series),
        "nightlight": _fingerprint(config, ntl, ntl_series),
    }
    zones = _LazyZones(boundaries, lc.coverage)

    def compute(year: int) -> pd.DataFrame:
        landcover = lc_series.path(year)
        return vacancy.dark_builtup_metrics(
            zones.on_grid_of(landcover, lc_series.product.band),
            {year: (landcover, ntl_series.path(year))}, lc_series.product, ntl_series.product,
            threshold=ntl.lit_threshold, coverage=lc.coverage, scheduler=scheduler,
            workers=workers,
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


def _series_metrics(
    config: RunConfig,
    raster: RasterConfig,
    series: sources.Series,
    boundaries: gpd.GeoDataFrame,
    store: Checkpoints,
    scheduler: str,
    workers: int | None,
    progress: Progress | None,
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
                raster, product, prepared, {year: path}, scheduler, workers,
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
    if "{year}" in raster.weights:
        return raster_series(raster.weights, years)
    return dict.fromkeys(years, raster.weights)


def _year_metrics(
    raster: RasterConfig,
    product: Product,
    zones: Zones,
    series: dict[int, str],
    scheduler: str,
    workers: int | None,
    *,
    weights: dict[int, str] | None = None,
) -> pd.DataFrame:
    engine = dict(coverage=raster.coverage, scheduler=scheduler, workers=workers)
    if raster.kind == "landcover":
        return metrics.landcover_metrics(zones, series, product, **engine)
    if raster.kind == "population":
        return metrics.population_metrics(
            zones, series, product, default_value=raster.default_value,
            column=raster.population_column, **engine,
        )  # fmt: skip
    return metrics.nightlight_metrics(
        zones, series, product, lit_threshold=raster.lit_threshold, weights=weights,
        weights_nodata=raster.weights_nodata, **engine,
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


@contextlib.contextmanager
def _one_step(progress: Progress | None, name: str) -> Iterator[None]:
    """A stage without steps of its own: shown when it starts, done when it ends."""
    if progress is not None:
        progress(name, 0, 1)
    yield
    if progress is not None:
        progress(name, 1, 1)


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
    checked = validate_run(config, out_dir=out_dir, overwrite=overwrite, with_report=with_report)
    out, boundaries, b = checked.out, checked.boundaries, config.boundaries
    with _undone_on_failure(out):  # a refused raster leaves no mosaic behind
        folder = out / CHECKPOINT_DIR / "sources"
        series = resolve_sources(config, boundaries, folder=folder, check_values=False)
        cut = [sources.clip_series(one, boundaries) for one in series]  # per-pixel outputs' extent
        plans = raster_plans(config, cut)
        needed = check_free_space(out, config, series, plans)
        series = check_source_values(config, boundaries, series)  # the first pixels read
    footprints = None
    if b.urban is not None:
        footprints = urban_footprints(
            config, boundaries, series, checkpoints=out / CHECKPOINT_DIR / "urban",
            progress=progress,
        )  # fmt: skip
    engine = dict(scheduler=scheduler, workers=workers, progress=progress)
    scopes = [
        scope_tables(config, scope, boundaries, series, cut, footprints=footprints,
                     checkpoints=out / CHECKPOINT_DIR, population=checked.population,
                     **engine)  # type: ignore[arg-type]
        for scope in b.scope
    ]  # fmt: skip
    head = scopes[0]
    _warn_if_no_data(head.cities.set_index("city_id"), with_report)
    compared = compare_scopes(scopes) if len(scopes) > 1 else None
    retire = _previous_set(out, with_report)  # the previous run's files this run replaces
    with _staged(out, needed=needed, retire=retire) as stage:  # all files or none
        layers = []
        for plan in plans:
            step = None if progress is None else _stage(progress, f"raster {plan.name}")
            layers.append(plan.write(stage / RASTER_DIR, overwrite=True, progress=step))
        excel = config.output.excel_csv
        with _one_step(progress, "tables (GeoPackage, CSV)"):
            files = export.write_run(
                stage, head.city_year, head.cities, head.summary,
                rasters=[lay for lay, _ in layers], sensitivity=head.sensitivity, overwrite=True,
                excel=excel, project_crs=config.output.project_crs,
                other_scopes=[other.scope for other in scopes[1:]],
            )  # fmt: skip
            for other in scopes[1:]:
                files = (*files, *export.write_scope(stage, other.scope, other.tables(),
                                                     excel=excel))  # fmt: skip
            if footprints is not None or compared is not None:
                files = (*files, *export.write_extra(stage, footprints, compared, excel=excel))
            sources_csv = export.write_table(
                sources_table(config, series), stage / SOURCES_TABLE, excel=excel
            )
        files = (*files, sources_csv)
        pages = ()
        if with_report:
            with _one_step(progress, "report"):
                pages = _report().write_report(
                    stage / "report", head.cities, head.city_year, head.summary,
                    sensitivity=head.sensitivity, scopes=compared, overwrite=True,
                    context=report_context(config, series),
                )  # fmt: skip
        written = (*files, *(p for _, p in layers), *pages)
    paths = tuple(out / p.relative_to(stage) for p in written)
    return RunResult(
        head.city_year, head.cities, head.summary, paths, head.sensitivity, tuple(scopes), compared
    )


@dataclass(frozen=True, slots=True)
class ScopeTables:
    """The tables of one scope of a run (see :attr:`BoundariesConfig.scope`).

    ``population`` states which population the rules used and over what (the pairing), as
    the ``scope`` and ``pop_basis`` columns of ``cities`` and ``city_year`` do.
    """

    scope: Scope
    population: str
    city_year: pd.DataFrame
    cities: gpd.GeoDataFrame
    summary: pd.DataFrame
    sensitivity: pd.DataFrame

    def tables(self) -> dict[str, pd.DataFrame]:
        """Output name to table (``cities`` with its geometry)."""
        return {
            "cities": self.cities,
            "city_year": self.city_year,
            "summary": self.summary.reset_index(),
            "sensitivity": self.sensitivity.reset_index(),
        }


def scope_tables(
    config: RunConfig,
    scope: Scope,
    boundaries: gpd.GeoDataFrame,
    series: Sequence[sources.Series],
    cut: Sequence[sources.Series],
    *,
    footprints: gpd.GeoDataFrame | None = None,
    checkpoints: str | os.PathLike | None = None,
    scheduler: str = "threads",
    workers: int | None = None,
    progress: Progress | None = None,
    population: pd.DataFrame | None = None,
) -> ScopeTables:
    """Metrics, classes and tallies of one scope: the prefectures or their urban footprints.

    Parameters
    ----------
    config
        The run configuration.
    scope
        ``"prefecture"`` or ``"urban"`` (then `footprints` are its zones).
    boundaries
        The prefectures as read from ``[boundaries]``.
    series, cut
        The raster series as :func:`resolve_sources` gives them, and cut to the boundaries'
        extent (:func:`urbanshrink_gis.sources.clip_series`).
    footprints
        Output of :func:`urban_footprints`, for the urban scope.
    checkpoints
        Checkpoint folder (the urban scope keeps its own ``urban/`` inside).
    scheduler, workers, progress
        As for :func:`run`; the urban scope's stages are named ``urban ...``.
    population
        The population table already read (see :func:`city_year_table`).
    """
    b, analysis_config = config.boundaries, config.analysis
    zones, scoped = boundaries, config
    if scope == "urban":
        if footprints is None:
            raise ConfigError(
                "the urban scope needs footprints",
                where="scope_tables",
                fix="pass footprints=urban_footprints(...)",
            )
        folder = None if checkpoints is None else Path(checkpoints) / "urban"
        zones = footprints
        scoped = dataclasses.replace(
            config,
            boundaries=dataclasses.replace(
                b, path=_footprint_file(footprints, folder), layer=None, id="city_id"
            ),
        )
        checkpoints = folder
        analysis_config = dataclasses.replace(analysis_config, population=b.urban.population)  # type: ignore[union-attr]
        if progress is not None:
            progress = _prefixed(progress, "urban ")
    with _labelled_warnings(f"{scope} scope: " if len(b.scope) > 1 else ""):
        city_year = city_year_table(
            scoped, zones, series=series, checkpoints=checkpoints, scheduler=scheduler,
            workers=workers, progress=progress, population=population,
        )  # fmt: skip
        new = new_builtup_table(
            scoped, zones, cut, checkpoints=checkpoints, scheduler=scheduler, workers=workers,
            progress=progress,
        )  # fmt: skip
        gained = None if new is None else new["new_builtup_km2"]  # for the hollowing rule
        table = analyse(city_year, analysis_config, new_builtup=gained)
        sens = sensitivity(city_year, analysis_config, new_builtup=gained)
    if new is not None:
        table = table.join(new)
    basis = population_basis(config, scope)
    shapes = _cities(boundaries, b)  # the id under its own field too, name, province
    if scope == "urban":
        # every prefecture stays, without geometry where it has no footprint
        shapes = shapes.drop(columns="geometry").merge(footprints, on="city_id", how="left")  # type: ignore[arg-type]
        shapes = gpd.GeoDataFrame(shapes, geometry="geometry", crs=boundaries.crs)
    cities = shapes.merge(table.reset_index(), on="city_id", how="left")
    cities.insert(1, "scope", scope)
    cities.insert(2, "pop_basis", basis)
    city_year = city_year.assign(scope=scope, pop_basis=basis)
    province = boundaries.set_index("city_id")[b.province] if b.province else None
    summary = summarise(table, province)
    return ScopeTables(scope, basis, city_year, cities, summary, sens)


def population_basis(config: RunConfig, scope: Scope) -> str:
    """Which population a scope's rules use, and over what area (one line for the outputs)."""
    urban = config.boundaries.urban
    kind = config.analysis.population
    if scope == "urban" and urban is not None:
        kind = urban.population
    raster = any(
        r.kind == "population" and r.population_column == "pop_resident" for r in config.rasters
    )
    if kind == "urban":
        return "pop_urban: the table's urban residents of the prefecture"
    if raster:
        area = "prefecture" if scope == "prefecture" else "urban footprint"
        return f"pop_resident: the population raster summed over the {area}"
    return "pop_resident: the table's residents of the prefecture"


def compare_scopes(scopes: Sequence[ScopeTables]) -> pd.DataFrame:
    """The national tallies of each scope side by side (one row a scope, ``all`` of summary)."""
    rows = [one.summary.loc["all"].rename(one.scope) for one in scopes]
    table = pd.DataFrame(rows).astype(scopes[0].summary.dtypes.to_dict())  # counts stay whole
    table.index.name = "scope"
    table.insert(0, "pop_basis", [one.population for one in scopes])
    return table


def urban_footprints(
    config: RunConfig,
    boundaries: gpd.GeoDataFrame,
    series: Sequence[sources.Series],
    *,
    checkpoints: str | os.PathLike | None = None,
    progress: Progress | None = None,
) -> gpd.GeoDataFrame:
    """Each prefecture's urban footprint as ``[boundaries.urban]`` says (see :mod:`.urban`).

    A polygon layer is read and joined by id; otherwise the footprints are derived from the
    first land-cover series in ``[boundaries.urban] year`` (default ``[analysis] start``),
    checkpointed while its inputs and settings are unchanged.

    Returns
    -------
    geopandas.GeoDataFrame
        ``city_id``, ``footprint_km2`` and ``geometry`` in the boundaries' CRS.
    """
    b = config.boundaries
    urban = b.urban if b.urban is not None else UrbanConfig()
    if urban.path is not None:
        return urban_stage.footprints_from_layer(
            urban.path, boundaries, id_field=urban.id or b.id, layer=urban.layer
        )
    pair = _first_of(config, series, "landcover")
    if pair is None:
        raise ConfigError(
            "derived urban footprints need a land-cover series",
            where="[boundaries.urban]",
            fix='add a [[rasters]] kind = "landcover" series, or give the footprints as path',
        )
    raster, one = pair
    year = urban.year if urban.year is not None else config.analysis.start
    if year not in one.files:
        raise ConfigError(
            f"the land cover has no year {year} to derive the urban footprints from "
            f"(years: {', '.join(map(str, one.years))})",
            where="[boundaries.urban] year",
            fix="set [boundaries.urban] year to one of those years",
        )
    fingerprint = {
        **_fingerprint(config, raster, one),
        "files": _year_files(one, year),
        "min_km2": urban.min_km2,
        "buffer_m": urban.buffer_m,
    }

    def compute() -> pd.DataFrame:
        return urban_stage.derive_footprints(
            boundaries, one.path(year), one.product, min_km2=urban.min_km2,
            buffer_m=urban.buffer_m,
        )  # fmt: skip

    units = [(f"urban-footprint-{year}", fingerprint, compute)]
    [shapes] = _through_checkpoints(Checkpoints(checkpoints), units, "urban footprints", progress)
    return shapes


def _footprint_file(footprints: gpd.GeoDataFrame, folder: Path | None) -> Path:
    """The footprints as a GeoPackage named by their content (the checkpoints' fingerprint)."""
    digest = hashlib.sha256()
    for city_id, geom in zip(footprints["city_id"], footprints.geometry, strict=True):
        digest.update(city_id.encode() + shapely.to_wkb(geom))
    if folder is None:
        return Path(f"urban-footprint-{digest.hexdigest()[:20]}")
    path = folder / f"urban-footprint-{digest.hexdigest()[:20]}.gpkg"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        with export.atomic_path(path, overwrite=True) as tmp:
            footprints.to_file(tmp, layer="urban_footprint", driver="GPKG", engine="pyogrio")
    return path


@contextlib.contextmanager
def _labelled_warnings(prefix: str) -> Iterator[None]:
    """Our warnings raised inside, each issued again starting with `prefix` (none: as they are)."""
    if not prefix:
        yield
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UrbanShrinkWarning)
        yield
    for w in caught:
        if issubclass(w.category, UrbanShrinkWarning):
            warnings.warn(f"{prefix}{w.message}", w.category, stacklevel=3)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _prefixed(progress: Progress, prefix: str) -> Progress:
    def report(stage: str, done: int, total: int) -> None:
        progress(prefix + stage, done, total)

    return report


def _cities(boundaries: gpd.GeoDataFrame, b: BoundariesConfig) -> gpd.GeoDataFrame:
    """The cities layer's first columns: ``city_id``, the id under its own field, name, province.

    ``province`` is the ``[boundaries] province`` field, else a 6-digit code's ``xx0000`` (as
    :func:`urbanshrink_gis.analysis.summarise` groups them), else absent; geometry comes last.
    """
    out = boundaries[["city_id", *(["name"] if b.name else []), "geometry"]].copy()
    if b.id not in ("city_id", "name", "province", "geometry"):
        out.insert(1, b.id, out["city_id"])
    ids = out["city_id"]
    if b.province is not None:
        province = boundaries[b.province].to_numpy()
    elif ids.str.fullmatch(r"\d{6}").all():
        province = (ids.str[:2] + "0000").to_numpy()
    else:
        return out
    out.insert(len(out.columns) - 1, "province", province)
    return out


def with_excel_csv(config: RunConfig, excel: bool = True) -> RunConfig:
    """The configuration with ``[output] excel_csv`` set (kept as it is when ``excel`` is False).

    Parameters
    ----------
    config
        A run configuration.
    excel
        Write the CSVs with a UTF-8 byte order mark.

    Returns
    -------
    RunConfig
    """
    if not excel:
        return config
    return dataclasses.replace(config, output=dataclasses.replace(config.output, excel_csv=True))


def _check_outputs(
    out: Path, overwrite: bool, rasters: Sequence[str] = (), with_report: bool = True
) -> None:
    pages = [f"report/{n}" for n in _report().REPORT_FILES] if with_report else []
    export.check_outputs(out, [*export.RUN_OUTPUTS, *rasters, *pages], overwrite=overwrite)


@dataclass(frozen=True, slots=True)
class CheckedRun:
    """What :func:`validate_run` read: the output folder, the boundaries, the population table."""

    out: Path
    boundaries: gpd.GeoDataFrame
    population: pd.DataFrame | None = None


def validate_run(
    config: RunConfig,
    *,
    out_dir: str | os.PathLike | None = None,
    overwrite: bool = False,
    with_report: bool = True,
) -> CheckedRun:
    """Check a run's output folder, boundaries and population table; write nothing.

    :func:`run` calls it first, so a bad output folder or table stops the run before any
    raster is opened and nothing is written (no ``OUT/.checkpoints``, no ``OUT``); the raster
    series are checked next, by :func:`resolve_sources`, before the first pixel is counted.

    Parameters
    ----------
    config
        The run configuration.
    out_dir
        Overrides ``[output] dir``.
    overwrite, with_report
        As for :func:`run`.

    Returns
    -------
    CheckedRun
        The output folder, the boundaries read and the population table read (None without
        a ``[population]`` table), for the run to use.

    Raises
    ------
    OutputError
        The output folder is a dangling symbolic link, a file, not writable, holds a file where
        an output folder goes (``OUT/report``, ``OUT/rasters``) or a folder where an output file
        goes, its paths are too long for the file system or for sqlite3 (the GeoPackage), or
        it has a ``!`` (which GDAL's GeoPackage driver takes for an archive's end).
    OutputExistsError
        Outputs exist and ``overwrite`` is False.
    BoundaryError, PopulationError
        The boundaries or the population table cannot be used, the table has no rows for the
        analysis' start or end year, or none of its ids is a boundary id.
    """
    out = Path(out_dir) if out_dir is not None else config.output.dir
    check_output_folder(out)
    names = [f"{RASTER_DIR}/{name}" for name in raster_names(config)]
    extra = [*names, SOURCES_TABLE, *export.scope_outputs(config.boundaries.scope)]
    _check_outputs(out, overwrite, extra, with_report)
    styles = [cog.qml_path(Path(n)).as_posix() for n in names]
    pages = [f"report/{n}" for n in _report().REPORT_FILES] if with_report else []
    files = [*export.RUN_OUTPUTS, SOURCES_TABLE, *names, *styles, *pages]
    check_destinations(out, files, folders=[CHECKPOINT_DIR, f"{CHECKPOINT_DIR}/sources"])
    _check_path_lengths(out, files)
    b = config.boundaries
    boundaries = read_boundaries(b.path, id_field=b.id, name_field=b.name, layer=b.layer)
    return CheckedRun(out, boundaries, _checked_population(config, boundaries))


def _checked_population(config: RunConfig, boundaries: gpd.GeoDataFrame) -> pd.DataFrame | None:
    """The population table read and checked: start and end years, ids matching boundaries."""
    if config.population is None:
        return None
    spec, a = config.population.spec, config.analysis
    pop = read_population(spec)
    years = pop
    if config.population.interpolate is not None:
        with warnings.catch_warnings():  # said once, when the run joins the table
            warnings.simplefilter("ignore", UrbanShrinkWarning)
            wanted = sorted(set(pop["year"]) | {a.start, a.end})
            years = interpolate_population(pop, wanted, method=config.population.interpolate)
    _check_population_years(years, config)
    ids = boundaries["city_id"]
    if not pop["city_id"].isin(ids).any():
        table = ", ".join(repr(i) for i in pd.unique(pop["city_id"])[:3])
        units = ", ".join(repr(i) for i in ids[:3])
        raise PopulationError(
            f"no id in column {spec.id!r} is a boundary id (table: {table}, ...; boundaries "
            f"[{config.boundaries.id}]: {units}, ...)",
            where=str(spec.path),
            fix="set [population] id to the column holding the boundaries' codes, or fix the "
            "codes (same length, leading zeros kept)",
        )
    return pop


#: Prefix of the hidden folder in OUT where a run writes its outputs before moving them in.
STAGING_PREFIX = ".staging-"
_ASIDE = ".previous"  # in a staging folder: the previous outputs a commit replaces
_MANIFEST = ".manifest"  # in _ASIDE while a commit moves files: the new outputs, one per line
_NAME_MAX, _PATH_MAX = 255, 4096  # when the file system does not say
#: Bytes of a database path sqlite3 opens (measured: 504 opens, 505 does not; it adds
#: "-journal" within its 512).
SQLITE_PATH_MAX = 504
_TEMP_NAME = f"{STAGING_PREFIX}{'0' * 7}-{'0' * 8}"  # the longest staging folder's name


def check_output_folder(out: str | os.PathLike) -> None:
    """Refuse an output folder that is, or lies under, a dangling symbolic link.

    Raises
    ------
    OutputError
        ``out`` or one of its parents is a symbolic link whose target does not exist.
    """
    path = Path(out)
    for p in (path, *path.parents):
        if p.is_symlink() and not p.exists():
            raise OutputError(
                f"is a symbolic link to {os.readlink(p)}, which does not exist",
                where=str(p),
                fix="create the link's target, remove the link, or choose another --out",
            )


def check_destinations(
    out: str | os.PathLike, files: Iterable[str | os.PathLike], *, folders: Iterable[str] = ()
) -> None:
    """Refuse outputs whose place is taken: a file where a folder goes, or the reverse.

    Parameters
    ----------
    out
        The output folder.
    files
        Output files relative to ``out``.
    folders
        More folders relative to ``out`` that the run creates.

    Raises
    ------
    OutputError
        One error listing every such place.
    """
    root = Path(out)
    need = {Path(f).parent for f in files} | {Path(f) for f in folders}
    dirs = {p for d in need for p in (d, *d.parents) if p != Path(".")}
    problems = [
        f"{(root / d).as_posix()} is a file where an output folder goes"
        for d in sorted(dirs)
        if (root / d).exists() and not (root / d).is_dir()
    ]
    problems += [
        f"{(root / f).as_posix()} is a folder where an output file goes"
        for f in sorted({Path(f) for f in files})
        if (root / f).is_dir()
    ]
    if problems:
        raise OutputError(
            "; ".join(problems), where=str(root), fix="move or remove it, or choose another --out"
        )


def _pathconf(path: Path, name: str, default: int) -> int:
    try:
        return os.pathconf(path, name) or default
    except (OSError, ValueError):
        return default


def _check_path_lengths(out: Path, files: Sequence[str]) -> None:
    """Refuse an output folder whose outputs' (temporary) paths no writer could open."""
    base = Path(os.path.abspath(out))
    existing = next(p for p in (base, *base.parents) if p.exists())
    name_max = _pathconf(existing, "PC_NAME_MAX", _NAME_MAX)
    path_max = _pathconf(existing, "PC_PATH_MAX", _PATH_MAX)
    for part in base.parts[1:]:
        if len(os.fsencode(part)) > name_max:
            raise OutputError(
                f"has a folder name of {len(os.fsencode(part))} bytes; the file system takes "
                f"{name_max}",
                where=str(out),
                fix="choose an --out folder with shorter names",
            )
    stage = base / _TEMP_NAME
    longest = max((os.fsencode(stage / f) for f in files), key=len)
    # temporaries add ".", "." and 8 characters to a name; the COGs' work folder adds more
    if len(longest) + 40 >= path_max:
        raise OutputError(
            f"is too deep: output paths would be {len(longest) + 40} bytes long, the file "
            f"system takes {path_max}",
            where=str(out),
            fix="choose a shorter --out path",
        )
    if "!" in str(base):  # GDAL 3.x: "a!/b/c.gpkg" is opened as "/b/c.gpkg"
        raise OutputError(
            "has a '!', where GDAL's GeoPackage driver cuts the path (it reads what follows as "
            "a path inside an archive) and cannot write the GeoPackage",
            where=str(out),
            fix="choose an --out path without '!'",
        )
    gpkg = os.fsencode(stage / ".urbanshrink.00000000.gpkg")
    if len(gpkg) > SQLITE_PATH_MAX:
        room = SQLITE_PATH_MAX - (len(gpkg) - len(os.fsencode(base)))
        raise OutputError(
            f"is {len(os.fsencode(base))} bytes long: sqlite3, which writes the GeoPackage, "
            f"opens paths of up to {SQLITE_PATH_MAX} bytes",
            where=str(out),
            fix=f"choose an --out path of at most {room} bytes (absolute)",
        )


def check_free_space(
    out: str | os.PathLike,
    config: RunConfig,
    series: Sequence[sources.Series],
    plans: Sequence[RasterPlan],
) -> int:
    """Estimate the bytes a run writes and refuse to start when the disk has fewer free.

    The estimate is rough: each output raster's pixels at the compression its input files
    achieve (their size over their pixels' bytes), a third more for overviews, the largest
    one once more for the work file a COG is copied from, and the tables at three times the
    boundaries' file size.

    Returns
    -------
    int
        The estimate, in bytes.

    Raises
    ------
    OutputError
        Fewer bytes are free where ``out`` is (or would be) than the estimate.
    """
    raw = packed = 0
    for one in series:
        year = one.years[0]
        packed += sum(os.path.getsize(f) for f in one.files[year] if os.path.isfile(f))
        raw += sum(_raster_bytes(name) for name in one.groups[year].values())
    ratio = min(max(packed / raw, 0.01), 1.0) if raw else 1.0
    rasters = [_raster_bytes(p.template, p.dtype) * ratio for p in plans]
    tables = 3 * os.path.getsize(config.boundaries.path) + 2**20
    needed = int(sum(rasters) * 4 / 3 + max(rasters, default=0) + tables)
    base = Path(os.path.abspath(out))
    existing = next(p for p in (base, *base.parents) if p.exists())
    free = shutil.disk_usage(existing).free
    if free < needed:
        raise OutputError(
            f"has {_megabytes(free)} free; this run writes about {_megabytes(needed)}",
            where=str(existing),
            fix="free some space there, or choose another --out",
        )
    return needed


def _raster_bytes(name: str, dtype: str | None = None) -> int:
    """Bytes of a raster's pixels, uncompressed (in ``dtype`` when given)."""
    import numpy as np

    with reading_env(), rasterio.open(name) as ds:
        size = np.dtype(dtype or ds.dtypes[0]).itemsize
        return ds.width * ds.height * (1 if dtype else ds.count) * size


def _megabytes(n: float) -> str:
    return f"{n / 2**20:,.0f} MB" if n >= 2**20 else f"{n / 2**20:.2f} MB"


@contextlib.contextmanager
def _undone_on_failure(out: Path) -> Iterator[None]:
    """Remove every file and folder the block creates under ``out`` if it raises."""
    top = Path(os.path.abspath(out))
    while not top.parent.exists():
        top = top.parent
    existed = top.exists()
    before = set(top.rglob("*")) if existed else set()
    try:
        yield
    except BaseException:
        if not existed:
            shutil.rmtree(top, ignore_errors=True)
        else:
            for p in sorted(set(top.rglob("*")) - before, key=lambda p: -len(p.parts)):
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
        raise


def _warn_if_no_data(table: pd.DataFrame, with_report: bool) -> None:
    """One line when no city carries data: the tables are written and the report says so."""
    if len(table) and (table["class"] == "no_data").all():
        report = "; report.html says so and draws no chart of changes" if with_report else ""
        warnings.warn(
            f"no city has data for the analysis (all {len(table)} units are no_data): the "
            f"tables are written{report}",
            UrbanShrinkWarning,
            stacklevel=3,
        )


def _previous_set(out: Path, with_report: bool) -> list[str]:
    """The previous run's files in ``out`` that a new run's set replaces (or leaves out)."""
    names = [*export.RUN_OUTPUTS, SOURCES_TABLE]
    for scopes in (("prefecture", "urban"), ("urban", "prefecture")):  # a two-scope run's
        names += export.scope_outputs(scopes)
    if with_report:
        names += [f"report/{n}" for n in _report().REPORT_FILES]
    rasters = out / RASTER_DIR
    if rasters.is_dir():
        made = ("builtup_change_", "ntl_change_", "ntl_trend_", "new_builtup_dark")
        names += [f"{RASTER_DIR}/{p.name}" for p in rasters.iterdir() if p.name.startswith(made)]
    return [n for n in names if (out / n).is_file()]


@contextlib.contextmanager
def _staged(out: Path, *, needed: int = 0, retire: Sequence[str] = ()) -> Iterator[Path]:
    """A hidden folder in ``out`` for a run's files, moved into place only once all are written.

    Stale staging folders of killed runs are removed first (a commit they were in the middle
    of is undone). Then every destination is checked before the first move; the previous
    run's files (those the new set replaces and those in ``retire``) are moved aside into
    the staging folder, the new files moved in, and the old ones removed only after the
    whole new set is in place. A failure at any point leaves the previous run's outputs as
    they were and no temporary file behind; a full disk or quota becomes one
    :class:`OutputError` naming the folder and ``needed``, the bytes the run writes.
    """
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(out)
    stage = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=out))
    try:
        with _disk_full_as_error(out, needed):
            yield stage
        _commit(stage, out, retire)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _commit(stage: Path, out: Path, retire: Sequence[str]) -> None:
    """Move the staged files into ``out``, the files they replace aside, all or none."""
    new = sorted(p.relative_to(stage) for p in stage.rglob("*") if p.is_file())
    check_destinations(out, new)
    old = sorted(
        {Path(r) for r in (*new, *retire) if (out / r).is_file() or (out / r).is_symlink()}
    )
    aside = stage / _ASIDE
    aside.mkdir()
    (aside / _MANIFEST).write_text("".join(f"{p.as_posix()}\n" for p in new), encoding="utf-8")
    moved: list[tuple[Path, Path]] = []
    try:
        for rel in old:
            (aside / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(out / rel, aside / rel)
            moved.append((out / rel, aside / rel))
        for rel in new:
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(stage / rel, out / rel)
            moved.append((stage / rel, out / rel))
    except BaseException:
        for src, dst in reversed(moved):
            os.replace(dst, src)
        raise
    (aside / _MANIFEST).unlink()  # the whole new set is in place: the old one may go


def remove_stale_staging(out: str | os.PathLike) -> list[Path]:
    """Remove the staging folders that killed runs left in ``out``; return them.

    A folder whose run is still alive (its process id in its name) is kept. A run killed
    while moving its files into place is undone: its new files that were moved in are
    removed and the previous ones it had moved aside are put back.
    """
    removed = []
    for stage in Path(out).glob(f"{STAGING_PREFIX}*"):
        pid = stage.name[len(STAGING_PREFIX) :].split("-")[0]
        if not stage.is_dir() or (pid.isdigit() and _alive(int(pid))):
            continue
        manifest = stage / _ASIDE / _MANIFEST
        if manifest.exists():  # killed inside a commit: back to the previous set
            for line in manifest.read_text(encoding="utf-8").splitlines():
                if not (stage / line).exists():  # already moved in
                    (Path(out) / line).unlink(missing_ok=True)
            manifest.unlink()
            for old in sorted(p for p in (stage / _ASIDE).rglob("*") if p.is_file()):
                dst = Path(out) / old.relative_to(stage / _ASIDE)
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.replace(old, dst)
        shutil.rmtree(stage, ignore_errors=True)
        log.info("removed the staging folder %s of a killed run", stage)
        removed.append(stage)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


#: A write failing with less space than this left is taken for a full disk: GDAL's errors
#: (``TIFFAppendToStrip: Write error``) lose the system's errno.
_LOW_SPACE = 16 * 2**20


@contextlib.contextmanager
def _disk_full_as_error(out: Path, needed: int) -> Iterator[None]:
    """Turn a full disk or quota during the block into one :class:`OutputError`."""
    try:
        yield
    except OutputError:
        raise
    except Exception as err:
        free = shutil.disk_usage(out).free
        if not export.disk_full(err) and free >= _LOW_SPACE:
            raise
        raise OutputError(
            f"the disk is full (writing the outputs needs about {_megabytes(needed)}, "
            f"{_megabytes(free)} is free)",
            where=str(out),
            fix="free some space there, or choose another --out; the previous outputs are kept",
        ) from err


def _report() -> ModuleType:
    """The report stage, imported on first use: only runs that write a report load matplotlib."""
    from urbanshrink_gis import report

    return report


def report_from_outputs(
    out_dir: str | os.PathLike, *, overwrite: bool = False, progress: Progress | None = None
) -> tuple[Path, ...]:
    """Write ``report/`` again from the tables of an earlier run in ``out_dir``.

    ``progress`` is called with ("report", 0, 1) and ("report", 1, 1).

    Raises
    ------
    ConfigError
        ``out_dir`` holds no run (no ``urbanshrink.gpkg`` or CSV tables).
    InputError
        A table the report needs (``urbanshrink.gpkg`` layer ``cities``, ``city_year.csv``,
        ``summary.csv``) is missing, unreadable or lacks its columns; the message names the
        file and how to write it again.
    OutputExistsError
        Report files exist and ``overwrite`` is False.
    OutputError
        ``OUT/report`` is a file, or the disk is full (the previous report is kept).

    Notes
    -----
    The pages are written into a staging folder and moved in together, as :func:`run`'s
    outputs: the previous report's files all go (a chart no longer drawn too), or none.
    """
    out = Path(out_dir)
    gpkg = out / "urbanshrink.gpkg"
    if not gpkg.exists():
        raise ConfigError(
            "holds no run (no urbanshrink.gpkg)", where=str(out), fix="run `urbanshrink run` first"
        )
    with _run_table(gpkg, out):
        cities = _read_layer_with_booleans(gpkg, "cities")
    with _run_table(out / "city_year.csv", out):
        city_year = read_city_year(out / "city_year.csv")
    with _run_table(out / "summary.csv", out):
        summary = pd.read_csv(out / "summary.csv", index_col=0)
    sens = out / "sensitivity.csv"  # absent in runs of earlier versions
    with _run_table(sens, out):
        sens = pd.read_csv(sens, index_col=[0, 1]) if sens.exists() else None
    scopes = out / "scopes.csv"  # a run of two scopes
    with _run_table(scopes, out):
        scopes = pd.read_csv(scopes, index_col=0) if scopes.exists() else None
    pages = [f"report/{n}" for n in _report().REPORT_FILES]
    export.check_outputs(out, pages, overwrite=overwrite)
    check_destinations(out, pages)
    try:  # staged and committed as a run's outputs: the old pages all go, or none
        old = [p for p in pages if (out / p).is_file()]
        with _staged(out, retire=old) as stage, _one_step(progress, "report"):
            written = _report().write_report(
                stage / "report", cities, city_year, summary, sensitivity=sens, scopes=scopes,
                overwrite=True,
            )  # fmt: skip
        return tuple(out / p.relative_to(stage) for p in written)
    except InputError as err:  # the tables read but lack what the report needs
        raise InputError(
            f"holds tables the report cannot use ({err.what}; cities is urbanshrink.gpkg layer "
            "cities, city_year and summary are city_year.csv and summary.csv)",
            where=str(out),
            fix=_REGENERATE.format(out=out),
        ) from err


_REGENERATE = (
    "write the run's tables again with `urbanshrink export CONFIG.toml --out {out} --overwrite` "
    "(the checkpoints make it quick), then `urbanshrink report {out} --overwrite`"
)


@contextlib.contextmanager
def _run_table(path: Path, out: Path) -> Iterator[None]:
    """Turn a missing or unreadable table of a run folder into one :class:`InputError`."""
    import pyogrio.errors

    if not path.exists() and path.name not in ("sensitivity.csv", "scopes.csv"):
        raise InputError(
            "is missing from the run folder", where=str(path), fix=_REGENERATE.format(out=out)
        )
    try:
        yield
    except UrbanShrinkError as err:
        raise InputError(err.what, where=str(path), fix=_REGENERATE.format(out=out)) from err
    except (
        OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError,
        pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError,
    ) as err:  # fmt: skip
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(
            f"cannot be read ({reason})", where=str(path), fix=_REGENERATE.format(out=out)
        ) from err


def _read_layer_with_booleans(gpkg: Path, layer: str) -> gpd.GeoDataFrame:
    """A GeoPackage layer whose boolean fields come back as nullable booleans (NULL: NA)."""
    import pyogrio

    info = pyogrio.read_info(gpkg, layer=layer)
    table = gpd.read_file(gpkg, layer=layer, engine="pyogrio")
    flags = [f for f, kind in zip(info["fields"], info["dtypes"], strict=True) if kind == "bool"]
    return table.astype(dict.fromkeys(flags, "boolean"))


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
            title=f"{self.description} ({self.units})" if self.units else self.description,
        )  # fmt: skip
        return layer, path


def new_builtup_table(
    config: RunConfig,
    boundaries: gpd.GeoDataFrame,
    series: Sequence[sources.Series],
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
    pair, source = _vacancy_pair(config, series), vacancy_source(config, series)
    if pair is None or source is None:
        return None
    (lc, lc_series), (ntl, ntl_series) = pair
    first, last = _period_years(config, lc_series)
    fingerprint = {
        "landcover": _fingerprint(config, lc, lc_series),
        "nightlight": _fingerprint(config, ntl, ntl_series),
        "files": _year_files(lc_series, first, last) + _year_files(ntl_series, last),
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


def raster_names(config: RunConfig) -> list[str]:
    """File names of the change and trend rasters a run writes (from the years alone)."""
    a = config.analysis
    first = {k: next((r for r in config.rasters if r.kind == k), None) for k in _PER_PIXEL}
    found = {k: r.files() for k, r in first.items() if r is not None}  # one walk per series
    within = {k: [y for y in sorted(f) if a.start <= y <= a.end] for k, f in found.items()}
    names = []
    for kind, years in within.items():
        if len(years) < 2:
            continue
        span = f"{years[0]}_{years[-1]}"
        if kind == "landcover":
            names.append(f"builtup_change_{span}.tif")
        else:
            names += [f"ntl_change_{span}.tif", f"ntl_trend_{span}.tif"]
    land, lc = first["landcover"], within.get("landcover", [])
    classes = land is not None and land.preset().kind == "landcover"
    if classes and "nightlight" in found and len(lc) >= 2 and lc[-1] in found["nightlight"]:
        names.append("new_builtup_dark.tif")
    return names


_PER_PIXEL = ("landcover", "nightlight")  # the kinds whose first series makes output rasters


def raster_plans(config: RunConfig, series: Sequence[sources.Series]) -> list[RasterPlan]:
    """The change and trend rasters of a run over its analysis period.

    Built-up change (gain / loss / stable / never) from the first land-cover series; night-light
    change and per-pixel OLS trend from the first night-light series; each between the first
    and last of the series' years that fall within ``[analysis] start..end``; and new built-up
    lit or dark (see :func:`vacancy_source`). A series in several CRSs is warped by nearest
    neighbour onto the grid of its first CRS group.
    """
    a = config.analysis
    plans: list[RasterPlan] = []
    for kind in _PER_PIXEL:
        pair = _first_of(config, series, kind)
        if pair is None:
            continue
        _, one = pair
        years = [y for y in one.years if a.start <= y <= a.end]
        if len(years) < 2:
            continue
        first, last, product = one.path(years[0]), one.path(years[-1]), one.product
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
            "float32", float("nan"), units=units, ramp="diverging", visible=False,
        ))  # fmt: skip
        within = {y: one.path(y) for y in years}
        method = config.output.trend
        plans.append(RasterPlan(
            f"ntl_trend_{span}.tif",
            f"night-light trend {years[0]}-{years[-1]} ({_TREND_NAMES[method]} slope per year)",
            functools.partial(change.nightlight_trend_blocks, within, product, method=method),
            first,
            "float32", float("nan"), units=f"{units} per year", ramp="diverging", visible=False,
        ))  # fmt: skip
    source = vacancy_source(config, series)
    if source is not None:
        plans.append(RasterPlan(
            "new_builtup_dark.tif", "built-up old and new, lit or dark at the period's end",
            source.blocks, source.landcover, "uint8", 0, categories=vacancy.VACANCY_CLASSES,
        ))  # fmt: skip
    return plans


SOURCES_TABLE = "sources.csv"


def report_context(config: RunConfig, series: Sequence[sources.Series]) -> dict[str, Any]:
    """What the report states about a run (see :func:`urbanshrink_gis.report.write_report`).

    The date is today's (UTC), so a report rerun on another day differs in that line only.
    """
    a, b = config.analysis, config.boundaries
    settings = {
        k: v for k, v in dataclasses.asdict(a).items() if k not in ("start", "end", "shrink_rule")
    }
    inputs = [
        {"series": raster.label, "kind": raster.kind, "product": one.product.name,
         "years": list(one.years), "files": sum(len(one.files[y]) for y in one.years)}
        for raster, one in zip(config.rasters, series, strict=True)
    ]  # fmt: skip
    population = None
    if config.population is not None:
        spec = config.population.spec
        population = f"{Path(spec.path).name} (id {spec.id})"
        if config.population.interpolate:
            population += f", {config.population.interpolate} interpolation between censuses"
    return {
        "date": datetime.datetime.now(datetime.UTC).date().isoformat(),
        "period": f"{a.start}–{a.end}",
        "rule": a.shrink_rule,
        "scope": ", ".join(b.scope),
        "settings": settings,
        "inputs": inputs,
        "population": population,
        "boundaries": f"{Path(b.path).name} (id {b.id})",
    }


def sources_table(config: RunConfig, series: Sequence[sources.Series]) -> pd.DataFrame:
    """One row per series and year: the product, its files and what was read from them."""
    rows = []
    for raster, one in zip(config.rasters, series, strict=True):
        p = one.product
        for year in one.years:
            rows.append({
                "series": raster.label, "kind": raster.kind, "product": p.name, "year": year,
                "files": "; ".join(one.files[year]), "n_files": len(one.files[year]),
                "crs_groups": len(one.groups[year]), "sensor": p.sensor or "",
                "nodata": p.nodata, "scale": p.scale, "offset": p.offset, "units": p.units,
                "allow_outside_product": raster.allow_outside_product,
                "notes": " | ".join(one.notes),
            })  # fmt: skip
    return pd.DataFrame(rows).set_index(["series", "year"])


def run_demo(
    out_dir: str | os.PathLike = "outputs/demo",
    *,
    overwrite: bool = False,
    scheduler: str = "threads",
    workers: int | None = None,
    progress: Progress | None = None,
    excel: bool = False,
) -> RunResult:
    """Write the demo dataset under ``out_dir/data`` (once) and run the whole job on it.

    ``excel``: CSVs with a UTF-8 byte order mark (see :class:`OutputConfig`).
    """
    out = Path(out_dir)
    check_output_folder(out)
    _check_outputs(out, overwrite)
    config = out / "data" / "urbanshrink.toml"
    if not config.exists():  # kept when present, so a repeated demo resumes from checkpoints
        write_demo_data(out / "data")
    return run(
        with_excel_csv(load_config(config), excel), out_dir=out, overwrite=overwrite,
        scheduler=scheduler, workers=workers, progress=progress,
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
