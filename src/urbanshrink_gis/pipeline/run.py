"""The whole job in stage order, and the demo."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd

from urbanshrink_gis import export
from urbanshrink_gis._progress import StageProgress, for_stage, one_step
from urbanshrink_gis.demo import write_demo_data
from urbanshrink_gis.io import series as sources
from urbanshrink_gis.pipeline.checkpoints import CHECKPOINT_DIR
from urbanshrink_gis.pipeline.config import RunConfig, load_config, with_excel_csv
from urbanshrink_gis.pipeline.outputs import report_context, sources_table
from urbanshrink_gis.pipeline.plans import RASTER_DIR, raster_plans, write_rasters
from urbanshrink_gis.pipeline.scopes import (
    ScopeTables,
    compare_scopes,
    scope_tables,
    urban_footprints,
)
from urbanshrink_gis.pipeline.sources import check_source_values, resolve_sources
from urbanshrink_gis.pipeline.stages import LIT_DARK, PIXEL_DIR, period_pixels, vacancy_source
from urbanshrink_gis.pipeline.staging import (
    SOURCES_TABLE,
    _check_path_lengths,
    _previous_set,
    _report,
    _staged,
    _undone_on_failure,
    check_destinations,
    check_free_space,
    check_output_folder,
    require_free_space,
)
from urbanshrink_gis.pipeline.validate import _check_outputs, validate_run
from urbanshrink_gis.zonal.engine import Engine
from urbanshrink_gis.zonal.parallel import run_beside

__all__ = ["RunResult", "run", "run_demo"]


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


def run(
    config: RunConfig,
    *,
    out_dir: str | os.PathLike | None = None,
    overwrite: bool = False,
    engine: Engine = Engine(),
    with_report: bool = True,
    progress: StageProgress | None = None,
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
    engine
        Where the zonal engine runs (:class:`~urbanshrink_gis.zonal.Engine`: scheduler and
        workers; each raster series takes its ``coverage`` from the configuration). Results
        are the same wherever it runs.
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
    pixels = {}  # the lit/dark and built-up change rasters' pixels, counted by the tables
    if vacancy_source(config, cut) is not None:
        pixels = period_pixels(config, cut, out / CHECKPOINT_DIR / PIXEL_DIR, engine=engine,
                               progress=progress)  # fmt: skip
    retire = _previous_set(out, with_report)  # the previous run's files this run replaces
    context = report_context(config, series)
    with _staged(out, needed=needed, retire=retire) as stage:  # all files or none
        steps = {p.name: None if progress is None else for_stage(progress, f"raster {p.name}")
                 for p in plans}  # fmt: skip

        def tables() -> list[ScopeTables]:
            return [
                scope_tables(config, scope, boundaries, series, cut, footprints=footprints,
                             checkpoints=out / CHECKPOINT_DIR, population=checked.population,
                             engine=engine, progress=progress, lit_dark=pixels.get(LIT_DARK))
                for scope in b.scope
            ]  # fmt: skip

        # On a Dask cluster the COG copies, long tasks, would hold the workers the tables
        # need (measured: 2 workers took 22.8 s so, 19.5 s with the tables first): there the
        # rasters start after the tables, beside the report.
        scopes = tables() if engine.scheduler.startswith("tcp://") else None
        with run_beside(write_rasters, plans, stage / RASTER_DIR, overwrite=True,
                        engine=engine, progress=steps, rendered=pixels) as rasters:  # fmt: skip
            if scopes is None:
                scopes = tables()
            head = scopes[0]  # with no city carrying data, analysis said so in one line
            compared = compare_scopes(scopes) if len(scopes) > 1 else None
            pages = ()
            if with_report:
                with one_step(progress, "report"):
                    pages = _report().write_report(
                        stage / "report", head.cities, head.city_year, head.summary,
                        sensitivity=head.sensitivity, scopes=compared, overwrite=True,
                        context=context,
                    )  # fmt: skip
        layers = rasters()
        excel = config.output.excel_csv
        with one_step(progress, "tables (GeoPackage, CSV)"):
            files = export.write_run(
                stage, head.city_year, head.cities, head.summary,
                rasters=[lay for lay, _ in layers], sensitivity=head.sensitivity, overwrite=True,
                excel=excel, project_crs=config.output.project_crs,
                other_scopes=[other.scope for other in scopes[1:]], context=context,
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
        written = (*files, *(p for _, p in layers), *pages)
    shutil.rmtree(out / CHECKPOINT_DIR / PIXEL_DIR, ignore_errors=True)  # in the COG now
    paths = tuple(out / p.relative_to(stage) for p in written)
    return RunResult(
        head.city_year, head.cities, head.summary, paths, head.sensitivity, tuple(scopes), compared
    )


#: What the demo writes in its output folder before its run is validated: its dataset.
_DEMO_DATA = ("data/urbanshrink.toml", "data/truth.csv", "data/boundaries/cities.gpkg",
              "data/population/census_demo.csv")  # fmt: skip
_DEMO_FOLDERS = ("data/rasters/landcover", "data/rasters/ntl")
#: Bytes asked free for the demo: its dataset, checkpoints and outputs take about 8 MB.
_DEMO_BYTES = 16 * 2**20


def _check_demo_folder(out: Path) -> None:
    """Check the demo's output folder before its dataset is written there (writable is known).

    Raises
    ------
    OutputError
        A file where a folder of the dataset or outputs goes (or the reverse), paths too long,
        or fewer than 16 MB free.
    """
    files = [*_DEMO_DATA, *export.RUN_OUTPUTS, SOURCES_TABLE]
    check_destinations(out, files, folders=[*_DEMO_FOLDERS, RASTER_DIR, CHECKPOINT_DIR])
    _check_path_lengths(out, files)
    require_free_space(out, _DEMO_BYTES)


def run_demo(
    out_dir: str | os.PathLike = "outputs/demo",
    *,
    overwrite: bool = False,
    engine: Engine = Engine(),
    progress: StageProgress | None = None,
    excel: bool = False,
) -> RunResult:
    """Write the demo dataset under ``out_dir/data`` (once) and run the whole job on it.

    The output folder is checked first (writable, no file where a folder goes, path lengths,
    16 MB free), so a folder the demo cannot use gets nothing written. ``engine`` and
    ``progress`` as for :func:`run`; ``excel``: CSVs with a UTF-8 byte order mark (see
    :class:`OutputConfig`).
    """
    out = Path(out_dir)
    check_output_folder(out)
    _check_outputs(out, overwrite)
    config = out / "data" / "urbanshrink.toml"
    if not config.exists():  # kept when present, so a repeated demo resumes from checkpoints
        _check_demo_folder(out)
        write_demo_data(out / "data")
    return run(
        with_excel_csv(load_config(config), excel), out_dir=out, overwrite=overwrite,
        engine=engine, progress=progress,
    )  # fmt: skip
