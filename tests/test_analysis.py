"""analysis.py: flags, classes, rules and indicators per city, sensitivity and regional tallies."""

import dataclasses
import itertools
import math
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from conftest import CHINA_CENSUS, CHINA_CITIES, requires_shared
from urbanshrink_gis.analysis import (
    BUILTUP_THRESHOLDS,
    CLASSES,
    COLUMNS,
    POP_THRESHOLDS,
    SENSITIVITY_COLUMNS,
    AnalysisConfig,
    analyse,
    match_population,
    national_gdp_growth_pct,
    sensitivity,
    summarise,
)
from urbanshrink_gis.errors import ConfigError, InputError, UrbanShrinkWarning

# --- a 3-city example worked out by hand --------------------------------------------------------
#
# "230400" shrinks and expands:  pop 1,000,000 -> 800,000 (-20 %), built-up 100 -> 125 km² (+25 %)
# "410100" grows and expands:    pop 2,000,000 -> 2,200,000 (+10 %), built-up 200 -> 242 km² (+21 %)
# "440300" holds and contracts:  pop 500,000 -> 500,000 (0 %), built-up 50 -> 45 km² (-10 %)
HAND = pd.DataFrame(
    [
        ("230400", 2010, 1_000_000, 100.0, 500.0, 80.0, 600_000, 15.0, None, 100.0),
        ("230400", 2020, 800_000, 125.0, 600.0, 90.0, 560_000, 25.0, 1_200_000, 150.0),
        ("410100", 2010, 2_000_000, 200.0, None, None, None, 12.0, 2_100_000, 300.0),
        ("410100", 2020, 2_200_000, 242.0, None, None, None, 14.0, 2_000_000, 330.0),
        ("440300", 2010, 500_000, 50.0, None, None, None, None, None, None),
        ("440300", 2020, 500_000, 45.0, None, None, None, None, None, None),
    ],
    columns=[
        "city_id",
        "year",
        "pop_resident",
        "builtup_km2",
        "ntl_sum",
        "lit_km2",
        "pop_urban",
        "age60_share_pct",
        "pop_registered",
        "gdp",
    ],
).astype({"pop_resident": float, "pop_urban": float, "pop_registered": float})

PERIOD = AnalysisConfig(2010, 2020)


def test_hand_example_indicators():
    out = analyse(HAND, PERIOD)
    assert list(out.columns) == list(COLUMNS)
    assert list(out.index) == ["230400", "410100", "440300"]
    assert out.index.name == "city_id"
    a, b, c = (out.loc[i] for i in out.index)
    # percent changes: (end - start) / start * 100
    assert a["pop_change_pct"] == pytest.approx(-20.0)
    assert a["builtup_change_pct"] == pytest.approx(25.0)
    assert a["ntl_change_pct"] == pytest.approx(20.0)  # 500 -> 600
    assert (a["lit_km2_start"], a["lit_km2_end"]) == (80.0, 90.0)
    assert b["pop_change_pct"] == pytest.approx(10.0)
    assert b["builtup_change_pct"] == pytest.approx(21.0)
    assert c["pop_change_pct"] == 0.0 and c["builtup_change_pct"] == pytest.approx(-10.0)
    # LCR, PGR = ln(end / start) / 10 years, in percent per year; LCRPGR = LCR / PGR where
    # PGR is positive:
    #   230400: PGR = 10 ln(0.8) < 0 -> no ratio (it would read -1), a note says why;
    #           LCR - PGR = 10 (ln 1.25 - ln 0.8) = 20 ln 1.25 > 0: land per person rose
    #   410100: ln(1.21) / ln(1.1) = 2 ln(1.1) / ln(1.1) = 2
    #   440300: population unchanged, PGR = 0 -> NaN
    assert a["pgr_pct_yr"] == pytest.approx(10 * math.log(0.8))
    assert a["lcr_minus_pgr_pct_yr"] == pytest.approx(20 * math.log(1.25))
    assert math.isnan(a["lcrpgr"]) and "PGR < 0" in a["lcrpgr_note"]
    assert b["lcrpgr"] == pytest.approx(2.0) and pd.isna(b["lcrpgr_note"])
    assert math.isnan(c["lcrpgr"]) and "PGR = 0" in c["lcrpgr_note"]
    # built-up per capita in m²: km² * 1e6 / people
    #   230400: 100e6 / 1e6 = 100 -> 125e6 / 8e5 = 156.25
    #   410100: 200e6 / 2e6 = 100 -> 242e6 / 2.2e6 = 110
    #   440300: 50e6 / 5e5 = 100 -> 45e6 / 5e5 = 90
    assert (a["builtup_m2_per_capita_start"], a["builtup_m2_per_capita_end"]) == (100, 156.25)
    assert b["builtup_m2_per_capita_end"] == pytest.approx(110.0)
    assert c["builtup_m2_per_capita_end"] == pytest.approx(90.0)
    # density, people per km² of built-up:
    #   230400: 1e6 / 100 = 10,000 -> 8e5 / 125 = 6,400, change -36 %
    #   410100: 10,000 -> 2.2e6 / 242 = 9,090.9, change 1/1.1 - 1 = -9.0909 %
    #   440300: 10,000 -> 5e5 / 45 = 11,111.1, change 1/0.9 - 1 = +11.11 %
    assert (a["density_start"], a["density_end"]) == (10_000, 6_400)
    assert a["density_change_pct"] == pytest.approx(-36.0)
    assert b["density_change_pct"] == pytest.approx((1 / 1.1 - 1) * 100)
    assert c["density_change_pct"] == pytest.approx((1 / 0.9 - 1) * 100)
    # hukou gap = registered - resident, at start and end; ratio in percent of registered
    #   230400: start no registered -> NaN; end 1.2e6 - 8e5 = 4e5, 33.3 % > 10 % -> sending
    #   410100: start 2.1e6 - 2.0e6 = 1e5 (4.76 %), end 2.0e6 - 2.2e6 = -2e5 (-10 %): not;
    #           change -3e5 persons, -14.76 points
    #   440300: no registered population -> NaN / NA
    assert a["hukou_gap_end"] == 400_000 and a["hukou_gap_ratio_pct_end"] == pytest.approx(100 / 3)
    assert math.isnan(a["hukou_gap_start"]) and math.isnan(a["hukou_gap_change"])
    assert b["hukou_gap_start"] == 100_000 and b["hukou_gap_end"] == -200_000
    assert b["hukou_gap_change"] == -300_000
    assert b["hukou_gap_ratio_pct_start"] == pytest.approx(100 / 21)
    assert b["hukou_gap_ratio_change_pp"] == pytest.approx(-10 - 100 / 21)
    assert (b["pop_registered_start"], b["pop_registered_end"]) == (2_100_000, 2_000_000)
    assert out["sending_city"].tolist()[:2] == [True, False]
    assert out["sending_city"].isna().tolist() == [False, False, True]
    # age 60+: 230400 15 -> 25 (+10 points, > 20 -> ageing); 410100 12 -> 14 (not); 440300 NA
    assert a["age60_share_change_pp"] == 10.0 and b["age60_share_change_pp"] == 2.0
    assert out["ageing"].tolist()[:2] == [True, False] and out["ageing"].isna().iloc[2]
    # urban share: 600k / 1M = 60 %, 560k / 800k = 70 %
    assert (a["urban_share_pct_start"], a["urban_share_pct_end"]) == (60.0, 70.0)
    assert math.isnan(b["urban_share_pct_start"])
    # GDP change: 100 -> 150 = +50 %, 300 -> 330 = +10 %
    assert a["gdp_change_pct"] == pytest.approx(50.0) and b["gdp_change_pct"] == pytest.approx(10)


