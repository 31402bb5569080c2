"""The ``urbanshrink`` command line: thin click commands over the library functions."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any, get_args

import click

from urbanshrink_gis import demo, export, metrics, pipeline, prepare
from urbanshrink_gis.analysis import AnalysisConfig, ShrinkRule, analyse, sensitivity, summarise
from urbanshrink_gis.errors import UrbanShrinkError, UrbanShrinkWarning
from urbanshrink_gis.parallel import check_scheduler
from urbanshrink_gis.products import get_product
from urbanshrink_gis.zonal import DEFAULT_STATS, Coverage, zonal_stats

log = logging.getLogger("urbanshrink_gis")


class BadInput(click.ClickException):
    """Bad input: one line on stderr, exit code 2."""

    exit_code = 2


class Cli(click.Group):
    """Turns every :class:`UrbanShrinkError` into one line and exit code 2.

    :class:`UrbanShrinkWarning` s are always shown, as one ``Warning:`` line each on stderr
    (hidden by ``-q``); other warnings follow the interpreter's filters.
    """

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command, translating the project's errors and showing its warnings."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("always", UrbanShrinkWarning)
                warnings.showwarning = functools.partial(_show_warning, warnings.showwarning, ctx)
                return super().invoke(ctx)
        except UrbanShrinkError as err:
            if ctx.obj and ctx.obj.get("verbose", 0) > 0:
                log.error("traceback", exc_info=True)
            raise BadInput(str(err)) from None


def _show_warning(
    show: Callable[..., None], ctx: click.Context, message: Warning | str, category: type,
    *args: Any, **kwargs: Any,
) -> None:  # fmt: skip
    if not issubclass(category, UrbanShrinkWarning):
        show(message, category, *args, **kwargs)
    elif not (ctx.obj or {}).get("quiet", 0):
        click.echo(f"Warning: {message}", err=True)


overwrite_opt = click.option(
    "--overwrite", is_flag=True, help="Replace existing outputs (never done without it)."
)


def engine_opts(f: Callable) -> Callable:
    """The --scheduler and --workers options of commands that run the zonal engine."""
    f = click.option(
        "--workers", type=click.IntRange(min=1), help="Threads or processes (default: CPUs)."
    )(f)
    return click.option(
        "--scheduler",
        default="threads",
        show_default=True,
        callback=lambda ctx, param, value: check_scheduler(value),
        help="synchronous, threads, processes, or tcp://HOST:PORT of a Dask scheduler.",
    )(f)


@click.group(cls=Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More messages (-vv for debug, tracebacks).")
@click.option("-q", "--quiet", count=True, help="Fewer messages.")
@click.version_option(package_name="urbanshrink_gis")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: int) -> None:
    """Measure shrinking cities that keep expanding, from night-light and land-cover rasters."""
    level = logging.WARNING - 10 * verbose + 10 * quiet
    logging.basicConfig(level=max(level, logging.DEBUG), format="%(levelname)s %(message)s")
    ctx.obj = {"verbose": verbose, "quiet": quiet}


@cli.command()
@click.argument("raster")  # a plain string: /vsigzip/ paths are not files; io checks them
@click.argument("zones")
@click.option("--id", "zone_id", required=True, help="Zone field that identifies each city.")
@click.option("--layer", help="Layer of ZONES (default: the first).")
@click.option(
    "--stats",
    default=" ".join(DEFAULT_STATS),
    show_default=True,
    help="Space-separated statistics (count sum mean min max std area_sum median percentile_90"
    " ...; weighted_sum weighted_mean with --weights).",
)
@click.option("--coverage", type=click.Choice(get_args(Coverage)), default="center")
@click.option("--categorical", is_flag=True, help="Pixel counts per class value.")
@click.option("--areas", is_flag=True, help="With --categorical, true areas per class (km²).")
@click.option("--band", default=1, show_default=True, help="Band number.")
@click.option("--nodata", type=float, help="Override the raster's nodata value.")
@click.option(
    "--weights",
    help="Weights raster (e.g. population) for weighted_sum / weighted_mean; another grid is"
    " warped onto RASTER's, nearest.",
)
@click.option("-o", "--output", required=True, help="Output table (.csv, .parquet or .gpkg).")
@overwrite_opt
@engine_opts
def zonal(
    raster: str,
    zones: str,
    zone_id: str,
    layer: str | None,
    stats: str,
    coverage: Coverage,
    categorical: bool,
    areas: bool,
    band: int,
    nodata: float | None,
    weights: str | None,
    output: str,
    overwrite: bool,
    scheduler: str,
    workers: int | None,
) -> None:
    """Zonal statistics of RASTER for every zone in ZONES."""
    table = zonal_stats(
        zones, raster, stats.split(), zone_id=zone_id, layer=layer, coverage=coverage,
        categorical=categorical, areas=areas, band=band, nodata=nodata, weights=weights,
        scheduler=scheduler, workers=workers,
    )  # fmt: skip
    export.write_table(table, output, overwrite=overwrite)
    click.echo(f"wrote {len(table)} zones to {output}")


@cli.command()
@click.argument("config", required=False)
@click.option("--out", "out_dir", help="Output folder (default: [output] dir, or outputs/demo).")
@overwrite_opt
@engine_opts
@click.pass_context
def run(
    ctx: click.Context,
    config: str | None,
    out_dir: str | None,
    overwrite: bool,
    scheduler: str,
    workers: int | None,
) -> None:
    """Run the whole job of CONFIG (a TOML file); without CONFIG, the bundled demo.

    An interrupted run started again resumes from its checkpoints (OUT/.checkpoints).
    """
    engine = dict(overwrite=overwrite, scheduler=scheduler, workers=workers)
    with _progress(ctx) as progress:
        if config is None:
            result = pipeline.run_demo(out_dir or "outputs/demo", progress=progress, **engine)
        else:
            cfg = pipeline.load_config(config)
            result = pipeline.run(cfg, out_dir=out_dir, progress=progress, **engine)
    click.echo(_paradox_text(result.cities, result.summary))
    click.echo(f"outputs: {', '.join(str(p) for p in result.files)}")


@cli.command("prepare")
@click.argument("config")
@click.option("--out", "out_dir", required=True, help="Folder for the COGs and the new config.")
@click.pass_context
def prepare_inputs(ctx: click.Context, config: str, out_dir: str) -> None:
    """Clip every raster of CONFIG to its cities once, into COGs, and write a new config.

    Nothing is resampled; a run on the new configuration gives the same tables. An
    interrupted prepare resumes (finished files are kept).
    """
    with _progress(ctx) as progress:
        path = prepare.prepare(config, out_dir, progress=progress)
    click.echo(f"wrote {path}; run it with: urbanshrink run {path}")


def _series_options(default_product: str) -> Callable[[Callable], Callable]:
    def wrap(f: Callable) -> Callable:
        for option in reversed([
            click.argument("zones"),
            click.argument("pattern"),
            click.option("--id", "zone_id", required=True, help="Zone field identifying cities."),
            click.option("--product", default=default_product, show_default=True,
                         help="Product preset (see the README)."),
            click.option("--years", help="Comma-separated years (default: files found)."),
            click.option("--coverage", type=click.Choice(get_args(Coverage)), default="center"),
            click.option("-o", "--output", required=True, help="Output table (.csv, .gpkg)."),
            overwrite_opt,
        ]):  # fmt: skip
            f = option(f)
        return f

    return wrap


def _years(text: str | None) -> tuple[int, ...] | None:
    return tuple(int(y) for y in text.split(",")) if text else None


@cli.command()
@_series_options("clcd")
def builtup(zones, pattern, zone_id, product, years, coverage, output, overwrite) -> None:
    """Built-up km² per city and year from a land-cover PATTERN with {year}."""
    series = pipeline.raster_series(pattern, _years(years))
    table = metrics.landcover_metrics(
        zones, series, get_product(product), zone_id=zone_id, coverage=coverage
    )
    export.write_table(table.set_index(["city_id", "year"]), output, overwrite=overwrite)
    click.echo(f"wrote {len(table)} rows to {output}")


@cli.command()
@_series_options("vnl2")
@click.option("--lit-threshold", type=float, help="Override the product's lit threshold.")
def nightlight(zones, pattern, zone_id, product, years, coverage, output, overwrite,
               lit_threshold) -> None:  # fmt: skip
    """Night-light sum, mean and lit km² per city and year from a PATTERN with {year}."""
    series = pipeline.raster_series(pattern, _years(years))
    table = metrics.nightlight_metrics(
        zones, series, get_product(product), zone_id=zone_id, coverage=coverage,
        lit_threshold=lit_threshold,
    )  # fmt: skip
    export.write_table(table.set_index(["city_id", "year"]), output, overwrite=overwrite)
    click.echo(f"wrote {len(table)} rows to {output}")


def analysis_opts(f: Callable) -> Callable:
    """CITY_YEAR and the options of the analysis, shared by classify and sensitivity."""
    for option in reversed([
        click.argument("city_year"),
        click.option("--start", type=int, required=True, help="First year compared."),
        click.option("--end", type=int, required=True, help="Last year compared."),
        click.option("--rule", type=click.Choice(get_args(ShrinkRule)), default="period"),
        click.option("--consecutive-years", default=3, show_default=True),
        click.option("--national-gdp-growth-pct", type=float,
                     help="The nation's GDP growth over the period, % (rule multi)."),
        click.option("-o", "--output", required=True, help="Output table (.csv, .gpkg)."),
        overwrite_opt,
    ]):  # fmt: skip
        f = option(f)
    return f


def _analysis_config(start, end, rule, consecutive_years, national_gdp_growth_pct):
    return AnalysisConfig(
        start, end, shrink_rule=rule, consecutive_years=consecutive_years,
        national_gdp_growth_pct=national_gdp_growth_pct,
    )  # fmt: skip


@cli.command()
@analysis_opts
def classify(city_year, output, overwrite, **options) -> None:
    """Flag shrinking, expanding and paradox cities from a CITY_YEAR table (CSV)."""
    table = analyse(pipeline.read_city_year(city_year), _analysis_config(**options))
    export.write_table(table, output, overwrite=overwrite)
    click.echo(_paradox_text(table.reset_index(), summarise(table)))


@cli.command("sensitivity")
@analysis_opts
def sensitivity_command(city_year, output, overwrite, **options) -> None:
    """Shrinking, expanding, paradox and hollowing counts over a grid of thresholds."""
    table = sensitivity(pipeline.read_city_year(city_year), _analysis_config(**options))
    export.write_table(table, output, overwrite=overwrite)
    click.echo(f"wrote {len(table)} threshold pairs to {output}")


@cli.command("export")
@click.argument("config")
@click.option("--out", "out_dir", help="Output folder (default: [output] dir).")
@overwrite_opt
@engine_opts
@click.pass_context
def export_command(
    ctx: click.Context,
    config: str,
    out_dir: str | None,
    overwrite: bool,
    scheduler: str,
    workers: int | None,
) -> None:
    """Write the GeoPackage (styled, with its QGIS project), CSVs and rasters of CONFIG."""
    engine = dict(overwrite=overwrite, scheduler=scheduler, workers=workers)
    with _progress(ctx) as progress:
        cfg = pipeline.load_config(config)
        result = pipeline.run(cfg, out_dir=out_dir, with_report=False, progress=progress, **engine)
    click.echo(f"outputs: {', '.join(str(p) for p in result.files)}")


@cli.command("report")
@click.argument("out_dir")
@overwrite_opt
def report_command(out_dir: str, overwrite: bool) -> None:
    """Write the charts and report.html of the run in OUT_DIR again."""
    pages = pipeline.report_from_outputs(out_dir, overwrite=overwrite)
    click.echo(f"wrote {', '.join(str(p) for p in pages)}")


@cli.command("demo-data")
@click.argument("directory")
@overwrite_opt
def demo_data(directory: str, overwrite: bool) -> None:
    """Write the demo dataset and its run configuration to DIRECTORY."""
    written = demo.write_demo_data(directory, overwrite=overwrite)
    click.echo(
        f"wrote the demo dataset to {written.root}; run it with: urbanshrink run {written.config}"
    )


@cli.group("qgis-plugin")
def qgis_plugin() -> None:
    """The QGIS Processing provider "Urban shrinkage" (runs this environment's CLI)."""


@qgis_plugin.command("install")
@click.option("--profile", default="default", show_default=True, help="QGIS user profile.")
@click.option(
    "--profiles-path",
    help="Folder of the QGIS profiles (default: $QGIS_CUSTOM_CONFIG_PATH/profiles, else"
    " ~/.local/share/QGIS/QGIS3/profiles).",
)
def qgis_plugin_install(profile: str, profiles_path: str | None) -> None:
    """Copy the plugin into a QGIS profile, record this environment's CLI, enable it."""
    from urbanshrink_gis.qgis_install import install_plugin

    target = install_plugin(profile, profiles_path=profiles_path)
    click.echo(f"installed {target}; restart QGIS: Processing Toolbox > Urban shrinkage")


@contextlib.contextmanager
def _progress(ctx: click.Context) -> Iterator[Callable[[str, int, int], None]]:
    """A progress callback: a bar with ETA per stage on a terminal, else one line per stage.

    Without a terminal, or with ``-q``, each stage prints one line on stdout when it ends
    (``-qq``: none), so that batch logs show progress while stderr keeps only warnings and
    the one-line error of a bad input. Stages run one after another: each is timed from the
    end of the one before (the first from the start of the command). With the environment
    variable ``URBANSHRINK_PROGRESS=lines`` every update is a line ``progress: STAGE DONE/TOTAL``
    on stdout (for the QGIS plugin).
    """
    quiet = ctx.find_root().params.get("quiet", 0)
    tty = sys.stderr.isatty() and not quiet
    lines = not tty and quiet < 2
    bars: dict[str, Any] = {}
    started: dict[str, float] = {}
    last_end = [time.monotonic()]

    machine = os.environ.get("URBANSHRINK_PROGRESS") == "lines"  # the QGIS plugin's feed

    def progress(stage: str, done: int, total: int) -> None:
        if machine:
            click.echo(f"progress: {stage} {done}/{total}")
            return
        started.setdefault(stage, last_end[0])
        if tty:
            if stage not in bars:
                bar = click.progressbar(length=total, label=stage, file=sys.stderr, show_eta=True)
                bars[stage] = bar.__enter__()
            bars[stage].update(done - bars[stage].pos)
        if done == total:
            last_end[0] = time.monotonic()
            seconds = last_end[0] - started.pop(stage)
            if stage in bars:
                bars.pop(stage).__exit__(None, None, None)
            elif lines:
                click.echo(f"{stage}: done in {seconds:.1f} s")

    try:
        yield progress
    finally:
        for bar in bars.values():
            bar.__exit__(None, None, None)


def _paradox_text(cities: Any, summary: Any) -> str:
    """:func:`urbanshrink_gis.report.paradox_text`, imported on use (it loads matplotlib)."""
    from urbanshrink_gis.report import paradox_text as text

    return text(cities, summary)


def main() -> None:
    """Entry point of the ``urbanshrink`` console script."""
    cli(prog_name="urbanshrink")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
