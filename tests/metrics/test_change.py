"""metrics/change.py: per-pixel built-up change, night-light change and trends, in windows."""

import itertools

import hypothesis.strategies as st
import numpy as np
import pytest
import rasterio
from hypothesis import example, given
from hypothesis.extra.numpy import arrays

from urbanshrink_gis.errors import ConfigError, RasterError
from urbanshrink_gis.metrics import change
from urbanshrink_gis.metrics.change import (
    BUILTUP_CHANGE_CLASSES,
    builtup_change,
    builtup_change_blocks,
    nightlight_change_blocks,
    nightlight_trend_blocks,
    ols_slope,
    theil_sen_slope,
)
from urbanshrink_gis.products.presets import get_product

CLCD = get_product("clcd")  # uint8, nodata 0, built-up class 8
VNL2 = get_product("vnl2")  # float32, no fill
BLACKMARBLE = get_product("blackmarble_c1")  # uint16, fill 65535, scale 0.1
NAN = np.nan


def assemble(blocks, shape):
    """Put the blocks together, checking that they tile the grid exactly once."""
    out, seen = None, np.zeros(shape, np.int64)
    for window, block in blocks:
        rows, cols = window.toslices()
        assert block.shape == (window.height, window.width)
        if out is None:
            out = np.zeros(shape, block.dtype)
        out[rows, cols] = block
        seen[rows, cols] += 1
    assert (seen == 1).all()
    return out


def brute_ols(years, values):
    keep = ~np.isnan(values)
    if keep.sum() < 2:
        return NAN
    return np.polyfit(np.asarray(years, float)[keep], values[keep], 1)[0]


def brute_theil_sen(years, values):
    pairs = [
        (values[j] - values[i]) / (years[j] - years[i])
        for i, j in itertools.combinations(range(len(years)), 2)
        if not (np.isnan(values[i]) or np.isnan(values[j]))
    ]
    return np.median(pairs) if pairs else NAN


def test_change_classes_are_the_documented_codes():
    assert [(c.code, c.name) for c in BUILTUP_CHANGE_CLASSES] == [
        (0, "nodata"),
        (1, "never built-up"),
        (2, "stable built-up"),
        (3, "built-up gain"),
        (4, "built-up loss"),
    ]


def test_builtup_change_codes_by_hand(make_raster):
    start = make_raster(np.array([[8, 8, 1, 0], [1, 8, 2, 8]], np.uint8), nodata=0, name="s.tif")
    end = make_raster(np.array([[8, 1, 8, 8], [1, 0, 2, 8]], np.uint8), nodata=0, name="e.tif")
    codes = assemble(builtup_change_blocks(start, end, CLCD), (2, 4))
    assert codes.dtype == np.uint8
    np.testing.assert_array_equal(codes, [[2, 4, 3, 0], [1, 0, 1, 2]])


def test_builtup_change_uses_every_builtup_class_and_the_product_fill(make_raster):
    product = CLCD.replace(builtup_classes=(7, 8))  # the files have no nodata of their own
    start = make_raster(np.array([[7, 8, 1, 0]], np.uint8), name="s.tif")
    end = make_raster(np.array([[1, 7, 8, 8]], np.uint8), name="e.tif")
    codes = assemble(builtup_change_blocks(start, end, product), (1, 4))
    np.testing.assert_array_equal(codes, [[4, 2, 3, 0]])


def test_builtup_change_streams_a_grid_of_several_windows(make_raster):
    rng = np.random.default_rng(3)
    shape = (1100, 700)  # three strips of 512 rows
    a, b = (rng.choice(np.array([0, 1, 8], np.uint8), shape) for _ in range(2))
    start = make_raster(a, nodata=0, name="s.tif")
    end = make_raster(b, nodata=0, name="e.tif")
    blocks = list(builtup_change_blocks(start, end, CLCD))
    assert len(blocks) == 3
    codes = assemble(blocks, shape)
    expected = np.select(
        [(a == 0) | (b == 0), (a == 8) & (b == 8), b == 8, a == 8], [0, 2, 3, 4], default=1
    )
    np.testing.assert_array_equal(codes, expected)


@given(st.integers(1, 3000), st.integers(1, 9000), st.integers(1, 40))
@example(height=512, width=4096, layers=1)
@example(height=513, width=4097, layers=1)
def test_windows_tile_the_grid_in_bounded_windows(height, width, layers):
    windows = list(change._windows(width, 0, height, layers=layers))
    for w in windows:
        assert w.col_off + w.width <= width and w.row_off + w.height <= height
        assert w.height <= 512 and (w.width % 512 == 0 or w.col_off + w.width == width)
        assert w.width * w.height * layers <= max(change._WINDOW_VALUES, 512 * 512 * layers)
    for a, b in itertools.combinations(windows, 2):  # no overlaps, so the areas add up
        assert (
            a.row_off + a.height <= b.row_off
            or a.col_off + a.width <= b.col_off
            or b.col_off + b.width <= a.col_off
        )
    assert sum(w.width * w.height for w in windows) == height * width


