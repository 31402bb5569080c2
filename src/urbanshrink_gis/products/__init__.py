"""Presets of published night-light and land-cover products, and checks of rasters against them."""

from urbanshrink_gis.products.check import check_file, check_raster
from urbanshrink_gis.products.model import ClassInfo, Kind, Product, Sensor, custom_product
from urbanshrink_gis.products.presets import (
    KIND_LABELS,
    get_product,
    presets_by_kind,
    product_names,
)

__all__ = [
    "KIND_LABELS",
    "ClassInfo",
    "Kind",
    "Product",
    "Sensor",
    "check_file",
    "check_raster",
    "custom_product",
    "get_product",
    "presets_by_kind",
    "product_names",
]
