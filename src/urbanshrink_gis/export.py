"""Write results: tables in five formats, atomically, never over an unasked output.

Tables are CSV, Parquet, GeoPackage, GeoJSON or XLSX (:func:`write_table`).

Booleans
    Flags are pandas' nullable ``boolean`` everywhere (missing where their inputs are). CSV
    writes them ``true`` / ``false`` / empty; GeoPackage as OGR boolean fields (0/1, NULL when
    missing); Parquet as Arrow booleans with nulls; XLSX as TRUE / FALSE / empty cells.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import logging
import os
import re
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import geopandas as gpd
import pandas as pd
from pyproj import CRS

from urbanshrink_gis import qgisxml
from urbanshrink_gis.analysis import CLASS_COLOURS, CLASSES
from urbanshrink_gis.errors import ConfigError, InputError, OutputError, OutputExistsError

__all__ = [
    "DEFAULT_PROJECT_CRS",
    "PROJECT_NAME",
    "RUN_OUTPUTS",
    "STDOUT",
    "TABLE_FORMATS",
    "atomic_path",
    "check_output",
    "check_outputs",
    "cities_style",
    "class_columns",
    "disk_full",
    "temp_prefix",
    "write_run",
    "write_table",
    "zone_output",
]

log = logging.getLogger(__name__)

#: Table formats by suffix; ``.gpkg`` and ``.geojson`` keep the geometry of a GeoDataFrame.
TABLE_FORMATS = (".csv", ".parquet", ".gpkg", ".geojson", ".xlsx")
_TABLE_SUFFIXES = TABLE_FORMATS
_SPATIAL = (".gpkg", ".geojson")
#: The output path that means "CSV on standard output".
STDOUT = "-"
#: Byte order mark that makes Excel read a CSV as UTF-8 (Chinese names on Windows).
_BOM = "\ufeff"
#: Name of the QGIS project stored in the GeoPackage.
PROJECT_NAME = "urbanshrink"
#: Files a run writes in its output folder.
RUN_OUTPUTS = (
    "urbanshrink.gpkg",
    "cities.csv",
    "city_year.csv",
    "summary.csv",
    "sensitivity.csv",
)
#: GeoPackage 1.2: the QGIS of Debian 12 (3.22) warns on every open of GDAL's default 1.4.
_GPKG_OPTIONS = {"VERSION": "1.2"}
#: CRS of the stored QGIS project: equal-area Albers for China (CLCD's parallels and meridian).
DEFAULT_PROJECT_CRS = "+proj=aea +lat_1=25 +lat_2=47 +lon_0=105 +datum=WGS84 +units=m +no_defs"
#: Opacity of the cities' class fill in the project: the rasters under it show through.
CITIES_FILL_OPACITY = 0.45
#: The project's rasters from top to bottom, by name prefix (others follow in their order):
#: the sparse vacancy classes above the built-up change, the extent-wide light rasters last.
_RASTER_ORDER = ("new_builtup_dark", "builtup_change", "ntl_change", "ntl_trend")
#: Class codes a raster leaves undrawn in the project (left out of its palette), so that the
#: layers under it show: the vacancy raster's "not built-up" would hide the built-up change.
_UNDRAWN_IN_PROJECT = {"new_builtup_dark": ("1",)}


@contextlib.contextmanager
def atomic_path(
    path: str | os.PathLike, *, overwrite: bool = False, parents: bool = True
) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place when the block succeeds.

    Parameters
    ----------
    path
        The final output path.
    overwrite
        Replace an existing output; otherwise an existing one raises.
    parents
        Create missing folders above ``path``; when False a missing folder raises.

    Raises
    ------
    OutputExistsError
        ``path`` exists and ``overwrite`` is False.
    OutputError
        ``parents`` is False and the folder of ``path`` does not exist.
    """
    final = Path(path)
    if final.exists() and not overwrite:
        raise OutputExistsError(
            "output exists", where=str(final), fix="pass --overwrite or choose another output"
        )
    if parents:
        final.parent.mkdir(parents=True, exist_ok=True)
    elif not final.parent.is_dir():
        raise OutputError(
            f"folder {final.parent} does not exist",
            where=str(final),
            fix="create the folder first, or choose an output in an existing one",
        )
    suffix = final.suffix if len(os.fsencode(final.suffix)) <= _SUFFIX_MAX else ""
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(final), suffix=suffix, dir=final.parent)
    os.close(fd)
    os.unlink(tmp)
    try:
        yield Path(tmp)
        os.replace(tmp, final)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


