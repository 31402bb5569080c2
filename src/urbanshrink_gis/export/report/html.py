"""The self-contained HTML report: tables, figures and the run's context."""

from __future__ import annotations

import base64
import html
import logging
import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from urbanshrink_gis._files import atomic_path
from urbanshrink_gis.errors import InputError, OutputExistsError
from urbanshrink_gis.export.report.charts import (
    _CHARTS,
    _CLASSES,
    _FLAGS,
    _class_order,
    _colour,
    _dark_top,
    _font_context,
    _png,
    _province_order,
    _years,
)

__all__ = ["REPORT_FILES", "write_report"]


def _asset(name: str) -> str:
    """The text of one of the page's package-data files (``report.css``, ``report.js``)."""
    return (resources.files(__package__) / name).read_text(encoding="utf-8")


log = logging.getLogger(__name__)

_REQUIRED = {
    "cities": ("city_id", "class", "pop_change_pct", "builtup_change_pct", *_FLAGS[:3]),
    "city_year": ("city_id", "year"),
    "summary": ("n_cities", *_FLAGS[:3], "share_shrinking_expanding_pct"),
}


#: Every file :func:`write_report` may write in its output folder.
REPORT_FILES: tuple[str, ...] = (*(name for name, _, _ in _CHARTS), "report.html")


#: Columns of the table of all cities: column, header, kind ("text", "class", "pct", "num",
#: "flag"); absent columns are left out.
_CITY_COLUMNS = (
    ("city_id", "id", "text"),
    ("name", "name", "text"),
    ("class", "class", "class"),
    ("pop_change_pct", "population change %", "pct"),
    ("builtup_change_pct", "built-up change %", "pct"),
    ("ntl_change_pct", "night-light change %", "pct"),
    ("builtup_km2_start", "built-up km² (start)", "num"),
    ("builtup_km2_end", "built-up km² (end)", "num"),
    *((flag, flag, "flag") for flag in _FLAGS),
)


#: How numbers of each kind of column are shown.
_NUMBER_FORMATS = {"pct": "{:+.1f}", "num": "{:,.1f}", "count": "{:,.0f}", "share": "{:.1f} %"}


def _e(value: object) -> str:
    return html.escape(str(value))


def _cell(value: object, kind: str) -> str:
    """One table cell; numbers carry their raw value in data-v for sorting."""
    if kind == "text":
        return f"<td>{'' if pd.isna(value) else _e(value)}</td>"
    if kind == "class":
        return (
            f'<td><span class="sw" style="background:{_colour(str(value))}"></span>{_e(value)}</td>'
        )
    if kind == "flag":
        return f"<td>{'–' if pd.isna(value) else 'yes' if value else 'no'}</td>"
    if pd.isna(value):
        return '<td class="n" data-v="">–</td>'
    return f'<td class="n" data-v="{float(value)!r}">{_NUMBER_FORMATS[kind].format(value)}</td>'


def _table(
    columns: list[tuple[str, str, str]],
    rows: pd.DataFrame,
    *,
    css: str = "sortable",
    shade: str | None = None,
    foot: pd.Series | None = None,
) -> str:
    """An HTML table of `columns`, each (column, header, kind).

    Rows whose boolean column `shade` is true get the CSS class of that name; `foot` is a last
    row kept out of sorting.
    """
    head = "".join(f"<th>{_e(header)}</th>" for _, header, _ in columns)
    body = []
    for _, row in rows.iterrows():
        tr = f'<tr class="{shade}">' if shade is not None and row[shade] else "<tr>"
        body.append(tr + "".join(_cell(row[c], kind) for c, _, kind in columns) + "</tr>")
    tfoot = ""
    if foot is not None:
        tfoot = "<tfoot><tr>" + "".join(_cell(foot[c], k) for c, _, k in columns) + "</tr></tfoot>"
    return (
        f'<table class="{css}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody>{tfoot}</table>"
    )


