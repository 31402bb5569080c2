"""io/modis.py: MCD12Q1 HDF4 tiles to GeoTIFF: values, fill, georeferencing, errors, zonal stats."""

from __future__ import annotations

import math

import numpy as np
import pytest
import rasterio
from pyproj import CRS, Transformer
from shapely.geometry import box

from hdf4_files import (
    GRID_NORTH,
    GRID_WEST,
    PIXEL,
    TILE,
    TILE_METRES,
    classes,
    struct_metadata,
    write_mcd12q1,
)
from urbanshrink_gis.errors import RasterError
from urbanshrink_gis.io import hdf4_to_geotiff, modis_tile_bounds
from urbanshrink_gis.io.modis import MODIS_SINUSOIDAL, describe_hdf4, tile_bounds
from urbanshrink_gis.products.presets import get_product
from urbanshrink_gis.zonal.engine import zonal_stats

pytest.importorskip("pyhdf", reason="pyhdf writes the test HDF4 tiles")

R = 6371007.181


EAST = "MCD12Q1.A2020001.h28v05.061.2022169161107.hdf"


@pytest.fixture
def tile(tmp_path):
    values = classes()
    return write_mcd12q1(tmp_path / TILE, values, h=27, v=5), values


def test_tile_bounds_follow_the_grid_formula():
    xmin, ymin, xmax, ymax = tile_bounds(TILE)
    assert xmin == pytest.approx(GRID_WEST + 27 * TILE_METRES, abs=1e-6)
    assert ymax == pytest.approx(GRID_NORTH - 5 * TILE_METRES, abs=1e-6)
    assert (xmax - xmin, ymax - ymin) == pytest.approx((2400 * PIXEL, 2400 * PIXEL), abs=1e-3)
    assert tile_bounds("MCD12Q1.A2001001.h00v00.061.x.hdf")[::3] == (GRID_WEST, GRID_NORTH)
    assert modis_tile_bounds(TILE) == tile_bounds(TILE)


@pytest.mark.parametrize("name", ["MCD12Q1.A2020001.h36v05.061.x.hdf", "lc_2020.hdf"])
def test_bad_name_is_one_line(name):
    with pytest.raises(RasterError, match="no MODIS tile index") as err:
        tile_bounds(name)
    assert "\n" not in str(err.value) and name in str(err.value)


def test_crs_is_the_presets():
    assert get_product("mcd12q1").crs == MODIS_SINUSOIDAL
    assert CRS(MODIS_SINUSOIDAL).ellipsoid.semi_major_metre == R


def test_values_fill_and_georeferencing_survive(tile, tmp_path):
    path, values = tile
    out = hdf4_to_geotiff(path, tmp_path / "tif")
    assert out.parent == tmp_path / "tif" and out.name.startswith(TILE)
    with rasterio.open(out) as ds:
        assert ds.dtypes == ("uint8",) and ds.nodata == 255
        assert ds.profile["tiled"] and ds.profile["compress"] == "deflate"
        assert CRS(ds.crs.to_wkt()).equals(CRS(MODIS_SINUSOIDAL))
        assert ds.bounds == pytest.approx(tile_bounds(TILE), abs=1e-6)
        assert ds.res == pytest.approx((PIXEL, PIXEL))
        assert ds.scales == (1.0,) and ds.offsets == (0.0,)
        assert ds.tags(1)["valid_range"] == "1,17"
        back = ds.read(1)
        x, y = ds.xy(1005, 510)  # centre of a built-up pixel
    np.testing.assert_array_equal(back, values)
    # the pixel centre through pyproj, against the sinusoidal formula inverted by hand
    lon, lat = Transformer.from_crs(MODIS_SINUSOIDAL, "EPSG:4326", always_xy=True).transform(x, y)
    want_lat = math.degrees(y / R)
    want_lon = math.degrees(x / (R * math.cos(y / R)))
    assert (lon, lat) == pytest.approx((want_lon, want_lat), abs=1e-9)
    assert 100 < lon < 115 and 30 < lat < 40  # h27v05 lies over central China
    built = np.count_nonzero(back == 13)
    area = built * PIXEL**2
    assert area == pytest.approx(built * 0.214659e6, rel=1e-5)
    assert built == np.count_nonzero(values == 13)


def test_neighbouring_tiles_abut(tile, tmp_path):
    path, _ = tile
    east = write_mcd12q1(tmp_path / EAST, classes(1), h=28, v=5)
    with (
        rasterio.open(hdf4_to_geotiff(path, tmp_path)) as a,
        rasterio.open(hdf4_to_geotiff(east, tmp_path)) as b,
    ):
        assert a.bounds.right == pytest.approx(b.bounds.left, abs=1e-6)  # float rounding only
        assert (a.bounds.top, a.bounds.bottom) == (b.bounds.top, b.bounds.bottom)
        assert b.transform.c - a.transform.c == pytest.approx(TILE_METRES, abs=1e-6)


