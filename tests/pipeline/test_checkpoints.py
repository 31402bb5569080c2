"""pipeline/checkpoints.py: a killed or changed run resumes, computing only the units it lacks.

Runs of the demo dataset killed with SIGKILL or repeated with an input or a setting changed; an
unreadable checkpoint, or a full disk while saving one, on the tiny dataset (conftest.py).
"""

from __future__ import annotations

import errno
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import assert_one_line_error, cli_run, warning_lines, write_tiny
from urbanshrink_gis import pipeline
from urbanshrink_gis.demo import write_demo_data
from urbanshrink_gis.pipeline.checkpoints import CHECKPOINT_DIR, Checkpoints


def _outputs(out: Path) -> dict[str, bytes]:
    names = ["city_year.csv", "cities.csv", "summary.csv"]
    return {n: (out / n).read_bytes() for n in names}


def test_killed_run_resumes_from_checkpoints_and_ends_identical(tmp_path):
    data = write_demo_data(tmp_path / "data")
    reference = tmp_path / "reference"
    pipeline.run(pipeline.load_config(data.config), out_dir=reference)
    out = tmp_path / "killed"
    command = [
        sys.executable, "-m", "urbanshrink_gis", "-q", "run", str(data.config), "--out", str(out),
        "--scheduler", "synchronous",
    ]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoints = out / ".checkpoints"
    deadline = time.monotonic() + 120

    def finished() -> set[str]:  # pathlib's "*" also matches the hidden temporaries
        return {p.name for p in checkpoints.glob("*.pkl") if not p.name.startswith(".")}

    while time.monotonic() < deadline and proc.poll() is None:
        if checkpoints.exists() and finished():
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "city_year.csv").exists(), "the run finished before it could be killed"
    done_before = finished()
    assert done_before
    result = subprocess.run([*command[:3], "-v", *command[4:]], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"checkpoints: {len(done_before)} reused" in result.stderr
    assert not list(checkpoints.glob(".*")), "a temporary checkpoint was left behind"
    assert _outputs(out) == _outputs(reference)


def test_changed_input_recomputes_only_its_units(tmp_path, caplog):
    data = write_demo_data(tmp_path / "data")
    config = pipeline.load_config(data.config)
    folder = tmp_path / "ckpt"
    first = pipeline.city_year_table(config, checkpoints=folder)
    before = {p.name for p in folder.glob("*.pkl")}
    ntl_2015 = tmp_path / "data" / "rasters" / "ntl" / "Harmonized_DN_NTL_2015_simVIIRS.tif"
    os.utime(ntl_2015, ns=(time.time_ns(), time.time_ns() + 10**9))
    with caplog.at_level("INFO", logger="urbanshrink_gis.pipeline"):
        again = pipeline.city_year_table(config, checkpoints=folder)
    # The 2015 night light feeds two units: its own metrics and the 2015 dark built-up.
    new_files = {p.name for p in folder.glob("*.pkl")} - before
    assert {n.rsplit("-", 1)[0] for n in new_files} == {
        "nightlight-dmsp_harmonized-2015",
        "dark-2015",
    }
    assert f"checkpoints: {len(before) - 2} reused, 2 computed" in caplog.text
    pd.testing.assert_frame_equal(again, first)


def test_changed_setting_recomputes_only_the_units_it_affects(tmp_path, caplog):
    data = write_demo_data(tmp_path / "data")
    folder = tmp_path / "ckpt"
    first = pipeline.city_year_table(pipeline.load_config(data.config), checkpoints=folder)
    before = {p.name for p in folder.glob("*.pkl")}
    text = data.config.read_text()
    edited = text.replace(
        'product = "dmsp_harmonized"', 'lit_threshold = 9.0\nproduct = "dmsp_harmonized"'
    )
    assert edited != text
    data.config.write_text(edited)
    with caplog.at_level("INFO", logger="urbanshrink_gis.pipeline"):
        again = pipeline.city_year_table(pipeline.load_config(data.config), checkpoints=folder)
    # The lit threshold decides the night-light units and the dark built-up, not the land cover.
    new_files = {p.name for p in folder.glob("*.pkl")} - before
    assert {n.rsplit("-", 1)[0] for n in new_files} == {
        f"{unit}-{year}"
        for unit in ("nightlight-dmsp_harmonized", "dark")
        for year in (2010, 2015, 2020)
    }
    assert f"checkpoints: {len(before) - 6} reused, 6 computed" in caplog.text
    pd.testing.assert_series_equal(again["builtup_km2"], first["builtup_km2"])
    assert (again["lit_km2"] <= first["lit_km2"]).all()
    assert (again["lit_km2"] < first["lit_km2"]).any()


def test_new_builtup_goes_through_checkpoints_with_progress(tmp_path, caplog):
    from urbanshrink_gis import read_boundaries

    config = pipeline.load_config(write_demo_data(tmp_path / "data").config)
    b = config.boundaries
    boundaries = read_boundaries(b.path, id_field=b.id, layer=b.layer)
    folder = tmp_path / "ckpt"
    series = pipeline.resolve_sources(config, boundaries, folder=tmp_path / "sources")
    events = []

    def table():
        return pipeline.new_builtup_table(
            config, boundaries, series, checkpoints=folder, progress=lambda *e: events.append(e)
        )

    first = table()
    assert [p.name.rsplit("-", 1)[0] for p in folder.glob("*.pkl")] == ["new-builtup"]
    totals = {total for stage, _, total in events if stage == "new built-up"}
    assert len(totals) == 1 and totals.pop() > 1  # bands of rows: a bar that moves
    assert first["new_builtup_km2"].gt(0).any()
    events.clear()
    with caplog.at_level("INFO", logger="urbanshrink_gis.pipeline"):
        again = table()
    assert "checkpoints: new built-up reused" in caplog.text
    assert events == [("new built-up", 1, 1)]  # the stage still ends (one line in a log)
    pd.testing.assert_frame_equal(again, first)


# --- damaged checkpoints and a full disk -------------------------------------------------

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
