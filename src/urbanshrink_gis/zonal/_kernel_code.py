"""The zonal engine's inner loops, in the subset of Python numba compiles (see ``_kernels``).

Each kernel walks the pixels of one window that fall in zone spans (runs of pixels of one row
with weight 1) or zone cells (single boundary pixels with a fractional weight) and adds into
per-zone accumulators. Validity is decided in the loop (nodata value, NaN, internal mask) and
values are scaled there too, so a window is never copied. One more kernel turns polygon rings
into edges bucketed by band of rows, in two passes over the vertices (count, then fill).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "accumulate_classes",
    "accumulate_moments",
    "accumulate_weighted",
    "bucket_edges",
    "collect_values",
    "exact_pieces",
    "exact_sweep",
    "mark_values",
]


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
def accumulate_weighted(
    values,
    mask,
    has_mask,
    nodata,
    has_nodata,
    scale,
    offset,
    weights,
    has_weights,
    zone,
    row,
    col0,
    col1,
    weight,
    row_area,
    acc_area_sum,
    acc_wn,
    acc_w,
    acc_wv,
):
    """Add area-weighted sums, and sums weighted by a second raster, of each run's pixels.

    For every valid pixel of value ``x`` and run weight ``w`` (coverage), ``w * area * x`` goes
    into ``acc_area_sum``. With ``has_weights``, ``weights`` (float64, NaN where the weights
    raster has no valid value) is on the same window: pixels valid in both add ``w`` to
    ``acc_wn``, ``w * p`` to ``acc_w`` and ``w * p * x`` to ``acc_wv``.
    """
    for i in range(zone.shape[0]):
        z = zone[i]
        r = row[i]
        w = weight[i]
        area = row_area[r]
        for c in range(col0[i], col1[i]):
            raw = values[r, c]
            if not _is_valid(raw, nodata, has_nodata, mask, has_mask, r, c):
                continue
            x = raw * scale + offset
            acc_area_sum[z] += w * area * x
            if has_weights:
                p = weights[r, c]
                if p != p:
                    continue
                acc_wn[z] += w
                acc_w[z] += w * p
                acc_wv[z] += w * p * x


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
    counted by raw value in four interleaved integer histograms, so that runs of one value
    (the usual case in land cover) do not stall on a single counter. After a run only the
    values seen so far are flushed through ``lut``; the whole histogram is scanned only when
    a run holds a new value.
    """
    n_bins = lut.shape[0]
    hist = np.zeros((4, n_bins), np.int64)
    h0, h1, h2, h3 = hist[0], hist[1], hist[2], hist[3]
    active = np.zeros(n_bins, np.int64)
    is_active = np.zeros(n_bins, np.bool_)
    n_active = 0
    for i in range(zone.shape[0]):
        r, start, stop = row[i], col0[i], col1[i]
        line = values[r]
        expected = stop - start
        if has_mask:
            for c in range(start, stop):
                if mask[r, c] == 0:
                    expected -= 1
                else:
                    hist[c & 3, np.int64(line[c]) - lut_offset] += 1
        else:  # unrolled by four, one histogram each
            c = start
            while c + 4 <= stop:
                v0, v1, v2, v3 = line[c], line[c + 1], line[c + 2], line[c + 3]
                h0[np.int64(v0) - lut_offset] += 1
                h1[np.int64(v1) - lut_offset] += 1
                h2[np.int64(v2) - lut_offset] += 1
                h3[np.int64(v3) - lut_offset] += 1
                c += 4
            for tail in range(c, stop):
                h0[np.int64(line[tail]) - lut_offset] += 1
        found = 0
        for j in range(n_active):
            b = active[j]
            found += hist[0, b] + hist[1, b] + hist[2, b] + hist[3, b]
        if found != expected:
            for b in range(n_bins):
                if not is_active[b] and (hist[0, b] + hist[1, b] + hist[2, b] + hist[3, b]):
                    is_active[b] = True
                    active[n_active] = b
                    n_active += 1
        w = weight[i]
        area = w * row_area[r]
        base = zone[i] * n_classes
        for j in range(n_active):
            b = active[j]
            n = hist[0, b] + hist[1, b] + hist[2, b] + hist[3, b]
            hist[0, b] = hist[1, b] = hist[2, b] = hist[3, b] = 0
            k = lut[b]
            if n and k >= 0:
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


