"""The statistics the zonal engine computes: names, kinds and how each is finished."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from urbanshrink_gis.errors import ConfigError
from urbanshrink_gis.zonal import _kernels
from urbanshrink_gis.zonal.coverage import Runs
from urbanshrink_gis.zonal.reading import _mask_or_dummy, _Reading

__all__ = ["DEFAULT_STATS", "REGISTRY", "STATISTICS", "Statistic", "kind_of", "lookup"]

DEFAULT_STATS = ("count", "sum", "mean", "min", "max")
_PERCENTILE = re.compile(r"percentile_(\d+(\.\d+)?)$")

Kind = Literal["moment", "threshold", "area", "weighted", "value"]
#: What each kind of statistic needs, in the library's words.
KIND_NOTES: dict[Kind, str] = {
    "moment": "from running sums",
    "threshold": "needs threshold",
    "area": "from true pixel areas",
    "weighted": "needs weights",
    "value": "keeps every covered value to the end",
}
_CLI_NOTES = {"threshold": "with --threshold", "weighted": "with --weights"}


@dataclass(frozen=True)
class Statistic:
    """One statistic of the engine: its name, kind, meaning and how it is finished.

    Terms
    -----
    finish
        For the kinds other than ``"value"``: the per-zone column from the accumulators
        (:class:`_Moments`). For ``"value"``: one zone's value from its sorted values, their
        weights, whether weights are coverage fractions, and the percentile (``q``).
    """

    name: str
    kind: Kind
    meaning: str
    finish: Callable[..., Any]


def _some(m: _Moments, values: np.ndarray) -> np.ndarray:
    return np.where(m.n > 0, values, np.nan)


def _percentile(v: np.ndarray, w: np.ndarray, weighted: bool, q: float) -> float:
    if not weighted:
        return float(np.percentile(v, q))
    cum = np.cumsum(w)
    return float(v[min(np.searchsorted(cum, q / 100 * cum[-1]), len(v) - 1)])


def _by_weight(pick: Callable[[np.ndarray], Any]) -> Callable[..., float]:
    def finish(v: np.ndarray, w: np.ndarray, weighted: bool, q: float) -> float:
        uniq, start = np.unique(v, return_index=True)
        return float(uniq[pick(np.add.reduceat(w, start))])

    return finish


_REGISTRY = (
    Statistic("count", "moment", "valid pixels covered (fractions with exact coverage)",
              lambda m: m.n),
    Statistic("nodata_count", "moment", "nodata pixels covered", lambda m: m.total - m.n),
    Statistic("sum", "moment", "sum of the scaled values", lambda m: _some(m, m.sum)),
    Statistic("mean", "moment", "mean value", lambda m: _some(m, m.sum / m.n)),
    Statistic("min", "moment", "smallest value", lambda m: _some(m, m.vmin)),
    Statistic("max", "moment", "largest value", lambda m: _some(m, m.vmax)),
    Statistic("std", "moment", "population standard deviation",
              lambda m: _some(m, np.sqrt(m.m2 / m.n))),
    Statistic("range", "moment", "max - min", lambda m: _some(m, m.vmax - m.vmin)),
    Statistic("area_km2", "moment", "true area of the valid pixels (km²)", lambda m: m.area),
    Statistic("above_count", "threshold", "valid pixels above the threshold",
              lambda m: m.above_n),
    Statistic("above_km2", "threshold", "true area above the threshold (km²)",
              lambda m: m.above_area),
    Statistic("area_sum", "area", "sum of value x true pixel area (radiance x km², say)",
              lambda m: _some(m, m.area_sum)),
    Statistic("weighted_sum", "weighted", "sum of weight x value",
              lambda m: np.where(m.wn > 0, m.wv, np.nan)),
    Statistic("weighted_mean", "weighted", "weighted_sum / sum of weights",
              lambda m: np.where((m.wn > 0) & (m.w != 0), m.wv / m.w, np.nan)),
    Statistic("median", "value", "median value",
              lambda v, w, weighted, q: _percentile(v, w, weighted, 50.0)),
    Statistic("percentile_N", "value", "N-th percentile, N from 0 to 100 (percentile_90, say)",
              _percentile),
    Statistic("majority", "value", "most common value (by covered area)", _by_weight(np.argmax)),
    Statistic("minority", "value", "least common value (by covered area)", _by_weight(np.argmin)),
    Statistic("unique", "value", "number of distinct values",
              lambda v, w, weighted, q: float(len(np.unique(v)))),
)  # fmt: skip
#: The registry: every statistic :func:`~urbanshrink_gis.zonal.zonal_stats` takes, by name.
REGISTRY: dict[str, Statistic] = {s.name: s for s in _REGISTRY}
#: Every statistic's name; ``percentile_N`` stands for any N in 0..100.
STATISTICS = tuple(REGISTRY)


def lookup(name: str) -> tuple[Statistic, float] | None:
    """The registry's entry for a statistic name and its percentile (``percentile_90``: 90)."""
    if name in REGISTRY and name != "percentile_N":
        return REGISTRY[name], 50.0
    m = _PERCENTILE.match(name)
    if m and 0 <= float(m.group(1)) <= 100:
        return REGISTRY["percentile_N"], float(m.group(1))
    return None


