"""urbanshrink_gis: measure the 'expanding while shrinking' paradox of cities from rasters."""

from urbanshrink_gis.analysis import AnalysisConfig, analyse, sensitivity, summarise
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
from urbanshrink_gis.io import PopulationSpec, open_raster, read_boundaries, read_population
from urbanshrink_gis.metrics.city import landcover_metrics, nightlight_metrics, population_metrics
from urbanshrink_gis.products.model import Product
from urbanshrink_gis.products.presets import get_product, product_names
from urbanshrink_gis.zonal.engine import Engine, zonal_stats, zonal_stats_many
from urbanshrink_gis.zonal.grid import Grid
from urbanshrink_gis.zonal.zones import Zones

__version__ = "0.1.0"

#: Names served from :mod:`urbanshrink_gis.pipeline` on first use: the whole job pulls in the
#: export stage (matplotlib, COG writing), which the zonal engine alone does not need.
_PIPELINE_NAMES = frozenset({"RunConfig", "load_config", "run", "run_demo"})


def __getattr__(name: str) -> object:
    if name in _PIPELINE_NAMES:
        from urbanshrink_gis import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'urbanshrink_gis' has no attribute {name!r}")


__all__ = [
    "AnalysisConfig",
    "BoundaryError",
    "ConfigError",
    "Engine",
    "Grid",
    "InputError",
    "OutputExistsError",
    "PopulationError",
    "PopulationSpec",
    "Product",
    "RasterError",
    "RunConfig",
    "UrbanShrinkError",
    "UrbanShrinkWarning",
    "Zones",
    "__version__",
    "analyse",
    "get_product",
    "landcover_metrics",
    "load_config",
    "nightlight_metrics",
    "open_raster",
    "population_metrics",
    "product_names",
    "read_boundaries",
    "read_population",
    "run",
    "run_demo",
    "sensitivity",
    "summarise",
    "zonal_stats",
    "zonal_stats_many",
]
