"""All outputs or none (issue 18): fail before any work, one commit step, damaged state, paths,
a full disk.

Each test breaks one thing of the tiny dataset of ``test_bad_input`` (two cities, real tiled
GeoTIFFs and a GeoPackage written with GDAL) and checks the one-line error (exit 2) or the
recovery, and that the output folder holds nothing half-written: the whole tree, checkpoints
and hidden folders included, stays as it was.
"""

from __future__ import annotations

import errno
import hashlib
import os
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, Phase, assume, example, given, settings
from hypothesis import strategies as st
from rasterio.transform import from_origin

from test_bad_input import (
    POPULATION,
    SIZE,
    YEARS,
    assert_one_line_error,
    edit_config,
    landcover,
    write_raster,
    write_tiny,
)
from urbanshrink_gis import _files, export, pipeline
from urbanshrink_gis.cli import cli
from urbanshrink_gis.errors import OutputError
from urbanshrink_gis.io import series as file_series
from urbanshrink_gis.pipeline import stages, staging
from urbanshrink_gis.pipeline.checkpoints import CHECKPOINT_DIR, Checkpoints


@pytest.fixture(scope="session")
def previous_run(tmp_path_factory) -> Path:
    """Outputs of one successful run of the tiny dataset (copied into every case's folder)."""
    root = tmp_path_factory.mktemp("tiny")
    out = root / "out"
    result = CliRunner().invoke(cli, ["-q", "run", str(write_tiny(root)), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def tiny(tmp_path, previous_run) -> tuple[Path, Path]:
    """(dataset root, output folder holding a previous run's outputs and checkpoints)."""
    root = tmp_path / "d"
    write_tiny(root)
    out = tmp_path / "out"
    shutil.copytree(previous_run, out)
    return root, out


def full_tree(folder: Path) -> dict[str, str]:
    """Relative path to SHA-256 of every file and ``/`` of every folder, hidden ones included."""
    if not folder.exists() and not folder.is_symlink():
        return {}
    tree = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        tree[rel] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "/"
    return tree


def cli_run(*args: str | os.PathLike) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def warning_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("Warning: ")]


# --- 1. validate before any work -----------------------------------------------------------


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


def _file_at(rel: str):
    def make(out: Path) -> None:
        target = out / rel
        if target.is_dir():
            shutil.rmtree(target)
        target.write_text("not a folder")

    return make


def _folder_at(rel: str):
    def make(out: Path) -> None:
        (out / rel).unlink()
        (out / rel / "x").mkdir(parents=True)

    return make


OUTPUT_FAULTS = {
    "file where OUT/report goes": (_file_at("report"), ("report is a file where an output "
                                                        "folder goes",)),
    "file where OUT/rasters goes": (_file_at("rasters"), ("rasters is a file where an output",)),
    "file where OUT/.checkpoints goes": (_file_at(CHECKPOINT_DIR), (".checkpoints is a file",)),
    "folder where cities.csv goes": (_folder_at("cities.csv"), ("cities.csv is a folder where",)),
}  # fmt: skip


@pytest.mark.parametrize("fault", list(OUTPUT_FAULTS))
def test_taken_output_places_are_refused_before_any_work(tiny, fault):
    root, out = tiny
    breaks, needles = OUTPUT_FAULTS[fault]
    breaks(out)
    before = full_tree(out)
    result = cli_run("run", root / "urbanshrink.toml", "--out", out, "--overwrite")
    assert_one_line_error(result, str(out), *needles, "move or remove it")
    assert full_tree(out) == before


def test_dangling_symlink_as_out_is_refused(tmp_path):
    root = tmp_path / "d"
    cfg = write_tiny(root)
    link = tmp_path / "out"
    link.symlink_to(tmp_path / "gone")
    result = cli_run("run", cfg, "--out", link)
    assert_one_line_error(result, str(link), "symbolic link", "does not exist")
    assert link.is_symlink() and not (tmp_path / "gone").exists()


def test_dangling_symlink_as_the_demos_out_is_refused(tmp_path):
    link = tmp_path / "demo"
    link.symlink_to(tmp_path / "gone")
    assert_one_line_error(cli_run("run", "--out", link), str(link), "symbolic link")
    assert not (tmp_path / "gone").exists()


@pytest.mark.parametrize("taken", ["data/rasters", "data", ".checkpoints", "rasters"])
def test_the_demo_checks_its_folder_before_writing_its_dataset(tmp_path, taken):
    out = tmp_path / "demo"
    (out / taken).parent.mkdir(parents=True, exist_ok=True)
    (out / taken).write_text("the user's own file")
    before = full_tree(out)
    result = cli_run("run", "--out", out)
    assert_one_line_error(result, f"{(out / taken).as_posix()} is a file where an output folder")
    assert full_tree(out) == before


def test_the_demo_on_a_short_disk_writes_nothing(tmp_path, monkeypatch):
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: real(p)._replace(free=2**20))
    result = cli_run("run", "--out", tmp_path / "demo")
    assert_one_line_error(result, str(tmp_path), "has 1 MB free", "about 16 MB")
    assert not (tmp_path / "demo").exists()


