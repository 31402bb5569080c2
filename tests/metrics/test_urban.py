"""Urban footprints as the unit: derived clusters, a polygon layer, both scopes in one run.

The crafted case: a prefecture whose residents fall (-10 %, rural out-migration) while its
town's residents rise (+10 %) and its core grows inside the footprint. Under the prefecture
scope it is in the paradox (shrinking, expanding); under the urban scope it grows and expands.
Land cover is CLCD as downloaded (``CLCD_v01_{year}_albert.tif``, Albers PROJ string, 30 m,
uint8, no nodata tag); pixel areas are exact there (0.0009 km²), so footprint areas are known.
"""

from __future__ import annotations

import math
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
import shapely
from click.testing import CliRunner
from pyproj import CRS
from rasterio.transform import from_origin

from downloads import CLCD_PROJ
from urbanshrink_gis import pipeline
from urbanshrink_gis.cli import cli
from urbanshrink_gis.errors import ConfigError, UrbanShrinkWarning
from urbanshrink_gis.io.boundaries import read_boundaries
from urbanshrink_gis.metrics.footprints import derive_footprints, footprints_from_layer
from urbanshrink_gis.products.presets import get_product

RES = 30.0
ALBERS = CRS.from_proj4(CLCD_PROJ)
X0, Y1 = 600_000.0, 3_600_000.0  # north-west corner of the grid (Albers metres)
SIZE = 400  # pixels a side: 12 km
BUILT = 8  # CLCD impervious


def _square(x0: float, y0: float, x1: float, y1: float) -> shapely.Polygon:
    return shapely.box(x0, y0, x1, y1)


def _prefectures() -> gpd.GeoDataFrame:
    """Two 6 km x 12 km prefectures side by side, written in EPSG:4326 (reprojected back)."""
    west = _square(X0, Y1 - SIZE * RES, X0 + SIZE * RES / 2, Y1)
    east = _square(X0 + SIZE * RES / 2, Y1 - SIZE * RES, X0 + SIZE * RES, Y1)
    gdf = gpd.GeoDataFrame(
        {"adcode": ["420100", "420200"], "name": ["西城", "东乡"]},
        geometry=[west, east],
        crs=ALBERS,
    )
    return gdf.to_crs("EPSG:4326")


def _paint(lc: np.ndarray, col0: int, row0: int, cols: int, rows: int) -> None:
    lc[row0 : row0 + rows, col0 : col0 + cols] = BUILT


def _landcover(folder, year: int) -> None:
    """The west prefecture's core (2 km square in 2010, 2.4 km in 2020), a village, sprawl."""
    lc = np.full((SIZE, SIZE), 1, np.uint8)  # cropland
    grow = 0 if year == 2010 else 7  # 2020: 7 pixels more on each side (0.21 km)
    _paint(lc, 67 - grow, 167 - grow, 67 + 2 * grow, 67 + 2 * grow)  # core, centre (100, 200)
    lc[190:200, 90:95] = 5  # a pond inside the core: a hole, filled in the footprint
    _paint(lc, 20, 20, 10, 10)  # a village of 0.09 km², far from the core: below min_km2
    if year == 2020:
        _paint(lc, 20, 330, 34, 34)  # rural sprawl of ~1.04 km², outside the footprint
    folder.mkdir(parents=True, exist_ok=True)
    profile = dict(
        driver="GTiff", width=SIZE, height=SIZE, count=1, dtype="uint8", crs=ALBERS,
        transform=from_origin(X0, Y1, RES, RES), tiled=True, blockxsize=256, blockysize=256,
        compress="deflate",
    )  # fmt: skip
    with rasterio.open(folder / f"CLCD_v01_{year}_albert.tif", "w", **profile) as dst:
        dst.write(lc, 1)


@pytest.fixture
def crafted(tmp_path):
    """Boundaries, two CLCD years and a census table of the crafted case; the config text."""
    _prefectures().to_file(tmp_path / "cities.gpkg", layer="cities", engine="pyogrio")
    for year in (2010, 2020):
        _landcover(tmp_path / "lc", year)
    pd.DataFrame(
        {
            "adcode": ["420100", "420100", "420200", "420200"],
            "year": [2010, 2020, 2010, 2020],
            "pop_resident": [1_000_000, 900_000, 300_000, 310_000],
            "pop_urban": [400_000, 440_000, 50_000, 60_000],
        }
    ).to_csv(tmp_path / "census.csv", index=False)
    text = """
[boundaries]
path = "cities.gpkg"
id = "adcode"
name = "name"
scope = ["prefecture", "urban"]
{urban}
[[rasters]]
kind = "landcover"
product = "clcd"
path = "lc/CLCD_v01_{{year}}_albert.tif"

[population]
path = "census.csv"
id = "adcode"
year = "year"
resident = "pop_resident"
urban = "pop_urban"

[analysis]
start = 2010
end = 2020
"""
    return tmp_path, text


