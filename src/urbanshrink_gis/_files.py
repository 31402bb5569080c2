"""File safety shared by every writer: atomic writes, temporary names, full disks."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from urbanshrink_gis.errors import OutputError, OutputExistsError

__all__ = ["atomic_path", "disk_full", "sqlite_safe_path", "temp_prefix"]


@contextlib.contextmanager
def atomic_path(
    path: str | os.PathLike, *, overwrite: bool = False, parents: bool = True
) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place when the block succeeds.

    Parameters
    ----------
    path
        The final output path.
    overwrite
        Replace an existing output; otherwise an existing one raises.
    parents
        Create missing folders above ``path``; when False a missing folder raises.

    Raises
    ------
    OutputExistsError
        ``path`` exists and ``overwrite`` is False.
    OutputError
        ``parents`` is False and the folder of ``path`` does not exist.
    """
    final = Path(path)
    if final.exists() and not overwrite:
        raise OutputExistsError(
            "output exists", where=str(final), fix="pass --overwrite or choose another output"
        )
    if parents:
        final.parent.mkdir(parents=True, exist_ok=True)
    elif not final.parent.is_dir():
        raise OutputError(
            f"folder {final.parent} does not exist",
            where=str(final),
            fix="create the folder first, or choose an output in an existing one",
        )
    suffix = final.suffix if len(os.fsencode(final.suffix)) <= _SUFFIX_MAX else ""
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(final), suffix=suffix, dir=final.parent)
    os.close(fd)
    os.unlink(tmp)
    try:
        yield Path(tmp)
        os.replace(tmp, final)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


#: A name's bytes the file systems take (NAME_MAX) and a temporary name's longest suffix.
_NAME_MAX, _SUFFIX_MAX = 255, 16


#: Characters GDAL's SQLite-based drivers (GeoPackage) misread in a path: a folder ``a!b``
#: is cut to ``b``, and ``;`` up to a later ``?`` is dropped (measured with GDAL 3.12).
SQLITE_SPECIAL = "!?"


@contextlib.contextmanager
def sqlite_safe_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a name of ``path`` that GDAL's GeoPackage driver opens as the path it is.

    A path holding ``!`` or ``?`` is given through a symbolic link to its folder in a fresh
    temporary folder (removed afterwards), so reads and writes reach the real folder; any
    other path, and ``/vsi…`` names, are yielded as they are.

    Raises
    ------
    OutputError
        The temporary folder's own path holds ``!`` or ``?``.
    """
    text = os.fspath(path)
    if text.startswith("/vsi") or not any(c in text for c in SQLITE_SPECIAL):
        yield text
        return
    real = Path(os.path.abspath(text))
    links = tempfile.mkdtemp(prefix="urbanshrink-")
    try:
        if any(c in links for c in SQLITE_SPECIAL):
            raise OutputError(
                f"holds a character of {SQLITE_SPECIAL!r}, which GDAL's GeoPackage driver "
                "misreads, as does the temporary folder",
                where=text,
                fix="set TMPDIR to a folder without them, or rename the folder",
            )
        link = Path(links) / "folder"
        link.symlink_to(real.parent, target_is_directory=True)
        yield os.fspath(link / real.name)
    finally:
        shutil.rmtree(links)  # removes the link, not what it points to


def temp_prefix(path: str | os.PathLike) -> str:
    """Prefix of a temporary sibling of ``path``: ``.<stem>.``, within NAME_MAX.

    The stem is cut (at a character boundary) so that the prefix, 8 random characters and
    the suffix stay within 255 bytes, however long the final name is.
    """
    final = Path(path)
    suffix = final.suffix if len(os.fsencode(final.suffix)) <= _SUFFIX_MAX else ""
    room = max(_NAME_MAX - 2 - 8 - len(os.fsencode(suffix)), 0)
    stem = os.fsencode(final.stem)[:room].decode("utf-8", errors="ignore")
    return f".{stem}."


_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def disk_full(err: BaseException) -> bool:
    """Whether an error, or one it was raised from, is a full disk or an exceeded quota.

    GDAL's errors carry no errno, only the system's message, which is matched too.
    """
    texts = [os.strerror(code) for code in _DISK_FULL]
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _DISK_FULL:
            return True
        if any(text in str(current) for text in texts):
            return True
        current = current.__cause__ or current.__context__
    return False