def test_symlink_to_a_folder_as_out_is_followed(tmp_path):
    root = tmp_path / "d"
    cfg = write_tiny(root)
    (tmp_path / "real").mkdir()
    (tmp_path / "out").symlink_to(tmp_path / "real")
    result = cli_run("-q", "run", cfg, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "real" / "urbanshrink.gpkg").is_file()


def _deep(base: Path, total: int) -> Path:
    """A folder under ``base`` whose absolute path is ``total`` bytes long (names of 200)."""
    path = str(base)
    while len(path) < total:
        path = os.path.join(path, "d" * min(200, total - len(path) - 1))
    return Path(path)


def test_output_path_too_long_for_sqlite_is_refused_before_any_work(tmp_path):
    """sqlite3 opens paths of up to 504 bytes: the staged GeoPackage needs ~60 more."""
    root = tmp_path / "d"
    cfg = write_tiny(root)
    out = _deep(tmp_path, 480)
    result = cli_run("run", cfg, "--out", out)
    assert_one_line_error(result, "sqlite3", "504 bytes", "choose an --out path of at most")
    assert not (tmp_path / ("d" * 200)).exists()


def test_output_path_just_within_the_limit_is_written(tmp_path):
    root = tmp_path / "d"
    cfg = write_tiny(root)
    room = staging.SQLITE_PATH_MAX - len(f"/{staging._TEMP_NAME}/.urbanshrink.00000000.gpkg")
    out = _deep(tmp_path, room)
    assert len(os.fsencode(out)) == room
    result = cli_run("-q", "run", cfg, "--out", out)
    assert result.exit_code == 0, result.output
    assert (out / "urbanshrink.gpkg").is_file()


def test_short_disk_is_refused_before_any_zonal_work(tmp_path, monkeypatch):
    root = tmp_path / "d"
    cfg = write_tiny(root)
    out = tmp_path / "out"
    real = shutil.disk_usage
    monkeypatch.setattr(
        shutil, "disk_usage", lambda p: real(p)._replace(free=4096)
    )  # a disk with 4 KB free
    result = cli_run("run", cfg, "--out", out)
    line = assert_one_line_error(result, str(tmp_path), "has 0.00 MB free", "this run writes about")
    assert "free some space there, or choose another --out" in line
    assert not out.exists()


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


def test_free_space_estimate_is_of_the_outputs_size(tmp_path):
    root = tmp_path / "d"
    cfg = pipeline.load_config(write_tiny(root))
    out = tmp_path / "out"
    result = pipeline.run(cfg, out_dir=out)
    written = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    checked = pipeline.validate_run(cfg, out_dir=out, overwrite=True)
    series = pipeline.resolve_sources(cfg, checked.boundaries, folder=tmp_path / "s")
    cut = [file_series.clip_series(s, checked.boundaries) for s in series]
    needed = staging.check_free_space(out, cfg, series, pipeline.raster_plans(cfg, cut))
    assert result.files and written / 4 < needed < written * 4  # rough, but of that order


