"""zonal/engine.py: zonal_stats by hand, against rasterstats, exactextract, brute force, geodesy.

Zones are drawn in pixel coordinates (column, row; row 0 at the top) and mapped to the raster's
CRS, so the brute-force answers can be worked out on the pixel grid directly: a pixel is in a
zone by the centre rule when ``shapely.contains_xy`` holds at its centre, touched when the zone
intersects its square, and weighs the area of that intersection for ``coverage="exact"``.
Random shapes are kept clear of ties (a pixel centre on the boundary, a vertex on a grid line, an
edge through a grid corner), where the rules are conventions rather than geometry.

``area_sum`` is the sum of value x true pixel area; ``weighted_sum`` and ``weighted_mean`` weigh
each pixel by a second raster (population), over pixels valid in both. exactextract has both
weighted statistics, and rasterstats' plain sum of the product raster is the centre rule's
weighted sum.
"""

from __future__ import annotations

import math
import warnings
from unittest import mock

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from affine import Affine
from click.testing import CliRunner
from exactextract import exact_extract
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from pyproj import Geod
from rasterstats import zonal_stats as _rasterstats
from shapely.affinity import translate
from shapely.geometry import MultiPolygon, Point, Polygon, box

from conftest import CHINA_CITIES, requires_shared
from urbanshrink_gis import (
    ConfigError,
    RasterError,
    UrbanShrinkWarning,
    read_boundaries,
    zonal_stats,
    zonal_stats_many,
)
from urbanshrink_gis.cli import cli
from urbanshrink_gis.zonal import zones as zones_module

UTM = "EPSG:32650"  # WGS 84 / UTM 50N, projected in metres
EQUAL_AREA = "EPSG:6933"  # WGS 84 / NSIDC EASE-Grid 2.0 Global (cylindrical equal area)
X0, Y0, RES = 500_000.0, 4_000_000.0, 30.0
NODATA = -9999.0
MOMENTS = ("count", "nodata_count", "sum", "mean", "min", "max", "std", "range")
VALUE_STATS = ("median", "percentile_90", "majority", "minority", "unique")
RS_STATS = "count sum mean min max std range median percentile_90 majority minority unique"
COVERAGES = ("center", "all_touched", "exact")

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- writing rasters and zones ---------------------------------------------------------------


def grid_transform(res: float = RES, origin: tuple[float, float] = (X0, Y0)) -> Affine:
    return Affine(res, 0.0, origin[0], 0.0, -res, origin[1])


def write_raster(path, values, *, transform=None, crs=UTM, nodata=NODATA, **profile):
    """Write a 2-D array (or a 3-D stack of bands) to a GeoTIFF and return its path as str."""
    a = np.asarray(values)
    bands = a if a.ndim == 3 else a[None]
    meta = dict(
        driver="GTiff",
        height=bands.shape[1],
        width=bands.shape[2],
        count=bands.shape[0],
        dtype=bands.dtype,
        crs=crs,
        transform=transform if transform is not None else grid_transform(),
        nodata=nodata,
    )
    with rasterio.open(path, "w", **meta | profile) as dst:
        dst.write(bands)
    return str(path)


def to_world(geom, transform: Affine | None = None):
    """Map a geometry from pixel coordinates to the CRS of ``transform``."""
    t = transform if transform is not None else grid_transform()
    return shapely.transform(
        geom, lambda xy: np.column_stack([t.c + xy[:, 0] * t.a, t.f + xy[:, 1] * t.e])
    )


def zones_frame(geoms, *, crs=UTM, ids=None, column="id"):
    ids = ids if ids is not None else [f"z{i}" for i in range(len(geoms))]
    return gpd.GeoDataFrame({column: ids}, geometry=list(geoms), crs=crs)


def random_values(seed: int, shape, *, nodata_share=0.1, dtype="float64"):
    """Quarter-step values 0..9.75 (exact float sums, ties for majority) with some nodata."""
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 40, shape) / 4
    values[rng.random(shape) < nodata_share] = NODATA
    return values.astype(dtype)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A folder shared by the examples of a hypothesis test (files are overwritten)."""
    return tmp_path_factory.mktemp("reference")


# --- pixel-space oracles ---------------------------------------------------------------------


def pixel_cells(height: int, width: int):
    """Pixel centres (x, y) and squares of a grid, in pixel coordinates, row-major."""
    rows, cols = np.mgrid[0:height, 0:width]
    cx, cy = cols.ravel() + 0.5, rows.ravel() + 0.5
    squares = shapely.box(cols.ravel(), rows.ravel(), cols.ravel() + 1, rows.ravel() + 1)
    return cx, cy, squares


def brute_force(geom, values, *, nodata=NODATA):
    """Per coverage rule: (weight of every pixel, validity), both shaped like ``values``."""
    h, w = values.shape
    cx, cy, squares = pixel_cells(h, w)
    weights = {
        "center": shapely.contains_xy(geom, cx, cy).astype(float),
        "all_touched": shapely.intersects(geom, squares).astype(float),
        "exact": shapely.area(shapely.intersection(geom, squares)),
    }
    valid = (values != nodata) & ~np.isnan(values)
    return {k: v.reshape(h, w) for k, v in weights.items()}, valid


def clear_of_ties(geom, height: int, width: int, eps: float = 2e-4) -> bool:
    """True when no pixel centre or grid corner is within ``eps`` of the zone boundary and no
    vertex lies within ``eps`` of a grid line (in pixel units, over the grid plus a margin)."""
    boundary = geom.boundary
    xy = shapely.get_coordinates(geom)
    if (np.abs(xy - np.round(xy)) < eps).any():
        return False
    rows, cols = np.mgrid[-1 : height + 2, -1 : width + 2]
    centres = shapely.points(cols.ravel() + 0.5, rows.ravel() + 0.5)
    corners = shapely.points(cols.ravel(), rows.ravel())
    near = shapely.distance(boundary, np.concatenate([centres, corners]))
    return bool(near.min() > eps)


# --- random zones ----------------------------------------------------------------------------


def star(cx, cy, radii, phase, jitter):
    """A polygon star-shaped around (cx, cy): always simple, convex or not."""
    n = len(radii)
    angles = phase + 2 * math.pi * (np.arange(n) + 0.8 * np.asarray(jitter)) / n
    r = np.asarray(radii)
    return Polygon(np.column_stack([cx + r * np.cos(angles), cy + r * np.sin(angles)]))


@st.composite
def star_polygons(draw, height, width, *, min_vertices=3):
    n = draw(st.integers(min_vertices, 12))
    cx = draw(st.floats(-4, width + 4)) + 0.0137
    cy = draw(st.floats(-4, height + 4)) + 0.0291
    top = draw(st.floats(0.4, max(height, width) / 2))
    radii = draw(st.lists(st.floats(0.2, 1.0), min_size=n, max_size=n))
    jitter = draw(st.lists(st.floats(0, 1), min_size=n, max_size=n))
    phase = draw(st.floats(0, 2 * math.pi))
    return star(cx, cy, [top * r for r in radii], phase, jitter)


@st.composite
def zone_shapes(draw, height, width):
    """A star, a star with a hole, a convex hull, a buffered point, a box, a union of boxes
    (horizontal edges inside pixel rows) or a multipolygon."""
    kind = draw(st.sampled_from(["star", "holed", "hull", "buffer", "box", "boxes", "multi"]))
    if kind in ("box", "boxes"):
        parts = []
        for _ in range(1 if kind == "box" else draw(st.integers(2, 4))):
            x0 = draw(st.floats(-4, width + 2)) + 0.0131
            y0 = draw(st.floats(-4, height + 2)) + 0.0277
            w = draw(st.floats(0.1, width * 0.7))
            h = draw(st.floats(0.1, height * 0.7))
            parts.append(box(x0, y0, x0 + w, y0 + h))
        union = shapely.union_all(parts)
        polys = [p for p in shapely.get_parts(union) if p.geom_type == "Polygon"]
        return MultiPolygon(polys) if len(polys) > 1 else polys[0]
    if kind == "star":
        return draw(star_polygons(height, width))
    if kind == "holed":
        outer = draw(star_polygons(height, width, min_vertices=6))
        c = outer.centroid
        hole = star(c.x, c.y, [0.25 * outer.exterior.distance(c)] * 7, 0.3, [0.5] * 7)
        holed = Polygon(outer.exterior.coords, [hole.exterior.coords])
        assume(holed.is_valid and hole.area > 0.05)
        return holed
    if kind == "hull":
        x0 = draw(st.floats(-4, width + 2))
        y0 = draw(st.floats(-4, height + 2))
        size = draw(st.floats(0.5, max(height, width) * 0.8))
        pts = draw(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=3, max_size=9))
        hull = shapely.MultiPoint([(x0 + size * u, y0 + size * v) for u, v in pts]).convex_hull
        assume(hull.geom_type == "Polygon" and hull.area > 0.01)
        return translate(hull, 0.0173, 0.0311)
    if kind == "buffer":
        cx = draw(st.floats(-3, width + 3)) + 0.0119
        cy = draw(st.floats(-3, height + 3)) + 0.0257
        return Point(cx, cy).buffer(draw(st.floats(0.3, 8)), quad_segs=draw(st.integers(2, 8)))
    parts = [draw(star_polygons(height, width)) for _ in range(draw(st.integers(2, 3)))]
    union = shapely.union_all(parts)
    polys = [p for p in shapely.get_parts(union) if p.geom_type == "Polygon"]
    return MultiPolygon(polys) if len(polys) > 1 else polys[0]


@st.composite
def scenes(draw, *, min_side, max_side, max_zones=4):
    """Grid size, zones clear of ties, and a seed for the values."""
    height = draw(st.integers(min_side, max_side))
    width = draw(st.integers(min_side, max_side))
    zones = draw(st.lists(zone_shapes(height, width), min_size=1, max_size=max_zones))
    assume(all(clear_of_ties(g, height, width) for g in zones))
    return height, width, zones, draw(st.integers(0, 2**32 - 1))


def rs_zonal_stats(*args, **kwargs):
    """rasterstats, quiet about its own empty-zone ``nodata`` conversion."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Warning: converting a masked element", UserWarning)
        return _rasterstats(*args, **kwargs)


