"""io/boundaries.py: read_boundaries fuzzed: a clean frame or one UrbanShrinkError, no crash."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point, Polygon, box

from conftest import allowed
from urbanshrink_gis.io.boundaries import read_boundaries


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.binary(max_size=300)
    | st.sampled_from([b"{}", b'{"type": "FeatureCollection", "features": []}',
                       b'{"type": "Point", "coordinates": [1, 2]}', b"SQLite format 3\x00"]),
    suffix=st.sampled_from([".gpkg", ".geojson", ".shp", ".json", ".csv"]),
)  # fmt: skip
def test_fuzz_boundaries_random_bytes(tmp_path_factory, data, suffix) -> None:
    path = tmp_path_factory.mktemp("fuzz_vector") / f"b{suffix}"
    path.write_bytes(data)
    if suffix == ".shp":  # a shapefile without its .shx / .dbf, then with random ones
        (path.with_suffix(".dbf")).write_bytes(data[::-1])
    # pyogrio passes GDAL's remarks on as RuntimeWarning ("Selecting ',' as CSV field separator")
    gdf = allowed(lambda: read_boundaries(path, id_field="adcode"), also=(RuntimeWarning,))
    assert gdf is None or isinstance(gdf, gpd.GeoDataFrame)


GEOMETRIES = st.sampled_from([
    box(0, 0, 1, 1),
    Polygon([(0, 0), (1, 1), (1, 0), (0, 1)]),  # bow-tie: repaired
    Polygon([(0, 0), (1, 0), (2, 0)]),  # zero area
    Polygon(),
    Point(0, 0),
    LineString([(0, 0), (1, 1)]),
    box(0, 0, 1, 1).union(box(2, 2, 3, 3)),
    box(0, 0, 1, 1).union(LineString([(2, 2), (3, 3)])),  # a GeometryCollection
    None,
])  # fmt: skip
IDS = st.one_of(
    st.none(), st.integers(-5, 5), st.floats(allow_infinity=False), st.text(max_size=3),
    st.sampled_from(["230100", "230100 ", "", " ", "1.0"]),
)  # fmt: skip


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.tuples(IDS, GEOMETRIES), max_size=5), crs=st.sampled_from([None, 4326]))
@example(rows=[(1, box(0, 0, 1, 1)), (1.0, box(0, 0, 1, 1))], crs=4326)
@example(rows=[("", box(0, 0, 1, 1))], crs=4326)
def test_fuzz_boundaries_frames(rows, crs) -> None:
    gdf = gpd.GeoDataFrame(
        {"adcode": pd.Series([r[0] for r in rows], dtype=object)},
        geometry=gpd.GeoSeries([r[1] for r in rows], crs=crs),
    )
    out = allowed(lambda: read_boundaries(gdf, id_field="adcode"))
    if out is None:
        return
    assert isinstance(out, gpd.GeoDataFrame) and list(out.columns[:1]) == ["city_id"]
    ids = out["city_id"]
    assert ids.map(lambda v: isinstance(v, str) and v.strip() == v and v != "").all()
    assert ids.is_unique
    kinds = set(out.geometry.dropna().geom_type)
    assert kinds <= {"Polygon", "MultiPolygon"}, kinds
