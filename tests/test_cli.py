"""cli.py: the commands' help, options, outputs and one-line errors, through the command line."""

import json

import geopandas as gpd
import numpy as np
import pandas as pd
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


# --- outputs and options of the per-zone commands (issue 19) -------------------------------

LAND = np.array([[1, 1, 8, 8], [1, 8, 8, 2], [5, 5, 8, 8], [1, 1, 1, 1]], dtype="uint8")


@pytest.fixture
def zones(tmp_path):
    """Two zones with the user's own id field, a Chinese name and a province."""
    frame = gpd.GeoDataFrame(
        {"city_adcode": ["230400", "230500"], "name": ["鹤岗市", "双鸭山市"],
         "prov": ["黑龙江省", "黑龙江省"]},
        geometry=[box(100.0, 39.98, 100.02, 40.0), box(100.02, 39.96, 100.04, 40.0)],
        crs="EPSG:4326",
    )  # fmt: skip
    path = tmp_path / "my zones.gpkg"
    frame.to_file(path, layer="cities")
    return path


def _zonal(runner, raster, zones, out, *more):
    args = ["zonal", str(raster), str(zones), "--id", "city_adcode", "-o", str(out), *more]
    return runner.invoke(cli, args)


def test_every_table_format_with_the_users_id(runner, make_raster, zones, tmp_path):
    raster = make_raster(LAND.astype("float32"))
    for suffix in (".csv", ".parquet", ".xlsx", ".gpkg", ".geojson"):
        out = tmp_path / f"z{suffix}"
        result = _zonal(runner, raster, zones, out)
        assert result.exit_code == 0, result.output
        if suffix == ".csv":
            table = pd.read_csv(out, dtype={"city_adcode": str})
        elif suffix == ".parquet":
            table = pd.read_parquet(out)
        elif suffix == ".xlsx":
            table = pd.read_excel(out, dtype={"city_adcode": str})
        else:
            table = gpd.read_file(out)
            assert table.geometry.notna().all() and table.crs.to_epsg() == 4326
            assert table.geometry.iloc[0].equals(box(100.0, 39.98, 100.02, 40.0))
        assert list(table.columns[:3]) == ["city_adcode", "count", "sum"], suffix
        assert "city_id" not in table.columns and "index" not in table.columns
        assert table["city_adcode"].tolist() == ["230400", "230500"]
        assert table["sum"].tolist() == [11.0, 44.0]


def test_geojson_is_wgs84_and_gpkg_keeps_the_crs(runner, make_raster, tmp_path):
    raster = make_raster(np.ones((40, 40), "uint8"), res=1000, origin=(500000, 4400000),
                         crs="EPSG:32650")  # fmt: skip
    frame = gpd.GeoDataFrame({"code": ["1"]}, geometry=[box(502000, 4370000, 530000, 4398000)],
                             crs="EPSG:32650")  # fmt: skip
    frame.to_file(tmp_path / "utm.gpkg")
    for suffix in (".geojson", ".gpkg"):
        out = tmp_path / f"u{suffix}"
        args = ["zonal", str(raster), str(tmp_path / "utm.gpkg"), "--id", "code", "-o", str(out)]
        assert runner.invoke(cli, args).exit_code == 0
    assert gpd.read_file(tmp_path / "u.geojson").crs.to_epsg() == 4326
    assert json.loads((tmp_path / "u.geojson").read_text())["name"] == "u"
    assert gpd.read_file(tmp_path / "u.gpkg").crs.to_epsg() == 32650


def test_csv_on_stdout_and_excel_bom(runner, make_raster, zones, tmp_path):
    raster = make_raster(LAND)
    result = _zonal(runner, raster, zones, "-", "--include-cols", "name")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "city_adcode,name,count,sum,mean,min,max",
        "230400,鹤岗市,4,11.0,2.75,1.0,8.0",
        "230500,双鸭山市,8,44.0,5.5,1.0,8.0",
    ]
    assert "wrote" not in result.stdout
    out = tmp_path / "excel.csv"
    assert _zonal(runner, raster, zones, out, "--excel").exit_code == 0
    assert out.read_bytes().startswith(b"\xef\xbb\xbfcity_adcode,")
    plain = tmp_path / "plain.csv"
    assert _zonal(runner, raster, zones, plain).exit_code == 0
    assert plain.read_bytes().startswith(b"city_adcode,")