# --- comparing -------------------------------------------------------------------------------


def assert_same_stats(row: pd.Series, ref: dict, *, rel: float = 1e-9) -> None:
    """One zone's engine row against a rasterstats result."""
    assert row["count"] == ref["count"]
    if ref["count"] == 0:
        assert all(np.isnan(row[s]) for s in ("sum", "mean", "min", "max", "std", "median"))
        return
    for stat in ("sum", "mean", "min", "max", "std", "range", "median", "percentile_90"):
        assert row[stat] == pytest.approx(ref[stat], rel=rel, abs=1e-9), stat
    for stat in ("majority", "minority", "unique"):
        assert row[stat] == ref[stat], stat


def expected_from_weights(weight, valid, values):
    """Count, nodata count and sum of pixels weighted by coverage."""
    w = weight * valid
    return w.sum(), (weight * ~valid).sum(), (w * np.where(valid, values, 0)).sum()


# === 0. hand-worked answers ==================================================================


def test_known_square_center(make_raster, make_zones):
    # 10x10 grid of 0.01°, values = row * 10 + col; zone covers rows 2-4, cols 3-6 exactly.
    values = np.arange(100, dtype="float32").reshape(10, 10)
    raster = make_raster(values)
    zones = make_zones([box(100.03, 39.95, 100.07, 39.98)])
    out = zonal_stats(zones, raster, ("count", "sum", "mean", "min", "max"), zone_id="id")
    inside = values[2:5, 3:7]
    assert out.loc["a", "count"] == 12
    assert out.loc["a", "sum"] == pytest.approx(inside.sum())
    assert out.loc["a", "mean"] == pytest.approx(inside.mean())
    assert (out.loc["a", "min"], out.loc["a", "max"]) == (23, 46)


def test_zone_off_raster_and_empty_geometry_give_nan(make_raster, make_zones):
    raster = make_raster(np.ones((10, 10), "float32"))
    zones = make_zones([box(0, 0, 1, 1), shapely.Polygon(), box(100.0, 39.9, 100.1, 40.0)])
    out = zonal_stats(zones, raster, ("count", "sum", "mean"), zone_id="id")
    assert list(out["count"]) == [0, 0, 100]
    assert np.isnan(out.loc["a", "mean"]) and np.isnan(out.loc["b", "sum"])


def test_nodata_nan_and_override(make_raster, make_zones):
    values = np.ones((4, 4), "float32")
    values[0, 0] = -9
    values[1, 1] = np.nan
    raster = make_raster(values, nodata=-9)
    zones = make_zones([box(100.0, 39.96, 100.04, 40.0)])
    out = zonal_stats(zones, raster, ("count", "nodata_count", "sum"), zone_id="id")
    assert (out.loc["a", "count"], out.loc["a", "nodata_count"]) == (14, 2)
    out = zonal_stats(zones, raster, ("count",), zone_id="id", nodata=1)
    assert out.loc["a", "count"] == 1  # only the -9 pixel is not nodata (NaN never counts)


def test_overlapping_zones_count_shared_pixels_in_both(make_raster, make_zones):
    raster = make_raster(np.ones((10, 10), "uint8"))
    zones = make_zones([box(100.0, 39.9, 100.06, 40.0), box(100.04, 39.9, 100.1, 40.0)])
    out = zonal_stats(zones, raster, ("count",), zone_id="id")
    assert list(out["count"]) == [60, 60]


def test_invalid_polygon_is_repaired_with_a_warning(make_raster, make_zones):
    raster = make_raster(np.ones((10, 10), "float32"))
    bowtie = shapely.Polygon([(100.0, 39.9), (100.1, 40.0), (100.1, 39.9), (100.0, 40.0)])
    zones = make_zones([bowtie])
    with pytest.warns(UrbanShrinkWarning, match="repaired 1 invalid polygon"):
        out = zonal_stats(zones, raster, ("count",), zone_id="id")
    assert 40 <= out.loc["a", "count"] <= 60


def test_geographic_areas_follow_latitude(make_raster, make_zones):
    raster = make_raster(np.ones((10, 10), "uint8"), res=1.0, origin=(0.0, 60.0))
    zones = make_zones([box(0, 59, 10, 60), box(0, 50, 10, 51)])
    out = zonal_stats(zones, raster, ("area_km2",), zone_id="id")
    assert out.loc["a", "area_km2"] < out.loc["b", "area_km2"]


def test_threshold_counts_pixels_above(make_raster, make_zones):
    values = np.array([[0, 0.4, 0.6, 2.0]], "float32")
    raster = make_raster(values)
    zones = make_zones([box(100.0, 39.99, 100.04, 40.0)])
    out = zonal_stats(
        zones, raster, ("above_count", "above_km2", "area_km2"), zone_id="id", threshold=0.5
    )
    assert out.loc["a", "above_count"] == 2
    assert out.loc["a", "above_km2"] == pytest.approx(out.loc["a", "area_km2"] / 2)