#: A name's bytes the file systems take (NAME_MAX) and a temporary name's longest suffix.
_NAME_MAX, _SUFFIX_MAX = 255, 16


def temp_prefix(path: str | os.PathLike) -> str:
    """Prefix of a temporary sibling of ``path``: ``.<stem>.``, within NAME_MAX.

    The stem is cut (at a character boundary) so that the prefix, 8 random characters and
    the suffix stay within 255 bytes, however long the final name is.
    """
    final = Path(path)
    suffix = final.suffix if len(os.fsencode(final.suffix)) <= _SUFFIX_MAX else ""
    room = max(_NAME_MAX - 2 - 8 - len(os.fsencode(suffix)), 0)
    stem = os.fsencode(final.stem)[:room].decode("utf-8", errors="ignore")
    return f".{stem}."


_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def disk_full(err: BaseException) -> bool:
    """Whether an error, or one it was raised from, is a full disk or an exceeded quota.

    GDAL's errors carry no errno, only the system's message, which is matched too.
    """
    texts = [os.strerror(code) for code in _DISK_FULL]
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _DISK_FULL:
            return True
        if any(text in str(current) for text in texts):
            return True
        current = current.__cause__ or current.__context__
    return False


def write_table(
    table: pd.DataFrame,
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
    layer: str | None = None,
    excel: bool = False,
    parents: bool = True,
) -> Path | None:
    """Write a table as CSV, Parquet, GeoPackage, GeoJSON or XLSX, chosen by the suffix.

    Parameters
    ----------
    table
        The table; its index is written as columns. A GeoDataFrame keeps its geometry in
        ``.gpkg`` (a layer of features) and ``.geojson`` (reprojected to WGS 84, as RFC 7946
        asks); CSV, Parquet and XLSX get its attributes only. A plain table becomes a
        GeoPackage attribute table; GeoJSON needs geometry.
    path
        Output path ending in one of :data:`TABLE_FORMATS`, or ``"-"`` (:data:`STDOUT`) for
        CSV on standard output.
    overwrite
        Replace an existing file.
    layer
        GeoPackage layer name (default: the file's stem).
    excel
        Start a CSV with a UTF-8 byte order mark, so that Excel (on a Chinese Windows too)
        reads its names as UTF-8.
    parents
        Create missing folders of ``path``; when False a missing folder is refused.

    Returns
    -------
    pathlib.Path or None
        The written path (None for standard output).

    Raises
    ------
    ConfigError
        The suffix is not one of the supported ones, or GeoJSON is asked of a table without
        geometry.
    OutputExistsError
        The file exists and ``overwrite`` is False.
    OutputError
        ``parents`` is False and the folder does not exist.

    Notes
    -----
    Booleans are written as the module docstring says (CSV ``true``/``false``/empty).
    """
    if os.fspath(path) == STDOUT:
        text = _csv_text(_attributes(table))
        sys.stdout.write(_BOM + text if excel else text)
        sys.stdout.flush()
        return None
    final = Path(path)
    suffix = final.suffix.lower()
    if suffix not in _TABLE_SUFFIXES:
        raise ConfigError(
            f"unsupported table format {suffix or '(none)'!r}",
            where=str(final),
            fix=f"use one of {', '.join(_TABLE_SUFFIXES)}, or - for CSV on standard output",
        )
    spatial = isinstance(table, gpd.GeoDataFrame) and table.geometry.name in table.columns
    if suffix == ".geojson" and not spatial:
        raise ConfigError(
            "GeoJSON needs geometry, and this table has none",
            where=str(final),
            fix="write it as .csv, .parquet, .gpkg or .xlsx",
        )
    with atomic_path(final, overwrite=overwrite, parents=parents) as tmp:
        if suffix == ".csv":
            text = _csv_text(_attributes(table))
            tmp.write_text(text, encoding="utf-8-sig" if excel else "utf-8")
        elif suffix == ".parquet":
            _attributes(table).to_parquet(tmp, index=False)
        elif suffix == ".xlsx":
            _excel_plain(_attributes(table)).to_excel(tmp, index=False)
        elif suffix == ".geojson":
            _write_features(_flat(table).to_crs("EPSG:4326"), tmp, "GeoJSON", final.stem)
        elif spatial:
            _write_features(_flat(table), tmp, "GPKG", layer or final.stem)
        else:
            _write_layer(_flat(table), tmp, layer or final.stem)
    log.info("wrote %s", final)
    return final


