"""Presets of published night-light and land-cover products, and checks of rasters against them.

A preset is a frozen :class:`Product`: how one layer of a published product is read (dtype,
fill value, scale and offset, native grid, file name pattern), what its values mean (legend and
colours, units) and which rule makes a pixel built-up or lit. Look presets up by name with
:func:`get_product`, override any field with :meth:`Product.replace`, or describe another
product with :func:`custom_product`. Facts marked *(check)* come from secondary sources: read
the real file's metadata (``gdalinfo``) before relying on them.

Terms
-----
value
    A pixel read from the file, with the fill value (``nodata``), NaN and the file's internal
    mask taken out, then multiplied by ``scale`` and shifted by ``offset``; the lit or class rule
    applies to this value.
built-up
    For a ``landcover`` product, a pixel whose class code is one of ``builtup_classes``; for a
    ``builtup_fraction`` product, the built-up m² each pixel holds (summed, never counted).
lit
    For a ``nightlight`` product, a pixel whose value is above ``lit_threshold``.
sensor
    The instrument series of a night-light product; series of different sensors are compared
    only through a harmonized product.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import rasterio
from pyproj import CRS
from pyproj.exceptions import CRSError
from rasterio.windows import Window

from urbanshrink_gis.errors import ConfigError, RasterError, UrbanShrinkWarning
from urbanshrink_gis.io.rasters import band_nodata, read_block

__all__ = [
    "ClassInfo",
    "Kind",
    "Product",
    "Sensor",
    "check_raster",
    "custom_product",
    "get_product",
    "product_names",
]

Kind = Literal["nightlight", "landcover", "builtup_fraction", "population"]
Sensor = Literal["viirs", "dmsp", "dmsp_viirs_harmonized"]

_COLOUR = re.compile(r"#[0-9a-f]{6}")
_SAMPLE_SIDE = 512  # check_raster reads at most this many rows and columns when given no sample
_SHOWN_CODES = 10


@dataclass(frozen=True, slots=True)
class ClassInfo:
    """One entry of a land-cover legend.

    Parameters
    ----------
    code
        Pixel value of the class.
    name
        Class name as the product's legend gives it.
    colour
        Legend colour, ``"#rrggbb"`` (stored in lower case).
    """

    code: int
    name: str
    colour: str

    def __post_init__(self) -> None:
        if not isinstance(self.code, int | np.integer) or isinstance(self.code, bool):
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
        object.__setattr__(self, "code", int(self.code))
        object.__setattr__(self, "colour", colour)


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
        tuples and legend entries may be mappings with ``code``, ``name`` and ``colour``.
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


def _class_info(entry: Any, where: str) -> ClassInfo:
    """Make a legend entry from a ClassInfo, a mapping or a (code, name, colour) sequence."""
    if isinstance(entry, ClassInfo):
        return entry
    if isinstance(entry, Mapping) and set(entry) == {"code", "name", "colour"}:
        return ClassInfo(**entry)
    if isinstance(entry, Sequence) and not isinstance(entry, str) and len(entry) == 3:
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
    stray = [c for c in codes if not _fits(c, p.dtype)]
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
        near = difflib.get_close_matches(n, _FIELDS, n=1)
        guesses.append(f"{n!r} (did you mean {near[0]!r}?)" if near else repr(n))
    raise ConfigError(
        f"unknown product field {', '.join(guesses)}",
        where=where,
        fix=f"use fields among {', '.join(_FIELDS)}",
    )


# Legend colours: WorldCover's are the official ones of the product user manual; CLCD's are
# those distributed with the dataset and used in the paper's maps (check); GlobeLand30's follow
# the NGCC legend as commonly reproduced (check); MODIS IGBP has no official palette, so
# MCD12Q1's are the conventional one (as in the Earth Engine catalogue).
_CLCD_CLASSES = (
    ClassInfo(1, "cropland", "#fae39c"),
    ClassInfo(2, "forest", "#446f33"),
    ClassInfo(3, "shrub", "#33a02c"),
    ClassInfo(4, "grassland", "#abd37b"),
    ClassInfo(5, "water", "#1e69b4"),
    ClassInfo(6, "snow/ice", "#a6cee3"),
    ClassInfo(7, "barren", "#cfbda3"),
    ClassInfo(8, "impervious", "#e24290"),
    ClassInfo(9, "wetland", "#2899e8"),
)
_WORLDCOVER_CLASSES = (
    ClassInfo(10, "tree cover", "#006400"),
    ClassInfo(20, "shrubland", "#ffbb22"),
    ClassInfo(30, "grassland", "#ffff4c"),
    ClassInfo(40, "cropland", "#f096ff"),
    ClassInfo(50, "built-up", "#fa0000"),
    ClassInfo(60, "bare / sparse vegetation", "#b4b4b4"),
    ClassInfo(70, "snow and ice", "#f0f0f0"),
    ClassInfo(80, "permanent water bodies", "#0064c8"),
    ClassInfo(90, "herbaceous wetland", "#0096a0"),
    ClassInfo(95, "mangroves", "#00cf75"),
    ClassInfo(100, "moss and lichen", "#fae6a0"),
)
_GLOBELAND30_CLASSES = (
    ClassInfo(10, "cultivated land", "#f9f3c1"),
    ClassInfo(20, "forest", "#147749"),
    ClassInfo(30, "grassland", "#a9d05f"),
    ClassInfo(40, "shrubland", "#3eb370"),
    ClassInfo(50, "wetland", "#7ecef4"),
    ClassInfo(60, "water bodies", "#00449a"),
    ClassInfo(70, "tundra", "#646432"),
    ClassInfo(80, "artificial surfaces", "#932f14"),
    ClassInfo(90, "bare land", "#cacaca"),
    ClassInfo(100, "permanent snow and ice", "#d3edfb"),
)
_IGBP_CLASSES = (
    ClassInfo(1, "evergreen needleleaf forests", "#05450a"),
    ClassInfo(2, "evergreen broadleaf forests", "#086a10"),
    ClassInfo(3, "deciduous needleleaf forests", "#54a708"),
    ClassInfo(4, "deciduous broadleaf forests", "#78d203"),
    ClassInfo(5, "mixed forests", "#009900"),
    ClassInfo(6, "closed shrublands", "#c6b044"),
    ClassInfo(7, "open shrublands", "#dcd159"),
    ClassInfo(8, "woody savannas", "#dade48"),
    ClassInfo(9, "savannas", "#fbff13"),
    ClassInfo(10, "grasslands", "#b6ff05"),
    ClassInfo(11, "permanent wetlands", "#27ff87"),
    ClassInfo(12, "croplands", "#c24f44"),
    ClassInfo(13, "urban and built-up lands", "#a5a5a5"),
    ClassInfo(14, "cropland/natural vegetation mosaics", "#ff6d4c"),
    ClassInfo(15, "permanent snow and ice", "#69fff8"),
    ClassInfo(16, "barren", "#f9ffa4"),
    ClassInfo(17, "water bodies", "#1c0dff"),
)

_NW = "nW/cm²/sr"
_MODIS_SINUSOIDAL = "+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R=6371007.181 +units=m +no_defs"
_CLCD_ALBERS = (  # WGS84 datum; one source says CGCS2000 (check the file)
    "+proj=aea +lat_0=0 +lon_0=105 +lat_1=25 +lat_2=47 +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs"
)

_BLACK_MARBLE_CITATION = (
    "Román, M.O., Wang, Z., Sun, Q., et al. (2018). NASA's Black Marble nighttime lights product "
    "suite. Remote Sensing of Environment 210:113-143. NASA LAADS DAAC."
)

_GHS_POP = Product(
    name="ghs_pop",
    kind="population",
    title="GHS-POP R2023A residential population grid, 100 m Mollweide",
    citation=(
        "Schiavina, M., Freire, S., Carioli, A., MacManus, K. (2023). GHS-POP R2023A - "
        "GHS population grid multitemporal (1975-2030). European Commission, JRC. "
        "doi:10.2905/2FF68A52-5B5B-4A22-8F40-C41DA8332CFE (check)."
    ),
    dtype="float32",  # (check)
    nodata=-200.0,  # (check)
    valid_range=(0.0, math.inf),
    units="people per cell",
    crs="ESRI:54009",
    pixel_size=100.0,
    path_pattern="GHS_POP_E{year}_GLOBE_R2023A_54009_100_V1_0*.tif",
    years=(1975, 2030),
    epochs=tuple(range(1975, 2031, 5)),  # 2025 and 2030 projected
)


_PRESETS: dict[str, Product] = {
    p.name: p
    for p in (
        Product(
            name="vnl2",
            kind="nightlight",
            title="VIIRS Nighttime Lights (VNL) v2 annual composite, average_masked layer",
            citation=(
                "Elvidge, C.D., Zhizhin, M., Ghosh, T., Hsu, F.-C., Taneja, J. (2021). Annual time "
                "series of global VIIRS nighttime lights derived from monthly averages: 2012 to "
                "2019. Remote Sensing 13(5):922. Earth Observation Group, Colorado School of Mines."
            ),
            dtype="float32",
            nodata=None,  # no fill: the background of the *_masked layers is set to 0
            valid_range=(0.0, math.inf),  # negatives betray the unmasked `average` layer
            units=_NW,
            crs="EPSG:4326",
            pixel_size=1 / 240,
            # shipped gzipped (read through /vsigzip/); v2.1 to 2021, v2.2 from 2022; the
            # `lit_mask` layer (.lit_mask.dat.tif.gz) holds the makers' own lit pixels
            path_pattern="VNL_*_{year}_global_*.average_masked.dat.tif.gz",
            lit_threshold=0.0,  # lit = average_masked > 0
            sensor="viirs",
            years=(2012, 2025),  # v2.1 2012-2021, v2.2 from 2022 (2024-2025 files exist)
        ),
        Product(
            name="blackmarble",
            kind="nightlight",
            title="NASA Black Marble VNP46A4 annual, collection 2, AllAngle_Composite_Snow_Free",
            citation=_BLACK_MARBLE_CITATION,
            dtype="float32",  # collection 2 switched from scaled uint16 to float radiance
            nodata=-999.9,
            valid_range=(0.0, math.inf),
            units=_NW,
            crs="EPSG:4326",
            pixel_size=1 / 240,  # 2400 x 2400 px tiles of 10°, georeferenced from hHHvVV
            subdataset="HDFEOS/GRIDS/VIIRS_Grid_DNB_2d/Data Fields/AllAngle_Composite_Snow_Free",
            path_pattern="VNP46A4.A{year}001.h??v??.002.*.h5",
            lit_threshold=0.5,  # studies use 0.5-1 nW/cm²/sr: override as needed
            sensor="viirs",
            years=(2012, 2025),  # from 2012 (S-NPP) to present (check the last year)
        ),
        Product(
            name="blackmarble_c1",
            kind="nightlight",
            title="NASA Black Marble VNP46A4 annual, collection 1, AllAngle_Composite_Snow_Free",
            citation=_BLACK_MARBLE_CITATION,
            dtype="uint16",
            nodata=65535,
            scale=0.1,  # apply after masking 65535 (max 6553.4)
            valid_range=(0.0, 6553.4),
            units=_NW,
            crs="EPSG:4326",
            pixel_size=1 / 240,
            subdataset="HDFEOS/GRIDS/VIIRS_Grid_DNB_2d/Data Fields/AllAngle_Composite_Snow_Free",
            path_pattern="VNP46A4.A{year}001.h??v??.001.*.h5",
            lit_threshold=0.5,
            sensor="viirs",
            years=(2012, 2023),  # collection 1 is superseded by collection 2 (check the last year)
        ),
        Product(
            name="dmsp_harmonized",
            kind="nightlight",
            title="Harmonized global nighttime light dataset (DMSP and simulated DMSP from VIIRS)",
            citation=(
                "Li, X., Zhou, Y., Zhao, M., Zhao, X. (2020). A harmonized global nighttime light "
                "dataset 1992-2018. Scientific Data 7:168."
            ),
            dtype="uint8",
            nodata=None,  # no fill (check)
            valid_range=(0.0, 63.0),
            units="DN",
            crs="EPSG:4326",
            pixel_size=1 / 120,
            path_pattern="Harmonized_DN_NTL_{year}_*.tif",  # _calDMSP to 2013, _simVIIRS after
            lit_threshold=7.0,  # DN > 7 drops blooming and low-value noise (check)
            sensor="dmsp_viirs_harmonized",
            years=(1992, 2021),  # 1992-2018 in the paper, 1992-2021 in the GEE community copy
        ),
        Product(
            name="clcd",
            kind="landcover",
            title="China Land Cover Dataset (CLCD), 30 m annual",
            citation=(
                "Yang, J., Huang, X. (2021). The 30 m annual land cover dataset and its dynamics "
                "in China from 1990 to 2019. Earth System Science Data 13:3907-3925. "
                "Zenodo record 4417810."
            ),
            dtype="uint8",
            nodata=0,
            crs=_CLCD_ALBERS,
            pixel_size=30.0,
            path_pattern="CLCD_v01_{year}_albert.tif",
            classes=_CLCD_CLASSES,
            builtup_classes=(8,),
            years=(1985, 2022),  # 1985, then yearly from 1990; later releases extend it
        ),
        Product(
            name="worldcover",
            kind="landcover",
            title="ESA WorldCover 10 m (v100 for 2020, v200 for 2021)",
            citation=(
                "Zanaga, D., Van De Kerchove, R., et al. (2021, 2022). ESA WorldCover 10 m 2020 "
                "v100 and 2021 v200. ESA / VITO. doi:10.5281/zenodo.5571936, "
                "doi:10.5281/zenodo.7254221."
            ),
            dtype="uint8",
            nodata=0,
            crs="EPSG:4326",
            pixel_size=1 / 12000,
            path_pattern="ESA_WorldCover_10m_{year}_v*_*_Map.tif",  # 3° x 3° COG tiles
            classes=_WORLDCOVER_CLASSES,
            builtup_classes=(50,),
            years=(2020, 2021),
        ),
        Product(
            name="globeland30",
            kind="landcover",
            title="GlobeLand30 global land cover, 30 m (2000, 2010, 2020)",
            citation=(
                "Chen, J., Chen, J., Liao, A., et al. (2015). Global land cover mapping at 30 m "
                "resolution: a POK-based operational approach. ISPRS Journal of Photogrammetry "
                "and Remote Sensing 103:7-27. National Geomatics Center of China."
            ),
            dtype="uint8",
            # 0 is the fill (check); some tiles also mark ocean or missing data with 255: where
            # check_raster reports 255, override nodata = 255 for those tiles
            nodata=0,
            crs=None,  # WGS84 UTM of each tile's zone (check): one VRT per zone or warp on read
            pixel_size=30.0,
            path_pattern="*_{year}LC030.tif",  # tile names as N50_35_2020LC030.tif (check)
            classes=_GLOBELAND30_CLASSES,
            builtup_classes=(80,),
            years=(2000, 2020),
            epochs=(2000, 2010, 2020),
        ),
        Product(
            name="mcd12q1",
            kind="landcover",
            title="MODIS MCD12Q1 v061 land cover type 1 (IGBP), 500 m yearly",
            citation=(
                "Friedl, M., Sulla-Menashe, D. (2022). MODIS/Terra+Aqua Land Cover Type Yearly L3 "
                "Global 500m SIN Grid V061. NASA LP DAAC. doi:10.5067/MODIS/MCD12Q1.061; user "
                "guide: Sulla-Menashe, D., Friedl, M. (2018)."
            ),
            dtype="uint8",
            nodata=255,
            crs=_MODIS_SINUSOIDAL,
            pixel_size=2 * math.pi * 6371007.181 / 36 / 2400,  # 463.3127 m: 2400 px per 10°
            # HDF4-EOS: GDAL names it HDF4_EOS:EOS_GRID:"<file>":MCD12Q1:LC_Type1
            subdataset="MCD12Q1:LC_Type1",
            path_pattern="MCD12Q1.A{year}001.h??v??.061.*.hdf",
            classes=_IGBP_CLASSES,
            builtup_classes=(13,),
            years=(2001, 2023),
        ),
        Product(
            name="ghsl_built_s",
            kind="builtup_fraction",
            title="GHS-BUILT-S R2023A built-up surface, 100 m (band built_surface)",
            citation=(
                "Pesaresi, M., Politis, P. (2023). GHS-BUILT-S R2023A - GHS built-up surface "
                "grid, derived from Sentinel-2 composite and Landsat, multitemporal (1975-2030). "
                "European Commission, JRC. doi:10.2905/9F06F36F-4B11-47EC-ABB0-4F8B7B1D72EA."
            ),
            dtype="uint16",
            nodata=65535,  # (check)
            valid_range=(0.0, 10000.0),  # m² in a 100 m cell
            units="m² per cell",  # built-up km² = sum / 1e6
            crs="ESRI:54009",
            pixel_size=100.0,
            path_pattern="GHS_BUILT_S_E{year}_GLOBE_R2023A_54009_100_V1_0*.tif",
            years=(1975, 2030),
            epochs=tuple(range(1975, 2031, 5)),  # 2025 and 2030 projected
        ),
        # Gridded population: people per pixel, summed per city (kind "population"). Confirmed
        # from the producers' dataset pages: WorldPop 3″ (~100 m) geographic WGS84, people per
        # pixel, constrained nodata = unsettled areas; GHS-POP 1 km Mollweide, 5-year epochs
        # 1975-2030; LandScan 30″ geographic, people per cell (ambient, 24-hour average).
        Product(
            name="worldpop",
            kind="population",
            title="WorldPop Global 2000-2020 unconstrained population counts, 100 m (ppp)",
            citation=(
                "WorldPop (www.worldpop.org) and CIESIN, Columbia University (2018). Global High "
                "Resolution Population Denominators Project (OPP1134076). University of "
                "Southampton (check the DOI of the release used)."
            ),
            dtype="float32",  # (check)
            nodata=-99999.0,  # (check): some files use NaN or -3.4e38; check_raster shows it
            valid_range=(0.0, math.inf),
            units="people per pixel",
            crs="EPSG:4326",
            pixel_size=1 / 1200,  # 3 arc-seconds, ~100 m at the equator
            path_pattern="*_ppp_{year}.tif",  # chn_ppp_2020.tif (check)
            years=(2000, 2020),
        ),
        Product(
            name="worldpop_constrained",
            kind="population",
            title="WorldPop Global 2020 constrained population counts, 100 m (ppp, BSGM)",
            citation=(
                "Bondarenko, M., Kerr, D., Sorichetta, A., Tatem, A.J. (2020). Census/projection-"
                "disaggregated gridded population datasets, adjusted to match the corresponding "
                "UNPD 2020 estimates, for 183 countries in 2020 using Built-Settlement Growth "
                "Model (BSGM) outputs. WorldPop, University of Southampton. "
                "doi:10.5258/SOTON/WP00685 (check)."
            ),
            dtype="float32",  # (check)
            nodata=-99999.0,  # (check); nodata marks areas mapped as unsettled
            valid_range=(0.0, math.inf),
            units="people per pixel",
            crs="EPSG:4326",
            pixel_size=1 / 1200,
            path_pattern="*_ppp_{year}_constrained.tif",  # chn_ppp_2020_constrained.tif
            years=(2020, 2020),  # later releases (R2025A) cover 2015-2030 (check)
        ),
        _GHS_POP,
        _GHS_POP.replace(
            name="ghs_pop_1km",
            title="GHS-POP R2023A residential population grid, 1 km Mollweide",
            pixel_size=1000.0,
            path_pattern="GHS_POP_E{year}_GLOBE_R2023A_54009_1000_V1_0*.tif",
        ),
        Product(
            name="landscan",
            kind="population",
            title="LandScan Global ambient population, 30 arc-seconds",
            citation=(
                "LandScan Global (release year). Oak Ridge National Laboratory, "
                "https://landscan.ornl.gov (cite the release used; authors vary by release)."
            ),
            dtype="int32",  # (check)
            nodata=-2147483647.0,  # (check)
            valid_range=(0.0, math.inf),
            units="people per cell (ambient: a 24-hour average, not residents)",
            crs="EPSG:4326",
            pixel_size=1 / 120,  # 30 arc-seconds, ~1 km at the equator
            path_pattern="landscan-global-{year}.tif",
            years=(2000, 2023),  # yearly releases (check the last)
        ),
    )
}


def product_names() -> tuple[str, ...]:
    """Names of the presets, sorted (``"custom"`` is built by :func:`custom_product`)."""
    return tuple(sorted(_PRESETS))


def get_product(name: str) -> Product:
    """Look up the preset of a product by name (case and surrounding spaces ignored).

    Parameters
    ----------
    name
        One of :func:`product_names`.

    Returns
    -------
    Product
        The frozen preset; change fields with :meth:`Product.replace`.

    Raises
    ------
    ConfigError
        The name is unknown, or is ``"custom"`` (which takes its fields from the caller).
    """
    key = str(name).strip().lower()
    if key in _PRESETS:
        return _PRESETS[key]
    if key == "custom":
        raise ConfigError(
            "a custom product has no preset",
            where="product 'custom'",
            fix="give its fields (kind, dtype, ...) and build it with custom_product",
        )
    raise ConfigError(
        f"unknown product {name!r}",
        where="product",
        fix=f"choose from {', '.join((*product_names(), 'custom'))}",
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


def check_raster(
    ds: rasterio.DatasetReader, product: Product, *, sample: np.ndarray | None = None
) -> None:
    """Check that a raster looks like a product's layer before its values are trusted.

    Parameters
    ----------
    ds
        The open raster.
    product
        The product it should be.
    sample
        Raw values of the product's band (native dtype; a masked array's mask is honoured),
        such as a block inside the zones. When None, the central window of at most 512 x 512
        pixels is read.

    Raises
    ------
    RasterError
        The band is missing; the raster holds floats where the product has class codes; or
        the sample has values outside the legend (the fill value, NaN and masked pixels aside).

    Warns
    -----
    UrbanShrinkWarning
        The band's dtype is not the product's, or sampled values fall outside its
        ``valid_range`` after scaling.

    Notes
    -----
    The fill value is the product's ``nodata``, else the file's, as in
    :func:`urbanshrink_gis.zonal.zonal_stats` given ``nodata=product.nodata``. Only the sample
    is checked: pass a block from where the analysis reads to check what it will count.
    """
    if product.band > ds.count:
        raise RasterError(
            f"has no band {product.band} (it has {ds.count}) for product {product.name!r}",
            where=ds.name,
            fix="set the product's band",
        )
    values = _valid_sample(ds, product, sample)
    messages = [_dtype_message(ds, product, values)]
    if product.classes:
        _check_legend(values, product, ds.name)
    if product.valid_range is not None:
        messages.append(_range_message(values, product))
    for message in filter(None, messages):
        warnings.warn(f"{ds.name}: {message}", UrbanShrinkWarning, stacklevel=2)


def _dtype_message(ds: rasterio.DatasetReader, product: Product, values: np.ndarray) -> str | None:
    """Why the band's dtype is suspicious, or None; raises when it cannot hold the product."""
    dtype = ds.dtypes[product.band - 1]
    if dtype == product.dtype:
        return None
    is_float = np.dtype(dtype).kind == "f"
    if product.kind == "landcover" and is_float:
        odd = np.unique(values[values != np.round(values)])[:_SHOWN_CODES]
        shown = f" (values such as {', '.join(f'{v:g}' for v in odd)})" if odd.size else ""
        raise RasterError(
            f"is {dtype}{shown}, but product {product.name!r} stores class codes as "
            f"{product.dtype}",
            where=ds.name,
            fix="use the original file: class rasters resampled to floats have lost their "
            "codes (warp them with nearest or mode resampling)",
        )
    if is_float and product.scale != 1 and np.dtype(product.dtype).kind in "iu":
        return (
            f"is {dtype}, not {product.dtype} as product {product.name!r}, whose scale is "
            f"{product.scale}; if the values are already scaled, set scale = 1 and offset = 0 "
            "(or they are scaled twice)"
        )
    return (
        f"is {dtype}, not {product.dtype} as product {product.name!r}; check that the file is "
        "this product's layer, or set dtype"
    )


