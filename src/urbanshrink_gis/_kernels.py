"""Compiled inner loops of the zonal engine (numba, no Python objects, GIL released).

Each kernel walks the pixels of one window that fall in zone spans (runs of pixels of one row
with weight 1) or zone cells (single boundary pixels with a fractional weight) and adds into
per-zone accumulators. Validity is decided in the loop (nodata value, NaN, internal mask) and
values are scaled there too, so a window is never copied.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["accumulate_classes", "accumulate_moments", "collect_values", "mark_values"]


@njit(cache=True, nogil=True, inline="always")
def _is_valid(x, nodata, has_nodata, mask, has_mask, r, c):
    if has_nodata and x == nodata:
        return False
    if x != x:  # NaN
        return False
    return not (has_mask and mask[r, c] == 0)


@njit(cache=True, nogil=True)
def accumulate_moments(
    values,
    mask,
    has_mask,
    nodata,
    has_nodata,
    scale,
    offset,
    zone,
    row,
    col0,
    col1,
    weight,
    row_area,
    threshold,
    acc_n,
    acc_total,
    acc_area,
    acc_above_n,
    acc_above_area,
    acc_shift,
    acc_has_shift,
    acc_s,
    acc_q,
    acc_min,
    acc_max,
):
    """Add count, shifted sums, min and max of the pixels of each run into the accumulators.

    Runs are ``values[row, col0:col1]`` with one weight each (1 for spans, the coverage fraction
    for boundary cells). ``row_area`` holds the pixel area (km²) of each local row. Sums are
    shifted by the zone's first valid value (``acc_shift``) so that the variance keeps its
    precision. Valid pixels above ``threshold`` (after scaling) are also counted apart.
    """
    for i in range(zone.shape[0]):
        z = zone[i]
        r = row[i]
        w = weight[i]
        area = row_area[r]
        for c in range(col0[i], col1[i]):
            acc_total[z] += w
            raw = values[r, c]
            if not _is_valid(raw, nodata, has_nodata, mask, has_mask, r, c):
                continue
            x = raw * scale + offset
            if not acc_has_shift[z]:
                acc_shift[z] = x
                acc_has_shift[z] = True
            d = x - acc_shift[z]
            acc_n[z] += w
            acc_area[z] += w * area
            acc_s[z] += w * d
            acc_q[z] += w * d * d
            if x > threshold:
                acc_above_n[z] += w
                acc_above_area[z] += w * area
            if x < acc_min[z]:
                acc_min[z] = x
            if x > acc_max[z]:
                acc_max[z] = x


@njit(cache=True, nogil=True)
def accumulate_classes(
    values,
    lut,
    lut_offset,
    mask,
    has_mask,
    zone,
    row,
    col0,
    col1,
    weight,
    row_area,
    n_classes,
    acc_count,
    acc_area,
):
    """Add per-class pixel weights and areas of each run.

    ``lut[value - lut_offset]`` maps a raster value to its class index, or -1 for nodata.
    Accumulators are flat arrays indexed ``zone * n_classes + class``. Each run is first
    counted in four interleaved integer histograms, so that runs of one class (the usual
    case in land cover) do not stall on a single counter.
    """
    hist = np.zeros((4, n_classes + 1), np.int64)
    for i in range(zone.shape[0]):
        hist[:] = 0
        r = row[i]
        for c in range(col0[i], col1[i]):
            if has_mask and mask[r, c] == 0:
                continue
            hist[c & 3, lut[np.int64(values[r, c]) - lut_offset] + 1] += 1
        w = weight[i]
        area = w * row_area[r]
        base = zone[i] * n_classes
        for k in range(n_classes):
            n = hist[0, k + 1] + hist[1, k + 1] + hist[2, k + 1] + hist[3, k + 1]
            if n:
                acc_count[base + k] += w * n
                acc_area[base + k] += area * n


@njit(cache=True, nogil=True)
def collect_values(
    values, mask, has_mask, nodata, has_nodata, scale, offset, zone, row, col0, col1, weight
):
    """Return zone, value and weight of every valid pixel of the runs (for quantiles)."""
    total = 0
    for i in range(zone.shape[0]):
        total += col1[i] - col0[i]
    out_zone = np.empty(total, np.int64)
    out_value = np.empty(total, np.float64)
    out_weight = np.empty(total, np.float64)
    k = 0
    for i in range(zone.shape[0]):
        r = row[i]
        for c in range(col0[i], col1[i]):
            raw = values[r, c]
            if not _is_valid(raw, nodata, has_nodata, mask, has_mask, r, c):
                continue
            out_zone[k] = zone[i]
            out_value[k] = raw * scale + offset
            out_weight[k] = weight[i]
            k += 1
    return out_zone[:k], out_value[:k], out_weight[:k]


@njit(cache=True, nogil=True)
def mark_values(values, offset, zone, row, col0, col1, present):
    """Set ``present[value - offset]`` for every pixel of the runs (classes seen in zones)."""
    for i in range(zone.shape[0]):
        r = row[i]
        for c in range(col0[i], col1[i]):
            present[np.int64(values[r, c]) - offset] = True
