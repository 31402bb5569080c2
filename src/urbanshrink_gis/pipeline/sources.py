"""The configured raster series, found on disk and checked against their presets."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd

from urbanshrink_gis.errors import (
    ConfigError,
    RasterError,
)
from urbanshrink_gis.io import series as sources
from urbanshrink_gis.pipeline.checkpoints import file_fingerprint
from urbanshrink_gis.pipeline.config import RunConfig

__all__ = ["check_source_values", "discover_years", "raster_series"]


def discover_years(pattern: str) -> tuple[int, ...]:
    """Years that have at least one file matching a ``{year}`` path pattern, sorted."""
    return tuple(sources.find_files(pattern))


def raster_series(
    pattern: str, years: tuple[int, ...] | None = None, *, root: str | os.PathLike | None = None
) -> dict[int, str]:
    """Year to its one file for a ``{year}`` pattern of one file per year.

    ``root``: the folder the pattern is relative to, taken literally (as for
    :func:`urbanshrink_gis.io.series.find_files`).

    Raises
    ------
    RasterError
        The pattern has no ``{year}``, no file matches it, or a year has several files (a
        year of tiles is read through :func:`resolve_sources`).
    """
    where = os.path.join(root or "", pattern)
    if "{year}" not in pattern:
        raise RasterError(
            "path pattern has no {year}",
            where=where,
            fix='write the year as {year}, e.g. "ntl/vnl2_{year}.tif"',
        )
    found = sources.find_files(pattern, years, root=root)
    if not found:
        raise RasterError(
            "no file matches the {year} pattern",
            where=where,
            fix="check the folder and file names, or list the years",
        )
    several = [y for y, files in found.items() if len(files) > 1]
    if several:
        raise RasterError(
            f"year {several[0]} has {len(found[several[0]])} files",
            where=where,
            fix="read a year of tiles through a run configuration (its files form one mosaic)",
        )
    return {y: files[0] for y, files in found.items()}


def resolve_sources(
    config: RunConfig,
    boundaries: gpd.GeoDataFrame,
    *,
    folder: str | os.PathLike,
    check_values: bool = True,
) -> tuple[sources.Series, ...]:
    """Find, check and mosaic every raster series of a run before any zonal work.

    Parameters
    ----------
    config
        The run configuration.
    boundaries
        The cities (values are sampled where they are).
    folder
        Where mosaics (VRTs) and converted tiles are kept.
    check_values
        Also sample the values (legend, valid range); False leaves that to
        :func:`check_source_values`, so that a run reads no pixel before its free-space check.

    Returns
    -------
    tuple of Series
        One per ``[[rasters]]`` table, in order.

    Raises
    ------
    RasterError
        A series has no file, a file is unreadable, or violates its preset (see
        :func:`urbanshrink_gis.io.series.resolve_series`).
    ConfigError
        Night-light series of different sensors are compared without a harmonized product.
    """
    boxes = _zone_boxes(boundaries)
    out = []
    for raster in config.rasters:
        files = raster.files()
        if not files:
            raise RasterError(
                "no file matches the {year} pattern",
                where=raster.path or "paths",
                fix="check the folder and file names (wildcards * ? ** are allowed), or list "
                "the files per year with paths = {2015 = [...]}",
            )
        series = sources.resolve_series(
            files, raster.preset(), label=raster.label, folder=Path(folder), zones_bounds=boxes,
            allow_outside_product=raster.allow_outside_product, grid_crs=raster.grid_crs,
            check_values=check_values,
        )  # fmt: skip
        out.append(series)
    _check_sensors(config, out)
    return tuple(out)


def check_source_values(
    config: RunConfig, boundaries: gpd.GeoDataFrame, series: Sequence[sources.Series]
) -> tuple[sources.Series, ...]:
    """The value checks :func:`resolve_sources` left out (``check_values=False``)."""
    boxes = _zone_boxes(boundaries)
    return tuple(
        sources.check_series_values(one, boxes, raster.allow_outside_product)
        for raster, one in zip(config.rasters, series, strict=True)
    )


def _zone_boxes(boundaries: gpd.GeoDataFrame) -> list[tuple[float, float, float, float, Any]]:
    """Each city's bounding box with the boundaries' CRS (where values are sampled)."""
    crs = boundaries.crs
    return [
        (*geom.bounds, crs)
        for geom in boundaries.geometry
        if geom is not None and not geom.is_empty
    ]


def _check_sensors(config: RunConfig, series: Sequence[sources.Series]) -> None:
    """Refuse night-light series of different sensors unless they are harmonized."""
    sensors = {
        s.product.sensor
        for r, s in zip(config.rasters, series, strict=True)
        if r.kind == "nightlight" and s.product.sensor is not None
    }
    if len(sensors) > 1:
        raise ConfigError(
            f"night-light series of different sensors ({', '.join(sorted(sensors))}) would be "
            "compared across the period",
            where="[[rasters]]",
            fix="use one sensor, or the harmonized DMSP-VIIRS series (product dmsp_harmonized)",
        )


def _year_files(series: sources.Series, *years: int) -> list[dict[str, Any]]:
    """Fingerprints of the downloaded files of some years of a series."""
    return [file_fingerprint(f) for y in years for f in series.files[y]]
