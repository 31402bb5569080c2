"""Read population tables (CSV or Excel, long or wide) into one long table per city and year.

Terms
-----
long format
    One row per city and year: an id column, a year column and one column per measure
    (``adcode, year, pop_resident``).
wide format
    One row per city and one column per measure and year, named by a pattern such as
    ``popu_{year}`` (``popu_2010, popu_2020``).
city id
    The text that identifies a city (an adcode such as ``"230400"``), kept as written so that
    leading zeros survive, then mapped through the spec's aliases (``"110100"`` to ``"110000"``).
row
    A row number as a spreadsheet shows it: the header is row 1, the first data row is row 2.
"""

from __future__ import annotations

import io
import logging
import os
import re
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal, get_args

import numpy as np
import pandas as pd

from urbanshrink_gis.errors import ConfigError, PopulationError, did_you_mean, first_line

__all__ = [
    "MUNICIPALITY_ALIASES",
    "PopulationSpec",
    "interpolate_population",
    "read_population",
]

log = logging.getLogger(__name__)

#: Census codes of the four municipalities (``xx0100``) mapped to the boundary codes (``xx0000``).
MUNICIPALITY_ALIASES: Mapping[str, str] = MappingProxyType(
    {"110100": "110000", "120100": "120000", "310100": "310000", "500100": "500000"}
)

Method = Literal["linear", "loglinear"]

_YEAR = "{year}"
_EXCEL = {".xlsx", ".xlsm"}
_ENCODINGS = ("utf-8-sig", "gb18030")
_MISSING = frozenset({"", "NA", "NaN", "nan"})
# a number as people write it: optional sign, thousands separators, decimals, exponent
_NUMBER = r"[+-]?(?=\.?[0-9])(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]*)(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?"
_SHOWN = 10  # problems listed in one error message


@dataclass(frozen=True, slots=True)
class PopulationSpec:
    """Where a population table is and which columns hold what.

    Parameters
    ----------
    path
        A CSV file or an Excel workbook (``.xlsx``, ``.xlsm``).
    id
        Column with the city ids.
    year
        Long format: the column with the year. When the table has no such column (or this is
        None), the table is read as wide format and `resident` must contain ``{year}``.
    resident
        Resident population in persons. Long format: a column name; wide format: a pattern
        with ``{year}``, such as ``"popu_{year}"`` or just ``"{year}"``.
    registered
        Registered (hukou) population in persons, in the same form as `resident`.
    gdp
        Gross domestic product, in the same form as `resident` (units as in the source).
    urban
        Urban resident population in persons, in the same form as `resident`.
    age60
        Share of residents aged 60 or more, in percent (0-100), in the same form as `resident`.
    sheet
        Excel sheet name or 0-based index; the first sheet when None. Ignored for CSV.
    encoding
        Text encoding of a CSV file; None tries UTF-8 (with or without BOM), then GB18030
        (which covers GBK and GB2312).
    aliases
        Source id to boundary id, applied to every id after reading.
    """

    path: str | os.PathLike
    id: str = "adcode"
    year: str | None = "year"
    resident: str = "pop_resident"
    registered: str | None = None
    gdp: str | None = None
    urban: str | None = None
    age60: str | None = None
    sheet: str | int | None = None
    encoding: str | None = None
    # a mapping cannot be hashed; leaving it out of the hash keeps specs usable as keys
    aliases: Mapping[str, str] = field(default_factory=lambda: MUNICIPALITY_ALIASES, hash=False)

    def measures(self) -> dict[str, str]:
        """Output column name to source column (or pattern), for the measures given.

        Returns
        -------
        dict
            ``pop_resident`` first, then ``pop_registered``, ``gdp``, ``pop_urban`` and
            ``age60_share_pct`` when set.
        """
        named = {
            "pop_resident": self.resident,
            "pop_registered": self.registered,
            "gdp": self.gdp,
            "pop_urban": self.urban,
            "age60_share_pct": self.age60,
        }
        return {out: src for out, src in named.items() if src is not None}


