"""Convert MODIS MCD12Q1 v061 HDF4-EOS tiles to georeferenced GeoTIFFs.

Terms
-----
tile
    One HDF4-EOS file of the MODIS sinusoidal grid: 2400 x 2400 pixels of 463.3127165 m
    (1111950.5197 m a side), named by its column ``hHH`` (00-35, from the grid's west edge) and
    row ``vVV`` (00-17, from its north edge), as in
    ``MCD12Q1.A2020001.h27v05.061.2022169161028.hdf``.
layer
    A scientific dataset (SDS) of the tile, such as ``LC_Type1`` (IGBP classes, fill 255).

The GDAL inside the rasterio wheel has no HDF4 driver, so a tile is read with pyhdf once and
written as a GeoTIFF that every reader here opens; it is georeferenced from the tile's name and
cross-checked against the grid corners in the file's ``StructMetadata.0``.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio

from urbanshrink_gis.errors import RasterError
from urbanshrink_gis.io.rasters import tile_index

# MODIS_SINUSOIDAL is served by the module __getattr__ below (no import cycle with products).
__all__ = ["MODIS_SINUSOIDAL", "HDF4Tile", "describe_hdf4", "hdf4_to_geotiff", "tile_bounds"]  # noqa: F822

log = logging.getLogger(__name__)

_TILE_PIXELS = 2400
_TILE_METRES = 1111950.5197
#: 463.3127165 m to 0.1 mm; derived from the tile so that bounds and corners match exactly.
_PIXEL_METRES = _TILE_METRES / _TILE_PIXELS
_GRID_WEST, _GRID_NORTH = -20015109.354, 10007554.677
_CORNER = re.compile(r"(UpperLeftPointMtrs|LowerRightMtrs)\s*=\s*\(([^)]*)\)")
#: Corners in StructMetadata.0 are written with 6 decimals; allow a millimetre.
_CORNER_TOLERANCE = 1e-3
#: pyhdf's SDC type codes (SDC.UINT8, ...) to numpy dtypes.
_SDC_DTYPES = {20: "int8", 21: "uint8", 22: "int16", 23: "uint16", 24: "int32", 25: "uint32",
               5: "float32", 6: "float64"}  # fmt: skip


def __getattr__(name: str) -> Any:
    """Give ``MODIS_SINUSOIDAL``: the products preset's CRS string, looked up on first use.

    ``products`` imports ``io.rasters``, so importing it while ``io`` loads would be circular.
    """
    if name == "MODIS_SINUSOIDAL":
        return _crs()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _crs() -> str:
    from urbanshrink_gis.products.presets import _MODIS_SINUSOIDAL

    return _MODIS_SINUSOIDAL


def tile_bounds(path: str | os.PathLike) -> tuple[float, float, float, float]:
    """Return the bounds of a MODIS sinusoidal tile from the ``hHHvVV`` in its file name.

    Parameters
    ----------
    path
        The tile's path or file name.

    Returns
    -------
    xmin, ymin, xmax, ymax
        Metres in the MODIS sinusoidal CRS (:data:`MODIS_SINUSOIDAL`).

    Raises
    ------
    RasterError
        The name holds no valid tile index.
    """
    h, v = tile_index(path, product="MODIS", example="MCD12Q1.A2020001.h27v05.061.<date>.hdf")
    xmin = _GRID_WEST + h * _TILE_METRES
    ymax = _GRID_NORTH - v * _TILE_METRES
    return xmin, ymax - _TILE_METRES, xmin + _TILE_METRES, ymax


@dataclass(frozen=True, slots=True)
class HDF4Tile:
    """A tile's layer as :func:`hdf4_to_geotiff` will write it, known from metadata alone.

    ``geotiff`` is the GeoTIFF's path (it may not exist yet); ``transform`` and ``dtype`` its
    grid and type; ``nodata``, ``scale``, ``offset`` what it declares (None: nothing, as
    :func:`urbanshrink_gis.io.series.read_tiles` reads a GeoTIFF).
    """

    geotiff: Path
    transform: rasterio.Affine
    dtype: str
    nodata: float | None
    scale: float | None
    offset: float | None

    @property
    def size(self) -> int:
        """Pixels a side."""
        return _TILE_PIXELS


def describe_hdf4(
    path: str | os.PathLike, folder: str | os.PathLike, *, layer: str = "LC_Type1"
) -> HDF4Tile:
    """Check a tile as :func:`hdf4_to_geotiff` does, reading no pixel and writing nothing.

    Raises
    ------
    RasterError
        As :func:`hdf4_to_geotiff`, for everything but the pixels' values.
    """
    src, bounds, out = _target(path, folder, layer)
    (rows, cols), dtype, attrs, struct = _read_sds(src, layer, pixels=False)
    _check_tile(src, layer, (rows, cols), struct, bounds)
    fill = attrs.get("_FillValue")
    scale = float(attrs.get("scale_factor", 1.0))
    offset = float(attrs.get("add_offset", 0.0))
    declared = scale != 1.0 or offset != 0.0
    return HDF4Tile(
        out, _transform(bounds), dtype, None if fill is None else float(np.asarray(fill).item()),
        scale if declared else None, offset if declared else None,
    )  # fmt: skip


def _target(
    path: str | os.PathLike, folder: str | os.PathLike, layer: str
) -> tuple[Path, tuple[float, float, float, float], Path]:
    """The tile (which must exist), its bounds and the GeoTIFF path it converts to."""
    src = Path(os.fspath(path))
    if not src.is_file():
        raise RasterError("file not found", where=str(src), fix="check the MCD12Q1 tile path")
    bounds = tile_bounds(src)
    stat = src.stat()
    fingerprint = f"{stat.st_size:x}-{stat.st_mtime_ns:x}"[-16:]
    return src, bounds, Path(os.fspath(folder)) / f"{src.name}.{layer}.{fingerprint}.tif"


def _check_tile(
    src: Path,
    layer: str,
    shape: tuple[int, ...],
    struct: str | None,
    bounds: tuple[float, float, float, float],
) -> None:
    if shape != (_TILE_PIXELS, _TILE_PIXELS):
        raise RasterError(
            f"layer {layer!r} is {shape[-1]} x {shape[0]} pixels, not a "
            f"{_TILE_PIXELS} x {_TILE_PIXELS} MODIS tile",
            where=str(src),
            fix="give an unmodified MCD12Q1 v061 tile",
        )
    if struct is not None:
        _check_corners(src, struct, bounds)


def _transform(bounds: tuple[float, float, float, float]) -> rasterio.Affine:
    return rasterio.transform.from_origin(bounds[0], bounds[3], _PIXEL_METRES, _PIXEL_METRES)


def hdf4_to_geotiff(
    path: str | os.PathLike, folder: str | os.PathLike, *, layer: str = "LC_Type1"
) -> Path:
    """Write one layer of an MCD12Q1 HDF4-EOS tile as a georeferenced GeoTIFF, once.

    Parameters
    ----------
    path
        The tile, named as LP DAAC names it (``MCD12Q1.A2020001.h27v05.061.<date>.hdf``).
    folder
        Where the GeoTIFF goes (created if missing).
    layer
        The SDS to convert.

    Returns
    -------
    pathlib.Path
        ``<folder>/<tile name>.<layer>.<fingerprint>.tif``: tiled, deflate-compressed, the
        SDS's dtype, nodata = its ``_FillValue``, ``scale_factor``/``add_offset`` (when not 1/0)
        as band scale/offset, ``valid_range`` as band tags, CRS :data:`MODIS_SINUSOIDAL`. The
        fingerprint is taken from the tile's size and mtime; an existing output is reused.

    Raises
    ------
    RasterError
        The file is missing or not HDF4, its name has no tile index, it lacks the layer (the
        message lists the layers it has), the layer is not 2400 x 2400, or the grid corners in
        ``StructMetadata.0`` disagree with the name.

    Notes
    -----
    The GDAL inside the rasterio wheel has no HDF4 driver, so each tile is converted once (about
    6 MB of uint8 for ``LC_Type1``, a few hundred kB compressed) and the GeoTIFF is read from
    then on. The conversion holds the layer in memory once (5.8 MB for uint8).
    """
    src, bounds, out = _target(path, folder, layer)
    if out.exists():
        log.debug("reusing %s", out)
        return out
    data, attrs, struct = _read_sds(src, layer)
    _check_tile(src, layer, data.shape, struct, bounds)
    out.parent.mkdir(parents=True, exist_ok=True)
    _write(out, data, attrs, bounds)
    log.info("converted %s layer %s to %s", src.name, layer, out.name)
    return out


def _read_sds(src: Path, layer: str, *, pixels: bool = True) -> tuple[Any, ...]:
    """One SDS (its pixels, else its shape and dtype), its attributes and StructMetadata.0."""
    from pyhdf.error import HDF4Error
    from pyhdf.SD import SD, SDC

    try:
        sd = SD(str(src), SDC.READ)
    except HDF4Error as err:
        raise RasterError(
            f"is not an HDF4 file ({err})",
            where=str(src),
            fix="give the .hdf tile as downloaded from LP DAAC (re-download if truncated)",
        ) from err
    try:
        layers = sorted(sd.datasets())
        if layer not in layers:
            raise RasterError(
                f"has no layer {layer!r}",
                where=str(src),
                fix=f"choose a layer among {', '.join(layers) or 'none found'}",
            )
        sds = sd.select(layer)
        try:
            if pixels:
                data = (np.asarray(sds.get()),)
            else:
                _, rank, dims, kind, _ = sds.info()
                shape = tuple(dims) if rank > 1 else (dims,)
                data = (shape, _SDC_DTYPES.get(kind, "unknown"))
            attrs = sds.attributes()
        finally:
            sds.endaccess()
        struct = sd.attributes().get("StructMetadata.0")
    finally:
        sd.end()
    return (*data, attrs, struct if isinstance(struct, str) else None)


def _check_corners(src: Path, struct: str, bounds: tuple[float, float, float, float]) -> None:
    """Compare the grid corners in StructMetadata.0 with the bounds from the name."""
    corners = {
        key: tuple(float(x) for x in values.split(",")) for key, values in _CORNER.findall(struct)
    }
    xmin, ymin, xmax, ymax = bounds
    expected = {"UpperLeftPointMtrs": (xmin, ymax), "LowerRightMtrs": (xmax, ymin)}
    for key, want in expected.items():
        got = corners.get(key)
        if got is None:
            continue
        if len(got) != 2 or any(
            abs(g - w) > _CORNER_TOLERANCE for g, w in zip(got, want, strict=True)
        ):
            raise RasterError(
                f"StructMetadata.0 {key}={got} disagrees with the tile index in the name "
                f"(expected ({want[0]:.6f},{want[1]:.6f}))",
                where=str(src),
                fix="restore the file name LP DAAC gives this tile",
            )


def _write(
    out: Path, data: np.ndarray, attrs: dict[str, Any], bounds: tuple[float, float, float, float]
) -> None:
    """Write the GeoTIFF under a temporary name beside ``out``, then move it into place."""
    fill = attrs.get("_FillValue")
    scale = float(attrs.get("scale_factor", 1.0))
    offset = float(attrs.get("add_offset", 0.0))
    profile = dict(
        driver="GTiff",
        height=data.shape[0],
        width=data.shape[1],
        count=1,
        dtype=data.dtype,
        crs=_crs(),
        transform=_transform(bounds),
        nodata=None if fill is None else float(np.asarray(fill).item()),
        tiled=True,
        blockxsize=512,
        blockysize=512,
        compress="deflate",
    )
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(data, 1)
            if scale != 1.0 or offset != 0.0:
                dst.scales = (scale,)
                dst.offsets = (offset,)
            if "valid_range" in attrs:
                lo, hi = np.asarray(attrs["valid_range"]).ravel()[:2].tolist()
                dst.update_tags(1, valid_range=f"{lo},{hi}")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
