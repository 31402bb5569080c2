"""Everything a run needs, checked before the first pixel is read."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd

from urbanshrink_gis import export
from urbanshrink_gis.errors import (
    PopulationError,
    UrbanShrinkWarning,
)
from urbanshrink_gis.export import cog
from urbanshrink_gis.io.boundaries import read_boundaries
from urbanshrink_gis.io.population import interpolate_population, read_population
from urbanshrink_gis.pipeline.checkpoints import CHECKPOINT_DIR
from urbanshrink_gis.pipeline.config import RunConfig
from urbanshrink_gis.pipeline.plans import RASTER_DIR, raster_names
from urbanshrink_gis.pipeline.stages import _check_population_years
from urbanshrink_gis.pipeline.staging import (
    SOURCES_TABLE,
    _check_path_lengths,
    _report,
    check_destinations,
    check_output_folder,
)

__all__ = ["CheckedRun", "validate_run"]


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
        goes, or its paths are too long for the file system or for sqlite3 (the GeoPackage).
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
