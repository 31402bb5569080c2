"""The whole job: a TOML run configuration, validated once, and ``run`` in stage order."""

from urbanshrink_gis.pipeline.config import (
    BoundariesConfig,
    OutputConfig,
    PopulationConfig,
    RasterConfig,
    RunConfig,
    config_from_dict,
    load_config,
    with_excel_csv,
)
from urbanshrink_gis.pipeline.outputs import read_city_year, report_from_outputs
from urbanshrink_gis.pipeline.plans import RasterPlan, raster_plans
from urbanshrink_gis.pipeline.run import RunResult, run, run_demo
from urbanshrink_gis.pipeline.scopes import compare_scopes
from urbanshrink_gis.pipeline.sources import (
    check_source_values,
    discover_years,
    raster_series,
    resolve_sources,
)
from urbanshrink_gis.pipeline.stages import city_year_table, new_builtup_table, period_pixels
from urbanshrink_gis.pipeline.staging import (
    SQLITE_PATH_MAX,
    STAGING_PREFIX,
    check_free_space,
    remove_stale_staging,
)
from urbanshrink_gis.pipeline.validate import CheckedRun, validate_run

__all__ = [
    "SQLITE_PATH_MAX",
    "STAGING_PREFIX",
    "BoundariesConfig",
    "CheckedRun",
    "OutputConfig",
    "PopulationConfig",
    "RasterConfig",
    "RasterPlan",
    "RunConfig",
    "RunResult",
    "check_free_space",
    "check_source_values",
    "city_year_table",
    "compare_scopes",
    "config_from_dict",
    "discover_years",
    "load_config",
    "new_builtup_table",
    "period_pixels",
    "raster_plans",
    "raster_series",
    "read_city_year",
    "remove_stale_staging",
    "report_from_outputs",
    "resolve_sources",
    "run",
    "run_demo",
    "validate_run",
    "with_excel_csv",
]