def test_id_as_include_cols_and_named_classes(runner, make_raster, zones, tmp_path):
    raster = make_raster(LAND, nodata=0)
    out = tmp_path / "classes.gpkg"
    args = ["--id-as", "code", "--include-cols", "name", "--include-cols", "prov",
            "--categorical", "--areas", "--product", "clcd"]  # fmt: skip
    result = _zonal(runner, raster, zones, out, *args)
    assert result.exit_code == 0, result.output
    table = gpd.read_file(out)
    assert list(table.columns[:3]) == ["code", "name", "prov"]
    assert table["name"].tolist() == ["鹤岗市", "双鸭山市"]
    assert "class_8_impervious" in table.columns and "class_1_cropland" in table.columns
    assert "class_8_impervious_km2" in table.columns
    assert table["class_8_impervious"].tolist() == [1, 5]
    assert table["class_8_impervious_km2"].iloc[1] > 0
    comma = tmp_path / "comma.csv"
    result = _zonal(runner, raster, zones, comma, "--include-cols", "prov,name", "--categorical")
    assert result.exit_code == 0, result.output
    header = comma.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header[:4] == ["city_adcode", "prov", "name", "class_1"]
    bad = _zonal(runner, raster, zones, tmp_path / "bad.csv", "--include-cols", "nope")
    assert bad.exit_code == 2 and "no field 'nope'" in bad.output and "name, prov" in bad.output


def test_repeated_stats_accumulate(runner, make_raster, zones, tmp_path):
    raster = make_raster(LAND)
    out = tmp_path / "s.csv"
    result = _zonal(runner, raster, zones, out, "--stats", "count", "--stats", "sum,mean")
    assert result.exit_code == 0, result.output
    assert out.read_text().splitlines()[0] == "city_adcode,count,sum,mean"


@pytest.mark.parametrize(
    ("more", "message"),
    [
        (["--areas"], "--areas gives the km² of each class: it needs --categorical"),
        (["--categorical", "--stats", "sum"], "--stats does not apply to --categorical"),
        (["--stats", "above_count"], "Error: --stats: statistic 'above_count' needs a threshold"),
    ],
)
def test_combinations_that_do_nothing_are_refused(runner, make_raster, zones, tmp_path, more,
                                                  message):  # fmt: skip
    result = _zonal(runner, make_raster(LAND), zones, tmp_path / "o.csv", *more)
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "o.csv").exists()


def test_categorical_float_raster_and_missing_folder_refused(runner, make_raster, zones, tmp_path):
    floats = make_raster(LAND.astype("float32"), name="f.tif")
    result = _zonal(runner, floats, zones, tmp_path / "o.csv", "--categorical")
    assert result.exit_code == 2 and "float32" in result.output and "integer" in result.output
    missing = tmp_path / "no such folder" / "o.csv"
    result = _zonal(runner, make_raster(LAND), zones, missing)
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert "does not exist" in result.output and not missing.parent.exists()
    result = _zonal(runner, make_raster(LAND), zones, tmp_path / "o.shp")
    assert result.exit_code == 2 and ".geojson" in result.output


def _series(make_raster, values, name):
    for year, scale in ((2010, 1), (2020, 2)):
        make_raster(values * scale if name == "ntl" else values, name=f"{name}_{year}.tif",
                    nodata=0 if name == "lc" else None)  # fmt: skip


def test_builtup_and_nightlight_share_the_options(runner, make_raster, zones, tmp_path):
    _series(make_raster, LAND, "lc")
    _series(make_raster, LAND.astype("float32"), "ntl")
    out = tmp_path / "b.gpkg"
    pattern = str(tmp_path / "lc_{year}.tif")
    args = ["builtup", pattern, str(zones), "--id", "city_adcode", "--layer", "cities",
            "--include-cols", "name", "--years", "2010 2020", "--scheduler", "synchronous",
            "--workers", "1", "-o", str(out)]  # fmt: skip
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    table = gpd.read_file(out)
    assert list(table.columns[:3]) == ["city_adcode", "name", "year"]
    assert table["year"].tolist() == [2010, 2020, 2010, 2020]
    assert table.geometry.notna().all()
    ntl = tmp_path / "n.csv"
    args = ["nightlight", str(tmp_path / "ntl_{year}.tif"), str(zones), "--id", "city_adcode",
            "--years", "2010,2020", "--id-as", "adcode", "-o", str(ntl)]  # fmt: skip
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert pd.read_csv(ntl).columns[:2].tolist() == ["adcode", "year"]
    old = runner.invoke(cli, ["builtup", str(zones), pattern, "--id", "city_adcode",
                              "-o", str(tmp_path / "old.csv")])  # fmt: skip
    assert old.exit_code == 0, old.output
    assert "Warning: ZONES before PATTERN is the old argument order" in old.stderr
    bad = runner.invoke(cli, [*args[:-2], "--years", "twenty", "-o", str(tmp_path / "x.csv")])
    assert bad.exit_code == 2 and "'twenty' is not a year" in bad.output
    assert "Traceback" not in bad.output


