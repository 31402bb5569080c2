"""Which pixels each zone covers, as runs of pixels, computed from polygon edges.

Terms
-----
edge
    One segment of a polygon ring, in pixel coordinates (column, row; row 0 at the top).
span
    A run of pixels ``row, col0:col1`` inside one zone, with weight 1.
cell
    One boundary pixel of one zone with its coverage fraction (``coverage="exact"`` only).

Rules
-----
center
    A pixel belongs to a zone when its centre is inside (GDAL's scanline rule, as rasterstats).
all_touched
    Centre pixels plus every pixel an edge passes through (GDAL's ``ALL_TOUCHED``).
exact
    Every pixel weighs the fraction of its area inside the polygon (as exactextract), found by
    accumulating the signed area right of each edge piece and summing along the row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import shapely
from affine import Affine

from urbanshrink_gis.errors import ConfigError
from urbanshrink_gis.zonal._kernels import bucket_edges, exact_pieces, exact_sweep

__all__ = ["Coverage", "EdgeIndex", "Edges", "Runs", "check_coverage", "runs_for_band"]

Coverage = Literal["center", "all_touched", "exact"]


@dataclass(frozen=True, slots=True)
class Edges:
    """Polygon edges in pixel coordinates (a working set, such as those of one band)."""

    zone: np.ndarray
    x0: np.ndarray
    y0: np.ndarray
    x1: np.ndarray
    y1: np.ndarray

    @property
    def ymin(self) -> np.ndarray:
        """Lowest row coordinate of each edge."""
        return np.minimum(self.y0, self.y1)

    @property
    def ymax(self) -> np.ndarray:
        """Highest row coordinate of each edge."""
        return np.maximum(self.y0, self.y1)

    def take(self, index: np.ndarray) -> Edges:
        """The edges at ``index`` (an integer or boolean array)."""
        return Edges(
            self.zone[index], self.x0[index], self.y0[index], self.x1[index], self.y1[index]
        )

    def __len__(self) -> int:
        return len(self.zone)


@dataclass(frozen=True, slots=True)
class EdgeIndex:
    """All edges of a set of zones on one grid, bucketed by band of rows.

    Vertices are kept once, in pixel coordinates (``xy``); an edge is the index ``i`` of the
    vertex it starts from (it ends at ``i + 1``), or ``~i`` when its ends are swapped to orient
    the ring. Edges that stay inside one band of ``band_rows`` rows are stored by band
    (``starts`` gives each band's slice) and the few that cross a band border after them, from
    ``starts[-1]``. Edges wholly above or below the grid are dropped: they cover no pixel.
    """

    xy: np.ndarray
    zone: np.ndarray
    vertex: np.ndarray
    starts: np.ndarray
    band_rows: int

    @classmethod
    def from_geometries(
        cls, geoms: np.ndarray, transform: Affine, *, height: int, band_rows: int
    ) -> EdgeIndex:
        """Collect the ring edges of polygonal geometries, mapped to pixel coordinates.

        Shells are turned counter-clockwise and holes clockwise (by swapping edge ends, not by
        copying geometries), which the ``exact`` rule's signed areas need.
        """
        geoms = np.where(shapely.is_missing(geoms), shapely.Polygon(), geoms)
        _, coords, offsets = shapely.to_ragged_array(geoms, include_z=False)
        ring_offsets, part_offsets = offsets[0], offsets[1]
        # Polygons only: one part per geometry; with MultiPolygons, parts per geometry.
        geom_offsets = offsets[2] if len(offsets) > 2 else np.arange(len(part_offsets))
        part_of_ring = np.repeat(np.arange(len(part_offsets) - 1), np.diff(part_offsets))
        zone_of_part = np.repeat(np.arange(len(geom_offsets) - 1), np.diff(geom_offsets))
        shell = np.zeros(len(ring_offsets) - 1, bool)
        shell[part_offsets[:-1][np.diff(part_offsets) > 0]] = True
        to_pixel = (transform.c, transform.a, transform.f, transform.e)
        xy = np.ascontiguousarray(coords, dtype=np.float64)  # mapped in place by the kernel
        zone, vertex, starts = bucket_edges(
            xy, ring_offsets.astype(np.int64), zone_of_part[part_of_ring].astype(np.int64),
            shell, to_pixel, height, band_rows,
        )  # fmt: skip
        return cls(xy, zone, vertex, starts, band_rows)

    def in_rows(self, r0: int, r1: int) -> Edges:
        """Edges that reach into rows ``r0 <= y < r1`` (pixel row coordinates)."""
        n_bands = len(self.starts) - 1
        b0 = min(max(r0 // self.band_rows, 0), n_bands)
        b1 = min(max((r1 - 1) // self.band_rows + 1, 0), n_bands)
        pick = np.r_[self.starts[b0] : self.starts[b1], self.starts[-1] : len(self.vertex)]
        vertex = self.vertex[pick]
        first = np.where(vertex >= 0, vertex, ~vertex + 1)
        last = np.where(vertex >= 0, vertex + 1, ~vertex)
        x, y = self.xy[:, 0], self.xy[:, 1]
        band = Edges(self.zone[pick], x[first], y[first], x[last], y[last])
        return band.take((band.ymin < r1) & (band.ymax >= r0))

    def __len__(self) -> int:
        return len(self.vertex)


@dataclass(frozen=True, slots=True)
class Runs:
    """Pixel runs of zones in a band of rows: ``values[row, col0:col1]`` weighs ``weight``.

    Rows are absolute raster rows; runs are sorted by row.
    """

    zone: np.ndarray
    row: np.ndarray
    col0: np.ndarray
    col1: np.ndarray
    weight: np.ndarray

    @classmethod
    def empty(cls) -> Runs:
        """Runs covering nothing."""
        i = np.empty(0, np.int64)
        return cls(i, i, i, i, np.empty(0, np.float64))

    @classmethod
    def concat(cls, parts: list[Runs]) -> Runs:
        """Join runs and sort them by row."""
        arrays = [np.concatenate(a) for a in zip(*(p.astuple() for p in parts), strict=True)]
        order = np.argsort(arrays[1], kind="stable")
        return cls(*(a[order] for a in arrays))

    def astuple(self) -> tuple[np.ndarray, ...]:
        """The five arrays in field order."""
        return (self.zone, self.row, self.col0, self.col1, self.weight)

    def window(self, r0: int, r1: int, c0: int, c1: int) -> Runs:
        """Runs clipped to a window, in the window's local row and column numbers."""
        lo, hi = np.searchsorted(self.row, [r0, r1])
        col0 = np.clip(self.col0[lo:hi], c0, c1) - c0
        col1 = np.clip(self.col1[lo:hi], c0, c1) - c0
        keep = col1 > col0
        return Runs(
            self.zone[lo:hi][keep],
            self.row[lo:hi][keep] - r0,
            col0[keep],
            col1[keep],
            self.weight[lo:hi][keep],
        )

    @property
    def n_pixels(self) -> int:
        """Number of pixel visits the runs make."""
        return int((self.col1 - self.col0).sum())

    def bounds(self) -> tuple[int, int, int, int] | None:
        """Row and column range ``(r0, r1, c0, c1)`` that holds every run, or None if empty."""
        if len(self.zone) == 0:
            return None
        return (
            int(self.row[0]),
            int(self.row[-1]) + 1,
            int(self.col0.min()),
            int(self.col1.max()),
        )


def check_coverage(coverage: str) -> Coverage:
    """Return ``coverage`` if it is a pixel rule, else raise :class:`ConfigError`."""
    if coverage not in get_args(Coverage):
        raise ConfigError(
            f"unknown coverage {coverage!r}",
            where="coverage",
            fix=f"use one of {', '.join(get_args(Coverage))}",
        )
    return coverage  # type: ignore[return-value]


def runs_for_band(edges: EdgeIndex, r0: int, r1: int, width: int, coverage: Coverage) -> Runs:
    """Runs of every zone in rows ``r0:r1`` of a grid ``width`` pixels wide."""
    band = edges.in_rows(r0, r1)
    if len(band) == 0:
        return Runs.empty()
    if coverage == "center":
        return _center_runs(band, r0, r1, width)
    if coverage == "all_touched":
        touched = _touched_runs(band, r0, r1, width)
        return _union(Runs.concat([_center_runs(band, r0, r1, width), touched]))
    return _exact_runs(band, r0, r1, width)


def _repeat_rows(start: np.ndarray, stop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For items with row ranges ``start:stop``, return (item index, row) for every row."""
    n = np.maximum(stop - start, 0)
    item = np.repeat(np.arange(len(n)), n)
    first = np.cumsum(n) - n
    row = start[item] + (np.arange(item.size) - first[item])
    return item, row


def _center_runs(e: Edges, r0: int, r1: int, width: int) -> Runs:
    """GDAL's scanline rule: row ``r`` crosses an edge when ``ylow <= r + 0.5 < yhigh``."""
    slanted = e.ymax > e.ymin
    up = e.y0 <= e.y1
    xa = np.where(up, e.x0, e.x1)[slanted]
    xb = np.where(up, e.x1, e.x0)[slanted]
    ya, yb, zone = e.ymin[slanted], e.ymax[slanted], e.zone[slanted]
    first = np.maximum(np.ceil(ya - 0.5), r0).astype(np.int64)
    stop = np.minimum(np.ceil(yb - 0.5), r1).astype(np.int64)
    item, row = _repeat_rows(first, stop)
    if item.size == 0:
        return Runs.empty()
    x = xa[item] + (row + 0.5 - ya[item]) * (xb[item] - xa[item]) / (yb[item] - ya[item])
    z = zone[item]
    order = np.lexsort((x, row, z))
    z, row, x = z[order], row[order], x[order]
    if not (np.array_equal(z[0::2], z[1::2]) and np.array_equal(row[0::2], row[1::2])):
        msg = "odd number of ring crossings on a scanline (unclosed ring?)"
        raise RuntimeError(msg)
    col0 = np.clip(np.floor(x[0::2] + 0.5), 0, width).astype(np.int64)
    col1 = np.clip(np.floor(x[1::2] + 0.5), 0, width).astype(np.int64)
    keep = col1 > col0
    zone_k, row_k = z[0::2][keep], row[0::2][keep]
    return Runs.concat([Runs(zone_k, row_k, col0[keep], col1[keep], np.ones(keep.sum()))])


def _touched_runs(e: Edges, r0: int, r1: int, width: int) -> Runs:
    """Pixels each edge passes through, one run per edge and row.

    As GDAL, edges lying on a pixel border (within 1e-4 pixel) mark no pixel.
    """
    e = e.take(~(_on_border(e.x0, e.x1) | _on_border(e.y0, e.y1)))
    first = np.maximum(np.floor(e.ymin), r0).astype(np.int64)
    last = np.maximum(np.ceil(e.ymax) - 1, np.floor(e.ymin))
    stop = np.minimum(last + 1, r1).astype(np.int64)
    item, row = _repeat_rows(first, stop)
    if item.size == 0:
        return Runs.empty()
    x0, y0, x1, y1 = e.x0[item], e.y0[item], e.x1[item], e.y1[item]
    dy = y1 - y0
    flat = dy == 0
    safe = np.where(flat, 1.0, dy)
    lo = np.clip(row, np.minimum(y0, y1), np.maximum(y0, y1))
    hi = np.clip(row + 1, np.minimum(y0, y1), np.maximum(y0, y1))
    xl = np.where(flat, x0, x0 + (lo - y0) * (x1 - x0) / safe)
    xh = np.where(flat, x1, x0 + (hi - y0) * (x1 - x0) / safe)
    left, right = np.minimum(xl, xh), np.maximum(xl, xh)
    col0 = np.floor(left)
    col1 = np.maximum(col0 + 1, np.ceil(right))
    col0 = np.clip(col0, 0, width).astype(np.int64)
    col1 = np.clip(col1, 0, width).astype(np.int64)
    keep = col1 > col0
    return Runs(e.zone[item][keep], row[keep], col0[keep], col1[keep], np.ones(keep.sum()))


def _on_border(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """True where both coordinates sit on the same integer pixel border."""
    ra, rb = np.rint(a), np.rint(b)
    return (np.abs(a - ra) < 1e-4) & (np.abs(b - rb) < 1e-4) & (ra == rb)


def _union(runs: Runs) -> Runs:
    """Merge overlapping or adjacent runs of the same zone and row."""
    if len(runs.zone) == 0:
        return runs
    order = np.lexsort((runs.col0, runs.row, runs.zone))
    z, r = runs.zone[order], runs.row[order]
    c0, c1 = runs.col0[order], runs.col1[order]
    group = np.concatenate([[True], (z[1:] != z[:-1]) | (r[1:] != r[:-1])])
    gid = np.cumsum(group)
    # Running maximum of col1 within each (zone, row) group: groups are offset so that a
    # global running maximum never carries across a group border.
    span = int(c1.max()) + 1
    reach = np.maximum.accumulate(c1 + gid * span) - gid * span
    starts = group.copy()
    starts[1:] |= c0[1:] > reach[:-1]
    idx = np.flatnonzero(starts)
    ends = np.append(idx[1:], len(z)) - 1
    merged = Runs(z[idx], r[idx], c0[idx], reach[ends], np.ones(idx.size))
    return Runs.concat([merged])


def _exact_runs(e: Edges, r0: int, r1: int, width: int) -> Runs:
    """Coverage fractions: interior runs plus boundary cells with their fraction."""
    pieces = exact_pieces(e.x0, e.y0, e.x1, e.y1, e.zone, r0, r1, width)
    return Runs(*exact_sweep(*pieces, r0, width))
