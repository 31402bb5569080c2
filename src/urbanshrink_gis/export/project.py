"""The QGIS project stored inside the run's GeoPackage: groups, styles, relation, layout."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import geopandas as gpd
import pandas as pd
from pyproj import CRS

from urbanshrink_gis.analysis import CLASSES
from urbanshrink_gis.errors import ConfigError
from urbanshrink_gis.export import qgisxml

__all__ = ["DEFAULT_PROJECT_CRS", "PROJECT_NAME", "cities_style"]

#: Name of the QGIS project stored in the GeoPackage.
PROJECT_NAME = "urbanshrink"


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


def cities_style(cities: pd.DataFrame) -> str:
    """QML of the cities layer: categorised by ``class`` (legend in CLASSES order), named.

    The fill is see-through (:data:`CITIES_FILL_OPACITY`) and outlined in the class colour,
    so the rasters drawn under the cities stay visible in the project.
    """
    label = "name" if "name" in cities.columns else "city_id"
    return qgisxml.categorized_fill_qml(
        "class", CLASSES, label_field=label, fill_opacity=CITIES_FILL_OPACITY
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
            name,
            f"./{gpkg_name}|layername={name}",
            "vector",
            qgisxml.TABLE_QML,
            None,
            group="tables",
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
    return qgisxml.without_palette_entries(layer.style, codes) if codes else layer.style