def read_population(spec: PopulationSpec) -> pd.DataFrame:
    """Read a population table in long or wide format and check it.

    Every cell is read as text first: ids keep their leading zeros, and numbers may carry
    thousands separators (``"1,058,665"``). Empty cells (and ``NA``, ``NaN``) are missing values.

    Parameters
    ----------
    spec
        The file and its columns. The table is long when it has the `spec.year` column, wide
        when `spec.resident` contains ``{year}``.

    Returns
    -------
    pandas.DataFrame
        One row per city and year, sorted by ``(city_id, year)``: ``city_id`` (str), ``year``
        (int), ``pop_resident`` (float, persons) and, when given, ``pop_registered``, ``gdp``,
        ``pop_urban`` and ``age60_share_pct`` (percent). Only the years in the file appear.

    Raises
    ------
    PopulationError
        The file is missing, unreadable, undecodable or empty; the sheet or a column is
        missing; a cell is not a number, negative or not a percentage; an id or year is
        missing or invalid; or a city appears twice in one year.
    """
    cells, where = _read_cells(spec)
    measures = spec.measures()
    if spec.year is not None and spec.year in cells.columns:
        table = _long_table(cells, spec, measures, where)
    elif _YEAR in spec.resident:
        table = _wide_table(cells, spec, measures, where)
    elif spec.year is not None:
        raise _missing_column(spec.year, cells.columns, where, role="year")
    else:
        raise PopulationError(
            f"no year column and the resident column {spec.resident!r} has no {_YEAR}",
            where=where,
            fix='set year to the year column, or resident to a pattern such as "popu_{year}"',
        )
    table["city_id"] = table["city_id"].map(lambda cid: spec.aliases.get(cid, cid)).astype(str)
    _check_unique(table, where)
    out = table.drop(columns="row").sort_values(["city_id", "year"], kind="stable")
    log.debug("%s: %d rows, %d cities", where, len(out), out["city_id"].nunique())
    return out.reset_index(drop=True)


def interpolate_population(
    df: pd.DataFrame, years: Iterable[int], *, method: Method = "linear"
) -> pd.DataFrame:
    """Add rows for missing years between the known years of each city.

    Parameters
    ----------
    df
        A long table as `read_population` returns: ``city_id``, ``year`` and numeric columns.
    years
        Years wanted. A year gets a row only for a city that has rows before and after it;
        nothing is extrapolated.
    method
        ``"linear"`` interpolates values in a straight line; ``"loglinear"`` at a constant
        growth rate (geometrically), which suits populations.

    Returns
    -------
    pandas.DataFrame
        The rows of `df` plus the added rows, sorted by ``(city_id, year)``, with a boolean
        ``interpolated`` column (False for the rows of `df`). Each numeric column is
        interpolated between the nearest years where it is known; it is NaN where it is not
        known on both sides, and rows where every value would be NaN are not added.

    Raises
    ------
    ConfigError
        `method` is not one of the choices.
    PopulationError
        `df` lacks ``city_id`` or ``year``, repeats a city and year, or has negative values
        for ``"loglinear"``.
    """
    if method not in get_args(Method):
        raise ConfigError(
            f"unknown interpolation method {method!r}",
            where="interpolate_population",
            fix=f"use one of {', '.join(map(repr, get_args(Method)))}",
        )
    where = "population table"
    for column in ("city_id", "year"):
        _require(df.columns, column, where, role="key")
    _check_unique(df.assign(row=df.index), where)
    values = [
        c
        for c in df.columns
        if c not in ("city_id", "year", "interpolated")
        and pd.api.types.is_numeric_dtype(df[c])
        and not pd.api.types.is_bool_dtype(df[c])
    ]
    if method == "loglinear" and (df[values] < 0).any().any():
        raise PopulationError(
            "has negative values", where=where, fix='use method="linear" or correct the values'
        )
    wanted = np.array(sorted({int(y) for y in years}), dtype=np.int64)
    base = df.assign(interpolated=df.get("interpolated", False)).astype({"interpolated": bool})
    base = base.sort_values(["city_id", "year"], kind="stable")
    added = [
        _interpolate_city(city, group, wanted, values, method)
        for city, group in base.groupby("city_id", sort=False)
    ]
    out = pd.concat([base, *(a for a in added if len(a))], ignore_index=True)
    return out.sort_values(["city_id", "year"], kind="stable").reset_index(drop=True)


