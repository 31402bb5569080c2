"""pipeline/scopes.py: the prefecture and the urban scope of one run: a crafted case, the demo.

The crafted case (tests/urban_case.py) is a paradox city as a prefecture and a growing one in
its urban footprint; so is 鞍山 in the demo.
"""

from __future__ import annotations

import warnings

import pandas as pd
import pyogrio
import pytest

from urban_case import case_config
from urbanshrink_gis import pipeline
from urbanshrink_gis.errors import UrbanShrinkWarning


def test_both_scopes_classify_the_crafted_case_as_the_science_says(crafted):
    folder, text = crafted
    config = case_config(folder, text, "[boundaries.urban]\nmin_km2 = 1.0\nbuffer_m = 1000.0\n")
    with pytest.warns(UrbanShrinkWarning, match="420200"):
        result = pipeline.run(config, out_dir=folder / "out", with_report=True)
    prefecture, urban = result.scopes
    assert (prefecture.scope, urban.scope) == ("prefecture", "urban")
    west = prefecture.cities.set_index("city_id").loc["420100"]
    assert west["pop_change_pct"] == pytest.approx(-10.0)
    assert west["class"] == "shrinking_expanding" and west["paradox"]
    town = urban.cities.set_index("city_id").loc["420100"]
    assert town["pop_change_pct"] == pytest.approx(10.0)  # the urban residents
    core = (67 * 67, 81 * 81)  # built-up pixels of the core in 2010 and 2020 (pond excluded)
    pond = 50
    expected = ((core[1] - pond) / (core[0] - pond) - 1) * 100
    assert town["builtup_change_pct"] == pytest.approx(expected, rel=1e-6)  # sprawl left out
    assert town["class"] == "growing_expanding" and not town["paradox"]
    assert pd.isna(urban.cities.set_index("city_id").loc["420200", "class"]) or (
        urban.cities.set_index("city_id").loc["420200", "class"] == "no_data"
    )
    # the pairing is stated in every output
    assert set(prefecture.cities["pop_basis"]) == {
        "pop_resident: the table's residents of the prefecture"
    }
    assert set(urban.city_year["pop_basis"]) == {
        "pop_urban: the table's urban residents of the prefecture"
    }
    assert set(urban.city_year["scope"]) == {"urban"}
    out = folder / "out"
    layers = set(pyogrio.list_layers(out / "urbanshrink.gpkg")[:, 0])
    assert {"cities", "cities_urban", "city_year_urban", "urban_footprint", "scopes"} <= layers
    scopes = pd.read_csv(out / "scopes.csv", index_col=0)
    assert scopes.loc["prefecture", "paradox"] == 1 and scopes.loc["urban", "paradox"] == 0
    written = pd.read_csv(out / "cities_urban.csv", dtype={"city_id": str}).set_index("city_id")
    assert written.loc["420100", "scope"] == "urban"
    html = (out / "report" / "report.html").read_text(encoding="utf-8")
    assert "Prefecture and urban scope" in html and "Unit: prefectures" in html


def test_a_rerun_reuses_the_footprints_and_the_urban_checkpoints(crafted, caplog):
    folder, text = crafted
    config = case_config(folder, text)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UrbanShrinkWarning)
        first = pipeline.run(config, out_dir=folder / "out", with_report=False)
        checkpoints = sorted((folder / "out" / ".checkpoints" / "urban").iterdir())
        stamps = [p.stat().st_mtime_ns for p in checkpoints]
        with caplog.at_level("INFO", logger="urbanshrink_gis.pipeline"):
            again = pipeline.run(config, out_dir=folder / "out", with_report=False, overwrite=True)
    assert any(p.name.startswith("urban-footprint-2010") for p in checkpoints)
    assert [p.stat().st_mtime_ns for p in checkpoints] == stamps  # nothing rewritten
    assert "0 computed" in caplog.text
    pd.testing.assert_frame_equal(first.scopes[1].city_year, again.scopes[1].city_year)


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
