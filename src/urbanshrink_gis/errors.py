"""Errors and warnings of urbanshrink_gis.

Every deliberate failure derives from :class:`UrbanShrinkError` and renders as one line: what is
wrong, where, and how to fix it. The CLI turns the root class into exit code 2.

Messages name settings as a configuration file does (``[analysis] consecutive_years``,
``key = value``, or a keyword such as ``threshold=VALUE``); :meth:`UrbanShrinkError.spelled`
says them as the options of a command instead (``--consecutive-years 3``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping

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
        return _line(self.what, self.where, self.fix)

    def spelled(self, options: Mapping[str, str]) -> str:
        """The one line with the settings of ``options`` spelled as command-line options.

        Parameters
        ----------
        options
            Setting (configuration key or keyword argument) to the option that sets it, such
            as ``{"zone_id": "--id"}``.

        Returns
        -------
        str
            ``key = value`` and ``key=value`` become ``--option value``, ``set key (to)`` becomes
            ``give --option``, ``[section] key`` and a key with an underscore become
            ``--option``. A place that is only a section, or that the message names anyway, is
            left out, and so is a clause of the fix that calls a library function
            (``name(...)``).
        """
        if not options:
            return str(self)
        keys = "|".join(sorted(map(re.escape, options), key=len, reverse=True))
        assigned = re.compile(rf"(?:{_SECTION} )?(?<![\w.-])({keys}) ?= ?({_VALUE})")
        named = re.compile(rf"({_SECTION} )?(?<![\w.-])({keys})\b(?![(=])")

        given = re.compile(rf"\bset ({keys})(?: to)?\b(?![(=])")

        def spell(text: str) -> str:
            text = given.sub(lambda m: f"give {options[m[1]]}", text)
            text = assigned.sub(lambda m: f"{options[m[1]]} {_unquoted(m[2])}", text)
            return named.sub(lambda m: options[m[2]] if m[1] or "_" in m[2] else m[0], text)

        what, where, fix = spell(self.what), self.where, self.fix
        if where in options:
            where = options[where]
        elif where is not None:
            where = None if re.fullmatch(_SECTION, where) else spell(where)
        if fix is not None:
            fix = spell(", or ".join(c for c in fix.split(", or ") if not _CALL.search(c)))
        return _line(what, None if where and where in what else where, fix or None)


#: A configuration section (``[analysis]``, ``[[rasters]]``), a setting's value as messages
#: write it (quoted, a list or one word), and a call of a library function.
_SECTION = r"\[\[?\w+\]\]?"
_VALUE = r"\"[^\"]*\"|'[^']*'|\[[^\]]*\]|[^\s,;)]+"
_CALL = re.compile(r"\b[A-Za-z_]\w*\(")


def _unquoted(value: str) -> str:
    """A quoted word without its quotes, as typed after an option."""
    if value[:1] in "\"'" and value[-1:] == value[:1] and " " not in value:
        return value[1:-1]
    return value


def _line(what: str, where: str | None, fix: str | None) -> str:
    text = f"{where}: {what}" if where else what
    return f"{text}; {fix}" if fix else text


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
