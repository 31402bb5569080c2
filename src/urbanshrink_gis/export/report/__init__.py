"""Human-readable summaries of a run: the terminal text, charts and a self-contained HTML report."""

from urbanshrink_gis.export.report.html import REPORT_FILES, write_report
from urbanshrink_gis.export.report.text import paradox_text

__all__ = ["REPORT_FILES", "paradox_text", "write_report"]