def test_verbosity_after_the_command(runner, make_raster, zones, tmp_path):
    _series(make_raster, LAND, "lc")
    old = ["builtup", str(zones), str(tmp_path / "lc_{year}.tif"), "--id", "city_adcode"]
    loud = runner.invoke(cli, [*old, "-o", str(tmp_path / "a.csv")])
    assert "Warning:" in loud.stderr
    for args in ([*old, "-q", "-o", str(tmp_path / "b.csv")],
                 ["-q", *old, "-o", str(tmp_path / "c.csv")]):  # fmt: skip
        quiet = runner.invoke(cli, args)
        assert quiet.exit_code == 0, quiet.output
        assert quiet.stderr == ""


def test_dependency_warnings_are_one_line_hidden_by_quiet(runner, monkeypatch, tmp_path):
    import warnings

    from urbanshrink_gis import demo

    def noisy(directory, overwrite=False):
        with warnings.catch_warnings():  # as a dependency warns, past pytest's "error" filter
            warnings.simplefilter("always")
            warnings.warn("something deprecated\n  spread over lines", RuntimeWarning,
                          stacklevel=1)  # fmt: skip
        raise KeyboardInterrupt

    monkeypatch.setattr(demo, "write_demo_data", noisy)
    result = runner.invoke(cli, ["demo-data", str(tmp_path / "d")])
    assert "Warning: something deprecated spread over lines\n" in result.stderr
    assert result.exit_code == 130 and "Interrupted" in result.stderr
    quiet = runner.invoke(cli, ["demo-data", str(tmp_path / "d"), "-q"])
    assert "Warning" not in quiet.stderr


def test_ctrl_c_exits_130_and_says_the_run_resumes(runner, monkeypatch, tmp_path):
    from urbanshrink_gis import pipeline

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "run_demo", interrupted)
    result = runner.invoke(cli, ["run", "--out", str(tmp_path / "o"), "-q"])
    assert result.exit_code == 130
    assert "run the same command again to resume" in result.stderr


def test_classify_writes_true_false_empty_and_caps_the_list(runner, tmp_path):
    rows = [("110000", 2010, np.nan, 10.0), ("110000", 2020, np.nan, 12.0)]  # no population
    for i in range(12):  # twelve paradox cities, the first loses most people
        code = f"2{i:02d}000"
        rows += [(code, 2010, 100.0, 10.0), (code, 2020, 80.0 + i, 11.0)]
    rows += [("330000", 2010, 100.0, 10.0), ("330000", 2020, 120.0, 9.0)]  # growing, contracting
    table = pd.DataFrame(rows, columns=["city_id", "year", "pop_resident", "builtup_km2"])
    source = tmp_path / "city_year.csv"
    table.to_csv(source, index=False)
    base = ["classify", str(source), "--start", "2010", "--end", "2020"]
    result = runner.invoke(cli, [*base, "-o", str(tmp_path / "c.csv")])
    assert result.exit_code == 0, result.output
    written = pd.read_csv(tmp_path / "c.csv", dtype=str, keep_default_na=False).set_index("city_id")
    assert written.loc["110000", ["shrinking", "expanding", "paradox"]].tolist() == ["", "true", ""]
    assert written.loc["330000", ["shrinking", "expanding", "paradox"]].tolist() == [
        "false",
        "false",
        "false",
    ]
    assert written.loc["200000", "paradox"] == "true"
    listed = [line for line in result.stdout.splitlines() if line.startswith("  2")]
    assert len(listed) == 10 and listed[0].startswith("  200000")
    assert "... and 2 more paradox cities" in result.stdout
    every = runner.invoke(cli, [*base, "--list", "all", "-o", str(tmp_path / "d.csv")])
    assert sum(line.startswith("  2") for line in every.stdout.splitlines()) == 12
    quiet = runner.invoke(cli, [*base, "-o", str(tmp_path / "e.xlsx"), "-q"])
    assert quiet.exit_code == 0, quiet.output
    assert "shrinking yet expanding" in quiet.stdout and "  200000" not in quiet.stdout
    sheet = pd.read_excel(tmp_path / "e.xlsx", dtype={"city_id": str}).set_index("city_id")
    assert not sheet.loc["330000", "paradox"]
    assert pd.isna(sheet.loc["110000", "shrinking"])


