"""Shrinking, expanding and the paradox of both: one row of indicators per city.

Terms
-----
city_year
    The long input table: one row per ``city_id`` (text) and ``year`` (integer), with any of
    ``builtup_km2``, ``ntl_sum``, ``lit_km2``, ``pop_resident``, ``pop_registered``, ``gdp``,
    ``pop_urban``, ``age60_share`` (percent) and ``interpolated`` (true where the row's
    population was interpolated rather than read). Missing values are NaN.
period
    The years ``start`` and ``end`` of :class:`AnalysisConfig`; ``*_start`` and ``*_end``
    columns hold the values of those two years, ``*_change_pct`` the change between them in
    percent of the start value (NaN when the start is 0 or either value is missing).
population
    The population the rules use: resident (``pop_resident``, the census count) or urban
    (``pop_urban``), as :attr:`AnalysisConfig.population` says. ``pop_start``, ``pop_end``, the
    per-capita and density columns and LCRPGR use it.
read value
    A population value that is present and not flagged ``interpolated``. Only read values are
    evidence of an annual decline.
consecutive decline
    The population fell from each year to the next, in each of the last ``consecutive_years``
    years up to ``end``, judged on read values only: a rise (or no change) between two read
    values breaks it; a missing or interpolated value leaves it undecided (NA).
shrinking
    Decided by ``shrink_rule``: "period" (population change below ``-shrink_threshold_pct``),
    "consecutive" (consecutive decline), "both" (both of those) or "multi" (every enabled
    criterion of the national study holds; see ``crit_*`` below).
expanding, contracting
    Built-up area changed by more than ``+expand_threshold_pct`` (expanding) or less than
    ``-expand_threshold_pct`` (contracting) percent over the period; in between it is stable.
paradox
    Shrinking and expanding at once: the city lost people but gained built-up land.
LCRPGR
    SDG indicator 11.3.1 (UN-Habitat): ratio of the land consumption rate
    ``ln(builtup_end / builtup_start) / years`` to the population growth rate
    ``ln(pop_end / pop_start) / years``; NaN when the population did not change or data are
    missing.
density
    People per km² of built-up land; ``builtup_m2_per_capita`` is its inverse in m² per person.
outflow
    Registered (hukou) minus resident population at ``end``, in persons: positive when more
    people are registered than live in the city. ``outflow_ratio_pct`` is it in percent of the
    registered population; an *outflow city* exceeds ``outflow_ratio_pct`` of the config.
ageing
    The share of residents aged 60 or over (percent) exceeds ``ageing_share_pct`` at ``end``;
    ``age60_share_change`` is in percentage points.
dark built-up, hollowing
    ``dark_builtup_km2``: built-up land whose night light is at or below the lit threshold
    (see :mod:`urbanshrink_gis.vacancy`); ``dark_builtup_share`` is it over all built-up land;
    ``light_per_builtup`` is the night-light sum per built-up km². A city is *hollowing* when
    it is in the paradox (shrinking and expanding) and its dark built-up share rose over the
    period: land built while the lights go out. NA where there is no dark built-up data.
criteria (rule "multi")
    ``crit_pop_decline``: consecutive decline; ``crit_econ_lag``: the city's GDP grew less over
    the period than the nation's (see :func:`national_gdp_growth_pct`); ``crit_mismatch``:
    built-up expanded while population fell, or LCRPGR exceeds ``lcrpgr_ratio``. A criterion
    not enabled, or not decidable for a city, is NA.

Nothing here reads or writes files or draws anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import pandas as pd

from urbanshrink_gis.errors import ConfigError, InputError

__all__ = [
    "CLASSES",
    "CLASS_COLOURS",
    "COLUMNS",
    "CRITERIA",
    "AnalysisConfig",
    "Criterion",
    "PopulationKind",
    "ShrinkRule",
    "analyse",
    "national_gdp_growth_pct",
    "summarise",
]

ShrinkRule = Literal["period", "consecutive", "both", "multi"]
PopulationKind = Literal["resident", "urban"]
Criterion = Literal["pop_decline", "econ_lag", "mismatch"]
CRITERIA: tuple[str, ...] = get_args(Criterion)

_POPULATION_COLUMN = {"resident": "pop_resident", "urban": "pop_urban"}

CLASSES: dict[str, str] = {
    "growing_expanding": "population grew beyond the threshold and built-up land expanded",
    "growing_stable": "population grew beyond the threshold; built-up land stayed within it",
    "growing_contracting": "population grew beyond the threshold and built-up land contracted",
    "stable_expanding": "population neither grew nor shrank by the rule; built-up land expanded",
    "stable_stable": "population neither grew nor shrank by the rule; built-up land stable",
    "stable_contracting": "population neither grew nor shrank by the rule; built-up contracted",
    "shrinking_expanding": "shrinking by the rule while built-up land expanded (the paradox)",
    "shrinking_stable": "shrinking by the rule; built-up land stayed within the threshold",
    "shrinking_contracting": "shrinking by the rule and built-up land contracted",
    "no_data": "population or built-up missing at start or end, or the rule undecidable",
}

#: Legend colour of each class (``#rrggbb``), shared by the charts and the QGIS styles: blues
#: for growing, greens for stable and warm colours for shrinking cities; the paradox
#: (``shrinking_expanding``) in a strong red.
CLASS_COLOURS: dict[str, str] = {
    "growing_expanding": "#2166ac",
    "growing_stable": "#67a9cf",
    "growing_contracting": "#5e3c99",
    "stable_expanding": "#1b7837",
    "stable_stable": "#7fbf7b",
    "stable_contracting": "#c2e699",
    "shrinking_expanding": "#d7191c",
    "shrinking_stable": "#fdae61",
    "shrinking_contracting": "#8c510a",
    "no_data": "#d9d9d9",
}

COLUMNS: tuple[str, ...] = (
    "pop_start",
    "pop_end",
    "pop_change_pct",
    "builtup_km2_start",
    "builtup_km2_end",
    "builtup_change_pct",
    "ntl_sum_start",
    "ntl_sum_end",
    "ntl_change_pct",
    "lit_km2_start",
    "lit_km2_end",
    "lcrpgr",
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
    "outflow",
    "outflow_ratio_pct",
    "outflow_city",
    "age60_share_start",
    "age60_share_end",
    "age60_share_change",
    "ageing",
    "urban_share_start",
    "urban_share_end",
    "dark_builtup_km2_start",
    "dark_builtup_km2_end",
    "dark_builtup_share_start",
    "dark_builtup_share_end",
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
        annual declines in a row up to `end`, "both" needs both, "multi" needs every enabled
        criterion of `criteria` (the national study's standard).
    consecutive_years
        Number of annual declines in a row that "consecutive" and the pop_decline criterion ask.
    shrink_threshold_pct
        Population change (percent) below minus this is shrinking under "period"; above plus
        this is growing under every rule.
    expand_threshold_pct
        Built-up change (percent) above this is expanding, below minus this contracting.
    population
        "resident" or "urban": which population the rules and ratios use.
    criteria
        Criteria that "multi" requires, any of "pop_decline", "econ_lag", "mismatch" (a list is
        turned into a tuple).
    national_gdp_growth_pct
        National GDP growth over the period (percent) for "econ_lag"; when None, the growth of
        the summed GDP of the table's cities (see :func:`national_gdp_growth_pct`).
    lcrpgr_ratio
        LCRPGR above this counts as a land-population mismatch.
    ageing_share_pct
        Share of residents aged 60+ (percent) above which a city is ageing.
    outflow_ratio_pct
        Registered-minus-resident population, in percent of registered, above which a city is
        an outflow city.

    Raises
    ------
    ConfigError
        When a value is out of range or unknown.
    """

    start: int
    end: int
    shrink_rule: ShrinkRule = "period"
    consecutive_years: int = 3
    shrink_threshold_pct: float = 0.0
    expand_threshold_pct: float = 0.0
    population: PopulationKind = "resident"
    criteria: tuple[str, ...] = CRITERIA
    national_gdp_growth_pct: float | None = None
    lcrpgr_ratio: float = 1.0
    ageing_share_pct: float = 20.0
    outflow_ratio_pct: float = 10.0

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
        _check_finite("shrink_threshold_pct", self.shrink_threshold_pct, low=0)
        _check_finite("expand_threshold_pct", self.expand_threshold_pct, low=0)
        _check_finite("lcrpgr_ratio", self.lcrpgr_ratio)
        _check_finite("ageing_share_pct", self.ageing_share_pct, low=0, high=100)
        _check_finite("outflow_ratio_pct", self.outflow_ratio_pct, high=100)
        if self.national_gdp_growth_pct is not None:
            _check_finite("national_gdp_growth_pct", self.national_gdp_growth_pct, low=-100)

    def _check_choices(self) -> None:
        if isinstance(self.criteria, list):  # as TOML arrays arrive
            object.__setattr__(self, "criteria", tuple(self.criteria))
        choices = {"shrink_rule": get_args(ShrinkRule), "population": get_args(PopulationKind)}
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


