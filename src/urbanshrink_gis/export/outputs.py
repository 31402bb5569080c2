"""The run's outputs: the GeoPackage layers and CSVs of each scope."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
from pyproj import CRS

from urbanshrink_gis._files import atomic_path
from urbanshrink_gis.errors import OutputError, OutputExistsError
from urbanshrink_gis.export import qgisxml
from urbanshrink_gis.export.project import (
    DEFAULT_PROJECT_CRS,
    PROJECT_NAME,
    _project,
    cities_style,
)
from urbanshrink_gis.export.tables import _write_layer, write_table

__all__ = ["RUN_CONTEXT", "RUN_OUTPUTS", "check_outputs", "write_run"]

log = logging.getLogger(__name__)

#: The run's context (rule, thresholds, inputs, date) as JSON, which ``urbanshrink report``
#: states again.
RUN_CONTEXT = "run.json"
#: Files a run writes in its output folder.
RUN_OUTPUTS = (
    "urbanshrink.gpkg",
    "cities.csv",
    "city_year.csv",
    "summary.csv",
    "sensitivity.csv",
    RUN_CONTEXT,
)


def check_outputs(
    out_dir: str | os.PathLike, names: Sequence[str] = RUN_OUTPUTS, *, overwrite: bool = False
) -> None:
    """Refuse to start a run whose outputs exist, unless ``overwrite``.

    Parameters
    ----------
    out_dir
        The output folder.
    names
        Output paths relative to ``out_dir``.
    overwrite
        Allow replacing them.

    Raises
    ------
    OutputExistsError
        One of ``names`` exists in ``out_dir``.
    OutputError
        ``out_dir`` is a file, or cannot be written.
    """
    _check_writable(Path(out_dir))
    existing = [name for name in names if (Path(out_dir) / name).exists()]
    if existing and not overwrite:
        raise OutputExistsError(
            f"outputs exist ({', '.join(existing)})",
            where=str(out_dir),
            fix="pass --overwrite or choose another output folder",
        )


def _check_writable(out: Path) -> None:
    """Refuse an output folder that is a file or that this user may not write in."""
    existing = next(p for p in (out, *out.parents) if p.exists())
    if not existing.is_dir():
        raise OutputError(
            f"is not a folder ({existing} is a file)",
            where=str(out),
            fix="choose a folder for the outputs (--out)",
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(
            "cannot be written (permission denied)",
            where=str(out),
            fix="choose a folder you may write in (--out), or change its permissions",
        )


def write_run(
    out_dir: str | os.PathLike,
    city_year: pd.DataFrame,
    cities: gpd.GeoDataFrame,
    summary: pd.DataFrame,
    *,
    rasters: Sequence[qgisxml.ProjectLayer] | None = None,
    sensitivity: pd.DataFrame | None = None,
    overwrite: bool = False,
    project_crs: str | CRS = DEFAULT_PROJECT_CRS,
    excel: bool = False,
    other_scopes: Sequence[str] = (),
    context: Mapping[str, Any] | None = None,
) -> tuple[Path, ...]:
    """Write a run's GeoPackage, CSV copies of its tables and its context.

    The GeoPackage holds layers ``cities`` (polygons), ``city_year``, ``summary`` and, when
    given, ``sensitivity`` (attribute tables; the last is
    :func:`urbanshrink_gis.analysis.sensitivity`, its index as columns), the default style of
    ``cities`` in ``layer_styles`` and a QGIS project named ``urbanshrink`` in
    ``qgis_projects``. Each file is written under a temporary name and renamed when complete.

    The project, in ``project_crs``, has three layer groups: ``cities`` (see-through class
    fill, :data:`CITIES_FILL_OPACITY`, outlined in the class colour), ``rasters`` (ordered as
    :data:`_RASTER_ORDER`: the vacancy raster above the built-up change, both above the
    night-light rasters) and ``tables`` (``city_year``, ``summary``, ``sensitivity``); a
    relation from ``cities`` to ``city_year`` on the city id, so a city's attribute form lists
    its years; and a print layout ``urbanshrink`` (map, legend, title, scale bar, source note).

    Parameters
    ----------
    out_dir
        The output folder.
    city_year, cities, summary
        The run's tables (``cities`` with polygons; its first column also in ``city_year`` is
        the key of the relation).
    rasters
        The change rasters' project layers (as written beside the GeoPackage).
    sensitivity
        The threshold grid, if computed.
    overwrite
        Replace existing outputs.
    project_crs
        CRS of the project's map (any form pyproj reads).
    excel
        Start the CSVs with a UTF-8 byte order mark (see :func:`write_table`).
    other_scopes
        Scopes whose ``cities_<scope>`` layers :func:`write_scope` adds to the GeoPackage:
        in the project's ``cities`` group too, styled as ``cities`` and unchecked.
    context
        What the run was (see :func:`urbanshrink_gis.export.report.write_report`), written as
        :data:`RUN_CONTEXT`.

    Returns
    -------
    tuple of pathlib.Path
        The files written.
    """
    out = Path(out_dir)
    check_outputs(out, overwrite=overwrite)
    gpkg = out / "urbanshrink.gpkg"
    with atomic_path(gpkg, overwrite=True) as tmp:
        _write_layer(cities, tmp, "cities")
        _write_layer(city_year, tmp, "city_year")
        _write_layer(summary.reset_index(), tmp, "summary")
        if sensitivity is not None:
            _write_layer(sensitivity.reset_index(), tmp, "sensitivity")
        style = cities_style(cities)
        project = _project(
            gpkg.name, city_year, cities, rasters or (), sensitivity, project_crs, other_scopes
        )
        qgisxml.store_in_geopackage(
            tmp, styles={"cities": style}, project=project, project_name=PROJECT_NAME
        )
    written = [gpkg]
    tables = [("cities", cities.drop(columns="geometry")), ("city_year", city_year),
              ("summary", summary.reset_index())]  # fmt: skip
    if sensitivity is not None:
        tables.append(("sensitivity", sensitivity.reset_index()))
    for name, table in tables:
        written.append(write_table(table, out / f"{name}.csv", overwrite=True, excel=excel))
    if context is not None:
        with atomic_path(out / RUN_CONTEXT, overwrite=True) as tmp:
            tmp.write_text(json.dumps(context, ensure_ascii=False, indent=2) + "\n", "utf-8")
        written.append(out / RUN_CONTEXT)
    log.info("wrote %s", ", ".join(str(p) for p in written))
    return tuple(written)


def scope_outputs(scopes: Sequence[str]) -> list[str]:
    """Files a run writes besides :data:`RUN_OUTPUTS` for its scopes after the first."""
    names = [f"{table}_{scope}.csv" for scope in scopes[1:] for table in _SCOPE_TABLES]
    return [*names, *(["scopes.csv"] if len(scopes) > 1 else [])]


_SCOPE_TABLES = ("cities", "city_year", "summary", "sensitivity")


def write_scope(
    out_dir: str | os.PathLike,
    scope: str,
    tables: Mapping[str, pd.DataFrame],
    *,
    excel: bool = False,
) -> tuple[Path, ...]:
    """Add a second scope's tables to a run: GeoPackage layers and CSVs named ``<table>_<scope>``.

    Parameters
    ----------
    out_dir
        The folder :func:`write_run` wrote (its ``urbanshrink.gpkg`` gets the layers).
    scope
        The scope's name, the suffix (``cities_urban``).
    tables
        ``cities`` (with geometry), ``city_year``, ``summary`` and ``sensitivity``.
    excel
        CSVs with a UTF-8 byte order mark.

    Returns
    -------
    tuple of pathlib.Path
        The CSV files written.
    """
    out = Path(out_dir)
    written = []
    for name, table in tables.items():
        _write_layer(table, out / "urbanshrink.gpkg", f"{name}_{scope}")
        path = out / f"{name}_{scope}.csv"  # the CSV without the geometry
        written.append(write_table(table, path, overwrite=True, excel=excel))
    return tuple(written)


def write_extra(
    out_dir: str | os.PathLike,
    footprints: gpd.GeoDataFrame | None,
    compared: pd.DataFrame | None,
    *,
    excel: bool = False,
) -> tuple[Path, ...]:
    """Add the urban footprints and the scopes compared to a run's GeoPackage.

    The footprints become layer ``urban_footprint``; the comparison table ``scopes`` and
    ``scopes.csv`` (``excel``: with a UTF-8 byte order mark).

    Returns
    -------
    tuple of pathlib.Path
        The CSV written (none without `compared`).
    """
    out = Path(out_dir)
    written = []
    if footprints is not None:
        _write_layer(footprints, out / "urbanshrink.gpkg", "urban_footprint")
    if compared is not None:
        _write_layer(compared.reset_index(), out / "urbanshrink.gpkg", "scopes")
        written.append(
            write_table(compared.reset_index(), out / "scopes.csv", overwrite=True, excel=excel)
        )
    return tuple(written)
