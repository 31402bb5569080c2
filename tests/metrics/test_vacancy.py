"""metrics/vacancy.py: built-up in the dark from a projected land cover and a geographic light."""

import tempfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import rasterio.warp
from hypothesis import given, settings
from hypothesis import strategies as st
from rasterio.enums import Resampling
from rasterio.transform import from_origin
from rasterio.vrt import WarpedVRT
from shapely.geometry import box

from urbanshrink_gis.demo import ALBERS  # CLCD grid: equal-area
from urbanshrink_gis.errors import UrbanShrinkError
from urbanshrink_gis.io.boundaries import read_boundaries
from urbanshrink_gis.metrics.vacancy import BuiltupLight, dark_builtup_metrics, new_builtup_metrics
from urbanshrink_gis.products.presets import get_product


@pytest.fixture
def scene(tmp_path):
    """A 30 m land cover with an old core, a new lit district and a new dark one, and light."""
    lc_transform = from_origin(1_000_000, 4_000_000, 30, 30)
    start = np.full((400, 600), 1, np.uint8)
    start[50:150, 50:150] = 8  # old core: 100 x 100 px
    end = start.copy()
    end[50:150, 200:260] = 8  # new district, lit: 100 x 60 px
    end[250:330, 400:480] = 8  # new district, dark: 80 x 80 px
    paths = {}
    for name, array in (("lc_2010", start), ("lc_2020", end)):
        paths[name] = tmp_path / f"{name}.tif"
        profile = dict(driver="GTiff", width=600, height=400, count=1, dtype="uint8", nodata=0,
                       crs=ALBERS, transform=lc_transform)  # fmt: skip
        with rasterio.open(paths[name], "w", **profile) as dst:
            dst.write(array, 1)
    # Light on a 15" geographic grid, lit where the land cover has x < 1_009_000 (cols < 300).
    res = 1 / 240
    with rasterio.open(paths["lc_2020"]) as ds:
        west, south, east, north = rasterio.warp.transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)
    west, north = west - 0.01, north + 0.01
    width, height = int((east + 0.01 - west) / res), int((north - south + 0.01) / res)
    lon = west + (np.arange(width) + 0.5) * res
    lat = north - (np.arange(height) + 0.5) * res
    lons, lats = np.meshgrid(lon, lat)
    x, _ = rasterio.warp.transform("EPSG:4326", ALBERS, lons.ravel(), lats.ravel())
    light = np.where(np.asarray(x).reshape(lons.shape) < 1_000_000 + 300 * 30, 20.0, 0.0)
    paths["ntl_2020"] = tmp_path / "ntl_2020.tif"
    profile = dict(driver="GTiff", width=width, height=height, count=1, dtype="float32",
                   crs="EPSG:4326", transform=from_origin(west, north, res, res))  # fmt: skip
    with rasterio.open(paths["ntl_2020"], "w", **profile) as dst:
        dst.write(light.astype("float32"), 1)
    zones = gpd.GeoDataFrame(
        {"id": ["city"]},
        geometry=[box(1_000_000, 4_000_000 - 400 * 30, 1_000_000 + 600 * 30, 4_000_000)],
        crs=ALBERS,
    )
    return paths, read_boundaries(zones, id_field="id")


def test_new_districts_are_split_into_lit_and_dark(scene):
    paths, zones = scene
    lc, ntl = get_product("clcd"), get_product("vnl2")
    source = BuiltupLight(str(paths["lc_2020"]), str(paths["ntl_2020"]), lc, ntl,
                          start=str(paths["lc_2010"]))  # fmt: skip
    out = new_builtup_metrics(zones, source)
    pixel = 30 * 30 / 1e6
    assert out.loc["city", "new_builtup_km2"] == pytest.approx((100 * 60 + 80 * 80) * pixel)
    # The dark district lies wholly in the unlit half: its area comes back within 1 %.
    assert out.loc["city", "new_dark_builtup_km2"] == pytest.approx(80 * 80 * pixel, rel=0.01)


