# Integration tests: real-shaped downloads end to end through `urbanshrink run`, not one module.
"""Files shaped like today's downloads go through ``urbanshrink run`` unchanged, to known values.

The fixtures (tests/downloads.py) copy the producers' names, archives, tiles, dtypes, fills,
scale attributes and CRSs as ../shared/PRODUCTS.md documents them; their expected values are
computed from the painted pixels, never by urbanshrink_gis.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import downloads
from urbanshrink_gis.cli import cli


def _config(folder: Path, fixture, *, kind: str, product: str, start: int, end: int,
            extra: str = "") -> Path:  # fmt: skip
    ids = fixture.zones["adcode"].tolist()
    rows = [f"{i},{y},{1000 - 10 * k}" for i in ids for k, y in enumerate((start, end))]
    (folder / "population.csv").write_text("adcode,year,pop\n" + "\n".join(rows), "utf-8")
    text = f"""
[boundaries]
path = "{fixture.zones_path}"
layer = "zones"
id = "adcode"
name = "name"

[[rasters]]
kind = "{kind}"
product = "{product}"
path = "{folder / fixture.path_pattern}"
{extra}

[population]
path = "population.csv"
id = "adcode"
year = "year"
resident = "pop"

[analysis]
start = {start}
end = {end}
"""
    path = folder / "urbanshrink.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _run(config: Path, out: Path) -> tuple[pd.DataFrame, list[str]]:
    result = CliRunner().invoke(cli, ["run", str(config), "--out", str(out)])
    assert result.exit_code == 0, result.output
    warnings_ = [line for line in result.stderr.splitlines() if line.startswith("Warning:")]
    table = pd.read_csv(out / "city_year.csv", dtype={"city_id": str})
    return table.set_index(["city_id", "year"]), warnings_


def _compare(table: pd.DataFrame, fixture, pairs: dict[str, str]) -> None:
    expected = fixture.expected.copy()
    expected["adcode"] = expected["adcode"].astype(str)
    expected = expected.set_index(["adcode", "year"])
    for ours, theirs in pairs.items():
        got = table.loc[expected.index, ours].to_numpy(float)
        want = expected[theirs].to_numpy(float)
        rtol = max(fixture.rtol.get(theirs, 1e-9), 1e-9)
        np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-9, err_msg=ours)


NIGHT = {"ntl_sum": "nl_sum", "lit_km2": "lit_km2"}


def test_gzipped_stamped_vnl_v21_and_v22_files(tmp_path):
    fixture = downloads.vnl_v2(tmp_path, years=(2015, 2020, 2022), cvg_year=2015)
    config = _config(tmp_path, fixture, kind="nightlight", product="vnl2", start=2015, end=2022)
    table, lines = _run(config, tmp_path / "out")
    _compare(table, fixture, NIGHT)
    sources = pd.read_csv(tmp_path / "out" / "sources.csv")
    assert sources["n_files"].eq(1).all()  # the cf_cvg layer beside 2015 is not taken
    assert sources["notes"].str.contains("VNL processing break").all()
    assert any("gzipped" in line for line in lines), lines


@pytest.mark.parametrize("builder", ["blackmarble_c2", "blackmarble_c1"])
def test_blackmarble_tile_sets_of_each_collection(tmp_path, builder):
    fixture = getattr(downloads, builder)(tmp_path, years=(2015, 2020))
    product = "blackmarble" if builder == "blackmarble_c2" else "blackmarble_c1"
    config = _config(tmp_path, fixture, kind="nightlight", product=product, start=2015, end=2020)
    table, _ = _run(config, tmp_path / "out")
    _compare(table, fixture, NIGHT)
    assert (table["ntl_sum"] >= 0).all()  # the fill is masked, never counted as radiance


def test_collection_2_read_with_the_collection_1_preset_follows_the_files(tmp_path):
    fixture = downloads.blackmarble_c2(tmp_path, years=(2015, 2020))
    config = _config(tmp_path, fixture, kind="nightlight", product="blackmarble_c1",
                     start=2015, end=2020)  # fmt: skip
    table, lines = _run(config, tmp_path / "out")
    _compare(table, fixture, NIGHT)  # the files' fill and scale win over the preset's
    assert any("-999.9" in line and "the files' values are used" in line for line in lines)


def test_tiled_worldcover_years(tmp_path):
    fixtures = [downloads.worldcover(tmp_path, year=y) for y in (2020, 2021)]
    config = _config(tmp_path, fixtures[0], kind="landcover", product="worldcover",
                     start=2020, end=2021)  # fmt: skip
    table, _ = _run(config, tmp_path / "out")
    for fixture in fixtures:
        _compare(table, fixture, {"builtup_km2": "builtup_km2"})
    sources = pd.read_csv(tmp_path / "out" / "sources.csv")
    assert sources["n_files"].eq(4).all()  # the _InputQuality files beside are not taken


def test_globeland30_zips_in_two_utm_zones(tmp_path):
    fixtures = [downloads.globeland30(tmp_path, year=y) for y in (2010, 2020)]
    config = _config(tmp_path, fixtures[0], kind="landcover", product="globeland30",
                     start=2010, end=2020)  # fmt: skip
    table, _ = _run(config, tmp_path / "out")
    for fixture in fixtures:
        _compare(table, fixture, {"builtup_km2": "builtup_km2"})
    sources = pd.read_csv(tmp_path / "out" / "sources.csv")
    assert sources["crs_groups"].eq(2).all()
    assert (tmp_path / "out" / "rasters" / "builtup_change_2010_2020.tif").exists()


def test_clcd_without_a_nodata_tag(tmp_path):
    fixture = downloads.clcd(tmp_path, years=(2010, 2020))
    config = _config(tmp_path, fixture, kind="landcover", product="clcd", start=2010, end=2020)
    table, _ = _run(config, tmp_path / "out")
    _compare(table, fixture, {"builtup_km2": "builtup_km2"})


def test_harmonized_dmsp_across_the_calibration_break(tmp_path):
    fixture = downloads.dmsp_harmonized(tmp_path, years=(2012, 2013, 2014, 2018))
    config = _config(tmp_path, fixture, kind="nightlight", product="dmsp_harmonized",
                     start=2012, end=2018)  # fmt: skip
    table, _ = _run(config, tmp_path / "out")
    _compare(table, fixture, NIGHT)


def test_mcd12q1_hdf4_tiles_across_a_tile_seam(tmp_path):
    from shapely.geometry import box

    from hdf4_files import write_mcd12q1
    from urbanshrink_gis.io.modis import MODIS_SINUSOIDAL
    from urbanshrink_gis.io.modis import tile_bounds as modis_tile_bounds

    pixel = 2 * np.pi * 6371007.181 / 36 / 2400
    built = {2010: 5, 2020: 9}  # columns of built-up on each side of the seam, rows 1005-1014
    folder = tmp_path / "MCD12Q1"
    folder.mkdir()
    for year, width in built.items():
        for h in (27, 28):
            lc = np.full((2400, 2400), 10, np.uint8)  # grassland
            cols = slice(2395 - width, 2395) if h == 27 else slice(5, 5 + width)
            lc[1005:1015, cols] = 13  # urban and built-up lands
            lc[1020:1025, 2390:2395] = 255  # fill inside the zone: never counted
            name = f"MCD12Q1.A{year}001.h{h}v05.061.20221{h}161028.hdf"
            write_mcd12q1(folder / name, lc, h=h, v=5)
    _, _, seam, north = modis_tile_bounds("x.h27v05.hdf")
    zone = box(seam - 40 * pixel, north - 1040 * pixel, seam + 40 * pixel, north - 990 * pixel)
    zones = gpd.GeoDataFrame({"adcode": ["100001"], "name": ["seam"]}, geometry=[zone],
                             crs=MODIS_SINUSOIDAL).to_crs("EPSG:4326")  # fmt: skip
    zones_path = tmp_path / "zones.gpkg"
    zones.to_file(zones_path, layer="zones", driver="GPKG")
    fixture = type(
        "F",
        (),
        {
            "zones": zones,
            "zones_path": zones_path,
            "path_pattern": "MCD12Q1/MCD12Q1.A{year}001.h??v??.061.*.hdf",
        },
    )
    config = _config(tmp_path, fixture, kind="landcover", product="mcd12q1", start=2010, end=2020)
    table, _ = _run(config, tmp_path / "out")
    for year, width in built.items():
        expected = 2 * 10 * width * pixel**2 / 1e6  # both sides of the seam
        assert table.loc[("100001", year), "builtup_km2"] == pytest.approx(expected, rel=1e-9)


def _write_geotiff(path: Path, array: np.ndarray, *, crs: str, res: float, west: float,
                   north: float, nodata=None) -> None:  # fmt: skip
    import rasterio
    from rasterio.transform import from_origin

    path.parent.mkdir(parents=True, exist_ok=True)
    profile = dict(driver="GTiff", width=array.shape[1], height=array.shape[0], count=1,
                   dtype=array.dtype, crs=crs, transform=from_origin(west, north, res, res),
                   nodata=nodata)  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array, 1)


def _violation(tmp_path, product, kind, years, array, *, crs, res, west, north, extra="",
               name="f_{year}.tif"):  # fmt: skip
    zones = gpd.GeoDataFrame({"adcode": ["100001"], "name": ["z"]}, crs="EPSG:4326", geometry=[
        __import__("shapely").geometry.box(west + 5 * res, north - 15 * res, west + 15 * res,
                                           north - 5 * res)])  # fmt: skip
    if crs != "EPSG:4326":
        zones = gpd.GeoDataFrame(
            {"adcode": ["100001"], "name": ["z"]}, crs=crs,
            geometry=[__import__("shapely").geometry.box(west + 5 * res, north - 15 * res,
                                                         west + 15 * res, north - 5 * res)],
        ).to_crs("EPSG:4326")  # fmt: skip
    zones_path = tmp_path / "zones.gpkg"
    zones.to_file(zones_path, layer="zones", driver="GPKG")
    for year in years:
        _write_geotiff(tmp_path / "r" / name.format(year=year), array, crs=crs, res=res,
                       west=west, north=north)  # fmt: skip
    fixture = type(
        "F",
        (),
        {
            "zones": zones,
            "zones_path": zones_path,
            "path_pattern": f"r/{name.replace('{year}', '{year}')}",
        },
    )
    config = _config(tmp_path, fixture, kind=kind, product=product, start=years[0],
                     end=years[-1], extra=extra)  # fmt: skip
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["export", str(config), "--out", str(out)])
    return result, out


ALBERS = downloads.CLCD_PROJ
VIOLATIONS = {
    "vnl2 before 2012": (
        "vnl2", "nightlight", (2010, 2020), np.ones((20, 20), np.float32), "EPSG:4326", 1 / 240,
        "year 2010 is outside the years of product 'vnl2' (2012-2025)"),
    "clcd on a geographic grid": (
        "clcd", "landcover", (2010, 2020), np.full((20, 20), 8, np.uint8), "EPSG:4326", 1 / 3600,
        "is in EPSG:4326, not the CRS of product 'clcd' (Albers Equal Area"),
    "clcd at 250 m": (
        "clcd", "landcover", (2010, 2020), np.full((20, 20), 8, np.uint8), ALBERS, 250.0,
        "has 250 x 250 pixels, not the 30 of product 'clcd'"),
    "globeland30 off its epochs": (
        "globeland30", "landcover", (2010, 2015), np.full((20, 20), 80, np.uint8), "EPSG:32650",
        30.0, "year 2015 is not an epoch of product 'globeland30' (2000, 2010, 2020)"),
    "classes resampled to floats": (
        "clcd", "landcover", (2010, 2020), np.full((20, 20), 8.5, np.float32), ALBERS, 30.0,
        "is float32 (values such as 8.5), but product 'clcd' stores class codes as uint8"),
    "unmasked vnl average layer": (
        "vnl2", "nightlight", (2015, 2020), np.full((20, 20), -0.4, np.float32), "EPSG:4326",
        1 / 240, "outside the valid range 0 to inf of product 'vnl2'"),
}  # fmt: skip
ORIGINS = {"EPSG:4326": (115.0, 30.0), ALBERS: (1_000_000.0, 3_500_000.0),
           "EPSG:32650": (500_000.0, 3_500_000.0)}  # fmt: skip


@pytest.mark.parametrize("case", list(VIOLATIONS))
def test_a_preset_violation_is_one_line_exit_2_and_nothing_written(tmp_path, case):
    product, kind, years, array, crs, res, message = VIOLATIONS[case]
    west, north = ORIGINS[crs]
    result, out = _violation(tmp_path, product, kind, years, array, crs=crs, res=res,
                             west=west, north=north)  # fmt: skip
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not out.exists()  # nothing written, not even checkpoints


def test_allow_outside_product_runs_and_says_so(tmp_path):
    product, kind, years, array, crs, res, message = VIOLATIONS["vnl2 before 2012"]
    result, out = _violation(
        tmp_path,
        product,
        kind,
        years,
        array,
        crs=crs,
        res=res,
        west=115.0,
        north=30.0,
        extra="allow_outside_product = true",
    )
    assert result.exit_code == 0, result.output
    assert any(message in line for line in result.stderr.splitlines() if "Warning:" in line)
    notes = pd.read_csv(out / "sources.csv")["notes"]
    assert notes.str.contains("allow_outside_product = true").all()


def test_prepare_clips_once_and_the_run_on_it_gives_the_same_tables(tmp_path):
    fixture = downloads.vnl_v2(tmp_path, years=(2015, 2020))
    config = _config(tmp_path, fixture, kind="nightlight", product="vnl2", start=2015, end=2020)
    direct, _ = _run(config, tmp_path / "out")
    runner = CliRunner()
    result = runner.invoke(cli, ["prepare", str(config), "--out", str(tmp_path / "prep")])
    assert result.exit_code == 0, result.output
    prepared = sorted((tmp_path / "prep" / "nightlight-vnl2").glob("*.tif"))
    assert [p.name for p in prepared] == ["nightlight-vnl2_2015.tif", "nightlight-vnl2_2020.tif"]
    import rasterio

    with rasterio.open(prepared[0]) as ds:  # the cities' box, not the globe; same pixels
        assert ds.width < 86401 // 10 and ds.height < 33601 // 4
        assert ds.res == pytest.approx((1 / 240, 1 / 240))
        assert ds.profile["tiled"]
    stamp = prepared[0].stat().st_mtime_ns
    again = runner.invoke(cli, ["prepare", str(config), "--out", str(tmp_path / "prep")])
    assert again.exit_code == 0 and prepared[0].stat().st_mtime_ns == stamp  # resumed
    table, lines = _run(tmp_path / "prep" / "urbanshrink.toml", tmp_path / "out2")
    assert not any("gzipped" in line for line in lines)
    pd.testing.assert_frame_equal(table, direct)


def test_overlapping_tiles_with_different_values_stop_naming_both(tmp_path):
    res = 1 / 12000
    a = np.full((40, 40), 50, np.uint8)
    b = np.full((40, 40), 10, np.uint8)
    for year in (2020, 2021):
        _write_geotiff(tmp_path / "wc" / f"ESA_WorldCover_10m_{year}_v100_N30E114_Map.tif", a,
                       crs="EPSG:4326", res=res, west=114.0, north=30.0, nodata=0)  # fmt: skip
        _write_geotiff(
            tmp_path / "wc" / f"ESA_WorldCover_10m_{year}_v100_N30E115_Map.tif",
            b,
            crs="EPSG:4326",
            res=res,
            west=114.0 + 20 * res,
            north=30.0,
            nodata=0,
        )
    zones = gpd.GeoDataFrame({"adcode": ["100001"], "name": ["z"]}, crs="EPSG:4326",
                             geometry=[__import__("shapely").geometry.box(
                                 114.0, 30.0 - 40 * res, 114.0 + 60 * res, 30.0)])  # fmt: skip
    zones.to_file(tmp_path / "zones.gpkg", layer="zones", driver="GPKG")
    fixture = type(
        "F",
        (),
        {
            "zones": zones,
            "zones_path": tmp_path / "zones.gpkg",
            "path_pattern": "wc/ESA_WorldCover_10m_{year}_*_Map.tif",
        },
    )
    config = _config(tmp_path, fixture, kind="landcover", product="worldcover", start=2020,
                     end=2021)  # fmt: skip
    result = CliRunner().invoke(cli, ["export", str(config), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("Error:")]
    assert "N30E114_Map.tif" in line and "N30E115_Map.tif" in line and "different values" in line
    assert not (tmp_path / "out").exists()


def test_night_light_of_two_sensors_is_refused(tmp_path):
    fixture = downloads.dmsp_harmonized(tmp_path / "dmsp", years=(2014, 2018))
    vnl = downloads.vnl_v2(tmp_path / "vnl", years=(2014, 2018))
    config = _config(tmp_path, fixture, kind="nightlight", product="dmsp_harmonized",
                     start=2014, end=2018,
                     extra=f'[[rasters]]\nkind = "nightlight"\nproduct = "vnl2"\n'
                     f'path = "{tmp_path / "vnl" / vnl.path_pattern}"')  # fmt: skip
    text = config.read_text().replace(
        f'path = "{tmp_path / fixture.path_pattern}"',
        f'path = "{tmp_path / "dmsp" / fixture.path_pattern}"',
    )
    config.write_text(text)
    result = CliRunner().invoke(cli, ["export", str(config), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("Error:")]
    assert "different sensors (dmsp_viirs_harmonized, viirs)" in line


def test_the_same_place_in_two_crs_groups_is_refused_not_counted_twice(tmp_path):
    res = 30.0
    block = np.full((60, 60), 80, np.uint8)
    for year in (2010, 2020):  # one tile in UTM 50 and a copy of the same land in UTM 49
        _write_geotiff(tmp_path / "g" / f"N30_50_{year}LC030.tif", block, crs="EPSG:32650",
                       res=res, west=200_000.0, north=3_400_000.0, nodata=0)  # fmt: skip
        import rasterio
        from rasterio.warp import Resampling, reproject

        with rasterio.open(tmp_path / "g" / f"N30_50_{year}LC030.tif") as src:
            from rasterio.warp import calculate_default_transform

            t, w, h = calculate_default_transform(src.crs, "EPSG:32649", 60, 60, *src.bounds,
                                                  resolution=res)  # fmt: skip
            out = np.zeros((h, w), np.uint8)
            reproject(
                block,
                out,
                src_transform=src.transform,
                src_crs=src.crs,
                dst_transform=t,
                dst_crs="EPSG:32649",
                resampling=Resampling.nearest,
            )
        path = tmp_path / "g" / f"N30_49_{year}LC030.tif"
        with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=1, dtype="uint8",
                           crs="EPSG:32649", transform=t, nodata=0) as dst:  # fmt: skip
            dst.write(out, 1)
    zones = gpd.GeoDataFrame({"adcode": ["100001"], "name": ["z"]}, crs="EPSG:32650",
                             geometry=[__import__("shapely").geometry.box(
                                 200_300.0, 3_398_500.0, 201_500.0, 3_399_700.0)])  # fmt: skip
    zones = zones.to_crs("EPSG:4326")
    zones.to_file(tmp_path / "zones.gpkg", layer="zones", driver="GPKG")
    fixture = type(
        "F",
        (),
        {
            "zones": zones,
            "zones_path": tmp_path / "zones.gpkg",
            "path_pattern": "g/*_{year}LC030.tif",
        },
    )
    config = _config(tmp_path, fixture, kind="landcover", product="globeland30", start=2010,
                     end=2020)  # fmt: skip
    result = CliRunner().invoke(cli, ["run", str(config), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("Error:")]
    assert "counted twice" in line and "N30_49_" in line and "N30_50_" in line
