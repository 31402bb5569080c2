"""The run's per-pixel rasters: which to write, from which series, and how."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rasterio
from pyproj import CRS

from urbanshrink_gis._legend import ClassInfo
from urbanshrink_gis._progress import Progress
from urbanshrink_gis.export import cog, qgisxml
from urbanshrink_gis.io import series as sources
from urbanshrink_gis.io.rasters import reading_env
from urbanshrink_gis.metrics import change, vacancy
from urbanshrink_gis.pipeline.config import RunConfig
from urbanshrink_gis.pipeline.stages import _first_of, builtup_change_name, vacancy_source
from urbanshrink_gis.zonal.engine import Engine

__all__ = ["RasterPlan", "raster_plans", "write_rasters"]

RASTER_DIR = "rasters"
_TREND_NAMES = {"ols": "OLS", "theil_sen": "Theil-Sen"}


@dataclass(frozen=True, slots=True)
class RasterPlan:
    """One change or trend raster a run writes (``rasters/<name>``) and how."""

    name: str
    description: str
    blocks: Callable[[], Iterable[tuple[Any, Any]] | cog.Strips]
    template: str
    dtype: str
    nodata: float | None
    units: str = ""
    categories: tuple[ClassInfo, ...] | None = None
    ramp: cog.Ramp | None = None
    visible: bool = True

    def write(
        self,
        folder: Path,
        *,
        overwrite: bool,
        engine: Engine = Engine(),
        progress: Progress | None = None,
        rendered: cog.Rendered | None = None,
    ) -> tuple[qgisxml.ProjectLayer, Path]:
        """Write the raster as a COG with its .qml; return its project layer and path.

        Strips of it are computed and written on ``engine``'s scheduler (see
        :func:`urbanshrink_gis.export.cog.write_cog`), or taken as ``rendered`` already.
        """
        ready = {} if rendered is None else {self.name: rendered}
        (written,) = write_rasters(
            [self], folder, overwrite=overwrite, engine=engine, progress={self.name: progress},
            rendered=ready,
        )  # fmt: skip
        return written

    def request(
        self, folder: Path, rendered: cog.Rendered | None, progress: Progress | None
    ) -> cog.CogRequest:
        """What :func:`urbanshrink_gis.export.cog.write_cogs` writes for this raster."""
        with reading_env(), rasterio.open(self.template) as ref:
            grid = {"crs": ref.crs, "transform": ref.transform,
                    "width": ref.width, "height": ref.height}  # fmt: skip
        return cog.CogRequest(
            folder / self.name, grid, self.blocks() if rendered is None else rendered,
            dtype=self.dtype, nodata=self.nodata, description=self.description, units=self.units,
            categories=self.categories, ramp=self.ramp, progress=progress,
        )  # fmt: skip

    def layer(self, path: Path) -> qgisxml.ProjectLayer:
        """The project layer of the written raster (its style read from the .qml beside it)."""
        with reading_env(), rasterio.open(self.template) as ref:
            crs = CRS.from_user_input(ref.crs.to_wkt())
        return qgisxml.ProjectLayer(
            name=path.stem, source=f"./{RASTER_DIR}/{self.name}", kind="raster",
            style=cog.qml_path(path).read_text(encoding="utf-8"), crs=crs, visible=self.visible,
            title=f"{self.description} ({self.units})" if self.units else self.description,
        )  # fmt: skip


def write_rasters(
    plans: Sequence[RasterPlan],
    folder: Path,
    *,
    overwrite: bool,
    engine: Engine = Engine(),
    progress: Mapping[str, Progress | None] | None = None,
    rendered: Mapping[str, cog.Rendered] | None = None,
) -> list[tuple[qgisxml.ProjectLayer, Path]]:
    """Write the plans' rasters as COGs with their .qml; their project layers and paths.

    Each raster's strips are computed on ``engine``'s scheduler (or taken from ``rendered``,
    by file name), then every COG copy runs there side by side
    (:func:`urbanshrink_gis.export.cog.write_cogs`); ``progress`` maps a file name to its
    raster's progress.
    """
    progress, rendered = progress or {}, rendered or {}
    requests = [
        plan.request(folder, rendered.get(plan.name), progress.get(plan.name)) for plan in plans
    ]
    paths = cog.write_cogs(requests, overwrite=overwrite, engine=engine)
    return [(plan.layer(path), path) for plan, path in zip(plans, paths, strict=True)]


def raster_names(config: RunConfig) -> list[str]:
    """File names of the change and trend rasters a run writes (from the years alone)."""
    a = config.analysis
    first = {k: next((r for r in config.rasters if r.kind == k), None) for k in _PER_PIXEL}
    found = {k: r.files() for k, r in first.items() if r is not None}  # one walk per series
    within = {k: [y for y in sorted(f) if a.start <= y <= a.end] for k, f in found.items()}
    names = []
    for kind, years in within.items():
        if len(years) < 2:
            continue
        span = f"{years[0]}_{years[-1]}"
        if kind == "landcover":
            names.append(builtup_change_name(years[0], years[-1]))
        else:
            names += [f"ntl_change_{span}.tif", f"ntl_trend_{span}.tif"]
    land, lc = first["landcover"], within.get("landcover", [])
    classes = land is not None and land.preset().kind == "landcover"
    if classes and "nightlight" in found and len(lc) >= 2 and lc[-1] in found["nightlight"]:
        names.append("new_builtup_dark.tif")
    return names


_PER_PIXEL = ("landcover", "nightlight")  # the kinds whose first series makes output rasters


def raster_plans(config: RunConfig, series: Sequence[sources.Series]) -> list[RasterPlan]:
    """The change and trend rasters of a run over its analysis period.

    Built-up change (gain / loss / stable / never) from the first land-cover series; night-light
    change and per-pixel OLS trend from the first night-light series; each between the first
    and last of the series' years that fall within ``[analysis] start..end``; and new built-up
    lit or dark (see :func:`vacancy_source`). A series in several CRSs is warped by nearest
    neighbour onto the grid of its first CRS group.
    """
    a = config.analysis
    plans: list[RasterPlan] = []
    for kind in _PER_PIXEL:
        pair = _first_of(config, series, kind)
        if pair is None:
            continue
        _, one = pair
        years = [y for y in one.years if a.start <= y <= a.end]
        if len(years) < 2:
            continue
        first, last, product = one.path(years[0]), one.path(years[-1]), one.product
        span = f"{years[0]}_{years[-1]}"
        if kind == "landcover":
            plans.append(RasterPlan(
                builtup_change_name(years[0], years[-1]), f"built-up change {years[0]}-{years[-1]}",
                functools.partial(change.builtup_change_blocks, first, last, product), first,
                "uint8", 0, categories=change.BUILTUP_CHANGE_CLASSES,
            ))  # fmt: skip
            continue
        units = product.units or "radiance"
        plans.append(RasterPlan(
            f"ntl_change_{span}.tif", f"night-light change {years[0]}-{years[-1]} (end - start)",
            functools.partial(change.nightlight_change_blocks, first, last, product), first,
            "float32", float("nan"), units=units, ramp="diverging", visible=False,
        ))  # fmt: skip
        within = {y: one.path(y) for y in years}
        method = config.output.trend
        plans.append(RasterPlan(
            f"ntl_trend_{span}.tif",
            f"night-light trend {years[0]}-{years[-1]} ({_TREND_NAMES[method]} slope per year)",
            functools.partial(change.nightlight_trend_blocks, within, product, method=method),
            first,
            "float32", float("nan"), units=f"{units} per year", ramp="diverging", visible=False,
        ))  # fmt: skip
    source = vacancy_source(config, series)
    if source is not None:
        plans.append(RasterPlan(
            "new_builtup_dark.tif", "built-up old and new, lit or dark at the period's end",
            functools.partial(_itself, source), source.landcover, "uint8", 0,
            categories=vacancy.VACANCY_CLASSES,
        ))  # fmt: skip
    return plans


def _itself(source: vacancy.BuiltupLight) -> vacancy.BuiltupLight:
    """The lit/dark source as its plan's blocks: strips of it are computed where they run."""
    return source
