"""City metrics per year from land-cover and night-light series; computes, writes nothing.

Terms
-----
builtup_km2, mapped_km2, builtup_share_pct
    Built-up land and valid (not nodata) land-cover area, true km²; built-up in percent of
    the mapped area.
ntl_sum, ntl_mean
    Night-light value summed over, and averaged across, valid pixels (product units x pixels,
    product units).
ntl_area_sum
    Night-light value x true pixel area summed over valid pixels (product units x km², such
    as nW/cm²/sr x km²): compare cities with this, not ``ntl_sum``.
ntl_pop_weighted_mean
    Mean night-light value weighted by a population raster (product units), over pixels
    valid in both.
lit_km2
    True area of pixels above the lit threshold, km².
pop_grid
    People summed over the city's pixels of a gridded population raster.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping

import geopandas as gpd
import pandas as pd

from urbanshrink_gis._progress import Progress
from urbanshrink_gis.errors import ConfigError, RasterError, UrbanShrinkWarning
from urbanshrink_gis.products.model import Product
from urbanshrink_gis.products.presets import product_names
from urbanshrink_gis.zonal.engine import Engine, zonal_stats_many
from urbanshrink_gis.zonal.zones import Zones

__all__ = [
    "add_groups",
    "landcover_metrics",
    "nightlight_metrics",
    "population_metrics",
]


_LAND = ("landcover", "builtup_fraction")  # the kinds landcover_metrics reads


def landcover_metrics(
    zones: Zones | gpd.GeoDataFrame | str | os.PathLike,
    rasters: Mapping[int, str | os.PathLike],
    product: Product,
    *,
    zone_id: str | None = None,
    engine: Engine = Engine(),
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Built-up km², built-up share and mapped km² per city and year.

    Parameters
    ----------
    zones
        Prepared zones, boundaries or a vector path (then ``zone_id`` names the id field).
    rasters
        Year to land-cover raster; all on one grid.
    product
        A land-cover or built-up-surface preset (see :mod:`urbanshrink_gis.products`).
    engine
        How the zonal engine runs (:class:`~urbanshrink_gis.zonal.Engine`).
    progress
        Called with (bands done, bands total).

    Returns
    -------
    pandas.DataFrame
        Columns ``city_id, year, builtup_km2, builtup_share_pct, mapped_km2``.

    Raises
    ------
    RasterError
        No zone overlaps the rasters, or a class raster holds codes outside the product's
        legend.

    Warns
    -----
    UrbanShrinkWarning
        A year's raster has no valid pixel in any city (all nodata there).
    """
    common = dict(
        zone_id=zone_id, engine=engine, band=product.band, progress=progress,
    )  # fmt: skip
    if product.kind == "builtup_fraction":
        table = zonal_stats_many(
            zones, rasters, ("sum", "area_km2", "count"), nodata=product.nodata,
            scale=product.scale, offset=product.offset, **common,
        )  # fmt: skip
        _check_valid_pixels(table["count"], zones, rasters, product, common)
        builtup = table["sum"].fillna(0) / 1e6
        mapped = table["area_km2"]
    elif product.kind == "landcover":
        table = zonal_stats_many(
            zones, rasters, categorical=True, areas=True, nodata=product.nodata, **common
        )
        counts = table[[c for c in table.columns if not isinstance(c, str)]]
        _check_valid_pixels(counts.sum(axis=1), zones, rasters, product, common)
        _check_legend(table, product, rasters)
        area_cols = [c for c in table.columns if isinstance(c, str) and c.startswith("area_km2_")]
        built_cols = [f"area_km2_{c}" for c in product.builtup_classes if f"area_km2_{c}" in table]
        builtup = table[built_cols].sum(axis=1)
        mapped = table[area_cols].sum(axis=1)
    else:
        raise ConfigError(
            f"product {product.name!r} is {product.kind}, not land cover",
            where="[[rasters]] kind",
            fix=f"use a land-cover preset ({', '.join(product_names(_LAND))})",
        )
    out = pd.DataFrame({"builtup_km2": builtup, "mapped_km2": mapped})
    share = out["builtup_km2"] / out["mapped_km2"] * 100
    out["builtup_share_pct"] = share.where(out["mapped_km2"] > 0)
    return _long(out[["builtup_km2", "builtup_share_pct", "mapped_km2"]])


