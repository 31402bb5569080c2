"""Presets of published night-light and land-cover products, and checks of rasters against them."""

from urbanshrink_gis.products.check import check_raster
from urbanshrink_gis.products.model import ClassInfo, Kind, Product, Sensor, custom_product
from urbanshrink_gis.products.presets import get_product, product_names

__all__ = [
    "ClassInfo",
    "Kind",
    "Product",
    "Sensor",
    "check_raster",
    "custom_product",
    "get_product",
    "product_names",
]
