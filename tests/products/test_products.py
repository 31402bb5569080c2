from dataclasses import FrozenInstanceError

import numpy as np
import pytest
import rasterio
from shapely.geometry import box

from urbanshrink_gis.errors import ConfigError, RasterError, UrbanShrinkWarning
from urbanshrink_gis.io.blackmarble import open_blackmarble, tile_bounds
from urbanshrink_gis.products.check import check_raster
from urbanshrink_gis.products.model import ClassInfo, Product, custom_product
from urbanshrink_gis.products.presets import get_product, product_names
from urbanshrink_gis.zonal.engine import zonal_stats

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
# Where each preset's test raster sits, in its native CRS (GlobeLand30 tiles use their UTM zone).
ORIGINS = {
    "EPSG:4326": (116.0, 40.0),
    "clcd": (900_000.0, 4_500_000.0),
    "mcd12q1": (9_800_000.0, 4_400_000.0),
    "ghsl_built_s": (9_000_000.0, 4_800_000.0),
    "ghs_pop": (9_000_000.0, 4_800_000.0),
    "ghs_pop_1km": (9_000_000.0, 4_800_000.0),
    "globeland30": (400_000.0, 4_400_000.0),
}


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


# --- check_raster and a known value through zonal_stats -------------------------------------


def _test_values(p: Product) -> np.ndarray:
    """4 x 4 raw values in the product's dtype, with its fill value in the corner."""
    if p.classes:
        values = np.resize(np.array([c.code for c in p.classes], p.dtype), 16).reshape(4, 4)
    else:
        high = min(p.valid_range[1], 1000.0) / p.scale
        values = (np.arange(16).reshape(4, 4) * high / 16).astype(p.dtype)
    if p.nodata is not None:
        values[0, 0] = p.nodata
    return values


@pytest.fixture
def product_raster(make_raster, make_zones):
    """Write a product's test raster on its native grid; returns (raster, zones, values)."""

    def make(p: Product, values=None, *, dtype=None):
        values = _test_values(p) if values is None else values
        crs = p.crs or "EPSG:32650"
        origin = ORIGINS[p.name if p.crs != "EPSG:4326" else p.crs]
        raster = make_raster(
            values.astype(dtype or p.dtype), res=p.pixel_size, origin=origin, nodata=p.nodata,
            crs=crs, name=f"{p.name}.tif",
        )  # fmt: skip
        x0, y0 = origin
        side = 4 * p.pixel_size
        zones = make_zones([box(x0, y0 - side, x0 + side, y0)], crs=crs, name=f"{p.name}.gpkg")
        return raster, zones, values

    return make


@pytest.mark.parametrize("name", PRESETS)
def test_known_value_comes_back_through_the_preset(name, product_raster):
    p = get_product(name)
    raster, zones, values = product_raster(p)
    with rasterio.open(raster) as ds:
        assert ds.res == pytest.approx((p.pixel_size, p.pixel_size))
        check_raster(ds, p)  # warnings are errors in this suite
    valid = values != p.nodata if p.nodata is not None else np.ones(values.shape, bool)
    if p.kind == "landcover":
        out = zonal_stats(zones, raster, zone_id="id", categorical=True, nodata=p.nodata)
        code = p.builtup_classes[0]
        assert out.loc["a", code] == np.count_nonzero(valid & (values == code)) >= 1
        assert p.nodata not in out.columns
    else:
        out = zonal_stats(
            zones, raster, ("count", "sum"), zone_id="id",
            nodata=p.nodata, scale=p.scale, offset=p.offset,
        )  # fmt: skip
        expected = values[valid].astype(np.float64) * p.scale + p.offset
        assert out.loc["a", "count"] == valid.sum()
        assert out.loc["a", "sum"] == pytest.approx(expected.sum(), rel=1e-6)


def test_builtup_km2_of_ghsl_and_clcd(product_raster):
    ghsl = get_product("ghsl_built_s")
    raster, zones, values = product_raster(ghsl)
    out = zonal_stats(zones, raster, ("sum",), zone_id="id", nodata=ghsl.nodata)
    assert out.loc["a", "sum"] / 1e6 == pytest.approx(values[values != 65535].sum() / 1e6)
    clcd = get_product("clcd")
    raster, zones, values = product_raster(clcd, np.full((4, 4), 8, "uint8"))
    out = zonal_stats(zones, raster, zone_id="id", categorical=True, areas=True, nodata=clcd.nodata)
    assert out.loc["a", "area_km2_8"] == pytest.approx(16 * 30 * 30 / 1e6)