def test_hand_example_flags_classes_and_dtypes():
    out = analyse(HAND, PERIOD)
    assert out["class"].tolist() == [
        "shrinking_expanding",
        "growing_expanding",
        "stable_contracting",
    ]
    assert out["shrinking"].tolist() == [True, False, False]
    assert out["expanding"].tolist() == [True, True, False]
    assert out["paradox"].tolist() == [True, False, False]
    assert {out[c].dtype.name for c in ("shrinking", "expanding", "paradox")} == {"boolean"}
    for name in ("crit_pop_decline", "crit_econ_lag", "crit_mismatch"):
        assert out[name].dtype == "boolean" and out[name].isna().all()  # not rule "multi"
    assert set(out["class"]) <= {c.code for c in CLASSES}


def test_analyse_leaves_its_input_alone():
    before = HAND.copy()
    analyse(HAND, PERIOD)
    pd.testing.assert_frame_equal(HAND, before)


def test_thresholds_move_cities_to_stable():
    # shrink threshold 25 %: -20 % and +10 % are both within it; expand threshold 22 %:
    # +25 % still expands, +21 % and -10 % are stable
    config = AnalysisConfig(2010, 2020, shrink_threshold_pct=25, expand_threshold_pct=22)
    out = analyse(HAND, config)
    assert out["class"].tolist() == ["stable_expanding", "stable_stable", "stable_stable"]
    assert not out["shrinking"].any() and not out["paradox"].any()
    # exactly at the threshold is within it: -20 % with a 20 % threshold is not shrinking
    out = analyse(HAND, AnalysisConfig(2010, 2020, shrink_threshold_pct=20))
    assert out.loc["230400", "class"] == "stable_expanding"
    out = analyse(HAND, AnalysisConfig(2010, 2020, shrink_threshold_pct=19.9))
    assert out.loc["230400", "class"] == "shrinking_expanding"


def test_missing_population_or_builtup_is_no_data_never_a_guess():
    extra = pd.DataFrame(
        {
            "city_id": ["500100", "500100", "610100", "610100"],
            "year": [2010, 2020, 2010, 2020],
            "pop_resident": [1e6, np.nan, 1e6, 9e5],
            "builtup_km2": [10.0, 20.0, 10.0, np.nan],
        }
    )
    with pytest.warns(UrbanShrinkWarning) as caught:
        out = analyse(pd.concat([HAND, extra], ignore_index=True), PERIOD)
    (message,) = [str(w.message) for w in caught]
    assert message.startswith("2 of 5 units left no_data: ")
    assert "1 without population in 2010 or 2020 ('500100')" in message
    assert "1 without built-up land in 2010 or 2020 ('610100')" in message
    for city in ("500100", "610100"):
        assert out.loc[city, "class"] == "no_data"
    # flags never guess: NA where their inputs are missing, known where they are not
    flags = ["shrinking", "expanding", "paradox"]
    assert _bools(out.loc["500100", flags]) == [None, True, None]  # no population, built-up rose
    assert _bools(out.loc["610100", flags]) == [True, None, None]  # fell 10 %, no built-up
    assert out.loc["500100", "builtup_change_pct"] == 100.0  # indicators stay where data exist
    assert math.isnan(out.loc["500100", "pop_change_pct"])


def test_urban_population_drives_the_rules_when_asked():
    # 230400 urban 600k -> 560k (-6.67 %): shrinking either way; 410100 has no urban -> no_data
    with pytest.warns(UrbanShrinkWarning, match="2 of 3 units left no_data"):
        out = analyse(HAND, AnalysisConfig(2010, 2020, population="urban"))
    assert out.loc["230400", "pop_change_pct"] == pytest.approx(-40 / 6)
    assert out.loc["230400", "builtup_m2_per_capita_start"] == pytest.approx(100e6 / 600_000)
    assert out["class"].tolist() == ["shrinking_expanding", "no_data", "no_data"]
    with pytest.raises(ConfigError, match="pop_urban"):
        analyse(HAND.drop(columns="pop_urban"), AnalysisConfig(2010, 2020, population="urban"))


# --- the consecutive rule -----------------------------------------------------------------------


def _annual(series: dict[str, list[float]], first: int = 2014, interpolated=None) -> pd.DataFrame:
    """Long table of annual population (built-up grows 1 km² a year everywhere)."""
    rows = []
    for city, values in series.items():
        for i, value in enumerate(values):
            flag = bool(interpolated and (city, first + i) in interpolated)
            rows.append((city, first + i, value, 100.0 + i, flag))
    columns = ["city_id", "year", "pop_resident", "builtup_km2", "interpolated"]
    return pd.DataFrame(rows, columns=columns)


