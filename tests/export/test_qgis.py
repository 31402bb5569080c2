# Integration tests: the demo run's outputs (every stage) opened in real QGIS, not one module.
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


def test_project_has_cities_rasters_and_tables_groups(qgis_report):
    groups = qgis_report["project"]["groups"]
    assert list(groups) == ["cities", "rasters", "tables"]
    # the demo's second scope: its cities layer opens from the project, unchecked
    assert groups["cities"] == ["cities", "cities_urban"]
    assert "cities_urban" not in qgis_report["project"]["visible"]
    assert groups["tables"] == ["city_year", "summary", "sensitivity"]
    assert len(groups["rasters"]) == 4


def test_vacancy_raster_is_visible_and_drawn_above_the_change_rasters(qgis_report):
    project = qgis_report["project"]
    rasters = project["groups"]["rasters"]
    assert rasters[0] == "new_builtup_dark"  # first in the tree is drawn on top
    assert rasters[1].startswith("builtup_change_")
    assert {"new_builtup_dark", "cities", rasters[1]} <= set(project["visible"])
    # the extent-wide night-light rasters would hide everything under them: off by default
    assert not any(name.startswith("ntl_") for name in project["visible"])
    # nor does the vacancy raster draw "not built-up" over the built-up change in the project
    assert project["palettes"]["new_builtup_dark"] == [
        "old built-up, lit", "old built-up, dark", "new built-up, lit", "new built-up, dark"
    ]  # fmt: skip
    assert "not built-up" in qgis_report["rasters"]["new_builtup_dark.tif"]["legend"]  # its .qml


def test_cities_fill_lets_the_rasters_show_through(qgis_report):
    cities = qgis_report["layers"]["cities"]
    assert cities["fill_alpha"] == [115]  # 45 % opaque
    assert cities["outline_alpha"] == [255]  # outlined in the class colour


def test_relation_lists_each_citys_years(qgis_report, demo_run):
    result, _ = demo_run
    (relation,) = qgis_report["project"]["relations"]
    assert relation["valid"] and (relation["parent"], relation["child"]) == ("cities", "city_year")
    assert relation["fields"] == [["city_id", "city_id"]]
    assert relation["children_of_first"] == result.city_year["year"].nunique()


def test_print_layout_has_map_legend_title_scale_bar_and_note(qgis_report):
    (layout,) = qgis_report["project"]["layouts"]
    assert (layout["maps"], layout["legends"], layout["scalebars"]) == (1, 1, 1)
    assert layout["scalebar_units"] == [1]  # QgsUnitTypes.DistanceKilometers
    assert "+proj=aea" in layout["map_crs"]
    assert layout["map_layers"][0] == "cities" and "new_builtup_dark" in layout["map_layers"]
    title, note = sorted(layout["labels"], key=len)
    assert title.startswith("Shrinking cities") and "2010–2020" in title
    assert "urbanshrink_gis" in note and "sources.csv" in note
    assert layout["legend_layers"][0] == "City class (population, built-up change)"
    assert layout["export"] == 0  # QgsLayoutExporter.Success


def test_project_crs_is_the_albers_for_china(qgis_report):
    crs = qgis_report["project"]["crs"]
    assert qgis_report["project"]["crs_valid"]
    for part in ("+proj=aea", "+lat_1=25", "+lat_2=47", "+lon_0=105", "+units=m"):
        assert part in crs


def test_ramp_legends_are_rounded_and_carry_units(qgis_report):
    for name, raster in qgis_report["rasters"].items():
        if raster["renderer"] != "singlebandpseudocolor":
            continue
        low, high = raster["legend"][-2:]
        units = " DN per year" if name.startswith("ntl_trend") else " DN"  # the demo's DMSP
        assert low.endswith(units) and high.endswith(units), name
        assert len(high.split()[0].partition(".")[2]) <= 2, name
        assert low.split()[0] == "-" + high.split()[0], name


def test_category_names_are_read_from_the_cog_alone(qgis_report):
    from urbanshrink_gis.metrics.change import BUILTUP_CHANGE_CLASSES
    from urbanshrink_gis.metrics.vacancy import VACANCY_CLASSES

    for prefix, classes in (("builtup_change_", BUILTUP_CHANGE_CLASSES),
                            ("new_builtup_dark", VACANCY_CLASSES)):  # fmt: skip
        (alone,) = [r["alone"] for n, r in qgis_report["rasters"].items() if n.startswith(prefix)]
        assert alone["metadata"] == {f"CATEGORY_{c.code}": c.name for c in classes}
        assert alone["colours"] and alone["qgis_metadata_has_names"]
        assert alone["category_names"] is None  # GDAL 3.6 reads those from .aux.xml only