@given(arrays(bool, (4, 5)), arrays(bool, (4, 5)), arrays(bool, (4, 5)))
def test_builtup_change_matches_brute_force(start, end, valid):
    names = {c.name: c.code for c in BUILTUP_CHANGE_CLASSES}
    codes = builtup_change(start, end, valid)
    for s, e, v, c in zip(start.flat, end.flat, valid.flat, codes.flat, strict=True):
        if not v:
            assert c == names["nodata"]
        elif s and e:
            assert c == names["stable built-up"]
        elif e:
            assert c == names["built-up gain"]
        elif s:
            assert c == names["built-up loss"]
        else:
            assert c == names["never built-up"]


def test_rasters_on_different_grids_are_refused_when_called(make_raster):
    a = np.ones((3, 4), np.uint8)
    start = make_raster(a, name="s.tif")
    for kwargs, why in [
        ({"origin": (100.5, 40.0)}, r"origin \(100.5, 40\) and pixel 0.01 x 0.01, not \(100, 40\)"),
        ({"res": 0.02}, r"pixel 0.02 x 0.02, not \(100, 40\) and 0.01 x 0.01"),
        ({"crs": "EPSG:4490"}, "CRS 'China Geodetic Coordinate System 2000', not 'WGS 84'"),
    ]:
        other = make_raster(a, name="o.tif", **kwargs)
        with pytest.raises(RasterError, match=f"o.tif: is not on the grid of .*s.tif .*{why}"):
            builtup_change_blocks(start, other, CLCD)  # raises before any iteration
    bigger = make_raster(np.ones((3, 5), np.uint8), name="b.tif")
    with pytest.raises(RasterError, match="5 x 3 px, not 4 x 3 px"):
        nightlight_change_blocks(start, bigger, VNL2)
    with pytest.raises(RasterError, match=r"o\.tif: is not on the grid"):
        nightlight_trend_blocks({2010: start, 2015: start, 2020: other}, VNL2)


def test_missing_raster_is_a_raster_error(make_raster, tmp_path):
    start = make_raster(np.ones((2, 2), np.uint8))
    with pytest.raises(RasterError, match="file not found"):
        builtup_change_blocks(start, tmp_path / "nope.tif", CLCD)


def test_products_of_the_wrong_kind_are_refused(make_raster):
    path = make_raster(np.ones((2, 2), np.uint8))
    with pytest.raises(ConfigError, match="needs class codes"):
        builtup_change_blocks(path, path, VNL2)
    with pytest.raises(ConfigError, match="class codes, whose differences mean nothing"):
        nightlight_change_blocks(path, path, CLCD)
    with pytest.raises(ConfigError, match="class codes"):
        nightlight_trend_blocks({2010: path, 2020: path}, CLCD)


def test_nightlight_change_is_scaled_and_nan_where_either_is_fill(make_raster):
    start = make_raster(np.array([[10, 65535], [20, 30]], np.uint16), name="s.tif")
    end = make_raster(np.array([[15, 5], [65535, 30]], np.uint16), name="e.tif")
    diff = assemble(nightlight_change_blocks(start, end, BLACKMARBLE), (2, 2))
    assert diff.dtype == np.float32
    np.testing.assert_allclose(diff, [[0.5, NAN], [NAN, 0.0]], rtol=1e-6)


def test_nightlight_change_honours_nan_file_nodata_and_internal_masks(make_raster, tmp_path):
    start = make_raster(np.array([[1.0, NAN, 2.0, -9.0]], np.float32), name="s.tif")
    end = make_raster(np.array([[4.0, 1.0, -9.0, 3.0]], np.float32), nodata=-9.0, name="e.tif")
    diff = assemble(nightlight_change_blocks(start, end, VNL2), (1, 4))
    np.testing.assert_allclose(diff, [[3.0, NAN, NAN, 12.0]])  # -9 is only end's nodata
    masked = tmp_path / "m.tif"
    with rasterio.open(end) as ds:
        profile = ds.profile | {"nodata": None}
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(masked, "w", **profile) as dst:
        dst.write(np.array([[4.0, 1.0, 2.5, 3.0]], np.float32), 1)
        dst.write_mask(np.array([[0, 255, 255, 255]], np.uint8))
    diff = assemble(nightlight_change_blocks(start, masked, VNL2), (1, 4))
    np.testing.assert_allclose(diff, [[NAN, NAN, 0.5, 12.0]])