def test_consecutive_rule_needs_n_unbroken_read_declines():
    table = _annual(
        {
            "a_falls": [100, 101, 102, 103, 102, 101, 100],  # falls 2018, 2019, 2020
            "b_broken": [120, 119, 118, 117, 116, 117, 100],  # 2019 rises: not 3 in a row
            "c_two": [90, 101, 102, 103, 104, 99, 98],  # falls only 2019, 2020; grew overall
            "d_interp": [110, 109, 108, 107, 106, 105, 104],  # 2019 interpolated
        },
        interpolated={("d_interp", 2019)},
    )
    consecutive = AnalysisConfig(2014, 2020, shrink_rule="consecutive", consecutive_years=3)
    with pytest.warns(UrbanShrinkWarning, match=r"1 undecidable .*\('d_interp'\)"):
        out = analyse(table, consecutive)
    assert _bools(out["shrinking"]) == [True, False, False, None]
    assert out.loc["a_falls", "class"] == "shrinking_expanding"
    assert out.loc["b_broken", "class"] == "stable_expanding"  # fell over the period, not by rule
    assert out.loc["c_two", "class"] == "growing_expanding"
    # d_interp fell every year, but the 2018->2019 and 2019->2020 steps touch an interpolated
    # value, so the decline is undecided, never taken as evidence
    assert out.loc["d_interp", "class"] == "no_data"
    # the period rule sees every city but a_falls and c_two shrinking
    out = analyse(table, AnalysisConfig(2014, 2020))
    assert out["shrinking"].tolist() == [False, True, False, True]
    # "both": period and consecutive
    with pytest.warns(UrbanShrinkWarning, match="d_interp"):
        out = analyse(table, AnalysisConfig(2014, 2020, shrink_rule="both"))
    assert _bools(out["shrinking"]) == [False, False, False, None]
    # two years suffice for c_two
    two = AnalysisConfig(2014, 2020, shrink_rule="consecutive", consecutive_years=2)
    with pytest.warns(UrbanShrinkWarning, match="d_interp"):
        out = analyse(table, two)
    assert _bools(out["shrinking"]) == [True, False, True, None]


def test_interpolated_series_between_censuses_is_not_a_decline():
    # a census city: read 2010 and 2020, straight-line interpolation between (falls every year)
    values = np.linspace(1_000_000, 900_000, 11).tolist()
    interpolated = {("census", y) for y in range(2011, 2020)}
    table = _annual({"census": values, "annual": values}, first=2010, interpolated=interpolated)
    with pytest.warns(UrbanShrinkWarning, match="census"):
        out = analyse(table, AnalysisConfig(2010, 2020, shrink_rule="consecutive"))
    assert out.loc["annual", "shrinking"] and pd.isna(out.loc["census", "shrinking"])
    assert out.loc["census", "class"] == "no_data"
    # an interpolated end year is not evidence under the period rule either
    with pytest.warns(UrbanShrinkWarning, match="with population interpolated in 2010 or 2015"):
        out = analyse(table, AnalysisConfig(2010, 2015))
    assert out.loc["annual", "class"] == "shrinking_expanding"
    assert out.loc["census", "class"] == "no_data" and pd.isna(out.loc["census", "shrinking"])


def test_census_only_table_is_refused_with_the_years_it_lacks():
    census = HAND  # rows for 2010 and 2020 only
    message = re.escape(
        '[analysis] shrink_rule: shrink_rule "consecutive" needs annual pop_resident for years '
        "2017..2020 (read, not interpolated); absent: 2017, 2018, 2019"
    )
    with pytest.raises(ConfigError, match=message):
        analyse(census, AnalysisConfig(2010, 2020, shrink_rule="consecutive"))
    # interpolated years do not count as present
    values = np.linspace(10, 9, 11).tolist()
    everywhere = {("x", y) for y in range(2011, 2020)}
    filled = _annual({"x": values}, first=2010, interpolated=everywhere)
    with pytest.raises(ConfigError, match="absent: 2017, 2018, 2019"):
        analyse(filled, AnalysisConfig(2010, 2020, shrink_rule="both"))
    multi = AnalysisConfig(2010, 2020, shrink_rule="multi", national_gdp_growth_pct=50.0)
    with pytest.raises(ConfigError, match='criterion "pop_decline" of shrink_rule "multi"') as e:
        analyse(census, multi)
    # the fix never suggests dropping the criterion that defines a shrinking city
    assert 'use shrink_rule = "period"' in str(e.value) and "drop" not in str(e.value)


# --- the multi-criteria rule --------------------------------------------------------------------

YEARS = range(2010, 2021)


def _generate(truths: dict[str, tuple[bool, bool, bool]]) -> pd.DataFrame:
    """Annual population, GDP and built-up for cities whose criteria are known by construction.

    truth = (pop_decline, econ_lag, mismatch):
    - pop_decline: population falls 1 % every year; otherwise it also falls 1 % a year except
      in 2019, when it rises 0.5 % (so it falls over the period, but not 3 years in a row).
    - econ_lag: GDP 100 -> 120 (+20 %); otherwise 100 -> 250 (+150 %). With equal starting
      GDP the national aggregate lies strictly between, as long as both kinds exist.
    - mismatch: built-up grows 2 % a year while population falls; otherwise built-up falls
      2 % a year, faster than population (built-up per person falls).
    """
    rows = []
    for city, (decline, lag, mismatch) in truths.items():
        pop, gdp_end = 1_000_000.0, 120.0 if lag else 250.0
        for i, year in enumerate(YEARS):
            if i:
                pop *= 1.005 if (year == 2019 and not decline) else 0.99
            builtup = 100.0 * (1.02 if mismatch else 0.98) ** i
            gdp = 100.0 + (gdp_end - 100.0) * i / (len(YEARS) - 1)
            rows.append((city, year, pop, builtup, gdp))
    return pd.DataFrame(rows, columns=["city_id", "year", "pop_resident", "builtup_km2", "gdp"])


TRUTHS = {
    "c1": (True, True, True),  # all three: shrinking
    "c2": (False, True, True),
    "c3": (True, False, True),
    "c4": (True, True, False),
    "c5": (False, False, False),
}
MULTI = AnalysisConfig(2010, 2020, shrink_rule="multi", national_gdp_growth_pct=80.0)


