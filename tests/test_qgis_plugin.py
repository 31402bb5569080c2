"""qgis_plugin/: the "Urban shrinkage" Processing provider through real QGIS (qgis_process, Python).

The plugin is installed by ``urbanshrink qgis-plugin install`` into a temporary profile
(``QGIS_CUSTOM_CONFIG_PATH``); QGIS runs headless (``QT_QPA_PLATFORM=offscreen``). Skipped only
where QGIS is absent.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from click.testing import CliRunner
from rasterio.transform import from_origin

from urbanshrink_gis.cli import cli
from urbanshrink_gis.demo import write_demo_data
from urbanshrink_gis.qgis_install import PLUGIN_NAME

SYSTEM_PYTHON = "/usr/bin/python3"
DRIVER = Path(__file__).with_name("qgis_algorithm.py")
# Debian's qgis_process wrapper passes --noversioncheck, which qgis_process refuses: the binary
QGIS_PROCESS = shutil.which("qgis_process.bin") or shutil.which("qgis_process")

pytestmark = pytest.mark.skipif(
    QGIS_PROCESS is None or not Path(SYSTEM_PYTHON).exists(),
    reason="QGIS (qgis_process, python3-qgis) is not installed (make install adds it)",
)


@pytest.fixture(scope="module")
def profile(tmp_path_factory):
    """A QGIS configuration folder with the plugin installed through the CLI."""
    root = tmp_path_factory.mktemp("qgis-config")
    env = {**os.environ, "QGIS_CUSTOM_CONFIG_PATH": str(root)}
    result = CliRunner(env=env).invoke(cli, ["qgis-plugin", "install"])
    assert result.exit_code == 0, result.output
    plugin = root / "profiles" / "default" / "python" / "plugins" / PLUGIN_NAME
    assert str(plugin) in result.output
    record = json.loads((plugin / "urbanshrink.json").read_text(encoding="utf-8"))
    assert record["command"] == [sys.executable, "-m", "urbanshrink_gis"]
    return root


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return write_demo_data(tmp_path_factory.mktemp("plugin-demo") / "data")


def _env(profile: Path) -> dict[str, str]:
    return {
        **os.environ, "QGIS_CUSTOM_CONFIG_PATH": str(profile), "QT_QPA_PLATFORM": "offscreen",
        "XDG_RUNTIME_DIR": str(profile),
    }  # fmt: skip


def _qgis_process(profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [QGIS_PROCESS, *args], capture_output=True, text=True, env=_env(profile), timeout=600
    )


def test_the_plugin_never_imports_the_heavy_stack():
    """QGIS's process must not load rasterio/geopandas (a second GDAL): only qgis + stdlib."""
    plugin = Path(__file__).parents[1] / "src" / "urbanshrink_gis" / "qgis_plugin"
    imported = set()
    for source in plugin.glob("*.py"):
        for line in source.read_text(encoding="utf-8").splitlines():
            words = line.split()
            if words[:1] == ["import"] or (words[:1] == ["from"] and not words[1].startswith(".")):
                imported.add(words[1].split(".")[0])
    assert imported <= {"qgis", "json", "os", "queue", "re", "signal", "subprocess", "sqlite3",
                        "threading", "time", "pathlib"}, imported  # fmt: skip


def test_qgis_process_lists_the_provider(profile):
    proc = _qgis_process(profile, "list")
    assert proc.returncode == 0, proc.stderr
    for name in ("run", "zonalstatistics", "builtup", "nightlight", "classify", "report"):
        assert f"urbanshrink:{name}" in proc.stdout


