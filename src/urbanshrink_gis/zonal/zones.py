"""Zones prepared once per grid: which pixels each zone covers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import geopandas as gpd
from pyproj import CRS
from rasterio.windows import Window

from urbanshrink_gis.zonal.coverage import Coverage, EdgeIndex, Runs, check_coverage, runs_for_band
from urbanshrink_gis.zonal.grid import Grid

__all__ = ["Zones"]

_WINDOW_PIXELS = 1 << 22  # ~4 M pixels per window bounds the memory of one read


class Zones:
    """City polygons prepared for one raster grid and coverage rule.

    Preparing is cheap (edges in pixel coordinates); the pixel runs of a band of rows are
    computed when first needed and kept, so a series of rasters on the grid (ten years of one
    product) finds its zones once.

    Parameters
    ----------
    boundaries
        Checked boundaries with a ``city_id`` column (see :func:`read_boundaries`).
    grid
        The raster grid.
    coverage
        ``"center"``, ``"all_touched"`` or ``"exact"``.
    cache_runs
        Keep the runs of every band for reuse (memory grows with the zone boundary length).
    """

    def __init__(
        self,
        boundaries: gpd.GeoDataFrame,
        grid: Grid,
        *,
        coverage: Coverage = "center",
        cache_runs: bool = True,
    ) -> None:
        check_coverage(coverage)
        self.grid = grid
        self.coverage = coverage
        self.ids = boundaries["city_id"].astype(str).to_numpy()
        geoms = boundaries.geometry
        if boundaries.crs is not None and CRS.from_user_input(boundaries.crs) != grid.crs:
            geoms = geoms.to_crs(grid.crs)
        self.edges = EdgeIndex.from_geometries(
            geoms.to_numpy(), grid.transform, height=grid.height, band_rows=self.band_rows()
        )
        self._cache: dict[tuple[int, int], Runs] | None = {} if cache_runs else None

    def __len__(self) -> int:
        return len(self.ids)

    def runs(self, r0: int, r1: int) -> Runs:
        """Pixel runs of every zone in rows ``r0:r1``."""
        key = (r0, r1)
        if self._cache is not None and key in self._cache:
            return self._cache[key]
        runs = runs_for_band(self.edges, r0, r1, self.grid.width, self.coverage)
        if self._cache is not None:
            self._cache[key] = runs
        return runs

    def band_rows(self) -> int:
        """Rows per band: aligned to the grid's blocks, about 4 M pixels or one block row."""
        g = self.grid
        rows = _WINDOW_PIXELS // max(g.width, 1) // g.block_height * g.block_height
        return max(g.block_height, rows)

    def bands(self) -> Iterator[tuple[int, int]]:
        """Bands of rows: the units of work of the engine."""
        rows = self.band_rows()
        for r0 in range(0, self.grid.height, rows):
            yield r0, min(r0 + rows, self.grid.height)

    def band_windows(self, r0: int, r1: int) -> Iterator[tuple[Window, Runs]]:
        """Windows of a band to read (only where zones are), with their runs in local numbers."""
        g = self.grid
        box = self.runs(r0, r1).bounds()
        if box is None:
            return
        rr0, rr1, cc0, cc1 = box
        step = _WINDOW_PIXELS // max(rr1 - rr0, 1) // g.block_width * g.block_width
        cols = max(g.block_width, step)
        start = cc0 // g.block_width * g.block_width
        for c0 in range(start, cc1, cols):
            left, right = max(c0, cc0), min(c0 + cols, cc1)
            local = self.runs(r0, r1).window(rr0, rr1, left, right)
            if len(local.zone):
                yield Window(left, rr0, right - left, rr1 - rr0), local

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the cached runs (workers compute their own)."""
        state = self.__dict__.copy()
        state["_cache"] = {} if self._cache is not None else None
        return state
