"""metrics/footprints.py: urban footprints derived from built-up clusters or joined from a layer.

The land cover and boundaries are the crafted case of tests/urban_case.py (the ``crafted``
fixture): CLCD as downloaded, 30 m Albers pixels of exactly 0.0009 km², so areas are known.
"""

from __future__ import annotations

import math
import warnings

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin

from urban_case import (
    ALBERS,
    BUILT,
    RES,
    SIZE,
    X0,
    Y1,
    case_config,
    paint,
    prefecture_frame,
    square,
)
from urbanshrink_gis import pipeline
from urbanshrink_gis.errors import UrbanShrinkWarning
from urbanshrink_gis.io.boundaries import read_boundaries
from urbanshrink_gis.metrics.footprints import derive_footprints, footprints_from_layer
from urbanshrink_gis.products.presets import get_product


def test_derived_footprint_keeps_the_core_fills_its_holes_and_grows_by_the_buffer(crafted):
    folder, _ = crafted
    prefectures = read_boundaries(folder / "cities.gpkg", id_field="adcode", layer="cities")
    lc = str(folder / "lc" / "CLCD_v01_2010_albert.tif")
    with pytest.warns(UrbanShrinkWarning, match="1 boundary unit.*420200"):
        bare = derive_footprints(prefectures, lc, get_product("clcd"), min_km2=1.0, buffer_m=0)
    assert list(bare["city_id"]) == ["420100"]  # the east prefecture has no built-up at all
    core_km2 = 67 * 67 * RES**2 / 1e6  # the pond is inside: filled
    assert bare["footprint_km2"].iloc[0] == pytest.approx(core_km2, rel=2e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UrbanShrinkWarning)
        grown = derive_footprints(prefectures, lc, get_product("clcd"), buffer_m=1000)
        small = derive_footprints(prefectures, lc, get_product("clcd"), min_km2=0.05, buffer_m=0)
    side = 67 * RES / 1000  # km
    rounded = side**2 + 4 * side * 1.0 + math.pi * 1.0**2  # a square grown by 1 km
    assert grown["footprint_km2"].iloc[0] == pytest.approx(rounded, rel=5e-3)
    assert small["footprint_km2"].iloc[0] == pytest.approx(core_km2 + 0.09, rel=2e-3)  # village
    footprint = grown.to_crs(ALBERS).geometry.iloc[0]
    assert footprint.contains(shapely.Point(X0 + 100 * RES, Y1 - 200 * RES))  # the core
    assert not footprint.intersects(shapely.Point(X0 + 25 * RES, Y1 - 25 * RES))  # the village


def test_clusters_touching_at_a_corner_are_separate(crafted, tmp_path):
    """4-connectivity (GHSL's urban-centre rule): two 0.6 km² blocks meeting at one corner
    are two clusters below 1 km², not one of 1.2 km²."""
    folder, _ = crafted
    lc = np.full((SIZE, SIZE), 1, np.uint8)
    paint(lc, 100, 100, 26, 26)  # 0.608 km²
    paint(lc, 126, 126, 26, 26)  # its diagonal neighbour
    profile = dict(driver="GTiff", width=SIZE, height=SIZE, count=1, dtype="uint8", crs=ALBERS,
                   transform=from_origin(X0, Y1, RES, RES))  # fmt: skip
    path = tmp_path / "corner.tif"
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(lc, 1)
    prefectures = read_boundaries(folder / "cities.gpkg", id_field="adcode", layer="cities")
    with pytest.warns(UrbanShrinkWarning, match="2 boundary unit"):
        none = derive_footprints(prefectures, str(path), get_product("clcd"), buffer_m=0)
    assert none.empty
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UrbanShrinkWarning)
        both = derive_footprints(prefectures, str(path), get_product("clcd"), min_km2=0.5,
                                 buffer_m=0)  # fmt: skip
    assert both["footprint_km2"].iloc[0] == pytest.approx(2 * 26 * 26 * RES**2 / 1e6, rel=2e-3)


def test_a_geographic_land_cover_gives_true_km2(tmp_path):
    """The same cluster on a 1″ EPSG:4326 grid at 47°N: km² from the ellipsoid, not degrees."""
    res = 1 / 3600
    lc = np.full((600, 600), 1, np.uint8)
    lc[200:300, 200:300] = BUILT
    profile = dict(driver="GTiff", width=600, height=600, count=1, dtype="uint8",
                   crs="EPSG:4326", transform=from_origin(126.0, 47.1, res, res))  # fmt: skip
    path = tmp_path / "geo.tif"
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(lc, 1)
    prefecture = gpd.GeoDataFrame(
        {"city_id": ["230100"]}, geometry=[shapely.box(126.0, 46.94, 126.17, 47.1)], crs=4326
    )
    shapes = derive_footprints(prefecture, str(path), get_product("clcd"), buffer_m=0,
                               min_km2=0.5)  # fmt: skip
    lat = 47.1 - 250 * res  # the cluster's centre
    cell_km2 = (res * 111.32 * math.cos(math.radians(lat))) * (res * 111.13)  # ~6.5e-4 km²
    assert shapes["footprint_km2"].iloc[0] == pytest.approx(100 * 100 * cell_km2, rel=5e-3)


def test_footprints_from_a_district_layer_are_dissolved_by_prefecture(crafted):
    folder, text = crafted
    west = prefecture_frame().to_crs(ALBERS).geometry.iloc[0]
    x0, y0, _, y1 = west.bounds
    districts = gpd.GeoDataFrame(
        {"pref_code": [420100, 420100, 999999]},  # numbers: read as the text ids
        geometry=[
            square(x0 + 1000, y1 - 7000, x0 + 4000, y1 - 4000),
            square(x0 + 4000, y1 - 7000, x0 + 5000, y1 - 4000),
            square(x0, y0, x0 + 100, y0 + 100),
        ],
        crs=ALBERS,
    )
    districts.to_file(folder / "districts.shp", engine="pyogrio")
    prefectures = read_boundaries(folder / "cities.gpkg", id_field="adcode", layer="cities")
    with pytest.warns(UrbanShrinkWarning, match="1 urban polygon.*999999"):
        shapes = footprints_from_layer(folder / "districts.shp", prefectures, id_field="pref_code")
    assert list(shapes["city_id"]) == ["420100"]
    assert shapes.to_crs(ALBERS).area.iloc[0] == pytest.approx(4000 * 3000, rel=1e-6)
    urban = '[boundaries.urban]\npath = "districts.shp"\nid = "pref_code"\n'
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UrbanShrinkWarning)
        result = pipeline.run(
            case_config(folder, text, urban), out_dir=folder / "o", with_report=False
        )
    town = result.scopes[1].cities.set_index("city_id").loc["420100"]
    assert town["footprint_km2"] == pytest.approx(12.0, rel=2e-3)
    footprint = gpd.read_file(folder / "o" / "urbanshrink.gpkg", layer="urban_footprint")
    assert list(footprint["city_id"]) == ["420100"]