def test_multi_criteria_match_the_generator():
    out = analyse(_generate(TRUTHS), MULTI)
    for k, name in enumerate(("crit_pop_decline", "crit_econ_lag", "crit_mismatch")):
        assert out[name].dtype == "boolean"
        assert out[name].tolist() == [t[k] for t in TRUTHS.values()], name
    assert out["shrinking"].tolist() == [all(t) for t in TRUTHS.values()]
    assert out.loc["c1", "class"] == "shrinking_expanding" and out.loc["c1", "paradox"]
    assert out.loc["c4", "class"] == "stable_contracting"  # fell, but not shrinking by "multi"


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans(), st.booleans()), min_size=1, max_size=6))
def test_multi_criteria_match_the_generator_for_any_truths(truths):
    cities = {f"c{i}": t for i, t in enumerate(truths)}
    # a configured national figure between +20 % and +150 % fixes econ_lag whatever the mix
    config = AnalysisConfig(2010, 2020, shrink_rule="multi", national_gdp_growth_pct=80.0)
    out = analyse(_generate(cities), config)
    assert out["crit_pop_decline"].tolist() == [t[0] for t in truths]
    assert out["crit_econ_lag"].tolist() == [t[1] for t in truths]
    assert out["crit_mismatch"].tolist() == [t[2] for t in truths]
    assert out["shrinking"].tolist() == [all(t) for t in truths]


def test_disabled_criterion_is_na_and_not_required():
    table = _generate(TRUTHS).drop(columns="gdp")  # no GDP needed once econ_lag is off
    config = AnalysisConfig(2010, 2020, shrink_rule="multi", criteria=("pop_decline", "mismatch"))
    out = analyse(table, config)
    assert out["crit_econ_lag"].dtype == "boolean" and out["crit_econ_lag"].isna().all()
    assert out["shrinking"].tolist() == [t[0] and t[2] for t in TRUTHS.values()]
    with pytest.raises(ConfigError, match='"econ_lag" needs gdp for 2010 and 2020: no gdp column'):
        analyse(table, MULTI)


def test_unavailable_criterion_is_na_and_leaves_the_city_undecided():
    table = _generate(TRUTHS)
    table.loc[(table["city_id"] == "c1") & (table["year"] == 2020), "gdp"] = np.nan
    table.loc[(table["city_id"] == "c4") & (table["year"] == 2010), "gdp"] = np.nan
    with pytest.warns(UrbanShrinkWarning, match=r"1 of 5 units left no_data: 1 with a crit"):
        out = analyse(table, MULTI)
    assert out["crit_econ_lag"].isna().tolist() == [True, False, False, True, False]
    # c1 holds the other two criteria: undecided, so no_data; c4 fails mismatch: decided False
    assert out.loc["c1", "class"] == "no_data" and pd.isna(out.loc["c1", "shrinking"])
    assert out.loc["c4", "class"] == "stable_contracting"


def test_national_gdp_growth_is_an_aggregate():
    table = pd.DataFrame(
        {
            "city_id": ["a", "a", "b", "b", "c", "c", "d", "d"],
            "year": [2010, 2020] * 4,
            "gdp": [100.0, 150.0, 300.0, 330.0, 50.0, np.nan, np.nan, 80.0],
        }
    )
    # cities with GDP at both years: a and b. Sums 400 -> 480: +20 %
    # (the mean of their rates, (50 + 10) / 2 = 30 %, would be wrong); c and d are left out
    assert national_gdp_growth_pct(table, 2010, 2020) == pytest.approx(20.0)
    with pytest.raises(InputError, match="no city has gdp at both years"):
        national_gdp_growth_pct(table, 2010, 2015)


def test_econ_lag_needs_a_given_national_benchmark():
    # never silently the table's own sum: without a national figure the config is refused
    with pytest.raises(ConfigError, match='"econ_lag" needs national_gdp_growth_pct') as caught:
        AnalysisConfig(2010, 2020, shrink_rule="multi", criteria=("econ_lag",))
    assert str(caught.value).startswith("[analysis] national_gdp_growth_pct:")
    AnalysisConfig(2010, 2020, shrink_rule="multi", criteria=("pop_decline", "mismatch"))
    AnalysisConfig(2010, 2020)  # other rules do not need it


def test_given_national_growth_decides_econ_lag():
    # HAND: 230400 GDP +50 %, 410100 +10 %; the table's own aggregate is +20 % and is used
    # only when passed on purpose
    own = national_gdp_growth_pct(HAND, 2010, 2020)
    assert own == pytest.approx(20.0)
    for national, expected in ((own, [False, True]), (60.0, [True, True]), (5.0, [False, False])):
        config = AnalysisConfig(
            2010,
            2020,
            shrink_rule="multi",
            criteria=("econ_lag",),
            national_gdp_growth_pct=national,
        )
        with pytest.warns(UrbanShrinkWarning):  # 440300 has no GDP; maybe growing "shrinking"
            out = analyse(HAND, config)
        assert out["crit_econ_lag"].tolist()[:2] == expected
        assert out["crit_econ_lag"].isna().tolist() == [False, False, True]  # 440300: no GDP


def test_multi_without_pop_decline_warns_when_growing_cities_shrink():
    # 410100 grew 10 % and its GDP lagged a 60 % national growth: "shrinking" by the criteria
    config = AnalysisConfig(
        2010, 2020, shrink_rule="multi", criteria=("econ_lag",), national_gdp_growth_pct=60.0
    )
    with pytest.warns(UrbanShrinkWarning) as caught:
        out = analyse(HAND, config)
    messages = [str(w.message) for w in caught]
    grew = [m for m in messages if 'without "pop_decline"' in m]
    assert (
        len(grew) == 1 and "1 cities shrinking whose population did not fall: '410100'" in grew[0]
    )
    assert out.loc["410100", "shrinking"]


# --- sign-safe mismatch and LCRPGR: truth tables -----------------------------------------------


def _two_years(cities: dict[str, tuple[float, float, float, float]], **extra) -> pd.DataFrame:
    """city -> (pop start, pop end, built-up start, built-up end) at 2010 and 2020."""
    rows = []
    for city, (p0, p1, b0, b1) in cities.items():
        rows += [(city, 2010, p0, b0), (city, 2020, p1, b1)]
    table = pd.DataFrame(rows, columns=["city_id", "year", "pop_resident", "builtup_km2"])
    return table.assign(**extra)


positive = st.floats(1.0, 1e7, allow_nan=False)
MISMATCH_ONLY = dict(shrink_rule="multi", criteria=("mismatch",))


