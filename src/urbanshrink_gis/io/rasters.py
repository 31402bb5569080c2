"""Open rasters with clear errors, and read their blocks as values plus a validity mask.

Terms
-----
valid pixel
    A pixel that is not the band's nodata value (or the override), not masked by the dataset's
    internal mask, and not NaN. The zonal kernels test this pixel by pixel while they add up.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import RasterioIOError
from rasterio.windows import Window

from urbanshrink_gis.errors import RasterError, first_line

__all__ = ["band_nodata", "open_raster", "read_block", "reading_env", "tile_index"]

_TILE = re.compile(r"\.h(\d{2})v(\d{2})\.")
_TILE_COLUMNS, _TILE_ROWS = 36, 18

#: Names GDAL opens that are not files: /vsi paths, vrt:// strings, DRIVER:"…" subdatasets.
_GDAL_NAME = re.compile(r"^(/vsi|vrt://|[A-Za-z0-9_]+:)")


def open_raster(path: str | os.PathLike, *, band: int = 1) -> rasterio.DatasetReader:
    """Open a GDAL raster for reading and check that it can serve zonal statistics.

    Parameters
    ----------
    path
        Any GDAL-readable path, including ``/vsigzip/`` and other ``/vsi…`` paths.
    band
        The band that will be read (1-based).

    Returns
    -------
    rasterio.DatasetReader
        The open dataset; close it (or use it as a context manager) when done.

    Raises
    ------
    RasterError
        The file is missing or not a raster, has no CRS, is rotated, or lacks the band.
    """
    name = os.fspath(path)
    if not _GDAL_NAME.match(name) and not Path(name).exists():
        raise RasterError("file not found", where=name, fix="check the raster path")
    try:
        ds = rasterio.open(name)
    except RasterioIOError as err:
        raise RasterError(
            f"not a readable raster ({first_line(err)})",
            where=name,
            fix="give a GeoTIFF or another GDAL raster (gdalinfo should open it)",
        ) from err
    problem = _problem(ds, band)
    if problem is not None:
        ds.close()
        what, fix = problem
        raise RasterError(what, where=name, fix=fix)
    return ds


def tile_index(path: str | os.PathLike, *, product: str, example: str) -> tuple[int, int]:
    """The ``hHHvVV`` tile index of a NASA grid tile (Black Marble, MODIS) from its file name.

    Parameters
    ----------
    path
        The tile's path or file name.
    product, example
        Product family and an example of its file names, for the message.

    Returns
    -------
    h, v
        Column (00-35, from 180° W) and row (00-17, from the north).

    Raises
    ------
    RasterError
        The name holds no valid tile index.
    """
    name = Path(os.fspath(path)).name
    match = _TILE.search(name)
    h, v = (int(match.group(1)), int(match.group(2))) if match else (-1, -1)
    if not (0 <= h < _TILE_COLUMNS and 0 <= v < _TILE_ROWS):
        raise RasterError(
            f"has no {product} tile index hHHvVV (h 00-35, v 00-17) in its name",
            where=name,
            fix=f"keep the file name the archive gives, such as {example}",
        )
    return h, v


def _problem(ds: rasterio.DatasetReader, band: int) -> tuple[str, str] | None:
    if ds.crs is None:
        return "has no coordinate reference system", "assign one with `gdal_edit.py -a_srs EPSG:…`"
    if not ds.transform.is_rectilinear:
        return "has a rotated geotransform", "warp it north-up with `gdalwarp` first"
    if not 1 <= band <= ds.count:
        return f"has no band {band} (it has {ds.count})", f"choose a band from 1 to {ds.count}"
    return None


def read_block(
    ds: rasterio.DatasetReader, window: Window, *, band: int = 1
) -> tuple[np.ndarray, np.ndarray | None]:
    """Read one window of a band with the dataset's internal mask, if it has one.

    Parameters
    ----------
    ds
        An open dataset.
    window
        The window to read (inside the raster).
    band
        Band number (1-based).

    Returns
    -------
    values, mask
        The raw values (native dtype) and the internal mask as uint8 (0 = masked), or None
        when the band has no internal mask (nodata values and NaN are left to the caller).

    Raises
    ------
    RasterError
        The block cannot be decoded (a truncated or corrupt file).
    """
    try:
        return ds.read(band, window=window), _internal_mask(ds, band, window)
    except RasterioIOError as err:
        raise RasterError(
            f"cannot read block at row {window.row_off}, column {window.col_off} "
            f"({first_line(err)})",
            where=ds.name,
            fix="the file is truncated or corrupt; download or export it again",
        ) from err


def band_nodata(
    ds: rasterio.DatasetReader, band: int = 1, override: float | None = None
) -> float | None:
    """The nodata value that applies to a band: the override, else the file's, else None."""
    value = ds.nodatavals[band - 1] if override is None else override
    return None if value is None else float(value)


def _internal_mask(ds: rasterio.DatasetReader, band: int, window: Window) -> np.ndarray | None:
    """Return the per-dataset or alpha mask when the raster has one, else None."""
    flags = ds.mask_flag_enums[band - 1]
    if any(f.name in ("per_dataset", "alpha") for f in flags):
        return ds.read_masks(band, window=window)
    return None


@contextlib.contextmanager
def reading_env(threads: int | str = "ALL_CPUS", cache_mb: int = 64) -> Iterator[None]:
    """GDAL settings for streaming reads: decoding threads and a small block cache.

    Parameters
    ----------
    threads
        Threads GDAL decodes one read with; lower it when several readers run at once.
    cache_mb
        GDAL's block cache; blocks are read once, so a small one suffices.
    """
    with rasterio.Env(GDAL_NUM_THREADS=str(threads), GDAL_CACHEMAX=cache_mb):
        yield