def test_engine_is_frozen_and_refuses_bad_settings():
    import dataclasses

    from urbanshrink_gis import ConfigError, Engine

    engine = Engine(workers=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        engine.workers = 3  # type: ignore[misc]
    assert engine.with_coverage("exact") == Engine("exact", "threads", 2)
    for bad, message in (
        (dict(coverage="centre"), "unknown coverage 'centre'"),
        (dict(scheduler="gpu"), "unknown scheduler 'gpu'"),
        (dict(workers=0), "workers must be at least 1"),
    ):
        with pytest.raises(ConfigError, match=message):
            Engine(**bad)


# === 1. rasterstats: centre and all_touched ==================================================


@FAST
@given(scene=scenes(min_side=18, max_side=30), all_touched=st.booleans())
def test_matches_rasterstats_on_random_zones(workdir, scene, all_touched):
    height, width, zones, seed = scene
    values = random_values(seed, (height, width))
    raster = write_raster(workdir / "rs.tif", values)
    world = [to_world(g) for g in zones]
    coverage = "all_touched" if all_touched else "center"
    out = zonal_stats(
        zones_frame(world), raster, MOMENTS + VALUE_STATS, zone_id="id", coverage=coverage
    )
    ref = rs_zonal_stats(world, raster, stats=RS_STATS, all_touched=all_touched)
    # Every pixel of the zone, nodata or not (a nodata value that never occurs).
    everything = rs_zonal_stats(
        world, raster, stats="count", nodata=-12345.0, all_touched=all_touched
    )
    assert out["count"].dtype == np.int64
    for i, (geom, r) in enumerate(zip(zones, ref, strict=True)):
        row = out.loc[f"z{i}"]
        assert_same_stats(row, r)
        if shapely.box(0, 0, width, height).contains(geom):  # rasterstats adds off-raster pixels
            assert row["nodata_count"] == everything[i]["count"] - r["count"]


@FEW
@given(scene=scenes(min_side=20, max_side=30, max_zones=3), all_touched=st.booleans())
def test_float32_raster_matches_rasterstats(workdir, scene, all_touched):
    height, width, zones, seed = scene
    rng = np.random.default_rng(seed)
    values = (rng.lognormal(3, 1.5, (height, width)) * 1.37).astype("float32")
    values[rng.random(values.shape) < 0.1] = NODATA
    raster = write_raster(workdir / "f32.tif", values)
    world = [to_world(g) for g in zones]
    coverage = "all_touched" if all_touched else "center"
    out = zonal_stats(
        zones_frame(world),
        raster,
        ("count", "sum", "mean", "min", "max", "std"),
        zone_id="id",
        coverage=coverage,
    )
    ref = rs_zonal_stats(world, raster, stats="count sum mean min max std", all_touched=all_touched)
    for i, r in enumerate(ref):
        row = out.loc[f"z{i}"]
        assert row["count"] == r["count"]
        if r["count"]:
            for stat in ("sum", "mean", "min", "max", "std"):  # rasterstats adds in float32
                assert row[stat] == pytest.approx(r[stat], rel=1e-5), stat


def test_zones_in_another_crs_are_reprojected_like_geopandas(tmp_path):
    """Zones in EPSG:4326 on a UTM raster: same pixels as rasterstats on the reprojected zones."""
    values = random_values(7, (60, 80))
    raster = write_raster(tmp_path / "utm.tif", values, transform=grid_transform(res=250.0))
    lonlat = zones_frame(
        [
            Point(117.05, 36.09).buffer(0.05, quad_segs=5),
            star(117.1, 36.07, [0.03, 0.06, 0.04, 0.07, 0.02, 0.05], 0.2, [0.3] * 6),
            box(116.9, 36.0, 117.02, 36.2),  # crosses the western edge
        ],
        crs="EPSG:4326",
    )
    utm = lonlat.to_crs(UTM)
    for all_touched in (False, True):
        coverage = "all_touched" if all_touched else "center"
        out = zonal_stats(lonlat, raster, ("count", "sum"), zone_id="id", coverage=coverage)
        ref = rs_zonal_stats(list(utm.geometry), raster, stats="count sum", all_touched=all_touched)
        assert list(out["count"]) == [r["count"] for r in ref]
        assert out["count"].min() > 0
        assert list(out["sum"]) == pytest.approx([r["sum"] for r in ref], rel=1e-12)


ALIGNED = {
    "box": box(3, 2, 7, 7),
    "box_off_raster": box(6, -3, 14, 4),
    "two_edges_aligned": box(3, 2.4, 7, 6.6),
    "l_shape": Polygon([(1, 1), (6, 1), (6, 3), (3, 3), (3, 8), (1, 8)]),
    "thin_strip": box(4, 1.2, 4.3, 8.7),
}


@pytest.mark.parametrize("name", ALIGNED)
def test_all_touched_pixel_aligned_zones_match_rasterstats(tmp_path, name):
    """Edges lying on pixel borders touch no pixel outside the zone (GDAL's rule).

    GDAL skips polygon edges that lie on pixel borders when it burns the touched pixels, so a
    pixel-aligned 4 x 5 box is 20 pixels for ``all_touched`` as for ``center``.
    """
    values = np.arange(100, dtype="float64").reshape(10, 10)
    raster = write_raster(tmp_path / "a.tif", values)
    zone = to_world(ALIGNED[name])
    out = zonal_stats(
        zones_frame([zone]), raster, ("count", "sum"), zone_id="id", coverage="all_touched"
    )
    ref = rs_zonal_stats([zone], raster, stats="count sum", all_touched=True)[0]
    if name == "box":
        assert ref["count"] == 20  # rasterstats: the 4 x 5 pixels inside
    assert (out.loc["z0", "count"], out.loc["z0", "sum"]) == (ref["count"], ref["sum"])


# === 2. exactextract: coverage-weighted ======================================================


@FAST
@given(scene=scenes(min_side=15, max_side=30))
def test_exact_matches_exactextract(workdir, scene):
    height, width, zones, seed = scene
    values = random_values(seed, (height, width))
    values[values != NODATA] += 1.0  # valid values off zero, so means are well conditioned
    raster = write_raster(workdir / "ee.tif", values)
    frame = zones_frame([to_world(g) for g in zones], column="zone")
    out = zonal_stats(frame, raster, ("count", "sum", "mean"), zone_id="zone", coverage="exact")
    # exactextract: include_cols=["id"] reports row numbers, hence the column name "zone".
    ref = exact_extract(
        raster, frame, ["count", "sum", "mean"], output="pandas", include_cols=["zone"]
    ).set_index("zone")
    assert out["count"].dtype == np.float64
    for zid in frame["zone"]:
        row, r = out.loc[zid], ref.loc[zid]
        assert row["count"] == pytest.approx(r["count"], rel=1e-6, abs=1e-9)
        if r["count"] > 1e-9:
            assert row["sum"] == pytest.approx(r["sum"], rel=1e-6, abs=1e-9)
            assert row["mean"] == pytest.approx(r["mean"], rel=1e-6)


# === 3. brute force on tiny grids ============================================================


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scene=scenes(min_side=5, max_side=12))
@example(scene=(5, 6, [box(0.3, 0.2, 3.6, 0.7)], 0))  # exact: a row only partly covered
def test_tiny_grids_match_brute_force(workdir, scene):
    height, width, zones, seed = scene
    values = random_values(seed, (height, width), nodata_share=0.2)
    raster = write_raster(workdir / "tiny.tif", values)
    frame = zones_frame([to_world(g) for g in zones])
    for coverage in COVERAGES:
        out = zonal_stats(
            frame, raster, ("count", "nodata_count", "sum"), zone_id="id", coverage=coverage
        )
        for i, geom in enumerate(zones):
            weights, valid = brute_force(geom, values)
            count, nodata, total = expected_from_weights(weights[coverage], valid, values)
            row = out.loc[f"z{i}"]
            if coverage == "exact":
                assert row["count"] == pytest.approx(count, abs=1e-9), coverage
                assert row["nodata_count"] == pytest.approx(nodata, abs=1e-9), coverage
                if count > 1e-9:
                    assert row["sum"] == pytest.approx(total, rel=1e-9, abs=1e-9), coverage
            else:
                assert (row["count"], row["nodata_count"]) == (count, nodata), coverage
                if count:
                    assert row["sum"] == total, coverage  # quarter steps add up exactly


@FEW
@given(scene=scenes(min_side=40, max_side=70, max_zones=3))
def test_small_windows_and_bands_give_the_same_answer(workdir, scene):
    """Force 16 x 16 windows on a tiled raster: runs cut at band and window borders add up."""
    height, width, zones, seed = scene
    values = random_values(seed, (height, width))
    raster = write_raster(workdir / "tiled.tif", values, tiled=True, blockxsize=16, blockysize=16)
    frame = zones_frame([to_world(g) for g in zones])
    for coverage in COVERAGES:
        whole = zonal_stats(frame, raster, (*MOMENTS, "median"), zone_id="id", coverage=coverage)
        with mock.patch.object(zones_module, "_WINDOW_PIXELS", 64):
            pieces = zonal_stats(
                frame, raster, (*MOMENTS, "median"), zone_id="id", coverage=coverage
            )
        pd.testing.assert_frame_equal(pieces, whole, rtol=1e-9)
        for i, geom in enumerate(zones):
            weights, valid = brute_force(geom, values)
            count, _, total = expected_from_weights(weights[coverage], valid, values)
            assert pieces.loc[f"z{i}", "count"] == pytest.approx(count, abs=1e-9), coverage
            if count > 1e-9:
                assert pieces.loc[f"z{i}", "sum"] == pytest.approx(total, rel=1e-9), coverage


