"""Write results: tables (CSV, Parquet, GeoPackage), atomically, never over an unasked output."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import geopandas as gpd
import pandas as pd
from pyproj import CRS

from urbanshrink_gis import qgisxml
from urbanshrink_gis.analysis import CLASS_COLOURS, CLASSES
from urbanshrink_gis.errors import ConfigError, OutputError, OutputExistsError

__all__ = [
    "PROJECT_NAME",
    "RUN_OUTPUTS",
    "atomic_path",
    "check_outputs",
    "cities_style",
    "disk_full",
    "temp_prefix",
    "write_run",
    "write_table",
]

log = logging.getLogger(__name__)

_TABLE_SUFFIXES = (".csv", ".parquet", ".gpkg")
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


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place when the block succeeds.

    Parameters
    ----------
    path
        The final output path.
    overwrite
        Replace an existing output; otherwise an existing one raises.

    Raises
    ------
    OutputExistsError
        ``path`` exists and ``overwrite`` is False.
    """
    final = Path(path)
    if final.exists() and not overwrite:
        raise OutputExistsError(
            "output exists", where=str(final), fix="pass --overwrite or choose another output"
        )
    final.parent.mkdir(parents=True, exist_ok=True)
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
) -> Path:
    """Write a table as CSV, Parquet or a GeoPackage attribute table, chosen by the suffix.

    Parameters
    ----------
    table
        The table; its index is written as columns.
    path
        Output path ending in ``.csv``, ``.parquet`` or ``.gpkg``.
    overwrite
        Replace an existing file.
    layer
        GeoPackage layer name (default: the file's stem).

    Returns
    -------
    pathlib.Path
        The written path.

    Raises
    ------
    ConfigError
        The suffix is not one of the supported ones.
    OutputExistsError
        The file exists and ``overwrite`` is False.
    """
    final = Path(path)
    suffix = final.suffix.lower()
    if suffix not in _TABLE_SUFFIXES:
        raise ConfigError(
            f"unsupported table format {suffix or '(none)'!r}",
            where=str(final),
            fix=f"use one of {', '.join(_TABLE_SUFFIXES)}",
        )
    flat = _plain(table.reset_index())
    with atomic_path(final, overwrite=overwrite) as tmp:
        if suffix == ".csv":
            flat.to_csv(tmp, index=False)
        elif suffix == ".parquet":
            flat.to_parquet(tmp, index=False)
        else:
            _write_layer(flat, tmp, layer or final.stem)
    log.info("wrote %s", final)
    return final


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
) -> tuple[Path, ...]:
    """Write a run's GeoPackage and CSV copies of its tables.

    The GeoPackage holds layers ``cities`` (polygons), ``city_year``, ``summary`` and, when
    given, ``sensitivity`` (attribute tables; the last is
    :func:`urbanshrink_gis.analysis.sensitivity`, its index as columns), the default style of
    ``cities`` in ``layer_styles`` and a QGIS project named ``urbanshrink`` in
    ``qgis_projects`` showing the cities above ``rasters``. Each file is written under a
    temporary name and renamed when complete.

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
        layers = [_cities_layer(gpkg.name, cities, style), *(rasters or ())]
        project = qgisxml.project_xml(
            "urbanshrink", layers, crs=CRS.from_user_input(cities.crs), extent=cities.total_bounds
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
        path = out / f"{name}.csv"
        with atomic_path(path, overwrite=True) as tmp:
            _plain(table).to_csv(tmp, index=False)
        written.append(path)
    log.info("wrote %s", ", ".join(str(p) for p in written))
    return tuple(written)


def cities_style(cities: pd.DataFrame) -> str:
    """QML of the cities layer: categorised by ``class`` (legend in CLASSES order), named."""
    categories = [(name, name.replace("_", " "), CLASS_COLOURS[name]) for name in CLASSES]
    label = "name" if "name" in cities.columns else "city_id"
    return qgisxml.categorized_fill_qml("class", categories, label_field=label)


def _cities_layer(gpkg_name: str, cities: gpd.GeoDataFrame, style: str) -> qgisxml.ProjectLayer:
    return qgisxml.ProjectLayer(
        name="cities",
        source=f"./{gpkg_name}|layername=cities",
        kind="vector",
        style=style,
        crs=CRS.from_user_input(cities.crs),
        geometry="Polygon",
    )


def _plain(table: pd.DataFrame) -> pd.DataFrame:
    """Columns as strings; nullable booleans as 0/1 with missing kept missing."""
    out = table.copy()
    out.columns = [str(c) for c in out.columns]
    for col in out.columns:
        if str(out[col].dtype) == "boolean":
            out[col] = out[col].astype("Int8")
    return out


def _write_layer(table: pd.DataFrame, path: Path, layer: str) -> None:
    import pyogrio

    exists = path.exists()
    pyogrio.write_dataframe(
        _plain(table), path, layer=layer, driver="GPKG", append=False,
        dataset_options=None if exists else _GPKG_OPTIONS,
    )  # fmt: skip