@pytest.mark.parametrize(
    ("pop_pct", "builtup_pct", "mismatch"),
    [
        (-10, -20, False),  # both fall, land faster: land per person falls
        (-10, -5, True),  # both fall, population faster: land per person rises
        (-10, +5, True),  # the paradox
        (-10, -10, False),  # per capita unchanged: not above a margin of 0
        (+10, +21, True),  # growth, land faster (LCRPGR 2)
        (+10, +5, False),  # growth, population faster
        (+10, -5, False),
        (0, +1, True),  # PGR 0: the ratio explodes, the difference does not
        (0, -1, False),
    ],
)
def test_mismatch_is_sign_safe(pop_pct, builtup_pct, mismatch):
    table = _two_years(
        {"x": (1000.0, 1000.0 * (1 + pop_pct / 100), 10.0, 10 * (1 + builtup_pct / 100))}
    )
    config = AnalysisConfig(2010, 2020, **MISMATCH_ONLY)
    with warnings.catch_warnings():  # a growing city judged "shrinking" by mismatch alone
        warnings.simplefilter("ignore", UrbanShrinkWarning)
        row = analyse(table, config).loc["x"]
    assert bool(row["crit_mismatch"]) is mismatch
    per_capita_rose = row["builtup_m2_per_capita_end"] > row["builtup_m2_per_capita_start"]
    assert bool(per_capita_rose) is mismatch


def test_mismatch_margin_edges():
    # LCR - PGR = 10 ln(1.1) = 0.953 %/yr for population -10 %, built-up -1 %
    table = _two_years({"x": (1000.0, 900.0, 10.0, 9.9)})
    gap = 100 * math.log(9.9 / 10 / 0.9) / 10
    for margin, expected in ((0.0, True), (gap - 1e-9, True), (gap + 1e-9, False), (5.0, False)):
        config = AnalysisConfig(2010, 2020, mismatch_margin_pct=margin, **MISMATCH_ONLY)
        row = analyse(table, config).loc["x"]
        assert row["lcr_minus_pgr_pct_yr"] == pytest.approx(gap)
        assert bool(row["crit_mismatch"]) is expected, margin


def test_mismatch_needs_positive_values():
    table = _two_years({"x": (1000.0, 900.0, 0.0, 5.0), "y": (1000.0, np.nan, 1.0, 2.0)})
    with pytest.warns(UrbanShrinkWarning, match="units left no_data"):
        out = analyse(table, AnalysisConfig(2010, 2020, **MISMATCH_ONLY))
    assert out["crit_mismatch"].isna().all()
    assert (out["lcrpgr_note"] == "population or built-up missing or not positive").all()


@pytest.mark.parametrize(
    ("pop_end", "tolerance", "reported", "note"),
    [
        (900.0, 0.1, False, "PGR < 0"),  # falling population: never a ratio
        (999.9, 0.0, False, "PGR < 0"),  # even a tiny fall, with no tolerance
        (1000.0, 0.0, False, "PGR = 0"),
        (1002.0, 0.1, False, "below the tolerance of 0.1 %/yr"),  # PGR 0.02 %/yr
        (1002.0, 0.0, True, None),  # no tolerance: the ratio is given, however large
        (1002.0, 0.01, True, None),
        (1200.0, 0.1, True, None),
    ],
)
def test_lcrpgr_is_reported_only_where_meaningful(pop_end, tolerance, reported, note):
    table = _two_years({"x": (1000.0, pop_end, 10.0, 12.0)})
    row = analyse(table, AnalysisConfig(2010, 2020, pgr_tolerance_pct=tolerance)).loc["x"]
    if reported:
        assert row["lcrpgr"] == pytest.approx(math.log(1.2) / math.log(pop_end / 1000))
        assert pd.isna(row["lcrpgr_note"])
    else:
        assert math.isnan(row["lcrpgr"]) and note in row["lcrpgr_note"]
    assert row["pgr_pct_yr"] == pytest.approx(10 * math.log(pop_end / 1000))


