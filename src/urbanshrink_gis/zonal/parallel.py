"""Run independent tasks in order: in-process, on threads, processes or a Dask cluster.

Terms
-----
scheduler
    ``"synchronous"`` (one after another, in this process), ``"threads"`` (a thread pool: the
    compiled kernels and GDAL release the GIL), ``"processes"`` (a process pool on this
    machine), or the address of a Dask scheduler (``"tcp://HOST:PORT"``), whose workers must
    reach the same paths.
shared
    One read-only object every task needs (the prepared zones): sent once per worker, not
    once per task.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import multiprocessing
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, Literal, TypeVar

from urbanshrink_gis.errors import ConfigError

__all__ = [
    "LocalScheduler",
    "check_scheduler",
    "decode_threads",
    "map_ordered",
    "run_beside",
    "tune_allocator",
]

LocalScheduler = Literal["synchronous", "threads", "processes"]
T = TypeVar("T")
R = TypeVar("R")

_SHARED: dict[str, Any] = {}
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
_MMAP_THRESHOLD = 32 * 2**20  # glibc's own ceiling for its sliding threshold


def check_scheduler(scheduler: str) -> str:
    """Return ``scheduler`` if valid, else raise :class:`ConfigError` naming the choices."""
    if scheduler in ("synchronous", "threads", "processes") or scheduler.startswith("tcp://"):
        return scheduler
    raise ConfigError(
        f"unknown scheduler {scheduler!r}",
        where="--scheduler",
        fix="use synchronous, threads, processes or tcp://HOST:PORT of a Dask scheduler",
    )


def decode_threads(scheduler: str, workers: int | None) -> int | str:
    """GDAL decoding threads per task, so that concurrent tasks do not oversubscribe the CPUs.

    One task at a time (``synchronous``) decodes on every core; a local pool of ``workers``
    shares the cores; a Dask worker is taken to own one core.
    """
    if scheduler == "synchronous":
        return "ALL_CPUS"
    if scheduler.startswith("tcp://"):
        return 1
    cpus = os.cpu_count() or 1
    return max(1, cpus // (workers or cpus))


def map_ordered(
    func: Callable[[Any, T], R],
    shared: Any,
    items: Iterable[T],
    *,
    scheduler: str = "threads",
    workers: int | None = None,
) -> Iterator[R]:
    """Yield ``func(shared, item)`` for every item, in the items' order.

    Parameters
    ----------
    func
        A module-level function (it must pickle for processes and Dask).
    shared
        Read-only object passed to every call; sent once to each worker.
    items
        Task arguments.
    scheduler
        See the module docstring.
    workers
        Pool size on this machine (default: the number of CPUs); ignored by ``synchronous``
        and Dask, whose cluster decides.

    Notes
    -----
    At most ``2 x workers`` tasks are in flight at once, so results wait in memory only for
    the slowest task ahead of them. Every process that runs tasks serves blocks up to 32 MiB
    from its heap (see :func:`tune_allocator`).
    """
    check_scheduler(scheduler)
    items = list(items)
    if scheduler in ("synchronous", "threads"):
        tune_allocator()
    else:
        func = functools.partial(_call_tuned, func)
    if scheduler == "synchronous" or not items:
        for item in items:
            yield func(shared, item)
        return
    if scheduler.startswith("tcp://"):
        yield from _dask_map(func, shared, items, scheduler)
        return
    n = workers or os.cpu_count() or 1
    if scheduler == "threads":
        with ThreadPoolExecutor(n) as pool:
            yield from _bounded(pool, func, shared, items, n)
        return
    key = uuid.uuid4().hex
    # "spawn": forking a process that runs GDAL and numba threads can deadlock the child.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        n, mp_context=context, initializer=_remember, initargs=(key, shared)
    ) as pool:
        yield from _bounded(pool, _call_remembered, (func, key), items, n)


@contextlib.contextmanager
def run_beside(function: Callable[..., R], *args: Any, **kwargs: Any) -> Iterator[Callable[[], R]]:
    """Run ``function(*args, **kwargs)`` in a thread of this process while the block runs.

    Yields the call that waits for the function and returns its result (or raises its
    error). The whole job writes its rasters so, beside its tables and report: the tasks
    each submits to the scheduler fill the cores (or the Dask workers) that the other
    leaves idle. When the block fails, the thread is waited for and the block's error
    raised; when it is interrupted (Ctrl-C), the thread, a daemon, ends with the process.
    """
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = function(*args, **kwargs)
        except BaseException as err:
            outcome["error"] = err

    thread = threading.Thread(target=target, name="urbanshrink-beside", daemon=True)
    thread.start()

    def result() -> R:
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]

    try:
        yield result
    except Exception:
        thread.join()
        raise


@functools.cache
def tune_allocator() -> None:
    """Let glibc serve blocks up to 32 MiB from the heap in this process (once; else a no-op).

    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which freezes glibc's
    mmap threshold at 128 KiB: every window-sized numpy temporary becomes a fresh ``mmap``
    whose pages fault in again, and the per-pixel stages ran about 30 % slower on a worker
    than in the client. This sets the threshold where glibc's own sliding rule would end
    (32 MiB, trimming above 64 MiB), on any scheduler. A ``MALLOC_MMAP_THRESHOLD_`` set in
    the environment is the user's choice and is kept; other C libraries are left alone.
    """
    if "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
    mallopt(_M_TRIM_THRESHOLD, 2 * _MMAP_THRESHOLD)


def _call_tuned(func: Callable[[Any, T], R], shared: Any, item: T) -> R:
    tune_allocator()
    return func(shared, item)


def _bounded(
    pool: Executor, func: Callable[[Any, T], R], shared: Any, items: list[T], n: int
) -> Iterator[R]:
    pending = [pool.submit(func, shared, item) for item in items[: 2 * n]]
    upcoming = iter(items[2 * n :])
    while pending:
        result = pending.pop(0).result()
        nxt = next(upcoming, None)
        if nxt is not None:
            pending.append(pool.submit(func, shared, nxt))
        yield result


def _remember(key: str, shared: Any) -> None:
    _SHARED[key] = shared


def _call_remembered(func_key: tuple[Callable[[Any, T], R], str], item: T) -> R:
    func, key = func_key
    return func(_SHARED[key], item)


def _dask_map(
    func: Callable[[Any, T], R], shared: Any, items: list[T], address: str
) -> Iterator[R]:
    try:
        from distributed import Client
    except ImportError as err:
        raise ConfigError(
            "the Dask scheduler needs the 'distributed' package",
            where="--scheduler",
            fix="pip install 'urbanshrink_gis[cluster]'",
        ) from err
    try:
        client = Client(address, timeout="10s", set_as_default=False)
    except OSError as err:
        raise ConfigError(
            f"cannot reach the Dask scheduler at {address} ({err})",
            where="--scheduler",
            fix="start it with `dask scheduler` and `dask worker`, or check the address",
        ) from err
    with client:
        handle = client.scatter(shared, broadcast=True)
        futures = [client.submit(func, handle, item, pure=False) for item in items]
        for future in futures:
            yield future.result()