def check_output(path: str | os.PathLike, *, overwrite: bool = False) -> None:
    """Refuse an output table before any work: unknown format, existing file, missing folder.

    Parameters
    ----------
    path
        As for :func:`write_table` (``"-"`` is always accepted).
    overwrite
        Allow replacing an existing file.

    Raises
    ------
    ConfigError
        The suffix is not one of :data:`TABLE_FORMATS`.
    OutputExistsError
        The file exists and ``overwrite`` is False.
    OutputError
        The folder of ``path`` does not exist.
    """
    if os.fspath(path) == STDOUT:
        return
    final = Path(path)
    if final.suffix.lower() not in _TABLE_SUFFIXES:
        raise ConfigError(
            f"unsupported table format {final.suffix or '(none)'!r}",
            where=str(final),
            fix=f"use one of {', '.join(_TABLE_SUFFIXES)}, or - for CSV on standard output",
        )
    if final.exists() and not overwrite:
        raise OutputExistsError(
            "output exists", where=str(final), fix="pass --overwrite or choose another output"
        )
    if not final.parent.is_dir():
        raise OutputError(
            f"folder {final.parent} does not exist",
            where=str(final),
            fix="create the folder first, or choose an output in an existing one",
        )


def zone_output(
    table: pd.DataFrame,
    boundaries: gpd.GeoDataFrame,
    *,
    id_field: str,
    id_as: str | None = None,
    include_cols: Iterable[str] = (),
) -> gpd.GeoDataFrame:
    """A per-zone result as the user's features: their id field, chosen attributes, geometry.

    Parameters
    ----------
    table
        Indexed by ``city_id`` (as :func:`urbanshrink_gis.zonal.zonal_stats` returns), or with
        a ``city_id`` column (the long tables of :mod:`urbanshrink_gis.metrics`).
    boundaries
        The zones as :func:`urbanshrink_gis.io.read_boundaries` returns them (``city_id``,
        the other attributes, geometry).
    id_field
        The id field the boundaries were read with; the id column is named after it.
    id_as
        Another name for the id column.
    include_cols
        Attributes of ``boundaries`` copied beside the id, in this order.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns: the id, ``include_cols``, the columns of ``table``, then the zone's geometry
        (in the boundaries' CRS), rows in the order of ``table``.

    Raises
    ------
    InputError
        An included attribute is not a field of the boundaries, or a column name would be used
        twice.
    """
    name = id_as or id_field
    include = list(dict.fromkeys(include_cols))
    fields = [c for c in boundaries.columns if c not in ("city_id", boundaries.geometry.name)]
    missing = [c for c in include if c not in fields]
    if missing:
        raise InputError(
            f"no field {', '.join(map(repr, missing))} to include",
            where="zones",
            fix=f"include some of its fields: {', '.join(fields) or '(none)'}",
        )
    flat = table.reset_index() if "city_id" not in table.columns else table
    values = [c for c in flat.columns if c != "city_id"]
    names = [name, *include, *map(str, values)]
    twice = sorted({c for c in names if names.count(c) > 1})
    if twice:
        raise InputError(
            f"column {', '.join(map(repr, twice))} would appear twice in the output",
            where="zones",
            fix="rename the id (id_as) or leave that field out of the included ones",
        )
    keep = boundaries[["city_id", *include, boundaries.geometry.name]]
    out = flat.merge(keep, on="city_id", how="left", validate="many_to_one")
    out = out.rename(columns={"city_id": name})
    geometry = boundaries.geometry.name
    out = out[[name, *include, *values, geometry]]
    return gpd.GeoDataFrame(out, geometry=geometry, crs=boundaries.crs)


