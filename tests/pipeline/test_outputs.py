"""pipeline/outputs.py: a finished run read back by `urbanshrink report`, damaged or not.

The damage is done to a previous run of the tiny dataset (conftest.py): the one-line error names
the file and the fix, and the run folder stays as it was.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from conftest import assert_one_line_error, cli_run, full_tree


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