def _interpolate_city(
    city: str, group: pd.DataFrame, wanted: np.ndarray, values: list[str], method: Method
) -> pd.DataFrame:
    known = group["year"].to_numpy(dtype=np.int64)
    new = wanted[(wanted > known[0]) & (wanted < known[-1]) & ~np.isin(wanted, known)]
    rows = pd.DataFrame({"city_id": city, "year": new, "interpolated": True})
    for column in values:
        present = group[column].notna().to_numpy()
        rows[column] = _between(new, known[present], group[column].to_numpy(float)[present], method)
    if values:
        rows = rows[rows[values].notna().any(axis=1)]
    return rows.astype({"city_id": group["city_id"].dtype, "year": group["year"].dtype})


def _between(x: np.ndarray, xp: np.ndarray, fp: np.ndarray, method: Method) -> np.ndarray:
    """Interpolate at `x` (none of them in `xp`) between the neighbouring known points."""
    right = np.searchsorted(xp, x)
    inside = (right > 0) & (right < len(xp))
    if not inside.any():
        return np.full(len(x), np.nan)
    right = np.clip(right, 1, len(xp) - 1)
    x0, x1, f0, f1 = xp[right - 1], xp[right], fp[right - 1], fp[right]
    w = (x - x0) / (x1 - x0)
    # geometric path f0 ** (1 - w) * f1 ** w stays at 0 from a zero end, without log(0)
    out = f0 ** (1 - w) * f1**w if method == "loglinear" else f0 + w * (f1 - f0)
    return np.where(inside, out, np.nan)


# --- reading cells -------------------------------------------------------------------------


def _read_cells(spec: PopulationSpec) -> tuple[pd.DataFrame, str]:
    """Read the table as text: named columns, indexed by row number, empty rows dropped."""
    path = Path(spec.path)
    if not path.is_file():
        raise PopulationError("file not found", where=str(path), fix="check the population path")
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise PopulationError(
            "old Excel .xls files are not read", where=str(path), fix="save it as .xlsx or CSV"
        )
    if suffix in _EXCEL:
        grid, where = _excel_grid(path, spec.sheet)
    else:
        grid, where = _csv_grid(path, spec.encoding), str(path)
    return _named(grid, where), where


def _csv_grid(path: Path, encoding: str | None) -> pd.DataFrame:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise PopulationError(
            f"cannot be read ({err.strerror})", where=str(path), fix="check the file"
        ) from err
    text = _decode(data, encoding, str(path)).removeprefix("\ufeff")
    try:
        grid = pd.read_csv(
            io.StringIO(text),
            header=None,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
        )
    except pd.errors.EmptyDataError as err:
        raise PopulationError(
            "is empty", where=str(path), fix="give a table with a header"
        ) from err
    except pd.errors.ParserError as err:
        raise PopulationError(
            f"is not a readable CSV table ({first_line(err)})",
            where=str(path),
            fix="give a comma-separated file with the same number of fields on every line",
        ) from err
    return grid.fillna("")


def _decode(data: bytes, encoding: str | None, where: str) -> str:
    for name in (encoding,) if encoding else _ENCODINGS:
        try:
            text = data.decode(name)
        except UnicodeError:  # UnicodeDecodeError, and codecs such as idna raise the base
            continue
        except LookupError as err:
            raise PopulationError(
                f"unknown encoding {name!r}", where=where, fix="use e.g. utf-8 or gb18030"
            ) from err
        if "\x00" in text:  # UTF-16 without a BOM decodes as UTF-8 too, into garbage
            raise PopulationError(
                f"holds NUL characters when read as {name} (UTF-16 text, or not text at all)",
                where=where,
                fix='save it as a UTF-8 CSV, or set the population encoding (e.g. "utf-16")',
            )
        return text
    tried = encoding or " or ".join(_ENCODINGS)
    raise PopulationError(
        f"is not {tried} text",
        where=where,
        fix="save it as a UTF-8 CSV, or set the population encoding",
    )


