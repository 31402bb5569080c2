"""urbanshrink_gis: measure the 'expanding while shrinking' paradox of cities from rasters."""

from urbanshrink_gis.errors import (
    BoundaryError,
    ConfigError,
    InputError,
    OutputExistsError,
    PopulationError,
    RasterError,
    UrbanShrinkError,
    UrbanShrinkWarning,
)
from urbanshrink_gis.io import open_raster, read_boundaries
from urbanshrink_gis.zonal import Grid, Zones, zonal_stats, zonal_stats_many

__version__ = "0.1.0"

__all__ = [
    "BoundaryError",
    "ConfigError",
    "Grid",
    "InputError",
    "OutputExistsError",
    "PopulationError",
    "RasterError",
    "UrbanShrinkError",
    "UrbanShrinkWarning",
    "Zones",
    "__version__",
    "open_raster",
    "read_boundaries",
    "zonal_stats",
    "zonal_stats_many",
]