def test_output_is_reused_and_refreshed(tile, tmp_path):
    path, _ = tile
    first = hdf4_to_geotiff(path, tmp_path / "tif")
    mtime = first.stat().st_mtime_ns
    assert hdf4_to_geotiff(path, tmp_path / "tif") == first
    assert first.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in (tmp_path / "tif").iterdir()) == [first.name]  # no temp left
    write_mcd12q1(path, classes(2), h=27, v=5)  # the tile changed: a new fingerprint
    assert hdf4_to_geotiff(path, tmp_path / "tif") != first


def test_other_layer_and_scale(tmp_path):
    path = write_mcd12q1(tmp_path / TILE, classes(), h=27, v=5, scale_factor=0.5)
    with rasterio.open(hdf4_to_geotiff(path, tmp_path)) as ds:
        assert ds.scales == (0.5,) and ds.offsets == (0.0,)
    with rasterio.open(hdf4_to_geotiff(path, tmp_path, layer="QC")) as ds:
        assert ds.tags(1)["valid_range"] == "0,10" and not ds.read(1).any()


def one_line_error(match, *args, **kwargs):
    with pytest.raises(RasterError, match=match) as err:
        hdf4_to_geotiff(*args, **kwargs)
    assert "\n" not in str(err.value)
    return str(err.value)


def test_missing_layer_lists_the_layers(tile, tmp_path):
    message = one_line_error("no layer 'LC_Type9'", tile[0], tmp_path, layer="LC_Type9")
    assert "LC_Type1, LC_Type2, QC" in message and TILE in message


def test_not_hdf4(tmp_path):
    fake = tmp_path / TILE
    fake.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)  # an HDF5 signature, not HDF4
    one_line_error("is not an HDF4 file", fake, tmp_path)
    one_line_error("file not found", tmp_path / EAST, tmp_path)


def test_wrong_size(tmp_path):
    small = write_mcd12q1(tmp_path / TILE, np.ones((1200, 1200), np.uint8), h=27, v=5)
    assert "1200 x 1200 pixels" in one_line_error("not a 2400 x 2400 MODIS tile", small, tmp_path)


def test_renamed_tile_fails_the_corner_check(tmp_path):
    moved = tmp_path / "MCD12Q1.A2020001.h27v05.061.2022169161028.hdf"
    write_mcd12q1(moved, classes(), h=27, v=5, struct=struct_metadata(26, 5))
    one_line_error("UpperLeftPointMtrs=.* disagrees with the tile index", moved, tmp_path)
    write_mcd12q1(moved, classes(), h=27, v=5, struct=struct_metadata(27, 5, shift=0.5))
    one_line_error("disagrees", moved, tmp_path)


def test_zonal_stats_reads_the_geotiff(tile, tmp_path, make_zones):
    path, values = tile
    out = hdf4_to_geotiff(path, tmp_path / "tif")
    xmin, _, _, ymax = tile_bounds(TILE)
    rows, cols = slice(990, 1030), slice(480, 540)  # holds the built-up block, edges on pixels
    polygon = box(
        xmin + cols.start * PIXEL + 0.1,
        ymax - rows.stop * PIXEL + 0.1,
        xmin + cols.stop * PIXEL - 0.1,
        ymax - rows.start * PIXEL - 0.1,
    )
    zones = make_zones([polygon], crs=MODIS_SINUSOIDAL)
    got = zonal_stats(zones, out, zone_id="id", categorical=True, areas=True)
    window = values[rows, cols]
    want = {
        int(k): int(n)
        for k, n in zip(*np.unique(window, return_counts=True), strict=True)
        if k != 255
    }
    counts = {int(c): int(got.loc["a", c]) for c in got.columns if not str(c).startswith("area")}
    assert {k: n for k, n in counts.items() if n} == want
    assert got.loc["a", "area_km2_13"] == pytest.approx(want[13] * PIXEL**2 / 1e6, rel=1e-6)


def test_describing_a_tile_reads_no_pixel_and_matches_its_geotiff(tile, tmp_path, no_pixel_read):
    path = write_mcd12q1(tmp_path / TILE, classes(), h=27, v=5, scale_factor=0.5)
    described = describe_hdf4(path, tmp_path / "tif")
    assert not (tmp_path / "tif").exists()
    no_pixel_read.undo()
    out = hdf4_to_geotiff(path, tmp_path / "tif")
    assert described.geotiff == out
    with rasterio.open(out) as ds:
        assert (ds.transform, ds.width, ds.height) == (described.transform, 2400, 2400)
        assert (ds.dtypes[0], ds.nodata) == (described.dtype, described.nodata)
        assert (ds.scales[0], ds.offsets[0]) == (described.scale, described.offset) == (0.5, 0)


@pytest.mark.parametrize(
    ("write", "match"),
    [(lambda p: write_mcd12q1(p, np.ones((1200, 1200), np.uint8), h=27, v=5), "1200 x 1200"),
     (lambda p: write_mcd12q1(p, classes(), h=27, v=5, struct=struct_metadata(26, 5)),
      "disagrees with the tile index")],
)  # fmt: skip
def test_describing_a_bad_tile_is_one_line(tmp_path, no_pixel_read, write, match):
    with pytest.raises(RasterError, match=match) as err:
        describe_hdf4(write(tmp_path / TILE), tmp_path / "tif")
    assert "\n" not in str(err.value) and not (tmp_path / "tif").exists()
