"""The units of a run: prefectures and urban footprints, each with its own tables."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from urbanshrink_gis import _files
from urbanshrink_gis._progress import StageProgress, prefixed
from urbanshrink_gis.analysis import (
    analyse,
    sensitivity,
    summarise,
)
from urbanshrink_gis.errors import (
    ConfigError,
    UrbanShrinkWarning,
)
from urbanshrink_gis.export import cog
from urbanshrink_gis.io import series as sources
from urbanshrink_gis.metrics import footprints as urban_stage
from urbanshrink_gis.pipeline.checkpoints import Checkpoints
from urbanshrink_gis.pipeline.config import BoundariesConfig, RunConfig, Scope, UrbanConfig
from urbanshrink_gis.pipeline.sources import _year_files
from urbanshrink_gis.pipeline.stages import (
    _fingerprint,
    _first_of,
    _through_checkpoints,
    city_year_table,
    new_builtup_table,
)
from urbanshrink_gis.zonal.engine import Engine


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
    engine: Engine = Engine(),
    progress: StageProgress | None = None,
    population: pd.DataFrame | None = None,
    lit_dark: cog.Rendered | None = None,
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
        extent (:func:`urbanshrink_gis.io.series.clip_series`).
    footprints
        Output of :func:`urban_footprints`, for the urban scope.
    checkpoints
        Checkpoint folder (the urban scope keeps its own ``urban/`` inside).
    engine, progress
        As for :func:`run`; the urban scope's stages are named ``urban ...``.
    population
        The population table already read (see :func:`city_year_table`).
    lit_dark
        The period's lit/dark codes rendered from ``cut`` (:func:`period_pixels`), which the
        dark and new built-up tables of every scope count.
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
            progress = prefixed(progress, "urban ")
    with _labelled_warnings(f"{scope} scope: " if len(b.scope) > 1 else ""):
        city_year = city_year_table(
            scoped, zones, series=series, checkpoints=checkpoints, engine=engine,
            progress=progress, population=population, lit_dark=lit_dark,
        )  # fmt: skip
        new = new_builtup_table(
            scoped, zones, cut, checkpoints=checkpoints, lit_dark=lit_dark, engine=engine,
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
    progress: StageProgress | None = None,
) -> gpd.GeoDataFrame:
    """Each prefecture's urban footprint as ``[boundaries.urban]`` says.

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
        with _files.atomic_path(path, overwrite=True) as tmp, _files.sqlite_safe_path(tmp) as name:
            footprints.to_file(name, layer="urban_footprint", driver="GPKG", engine="pyogrio")
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
