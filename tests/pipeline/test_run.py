"""pipeline/run.py: the whole job on the bundled demo; the demo's folder checked before writing.

The demo (session fixture ``demo_run``) is generated with a known truth (data/truth.csv): the
classes, the built-up growth and the dark new district come back.
"""

import shutil

import pandas as pd
import pytest

from conftest import assert_one_line_error, cli_run, full_tree
from urbanshrink_gis import pipeline
from urbanshrink_gis.errors import OutputExistsError


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


def test_city_year_is_long_with_population(demo_run):
    result, _ = demo_run
    cy = result.city_year
    assert list(cy.columns[:2]) == ["city_id", "year"]
    assert {"builtup_km2", "ntl_sum", "lit_km2", "pop_resident"} <= set(cy.columns)
    assert not cy.duplicated(["city_id", "year"]).any()


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


# --- the demo's folder, checked before its dataset is written ------------------------------


def test_dangling_symlink_as_the_demos_out_is_refused(tmp_path):
    link = tmp_path / "demo"
    link.symlink_to(tmp_path / "gone")
    assert_one_line_error(cli_run("run", "--out", link), str(link), "symbolic link")
    assert not (tmp_path / "gone").exists()


@pytest.mark.parametrize("taken", ["data/rasters", "data", ".checkpoints", "rasters"])
def test_the_demo_checks_its_folder_before_writing_its_dataset(tmp_path, taken):
    out = tmp_path / "demo"
    (out / taken).parent.mkdir(parents=True, exist_ok=True)
    (out / taken).write_text("the user's own file")
    before = full_tree(out)
    result = cli_run("run", "--out", out)
    assert_one_line_error(result, f"{(out / taken).as_posix()} is a file where an output folder")
    assert full_tree(out) == before


def test_the_demo_on_a_short_disk_writes_nothing(tmp_path, monkeypatch):
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: real(p)._replace(free=2**20))
    result = cli_run("run", "--out", tmp_path / "demo")
    assert_one_line_error(result, str(tmp_path), "has 1 MB free", "about 16 MB")
    assert not (tmp_path / "demo").exists()
