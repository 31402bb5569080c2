"""City metrics, per-pixel change and vacancy: computed from the series, written by export."""

from urbanshrink_gis.metrics.city import (
    add_groups,
    landcover_metrics,
    nightlight_metrics,
    population_metrics,
)

__all__ = ["add_groups", "landcover_metrics", "nightlight_metrics", "population_metrics"]
