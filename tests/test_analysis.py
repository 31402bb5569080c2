import math
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from urbanshrink_gis.analysis import (
    CLASSES,
    COLUMNS,
    AnalysisConfig,
    analyse,
    national_gdp_growth_pct,
    summarise,
)
from urbanshrink_gis.errors import ConfigError, InputError

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
        "age60_share",
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
    # LCRPGR = [ln(U1/U0)/10] / [ln(P1/P0)/10]:
    #   230400: ln(1.25) / ln(0.8) = -1 exactly (1.25 = 1/0.8)
    #   410100: ln(1.21) / ln(1.1) = 2 ln(1.1) / ln(1.1) = 2
    #   440300: population unchanged, PGR = 0 -> NaN
    assert a["lcrpgr"] == pytest.approx(-1.0)
    assert b["lcrpgr"] == pytest.approx(2.0)
    assert math.isnan(c["lcrpgr"])
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
    # outflow = registered - resident at end; ratio in percent of registered
    #   230400: 1.2e6 - 8e5 = 4e5, 33.3 % > 10 % -> outflow city
    #   410100: 2.0e6 - 2.2e6 = -2e5, -10 % -> not
    #   440300: no registered population -> NaN / NA
    assert a["outflow"] == 400_000 and a["outflow_ratio_pct"] == pytest.approx(100 / 3)
    assert b["outflow"] == -200_000 and b["outflow_ratio_pct"] == pytest.approx(-10.0)
    assert (b["pop_registered_start"], b["pop_registered_end"]) == (2_100_000, 2_000_000)
    assert out["outflow_city"].tolist()[:2] == [True, False]
    assert out["outflow_city"].isna().tolist() == [False, False, True]
    # age 60+: 230400 15 -> 25 (+10 points, > 20 -> ageing); 410100 12 -> 14 (not); 440300 NA
    assert a["age60_share_change"] == 10.0 and b["age60_share_change"] == 2.0
    assert out["ageing"].tolist()[:2] == [True, False] and out["ageing"].isna().iloc[2]
    # urban share: 600k / 1M = 60 %, 560k / 800k = 70 %
    assert (a["urban_share_start"], a["urban_share_end"]) == (60.0, 70.0)
    assert math.isnan(b["urban_share_start"])
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
    assert {out[c].dtype.name for c in ("shrinking", "expanding", "paradox")} == {"bool"}
    for name in ("crit_pop_decline", "crit_econ_lag", "crit_mismatch"):
        assert out[name].dtype == "boolean" and out[name].isna().all()  # not rule "multi"
    assert set(out["class"]) <= set(CLASSES)


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
    out = analyse(pd.concat([HAND, extra], ignore_index=True), PERIOD)
    for city in ("500100", "610100"):
        assert out.loc[city, "class"] == "no_data"
        assert not out.loc[city, ["shrinking", "expanding", "paradox"]].any()
    assert out.loc["500100", "builtup_change_pct"] == 100.0  # indicators stay where data exist
    assert math.isnan(out.loc["500100", "pop_change_pct"])


def test_urban_population_drives_the_rules_when_asked():
    # 230400 urban 600k -> 560k (-6.67 %): shrinking either way; 410100 has no urban -> no_data
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
    out = analyse(table, consecutive)
    assert out["shrinking"].tolist() == [True, False, False, False]
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
    out = analyse(table, AnalysisConfig(2014, 2020, shrink_rule="both"))
    assert out["shrinking"].tolist() == [False, False, False, False]
    # two years suffice for c_two
    out = analyse(table, AnalysisConfig(2014, 2020, shrink_rule="consecutive", consecutive_years=2))
    assert out["shrinking"].tolist() == [True, False, True, False]


def test_interpolated_series_between_censuses_is_not_a_decline():
    # a census city: read 2010 and 2020, straight-line interpolation between (falls every year)
    values = np.linspace(1_000_000, 900_000, 11).tolist()
    interpolated = {("census", y) for y in range(2011, 2020)}
    table = _annual({"census": values, "annual": values}, first=2010, interpolated=interpolated)
    out = analyse(table, AnalysisConfig(2010, 2020, shrink_rule="consecutive"))
    assert out.loc["annual", "shrinking"] and not out.loc["census", "shrinking"]
    assert out.loc["census", "class"] == "no_data"
    # an interpolated end year is not evidence under the period rule either
    out = analyse(table, AnalysisConfig(2010, 2015))
    assert out.loc["annual", "class"] == "shrinking_expanding"
    assert out.loc["census", "class"] == "no_data" and not out.loc["census", "shrinking"]


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
    with pytest.raises(ConfigError, match='criterion "pop_decline" needs annual'):
        analyse(census, AnalysisConfig(2010, 2020, shrink_rule="multi"))


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
      0.5 % a year, slower than population (LCRPGR about 0.5, below 1).
    """
    rows = []
    for city, (decline, lag, mismatch) in truths.items():
        pop, gdp_end = 1_000_000.0, 120.0 if lag else 250.0
        for i, year in enumerate(YEARS):
            if i:
                pop *= 1.005 if (year == 2019 and not decline) else 0.99
            builtup = 100.0 * (1.02 if mismatch else 0.995) ** i
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
MULTI = AnalysisConfig(2010, 2020, shrink_rule="multi")


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
    out = analyse(table, MULTI)
    assert out["crit_econ_lag"].isna().tolist() == [True, False, False, True, False]
    # c1 holds the other two criteria: undecided, so no_data; c4 fails mismatch: decided False
    assert out.loc["c1", "class"] == "no_data" and not out.loc["c1", "shrinking"]
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


def test_configured_national_growth_overrides_the_aggregate():
    # HAND: 230400 GDP +50 %, 410100 +10 %; aggregate (100 + 300 -> 150 + 330) = +20 %
    config = AnalysisConfig(2010, 2020, shrink_rule="multi", criteria=("econ_lag",))
    out = analyse(HAND, config)
    assert out["crit_econ_lag"].tolist()[:2] == [False, True]
    assert out["crit_econ_lag"].isna().tolist() == [False, False, True]  # 440300: no GDP
    config = AnalysisConfig(
        2010, 2020, shrink_rule="multi", criteria=("econ_lag",), national_gdp_growth_pct=60.0
    )
    out = analyse(HAND, config)
    assert out["crit_econ_lag"].tolist()[:2] == [True, True]


def test_mismatch_by_lcrpgr_alone():
    # 410100 grew (no "grew while fell"), LCRPGR 2: above 1.5 holds, above 2.5 does not
    for ratio, expected in ((1.5, True), (2.5, False)):
        config = AnalysisConfig(
            2010, 2020, shrink_rule="multi", criteria=("mismatch",), lcrpgr_ratio=ratio
        )
        out = analyse(HAND, config)
        assert out.loc["410100", "crit_mismatch"] == expected
        assert out.loc["230400", "crit_mismatch"]  # grew while population fell
    assert pd.isna(out.loc["440300", "crit_mismatch"])  # LCRPGR undefined, population unchanged


# --- properties ---------------------------------------------------------------------------------

positive = st.floats(1.0, 1e7, allow_nan=False)


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
        ({"lcrpgr_ratio": float("inf")}, "lcrpgr_ratio = inf is not finite"),
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
    assert set(CLASSES) == {f"{p}_{q}" for p in people for q in land} | {"no_data"}
    assert all(isinstance(text, str) and text for text in CLASSES.values())
