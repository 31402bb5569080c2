"""The output folder: checked before work, outputs staged and committed in one step."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import ModuleType

import rasterio

from urbanshrink_gis import _files, export
from urbanshrink_gis.errors import (
    OutputError,
)
from urbanshrink_gis.io import series as sources
from urbanshrink_gis.io.rasters import reading_env
from urbanshrink_gis.pipeline.config import RunConfig
from urbanshrink_gis.pipeline.plans import RASTER_DIR, RasterPlan
from urbanshrink_gis.pipeline.stages import rendered_ahead

log = logging.getLogger(__name__)

#: Prefix of the hidden folder in OUT where a run writes its outputs before moving them in:
#: ``.staging-<pid>@<host>-<random>``, so that a run on another host sharing OUT is told apart.
STAGING_PREFIX = ".staging-"
#: Seconds after which a staging folder of another host, untouched, is taken for a killed
#: run's (its process cannot be looked up from here): a day.
STALE_AGE = 24 * 3600
_ASIDE = ".previous"  # in a staging folder: the previous outputs a commit replaces
_MANIFEST = ".manifest"  # in _ASIDE while a commit moves files: the new outputs, one per line
_NAME_MAX, _PATH_MAX = 255, 4096  # when the file system does not say
#: Bytes of a database path sqlite3 opens (measured: 504 opens, 505 does not; it adds
#: "-journal" within its 512).
SQLITE_PATH_MAX = 504


def _host() -> str:
    """The host name as staging folders carry it: letters, digits, dots; 64 at most."""
    return re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname())[:64] or "host"


_TEMP_NAME = f"{STAGING_PREFIX}{'0' * 7}@{_host()}-{'0' * 8}"  # the longest staging folder's name


def check_output_folder(out: str | os.PathLike) -> None:
    """Refuse an output folder that is, or lies under, a dangling symbolic link.

    Raises
    ------
    OutputError
        ``out`` or one of its parents is a symbolic link whose target does not exist.
    """
    path = Path(out)
    for p in (path, *path.parents):
        if p.is_symlink() and not p.exists():
            raise OutputError(
                f"is a symbolic link to {os.readlink(p)}, which does not exist",
                where=str(p),
                fix="create the link's target, remove the link, or choose another --out",
            )


def check_destinations(
    out: str | os.PathLike, files: Iterable[str | os.PathLike], *, folders: Iterable[str] = ()
) -> None:
    """Refuse outputs whose place is taken: a file where a folder goes, or the reverse.

    Parameters
    ----------
    out
        The output folder.
    files
        Output files relative to ``out``.
    folders
        More folders relative to ``out`` that the run creates.

    Raises
    ------
    OutputError
        One error listing every such place.
    """
    root = Path(out)
    need = {Path(f).parent for f in files} | {Path(f) for f in folders}
    dirs = {p for d in need for p in (d, *d.parents) if p != Path(".")}
    problems = [
        f"{(root / d).as_posix()} is a file where an output folder goes"
        for d in sorted(dirs)
        if (root / d).exists() and not (root / d).is_dir()
    ]
    problems += [
        f"{(root / f).as_posix()} is a folder where an output file goes"
        for f in sorted({Path(f) for f in files})
        if (root / f).is_dir()
    ]
    if problems:
        raise OutputError(
            "; ".join(problems), where=str(root), fix="move or remove it, or choose another --out"
        )


def _pathconf(path: Path, name: str, default: int) -> int:
    try:
        return os.pathconf(path, name) or default
    except (OSError, ValueError):
        return default


def _check_path_lengths(out: Path, files: Sequence[str]) -> None:
    """Refuse an output folder whose outputs' (temporary) paths no writer could open."""
    base = Path(os.path.abspath(out))
    existing = next(p for p in (base, *base.parents) if p.exists())
    name_max = _pathconf(existing, "PC_NAME_MAX", _NAME_MAX)
    path_max = _pathconf(existing, "PC_PATH_MAX", _PATH_MAX)
    for part in base.parts[1:]:
        if len(os.fsencode(part)) > name_max:
            raise OutputError(
                f"has a folder name of {len(os.fsencode(part))} bytes; the file system takes "
                f"{name_max}",
                where=str(out),
                fix="choose an --out folder with shorter names",
            )
    stage = base / _TEMP_NAME
    longest = max((os.fsencode(stage / f) for f in files), key=len)
    # temporaries add ".", "." and 8 characters to a name; the COGs' work folder adds more
    if len(longest) + 40 >= path_max:
        raise OutputError(
            f"is too deep: output paths would be {len(longest) + 40} bytes long, the file "
            f"system takes {path_max}",
            where=str(out),
            fix="choose a shorter --out path",
        )
    gpkg = os.fsencode(stage / ".urbanshrink.00000000.gpkg")
    if len(gpkg) > SQLITE_PATH_MAX:
        room = SQLITE_PATH_MAX - (len(gpkg) - len(os.fsencode(base)))
        raise OutputError(
            f"is {len(os.fsencode(base))} bytes long: sqlite3, which writes the GeoPackage, "
            f"opens paths of up to {SQLITE_PATH_MAX} bytes",
            where=str(out),
            fix=f"choose an --out path of at most {room} bytes (absolute)",
        )


