"""Area-true sums and weights rasters in the zonal engine, against brute force and the peers.

``area_sum`` is the sum of value x true pixel area; ``weighted_sum`` and ``weighted_mean`` weigh
each pixel by a second raster (population), over pixels valid in both. Brute force works on the
pixel grid as in ``test_zonal_reference``; exactextract has both weighted statistics, and
rasterstats' plain sum of the product raster is the centre rule's weighted sum.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from click.testing import CliRunner
from exactextract import exact_extract
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Geod
from shapely.geometry import box
from test_zonal_reference import (
    COVERAGES,
    EQUAL_AREA,
    NODATA,
    brute_force,
    grid_transform,
    random_values,
    rs_zonal_stats,
    scenes,
    to_world,
    write_raster,
    zones_frame,
)

from urbanshrink_gis import ConfigError, RasterError, zonal_stats, zonal_stats_many
from urbanshrink_gis.cli import cli

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
WEIGHTED = ("count", "sum", "area_sum", "weighted_sum", "weighted_mean")
W_NODATA = -99999.0


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("weights")


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


# === brute force =============================================================================


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


# === true areas on a geographic grid =========================================================


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


# === peers ===================================================================================


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


# === weights on another grid =================================================================


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


# === series and errors =======================================================================


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
