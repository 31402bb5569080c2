import numpy as np
import pytest
import shapely
from shapely.geometry import box

from urbanshrink_gis import UrbanShrinkWarning, zonal_stats


def test_known_square_center(make_raster, make_zones):
    # 10x10 grid of 0.01°, values = row * 10 + col; zone covers rows 2-4, cols 3-6 exactly.
    values = np.arange(100, dtype="float32").reshape(10, 10)
    raster = make_raster(values)
    zones = make_zones([box(100.03, 39.95, 100.07, 39.98)])
    out = zonal_stats(zones, raster, ("count", "sum", "mean", "min", "max"), zone_id="id")
    inside = values[2:5, 3:7]
    assert out.loc["a", "count"] == 12
    assert out.loc["a", "sum"] == pytest.approx(inside.sum())
    assert out.loc["a", "mean"] == pytest.approx(inside.mean())
    assert (out.loc["a", "min"], out.loc["a", "max"]) == (23, 46)


def test_zone_off_raster_and_empty_geometry_give_nan(make_raster, make_zones):
    raster = make_raster(np.ones((10, 10), "float32"))
    zones = make_zones([box(0, 0, 1, 1), shapely.Polygon(), box(100.0, 39.9, 100.1, 40.0)])
    out = zonal_stats(zones, raster, ("count", "sum", "mean"), zone_id="id")
    assert list(out["count"]) == [0, 0, 100]
    assert np.isnan(out.loc["a", "mean"]) and np.isnan(out.loc["b", "sum"])


def test_nodata_nan_and_override(make_raster, make_zones):
    values = np.ones((4, 4), "float32")
    values[0, 0] = -9
    values[1, 1] = np.nan
    raster = make_raster(values, nodata=-9)
    zones = make_zones([box(100.0, 39.96, 100.04, 40.0)])
    out = zonal_stats(zones, raster, ("count", "nodata_count", "sum"), zone_id="id")
    assert (out.loc["a", "count"], out.loc["a", "nodata_count"]) == (14, 2)
    out = zonal_stats(zones, raster, ("count",), zone_id="id", nodata=1)
    assert out.loc["a", "count"] == 1  # only the -9 pixel is not nodata (NaN never counts)


def test_overlapping_zones_count_shared_pixels_in_both(make_raster, make_zones):
    raster = make_raster(np.ones((10, 10), "uint8"))
    zones = make_zones([box(100.0, 39.9, 100.06, 40.0), box(100.04, 39.9, 100.1, 40.0)])
    out = zonal_stats(zones, raster, ("count",), zone_id="id")
    assert list(out["count"]) == [60, 60]


def test_invalid_polygon_is_repaired_with_a_warning(make_raster, make_zones):
    raster = make_raster(np.ones((10, 10), "float32"))
    bowtie = shapely.Polygon([(100.0, 39.9), (100.1, 40.0), (100.1, 39.9), (100.0, 40.0)])
    zones = make_zones([bowtie])
    with pytest.warns(UrbanShrinkWarning, match="repaired 1 invalid polygon"):
        out = zonal_stats(zones, raster, ("count",), zone_id="id")
    assert 40 <= out.loc["a", "count"] <= 60


def test_geographic_areas_follow_latitude(make_raster, make_zones):
    raster = make_raster(np.ones((10, 10), "uint8"), res=1.0, origin=(0.0, 60.0))
    zones = make_zones([box(0, 59, 10, 60), box(0, 50, 10, 51)])
    out = zonal_stats(zones, raster, ("area_km2",), zone_id="id")
    assert out.loc["a", "area_km2"] < out.loc["b", "area_km2"]


def test_threshold_counts_pixels_above(make_raster, make_zones):
    values = np.array([[0, 0.4, 0.6, 2.0]], "float32")
    raster = make_raster(values)
    zones = make_zones([box(100.0, 39.99, 100.04, 40.0)])
    out = zonal_stats(
        zones, raster, ("above_count", "above_km2", "area_km2"), zone_id="id", threshold=0.5
    )
    assert out.loc["a", "above_count"] == 2
    assert out.loc["a", "above_km2"] == pytest.approx(out.loc["a", "area_km2"] / 2)


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


def test_engine_is_frozen_and_refuses_bad_settings():
    import dataclasses

    from urbanshrink_gis import ConfigError, Engine

    engine = Engine(workers=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        engine.workers = 3  # type: ignore[misc]
    assert engine.with_coverage("exact") == Engine("exact", "threads", 2)
    for bad, message in (
        (dict(coverage="centre"), "unknown coverage 'centre'"),
        (dict(scheduler="gpu"), "unknown scheduler 'gpu'"),
        (dict(workers=0), "workers must be at least 1"),
    ):
        with pytest.raises(ConfigError, match=message):
            Engine(**bad)