def test_run_outputs_name_the_id_and_province_and_keep_booleans(runner, tmp_path):
    import pyogrio

    out = tmp_path / "out"
    result = runner.invoke(cli, ["run", "--out", str(out), "--excel", "--list", "3"])
    assert result.exit_code == 0, result.output
    listed = [line for line in result.stdout.splitlines() if line.startswith("  ")]
    assert len(listed) == 4 and listed[-1].startswith("  ... and ")
    raw = (out / "cities.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfcity_id,scope,pop_basis,adcode,name,province,")
    cities = pd.read_csv(out / "cities.csv", dtype=str, encoding="utf-8-sig")
    assert (cities["adcode"] == cities["city_id"]).all()
    assert cities["province"].notna().all()
    for flag in ("shrinking", "expanding", "paradox", "hollowing", "ageing"):
        assert set(cities[flag].dropna()) <= {"true", "false"}, flag
    info = pyogrio.read_info(out / "urbanshrink.gpkg", layer="cities")
    kinds = dict(zip(info["fields"], info["dtypes"], strict=True))
    assert {kinds[f] for f in ("shrinking", "expanding", "paradox", "hollowing")} == {"bool"}
    assert "tables (GeoPackage, CSV): done in " in result.stdout
    assert "report: done in " in result.stdout
    again = runner.invoke(cli, ["report", str(out), "--overwrite"])
    assert again.exit_code == 0, again.output
    assert again.stdout.startswith("report: done in ")


def test_finished_bars_keep_their_elapsed_time(monkeypatch):
    import io

    import click

    from urbanshrink_gis import cli as cli_module

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    screen = Terminal()
    monkeypatch.setattr(cli_module.sys, "stderr", screen)
    ctx = click.Context(cli, obj={"verbose": 0, "quiet": 0})
    with cli_module._progress(ctx) as progress:
        for done in range(5):
            progress("landcover clcd", done, 4)
    text = screen.getvalue().replace("\x1b[?25l", "").replace("\x1b[?25h", "")
    last = text.replace("\r", "\n").strip().splitlines()[-1]
    assert last.startswith("landcover clcd") and "100%" in last
    assert "done in " in last and last.rstrip().endswith(" s")


@pytest.mark.parametrize("command", ["zonal", "builtup", "nightlight"])
def test_per_zone_commands_share_options_and_order(runner, command):
    result = runner.invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    first = "RASTER ZONES" if command == "zonal" else "PATTERN ZONES"
    assert f"[OPTIONS] {first}" in result.output
    for option in ("--id ", "--id-as", "--include-cols", "--layer", "--coverage", "--scheduler",
                   "--workers", "--excel", "--overwrite", "-o, --output", "-v, --verbose",
                   "-q, --quiet"):  # fmt: skip
        assert option in result.output, (command, option)


def _city_year(tmp_path):
    rows = [("a", 2010, 100.0, 10.0), ("a", 2020, 97.0, 10.8), ("b", 2010, 100.0, 10.0),
            ("b", 2020, 80.0, 10.2)]  # fmt: skip
    path = tmp_path / "city_year.csv"
    pd.DataFrame(rows, columns=["city_id", "year", "pop_resident", "builtup_km2"]).to_csv(
        path, index=False
    )
    return path


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (["--stats", "above_count"], "--stats: statistic 'above_count' needs a threshold; pass"
         " --threshold VALUE"),
        (["--stats", "weighted_sum"], "needs a weights raster; pass --weights RASTER"),
        (["--id-as", "name", "--include-cols", "name"], "rename the id (--id-as NAME)"),
        (["--layer", "towns"], "no layer 'towns' (layers: cities); give --layer one of 'cities'"),
        ("classify --consecutive-years 0", "Error: --consecutive-years 0 is below 1; give"
         " --consecutive-years 1 or more"),
        ("classify --rule consecutive", "or use --rule period"),
        ("sensitivity --rule multi", "needs --national-gdp-growth-pct, the nation's GDP growth"),
    ],
)  # fmt: skip
def test_errors_name_the_options_not_the_settings(runner, make_raster, zones, tmp_path, command,
                                                  message):  # fmt: skip
    if isinstance(command, str):  # classify / sensitivity of a city_year table
        name, *more = command.split()
        args = [name, str(_city_year(tmp_path)), "--start", "2010", "--end", "2020", *more]
        result = runner.invoke(cli, [*args, "-o", str(tmp_path / "o.csv")])
    else:
        zonal = ["zonal", str(make_raster(LAND)), str(zones), "--id", "city_adcode", "-o"]
        result = runner.invoke(cli, [*zonal, str(tmp_path / "o.csv"), *command])
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    keys = ("consecutive_years", "shrink_rule", "national_gdp_growth_pct", "id_as", "layer to")
    for toml in ("[analysis]", " = ", "=VALUE", "=RASTER", "=NAME", *keys):
        assert toml not in result.output, toml