def _html(
    title: str,
    table: pd.DataFrame,
    city_year: pd.DataFrame,
    summary: pd.DataFrame,
    charts: list[tuple[str, str, bytes]],
    sensitivity: pd.DataFrame | None = None,
    scopes: pd.DataFrame | None = None,
    context: Mapping[str, Any] | None = None,
    no_data: bool = False,
) -> str:
    """The whole page; charts are (file name, caption, PNG bytes); ``no_data``: say so."""
    figures = {name: _figure_html(name, caption, png) for name, caption, png in charts}
    province_figure = figures.pop("chart_provinces.png", "")
    dark_figure = figures.pop("chart_dark_builtup.png", "")
    share = summary.loc["all", "share_shrinking_expanding_pct"]
    share_text = "n/a (no city shrinks)" if pd.isna(share) else f"{share:.2f} %"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_asset('report.css')}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">{len(table)} cities{_e(_years(city_year))}. A city is in the paradox '
        f"when it shrinks (population) and expands (built-up land) at once.{_e(_unit(table))}</p>",
        _NO_DATA_HTML if no_data else "",
        _cards_html(summary.loc["all"], share_text),
        f"<p>Of the shrinking cities, <b>{_e(share_text)}</b> still expanded their built-up "
        "land.</p>",
        *_run_html(context),
        "<h2>Classes</h2>",
        _classes_html(table),
        *_scopes_html(scopes),
        *_sensitivity_html(sensitivity),
        "<h2>Provinces</h2>",
        _provinces_html(table, summary),
        province_figure,
        "<h2>Charts</h2>" if figures else "",
        *figures.values(),
        *_dark_html(table, dark_figure),
        "<h2>All cities</h2><p>Paradox cities are shaded. Click a column header to sort.</p>",
        _cities_html(table),
        f"<footer>Written by urbanshrink_gis {_e(_version())}"
        f"{_e(_run_date(context))}; this file needs no other file.</footer>",
        f"<script>{_asset('report.js')}</script></body></html>",
    ]
    return "\n".join(part for part in parts if part) + "\n"


_NO_DATA_HTML = (
    '<p class="nodata"><b>No city has data for the analysis</b>: every unit is '
    "<code>no_data</code> (population or built-up land missing at the start or end year; "
    "city_year.csv shows which). The tables are written; no chart of changes is drawn.</p>"
)


def _figure_html(name: str, caption: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure id="{_e(Path(name).stem)}"><img alt="{_e(caption)}" '
        f'src="data:image/png;base64,{data}"><figcaption>{_e(caption)}</figcaption></figure>'
    )


def _cards_html(total: pd.Series, share_text: str) -> str:
    cards = [
        ("cities", int(total["n_cities"]), "card"),
        ("shrinking", int(total["shrinking"]), "card"),
        ("expanding", int(total["expanding"]), "card"),
        ("shrinking yet expanding", int(total["paradox"]), "card hl"),
        ("of shrinking cities still expand", share_text, "card hl"),
    ]
    return (
        '<section class="cards">'
        + "".join(f'<div class="{css}"><b>{_e(v)}</b>{_e(k)}</div>' for k, v, css in cards)
        + "</section>"
    )


def _classes_html(table: pd.DataFrame) -> str:
    order = _class_order(table["class"])
    counts = table["class"].value_counts()
    classes = pd.DataFrame(
        {
            "class": order,
            "meaning": [_CLASSES[c].description if c in _CLASSES else "" for c in order],
            "cities": [counts[c] for c in order],
        }
    )
    columns = [("class", "class", "class"), ("meaning", "meaning", "text")]
    return _table([*columns, ("cities", "cities", "count")], classes, css="classes")


_PROVINCE_HEADERS = {"n_cities": "cities", "paradox": "paradox (shrinking yet expanding)"}