def test_classes_outside_the_legend_raise(product_raster):
    p = get_product("clcd")
    values = _test_values(p)
    values[1, 1], values[2, 2] = 12, 50
    raster, _, _ = product_raster(p, values)
    with rasterio.open(raster) as ds, pytest.raises(RasterError) as err:
        check_raster(ds, p)
    assert "values 12, 50 are not classes of product 'clcd'" in str(err.value)
    assert "set the product's nodata" in str(err.value)


def test_sample_is_checked_instead_of_the_file(product_raster):
    p = get_product("worldcover")
    raster, _, _ = product_raster(p)
    sample = np.ma.masked_equal(np.array([[50, 7], [255, 0]], "uint8"), 255)
    with rasterio.open(raster) as ds, pytest.raises(RasterError, match="values 7 are not"):
        check_raster(ds, p, sample=sample)  # 0 is the fill, 255 masked


def test_dtype_mismatch_warns(product_raster):
    p = get_product("clcd")
    raster, _, _ = product_raster(p, dtype="uint16")
    with (
        rasterio.open(raster) as ds,
        pytest.warns(UrbanShrinkWarning, match="is uint16, not uint8"),
    ):
        check_raster(ds, p)


def test_prescaled_float_warns_of_double_scaling(product_raster):
    p = get_product("blackmarble_c1")
    values = np.array([[65535, 12.3], [0.5, 100.0]], "float32")
    raster, _, _ = product_raster(p, values, dtype="float32")
    with rasterio.open(raster) as ds, pytest.warns(UrbanShrinkWarning, match="scaled twice"):
        check_raster(ds, p)


def test_float_raster_for_a_class_product_raises(product_raster):
    p = get_product("mcd12q1")
    raster, _, _ = product_raster(p, dtype="float32")
    with rasterio.open(raster) as ds, pytest.raises(RasterError, match="stores class codes"):
        check_raster(ds, p)


@pytest.mark.parametrize(("name", "bad"), [("dmsp_harmonized", 70), ("vnl2", -0.3)])
def test_values_outside_the_valid_range_warn(name, bad, product_raster):
    p = get_product(name)
    values = _test_values(p)
    values[3, 3] = bad
    raster, _, _ = product_raster(p, values)
    with rasterio.open(raster) as ds, pytest.warns(UrbanShrinkWarning, match="outside the valid"):
        check_raster(ds, p)


def test_missing_band_raises(product_raster):
    p = get_product("vnl2")
    raster, _, _ = product_raster(p)
    with rasterio.open(raster) as ds, pytest.raises(RasterError, match="has no band 2"):
        check_raster(ds, p.replace(band=2))


# --- Black Marble HDF5 tiles ----------------------------------------------------------------

TILE = "VNP46A4.A2020001.h29v05.001.2021125122857.h5"
# The HDF-EOS5 grid description real tiles carry: from it GDAL derives a lat/lon grid on an
# authalic sphere, which open_blackmarble replaces with EPSG:4326 and the bounds of hHHvVV.
STRUCT_METADATA = """GROUP=SwathStructure
END_GROUP=SwathStructure
GROUP=GridStructure
GROUP=GRID_1
GridName="VIIRS_Grid_DNB_2d"
XDim=2400
YDim=2400
UpperLeftPointMtrs=(110000000.000000,040000000.000000)
LowerRightMtrs=(120000000.000000,030000000.000000)
Projection=HE5_GCTP_GEO
GridOrigin=HE5_HDFE_GD_UL
GROUP=Dimension
OBJECT=Dimension_1
DimensionName="XDim"
Size=2400
END_OBJECT=Dimension_1
OBJECT=Dimension_2
DimensionName="YDim"
Size=2400
END_OBJECT=Dimension_2
END_GROUP=Dimension
GROUP=DataField
OBJECT=DataField_1
DataFieldName="AllAngle_Composite_Snow_Free"
DataType=H5T_NATIVE_USHORT
DimList=("YDim","XDim")
MaxdimList=("YDim","XDim")
END_OBJECT=DataField_1
END_GROUP=DataField
END_GROUP=GRID_1
END_GROUP=GridStructure
END
"""


@pytest.fixture
def blackmarble_tile(tmp_path):
    """Write a VNP46A4 tile with the real group structure; two pixels are lit, the rest fill."""
    h5py = pytest.importorskip("h5py", reason="h5py writes the test HDF5 tile")
    values = np.full((2400, 2400), 65535, np.uint16)
    values[10, 20], values[10, 21] = 1234, 66
    path = tmp_path / TILE
    with h5py.File(path, "w") as f:
        f.create_dataset("HDFEOS INFORMATION/StructMetadata.0", data=np.bytes_(STRUCT_METADATA))
        fields = f.create_group("HDFEOS/GRIDS/VIIRS_Grid_DNB_2d/Data Fields")
        for name, data in (
            ("AllAngle_Composite_Snow_Free", values),
            ("AllAngle_Composite_Snow_Free_Num", np.zeros((2400, 2400), np.uint8)),
        ):
            d = fields.create_dataset(name, data=data, chunks=(240, 240), compression="gzip")
            d.attrs["_FillValue"] = np.array(65535 if data.dtype == np.uint16 else 255, data.dtype)
        fields["AllAngle_Composite_Snow_Free"].attrs["scale_factor"] = 0.1
    return path


