"""Shrinking, expanding and the paradox of both: one row of indicators per city.

Terms
-----
city_year
    The long input table: one row per ``city_id`` (text) and ``year`` (integer), with any of
    ``builtup_km2``, ``ntl_sum``, ``lit_km2``, ``pop_resident``, ``pop_registered``, ``gdp``,
    ``pop_urban``, ``age60_share_pct`` (percent; an older table's ``age60_share`` is read as
    it), ``dark_builtup_km2`` and ``interpolated`` (true where the row's population was
    interpolated rather than read). Missing values are NaN.
period
    The years ``start`` and ``end`` of :class:`AnalysisConfig`; ``*_start`` and ``*_end``
    columns hold the values of those two years, ``*_change_pct`` the change between them in
    percent of the start value (NaN when the start is 0 or either value is missing) and
    ``*_change_pp`` the change of a percentage in percentage points.
shares
    Every share is in percent and named ``*_pct`` (``urban_share_pct_start``,
    ``dark_builtup_share_pct_end``, ``hukou_gap_ratio_pct_start``).
population
    The population the rules use: resident (``pop_resident``, the census count) or urban
    (``pop_urban``), as :attr:`AnalysisConfig.population` says. ``pop_start``, ``pop_end``, the
    per-capita and density columns, LCR, PGR and LCRPGR use it.
read value
    A population value that is present and not flagged ``interpolated``. Only read values are
    evidence of an annual decline.
consecutive decline
    The population fell from each year to the next, ``consecutive_years`` times in a row,
    judged on read values only: a rise (or no change) between two read values breaks a run; a
    missing or interpolated value leaves the step undecided (NA). Where the run must lie is
    ``consecutive_run``: "at_end" (default), the last ``consecutive_years`` steps up to
    ``end``, so an ongoing decline; "any", any run of that length within ``start..end``.
shrinking
    Decided by ``shrink_rule``: "period" (population change below ``-shrink_threshold_pct``),
    "consecutive" (consecutive decline), "both" (both of those) or "multi" (every enabled
    criterion of the national study holds; see ``crit_*`` below).
expanding, contracting
    Built-up area changed by more than ``+expand_threshold_pct`` (expanding) or less than
    ``-expand_threshold_pct`` (contracting) percent over the period; in between it is stable.
paradox
    Shrinking and expanding at once: the city lost people but gained built-up land.
LCR, PGR
    Land consumption rate ``ln(builtup_end / builtup_start) / years`` and population growth
    rate ``ln(pop_end / pop_start) / years`` (SDG indicator 11.3.1), reported in percent per
    year as ``lcr_pct_yr`` and ``pgr_pct_yr``. ``lcr_minus_pgr_pct_yr`` is their difference,
    the yearly growth rate of built-up land per person: positive exactly when built-up per
    capita rose, whatever the sign of either rate.
land-population mismatch
    Land consumption outpaces population: ``lcr_minus_pgr_pct_yr`` above
    ``mismatch_margin_pct`` (percent per year, default 0: built-up per capita rose). Sign-safe:
    population -10 % with built-up -20 % is not a mismatch (land per person fell); population
    -10 % with built-up -5 % is one (land per person rose).
LCRPGR
    The SDG ratio LCR / PGR, reported only where it is meaningful: missing (NaN) where PGR is
    0 or negative (the ratio flips sign with a falling population) or below
    ``pgr_tolerance_pct`` (a near-zero PGR makes it explode), with the reason in
    ``lcrpgr_note`` (missing where the ratio is given). No rule uses it.
density
    People per km² of built-up land; ``builtup_m2_per_capita`` is its inverse in m² per person.
hukou gap (人户分离)
    Registered (hukou) minus resident population, in persons, at ``start`` and ``end``
    (``hukou_gap_start``, ``hukou_gap_end``, ``hukou_gap_change``): a stock, positive when more
    people are registered than live in the city, not a flow within the period.
    ``hukou_gap_ratio_pct_*`` is it in percent of the registered population; a *sending city*
    (``sending_city``) exceeds ``hukou_gap_ratio_pct`` of the config at ``end``.
ageing
    The share of residents aged 60 or over (percent) exceeds ``ageing_share_pct`` at ``end``;
    ``age60_share_change_pp`` is in percentage points.
dark built-up, hollowing
    ``dark_builtup_km2``: built-up land whose night light is at or below the lit threshold
    (see :mod:`urbanshrink_gis.metrics.vacancy`); ``dark_builtup_share_pct`` is it in percent of all
    built-up land; ``light_per_builtup`` is the area-true night light (``ntl_area_sum``,
    radiance x km²) per built-up km², comparable across latitudes. A city is
    *hollowing* when it is in the paradox, its dark built-up share rose by more than 0 and by
    at least ``hollowing_min_rise_pp`` percentage points, and it gained at least
    ``hollowing_min_new_km2`` km² of new built-up land (``new_builtup_km2`` when given to
    :func:`analyse`, else the net gain ``builtup_km2_end - builtup_km2_start``, which is never
    more than the new built-up land). NA where there is no dark built-up data.
criteria (rule "multi")
    ``crit_pop_decline``: consecutive decline; ``crit_econ_lag``: the city's GDP grew less over
    the period than ``national_gdp_growth_pct`` (required with this criterion; never the
    table's own sum unless computed and passed on purpose, see
    :func:`national_gdp_growth_pct`); ``crit_mismatch``: the land-population mismatch. A
    criterion not enabled, or not decidable for a city, is NA.

Warnings (:class:`~urbanshrink_gis.errors.UrbanShrinkWarning`, one line each) name what a
result leaves out: units left ``no_data`` (count, first ids, why), population rows matching
no boundary and boundary units without population rows (:func:`match_population`), and a
"multi" rule without "pop_decline" that judges cities shrinking whose population grew.

Nothing here reads or writes files or draws anything.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import pandas as pd

from urbanshrink_gis._legend import ClassInfo
from urbanshrink_gis.errors import ConfigError, InputError, UrbanShrinkWarning

__all__ = [
    "BUILTUP_THRESHOLDS",
    "CLASSES",
    "COLUMNS",
    "CRITERIA",
    "POP_THRESHOLDS",
    "SENSITIVITY_COLUMNS",
    "AnalysisConfig",
    "ConsecutiveRun",
    "Criterion",
    "PopulationKind",
    "ShrinkRule",
    "analyse",
    "match_population",
    "national_gdp_growth_pct",
    "sensitivity",
    "summarise",
]

ShrinkRule = Literal["period", "consecutive", "both", "multi"]
PopulationKind = Literal["resident", "urban"]
Criterion = Literal["pop_decline", "econ_lag", "mismatch"]
ConsecutiveRun = Literal["at_end", "any"]
CRITERIA: tuple[str, ...] = get_args(Criterion)

_POPULATION_COLUMN = {"resident": "pop_resident", "urban": "pop_urban"}

#: The city classes in legend order: population change x built-up change. Colours, shared by
#: the charts and the QGIS styles: blues for growing, greens for stable and warm colours for
#: shrinking cities; the paradox (``shrinking_expanding``) in a strong red.
CLASSES: tuple[ClassInfo, ...] = tuple(
    ClassInfo(code, code.replace("_", " "), colour, meaning)
    for code, colour, meaning in (
        ("growing_expanding", "#2166ac",
         "population grew beyond the threshold and built-up land expanded"),
        ("growing_stable", "#67a9cf",
         "population grew beyond the threshold; built-up land stayed within it"),
        ("growing_contracting", "#5e3c99",
         "population grew beyond the threshold and built-up land contracted"),
        ("stable_expanding", "#1b7837",
         "population neither grew nor shrank by the rule; built-up land expanded"),
        ("stable_stable", "#7fbf7b",
         "population neither grew nor shrank by the rule; built-up land stable"),
        ("stable_contracting", "#c2e699",
         "population neither grew nor shrank by the rule; built-up contracted"),
        ("shrinking_expanding", "#d7191c",
         "shrinking by the rule while built-up land expanded (the paradox)"),
        ("shrinking_stable", "#fdae61",
         "shrinking by the rule; built-up land stayed within the threshold"),
        ("shrinking_contracting", "#8c510a",
         "shrinking by the rule and built-up land contracted"),
        ("no_data", "#d9d9d9",
         "population or built-up missing at start or end, or the rule undecidable"),
    )
)  # fmt: skip

COLUMNS: tuple[str, ...] = (
    "pop_start",
    "pop_end",
    "pop_change_pct",
    "builtup_km2_start",
    "builtup_km2_end",
    "builtup_change_pct",
    "ntl_sum_start",
    "ntl_sum_end",
    "ntl_area_sum_start",
    "ntl_area_sum_end",
    "ntl_change_pct",
    "lit_km2_start",
    "lit_km2_end",
    "lcr_pct_yr",
    "pgr_pct_yr",
    "lcr_minus_pgr_pct_yr",
    "lcrpgr",
    "lcrpgr_note",
    "builtup_m2_per_capita_start",
    "builtup_m2_per_capita_end",
    "density_start",
    "density_end",
    "density_change_pct",
    "gdp_start",
    "gdp_end",
    "gdp_change_pct",
    "pop_registered_start",
    "pop_registered_end",
    "hukou_gap_start",
    "hukou_gap_end",
    "hukou_gap_change",
    "hukou_gap_ratio_pct_start",
    "hukou_gap_ratio_pct_end",
    "hukou_gap_ratio_change_pp",
    "sending_city",
    "age60_share_pct_start",
    "age60_share_pct_end",
    "age60_share_change_pp",
    "ageing",
    "urban_share_pct_start",
    "urban_share_pct_end",
    "dark_builtup_km2_start",
    "dark_builtup_km2_end",
    "dark_builtup_share_pct_start",
    "dark_builtup_share_pct_end",
    "dark_builtup_share_change_pp",
    "light_per_builtup_start",
    "light_per_builtup_end",
    "light_per_builtup_change_pct",
    "crit_pop_decline",
    "crit_econ_lag",
    "crit_mismatch",
    "shrinking",
    "expanding",
    "paradox",
    "hollowing",
    "class",
)

#: Population change thresholds (percent, at most 0) of the default sensitivity grid.
POP_THRESHOLDS: tuple[float, ...] = (0.0, -1.0, -5.0, -10.0)
#: Built-up change thresholds (percent, at least 0) of the default sensitivity grid.
BUILTUP_THRESHOLDS: tuple[float, ...] = (0.0, 5.0, 10.0)
#: Columns of :func:`sensitivity` (after its two index levels).
SENSITIVITY_COLUMNS: tuple[str, ...] = (
    "n_cities",
    "shrinking",
    "expanding",
    "paradox",
    "hollowing",
    "share_shrinking_expanding_pct",
    "configured",
)

_WHERE = "[analysis]"


def _check_finite(
    name: str, value: float, *, low: float = -math.inf, high: float = math.inf
) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        bounds = f"between {low:g} and {high:g}" if math.isfinite(high) else f"at least {low:g}"
        what = f"{name} = {value!r} is not a number {bounds}"
        raise ConfigError(what, where=_WHERE, fix=f"set {name} to a number {bounds}")
    if not math.isfinite(value):
        raise ConfigError(f"{name} = {value!r} is not finite", where=_WHERE, fix="set a number")


@dataclass(frozen=True, slots=True)
class AnalysisConfig:
    """Period, rules and thresholds of the shrinkage analysis.

    Parameters
    ----------
    start, end
        First and last year compared; `end` must be later.
    shrink_rule
        How a city is judged shrinking: "period" compares the two years, "consecutive" needs
        annual declines in a row (see `consecutive_run`), "both" needs both, "multi" needs
        every enabled criterion of `criteria` (the national study's standard).
    consecutive_years
        Number of annual declines in a row that "consecutive" and the pop_decline criterion ask.
    consecutive_run
        Where that run must lie: "at_end" (default), the last `consecutive_years` steps up to
        `end` (a decline still going on at the end); "any", anywhere within `start..end`.
    shrink_threshold_pct
        Population change (percent) below minus this is shrinking under "period"; above plus
        this is growing under every rule.
    expand_threshold_pct
        Built-up change (percent) above this is expanding, below minus this contracting.
    population
        "resident" or "urban": which population the rules and ratios use.
    criteria
        Criteria that "multi" requires, any of "pop_decline", "econ_lag", "mismatch" (a list is
        turned into a tuple). "pop_decline" defines a shrinking city; leaving it out is allowed
        but warned about whenever it judges a city shrinking whose population did not fall.
    national_gdp_growth_pct
        The nation's GDP growth over the period, in percent, on the same price basis as the
        table's ``gdp`` (real growth, at constant prices, with GDP at constant prices; the NBS
        publishes both). Required when "multi" uses "econ_lag"; there is no default, so the
        benchmark is never silently the table's own sum (pass
        :func:`national_gdp_growth_pct` of the table to use that on purpose).
    mismatch_margin_pct
        LCR - PGR (percent per year) above which land consumption outpaces population; the
        default 0 reads "built-up land per person rose".
    pgr_tolerance_pct
        PGR (percent per year) below which LCRPGR is not reported (missing, with a
        ``lcrpgr_note``); default 0.1 %/yr, about 1 % over a decade. A PGR at or below 0 is
        never reported, whatever the tolerance.
    ageing_share_pct
        Share of residents aged 60+ (percent) above which a city is ageing.
    hukou_gap_ratio_pct
        Registered-minus-resident population at `end`, in percent of registered, above which
        a city is a sending city.
    hollowing_min_rise_pp
        Rise of the dark built-up share (percentage points) a hollowing city needs at least
        (and always more than 0); default 1.
    hollowing_min_new_km2
        New built-up land (km²) a hollowing city needs at least; default 1 km² (about 1,100
        pixels of 30 m), so a few misclassified pixels do not make a city hollow.

    Raises
    ------
    ConfigError
        When a value is out of range or unknown, or "econ_lag" has no national benchmark.
    """

    start: int
    end: int
    shrink_rule: ShrinkRule = "period"
    consecutive_years: int = 3
    consecutive_run: ConsecutiveRun = "at_end"
    shrink_threshold_pct: float = 0.0
    expand_threshold_pct: float = 0.0
    population: PopulationKind = "resident"
    criteria: tuple[str, ...] = CRITERIA
    national_gdp_growth_pct: float | None = None
    mismatch_margin_pct: float = 0.0
    pgr_tolerance_pct: float = 0.1
    ageing_share_pct: float = 20.0
    hukou_gap_ratio_pct: float = 10.0
    hollowing_min_rise_pp: float = 1.0
    hollowing_min_new_km2: float = 1.0

    def __post_init__(self) -> None:
        for name in ("start", "end", "consecutive_years"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                what = f"{name} = {value!r} is not a whole number"
                raise ConfigError(what, where=_WHERE, fix=f"set {name} to an integer")
        if self.end <= self.start:
            what = f"end year {self.end} is not after start year {self.start}"
            raise ConfigError(what, where=_WHERE, fix="set a later end year")
        self._check_choices()
        if self.consecutive_years < 1:
            what = f"consecutive_years = {self.consecutive_years} is below 1"
            raise ConfigError(what, where=_WHERE, fix="set consecutive_years to 1 or more")
        for name in ("shrink_threshold_pct", "expand_threshold_pct", "mismatch_margin_pct"):
            _check_finite(name, getattr(self, name), low=0)
        for name in ("pgr_tolerance_pct", "hollowing_min_rise_pp", "hollowing_min_new_km2"):
            _check_finite(name, getattr(self, name), low=0)
        _check_finite("ageing_share_pct", self.ageing_share_pct, low=0, high=100)
        _check_finite("hukou_gap_ratio_pct", self.hukou_gap_ratio_pct, high=100)
        if self.national_gdp_growth_pct is not None:
            _check_finite("national_gdp_growth_pct", self.national_gdp_growth_pct, low=-100)
        elif self.shrink_rule == "multi" and "econ_lag" in self.criteria:
            what = (
                'criterion "econ_lag" needs national_gdp_growth_pct, the nation\'s GDP growth '
                f"{self.start}..{self.end} in percent (same price basis as gdp)"
            )
            fix = (
                "set national_gdp_growth_pct (e.g. the NBS real growth), or pass "
                "national_gdp_growth_pct(city_year, start, end) to use the table's own sum"
            )
            raise ConfigError(what, where=f"{_WHERE} national_gdp_growth_pct", fix=fix)

    def _check_choices(self) -> None:
        if isinstance(self.criteria, list):  # as TOML arrays arrive
            object.__setattr__(self, "criteria", tuple(self.criteria))
        choices = {
            "shrink_rule": get_args(ShrinkRule),
            "population": get_args(PopulationKind),
            "consecutive_run": get_args(ConsecutiveRun),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                what = f"unknown {name} {getattr(self, name)!r}"
                raise ConfigError(what, where=_WHERE, fix=f"use one of {', '.join(allowed)}")
        criteria = self.criteria
        if isinstance(criteria, str) or not isinstance(criteria, tuple):
            what = f"criteria = {criteria!r} is not a tuple of names"
            raise ConfigError(what, where=_WHERE, fix=f"list some of {', '.join(CRITERIA)}")
        unknown = [c for c in criteria if c not in CRITERIA]
        if unknown or not criteria or len(set(criteria)) != len(criteria):
            what = f"criteria {list(criteria)} must name each of {', '.join(CRITERIA)} at most once"
            what += f" (unknown: {', '.join(map(repr, unknown))})" if unknown else ""
            raise ConfigError(what, where=_WHERE, fix="list one or more distinct known criteria")


def analyse(
    city_year: pd.DataFrame,
    config: AnalysisConfig,
    *,
    new_builtup: pd.Series | None = None,
) -> pd.DataFrame:
    """Period indicators, shrinking and expanding flags and a class for every city.

    Parameters
    ----------
    city_year
        The long table described in the module docstring (not modified).
    config
        Period, rule and thresholds.
    new_builtup
        Built-up land gained over the period (km², built-up at the end but not at the start),
        indexed by ``city_id``, for the hollowing rule; when None, the net gain of built-up
        land stands in (a lower bound of it).

    Returns
    -------
    pandas.DataFrame
        One row per city of `city_year`, indexed by ``city_id`` and sorted by it, with the
        columns of :data:`COLUMNS` in that order. Indicators whose inputs are missing are NaN
        (NA for the nullable-boolean ``crit_*``, ``sending_city``, ``ageing`` and
        ``hollowing``); ``lcrpgr_note`` is text, missing where LCRPGR is given.
        Every flag is a nullable boolean (pandas ``"boolean"``), NA where its inputs are
        missing: ``shrinking`` where the rule cannot decide (no population at `start` or
        `end`, interpolated ends, an undecidable criterion), ``expanding`` where built-up
        land is missing, ``paradox`` (shrinking and expanding) where either is NA and the
        other is not false (a city whose built-up land did not expand is no paradox, with
        or without population). ``class`` is the code of one of :data:`CLASSES`, ``"no_data"``
        unless population, built-up land and the rule are all known.

    Raises
    ------
    InputError
        When `city_year` breaks its contract (see :func:`national_gdp_growth_pct`).
    ConfigError
        When the table cannot serve the configuration: no rows for `start` or `end`, no column
        for the chosen population, annual population (read, not interpolated) absent for the
        years the consecutive rule needs, or no GDP at both years for the "econ_lag" criterion.

    Warns
    -----
    UrbanShrinkWarning
        One line naming the units left ``no_data`` (count, first ids and why); one when rule
        "multi" without "pop_decline" judges cities shrinking whose population did not fall.

    Notes
    -----
    Under the "period" rule a city whose population at `start` or `end` was interpolated is not
    judged (``class`` "no_data"): interpolated values are never evidence of a decline.
    """
    out = _analyse(city_year, config, new_builtup)
    _warn_left_out(out, config)
    return out


def _analyse(
    city_year: pd.DataFrame, config: AnalysisConfig, new_builtup: pd.Series | None
) -> pd.DataFrame:
    """:func:`analyse` without its warnings (the sensitivity grid runs it many times)."""
    table = _prepare(city_year)
    _check_years(table, config)
    column = _POPULATION_COLUMN[config.population]
    if column not in table.columns:
        what = f"population = {config.population!r} needs a {column} column in city_year"
        fix = "add it, or choose the other population"
        raise ConfigError(what, where=f"{_WHERE} population", fix=fix)
    out = _indicators(table, config)
    decline = None
    if config.shrink_rule in ("consecutive", "both") or (
        config.shrink_rule == "multi" and "pop_decline" in config.criteria
    ):
        decline = _consecutive_decline(table, config)
    criteria = _criteria(table, out, decline, config)
    for name in CRITERIA:
        out[f"crit_{name}"] = criteria[name]
    status = _shrink_status(table, out, decline, criteria, config)
    new = _new_builtup(out, new_builtup)
    return _classify(out, status, new, config).loc[:, list(COLUMNS)]


def national_gdp_growth_pct(city_year: pd.DataFrame, start: int, end: int) -> float:
    """Growth of the summed GDP of all cities with GDP at both years, in percent.

    An aggregate, not a mean of the cities' rates: large economies weigh more. It is the
    table's own benchmark, at the table's price basis (nominal GDP gives nominal growth): pass
    it as :attr:`AnalysisConfig.national_gdp_growth_pct` only on purpose, when the table
    covers the nation and the official national figure is not wanted.

    Parameters
    ----------
    city_year
        The long table of the module docstring, with a ``gdp`` column.
    start, end
        The two years compared.

    Returns
    -------
    float
        ``(sum of gdp at end / sum of gdp at start - 1) * 100`` over the cities with GDP at both.

    Raises
    ------
    InputError
        When `city_year` breaks its contract (text ``city_id``, integer ``year``, numeric
        values, one row per city and year), has no city with GDP at both years, or sums to a
        GDP that is not positive at `start`.
    """
    table = _prepare(city_year)
    gdp_start, gdp_end = _period_values(table, "gdp", start, end)
    return _aggregate_growth_pct(gdp_start, gdp_end, start, end)


def sensitivity(
    city_year: pd.DataFrame,
    config: AnalysisConfig,
    *,
    new_builtup: pd.Series | None = None,
    pop_thresholds: Sequence[float] = POP_THRESHOLDS,
    builtup_thresholds: Sequence[float] = BUILTUP_THRESHOLDS,
) -> pd.DataFrame:
    """Counts of shrinking, expanding, paradox and hollowing cities over a grid of thresholds.

    Every cell is :func:`analyse` with `config` but ``shrink_threshold_pct = -p`` and
    ``expand_threshold_pct = b`` for a population change threshold ``p`` and a built-up
    change threshold ``b``, so a reader sees how robust the headline share is.

    Parameters
    ----------
    city_year
        The long table of the module docstring.
    config
        The run's analysis; its rule and other settings hold in every cell.
    new_builtup
        As for :func:`analyse`.
    pop_thresholds
        Population change thresholds in percent, each 0 or below: a city shrinks (rules
        "period" and "both") when its population changed by less than the threshold.
    builtup_thresholds
        Built-up change thresholds in percent, each 0 or above: a city expands when its
        built-up land grew by more.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``pop_threshold_pct`` and ``builtup_threshold_pct`` (in the order given),
        with the columns of :data:`SENSITIVITY_COLUMNS`: counts as in :func:`summarise`
        (``hollowing`` NA without dark built-up data), ``share_shrinking_expanding_pct``
        (paradox in percent of shrinking cities, NaN when none shrinks) and ``configured``
        (the cell of the config's own thresholds).

    Raises
    ------
    ConfigError
        A population threshold above 0 or a built-up threshold below 0, or as :func:`analyse`.

    Notes
    -----
    Rules "consecutive" and "multi" do not use ``shrink_threshold_pct`` to judge shrinking:
    under them the counts do not vary along the population axis. No warning is repeated
    per cell; :func:`analyse` of the run gives them once.
    """
    bad = [f"population {p:g}" for p in pop_thresholds if not p <= 0] + [
        f"built-up {b:g}" for b in builtup_thresholds if not b >= 0
    ]
    if bad or not pop_thresholds or not builtup_thresholds:
        what = f"sensitivity thresholds out of range ({', '.join(bad) or 'none given'})"
        fix = "give population thresholds <= 0 and built-up thresholds >= 0 (percent)"
        raise ConfigError(what, where="sensitivity", fix=fix)
    rows = {}
    for p in pop_thresholds:
        for b in builtup_thresholds:
            cell = dataclasses.replace(
                config, shrink_threshold_pct=abs(float(p)), expand_threshold_pct=float(b)
            )
            tally = _tally(_analyse(city_year, cell, new_builtup))
            mine = cell.shrink_threshold_pct == config.shrink_threshold_pct and (
                cell.expand_threshold_pct == config.expand_threshold_pct
            )
            rows[(float(p), float(b))] = {**tally, "configured": mine}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index = pd.MultiIndex.from_tuples(
        list(rows), names=["pop_threshold_pct", "builtup_threshold_pct"]
    )
    counts = ["n_cities", "shrinking", "expanding", "paradox"]
    return table.astype(dict.fromkeys(counts, "int64") | {"hollowing": "Int64"}).loc[
        :, list(SENSITIVITY_COLUMNS)
    ]


def match_population(population: pd.DataFrame, city_ids: Iterable[str]) -> pd.DataFrame:
    """The population rows of the boundary units, saying what matched nothing.

    Parameters
    ----------
    population
        A long population table with a text ``city_id`` column (as
        :func:`urbanshrink_gis.io.population.read_population` returns).
    city_ids
        Ids of the boundary units.

    Returns
    -------
    pandas.DataFrame
        The rows of `population` whose ``city_id`` is a boundary id, in their order.

    Raises
    ------
    InputError
        `population` has no ``city_id`` column.

    Warns
    -----
    UrbanShrinkWarning
        One line for the population rows that match no boundary (count, first ids; left out)
        and one for the boundary units that have no population row (count, first ids).
    """
    if "city_id" not in population.columns:
        what = "no column city_id in the population table"
        raise InputError(what, where="match_population", fix="pass read_population's table")
    ids = pd.Index(pd.unique(pd.Series(list(city_ids), dtype=object)))
    matched = population["city_id"].isin(ids)
    stray = pd.Index(population.loc[~matched, "city_id"].unique()).sort_values()
    if len(stray):
        rows = int((~matched).sum())
        warnings.warn(
            f"{rows} population rows of {len(stray)} ids match no boundary and are left out: "
            f"{_sample(stray)}",
            UrbanShrinkWarning,
            stacklevel=2,
        )
    without = ids.difference(pd.Index(population["city_id"].unique())).sort_values()
    if len(without):
        warnings.warn(
            f"{len(without)} of {len(ids)} boundary units have no population rows: "
            f"{_sample(without)}",
            UrbanShrinkWarning,
            stacklevel=2,
        )
    return population[matched]


def summarise(cities: pd.DataFrame, province: pd.Series | None = None) -> pd.DataFrame:
    """Tally shrinking, expanding and paradox cities per province and in all.

    Parameters
    ----------
    cities
        Output of :func:`analyse` (indexed by ``city_id``); a ``hollowing`` boolean column, if
        present, is tallied too.
    province
        Province name of each city, indexed by ``city_id``. When None, a city's province is the
        first two digits of its 6-digit code followed by "0000" (e.g. "230400" -> "230000").

    Returns
    -------
    pandas.DataFrame
        Indexed by ``province`` (sorted, then "all"), with columns ``n_cities``, ``shrinking``,
        ``expanding``, ``paradox`` (counts of true flags; NA counts as not true), ``hollowing``
        (count, NA without that column) and ``share_shrinking_expanding_pct`` (paradox cities
        in percent of the shrinking cities whose expansion is known, NaN when none is).

    Raises
    ------
    InputError
        When a flag column is missing, a city has no province, or (without `province`) a
        ``city_id`` is not a 6-digit code.
    """
    missing = [c for c in ("shrinking", "expanding", "paradox") if c not in cities.columns]
    if missing:
        what = f"no column {', '.join(missing)} in cities"
        raise InputError(what, where="summarise", fix="pass the output of analyse()")
    ids = pd.Series(cities.index.astype(str), index=cities.index)
    if province is None:
        bad = ids[~ids.str.fullmatch(r"\d{6}")]
        if len(bad):
            what = f"city_id {_sample(bad)} is not a 6-digit code"
            raise InputError(what, where="summarise", fix="pass province= (names by city_id)")
        groups = ids.str[:2] + "0000"
    else:
        groups = province.reindex(cities.index)
        if groups.isna().any():
            what = f"no province for city_id {_sample(ids[groups.isna()])}"
            raise InputError(what, where="summarise", fix="give every city a province")
        groups = groups.astype(str)
    rows = {name: _tally(part) for name, part in cities.groupby(groups.to_numpy(), sort=True)}
    rows["all"] = _tally(cities)
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("province")
    counts = ["n_cities", "shrinking", "expanding", "paradox"]
    return table.astype(dict.fromkeys(counts, "int64") | {"hollowing": "Int64"})


def _tally(cities: pd.DataFrame) -> dict[str, object]:
    """Counts of true flags (NA as not true); the share among shrinking cities judged on land."""
    flags = {c: cities[c].astype("boolean").fillna(False) for c in _FLAGS}
    paradox = int(flags["paradox"].sum())
    judged = int((flags["shrinking"] & cities["expanding"].notna()).sum())
    known = "hollowing" in cities.columns and cities["hollowing"].notna().any()
    hollowing = int(cities["hollowing"].sum()) if known else pd.NA
    return {
        "n_cities": len(cities),
        "shrinking": int(flags["shrinking"].sum()),
        "expanding": int(flags["expanding"].sum()),
        "paradox": paradox,
        "hollowing": hollowing,
        "share_shrinking_expanding_pct": paradox / judged * 100 if judged else np.nan,
    }


_FLAGS = ("shrinking", "expanding", "paradox")


# --- input -------------------------------------------------------------------------------------

_ID, _YEAR, _INTERPOLATED = "city_id", "year", "interpolated"
_LEGACY_AGE = "age60_share"  # the name of age60_share_pct in tables of earlier versions
_VALUES = (
    "builtup_km2",
    "ntl_sum",
    "ntl_area_sum",
    "lit_km2",
    "pop_resident",
    "pop_registered",
    "gdp",
    "pop_urban",
    "age60_share_pct",
    "dark_builtup_km2",
)


def _sample(values: pd.Series | pd.Index, n: int = 3) -> str:
    shown = ", ".join(repr(v) for v in list(values)[:n])
    return f"{shown} (and {len(values) - n} more)" if len(values) > n else shown


def _prepare(city_year: pd.DataFrame) -> pd.DataFrame:
    """Check the city_year contract once; index it by (city_id, year), interpolated as bool."""
    missing = [c for c in (_ID, _YEAR) if c not in city_year.columns]
    if missing:
        what = f"no column {', '.join(missing)} in city_year"
        raise InputError(what, where="city_year", fix="name the columns city_id and year")
    problems = []
    ids = city_year[_ID]
    not_text = ids[~ids.map(lambda v: isinstance(v, str))]
    if len(not_text):
        problems.append(f"city_id {_sample(not_text)} is not text")
    if not pd.api.types.is_integer_dtype(city_year[_YEAR]):
        problems.append(f"year has dtype {city_year[_YEAR].dtype}, not integer")
    problems += [
        f"{c} has dtype {city_year[c].dtype}, not numeric"
        for c in (*_VALUES, _LEGACY_AGE)
        if c in city_year.columns and not pd.api.types.is_numeric_dtype(city_year[c])
    ]
    duplicated = city_year[city_year.duplicated([_ID, _YEAR], keep=False)]
    if len(duplicated):
        pairs = pd.Series(list(zip(duplicated[_ID], duplicated[_YEAR], strict=True))).unique()
        problems.append(f"several rows for (city_id, year) {_sample(pairs)}")
    interpolated = pd.Series(False, index=city_year.index)
    if _INTERPOLATED in city_year.columns:
        try:
            interpolated = city_year[_INTERPOLATED].astype("boolean").fillna(False).astype(bool)
        except (TypeError, ValueError):
            problems.append("interpolated holds values other than true/false")
    if problems:
        fix = "give text city ids, integer years, numeric values and one row per city and year"
        raise InputError("; ".join(problems), where="city_year", fix=fix)
    table = city_year.assign(**{_INTERPOLATED: interpolated})
    if _LEGACY_AGE in table.columns and "age60_share_pct" not in table.columns:
        table = table.rename(columns={_LEGACY_AGE: "age60_share_pct"})  # percent already
    return table.set_index([_ID, _YEAR]).sort_index()


def _check_years(table: pd.DataFrame, config: AnalysisConfig) -> None:
    years = table.index.unique(_YEAR)
    for name in ("start", "end"):
        year = getattr(config, name)
        if year not in years:
            shown = ", ".join(map(str, sorted(years)))
            what = f"city_year has no rows for {name} year {year} (years present: {shown})"
            raise ConfigError(what, where=f"{_WHERE} {name}", fix=f"set {name} to a year present")


def _wide(table: pd.DataFrame, column: str) -> pd.DataFrame:
    """Values of one column as a city x year frame, all NaN when the column is absent."""
    cities, years = table.index.unique(_ID), table.index.unique(_YEAR)
    if column not in table.columns:
        return pd.DataFrame(np.nan, index=cities, columns=years)
    return table[column].astype(float).unstack(_YEAR).reindex(index=cities, columns=years)


def _period_values(
    table: pd.DataFrame, column: str, start: int, end: int
) -> tuple[pd.Series, pd.Series]:
    wide = _wide(table, column).reindex(columns=[start, end])
    return wide[start].rename(None), wide[end].rename(None)


# --- indicators --------------------------------------------------------------------------------


def _pct_change(start: pd.Series, end: pd.Series) -> pd.Series:
    return ((end - start) / start * 100).where(start != 0)


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    return (numerator / denominator).where(denominator != 0)


def _flag(condition: pd.Series, *inputs: pd.Series) -> pd.Series:
    """Turn `condition` into a nullable boolean, NA where any input is missing."""
    unknown = pd.concat([s.isna() for s in inputs], axis=1).any(axis=1)
    return condition.astype("boolean").mask(unknown)


def _rate_pct_yr(values: tuple[pd.Series, pd.Series], years: int) -> pd.Series:
    """Log growth rate in percent per year, NaN unless both values are positive."""
    start, end = values
    valid = (start > 0) & (end > 0)
    return np.log((end / start).where(valid)) / years * 100


def _lcrpgr(lcr: pd.Series, pgr: pd.Series, config: AnalysisConfig) -> tuple[pd.Series, pd.Series]:
    """SDG 11.3.1 ratio LCR / PGR where meaningful, and why not elsewhere."""
    tolerance = config.pgr_tolerance_pct
    reasons = [
        (lcr.isna() | pgr.isna(), "population or built-up missing or not positive"),
        (pgr < 0, "population fell (PGR < 0): the ratio is not meaningful"),
        (pgr == 0, "population unchanged (PGR = 0)"),
        (pgr < tolerance, f"PGR below the tolerance of {tolerance:g} %/yr"),
    ]
    note = pd.Series(None, index=lcr.index, dtype=object)
    for condition, text in reversed(reasons):  # the first reason that applies wins
        note = note.mask(condition, text)
    return (lcr / pgr).where(note.isna()), note


def _indicators(table: pd.DataFrame, config: AnalysisConfig) -> pd.DataFrame:
    """Every numeric column of the output, from the values at start and end."""
    start, end = config.start, config.end
    values = {c: _period_values(table, c, start, end) for c in _VALUES}
    pop = values[_POPULATION_COLUMN[config.population]]
    builtup, resident = values["builtup_km2"], values["pop_resident"]
    out = pd.DataFrame(index=table.index.unique(_ID))
    out["pop_start"], out["pop_end"] = pop
    out["pop_change_pct"] = _pct_change(*pop)
    columns = (("builtup_km2", "builtup"), ("ntl_sum", "ntl"), ("ntl_area_sum", None))
    for column, change in (*columns, ("lit_km2", None)):
        out[f"{column}_start"], out[f"{column}_end"] = values[column]
        if change:
            out[f"{change}_change_pct"] = _pct_change(*values[column])
    out["lcr_pct_yr"] = _rate_pct_yr(builtup, end - start)
    out["pgr_pct_yr"] = _rate_pct_yr(pop, end - start)
    out["lcr_minus_pgr_pct_yr"] = out["lcr_pct_yr"] - out["pgr_pct_yr"]
    out["lcrpgr"], out["lcrpgr_note"] = _lcrpgr(out["lcr_pct_yr"], out["pgr_pct_yr"], config)
    for i, when in enumerate(("start", "end")):
        out[f"builtup_m2_per_capita_{when}"] = _ratio(builtup[i] * 1e6, pop[i])
        out[f"density_{when}"] = _ratio(pop[i], builtup[i])
    out["density_change_pct"] = _pct_change(out["density_start"], out["density_end"])
    out["gdp_start"], out["gdp_end"] = values["gdp"]
    out["gdp_change_pct"] = _pct_change(*values["gdp"])
    registered = values["pop_registered"]
    out["pop_registered_start"], out["pop_registered_end"] = registered
    for i, when in enumerate(("start", "end")):
        out[f"hukou_gap_{when}"] = registered[i] - resident[i]
        out[f"hukou_gap_ratio_pct_{when}"] = _ratio(out[f"hukou_gap_{when}"], registered[i]) * 100
    out["hukou_gap_change"] = out["hukou_gap_end"] - out["hukou_gap_start"]
    ratio = out["hukou_gap_ratio_pct_end"]
    out["hukou_gap_ratio_change_pp"] = ratio - out["hukou_gap_ratio_pct_start"]
    out["sending_city"] = _flag(ratio > config.hukou_gap_ratio_pct, ratio)
    age = values["age60_share_pct"]
    out["age60_share_pct_start"], out["age60_share_pct_end"] = age
    out["age60_share_change_pp"] = age[1] - age[0]
    out["ageing"] = _flag(age[1] > config.ageing_share_pct, age[1])
    urban = values["pop_urban"]
    out["urban_share_pct_start"] = _ratio(urban[0], resident[0]) * 100
    out["urban_share_pct_end"] = _ratio(urban[1], resident[1]) * 100
    dark = values["dark_builtup_km2"]
    light = values["ntl_area_sum"]  # area-true: comparable across latitudes
    for i, when in enumerate(("start", "end")):
        out[f"dark_builtup_km2_{when}"] = dark[i]
        out[f"dark_builtup_share_pct_{when}"] = _ratio(dark[i], builtup[i]) * 100
        out[f"light_per_builtup_{when}"] = _ratio(light[i], builtup[i])
    out["dark_builtup_share_change_pp"] = (
        out["dark_builtup_share_pct_end"] - out["dark_builtup_share_pct_start"]
    )
    out["light_per_builtup_change_pct"] = _pct_change(
        out["light_per_builtup_start"], out["light_per_builtup_end"]
    )
    return out


def _new_builtup(out: pd.DataFrame, new_builtup: pd.Series | None) -> pd.Series:
    """New built-up km² per city: as given, else the net gain (never more than the new land)."""
    if new_builtup is None:
        return out["builtup_km2_end"] - out["builtup_km2_start"]
    if not isinstance(new_builtup, pd.Series) or not pd.api.types.is_numeric_dtype(new_builtup):
        what = "new_builtup is not a numeric Series of km² by city_id"
        raise InputError(what, where="analyse", fix="pass new_builtup_table()['new_builtup_km2']")
    return new_builtup.astype(float).reindex(out.index)


# --- rules -------------------------------------------------------------------------------------


def _consecutive_decline(table: pd.DataFrame, config: AnalysisConfig) -> pd.Series:
    """Whether the population fell `consecutive_years` times in a row, on read values.

    "at_end": the last steps up to `end`; "any": any run within `start..end`. Kleene logic
    keeps undecided steps NA: a run with a rise is False, a run of falls with an undecided
    step NA; under "any", one run of falls is enough and only runs that are all False make
    it False.
    """
    column, n = _POPULATION_COLUMN[config.population], config.consecutive_years
    first = config.end - n if config.consecutive_run == "at_end" else config.start
    years = list(range(first, config.end + 1))
    read = table[column].astype(float).mask(table[_INTERPOLATED])
    read = read.unstack(_YEAR).reindex(index=table.index.unique(_ID), columns=years)
    _check_annual(read, years, config)
    steps = {
        year: _flag(read[year] < read[year - 1], read[year - 1], read[year]) for year in years[1:]
    }
    decline = pd.Series(False, index=read.index, dtype="boolean")
    for last in years[n:]:  # the runs of n steps that end at `last`
        run = pd.Series(True, index=read.index, dtype="boolean")
        for year in range(last - n + 1, last + 1):
            run &= steps[year]
        decline |= run
    return decline.rename(None)


def _check_annual(read: pd.DataFrame, years: list[int], config: AnalysisConfig) -> None:
    """Refuse a table whose read annual values cannot hold a run of the length asked."""
    column, n = _POPULATION_COLUMN[config.population], config.consecutive_years
    present = [year for year in years if read[year].notna().any()]
    longest = run = 0
    for year in years:  # consecutive integers: the longest run of present years
        run = run + 1 if year in present else 0
        longest = max(longest, run)
    if longest >= n + 1:
        return
    if config.shrink_rule == "multi":
        asker = 'criterion "pop_decline" of shrink_rule "multi"'
    else:
        asker = f'shrink_rule "{config.shrink_rule}"'
    if config.consecutive_run == "at_end":
        needs = f"years {years[0]}..{years[-1]}"
        absent = [str(year) for year in years if year not in present]
        state = f"absent: {', '.join(absent)}"
    else:
        needs = f"{n + 1} years in a row within {years[0]}..{years[-1]}"
        state = f"present: {', '.join(map(str, present)) or 'none'}"
    what = f"{asker} needs annual {column} for {needs} (read, not interpolated); {state}"
    fix = 'add annual population for those years, or use shrink_rule = "period"'
    raise ConfigError(what, where=f"{_WHERE} shrink_rule", fix=fix)


def _criteria(
    table: pd.DataFrame, out: pd.DataFrame, decline: pd.Series | None, config: AnalysisConfig
) -> dict[str, pd.Series]:
    """Decide the criteria of rule "multi"; NA where not enabled (or the rule is another)."""
    enabled = config.criteria if config.shrink_rule == "multi" else ()
    result = {name: pd.Series(pd.NA, index=out.index, dtype="boolean") for name in CRITERIA}
    if "pop_decline" in enabled:
        result["pop_decline"] = decline
    if "econ_lag" in enabled:
        has_both = out["gdp_start"].notna() & out["gdp_end"].notna()
        if not has_both.any():
            state = "no gdp column" if "gdp" not in table.columns else "no city with gdp at both"
            what = f'criterion "econ_lag" needs gdp for {config.start} and {config.end}: {state}'
            fix = 'add gdp for those years, or drop "econ_lag" from criteria'
            raise ConfigError(what, where=f"{_WHERE} criteria", fix=fix)
        change = out["gdp_change_pct"]
        result["econ_lag"] = _flag(change < config.national_gdp_growth_pct, change)
    if "mismatch" in enabled:
        gap = out["lcr_minus_pgr_pct_yr"]
        result["mismatch"] = _flag(gap > config.mismatch_margin_pct, gap)
    return result


def _aggregate_growth_pct(gdp_start: pd.Series, gdp_end: pd.Series, start: int, end: int) -> float:
    both = gdp_start.notna() & gdp_end.notna()
    total_start, total_end = gdp_start[both].sum(), gdp_end[both].sum()
    if not both.any() or total_start <= 0:
        state = "no city has gdp at both years" if not both.any() else "summed gdp is not positive"
        what = f"national GDP growth {start}..{end} cannot be computed: {state}"
        raise InputError(what, where="city_year gdp", fix="give gdp for both years")
    return float((total_end - total_start) / total_start * 100)


def _shrink_status(
    table: pd.DataFrame,
    out: pd.DataFrame,
    decline: pd.Series | None,
    criteria: dict[str, pd.Series],
    config: AnalysisConfig,
) -> pd.Series:
    """Shrinking by the configured rule, as a nullable boolean (NA: undecidable)."""
    if config.shrink_rule == "multi":
        status = pd.Series(True, index=out.index, dtype="boolean")
        for name in config.criteria:
            status &= criteria[name]
        return status
    change = out["pop_change_pct"]
    ends = [config.start, config.end]
    interpolated = table[_INTERPOLATED].unstack(_YEAR, fill_value=False)
    unread = interpolated.reindex(index=out.index, columns=ends, fill_value=False).any(axis=1)
    period = _flag(change < -config.shrink_threshold_pct, change).mask(unread)
    if config.shrink_rule == "period":
        return period
    if config.shrink_rule == "consecutive":
        return decline
    return period & decline


def _classify(
    out: pd.DataFrame, status: pd.Series, new: pd.Series, config: AnalysisConfig
) -> pd.DataFrame:
    """Add the flags and the class; a city is judged only with population, built-up and rule."""
    pop, builtup = out["pop_change_pct"], out["builtup_change_pct"]
    judged = status.notna().to_numpy() & pop.notna().to_numpy() & builtup.notna().to_numpy()
    shrinking = status.fillna(False).to_numpy(dtype=bool)
    growing = (pop > config.shrink_threshold_pct).to_numpy()
    expanding = (builtup > config.expand_threshold_pct).to_numpy()
    contracting = (builtup < -config.expand_threshold_pct).to_numpy()
    people = np.where(shrinking, "shrinking", np.where(growing, "growing", "stable"))
    land = np.where(expanding, "expanding", np.where(contracting, "contracting", "stable"))
    out = out.copy()
    out["shrinking"] = status.astype("boolean")  # NA: the rule cannot decide (no population)
    out["expanding"] = _flag(builtup > config.expand_threshold_pct, builtup)
    out["paradox"] = out["shrinking"] & out["expanding"]  # Kleene: NA unless one is false
    rise = out["dark_builtup_share_change_pp"]
    hollow = (rise > 0) & (rise >= config.hollowing_min_rise_pp)
    hollow &= new >= config.hollowing_min_new_km2
    out["hollowing"] = _flag(out["paradox"] & hollow, rise, new)
    out["class"] = np.where(judged, np.char.add(np.char.add(people, "_"), land), "no_data")
    out["class"] = out["class"].astype(object)
    return out.rename_axis(_ID).sort_index()


# --- warnings ----------------------------------------------------------------------------------


def _warn_left_out(out: pd.DataFrame, config: AnalysisConfig) -> None:
    """One warning line for the units left no_data, one for "multi" without pop_decline.

    When every unit is no_data the line says so: it is the one line a run gives for it.
    """
    no_data = out["class"] == "no_data"
    if no_data.any():
        years = f"{config.start} or {config.end}"
        reasons = [
            (out["pop_start"].isna() | out["pop_end"].isna(), f"without population in {years}"),
            (
                out["builtup_km2_start"].isna() | out["builtup_km2_end"].isna(),
                f"without built-up land in {years}",
            ),
            (out["pop_change_pct"].isna(), f"with population 0 in {config.start}"),
            (out["builtup_change_pct"].isna(), f"with built-up land 0 in {config.start}"),
            (pd.Series(True, index=out.index), _undecided_reason(config)),
        ]
        left, parts = no_data.copy(), []
        for condition, text in reasons:
            these = out.index[left & condition.to_numpy()]
            if len(these):
                parts.append(f"{len(these)} {text} ({_sample(these)})")
            left &= ~condition.to_numpy()
        none = "; no city has data for the analysis" if no_data.all() else ""
        warnings.warn(
            f"{int(no_data.sum())} of {len(out)} units left no_data: {'; '.join(parts)}{none}",
            UrbanShrinkWarning,
            stacklevel=3,
        )
    if config.shrink_rule == "multi" and "pop_decline" not in config.criteria:
        shrinking = out["shrinking"].fillna(False).to_numpy(dtype=bool)
        grew = out.index[shrinking & ~(out["pop_change_pct"] < 0).to_numpy()]
        if len(grew):
            warnings.warn(
                f'shrink_rule "multi" without "pop_decline" judges {len(grew)} cities shrinking '
                f'whose population did not fall: {_sample(grew)}; add "pop_decline" (annual '
                'data) or use shrink_rule = "period"',
                UrbanShrinkWarning,
                stacklevel=3,
            )


def _undecided_reason(config: AnalysisConfig) -> str:
    if config.shrink_rule == "multi":
        enabled = ", ".join(config.criteria)
        return f"with a criterion of {enabled} undecidable (annual values or gdp missing)"
    if config.shrink_rule == "period":
        return f"with population interpolated in {config.start} or {config.end}"
    return f'undecidable by rule "{config.shrink_rule}" (annual population missing or interpolated)'
