"""zonal/stats.py: the statistics registry: each name computed, documented and in the CLI's help."""

import numpy as np
import pytest
from shapely.geometry import box

from urbanshrink_gis import zonal_stats


def test_every_statistic_of_the_registry_is_computed_against_brute_force(make_raster, make_zones):
    """The registry is the engine's whole list: each name runs and gives the direct answer."""
    from urbanshrink_gis.zonal.stats import REGISTRY, STATISTICS

    values = np.arange(100, dtype="float32").reshape(10, 10) % 7
    raster = make_raster(values)
    weights = make_raster(np.full((10, 10), 2.0, "float32"), name="w.tif")
    zones = make_zones([box(100.03, 39.95, 100.07, 39.98)])
    names = [s.replace("percentile_N", "percentile_25") for s in STATISTICS]
    out = zonal_stats(zones, raster, names, zone_id="id", threshold=3, weights=weights)
    assert list(out.columns) == names and set(STATISTICS) == set(REGISTRY)
    inside = values[2:5, 3:7].ravel()
    uniq, counts = np.unique(inside, return_counts=True)
    expected = {
        "count": inside.size, "nodata_count": 0, "sum": inside.sum(), "mean": inside.mean(),
        "min": inside.min(), "max": inside.max(), "std": inside.std(),
        "range": np.ptp(inside), "above_count": (inside > 3).sum(),
        "weighted_sum": 2 * inside.sum(), "weighted_mean": inside.mean(),
        "median": np.median(inside), "percentile_25": np.percentile(inside, 25),
        "majority": uniq[np.argmax(counts)], "minority": uniq[np.argmin(counts)],
        "unique": uniq.size,
    }  # fmt: skip
    for name, value in expected.items():
        assert out.loc["a", name] == pytest.approx(value), name
    km2 = out.loc["a", "area_km2"] / inside.size  # one pixel's true area
    assert out.loc["a", "above_km2"] == pytest.approx(km2 * (inside > 3).sum(), rel=1e-3)
    assert out.loc["a", "area_sum"] == pytest.approx(km2 * inside.sum(), rel=1e-3)


def test_the_docs_and_the_cli_help_list_the_registry():
    from click.testing import CliRunner

    from urbanshrink_gis.cli import cli
    from urbanshrink_gis.zonal.stats import REGISTRY

    help_text = " ".join(CliRunner().invoke(cli, ["zonal", "--help"]).output.split())
    for name, statistic in REGISTRY.items():
        assert f"    {name}\n        {statistic.meaning}" in zonal_stats.__doc__
        assert name in help_text