def _valid_sample(
    ds: rasterio.DatasetReader, product: Product, sample: np.ndarray | None
) -> np.ndarray:
    """Return the sample's values that are not fill, NaN or masked: raw, flattened."""
    if sample is None:
        h, w = min(_SAMPLE_SIDE, ds.height), min(_SAMPLE_SIDE, ds.width)
        window = Window((ds.width - w) // 2, (ds.height - h) // 2, w, h)
        values, mask = read_block(ds, window, band=product.band)
        valid = np.ones(values.shape, bool) if mask is None else mask > 0
    else:
        values, valid = np.ma.getdata(sample), ~np.ma.getmaskarray(sample)
    nodata = band_nodata(ds, product.band, product.nodata)
    if nodata is not None:
        valid &= values != nodata
    if values.dtype.kind == "f":
        valid &= ~np.isnan(values)
    return values[valid]


def _check_legend(values: np.ndarray, product: Product, where: str) -> None:
    legend = {c.code for c in product.classes}
    stray = [v for v in np.unique(values).tolist() if v not in legend]
    if not stray:
        return
    shown = ", ".join(f"{v:g}" for v in stray[:_SHOWN_CODES])
    more = f" and {len(stray) - _SHOWN_CODES} more" if len(stray) > _SHOWN_CODES else ""
    raise RasterError(
        f"values {shown}{more} are not classes of product {product.name!r} "
        f"(legend {', '.join(str(c) for c in sorted(legend))}; fill {product.nodata})",
        where=where,
        fix="check that the file is this product and was not recoded or resampled; if a value "
        "marks missing data set the product's nodata to it, or describe the legend with a "
        "custom product",
    )


def _range_message(values: np.ndarray, product: Product) -> str | None:
    """How many sampled values fall outside the valid range after scaling, or None."""
    low, high = product.valid_range  # type: ignore[misc]
    scaled = values.astype(np.float64) * product.scale + product.offset
    outside = (scaled < low) | (scaled > high)
    if not outside.any():
        return None
    bad = scaled[outside]
    return (
        f"{outside.sum()} of {scaled.size} sampled values ({bad.min():g} to {bad.max():g} after "
        f"scale) are outside the valid range {low:g} to {high:g} of product {product.name!r}; "
        "check the layer (a masked layer, the fill value) and the scale"
    )