def _provinces_html(table: pd.DataFrame, summary: pd.DataFrame) -> str:
    counts = [c for c in ("n_cities", *_FLAGS) if c in summary and summary[c].notna().any()]
    columns = [
        ("province", "province", "text"),
        *((c, _PROVINCE_HEADERS.get(c, c), "count") for c in counts),
        ("shrinking_share_pct", "shrinking (% of cities)", "share"),
        ("share_shrinking_expanding_pct", "paradox (% of shrinking)", "share"),
    ]
    order, how = _province_order(table, summary)
    provinces = summary.set_axis([str(p) for p in summary.index]).rename_axis("province")
    n = pd.to_numeric(provinces["n_cities"], errors="coerce")
    shrinking = pd.to_numeric(provinces["shrinking"], errors="coerce")
    provinces = provinces.assign(shrinking_share_pct=shrinking / n.where(n > 0) * 100)
    rows = provinces.loc[order].reset_index()
    foot = provinces.loc[["all"]].reset_index().iloc[0]
    return f"<p>Provinces {_e(how)}.</p>" + _table(columns, rows, foot=foot)


def _version() -> str:
    from urbanshrink_gis import __version__

    return __version__


def _run_date(context: Mapping[str, Any] | None) -> str:
    date = (context or {}).get("date")
    return f" on {date}" if date else ""


def _run_html(context: Mapping[str, Any] | None) -> list[str]:
    """Section on what the run was: rule, thresholds, inputs, version and date."""
    if not context:
        return [
            "<h2>Run</h2>",
            f"<p>urbanshrink_gis {_e(_version())}. The run's rule, thresholds and inputs are "
            "unknown: they were not given to this report (written from tables alone).</p>",
        ]
    items = [("package", f"urbanshrink_gis {_version()}")]
    if context.get("date"):
        items.append(("date", str(context["date"])))
    for key in ("period", "rule", "scope", "population", "boundaries"):
        if context.get(key):
            items.append((key, str(context[key])))
    settings = context.get("settings") or {}
    if settings:
        items.append(("thresholds and settings",
                      "; ".join(f"{k} = {_setting(v)}" for k, v in settings.items())))  # fmt: skip
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in items)
    parts = ["<h2>Run</h2>", f'<table class="run">{rows}</table>']
    inputs = context.get("inputs") or []
    if inputs:
        frame = pd.DataFrame(
            [
                {
                    "series": one.get("series", ""),
                    "kind": one.get("kind", ""),
                    "product": one.get("product", ""),
                    "years": ", ".join(str(y) for y in one.get("years", ())),
                    "files": one.get("files", ""),
                }
                for one in inputs
            ]
        )
        columns = [(c, c, "text") for c in ("series", "kind", "product", "years", "files")]
        parts.append(_table(columns, frame, css="inputs"))
    return parts


