"""products/check.py: a raster checked against its preset; known values come back through it."""

import numpy as np
import pytest
import rasterio
from shapely.geometry import box

from urbanshrink_gis.errors import RasterError, UrbanShrinkWarning
from urbanshrink_gis.products.check import check_raster
from urbanshrink_gis.products.model import Product
from urbanshrink_gis.products.presets import get_product, product_names
from urbanshrink_gis.zonal.engine import zonal_stats

PRESETS = product_names()  # every preset of the registry (test_presets.py pins the list)


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


# --- urbanshrink check: check_file through the CLI ------------------------------------------


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