def check_free_space(
    out: str | os.PathLike,
    config: RunConfig,
    series: Sequence[sources.Series],
    plans: Sequence[RasterPlan],
) -> int:
    """Estimate the bytes a run writes and refuse to start when the disk has fewer free.

    The estimate is rough: each output raster's pixels at the compression its input files
    achieve (their size over their pixels' bytes), a third more for overviews, the largest
    one once more for the work files a COG is copied from, the lit/dark and built-up change
    rasters once more for their pixels rendered ahead (kept until the outputs are in place),
    and the tables at three times the boundaries' file size.

    Returns
    -------
    int
        The estimate, in bytes.

    Raises
    ------
    OutputError
        Fewer bytes are free where ``out`` is (or would be) than the estimate.
    """
    raw = packed = 0
    for one in series:
        year = one.years[0]
        packed += sum(os.path.getsize(f) for f in one.files[year] if os.path.isfile(f))
        raw += sum(_raster_bytes(name) for name in one.groups[year].values())
    ratio = min(max(packed / raw, 0.01), 1.0) if raw else 1.0
    rasters = [_raster_bytes(p.template, p.dtype) * ratio for p in plans]
    tables = 3 * os.path.getsize(config.boundaries.path) + 2**20
    early = rendered_ahead([p.name for p in plans])  # kept until the COGs are written
    ahead = sum(r for p, r in zip(plans, rasters, strict=True) if p.name in early)
    needed = int(sum(rasters) * 4 / 3 + max(rasters, default=0) + ahead + tables)
    require_free_space(out, needed)
    return needed


def require_free_space(out: str | os.PathLike, needed: int) -> None:
    """Refuse to start when fewer than ``needed`` bytes are free where ``out`` is (or would be).

    Raises
    ------
    OutputError
        Naming the folder, the bytes free and the bytes needed.
    """
    base = Path(os.path.abspath(out))
    existing = next(p for p in (base, *base.parents) if p.exists())
    free = shutil.disk_usage(existing).free
    if free < needed:
        raise OutputError(
            f"has {_megabytes(free)} free; this run writes about {_megabytes(needed)}",
            where=str(existing),
            fix="free some space there, or choose another --out",
        )


def _raster_bytes(name: str, dtype: str | None = None) -> int:
    """Bytes of a raster's pixels, uncompressed (in ``dtype`` when given)."""
    import numpy as np

    with reading_env(), rasterio.open(name) as ds:
        size = np.dtype(dtype or ds.dtypes[0]).itemsize
        return ds.width * ds.height * (1 if dtype else ds.count) * size


def _megabytes(n: float) -> str:
    return f"{n / 2**20:,.0f} MB" if n >= 2**20 else f"{n / 2**20:.2f} MB"


@contextlib.contextmanager
def _undone_on_failure(out: Path) -> Iterator[None]:
    """Remove every file and folder the block creates under ``out`` if it raises."""
    top = Path(os.path.abspath(out))
    while not top.parent.exists():
        top = top.parent
    existed = top.exists()
    before = set(top.rglob("*")) if existed else set()
    try:
        yield
    except BaseException:
        if not existed:
            shutil.rmtree(top, ignore_errors=True)
        else:
            for p in sorted(set(top.rglob("*")) - before, key=lambda p: -len(p.parts)):
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
        raise


def _previous_set(out: Path, with_report: bool) -> list[str]:
    """The previous run's files in ``out`` that a new run's set replaces (or leaves out)."""
    names = [*export.RUN_OUTPUTS, SOURCES_TABLE]
    for scopes in (("prefecture", "urban"), ("urban", "prefecture")):  # a two-scope run's
        names += export.scope_outputs(scopes)
    if with_report:
        names += [f"report/{n}" for n in _report().REPORT_FILES]
    rasters = out / RASTER_DIR
    if rasters.is_dir():
        made = ("builtup_change_", "ntl_change_", "ntl_trend_", "new_builtup_dark")
        names += [f"{RASTER_DIR}/{p.name}" for p in rasters.iterdir() if p.name.startswith(made)]
    return [n for n in names if (out / n).is_file()]