def _setting(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return "none" if value is None else str(value)


_SENSITIVITY_COLUMNS = [
    ("pop_threshold_pct", "population change below %", "num"),
    ("builtup_threshold_pct", "built-up change above %", "num"),
    ("shrinking", "shrinking", "count"),
    ("expanding", "expanding", "count"),
    ("paradox", "paradox", "count"),
    ("hollowing", "hollowing", "count"),
    ("share_shrinking_expanding_pct", "paradox (% of shrinking)", "share"),
]


def _unit(table: pd.DataFrame) -> str:
    """The unit measured and its population, as the run's ``scope``/``pop_basis`` say."""
    if "scope" not in table.columns or table.empty:
        return ""
    unit = "urban footprints" if table["scope"].iloc[0] == "urban" else "prefectures"
    basis = f"; population: {table['pop_basis'].iloc[0]}" if "pop_basis" in table.columns else ""
    return f" Unit: {unit}{basis}."


_SCOPE_COLUMNS = [
    ("scope", "unit", "text"),
    ("pop_basis", "population", "text"),
    ("n_cities", "cities", "count"),
    ("shrinking", "shrinking", "count"),
    ("expanding", "expanding", "count"),
    ("paradox", "paradox", "count"),
    ("hollowing", "hollowing", "count"),
    ("share_shrinking_expanding_pct", "paradox (% of shrinking)", "share"),
]


def _scopes_html(scopes: pd.DataFrame | None) -> list[str]:
    """Section comparing the prefecture and urban scopes (empty without it)."""
    if scopes is None or scopes.empty:
        return []
    rows = scopes.reset_index()
    columns = [c for c in _SCOPE_COLUMNS if c[0] in rows.columns]
    return [
        "<h2>Prefecture and urban scope</h2>",
        "<p>The same rules on the whole prefectures and on their urban footprints, each with "
        "its own population. A prefecture can lose residents to rural out-migration while its "
        "urban core still gains them; the headline above is the first row.</p>",
        _table(columns, rows),
    ]


def _sensitivity_html(sensitivity: pd.DataFrame | None) -> list[str]:
    """Section with the counts over the threshold grid (empty without it)."""
    if sensitivity is None or sensitivity.empty:
        return []
    rows = sensitivity.reset_index()
    rows["configured"] = rows["configured"].astype("boolean").fillna(False).astype(bool)
    shares = rows["share_shrinking_expanding_pct"].dropna()
    span = f"from {shares.min():.1f} % to {shares.max():.1f} %" if len(shares) else "not defined"
    columns = [c for c in _SENSITIVITY_COLUMNS if c[0] in rows.columns]
    return [
        "<h2>Sensitivity</h2>",
        "<p>The same rules with other thresholds: a city shrinks when its population changed "
        "by less than the first threshold (rules period and both), and expands when its "
        f"built-up land grew by more than the second. The headline share ranges {span}; "
        "the run's own thresholds are shaded.</p>",
        _table(columns, rows, shade="configured"),
    ]


def _dark_html(table: pd.DataFrame, figure: str) -> list[str]:
    """Section on new built-up land in the dark (empty when the run has no such data)."""
    top = _dark_top(table)
    if top.empty:
        return []
    columns = [
        spec
        for spec in (
            ("city_id", "id", "text"),
            ("name", "name", "text"),
            ("class", "class", "class"),
            ("new_builtup_km2", "new built-up km²", "num"),
            ("new_dark_builtup_km2", "of it dark km²", "num"),
            ("dark_builtup_share_pct_start", "dark share (start)", "share"),
            ("dark_builtup_share_pct_end", "dark share (end)", "share"),
            ("hollowing", "hollowing", "flag"),
        )
        if spec[0] in top.columns
    ]
    return [
        "<h2>New built-up land in the dark</h2>",
        "<p>Built-up land gained over the period whose night light is at or below the lit "
        "threshold at its end: a vacancy signal. <i>Hollowing</i> cities shrink, expand, and "
        "have a share of built-up land in the dark that rose by the configured minimum, with "
        "enough new built-up land.</p>",
        figure,
        _table(columns, top.drop(columns="_dark")),
    ]


def _cities_html(table: pd.DataFrame) -> str:
    columns = [spec for spec in _CITY_COLUMNS if spec[0] in table.columns]
    for when in ("start", "end"):
        column = f"dark_builtup_share_pct_{when}"
        if column in table.columns:
            columns.append((column, f"built-up in the dark ({when})", "share"))
    return _table(columns, table, shade="paradox")


def write_report(
    out_dir: str | os.PathLike,
    cities: gpd.GeoDataFrame,
    city_year: pd.DataFrame,
    summary: pd.DataFrame,
    *,
    sensitivity: pd.DataFrame | None = None,
    scopes: pd.DataFrame | None = None,
    overwrite: bool = False,
    title: str = "urbanshrink_gis report",
    context: Mapping[str, Any] | None = None,
) -> tuple[Path, ...]:
    """Write the charts as PNG files and ``report.html``, which embeds them, into a folder.

    Parameters
    ----------
    out_dir
        Output folder, created if needed; the files are named as in :data:`REPORT_FILES`.
    cities
        One row per city with ``city_id``, ``class``, ``pop_change_pct`` and
        ``builtup_change_pct`` (percent), the flags ``shrinking``, ``expanding`` and ``paradox``
        and the city polygons; optional ``name`` (labels; the id stands in), ``ntl_change_pct``,
        ``builtup_km2_start``/``_end``, ``hollowing`` and ``dark_builtup_share_pct_*``
        columns.
    city_year
        The long table with ``city_id``, ``year`` and ``builtup_km2`` (km²); optional
        ``ntl_sum``.
    summary
        Output of :func:`urbanshrink_gis.analysis.summarise`: per-province tallies and the row
        ``all``.
    sensitivity
        Output of :func:`urbanshrink_gis.analysis.sensitivity` (indexed by the two
        thresholds), shown as a table; left out when None.
    scopes
        Output of :func:`urbanshrink_gis.pipeline.compare_scopes`: the national tallies of the
        prefecture and urban scopes side by side; left out when None.
    overwrite
        Replace existing report files; otherwise any existing one raises before anything is
        written.
    title
        Title of the HTML page.
    context
        What the run was, shown in a section *Run*: ``date`` (ISO), ``period``, ``rule``, ``scope``,
        ``settings`` (thresholds and options, name to value), ``inputs`` (one mapping per
        raster series with ``series``, ``kind``, ``product``, ``years``, ``files``),
        ``population`` and ``boundaries`` (how they were read); every key optional. Without
        it the section says they are unknown (the report was written from tables alone).

    Returns
    -------
    tuple of pathlib.Path
        The files written: the charts that had data to show, then ``report.html``.

    Raises
    ------
    InputError
        A table lacks a required column, or ``summary`` has no ``all`` row.
    OutputExistsError
        A report file exists and ``overwrite`` is False.

    Warns
    -----
    UrbanShrinkWarning
        Once per process, when no font with Chinese glyphs is found; the charts are still
        written, with boxes in place of Chinese characters.

    Notes
    -----
    Figures are drawn on matplotlib's Agg canvas without pyplot; matplotlib's settings are
    changed only while drawing and restored after. The HTML holds every chart once more,
    base64-encoded (about 4/3 of the PNG sizes).
    """
    _check(cities, city_year, summary)
    out = Path(out_dir)
    existing = [str(out / name) for name in REPORT_FILES if (out / name).exists()]
    if existing and not overwrite:
        fix = "pass --overwrite or choose another output"
        raise OutputExistsError("output exists", where=", ".join(existing), fix=fix)
    table = _prepare(cities)
    charts = []
    empty = bool((table["class"] == "no_data").all())  # no city has data: only the map
    with _font_context():
        for name, caption, draw in _CHARTS:
            skip = empty and name != "chart_class_map.png"
            fig = None if skip else draw(table, city_year, summary)
            if fig is None:
                log.info("no data for %s; not drawn", name)
            else:
                charts.append((name, caption, _png(fig)))
    page = _html(
        title, table, city_year, summary, charts, sensitivity, scopes, context, no_data=empty
    )
    page = page.encode("utf-8")
    files = [(out / name, png) for name, _, png in charts] + [(out / "report.html", page)]
    for path, content in files:
        with atomic_path(path, overwrite=overwrite) as tmp:
            tmp.write_bytes(content)
        log.info("wrote %s", path)
    return tuple(path for path, _ in files)


def _check(cities: gpd.GeoDataFrame, city_year: pd.DataFrame, summary: pd.DataFrame) -> None:
    """Raise one InputError listing every broken part of the input contract."""
    tables = {"cities": cities, "city_year": city_year, "summary": summary}
    problems = [
        f"no column {', '.join(missing)} in {name}"
        for name, columns in _REQUIRED.items()
        if (missing := [c for c in columns if c not in tables[name].columns])
    ]
    if not isinstance(cities, gpd.GeoDataFrame):
        problems.append("cities is not a GeoDataFrame")
    if "all" not in summary.index:
        problems.append("summary has no row 'all'")
    if problems:
        fix = "pass the cities, city_year and summary of a run"
        raise InputError("; ".join(problems), where="write_report", fix=fix)


def _prepare(cities: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Cities sorted by id, class and flags filled in (NA as no_data, False), and a label."""
    table = cities.assign(city_id=cities["city_id"].astype(str))
    table = table.sort_values("city_id", kind="stable").reset_index(drop=True)
    table["class"] = table["class"].fillna("no_data").astype(str)
    for flag in _FLAGS[:3]:
        table[flag] = table[flag].astype("boolean").fillna(False).astype(bool)
    for column in ("pop_change_pct", "builtup_change_pct"):
        table[column] = table[column].astype(float)
    names = table["name"].fillna("").astype(str) if "name" in table.columns else table["city_id"]
    table["label"] = names.where(names.str.strip() != "", table["city_id"])
    return table
