"""products/model.py: a Product's fields validated, replace() and custom products."""

import pytest

from urbanshrink_gis.errors import ConfigError
from urbanshrink_gis.products.model import ClassInfo, custom_product
from urbanshrink_gis.products.presets import get_product

# --- replace and validation -----------------------------------------------------------------


def test_replace_overrides_and_keeps_the_rest():
    p = get_product("blackmarble_c1").replace(lit_threshold=1.0)
    assert p.lit_threshold == 1.0 and p.scale == 0.1
    assert get_product("blackmarble").lit_threshold == 0.5


def test_replace_unknown_field_names_the_nearest():
    with pytest.raises(ConfigError, match="'lit_treshold' \\(did you mean 'lit_threshold'\\?\\)"):
        get_product("vnl2").replace(lit_treshold=1.0)


def test_replace_validates_every_field_at_once():
    with pytest.raises(ConfigError) as err:
        get_product("clcd").replace(nodata=300, scale=0, builtup_classes=(80,))
    message = str(err.value)
    assert "nodata 300" in message and "scale 0" in message and "[80]" in message


def test_replace_takes_toml_types():
    clcd = get_product("clcd")
    classes = [
        *clcd.classes[:7],
        {"code": 8, "name": "x", "colour": "#E24290", "description": "sealed"},
        (9, "w", "#2899e8"),
    ]
    p = clcd.replace(builtup_classes=[8, 9], years=[1990, 2020], classes=classes)
    assert p.builtup_classes == (8, 9) and p.years == (1990, 2020)
    assert p.classes[7:] == (ClassInfo(8, "x", "#e24290", "sealed"), ClassInfo(9, "w", "#2899e8"))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"kind": "landuse"}, "kind 'landuse' is not one of"),
        ({"sensor": "modis"}, "sensor 'modis'"),
        ({"dtype": "uint7"}, "dtype 'uint7'"),
        ({"crs": "EPSG:99999999"}, "crs 'EPSG:99999999'"),
        ({"band": 1.5}, "band 1.5 is not a whole number"),
        ({"valid_range": (5, 1)}, "valid_range"),
        ({"classes": [(8, "impervious", "red")]}, "'red'"),
        ({"classes": [(8.5, "impervious", "#e24290")]}, "class code 8.5 is not an integer"),
        ({"classes": [("8", "impervious", "#e24290")]}, r"class codes \['8'\] are not uint8"),
    ],
)
def test_invalid_fields(overrides, message):
    with pytest.raises(ConfigError, match=message):
        get_product("clcd").replace(**overrides)


def test_nightlight_needs_a_lit_threshold():
    with pytest.raises(ConfigError, match="lit_threshold"):
        get_product("vnl2").replace(lit_threshold=None)


# --- custom products ------------------------------------------------------------------------


def test_custom_product():
    p = custom_product(kind="landcover", dtype="uint8", nodata=255, builtup_classes=[190])
    assert (p.name, p.kind, p.nodata, p.builtup_classes, p.classes) == (
        "custom", "landcover", 255.0, (190,), ()
    )  # fmt: skip
    assert custom_product(kind="builtup_fraction", dtype="float32").nodata is None


@pytest.mark.parametrize(
    ("fields", "missing"),
    [
        ({}, "missing kind, dtype"),
        ({"kind": "landcover", "dtype": "uint8"}, "missing builtup_classes"),
        ({"kind": "nightlight"}, "missing dtype, lit_threshold"),
    ],
)
def test_custom_product_lists_missing_fields(fields, missing):
    with pytest.raises(ConfigError, match=missing):
        custom_product(**fields)


def test_custom_product_rejects_unknown_fields_and_names():
    with pytest.raises(ConfigError, match="did you mean 'nodata'"):
        custom_product(kind="builtup_fraction", dtype="uint8", no_data=0)
    with pytest.raises(ConfigError, match="always named 'custom'"):
        custom_product(name="mine", kind="builtup_fraction", dtype="uint8")