def _config(folder, text: str, urban: str = "") -> pipeline.RunConfig:
    path = folder / "urbanshrink.toml"
    path.write_text(text.format(urban=urban), encoding="utf-8")
    return pipeline.load_config(path)


def test_derived_footprint_keeps_the_core_fills_its_holes_and_grows_by_the_buffer(crafted):
    folder, _ = crafted
    prefectures = read_boundaries(folder / "cities.gpkg", id_field="adcode", layer="cities")
    lc = str(folder / "lc" / "CLCD_v01_2010_albert.tif")
    with pytest.warns(UrbanShrinkWarning, match="1 boundary unit.*420200"):
        bare = derive_footprints(prefectures, lc, get_product("clcd"), min_km2=1.0, buffer_m=0)
    assert list(bare["city_id"]) == ["420100"]  # the east prefecture has no built-up at all
    core_km2 = 67 * 67 * RES**2 / 1e6  # the pond is inside: filled
    assert bare["footprint_km2"].iloc[0] == pytest.approx(core_km2, rel=2e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UrbanShrinkWarning)
        grown = derive_footprints(prefectures, lc, get_product("clcd"), buffer_m=1000)
        small = derive_footprints(prefectures, lc, get_product("clcd"), min_km2=0.05, buffer_m=0)
    side = 67 * RES / 1000  # km
    rounded = side**2 + 4 * side * 1.0 + math.pi * 1.0**2  # a square grown by 1 km
    assert grown["footprint_km2"].iloc[0] == pytest.approx(rounded, rel=5e-3)
    assert small["footprint_km2"].iloc[0] == pytest.approx(core_km2 + 0.09, rel=2e-3)  # village
    footprint = grown.to_crs(ALBERS).geometry.iloc[0]
    assert footprint.contains(shapely.Point(X0 + 100 * RES, Y1 - 200 * RES))  # the core
    assert not footprint.intersects(shapely.Point(X0 + 25 * RES, Y1 - 25 * RES))  # the village


def test_clusters_touching_at_a_corner_are_separate(crafted, tmp_path):
    """4-connectivity (GHSL's urban-centre rule): two 0.6 km² blocks meeting at one corner
    are two clusters below 1 km², not one of 1.2 km²."""
    folder, _ = crafted
    lc = np.full((SIZE, SIZE), 1, np.uint8)
    _paint(lc, 100, 100, 26, 26)  # 0.608 km²
    _paint(lc, 126, 126, 26, 26)  # its diagonal neighbour
    profile = dict(driver="GTiff", width=SIZE, height=SIZE, count=1, dtype="uint8", crs=ALBERS,
                   transform=from_origin(X0, Y1, RES, RES))  # fmt: skip
    path = tmp_path / "corner.tif"
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(lc, 1)
    prefectures = read_boundaries(folder / "cities.gpkg", id_field="adcode", layer="cities")
    with pytest.warns(UrbanShrinkWarning, match="2 boundary unit"):
        none = derive_footprints(prefectures, str(path), get_product("clcd"), buffer_m=0)
    assert none.empty
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UrbanShrinkWarning)
        both = derive_footprints(prefectures, str(path), get_product("clcd"), min_km2=0.5,
                                 buffer_m=0)  # fmt: skip
    assert both["footprint_km2"].iloc[0] == pytest.approx(2 * 26 * 26 * RES**2 / 1e6, rel=2e-3)


def test_a_geographic_land_cover_gives_true_km2(tmp_path):
    """The same cluster on a 1″ EPSG:4326 grid at 47°N: km² from the ellipsoid, not degrees."""
    res = 1 / 3600
    lc = np.full((600, 600), 1, np.uint8)
    lc[200:300, 200:300] = BUILT
    profile = dict(driver="GTiff", width=600, height=600, count=1, dtype="uint8",
                   crs="EPSG:4326", transform=from_origin(126.0, 47.1, res, res))  # fmt: skip
    path = tmp_path / "geo.tif"
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(lc, 1)
    prefecture = gpd.GeoDataFrame(
        {"city_id": ["230100"]}, geometry=[shapely.box(126.0, 46.94, 126.17, 47.1)], crs=4326
    )
    shapes = derive_footprints(prefecture, str(path), get_product("clcd"), buffer_m=0,
                               min_km2=0.5)  # fmt: skip
    lat = 47.1 - 250 * res  # the cluster's centre
    cell_km2 = (res * 111.32 * math.cos(math.radians(lat))) * (res * 111.13)  # ~6.5e-4 km²
    assert shapes["footprint_km2"].iloc[0] == pytest.approx(100 * 100 * cell_km2, rel=5e-3)


