"""The ``urbanshrink`` command line: thin click commands over the library functions."""

from __future__ import annotations

import logging
import sys
from typing import Any, get_args

import click

from urbanshrink_gis import demo, export
from urbanshrink_gis.errors import UrbanShrinkError
from urbanshrink_gis.zonal import DEFAULT_STATS, Coverage, zonal_stats

log = logging.getLogger("urbanshrink_gis")


class BadInput(click.ClickException):
    """Bad input: one line on stderr, exit code 2."""

    exit_code = 2


class Cli(click.Group):
    """Turns every :class:`UrbanShrinkError` into one line and exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command, translating the project's errors."""
        try:
            return super().invoke(ctx)
        except UrbanShrinkError as err:
            if ctx.obj and ctx.obj.get("verbose", 0) > 0:
                log.error("traceback", exc_info=True)
            raise BadInput(str(err)) from None


overwrite_opt = click.option(
    "--overwrite", is_flag=True, help="Replace existing outputs (never done without it)."
)


@click.group(cls=Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More messages (-vv for debug, tracebacks).")
@click.option("-q", "--quiet", count=True, help="Fewer messages.")
@click.version_option(package_name="urbanshrink_gis")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: int) -> None:
    """Measure shrinking cities that keep expanding, from night-light and land-cover rasters."""
    level = logging.WARNING - 10 * verbose + 10 * quiet
    logging.basicConfig(level=max(level, logging.DEBUG), format="%(levelname)s %(message)s")
    ctx.obj = {"verbose": verbose}


@cli.command()
@click.argument("raster")  # a plain string: /vsigzip/ paths are not files; io checks them
@click.argument("zones")
@click.option("--id", "zone_id", required=True, help="Zone field that identifies each city.")
@click.option("--layer", help="Layer of ZONES (default: the first).")
@click.option(
    "--stats",
    default=" ".join(DEFAULT_STATS),
    show_default=True,
    help="Space-separated statistics (count sum mean min max std median percentile_90 ...).",
)
@click.option("--coverage", type=click.Choice(get_args(Coverage)), default="center")
@click.option("--categorical", is_flag=True, help="Pixel counts per class value.")
@click.option("--areas", is_flag=True, help="With --categorical, true areas per class (km²).")
@click.option("--band", default=1, show_default=True, help="Band number.")
@click.option("--nodata", type=float, help="Override the raster's nodata value.")
@click.option("-o", "--output", required=True, help="Output table (.csv, .parquet or .gpkg).")
@overwrite_opt
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
    output: str,
    overwrite: bool,
) -> None:
    """Zonal statistics of RASTER for every zone in ZONES."""
    table = zonal_stats(
        zones, raster, stats.split(), zone_id=zone_id, layer=layer, coverage=coverage,
        categorical=categorical, areas=areas, band=band, nodata=nodata,
    )  # fmt: skip
    export.write_table(table, output, overwrite=overwrite)
    click.echo(f"wrote {len(table)} zones to {output}")


@cli.command("demo-data")
@click.argument("directory")
@overwrite_opt
def demo_data(directory: str, overwrite: bool) -> None:
    """Write the demo dataset (boundaries and seeded rasters) to DIRECTORY."""
    written = demo.write_demo_data(directory, overwrite=overwrite)
    click.echo(f"wrote the demo dataset to {written.root}")


@cli.command("demo")
@click.option("--out", "out_dir", default="outputs/demo", show_default=True)
def demo_command(out_dir: str) -> None:
    """Generate the demo data in OUT and print its zonal statistics."""
    table, where = demo.run_demo(out_dir)
    click.echo(table.to_string())
    click.echo(f"\noutputs are in {where}")


def main() -> None:
    """Entry point of the ``urbanshrink`` console script."""
    cli(prog_name="urbanshrink")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
