"""A finished run's outputs read back: the report rebuilt, the sources table, city_year."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from urbanshrink_gis import export
from urbanshrink_gis._files import sqlite_safe_path
from urbanshrink_gis._progress import StageProgress, one_step
from urbanshrink_gis.errors import (
    ConfigError,
    InputError,
    UrbanShrinkError,
    UrbanShrinkWarning,
)
from urbanshrink_gis.io import series as sources
from urbanshrink_gis.pipeline.config import RunConfig
from urbanshrink_gis.pipeline.staging import _report, _staged, check_destinations

__all__ = ["read_city_year", "report_from_outputs"]


def report_from_outputs(
    out_dir: str | os.PathLike, *, overwrite: bool = False, progress: StageProgress | None = None
) -> tuple[Path, ...]:
    """Write ``report/`` again from the tables and context (``run.json``) of a run in ``out_dir``.

    ``progress`` is called with ("report", 0, 1) and ("report", 1, 1).

    Warns
    -----
    UrbanShrinkWarning
        ``run.json`` is missing or unreadable: the report says the run's context is unknown.

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
    context = _run_context(out / export.RUN_CONTEXT)
    check_destinations(out, pages)
    try:  # staged and committed as a run's outputs: the old pages all go, or none
        old = [p for p in pages if (out / p).is_file()]
        with _staged(out, retire=old) as stage, one_step(progress, "report"):
            written = _report().write_report(
                stage / "report", cities, city_year, summary, sensitivity=sens, scopes=scopes,
                overwrite=True, context=context,
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


def _run_context(path: Path) -> dict[str, Any] | None:
    """The run's context saved beside its tables, or None with one warning saying why."""
    try:
        context = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        reason = "is missing" if isinstance(err, FileNotFoundError) else f"cannot be read ({err})"
    else:
        if isinstance(context, dict):
            return context
        reason = "holds no run context (not a JSON object)"
    warnings.warn(
        f"{path}: {reason}; the report's Run section says the run's rule, thresholds and "
        "inputs are unknown (a new run writes it)",
        UrbanShrinkWarning,
        stacklevel=3,
    )
    return None


def _read_layer_with_booleans(gpkg: Path, layer: str) -> gpd.GeoDataFrame:
    """A GeoPackage layer whose boolean fields come back as nullable booleans (NULL: NA)."""
    import pyogrio

    with sqlite_safe_path(gpkg) as name:
        info = pyogrio.read_info(name, layer=layer)
        table = gpd.read_file(name, layer=layer, engine="pyogrio")
    flags = [f for f, kind in zip(info["fields"], info["dtypes"], strict=True) if kind == "bool"]
    return table.astype(dict.fromkeys(flags, "boolean"))


def report_context(config: RunConfig, series: Sequence[sources.Series]) -> dict[str, Any]:
    """What the report states about a run (see :func:`urbanshrink_gis.export.report.write_report`).

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
