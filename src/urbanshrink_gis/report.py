"""Human-readable summaries of a run: the terminal text, charts and a self-contained HTML report.

Terms
-----
paradox quadrant
    In the chart of population change against built-up change, the quadrant where the
    population fell (change < 0) while built-up land grew (change > 0). The class
    ``shrinking_expanding`` is the same idea judged by the configured rule and thresholds.
share of shrinking cities that still expand
    Paradox cities in percent of shrinking cities, from the ``all`` row of the summary (the
    analogue of the national study's headline figure).
report
    ``report.html``: one file with inline CSS, a few lines of inline JavaScript (sortable
    tables) and the charts embedded as base64 ``data:`` URIs, so it can be mailed or opened
    offline; it is byte-identical for identical inputs (the only date is the run's, from the
    ``context``).
context
    What the run was: its rule and thresholds, its inputs (series, preset, years), the date;
    given by :func:`urbanshrink_gis.pipeline.run` (see :func:`write_report`). The package
    version is always stated.
province order
    By province code (the first two digits of the 6-digit city codes) when the summary's
    provinces are codes or the cities carry a ``province`` column; otherwise by the share of
    their cities that shrink, highest first.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import html
import io
import logging
import math
import os
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from matplotlib import colormaps, font_manager, patheffects, rc_context
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PatchCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch, PathPatch, Rectangle
from matplotlib.path import Path as MplPath
from matplotlib.ticker import MaxNLocator, StrMethodFormatter
from matplotlib.transforms import Bbox

from urbanshrink_gis.analysis import CLASS_COLOURS, CLASSES
from urbanshrink_gis.errors import InputError, OutputExistsError, UrbanShrinkWarning
from urbanshrink_gis.export import atomic_path

__all__ = ["REPORT_FILES", "paradox_text", "write_report"]

log = logging.getLogger(__name__)


_CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Noto Sans CJK JP")
_CJK_FILES = ("/usr/share/fonts/opentype/noto", "NotoSansCJK*.tt[cf]")
_BASE_FAMILY = "DejaVu Sans"  # matplotlib's own font: glyphs the CJK font lacks fall back to it
_DPI = 150
_MAX_MAP_LABELS = 80  # name the cities on the class map only when there are at most this many
_MARKER_SIZE = 36  # scatter marker area, points²
_LABEL_RADII = (5.0, 14.0, 26.0, 40.0, 56.0, 74.0, 94.0)  # label offsets tried, points
_LABEL_ANGLES = np.deg2rad((30, 150, 330, 210, 90, 270, 0, 180, 60, 120, 300, 240))
_LEADER_MIN = 10.0  # labels farther than this (points) get a leader line
_LEADER = {"arrowstyle": "-", "color": "0.45", "linewidth": 0.5, "shrinkA": 1, "shrinkB": 4}
_HALO = [patheffects.withStroke(linewidth=2.5, foreground="white")]
_N_SERIES = 6  # paradox cities in the time-series chart
_PARADOX = "shrinking_expanding"
_FLAGS = ("shrinking", "expanding", "paradox", "hollowing")
_REQUIRED = {
    "cities": ("city_id", "class", "pop_change_pct", "builtup_change_pct", *_FLAGS[:3]),
    "city_year": ("city_id", "year"),
    "summary": ("n_cities", *_FLAGS[:3], "share_shrinking_expanding_pct"),
}


def paradox_text(cities: pd.DataFrame, summary: pd.DataFrame, *, limit: int | None = None) -> str:
    """Lines naming the paradox cities and the share of shrinking cities that still expand.

    Parameters
    ----------
    cities
        The ``cities`` table (flags ``shrinking``, ``paradox``; optional ``name``).
    summary
        The regional tallies; its ``all`` row gives the totals.
    limit
        List at most this many paradox cities (those that lost most people first), then a line
        saying how many more there are; None lists all, 0 none.

    Returns
    -------
    str
    """
    paradox = cities[cities["paradox"].fillna(False).astype(bool)]
    total = summary.loc["all"] if "all" in summary.index else None
    lines = [
        f"{len(cities)} cities; {int(cities['shrinking'].fillna(False).sum())} shrinking; "
        f"{len(paradox)} shrinking yet expanding (the paradox)"
    ]
    if total is not None and pd.notna(total.get("share_shrinking_expanding_pct")):
        lines.append(
            f"share of shrinking cities that still expand: "
            f"{total['share_shrinking_expanding_pct']:.1f} %"
        )
    cols = ["pop_change_pct", "builtup_change_pct"]
    ranked = paradox.sort_values("pop_change_pct")
    shown = ranked if limit is None else ranked.head(limit)
    for _, row in shown.iterrows():
        name = row.get("name", "")
        lines.append(
            f"  {row['city_id']} {name}: population {row[cols[0]]:+.1f} %, "
            f"built-up {row[cols[1]]:+.1f} %"
        )
    if 0 < len(shown) < len(ranked):
        lines.append(f"  ... and {len(ranked) - len(shown)} more paradox cities")
    return "\n".join(lines)


# --- fonts -------------------------------------------------------------------------------------


def _installed(family: str) -> bool:
    try:
        font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
    except ValueError:
        return False
    return True


@functools.cache
def _cjk_family() -> str | None:
    """Name of an installed font family with Chinese glyphs; warn once and None if there is none.

    A font missing from matplotlib's font cache (installed after the cache was built) is found
    by file and added to matplotlib's font list, which only makes it available.
    """
    family = next((f for f in _CJK_FAMILIES if _installed(f)), None)
    if family is None:
        folder, pattern = _CJK_FILES
        for path in sorted(Path(folder).glob(pattern)):
            font_manager.fontManager.addfont(path)
        family = next((f for f in _CJK_FAMILIES if _installed(f)), None)
    if family is None:
        warnings.warn(
            f"no font with Chinese glyphs (one of {', '.join(_CJK_FAMILIES)}); chart labels in "
            "Chinese will show as boxes; install fonts-noto-cjk",
            UrbanShrinkWarning,
            stacklevel=2,
        )
    return family


@contextlib.contextmanager
def _font_context() -> Iterator[None]:
    """Within the block, figures use the CJK font (matplotlib settings restored after)."""
    family = _cjk_family()
    with (
        rc_context(
            {"font.family": "sans-serif", "font.sans-serif": [family or _BASE_FAMILY, _BASE_FAMILY]}
        ),
        warnings.catch_warnings(),
    ):
        if family is None:  # already warned once; matplotlib would warn for every glyph
            warnings.filterwarnings("ignore", "Glyph .* missing from font", UserWarning)
        yield


# --- charts ------------------------------------------------------------------------------------


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI, facecolor="white")
    return buffer.getvalue()


def _colour(cls: str) -> str:
    return CLASS_COLOURS.get(cls, CLASS_COLOURS["no_data"])


def _class_order(classes: pd.Series) -> list[str]:
    """Classes present, in the order of CLASSES, then any unknown ones sorted."""
    present = set(classes)
    return [c for c in CLASSES if c in present] + sorted(present - set(CLASSES))


def _years(city_year: pd.DataFrame) -> str:
    years = city_year["year"].dropna()
    return f", {years.min()}–{years.max()}" if len(years) else ""


def _align(angle: float) -> tuple[str, str]:
    """Text alignment that puts a label on the side of its point the angle points to."""
    cos, sin = math.cos(angle), math.sin(angle)
    ha = "left" if cos > 0.25 else "right" if cos < -0.25 else "center"
    return ha, "bottom" if sin > 0.25 else "top" if sin < -0.25 else "center"


_ANCHOR = {"left": 0.0, "bottom": 0.0, "center": 0.5, "right": 1.0, "top": 1.0}


def _place_labels(
    ax: Axes, points: np.ndarray, labels: list[str], *, radii: tuple[float, ...], marker: float
) -> int:
    """Label points, most important first, where a label overlaps no marker and no other label.

    Each label tries offsets of growing radius (points) around its point, in _LABEL_ANGLES, and
    gets a leader line when far; one that fits nowhere inside the axes is left out.

    Parameters
    ----------
    ax
        Axes with fixed limits.
    points
        (n, 2) data coordinates, in order of priority.
    labels
        One text per point.
    radii
        Offsets to try, in points (0: centred on the point).
    marker
        Radius of the drawn markers in points (0: they are no obstacle).

    Returns
    -------
    int
        Labels left out for lack of room.
    """
    fig = ax.get_figure()
    fig.draw_without_rendering()  # settle the layout; the labels are kept out of it
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    scale = fig.dpi / 72
    pixels = ax.transData.transform(points)
    taken = [
        Bbox.from_bounds(x - r, y - r, 2 * r, 2 * r) for x, y in pixels if (r := marker * scale)
    ]
    candidates = [(r, a) for r in radii for a in (_LABEL_ANGLES if r else (0.0,))]
    left_out = 0
    for (x, y), (px, py), label in zip(points, pixels, labels, strict=True):
        text = ax.annotate(
            label,
            (x, y),
            xytext=(0, 0),
            textcoords="offset points",
            fontsize=7,
            zorder=4,
            arrowprops=_LEADER,
            path_effects=_HALO,
        )
        text.set_in_layout(False)
        width, height = text.get_window_extent(renderer).size
        for radius, angle in candidates:
            ha, va = _align(angle) if radius else ("center", "center")
            dx, dy = radius * math.cos(angle), radius * math.sin(angle)
            x0 = px + dx * scale - _ANCHOR[ha] * width
            y0 = py + dy * scale - _ANCHOR[va] * height
            box = Bbox.from_bounds(x0, y0, width, height)
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0
            if inside and box.y1 <= frame.y1 and not box.count_overlaps(taken):
                text.xyann = (dx, dy)
                text.set(ha=ha, va=va)
                text.arrow_patch.set_visible(radius > _LEADER_MIN)
                taken.append(box)
                break
        else:
            text.remove()
            left_out += 1
    return left_out


def _by_extremity(table: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """Rows sorted by distance from the origin, each axis scaled by its spread, farthest first."""
    spread_x, spread_y = (table[c].abs().max() or 1.0 for c in (x, y))
    distance = np.hypot(table[x] / spread_x, table[y] / spread_y)
    return table.loc[distance.sort_values(ascending=False, kind="stable").index]


def _class_scatter(ax: Axes, table: pd.DataFrame, x: str, y: str) -> int:
    """Points coloured by class, a legend and the names; return the names left out."""
    for cls in _class_order(table["class"]):
        part = table[table["class"] == cls]
        ax.scatter(
            part[x],
            part[y],
            s=_MARKER_SIZE,
            c=_colour(cls),
            edgecolors="black",
            linewidths=0.4,
            label=f"{cls} ({len(part)})",
            zorder=3,
        )
    ax.axhline(0, color="0.3", linewidth=0.8, zorder=1)
    ax.axvline(0, color="0.3", linewidth=0.8, zorder=1)
    ax.grid(color="0.9", zorder=0)
    ax.legend(title="class (cities)", fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    ranked = _by_extremity(table, x, y)
    marker = math.sqrt(_MARKER_SIZE) / 2 + 1
    points = ranked[[x, y]].to_numpy(dtype=float)
    return _place_labels(ax, points, list(ranked["label"]), radii=_LABEL_RADII, marker=marker)


def _limits(values: pd.Series) -> tuple[float, float]:
    """Axis limits around the finite values and 0, with a margin."""
    finite = values[np.isfinite(values.astype(float))]
    low, high = (min(finite.min(), 0.0), max(finite.max(), 0.0)) if len(finite) else (0.0, 0.0)
    margin = (high - low) * 0.08 or 1.0
    return low - margin, high + margin


def _scatter_axes(fig: Figure, data: pd.DataFrame, x: str, y: str) -> Axes:
    """Axes whose limits cover the data and the origin."""
    ax = fig.add_subplot()
    ax.set_xlim(*_limits(data[x]))
    ax.set_ylim(*_limits(data[y]))
    return ax


def _corner_notes(ax: Axes, notes: dict[tuple[int, int], str], colour: str = "0.35") -> None:
    """Write a note in the corner of each quadrant named by (x sign, y sign)."""
    for (sx, sy), text in notes.items():
        ax.text(
            0.98 if sx > 0 else 0.02,
            0.98 if sy > 0 else 0.02,
            text,
            transform=ax.transAxes,
            ha="right" if sx > 0 else "left",
            va="top" if sy > 0 else "bottom",
            fontsize=8,
            style="italic",
            color=colour,
            zorder=2,
        )


def _footnote(fig: Figure, table: pd.DataFrame, data: pd.DataFrame, left_out: int) -> None:
    """Say how many cities are not shown and how many names were left out."""
    notes = []
    if len(table) > len(data):
        notes.append(f"{len(table) - len(data)} cities without data not shown")
    if left_out:
        names = "a name" if left_out == 1 else f"{left_out} names"
        notes.append(f"{names} left out for lack of room (report.html lists all)")
    if notes:
        fig.supxlabel("; ".join(notes), fontsize=8, color="0.35")


def _quadrant_chart(
    table: pd.DataFrame, city_year: pd.DataFrame, summary: pd.DataFrame
) -> Figure | None:
    """Population change against built-up change, the paradox quadrant shaded."""
    x, y = "pop_change_pct", "builtup_change_pct"
    data = table.dropna(subset=[x, y])
    if data.empty:  # no city has both (a night-light-only run): no chart
        return None
    fig = _figure(10, 7)
    ax = _scatter_axes(fig, data, x, y)
    (x0, _), (_, y1) = ax.get_xlim(), ax.get_ylim()
    red = CLASS_COLOURS[_PARADOX]
    ax.add_patch(Rectangle((x0, 0), -x0, y1, facecolor=red, alpha=0.08, zorder=0))
    _corner_notes(ax, {(-1, 1): "shrinking, expanding: the paradox"}, red)
    notes = {
        (1, 1): "growing, expanding",
        (-1, -1): "shrinking, contracting",
        (1, -1): "growing, contracting",
    }
    _corner_notes(ax, notes)
    ax.set_xlabel("population change (%)")
    ax.set_ylabel("built-up area change (%)")
    ax.set_title(f"Population and built-up land{_years(city_year)}")
    _footnote(fig, table, data, _class_scatter(ax, data, x, y))
    return fig


def _ntl_chart(
    table: pd.DataFrame, city_year: pd.DataFrame, summary: pd.DataFrame
) -> Figure | None:
    """Night-light change against built-up change, with the line of equal change."""
    x, y = "builtup_change_pct", "ntl_change_pct"
    if y not in table.columns or table[y].isna().all():
        return None
    data = table.dropna(subset=[x, y])
    if data.empty:
        return None
    fig = _figure(10, 7)
    ax = _scatter_axes(fig, data, x, y)
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    ax.add_patch(Rectangle((0, y0), x1, -y0, facecolor="0.5", alpha=0.1, zorder=0))
    low, high = max(x0, y0), min(x1, y1)
    ax.plot(
        [low, high],
        [low, high],
        color="0.5",
        linestyle="--",
        linewidth=0.8,
        zorder=1,
        label="equal change",
    )
    _corner_notes(ax, {(1, -1): "more built-up land, less light", (1, 1): "more land, more light"})
    ax.set_xlabel("built-up area change (%)")
    ax.set_ylabel("night-light sum change (%)")
    ax.set_title(f"Night light and built-up land{_years(city_year)}")
    _footnote(fig, table, data, _class_scatter(ax, data, x, y))
    return fig


def _series_chart(
    table: pd.DataFrame, city_year: pd.DataFrame, summary: pd.DataFrame
) -> Figure | None:
    """Built-up km² and night light by year of the paradox cities that lost most people."""
    paradox = table[table["paradox"].fillna(False).astype(bool) & table["pop_change_pct"].notna()]
    top = paradox.sort_values(["pop_change_pct", "city_id"]).head(_N_SERIES)
    if top.empty:
        return None
    panels = [("builtup_km2", "built-up area (km²)")]
    if "ntl_sum" in city_year.columns and city_year["ntl_sum"].notna().any():
        panels.append(("ntl_sum", "night-light sum"))
    fig = _figure(10, 3.6 * len(panels) + 0.8)
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    years = city_year.sort_values("year")
    colours = colormaps["tab10"]
    for i, row in enumerate(top.itertuples()):
        rows = years[years["city_id"] == row.city_id]
        label = f"{row.label} ({row.pop_change_pct:+.1f} % population)"
        for ax, (column, _) in zip(axes, panels, strict=True):
            ax.plot(
                rows["year"], rows[column], marker="o", markersize=3, color=colours(i), label=label
            )
    for ax, (column, ylabel) in zip(axes, panels, strict=True):
        ax.set_ylabel(ylabel)
        ax.grid(color="0.9")
        if column == "ntl_sum":
            ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    axes[-1].set_xlabel("year")
    axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    axes[0].set_title(f"The {len(top)} paradox cities with the largest population decline")
    return fig


def _geometry_path(geometry: shapely.Geometry | None) -> MplPath | None:
    """The polygons of a geometry as one matplotlib path (holes kept), None if there are none."""
    if geometry is None or geometry.is_empty:
        return None
    parts = getattr(geometry, "geoms", [geometry])
    rings = []
    for polygon in (p for p in parts if p.geom_type == "Polygon" and not p.is_empty):
        polygon = shapely.geometry.polygon.orient(polygon)  # holes wind the other way
        rings += [
            MplPath(np.asarray(r.coords)[:, :2], closed=True)
            for r in (polygon.exterior, *polygon.interiors)
        ]
    return MplPath.make_compound_path(*rings) if rings else None


def _map_chart(
    table: pd.DataFrame, city_year: pd.DataFrame, summary: pd.DataFrame
) -> Figure | None:
    """The cities coloured by class."""
    shapes = table.geometry
    paths = [_geometry_path(g) for g in shapes]
    drawn = [i for i, p in enumerate(paths) if p is not None]
    if not drawn:
        return None
    xmin, ymin, xmax, ymax = shapes.iloc[drawn].total_bounds
    aspect = 1.0
    if shapes.crs is not None and shapes.crs.is_geographic:
        aspect = 1 / math.cos(math.radians((ymin + ymax) / 2))
    height = min(max(7 * (ymax - ymin) * aspect / max(xmax - xmin, 1e-9), 4), 11)
    fig = _figure(10, height)
    ax = fig.add_subplot()
    patches = [PathPatch(paths[i]) for i in drawn]
    colours = [_colour(table["class"].iloc[i]) for i in drawn]
    ax.add_collection(
        PatchCollection(patches, facecolors=colours, edgecolors="white", linewidths=0.5)
    )
    pad_x, pad_y = (xmax - xmin) * 0.02, (ymax - ymin) * 0.02
    ax.set_xlim(xmin - pad_x, xmax + pad_x)
    ax.set_ylim(ymin - pad_y, ymax + pad_y)
    ax.set_aspect(aspect)
    counts = table["class"].value_counts()
    handles = [
        Patch(facecolor=_colour(c), label=f"{c} ({counts[c]})")
        for c in _class_order(table["class"])
    ]
    ax.legend(
        handles=handles,
        title="class (cities)",
        fontsize=8,
        loc="upper left",
        bbox_to_anchor=(1.01, 1),
    )
    ax.tick_params(labelsize=7)
    ax.set_title(f"Classes of population and built-up change{_years(city_year)}")
    left_out = len(drawn)
    if len(drawn) <= _MAX_MAP_LABELS:  # largest cities first: they have room for a name
        area = pd.Series(shapely.area(np.asarray(shapes.iloc[drawn])), index=shapes.index[drawn])
        ranked = area.sort_values(ascending=False, kind="stable").index
        points = shapes.loc[ranked].representative_point()
        xy = np.column_stack([points.x, points.y])
        left_out = _place_labels(ax, xy, list(table.loc[ranked, "label"]), radii=(0.0,), marker=0)
    _footnote(fig, table, table.iloc[drawn], left_out)
    return fig


def _province_order(table: pd.DataFrame, summary: pd.DataFrame) -> tuple[list[str], str]:
    """The provinces of ``summary`` (without "all") in report order, and that order's name."""
    provinces = summary.drop(index="all")
    names = [str(p) for p in provinces.index]
    if all(name.isdigit() for name in names):
        return sorted(names, key=int), "by province code"
    if "province" in table.columns and table["city_id"].str.fullmatch(r"\d{6}").all():
        prefixes = table["city_id"].str[:2]
        codes = prefixes.groupby(table["province"].astype(str)).min()
        if set(names) <= set(codes.index):
            return sorted(names, key=lambda n: (codes[n], n)), "by province code"
    shrinking = pd.to_numeric(provinces["shrinking"], errors="coerce").fillna(0)
    share = shrinking / pd.to_numeric(provinces["n_cities"], errors="coerce").replace(0, np.nan)
    keys = pd.DataFrame({"share": share.fillna(0).to_numpy(), "n": provinces["n_cities"].to_numpy(),
                         "name": names})  # fmt: skip
    keys = keys.sort_values(["share", "n", "name"], ascending=[False, False, True], kind="stable")
    return list(keys["name"]), "by the share of their cities that shrink, highest first"


