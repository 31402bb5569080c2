"""The report's charts, drawn with matplotlib."""

from __future__ import annotations

import contextlib
import functools
import io
import math
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

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

from urbanshrink_gis.analysis import CLASSES
from urbanshrink_gis.errors import UrbanShrinkWarning

#: The city classes by code.
_CLASSES = {c.code: c for c in CLASSES}

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


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI, facecolor="white")
    return buffer.getvalue()


def _colour(cls: str) -> str:
    return _CLASSES.get(cls, _CLASSES["no_data"]).colour


def _class_order(classes: pd.Series) -> list[str]:
    """Classes present, in the order of CLASSES, then any unknown ones sorted."""
    present = set(classes)
    return [c for c in _CLASSES if c in present] + sorted(present - set(_CLASSES))


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
    red = _CLASSES[_PARADOX].colour
    ax.add_patch(Rectangle((x0, 0), -x0, y1, facecolor=red, alpha=0.08, zorder=0))
    _corner_notes(ax, {(-1, 1): "shrinking, expanding: the paradox"}, red)
    notes = {
        (1, 1): "growing, expanding",
        (-1, -1): "shrinking, contracting",
        (1, -1): "growing, contracting",
    }
    _corner_notes(ax, notes)
    titles = ("population change (%)", "built-up area change (%)", "Population and built-up land")
    return _finish_scatter(fig, ax, table, data, (x, y), titles, city_year)


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
    titles = (
        "built-up area change (%)",
        "night-light sum change (%)",
        "Night light and built-up land",
    )
    return _finish_scatter(fig, ax, table, data, (x, y), titles, city_year)


def _finish_scatter(
    fig: Figure,
    ax: Axes,
    table: pd.DataFrame,
    data: pd.DataFrame,
    columns: tuple[str, str],
    titles: tuple[str, str, str],
    city_year: pd.DataFrame,
) -> Figure:
    """Axis labels, the title with the years, the cities drawn by class and the footnote."""
    xlabel, ylabel, title = titles
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(f"{title}{_years(city_year)}")
    _footnote(fig, table, data, _class_scatter(ax, data, *columns))
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
        ("shrinking", "shrinking", _CLASSES["shrinking_stable"].colour),
        ("paradox", "shrinking yet expanding", _CLASSES[_PARADOX].colour),
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
