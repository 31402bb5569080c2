"""Errors and warnings of urbanshrink_gis.

Every deliberate failure derives from :class:`UrbanShrinkError` and renders as one line: what is
wrong, where, and how to fix it. The CLI turns the root class into exit code 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "BoundaryError",
    "ConfigError",
    "InputError",
    "OutputError",
    "OutputExistsError",
    "PopulationError",
    "RasterError",
    "UrbanShrinkError",
    "UrbanShrinkWarning",
    "did_you_mean",
    "first_line",
]


class UrbanShrinkError(Exception):
    """Root of every deliberate urbanshrink_gis failure.

    Parameters
    ----------
    what
        What is wrong, in one phrase.
    where
        The file, layer, field, row or year concerned.
    fix
        How the user can fix it.
    """

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None) -> None:
        self.what, self.where, self.fix = what, where, fix
        super().__init__(self._render())

    def _render(self) -> str:
        text = f"{self.where}: {self.what}" if self.where else self.what
        return f"{text}; {self.fix}" if self.fix else text


class ConfigError(UrbanShrinkError, ValueError):
    """A run configuration or option is invalid."""


class InputError(UrbanShrinkError, ValueError):
    """An input dataset cannot be used as it is."""


class BoundaryError(InputError):
    """City boundaries are missing, unreadable or inconsistent."""


class RasterError(InputError):
    """A raster is missing, unreadable or does not fit the request."""


class PopulationError(InputError):
    """A population table is missing, unreadable or inconsistent."""


class OutputError(UrbanShrinkError, OSError):
    """An output folder or file cannot be written (not a folder, no permission)."""


class OutputExistsError(OutputError, FileExistsError):
    """An output exists and overwriting was not asked for."""


class UrbanShrinkWarning(UserWarning):
    """An oddity a run survives, such as a repaired polygon."""


def did_you_mean(word: object, choices: Iterable[object]) -> str:
    """``"did you mean 'x'? "`` for the choice closest to ``word``, or ``""`` if none is close."""
    near = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.4)
    return f"did you mean {near[0]!r}? " if near else ""


def first_line(err: BaseException | str) -> str:
    """The first line of an error's message (its type's name when it has no message)."""
    text = str(err).strip()
    if text:
        return text.splitlines()[0]
    return type(err).__name__ if isinstance(err, BaseException) else ""