@settings(max_examples=200)
@given(positive, positive, positive, positive)
@example(1000.0, 900.0, 10.0, 8.0)  # the audit's case: population -10 %, built-up -20 %
@example(1000.0, 900.0, 10.0, 9.5)  # population -10 %, built-up -5 %
def test_mismatch_iff_builtup_per_capita_rises(p0, p1, b0, b1):
    ratio = (b1 / p1) / (b0 / p0)
    assume(abs(ratio - 1) > 1e-9)  # a floating-point tie is no part of the rule
    table = _two_years({"x": (p0, p1, b0, b1)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UrbanShrinkWarning)
        row = analyse(table, AnalysisConfig(2010, 2020, **MISMATCH_ONLY)).loc["x"]
    assert bool(row["crit_mismatch"]) is (ratio > 1)
    assert bool(row["lcr_minus_pgr_pct_yr"] > 0) is (ratio > 1)
    # LCRPGR, where given, exceeds 1 exactly for a mismatch (PGR > 0 there)
    if not math.isnan(row["lcrpgr"]):
        assert row["pgr_pct_yr"] >= 0.1 and bool(row["lcrpgr"] > 1) is (ratio > 1)


# --- hollowing thresholds ----------------------------------------------------------------------


def _hollow_table(dark_start: float, dark_end: float, builtup_end: float) -> pd.DataFrame:
    """A paradox city (population -20 %) with built-up 100 -> builtup_end km²."""
    table = _two_years({"x": (1000.0, 800.0, 100.0, builtup_end)})
    return table.assign(dark_builtup_km2=[dark_start, dark_end])


@pytest.mark.parametrize(
    ("dark_end", "builtup_end", "new", "min_rise", "min_new", "hollow"),
    [
        # dark share 10 % -> dark_end / builtup_end
        (22.0, 110.0, 30.0, 1.0, 1.0, True),  # 10 -> 20 %: +10 points, 30 km² new
        (11.0, 110.0, 30.0, 1.0, 1.0, False),  # 10 -> 10 %: no rise
        (11.55, 110.0, 30.0, 0.5, 1.0, True),  # 10 -> 10.5 %: +0.5 points, just enough
        (11.55, 110.0, 30.0, 0.6, 1.0, False),  # ... not enough
        (11.0 + 1e-6, 110.0, 30.0, 0.0, 0.0, True),  # with no minimum, any rise
        (22.0, 110.0, 0.9, 1.0, 1.0, False),  # too little new built-up land
        (22.0, 110.0, 1.0, 1.0, 1.0, True),  # exactly the minimum new land
        (22.0, 110.0, None, 1.0, 10.0, True),  # without new_builtup: net gain 10 km² counts
        (22.0, 110.0, None, 1.0, 10.5, False),
    ],
)
def test_hollowing_thresholds(dark_end, builtup_end, new, min_rise, min_new, hollow):
    table = _hollow_table(10.0, dark_end, builtup_end)
    config = AnalysisConfig(
        2010, 2020, hollowing_min_rise_pp=min_rise, hollowing_min_new_km2=min_new
    )
    gained = None if new is None else pd.Series({"x": new})
    row = analyse(table, config, new_builtup=gained).loc["x"]
    assert row["paradox"]
    assert row["dark_builtup_share_pct_start"] == pytest.approx(10.0)
    assert row["dark_builtup_share_change_pp"] == pytest.approx(dark_end / builtup_end * 100 - 10)
    assert bool(row["hollowing"]) is hollow


def test_hollowing_needs_the_paradox_and_dark_data():
    growing = _two_years({"x": (1000.0, 1200.0, 100.0, 150.0)}).assign(
        dark_builtup_km2=[10.0, 60.0]
    )
    assert not analyse(growing, PERIOD).loc["x", "hollowing"]  # decided: not in the paradox
    no_dark = _two_years({"x": (1000.0, 800.0, 100.0, 150.0)})
    assert pd.isna(analyse(no_dark, PERIOD).loc["x", "hollowing"])
    missing = _hollow_table(10.0, 30.0, 150.0)
    row = analyse(missing, PERIOD, new_builtup=pd.Series({"other": 50.0})).loc["x"]
    assert pd.isna(row["hollowing"])  # no new built-up figure for this city


# --- consecutive decline: where the run lies ----------------------------------------------------


def test_consecutive_run_at_end_or_anywhere():
    table = _annual(
        {
            "early": [100, 99, 98, 97, 98, 99, 100],  # falls 2015-2017, then recovers
            "late": [100, 101, 102, 103, 102, 101, 100],  # falls 2018-2020
            "never": [100, 99, 100, 99, 100, 99, 98],  # never three in a row
            "gap": [100, 99, 98, 97, np.nan, 95, 94],  # 2018 missing
        }
    )
    at_end = AnalysisConfig(2014, 2020, shrink_rule="consecutive")
    anywhere = dataclasses.replace(at_end, consecutive_run="any")
    # at the end, gap's step into 2018 is undecided: so is its run (no_data, warned)
    with pytest.warns(UrbanShrinkWarning, match=r"1 undecidable .*\('gap'\)"):
        out = analyse(table, at_end)
    assert dict(zip(out.index, _bools(out["shrinking"]), strict=True)) == {
        "early": False,
        "gap": None,
        "late": True,
        "never": False,
    }
    assert out.loc["gap", "class"] == "no_data"
    # anywhere: gap's read run 2015-2017 decides it, whatever the undecided steps later
    out = analyse(table, anywhere)
    assert out["shrinking"].to_dict() == {"early": True, "gap": True, "late": True, "never": False}
    # a table without 4 read years in a row cannot hold a run of 3 declines
    holed = table[table["year"] != 2017]
    with pytest.raises(ConfigError, match=r"4 years in a row within 2014\.\.2020") as caught:
        analyse(holed, anywhere)
    assert "present: 2014, 2015, 2016, 2018, 2019, 2020" in str(caught.value)


def test_consecutive_any_run_on_census_data_is_refused_with_the_years_present():
    with pytest.raises(ConfigError) as caught:
        analyse(HAND, AnalysisConfig(2010, 2020, shrink_rule="consecutive", consecutive_run="any"))
    text = str(caught.value)
    assert "needs annual pop_resident for 4 years in a row within 2010..2020" in text
    assert "present: 2010, 2020" in text and 'use shrink_rule = "period"' in text


@settings(max_examples=60)
@given(st.lists(st.integers(-2, 2), min_size=3, max_size=10), st.integers(1, 4))
def test_consecutive_any_matches_brute_force(moves, n):
    values = np.cumsum([1000, *moves]).astype(float).tolist()
    first, last = 2000, 2000 + len(moves)
    table = _annual({"x": values}, first=first)
    assume(len(moves) >= n)
    config = AnalysisConfig(first, last, shrink_rule="consecutive", consecutive_years=n)
    falls = [b < a for a, b in itertools.pairwise(values)]
    expected_any = any(all(falls[i : i + n]) for i in range(len(falls) - n + 1))
    expected_end = all(falls[-n:])
    anywhere = dataclasses.replace(config, consecutive_run="any")
    assert bool(analyse(table, anywhere).loc["x", "shrinking"]) is expected_any
    assert bool(analyse(table, config).loc["x", "shrinking"]) is expected_end


# --- sensitivity -------------------------------------------------------------------------------


def test_sensitivity_cells_are_the_analysis_with_those_thresholds():
    table = _generate(TRUTHS)
    config = AnalysisConfig(2010, 2020, expand_threshold_pct=5.0)
    grid = sensitivity(table, config)
    assert grid.index.names == ["pop_threshold_pct", "builtup_threshold_pct"]
    assert list(grid.index) == [(p, b) for p in POP_THRESHOLDS for b in BUILTUP_THRESHOLDS]
    assert list(grid.columns) == list(SENSITIVITY_COLUMNS)
    for (p, b), row in grid.iterrows():
        cell = dataclasses.replace(config, shrink_threshold_pct=-p, expand_threshold_pct=b)
        out = analyse(table, cell)
        assert row["shrinking"] == out["shrinking"].sum() and row["paradox"] == out["paradox"].sum()
        assert row["expanding"] == out["expanding"].sum()
        share = (
            out["paradox"].sum() / out["shrinking"].sum() * 100
            if out["shrinking"].any()
            else np.nan
        )
        assert row["share_shrinking_expanding_pct"] == pytest.approx(share, nan_ok=True)
        assert bool(row["configured"]) is (p == 0.0 and b == 5.0)
    assert grid["hollowing"].isna().all()  # no dark built-up data
    # stricter thresholds never add cities
    shrinking = grid["shrinking"].unstack().loc[list(POP_THRESHOLDS), list(BUILTUP_THRESHOLDS)]
    assert (shrinking.diff().dropna() <= 0).all().all()
    expanding = shrinking = grid["expanding"].unstack().loc[:, list(BUILTUP_THRESHOLDS)]
    assert (expanding.T.diff().dropna() <= 0).all().all()


def test_sensitivity_refuses_thresholds_of_the_wrong_sign():
    with pytest.raises(ConfigError, match=r"out of range \(population 5, built-up -1\)"):
        sensitivity(HAND, PERIOD, pop_thresholds=(5,), builtup_thresholds=(-1,))


# --- what was left out ---------------------------------------------------------------------------


def test_match_population_warns_about_both_sides():
    pop = pd.DataFrame(
        {"city_id": ["a", "a", "b", "z", "z", "y"], "year": [2010, 2020] * 3, "pop_resident": 1.0}
    )
    with pytest.warns(UrbanShrinkWarning) as caught:
        kept = match_population(pop, ["a", "b", "c", "d"])
    assert kept["city_id"].tolist() == ["a", "a", "b"]
    messages = sorted(str(w.message) for w in caught)
    assert messages == [
        "2 of 4 boundary units have no population rows: 'c', 'd'",
        "3 population rows of 2 ids match no boundary and are left out: 'y', 'z'",
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(match_population(pop, ["a", "b", "y", "z"])) == len(pop)


# --- properties ---------------------------------------------------------------------------------


@given(positive, positive, positive, positive, st.floats(0, 50), st.floats(0, 50))
@example(100.0, 95.0, 10.0, 10.0, 5.0, 0.0)  # exactly at the threshold: stable
def test_class_agrees_with_the_changes(p0, p1, b0, b1, shrink_pct, expand_pct):
    table = pd.DataFrame(
        {
            "city_id": ["x", "x"],
            "year": [2000, 2010],
            "pop_resident": [p0, p1],
            "builtup_km2": [b0, b1],
        }
    )
    config = AnalysisConfig(
        2000, 2010, shrink_threshold_pct=shrink_pct, expand_threshold_pct=expand_pct
    )
    row = analyse(table, config).loc["x"]
    people, land = row["class"].split("_")
    change, built = row["pop_change_pct"], row["builtup_change_pct"]
    assert np.sign(change) == np.sign(p1 - p0)
    assert people == (
        "shrinking" if change < -shrink_pct else "growing" if change > shrink_pct else "stable"
    )
    assert land == (
        "expanding" if built > expand_pct else "contracting" if built < -expand_pct else "stable"
    )
    assert row["paradox"] == (people == "shrinking" and land == "expanding")
    assert row["builtup_m2_per_capita_end"] * row["density_end"] == pytest.approx(1e6)


# --- summarise ----------------------------------------------------------------------------------


def _cities(flags: dict[str, tuple[bool, bool]], **extra) -> pd.DataFrame:
    shrinking = [s for s, _ in flags.values()]
    expanding = [e for _, e in flags.values()]
    frame = pd.DataFrame(
        {"shrinking": shrinking, "expanding": expanding},
        index=pd.Index(list(flags), name="city_id"),
    )
    frame["paradox"] = frame["shrinking"] & frame["expanding"]
    return frame.assign(**extra)


def test_summarise_tallies_by_code_prefix():
    cities = _cities(
        {
            "230400": (True, True),
            "230700": (True, False),
            "230100": (False, True),
            "110100": (False, True),
        }
    )
    summary = summarise(cities)
    assert list(summary.index) == ["110000", "230000", "all"]
    assert summary.index.name == "province"
    counts = ["n_cities", "shrinking", "expanding", "paradox"]
    assert summary.loc["230000", counts].tolist() == [3, 2, 2, 1]
    assert summary.loc["all", "n_cities"] == 4 and summary.loc["all", "expanding"] == 3
    assert summary.loc["230000", "share_shrinking_expanding_pct"] == pytest.approx(50.0)
    assert math.isnan(summary.loc["110000", "share_shrinking_expanding_pct"])  # none shrinks
    assert summary["hollowing"].dtype == "Int64" and summary["hollowing"].isna().all()


def test_summarise_by_given_province_with_hollowing():
    cities = _cities(
        {"a": (True, True), "b": (True, True), "c": (True, False), "d": (False, False)},
        hollowing=[True, False, True, False],
    )
    province = pd.Series({"a": "黑龙江省", "b": "黑龙江省", "c": "吉林省", "d": "吉林省", "z": "x"})
    summary = summarise(cities, province)
    assert list(summary.index) == [*sorted(["黑龙江省", "吉林省"]), "all"]
    assert summary.loc["黑龙江省", "share_shrinking_expanding_pct"] == 100.0
    # all: 3 shrinking, 2 of them expanding: 66.7 %, the national study's 93.03 % analogue
    assert summary.loc["all", "share_shrinking_expanding_pct"] == pytest.approx(200 / 3)
    assert summary["hollowing"].tolist() == [1, 1, 2]
    with pytest.raises(InputError, match="no province for city_id 'd'"):
        summarise(cities, province.drop("d"))
    with pytest.raises(InputError, match="not a 6-digit code"):
        summarise(cities)


def test_summarise_of_analyse_output():
    summary = summarise(analyse(HAND, PERIOD))
    assert summary.loc["all"].tolist()[:4] == [3, 1, 2, 1]
    assert summary.loc["all", "share_shrinking_expanding_pct"] == 100.0


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start": 2020, "end": 2010}, "end year 2010 is not after start year 2020"),
        ({"start": 2010, "end": 2010}, "not after"),
        ({"start": 2010.0, "end": 2020}, "start = 2010.0 is not a whole number"),
        ({"shrink_rule": "annual"}, "unknown shrink_rule 'annual'; use one of period"),
        ({"population": "hukou"}, "unknown population 'hukou'"),
        ({"consecutive_years": 0}, "consecutive_years = 0 is below 1"),
        ({"shrink_threshold_pct": -1.0}, "shrink_threshold_pct = -1.0 is not a number at least 0"),
        ({"expand_threshold_pct": float("nan")}, "expand_threshold_pct = nan"),
        ({"mismatch_margin_pct": float("inf")}, "mismatch_margin_pct = inf is not finite"),
        ({"mismatch_margin_pct": -0.5}, "mismatch_margin_pct = -0.5 is not a number at least 0"),
        ({"pgr_tolerance_pct": -1}, "pgr_tolerance_pct = -1 is not a number at least 0"),
        ({"hollowing_min_rise_pp": "1"}, "hollowing_min_rise_pp = '1' is not a number"),
        ({"hollowing_min_new_km2": -1.0}, "hollowing_min_new_km2 = -1.0 is not a number"),
        ({"hukou_gap_ratio_pct": 101}, "hukou_gap_ratio_pct = 101"),
        ({"consecutive_run": "middle"}, "unknown consecutive_run 'middle'; use one of at_end, any"),
        ({"ageing_share_pct": 120}, "between 0 and 100"),
        ({"national_gdp_growth_pct": "5"}, "national_gdp_growth_pct = '5'"),
        ({"criteria": ("pop_decline", "jobs")}, "unknown: 'jobs'"),
        ({"criteria": ()}, "must name each"),
        ({"criteria": ("mismatch", "mismatch")}, "at most once"),
        ({"criteria": "mismatch"}, "is not a tuple"),
    ],
)
def test_config_validation(kwargs, message):
    args = {"start": 2010, "end": 2020} | kwargs
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        AnalysisConfig(**args)
    assert str(caught.value).startswith("[analysis]")