def test_zonal_statistics_in_qgis_equals_the_cli(profile, demo, tmp_path):
    raster = demo.root / "rasters" / "ntl" / "Harmonized_DN_NTL_2020_simVIIRS.tif"
    zones = f"{demo.boundaries}|layername=cities"
    proc = _qgis_process(
        profile, "run", "urbanshrink:zonalstatistics", "--", f"ZONES={zones}", "ZONE_ID=adcode",
        f"RASTER={raster}", "STATS=0,5,12", "COVERAGE=2", f"OUTPUT={tmp_path / 'qgis.csv'}",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    record = json.loads(
        (profile / "profiles/default/python/plugins/urbanshrink/urbanshrink.json").read_text()
    )
    chosen = [record["stats"][i] for i in (0, 5, 12)]
    direct = tmp_path / "cli.csv"
    result = CliRunner().invoke(cli, [
        "zonal", str(raster), str(demo.boundaries), "--id", "adcode", "--layer", "cities",
        "--stats", " ".join(chosen), "--coverage", "exact", "-o", str(direct),
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "qgis.csv"), pd.read_csv(direct))
    plugins = str(profile / "profiles" / "default" / "python" / "plugins")
    params = tmp_path / "zonal.json"
    params.write_text(json.dumps({
        "ZONES": zones, "ZONE_ID": "adcode", "RASTER": str(raster), "STATS": [0, 5, 12],
        "COVERAGE": 2, "OUTPUT": str(tmp_path / "dialog.csv"),
    }))  # fmt: skip
    proc = subprocess.run(
        [SYSTEM_PYTHON, str(DRIVER), plugins, "zonalstatistics", str(params)],
        capture_output=True, text=True, env=_env(profile), timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(next(x for x in proc.stdout.splitlines() if x.startswith("QGIS-JSON "))[10:])
    assert seen["ok"] and max(seen["progress"]) == 100  # the dialog's bar moves to the end
    assert "zonal statistics" in seen["texts"]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "dialog.csv"), pd.read_csv(direct))


def test_a_bad_input_is_the_projects_one_line_error(profile, demo, tmp_path):
    bare = tmp_path / "no_crs.tif"
    with rasterio.open(bare, "w", driver="GTiff", width=4, height=4, count=1, dtype="uint8",
                       transform=from_origin(120, 45, 1, 1)) as dst:  # fmt: skip
        dst.write(np.ones((1, 4, 4), "uint8"))
    proc = _qgis_process(
        profile, "run", "urbanshrink:zonalstatistics", "--",
        f"ZONES={demo.boundaries}|layername=cities", "ZONE_ID=adcode", f"RASTER={bare}",
        f"OUTPUT={tmp_path / 'z.csv'}",
    )  # fmt: skip
    assert proc.returncode != 0
    shown = proc.stdout + proc.stderr
    assert "has no coordinate reference system" in shown
    assert "Traceback" not in shown
    assert not (tmp_path / "z.csv").exists()


def test_run_writes_every_output_and_cancel_leaves_none(profile, demo, tmp_path):
    plugins = str(profile / "profiles" / "default" / "python" / "plugins")
    params = tmp_path / "params.json"

    def run(out: Path, *flags: str) -> dict:
        params.write_text(json.dumps({"CONFIG": str(demo.config), "OUTPUT_FOLDER": str(out)}))
        proc = subprocess.run(
            [SYSTEM_PYTHON, str(DRIVER), plugins, "run", str(params), *flags],
            capture_output=True, text=True, env=_env(profile), timeout=900,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        line = next(x for x in proc.stdout.splitlines() if x.startswith("QGIS-JSON "))
        return json.loads(line.removeprefix("QGIS-JSON "))

    cancelled = run(tmp_path / "cancelled", "--cancel-on-progress")
    assert cancelled["cancelled"] and cancelled["errors"]
    left = tmp_path / "cancelled"
    outputs = [p for p in left.rglob("*") if ".checkpoints" not in p.parts] if left.exists() else []
    assert outputs == [], outputs  # checkpoints stay, so that a run started again resumes

    done = run(tmp_path / "out")
    assert done["ok"] and not done["errors"]
    assert done["results"]["GEOPACKAGE"] == str(tmp_path / "out" / "urbanshrink.gpkg")
    assert max(done["progress"]) == 100 and len(set(done["progress"])) > 3  # the bar moved
    assert any(text.startswith("landcover") for text in done["texts"])
    assert {"cities", "cities_urban", "urban_footprint"} <= set(done["loaded"])
    assert {"new_builtup_dark", "builtup_change_2010_2020"} <= set(done["loaded"])
    for name in ("urbanshrink.gpkg", "cities.csv", "cities_urban.csv", "scopes.csv",
                 "report/report.html", "rasters/new_builtup_dark.tif"):  # fmt: skip
        assert (tmp_path / "out" / name).exists(), name