def kind_of(name: str) -> Kind | None:
    """The kind of a statistic name, or None for a name the engine does not know."""
    found = lookup(name)
    return None if found is None else found[0].kind


def statistics_help() -> str:
    """The statistics grouped by kind, for ``--help``."""
    groups = []
    for kind, note in KIND_NOTES.items():
        names = " ".join(s.name for s in _REGISTRY if s.kind == kind)
        groups.append(f"{_CLI_NOTES.get(kind, note)}: {names}")
    return "; ".join(groups)


def statistics_section() -> str:
    """A numpydoc section listing every statistic with its meaning, for docstrings."""
    rows = "".join(f"    {s.name}\n        {s.meaning}; {KIND_NOTES[s.kind]}.\n" for s in _REGISTRY)
    return f"\n    Statistics\n    ----------\n{rows}"


@dataclass
class _Moments:
    """Per-zone moments that add up across bands, threads, processes and Dask workers.

    Inside one band the kernel adds sums shifted by each zone's first value (``shift``, ``s``,
    ``q``) for precision; :meth:`close` turns them into sum and squared deviations (``m2``),
    which :meth:`merge` combines with Chan's formula.
    """

    n_zones: int
    n: np.ndarray = field(init=False)
    total: np.ndarray = field(init=False)
    area: np.ndarray = field(init=False)
    above_n: np.ndarray = field(init=False)
    above_area: np.ndarray = field(init=False)
    shift: np.ndarray = field(init=False)
    has_shift: np.ndarray = field(init=False)
    s: np.ndarray = field(init=False)
    q: np.ndarray = field(init=False)
    sum: np.ndarray = field(init=False)
    m2: np.ndarray = field(init=False)
    vmin: np.ndarray = field(init=False)
    vmax: np.ndarray = field(init=False)
    area_sum: np.ndarray = field(init=False)
    wn: np.ndarray = field(init=False)
    w: np.ndarray = field(init=False)
    wv: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        z = self.n_zones
        for name in (*_ADDITIVE, "shift", "s", "q", "m2"):
            setattr(self, name, np.zeros(z))
        self.has_shift = np.zeros(z, bool)
        self.vmin = np.full(z, np.inf)
        self.vmax = np.full(z, -np.inf)

    def add(
        self, block: np.ndarray, mask: np.ndarray | None, reading: _Reading, runs: Runs,
        row_area: np.ndarray,
    ) -> None:  # fmt: skip
        """Add the pixels of one window's runs (shifted sums; call :meth:`close` after)."""
        _kernels.accumulate_moments(
            block, _mask_or_dummy(mask), mask is not None, *reading.nodata_args,
            reading.scale, reading.offset,
            runs.zone, runs.row, runs.col0, runs.col1, runs.weight, row_area, reading.threshold,
            self.n, self.total, self.area, self.above_n, self.above_area, self.shift,
            self.has_shift, self.s, self.q, self.vmin, self.vmax,
        )  # fmt: skip

    def add_weighted(
        self, block: np.ndarray, mask: np.ndarray | None, reading: _Reading, runs: Runs,
        row_area: np.ndarray, weights: np.ndarray | None,
    ) -> None:  # fmt: skip
        """Add the area sums and, with ``weights`` (float64, NaN = no weight), weighted sums."""
        _kernels.accumulate_weighted(
            block, _mask_or_dummy(mask), mask is not None, *reading.nodata_args,
            reading.scale, reading.offset,
            np.zeros((1, 1)) if weights is None else weights, weights is not None,
            runs.zone, runs.row, runs.col0, runs.col1, runs.weight, row_area,
            self.area_sum, self.wn, self.w, self.wv,
        )  # fmt: skip

    def close(self) -> _Moments:
        """Turn the shifted sums of a band into sums and squared deviations."""
        some = self.n > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            self.sum = np.where(some, self.s + self.n * self.shift, 0.0)
            self.m2 = np.where(some, np.maximum(self.q - self.s**2 / self.n, 0.0), 0.0)
        return self

    def merge(self, other: _Moments) -> None:
        """Add another (closed) partial into this one."""
        n = self.n + other.n
        with np.errstate(invalid="ignore", divide="ignore"):
            delta = np.where(
                (self.n > 0) & (other.n > 0), other.sum / other.n - self.sum / self.n, 0.0
            )
            cross = np.where(n > 0, delta**2 * self.n * other.n / n, 0.0)
        self.m2 = self.m2 + other.m2 + cross
        for name in _ADDITIVE:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.vmin = np.minimum(self.vmin, other.vmin)
        self.vmax = np.maximum(self.vmax, other.vmax)

    def table(self, stats: Sequence[str]) -> dict[str, np.ndarray]:
        """Final statistics from the accumulators (the kinds other than ``"value"``)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return {
                s: REGISTRY[s].finish(self)
                for s in stats
                if s in REGISTRY and REGISTRY[s].kind != "value"
            }


_ADDITIVE = ("n", "total", "area", "above_n", "above_area", "sum", "area_sum", "wn", "w", "wv")


@dataclass
class _Classes:
    """Per-zone, per-class pixel weights and areas, with classes found as they appear."""

    n_zones: int
    values: list[float] = field(default_factory=list)
    count: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    area: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    def add(
        self,
        coded: tuple[np.ndarray, np.ndarray, int, np.ndarray],
        runs: Runs,
        mask: np.ndarray | None,
        row_area: np.ndarray,
    ) -> None:
        """Count the classes of one window coded by :func:`_class_lut`."""
        values, lut, offset, classes = coded
        if len(classes) == 0:
            return
        index = self._index(classes)
        lut = np.where(lut >= 0, index[np.maximum(lut, 0)], -1).astype(np.int64)
        k = len(self.values)
        count = np.zeros(self.n_zones * k)
        area = np.zeros(self.n_zones * k)
        _kernels.accumulate_classes(
            values,
            lut,
            offset,
            _mask_or_dummy(mask),
            mask is not None,
            runs.zone,
            runs.row,
            runs.col0,
            runs.col1,
            runs.weight,
            row_area,
            k,
            count,
            area,
        )
        self.count += count.reshape(self.n_zones, k)
        self.area += area.reshape(self.n_zones, k)

    def merge(self, other: _Classes) -> None:
        """Add another partial (its classes may differ) into this one."""
        if not other.values:
            return
        index = self._index(np.asarray(other.values))
        count = self.count.reshape(self.n_zones, -1)
        area = self.area.reshape(self.n_zones, -1)
        count[:, index] += other.count.reshape(self.n_zones, -1)
        area[:, index] += other.area.reshape(self.n_zones, -1)

    def _index(self, classes: np.ndarray) -> np.ndarray:
        known = {v: i for i, v in enumerate(self.values)}
        fresh = [c for c in classes.tolist() if c not in known]
        if fresh:
            self.values.extend(fresh)
            grow = len(fresh)
            self.count = np.pad(self.count.reshape(self.n_zones, -1), ((0, 0), (0, grow)))
            self.area = np.pad(self.area.reshape(self.n_zones, -1), ((0, 0), (0, grow)))
            known = {v: i for i, v in enumerate(self.values)}
        return np.array([known[c] for c in classes.tolist()], np.int64)

    def table(self, *, areas: bool) -> dict[Any, np.ndarray]:
        """Counts per class seen in some zone, by class, plus ``area_km2_<class>`` if asked."""
        count = self.count.reshape(self.n_zones, -1)
        area = self.area.reshape(self.n_zones, -1)
        seen = np.flatnonzero(count.any(axis=0))
        order = seen[np.argsort(np.asarray(self.values)[seen], kind="stable")]
        out: dict[Any, np.ndarray] = {}
        for i in order:
            out[_class_label(self.values[i])] = count[:, i]
        if areas:
            for i in order:
                out[f"area_km2_{_class_label(self.values[i])}"] = area[:, i]
        return out


def _class_label(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def _check_stats(
    stats: Iterable[str], threshold: float | None, *, weighted: bool = False
) -> tuple[str, ...]:
    stats = tuple(stats)
    for s in stats:
        kind = kind_of(s)
        if kind is None:
            raise ConfigError(
                f"unknown statistic {s!r}",
                where="stats",
                fix=f"choose from {', '.join(STATISTICS)}",
            )
        if kind == "threshold" and threshold is None:
            raise ConfigError(
                f"statistic {s!r} needs a threshold",
                where="stats",
                fix="pass threshold=VALUE",
            )
        if kind == "weighted" and not weighted:
            raise ConfigError(
                f"statistic {s!r} needs a weights raster",
                where="stats",
                fix="pass weights=RASTER",
            )
    return stats


def _class_lut(
    reading: _Reading, values: np.ndarray, runs: Runs
) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """Code a window's values as class indices.

    Returns the array to index, a lookup table (class index, -1 for nodata), the table's
    offset and the class values found in the runs. 8- and 16-bit integers use a direct table
    over the type's range; other types are coded through ``np.unique``.
    """
    if values.dtype.kind in "iu" and values.dtype.itemsize <= 2:
        info = np.iinfo(values.dtype)
        if values.dtype.itemsize == 1:  # every value is a class; unseen ones count 0
            present = np.ones(256, bool)
        else:
            present = np.zeros(int(info.max) - int(info.min) + 1, bool)
            _kernels.mark_values(
                values, int(info.min), runs.zone, runs.row, runs.col0, runs.col1, present
            )
        if reading.nodata is not None and info.min <= reading.nodata <= info.max:
            present[int(reading.nodata) - info.min] = False
        classes = np.flatnonzero(present) + info.min
        table = np.full(len(present), -1, np.int64)
        table[classes - info.min] = np.arange(len(classes))
        return values, table, int(info.min), classes.astype(np.float64)
    uniq, inverse = np.unique(values, return_inverse=True)
    keep = ~np.isnan(uniq) if uniq.dtype.kind == "f" else np.ones(len(uniq), bool)
    if reading.nodata is not None:
        keep &= uniq != reading.nodata
    table = np.full(len(uniq), -1, np.int64)
    table[keep] = np.arange(int(keep.sum()))
    return inverse.reshape(values.shape), table, 0, uniq[keep].astype(np.float64)


def _value_stats(
    parts: list[tuple[np.ndarray, ...]], n_zones: int, names: list[str], weighted: bool
) -> dict[str, np.ndarray]:
    """Median, percentiles, majority, minority and unique from gathered values."""
    out = {name: np.full(n_zones, np.nan) for name in names}
    if not parts:
        return out
    zone = np.concatenate([p[0] for p in parts])
    value = np.concatenate([p[1] for p in parts])
    weight = np.concatenate([p[2] for p in parts])
    order = np.lexsort((value, zone))
    zone, value, weight = zone[order], value[order], weight[order]
    bounds = np.searchsorted(zone, np.arange(n_zones + 1))
    for z in range(n_zones):
        v = value[bounds[z] : bounds[z + 1]]
        if v.size == 0:
            continue
        w = weight[bounds[z] : bounds[z + 1]]
        for name in names:
            out[name][z] = _one_value_stat(name, v, w, weighted)
    return out


def _one_value_stat(name: str, v: np.ndarray, w: np.ndarray, weighted: bool) -> float:
    statistic, q = lookup(name)  # type: ignore[misc]  # checked by _check_stats
    return statistic.finish(v, w, weighted, q)