def test_south_up_raster_matches_brute_force(tmp_path):
    """Rows that grow northwards (positive transform.e) are mapped the same way."""
    values = random_values(3, (12, 10), nodata_share=0.0)
    t = Affine(RES, 0.0, X0, 0.0, RES, Y0)
    raster = write_raster(tmp_path / "south_up.tif", values, transform=t)
    geom = star(4.3, 6.1, [3.2, 5.1, 2.4, 4.4, 3.9], 0.4, [0.1, 0.7, 0.2, 0.9, 0.5])
    assert clear_of_ties(geom, 12, 10)
    weights, valid = brute_force(geom, values)
    for coverage in COVERAGES:
        out = zonal_stats(
            zones_frame([to_world(geom, t)]),
            raster,
            ("count", "sum"),
            zone_id="id",
            coverage=coverage,
        )
        count, _, total = expected_from_weights(weights[coverage], valid, values)
        assert out.loc["z0", "count"] == pytest.approx(count, abs=1e-9), coverage
        assert out.loc["z0", "sum"] == pytest.approx(total, rel=1e-12), coverage


# === 4. geographic areas =====================================================================


@pytest.mark.parametrize("res", [0.01, 0.5])
@pytest.mark.parametrize("lat", [0.0, 45.0, 60.0, -33.0])
@pytest.mark.parametrize("coverage", COVERAGES)
def test_row_area_matches_geodesic_area(tmp_path, lat, res, coverage):
    width, lon0 = 40, 100.0
    raster = write_raster(
        tmp_path / "row.tif",
        np.ones((1, width), "uint8"),
        nodata=None,
        transform=Affine(res, 0.0, lon0, 0.0, -res, lat + res),
        crs="EPSG:4326",
    )
    lon1 = lon0 + width * res
    zone = box(lon0, lat, lon1, lat + res)
    out = zonal_stats(
        zones_frame([zone], crs="EPSG:4326"),
        raster,
        ("count", "area_km2"),
        zone_id="id",
        coverage=coverage,
    )
    assert out.loc["z0", "count"] == pytest.approx(width)
    # The same cells with parallels densified (geodesic edges would cut the parallels short).
    lons = np.linspace(lon0, lon1, round(width * res / 0.001) + 1)
    ring_lon = np.concatenate([lons, lons[::-1]])
    ring_lat = np.concatenate([np.full(lons.size, lat), np.full(lons.size, lat + res)])
    area_m2, _ = Geod(ellps="WGS84").polygon_area_perimeter(ring_lon, ring_lat)
    assert out.loc["z0", "area_km2"] == pytest.approx(abs(area_m2) / 1e6, rel=1e-6)


def test_areas_on_an_equal_area_grid_and_warning_on_others(tmp_path):
    classes = np.array([[1, 1, 2, 2], [1, 3, 3, 2], [0, 0, 3, 3]], "uint8")
    zone = box(0, 0, 4, 3)
    t = grid_transform(res=500.0, origin=(1_000_000.0, 4_000_000.0))
    raster = write_raster(tmp_path / "ea.tif", classes, transform=t, crs=EQUAL_AREA, nodata=0)
    frame = zones_frame([to_world(zone, t)], crs=EQUAL_AREA)
    out = zonal_stats(frame, raster, zone_id="id", categorical=True, areas=True)
    assert out.loc["z0", [1, 2, 3]].tolist() == [3, 3, 4]
    assert out.loc["z0", ["area_km2_1", "area_km2_2", "area_km2_3"]].tolist() == pytest.approx(
        [0.75, 0.75, 1.0]
    )
    out = zonal_stats(frame, raster, ("count", "area_km2"), zone_id="id")
    assert out.loc["z0", "area_km2"] == pytest.approx(10 * 0.25)
    mercator = write_raster(tmp_path / "m.tif", classes, transform=t, crs="EPSG:3857", nodata=0)
    with pytest.warns(UrbanShrinkWarning, match="not equal-area"):
        zonal_stats(
            zones_frame([to_world(zone, t)], crs="EPSG:3857"), mercator, ("area_km2",), zone_id="id"
        )


# === 5. edge cases ===========================================================================


def test_internal_mask_excludes_masked_pixels(tmp_path):
    values = np.arange(1, 81, dtype="float32").reshape(8, 10)
    mask = np.full(values.shape, 255, "uint8")
    mask[2:5, 3:6] = 0
    mask[7, :] = 0
    path = tmp_path / "masked.tif"
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        meta = dict(
            driver="GTiff",
            height=8,
            width=10,
            count=1,
            dtype="float32",
            crs=UTM,
            transform=grid_transform(),
        )
        with rasterio.open(path, "w", **meta) as dst:
            dst.write(values, 1)
            dst.write_mask(mask)
    assert not list(tmp_path.glob("*.msk"))  # the mask is inside the file
    zone = to_world(box(1.1, 1.2, 8.7, 7.9))  # rows 1..7, columns 1..8 by their centres
    inside = np.zeros(values.shape, bool)
    inside[1:8, 1:9] = True
    keep = inside & (mask > 0)
    out = zonal_stats(
        zones_frame([zone]), str(path), ("count", "nodata_count", "sum", "max"), zone_id="id"
    )
    assert out.loc["z0", "count"] == keep.sum()
    assert out.loc["z0", "nodata_count"] == (inside & (mask == 0)).sum()
    assert out.loc["z0", "sum"] == values[keep].sum()
    assert out.loc["z0", "max"] == values[keep].max()
    out = zonal_stats(zones_frame([zone]), str(path), zone_id="id", categorical=True)
    assert out.to_numpy().sum() == keep.sum()


def test_nan_nodata_is_never_counted(tmp_path):
    values = random_values(11, (10, 12), nodata_share=0.0).astype("float32")
    values[::3, ::2] = np.nan
    raster = write_raster(tmp_path / "nan.tif", values, nodata=np.nan)
    geom = star(6.1, 5.2, [5.3, 6.9, 4.1, 7.7, 5.6, 6.2], 0.3, [0.1, 0.4, 0.8, 0.2, 0.6, 0.5])
    assert clear_of_ties(geom, 10, 12)
    weights, _ = brute_force(geom, values)
    valid = ~np.isnan(values)
    for coverage in COVERAGES:
        out = zonal_stats(
            zones_frame([to_world(geom)]),
            raster,
            ("count", "nodata_count", "sum", "min", "median"),
            zone_id="id",
            coverage=coverage,
        )
        count, nodata, total = expected_from_weights(weights[coverage], valid, values)
        row = out.loc["z0"]
        assert row["count"] == pytest.approx(count), coverage
        assert row["nodata_count"] == pytest.approx(nodata), coverage
        assert row["sum"] == pytest.approx(total, rel=1e-9)
        assert not np.isnan(row["min"]) and not np.isnan(row["median"])
    ref = rs_zonal_stats([to_world(geom)], raster, stats="count sum")[0]
    out = zonal_stats(zones_frame([to_world(geom)]), raster, ("count", "sum"), zone_id="id")
    assert (out.loc["z0", "count"], out.loc["z0", "sum"]) == (ref["count"], ref["sum"])


@pytest.mark.parametrize("coverage", COVERAGES)
def test_all_nodata_raster_gives_zero_counts_and_nan(tmp_path, coverage):
    raster = write_raster(tmp_path / "empty.tif", np.full((6, 6), NODATA))
    stats = (
        "count",
        "nodata_count",
        "sum",
        "mean",
        "min",
        "max",
        "std",
        "median",
        "percentile_90",
        "majority",
        "minority",
        "unique",
        "range",
        "area_km2",
    )
    zone = zones_frame([to_world(Point(3.1, 2.9).buffer(2.04, quad_segs=8))])
    with pytest.warns(UrbanShrinkWarning, match="not equal-area"):
        out = zonal_stats(zone, raster, stats, zone_id="id", coverage=coverage)
    row = out.loc["z0"]
    assert row["count"] == 0 and row["area_km2"] == 0
    weights, _ = brute_force(Point(3.1, 2.9).buffer(2.04, quad_segs=8), np.zeros((6, 6)))
    assert row["nodata_count"] == pytest.approx(weights[coverage].sum())
    for stat in (
        "sum",
        "mean",
        "min",
        "max",
        "std",
        "median",
        "percentile_90",
        "majority",
        "minority",
        "unique",
        "range",
    ):
        assert np.isnan(row[stat]), stat
    classes = zonal_stats(zone, raster, zone_id="id", coverage=coverage, categorical=True)
    assert classes.shape == (1, 0)