# --- 2. one commit step --------------------------------------------------------------------


def _old_set(out: Path) -> dict[str, str]:
    (out / "report").mkdir(parents=True)
    for rel in ("cities.csv", "summary.csv", "report/report.html", "report/chart_quadrants.png"):
        (out / rel).write_text(f"old {rel}")
    return full_tree(out)


def test_commit_checks_every_destination_before_the_first_move(tmp_path):
    out = tmp_path / "out"
    before = _old_set(out)
    (out / "rasters").write_text("a file where a folder goes")
    before = full_tree(out)
    with pytest.raises(OutputError, match="rasters is a file where an output folder goes"):  # noqa: SIM117
        with staging._staged(out) as stage:
            (stage / "cities.csv").write_text("new")  # sorts before rasters/: would move first
            (stage / "rasters").mkdir()
            (stage / "rasters" / "a.tif").write_text("new")
    assert full_tree(out) == before


def test_a_move_failing_midway_puts_the_previous_set_back(tmp_path, monkeypatch):
    out = tmp_path / "out"
    before = _old_set(out)
    real, calls = os.replace, []

    def replace(src, dst):
        calls.append(src)
        if len(calls) == 6:  # the old set is aside, two new files are in: then a failure
            raise PermissionError(errno.EACCES, "Permission denied", str(dst))
        return real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with (
        pytest.raises(PermissionError),
        staging._staged(out, retire=["report/report.html"]) as st_,
    ):
        for rel in ("cities.csv", "city_year.csv", "summary.csv"):
            (st_ / rel).write_text(f"new {rel}")
    assert full_tree(out) == before


def test_overwrite_replaces_the_whole_previous_set(tmp_path):
    out = tmp_path / "out"
    _old_set(out)
    (out / "notes.txt").write_text("the user's own file")
    retire = staging._previous_set(out, with_report=True)
    with staging._staged(out, retire=retire) as stage:
        (stage / "report").mkdir()
        for rel in ("cities.csv", "summary.csv", "report/report.html"):
            (stage / rel).write_text(f"new {rel}")
    assert {p: (out / p).read_text() for p in ("cities.csv", "summary.csv", "report/report.html")} \
        == {p: f"new {p}" for p in ("cities.csv", "summary.csv", "report/report.html")}  # fmt: skip
    assert not (out / "report" / "chart_quadrants.png").exists()  # old chart: no mix
    assert (out / "notes.txt").read_text() == "the user's own file"
    assert not list(out.glob(".staging-*"))


def test_stale_staging_folders_are_removed_and_live_ones_kept(tmp_path):
    out = tmp_path / "out"
    before = _old_set(out)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        for pid in (dead.pid, "x"):  # a dead run's, and one of the older unnumbered form
            stale = out / f"{staging.STAGING_PREFIX}{pid}-abcd1234"
            (stale / "rasters").mkdir(parents=True)
            (stale / "rasters" / "big.tif").write_bytes(b"\0" * 4096)
        # a run killed inside its commit: cities.csv moved in, summary.csv not yet
        killed = out / f"{staging.STAGING_PREFIX}99999999-k1ll3d00"
        (killed / ".previous" / "report").mkdir(parents=True)
        for rel in ("cities.csv", "report/report.html"):
            os.replace(out / rel, killed / ".previous" / rel)
        (out / "cities.csv").write_text("new cities.csv")
        (killed / "summary.csv").write_text("new summary.csv")
        (killed / ".previous" / ".manifest").write_text("cities.csv\nsummary.csv\n")
        running = out / f"{staging.STAGING_PREFIX}{live.pid}-r0nn1ng0"
        running.mkdir()
        removed = staging.remove_stale_staging(out)
        assert len(removed) == 3 and running.is_dir()
        running.rmdir()
        assert full_tree(out) == before  # the killed commit undone: the previous set back
    finally:
        live.kill()
        live.wait()


