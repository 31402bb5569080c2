"""Check a raster against a product preset: dtype, fill, scale, value range, legend."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pyproj
import rasterio
from rasterio.windows import Window

from urbanshrink_gis.errors import RasterError, UrbanShrinkWarning
from urbanshrink_gis.io.rasters import band_nodata, open_raster, read_block
from urbanshrink_gis.products.model import _SHOWN_CODES, Product
from urbanshrink_gis.products.presets import KIND_LABELS, get_product

__all__ = ["check_file", "check_raster", "crs_label", "crs_labels"]

_SAMPLE_SIDE = 512  # check_raster reads at most this many rows and columns when given no sample


def check_file(path: str | os.PathLike, product: Product | str) -> str:
    """Check a raster file against a preset as a run does before it reads the file.

    Parameters
    ----------
    path
        Any GDAL-readable raster (``/vsigzip/...`` too).
    product
        A preset name (see :func:`~urbanshrink_gis.products.product_names`) or a Product.

    Returns
    -------
    str
        One line saying what was checked, for a file that passes.

    Raises
    ------
    RasterError, ConfigError
        As :func:`check_raster` and :func:`~urbanshrink_gis.io.rasters.open_raster`; an
        unknown preset name.

    Warns
    -----
    UrbanShrinkWarning
        As :func:`check_raster`: a dtype other than the product's, values out of range.
    """
    preset = get_product(product) if isinstance(product, str) else product
    with open_raster(path) as ds:
        check_raster(ds, preset)
        dtype, size = ds.dtypes[preset.band - 1], f"{ds.width} x {ds.height} px"
        crs = crs_label(ds.crs)
    values = "class codes in the legend" if preset.classes else "values in the valid range"
    return (
        f"{os.fspath(path)}: OK as {preset.name} ({KIND_LABELS[preset.kind]}): band "
        f"{preset.band} {dtype}, {size}, {crs}; a central sample holds {values}"
    )


def crs_label(crs: rasterio.crs.CRS | pyproj.CRS | str | None) -> str:
    """``EPSG:4326``, or the projection's method for a CRS without a code (CLCD's Albers)."""
    if crs is None:
        return "no CRS"
    if isinstance(crs, str):
        crs = pyproj.CRS.from_user_input(crs)
    if crs.to_epsg():
        return f"EPSG:{crs.to_epsg()}"
    full = pyproj.CRS.from_wkt(crs.to_wkt())
    named = full.coordinate_operation.method_name if full.coordinate_operation else full.name
    return f"{named} (no EPSG code)"


def crs_labels(
    found: rasterio.crs.CRS | pyproj.CRS | str, wanted: rasterio.crs.CRS | pyproj.CRS | str
) -> tuple[str, str]:
    """Labels of two CRSs that differ: :func:`crs_label`, or their PROJ strings when alike."""
    a, b = crs_label(found), crs_label(wanted)
    if a != b:
        return a, b
    with warnings.catch_warnings():  # "you will likely lose information": shown, not kept
        warnings.simplefilter("ignore", UserWarning)
        a, b = (pyproj.CRS.from_user_input(c if isinstance(c, str) else c.to_wkt()).to_proj4()
                for c in (found, wanted))  # fmt: skip
    return a, b


def check_raster(
    ds: rasterio.DatasetReader, product: Product, *, sample: np.ndarray | None = None
) -> None:
    """Check that a raster looks like a product's layer before its values are trusted.

    Parameters
    ----------
    ds
        The open raster.
    product
        The product it should be.
    sample
        Raw values of the product's band (native dtype; a masked array's mask is honoured),
        such as a block inside the zones. When None, the central window of at most 512 x 512
        pixels is read.

    Raises
    ------
    RasterError
        The band is missing; the raster holds floats where the product has class codes; or
        the sample has values outside the legend (the fill value, NaN and masked pixels aside).

    Warns
    -----
    UrbanShrinkWarning
        The band's dtype is not the product's, or sampled values fall outside its
        ``valid_range`` after scaling.

    Notes
    -----
    The fill value is the product's ``nodata``, else the file's, as in
    :func:`urbanshrink_gis.zonal.zonal_stats` given ``nodata=product.nodata``. Only the sample
    is checked: pass a block from where the analysis reads to check what it will count.
    """
    if product.band > ds.count:
        raise RasterError(
            f"has no band {product.band} (it has {ds.count}) for product {product.name!r}",
            where=ds.name,
            fix="set the product's band",
        )
    values = _valid_sample(ds, product, sample)
    messages = [_dtype_message(ds, product, values)]
    if product.classes:
        _check_legend(values, product, ds.name)
    if product.valid_range is not None:
        messages.append(_range_message(values, product))
    for message in filter(None, messages):
        warnings.warn(f"{ds.name}: {message}", UrbanShrinkWarning, stacklevel=2)


def _dtype_message(ds: rasterio.DatasetReader, product: Product, values: np.ndarray) -> str | None:
    """Why the band's dtype is suspicious, or None; raises when it cannot hold the product."""
    dtype = ds.dtypes[product.band - 1]
    if dtype == product.dtype:
        return None
    is_float = np.dtype(dtype).kind == "f"
    if product.kind == "landcover" and is_float:
        odd = np.unique(values[values != np.round(values)])[:_SHOWN_CODES]
        shown = f" (values such as {', '.join(f'{v:g}' for v in odd)})" if odd.size else ""
        raise RasterError(
            f"is {dtype}{shown}, but product {product.name!r} stores class codes as "
            f"{product.dtype}",
            where=ds.name,
            fix="use the original file: class rasters resampled to floats have lost their "
            "codes (warp them with nearest or mode resampling)",
        )
    if is_float and product.scale != 1 and np.dtype(product.dtype).kind in "iu":
        return (
            f"is {dtype}, not {product.dtype} as product {product.name!r}, whose scale is "
            f"{product.scale}; if the values are already scaled, set scale = 1 and offset = 0 "
            "(or they are scaled twice)"
        )
    return (
        f"is {dtype}, not {product.dtype} as product {product.name!r}; check that the file is "
        "this product's layer, or set dtype"
    )


