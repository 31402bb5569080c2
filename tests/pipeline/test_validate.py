"""pipeline/validate.py: a run's inputs checked before any raster is opened or any tile converted.

Each test breaks one thing of the tiny dataset (conftest.py) and checks the one-line error
(exit 2) and that the output folder, checkpoints included, stays as it was.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import box

from conftest import (
    POPULATION,
    SIZE,
    YEARS,
    assert_one_line_error,
    cli_run,
    edit_config,
    full_tree,
    landcover,
    write_raster,
    write_tiny,
)
from hdf4_files import PIXEL, TILE, classes, write_mcd12q1
from urbanshrink_gis import pipeline
from urbanshrink_gis.io import series as file_series
from urbanshrink_gis.io.modis import MODIS_SINUSOIDAL, tile_bounds
from urbanshrink_gis.pipeline.checkpoints import CHECKPOINT_DIR


def _ids_match_nothing(root: Path) -> None:
    (root / "population.csv").write_text(POPULATION.replace("230", "990"), encoding="utf-8")


def _utf16(root: Path) -> None:
    (root / "population.csv").write_bytes(POPULATION.encode("utf-16-le"))


def _no_end_year(root: Path) -> None:
    rows = [r for r in POPULATION.splitlines() if ",2020," not in r]
    (root / "population.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")


POPULATION_FAULTS = {
    "ids match no boundary": (_ids_match_nothing, ("population.csv", "no id in column 'adcode'",
                                                   "is a boundary id", "set [population] id")),
    "UTF-16 CSV": (_utf16, ("population.csv", "UTF-16")),
    "end year missing": (_no_end_year, ("population.csv", "2020", "interpolate")),
}  # fmt: skip


@pytest.mark.parametrize("fault", list(POPULATION_FAULTS))
@pytest.mark.parametrize("command", ["run", "export"])
def test_bad_population_stops_before_any_raster_is_opened(tmp_path, monkeypatch, fault, command):
    root = tmp_path / "d"
    cfg = write_tiny(root)
    breaks, needles = POPULATION_FAULTS[fault]
    breaks(root)
    opened = []
    real = pipeline.resolve_sources
    monkeypatch.setattr(
        pipeline, "resolve_sources", lambda *a, **k: opened.append(1) or real(*a, **k)
    )
    out = tmp_path / "out"
    assert_one_line_error(cli_run(command, cfg, "--out", out), *needles)
    assert not opened  # no raster series was resolved, let alone measured
    assert not out.exists()  # nothing written at all: no OUT, no OUT/.checkpoints


def test_failed_validation_keeps_an_existing_folder_byte_for_byte(tiny):
    root, out = tiny
    _ids_match_nothing(root)
    before = full_tree(out)
    result = cli_run("run", root / "urbanshrink.toml", "--out", out, "--overwrite")
    assert_one_line_error(result, "no id in column")
    assert full_tree(out) == before


def _write_tiles(root: Path, year: int, array: np.ndarray) -> None:
    """The year's land cover as two tiles (west and east halves): the series is a mosaic."""
    half = SIZE // 2
    for name, cols, x0 in (("w", slice(0, half), 100.0), ("e", slice(half, SIZE), 100.32)):
        path = root / "rasters" / f"clcd_{year}_{name}.tif"
        profile = dict(
            driver="GTiff", width=half, height=SIZE, count=1, dtype="uint8", nodata=0,
            crs="EPSG:4326", transform=from_origin(x0, 40.0, 0.01, 0.01),
        )  # fmt: skip
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(array[:, cols], 1)