def test_a_staging_folder_of_another_host_is_kept_until_it_is_a_day_old(tmp_path):
    """OUT on a shared file system: another host's pid says nothing here, its age does."""
    out = tmp_path / "out"
    before = _old_set(out)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with staging._staged(out) as stage:  # this host's own name for its staging folder
        pid, host = stage.name[len(staging.STAGING_PREFIX) :].rsplit("-", 1)[0].split("@")
        assert (pid, host) == (str(os.getpid()), staging._host())
        assert staging.remove_stale_staging(out) == []  # a live run's folder of this host
    others = {}
    for age in (staging.STALE_AGE - 600, staging.STALE_AGE + 600):
        other = out / f"{staging.STAGING_PREFIX}{dead.pid}@other.host.{age}-abcd1234"
        (other / "rasters").mkdir(parents=True)
        (other / "rasters" / "big.tif").write_bytes(b"\0" * 4096)
        then = time.time() - age
        for p in (other / "rasters" / "big.tif", other / "rasters", other):
            os.utime(p, (then, then))
        others[age] = other
    mine = out / f"{staging.STAGING_PREFIX}{dead.pid}@{staging._host()}-abcd1234"
    mine.mkdir()
    assert sorted(staging.remove_stale_staging(out)) == sorted([others[max(others)], mine])
    fresh = others[min(others)]
    assert (fresh / "rasters" / "big.tif").is_file()  # maybe still being written over there
    shutil.rmtree(fresh)
    assert full_tree(out) == before


KILLED_IN_COMMIT = """
import os, signal, sys
from pathlib import Path
from urbanshrink_gis.pipeline import staging

out, real, calls = Path(sys.argv[1]), os.replace, []

def replace(src, dst):
    calls.append(src)
    if len(calls) == int(sys.argv[2]):
        os.kill(os.getpid(), signal.SIGKILL)  # no finally, no rollback: as a killed run
    return real(src, dst)

os.replace = replace
with staging._staged(out, retire=["report/chart_quadrants.png"]) as stage:
    (stage / "report").mkdir()
    for rel in ("cities.csv", "city_year.csv", "summary.csv", "report/report.html"):
        (stage / rel).write_text("new " + rel)
"""


@pytest.mark.parametrize("moves", [1, 3, 5, 7, 9])
def test_a_run_killed_inside_its_commit_is_undone_by_the_next(tmp_path, moves):
    """SIGKILL after some of the 9 moves (5 old files aside, 4 new in): the next run undoes it."""
    out = tmp_path / "out"
    before = _old_set(out)
    (out / "city_year.csv").write_text("old city_year.csv")
    before = full_tree(out)
    script = tmp_path / "kill.py"
    script.write_text(KILLED_IN_COMMIT)
    done = subprocess.run([sys.executable, str(script), str(out), str(moves)], check=False)
    assert done.returncode == -9
    assert len(list(out.glob(".staging-*"))) == 1
    assert len(staging.remove_stale_staging(out)) == 1
    assert full_tree(out) == before


def test_a_run_removes_a_killed_runs_staging_folder(tiny):
    root, out = tiny
    stale = out / f"{staging.STAGING_PREFIX}99999999-abcd1234"
    (stale / "report").mkdir(parents=True)
    (stale / "report" / "chart.png").write_bytes(b"\0" * 1000)
    result = cli_run("-q", "run", root / "urbanshrink.toml", "--out", out, "--overwrite")
    assert result.exit_code == 0, result.output
    assert not list(out.glob(".staging-*"))