def test_tile_bounds_from_the_name():
    assert tile_bounds(TILE) == (110, 30, 120, 40)
    assert tile_bounds("VNP46A3.A2020032.h00v17.001.x.h5") == (-180, -90, -170, -80)
    with pytest.raises(RasterError, match="no Black Marble tile index"):
        tile_bounds("VNP46A4.A2020001.h36v05.001.x.h5")


def test_blackmarble_tile_reads_through_the_preset(blackmarble_tile):
    p = get_product("blackmarble_c1")
    path = open_blackmarble(blackmarble_tile, layer=p.subdataset)
    assert path == open_blackmarble(blackmarble_tile)  # bare layer name, the default
    with rasterio.open(path) as ds:
        assert ds.crs == "EPSG:4326" and ds.nodata == p.nodata
        assert ds.transform.c == 110 and ds.transform.f == 40
        assert ds.res == pytest.approx((p.pixel_size, p.pixel_size))
        west, north = ds.xy(10, 20)  # the lit pixel's centre
        raw = ds.read(1, window=((8, 13), (18, 25)), masked=True)
        check_raster(ds, p, sample=raw)
    assert (west, north) == pytest.approx((110 + 20.5 / 240, 40 - 10.5 / 240))
    radiance = raw.astype(np.float64) * p.scale + p.offset
    assert radiance.count() == 2 and radiance.sum() == pytest.approx(130.0)
    assert radiance.max() == pytest.approx(123.4) and radiance.max() > p.lit_threshold


def test_blackmarble_missing_layer_lists_the_layers(blackmarble_tile):
    with pytest.raises(RasterError, match=r"choose a layer among .*_Snow_Free_Num"):
        open_blackmarble(blackmarble_tile, layer="NearNadir_Composite_Snow_Free")


def test_blackmarble_missing_file(tmp_path):
    with pytest.raises(RasterError, match="file not found"):
        open_blackmarble(tmp_path / TILE)


def test_blackmarble_tile_through_zonal_stats(blackmarble_tile, make_zones):
    p = get_product("blackmarble_c1")
    zones = make_zones([box(110 + 18 / 240, 40 - 13 / 240, 110 + 25 / 240, 40 - 8 / 240)])
    out = zonal_stats(
        zones,
        open_blackmarble(blackmarble_tile, layer=p.subdataset),
        ("count", "sum"),
        zone_id="id",
        nodata=p.nodata,
        scale=p.scale,
        offset=p.offset,
    )
    assert out.loc["a", "count"] == 2
    assert out.loc["a", "sum"] == pytest.approx(130.0)


# --- the registry drives the CLI, the messages and the README -----------------------------


def test_check_command_passes_a_download_and_refuses_the_wrong_preset(tmp_path):
    """``urbanshrink check``: one OK line for a CLCD file as downloaded, exit 2 for VNL as CLCD."""
    from click.testing import CliRunner

    import downloads
    from urbanshrink_gis.cli import cli
    from urbanshrink_gis.products import check_file

    (clcd_file,) = downloads.clcd(tmp_path / "clcd", years=(2020,)).files[:1]
    vnl = downloads.vnl_v2(tmp_path / "vnl", years=(2020,))
    vnl_file = next(f for f in vnl.files if "average_masked" in f.name)
    ok = CliRunner().invoke(cli, ["check", str(clcd_file), "--product", "clcd"])
    assert ok.exit_code == 0, ok.output
    assert ok.output.strip() == check_file(clcd_file, "clcd")
    assert "OK as clcd (land cover): band 1 uint8" in ok.output
    assert "Albers Equal Area (no EPSG code)" in ok.output  # CLCD's PROJ string has no code
    wrong = CliRunner().invoke(cli, ["check", f"/vsigzip/{vnl_file}", "--product", "CLCD"])
    assert wrong.exit_code == 2
    (line,) = wrong.output.strip().splitlines()
    assert line.startswith("Error: ") and "float" in line
    with pytest.raises(RasterError, match="float"):
        check_file(f"/vsigzip/{vnl_file}", get_product("clcd"))


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
