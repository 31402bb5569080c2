"""QGIS styles and projects as documented XML, written without QGIS.

Terms
-----
QML
    A QGIS layer style file (``<qgis>`` root). QGIS loads ``name.qml`` beside ``name.tif`` as a
    raster's default style, and the row of a GeoPackage's ``layer_styles`` table marked
    ``useAsDefault`` as a vector layer's.
project
    A ``.qgs`` document. Stored in a GeoPackage, it is zipped as a ``.qgz`` and kept, hex
    encoded, in the ``qgis_projects`` table (the layout QGIS 3.22 itself writes); layer paths
    are relative to the GeoPackage's folder.
"""

from __future__ import annotations

import io
import json
import sqlite3
import warnings
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyogrio
from pyproj import CRS

__all__ = [
    "QGIS_VERSION",
    "ProjectLayer",
    "categorized_fill_qml",
    "project_xml",
    "store_in_geopackage",
]

QGIS_VERSION = "3.22.16-Białowieża"
LABEL_FONT = "Noto Sans CJK SC"
_DOCTYPE = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
#: Fixed stamp so that reruns write identical bytes.
_STAMP = "2000-01-01T00:00:00"


@dataclass(frozen=True, slots=True)
class ProjectLayer:
    """One layer of a project.

    Parameters
    ----------
    name
        Layer name shown in QGIS.
    source
        Data source relative to the project's folder (``./x.gpkg|layername=cities``,
        ``./rasters/x.tif``).
    kind
        ``"vector"`` or ``"raster"``.
    style
        The layer's QML (its renderer and labels are copied into the project).
    crs
        The layer's CRS.
    geometry
        Vector geometry type (``"Polygon"``), empty for attribute tables and rasters.
    visible
        Checked in the layer tree.
    """

    name: str
    source: str
    kind: str
    style: str
    crs: CRS
    geometry: str = ""
    visible: bool = True

    @property
    def layer_id(self) -> str:
        """Stable id derived from the name."""
        return "".join(c if c.isalnum() else "_" for c in self.name) + "_urbanshrink"


def _rgba(colour: str) -> str:
    h = colour.lstrip("#")
    return ",".join(str(int(h[i : i + 2], 16)) for i in (0, 2, 4)) + ",255"


def _options(parent: ET.Element, values: Mapping[str, str]) -> None:
    opt = ET.SubElement(parent, "Option", type="Map")
    for name, value in values.items():
        ET.SubElement(opt, "Option", name=name, value=value, type="QString")


def _fill_symbol(parent: ET.Element, name: str, colour: str) -> None:
    symbol = ET.SubElement(
        parent, "symbol", type="fill", name=name, alpha="1", clip_to_extent="1", force_rhr="0"
    )
    layer = ET.SubElement(symbol, "layer", {"class": "SimpleFill", "pass": "0", "enabled": "1"})
    _options(
        layer,
        {
            "color": _rgba(colour),
            "outline_color": "60,60,60,255",
            "outline_style": "solid",
            "outline_width": "0.2",
            "outline_width_unit": "MM",
            "style": "solid",
        },
    )


def categorized_fill_qml(
    field: str,
    categories: Sequence[tuple[str, str, str]],
    *,
    label_field: str | None = None,
) -> str:
    """QML of a polygon layer coloured by the values of ``field``, labelled by another field.

    Parameters
    ----------
    field
        Attribute whose values pick the colour.
    categories
        ``(value, legend label, "#rrggbb")`` in legend order.
    label_field
        Attribute written as labels (in a CJK-capable font); no labels when None.

    Returns
    -------
    str
        The QML document.
    """
    root = ET.Element("qgis", version=QGIS_VERSION, styleCategories="AllStyleCategories")
    root.set("labelsEnabled", "1" if label_field else "0")
    _vector_style(root, field, categories, label_field)
    return _DOCTYPE + ET.tostring(root, encoding="unicode")