def _valid_sample(
    ds: rasterio.DatasetReader, product: Product, sample: np.ndarray | None
) -> np.ndarray:
    """Return the sample's values that are not fill, NaN or masked: raw, flattened."""
    if sample is None:
        h, w = min(_SAMPLE_SIDE, ds.height), min(_SAMPLE_SIDE, ds.width)
        window = Window((ds.width - w) // 2, (ds.height - h) // 2, w, h)
        values, mask = read_block(ds, window, band=product.band)
        valid = np.ones(values.shape, bool) if mask is None else mask > 0
    else:
        values, valid = np.ma.getdata(sample), ~np.ma.getmaskarray(sample)
    nodata = band_nodata(ds, product.band, product.nodata)
    if nodata is not None:
        valid &= values != nodata
    if values.dtype.kind == "f":
        valid &= ~np.isnan(values)
    return values[valid]


def _check_legend(values: np.ndarray, product: Product, where: str) -> None:
    legend = {c.code for c in product.classes}
    stray = [v for v in np.unique(values).tolist() if v not in legend]
    if not stray:
        return
    shown = ", ".join(f"{v:g}" for v in stray[:_SHOWN_CODES])
    more = f" and {len(stray) - _SHOWN_CODES} more" if len(stray) > _SHOWN_CODES else ""
    raise RasterError(
        f"values {shown}{more} are not classes of product {product.name!r} "
        f"(legend {', '.join(str(c) for c in sorted(legend))}; fill {product.nodata})",
        where=where,
        fix="check that the file is this product and was not recoded or resampled; if a value "
        "marks missing data set the product's nodata to it, or describe the legend with a "
        "custom product",
    )


def _range_message(values: np.ndarray, product: Product) -> str | None:
    """How many sampled values fall outside the valid range after scaling, or None."""
    low, high = product.valid_range  # type: ignore[misc]
    scaled = values.astype(np.float64) * product.scale + product.offset
    outside = (scaled < low) | (scaled > high)
    if not outside.any():
        return None
    bad = scaled[outside]
    return (
        f"{outside.sum()} of {scaled.size} sampled values ({bad.min():g} to {bad.max():g} after "
        f"scale) are outside the valid range {low:g} to {high:g} of product {product.name!r}; "
        "check the layer (a masked layer, the fill value) and the scale"
    )
