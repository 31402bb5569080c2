"""pipeline/sources.py: a run's raster series: the years of a {year} pattern, or one error line."""

import pytest

from urbanshrink_gis import pipeline
from urbanshrink_gis.errors import RasterError


def test_discover_years_and_missing_pattern(tmp_path):
    for year in (2012, 2016):
        (tmp_path / f"vnl2_{year}.tif").write_bytes(b"")
    (tmp_path / "vnl2_20x6.tif").write_bytes(b"")
    assert pipeline.discover_years(str(tmp_path / "vnl2_{year}.tif")) == (2012, 2016)
    with pytest.raises(RasterError, match="no file matches"):
        pipeline.raster_series(str(tmp_path / "dmsp_{year}.tif"))
