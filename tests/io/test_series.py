"""io/series.py: the files of a year ({year} patterns, explicit paths, archives) and their tiles."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from hdf4_files import TILE, classes, write_mcd12q1
from urbanshrink_gis.errors import ConfigError, RasterError
from urbanshrink_gis.io.series import (
    check_series_values,
    find_files,
    read_tiles,
    resolve_series,
    year_of_files,
)
from urbanshrink_gis.products.presets import get_product


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return str(path)


def test_year_in_folders_stamps_and_brackets(tmp_path):
    a = _touch(tmp_path / "lc" / "2015" / "clcd.tif")
    b = _touch(tmp_path / "lc" / "2020" / "clcd.tif")
    _touch(tmp_path / "lc" / "2020" / "clcd.tif.aux.xml")
    assert find_files(str(tmp_path / "lc" / "{year}" / "clcd.tif")) == {2015: (a,), 2020: (b,)}
    v21 = _touch(
        tmp_path / "VNL_v21_npp_2015_global_vcmslcfg_c202205302300.average_masked.dat.tif.gz"
    )
    v22 = _touch(
        tmp_path / "VNL_v22_npp-j01_2022_global_vcmslcfg_c202303062300.average_masked.dat.tif.gz"
    )
    _touch(tmp_path / "VNL_v21_npp_2015_global_vcmslcfg_c202205302300.cf_cvg.dat.tif.gz")
    found = find_files(str(tmp_path / "VNL_*_{year}_global_*.average_masked.dat.tif.gz"))
    assert found == {2015: (v21,), 2022: (v22,)}
    odd = _touch(tmp_path / "odd" / "[copy] clcd_2010 (1).tif")
    assert find_files(str(tmp_path / "odd" / "[copy] clcd_{year} (?).tif")) == {2010: (odd,)}
    assert find_files(str(tmp_path / "odd" / "[cx] clcd_{year} (?).tif")) == {}  # not a glob


def test_double_star_and_several_files_per_year(tmp_path):
    tiles = sorted(
        _touch(tmp_path / "wc" / region / f"ESA_WorldCover_10m_2021_v200_{t}_Map.tif")
        for region, t in (("north", "N39E114"), ("south", "N21E111"), ("south", "N21E114"))
    )
    found = find_files(str(tmp_path / "wc" / "**" / "ESA_WorldCover_10m_{year}_v*_*_Map.tif"))
    assert found == {2021: tuple(tiles)}


def test_given_years_must_have_files(tmp_path):
    _touch(tmp_path / "dmsp_2010.tif")
    assert find_files(str(tmp_path / "dmsp_{year}.tif"), years=[2010]) == {
        2010: (str(tmp_path / "dmsp_2010.tif"),)
    }
    with pytest.raises(RasterError, match="file not found") as err:
        find_files(str(tmp_path / "dmsp_{year}.tif"), years=[2010, 2020])
    assert "dmsp_2020.tif" in str(err.value)
    with pytest.raises(ConfigError, match="has no"):
        find_files(str(tmp_path / "dmsp.tif"))


def test_explicit_paths_per_year(tmp_path):
    a, b = _touch(tmp_path / "a.tif"), _touch(tmp_path / "b.tif")
    assert year_of_files({"2015": ["a.tif", "b.tif"], "2020": "a.tif"}, tmp_path) == {
        2015: (a, b),
        2020: (a,),
    }
    with pytest.raises(ConfigError, match="not a year"):
        year_of_files({"latest": "a.tif"}, tmp_path)
    with pytest.raises(ConfigError, match="file not found"):
        year_of_files({"2015": "c.tif"}, tmp_path)


def test_a_zip_of_several_tiles_gives_each_tile_and_no_side_file(tmp_path):
    archive = tmp_path / "tiles_2020.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for i, name in enumerate(("N30_45_2020LC030.tif", "N30_50_2020LC030.tif")):
            path = tmp_path / name
            with rasterio.open(
                path,
                "w",
                driver="GTiff",
                width=4,
                height=4,
                count=1,
                dtype="uint8",
                crs="EPSG:32650",
                nodata=0,
                transform=from_origin(500000 + 120 * i, 3500000, 30, 30),
            ) as d:
                d.write(np.full((1, 4, 4), 80, np.uint8))  # fmt: skip
            z.write(path, f"tiles/{name}")
        z.writestr("tiles/N30_45_2020LC030.txt", "metadata")
    tiles = read_tiles(str(archive), get_product("globeland30"))
    assert [t.name for t in tiles] == [
        f"/vsizip/{archive}/tiles/N30_45_2020LC030.tif",
        f"/vsizip/{archive}/tiles/N30_50_2020LC030.tif",
    ]
    assert all(t.crs.to_epsg() == 32650 and t.nodata == 0 for t in tiles)


def test_a_series_of_tiles_is_converted_only_when_its_values_are_checked(tmp_path, no_pixel_read):
    tiles = tmp_path / "MCD12Q1"
    tiles.mkdir()
    files = {y: (str(write_mcd12q1(tiles / TILE.replace("2020", str(y), 1), classes(y),
                                   h=27, v=5)),) for y in (2010, 2020)}  # fmt: skip
    folder = tmp_path / "cache"
    series = resolve_series(files, get_product("mcd12q1"), label="lc", folder=folder,
                            check_values=False)  # fmt: skip
    assert not list(folder.glob("*.tif"))  # only the mosaics' VRTs, no pixel
    no_pixel_read.undo()
    checked = check_series_values(series)
    assert len(list(folder.glob("*.tif"))) == 2
    with rasterio.open(checked.path(2020)) as ds:
        np.testing.assert_array_equal(ds.read(1), classes(2020))
