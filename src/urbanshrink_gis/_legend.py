"""One legend entry, as every stage models a class: product legends, class rasters, city classes.

A land-cover product's legend (:attr:`urbanshrink_gis.products.Product.classes`), the codes
of the built-up change and vacancy rasters (:mod:`urbanshrink_gis.metrics`) and the city
classes of :mod:`urbanshrink_gis.analysis` are tuples of :class:`ClassInfo`, in legend
order; the export stage turns them into colour tables, category names and QGIS styles.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from urbanshrink_gis.errors import ConfigError

__all__ = ["ClassInfo", "rgb"]

_COLOUR = re.compile(r"#[0-9a-f]{6}")


@dataclass(frozen=True, slots=True)
class ClassInfo:
    """One entry of a legend.

    Parameters
    ----------
    code
        The value that stands for the class: a pixel value (an integer) or, for a table's
        class column, its text (``"shrinking_expanding"``).
    name
        Class name as the legend shows it.
    colour
        Legend colour, ``"#rrggbb"`` (stored in lower case).
    description
        What the class means, in a sentence; empty when the name says it.

    Raises
    ------
    ConfigError
        The code is neither an integer nor text, or the colour is not ``"#rrggbb"``.
    """

    code: int | str
    name: str
    colour: str
    description: str = ""

    def __post_init__(self) -> None:
        whole = isinstance(self.code, int | np.integer) and not isinstance(self.code, bool)
        if not (whole or isinstance(self.code, str)):
            raise ConfigError(
                f"class code {self.code!r} is not an integer",
                where="classes",
                fix="give whole numbers",
            )
        colour = str(self.colour).lower()
        if not _COLOUR.fullmatch(colour):
            raise ConfigError(
                f"colour {self.colour!r} of class {self.code} is not '#rrggbb'",
                where="classes",
                fix='write colours as "#1a2b3c"',
            )
        if whole:
            object.__setattr__(self, "code", int(self.code))
        object.__setattr__(self, "colour", colour)


def rgb(colour: str) -> tuple[int, int, int]:
    """Red, green and blue (0-255) of a ``"#rrggbb"`` colour."""
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)
