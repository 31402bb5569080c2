"""The zonal engine's compiled inner loops, as the rest of the package calls them.

The loops are written once, in :mod:`urbanshrink_gis.zonal._kernel_code`. ``make install`` compiles
them ahead of time into the extension module ``_kernels_aot`` (see
:mod:`urbanshrink_gis.zonal._kernel_build`), with one entry per type of raster values. Without that
module (another install route) numba compiles the same code just in time and caches it on
disk, which costs about 0.3 s more per process. Either way a kernel runs without the GIL.

Callers pass what the ahead-of-time entries take: run arrays as int64 (weights float64),
windows C-contiguous and of a type in :data:`VALUE_TYPES` (see :func:`as_window`).
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from urbanshrink_gis.errors import UrbanShrinkWarning

__all__ = [
    "CLASS_TYPES",
    "COMPILED_AHEAD",
    "MARKED_TYPES",
    "VALUE_TYPES",
    "accumulate_classes",
    "accumulate_moments",
    "accumulate_weighted",
    "as_window",
    "bucket_edges",
    "collect_values",
    "exact_pieces",
    "exact_sweep",
    "mark_values",
    "source_digest",
]

#: Types of raster values the value kernels take as they are.
VALUE_TYPES = (
    "uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64", "float32",
    "float64",
)  # fmt: skip
#: Types the class kernel counts: 8/16-bit rasters, and the int64 codes of any other type.
CLASS_TYPES = ("uint8", "int8", "uint16", "int16", "int64")
#: Types whose values present in the zones are marked in a table over the type's range.
MARKED_TYPES = ("uint16", "int16")


def source_digest() -> int:
    """The kernels' code and build signatures as one int64 (a build records the one it saw)."""
    digest = hashlib.blake2b(digest_size=8)
    for name in ("_kernel_code.py", "_kernel_build.py"):
        digest.update(Path(__file__).with_name(name).read_bytes())
    return int.from_bytes(digest.digest(), "little", signed=True)


def as_window(values: np.ndarray) -> np.ndarray:
    """``values`` as the value kernels take them: C-contiguous, other types as float64."""
    if values.dtype.name not in VALUE_TYPES:
        values = values.astype(np.float64)
    return np.ascontiguousarray(values)


def _by_value_type(module: ModuleType, name: str) -> Callable[..., Any]:
    """Kernel ``name`` of the ahead-of-time module, picked by its first argument's type."""

    def kernel(values: np.ndarray, *args: Any) -> Any:
        return getattr(module, f"{name}_{values.dtype.name}")(values, *args)

    kernel.__name__ = kernel.__qualname__ = name
    kernel.__doc__ = f"``{name}`` of :mod:`urbanshrink_gis.zonal._kernel_code`, compiled per type."
    return kernel


def _ahead_of_time() -> ModuleType | None:
    """The ahead-of-time module if it was built from the current code, else None."""
    try:
        from urbanshrink_gis.zonal import _kernels_aot
    except ImportError:  # the build step did not run
        return None
    built_from = getattr(_kernels_aot, "built_from", None)
    if built_from is None or built_from() != source_digest():
        warnings.warn(
            f"{_kernels_aot.__file__} was built from older kernel code and is not used; "
            "rebuild it with `python -m urbanshrink_gis.zonal._kernel_build` (make install does)",
            UrbanShrinkWarning,
            stacklevel=2,
        )
        return None
    return _kernels_aot


_AHEAD = _ahead_of_time()
COMPILED_AHEAD = _AHEAD is not None
if _AHEAD is None:
    from urbanshrink_gis.zonal._kernel_code import (
        accumulate_classes,
        accumulate_moments,
        accumulate_weighted,
        bucket_edges,
        collect_values,
        exact_pieces,
        exact_sweep,
        mark_values,
    )
else:
    bucket_edges, exact_pieces, exact_sweep = (
        _AHEAD.bucket_edges, _AHEAD.exact_pieces, _AHEAD.exact_sweep
    )  # fmt: skip
    accumulate_moments = _by_value_type(_AHEAD, "accumulate_moments")
    accumulate_classes = _by_value_type(_AHEAD, "accumulate_classes")
    accumulate_weighted = _by_value_type(_AHEAD, "accumulate_weighted")
    collect_values = _by_value_type(_AHEAD, "collect_values")
    mark_values = _by_value_type(_AHEAD, "mark_values")
