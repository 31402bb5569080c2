"""products/presets.py: the registry of real products: their facts, lookup, the README's table."""

from dataclasses import FrozenInstanceError

import numpy as np
import pytest
import rasterio

from urbanshrink_gis.errors import ConfigError
from urbanshrink_gis.products.presets import get_product, product_names

PRESETS = (
    "blackmarble",
    "blackmarble_c1",
    "clcd",
    "dmsp_harmonized",
    "ghs_pop",
    "ghs_pop_1km",
    "ghsl_built_s",
    "globeland30",
    "landscan",
    "mcd12q1",
    "vnl2",
    "worldcover",
    "worldpop",
    "worldpop_constrained",
)


def test_names_are_the_presets():
    assert product_names() == PRESETS


# --- facts, spot-checked against PRODUCTS.md ------------------------------------------------


@pytest.mark.parametrize(
    ("name", "facts"),
    [
        (
            "vnl2",
            dict(kind="nightlight", dtype="float32", nodata=None, scale=1.0, lit_threshold=0.0,
                 sensor="viirs", crs="EPSG:4326", units="nW/cm²/sr"),
        ),
        (
            "blackmarble",  # collection 2: float radiance, already physical
            dict(kind="nightlight", dtype="float32", nodata=float(np.float32(-999.9)), scale=1.0,
                 lit_threshold=0.5, sensor="viirs", crs="EPSG:4326",
                 subdataset="HDFEOS/GRIDS/VIIRS_Grid_DNB_2d/Data Fields/"
                 "AllAngle_Composite_Snow_Free"),
        ),
        (
            "blackmarble_c1",
            dict(kind="nightlight", dtype="uint16", nodata=65535.0, scale=0.1,
                 valid_range=(0.0, 6553.4), lit_threshold=0.5, sensor="viirs", crs="EPSG:4326",
                 subdataset="HDFEOS/GRIDS/VIIRS_Grid_DNB_2d/Data Fields/"
                 "AllAngle_Composite_Snow_Free"),
        ),
        (
            "dmsp_harmonized",
            dict(kind="nightlight", dtype="uint8", nodata=None, valid_range=(0.0, 63.0),
                 lit_threshold=7.0, sensor="dmsp_viirs_harmonized", years=(1992, 2021)),
        ),
        (
            "clcd",
            dict(kind="landcover", dtype="uint8", nodata=0.0, builtup_classes=(8,),
                 pixel_size=30.0, path_pattern="CLCD_v01_{year}_albert.tif"),
        ),
        (
            "worldcover",
            dict(kind="landcover", dtype="uint8", nodata=0.0, builtup_classes=(50,),
                 crs="EPSG:4326", years=(2020, 2021)),
        ),
        (
            "globeland30",
            dict(kind="landcover", dtype="uint8", nodata=0.0, builtup_classes=(80,),
                 pixel_size=30.0, years=(2000, 2020)),
        ),
        (
            "mcd12q1",
            dict(kind="landcover", dtype="uint8", nodata=255.0, builtup_classes=(13,),
                 subdataset="MCD12Q1:LC_Type1"),
        ),
        (
            "ghsl_built_s",
            dict(kind="builtup_fraction", dtype="uint16", nodata=65535.0, crs="ESRI:54009",
                 pixel_size=100.0, valid_range=(0.0, 10000.0), years=(1975, 2030)),
        ),
    ],
)  # fmt: skip
def test_preset_facts(name, facts):
    p = get_product(name)
    assert {k: getattr(p, k) for k in facts} == facts
    assert p.name == name and p.title and p.citation and "{year}" in p.path_pattern


