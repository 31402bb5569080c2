# Integration tests: the national check, end to end over every stage, not one module.
"""The real 375 prefecture-level boundaries and the 2010/2020 census, with generated coarse
national rasters: the national counts the issues quote come back."""

import dataclasses

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from conftest import CHINA_CENSUS, CHINA_CITIES, requires_shared
from urbanshrink_gis import pipeline
from urbanshrink_gis.analysis import AnalysisConfig, analyse, summarise
from urbanshrink_gis.errors import ConfigError
from urbanshrink_gis.io.boundaries import read_boundaries

pytestmark = [requires_shared, pytest.mark.filterwarnings("ignore::UserWarning")]

RES = 0.05
WEST, NORTH, WIDTH, HEIGHT = 73.0, 54.0, 1260, 1020  # lon 73-136, lat 3-54


def _write(path, array, nodata):
    profile = dict(
        driver="GTiff", width=WIDTH, height=HEIGHT, count=1, dtype=array.dtype, nodata=nodata,
        crs="EPSG:4326", transform=from_origin(WEST, NORTH, RES, RES), tiled=True,
        blockxsize=256, blockysize=256, compress="deflate",
    )  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array, 1)


@pytest.fixture(scope="module")
def national(tmp_path_factory):
    folder = tmp_path_factory.mktemp("national")
    rng = np.random.default_rng(11)
    # Built-up surface in every cell (GHSL-like m² per cell), growing by 5 % over the decade.
    base = rng.integers(100, 5000, size=(HEIGHT, WIDTH)).astype(np.uint16)
    for year, growth in ((2010, 1.0), (2020, 1.05)):
        built = (base * growth).astype(np.uint16)
        _write(folder / f"ghsl_{year}.tif", built, 65535)
        light = (rng.gamma(1.0, 2.0, size=base.shape) * (built > 2500)).astype("float32")
        _write(folder / f"vnl2_{year}.tif", light, None)
    text = f"""
[boundaries]
path = "{CHINA_CITIES}"
layer = "cn_city"
id = "city_adcode"
name = "city_name"
province = "province_name"

[[rasters]]
kind = "landcover"
product = "ghsl_built_s"
path = "{folder}/ghsl_{{year}}.tif"
coverage = "all_touched"  # the smallest units (澳门) are smaller than a coarse pixel
crs = "EPSG:4326"  # a coarse geographic copy of the product, said so the preset check passes
pixel_size = 0.05

[[rasters]]
kind = "nightlight"
product = "custom"  # synthetic light for the census years (VNL v2 starts in 2012)
path = "{folder}/vnl2_{{year}}.tif"
dtype = "float32"
lit_threshold = 0.0

[population]
path = "{CHINA_CENSUS}"
id = "city_code"
resident = "popu_{{year}}"
urban = "popu_urban_{{year}}"
age60 = "age_60_{{year}}"

[analysis]
start = 2010
end = 2020
"""
    (folder / "run.toml").write_text(text, encoding="utf-8")
    config = pipeline.load_config(folder / "run.toml")
    b = config.boundaries
    boundaries = read_boundaries(b.path, id_field=b.id, name_field=b.name, layer=b.layer)
    city_year = pipeline.city_year_table(config, boundaries)
    return config, boundaries, city_year


def test_156_of_356_mainland_units_lost_resident_population(national):
    config, _, city_year = national
    cities = analyse(city_year, config.analysis)
    both = cities[cities["pop_change_pct"].notna()]  # units with both censuses
    mainland = both[~both.index.str[:2].isin(["71", "81", "82"])]
    assert (len(both), len(mainland)) == (358, 356)
    assert int((mainland["pop_change_pct"] < 0).sum()) == 156
    assert int((both["pop_change_pct"] < 0).sum()) == 156  # 香港 and 澳门 grew
    assert int(both["shrinking"].sum()) == 156 and (both["class"] != "no_data").all()


def test_municipality_codes_are_aliased(national):
    _, _, city_year = national
    beijing = city_year[(city_year["city_id"] == "110000") & (city_year["year"] == 2020)]
    assert beijing["pop_resident"].item() == pytest.approx(21_893_095)
    assert not city_year["city_id"].isin(["110100", "120100", "310100", "500100"]).any()


def test_heilongjiang_tally_is_13_of_13(national):
    config, boundaries, city_year = national
    cities = analyse(city_year, config.analysis)
    summary = summarise(cities, boundaries.set_index("city_id")["province_name"])
    hlj = summary.loc["黑龙江省"]
    assert (hlj["n_cities"], hlj["shrinking"]) == (13, 13)
    assert summary.loc["all", "shrinking"] == 156


def test_qitaihe_ageing_comes_from_the_census(national):
    config, _, city_year = national
    cities = analyse(city_year, config.analysis)
    assert cities.loc["230900", "age60_share_pct_end"] == pytest.approx(22.5, abs=0.05)
    assert bool(cities.loc["230900", "ageing"])


def test_multi_rule_on_a_census_only_table_says_what_is_missing(national):
    _, _, city_year = national
    multi = AnalysisConfig(2010, 2020, shrink_rule="multi", criteria=("pop_decline", "mismatch"))
    with pytest.raises(ConfigError, match=r"annual pop_resident for years 2017\.\.2020.*2019"):
        analyse(city_year, multi)
    # Without the annual criterion the same table is judged (on built-up against population).
    judged = analyse(city_year, dataclasses.replace(multi, criteria=("mismatch",)))
    assert judged["crit_pop_decline"].isna().all() and judged["crit_mismatch"].notna().any()
