"""zonal/_kernels.py: the ahead-of-time kernels built, current, equal to numba's JIT of them."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from urbanshrink_gis import UrbanShrinkWarning, zonal_stats
from urbanshrink_gis.zonal import _kernel_code, _kernels


def test_make_install_builds_the_kernels_ahead_of_time():
    import urbanshrink_gis.zonal._kernels_aot as aot

    assert aot.built_from() == _kernels.source_digest()
    assert _kernels.accumulate_moments.__name__ == "accumulate_moments"
    assert _kernels.bucket_edges is aot.bucket_edges


def test_a_module_built_from_other_code_is_not_used(monkeypatch):
    monkeypatch.setattr(_kernels, "source_digest", lambda: 12345)
    with pytest.warns(UrbanShrinkWarning, match="built from older kernel code"):
        assert _kernels._ahead_of_time() is None


def test_types_without_an_entry_are_read_as_float64():
    window = np.arange(6, dtype=np.float16).reshape(2, 3)[:, ::2]
    out = _kernels.as_window(window)
    assert out.dtype == np.float64 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, window.astype(np.float64))
    native = np.zeros((2, 3), np.uint16)
    assert _kernels.as_window(native) is native


def _runs(rng, height, width, n):
    zone = rng.integers(0, 3, n).astype(np.int64)
    row = np.sort(rng.integers(0, height, n)).astype(np.int64)
    c0 = rng.integers(0, width, n).astype(np.int64)
    c1 = np.minimum(c0 + rng.integers(0, width, n), width).astype(np.int64)
    return zone, row, c0, c1, rng.uniform(0.1, 1.0, n)


def _moments(kernel, values, mask, nodata, runs):
    n = 3
    acc = [np.zeros(n) for _ in range(6)]
    has_shift = np.zeros(n, bool)
    sums = [np.zeros(n), np.zeros(n), np.full(n, np.inf), np.full(n, -np.inf)]
    kernel(
        values, mask, mask.shape != (1, 1), float(nodata), True, 0.5, 1.0, *runs,
        np.linspace(1.0, 2.0, values.shape[0]), 3.0, *acc[:5], acc[5], has_shift, *sums,
    )  # fmt: skip
    return [*acc, has_shift, *sums]


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    dtype=st.sampled_from(_kernels.VALUE_TYPES),
    masked=st.booleans(),
)
def test_value_kernels_equal_the_jit_for_every_type(seed, dtype, masked):
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 100, (6, 9)).astype(dtype)
    mask = (rng.random((6, 9)) > 0.2).astype(np.uint8) if masked else np.ones((1, 1), np.uint8)
    runs = _runs(rng, 6, 9, 12)
    ahead = _moments(_kernels.accumulate_moments, values, mask, 7, runs)
    jit = _moments(_kernel_code.accumulate_moments, values, mask, 7, runs)
    for a, b in zip(ahead, jit, strict=True):
        np.testing.assert_array_equal(a, b)
    args = (values, mask, masked, 7.0, True, 0.5, 1.0, *runs)
    for a, b in zip(
        _kernels.collect_values(*args), _kernel_code.collect_values(*args), strict=True
    ):
        np.testing.assert_array_equal(a, b)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    dtype=st.sampled_from(_kernels.VALUE_TYPES),
    masked=st.booleans(),
    weighted=st.booleans(),
)
def test_weighted_kernel_equals_the_jit_for_every_type(seed, dtype, masked, weighted):
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 100, (6, 9)).astype(dtype)
    mask = (rng.random((6, 9)) > 0.2).astype(np.uint8) if masked else np.ones((1, 1), np.uint8)
    weights = rng.uniform(0, 50, (6, 9)) if weighted else np.zeros((1, 1))
    if weighted:
        weights[rng.random((6, 9)) < 0.2] = np.nan
    runs = _runs(rng, 6, 9, 12)
    out = []
    for kernel in (_kernels.accumulate_weighted, _kernel_code.accumulate_weighted):
        acc = [np.zeros(3) for _ in range(4)]
        kernel(
            values, mask, masked, 7.0, True, 0.5, 1.0, weights, weighted, *runs,
            np.linspace(1.0, 2.0, 6), *acc,
        )  # fmt: skip
        out.append(acc)
    for a, b in zip(*out, strict=True):
        np.testing.assert_array_equal(a, b)
    assert out[0][0].any()  # the area sums saw pixels
    assert out[0][3].any() == (weighted and bool(out[0][1].any()))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), dtype=st.sampled_from(_kernels.CLASS_TYPES))
def test_class_kernels_equal_the_jit_for_every_type(seed, dtype):
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 40, (5, 11)).astype(dtype)
    runs = _runs(rng, 5, 11, 10)
    lut = np.where(np.arange(40) % 7 == 0, -1, np.arange(40) % 5).astype(np.int64)
    out = []
    for kernel in (_kernels.accumulate_classes, _kernel_code.accumulate_classes):
        count, area = np.zeros(3 * 5), np.zeros(3 * 5)
        kernel(values, lut, 0, np.ones((1, 1), np.uint8), False, *runs, np.ones(5), 5, count, area)
        out.append((count, area))
    np.testing.assert_array_equal(out[0][0], out[1][0])
    np.testing.assert_array_equal(out[0][1], out[1][1])
    if dtype in _kernels.MARKED_TYPES:
        present = [np.zeros(40, bool), np.zeros(40, bool)]
        _kernels.mark_values(values, 0, *runs[:4], present[0])
        _kernel_code.mark_values(values, 0, *runs[:4], present[1])
        np.testing.assert_array_equal(*present)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_geometry_kernels_equal_the_jit(seed):
    rng = np.random.default_rng(seed)
    coords = np.cumsum(rng.normal(0, 3, (21, 2)), axis=0) + 20
    coords[10] = coords[0]  # two rings of ten edges
    coords[20] = coords[11]
    rings = (np.array([0, 11, 21]), np.array([0, 1]), np.array([True, False]))
    args = (*rings, (0.0, 1.0, 40.0, -1.0), 40, 8)
    xy, xy_jit = coords.copy(), coords.copy()  # mapped to pixels in place
    ahead, jit = _kernels.bucket_edges(xy, *args), _kernel_code.bucket_edges(xy_jit, *args)
    np.testing.assert_array_equal(xy, xy_jit)
    for a, b in zip(ahead, jit, strict=True):
        np.testing.assert_array_equal(a, b)
    zone, vertex = ahead[0], ahead[1]
    first, last = (
        np.where(vertex >= 0, vertex, ~vertex + 1),
        np.where(vertex >= 0, vertex + 1, ~vertex),
    )
    ends = (xy[first, 0], xy[first, 1], xy[last, 0], xy[last, 1])
    pieces = [k(*ends, zone, 8, 24, 30) for k in (_kernels.exact_pieces, _kernel_code.exact_pieces)]
    for a, b in zip(*pieces, strict=True):
        np.testing.assert_array_equal(a, b)
    sweeps = [k(*pieces[0], 8, 30) for k in (_kernels.exact_sweep, _kernel_code.exact_sweep)]
    for a, b in zip(*sweeps, strict=True):
        np.testing.assert_array_equal(a, b)


def test_without_the_built_module_numba_compiles_the_same_code(make_raster, make_zones):
    rng = np.random.default_rng(5)
    raster = make_raster(rng.integers(0, 9, (30, 40)).astype(np.uint16), nodata=0)
    zones = make_zones(
        [shapely.box(100.03, 39.75, 100.31, 39.98), shapely.Point(100.2, 39.85).buffer(0.1)]
    )
    script = (
        "import sys; sys.modules['urbanshrink_gis.zonal._kernels_aot'] = None\n"  # import fails
        "from urbanshrink_gis import zonal_stats\nfrom urbanshrink_gis.zonal import _kernels\n"
        "assert not _kernels.COMPILED_AHEAD\n"
        f"for cov in ('center', 'exact'):\n"
        f"    print(zonal_stats({str(zones)!r}, {str(raster)!r},"
        " ['count', 'sum', 'std', 'area_sum'], zone_id='id', coverage=cov).to_json())\n"
        f"print(zonal_stats({str(zones)!r}, {str(raster)!r}, zone_id='id',"
        " categorical=True).to_json())\n"
    )
    jit = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    ahead = [
        zonal_stats(zones, raster, ["count", "sum", "std", "area_sum"], zone_id="id", coverage=cov)
        for cov in ("center", "exact")
    ] + [zonal_stats(zones, raster, zone_id="id", categorical=True)]
    assert len(jit) == 3
    for line, frame in zip(jit, ahead, strict=True):
        other = pd.read_json(io.StringIO(line))
        other.index = other.index.astype(str)
        other.columns = frame.columns
        pd.testing.assert_frame_equal(frame, other, check_dtype=False, check_names=False)
