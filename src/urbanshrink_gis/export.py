"""Write results: tables (CSV, Parquet, GeoPackage), atomically and never over an output
unless asked.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from urbanshrink_gis.errors import ConfigError, OutputExistsError

__all__ = ["atomic_path", "write_table"]

log = logging.getLogger(__name__)

_TABLE_SUFFIXES = (".csv", ".parquet", ".gpkg")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place when the block succeeds.

    Parameters
    ----------
    path
        The final output path.
    overwrite
        Replace an existing output; otherwise an existing one raises.

    Raises
    ------
    OutputExistsError
        ``path`` exists and ``overwrite`` is False.
    """
    final = Path(path)
    if final.exists() and not overwrite:
        raise OutputExistsError(
            "output exists", where=str(final), fix="pass --overwrite or choose another output"
        )
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.stem}.", suffix=final.suffix, dir=final.parent)
    os.close(fd)
    os.unlink(tmp)
    try:
        yield Path(tmp)
        os.replace(tmp, final)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_table(
    table: pd.DataFrame,
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
    layer: str | None = None,
) -> Path:
    """Write a table as CSV, Parquet or a GeoPackage attribute table, chosen by the suffix.

    Parameters
    ----------
    table
        The table; its index is written as columns.
    path
        Output path ending in ``.csv``, ``.parquet`` or ``.gpkg``.
    overwrite
        Replace an existing file.
    layer
        GeoPackage layer name (default: the file's stem).

    Returns
    -------
    pathlib.Path
        The written path.

    Raises
    ------
    ConfigError
        The suffix is not one of the supported ones.
    OutputExistsError
        The file exists and ``overwrite`` is False.
    """
    final = Path(path)
    suffix = final.suffix.lower()
    if suffix not in _TABLE_SUFFIXES:
        raise ConfigError(
            f"unsupported table format {suffix or '(none)'!r}",
            where=str(final),
            fix=f"use one of {', '.join(_TABLE_SUFFIXES)}",
        )
    flat = table.reset_index()
    flat.columns = [str(c) for c in flat.columns]
    with atomic_path(final, overwrite=overwrite) as tmp:
        if suffix == ".csv":
            flat.to_csv(tmp, index=False)
        elif suffix == ".parquet":
            flat.to_parquet(tmp, index=False)
        else:
            import pyogrio

            pyogrio.write_dataframe(
                flat, tmp, layer=layer or final.stem, driver="GPKG", layer_options={}
            )
    log.info("wrote %s", final)
    return final
