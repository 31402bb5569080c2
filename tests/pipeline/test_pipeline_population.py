# Integration tests: population series and weights end to end through the run, not one module.
"""A population raster series and population weights for night light, through `urbanshrink run`.

The demo's real boundaries and seeded rasters, plus seeded population rasters on a 1′ grid:
the light is on the harmonized DMSP 30″ grid, so the weights are warped onto it (nearest).
Columns of the run are checked against direct calls of the zonal engine, whose statistics are
checked against brute force and exactextract in ``zonal/test_engine.py``.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import rasterio
from click.testing import CliRunner
from rasterio.transform import from_origin

from urbanshrink_gis import pipeline, read_boundaries, zonal_stats
from urbanshrink_gis.cli import cli
from urbanshrink_gis.demo import write_demo_data
from urbanshrink_gis.errors import ConfigError

NODATA = -99999.0
YEARS = (2010, 2015, 2020)


def write_population(path, seed: int) -> None:
    """People per 1′ cell over the demo's extent (112-136°E, 29-54°N), with a nodata strip."""
    rng = np.random.default_rng(seed)
    people = rng.gamma(1.0, 50.0, (1500, 1440)).astype("float32")
    people[:, 500:505] = NODATA
    profile = dict(
        driver="GTiff", height=1500, width=1440, count=1, dtype="float32", nodata=NODATA,
        crs="EPSG:4326", transform=from_origin(112.0, 54.0, 1 / 60, 1 / 60), tiled=True,
        compress="deflate",
    )  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(people, 1)


@pytest.fixture(scope="module")
def demo_with_population(tmp_path_factory):
    root = tmp_path_factory.mktemp("popdemo")
    demo = write_demo_data(root / "data")
    (demo.root / "pop").mkdir()
    for year in YEARS:
        write_population(demo.root / "pop" / f"worldpop_{year}.tif", seed=year)
    text = demo.config.read_text(encoding="utf-8").replace(
        'path = "rasters/ntl/Harmonized_DN_NTL_{year}_*.tif"',
        'path = "rasters/ntl/Harmonized_DN_NTL_{year}_*.tif"\nweights = "pop/worldpop_{year}.tif"',
    )
    text = text.replace(
        "[population]",
        '[[rasters]]\nkind = "population"\nproduct = "worldpop"\n'
        'path = "pop/worldpop_{year}.tif"\n'
        "pixel_size = 0.016666666666666666  # a 1' test copy of WorldPop's 3\" grid\n\n"
        "[population]",
    )
    config = demo.root / "population.toml"
    config.write_text(text, encoding="utf-8")
    return demo, config


