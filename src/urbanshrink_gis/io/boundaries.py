"""Read and check city boundaries from any OGR vector source or a GeoDataFrame.

Terms
-----
city id
    The text value that identifies a city (an adcode such as ``"230400"``); ids are strings so
    that leading zeros survive.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely

from urbanshrink_gis._files import sqlite_safe_path
from urbanshrink_gis.errors import BoundaryError, UrbanShrinkWarning, did_you_mean, first_line

__all__ = ["read_boundaries"]

log = logging.getLogger(__name__)

_POLYGONAL = {"Polygon", "MultiPolygon"}


def read_boundaries(
    source: str | os.PathLike | gpd.GeoDataFrame,
    *,
    id_field: str,
    name_field: str | None = None,
    layer: str | None = None,
    dissolve: bool = False,
) -> gpd.GeoDataFrame:
    """Read city boundaries and check them.

    Parameters
    ----------
    source
        A vector file (GeoPackage, Shapefile, GeoJSON, any OGR source or ``/vsi…`` path) or a
        GeoDataFrame.
    id_field
        Field whose values identify each city; kept as text.
    name_field
        Optional field with the city's name, copied to a ``name`` column.
    layer
        Layer of a multi-layer source; the first layer when omitted.
    dissolve
        Features sharing an id are parts of one city, dissolved into one (the first
        feature's attributes kept), instead of refused.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``city_id`` (str), ``name`` (when asked), every other attribute, and polygonal
        ``geometry`` in the source CRS. Invalid polygons are repaired with one warning.

    Raises
    ------
    BoundaryError
        The source is missing or unreadable, has no CRS, no features, no such field, null or
        duplicated ids, or non-polygon geometries.
    """
    where = _describe(source, layer)
    gdf = source.copy() if isinstance(source, gpd.GeoDataFrame) else _read(source, layer, where)
    if len(gdf) == 0:
        raise BoundaryError("has no features", where=where, fix="check the file and layer")
    if gdf.crs is None:
        raise BoundaryError(
            "has no coordinate reference system",
            where=where,
            fix="assign one, e.g. `ogr2ogr -a_srs EPSG:4326 out.gpkg in.gpkg`",
        )
    if dissolve:
        _require_field(gdf, id_field, where, role="id")
        gdf = gdf.assign(**{id_field: gdf[id_field].map(_id_text, na_action="ignore")})
        gdf = gdf.set_geometry(_repair(gdf.assign(city_id=gdf[id_field]), where))
        gdf = gdf.dissolve(by=id_field, as_index=False, dropna=False)
    ids = _city_ids(gdf, id_field, where)
    gdf = gdf.drop(columns=[id_field]).assign(city_id=ids.to_numpy())
    if name_field is not None:
        _require_field(gdf.assign(**{id_field: ids}), name_field, where, role="name")
        gdf["name"] = gdf[name_field].astype("string").fillna("").astype(str)
    _check_geometry_types(gdf, where)
    gdf = gdf.set_geometry(_repair(gdf, where))
    front = ["city_id", "name"] if name_field is not None else ["city_id"]
    rest = [c for c in gdf.columns if c not in front and c != name_field]
    return gdf[front + rest]


def _describe(source: object, layer: str | None) -> str:
    if isinstance(source, gpd.GeoDataFrame):
        return "boundaries (GeoDataFrame)"
    name = os.fspath(source)  # type: ignore[arg-type]
    return f"{name} layer {layer!r}" if layer else name


def _read(source: str | os.PathLike, layer: str | None, where: str) -> gpd.GeoDataFrame:
    path = os.fspath(source)
    if not path.startswith("/vsi") and not Path(path).exists():
        raise BoundaryError("file not found", where=path, fix="check the path to the boundaries")
    with sqlite_safe_path(path) as name:
        return _read_named(name, path, layer, where)


def _read_named(name: str, path: str, layer: str | None, where: str) -> gpd.GeoDataFrame:
    """Read the boundaries through ``name``, a name GDAL opens as ``path``."""
    try:
        layers = [row[0] for row in pyogrio.list_layers(name)]
    except (pyogrio.errors.DataSourceError, OSError) as err:
        raise BoundaryError(
            f"not a readable vector file ({first_line(err)})",
            where=path,
            fix="give a GeoPackage, Shapefile (with .shx/.dbf) or GeoJSON",
        ) from err
    if layer is not None and layer not in layers:
        raise BoundaryError(
            f"no layer {layer!r} (layers: {', '.join(layers)})",
            where=path,
            fix=f"set layer to one of {', '.join(map(repr, layers))}",
        )
    try:
        gdf = gpd.read_file(name, layer=layer, engine="pyogrio")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError) as err:
        raise BoundaryError(
            f"cannot be read ({first_line(err)})", where=where, fix="repair or re-export the file"
        ) from err
    except UnicodeDecodeError as err:
        raise BoundaryError(
            f"holds text that is not UTF-8 ({err.reason} at byte {err.start})",
            where=where,
            fix="re-export it as UTF-8 (a Shapefile takes a .cpg naming its encoding, e.g. GBK)",
        ) from err
    if not isinstance(gdf, gpd.GeoDataFrame):  # a table without geometry, such as a CSV
        raise BoundaryError(
            "has no geometry", where=where, fix="give polygons (GeoPackage, Shapefile, GeoJSON)"
        )
    return gdf


def _require_field(gdf: pd.DataFrame, field: str, where: str, *, role: str) -> None:
    if field in gdf.columns:
        return
    fields = [c for c in gdf.columns if c != gdf.geometry.name]
    hint = did_you_mean(field, fields)
    raise BoundaryError(
        f"no {role} field {field!r}",
        where=where,
        fix=f"{hint}fields are: {', '.join(fields)}",
    )


def _city_ids(gdf: gpd.GeoDataFrame, id_field: str, where: str) -> pd.Series:
    _require_field(gdf, id_field, where, role="id")
    raw = gdf[id_field]
    ids = raw.map(_id_text, na_action="ignore")
    empty = raw.isna() | (ids == "")  # a Shapefile stores a missing text as blanks
    if empty.any():
        rows = ", ".join(str(i) for i in raw.index[empty][:5])
        raise BoundaryError(
            f"field {id_field!r} is empty in {int(empty.sum())} feature(s) (rows {rows})",
            where=where,
            fix="give every city an id",
        )
    dup = ids[ids.duplicated(keep=False)]
    if len(dup):
        shown = ", ".join(sorted(set(dup))[:5])
        raise BoundaryError(
            f"field {id_field!r} repeats id(s) {shown}",
            where=where,
            fix="make the ids unique (dissolve parts of one city first)",
        )
    return ids


def _id_text(value: object) -> str:
    """Render an id as text; integral floats lose their ``.0``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _check_geometry_types(gdf: gpd.GeoDataFrame, where: str) -> None:
    types = gdf.geometry.geom_type
    bad = types.notna() & ~types.isin(_POLYGONAL)
    if bad.any():
        kinds = ", ".join(sorted(set(types[bad])))
        first = ", ".join(gdf["city_id"][bad].head(5))
        raise BoundaryError(
            f"{int(bad.sum())} feature(s) are {kinds}, not polygons (ids {first})",
            where=where,
            fix="keep only the polygon features of the city boundaries",
        )


def _repair(gdf: gpd.GeoDataFrame, where: str) -> gpd.GeoSeries:
    geoms = gdf.geometry.to_numpy()
    present = ~shapely.is_missing(geoms)
    invalid = present & ~shapely.is_valid(geoms)
    if not invalid.any():
        return gdf.geometry
    fixed = geoms.copy()
    repaired = shapely.make_valid(geoms[invalid])
    fixed[invalid] = [_polygonal_part(g) for g in repaired]
    ids = ", ".join(gdf["city_id"].to_numpy()[invalid][:10])
    warnings.warn(
        f"{where}: repaired {int(invalid.sum())} invalid polygon(s) with make_valid (ids {ids})",
        UrbanShrinkWarning,
        stacklevel=3,
    )
    return gpd.GeoSeries(fixed, index=gdf.index, crs=gdf.crs)


def _polygonal_part(geom: shapely.Geometry) -> shapely.Geometry:
    """Keep the polygons of a repaired geometry (make_valid may add lines or points)."""
    if geom.geom_type in _POLYGONAL:
        return geom
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in _POLYGONAL]
    return shapely.union_all(parts) if parts else shapely.Polygon()
