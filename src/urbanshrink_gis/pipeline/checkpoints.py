"""Checkpoints of finished units of work (one raster series x one year) for resumable runs.

A checkpoint is a pickled table under ``OUT/.checkpoints/`` whose name carries a fingerprint
of everything that determines it: the package version, the boundaries file and id field, the
raster file (path, size, modification time), the product preset and the pixel rule. A changed
input or setting changes the fingerprint, so exactly the affected units are computed again.
Files are written under a temporary name and renamed, so a killed run leaves no partial one.
A checkpoint that cannot be read (truncated, overwritten, from another pandas) is computed
again, with one warning.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from urbanshrink_gis._files import atomic_path, disk_full
from urbanshrink_gis.errors import OutputError, UrbanShrinkWarning, first_line

__all__ = ["CHECKPOINT_DIR", "Checkpoints", "file_fingerprint"]

log = logging.getLogger(__name__)

CHECKPOINT_DIR = ".checkpoints"
#: What unpickling a damaged or foreign file raises.
_DAMAGED = (
    pickle.UnpicklingError, EOFError, OSError, ValueError, TypeError, AttributeError,
    ImportError, IndexError, KeyError, MemoryError,
)  # fmt: skip


def file_fingerprint(path: str | os.PathLike) -> dict[str, Any]:
    """Path, size and modification time of a file (just the name for GDAL virtual paths)."""
    name = os.fspath(path)
    try:
        st = Path(name).stat()
    except OSError:
        return {"path": name}
    return {"path": str(Path(name).resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


class Checkpoints:
    """A folder of checkpointed tables keyed by fingerprints.

    Parameters
    ----------
    folder
        Where checkpoints live (created when the first one is saved); None disables them.
    """

    def __init__(self, folder: str | os.PathLike | None) -> None:
        self.folder = None if folder is None else Path(folder)
        self.reused = 0
        self.computed = 0
        if self.folder is not None and self.folder.is_dir():
            for stale in self.folder.glob(".*.pkl"):  # temporaries of a killed run
                stale.unlink()

    @staticmethod
    def key(label: str, fingerprint: dict[str, Any]) -> str:
        """File name of a unit: a readable label plus a hash of its fingerprint."""
        digest = hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()
        return f"{label}-{digest[:20]}.pkl"

    def load(self, key: str) -> pd.DataFrame | None:
        """The checkpointed table, or None when there is none (or it cannot be read)."""
        if self.folder is None or not (self.folder / key).exists():
            return None
        try:
            table = pd.read_pickle(self.folder / key)
        except _DAMAGED as err:  # a damaged file: compute again (any unpickling failure)
            table = err
        if not isinstance(table, pd.DataFrame):
            damaged = isinstance(table, Exception)
            what = f"{type(table).__name__}: {table}" if damaged else "not a table"
            warnings.warn(
                f"unreadable checkpoint {self.folder / key} ({first_line(what)}); computing it "
                "again",
                UrbanShrinkWarning,
                stacklevel=2,
            )
            return None
        self.reused += 1
        return table

    def save(self, key: str, table: pd.DataFrame) -> None:
        """Store a finished unit atomically."""
        self.computed += 1
        if self.folder is None:
            return
        try:
            with atomic_path(self.folder / key, overwrite=True) as tmp:
                table.to_pickle(tmp)
        except OSError as err:
            if not disk_full(err):
                raise
            raise OutputError(
                f"the disk is full (saving a checkpoint of {table.memory_usage().sum():,} bytes)",
                where=str(self.folder),
                fix="free some space there, or choose another --out; the previous outputs are "
                "kept and a new run resumes from the checkpoints saved",
            ) from err
