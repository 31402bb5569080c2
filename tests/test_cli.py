import numpy as np
import pytest
from click.testing import CliRunner
from shapely.geometry import box

from urbanshrink_gis.cli import cli


@pytest.fixture
def runner():
    return CliRunner()


@pytest.mark.parametrize(
    "command",
    [
        "zonal",
        "run",
        "export",
        "report",
        "demo-data",
        "builtup",
        "nightlight",
        "classify",
        "sensitivity",
    ],
)
def test_every_command_has_help(runner, command):
    result = runner.invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_zonal_writes_a_table_and_keeps_it(runner, make_raster, make_zones, tmp_path):
    raster = make_raster(np.arange(100, dtype="float32").reshape(10, 10))
    zones = make_zones([box(100.03, 39.95, 100.07, 39.98)])
    out = tmp_path / "out.csv"
    args = ["zonal", str(raster), str(zones), "--id", "id", "-o", str(out)]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert out.read_text().splitlines()[1].startswith("a,12,")
    before = out.read_bytes()
    again = runner.invoke(cli, args)
    assert again.exit_code == 2
    assert "output exists" in again.output and "--overwrite" in again.output
    assert out.read_bytes() == before


def test_missing_field_is_one_line_exit_2(runner, make_raster, make_zones, tmp_path):
    raster = make_raster(np.ones((4, 4), "uint8"))
    zones = make_zones([box(100.0, 39.96, 100.04, 40.0)])
    result = runner.invoke(
        cli, ["zonal", str(raster), str(zones), "--id", "adcode", "-o", str(tmp_path / "o.csv")]
    )
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert "no id field 'adcode'" in lines[0] and "Traceback" not in result.output


def test_export_then_report_commands(runner, tmp_path):
    from urbanshrink_gis.demo import write_demo_data

    data = write_demo_data(tmp_path / "data")
    out = tmp_path / "out"
    result = runner.invoke(cli, ["-q", "export", str(data.config), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "urbanshrink.gpkg").exists() and not (out / "report").exists()
    # not a terminal: one line per stage on stdout, once, and nothing on stderr
    done = [line for line in result.stdout.splitlines() if ": done in " in line]
    assert sum(line.startswith("landcover clcd: done in") for line in done) == 1, done
    assert any(line.startswith("nightlight dmsp_harmonized: done in") for line in done), done
    assert result.stderr == ""
    result = runner.invoke(cli, ["-qq", "export", str(data.config), "--out", str(out),
                                 "--overwrite"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert ": done in " not in result.output
    result = runner.invoke(cli, ["report", str(out)])
    assert result.exit_code == 0, result.output
    page = (out / "report" / "report.html").read_text(encoding="utf-8")
    assert "鹤岗市" in page
    again = runner.invoke(cli, ["report", str(out)])
    assert again.exit_code == 2 and "--overwrite" in again.output


def test_commands_that_write_no_report_do_not_load_matplotlib():
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from urbanshrink_gis import pipeline\n"
        "from urbanshrink_gis.cli import cli\n"
        "print('matplotlib' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"  # --help, zonal, builtup, nightlight start faster


def test_sensitivity_command_writes_the_grid(runner, tmp_path):
    import pandas as pd

    from urbanshrink_gis.analysis import AnalysisConfig, sensitivity

    rows = [("a", 2010, 100.0, 10.0), ("a", 2020, 97.0, 10.8), ("b", 2010, 100.0, 10.0),
            ("b", 2020, 80.0, 10.2), ("c", 2010, 100, 10.0), ("c", 2020, 120, 13.0)]  # fmt: skip
    table = pd.DataFrame(rows, columns=["city_id", "year", "pop_resident", "builtup_km2"])
    source, out = tmp_path / "city_year.csv", tmp_path / "sens.csv"
    table.to_csv(source, index=False)
    args = ["sensitivity", str(source), "--start", "2010", "--end", "2020", "-o", str(out)]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "wrote 12 threshold pairs" in result.output
    written = pd.read_csv(out, index_col=[0, 1])
    expected = sensitivity(table, AnalysisConfig(2010, 2020))
    assert list(written.index) == list(expected.index)
    for column in ("shrinking", "expanding", "paradox"):
        assert written[column].tolist() == expected[column].tolist()
    again = runner.invoke(cli, args)
    assert again.exit_code == 2 and "--overwrite" in again.output
    multi = runner.invoke(cli, [*args[:-2], "--rule", "multi", "-o", str(tmp_path / "m.csv")])
    assert multi.exit_code == 2 and "needs --national-gdp-growth-pct" in multi.output
    assert "[analysis]" not in multi.output and "national_gdp_growth_pct" not in multi.output


def _run_section(out):
    page = (out / "report" / "report.html").read_text(encoding="utf-8")
    return page.split("<h2>Run</h2>", 1)[1].split("<h2>", 1)[0]


def test_report_states_the_run_again_from_run_json(runner, demo_run, tmp_path):
    import json
    import shutil

    _, original = demo_run
    out = tmp_path / "run"  # a copy: the session's demo folder stays as it is
    shutil.copytree(original, out, ignore=shutil.ignore_patterns(".checkpoints"))
    before = _run_section(out)
    context = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert context["rule"] == "period" and context["inputs"] and context["date"] in before
    shutil.rmtree(out / "report")
    result = runner.invoke(cli, ["report", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert _run_section(out) == before
    for broken in ("", "[1, 2]"):
        (out / "run.json").write_text(broken, encoding="utf-8")
        again = runner.invoke(cli, ["report", str(out), "--overwrite"])
        assert again.exit_code == 0, again.output
        assert again.stderr.startswith("Warning: ") and len(again.stderr.splitlines()) == 1
        assert "run.json" in again.stderr and "unknown" in again.stderr
        assert "are unknown" in _run_section(out)
    (out / "run.json").unlink()
    missing = runner.invoke(cli, ["report", str(out), "--overwrite"])
    assert "run.json: is missing" in missing.stderr and "are unknown" in _run_section(out)
