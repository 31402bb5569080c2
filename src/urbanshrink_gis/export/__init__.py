"""Write results: tables, the run's GeoPackage with its QGIS project, COGs and the report."""

from urbanshrink_gis.export.outputs import (
    RUN_CONTEXT,
    RUN_OUTPUTS,
    check_outputs,
    scope_outputs,
    write_extra,
    write_run,
    write_scope,
)
from urbanshrink_gis.export.project import (
    DEFAULT_PROJECT_CRS,
    PROJECT_NAME,
    cities_style,
    project_crs,
)
from urbanshrink_gis.export.tables import (
    STDOUT,
    TABLE_FORMATS,
    check_output,
    check_zone_columns,
    class_columns,
    write_table,
    zone_output,
)

__all__ = [
    "DEFAULT_PROJECT_CRS",
    "PROJECT_NAME",
    "RUN_CONTEXT",
    "RUN_OUTPUTS",
    "STDOUT",
    "TABLE_FORMATS",
    "check_output",
    "check_outputs",
    "check_zone_columns",
    "cities_style",
    "class_columns",
    "project_crs",
    "scope_outputs",
    "write_extra",
    "write_run",
    "write_scope",
    "write_table",
    "zone_output",
]
