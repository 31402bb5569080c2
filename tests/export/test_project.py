"""export/project.py: the QGIS project stored in the run's GeoPackage, as XML without QGIS."""

import xml.etree.ElementTree as ET

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

from qgis_styles import LEGEND, parse
from urbanshrink_gis import export, pipeline
from urbanshrink_gis.errors import ConfigError
from urbanshrink_gis.export import project as qgis_project
from urbanshrink_gis.export import qgisxml
from urbanshrink_gis.products import ClassInfo


@pytest.fixture
def tables():
    cities = gpd.GeoDataFrame(
        {"city_id": ["230400", "220100"], "name": ["鹤岗市", "长春市"],
         "class": ["shrinking_expanding", "growing_expanding"]},
        geometry=[box(130, 47, 131, 48), box(125, 43, 126, 44)],
        crs="EPSG:4326",
    )  # fmt: skip
    city_year = pd.DataFrame(
        {"city_id": ["230400", "230400", "220100", "220100"], "year": [2010, 2020] * 2}
    )
    return cities, city_year


def project(tables, **kwargs):
    cities, city_year = tables
    text = qgis_project._project("u.gpkg", city_year, cities, (), None, **kwargs)
    return ET.fromstring(text.split("\n", 1)[1])


def test_project_crs_defaults_to_the_albers_for_china(tables):
    root = project(tables, crs_value=export.DEFAULT_PROJECT_CRS)
    proj4 = root.find("projectCrs/spatialrefsys/proj4").text
    assert "+proj=aea" in proj4 and "+lat_1=25" in proj4 and "+lon_0=105" in proj4
    assert root.find("projectCrs/spatialrefsys/description").text == (
        "Albers Equal Area (urbanshrink project)"
    )
    xmin, _, xmax, _ = (float(root.find(f"mapcanvas/extent/{k}").text) for k in
                        ("xmin", "ymin", "xmax", "ymax"))  # fmt: skip
    assert 1.5e6 < xmin < xmax < 2.5e6  # metres east of 105°E, not degrees


def test_project_crs_is_configurable(tables, tmp_path):
    toml = tmp_path / "u.toml"
    toml.write_text(
        '[boundaries]\npath = "b.gpkg"\nid = "adcode"\n'
        '[[rasters]]\nkind = "landcover"\nproduct = "clcd"\npath = "lc_{year}.tif"\n'
        "[analysis]\nstart = 2010\nend = 2020\n"
        '[output]\nproject_crs = "EPSG:3857"\n',
        encoding="utf-8",
    )
    config = pipeline.load_config(toml)
    assert config.output.project_crs == "EPSG:3857"
    root = project(tables, crs_value=config.output.project_crs)
    assert root.find("projectCrs/spatialrefsys/authid").text == "EPSG:3857"
    toml.write_text(toml.read_text().replace("EPSG:3857", "EPSG:nope"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"project_crs.*not a coordinate reference system"):
        pipeline.load_config(toml)


def test_groups_relation_and_layout_in_the_document(tables):
    root = project(tables, crs_value=export.DEFAULT_PROJECT_CRS)
    tree = root.find("layer-tree-group")
    groups = {g.get("name"): [n.get("name") for n in g] for g in tree.findall("layer-tree-group")}
    assert groups == {"cities": ["cities"], "tables": ["city_year", "summary"]}
    (relation,) = root.findall("relations/relation")
    ids = {m.find("layername").text: m.find("id").text for m in root.iter("maplayer")}
    assert relation.get("referencedLayer") == ids["cities"]
    assert relation.get("referencingLayer") == ids["city_year"]
    assert relation.find("fieldRef").attrib == {
        "referencedField": "city_id", "referencingField": "city_id"
    }  # fmt: skip
    tables_ = [m for m in root.iter("maplayer") if m.get("geometry") == "No geometry"]
    assert sorted(m.find("layername").text for m in tables_) == ["city_year", "summary"]
    (layout,) = root.findall("Layouts/Layout")
    kinds = sorted(item.get("type") for item in layout.iter("LayoutItem"))
    assert kinds == ["65638", "65639", "65641", "65641", "65642", "65646"]


def test_every_style_and_the_project_carry_one_qgis_version(tables):
    vector = qgisxml.categorized_fill_qml("class", [ClassInfo("x", "x", "#102030")])
    raster = qgisxml.paletted_qml(LEGEND, nodata=0)
    ramp = qgisxml.pseudocolor_qml((-1.0, 1.0), ("#000000", "#ffffff"), units="DN")
    versions = {parse(qml).get("version") for qml in (vector, raster, ramp)}
    versions |= {ET.fromstring(qgisxml.TABLE_QML).get("version")}
    versions |= {project(tables, crs_value=export.DEFAULT_PROJECT_CRS).get("version")}
    assert versions == {qgisxml.QGIS_VERSION}
