"""Real QGIS (Debian's qgis/python3-qgis, installed by the Makefile) opens the outputs."""

import json
import os
import subprocess
from pathlib import Path

import pytest

SYSTEM_PYTHON = "/usr/bin/python3"
CHECK = Path(__file__).with_name("qgis_check.py")


def _has_qgis() -> bool:
    if not Path(SYSTEM_PYTHON).exists():
        return False
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import qgis.core"], capture_output=True)
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(
    not _has_qgis(), reason="Debian's python3-qgis is not installed (make install adds it)"
)


@pytest.fixture(scope="module")
def qgis_report(demo_run, tmp_path_factory):
    _, out = demo_run
    png = tmp_path_factory.mktemp("render") / "project.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": str(png.parent)}
    proc = subprocess.run(
        [SYSTEM_PYTHON, str(CHECK), str(out), str(png)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("QGIS-JSON "))
    return json.loads(line.removeprefix("QGIS-JSON "))


def test_every_geopackage_layer_opens(qgis_report, demo_run):
    result, _ = demo_run
    layers = qgis_report["layers"]
    assert all(layer["valid"] for layer in layers.values())
    assert layers["cities"]["features"] == len(result.cities)
    assert layers["city_year"]["features"] == len(result.city_year)


def test_cities_open_with_the_default_style(qgis_report):
    from urbanshrink_gis.analysis import CLASSES

    cities = qgis_report["layers"]["cities"]
    assert cities["renderer"] == "categorizedSymbol"
    assert cities["categories"] == len(CLASSES)
    assert cities["labels"] is True


def test_project_in_the_geopackage_opens_every_layer(qgis_report):
    project = qgis_report["project"]
    assert project["read"] is True
    assert "cities" in project["layers"]
    assert project["invalid"] == []


def test_project_renders_a_map_without_warnings(qgis_report):
    assert qgis_report["render"]["distinct_colours"] > 5
    assert qgis_report["warnings"] == []


def test_rasters_open_with_their_styles(qgis_report):
    for name, raster in qgis_report["rasters"].items():
        assert raster["valid"], name
        assert raster["renderer"] in ("paletted", "singlebandpseudocolor"), name