def analyse(city_year: pd.DataFrame, config: AnalysisConfig) -> pd.DataFrame:
    """Period indicators, shrinking and expanding flags and a class for every city.

    Parameters
    ----------
    city_year
        The long table described in the module docstring (not modified).
    config
        Period, rule and thresholds.

    Returns
    -------
    pandas.DataFrame
        One row per city of `city_year`, indexed by ``city_id`` and sorted by it, with the
        columns of :data:`COLUMNS` in that order. Indicators whose inputs are missing are NaN
        (NA for the nullable-boolean ``crit_*``, ``outflow_city`` and ``ageing``). ``shrinking``,
        ``expanding`` and ``paradox`` are plain booleans, all false where ``class`` is
        ``"no_data"``; ``class`` is a key of :data:`CLASSES`.

    Raises
    ------
    InputError
        When `city_year` breaks its contract (see :func:`national_gdp_growth_pct`).
    ConfigError
        When the table cannot serve the configuration: no rows for `start` or `end`, no column
        for the chosen population, annual population (read, not interpolated) absent for a
        year the consecutive rule needs, or no GDP at both years for the "econ_lag" criterion.

    Notes
    -----
    Under the "period" rule a city whose population at `start` or `end` was interpolated is not
    judged (``class`` "no_data"): interpolated values are never evidence of a decline.
    """
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
    return _classify(out, status, config).loc[:, list(COLUMNS)]