def _vector_style(
    parent: ET.Element,
    field: str,
    categories: Sequence[tuple[str, str, str]],
    label_field: str | None,
) -> None:
    renderer = ET.SubElement(
        parent,
        "renderer-v2",
        type="categorizedSymbol",
        attr=field,
        symbollevels="0",
        enableorderby="0",
        forceraster="0",
        referencescale="-1",
    )
    cats = ET.SubElement(renderer, "categories")
    symbols = ET.SubElement(renderer, "symbols")
    for i, (value, label, colour) in enumerate(categories):
        ET.SubElement(cats, "category", symbol=str(i), value=value, label=label, render="true")
        _fill_symbol(symbols, str(i), colour)
    if label_field:
        labeling = ET.SubElement(parent, "labeling", type="simple")
        settings = ET.SubElement(labeling, "settings", calloutType="simple")
        ET.SubElement(
            settings,
            "text-style",
            fieldName=label_field,
            isExpression="0",
            fontFamily=LABEL_FONT,
            fontSize="8",
            fontSizeUnit="Point",
            textColor="20,20,20,255",
            textOpacity="1",
        ).append(_buffer())
        ET.SubElement(settings, "placement", placement="1", dist="0", priority="5")
        ET.SubElement(settings, "rendering", obstacle="1", scaleVisibility="0", drawLabels="1")


def _buffer() -> ET.Element:
    return ET.Element(
        "text-buffer", bufferDraw="1", bufferSize="0.7", bufferColor="255,255,255,255",
        bufferSizeUnits="MM", bufferOpacity="0.8",
    )  # fmt: skip


def _srs(parent: ET.Element, crs: CRS) -> None:
    srs = ET.SubElement(parent, "spatialrefsys", nativeFormat="Wkt")
    ET.SubElement(srs, "wkt").text = crs.to_wkt()
    with warnings.catch_warnings():  # the WKT above carries what a PROJ string loses
        warnings.simplefilter("ignore", UserWarning)
        ET.SubElement(srs, "proj4").text = crs.to_proj4() or ""
    auth = crs.to_authority()
    ET.SubElement(srs, "authid").text = f"{auth[0]}:{auth[1]}" if auth else ""
    ET.SubElement(srs, "description").text = crs.name
    ET.SubElement(srs, "geographicflag").text = "true" if crs.is_geographic else "false"


def project_xml(
    title: str,
    layers: Sequence[ProjectLayer],
    *,
    crs: CRS,
    extent: tuple[float, float, float, float],
) -> str:
    """A QGIS project (``.qgs``) showing ``layers``, first on top, zoomed to ``extent``.

    Parameters
    ----------
    title
        Project title.
    layers
        Layers from top to bottom of the legend.
    crs
        Project CRS (the map's).
    extent
        ``(xmin, ymin, xmax, ymax)`` in the project CRS.

    Returns
    -------
    str
        The project document.
    """
    root = ET.Element("qgis", projectname=title, version=QGIS_VERSION)
    ET.SubElement(root, "homePath", path="")
    ET.SubElement(root, "title").text = title
    _srs(ET.SubElement(root, "projectCrs"), crs)
    tree = ET.SubElement(root, "layer-tree-group")
    for layer in layers:
        ET.SubElement(
            tree,
            "layer-tree-layer",
            id=layer.layer_id,
            name=layer.name,
            source=layer.source,
            providerKey="ogr" if layer.kind == "vector" else "gdal",
            checked="Qt::Checked" if layer.visible else "Qt::Unchecked",
            expanded="1",
        )
    canvas = ET.SubElement(root, "mapcanvas", name="theMapCanvas", annotationsVisible="1")
    ET.SubElement(canvas, "units").text = "degrees" if crs.is_geographic else "meters"
    box = ET.SubElement(canvas, "extent")
    for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), extent, strict=True):
        ET.SubElement(box, tag).text = repr(float(value))
    ET.SubElement(canvas, "rotation").text = "0"
    _srs(ET.SubElement(canvas, "destinationsrs"), crs)
    maplayers = ET.SubElement(root, "projectlayers")
    for layer in layers:
        maplayers.append(_maplayer(layer))
    order = ET.SubElement(root, "layerorder")
    for layer in layers:
        ET.SubElement(order, "layer", id=layer.layer_id)
    view = ET.SubElement(root, "ProjectViewSettings", rotation="0", UseProjectScales="0")
    box = dict(zip(("xmin", "ymin", "xmax", "ymax"), (repr(float(v)) for v in extent), strict=True))
    _srs(ET.SubElement(view, "DefaultViewExtent", box), crs)
    props = ET.SubElement(root, "properties")
    paths = ET.SubElement(props, "Paths")
    ET.SubElement(paths, "Absolute", type="bool").text = "false"
    # QGIS reads <projectCrs> only when this says the project has a CRS.
    srs_props = ET.SubElement(props, "SpatialRefSys")
    ET.SubElement(srs_props, "ProjectionsEnabled", type="int").text = "1"
    return _DOCTYPE + ET.tostring(root, encoding="unicode")


