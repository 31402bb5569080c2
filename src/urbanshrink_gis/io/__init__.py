"""Readers: city boundaries, rasters and population tables, each checked once on the way in."""

from urbanshrink_gis.io.boundaries import read_boundaries
from urbanshrink_gis.io.rasters import open_raster

__all__ = ["open_raster", "read_boundaries"]