def test_both_scopes_classify_the_crafted_case_as_the_science_says(crafted):
    folder, text = crafted
    config = _config(folder, text, "[boundaries.urban]\nmin_km2 = 1.0\nbuffer_m = 1000.0\n")
    with pytest.warns(UrbanShrinkWarning, match="420200"):
        result = pipeline.run(config, out_dir=folder / "out", with_report=True)
    prefecture, urban = result.scopes
    assert (prefecture.scope, urban.scope) == ("prefecture", "urban")
    west = prefecture.cities.set_index("city_id").loc["420100"]
    assert west["pop_change_pct"] == pytest.approx(-10.0)
    assert west["class"] == "shrinking_expanding" and west["paradox"]
    town = urban.cities.set_index("city_id").loc["420100"]
    assert town["pop_change_pct"] == pytest.approx(10.0)  # the urban residents
    core = (67 * 67, 81 * 81)  # built-up pixels of the core in 2010 and 2020 (pond excluded)
    pond = 50
    expected = ((core[1] - pond) / (core[0] - pond) - 1) * 100
    assert town["builtup_change_pct"] == pytest.approx(expected, rel=1e-6)  # sprawl left out
    assert town["class"] == "growing_expanding" and not town["paradox"]
    assert pd.isna(urban.cities.set_index("city_id").loc["420200", "class"]) or (
        urban.cities.set_index("city_id").loc["420200", "class"] == "no_data"
    )
    # the pairing is stated in every output
    assert set(prefecture.cities["pop_basis"]) == {
        "pop_resident: the table's residents of the prefecture"
    }
    assert set(urban.city_year["pop_basis"]) == {
        "pop_urban: the table's urban residents of the prefecture"
    }
    assert set(urban.city_year["scope"]) == {"urban"}
    out = folder / "out"
    layers = set(pyogrio.list_layers(out / "urbanshrink.gpkg")[:, 0])
    assert {"cities", "cities_urban", "city_year_urban", "urban_footprint", "scopes"} <= layers
    scopes = pd.read_csv(out / "scopes.csv", index_col=0)
    assert scopes.loc["prefecture", "paradox"] == 1 and scopes.loc["urban", "paradox"] == 0
    written = pd.read_csv(out / "cities_urban.csv", dtype={"city_id": str}).set_index("city_id")
    assert written.loc["420100", "scope"] == "urban"
    html = (out / "report" / "report.html").read_text(encoding="utf-8")
    assert "Prefecture and urban scope" in html and "Unit: prefectures" in html


def test_a_rerun_reuses_the_footprints_and_the_urban_checkpoints(crafted, caplog):
    folder, text = crafted
    config = _config(folder, text)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UrbanShrinkWarning)
        first = pipeline.run(config, out_dir=folder / "out", with_report=False)
        checkpoints = sorted((folder / "out" / ".checkpoints" / "urban").iterdir())
        stamps = [p.stat().st_mtime_ns for p in checkpoints]
        with caplog.at_level("INFO", logger="urbanshrink_gis.pipeline"):
            again = pipeline.run(config, out_dir=folder / "out", with_report=False, overwrite=True)
    assert any(p.name.startswith("urban-footprint-2010") for p in checkpoints)
    assert [p.stat().st_mtime_ns for p in checkpoints] == stamps  # nothing rewritten
    assert "0 computed" in caplog.text
    pd.testing.assert_frame_equal(first.scopes[1].city_year, again.scopes[1].city_year)