def test_dark_builtup_per_year(scene):
    paths, zones = scene
    lc, ntl = get_product("clcd"), get_product("vnl2")
    pairs = {2020: (paths["lc_2020"], paths["ntl_2020"])}
    out = dark_builtup_metrics(zones, pairs, lc, ntl).set_index("city_id")
    pixel = 30 * 30 / 1e6
    assert out.loc["city", "dark_builtup_km2"] == pytest.approx(80 * 80 * pixel, rel=0.01)


def test_windows_without_built_up_read_no_light(scene, tmp_path):
    paths, _ = scene
    lc, ntl = get_product("clcd"), get_product("vnl2")
    source = BuiltupLight(str(paths["lc_2020"]), str(tmp_path / "no_such_light.tif"), lc, ntl,
                          start=str(paths["lc_2010"]))  # fmt: skip
    # Rows 160-240 hold no built-up pixel: codes come without the light (or the start) read.
    codes = source.read(rasterio.windows.Window(0, 160, 600, 80))
    assert (codes == 1).all()
    with pytest.raises(
        UrbanShrinkError, match="no_such_light"
    ):  # built-up there: the light is read
        source.read(rasterio.windows.Window(0, 40, 600, 80))


_NIGHTLIGHTS = ("vnl2", "blackmarble", "blackmarble_c1", "dmsp_harmonized")


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(_NIGHTLIGHTS),
    seed=st.integers(0, 2**16),
    shift=st.tuples(st.integers(-30, 30), st.integers(-30, 30)),
    file_nodata=st.booleans(),
)
def test_dark_pixels_are_those_of_the_float_light_warped(name, seed, shift, file_nodata):
    """The dark mask, warped as one byte, marks the pixels GDAL's warp of the light itself
    marks: nodata, NaN, scale and threshold alike, and none outside the light's extent."""
    lc, ntl = get_product("clcd"), get_product(name)
    rng = np.random.default_rng(seed)
    dtype = np.dtype(ntl.dtype)
    fill = ntl.nodata if ntl.nodata is not None else (-999.0 if dtype.kind == "f" else 255)
    t = ntl.lit_threshold / ntl.scale  # the threshold in stored values
    picks = [0, t, t + 1, max(t - 1, 0), 3 * t + 5, fill] + ([np.nan] if dtype.kind == "f" else [])
    light = np.asarray(picks, np.float64)[rng.integers(0, len(picks), (24, 30))].astype(dtype)
    with tempfile.TemporaryDirectory() as folder:
        lc_path, ntl_path = Path(folder) / "lc.tif", Path(folder) / "ntl.tif"
        lc_transform = from_origin(1_000_000, 4_000_000, 30, 30)
        with rasterio.open(lc_path, "w", driver="GTiff", width=400, height=300, count=1,
                           dtype="uint8", crs=ALBERS, transform=lc_transform) as dst:  # fmt: skip
            dst.write(np.full((300, 400), 8, np.uint8), 1)  # built-up everywhere
            west, _, _, north = rasterio.warp.transform_bounds(ALBERS, "EPSG:4326", *dst.bounds)
        res = 1 / 240
        origin = (west + shift[0] * res / 3, north - shift[1] * res / 3)
        with rasterio.open(ntl_path, "w", driver="GTiff", width=30, height=24, count=1,
                           dtype=dtype.name, crs="EPSG:4326", nodata=fill if file_nodata else None,
                           transform=from_origin(*origin, res, res)) as dst:  # fmt: skip
            dst.write(light, 1)
        source = BuiltupLight(str(lc_path), str(ntl_path), lc, ntl)
        window = rasterio.windows.Window(0, 0, 400, 300)
        codes = source.read(window)
        with rasterio.open(ntl_path) as ds:  # the reference: the light warped as it is stored
            nodata = ntl.nodata if ntl.nodata is not None else ds.nodata
            with WarpedVRT(ds, crs=ALBERS, transform=lc_transform, width=400, height=300,
                           src_nodata=nodata, nodata=np.nan, dtype="float64",
                           resampling=Resampling.nearest) as warped:  # fmt: skip
                scaled = warped.read(1) * ntl.scale + ntl.offset
    expected = np.where(scaled <= ntl.lit_threshold, 3, 2)  # old built-up, dark or lit
    assert (codes == expected).all()