@njit(cache=True, nogil=True, inline="always")
def _edge_slot(coords, i, to_pixel, height, band_rows, n_bands):
    """Band of the edge from vertex ``i`` (``n_bands``: it crosses a border; -1: dropped)."""
    c, a, f, e = to_pixel
    xa, ya = (coords[i, 0] - c) / a, (coords[i, 1] - f) / e
    xb, yb = (coords[i + 1, 0] - c) / a, (coords[i + 1, 1] - f) / e
    if not (np.isfinite(xa) and np.isfinite(ya) and np.isfinite(xb) and np.isfinite(yb)):
        return -1
    lo, hi = min(ya, yb), max(ya, yb)
    if hi < 0 or lo > height:
        return -1
    b0 = min(max(int(np.floor(lo / band_rows)), 0), n_bands - 1)
    b1 = min(max(int(np.floor(hi / band_rows)), 0), n_bands - 1)
    return b0 if b0 == b1 else n_bands


@njit(cache=True, nogil=True)
def bucket_edges(coords, ring_offsets, ring_zone, ring_shell, to_pixel, height, band_rows):
    """Ring edges grouped by band of rows, as indices of their first vertex.

    ``to_pixel`` is ``(c, a, f, e)`` of a north-up affine transform; ``coords`` are mapped to
    pixel coordinates in place. A shell is oriented counter-clockwise and a hole clockwise in
    world coordinates: the edges of a ring to turn are stored as ``~i`` (vertex ``i + 1`` to
    ``i``), the others as ``i``. Edges with a non-finite end, or wholly above or below the
    grid, are dropped. Returns the zone and vertex of every kept edge, band by band and then
    the edges that cross a band border, and where each band starts (the last start is where
    the crossing ones begin); edges keep their ring order within a band.
    """
    n_rings = len(ring_offsets) - 1
    n_bands = max((height + band_rows - 1) // band_rows, 1)
    counts = np.zeros(n_bands + 1, np.int64)  # the last slot counts the crossing edges
    flip = np.zeros(n_rings, np.bool_)
    for r in range(n_rings):
        area = 0.0
        for i in range(ring_offsets[r], ring_offsets[r + 1] - 1):
            area += coords[i, 0] * coords[i + 1, 1] - coords[i + 1, 0] * coords[i, 1]
            slot = _edge_slot(coords, i, to_pixel, height, band_rows, n_bands)
            if slot >= 0:
                counts[slot] += 1
        flip[r] = (area > 0) != ring_shell[r]
    starts = np.zeros(n_bands + 2, np.int64)
    starts[1:] = np.cumsum(counts)
    zone = np.empty(starts[-1], np.int64)
    vertex = np.empty(starts[-1], np.int64)
    fill = starts[:-1].copy()
    for r in range(n_rings):
        for i in range(ring_offsets[r], ring_offsets[r + 1] - 1):
            slot = _edge_slot(coords, i, to_pixel, height, band_rows, n_bands)
            if slot < 0:
                continue
            k = fill[slot]
            fill[slot] += 1
            zone[k] = ring_zone[r]
            vertex[k] = ~i if flip[r] else i
    c, a, f, e = to_pixel
    for i in range(coords.shape[0]):
        coords[i, 0] = (coords[i, 0] - c) / a
        coords[i, 1] = (coords[i, 1] - f) / e
    return zone, vertex, starts[:-1]


@njit(cache=True, nogil=True, inline="always")
def _cut_count(a, b):
    """Integer lines strictly between ``a`` and ``b``."""
    return max(int(np.ceil(max(a, b)) - np.floor(min(a, b))) - 1, 0)


@njit(cache=True, nogil=True)
def exact_pieces(x0, y0, x1, y1, zone, r0, r1, width):
    """Signed area each piece of each edge adds to the cells of rows ``r0:r1``.

    Every edge is clipped to the band's rows and cut at every pixel border it crosses. A piece
    in cell ``(row, col)`` going down by ``dy`` with mean local x ``m`` adds ``dy * (1 - m)``
    to its cell and ``dy * m`` to the next column; summed along a row these give each cell's
    covered fraction. Columns left of a raster ``width`` pixels wide pool in column -1, those
    right of it in column ``width``. Returns zone, row, column and signed area of every
    contribution.
    """
    n = zone.shape[0]
    total = 0
    for i in range(n):
        if y0[i] != y1[i]:
            total += 2 + _cut_count(x0[i], x1[i]) + _cut_count(y0[i], y1[i])
    out_zone = np.empty(2 * total, np.int64)
    out_row = np.empty(2 * total, np.int64)
    out_col = np.empty(2 * total, np.int64)
    out_delta = np.empty(2 * total)
    ts = np.empty(total)
    k = 0
    for i in range(n):
        dx, dy = x1[i] - x0[i], y1[i] - y0[i]
        if dy == 0:
            continue
        ta = min(max(((r0 if dy > 0 else r1) - y0[i]) / dy, 0.0), 1.0)
        tb = min(max(((r1 if dy > 0 else r0) - y0[i]) / dy, 0.0), 1.0)
        if not tb > ta:
            continue
        ax, ay, bx, by = x0[i] + ta * dx, y0[i] + ta * dy, x0[i] + tb * dx, y0[i] + tb * dy
        m = _sorted_cuts(ts, ta, tb, ax, bx, x0[i], dx, ay, by, y0[i], dy)
        for j in range(m - 1):
            t0, t1 = ts[j], ts[j + 1]
            py0, py1 = y0[i] + t0 * dy, y0[i] + t1 * dy
            d = py1 - py0
            if d == 0:
                continue
            mx = 0.5 * ((x0[i] + t0 * dx) + (x0[i] + t1 * dx))
            row = np.int64(np.floor(0.5 * (py0 + py1)))
            if row < r0 or row >= r1:
                continue
            col = np.floor(mx)
            local = mx - col
            c = np.int64(min(max(col, -2.0), width))
            for cell, share in ((max(c, -1), 1 - local), (min(c + 1, width), local)):
                out_zone[k], out_row[k], out_col[k], out_delta[k] = zone[i], row, cell, d * share
                k += 1
    return out_zone[:k], out_row[:k], out_col[:k], out_delta[:k]


@njit(cache=True, nogil=True, inline="always")
def _sorted_cuts(ts, ta, tb, ax, bx, ox, sx, ay, by, oy, sy):
    """Write ``ta``, ``tb`` and the parameters of every border crossing into ``ts``, sorted."""
    m = 0
    ts[m] = ta
    m += 1
    ts[m] = tb
    m += 1
    for a, b, origin, step in ((ax, bx, ox, sx), (ay, by, oy, sy)):
        first = np.floor(min(a, b)) + 1
        last = np.ceil(max(a, b)) - 1
        v = first
        while v <= last:
            ts[m] = (v - origin) / step
            m += 1
            v += 1.0
    ts[:m].sort()
    return m


@njit(cache=True, nogil=True)
def exact_sweep(zone, row, col, delta, r0, width):
    """Runs from the contributions of :func:`exact_pieces`, sorted by row.

    Contributions are summed per cell and then along each zone's row: the running sum is the
    signed coverage of a cell, constant until the next contribution. Each boundary cell gives
    a run of one pixel with its fraction; the pixels between two boundary cells give one run
    with the coverage there (1 inside, a fraction beside a horizontal edge, none outside).
    """
    n = zone.shape[0]
    order = _row_zone_col_order(zone, row, col, r0, np.int64(width) + 2)
    out_zone = np.empty(2 * n, np.int64)
    out_row = np.empty(2 * n, np.int64)
    out_c0 = np.empty(2 * n, np.int64)
    out_c1 = np.empty(2 * n, np.int64)
    out_w = np.empty(2 * n)
    k = 0
    i = 0
    while i < n:
        z, r = zone[order[i]], row[order[i]]
        total = 0.0
        while i < n and zone[order[i]] == z and row[order[i]] == r:
            c = col[order[i]]
            while i < n and zone[order[i]] == z and row[order[i]] == r and col[order[i]] == c:
                total += delta[order[i]]
                i += 1
            cover = abs(total)
            if 0 <= c < width and cover > 1e-12:
                out_zone[k], out_row[k], out_c0[k], out_c1[k] = z, r, c, c + 1
                out_w[k] = min(cover, 1.0)
                k += 1
            if i < n and zone[order[i]] == z and row[order[i]] == r:  # a next cell in the row
                level = np.rint(cover) if abs(cover - np.rint(cover)) < 1e-9 else cover
                g0 = min(max(c + 1, 0), width)
                g1 = min(max(col[order[i]], 0), width)
                if level > 1e-12 and g1 > g0:
                    out_zone[k], out_row[k], out_c0[k], out_c1[k] = z, r, g0, g1
                    out_w[k] = min(level, 1.0)
                    k += 1
    return out_zone[:k], out_row[:k], out_c0[:k], out_c1[:k], out_w[:k]


@njit(cache=True, nogil=True)
def _row_zone_col_order(zone, row, col, r0, span):
    """Indices that sort contributions by row, zone and column (rows by counting sort)."""
    n = zone.shape[0]
    n_rows = (row.max() - r0 + 1) if n else 0
    starts = np.zeros(n_rows + 1, np.int64)
    for i in range(n):
        starts[row[i] - r0 + 1] += 1
    starts = np.cumsum(starts)
    fill = starts[:-1].copy()
    order = np.empty(n, np.int64)
    for i in range(n):
        order[fill[row[i] - r0]] = i
        fill[row[i] - r0] += 1
    for r in range(n_rows):
        part = order[starts[r] : starts[r + 1]]
        key = zone[part] * span + (col[part] + 1)
        order[starts[r] : starts[r + 1]] = part[np.argsort(key)]
    return order