def test_footprints_from_a_district_layer_are_dissolved_by_prefecture(crafted):
    folder, text = crafted
    west = _prefectures().to_crs(ALBERS).geometry.iloc[0]
    x0, y0, _, y1 = west.bounds
    districts = gpd.GeoDataFrame(
        {"pref_code": [420100, 420100, 999999]},  # numbers: read as the text ids
        geometry=[
            _square(x0 + 1000, y1 - 7000, x0 + 4000, y1 - 4000),
            _square(x0 + 4000, y1 - 7000, x0 + 5000, y1 - 4000),
            _square(x0, y0, x0 + 100, y0 + 100),
        ],
        crs=ALBERS,
    )
    districts.to_file(folder / "districts.shp", engine="pyogrio")
    prefectures = read_boundaries(folder / "cities.gpkg", id_field="adcode", layer="cities")
    with pytest.warns(UrbanShrinkWarning, match="1 urban polygon.*999999"):
        shapes = footprints_from_layer(folder / "districts.shp", prefectures, id_field="pref_code")
    assert list(shapes["city_id"]) == ["420100"]
    assert shapes.to_crs(ALBERS).area.iloc[0] == pytest.approx(4000 * 3000, rel=1e-6)
    urban = '[boundaries.urban]\npath = "districts.shp"\nid = "pref_code"\n'
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UrbanShrinkWarning)
        result = pipeline.run(_config(folder, text, urban), out_dir=folder / "o", with_report=False)
    town = result.scopes[1].cities.set_index("city_id").loc["420100"]
    assert town["footprint_km2"] == pytest.approx(12.0, rel=2e-3)
    footprint = gpd.read_file(folder / "o" / "urbanshrink.gpkg", layer="urban_footprint")
    assert list(footprint["city_id"]) == ["420100"]


@pytest.mark.parametrize(
    ("boundaries", "urban", "message"),
    [
        ('scope = "prefecture"', "[boundaries.urban]\nmin_km2 = 2.0\n", 'scope has no "urban"'),
        ('scope = ["urban", "urban"]', "", "must name each of its scopes once"),
        ('scope = "town"', "", "'town' is not one of"),
        ('scope = "urban"', "[boundaries.urban]\nbuffer_m = -5.0\n", "buffer_m = -5.0 is negative"),
        ('scope = "urban"', '[boundaries.urban]\npopulation = "resident"\n', "whole prefecture"),
        ('scope = "urban"', "[boundaries.urban]\nbufer_m = 5.0\n", "did you mean 'buffer_m'"),
    ],
)
def test_bad_urban_settings_stop_before_any_work(crafted, boundaries, urban, message):
    folder, text = crafted
    text = text.replace('scope = ["prefecture", "urban"]', boundaries)
    (folder / "urbanshrink.toml").write_text(text.format(urban=urban), encoding="utf-8")
    result = CliRunner().invoke(cli, ["run", str(folder / "urbanshrink.toml")])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (folder / "outputs").exists()


def test_the_urban_scope_needs_the_urban_population_and_a_land_cover(crafted):
    folder, text = crafted
    no_urban = text.replace('urban = "pop_urban"\n', "")
    with pytest.raises(ConfigError, match="needs the urban residents"):
        _config(folder, no_urban)
    light_only = text.replace('kind = "landcover"\nproduct = "clcd"', 'kind = "nightlight"\n'
                              'product = "vnl2"')  # fmt: skip
    with pytest.raises(ConfigError, match="need a land-cover series"):
        _config(folder, light_only)
    late = _config(folder, text, "[boundaries.urban]\nyear = 2015\n")
    with pytest.raises(ConfigError, match="no year 2015"):
        pipeline.run(late, out_dir=folder / "out")


def test_prepare_keeps_the_urban_layer_and_the_run_on_it_is_the_same(crafted):
    folder, text = crafted
    west = _prefectures().to_crs(ALBERS).geometry.iloc[0]
    x0, _, _, y1 = west.bounds
    gpd.GeoDataFrame(
        {"pref_code": ["420100"]},
        geometry=[_square(x0 + 1000, y1 - 7000, x0 + 5000, y1 - 4000)],
        crs=ALBERS,
    ).to_file(folder / "districts.gpkg", engine="pyogrio")
    config = folder / "urbanshrink.toml"
    urban = '[boundaries.urban]\npath = "districts.gpkg"\nid = "pref_code"\n'
    config.write_text(text.format(urban=urban), encoding="utf-8")
    runner = CliRunner()
    assert (
        runner.invoke(cli, ["-qq", "run", str(config), "--out", str(folder / "a")]).exit_code == 0
    )
    result = runner.invoke(cli, ["-qq", "prepare", str(config), "--out", str(folder / "prep")])
    assert result.exit_code == 0, result.output
    prepared = folder / "prep" / "urbanshrink.toml"
    again = runner.invoke(cli, ["-qq", "run", str(prepared), "--out", str(folder / "b")])
    assert again.exit_code == 0, again.output
    for name in ("cities_urban.csv", "city_year_urban.csv", "scopes.csv"):
        pd.testing.assert_frame_equal(
            pd.read_csv(folder / "a" / name), pd.read_csv(folder / "b" / name)
        )