def nightlight_metrics(
    zones: Zones | gpd.GeoDataFrame | str | os.PathLike,
    rasters: Mapping[int, str | os.PathLike],
    product: Product,
    *,
    zone_id: str | None = None,
    engine: Engine = Engine(),
    lit_threshold: float | None = None,
    weights: Mapping[int, str | os.PathLike] | None = None,
    weights_nodata: float | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Night-light sum, area sum, mean and lit km² per city and year.

    Parameters
    ----------
    zones, rasters, engine, progress
        As :func:`landcover_metrics`.
    product
        A night-light preset; its nodata, scale and offset are applied before summing.
    lit_threshold
        Overrides the product's lit threshold (in scaled units).
    weights
        Year to population raster (its own nodata left out); adds ``ntl_pop_weighted_mean``.
        On another grid it is warped onto the light's, nearest (see
        :func:`urbanshrink_gis.zonal.zonal_stats`).
    weights_nodata
        Overrides the weights rasters' nodata value (a file without a nodata tag, or a wrong
        one).

    Returns
    -------
    pandas.DataFrame
        Columns ``city_id, year, ntl_sum, ntl_area_sum, ntl_mean, lit_km2`` (and
        ``ntl_pop_weighted_mean`` with weights).

    Raises
    ------
    RasterError
        No zone overlaps the rasters.

    Warns
    -----
    UrbanShrinkWarning
        A year's raster has no valid pixel in any city (all nodata there).
    """
    if product.kind != "nightlight":
        raise ConfigError(
            f"product {product.name!r} is {product.kind}, not night light",
            where="[[rasters]] kind",
            fix=f"use a night-light preset ({', '.join(product_names(['nightlight']))})",
        )
    threshold = product.lit_threshold if lit_threshold is None else lit_threshold
    common = dict(
        zone_id=zone_id, engine=engine, band=product.band, progress=progress,
    )  # fmt: skip
    stats = ("sum", "area_sum", "mean", "above_km2", "count")
    table = zonal_stats_many(
        zones, rasters, stats + (("weighted_mean",) if weights is not None else ()),
        nodata=product.nodata, scale=product.scale, offset=product.offset, threshold=threshold,
        weights=weights, weights_nodata=weights_nodata, **common,
    )  # fmt: skip
    _check_valid_pixels(table.pop("count"), zones, rasters, product, common)
    out = table.rename(columns=_NTL_COLUMNS)
    out["ntl_sum"] = out["ntl_sum"].fillna(0.0)
    out["ntl_area_sum"] = out["ntl_area_sum"].fillna(0.0)
    return _long(out)


_NTL_COLUMNS = {
    "sum": "ntl_sum",
    "area_sum": "ntl_area_sum",
    "mean": "ntl_mean",
    "above_km2": "lit_km2",
    "weighted_mean": "ntl_pop_weighted_mean",
}


def population_metrics(
    zones: Zones | gpd.GeoDataFrame | str | os.PathLike,
    rasters: Mapping[int, str | os.PathLike],
    product: Product,
    *,
    zone_id: str | None = None,
    engine: Engine = Engine(),
    default_value: float | None = None,
    column: str = "pop_grid",
    progress: Progress | None = None,
) -> pd.DataFrame:
    """People per city and year from a gridded population raster (counts per pixel).

    Parameters
    ----------
    zones, rasters, engine, progress
        As :func:`landcover_metrics`.
    product
        A population preset (WorldPop, GHS-POP, LandScan): people per pixel after its nodata,
        scale and offset; with exact coverage a boundary pixel adds its covered share.
    default_value
        People counted for each nodata pixel of a city (as exactextract's ``default_value``):
        ``0`` counts nodata (water, outside the product's land mask) as nobody, so a city
        wholly on nodata has 0 people instead of a missing value. None (default): nodata
        pixels are left out, and a city without any valid pixel has no population (missing,
        never a guess).
    column
        Name of the output column: ``"pop_grid"`` (default), or ``"pop_resident"`` to use the
        raster as the resident population of the analysis.

    Returns
    -------
    pandas.DataFrame
        Columns ``city_id, year`` and ``column``.

    Raises
    ------
    ConfigError
        The product is not a population product.
    RasterError
        No zone overlaps the rasters.
    """
    if product.kind != "population":
        raise ConfigError(
            f"product {product.name!r} is {product.kind}, not population",
            where="[[rasters]] kind",
            fix="use a population preset (worldpop, ghs_pop, landscan)",
        )
    common = dict(
        zone_id=zone_id, engine=engine, band=product.band, progress=progress,
    )  # fmt: skip
    table = zonal_stats_many(
        zones, rasters, ("sum", "count", "nodata_count"), nodata=product.nodata,
        scale=product.scale, offset=product.offset, **common,
    )  # fmt: skip
    _check_valid_pixels(table["count"], zones, rasters, product, common)
    people = table["sum"]
    if default_value is not None:
        people = people.fillna(0.0) + float(default_value) * table["nodata_count"]
        people = people.where(table["count"] + table["nodata_count"] > 0)
    return _long(pd.DataFrame({column: people}))


def add_groups(tables: list[pd.DataFrame], product: Product) -> pd.DataFrame:
    """Add up one year's land-cover metrics measured on several CRS groups of tiles.

    Areas add (each pixel lies in one group's tiles); the built-up share is taken again from
    the sums. Night light is not measured across CRSs (no such product exists).

    Raises
    ------
    ConfigError
        The product is not land cover or built-up surface.
    """
    if product.kind == "nightlight":
        raise ConfigError(
            f"night-light tiles of product {product.name!r} are in several CRSs",
            where="[[rasters]] path",
            fix="give the tiles of one CRS (night-light products are published in EPSG:4326)",
        )
    total = (
        pd.concat(tables)
        .groupby(["city_id", "year"], as_index=False)[["builtup_km2", "mapped_km2"]]
        .sum(min_count=1)
    )
    share = 100 * total["builtup_km2"] / total["mapped_km2"]
    total["builtup_share_pct"] = share.where(total["mapped_km2"] > 0)
    return total[["city_id", "year", "builtup_km2", "builtup_share_pct", "mapped_km2"]]


def _check_valid_pixels(
    valid: pd.Series,
    zones: Zones | gpd.GeoDataFrame | str | os.PathLike,
    rasters: Mapping[int, str | os.PathLike],
    product: Product,
    common: dict,
) -> None:
    """Refuse a series no zone overlaps; warn of each year with no valid pixel in any zone.

    ``valid`` holds the valid-pixel count by (year, city). Only when a year has none are the
    covered pixels counted (nodata included), to tell "all nodata" from "nowhere near".
    """
    per_year = valid.groupby(level="key").sum()
    empty = [year for year, n in per_year.items() if n == 0]
    if not empty:
        return
    first = empty[0]
    covered = zonal_stats_many(
        zones, {first: rasters[first]}, ("nodata_count",), nodata=product.nodata,
        **{**common, "progress": None},
    )  # fmt: skip
    if covered["nodata_count"].sum() == 0:
        raise RasterError(
            "no zone overlaps the raster, so every city would be empty",
            where=f"{os.fspath(rasters[first])} (year {first})",
            fix="check that the boundaries and the rasters cover the same area (extent and CRS)",
        )
    for year in empty:
        warnings.warn(
            f"{os.fspath(rasters[year])} (year {year}): no valid pixel in any city (all nodata); "
            f"its {product.name} metrics are 0 or empty",
            UrbanShrinkWarning,
            stacklevel=3,
        )


def _check_legend(
    table: pd.DataFrame, product: Product, rasters: Mapping[int, str | os.PathLike]
) -> None:
    legend = {c.code for c in product.classes}
    counts = table[[c for c in table.columns if not isinstance(c, str)]]
    if not legend:
        return
    for year, frame in counts.groupby(level="key"):
        found = frame.columns[(frame > 0).any(axis=0)]
        stray = sorted(int(c) for c in found if c not in legend)
        if stray:
            raise RasterError(
                f"holds class codes {stray} outside the {product.name} legend "
                f"({', '.join(str(c) for c in sorted(legend))})",
                where=f"{os.fspath(rasters[year])} (year {year})",
                fix="check the product preset, or set nodata / the legend for a custom product",
            )


def _long(table: pd.DataFrame) -> pd.DataFrame:
    """From (key, city_id) index to columns ``city_id, year`` sorted."""
    out = table.reset_index().rename(columns={"key": "year"})
    out["year"] = out["year"].astype(int)
    cols = ["city_id", "year", *[c for c in out.columns if c not in ("city_id", "year")]]
    return out[cols].sort_values(["city_id", "year"], ignore_index=True)