def test_exact_box_with_horizontal_edges_inside_pixel_rows(tmp_path):
    """Rows a box only partly covers (its top and bottom rows) weigh that part, inside too."""
    values = random_values(4, (10, 12), nodata_share=0.0) + 1.0
    raster = write_raster(tmp_path / "box.tif", values)
    geom = box(0.3, 0.2, 11.6, 9.4)
    frame = zones_frame([to_world(geom)], column="zone")
    out = zonal_stats(frame, raster, ("count", "sum"), zone_id="zone", coverage="exact")
    weights, valid = brute_force(geom, values)
    count, _, total = expected_from_weights(weights["exact"], valid, values)
    assert count == pytest.approx(geom.area)
    ref = exact_extract(raster, frame, ["count", "sum"], output="pandas", include_cols=["zone"])
    assert ref["count"].iloc[0] == pytest.approx(count)
    assert out.loc["z0", "count"] == pytest.approx(count)
    assert out.loc["z0", "sum"] == pytest.approx(total)


def test_exact_zones_reaching_far_beyond_both_sides_match_brute_force(tmp_path):
    """Edge pieces left and right of the raster pool outside it, zone by zone and row by row."""
    values = random_values(6, (10, 12), nodata_share=0.1)
    raster = write_raster(tmp_path / "wide.tif", values)
    geoms = [
        Polygon([(-40.3, 0.4), (55.2, 2.7), (61.7, 9.6), (-35.1, 8.2)]),  # both sides, slanted
        Polygon([(-7.5, 1.2), (3.4, 4.9), (30.6, 0.3), (26.1, 9.8), (-9.9, 7.7)]),
        box(5.2, 3.3, 8000.4, 6.6),  # a column far to the right
    ]
    frame = zones_frame([to_world(g) for g in geoms])
    out = zonal_stats(frame, raster, ("count", "sum"), zone_id="id", coverage="exact")
    for i, geom in enumerate(geoms):
        weights, valid = brute_force(geom, values)
        count, _, total = expected_from_weights(weights["exact"], valid, values)
        assert out.loc[f"z{i}", "count"] == pytest.approx(count, abs=1e-9)
        assert out.loc[f"z{i}", "sum"] == pytest.approx(total, rel=1e-9, abs=1e-9)


def test_zone_smaller_than_a_pixel(tmp_path):
    values = np.arange(1, 37, dtype="float64").reshape(6, 6)
    raster = write_raster(tmp_path / "sub.tif", values)
    with_centre = box(2.3, 3.2, 2.7, 3.9)  # contains the centre (2.5, 3.5) of pixel row 3, col 2
    without = box(4.05, 1.1, 4.45, 1.35)  # inside pixel row 1, col 4, away from its centre
    straddling = Point(1.0, 1.0).buffer(0.3, quad_segs=16)  # around a grid corner
    frame = zones_frame([to_world(g) for g in (with_centre, without, straddling)])
    centre = zonal_stats(frame, raster, ("count", "sum"), zone_id="id")
    assert centre["count"].tolist() == [1, 0, 0]
    assert centre.loc["z0", "sum"] == values[3, 2]
    touched = zonal_stats(frame, raster, ("count",), zone_id="id", coverage="all_touched")
    assert touched["count"].tolist() == [1, 1, 4]
    exact = zonal_stats(frame, raster, ("count", "sum", "mean"), zone_id="id", coverage="exact")
    assert exact.loc["z0", "count"] == pytest.approx(with_centre.area)
    assert exact.loc["z1", "count"] == pytest.approx(without.area)
    assert exact.loc["z1", "sum"] == pytest.approx(without.area * values[1, 4])
    assert exact.loc["z1", "mean"] == pytest.approx(values[1, 4])
    assert exact.loc["z2", "count"] == pytest.approx(straddling.area)
    assert exact.loc["z2", "mean"] == pytest.approx(values[0:2, 0:2].mean())


def test_overlapping_zones_count_shared_pixels_in_each(tmp_path):
    values = random_values(5, (12, 12), nodata_share=0.0)
    raster = write_raster(tmp_path / "ov.tif", values)
    a = Point(5.1, 5.2).buffer(4.03, quad_segs=8)
    b = Point(7.3, 6.1).buffer(3.51, quad_segs=8)
    union = shapely.union(a, b)
    frame = zones_frame([to_world(g) for g in (a, b, union)])
    for coverage in COVERAGES:
        out = zonal_stats(frame, raster, ("count", "sum"), zone_id="id", coverage=coverage)
        counts = []
        for i, geom in enumerate((a, b, union)):
            weights, valid = brute_force(geom, values)
            count, _, total = expected_from_weights(weights[coverage], valid, values)
            assert out.loc[f"z{i}", "count"] == pytest.approx(count, abs=1e-9), coverage
            assert out.loc[f"z{i}", "sum"] == pytest.approx(total, rel=1e-12), coverage
            counts.append(count)
        assert counts[0] + counts[1] > counts[2]  # shared pixels are in both a and b


def test_invalid_polygon_is_repaired_with_a_warning_naming_it(tmp_path):
    values = random_values(2, (10, 10), nodata_share=0.0)
    raster = write_raster(tmp_path / "bow.tif", values)
    bowtie = Polygon([(1.1, 1.2), (8.7, 8.9), (8.8, 1.3), (1.2, 8.6)])
    assert not bowtie.is_valid
    frame = zones_frame(
        [to_world(box(0.2, 0.3, 3.3, 3.6)), to_world(bowtie)], ids=["fine", "bowtie-7"]
    )
    with pytest.warns(UrbanShrinkWarning, match=r"repaired 1 invalid polygon.*bowtie-7"):
        out = zonal_stats(frame, raster, ("count", "sum"), zone_id="id")
    repaired = shapely.make_valid(bowtie)
    weights, valid = brute_force(repaired, values)
    count, _, total = expected_from_weights(weights["center"], valid, values)
    assert (out.loc["bowtie-7", "count"], out.loc["bowtie-7", "sum"]) == (count, total)
    assert out.loc["fine", "count"] == 12  # centres of columns 0-2, rows 0-3


@pytest.mark.parametrize(
    ("dtype", "nodata", "classes"),
    [
        ("uint8", 255, [0, 1, 5, 7, 200]),
        ("int16", -1, [-300, 0, 2, 9]),
        ("int32", -1, [70_000, 3, 1]),
        ("float32", -1.0, [1.0, 2.5, 4.0]),
    ],
)
def test_categorical_counts_match_rasterstats(tmp_path, dtype, nodata, classes):
    rng = np.random.default_rng(17)
    values = rng.choice(np.array([*classes, nodata]), size=(20, 24)).astype(dtype)
    raster = write_raster(tmp_path / "cls.tif", values, nodata=nodata)
    geoms = [
        Point(6.2, 7.1).buffer(5.3, quad_segs=6),
        star(15.1, 11.3, [6.1, 3.2, 8.3, 4.4, 7.7, 2.9], 0.1, [0.2, 0.5, 0.1, 0.9, 0.3, 0.6]),
        box(18.3, -3.2, 29.1, 6.6),  # crosses the north-east corner
    ]
    world = [to_world(g) for g in geoms]
    for all_touched in (False, True):
        coverage = "all_touched" if all_touched else "center"
        out = zonal_stats(
            zones_frame(world), raster, zone_id="id", categorical=True, coverage=coverage
        )
        ref = rs_zonal_stats(world, raster, categorical=True, all_touched=all_touched)
        for i, r in enumerate(ref):
            row = out.loc[f"z{i}"]
            got = {k: int(v) for k, v in row.items() if v}
            want = {(int(k) if float(k).is_integer() else float(k)): v for k, v in r.items()}
            assert got == want, coverage
    if all(float(c).is_integer() for c in classes):  # integer classes give int labels
        assert all(type(k) is int for k in out.columns)


def test_scale_offset_and_nodata_override(tmp_path):
    raw = np.arange(30, dtype="int16").reshape(5, 6)
    raw[0, :] = -1
    path = tmp_path / "scaled.tif"
    write_raster(path, raw, nodata=-1)
    with rasterio.open(path, "r+") as dst:
        dst.scales = (0.5,)
        dst.offsets = (10.0,)
    zone = to_world(box(0, 0, 6, 5))
    valid = raw != -1
    physical = raw[valid] * 0.5 + 10
    out = zonal_stats(
        zones_frame([zone]), str(path), ("count", "sum", "min", "max", "median"), zone_id="id"
    )
    assert out.loc["z0", "count"] == valid.sum()
    assert out.loc["z0", "sum"] == pytest.approx(physical.sum())
    assert (out.loc["z0", "min"], out.loc["z0", "max"]) == (physical.min(), physical.max())
    assert out.loc["z0", "median"] == pytest.approx(np.median(physical))
    out = zonal_stats(zones_frame([zone]), str(path), ("sum",), zone_id="id", scale=2.0, offset=0.0)
    assert out.loc["z0", "sum"] == pytest.approx(2.0 * raw[valid].sum())
    out = zonal_stats(
        zones_frame([zone]), str(path), ("count", "nodata_count"), zone_id="id", nodata=29
    )
    assert (out.loc["z0", "count"], out.loc["z0", "nodata_count"]) == (29, 1)  # -1 is valid now


