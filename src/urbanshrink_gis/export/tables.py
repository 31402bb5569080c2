"""Write tables in five formats, atomically, never over an unasked output."""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import geopandas as gpd
import pandas as pd

from urbanshrink_gis._files import atomic_path, sqlite_safe_path
from urbanshrink_gis.errors import ConfigError, InputError, OutputError, OutputExistsError

__all__ = ["STDOUT", "TABLE_FORMATS", "check_output", "class_columns", "write_table", "zone_output"]

log = logging.getLogger(__name__)

#: Table formats by suffix; ``.gpkg`` and ``.geojson`` keep the geometry of a GeoDataFrame.
TABLE_FORMATS = (".csv", ".parquet", ".gpkg", ".geojson", ".xlsx")
_TABLE_SUFFIXES = TABLE_FORMATS
_SPATIAL = (".gpkg", ".geojson")
#: The output path that means "CSV on standard output".
STDOUT = "-"
#: Byte order mark that makes Excel read a CSV as UTF-8 (Chinese names on Windows).
_BOM = "\ufeff"


#: GeoPackage 1.2: the QGIS of Debian 12 (3.22) warns on every open of GDAL's default 1.4.
_GPKG_OPTIONS = {"VERSION": "1.2"}


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
        raise _no_geometry(final)
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


def _no_geometry(path: Path) -> ConfigError:
    return ConfigError(
        "GeoJSON needs geometry, and this table has none",
        where=str(path),
        fix="write it as .csv, .parquet, .gpkg or .xlsx",
    )


def check_output(
    path: str | os.PathLike, *, overwrite: bool = False, geometry: bool = True
) -> None:
    """Refuse an output table before any work: unknown format, existing file, missing folder.

    Parameters
    ----------
    path
        As for :func:`write_table` (``"-"`` is always accepted).
    overwrite
        Allow replacing an existing file.
    geometry
        Whether the table will have geometry; without, ``.geojson`` is refused.

    Raises
    ------
    ConfigError
        The suffix is not one of :data:`TABLE_FORMATS`, or is ``.geojson`` without geometry.
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
    if final.suffix.lower() == ".geojson" and not geometry:
        raise _no_geometry(final)
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


def check_zone_columns(
    boundaries: gpd.GeoDataFrame,
    *,
    id_field: str,
    id_as: str | None = None,
    include_cols: Iterable[str] = (),
    values: Iterable[str] = (),
) -> None:
    """Refuse the columns of a :func:`zone_output` before any work.

    Each included attribute must be a field of ``boundaries``, and no name (the id,
    ``include_cols``, ``values``) may come twice. Parameters are those of :func:`zone_output`;
    ``values`` names the result's columns, where known.

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
    names = [name, *include, *values]
    twice = sorted({c for c in names if names.count(c) > 1})
    if twice:
        raise InputError(
            f"column {', '.join(map(repr, twice))} would appear twice in the output",
            where="zones",
            fix="rename the id (id_as=NAME) or leave that field out of the included ones",
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
        As :func:`check_zone_columns`.
    """
    name, include = id_as or id_field, list(dict.fromkeys(include_cols))
    flat = table.reset_index() if "city_id" not in table.columns else table
    values = [c for c in flat.columns if c != "city_id"]
    check_zone_columns(boundaries, id_field=id_field, id_as=id_as, include_cols=include,
                       values=map(str, values))  # fmt: skip
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
    with sqlite_safe_path(path) as name:
        pyogrio.write_dataframe(
            _plain(table), name, layer=layer, driver="GPKG", append=False,
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
    with sqlite_safe_path(path) as name:
        pyogrio.write_dataframe(
            plain, name, layer=layer, driver=driver, append=False, dataset_options=options,
            promote_to_multi=driver == "GPKG",
        )  # fmt: skip