def _excel_grid(path: Path, sheet: str | int | None) -> tuple[pd.DataFrame, str]:
    import openpyxl  # only Excel tables need it (and it costs ~0.1 s to import)
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = openpyxl.load_workbook(path, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError) as err:
        raise PopulationError(
            f"is not a readable Excel workbook ({first_line(err)})",
            where=str(path),
            fix="open and save it again as .xlsx, or export a CSV",
        ) from err
    names = book.sheetnames
    if isinstance(sheet, int) and 0 <= sheet < len(names):
        sheet = names[sheet]
    elif sheet is None:
        sheet = names[0]
    if sheet not in names:
        raise PopulationError(
            f"no sheet {sheet!r} (sheets: {', '.join(map(repr, names))})",
            where=str(path),
            fix="set the sheet to one of these names or a 0-based index",
        )
    rows = [[_cell_text(v) for v in row] for row in book[sheet].iter_rows(values_only=True)]
    return pd.DataFrame(rows, dtype=object), f"{path} sheet {sheet!r}"


def _cell_text(value: object) -> str:
    """Render an Excel cell as the text a CSV would hold; integral floats lose their ``.0``."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _named(grid: pd.DataFrame, where: str) -> pd.DataFrame:
    """Use the first row as the header; index the data rows by their spreadsheet row number."""
    if grid.empty:
        raise PopulationError("is empty", where=where, fix="give a table with a header")
    header = [str(h).strip() for h in grid.iloc[0]]
    seen = [h for h in header if h]
    repeated = sorted({h for h in seen if seen.count(h) > 1})
    if repeated:
        raise PopulationError(
            f"column(s) {', '.join(map(repr, repeated))} appear more than once",
            where=where,
            fix="give each column a distinct name",
        )
    cells = grid.iloc[1:].set_axis(header, axis=1)
    cells = cells.loc[:, [bool(h) for h in header]].map(lambda v: str(v).strip())
    cells.index = pd.RangeIndex(2, len(grid) + 1)
    cells = cells[(cells != "").any(axis=1)]
    if cells.empty:
        raise PopulationError("has no data rows", where=where, fix="add one row per city")
    return cells


# --- long and wide layouts -----------------------------------------------------------------


def _long_table(
    cells: pd.DataFrame, spec: PopulationSpec, measures: dict[str, str], where: str
) -> pd.DataFrame:
    for role, column in (("id", spec.id), *measures.items()):
        _require(cells.columns, column, where, role=role)
    problems: list[str] = []
    table = pd.DataFrame(
        {
            "city_id": _ids(cells[spec.id], problems),
            "year": _years(cells[spec.year], problems),
            "row": cells.index,
        },
        index=cells.index,
    )
    for out, column in measures.items():
        table[out] = _numbers(cells[column], out, problems)
    _raise_problems(problems, where)
    return table.astype({"year": np.int64})


def _wide_table(
    cells: pd.DataFrame, spec: PopulationSpec, measures: dict[str, str], where: str
) -> pd.DataFrame:
    _require(cells.columns, spec.id, where, role="id")
    years = _pattern_years(spec.resident, cells.columns)
    if not years:
        hint = did_you_mean(spec.resident, cells.columns)
        raise PopulationError(
            f"no column matches the resident pattern {spec.resident!r}",
            where=where,
            fix=f"{hint}columns are: {', '.join(cells.columns)}",
        )
    for out, pattern in measures.items():
        if _YEAR not in pattern:
            raise PopulationError(
                f"{out} column {pattern!r} has no {_YEAR} in a wide table",
                where=where,
                fix=f'use a pattern such as "{pattern}_{{year}}"',
            )
        for year in years:
            _require(cells.columns, pattern.replace(_YEAR, str(year)), where, role=f"{year} {out}")
    problems: list[str] = []
    ids = _ids(cells[spec.id], problems)
    parts = []
    for year in years:
        part = pd.DataFrame({"city_id": ids, "year": year, "row": cells.index}, index=cells.index)
        for out, pattern in measures.items():
            part[out] = _numbers(cells[pattern.replace(_YEAR, str(year))], out, problems)
        parts.append(part)
    _raise_problems(problems, where)
    return pd.concat(parts, ignore_index=True).astype({"year": np.int64})


def _pattern_years(pattern: str, columns: Iterable[str]) -> list[int]:
    """Years for which a column matches `pattern` (every ``{year}`` the same 4 digits)."""
    first, *rest = pattern.split(_YEAR)
    regex = re.escape(first) + r"(?P<year>[0-9]{4})" + "(?P=year)".join(map(re.escape, rest))
    years = {int(m["year"]) for c in columns if (m := re.fullmatch(regex, c))}
    return sorted(years)


# --- checks --------------------------------------------------------------------------------


def _require(columns: Iterable[str], column: str, where: str, *, role: str) -> None:
    if column not in columns:
        raise _missing_column(column, columns, where, role=role)


def _missing_column(
    column: str, columns: Iterable[str], where: str, *, role: str
) -> PopulationError:
    columns = list(columns)
    hint = did_you_mean(column, columns)
    return PopulationError(
        f"no {role} column {column!r}",
        where=where,
        fix=f"{hint}columns are: {', '.join(columns) or '(none)'}",
    )


def _ids(raw: pd.Series, problems: list[str]) -> pd.Series:
    for row in raw.index[raw == ""]:
        problems.append(f"column {raw.name!r} row {row} has no id")
    return raw


def _years(raw: pd.Series, problems: list[str]) -> pd.Series:
    bad = ~raw.str.fullmatch(r"[0-9]{4}")
    for row, value in raw[bad].items():
        problems.append(f"column {raw.name!r} row {row} {value!r} is not a year")
    return raw.where(~bad, "0").astype(np.int64)


def _numbers(raw: pd.Series, out: str, problems: list[str]) -> pd.Series:
    """Convert text cells to float: thousands separators allowed, missing markers to NaN."""
    missing = raw.isin(_MISSING)
    valid = missing | raw.str.fullmatch(_NUMBER)
    values = pd.to_numeric(raw.where(valid & ~missing).str.replace(",", ""))
    values = values.astype(float)
    problem = pd.Series("", index=raw.index)
    problem[~valid | np.isinf(values)] = "is not a number"
    problem[values < 0] = "is negative"
    if out == "age60_share_pct":
        problem[values > 100] = "is not a percentage (0-100)"
    for row in problem.index[problem != ""]:
        problems.append(f"column {raw.name!r} row {row} {raw[row]!r} {problem[row]}")
    return values


def _raise_problems(problems: list[str], where: str) -> None:
    if not problems:
        return
    shown = ", ".join(problems[:_SHOWN])
    more = f" and {len(problems) - _SHOWN} more" if len(problems) > _SHOWN else ""
    raise PopulationError(
        f"{len(problems)} bad cell(s): {shown}{more}",
        where=where,
        fix="correct them (numbers may use thousands separators; leave unknown values empty)",
    )


def _check_unique(table: pd.DataFrame, where: str) -> None:
    """Raise when a city has two rows for one year; `table` has a ``row`` column."""
    dup = table[table.duplicated(["city_id", "year"], keep=False)]
    if dup.empty:
        return
    groups = dup.groupby(["city_id", "year"], sort=True)["row"]
    listed = [
        f"city {cid} year {year} (rows {', '.join(map(str, sorted(rows)))})"
        for (cid, year), rows in list(groups)[:_SHOWN]
    ]
    raise PopulationError(
        f"{groups.ngroups} city-year(s) appear more than once: {', '.join(listed)}",
        where=where,
        fix="keep one row per city and year (ids are compared after aliases, 110100 -> 110000)",
    )