def test_criteria_list_becomes_a_tuple():
    config = AnalysisConfig(2010, 2020, criteria=["mismatch", "econ_lag"])
    assert config.criteria == ("mismatch", "econ_lag")
    hash(config)  # frozen configs stay hashable


def test_year_not_in_table_is_a_config_error():
    with pytest.raises(
        ConfigError, match=r"no rows for end year 2019 \(years present: 2010, 2020\)"
    ):
        analyse(HAND, AnalysisConfig(2010, 2019))


def test_city_year_contract_breaches_are_listed_together():
    bad = HAND.copy()
    bad["city_id"] = bad["city_id"].astype(object)
    bad.loc[0, "city_id"] = 230400
    bad.loc[5, "year"] = 2010  # 440300 twice in 2010
    with pytest.raises(InputError) as caught:
        analyse(bad, PERIOD)
    text = str(caught.value)
    assert text.startswith("city_year: city_id 230400 is not text")
    assert "several rows for (city_id, year) ('440300', 2010)" in text
    with pytest.raises(InputError, match="no column year"):
        analyse(HAND.drop(columns="year"), PERIOD)
    with pytest.raises(InputError, match="gdp has dtype"):
        analyse(HAND.assign(gdp="1"), PERIOD)


def test_classes_are_documented():
    people = ("growing", "stable", "shrinking")
    land = ("expanding", "stable", "contracting")
    codes = [c.code for c in CLASSES]
    assert sorted(codes) == sorted({f"{p}_{q}" for p in people for q in land} | {"no_data"})
    assert all(c.description and c.name == c.code.replace("_", " ") for c in CLASSES)
    colours = {c.code: c.colour for c in CLASSES}
    assert len(set(colours.values())) == len(CLASSES)  # every class told apart on the map
    assert colours["shrinking_expanding"] == "#d7191c"  # the paradox in red


