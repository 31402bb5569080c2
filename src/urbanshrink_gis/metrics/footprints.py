"""Urban footprints: the built-up heart of each prefecture, as the unit of an urban-scope run.

A prefecture-level city (地级市) is mostly countryside: its resident population falls with rural
out-migration while its urban core may still grow. Studies of the shrinking-while-expanding
paradox therefore measure the urban area with the population of the same footprint. This stage
gives each prefecture its footprint, either

- from a polygon layer the user has (urban districts 市辖区, 城区, GHS-UCDB urban centres),
  joined to the prefecture by id and dissolved, or
- derived from the land cover of one year (the analysis' start): the contiguous built-up
  clusters (4-connectivity, as GHSL's urban centres) of at least ``min_km2`` inside the
  prefecture, their holes (parks, lakes) filled, grown by ``buffer_m`` so the fringe where a
  city expands is inside, and cut to the prefecture.

Terms
-----
footprint
    One (multi)polygon per prefecture id, in the boundaries' CRS; a prefecture with no cluster
    of ``min_km2`` has none and is left out of the urban scope (with a warning).
"""

from __future__ import annotations

import logging
import math
import os
import warnings

import geopandas as gpd
import numpy as np
import shapely
from affine import Affine
from pyproj import CRS, Geod
from rasterio import features, windows

from urbanshrink_gis.errors import ConfigError, UrbanShrinkWarning
from urbanshrink_gis.io.boundaries import read_boundaries
from urbanshrink_gis.io.rasters import band_nodata, open_raster
from urbanshrink_gis.products.model import Product

__all__ = ["derive_footprints", "footprints_from_layer"]

log = logging.getLogger(__name__)

#: Largest window read at full resolution for one prefecture; larger ones are read decimated.
MAX_PIXELS = 1 << 26


def footprints_from_layer(
    source: str | os.PathLike,
    prefectures: gpd.GeoDataFrame,
    *,
    id_field: str,
    layer: str | None = None,
) -> gpd.GeoDataFrame:
    """Urban polygons joined to the prefectures by id, parts of one prefecture dissolved.

    Parameters
    ----------
    source
        Vector file of urban polygons (several per prefecture allowed, e.g. its districts).
    prefectures
        The boundaries as :func:`~urbanshrink_gis.io.boundaries.read_boundaries` returns them.
    id_field
        Field of `source` holding the prefecture's id.
    layer
        Layer of a multi-layer file.

    Returns
    -------
    geopandas.GeoDataFrame
        ``city_id``, ``footprint_km2`` (on the WGS 84 ellipsoid) and ``geometry`` (the
        boundaries' CRS), one row per matched prefecture, as :func:`derive_footprints`.

    Raises
    ------
    ConfigError
        No polygon matches a prefecture id.
    """
    parts = read_boundaries(source, id_field=id_field, layer=layer, dissolve=True)
    parts = parts[["city_id", "geometry"]].to_crs(prefectures.crs)
    known = set(prefectures["city_id"])
    unmatched = sorted(set(parts["city_id"]) - known)
    if len(unmatched) == len(parts):
        raise ConfigError(
            f"no urban polygon's {id_field!r} matches a boundary id (first: {unmatched[:3]})",
            where=os.fspath(source),
            fix="give the field holding the prefecture code ([boundaries.urban] id)",
        )
    if unmatched:
        warnings.warn(
            f"{len(unmatched)} urban polygon(s) match no boundary and are left out "
            f"(first ids: {', '.join(unmatched[:5])})",
            UrbanShrinkWarning,
            stacklevel=2,
        )
    parts = parts[parts["city_id"].isin(known)].reset_index(drop=True)
    geod = Geod(ellps="WGS84")
    lonlat = parts.geometry.to_crs("EPSG:4326")
    km2 = [abs(geod.geometry_area_perimeter(g)[0]) / 1e6 for g in lonlat]
    return parts.assign(footprint_km2=km2)[["city_id", "footprint_km2", "geometry"]]