def class_columns(table: pd.DataFrame, legend: Sequence | None = None) -> pd.DataFrame:
    """Name the class columns of a categorical zonal table ``class_<code>_<name>``.

    Parameters
    ----------
    table
        Output of :func:`urbanshrink_gis.zonal.zonal_stats` with ``categorical=True``: a
        column per class code (pixel counts) and, with areas, ``area_km2_<code>`` (km²).
    legend
        The product's :class:`urbanshrink_gis.products.ClassInfo` entries; without one (or for
        a code outside it) the columns are ``class_<code>``.

    Returns
    -------
    pandas.DataFrame
        The same values; counts named ``class_<code>_<name>`` and areas
        ``class_<code>_<name>_km2``, the name lower case with other characters than letters
        and digits as ``_`` (CLCD's 8 ``impervious`` gives ``class_8_impervious``).
    """
    names = {c.code: _slug(c.name) for c in legend or ()}

    def label(code: object) -> str:
        return f"class_{code}_{names[code]}" if code in names else f"class_{code}"

    renamed = {}
    for col in table.columns:
        if not isinstance(col, str):
            renamed[col] = label(col)
        elif col.startswith("area_km2_"):
            code = col.removeprefix("area_km2_")
            number = float(code)
            renamed[col] = label(int(number) if number.is_integer() else number) + "_km2"
    return table.rename(columns=renamed)


def _slug(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_") or "class"


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
) -> tuple[Path, ...]:
    """Write a run's GeoPackage and CSV copies of its tables.

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


def cities_style(cities: pd.DataFrame) -> str:
    """QML of the cities layer: categorised by ``class`` (legend in CLASSES order), named.

    The fill is see-through (:data:`CITIES_FILL_OPACITY`) and outlined in the class colour,
    so the rasters drawn under the cities stay visible in the project.
    """
    categories = [(name, name.replace("_", " "), CLASS_COLOURS[name]) for name in CLASSES]
    label = "name" if "name" in cities.columns else "city_id"
    return qgisxml.categorized_fill_qml(
        "class", categories, label_field=label, fill_opacity=CITIES_FILL_OPACITY
    )


def project_crs(value: str | CRS = DEFAULT_PROJECT_CRS) -> CRS:
    """The project CRS from any form pyproj reads; a nameless one is named after its method.

    Raises
    ------
    ConfigError
        ``value`` is not a CRS.
    """
    try:
        crs = CRS.from_user_input(value)
    except Exception as err:  # pyproj raises CRSError, a plain Exception subclass
        raise ConfigError(
            f"not a coordinate reference system ({err})",
            where=f"project_crs = {value!r}",
            fix='give an EPSG code ("EPSG:3857") or a PROJ string ("+proj=aea ...")',
        ) from err
    if crs.name in ("", "unknown") and crs.coordinate_operation is not None:
        info = crs.to_json_dict()
        info["name"] = f"{crs.coordinate_operation.method_name} (urbanshrink project)"
        crs = CRS.from_json_dict(info)
    return crs


def _project(
    gpkg_name: str,
    city_year: pd.DataFrame,
    cities: gpd.GeoDataFrame,
    rasters: Sequence[qgisxml.ProjectLayer],
    sensitivity: pd.DataFrame | None,
    crs_value: str | CRS,
    other_scopes: Sequence[str] = (),
) -> str:
    """The run's QGIS project document (see :func:`write_run`)."""
    crs = project_crs(crs_value)
    key = next(c for c in cities.columns if c in city_year.columns)
    city_layer = qgisxml.ProjectLayer(
        name="cities", source=f"./{gpkg_name}|layername=cities", kind="vector",
        style=cities_style(cities), crs=CRS.from_user_input(cities.crs), geometry="Polygon",
        group="cities", title="City class (population, built-up change)",
    )  # fmt: skip

    scope_layers = [
        dataclasses.replace(
            city_layer,
            name=f"cities_{scope}",
            visible=False,
            source=f"./{gpkg_name}|layername=cities_{scope}",
            title=f"City class, {scope} scope (population, built-up change)",
        )
        for scope in other_scopes
    ]

    def rank(layer: qgisxml.ProjectLayer) -> int:
        return next(
            (i for i, p in enumerate(_RASTER_ORDER) if layer.name.startswith(p)), len(_RASTER_ORDER)
        )

    raster_layers = [
        dataclasses.replace(r, group="rasters", style=_undrawn(r))
        for r in sorted(rasters, key=rank)
    ]
    names = ["city_year", "summary", *(["sensitivity"] if sensitivity is not None else [])]
    tables = [
        qgisxml.ProjectLayer(
            name, f"./{gpkg_name}|layername={name}", "vector", _TABLE_STYLE, None, group="tables"
        )
        for name in names
    ]
    years = pd.to_numeric(city_year.get("year"), errors="coerce").dropna()
    span = f", {int(years.min())}–{int(years.max())}" if len(years) else ""
    from urbanshrink_gis import __version__

    layout = qgisxml.PrintLayout(
        name=PROJECT_NAME,
        title=f"Shrinking cities and their built-up land{span}",
        note=(
            "Classes: population change × built-up change of each city over the period; "
            "rasters: per-pixel built-up change and new built-up land lit or dark at night "
            f"(inputs in sources.csv). Written by urbanshrink_gis {__version__}. "
            f"Map projection: {crs.name}."
        ),
    )
    extent = tuple(cities.to_crs(crs).total_bounds)
    relation = qgisxml.Relation(
        name="years of the city (city_year)", parent="cities", child="city_year",
        parent_field=key, child_field=key,
    )  # fmt: skip
    return qgisxml.project_xml(
        "urbanshrink", [city_layer, *scope_layers, *raster_layers, *tables], crs=crs,
        extent=extent,
        relations=[relation], layout=layout,
    )  # fmt: skip


