"""The run configuration: a TOML file read into frozen dataclasses, checked once."""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from urbanshrink_gis import export
from urbanshrink_gis.analysis import (
    AnalysisConfig,
    PopulationKind,
)
from urbanshrink_gis.errors import ConfigError, did_you_mean
from urbanshrink_gis.io import series as sources
from urbanshrink_gis.io.population import PopulationSpec
from urbanshrink_gis.metrics import change
from urbanshrink_gis.products.model import Product, custom_product
from urbanshrink_gis.products.presets import get_product
from urbanshrink_gis.zonal.coverage import Coverage

__all__ = [
    "BoundariesConfig",
    "OutputConfig",
    "PopulationConfig",
    "RasterConfig",
    "RunConfig",
    "load_config",
    "with_excel_csv",
]

RasterKind = Literal["landcover", "nightlight", "population"]
PopulationColumn = Literal["pop_grid", "pop_resident"]
Interpolation = Literal["linear", "loglinear"]
Scope = Literal["prefecture", "urban"]


@dataclass(frozen=True, slots=True)
class UrbanConfig:
    """The urban footprint of each prefecture, the unit of the ``"urban"`` scope.

    Either a polygon layer (``path``) joined to the prefectures by ``id``, or, without
    ``path``, derived from the land cover of ``year`` (see
    :func:`urbanshrink_gis.metrics.footprints.derive_footprints`) and written as layer
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
        part (see :mod:`urbanshrink_gis.io.series`); the files of a year form its mosaic.
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
        pattern, root = self.own_pattern(self.path)  # type: ignore[arg-type]
        return sources.find_files(pattern, self.years, root=root)

    def own_pattern(self, path: str) -> tuple[str, Path | None]:
        """A path of this table (``path``, ``weights``) as written, and the folder it is under.

        The configuration's folder is taken literally: only the part the table wrote is a
        pattern, so a folder named ``run_{year}`` is no placeholder. The folder is None when
        the path lies elsewhere (it was written absolute).
        """
        base = os.path.join(self.base, "")
        if path.startswith(base) and base != os.sep:
            return path[len(base) :], self.base
        return path, None

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
            hint = did_you_mean(key, valid).strip() or f"valid keys: {', '.join(valid)}"
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
            hint_text = did_you_mean(value, args)
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
