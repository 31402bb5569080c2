"""The presets: published night-light and land-cover products as downloaded."""

from __future__ import annotations

import math
from collections.abc import Iterable

from urbanshrink_gis.errors import ConfigError
from urbanshrink_gis.products.model import ClassInfo, Kind, Product

__all__ = ["KIND_LABELS", "get_product", "presets_by_kind", "product_names"]

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


#: How each kind of preset is named to users, in the order the CLI's help lists them.
KIND_LABELS: dict[str, str] = {
    "landcover": "land cover",
    "builtup_fraction": "built-up surface",
    "nightlight": "night light",
    "population": "population",
}


def product_names(kinds: Iterable[Kind] | None = None) -> tuple[str, ...]:
    """Names of the presets, sorted; only those of ``kinds`` when given.

    ``"custom"`` is none of them: it is built by :func:`custom_product`.
    """
    wanted = None if kinds is None else set(kinds)
    return tuple(sorted(n for n, p in _PRESETS.items() if wanted is None or p.kind in wanted))


def presets_by_kind(kinds: Iterable[Kind] | None = None) -> str:
    """The preset names grouped by kind, for help texts (``"land cover: clcd, ...; ..."``)."""
    groups = [
        f"{label}: {', '.join(product_names([kind]))}"
        for kind, label in KIND_LABELS.items()
        if kinds is None or kind in set(kinds)
    ]
    return "; ".join(g for g in groups if not g.endswith(": "))


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
