"""Files shaped like today's downloads go through ``urbanshrink run`` unchanged, to known values.

The fixtures (tests/downloads.py) copy the producers' names, archives, tiles, dtypes, fills,
scale attributes and CRSs as ../shared/PRODUCTS.md documents them; their expected values are
computed from the painted pixels, never by urbanshrink_gis.
"""

from __future__ import annotations

from pathlib import Path

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
    result = CliRunner().invoke(cli, ["export", str(config), "--out", str(out)])
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
                     start=2015, end=2020, extra="allow_outside_product = true")  # fmt: skip
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
