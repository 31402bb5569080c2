"""Compile the zonal kernels ahead of time into the extension module ``_kernels_aot``.

Usage: ``python -m urbanshrink_gis.zonal._kernel_build`` (``make install`` runs it). The loops of
:mod:`urbanshrink_gis.zonal._kernel_code` are compiled by numba once, for every value type a raster
can have, into a plain extension module beside this file. Importing it costs a fraction of a
millisecond and needs neither numba nor LLVM at run time, where loading numba's cached JIT
kernels costs about 0.3 s per process (import, target start-up, interpreter teardown). The
module records :func:`~urbanshrink_gis.zonal._kernels.source_digest` of the code it was built from
(``built_from()``); a module built from other code is not used.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from urbanshrink_gis.zonal._kernels import CLASS_TYPES, MARKED_TYPES, VALUE_TYPES, source_digest

MODULE = "_kernels_aot"

_RUNS = "int64[:], int64[:], int64[:], int64[:], float64[:]"  # zone, row, col0, col1, weight
_F = "float64[:]"


def signatures() -> dict[str, tuple[str, str]]:
    """Exported name to (kernel name, numba signature), one per kernel and value type."""
    out = {
        "bucket_edges": (
            "bucket_edges",
            "Tuple((int64[::1], int64[::1], int64[::1]))(float64[:, ::1], int64[:],"
            " int64[:], boolean[:], UniTuple(float64, 4), int64, int64)",
        ),
        "exact_pieces": (
            "exact_pieces",
            "Tuple((int64[::1], int64[::1], int64[::1], float64[::1]))(float64[:], float64[:],"
            " float64[:], float64[:], int64[:], int64, int64, int64)",
        ),
        "exact_sweep": (
            "exact_sweep",
            "Tuple((int64[::1], int64[::1], int64[::1], int64[::1], float64[::1]))(int64[:],"
            " int64[:], int64[:], float64[:], int64, int64)",
        ),
    }
    mask = "uint8[:, ::1], boolean"
    for t in VALUE_TYPES:
        out[f"accumulate_moments_{t}"] = (
            "accumulate_moments",
            f"void({t}[:, ::1], {mask}, float64, boolean, float64, float64, {_RUNS}, {_F},"
            f" float64, {', '.join([_F] * 5)}, {_F}, boolean[:], {', '.join([_F] * 4)})",
        )
        out[f"accumulate_weighted_{t}"] = (
            "accumulate_weighted",
            f"void({t}[:, ::1], {mask}, float64, boolean, float64, float64, float64[:, ::1],"
            f" boolean, {_RUNS}, {_F}, {', '.join([_F] * 4)})",
        )
        out[f"collect_values_{t}"] = (
            "collect_values",
            f"Tuple((int64[::1], float64[::1], float64[::1]))({t}[:, ::1], {mask}, float64,"
            f" boolean, float64, float64, {_RUNS})",
        )
    for t in CLASS_TYPES:
        out[f"accumulate_classes_{t}"] = (
            "accumulate_classes",
            f"void({t}[:, ::1], int64[:], int64, {mask}, {_RUNS}, {_F}, int64, {_F}, {_F})",
        )
    for t in MARKED_TYPES:
        out[f"mark_values_{t}"] = (
            "mark_values",
            f"void({t}[:, ::1], int64, int64[:], int64[:], int64[:], int64[:], boolean[:])",
        )
    return out


def build(folder: Path | None = None) -> Path:
    """Compile every entry of :func:`signatures` into ``folder`` (default: this package).

    Returns
    -------
    pathlib.Path
        The extension module written.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba.pycc is marked pending deprecation
        from numba.pycc import CC, compiler

    from urbanshrink_gis.zonal import _kernel_code

    cc = CC(MODULE)
    cc.output_dir = str(folder or Path(__file__).parent)
    cc.verbose = False
    for name, (kernel, signature) in signatures().items():
        cc.export(name, signature)(getattr(_kernel_code, kernel).py_func)
    digest = source_digest()
    cc.export("built_from", "int64()")(lambda: digest)
    flags = compiler.Flags
    compiler.Flags = _releasing_gil(flags)  # the kernels run side by side in threads
    try:
        cc.compile()
    finally:
        compiler.Flags = flags
    return Path(cc.output_dir) / cc.output_file


def _releasing_gil(flags: type) -> type:
    class ReleasingGil(flags):
        """numba's compile flags, with the GIL released around each exported call."""

        def __init__(self, *copy_of: object) -> None:
            super().__init__(*copy_of)
            self.release_gil = True

    return ReleasingGil


if __name__ == "__main__":
    print(build())
