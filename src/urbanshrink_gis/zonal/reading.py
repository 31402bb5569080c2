"""How the engine reads one raster: its settings and where its windows come from."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from rasterio.windows import Window

from urbanshrink_gis.zonal.grid import Grid

__all__ = ["WindowSource", "window_reader"]


def _mask_or_dummy(mask: np.ndarray | None) -> np.ndarray:
    return mask if mask is not None else np.ones((1, 1), np.uint8)


@runtime_checkable
class WindowSource(Protocol):
    """A raster computed window by window on a grid, instead of read from a file.

    It must pickle (for process and Dask schedulers) and be cheap to call per window. A source
    that opens files may also have ``reader()``, a context manager giving a function of a
    window with the files opened once: the engine then reads each band of rows through one
    (see :func:`window_reader`).
    """

    @property
    def grid(self) -> Grid:
        """The grid the values are on."""

    @property
    def nodata(self) -> float | None:
        """Value of pixels to ignore."""

    def read(self, window: Window) -> np.ndarray:
        """Values of one window."""


@contextlib.contextmanager
def window_reader(source: WindowSource) -> Iterator[Callable[[Window], np.ndarray]]:
    """The source's ``reader()`` if it has one, else its ``read``."""
    opener = getattr(source, "reader", None)
    if opener is None:
        yield source.read
        return
    with opener() as read:
        yield read


@dataclass(frozen=True, slots=True)
class _Reading:
    """How to read one raster: path, band, nodata override and scale."""

    path: str
    band: int
    nodata: float | None
    scale: float
    offset: float
    threshold: float
    source: WindowSource | None = None

    @property
    def nodata_args(self) -> tuple[float, bool]:
        """Nodata as the kernels take it: a value and whether it applies."""
        return (0.0, False) if self.nodata is None else (self.nodata, True)