def derive_footprints(
    prefectures: gpd.GeoDataFrame,
    landcover: str,
    product: Product,
    *,
    min_km2: float = 1.0,
    buffer_m: float = 1000.0,
) -> gpd.GeoDataFrame:
    """Contiguous built-up clusters of at least `min_km2`, holes filled, grown by `buffer_m`.

    Parameters
    ----------
    prefectures
        The boundaries as :func:`~urbanshrink_gis.io.boundaries.read_boundaries` returns them.
    landcover
        Land-cover raster of the footprint's year (any CRS; GDAL name).
    product
        Its preset (a ``landcover`` product: ``builtup_classes``, ``band``, ``nodata``).
    min_km2
        Smallest cluster kept, km² (true area, measured in an equal-area projection).
    buffer_m
        Growth of the clusters, metres; the footprint is then cut to the prefecture.

    Returns
    -------
    geopandas.GeoDataFrame
        ``city_id``, ``footprint_km2`` and ``geometry`` (the boundaries' CRS), one row per
        prefecture holding a cluster of `min_km2`.

    Notes
    -----
    Each prefecture's window is read at most once, at full resolution up to
    :data:`MAX_PIXELS` pixels (64 Mi, ~70 000 km² at 30 m) and decimated beyond, which keeps
    the memory bounded at about 0.4 GB whatever the prefecture's size.
    """
    if product.kind != "landcover" or not product.builtup_classes:
        raise ConfigError(
            f"cannot derive urban footprints from {product.name} ({product.kind})",
            where="[boundaries.urban]",
            fix="derive them from a land-cover series with built-up classes, or give a "
            "polygon layer as [boundaries.urban] path",
        )
    ids, shapes, areas = [], [], []
    with open_raster(landcover, band=product.band) as ds:
        raster_crs = CRS.from_user_input(ds.crs)
        nodata = band_nodata(ds, product.band, product.nodata)
        local = prefectures.to_crs(raster_crs)
        for city_id, prefecture, outline in zip(
            prefectures["city_id"], prefectures.geometry, local.geometry, strict=True
        ):
            clusters = _clusters(ds, outline, product, nodata)
            footprint = _grow(clusters, prefecture, prefectures.crs, raster_crs, min_km2, buffer_m)
            if footprint is not None:
                ids.append(city_id)
                shapes.append(footprint[0])
                areas.append(footprint[1])
    missing = sorted(set(prefectures["city_id"]) - set(ids))
    if missing:
        warnings.warn(
            f"{len(missing)} boundary unit(s) hold no built-up cluster of {min_km2:g} km² and "
            f"have no urban footprint (first ids: {', '.join(missing[:5])})",
            UrbanShrinkWarning,
            stacklevel=2,
        )
    return gpd.GeoDataFrame(
        {"city_id": ids, "footprint_km2": areas}, geometry=shapes, crs=prefectures.crs
    )


def _clusters(ds, outline, product: Product, nodata: float | None) -> gpd.GeoSeries:
    """Polygons of the 4-connected built-up clusters of one prefecture, holes filled."""
    crs = CRS.from_user_input(ds.crs)
    if outline is None or outline.is_empty:
        return gpd.GeoSeries([], crs=crs)
    full = windows.Window(0, 0, ds.width, ds.height)
    try:
        exact = windows.from_bounds(*outline.bounds, transform=ds.transform)
        col, row = math.floor(exact.col_off), math.floor(exact.row_off)
        width = math.ceil(exact.col_off + exact.width) - col
        height = math.ceil(exact.row_off + exact.height) - row
        window = windows.Window(col, row, width, height).intersection(full)
    except windows.WindowError:  # the prefecture lies off the raster
        return gpd.GeoSeries([], crs=crs)
    step = max(1, math.ceil(math.sqrt(window.width * window.height / MAX_PIXELS)))
    shape = (max(1, int(window.height) // step), max(1, int(window.width) // step))
    values = ds.read(product.band, window=window, out_shape=shape)
    if step > 1:
        log.info("urban footprint: window of %d x %d read 1:%d", window.width, window.height, step)
    scale = Affine.scale(window.width / shape[1], window.height / shape[0])
    transform = ds.window_transform(window) * scale
    built = np.isin(values, product.builtup_classes)
    if nodata is not None:
        built &= values != nodata
    inside = features.geometry_mask([outline], shape, transform, invert=True)
    built &= inside
    polygons = [
        shapely.Polygon(shapely.geometry.shape(geom).exterior)
        for geom, _ in features.shapes(
            built.astype(np.uint8), mask=built, connectivity=4, transform=transform
        )
    ]
    return gpd.GeoSeries(polygons, crs=crs)


def _grow(
    clusters: gpd.GeoSeries,
    prefecture,
    crs,
    raster_crs: CRS,
    min_km2: float,
    buffer_m: float,
) -> tuple[object, float] | None:
    """The prefecture's footprint and its km², in the boundaries' CRS (None: no cluster)."""
    if clusters.empty:
        return None
    centre = gpd.GeoSeries([prefecture], crs=crs).to_crs("EPSG:4326").iloc[0].representative_point()
    equal_area = CRS.from_proj4(
        f"+proj=laea +lat_0={centre.y:.4f} +lon_0={centre.x:.4f} +datum=WGS84 +units=m"
    )
    metric = clusters.to_crs(equal_area)
    kept = metric[metric.area >= min_km2 * 1e6]
    if kept.empty:
        return None
    grown = shapely.union_all((kept.buffer(buffer_m) if buffer_m > 0 else kept).to_numpy())
    outline = gpd.GeoSeries([prefecture], crs=crs).to_crs(equal_area).iloc[0]
    footprint = shapely.make_valid(grown).intersection(outline)
    if footprint.is_empty:
        return None
    km2 = footprint.area / 1e6
    return gpd.GeoSeries([footprint], crs=equal_area).to_crs(crs).iloc[0], km2
