"""io/blackmarble.py: Black Marble HDF5 tiles opened on their grid and read through the preset."""

import numpy as np
import pytest
import rasterio
from shapely.geometry import box

from urbanshrink_gis.errors import RasterError
from urbanshrink_gis.io.blackmarble import open_blackmarble, tile_bounds
from urbanshrink_gis.products.check import check_raster
from urbanshrink_gis.products.presets import get_product
from urbanshrink_gis.zonal.engine import zonal_stats

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