def test_errors_of_a_configuration_name_its_keys(runner, tmp_path):
    from urbanshrink_gis.demo import write_demo_data

    data = write_demo_data(tmp_path / "data")
    text = data.config.read_text(encoding="utf-8")
    data.config.write_text(text.replace("[analysis]\n", "[analysis]\nconsecutive_years = 0\n"),
                           encoding="utf-8")  # fmt: skip
    result = runner.invoke(cli, ["run", str(data.config), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "consecutive_years = 0 is below 1; set consecutive_years to 1 or more" in result.output
    assert "--consecutive-years" not in result.output


@pytest.mark.parametrize("command", ["classify", "sensitivity"])
def test_an_output_classify_cannot_write_is_refused_before_any_work(runner, monkeypatch, tmp_path,
                                                                    command):  # fmt: skip
    from urbanshrink_gis import pipeline

    def unread(path):
        raise AssertionError("the table was read before the output was checked")

    monkeypatch.setattr(pipeline, "read_city_year", unread)  # the work starts by reading it
    for out, message in (("x.geojson", "GeoJSON needs geometry"),
                         ("x.shp", "unsupported table format '.shp'"),
                         ("no folder/x.csv", "does not exist")):  # fmt: skip
        args = [command, str(_city_year(tmp_path)), "--start", "2010", "--end", "2020"]
        result = runner.invoke(cli, [*args, "-o", str(tmp_path / out)])
        assert result.exit_code == 2, result.output
        assert result.output.startswith("Error: ") and message in result.output
        assert len(result.output.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["city_year.csv"]


def test_per_zone_outputs_are_checked_before_any_work(runner, monkeypatch, make_raster, zones,
                                                      tmp_path):  # fmt: skip
    from urbanshrink_gis import metrics

    def compute(*args, **kwargs):
        raise AssertionError("computed before the output was checked")

    for name in ("landcover_metrics", "nightlight_metrics"):
        monkeypatch.setattr(metrics, name, compute)
    monkeypatch.setattr("urbanshrink_gis.cli.zonal_stats", compute)
    _series(make_raster, LAND, "lc")
    _series(make_raster, LAND.astype("float32"), "ntl")
    commands = [["zonal", str(tmp_path / "lc_2010.tif")],
                ["builtup", str(tmp_path / "lc_{year}.tif")],
                ["nightlight", str(tmp_path / "ntl_{year}.tif")]]  # fmt: skip
    for command in commands:
        for out, more in (("x.shp", []), ("no folder/x.csv", []),
                          ("x.csv", ["--include-cols", "nm"]),
                          ("x.csv", ["--id-as", "prov", "--include-cols", "prov"])):  # fmt: skip
            args = [*command, str(zones), "--id", "city_adcode", "-o", str(tmp_path / out), *more]
            result = runner.invoke(cli, args)
            assert result.exit_code == 2 and result.output.startswith("Error: "), result.output
            assert len(result.output.strip().splitlines()) == 1


def test_verbose_shows_the_traceback_then_the_error_last(zones, make_raster, tmp_path):
    import subprocess
    import sys

    args = [sys.executable, "-m", "urbanshrink_gis", "zonal", str(make_raster(LAND)), str(zones),
            "--id", "adcode", "-o", str(tmp_path / "o.csv")]  # fmt: skip
    for verbose in ([*args[:3], "-v", *args[3:]], [*args, "--verbose"]):
        done = subprocess.run(verbose, capture_output=True, text=True, timeout=300)
        assert done.returncode == 2
        lines = done.stderr.strip().splitlines()
        assert "Traceback (most recent call last):" in lines
        assert lines[-1].startswith("Error: ") and "no id field 'adcode'" in lines[-1]
        assert sum(line.startswith("Error: ") for line in lines) == 1
    plain = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert plain.returncode == 2 and plain.stderr.startswith("Error: ")
    assert len(plain.stderr.splitlines()) == 1