_ROW_INCHES = 0.24  # height of one province's bar
_MIN_CHART_INCHES = 3.0


def _province_chart(
    table: pd.DataFrame, city_year: pd.DataFrame, summary: pd.DataFrame
) -> Figure | None:
    """Per province, one bar of its cities with the shrinking, paradox and hollowing ones in it.

    The counts nest (hollowing within paradox within shrinking within cities), so each
    province is one row and the figure's height follows the number of provinces; a count is
    written only where it is not zero.
    """
    order, _ = _province_order(table, summary)
    if not order:
        return None
    provinces = summary.drop(index="all")
    provinces = provinces.set_axis([str(p) for p in provinces.index]).loc[order]
    bars = [
        ("n_cities", "cities", "0.85"),
        ("shrinking", "shrinking", CLASS_COLOURS["shrinking_stable"]),
        ("paradox", "shrinking yet expanding", CLASS_COLOURS[_PARADOX]),
    ]
    if "hollowing" in provinces.columns and provinces["hollowing"].notna().any():
        bars.append(("hollowing", "hollowing", "0.25"))
    fig = _figure(10, max(_MIN_CHART_INCHES, _ROW_INCHES * len(provinces) + 1.3))
    ax = fig.add_subplot()
    rows = np.arange(len(provinces))
    for k, (column, label, colour) in enumerate(bars):
        values = pd.to_numeric(provinces[column], errors="coerce").fillna(0).to_numpy()
        height = 0.8 - 0.16 * k  # nested bars, each inside the one before
        drawn = ax.barh(rows, values, height=height, color=colour, label=label)
        if column == "n_cities":
            ax.bar_label(drawn, labels=[f"{v:.0f}" for v in values], fontsize=7, padding=2)
        elif column == "shrinking":
            ax.bar_label(
                drawn, labels=[f"{v:.0f}" if v else "" for v in values], fontsize=7,
                label_type="center", color="white",
            )  # fmt: skip
    ax.set_yticks(rows, list(provinces.index), fontsize=8)
    ax.set_ylim(len(provinces) - 0.5, -0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("cities")
    ax.grid(axis="x", color="0.9")
    ax.set_axisbelow(True)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.set_title("Cities by province")
    return fig


_DARK_TOP = 15  # cities shown in the chart and table of new built-up in the dark


def _dark_top(table: pd.DataFrame) -> pd.DataFrame:
    """Cities with the most new built-up land dark at the end, largest first (none if absent)."""
    if "new_dark_builtup_km2" not in table.columns:
        return table.iloc[0:0]
    dark = pd.to_numeric(table["new_dark_builtup_km2"], errors="coerce")
    return table[dark > 0].assign(_dark=dark).sort_values("_dark", ascending=False)[:_DARK_TOP]


def _dark_chart(
    table: pd.DataFrame, city_year: pd.DataFrame, summary: pd.DataFrame
) -> Figure | None:
    """New built-up land split into lit and dark, for the cities with most of it dark."""
    top = _dark_top(table)
    if top.empty:
        return None
    fig = _figure(9, 0.35 * len(top) + 1.5)
    ax = fig.add_subplot()
    rows = np.arange(len(top))
    dark = top["_dark"].to_numpy()
    lit = (pd.to_numeric(top["new_builtup_km2"], errors="coerce").to_numpy() - dark).clip(0)
    ax.barh(rows, dark, color="#2d004b", label="new built-up, dark at the end")
    ax.barh(rows, lit, left=dark, color="#e66101", label="new built-up, lit")
    labels = top["name"] if "name" in top.columns else top["city_id"]
    ax.set_yticks(rows, [str(x) for x in labels])
    ax.invert_yaxis()
    ax.set_xlabel("km²")
    ax.grid(axis="x", color="0.9")
    ax.set_axisbelow(True)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("New built-up land in the dark")
    return fig


_Chart = Callable[[gpd.GeoDataFrame, pd.DataFrame, pd.DataFrame], Figure | None]
_CHARTS: tuple[tuple[str, str, _Chart], ...] = (
    (
        "chart_quadrants.png",
        "Population change against built-up change; the shaded quadrant "
        "(fewer people, more built-up land) is the paradox.",
        _quadrant_chart,
    ),
    ("chart_class_map.png", "Cities coloured by class.", _map_chart),
    (
        "chart_timeseries.png",
        "Built-up area and night light by year of the paradox cities that lost most people.",
        _series_chart,
    ),
    (
        "chart_ntl_builtup.png",
        "Night-light change against built-up change; in the shaded "
        "quadrant land was built while the light dimmed.",
        _ntl_chart,
    ),
    (
        "chart_provinces.png",
        "Cities per province, and among them the shrinking and the paradox ones (nested bars; "
        "white: the number of shrinking cities).",
        _province_chart,
    ),
    (
        "chart_dark_builtup.png",
        "New built-up land of the period, dark or lit at its end, for the cities with most of "
        "it dark: land built while nobody lights it.",
        _dark_chart,
    ),
)
#: Every file :func:`write_report` may write in its output folder.
REPORT_FILES: tuple[str, ...] = (*(name for name, _, _ in _CHARTS), "report.html")


# --- HTML --------------------------------------------------------------------------------------

_CSS = """
body{font-family:"Noto Sans CJK SC","Noto Sans SC","Microsoft YaHei",sans-serif;margin:2em auto;
max-width:1200px;padding:0 1em;color:#222}
h1{margin-bottom:.2em}.meta{color:#666;margin-top:0}
.cards{display:flex;flex-wrap:wrap;gap:1em}.card{border:1px solid #ddd;border-radius:6px;
padding:.6em 1em;min-width:8em}.card b{display:block;font-size:1.6em}.card.hl b{color:#d7191c}
table{border-collapse:collapse;font-size:.85em;margin:1em 0}
th,td{border-bottom:1px solid #e5e5e5;padding:.25em .6em;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.sortable th{cursor:pointer;user-select:none;background:#f4f4f4;position:sticky;top:0}
.sortable th[data-order=asc]::after{content:" \\25B2"}
.sortable th[data-order=desc]::after{content:" \\25BC"}
tr.paradox,tr.configured{background:#fdecec}tfoot td{font-weight:bold}
.sw{display:inline-block;width:.9em;height:.9em;border:1px solid #999;vertical-align:middle;
margin-right:.4em}
figure{margin:1.5em 0}img{max-width:100%}figcaption{color:#555;font-size:.9em}
footer{color:#888;font-size:.8em;margin-top:3em}
"""

_JS = """
document.querySelectorAll("table.sortable").forEach(table => {
  table.tHead.querySelectorAll("th").forEach((th, col) => th.addEventListener("click", () => {
    const asc = th.dataset.order !== "asc";
    table.tHead.querySelectorAll("th").forEach(h => delete h.dataset.order);
    th.dataset.order = asc ? "asc" : "desc";
    const key = row => {
      const cell = row.cells[col];
      if (cell.dataset.v === undefined) return cell.textContent;
      return cell.dataset.v === "" ? null : Number(cell.dataset.v);
    };
    const rows = [...table.tBodies[0].rows].sort((a, b) => {
      const x = key(a), y = key(b);
      if (x === null || y === null) return (x === null) - (y === null);
      const d = typeof x === "number" ? x - y : x.localeCompare(y, "zh", {numeric: true});
      return asc ? d : -d;
    });
    table.tBodies[0].append(...rows);
  }));
});
"""

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
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
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
        f"<script>{_JS}</script></body></html>",
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
            "meaning": [CLASSES.get(c, "") for c in order],
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
            f"<p>urbanshrink_gis {_e(_version())}. The run's rule, thresholds and inputs were "
            "not given to this report (written from tables alone).</p>",
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


# --- entry point -------------------------------------------------------------------------------


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
        it the section says the report was written from tables alone.

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
