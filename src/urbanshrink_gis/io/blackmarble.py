"""Open NASA Black Marble (VNP46A3 monthly, VNP46A4 annual) HDF5 tiles as georeferenced rasters.

Terms
-----
tile
    One HDF5 file of the linear lat/lon grid: 10° x 10° in 2400 x 2400 pixels of 15
    arc-seconds, named by its column ``hHH`` (00-35, from 180° W) and row ``vVV`` (00-17, from
    90° N), as in ``VNP46A4.A2020001.h29v05.001.2021125122857.h5``.
layer
    A dataset of the tile's grid group ``HDFEOS/GRIDS/VIIRS_Grid_DNB_2d/Data Fields``, such as
    ``AllAngle_Composite_Snow_Free``.

GDAL's HDF5 driver reads the layer but finds no geotransform in it, so the tile is georeferenced
from its name: the returned path is a GDAL ``vrt://`` connection string that assigns EPSG:4326
and the tile's bounds. It holds no state, so it can be handed to other processes.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

from urbanshrink_gis.errors import RasterError
from urbanshrink_gis.io.rasters import tile_index

__all__ = ["GRID_GROUP", "open_blackmarble", "tile_bounds"]

GRID_GROUP = "HDFEOS/GRIDS/VIIRS_Grid_DNB_2d/Data Fields"
_TILE_DEGREES = 10
_TILE_PIXELS = 2400


def tile_bounds(path: str | os.PathLike) -> tuple[float, float, float, float]:
    """Return the bounds of a Black Marble tile from the ``hHHvVV`` in its file name.

    Parameters
    ----------
    path
        The tile's path or file name.

    Returns
    -------
    west, south, east, north
        Degrees on WGS84.

    Raises
    ------
    RasterError
        The name holds no valid tile index.
    """
    h, v = tile_index(path, product="Black Marble", example="VNP46A4.A2020001.h29v05.001.<date>.h5")
    west, north = -180 + _TILE_DEGREES * h, 90 - _TILE_DEGREES * v
    return west, north - _TILE_DEGREES, west + _TILE_DEGREES, north


def open_blackmarble(
    path: str | os.PathLike, *, layer: str = "AllAngle_Composite_Snow_Free"
) -> str:
    """Give a GDAL-openable, georeferenced name for one layer of a Black Marble HDF5 tile.

    Parameters
    ----------
    path
        The tile (``VNP46A4.A2020001.h29v05.001.*.h5`` or a VNP46A3 tile).
    layer
        A dataset of the grid group, or the full path of a dataset in the file (as in the
        preset's ``subdataset``).

    Returns
    -------
    str
        ``vrt://HDF5:"<file>"://<dataset>?a_srs=EPSG:4326&a_ullr=<w>,<n>,<e>,<s>``: raw values
        with the file's fill value as nodata and its scale factor as metadata (apply the
        product's ``scale``, not both).

    Raises
    ------
    RasterError
        The file is missing, not HDF5, has no tile index in its name, lacks the layer (the
        message lists the layers it has) or is not a 2400 x 2400 tile.
    """
    name = os.fspath(path)
    if not name.startswith("/vsi"):
        if not Path(name).exists():
            raise RasterError("file not found", where=name, fix="check the Black Marble tile path")
        name = os.path.abspath(name)
    west, south, east, north = tile_bounds(name)
    dataset = layer if "/" in layer else f"{GRID_GROUP}/{layer}"
    gdal_name = f'HDF5:"{name}"://{dataset.strip("/").replace(" ", "_")}'
    _check_layer(name, gdal_name, layer)
    return f"vrt://{gdal_name}?a_srs=EPSG:4326&a_ullr={west},{north},{east},{south}"


def _check_layer(name: str, gdal_name: str, layer: str) -> None:
    """Open the layer once so that a missing layer or a wrong size fails here, clearly."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)  # georeferenced by name
            with rasterio.open(gdal_name) as ds:
                shape = (ds.height, ds.width)
    except RasterioIOError as err:
        raise RasterError(
            f"has no readable layer {layer!r}",
            where=name,
            fix=f"choose a layer among {', '.join(_layers(name)) or 'none found (is it HDF5?)'}",
        ) from err
    if shape != (_TILE_PIXELS, _TILE_PIXELS):
        raise RasterError(
            f"layer {layer!r} is {shape[1]} x {shape[0]} pixels, not a "
            f"{_TILE_PIXELS} x {_TILE_PIXELS} Black Marble tile",
            where=name,
            fix="give an unmodified VNP46A3 or VNP46A4 tile",
        )


def _layers(name: str) -> list[str]:
    """List the raster layers of an HDF5 file (none when GDAL cannot open it)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(name) as ds:
                subdatasets = ds.subdatasets
    except RasterioIOError:
        return []
    return [s.rsplit("/", 1)[-1] for s in subdatasets]
