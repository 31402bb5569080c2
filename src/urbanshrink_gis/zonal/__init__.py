"""The zonal-statistics engine: zones prepared once per grid, rasters streamed by blocks."""

from urbanshrink_gis.zonal.coverage import Coverage
from urbanshrink_gis.zonal.engine import Engine, check_class_raster, zonal_stats, zonal_stats_many
from urbanshrink_gis.zonal.grid import Grid
from urbanshrink_gis.zonal.reading import WindowSource
from urbanshrink_gis.zonal.stats import DEFAULT_STATS, STATISTICS
from urbanshrink_gis.zonal.zones import Zones

__all__ = [
    "DEFAULT_STATS",
    "STATISTICS",
    "Coverage",
    "Engine",
    "Grid",
    "WindowSource",
    "Zones",
    "check_class_raster",
    "zonal_stats",
    "zonal_stats_many",
]