# --- the real census (../shared) ----------------------------------------------------------------


@requires_shared
@pytest.mark.shared
def test_real_census_rules_and_what_is_left_out():
    import pyogrio

    from urbanshrink_gis.io.population import PopulationSpec, read_population

    spec = PopulationSpec(
        str(CHINA_CENSUS), id="city_code", resident="popu_{year}", urban="popu_urban_{year}"
    )
    pop = read_population(spec)
    layer = pyogrio.read_dataframe(CHINA_CITIES, layer="cn_city", read_geometry=False)
    ids = layer["city_adcode"].astype(str).rename("city_id")
    stray, without = set(pop["city_id"]) - set(ids), set(ids) - set(pop["city_id"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UrbanShrinkWarning)
        matched = match_population(pop, ids)
    messages = [str(w.message) for w in caught]
    assert len(messages) == bool(stray) + bool(without)
    if stray:
        assert any(f"of {len(stray)} ids match no boundary" in m for m in messages)
    if without:
        assert any(m.startswith(f"{len(without)} of {ids.nunique()} boundary") for m in messages)
    assert set(matched["city_id"]) == set(pop["city_id"]) & set(ids)
    # built-up land in proportion to the urban population (100 m² per urban resident): built-up
    # per person then rises exactly where the urban share rose, whatever the population did
    city_year = matched.assign(builtup_km2=matched["pop_urban"] * 1e-4)
    config = AnalysisConfig(2010, 2020, shrink_rule="multi", criteria=("mismatch",))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UrbanShrinkWarning)
        out = analyse(city_year, config)
    no_data = out.index[out["class"] == "no_data"]
    left = [str(w.message) for w in caught if "left no_data" in str(w.message)]
    assert len(left) == (len(no_data) > 0)
    if len(no_data):
        assert left[0].startswith(f"{len(no_data)} of {len(out)} units left no_data: ")
        assert repr(no_data[0]) in left[0]
    known = out.dropna(subset=["urban_share_pct_start", "urban_share_pct_end", "pop_change_pct"])
    assume_ties = (known["urban_share_pct_end"] - known["urban_share_pct_start"]).abs() > 1e-9
    known = known[assume_ties]
    rose = known["urban_share_pct_end"] > known["urban_share_pct_start"]
    assert (known["crit_mismatch"].astype(bool) == rose).all()
    # falling populations never get an LCRPGR; growing ones above the tolerance always do
    fell = known["pop_change_pct"] < 0
    assert fell.any() and known.loc[fell, "lcrpgr"].isna().all()
    assert known.loc[fell, "lcrpgr_note"].str.contains("PGR < 0").all()
    strong = known["pgr_pct_yr"] >= config.pgr_tolerance_pct
    assert (
        known.loc[strong, "lcrpgr"].notna().all() and known.loc[strong, "lcrpgr_note"].isna().all()
    )
    # the sign-safe rule in one line: mismatch <=> LCRPGR > 1 where the ratio is reported
    assert ((known.loc[strong, "lcrpgr"] > 1) == known.loc[strong, "crit_mismatch"]).all()


def _bools(flags):
    """A nullable boolean Series as a list of True, False and None (for NA)."""
    return [None if pd.isna(v) else bool(v) for v in flags]
