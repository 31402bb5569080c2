"""Write real HDF4 (SD API) files shaped like MCD12Q1 v061 tiles, with pyhdf; a tile's classes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

TILE_METRES = 1111950.5197
GRID_WEST, GRID_NORTH = -20015109.354, 10007554.677
PIXEL = 463.3127165
TILE = "MCD12Q1.A2020001.h27v05.061.2022169161028.hdf"


def classes(seed=0):
    """A 2400 x 2400 LC_Type1 array: classes 1-17 at random, a built-up block and some fill."""
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 18, (2400, 2400), dtype=np.uint8)
    a[1000:1010, 500:520] = 13
    a[:3, :] = 255
    return a


def struct_metadata(h: int, v: int, *, size: int = 2400, shift: float = 0.0) -> str:
    """The grid part of StructMetadata.0 as MODIS writes it; ``shift`` moves the corners."""
    west = GRID_WEST + h * TILE_METRES + shift
    north = GRID_NORTH - v * TILE_METRES
    return (
        "GROUP=SwathStructure\nEND_GROUP=SwathStructure\n"
        "GROUP=GridStructure\n"
        "\tGROUP=GRID_1\n"
        '\t\tGridName="MCD12Q1"\n'
        f"\t\tXDim={size}\n"
        f"\t\tYDim={size}\n"
        f"\t\tUpperLeftPointMtrs=({west:.6f},{north:.6f})\n"
        f"\t\tLowerRightMtrs=({west + TILE_METRES:.6f},{north - TILE_METRES:.6f})\n"
        "\t\tProjection=HE5_GCTP_SNSOID\n"
        "\t\tProjParams=(6371007.181000,0,0,0,0,0,0,0,0,0,0,0,0)\n"
        "\t\tSphereCode=-1\n"
        "\t\tGridOrigin=HDFE_GD_UL\n"
        "\tEND_GROUP=GRID_1\n"
        "END_GROUP=GridStructure\nEND\n"
    )


def write_mcd12q1(
    path: Path,
    lc_type1: np.ndarray,
    *,
    h: int,
    v: int,
    struct: str | None = None,
    scale_factor: float | None = None,
) -> Path:
    """Write an MCD12Q1-like HDF4 file: LC_Type1 (given), LC_Type2 and QC SDSs."""
    from pyhdf.SD import SD, SDC

    sd = SD(str(path), SDC.WRITE | SDC.CREATE | SDC.TRUNC)
    sd.attr("StructMetadata.0").set(
        SDC.CHAR, struct if struct is not None else struct_metadata(h, v)
    )
    layers = {
        "LC_Type1": lc_type1,
        "LC_Type2": np.where(lc_type1 == 255, 255, lc_type1 % 16).astype(np.uint8),
        "QC": np.zeros(lc_type1.shape, np.uint8),
    }
    for name, data in layers.items():
        sds = sd.create(name, SDC.UINT8, data.shape)
        sds.attr("_FillValue").set(SDC.UINT8, 255)
        sds.attr("valid_range").set(SDC.UINT8, [1, 17] if name.startswith("LC") else [0, 10])
        sds.attr("long_name").set(SDC.CHAR, f"{name} test layer")
        if scale_factor is not None and name == "LC_Type1":
            sds.attr("scale_factor").set(SDC.FLOAT64, scale_factor)
            sds.attr("add_offset").set(SDC.FLOAT64, 0.0)
        sds[:] = data
        sds.endaccess()
    sd.end()
    return path