@contextlib.contextmanager
def _staged(out: Path, *, needed: int = 0, retire: Sequence[str] = ()) -> Iterator[Path]:
    """A hidden folder in ``out`` for a run's files, moved into place only once all are written.

    Stale staging folders of killed runs are removed first (a commit they were in the middle
    of is undone). Then every destination is checked before the first move; the previous
    run's files (those the new set replaces and those in ``retire``) are moved aside into
    the staging folder, the new files moved in, and the old ones removed only after the
    whole new set is in place. A failure at any point leaves the previous run's outputs as
    they were and no temporary file behind; a full disk or quota becomes one
    :class:`OutputError` naming the folder and ``needed``, the bytes the run writes.
    """
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(out)
    prefix = f"{STAGING_PREFIX}{os.getpid()}@{_host()}-"
    stage = Path(tempfile.mkdtemp(prefix=prefix, dir=out))
    try:
        with _disk_full_as_error(out, needed):
            yield stage
        _commit(stage, out, retire)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _commit(stage: Path, out: Path, retire: Sequence[str]) -> None:
    """Move the staged files into ``out``, the files they replace aside, all or none."""
    new = sorted(p.relative_to(stage) for p in stage.rglob("*") if p.is_file())
    check_destinations(out, new)
    old = sorted(
        {Path(r) for r in (*new, *retire) if (out / r).is_file() or (out / r).is_symlink()}
    )
    aside = stage / _ASIDE
    aside.mkdir()
    (aside / _MANIFEST).write_text("".join(f"{p.as_posix()}\n" for p in new), encoding="utf-8")
    moved: list[tuple[Path, Path]] = []
    try:
        for rel in old:
            (aside / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(out / rel, aside / rel)
            moved.append((out / rel, aside / rel))
        for rel in new:
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(stage / rel, out / rel)
            moved.append((stage / rel, out / rel))
    except BaseException:
        for src, dst in reversed(moved):
            os.replace(dst, src)
        raise
    (aside / _MANIFEST).unlink()  # the whole new set is in place: the old one may go


def remove_stale_staging(out: str | os.PathLike) -> list[Path]:
    """Remove the staging folders that killed runs left in ``out``; return them.

    A folder of this host whose run is still alive (the process id and host in its name) is
    kept; so is one of another host (``out`` on a shared file system) unless nothing in it
    changed for :data:`STALE_AGE` seconds. A folder named without a host (older versions)
    is judged as this host's. A run killed while moving its files into place is undone: its
    new files that were moved in are removed and the previous ones it had moved aside are
    put back.
    """
    removed = []
    for stage in Path(out).glob(f"{STAGING_PREFIX}*"):
        if not stage.is_dir() or _may_be_running(stage):
            continue
        manifest = stage / _ASIDE / _MANIFEST
        if manifest.exists():  # killed inside a commit: back to the previous set
            for line in manifest.read_text(encoding="utf-8").splitlines():
                if not (stage / line).exists():  # already moved in
                    (Path(out) / line).unlink(missing_ok=True)
            manifest.unlink()
            for old in sorted(p for p in (stage / _ASIDE).rglob("*") if p.is_file()):
                dst = Path(out) / old.relative_to(stage / _ASIDE)
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.replace(old, dst)
        shutil.rmtree(stage, ignore_errors=True)
        log.info("removed the staging folder %s of a killed run", stage)
        removed.append(stage)
    return removed


def _may_be_running(stage: Path) -> bool:
    """Whether the run that made a staging folder may still be writing in it."""
    owner = stage.name[len(STAGING_PREFIX) :].rsplit("-", 1)[0]
    pid, _, host = owner.partition("@")
    if host and host != _host():
        newest = max((p.lstat().st_mtime for p in (stage, *stage.rglob("*"))), default=0.0)
        return time.time() - newest < STALE_AGE
    return pid.isdigit() and _alive(int(pid))


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


#: A write failing with less space than this left is taken for a full disk: GDAL's errors
#: (``TIFFAppendToStrip: Write error``) lose the system's errno.
_LOW_SPACE = 16 * 2**20


@contextlib.contextmanager
def _disk_full_as_error(out: Path, needed: int) -> Iterator[None]:
    """Turn a full disk or quota during the block into one :class:`OutputError`."""
    try:
        yield
    except OutputError:
        raise
    except Exception as err:
        free = shutil.disk_usage(out).free
        if not _files.disk_full(err) and free >= _LOW_SPACE:
            raise
        raise OutputError(
            f"the disk is full (writing the outputs needs about {_megabytes(needed)}, "
            f"{_megabytes(free)} is free)",
            where=str(out),
            fix="free some space there, or choose another --out; the previous outputs are kept",
        ) from err


def _report() -> ModuleType:
    """The report stage, imported on first use: only runs that write a report load matplotlib."""
    from urbanshrink_gis.export import report

    return report


SOURCES_TABLE = "sources.csv"
