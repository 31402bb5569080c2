# Integration tests: the tiny dataset end to end through the CLI (every stage), not one module.
"""All outputs or none (issue 18) for any folder and path a user gives, and with no city's data.

Each test runs the tiny dataset of conftest.py (two cities, real tiled GeoTIFFs and a GeoPackage
written with GDAL) through the CLI and checks the one-line error (exit 2) or the outputs. The
checks of the output folder, the commit step and the checkpoints are in test_staging.py,
test_checkpoints.py and test_validate.py.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from conftest import SIZE, assert_one_line_error, cli_run, warning_lines, write_raster, write_tiny


def _no_city_has_data(root: Path) -> None:
    """Land cover all nodata in both years: no built-up land, so every city is no_data."""
    for year in (2010, 2020):
        write_raster(
            root / "rasters" / f"clcd_{year}.tif", np.zeros((SIZE, SIZE), np.uint8), nodata=0
        )


@pytest.mark.parametrize("command", ["run", "export"])
def test_no_city_with_data_writes_tables_and_says_so(tiny, command):
    root, out = tiny
    _no_city_has_data(root)
    result = cli_run(command, root / "urbanshrink.toml", "--out", out, "--overwrite")
    assert result.exit_code == 0, result.output
    said = [line for line in warning_lines(result) if "no_data" in line or "no city" in line]
    assert len(said) == 1 and "no city has data for the analysis" in said[0], result.stderr
    cities = pd.read_csv(out / "cities.csv", dtype={"city_id": str})
    assert len(cities) == 2 and (cities["class"] == "no_data").all()
    assert len(pd.read_csv(out / "city_year.csv")) == 4
    report = out / "report"
    if command == "run":
        assert "No city has data for the analysis" in (report / "report.html").read_text()
        assert sorted(p.name for p in report.iterdir()) == ["chart_class_map.png", "report.html"]
    else:  # export writes no report: the previous run's stays as it was
        assert "No city has data" not in (report / "report.html").read_text()


def test_report_command_on_a_run_without_data(tmp_path):
    root = tmp_path / "d"
    cfg = write_tiny(root)
    _no_city_has_data(root)
    out = tmp_path / "out"
    assert cli_run("-q", "export", cfg, "--out", out).exit_code == 0
    result = cli_run("report", out)
    assert result.exit_code == 0, result.output
    assert "No city has data" in (out / "report" / "report.html").read_text()


# --- every path a user can give ---------------------------------------------------------

FOLDERS = (
    st.lists(
        st.sampled_from([*"ab Z09_-.[]{}()'&,;=+#@!~*?", "城市", "{year}", "哈尔滨", " "]),
        min_size=1,
        max_size=12,
    )
    .map("".join)
    .filter(lambda s: s.strip(". ") == s.strip() and s.strip() and s not in (".", ".."))
)


@settings(
    max_examples=6,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # a whole run each: no shrinking
)
@given(data_name=FOLDERS, out_name=FOLDERS)
@example(data_name="数据 [v1] {year}", out_name="结果 {year} [2020]*")
@example(data_name="a", out_name="!")
@example(data_name="?_'+哈尔滨", out_name="b; ?")  # GDAL's GeoPackage driver: "a!b" is "b",
@example(data_name="a!b", out_name=";{year}.?-@;~")  # ";" up to "?" is dropped
def test_any_folder_name_for_inputs_and_outputs(tmp_path_factory, previous_run, data_name,
                                                out_name):  # fmt: skip
    base = tmp_path_factory.mktemp("names")
    root = base / data_name
    write_tiny(base / "plain")  # written where GDAL writes it, then renamed
    (base / "plain").rename(root)
    cfg = root / "urbanshrink.toml"
    out = base / "o" / out_name
    result = cli_run("-q", "run", cfg, "--out", out)
    assert result.exit_code == 0, result.output
    for name in ("city_year.csv", "cities.csv", "summary.csv"):
        assert (out / name).read_bytes() == (previous_run / name).read_bytes(), name
    assert not list(out.glob(".staging-*"))


def test_relative_paths_from_another_working_folder(tmp_path, monkeypatch, previous_run):
    cfg = write_tiny(tmp_path / "proj" / "data")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    rel_cfg = os.path.relpath(cfg)
    result = cli_run("-q", "run", rel_cfg, "--out", "../proj/out")
    assert result.exit_code == 0, result.output
    out = tmp_path / "proj" / "out"
    assert (out / "city_year.csv").read_bytes() == (previous_run / "city_year.csv").read_bytes()


def test_symlinked_input_folder_is_followed_and_a_dangling_one_refused(tmp_path):
    real = tmp_path / "real"
    cfg = write_tiny(real)
    shutil.move(real / "rasters", tmp_path / "rasters-store")
    (real / "rasters").symlink_to(tmp_path / "rasters-store")
    assert cli_run("-q", "run", cfg, "--out", tmp_path / "out").exit_code == 0
    shutil.rmtree(tmp_path / "rasters-store")
    result = cli_run("run", cfg, "--out", tmp_path / "out2")
    assert_one_line_error(result, "clcd_{year}.tif", "no file matches")
    assert not (tmp_path / "out2").exists()


@pytest.mark.parametrize(
    ("rel", "needle"),
    [("rasters/clcd_2020.tif", "check the raster path"),
     ("boundaries/cities.gpkg", "check the path to the boundaries"),
     ("population.csv", "check the population path")],
)  # fmt: skip
def test_dangling_symlinked_input_is_one_line_and_writes_nothing(tmp_path, rel, needle):
    cfg = write_tiny(tmp_path / "d")
    target = tmp_path / "d" / rel
    target.unlink()
    target.symlink_to(tmp_path / "gone")
    result = cli_run("run", cfg, "--out", tmp_path / "out")
    assert_one_line_error(result, str(target), "file not found", needle)
    assert not (tmp_path / "out").exists()