def _undrawn(layer: qgisxml.ProjectLayer) -> str:
    """The layer's style without the palette entries of :data:`_UNDRAWN_IN_PROJECT`."""
    codes = next((c for p, c in _UNDRAWN_IN_PROJECT.items() if layer.name.startswith(p)), ())
    if not codes:
        return layer.style
    doctype, _, body = layer.style.partition("\n")
    root = ET.fromstring(body)
    for palette in root.iter("colorPalette"):
        for entry in [e for e in palette if e.get("value") in codes]:
            palette.remove(entry)
    return f"{doctype}\n{ET.tostring(root, encoding='unicode')}"


#: Style of an attribute table in the project (nothing to draw).
_TABLE_STYLE = f'<qgis version="{qgisxml.QGIS_VERSION}" styleCategories="AllStyleCategories"/>'


def _plain(table: pd.DataFrame) -> pd.DataFrame:
    """Columns as strings; booleans as nullable booleans (missing kept missing)."""
    out = table.copy()
    out.columns = [str(c) for c in out.columns]
    for col in out.columns:
        if out[col].dtype == bool:
            out[col] = out[col].astype("boolean")
    return out


def _flat(table: pd.DataFrame) -> pd.DataFrame:
    """The table with a named index as columns (a plain row number is left out)."""
    return table.reset_index() if _named_index(table) else table


def _attributes(table: pd.DataFrame) -> pd.DataFrame:
    """The table's index as columns and its attributes, without geometry."""
    flat = _flat(table)
    if isinstance(flat, gpd.GeoDataFrame):
        flat = pd.DataFrame(flat.drop(columns=flat.geometry.name))
    return _plain(flat)


def _named_index(table: pd.DataFrame) -> bool:
    return any(name is not None for name in table.index.names)


def _csv_text(table: pd.DataFrame) -> str:
    """CSV text of a table (index as columns); booleans ``true``/``false``/empty."""
    flat = _plain(_flat(table))
    for col in flat.columns:
        if str(flat[col].dtype) == "boolean":
            flat[col] = flat[col].map({True: "true", False: "false"}, na_action="ignore")
    return flat.to_csv(index=False, lineterminator="\n")


def _excel_plain(table: pd.DataFrame) -> pd.DataFrame:
    """Nullable booleans as Python bools and None, which openpyxl writes as cells."""
    out = table.copy()
    for col in out.columns:
        if str(out[col].dtype) == "boolean":
            out[col] = out[col].astype(object).where(out[col].notna(), None)
    return out


def _write_layer(table: pd.DataFrame, path: Path, layer: str) -> None:
    """One GeoPackage layer; pyogrio writes nullable booleans as boolean fields with NULLs."""
    import pyogrio

    exists = path.exists()
    pyogrio.write_dataframe(
        _plain(table), path, layer=layer, driver="GPKG", append=False,
        dataset_options=None if exists else _GPKG_OPTIONS,
    )  # fmt: skip


def _write_features(table: gpd.GeoDataFrame, path: Path, driver: str, layer: str | None) -> None:
    import pyogrio

    geometry = table.geometry.name
    plain = gpd.GeoDataFrame(
        _plain(pd.DataFrame(table.drop(columns=geometry))),
        geometry=table.geometry.to_numpy(),
        crs=table.crs,
    )
    options = _GPKG_OPTIONS if driver == "GPKG" and not path.exists() else None
    pyogrio.write_dataframe(
        plain, path, layer=layer, driver=driver, append=False, dataset_options=options,
        promote_to_multi=driver == "GPKG",
    )  # fmt: skip