def _maplayer(layer: ProjectLayer) -> ET.Element:
    style = ET.fromstring(layer.style)
    attrs = {"type": layer.kind, "styleCategories": "AllStyleCategories"}
    if layer.geometry:
        attrs.update(geometry=layer.geometry, wkbType=f"Multi{layer.geometry}")
    for key in ("labelsEnabled",):
        if key in style.attrib:
            attrs[key] = style.attrib[key]
    element = ET.Element("maplayer", attrs)
    ET.SubElement(element, "id").text = layer.layer_id
    ET.SubElement(element, "datasource").text = layer.source
    ET.SubElement(element, "layername").text = layer.name
    _srs(ET.SubElement(element, "srs"), layer.crs)
    provider = ET.SubElement(element, "provider", encoding="UTF-8")
    provider.text = "ogr" if layer.kind == "vector" else "gdal"
    for child in style:
        element.append(child)
    return element


def store_in_geopackage(
    gpkg: str | Path,
    *,
    styles: Mapping[str, str],
    project: str,
    project_name: str,
) -> None:
    """Store default layer styles and a project inside a GeoPackage.

    Parameters
    ----------
    gpkg
        The GeoPackage (its layers already written).
    styles
        Layer name to QML; each becomes the layer's default style in ``layer_styles``.
    project
        The ``.qgs`` document.
    project_name
        Name of the project in ``qgis_projects`` (opened as
        ``geopackage:PATH?projectName=NAME``).
    """
    path = Path(gpkg)
    with sqlite3.connect(path) as db:
        geom = dict(db.execute("SELECT table_name, column_name FROM gpkg_geometry_columns"))
    rows = pd.DataFrame(
        {
            "f_table_catalog": "",
            "f_table_schema": "",
            "f_table_name": list(styles),
            "f_geometry_column": [geom.get(name, "") for name in styles],
            "styleName": [f"{name} (urbanshrink)" for name in styles],
            "styleQML": list(styles.values()),
            "styleSLD": "",
            "useAsDefault": True,
            "description": "default style written by urbanshrink_gis",
            "owner": "",
            "ui": "",
            "update_time": _STAMP,
        }
    )
    pyogrio.write_dataframe(rows, path, layer="layer_styles", driver="GPKG", append=False)
    content = io.BytesIO()
    with zipfile.ZipFile(content, "w", zipfile.ZIP_DEFLATED) as qgz:
        info = zipfile.ZipInfo(f"{project_name}.qgs", date_time=(2000, 1, 1, 0, 0, 0))
        qgz.writestr(info, project.encode("utf-8"))
    metadata = json.dumps({"last_modified_time": _STAMP, "last_modified_user": "urbanshrink"})
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE IF NOT EXISTS qgis_projects"
            "(name TEXT PRIMARY KEY, metadata BLOB, content BLOB)"
        )
        db.execute(
            "INSERT OR REPLACE INTO qgis_projects VALUES (?, ?, ?)",
            (project_name, metadata.encode(), content.getvalue().hex().encode()),
        )
