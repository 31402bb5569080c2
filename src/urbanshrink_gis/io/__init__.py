"""Readers: city boundaries, rasters and population tables, each checked once on the way in."""

from urbanshrink_gis.io.boundaries import read_boundaries
from urbanshrink_gis.io.modis import hdf4_to_geotiff
from urbanshrink_gis.io.modis import tile_bounds as modis_tile_bounds
from urbanshrink_gis.io.population import (
    MUNICIPALITY_ALIASES,
    PopulationSpec,
    interpolate_population,
    read_population,
)
from urbanshrink_gis.io.rasters import open_raster

__all__ = [
    "MUNICIPALITY_ALIASES",
    "PopulationSpec",
    "hdf4_to_geotiff",
    "interpolate_population",
    "modis_tile_bounds",
    "open_raster",
    "read_boundaries",
    "read_population",
]
