"""The ``urbanshrink`` command line: thin click commands over the library functions."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import Any, get_args

import click

from urbanshrink_gis import demo, export, metrics, pipeline
from urbanshrink_gis.analysis import AnalysisConfig, ShrinkRule, analyse, sensitivity, summarise
from urbanshrink_gis.errors import UrbanShrinkError, UrbanShrinkWarning, did_you_mean
from urbanshrink_gis.io import read_boundaries
from urbanshrink_gis.pipeline import prepare
from urbanshrink_gis.products.check import check_file
from urbanshrink_gis.products.model import Kind
from urbanshrink_gis.products.presets import get_product, presets_by_kind, product_names
from urbanshrink_gis.zonal.coverage import Coverage
from urbanshrink_gis.zonal.engine import Engine, check_class_raster, zonal_stats
from urbanshrink_gis.zonal.parallel import check_scheduler
from urbanshrink_gis.zonal.stats import DEFAULT_STATS, statistics_help

log = logging.getLogger("urbanshrink_gis")


class BadInput(click.ClickException):
    """Bad input: one line on stderr, exit code 2."""

    exit_code = 2


#: Exit code of a command stopped by Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED = 130
_RESUMABLE = ("run", "export", "prepare")


class Cli(click.Group):
    """Turns every :class:`UrbanShrinkError` into one line and exit code 2.

    Every warning (the project's :class:`UrbanShrinkWarning` s and those of dependencies) is
    one ``Warning:`` line on stderr, hidden by ``-q``. Ctrl-C exits 130, saying whether the
    command resumes when started again.
    """

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command, translating the project's errors and showing its warnings."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("always", UrbanShrinkWarning)
                warnings.showwarning = functools.partial(_show_warning, ctx)
                return super().invoke(ctx)
        except UrbanShrinkError as err:
            # with -v the traceback, and then the one-line error last
            log.info("traceback of the error below", exc_info=True)
            command = self.get_command(ctx, ctx.invoked_subcommand or "")
            raise BadInput(_in_terms_of(command, err)) from None
        except KeyboardInterrupt:
            name = ctx.invoked_subcommand
            again = (
                "run the same command again to resume from its checkpoints"
                if name in _RESUMABLE
                else "nothing was written"
            )
            click.echo(f"\nInterrupted: {again}.", err=True)
            ctx.exit(INTERRUPTED)


def _in_terms_of(command: click.Command | None, err: UrbanShrinkError) -> str:
    """The error as its user knows the settings: TOML keys with a CONFIG, else the options.

    A setting is spelled as the command's option whose parameter has its name (``zone_id``:
    ``--id``); see :meth:`UrbanShrinkError.spelled`.
    """
    params = command.params if command is not None else []
    if any(p.name == "config" for p in params):
        return str(err)
    options = {
        p.name: max(p.opts, key=len)
        for p in params
        if isinstance(p, click.Option) and p.name and p.opts[-1].startswith("--")
    }
    return err.spelled(options)


def _show_warning(ctx: click.Context, message: Warning | str, category: type,
                  *args: Any, **kwargs: Any) -> None:  # fmt: skip
    """One ``Warning:`` line on stderr (the category too with ``-v``), none with ``-q``."""
    obj = ctx.obj or {}
    if obj.get("quiet", 0):
        return
    text = " ".join(str(message).split())
    if obj.get("verbose", 0) and not issubclass(category, UrbanShrinkWarning):
        text = f"{text} ({category.__name__})"
    click.echo(f"Warning: {text}", err=True)


class _LogLine(logging.Formatter):
    """Log records of the library and its dependencies (GDAL via rasterio) as CLI lines."""

    def format(self, record: logging.LogRecord) -> str:
        text = " ".join(record.getMessage().split())
        if record.levelno >= logging.ERROR:
            text = f"Error: {text}"
        elif record.levelno >= logging.WARNING:
            text = f"Warning: {text}"
        else:
            text = f"{record.levelname.lower()} {record.name}: {text}"
        if record.exc_info:  # the traceback asked for with -v
            text = f"{text}\n{self.formatException(record.exc_info)}"
        return text


class _Stderr(logging.Handler):
    """Writes to the current stderr (click's, in tests too)."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(self.format(record), err=True)


def _set_verbosity(obj: dict[str, int]) -> None:
    level = logging.WARNING - 10 * obj["verbose"] + 10 * obj["quiet"]
    root = logging.getLogger()
    if not root.handlers:  # an application (or pytest) that set up logging keeps its own
        handler = _Stderr()
        handler.setFormatter(_LogLine())
        root.addHandler(handler)
    root.setLevel(max(level, logging.DEBUG))


def _add_verbosity(ctx: click.Context, param: click.Parameter, value: int) -> int:
    """-v / -q after the subcommand add to those before it."""
    root = ctx.find_root()
    if value and root.obj is not None:
        root.obj[param.name] += value
        _set_verbosity(root.obj)
    return value


_VERBOSE_HELP = "More messages (-vv for debug, tracebacks); before or after the command."
_QUIET_HELP = "Fewer messages (-qq: no progress lines); before or after the command."


def _verbosity_params() -> list[click.Option]:
    return [
        click.Option(["-v", "--verbose"], count=True, expose_value=False,
                     callback=_add_verbosity, help=_VERBOSE_HELP),
        click.Option(["-q", "--quiet"], count=True, expose_value=False,
                     callback=_add_verbosity, help=_QUIET_HELP),
    ]  # fmt: skip


overwrite_opt = click.option(
    "--overwrite", is_flag=True, help="Replace existing outputs (never done without it)."
)
excel_opt = click.option(
    "--excel", is_flag=True, help="CSV with a UTF-8 byte order mark, for Excel on Windows."
)


run_excel_opt = click.option(
    "--excel", is_flag=True,
    help="CSVs with a UTF-8 byte order mark, for Excel on Windows ([output] excel_csv = true).",
)  # fmt: skip


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


def _words(values: tuple[str, ...]) -> list[str]:
    """Repeated options' values, each split at spaces and commas, in order."""
    return [w for v in values for w in v.replace(",", " ").split()]


def _parse_years(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> tuple[int, ...] | None:
    words = _words(values)
    bad = [w for w in words if not w.isdigit()]
    if bad:
        raise click.BadParameter(
            f"{bad[0]!r} is not a year; write --years 2010,2020 or --years '2010 2020'"
        )
    return tuple(sorted({int(w) for w in words})) or None


def _parse_list(ctx: click.Context, param: click.Parameter, value: str) -> int | None:
    if value == "all":
        return None
    if not value.isdigit():
        raise click.BadParameter(f"{value!r} is neither a number nor all")
    return int(value)


list_opt = click.option(
    "--list", "list_n", default="10", show_default=True, callback=_parse_list, metavar="N|all",
    help="Paradox cities listed on stdout (most population lost first); none with -q.",
)  # fmt: skip


def _output(formats: str) -> Callable:
    return click.option(
        "-o", "--output", required=True,
        help=f"Output table: {formats}, or - for CSV on standard output.",
    )  # fmt: skip


_ZONE_FORMATS = ".csv, .parquet, .xlsx, or .gpkg / .geojson with the zones' geometry"
_TABLE_FORMATS = ".csv, .parquet, .xlsx or .gpkg"


class _Preset(click.Choice):
    """The preset names of some kinds, from the registry; a wrong one is refused in one line."""

    def __init__(self, kinds: tuple[Kind, ...] | None = None) -> None:
        super().__init__(product_names(kinds), case_sensitive=False)
        self.kinds = kinds

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        name = str(value).strip().lower()
        if name not in self.choices:
            hint = did_you_mean(value, self.choices)
            raise BadInput(
                f"--product: unknown product {value!r}; {hint}choose from {', '.join(self.choices)}"
            )
        return name


def _product_option(kinds: tuple[Kind, ...] | None = None, **kwargs: Any) -> Callable:
    """``--product NAME``: a preset of the registry, its names grouped by kind in ``--help``."""
    help_text = kwargs.pop("help", "Product preset")
    return click.option(
        "--product", type=_Preset(kinds), metavar="NAME",
        help=f"{help_text}: {presets_by_kind(kinds)}.", **kwargs,
    )  # fmt: skip


def zone_opts(f: Callable) -> Callable:
    """The options of every per-zone command (zonal, builtup, nightlight), declared once."""
    for option in reversed([
        click.option("--id", "zone_id", required=True, help="Zone field identifying each city."),
        click.option("--id-as", help="Name of the id column in the output (default: --id's)."),
        click.option("--include-cols", multiple=True, metavar="A,B",
                     help="Zone fields copied to the output (repeatable, comma-separated)."),
        click.option("--layer", help="Layer of ZONES (default: the first)."),
        click.option("--coverage", type=click.Choice(get_args(Coverage)), default="center",
                     show_default=True, help="Which pixels a zone counts."),
        _output(_ZONE_FORMATS),
        overwrite_opt,
        excel_opt,
        engine_opts,
    ]):  # fmt: skip
        f = option(f)
    return f


@click.group(cls=Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help=_VERBOSE_HELP)
@click.option("-q", "--quiet", count=True, help=_QUIET_HELP)
@click.version_option(package_name="urbanshrink_gis")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: int) -> None:
    """Measure shrinking cities that keep expanding, from night-light and land-cover rasters.

    Per-zone commands take the raster (or {year} pattern) first, then the zones.
    """
    ctx.obj = {"verbose": verbose, "quiet": quiet}
    _set_verbosity(ctx.obj)


class _Zones:
    """The zones of a per-zone command and how its output names and carries them."""

    def __init__(self, ctx: click.Context, zones: str, p: dict[str, Any]) -> None:
        self.output, self.overwrite, self.excel = p["output"], p["overwrite"], p["excel"]
        export.check_output(self.output, overwrite=self.overwrite)
        self.id_field, self.id_as = p["zone_id"], p["id_as"]
        self.include = _words(p["include_cols"])
        self.boundaries = read_boundaries(zones, id_field=self.id_field, layer=p["layer"])
        export.check_zone_columns(self.boundaries, id_field=self.id_field, id_as=self.id_as,
                                  include_cols=self.include)  # fmt: skip
        self.engine = Engine(p["coverage"], p["scheduler"], p["workers"])

    def write(self, table: Any, rows: str = "zones") -> None:
        out = export.zone_output(
            table, self.boundaries, id_field=self.id_field, id_as=self.id_as,
            include_cols=self.include,
        )  # fmt: skip
        export.write_table(out, self.output, overwrite=self.overwrite, excel=self.excel,
                           parents=False)  # fmt: skip
        if self.output != export.STDOUT:
            click.echo(f"wrote {len(out)} {rows} to {self.output}")


@cli.command()
@click.argument("raster")  # a plain string: /vsigzip/ paths are not files; io checks them
@click.argument("zones")
@zone_opts
@click.option(
    "--stats",
    multiple=True,
    help=f"Statistics, repeatable, space- or comma-separated [default: {' '.join(DEFAULT_STATS)}]."
    f" {statistics_help()}.",
)
@click.option("--categorical", is_flag=True, help="Pixel counts per class value (integer rasters).")
@click.option("--areas", is_flag=True, help="With --categorical, true areas per class (km²).")
@_product_option(
    help="Preset of RASTER (its band, nodata and scale, and its legend naming the classes)"
)
@click.option("--band", type=click.IntRange(min=1), help="Band number [default: 1].")
@click.option("--nodata", type=float, help="Override the raster's nodata value.")
@click.option("--threshold", type=float, help="Value above which above_count/above_km2 count.")
@click.option(
    "--weights",
    help="Weights raster (e.g. population) for weighted_sum / weighted_mean; another grid is"
    " warped onto RASTER's, nearest.",
)
@click.pass_context
def zonal(ctx: click.Context, raster: str, zones: str, **p: Any) -> None:
    """Zonal statistics of RASTER for every zone in ZONES."""
    if p["areas"] and not p["categorical"]:
        raise BadInput("--areas gives the km² of each class: it needs --categorical")
    if p["stats"] and p["categorical"]:
        raise BadInput("--stats does not apply to --categorical (pixel counts per class)")
    target = _Zones(ctx, zones, p)
    preset = get_product(p["product"]) if p["product"] else None
    settings = _raster_settings(preset, p)
    if p["categorical"]:
        check_class_raster(raster, band=settings["band"])
    with _stage_progress(ctx, "zonal statistics") as progress:
        table = zonal_stats(
            target.boundaries, raster, _words(p["stats"]) or DEFAULT_STATS, zone_id="city_id",
            categorical=p["categorical"], areas=p["areas"], weights=p["weights"],
            threshold=p["threshold"], progress=progress, **settings, **asdict(target.engine),
        )  # fmt: skip
    if p["categorical"]:
        table = export.class_columns(table, preset.classes if preset else None)
    target.write(table)


def _raster_settings(preset: Any, p: dict[str, Any]) -> dict[str, Any]:
    """Band, nodata, scale and offset: the options given, else the preset's, else the file's."""
    band = p["band"] or (preset.band if preset else 1)
    nodata = p["nodata"] if p["nodata"] is not None else (preset.nodata if preset else None)
    factors = dict(scale=preset.scale, offset=preset.offset) if preset else {}
    return dict(band=band, nodata=nodata, **factors)


@cli.command()
@click.argument("config", required=False)
@click.option("--out", "out_dir", help="Output folder (default: [output] dir, or outputs/demo).")
@overwrite_opt
@run_excel_opt
@list_opt
@engine_opts
@click.pass_context
def run(
    ctx: click.Context,
    config: str | None,
    out_dir: str | None,
    overwrite: bool,
    excel: bool,
    list_n: int | None,
    scheduler: str,
    workers: int | None,
) -> None:
    """Run the whole job of CONFIG (a TOML file); without CONFIG, the bundled demo.

    An interrupted run started again resumes from its checkpoints (OUT/.checkpoints).
    """
    engine = Engine(scheduler=scheduler, workers=workers)
    with _progress(ctx) as progress:
        if config is None:
            result = pipeline.run_demo(
                out_dir or "outputs/demo", overwrite=overwrite, engine=engine, progress=progress,
                excel=excel,
            )  # fmt: skip
        else:
            cfg = pipeline.with_excel_csv(pipeline.load_config(config), excel)
            result = pipeline.run(
                cfg, out_dir=out_dir, overwrite=overwrite, engine=engine, progress=progress
            )
    _echo_paradox(ctx, result.cities, result.summary, list_n)
    if ctx.obj["quiet"] < 2:
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


def _series_options(default_product: str, kinds: tuple[Kind, ...]) -> Callable:
    def wrap(f: Callable) -> Callable:
        for option in reversed([
            click.argument("pattern"),
            click.argument("zones"),
            zone_opts,
            _product_option(kinds, default=default_product, show_default=True),
            click.option("--years", multiple=True, callback=_parse_years,
                         help="Years, repeatable, comma- or space-separated (default: files"
                         " found)."),
            click.pass_context,
        ]):  # fmt: skip
            f = option(f)
        return f

    return wrap


def _series(pattern: str, zones: str, years: tuple[int, ...] | None) -> tuple[dict, str]:
    """Year to raster of PATTERN, and ZONES; the old order ZONES PATTERN still works."""
    if "{year}" in zones and "{year}" not in pattern:
        warnings.warn(
            "ZONES before PATTERN is the old argument order; write PATTERN ZONES",
            UrbanShrinkWarning,
            stacklevel=2,
        )
        pattern, zones = zones, pattern
    return pipeline.raster_series(pattern, years), zones


@cli.command()
@_series_options("clcd", ("landcover", "builtup_fraction"))
def builtup(ctx: click.Context, pattern: str, zones: str, product: str, years: Any,
            **p: Any) -> None:  # fmt: skip
    """Built-up km² per zone and year from a land-cover PATTERN with {year}, in ZONES."""
    series, zones = _series(pattern, zones, years)
    target = _Zones(ctx, zones, p)
    with _stage_progress(ctx, f"landcover {product}") as progress:
        table = metrics.landcover_metrics(
            target.boundaries, series, get_product(product), zone_id="city_id",
            progress=progress, engine=target.engine,
        )  # fmt: skip
    target.write(table, "rows")


@cli.command()
@_series_options("vnl2", ("nightlight",))
@click.option("--lit-threshold", type=float, help="Override the product's lit threshold.")
@click.option(
    "--weights",
    help="Population raster (a pattern with {year}, or one file for every year): adds"
    " ntl_pop_weighted_mean; another grid is warped onto the light's, nearest.",
)
@click.option("--weights-nodata", type=float, help="The weights' fill, where untagged.")
def nightlight(ctx: click.Context, pattern: str, zones: str, product: str, years: Any,
               lit_threshold: float | None, weights: str | None, weights_nodata: float | None,
               **p: Any) -> None:  # fmt: skip
    """Night-light sum, mean and lit km² per zone and year from a PATTERN with {year}."""
    if weights_nodata is not None and weights is None:
        raise BadInput("--weights-nodata is the fill of --weights: give --weights too")
    series, zones = _series(pattern, zones, years)
    target = _Zones(ctx, zones, p)
    per_year = None
    if weights is not None:
        per_year = (
            pipeline.raster_series(weights, tuple(series))
            if "{year}" in weights
            else dict.fromkeys(series, weights)
        )
    with _stage_progress(ctx, f"nightlight {product}") as progress:
        table = metrics.nightlight_metrics(
            target.boundaries, series, get_product(product), zone_id="city_id",
            lit_threshold=lit_threshold, weights=per_year, weights_nodata=weights_nodata,
            progress=progress, engine=target.engine,
        )  # fmt: skip
    target.write(table, "rows")


def analysis_opts(f: Callable) -> Callable:
    """CITY_YEAR and the options of the analysis, shared by classify and sensitivity."""
    for option in reversed([
        click.argument("city_year"),
        click.option("--start", type=int, required=True, help="First year compared."),
        click.option("--end", type=int, required=True, help="Last year compared."),
        click.option("--rule", "shrink_rule", type=click.Choice(get_args(ShrinkRule)),
                     default="period", show_default=True, help="How a city is judged shrinking."),
        click.option("--consecutive-years", default=3, show_default=True,
                     help="Falls in a row (rules consecutive, both, multi)."),
        click.option("--national-gdp-growth-pct", type=float,
                     help="The nation's GDP growth over the period, % (rule multi)."),
        _output(_TABLE_FORMATS),
        overwrite_opt,
        excel_opt,
    ]):  # fmt: skip
        f = option(f)
    return f


def _analysis_config(start, end, shrink_rule, consecutive_years, national_gdp_growth_pct):
    return AnalysisConfig(
        start, end, shrink_rule=shrink_rule, consecutive_years=consecutive_years,
        national_gdp_growth_pct=national_gdp_growth_pct,
    )  # fmt: skip


def _analysed(function: Callable, city_year: str, output: str, overwrite: bool,
              options: dict[str, Any]) -> Any:  # fmt: skip
    export.check_output(output, overwrite=overwrite, geometry=False)
    return function(pipeline.read_city_year(city_year), _analysis_config(**options))


@cli.command()
@analysis_opts
@list_opt
@click.pass_context
def classify(ctx, city_year, output, overwrite, excel, list_n, **options) -> None:
    """Flag shrinking, expanding and paradox cities from a CITY_YEAR table (CSV)."""
    table = _analysed(analyse, city_year, output, overwrite, options)
    export.write_table(table, output, overwrite=overwrite, excel=excel, parents=False)
    if output != export.STDOUT:
        _echo_paradox(ctx, table.reset_index(), summarise(table), list_n)


@cli.command("sensitivity")
@analysis_opts
def sensitivity_command(city_year, output, overwrite, excel, **options) -> None:
    """Shrinking, expanding, paradox and hollowing counts over a grid of thresholds."""
    table = _analysed(sensitivity, city_year, output, overwrite, options)
    export.write_table(table, output, overwrite=overwrite, excel=excel, parents=False)
    if output != export.STDOUT:
        click.echo(f"wrote {len(table)} threshold pairs to {output}")


@cli.command("export")
@click.argument("config")
@click.option("--out", "out_dir", help="Output folder (default: [output] dir).")
@overwrite_opt
@run_excel_opt
@engine_opts
@click.pass_context
def export_command(
    ctx: click.Context,
    config: str,
    out_dir: str | None,
    overwrite: bool,
    excel: bool,
    scheduler: str,
    workers: int | None,
) -> None:
    """Write the GeoPackage (styled, with its QGIS project), CSVs and rasters of CONFIG."""
    engine = Engine(scheduler=scheduler, workers=workers)
    with _progress(ctx) as progress:
        cfg = pipeline.with_excel_csv(pipeline.load_config(config), excel)
        result = pipeline.run(
            cfg, out_dir=out_dir, overwrite=overwrite, engine=engine, with_report=False,
            progress=progress,
        )  # fmt: skip
    click.echo(f"outputs: {', '.join(str(p) for p in result.files)}")


@cli.command("check")
@click.argument("raster")  # a plain string: /vsigzip/ paths are not files
@_product_option(required=True, help="The preset RASTER should be")
def check_command(raster: str, product: str) -> None:
    """Check RASTER against a product preset, as a run does before reading it.

    Exit 0 with one line saying what was checked; exit 2 with the problem.
    """
    click.echo(check_file(raster, product))


@cli.command("report")
@click.argument("out_dir")
@overwrite_opt
@click.pass_context
def report_command(ctx: click.Context, out_dir: str, overwrite: bool) -> None:
    """Write the charts and report.html of the run in OUT_DIR again."""
    with _progress(ctx) as progress:
        pages = pipeline.report_from_outputs(out_dir, overwrite=overwrite, progress=progress)
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
def _stage_progress(ctx: click.Context, stage: str) -> Iterator[Callable[[int, int], None] | None]:
    """A (done, total) callback of one stage, drawn as :func:`_progress` draws stages.

    None when the table goes to stdout (``-o -``), which then holds the table alone.
    """
    if ctx.params.get("output") == export.STDOUT:
        yield None  # type: ignore[misc]
        return
    with _progress(ctx) as progress:
        yield functools.partial(progress, stage)


@contextlib.contextmanager
def _progress(ctx: click.Context) -> Iterator[Callable[[str, int, int], None]]:
    """A progress callback: a bar with ETA per stage on a terminal, else one line per stage.

    Without a terminal, or with ``-q``, each stage prints one line on stdout when it ends
    (``-qq``: none), so that batch logs show progress while stderr keeps only warnings and
    the one-line error of a bad input. The stages a thread reports run one after another:
    each is timed from the end of that thread's stage before (the first of the command's own
    thread from its start, of another thread from its first update); the run's rasters are
    written in a thread of their own, beside the tables and the report. With the environment
    variable ``URBANSHRINK_PROGRESS=lines`` every update is a line ``progress: STAGE DONE/TOTAL``
    on stdout (for the QGIS plugin).
    """
    quiet = ctx.find_root().obj["quiet"]
    tty = sys.stderr.isatty() and not quiet
    lines = not tty and quiet < 2
    bars: dict[str, Any] = {}
    started: dict[str, float] = {}
    last_end = {threading.get_ident(): time.monotonic()}  # per thread: its last stage's end
    lock = threading.Lock()  # stages of two threads draw on one terminal

    machine = os.environ.get("URBANSHRINK_PROGRESS") == "lines"  # the QGIS plugin's feed

    def progress(stage: str, done: int, total: int) -> None:
        with lock:
            update(stage, done, total)

    def update(stage: str, done: int, total: int) -> None:
        if machine:
            click.echo(f"progress: {stage} {done}/{total}")
            return
        thread = threading.get_ident()
        started.setdefault(stage, last_end.setdefault(thread, time.monotonic()))
        if tty:
            if stage not in bars:
                bar = click.progressbar(
                    length=total, label=stage, file=sys.stderr, show_eta=True,
                    item_show_func=lambda text: text,
                )  # fmt: skip
                bars[stage] = bar.__enter__()
            bars[stage].update(done - bars[stage].pos)
        if done == total:
            last_end[thread] = time.monotonic()
            seconds = last_end[thread] - started.pop(stage)
            if stage in bars:
                bar = bars.pop(stage)
                bar.show_eta = False  # the finished bar keeps its elapsed time instead
                bar.update(0, f"done in {seconds:.1f} s")
                bar.render_progress()
                bar.__exit__(None, None, None)
            elif lines:
                click.echo(f"{stage}: done in {seconds:.1f} s")

    try:
        yield progress
    finally:
        for bar in bars.values():
            bar.__exit__(None, None, None)


def _echo_paradox(ctx: click.Context, cities: Any, summary: Any, limit: int | None) -> None:
    """The paradox counts and the first ``limit`` cities (None: all); only counts with -q."""
    from urbanshrink_gis.export.report.text import paradox_text

    quiet = ctx.find_root().obj["quiet"]
    if quiet < 2:
        click.echo(paradox_text(cities, summary, limit=0 if quiet else limit))


for _command in cli.commands.values():  # -v / -q after the subcommand too (`run -q`)
    _command.params.extend(_verbosity_params())


def main() -> None:
    """Entry point of the ``urbanshrink`` console script."""
    cli(prog_name="urbanshrink")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
