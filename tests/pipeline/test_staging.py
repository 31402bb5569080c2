"""pipeline/staging.py: the output folder checked before any work, outputs committed in one step.

Cases on the tiny dataset (conftest.py) check the one-line error (exit 2) and that the output
folder, hidden folders included, holds nothing half-written.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import rasterio

from conftest import (
    assert_one_line_error,
    cli_run,
    edit_config,
    full_tree,
    write_tiny,
)
from urbanshrink_gis import pipeline
from urbanshrink_gis.errors import OutputError
from urbanshrink_gis.io import series as file_series
from urbanshrink_gis.pipeline import staging
from urbanshrink_gis.pipeline.checkpoints import CHECKPOINT_DIR

# --- the output folder, checked before any work ----------------------------------------------


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


# --- one commit step --------------------------------------------------------------------


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


# --- a full disk ------------------------------------------------------------------------


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


def test_tables_failing_while_the_rasters_are_written_keep_the_previous_outputs(tiny, monkeypatch):
    import importlib
    import threading

    from urbanshrink_gis.pipeline.config import load_config

    run_module = importlib.import_module("urbanshrink_gis.pipeline.run")  # not pipeline.run()

    root, out = tiny
    edit_config(root, "end = 2020", "end = 2020\nexpand_threshold_pct = 50.0")  # new tables
    before = full_tree(out)
    raster_started = threading.Event()

    def progress(stage, done, total):
        if stage.startswith("raster "):
            raster_started.set()

    def failing_tables(*args, **kwargs):
        assert raster_started.wait(60)  # the rasters are being written beside
        raise RuntimeError("tables on fire")

    real_write = run_module.write_rasters

    def slow_rasters(*args, **kwargs):
        written = real_write(*args, **kwargs)
        time.sleep(1.0)  # still running when the tables fail, unless waited for
        return written

    monkeypatch.setattr(run_module, "scope_tables", failing_tables)
    monkeypatch.setattr(run_module, "write_rasters", slow_rasters)
    with pytest.raises(RuntimeError, match="tables on fire"):
        run_module.run(load_config(root / "urbanshrink.toml"), out_dir=out, overwrite=True,
                       progress=progress)  # fmt: skip
    assert not [t for t in threading.enumerate() if t.name == "urbanshrink-beside"]
    after = full_tree(out)
    assert {k: v for k, v in after.items() if not k.startswith(CHECKPOINT_DIR)} == {
        k: v for k, v in before.items() if not k.startswith(CHECKPOINT_DIR)
    }
    assert not list(out.glob(".staging-*"))