def test_run_with_a_population_series_and_weights(demo_with_population, tmp_path):
    demo, config = demo_with_population
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["-qq", "run", str(config), "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "city_year.csv", dtype={"city_id": str})
    assert {"pop_grid", "pop_resident", "ntl_pop_weighted_mean", "ntl_area_sum"} <= set(table)
    year = table[table["year"] == 2020].set_index("city_id")
    assert year["pop_grid"].notna().all() and year["ntl_pop_weighted_mean"].notna().all()
    cities = read_boundaries(demo.boundaries, id_field="adcode", layer="cities")
    pop = demo.root / "pop" / "worldpop_2020.tif"
    direct = zonal_stats(cities, pop, ("sum",), zone_id="city_id", nodata=NODATA)
    assert year["pop_grid"].to_numpy() == pytest.approx(direct.loc[year.index, "sum"], rel=1e-9)
    ntl = demo.root / "rasters" / "ntl" / "Harmonized_DN_NTL_2020_simVIIRS.tif"
    light = zonal_stats(
        cities, ntl, ("sum", "area_sum", "weighted_mean"), zone_id="city_id", weights=pop
    )
    got = year[["ntl_pop_weighted_mean", "ntl_area_sum"]].to_numpy()
    assert got == pytest.approx(light.loc[year.index, ["weighted_mean", "area_sum"]], rel=1e-9)
    # a 30″ pixel covers 0.74 km² at 31°N and 0.50 km² at 54°N: the area sum is the pixel
    # sum times that, so the ratio tells each city's latitude
    ratio = year["ntl_area_sum"] / year["ntl_sum"]
    assert ratio.between(0.48, 0.75).all()
    north, south = ratio.idxmin(), ratio.idxmax()
    assert cities.set_index("city_id").loc[[north, south], "lat"].is_monotonic_decreasing
    cities_out = pd.read_csv(out / "cities.csv", dtype={"city_id": str})
    assert len(cities_out) == 40


def test_weights_file_is_in_the_checkpoint_fingerprint(demo_with_population, tmp_path, caplog):
    _, config = demo_with_population
    base = pipeline.load_config(config)
    ntl = next(r for r in base.rasters if r.kind == "nightlight")
    pop = next(r for r in base.rasters if r.kind == "population")
    weights = tmp_path / "w_{year}.tif"
    for year in YEARS:
        write_population(str(weights).replace("{year}", str(year)), seed=year)
    ntl = pipeline.RasterConfig(**{**_fields(ntl), "weights": str(weights), "years": YEARS})
    cfg = pipeline.RunConfig(base.boundaries, (ntl, pop), base.analysis)
    store = tmp_path / "checkpoints"
    caplog.set_level(logging.INFO, logger="urbanshrink_gis.pipeline")
    first = pipeline.city_year_table(cfg, checkpoints=store)
    assert "checkpoints: 0 reused, 6 computed" in caplog.text
    caplog.clear()
    write_population(str(weights).replace("{year}", "2020"), seed=7)  # other weights in 2020
    second = pipeline.city_year_table(cfg, checkpoints=store)
    assert "checkpoints: 5 reused, 1 computed" in caplog.text
    col = "ntl_pop_weighted_mean"
    same = first["year"] != 2020
    assert (first.loc[same, col] == second.loc[same, col]).all()
    assert (first.loc[~same, col] != second.loc[~same, col]).any()
    assert (first["pop_grid"] == second["pop_grid"]).all()


def _fields(raster: pipeline.RasterConfig) -> dict:
    return {f: getattr(raster, f) for f in raster.__slots__}


def test_config_keys_of_population_series_are_checked(demo_with_population, tmp_path):
    demo, config = demo_with_population
    text = config.read_text(encoding="utf-8")
    bad = text.replace('product = "clcd"', 'product = "clcd"\nweights = "pop/x_{year}.tif"')
    path = demo.root / "bad.toml"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(ConfigError, match="weights applies to kind = 'nightlight' series"):
        pipeline.load_config(path)
    both = text.replace(
        'product = "worldpop"', 'product = "worldpop"\npopulation_column = "pop_resident"'
    )
    path.write_text(both, encoding="utf-8")
    with pytest.raises(ConfigError, match="so does the \\[population\\] table"):
        pipeline.load_config(path)
    zero = text.replace('product = "worldpop"', 'product = "worldpop"\ndefault_value = 0')
    path.write_text(zero, encoding="utf-8")
    (raster,) = [r for r in pipeline.load_config(path).rasters if r.kind == "population"]
    assert raster.default_value == 0.0 and raster.population_column == "pop_grid"


def test_weights_nodata_stands_in_for_a_missing_nodata_tag(demo_with_population, tmp_path):
    """Weights files without a nodata tag: ``weights_nodata`` gives the tagged files' result;
    without it the fill (-99999 people) weighs in and the weighted mean goes wrong."""
    _, config = demo_with_population
    base = pipeline.load_config(config)
    ntl = next(r for r in base.rasters if r.kind == "nightlight")
    untagged = tmp_path / "untagged_{year}.tif"
    for year in YEARS:
        path = str(untagged).replace("{year}", str(year))
        write_population(path, seed=year)
        with rasterio.open(path, "r+") as dst:
            dst.nodata = None
    results = {}
    for name, weights, fill in [
        ("tagged", ntl.weights, None),
        ("untagged", str(untagged), None),
        ("stated", str(untagged), NODATA),
    ]:
        raster = pipeline.RasterConfig(
            **{**_fields(ntl), "weights": weights, "weights_nodata": fill, "years": (2020,)}
        )
        cfg = pipeline.RunConfig(base.boundaries, (raster,), base.analysis)
        results[name] = pipeline.city_year_table(cfg)["ntl_pop_weighted_mean"]
    pd.testing.assert_series_equal(results["stated"], results["tagged"])
    assert not np.allclose(results["untagged"], results["tagged"], equal_nan=True)
    text = config.read_text(encoding="utf-8").replace(
        'product = "clcd"', 'product = "clcd"\nweights_nodata = -99999.0'
    )
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="weights_nodata applies to kind = 'nightlight'"):
        pipeline.load_config(path)


def test_nightlight_command_takes_weights(demo_with_population, tmp_path):
    """`urbanshrink nightlight --weights` gives the run's ntl_pop_weighted_mean."""
    demo, _ = demo_with_population
    out = tmp_path / "ntl.csv"
    args = [
        "-qq", "nightlight", str(demo.root / "rasters/ntl/Harmonized_DN_NTL_{year}_*.tif"),
        str(demo.boundaries), "--layer", "cities", "--id", "adcode",
        "--product", "dmsp_harmonized", "--years", "2020",
        "--weights", str(demo.root / "pop/worldpop_{year}.tif"), "-o", str(out),
    ]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, dtype={"adcode": str}).set_index("adcode")
    cities = read_boundaries(demo.boundaries, id_field="adcode", layer="cities")
    ntl = demo.root / "rasters" / "ntl" / "Harmonized_DN_NTL_2020_simVIIRS.tif"
    pop = demo.root / "pop" / "worldpop_2020.tif"
    direct = zonal_stats(cities, ntl, ("weighted_mean",), zone_id="city_id", weights=pop)
    got = table.loc[direct.index, "ntl_pop_weighted_mean"].to_numpy()
    assert got == pytest.approx(direct["weighted_mean"].to_numpy(), rel=1e-9)
    alone = CliRunner().invoke(cli, [*args[:-4], "--weights-nodata", "0", "-o", str(out)])
    assert alone.exit_code == 2 and "give --weights too" in alone.output
