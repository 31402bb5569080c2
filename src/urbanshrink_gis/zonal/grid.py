"""A raster grid and the true area of its pixels."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import rasterio
from affine import Affine
from pyproj import CRS

from urbanshrink_gis.errors import UrbanShrinkWarning

__all__ = ["Grid"]

_EQUAL_AREA_WORDS = ("equal area", "equal-area", "mollweide", "sinusoidal", "equal earth")


@dataclass(frozen=True, slots=True)
class Grid:
    """Shape, transform and CRS of a raster; rasters on one grid share prepared zones.

    Parameters
    ----------
    transform
        North-up affine transform.
    width, height
        Size in pixels.
    crs
        Coordinate reference system.
    block_height, block_width
        Natural block size of the file (for window alignment).
    """

    transform: Affine
    width: int
    height: int
    crs: CRS
    block_height: int = 256
    block_width: int = 256

    @classmethod
    def of(cls, ds: rasterio.DatasetReader, band: int = 1) -> Grid:
        """Grid of an open dataset."""
        bh, bw = ds.block_shapes[band - 1]
        crs = CRS.from_user_input(ds.crs.to_wkt())
        return cls(ds.transform, ds.width, ds.height, crs, bh, bw)

    def same_as(self, other: Grid) -> bool:
        """True when both grids have the same pixels (block sizes may differ)."""
        return (
            self.width == other.width
            and self.height == other.height
            and self.transform.almost_equals(other.transform, precision=1e-9)
            and self.crs == other.crs
        )

    def row_areas_km2(self) -> np.ndarray:
        """True pixel area of every row in km² (geodesic on geographic grids).

        Warns with :class:`UrbanShrinkWarning` when the grid is projected but not equal-area.
        """
        t = self.transform
        if self.crs.is_geographic:
            return _geographic_row_areas(self.crs, t, self.height)
        if not _is_equal_area(self.crs):
            warnings.warn(
                f"areas on a projected grid that is not equal-area ({self.crs.name}) are "
                "distorted; reproject the raster to an equal-area CRS for true areas",
                UrbanShrinkWarning,
                stacklevel=3,
            )
        unit = self.crs.axis_info[0].unit_conversion_factor if self.crs.axis_info else 1.0
        return np.full(self.height, abs(t.a * t.e) * unit * unit / 1e6)


def _is_equal_area(crs: CRS) -> bool:
    op = crs.coordinate_operation
    text = f"{crs.name} {op.method_name if op else ''}".lower()
    return any(word in text for word in _EQUAL_AREA_WORDS)


def _geographic_row_areas(crs: CRS, t: Affine, height: int) -> np.ndarray:
    """Ellipsoidal area of one pixel in each row, from the area of latitude zones."""
    ell = crs.ellipsoid
    a, b = ell.semi_major_metre, ell.semi_minor_metre
    e = math.sqrt(1 - (b / a) ** 2)
    edges = np.radians(np.clip(t.f + t.e * np.arange(height + 1), -90, 90))

    def zone_area(phi: np.ndarray) -> np.ndarray:
        s = np.sin(phi)
        if e == 0:
            return a * a * s
        return (b * b / 2) * (s / (1 - (e * s) ** 2) + np.arctanh(e * s) / e)

    dlon = math.radians(abs(t.a))
    return np.abs(np.diff(zone_area(edges))) * dlon / 1e6