NAMES = (
    st.lists(
        st.sampled_from([*"ab Z09_-.[]{}()'&,;=+#@!~", "城", "市", "{year}", "ä", "🙂"]),
        min_size=1,
        max_size=120,
    )
    .map("".join)
    .filter(lambda s: s.strip(".") and "/" not in s)
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stem=NAMES, pad=st.integers(0, 251))
@example(stem="a", pad=250)
@example(stem="城", pad=200)
def test_temporary_names_stay_within_name_max(tmp_path, stem, pad):
    name = (stem + "x" * pad).encode()[:251].decode("utf-8", errors="ignore") + ".csv"
    assert len(os.fsencode(name)) <= 255
    path = tmp_path / "t" / name
    path.parent.mkdir(exist_ok=True)
    export.write_table(pd.DataFrame({"a": [1]}), path, overwrite=True)
    assert pd.read_csv(path)["a"].tolist() == [1]
    assert len(os.fsencode(_files.temp_prefix(path))) + 8 + len(".csv") <= 255
    assert sorted(os.listdir(path.parent)) == [name]
    path.unlink()


# --- 3. damaged state recovers -------------------------------------------------------------


GARBAGE = {
    "random bytes": lambda data: bytes(range(256)) * 3,
    "truncated": lambda data: data[: len(data) // 2],
    "not a table": lambda data: pickle.dumps(["a", "list"]),
    "empty": lambda data: b"",
}


@pytest.mark.parametrize("kind", list(GARBAGE))
def test_unreadable_checkpoint_is_computed_again_with_one_warning(tmp_path, kind):
    root = tmp_path / "d"
    cfg = write_tiny(root)
    out = tmp_path / "out"
    assert cli_run("-q", "run", cfg, "--out", out).exit_code == 0
    first = (out / "city_year.csv").read_bytes()
    damaged = sorted((out / CHECKPOINT_DIR).glob("landcover-*.pkl"))[0]
    damaged.write_bytes(GARBAGE[kind](damaged.read_bytes()))
    result = cli_run("run", cfg, "--out", out, "--overwrite")
    assert result.exit_code == 0, result.output
    lines = warning_lines(result)
    assert len(lines) == 1, lines
    assert "unreadable checkpoint" in lines[0] and damaged.name in lines[0]
    assert "computing it again" in lines[0]
    assert (out / "city_year.csv").read_bytes() == first
    assert Checkpoints(out / CHECKPOINT_DIR).load(damaged.name) is not None  # saved anew


def _remove(rel: str):
    return lambda out: (out / rel).unlink()


def _garble(rel: str, data: bytes = b"\x00\xff garbage " * 50):
    return lambda out: (out / rel).write_bytes(data)


def _gpkg_without_cities(out: Path) -> None:
    import pyogrio

    gpkg = out / "urbanshrink.gpkg"
    gpkg.unlink()
    pyogrio.write_dataframe(pd.DataFrame({"a": [1]}), gpkg, layer="other", driver="GPKG")


DAMAGE = {
    "summary.csv missing": (_remove("summary.csv"), ("summary.csv", "is missing")),
    "city_year.csv missing": (_remove("city_year.csv"), ("city_year.csv", "is missing")),
    "GeoPackage garbage": (_garble("urbanshrink.gpkg"), ("urbanshrink.gpkg", "cannot be read")),
    "GeoPackage truncated": (lambda out: _garble("urbanshrink.gpkg", (
        out / "urbanshrink.gpkg").read_bytes()[:3000])(out), ("urbanshrink.gpkg",)),
    "GeoPackage without cities": (_gpkg_without_cities, ("urbanshrink.gpkg", "cities")),
    "summary.csv garbage": (_garble("summary.csv", b"\xff\xfe\x00garbage"), ("summary.csv",)),
    "summary.csv empty": (_garble("summary.csv", b""), ("summary.csv", "cannot be read")),
    "city_year.csv without year": (_garble("city_year.csv", b"city_id,x\n1,2\n"),
                                   ("city_year.csv", "no column 'year'")),
    "summary.csv of another table": (_garble("summary.csv", b"a,b\n1,2\n"),
                                     ("report cannot use", "summary")),
}  # fmt: skip


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_report_on_a_damaged_run_folder_names_the_file_and_the_fix(tiny, damage):
    _, out = tiny
    breaks, needles = DAMAGE[damage]
    breaks(out)
    before = full_tree(out)
    line = assert_one_line_error(cli_run("report", out, "--overwrite"), *needles)
    assert f"urbanshrink export CONFIG.toml --out {out} --overwrite" in line
    assert full_tree(out) == before


def test_report_over_a_file_where_its_folder_goes(tiny):
    _, out = tiny
    shutil.rmtree(out / "report")
    (out / "report").write_text("a file")
    before = full_tree(out)
    result = cli_run("report", out, "--overwrite")
    assert_one_line_error(result, "report is a file where an output folder goes")
    assert full_tree(out) == before


def test_report_failing_midway_keeps_the_previous_pages(tiny, monkeypatch):
    _, out = tiny
    before = full_tree(out)
    real, written = Path.write_bytes, []

    def write_bytes(self, data):
        written.append(self)
        if len(written) == 3:  # two charts are written, then the disk is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    result = cli_run("report", out, "--overwrite")
    assert_one_line_error(result, str(out), "the disk is full")
    assert full_tree(out) == before


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


# --- 4. every path a user can give ---------------------------------------------------------


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


def test_a_folder_named_with_year_is_no_placeholder(tmp_path):
    """Only a pattern's own {year} is expanded: not the one of the configuration's folder."""
    root = tmp_path / "run_{year}"
    cfg = write_tiny(root)
    decoy = tmp_path / "run_2010" / "rasters"  # what "run_{year}/..." would also match
    decoy.mkdir(parents=True)
    for year in YEARS:
        for folder in (root / "rasters", decoy):
            write_raster(folder / f"pop_{year}.tif", np.ones((SIZE, SIZE), np.float32))
        write_raster(decoy / f"clcd_{year}.tif", landcover(year), nodata=0)
    edit_config(
        root, "lit_threshold = 0.0", 'lit_threshold = 0.0\nweights = "rasters/pop_{year}.tif"'
    )
    edit_config(root, "[population]", '[[rasters]]\nkind = "population"\nproduct = "custom"\n'
                'path = "rasters/pop_{year}.tif"\ndtype = "float32"\n\n[population]')  # fmt: skip
    landcover_cfg, light, people = pipeline.load_config(cfg).rasters

    def own(stem):
        return {y: str(root / "rasters" / f"{stem}_{y}.tif") for y in YEARS}

    assert landcover_cfg.files() == {y: (f,) for y, f in own("clcd").items()}
    assert people.files() == {y: (f,) for y, f in own("pop").items()}
    assert stages._weights_series(light, YEARS) == own("pop")
    one = root / "rasters" / "pop.tif"  # one weights file for every year: no pattern at all
    write_raster(one, np.ones((SIZE, SIZE), np.float32))
    edit_config(root, "pop_{year}.tif", "pop.tif")
    light = pipeline.load_config(cfg).rasters[1]
    assert stages._weights_series(light, YEARS) == dict.fromkeys(YEARS, str(one))


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


@given(
    st.text(st.characters(exclude_characters="/\0", exclude_categories=["Cs"]), min_size=1),
    st.sampled_from(["", ".csv", ".gpkg", ".tif", ".x" * 20]),
)
@example("城" * 85, ".csv")
def test_temp_prefix_fits_any_name(stem, suffix):
    name = os.fsencode(stem)[: 255 - len(suffix)].decode("utf-8", errors="ignore") + suffix
    assume(name.strip(".") != "" and (Path("/x") / name).name == name)
    prefix = _files.temp_prefix(Path("/x") / name)
    kept = Path(name).suffix if len(os.fsencode(Path(name).suffix)) <= 16 else ""
    assert len(os.fsencode(prefix)) + 8 + len(os.fsencode(kept)) <= 255
    assert prefix.startswith(".") and prefix.endswith(".")
    assert Path(name).stem.startswith(prefix[1:-1])


# --- 5. a full disk ------------------------------------------------------------------------


def _full_disk_at(writer: str, monkeypatch) -> None:
    """Make one writer fail as a full disk does: errno ENOSPC or EDQUOT, or GDAL's error."""
    if writer == "csv":  # the CSVs are written as text under a temporary name
        real = Path.write_text

        def write_text(self, *args, **kwargs):
            if "summary" in self.name:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
            return real(self, *args, **kwargs)

        monkeypatch.setattr(Path, "write_text", write_text)
    elif writer == "quota":

        def write_bytes(self, data):
            raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT), str(self))

        monkeypatch.setattr(Path, "write_bytes", write_bytes)  # the report's files
    else:  # GDAL's own error (writing a COG onto /dev/full), and the disk then full
        real_copy, real_usage, full = rasterio.shutil.copy, shutil.disk_usage, []

        def copy(src, dst, *args, **kwargs):
            full.append(dst)
            return real_copy(src, "/dev/full", driver="GTiff")

        def usage(path):
            return real_usage(path)._replace(free=0) if full else real_usage(path)

        monkeypatch.setattr(rasterio.shutil, "copy", copy)
        monkeypatch.setattr(shutil, "disk_usage", usage)


