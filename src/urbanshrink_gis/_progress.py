"""How long calls report progress: ``Progress`` for one task, ``StageProgress`` for a job.

A library call that takes long accepts ``progress(done, total)``; the whole job reports
``progress(stage, done, total)`` and hands each stage its own ``Progress`` (:func:`for_stage`).
Nothing here prints: the CLI turns the calls into bars, the QGIS plugin into its feedback.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

__all__ = ["Progress", "StageProgress", "for_stage", "one_step", "prefixed"]

Progress = Callable[[int, int], None]
"""``progress(done, total)``: ``done`` of ``total`` units of one task are finished."""

StageProgress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: the same, for the named stage of a job."""


def for_stage(progress: StageProgress, stage: str) -> Progress:
    """The :data:`Progress` of one stage of a job."""

    def step(done: int, total: int) -> None:
        progress(stage, done, total)

    return step


def prefixed(progress: StageProgress, prefix: str) -> StageProgress:
    """The same job progress with every stage name prefixed (``"urban scope: "``, say)."""

    def report(stage: str, done: int, total: int) -> None:
        progress(prefix + stage, done, total)

    return report


@contextlib.contextmanager
def one_step(progress: StageProgress | None, stage: str) -> Iterator[None]:
    """A stage without steps of its own: shown when it starts, done when it ends."""
    if progress is not None:
        progress(stage, 0, 1)
    yield
    if progress is not None:
        progress(stage, 1, 1)
