"""Write results: tables (CSV, Parquet, GeoPackage), atomically, never over an unasked output."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import geopandas as gpd
import pandas as pd
from pyproj import CRS

from urbanshrink_gis import qgisxml
from urbanshrink_gis.analysis import CLASS_COLOURS, CLASSES
from urbanshrink_gis.errors import ConfigError, OutputError, OutputExistsError

__all__ = [
    "DEFAULT_PROJECT_CRS",
    "PROJECT_NAME",
    "RUN_OUTPUTS",
    "atomic_path",
    "check_outputs",
    "cities_style",
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
    fd, tmp = tempfile.mkstemp(prefix=f".{final.stem}.", suffix=final.suffix, dir=final.parent)
    os.close(fd)
    os.unlink(tmp)
    try:
        yield Path(tmp)
        os.replace(tmp, final)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


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
    project_crs: str | CRS = DEFAULT_PROJECT_CRS,
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
        project = _project(gpkg.name, city_year, cities, rasters or (), sensitivity, project_crs)
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


def scope_outputs(scopes: Sequence[str]) -> list[str]:
    """Files a run writes besides :data:`RUN_OUTPUTS` for its scopes after the first."""
    names = [f"{table}_{scope}.csv" for scope in scopes[1:] for table in _SCOPE_TABLES]
    return [*names, *(["scopes.csv"] if len(scopes) > 1 else [])]


_SCOPE_TABLES = ("cities", "city_year", "summary", "sensitivity")


def write_scope(
    out_dir: str | os.PathLike, scope: str, tables: Mapping[str, pd.DataFrame]
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

    Returns
    -------
    tuple of pathlib.Path
        The CSV files written.
    """
    out = Path(out_dir)
    written = []
    for name, table in tables.items():
        _write_layer(table, out / "urbanshrink.gpkg", f"{name}_{scope}")
        plain = table.drop(columns="geometry") if "geometry" in table.columns else table
        path = out / f"{name}_{scope}.csv"
        with atomic_path(path, overwrite=True) as tmp:
            _plain(plain).to_csv(tmp, index=False)
        written.append(path)
    return tuple(written)


def write_extra(
    out_dir: str | os.PathLike,
    footprints: gpd.GeoDataFrame | None,
    compared: pd.DataFrame | None,
) -> tuple[Path, ...]:
    """Add the urban footprints and the scopes compared to a run's GeoPackage.

    The footprints become layer ``urban_footprint``; the comparison table ``scopes`` and
    ``scopes.csv``.

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
        path = out / "scopes.csv"
        with atomic_path(path, overwrite=True) as tmp:
            _plain(compared.reset_index()).to_csv(tmp, index=False)
        written.append(path)
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
) -> str:
    """The run's QGIS project document (see :func:`write_run`)."""
    crs = project_crs(crs_value)
    key = next(c for c in cities.columns if c in city_year.columns)
    city_layer = qgisxml.ProjectLayer(
        name="cities", source=f"./{gpkg_name}|layername=cities", kind="vector",
        style=cities_style(cities), crs=CRS.from_user_input(cities.crs), geometry="Polygon",
        group="cities", title="City class (population, built-up change)",
    )  # fmt: skip

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
        "urbanshrink", [city_layer, *raster_layers, *tables], crs=crs, extent=extent,
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