@pytest.mark.parametrize("writer", ["csv", "quota", "gdal"])
def test_full_disk_is_one_line_and_keeps_the_previous_outputs(tiny, monkeypatch, writer):
    if writer == "gdal" and not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    root, out = tiny
    edit_config(root, "end = 2020", "end = 2020\nexpand_threshold_pct = 50.0")  # new tables
    before = full_tree(out)
    checkpoints = {k: v for k, v in before.items() if k.endswith(".pkl")}
    _full_disk_at(writer, monkeypatch)
    result = cli_run("run", root / "urbanshrink.toml", "--out", out, "--overwrite")
    line = assert_one_line_error(result, str(out), "the disk is full", "writing the outputs needs "
                                 "about", "free some space there")  # fmt: skip
    assert "previous outputs are kept" in line
    after = full_tree(out)
    assert {k: v for k, v in after.items() if not k.startswith(CHECKPOINT_DIR)} == {
        k: v for k, v in before.items() if not k.startswith(CHECKPOINT_DIR)
    }
    assert checkpoints.items() <= after.items()  # checkpoints kept or added: the run resumes
    assert not list(out.glob(".staging-*"))


def test_full_disk_while_saving_a_checkpoint(tmp_path, monkeypatch):
    root = tmp_path / "d"
    cfg = write_tiny(root)

    def to_pickle(self, path, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(pd.DataFrame, "to_pickle", to_pickle)
    out = tmp_path / "out"
    line = assert_one_line_error(cli_run("run", cfg, "--out", out), "the disk is full",
                                 str(out / CHECKPOINT_DIR), "resumes")  # fmt: skip
    assert "Traceback" not in line
    assert not list(out.rglob("*.pkl"))  # no checkpoint, half-written or not


def test_disk_full_recognises_errno_and_gdal_messages():
    assert _files.disk_full(OSError(errno.ENOSPC, "x"))
    assert _files.disk_full(OSError(errno.EDQUOT, "x"))
    try:
        try:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError as err:
            raise RuntimeError("writing failed") from err
    except RuntimeError as wrapped:
        assert _files.disk_full(wrapped)
    assert _files.disk_full(RuntimeError(f"TIFFWriteTile: {os.strerror(errno.ENOSPC)}"))
    assert not _files.disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not _files.disk_full(ValueError("nothing to do with disks"))
