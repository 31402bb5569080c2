"""What a product preset says about one layer of a published product."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
from pyproj import CRS
from pyproj.exceptions import CRSError

from urbanshrink_gis._legend import ClassInfo
from urbanshrink_gis.errors import ConfigError, did_you_mean

__all__ = ["ClassInfo", "Kind", "Product", "Sensor", "custom_product"]

Kind = Literal["nightlight", "landcover", "builtup_fraction", "population"]
Sensor = Literal["viirs", "dmsp", "dmsp_viirs_harmonized"]

_SHOWN_CODES = 10


@dataclass(frozen=True, slots=True)
class Product:
    """How to read one layer of a published product, and what its values mean.

    Parameters
    ----------
    name
        Registry key (``"clcd"``), or ``"custom"``.
    kind
        ``"nightlight"`` (radiance or DN), ``"landcover"`` (class codes),
        ``"builtup_fraction"`` (built-up m² per pixel) or ``"population"`` (people per pixel,
        summed per city).
    title, citation
        Product title and the reference to cite.
    dtype
        Band data type of the published files (numpy name, such as ``"uint8"``).
    nodata
        Fill value, masked before scaling; None when the product has none (the file's own
        nodata, if any, then applies).
    scale, offset
        Value = raw x scale + offset, applied after masking the fill.
    valid_range
        Smallest and largest meaningful value after scaling (either end may be infinite).
    units
        Units of the value.
    crs, pixel_size
        Native grid: CRS (any pyproj input) and pixel size in its units (degrees or metres);
        None when it varies by tile.
    band
        Band to read (1-based).
    subdataset
        Layer inside a container file: an HDF5 dataset path or an HDF-EOS ``grid:field``.
    path_pattern
        Glob pattern of the published file names, ``{year}`` standing for the year.
    classes
        Legend of a land-cover product, with the official colours where known.
    builtup_classes
        Class codes that mean built-up (land cover).
    lit_threshold
        Value above which a pixel is lit (night light, after scaling).
    sensor
        ``"viirs"``, ``"dmsp"`` or ``"dmsp_viirs_harmonized"``: the analysis refuses to compare
        years of different sensors.
    years
        First and last year published (the last known release; ongoing products go on).
    epochs
        The only years published, for products of a few epochs (GlobeLand30, GHSL); empty
        when every year in ``years`` exists.

    Raises
    ------
    ConfigError
        A field is invalid; the message lists every problem. Lists (as from TOML) are taken as
        tuples and legend entries may be mappings with ``code``, ``name``, ``colour`` and
        optionally ``description``.
    """

    name: str
    kind: Kind
    title: str
    citation: str
    dtype: str
    nodata: float | None
    scale: float = 1.0
    offset: float = 0.0
    valid_range: tuple[float, float] | None = None
    units: str = ""
    crs: str | None = None
    pixel_size: float | None = None
    band: int = 1
    subdataset: str | None = None
    path_pattern: str = ""
    classes: tuple[ClassInfo, ...] = ()
    builtup_classes: tuple[int, ...] = ()
    lit_threshold: float | None = None
    sensor: Sensor | None = None
    years: tuple[int, int] | None = None
    epochs: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        where = f"product {self.name!r}"
        if isinstance(self.classes, str | Mapping) or not isinstance(self.classes, Sequence):
            raise ConfigError(
                f"classes {self.classes!r} is not a list of legend entries",
                where=where,
                fix='give a list such as [{code = 8, name = "impervious", colour = "#e24290"}]',
            )
        object.__setattr__(self, "classes", tuple(_class_info(c, where) for c in self.classes))
        problems = _coerce(self)
        if not problems:
            problems = _field_problems(self)
        if problems:
            raise ConfigError(
                "; ".join(problems),
                where=where,
                fix="correct these fields (every field can be overridden in the configuration)",
            )
        object.__setattr__(self, "dtype", np.dtype(self.dtype).name)
        if self.nodata is not None and np.dtype(self.dtype).kind == "f":
            # the fill as the file stores it: float32 -999.9 is -999.9000244 in float64
            object.__setattr__(self, "nodata", float(np.asarray(self.nodata, self.dtype)))

    def replace(self, **overrides: Any) -> Product:
        """Return a copy with some fields replaced, validated as a new product.

        Parameters
        ----------
        **overrides
            Field names and their new values.

        Returns
        -------
        Product
            The new product.

        Raises
        ------
        ConfigError
            A name is not a field (the message names the nearest one) or a value is invalid.
        """
        _check_field_names(overrides, where=f"product {self.name!r}")
        return dataclasses.replace(self, **overrides)


_FIELDS = tuple(f.name for f in dataclasses.fields(Product))
_ENTRY_KEYS = frozenset(f.name for f in dataclasses.fields(ClassInfo))


def _class_info(entry: Any, where: str) -> ClassInfo:
    """Make a legend entry from a ClassInfo, a mapping or a (code, name, colour) sequence."""
    if isinstance(entry, ClassInfo):
        return entry
    if isinstance(entry, Mapping) and {"code", "name", "colour"} <= set(entry) <= _ENTRY_KEYS:
        return ClassInfo(**entry)
    if isinstance(entry, Sequence) and not isinstance(entry, str) and len(entry) in (3, 4):
        return ClassInfo(*entry)
    raise ConfigError(
        f"legend entry {entry!r} is not a class",
        where=where,
        fix='give each class as {code = 8, name = "impervious", colour = "#e24290"}',
    )


def _whole(value: Any) -> int:
    if isinstance(value, bool) or float(value) != int(value):
        raise ValueError(value)
    return int(value)


#: Fields that cannot be left empty (None).
_REQUIRED = frozenset({"scale", "offset", "band", "builtup_classes"})
_NUMBERS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "nodata": (float, "a number"),
    "scale": (float, "a number"),
    "offset": (float, "a number"),
    "pixel_size": (float, "a number"),
    "lit_threshold": (float, "a number"),
    "band": (_whole, "a whole number"),
    "valid_range": (lambda v: tuple(float(x) for x in v), "a list of numbers"),
    "builtup_classes": (lambda v: tuple(_whole(x) for x in v), "a list of whole numbers"),
    "years": (lambda v: tuple(_whole(x) for x in v), "a list of whole numbers"),
    "epochs": (lambda v: tuple(_whole(x) for x in v), "a list of whole numbers"),
}


def _coerce(p: Product) -> list[str]:
    """Store numeric fields as their declared types (TOML gives lists and ints); list failures."""
    problems = []
    for name, (convert, expected) in _NUMBERS.items():
        value = getattr(p, name)
        if value is None:
            if name in _REQUIRED:
                problems.append(f"{name} is missing (it must be {expected})")
            continue
        try:
            object.__setattr__(p, name, convert(value))
        except (TypeError, ValueError, OverflowError):
            problems.append(f"{name} {value!r} is not {expected}")
    return problems


def _field_problems(p: Product) -> list[str]:
    """Every invalid field of a product, as phrases."""
    problems = _type_problems(p) + _number_problems(p)
    if p.kind == "landcover":
        problems += _legend_problems(p)
    elif p.kind == "nightlight" and (p.lit_threshold is None or math.isnan(p.lit_threshold)):
        problems.append("a nightlight product needs lit_threshold (value above which it is lit)")
    return problems


def _type_problems(p: Product) -> list[str]:
    problems = []
    if p.kind not in get_args(Kind):
        problems.append(f"kind {p.kind!r} is not one of {', '.join(get_args(Kind))}")
    if p.sensor is not None and p.sensor not in get_args(Sensor):
        problems.append(f"sensor {p.sensor!r} is not one of {', '.join(get_args(Sensor))}")
    kind = _dtype_kind(p.dtype)
    if kind is None:
        problems.append(f"dtype {p.dtype!r} is not a numpy type name such as 'uint8'")
    elif kind not in "iuf":
        problems.append(f"dtype {p.dtype!r} is not a numeric type")
    if p.crs is not None:
        try:
            CRS.from_user_input(p.crs)
        except CRSError:
            problems.append(f"crs {p.crs!r} is not a CRS pyproj knows")
    return problems


def _number_problems(p: Product) -> list[str]:
    problems = []
    if not (math.isfinite(p.scale) and p.scale != 0 and math.isfinite(p.offset)):
        problems.append(f"scale {p.scale} and offset {p.offset} must be finite, scale not 0")
    if p.valid_range is not None and (
        len(p.valid_range) != 2 or p.valid_range[0] > p.valid_range[1]
    ):
        problems.append(f"valid_range {p.valid_range} is not (low, high) with low <= high")
    if p.years is not None and (len(p.years) != 2 or p.years[0] > p.years[1]):
        problems.append(f"years {p.years} is not (first, last) with first <= last")
    if p.pixel_size is not None and not p.pixel_size > 0:
        problems.append(f"pixel_size {p.pixel_size} is not positive")
    if p.band < 1:
        problems.append(f"band {p.band} is not 1 or more")
    if p.nodata is not None and not _fits(p.nodata, p.dtype):
        problems.append(f"nodata {p.nodata} is not a {p.dtype} value")
    return problems


def _legend_problems(p: Product) -> list[str]:
    problems = []
    codes = [c.code for c in p.classes]
    if len(set(codes)) != len(codes):
        problems.append("class codes repeat in the legend")
    stray = [c for c in codes if isinstance(c, str) or not _fits(c, p.dtype)]
    if stray:
        problems.append(f"class codes {stray} are not {p.dtype} values")
    if not p.builtup_classes:
        problems.append("a landcover product needs builtup_classes (codes that mean built-up)")
    elif codes and not set(p.builtup_classes) <= set(codes):
        missing = sorted(set(p.builtup_classes) - set(codes))
        problems.append(f"builtup_classes {missing} are not in the legend")
    return problems


def _dtype_kind(dtype: Any) -> str | None:
    """The numpy kind of a dtype name ("u" for "uint8"), or None when it names no dtype."""
    if not isinstance(dtype, str | np.dtype | type):
        return None  # np.dtype would also build structured types from lists and dicts
    try:
        return np.dtype(dtype).kind
    except (TypeError, ValueError):
        return None


def _fits(value: float, dtype: str) -> bool:
    """Tell whether a value can be stored exactly in a dtype (any value fits a float type)."""
    if _dtype_kind(dtype) not in ("i", "u"):
        return True  # a float type holds it; any other dtype is reported by itself
    info = np.iinfo(dtype)
    return float(value).is_integer() and info.min <= value <= info.max


def _check_field_names(names: Mapping[str, Any], *, where: str) -> None:
    unknown = [n for n in names if n not in _FIELDS]
    if not unknown:
        return
    guesses = []
    for n in unknown:
        hint = did_you_mean(n, _FIELDS).strip()
        guesses.append(f"{n!r} ({hint})" if hint else repr(n))
    raise ConfigError(
        f"unknown product field {', '.join(guesses)}",
        where=where,
        fix=f"use fields among {', '.join(_FIELDS)}",
    )


_NEEDED = {
    "kind": 'kind = "nightlight", "landcover", "builtup_fraction" or "population"',
    "dtype": 'dtype = "uint8" (the band type gdalinfo shows)',
    "builtup_classes": "builtup_classes = [8] (the codes that mean built-up)",
    "lit_threshold": "lit_threshold = 0.5 (the value above which a pixel is lit, after scale)",
}


def custom_product(**fields: Any) -> Product:
    """Build a product described field by field, named ``"custom"``.

    Parameters
    ----------
    **fields
        Fields of :class:`Product` other than ``name``. Required: ``kind`` and ``dtype``, plus
        ``builtup_classes`` for land cover and ``lit_threshold`` for night light. ``title``
        defaults to "Custom product", ``citation`` to "" and ``nodata`` to None.

    Returns
    -------
    Product
        The validated product.

    Raises
    ------
    ConfigError
        A required field is missing (all are listed), a field is unknown or a value is invalid.
    """
    where = "product 'custom'"
    if "name" in fields:
        raise ConfigError("a custom product is always named 'custom'", where=where, fix="drop name")
    _check_field_names(fields, where=where)
    needed = ["kind", "dtype"]
    kind = fields.get("kind")
    if kind == "landcover":
        needed.append("builtup_classes")
    elif kind == "nightlight":
        needed.append("lit_threshold")
    missing = [f for f in needed if fields.get(f) in (None, (), [])]
    if missing:
        raise ConfigError(
            f"missing {', '.join(missing)}",
            where=where,
            fix="set " + "; ".join(_NEEDED[f] for f in missing),
        )
    defaults = {"title": "Custom product", "citation": "", "nodata": None}
    return Product(name="custom", **(defaults | fields))
