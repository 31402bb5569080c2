# Integration tests: the package as a whole, built into a wheel and installed; not one module.
"""A wheel that works on its own: built, installed in a fresh environment, the demo runs.

The fresh environment gets its third-party packages through a ``.pth`` line to this venv's
site-packages (``.pth`` files there are not processed, so the editable install's finder stays
off): urbanshrink_gis comes from the wheel alone, and the demo runs from another folder.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
         "-w", str(out), str(ROOT)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return next(out.glob("urbanshrink_gis-*.whl"))


def test_the_wheel_carries_the_demo_data_and_the_plugin(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in (
        "urbanshrink_gis/demo_data/boundaries/cities.gpkg",
        "urbanshrink_gis/demo_data/population/census_demo.csv",
        "urbanshrink_gis/qgis_plugin/metadata.txt",
        "urbanshrink_gis/qgis_plugin/algorithms.py",
        "urbanshrink_gis/py.typed",
    ):
        assert name in names, name
    assert not any(name.endswith(".so") for name in names)  # kernels: built on the machine


def test_the_installed_wheel_runs_the_demo_from_anywhere(wheel, tmp_path):
    env_dir = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    site = Path(subprocess.check_output(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        text=True,
    ).strip())  # fmt: skip
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    with zipfile.ZipFile(wheel) as archive:  # what pip does for a pure wheel, minus scripts
        archive.extractall(site)
    where = subprocess.check_output(
        [str(python), "-c", "import urbanshrink_gis; print(urbanshrink_gis.__file__)"],
        text=True, cwd=tmp_path,
    )  # fmt: skip
    assert Path(where.strip()).is_relative_to(site)
    proc = subprocess.run(
        [str(python), "-m", "urbanshrink_gis", "-qq", "run", "--out", "demo-out"],
        capture_output=True, text=True, cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("urbanshrink.gpkg", "cities.csv", "report/report.html", "data/truth.csv"):
        assert (tmp_path / "demo-out" / name).exists(), name
