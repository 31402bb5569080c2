import pandas as pd
import pytest

from urbanshrink_gis import pipeline
from urbanshrink_gis.errors import ConfigError, OutputExistsError, RasterError


def test_demo_recovers_the_generators_truth(demo_run):
    result, out = demo_run
    truth = pd.read_csv(out / "data" / "truth.csv", dtype={"city_id": str}).set_index("city_id")
    cities = result.cities.set_index("city_id")
    assert len(cities) == len(truth) == 40
    assert (cities.loc[truth.index, "class"] == truth["class"]).all()
    assert cities["paradox"].sum() == (truth["class"] == "shrinking_expanding").sum()


def test_demo_builtup_follows_the_generator(demo_run):
    result, out = demo_run
    truth = pd.read_csv(out / "data" / "truth.csv", dtype={"city_id": str}).set_index("city_id")
    cities = result.cities.set_index("city_id")
    plain = truth.index[truth["new_district"] == "none"]
    expected = truth.loc[plain, "builtup_growth"] * 100
    got = cities.loc[plain, "builtup_change_pct"]
    assert (got - expected).abs().max() < 3.0  # discs are drawn on 250 m pixels


def test_demo_writes_every_output_and_refuses_to_overwrite(demo_run):
    result, out = demo_run
    from urbanshrink_gis.export.report.html import REPORT_FILES

    names = {p.name for p in result.files}
    assert {"urbanshrink.gpkg", "cities.csv", "city_year.csv", "summary.csv"} <= names
    assert "sensitivity.csv" in names
    pages = {p.name for p in result.files if p.parent.name == "report"}
    assert "report.html" in pages and pages <= set(REPORT_FILES)
    with pytest.raises(OutputExistsError, match="--overwrite"):
        pipeline.run_demo(out)


def test_demo_measures_both_scopes_and_anshan_grows_in_town(demo_run):
    """鞍山 (210300) loses residents (-8.8 %, census) while its urban residents grow: a paradox
    city as a prefecture, a growing one in its urban footprint."""
    result, out = demo_run
    prefecture, urban = (one.cities.set_index("city_id") for one in result.scopes)
    assert prefecture.loc["210300", "class"] == "shrinking_expanding"
    assert urban.loc["210300", "class"] == "growing_expanding"
    assert urban.loc["210300", "pop_change_pct"] > 0 > prefecture.loc["210300", "pop_change_pct"]
    assert (urban["footprint_km2"].dropna() < urban["builtup_km2_start"].dropna() * 2).all()
    scopes = pd.read_csv(out / "scopes.csv", index_col=0)
    assert list(scopes.index) == ["prefecture", "urban"]
    assert scopes.loc["urban", "shrinking"] < scopes.loc["prefecture", "shrinking"]
    assert set(pd.read_csv(out / "city_year_urban.csv")["scope"]) == {"urban"}


def test_city_year_is_long_with_population(demo_run):
    result, _ = demo_run
    cy = result.city_year
    assert list(cy.columns[:2]) == ["city_id", "year"]
    assert {"builtup_km2", "ntl_sum", "lit_km2", "pop_resident"} <= set(cy.columns)
    assert not cy.duplicated(["city_id", "year"]).any()


def write_config(tmp_path, text):
    path = tmp_path / "run.toml"
    path.write_text(text, encoding="utf-8")
    return path


BASE = """
[boundaries]
path = "b.gpkg"
id = "adcode"

[[rasters]]
kind = "nightlight"
product = "vnl2"
path = "ntl/vnl2_{year}.tif"

[analysis]
start = 2010
end = 2020
"""


def test_config_paths_are_relative_to_the_file(tmp_path):
    cfg = pipeline.load_config(write_config(tmp_path, BASE))
    assert cfg.boundaries.path == tmp_path / "b.gpkg"
    assert cfg.rasters[0].path == str(tmp_path / "ntl" / "vnl2_{year}.tif")
    assert cfg.analysis.start == 2010


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ("[analysis]", "[analysis]\nshrink_rul = 'period'"),
            "unknown key 'shrink_rul'.*'shrink_rule'",
        ),
        (("end = 2020", "end = 'soon'"), "'soon' is a str, not int"),
        (("end = 2020", "end = 2000"), "end year 2000 is not after start year 2010"),
        (('product = "vnl2"', 'product = "vnl2"\nkidn = 1'), "unknown key 'kidn'.*'kind'"),
        (('path = "ntl/vnl2_{year}.tif"', 'path = "ntl/vnl2.tif"'), "has no \\{year\\}"),
        (("[boundaries]", "[boundary]"), "unknown key 'boundary'.*'boundaries'"),
    ],
)
def test_config_errors_name_the_key_and_the_fix(tmp_path, edit, message):
    text = BASE.replace(*edit, 1)
    with pytest.raises(ConfigError, match=message):
        pipeline.load_config(write_config(tmp_path, text))


