"""The run's summary for the terminal."""

from __future__ import annotations

import pandas as pd

__all__ = ["paradox_text"]


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