def test_band_and_series_of_rasters(tmp_path):
    stack = np.stack([random_values(s, (9, 11)) for s in (1, 2, 3)])
    multi = write_raster(tmp_path / "multi.tif", stack)
    singles = {s: write_raster(tmp_path / f"b{s}.tif", stack[s - 1]) for s in (1, 2, 3)}
    geoms = [star(5.3, 4.2, [3.1, 4.4, 2.2, 3.9, 4.8], 0.7, [0.5] * 5), box(-2.2, 6.1, 3.3, 12.7)]
    frame = zones_frame([to_world(g) for g in geoms])
    series = zonal_stats_many(frame, singles, ("count", "sum", "std"), zone_id="id")
    for b in (1, 2, 3):
        one = zonal_stats(frame, multi, ("count", "sum", "std"), zone_id="id", band=b)
        pd.testing.assert_frame_equal(series.loc[b], one)
        ref = rs_zonal_stats([to_world(g) for g in geoms], singles[b], stats="count sum std")
        assert one["count"].tolist() == [r["count"] for r in ref]
        assert one["sum"].tolist() == pytest.approx([r["sum"] for r in ref])


def test_zone_far_outside_a_projected_grid(tmp_path):
    """A zone on the other side of the world (huge or non-finite UTM coordinates): count 0."""
    raster = write_raster(tmp_path / "far.tif", random_values(1, (8, 8)))
    frame = zones_frame([box(-80, -10, -79, -9), box(117.0, 36.0, 117.1, 36.1)], crs="EPSG:4326")
    for coverage in COVERAGES:
        out = zonal_stats(frame, raster, ("count", "mean"), zone_id="id", coverage=coverage)
        assert out["count"].tolist() == [0, 0]
        assert out["mean"].isna().all()


# === 6. the real China prefectures ===========================================================

CHINA_RES = 0.05
BORDER_BOX = (119.17, 34.99, 119.94, 35.16)  # around the 连云港 / 日照 overlap


@pytest.fixture(scope="module")
def china(tmp_path_factory):
    """Checked China boundaries (id city_adcode), a random 0.05° raster over them, its values."""
    with pytest.warns(UrbanShrinkWarning, match=r"repaired 1 invalid polygon.*659006") as rec:
        cities = read_boundaries(CHINA_CITIES, id_field="city_adcode")
    assert len(rec) == 1
    west, south, east, north = (math.floor(v) for v in cities.total_bounds)
    north, east = north + 1, east + 1
    shape = (round((north - south) / CHINA_RES), round((east - west) / CHINA_RES))
    values = np.random.default_rng(2020).gamma(2.0, 5.0, shape).astype("float32")
    values[np.random.default_rng(1).random(shape) < 0.02] = NODATA
    t = Affine(CHINA_RES, 0.0, west, 0.0, -CHINA_RES, north)
    raster = write_raster(
        tmp_path_factory.mktemp("china") / "cn.tif", values, transform=t, crs="EPSG:4326"
    )
    return cities, raster


@requires_shared
@pytest.mark.shared
def test_china_counts_match_rasterstats(china):
    cities, raster = china
    out = zonal_stats(cities, raster, ("count", "nodata_count", "sum"), zone_id="city_id")
    ref = rs_zonal_stats(list(cities.geometry), raster, stats="count sum")
    assert len(out) == 375
    ours = out["count"].to_numpy()
    theirs = np.array([r["count"] for r in ref])
    mismatch = cities["city_id"][ours != theirs].tolist()
    assert not mismatch, f"centre counts differ from rasterstats for {mismatch}"
    both = ours > 0
    assert out["sum"].to_numpy()[both] == pytest.approx(
        np.array([r["sum"] for r in ref], float)[both], rel=1e-5
    )
    # Every unit covers a pixel centre except the tiny ones (well under two pixels in area).
    pixel_km2 = (CHINA_RES * 111.32) ** 2
    km2 = cities.to_crs("+proj=aea +lat_1=25 +lat_2=47 +lon_0=105").area.to_numpy() / 1e6
    empty = set(cities["city_id"][(ours + out["nodata_count"].to_numpy()) == 0])
    assert empty <= set(cities["city_id"][km2 < 2 * pixel_km2])
    assert empty == {"820000"}  # Macau (25 km²) misses every pixel centre
    touched = zonal_stats(cities, raster, ("count",), zone_id="city_id", coverage="all_touched")
    assert (touched["count"].to_numpy() >= ours).all()
    assert (
        touched["count"]
        + zonal_stats(cities, raster, ("nodata_count",), zone_id="city_id", coverage="all_touched")[
            "nodata_count"
        ]
        > 0
    ).all()


@requires_shared
@pytest.mark.shared
def test_china_overlap_of_lianyungang_and_rizhao_counts_in_both(tmp_path, china):
    cities, _ = china
    pair = cities.set_index("city_id").loc[["320700", "371100"]]
    shared = shapely.intersection(*pair.geometry)
    shared_km2 = (
        gpd.GeoSeries([shared], crs="EPSG:4326")
        .to_crs("+proj=aea +lat_1=25 +lat_2=47 +lon_0=105")
        .area.iloc[0]
        / 1e6
    )
    assert shared_km2 == pytest.approx(0.27, abs=0.02)
    res = 0.0005
    west, south, east, north = BORDER_BOX
    shape = (round((north - south) / res), round((east - west) / res))
    raster = write_raster(
        tmp_path / "border.tif",
        np.ones(shape, "uint8"),
        nodata=None,
        transform=Affine(res, 0.0, west, 0.0, -res, north),
        crs="EPSG:4326",
    )
    union = shapely.union(*pair.geometry)
    frame = gpd.GeoDataFrame(
        {"id": ["320700", "371100", "union"]}, geometry=[*pair.geometry, union], crs="EPSG:4326"
    )
    twice = {}
    for coverage in COVERAGES:
        out = zonal_stats(frame, raster, ("count", "area_km2"), zone_id="id", coverage=coverage)
        a, b, both = (out.loc[k] for k in ("320700", "371100", "union"))
        twice[coverage] = a["count"] + b["count"] - both["count"]
        twice_km2 = a["area_km2"] + b["area_km2"] - both["area_km2"]
        if coverage == "center":  # ~106 pixels of 0.0025 km² lie in both cities
            assert twice_km2 == pytest.approx(shared_km2, rel=0.1)
        if coverage == "exact":
            assert twice_km2 == pytest.approx(shared_km2, rel=1e-3)
    assert 0 < twice["center"] < twice["all_touched"]  # border pixels are touched by both


@requires_shared
@pytest.mark.shared
def test_china_invalid_unit_659006_is_repaired_and_measured(china):
    cities, raster = china
    raw = gpd.read_file(CHINA_CITIES, engine="pyogrio")
    raw = raw[raw["city_adcode"].astype(str) == "659006"]
    assert not raw.geometry.is_valid.any()
    with pytest.warns(UrbanShrinkWarning, match="659006"):
        out = zonal_stats(raw, raster, ("count",), zone_id="city_adcode")
    fixed = cities.set_index("city_id").loc[["659006"]].reset_index()
    assert fixed.geometry.is_valid.all()
    expected = rs_zonal_stats(list(fixed.geometry), raster, stats="count")[0]["count"]
    assert out.loc["659006", "count"] == expected > 0


WEIGHTED = ("count", "sum", "area_sum", "weighted_sum", "weighted_mean")
W_NODATA = -99999.0


def random_weights(seed: int, shape, *, nodata_share=0.15):
    rng = np.random.default_rng(seed + 1)
    weights = rng.integers(0, 200, shape).astype("float32") / 8
    weights[rng.random(shape) < nodata_share] = W_NODATA
    return weights