def test_grids_are_the_published_ones():
    assert get_product("vnl2").pixel_size == pytest.approx(1 / 240)
    assert get_product("blackmarble").pixel_size == pytest.approx(1 / 240)
    assert get_product("dmsp_harmonized").pixel_size == pytest.approx(1 / 120)
    assert get_product("worldcover").pixel_size == pytest.approx(1 / 12000)
    assert get_product("mcd12q1").pixel_size == pytest.approx(463.3127, abs=1e-4)
    modis = rasterio.crs.CRS.from_user_input(get_product("mcd12q1").crs).to_dict()
    assert (modis["proj"], modis["R"]) == ("sinu", 6371007.181)
    albers = rasterio.crs.CRS.from_user_input(get_product("clcd").crs).to_dict()
    assert [albers[k] for k in ("proj", "lon_0", "lat_1", "lat_2")] == ["aea", 105, 25, 47]


@pytest.mark.parametrize(
    ("name", "codes", "builtup"),
    [
        ("clcd", range(1, 10), "impervious"),
        ("worldcover", (10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100), "built-up"),
        ("globeland30", range(10, 101, 10), "artificial surfaces"),
        ("mcd12q1", range(1, 18), "urban and built-up lands"),
    ],
)
def test_legends(name, codes, builtup):
    p = get_product(name)
    assert [c.code for c in p.classes] == list(codes)
    legend = {c.code: c for c in p.classes}
    assert legend[p.builtup_classes[0]].name == builtup
    assert all(c.colour.startswith("#") and len(c.colour) == 7 for c in p.classes)


def test_official_worldcover_colours():
    legend = {c.code: c.colour for c in get_product("worldcover").classes}
    assert (legend[10], legend[50], legend[80]) == ("#006400", "#fa0000", "#0064c8")


def test_presets_are_frozen():
    with pytest.raises(FrozenInstanceError):
        get_product("clcd").nodata = 255


# --- lookup ---------------------------------------------------------------------------------


def test_lookup_ignores_case_and_spaces():
    assert get_product(" CLCD ") is get_product("clcd")
    assert get_product("WorldCover").builtup_classes == (50,)


def test_unknown_name_lists_valid_names():
    with pytest.raises(ConfigError, match="unknown product 'modis'") as err:
        get_product("modis")
    assert all(name in str(err.value) for name in (*PRESETS, "custom"))


def test_custom_has_no_preset():
    with pytest.raises(ConfigError, match="custom_product"):
        get_product("Custom")


# --- the registry drives the CLI, the messages and the README -----------------------------


def test_product_options_are_the_registry_grouped_by_kind():
    from click.testing import CliRunner

    from urbanshrink_gis.cli import cli
    from urbanshrink_gis.products import KIND_LABELS

    commands = {
        "builtup": ("landcover", "builtup_fraction"),
        "nightlight": ("nightlight",),
        "zonal": tuple(KIND_LABELS),
    }
    for command, kinds in commands.items():
        text = " ".join(CliRunner().invoke(cli, [command, "--help"]).output.split())
        for kind in kinds:
            names = ", ".join(product_names([kind]))
            assert f"{KIND_LABELS[kind]}: {names}" in text, (command, kind)
        others = set(product_names()) - set(product_names(kinds))
        assert not any(f" {n}," in text or f" {n};" in text for n in others), command
    refused = CliRunner().invoke(cli, ["builtup", "x_{year}.tif", "z.gpkg", "--id", "a",
                                       "--product", "vnl2"])  # fmt: skip
    assert refused.exit_code == 2
    assert "unknown product 'vnl2'" in refused.output
    assert ", ".join(product_names(["landcover", "builtup_fraction"])) in refused.output


def test_the_readme_preset_table_is_the_registry():
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    table = readme.split("| preset | kind | facts encoded |", 1)[1].split("\n\n", 1)[0]
    rows = [line.split("|")[1:3] for line in table.splitlines()[2:]]
    listed = [(name.strip(" `"), kind.strip()) for names, kind in rows for name in names.split(",")]
    names = [name for name, _ in listed]
    assert sorted(names) == sorted(set(names)), "a preset has two rows"
    assert set(names) == set(product_names())
    for name, kind in listed:
        assert get_product(name).kind == kind, name
