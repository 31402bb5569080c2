"""Human-readable summaries of a run: the terminal text (charts and HTML come with export)."""

from __future__ import annotations

import pandas as pd

__all__ = ["paradox_text"]


def paradox_text(cities: pd.DataFrame, summary: pd.DataFrame) -> str:
    """Lines naming the paradox cities and the share of shrinking cities that still expand.

    Parameters
    ----------
    cities
        The ``cities`` table (flags ``shrinking``, ``paradox``; optional ``name``).
    summary
        The regional tallies; its ``all`` row gives the totals.

    Returns
    -------
    str
    """
    paradox = cities[cities["paradox"].fillna(False).astype(bool)]
    total = summary.loc["all"] if "all" in summary.index else None
    lines = [f"{len(cities)} cities; {int(cities['shrinking'].fillna(False).sum())} shrinking; "
             f"{len(paradox)} shrinking yet expanding (the paradox)"]  # fmt: skip
    if total is not None and pd.notna(total.get("share_shrinking_expanding_pct")):
        lines.append(
            f"share of shrinking cities that still expand: "
            f"{total['share_shrinking_expanding_pct']:.1f} %"
        )
    cols = ["pop_change_pct", "builtup_change_pct"]
    for _, row in paradox.sort_values("pop_change_pct").iterrows():
        name = row.get("name", "")
        lines.append(
            f"  {row['city_id']} {name}: population {row[cols[0]]:+.1f} %, "
            f"built-up {row[cols[1]]:+.1f} %"
        )
    return "\n".join(lines)