def expected(geom, values, weights, coverage, pixel_km2):
    """Brute-force area sum, weighted sum and weighted mean of one zone (NaN when empty)."""
    cover, valid = brute_force(geom, values)
    cov = cover[coverage]
    v = np.where(valid, values, 0.0)
    both = valid & (weights != W_NODATA)
    p = np.where(both, weights, 0.0)
    n, wn, wsum = (cov * valid).sum(), (cov * both).sum(), (cov * p).sum()
    area_sum = (cov * v * pixel_km2).sum() if n > 0 else np.nan
    weighted_sum = (cov * p * v).sum() if wn > 0 else np.nan
    weighted_mean = weighted_sum / wsum if wn > 0 and wsum != 0 else np.nan
    return area_sum, weighted_sum, weighted_mean


def check(row, truth):
    for stat, value in zip(("area_sum", "weighted_sum", "weighted_mean"), truth, strict=True):
        if np.isnan(value):
            assert np.isnan(row[stat]), stat
        else:
            assert row[stat] == pytest.approx(value, rel=1e-9, abs=1e-9), stat


# === 7. weights: brute force =================================================================


@FAST
@given(scene=scenes(min_side=5, max_side=14), coverage=st.sampled_from(COVERAGES))
def test_area_and_weighted_sums_match_brute_force(workdir, scene, coverage):
    height, width, zones, seed = scene
    values = random_values(seed, (height, width), nodata_share=0.2)
    weights = random_weights(seed, (height, width))
    raster = write_raster(workdir / "v.tif", values, crs=EQUAL_AREA)
    wraster = write_raster(workdir / "w.tif", weights, crs=EQUAL_AREA, nodata=W_NODATA)
    frame = zones_frame([to_world(g) for g in zones], crs=EQUAL_AREA)
    out = zonal_stats(frame, raster, WEIGHTED, zone_id="id", coverage=coverage, weights=wraster)
    for i, geom in enumerate(zones):
        check(out.loc[f"z{i}"], expected(geom, values, weights, coverage, 30.0 * 30.0 / 1e6))


def test_weights_nodata_and_value_nodata_are_both_left_out(tmp_path):
    """A 2 x 3 truth table: each pixel counts in the weighted stats only where both are valid."""
    values = np.array([[1.0, 2.0, NODATA], [4.0, np.nan, 6.0]])
    weights = np.array([[10.0, W_NODATA, 30.0], [0.0, 50.0, 2.0]], dtype="float32")
    raster = write_raster(tmp_path / "v.tif", values, crs=EQUAL_AREA)
    wraster = write_raster(tmp_path / "w.tif", weights, crs=EQUAL_AREA, nodata=W_NODATA)
    zone = zones_frame([to_world(box(0, 0, 3, 2))], crs=EQUAL_AREA)
    row = zonal_stats(zone, raster, WEIGHTED, zone_id="id", weights=wraster).loc["z0"]
    # valid in both: (1, w 10), (4, w 0), (6, w 2)
    assert row["weighted_sum"] == 1 * 10 + 4 * 0 + 6 * 2
    assert row["weighted_mean"] == pytest.approx(22 / 12)
    assert row["sum"] == 1 + 2 + 4 + 6
    assert row["area_sum"] == pytest.approx(13 * 0.0009)
    # the file's nodata overridden: -99999 is then a (negative) weight
    row = zonal_stats(
        zone, raster, WEIGHTED, zone_id="id", weights=wraster, weights_nodata=50.0
    ).loc["z0"]
    assert row["weighted_sum"] == 10 + 2 * W_NODATA + 12


def test_zone_with_no_pixel_valid_in_both_is_nan(tmp_path):
    values = np.array([[1.0, NODATA], [3.0, 4.0]])
    weights = np.array([[W_NODATA, 5.0], [W_NODATA, 0.0]], dtype="float32")
    raster = write_raster(tmp_path / "v.tif", values, crs=EQUAL_AREA)
    wraster = write_raster(tmp_path / "w.tif", weights, crs=EQUAL_AREA, nodata=W_NODATA)
    geoms = [to_world(box(0, 0, 2, 1)), to_world(box(0, 1, 2, 2)), to_world(box(20, 20, 22, 22))]
    out = zonal_stats(
        zones_frame(geoms, crs=EQUAL_AREA), raster, WEIGHTED, zone_id="id", weights=wraster
    )
    assert np.isnan(out.loc["z0", "weighted_sum"]) and np.isnan(out.loc["z0", "weighted_mean"])
    assert out.loc["z1", "weighted_sum"] == 0.0  # one pixel of weight 0 ...
    assert np.isnan(out.loc["z1", "weighted_mean"])  # ... whose mean is undefined
    assert out.loc["z2", "count"] == 0 and out.loc["z2"].drop("count").isna().all()


# === 8. weights: true areas on a geographic grid =============================================


def test_area_sum_uses_each_rows_true_pixel_area(tmp_path):
    """At 54°N a pixel covers less than at 18°N: area_sum follows the ellipsoid, sum does not."""
    res = 1 / 240  # 15 arc-seconds, as VIIRS
    values = np.full((4, 4), 2.0)
    sums = {}
    for lat in (18.0, 54.0):
        transform = grid_transform(res=res, origin=(120.0, lat + 4 * res))
        raster = write_raster(tmp_path / f"g{lat}.tif", values, transform=transform, crs=4326)
        zone = zones_frame([box(120.0, lat, 120.0 + 4 * res, lat + 4 * res)], crs=4326)
        out = zonal_stats(zone, raster, ("sum", "area_sum"), zone_id="id").loc["z0"]
        geod_km2 = abs(Geod(ellps="WGS84").geometry_area_perimeter(zone.geometry[0])[0]) / 1e6
        assert out["sum"] == 32.0
        # geodesic edges against parallels: within 1e-6 (the reference tests' tolerance)
        assert out["area_sum"] == pytest.approx(2.0 * geod_km2, rel=1e-6)
        sums[lat] = out["area_sum"]
    assert sums[54.0] / sums[18.0] == pytest.approx(0.618, abs=0.01)


# === 9. weights: peers =======================================================================


@FAST
@given(scene=scenes(min_side=12, max_side=25))
def test_exact_weighted_stats_match_exactextract(workdir, scene):
    height, width, zones, seed = scene
    values = random_values(seed, (height, width))
    values[values != NODATA] += 1.0
    rng = np.random.default_rng(seed)
    weights = rng.uniform(0.5, 30.0, (height, width))  # no nodata: exactextract's own rule there
    raster = write_raster(workdir / "ee.tif", values)
    wraster = write_raster(workdir / "eew.tif", weights, nodata=None)
    frame = zones_frame([to_world(g) for g in zones], column="zone")
    out = zonal_stats(
        frame, raster, ("count", "weighted_sum", "weighted_mean"), zone_id="zone",
        coverage="exact", weights=wraster,
    )  # fmt: skip
    ref = exact_extract(
        raster, frame, ["count", "weighted_sum", "weighted_mean"], weights=wraster,
        output="pandas", include_cols=["zone"],
    ).set_index("zone")  # fmt: skip
    for zid in frame["zone"]:
        row, r = out.loc[zid], ref.loc[zid]
        if r["count"] > 1e-9:
            assert row["weighted_sum"] == pytest.approx(r["weighted_sum"], rel=1e-6, abs=1e-9)
            assert row["weighted_mean"] == pytest.approx(r["weighted_mean"], rel=1e-6)


@FAST
@given(scene=scenes(min_side=12, max_side=25), all_touched=st.booleans())
def test_weighted_sum_is_rasterstats_sum_of_the_product(workdir, scene, all_touched):
    height, width, zones, seed = scene
    values = random_values(seed, (height, width))
    weights = random_weights(seed, (height, width))
    product = np.where((values != NODATA) & (weights != W_NODATA), values * weights, NODATA)
    raster = write_raster(workdir / "rsv.tif", values)
    wraster = write_raster(workdir / "rsw.tif", weights, nodata=W_NODATA)
    praster = write_raster(workdir / "rsp.tif", product)
    world = [to_world(g) for g in zones]
    coverage = "all_touched" if all_touched else "center"
    out = zonal_stats(
        zones_frame(world), raster, ("weighted_sum",), zone_id="id", coverage=coverage,
        weights=wraster,
    )  # fmt: skip
    ref = rs_zonal_stats(world, praster, stats="count sum", all_touched=all_touched)
    for i, r in enumerate(ref):
        got = out.loc[f"z{i}", "weighted_sum"]
        if r["count"]:
            assert got == pytest.approx(r["sum"], rel=1e-9)
        else:
            assert np.isnan(got)


# === 10. weights on another grid =============================================================