SERIES = {  # year: 2 x 3 values; NaN is missing
    2010: [[1.0, 5.0, NAN], [2.0, 0.0, 1.0]],
    2012: [[2.0, 4.0, NAN], [NAN, 0.0, 1.0]],
    2015: [[3.5, 4.0, 3.0], [NAN, 0.0, 2.0]],
    2020: [[6.0, 1.0, NAN], [NAN, 0.0, 100.0]],
}


@pytest.fixture
def series(make_raster):
    return {y: make_raster(np.array(v, np.float32), name=f"{y}.tif") for y, v in SERIES.items()}


@pytest.mark.parametrize(("method", "brute"), [("ols", brute_ols), ("theil_sen", brute_theil_sen)])
def test_trend_matches_brute_force_per_pixel(series, method, brute):
    slopes = assemble(nightlight_trend_blocks(series, VNL2, method=method), (2, 3))
    assert slopes.dtype == np.float32
    stack = np.array(list(SERIES.values()))
    expected = [[brute(list(SERIES), stack[:, r, c]) for c in range(3)] for r in range(2)]
    np.testing.assert_allclose(slopes, expected, rtol=1e-6, atol=1e-9)
    assert np.isnan(slopes[0, 2]) and np.isnan(slopes[1, 0])  # one valid year only


def test_trend_by_hand_and_theil_sen_ignores_an_outlying_year(make_raster):
    values = [1.0, 2.0, 3.0, 4.0, 100.0]  # a line of slope 1 but for the last year
    series = {
        2000 + i: make_raster(np.array([[v, 2.0 * i]], np.float32), name=f"{i}.tif")
        for i, v in enumerate(values)
    }
    ols = assemble(nightlight_trend_blocks(series, VNL2), (1, 2))
    sen = assemble(nightlight_trend_blocks(series, VNL2, method="theil_sen"), (1, 2))
    np.testing.assert_allclose(ols, [[20.0, 2.0]], rtol=1e-6)  # sxy 200 / sxx 10
    np.testing.assert_allclose(sen, [[1.0, 2.0]])


def test_trend_is_scaled_and_uses_the_product_fill(make_raster):
    series = {
        2012: make_raster(np.array([[10, 65535]], np.uint16), name="a.tif"),
        2014: make_raster(np.array([[30, 7]], np.uint16), name="b.tif"),
    }
    slopes = assemble(nightlight_trend_blocks(series, BLACKMARBLE), (1, 2))
    np.testing.assert_allclose(slopes, [[1.0, NAN]], rtol=1e-6)  # (3.0 - 1.0) / 2 years


def test_trend_needs_two_years_and_a_known_method(series):
    with pytest.raises(ConfigError, match="two years or more, got 1"):
        nightlight_trend_blocks({2010: series[2010]}, VNL2)
    with pytest.raises(ConfigError, match=r"unknown trend method 'sen'.*ols, theil_sen"):
        nightlight_trend_blocks(series, VNL2, method="sen")


def stacks():
    """Stacks of 2-7 years over 3 x 4 pixels with missing values, and their distinct years."""
    return st.integers(2, 7).flatmap(
        lambda n: st.tuples(
            st.lists(st.integers(1990, 2030), min_size=n, max_size=n, unique=True),
            arrays(np.float64, (n, 3, 4), elements=st.floats(-1e3, 1e3) | st.just(NAN)),
        )
    )


@given(stacks())
def test_ols_slope_matches_polyfit(case):
    years, stack = case
    slopes = ols_slope(years, stack)
    for r, c in np.ndindex(3, 4):
        expected = brute_ols(years, stack[:, r, c])
        np.testing.assert_allclose(slopes[r, c], expected, rtol=1e-6, atol=1e-6)


@given(stacks())
def test_theil_sen_slope_matches_brute_force(case):
    years, stack = case
    slopes = theil_sen_slope(years, stack)
    for r, c in np.ndindex(3, 4):
        expected = brute_theil_sen(years, stack[:, r, c])
        np.testing.assert_allclose(slopes[r, c], expected, rtol=1e-9, atol=1e-9)


def test_theil_sen_gives_the_same_slopes_in_small_chunks(monkeypatch):
    rng = np.random.default_rng(5)
    years = [2001, 2003, 2004, 2008, 2010]
    stack = rng.normal(size=(5, 7, 9))
    stack[rng.random(stack.shape) < 0.3] = NAN
    whole = theil_sen_slope(years, stack)
    monkeypatch.setattr(change, "_PAIR_VALUES", 25)  # 10 pairs: 2 pixels per chunk
    np.testing.assert_array_equal(theil_sen_slope(years, stack), whole)