def national_gdp_growth_pct(city_year: pd.DataFrame, start: int, end: int) -> float:
    """Growth of the summed GDP of all cities with GDP at both years, in percent.

    An aggregate, not a mean of the cities' rates: large economies weigh more.

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
        ``expanding``, ``paradox`` (counts), ``hollowing`` (count, NA without that column) and
        ``share_shrinking_expanding_pct`` (paradox cities in percent of shrinking cities, NaN
        when no city shrinks).

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
    shrinking, paradox = int(cities["shrinking"].sum()), int(cities["paradox"].sum())
    known = "hollowing" in cities.columns and cities["hollowing"].notna().any()
    hollowing = int(cities["hollowing"].sum()) if known else pd.NA
    return {
        "n_cities": len(cities),
        "shrinking": shrinking,
        "expanding": int(cities["expanding"].sum()),
        "paradox": paradox,
        "hollowing": hollowing,
        "share_shrinking_expanding_pct": paradox / shrinking * 100 if shrinking else np.nan,
    }


# --- input -------------------------------------------------------------------------------------

_ID, _YEAR, _INTERPOLATED = "city_id", "year", "interpolated"
_VALUES = (
    "builtup_km2",
    "ntl_sum",
    "lit_km2",
    "pop_resident",
    "pop_registered",
    "gdp",
    "pop_urban",
    "age60_share",
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
        for c in _VALUES
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


def _lcrpgr(
    builtup: tuple[pd.Series, pd.Series], pop: tuple[pd.Series, pd.Series], years: int
) -> pd.Series:
    """SDG 11.3.1 ratio of land consumption rate to population growth rate."""
    valid = (builtup[0] > 0) & (builtup[1] > 0) & (pop[0] > 0) & (pop[1] > 0) & (pop[0] != pop[1])
    lcr = np.log((builtup[1] / builtup[0]).where(valid)) / years
    pgr = np.log((pop[1] / pop[0]).where(valid)) / years
    return lcr / pgr


def _indicators(table: pd.DataFrame, config: AnalysisConfig) -> pd.DataFrame:
    """Every numeric column of the output, from the values at start and end."""
    start, end = config.start, config.end
    values = {c: _period_values(table, c, start, end) for c in _VALUES}
    pop = values[_POPULATION_COLUMN[config.population]]
    builtup, resident = values["builtup_km2"], values["pop_resident"]
    out = pd.DataFrame(index=table.index.unique(_ID))
    out["pop_start"], out["pop_end"] = pop
    out["pop_change_pct"] = _pct_change(*pop)
    for column, change in (("builtup_km2", "builtup"), ("ntl_sum", "ntl"), ("lit_km2", None)):
        out[f"{column}_start"], out[f"{column}_end"] = values[column]
        if change:
            out[f"{change}_change_pct"] = _pct_change(*values[column])
    out["lcrpgr"] = _lcrpgr(builtup, pop, end - start)
    for i, when in enumerate(("start", "end")):
        out[f"builtup_m2_per_capita_{when}"] = _ratio(builtup[i] * 1e6, pop[i])
        out[f"density_{when}"] = _ratio(pop[i], builtup[i])
    out["density_change_pct"] = _pct_change(out["density_start"], out["density_end"])
    out["gdp_start"], out["gdp_end"] = values["gdp"]
    out["gdp_change_pct"] = _pct_change(*values["gdp"])
    registered = values["pop_registered"]
    out["pop_registered_start"], out["pop_registered_end"] = registered
    out["outflow"] = registered[1] - resident[1]
    out["outflow_ratio_pct"] = _ratio(out["outflow"], registered[1]) * 100
    ratio = out["outflow_ratio_pct"]
    out["outflow_city"] = _flag(ratio > config.outflow_ratio_pct, ratio)
    age = values["age60_share"]
    out["age60_share_start"], out["age60_share_end"] = age
    out["age60_share_change"] = age[1] - age[0]
    out["ageing"] = _flag(age[1] > config.ageing_share_pct, age[1])
    urban = values["pop_urban"]
    out["urban_share_start"] = _ratio(urban[0], resident[0]) * 100
    out["urban_share_end"] = _ratio(urban[1], resident[1]) * 100
    dark = values["dark_builtup_km2"]
    light = values["ntl_sum"]
    for i, when in enumerate(("start", "end")):
        out[f"dark_builtup_km2_{when}"] = dark[i]
        out[f"dark_builtup_share_{when}"] = _ratio(dark[i], builtup[i])
        out[f"light_per_builtup_{when}"] = _ratio(light[i], builtup[i])
    out["light_per_builtup_change_pct"] = _pct_change(
        out["light_per_builtup_start"], out["light_per_builtup_end"]
    )
    return out


# --- rules -------------------------------------------------------------------------------------


def _consecutive_decline(table: pd.DataFrame, config: AnalysisConfig) -> pd.Series:
    """Whether the population fell in each of the last N years up to end, on read values."""
    column, end, n = _POPULATION_COLUMN[config.population], config.end, config.consecutive_years
    years = list(range(end - n, end + 1))
    read = table[column].astype(float).mask(table[_INTERPOLATED])
    read = read.unstack(_YEAR).reindex(index=table.index.unique(_ID), columns=years)
    absent = [year for year in years if read[year].isna().all()]
    if absent:
        if config.shrink_rule == "multi":
            asker, other = 'criterion "pop_decline"', 'drop "pop_decline" from criteria'
        else:
            asker, other = f'shrink_rule "{config.shrink_rule}"', 'use shrink_rule = "period"'
        what = (
            f"{asker} needs annual {column} for years {years[0]}..{end} "
            f"(read, not interpolated); absent: {', '.join(map(str, absent))}"
        )
        fix = f"add annual population for those years, or {other}"
        raise ConfigError(what, where=f"{_WHERE} shrink_rule", fix=fix)
    decline = pd.Series(True, index=read.index, dtype="boolean")
    for year in years[1:]:
        before, after = read[year - 1], read[year]
        decline &= _flag(after < before, before, after)
    return decline.rename(None)


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
        national = config.national_gdp_growth_pct
        if national is None:
            national = _aggregate_growth_pct(
                out["gdp_start"], out["gdp_end"], config.start, config.end
            )
        change = out["gdp_change_pct"]
        result["econ_lag"] = _flag(change < national, change)
    if "mismatch" in enabled:
        pop, builtup, lcrpgr = out["pop_change_pct"], out["builtup_change_pct"], out["lcrpgr"]
        grew = _flag(builtup > config.expand_threshold_pct, builtup)
        fell = _flag(pop < 0, pop)
        result["mismatch"] = (grew & fell) | _flag(lcrpgr > config.lcrpgr_ratio, lcrpgr)
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


def _classify(out: pd.DataFrame, status: pd.Series, config: AnalysisConfig) -> pd.DataFrame:
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
    out["shrinking"] = shrinking & judged
    out["expanding"] = expanding & judged
    out["paradox"] = out["shrinking"] & out["expanding"]
    share = out["dark_builtup_share_start"], out["dark_builtup_share_end"]
    out["hollowing"] = _flag(out["paradox"] & (share[1] > share[0]), *share)
    out["class"] = np.where(judged, np.char.add(np.char.add(people, "_"), land), "no_data")
    out["class"] = out["class"].astype(object)
    return out.rename_axis(_ID).sort_index()