@pytest.mark.parametrize("existing", [False, True], ids=["new folder", "previous run"])
def test_refused_raster_mosaic_leaves_no_checkpoint(tmp_path, previous_run, existing):
    """A series of tiles is mosaicked (VRTs under OUT/.checkpoints) before its legend check."""
    root = tmp_path / "d"
    cfg = write_tiny(root)
    for year in (2010, 2020):
        (root / "rasters" / f"clcd_{year}.tif").unlink()
        lc = landcover(year)
        _write_tiles(root, year, np.where(lc == 8, 42, 1).astype(np.uint8) if year == 2020 else lc)
    edit_config(root, "clcd_{year}.tif", "clcd_{year}_*.tif")
    out = tmp_path / "out"
    if existing:
        shutil.copytree(previous_run, out)
        shutil.rmtree(out / CHECKPOINT_DIR)
    before = full_tree(out)
    result = cli_run("run", cfg, "--out", out, "--overwrite")
    assert_one_line_error(result, "values 42 are not classes of product 'clcd'")
    assert full_tree(out) == before
    assert out.exists() == existing


def test_the_free_space_check_comes_before_the_first_pixel_is_read(tmp_path, monkeypatch):
    """A land cover holding a class outside CLCD's legend: on a short disk the run stops at
    the space check, having read no pixel; with room it stops at the sampled values."""
    root = tmp_path / "d"
    cfg = write_tiny(root)
    odd = landcover(YEARS[0])
    odd[0:4, 0:4] = 77  # not a CLCD class
    write_raster(root / "rasters" / f"clcd_{YEARS[0]}.tif", odd, nodata=0)
    read = []
    real_read = file_series.read_block
    monkeypatch.setattr(
        file_series, "read_block", lambda *a, **k: read.append(a) or real_read(*a, **k)
    )
    real = shutil.disk_usage
    with monkeypatch.context() as short:
        short.setattr(shutil, "disk_usage", lambda p: real(p)._replace(free=4096))
        result = cli_run("run", cfg, "--out", tmp_path / "short")
    assert_one_line_error(result, "has 0.00 MB free")
    assert read == []  # refused before any value was sampled
    result = cli_run("run", cfg, "--out", tmp_path / "room")
    assert_one_line_error(result, "77")
    assert read


def test_a_run_failing_validation_converts_no_tile(tmp_path, no_pixel_read):
    """A short disk stops the run after the tiles were found, before any was converted."""
    import shutil

    from click.testing import CliRunner

    from urbanshrink_gis.cli import cli

    (tmp_path / "MCD12Q1").mkdir()
    for year in (2010, 2020):
        write_mcd12q1(tmp_path / "MCD12Q1" / TILE.replace("2020", str(year), 1), classes(year),
                      h=27, v=5)  # fmt: skip
    xmin, _, _, ymax = tile_bounds(TILE)
    zone = box(xmin + 480 * PIXEL, ymax - 1030 * PIXEL, xmin + 540 * PIXEL, ymax - 990 * PIXEL)
    import geopandas as gpd

    gpd.GeoDataFrame({"adcode": ["1"]}, geometry=[zone], crs=MODIS_SINUSOIDAL).to_file(
        tmp_path / "zones.gpkg", layer="zones", driver="GPKG"
    )
    (tmp_path / "pop.csv").write_text("adcode,year,pop\n1,2010,100\n1,2020,90\n", "utf-8")
    (tmp_path / "run.toml").write_text(
        '[boundaries]\npath = "zones.gpkg"\nid = "adcode"\n\n'
        '[[rasters]]\nkind = "landcover"\nproduct = "mcd12q1"\n'
        'path = "MCD12Q1/MCD12Q1.A{year}001.h??v??.061.*.hdf"\n\n'
        '[population]\npath = "pop.csv"\nid = "adcode"\nyear = "year"\nresident = "pop"\n\n'
        "[analysis]\nstart = 2010\nend = 2020\n",
        encoding="utf-8",
    )
    real = shutil.disk_usage
    no_pixel_read.setattr(shutil, "disk_usage", lambda p: real(p)._replace(free=4096))
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["run", str(tmp_path / "run.toml"), "--out", str(out)])
    assert result.exit_code == 2 and "has 0.00 MB free" in result.output, result.output
    assert not out.exists()  # no OUT/.checkpoints, no GeoTIFF