@FAST
@given(
    scene=scenes(min_side=6, max_side=16),
    factor=st.sampled_from([1, 2, 3]),
    shift=st.tuples(st.integers(-2, 2), st.integers(-2, 2)),
    coverage=st.sampled_from(COVERAGES),
)
def test_weights_on_another_grid_are_warped_nearest(workdir, scene, factor, shift, coverage):
    """Coarser and shifted weights: each value pixel takes the weight under its centre."""
    height, width, zones, seed = scene
    values = random_values(seed, (height, width))
    wh, ww = height // factor + 3, width // factor + 3
    coarse = random_weights(seed, (wh, ww))
    # weights grid origin: shifted by whole value pixels, cells of ``factor`` value pixels
    ox, oy = shift[0] * 30.0, shift[1] * 30.0
    wt = grid_transform(res=30.0 * factor, origin=(500_000.0 + ox, 4_000_000.0 - oy))
    raster = write_raster(workdir / "gv.tif", values, crs=EQUAL_AREA)
    wraster = write_raster(
        workdir / "gw.tif", coarse, transform=wt, crs=EQUAL_AREA, nodata=W_NODATA
    )
    # the weight under each value pixel centre (centres never lie on a weights cell border)
    rows, cols = np.mgrid[0:height, 0:width]
    wr = np.floor((rows + 0.5 - shift[1]) / factor).astype(int)
    wc = np.floor((cols + 0.5 - shift[0]) / factor).astype(int)
    inside = (wr >= 0) & (wr < wh) & (wc >= 0) & (wc < ww)
    nearest = np.full((height, width), W_NODATA)
    nearest[inside] = coarse[wr[inside], wc[inside]]
    frame = zones_frame([to_world(g) for g in zones], crs=EQUAL_AREA)
    out = zonal_stats(frame, raster, WEIGHTED, zone_id="id", coverage=coverage, weights=wraster)
    for i, geom in enumerate(zones):
        check(out.loc[f"z{i}"], expected(geom, values, nearest, coverage, 0.0009))


def test_weights_in_another_crs_are_warped(tmp_path):
    """Uniform weights in Web Mercator over a geographic value grid: the mean is the plain one."""
    values = random_values(3, (20, 30), nodata_share=0.0)
    transform = grid_transform(res=0.01, origin=(100.0, 40.0))
    raster = write_raster(tmp_path / "v.tif", values, transform=transform, crs=4326)
    merc = grid_transform(res=500.0, origin=(11_120_000.0, 4_880_000.0))  # covers the zone
    wraster = write_raster(
        tmp_path / "w.tif", np.full((100, 100), 7.0), transform=merc, crs=3857, nodata=W_NODATA
    )
    zone = zones_frame([box(100.05, 39.85, 100.25, 39.95)], crs=4326)
    out = zonal_stats(zone, raster, ("mean", "weighted_mean", "weighted_sum", "sum"),
                      zone_id="id", weights=wraster).loc["z0"]  # fmt: skip
    assert out["weighted_mean"] == pytest.approx(out["mean"], rel=1e-12)
    assert out["weighted_sum"] == pytest.approx(7.0 * out["sum"], rel=1e-12)


# === 11. weights: series and errors ==========================================================


def test_series_take_their_own_weights(tmp_path):
    values = {y: np.full((4, 4), float(y - 2009)) for y in (2010, 2020)}
    rasters = {
        y: write_raster(tmp_path / f"v{y}.tif", v, crs=EQUAL_AREA) for y, v in values.items()
    }
    w = {
        2010: write_raster(tmp_path / "w10.tif", np.full((4, 4), 2.0), crs=EQUAL_AREA),
        2020: write_raster(tmp_path / "w20.tif", np.full((4, 4), 3.0), crs=EQUAL_AREA),
    }
    zone = zones_frame([to_world(box(0, 0, 2, 2))], crs=EQUAL_AREA)
    out = zonal_stats_many(zone, rasters, ("weighted_sum",), zone_id="id", weights=w)
    assert out.loc[(2010, "z0"), "weighted_sum"] == 4 * 2.0 * 1
    assert out.loc[(2020, "z0"), "weighted_sum"] == 4 * 3.0 * 11
    with pytest.raises(ConfigError, match="no weights raster for key 2020"):
        zonal_stats_many(zone, rasters, ("weighted_sum",), zone_id="id", weights={2010: w[2010]})


def test_weighted_statistics_need_weights(tmp_path):
    raster = write_raster(tmp_path / "v.tif", np.ones((3, 3)), crs=EQUAL_AREA)
    zone = zones_frame([to_world(box(0, 0, 2, 2))], crs=EQUAL_AREA)
    with pytest.raises(ConfigError, match="'weighted_mean' needs a weights raster"):
        zonal_stats(zone, raster, ("weighted_mean",), zone_id="id")
    with pytest.raises(ConfigError, match="not to categorical"):
        zonal_stats(zone, raster, zone_id="id", categorical=True, weights=raster)


def test_weights_without_a_crs_are_refused_in_one_line(tmp_path):
    raster = write_raster(tmp_path / "v.tif", np.ones((3, 3)), crs=EQUAL_AREA)
    bare = write_raster(tmp_path / "w.tif", np.ones((3, 3)), crs=None)
    zone = zones_frame([to_world(box(0, 0, 2, 2))], crs=EQUAL_AREA)
    with pytest.raises(RasterError, match="has no coordinate reference system") as err:
        zonal_stats(zone, raster, ("weighted_mean",), zone_id="id", weights=bare)
    assert "w.tif" in str(err.value) and "\n" not in str(err.value)


def test_cli_zonal_with_weights(tmp_path):
    values = np.arange(12, dtype="float64").reshape(3, 4)
    raster = write_raster(tmp_path / "v.tif", values, crs=EQUAL_AREA)
    wraster = write_raster(tmp_path / "w.tif", np.full((3, 4), 2.0), crs=EQUAL_AREA)
    zones = tmp_path / "zones.gpkg"
    zones_frame([to_world(box(0, 0, 4, 3))], crs=EQUAL_AREA).to_file(zones)
    out = tmp_path / "out.csv"
    args = ["zonal", raster, str(zones), "--id", "id", "-o", str(out)]
    result = CliRunner().invoke(
        cli, [*args, "--stats", "sum weighted_sum weighted_mean", "--weights", wraster]
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, dtype={"id": str}).set_index("id")  # the zones' own id field
    assert table.loc["z0", "weighted_sum"] == 2 * 66
    assert table.loc["z0", "weighted_mean"] == pytest.approx(66 / 12)
    missing = CliRunner().invoke(
        cli, [*args, "--overwrite", "--stats", "weighted_mean"], catch_exceptions=False
    )
    assert missing.exit_code == 2
    assert "needs a weights raster" in missing.output and "--weights" in missing.output


def test_area_sum_of_a_constant_is_the_area(tmp_path):
    raster = write_raster(tmp_path / "v.tif", np.full((6, 6), 1.0), crs=EQUAL_AREA)
    zone = zones_frame([to_world(shapely.Point(3, 3).buffer(2.2))], crs=EQUAL_AREA)
    out = zonal_stats(zone, raster, ("area_sum", "area_km2"), zone_id="id", coverage="exact")
    assert out.loc["z0", "area_sum"] == pytest.approx(out.loc["z0", "area_km2"], rel=1e-12)
    with rasterio.open(raster) as ds:
        assert ds.crs.to_epsg() == 6933


def test_schedulers_agree_on_warped_weights(tmp_path):
    rng = np.random.default_rng(0)
    raster = write_raster(tmp_path / "v.tif", rng.random((300, 400)), crs=EQUAL_AREA)
    coarse = grid_transform(res=90.0, origin=(499_000.0, 4_001_000.0))
    wraster = write_raster(
        tmp_path / "w.tif", rng.random((110, 140)), transform=coarse, crs=EQUAL_AREA, nodata=-1.0
    )
    zones = zones_frame(
        [to_world(box(10.3, 20.2, 250.7, 140.4)), to_world(box(100.1, 130.6, 390.2, 290.3))],
        crs=EQUAL_AREA,
    )
    runs = {
        s: zonal_stats(
            zones,
            raster,
            WEIGHTED,
            zone_id="id",
            coverage="exact",
            weights=wraster,
            scheduler=s,
            workers=2,
        )
        for s in ("synchronous", "threads", "processes")
    }
    assert runs["synchronous"]["weighted_mean"].notna().all()
    for frame in runs.values():
        pd.testing.assert_frame_equal(frame, runs["synchronous"])