def test_discover_years_and_missing_pattern(tmp_path):
    for year in (2012, 2016):
        (tmp_path / f"vnl2_{year}.tif").write_bytes(b"")
    (tmp_path / "vnl2_20x6.tif").write_bytes(b"")
    assert pipeline.discover_years(str(tmp_path / "vnl2_{year}.tif")) == (2012, 2016)
    with pytest.raises(RasterError, match="no file matches"):
        pipeline.raster_series(str(tmp_path / "dmsp_{year}.tif"))


def test_demo_finds_the_dark_new_district(demo_run):
    result, out = demo_run
    truth = pd.read_csv(out / "data" / "truth.csv", dtype={"city_id": str}).set_index("city_id")
    cities = result.cities.set_index("city_id")
    dark, lit = "230400", "230100"  # 鹤岗 builds a district that stays dark, 哈尔滨 a lit one
    assert truth.loc[dark, "new_district"] == "dark" and truth.loc[lit, "new_district"] == "lit"
    expected = truth.loc[dark, "new_dark_builtup_km2"]
    assert abs(cities.loc[dark, "new_dark_builtup_km2"] - expected) <= 0.01 * expected
    assert cities.loc[lit, "new_dark_builtup_km2"] <= 0.01 * truth.loc[lit, "new_district_km2"]
    assert cities.loc[lit, "new_builtup_km2"] >= truth.loc[lit, "new_district_km2"]
    assert (
        cities.loc[dark, "dark_builtup_share_pct_end"]
        > cities.loc[dark, "dark_builtup_share_pct_start"]
    )
    assert cities["hollowing"].fillna(False).astype(bool).sum() == 1
    assert bool(cities.loc[dark, "hollowing"]) and not bool(cities.loc[lit, "hollowing"])
    assert result.summary.loc["all", "hollowing"] == 1
    assert (out / "rasters" / "new_builtup_dark.tif").exists()
    page = (out / "report" / "report.html").read_text(encoding="utf-8")
    section = page.split("<h2>New built-up land in the dark</h2>", 1)[1].split("<h2>", 1)[0]
    assert "鹤岗市" in section and "data:image/png;base64," in section


def test_demo_rasters_are_valid_cogs_with_styles(demo_run):
    from rio_cogeo.cogeo import cog_validate

    _, out = demo_run
    rasters = sorted((out / "rasters").glob("*.tif"))
    assert {p.stem.split("_20")[0] for p in rasters} >= {
        "builtup_change",
        "ntl_change",
        "ntl_trend",
        "new_builtup_dark",
    }
    for path in rasters:
        valid, errors, _ = cog_validate(str(path), strict=True)
        assert valid, (path.name, errors)
        assert path.with_suffix(".qml").exists()


def test_demo_report_lists_every_city(demo_run):
    result, out = demo_run
    page = (out / "report" / "report.html").read_text(encoding="utf-8")
    assert 'src="data:image/png;base64,' in page
    assert 'src="chart' not in page  # every image is embedded
    for city_id, name in zip(result.cities["city_id"], result.cities["name"], strict=True):
        assert city_id in page and name in page


def test_demo_writes_the_sensitivity_table(demo_run):
    import pyogrio

    from urbanshrink_gis.analysis import BUILTUP_THRESHOLDS, POP_THRESHOLDS, sensitivity

    result, out = demo_run
    grid = pd.read_csv(out / "sensitivity.csv", index_col=[0, 1])
    assert len(grid) == len(POP_THRESHOLDS) * len(BUILTUP_THRESHOLDS)
    assert grid["configured"].sum() == 1
    # the configured cell is the run's own headline
    mine = grid[grid["configured"] == 1].iloc[0]
    assert mine["paradox"] == result.summary.loc["all", "paradox"]
    assert mine["hollowing"] == result.summary.loc["all", "hollowing"]
    config = pipeline.load_config(out / "data" / "urbanshrink.toml")
    again = sensitivity(result.city_year, config.analysis)  # no new built-up: a lower bound
    assert (again["shrinking"].to_numpy() == grid["shrinking"].to_numpy()).all()
    assert "sensitivity" in [name for name, _ in pyogrio.list_layers(out / "urbanshrink.gpkg")]
    page = (out / "report" / "report.html").read_text(encoding="utf-8")
    assert "<h2>Sensitivity</h2>" in page
