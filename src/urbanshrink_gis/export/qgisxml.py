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
group
    A folder of the project's layer tree (``cities``, ``rasters``, ``tables``).
relation
    A QGIS project relation from a parent layer to a child table sharing a key field: the
    parent's attribute form lists the child's rows (a city's time series).
print layout
    A page (A4 landscape, millimetres) with a map, its legend, a title, a scale bar and a
    source note, ready to export from *Project → Layouts*.
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

from urbanshrink_gis._files import sqlite_safe_path
from urbanshrink_gis._legend import ClassInfo, rgb

__all__ = [
    "QGIS_VERSION",
    "TABLE_QML",
    "PrintLayout",
    "ProjectLayer",
    "Relation",
    "categorized_fill_qml",
    "paletted_qml",
    "project_xml",
    "pseudocolor_qml",
    "store_in_geopackage",
    "without_palette_entries",
]

QGIS_VERSION = "3.22.16-Białowieża"
LABEL_FONT = "Noto Sans CJK SC"
#: Style of an attribute table (nothing to draw).
TABLE_QML = f'<qgis version="{QGIS_VERSION}" styleCategories="AllStyleCategories"/>'
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
        The layer's CRS; None for an attribute table.
    geometry
        Vector geometry type (``"Polygon"``), empty for attribute tables and rasters.
    visible
        Checked in the layer tree.
    group
        The layer tree group holding it; empty for the tree's root.
    title
        Its name in the print layout's legend (what a value is, with units); the layer name
        when empty.
    """

    name: str
    source: str
    kind: str
    style: str
    crs: CRS | None
    geometry: str = ""
    visible: bool = True
    group: str = ""
    title: str = ""

    @property
    def layer_id(self) -> str:
        """Stable id derived from the name."""
        return "".join(c if c.isalnum() else "_" for c in self.name) + "_urbanshrink"


@dataclass(frozen=True, slots=True)
class Relation:
    """A relation from a parent layer to a child table of a project.

    Parameters
    ----------
    name
        Name shown in the parent's attribute form.
    parent, child
        Layer names (of :class:`ProjectLayer`) of the referenced and the referencing layer.
    parent_field, child_field
        The key in each.
    """

    name: str
    parent: str
    child: str
    parent_field: str
    child_field: str

    @property
    def relation_id(self) -> str:
        """Stable id derived from the layers and fields."""
        return f"{self.child}_{self.child_field}_{self.parent}_{self.parent_field}"


@dataclass(frozen=True, slots=True)
class PrintLayout:
    """A print layout of a project: map, legend, title, scale bar and source note.

    Parameters
    ----------
    name
        Layout name (*Project → Layouts*).
    title
        Title printed above the map.
    note
        Source note printed below the map.
    """

    name: str
    title: str
    note: str


def _rgba(colour: str, opacity: float = 1.0) -> str:
    alpha = round(255 * min(max(opacity, 0.0), 1.0))
    return ",".join(str(v) for v in (*rgb(colour), alpha))


def _options(parent: ET.Element, values: Mapping[str, str]) -> None:
    opt = ET.SubElement(parent, "Option", type="Map")
    for name, value in values.items():
        ET.SubElement(opt, "Option", name=name, value=value, type="QString")


def _fill_symbol(parent: ET.Element, name: str, colour: str, fill_opacity: float = 1.0) -> None:
    symbol = ET.SubElement(
        parent, "symbol", type="fill", name=name, alpha="1", clip_to_extent="1", force_rhr="0"
    )
    layer = ET.SubElement(symbol, "layer", {"class": "SimpleFill", "pass": "0", "enabled": "1"})
    opaque = fill_opacity >= 1.0
    _options(
        layer,
        {
            "color": _rgba(colour, fill_opacity),
            # A see-through fill is outlined in its own colour, so the class stays readable
            "outline_color": "60,60,60,255" if opaque else _rgba(colour),
            "outline_style": "solid",
            "outline_width": "0.2" if opaque else "0.5",
            "outline_width_unit": "MM",
            "style": "solid",
        },
    )


def categorized_fill_qml(
    field: str,
    categories: Sequence[ClassInfo],
    *,
    label_field: str | None = None,
    fill_opacity: float = 1.0,
) -> str:
    """QML of a polygon layer coloured by the values of ``field``, labelled by another field.

    Parameters
    ----------
    field
        Attribute whose values pick the colour.
    categories
        The legend, in its order: a class's ``code`` is the value of ``field``, its ``name``
        the legend label.
    label_field
        Attribute written as labels (in a CJK-capable font); no labels when None.
    fill_opacity
        Opacity of the fill, 0 to 1; below 1 each polygon is also outlined in its colour
        (0.5 mm), so layers under it show through and the classes stay readable.

    Returns
    -------
    str
        The QML document.
    """
    root = ET.Element("qgis", version=QGIS_VERSION, styleCategories="AllStyleCategories")
    root.set("labelsEnabled", "1" if label_field else "0")
    _vector_style(root, field, categories, label_field, fill_opacity)
    return _DOCTYPE + ET.tostring(root, encoding="unicode")


def _vector_style(
    parent: ET.Element,
    field: str,
    categories: Sequence[ClassInfo],
    label_field: str | None,
    fill_opacity: float = 1.0,
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
    for i, c in enumerate(categories):
        ET.SubElement(
            cats, "category", symbol=str(i), value=str(c.code), label=c.name, render="true"
        )
        _fill_symbol(symbols, str(i), c.colour, fill_opacity)
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


# --- raster styles -----------------------------------------------------------------------------


def _decimals(limits: tuple[float, float]) -> int:
    """Fewest decimals (at most 6) that show the ramp's rounded ends exactly."""
    for decimals in range(7):
        if all(abs(round(v, decimals) - v) <= 1e-9 * max(1.0, abs(v)) for v in limits):
            return decimals
    return 6


def _raster_root(renderer: dict[str, str]) -> tuple[ET.Element, ET.Element]:
    """A QGIS 3.22 raster style: the root and its renderer element."""
    root = ET.Element(
        "qgis",
        version=QGIS_VERSION,
        styleCategories="AllStyleCategories",
        hasScaleBasedVisibilityFlag="0",
        minScale="1e+08",
        maxScale="0",
    )
    pipe = ET.SubElement(root, "pipe")
    attrs = {"opacity": "1", "alphaBand": "-1", "band": "1", "nodataColor": ""}
    element = ET.SubElement(pipe, "rasterrenderer", renderer | attrs)
    ET.SubElement(pipe, "brightnesscontrast", brightness="0", contrast="0", gamma="1")
    ET.SubElement(
        pipe,
        "huesaturation",
        saturation="0",
        grayscaleMode="0",
        colorizeOn="0",
        colorizeRed="255",
        colorizeGreen="128",
        colorizeBlue="128",
        colorizeStrength="100",
        invertColors="0",
    )
    ET.SubElement(pipe, "rasterresampler", maxOversampling="2")
    ET.SubElement(pipe, "resamplingStage").text = "resamplingFilter"
    ET.SubElement(root, "blendMode").text = "0"
    return root, element


def _raster_text(root: ET.Element) -> str:
    """A raster style file's text: indented, one line a tag."""
    ET.indent(root)
    return _DOCTYPE + ET.tostring(root, encoding="unicode") + "\n"


def paletted_qml(categories: Sequence[ClassInfo], *, nodata: float | None) -> str:
    """QML of a class raster: a paletted style, one entry per class but the nodata code.

    Parameters
    ----------
    categories
        The raster's legend, integer codes, in legend order.
    nodata
        The nodata code, left out of the palette; None when there is none.

    Returns
    -------
    str
        The QML document.
    """
    root, renderer = _raster_root({"type": "paletted"})
    palette = ET.SubElement(renderer, "colorPalette")
    for c in categories:
        if c.code != nodata:
            entry = {"value": str(c.code), "color": c.colour, "label": c.name, "alpha": "255"}
            ET.SubElement(palette, "paletteEntry", entry)
    return _raster_text(root)


def pseudocolor_qml(limits: tuple[float, float], colours: Sequence[str], *, units: str = "") -> str:
    """QML of a continuous raster: single-band pseudocolour, colours spread between limits.

    Parameters
    ----------
    limits
        Values of the first and last colour (rounded ends: they are the legend's labels).
    colours
        ``"#rrggbb"`` stops from low to high, evenly spaced.
    units
        Units of the values, the labels' suffix.

    Returns
    -------
    str
        The QML document. Its legend is QGIS's continuous ramp, the ends labelled with the
        fewest decimals that show them exactly.
    """
    low, high = limits
    decimals = _decimals(limits)
    root, renderer = _raster_root(
        {
            "type": "singlebandpseudocolor",
            "classificationMin": _number(low),
            "classificationMax": _number(high),
        }
    )
    origin = ET.SubElement(renderer, "minMaxOrigin")
    for tag, text in (
        ("limits", "None"),
        ("extent", "WholeRaster"),
        ("statAccuracy", "Estimated"),
        ("cumulativeCutLower", "0.02"),
        ("cumulativeCutUpper", "0.98"),
        ("stdDevFactor", "2"),
    ):
        ET.SubElement(origin, tag).text = text
    shader = ET.SubElement(
        ET.SubElement(renderer, "rastershader"),
        "colorrampshader",
        colorRampType="INTERPOLATED",
        classificationMode="1",  # continuous
        clip="0",
        minimumValue=_number(low),
        maximumValue=_number(high),
        labelPrecision=str(decimals),
    )
    shader.append(_gradient(colours))
    suffix = f" {units}" if units else ""
    for i, colour in enumerate(colours):
        value = low + (high - low) * i / (len(colours) - 1)
        label = f"{value:.{decimals + 2}f}".rstrip("0").rstrip(".") if value else "0"
        ET.SubElement(
            shader, "item", alpha="255", value=_number(value), label=label + suffix, color=colour
        )
    shader.append(_ramp_legend(decimals, suffix))
    return _raster_text(root)


def _ramp_legend(decimals: int, suffix: str) -> ET.Element:
    """QGIS's continuous legend of a ramp (QGIS >= 3.18): rounded ends, units as a suffix."""
    legend = ET.Element(
        "rampLegendSettings", minimumLabel="", maximumLabel="", prefix="", suffix=suffix,
        direction="0", orientation="2", useContinuousLegend="1",
    )  # fmt: skip
    number = ET.SubElement(legend, "numericFormat", id="basic")
    options = ET.SubElement(number, "Option", type="Map")
    for name, kind, value in (
        ("decimal_separator", "QChar", ""),
        ("decimals", "int", str(decimals)),
        ("rounding_type", "int", "0"),
        ("show_plus", "bool", "false"),
        ("show_thousand_separator", "bool", "true"),
        ("show_trailing_zeros", "bool", "false"),
        ("thousand_separator", "QChar", ""),
    ):
        ET.SubElement(options, "Option", name=name, type=kind, value=value)
    return legend


def _gradient(colours: Sequence[str]) -> ET.Element:
    """The QGIS gradient colour ramp through evenly spaced colours (kept for re-classifying)."""
    inner = colours[1:-1]
    stops = ":".join(f"{(i + 1) / (len(inner) + 1):g};{_rgba(c)}" for i, c in enumerate(inner))
    ramp = ET.Element("colorramp", type="gradient", name="[source]")
    options = ET.SubElement(ramp, "Option", type="Map")
    for name, value in (
        ("color1", _rgba(colours[0])),
        ("color2", _rgba(colours[-1])),
        ("discrete", "0"),
        ("rampType", "gradient"),
        ("stops", stops),
    ):
        ET.SubElement(options, "Option", type="QString", name=name, value=value)
    return ramp


def _number(value: float) -> str:
    return f"{value:.6g}"


def without_palette_entries(qml: str, codes: Sequence[str]) -> str:
    """A raster style with the palette entries of some codes left out (those pixels undrawn).

    Parameters
    ----------
    qml
        A style of :func:`paletted_qml`.
    codes
        Class codes, as text, to leave out.

    Returns
    -------
    str
        The QML document.
    """
    doctype, _, body = qml.partition("\n")
    root = ET.fromstring(body)
    for palette in root.iter("colorPalette"):
        for entry in [e for e in palette if e.get("value") in codes]:
            palette.remove(entry)
    return f"{doctype}\n{ET.tostring(root, encoding='unicode')}"


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
    relations: Sequence[Relation] = (),
    layout: PrintLayout | None = None,
) -> str:
    """A QGIS project (``.qgs``) showing ``layers``, first on top, zoomed to ``extent``.

    Parameters
    ----------
    title
        Project title.
    layers
        Layers from top to bottom of the legend; those of one ``group`` go into one layer tree
        group, placed where its first layer is.
    crs
        Project CRS (the map's); layers in other CRSs are reprojected on the fly.
    extent
        ``(xmin, ymin, xmax, ymax)`` in the project CRS.
    relations
        Relations from parent layers to child tables (by layer name).
    layout
        A print layout of the map (the visible layers) with legend, title, scale bar and note.

    Returns
    -------
    str
        The project document.
    """
    root = ET.Element("qgis", projectname=title, version=QGIS_VERSION)
    ET.SubElement(root, "homePath", path="")
    ET.SubElement(root, "title").text = title
    _srs(ET.SubElement(root, "projectCrs"), crs)
    root.append(_layer_tree(layers))
    canvas = ET.SubElement(root, "mapcanvas", name="theMapCanvas", annotationsVisible="1")
    ET.SubElement(canvas, "units").text = "degrees" if crs.is_geographic else "meters"
    box = ET.SubElement(canvas, "extent")
    for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), extent, strict=True):
        ET.SubElement(box, tag).text = repr(float(value))
    ET.SubElement(canvas, "rotation").text = "0"
    _srs(ET.SubElement(canvas, "destinationsrs"), crs)
    if relations:
        root.append(_relations(layers, relations))
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
    if layout is not None:
        ET.SubElement(root, "Layouts").append(_layout(layout, layers, crs, extent))
    return _DOCTYPE + ET.tostring(root, encoding="unicode")


def _checked(on: bool) -> str:
    return "Qt::Checked" if on else "Qt::Unchecked"


def _tree_layer(
    parent: ET.Element, layer: ProjectLayer, properties: Mapping[str, str] | None = None
) -> None:
    node = ET.SubElement(
        parent,
        "layer-tree-layer",
        id=layer.layer_id,
        name=layer.name,
        source=layer.source,
        providerKey="ogr" if layer.kind == "vector" else "gdal",
        checked=_checked(layer.visible),
        expanded="1",
    )
    if properties:  # QGIS >= 3.20 stores a node's custom properties as a variant map
        _options(ET.SubElement(node, "customproperties"), properties)


def _legend_properties(layer: ProjectLayer) -> dict[str, str]:
    """The layout legend's title of a layer and, for a raster, its nodes without the first.

    A raster's first legend node names its band (``Band 1: ... (Palette)``), which the
    title already says; the others are its classes, or its continuous colour ramp.
    """
    properties = {"legend/title-label": layer.title or layer.name}
    if layer.kind == "raster":
        style = ET.fromstring(layer.style)
        n_nodes = 1 + (len(style.findall(".//colorPalette/paletteEntry")) or 1)
        properties["legend/node-order"] = ",".join(str(i) for i in range(1, n_nodes))
    return properties


def _layer_tree(layers: Sequence[ProjectLayer]) -> ET.Element:
    """The layer tree: ungrouped layers and groups in the order of their first layer."""
    tree = ET.Element("layer-tree-group")
    groups: dict[str, ET.Element] = {}
    for layer in layers:
        parent = tree
        if layer.group:
            if layer.group not in groups:
                members = [other for other in layers if other.group == layer.group]
                groups[layer.group] = ET.SubElement(
                    tree,
                    "layer-tree-group",
                    name=layer.group,
                    checked=_checked(any(m.visible for m in members)),
                    expanded="1",
                )
            parent = groups[layer.group]
        _tree_layer(parent, layer)
    return tree


def _relations(layers: Sequence[ProjectLayer], relations: Sequence[Relation]) -> ET.Element:
    ids = {layer.name: layer.layer_id for layer in layers}
    element = ET.Element("relations")
    for rel in relations:
        relation = ET.SubElement(
            element,
            "relation",
            id=rel.relation_id,
            name=rel.name,
            referencedLayer=ids[rel.parent],
            referencingLayer=ids[rel.child],
            strength="Association",
        )
        fields = {"referencedField": rel.parent_field, "referencingField": rel.child_field}
        ET.SubElement(relation, "fieldRef", fields)
    return element


# --- print layout ------------------------------------------------------------------------------
# QGIS 3.22 layout items (QgsLayoutItemRegistry: QGraphicsItem::UserType + 100 + n).
_PAGE, _MAP, _LABEL, _LEGEND, _SCALEBAR = "65638", "65639", "65641", "65642", "65646"
_A4 = (297.0, 210.0)  # landscape, mm
_MARGIN = 10.0
_MAP_BOX = (_MARGIN, 22.0, 200.0, 170.0)  # x, y, width, height in mm
_LEGEND_X = _MARGIN + _MAP_BOX[2] + 5.0
_LEGEND_STYLES = (  # (style, font points, margins in mm)
    ("title", 11, {"marginBottom": "2"}),
    ("group", 9, {"marginTop": "2"}),
    ("subgroup", 8, {"marginTop": "2"}),
    ("symbol", 7, {"marginTop": "1.5"}),
    ("symbolLabel", 7, {"marginTop": "1", "marginLeft": "2"}),
)


def _font(size: int, *, bold: bool = False) -> str:
    """A QFont description (Qt 5): family, points, pixels, hint, weight, italic, ..."""
    return f"{LABEL_FONT},{size},-1,5,{75 if bold else 50},0,0,0,0,0"


def _colour_element(parent: ET.Element, tag: str, rgba: tuple[int, int, int, int]) -> None:
    r, g, b, a = (str(v) for v in rgba)
    ET.SubElement(parent, tag, red=r, green=g, blue=b, alpha=a)


def _item(
    parent: ET.Element, kind: str, uuid: str, box: tuple[float, float, float, float], z: int,
    **attrs: str,
) -> ET.Element:  # fmt: skip
    x, y, width, height = box
    item = ET.SubElement(
        parent,
        "LayoutItem",
        {
            "type": kind,
            "uuid": uuid,
            "templateUuid": uuid,
            "id": attrs.pop("id", ""),
            "position": f"{x:g},{y:g},mm",
            "positionOnPage": f"{x:g},{y:g},mm",
            "size": f"{width:g},{height:g},mm",
            "zValue": str(z),
            "visibility": "1",
            "frame": attrs.pop("frame", "false"),
            "background": attrs.pop("background", "false"),
            "referencePoint": "0",
            "itemRotation": "0",
            "opacity": "1",
            "blendMode": "0",
            "positionLock": "false",
            "excludeFromExports": "0",
            "groupUuid": "",
            "outlineWidthM": "0.3,mm",
            "frameJoinStyle": "miter",
            **attrs,
        },
    )
    _colour_element(item, "FrameColor", (0, 0, 0, 255))
    _colour_element(item, "BackgroundColor", (255, 255, 255, 255))
    ET.SubElement(item, "LayoutObject")
    return item


def _label(
    parent: ET.Element, uuid: str, box: tuple[float, float, float, float], text: str, size: int,
    *, bold: bool = False,
) -> None:  # fmt: skip
    item = _item(
        parent, _LABEL, uuid, box, 5, id=uuid.strip("{}"), labelText=text, htmlState="0",
        marginX="0", marginY="0", halign="1", valign="32",
    )  # fmt: skip
    ET.SubElement(item, "LabelFont", description=_font(size, bold=bold), style="")
    _colour_element(item, "FontColor", (20, 20, 20, 255))


def _fitted(
    extent: tuple[float, float, float, float], width: float, height: float
) -> tuple[float, float, float, float]:
    """``extent`` widened on one axis to the map item's aspect ratio, 3 % margin around."""
    xmin, ymin, xmax, ymax = (float(v) for v in extent)
    cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
    w, h = max(xmax - xmin, 1e-9) * 1.06, max(ymax - ymin, 1e-9) * 1.06
    if w / h < width / height:
        w = h * width / height
    else:
        h = w * height / width
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def _layout(
    layout: PrintLayout,
    layers: Sequence[ProjectLayer],
    crs: CRS,
    extent: tuple[float, float, float, float],
) -> ET.Element:
    """An A4 landscape layout: title, map, legend of the visible layers, scale bar, note."""
    element = ET.Element("Layout", name=layout.name, units="mm", printResolution="300")
    pages = ET.SubElement(element, "PageCollection")
    _item(pages, _PAGE, "{urbanshrink-page}", (0.0, 0.0, *_A4), 0, background="true")
    map_uuid = "{urbanshrink-map}"
    x, y, width, height = _MAP_BOX
    item = _item(
        element, _MAP, map_uuid, _MAP_BOX, 1, id="map", frame="true", background="true",
        keepLayerSet="false", drawCanvasItems="true", mapRotation="0", mapFlags="0",
        followPreset="false", followPresetName="", isTemporal="0", labelMargin="0,mm",
    )  # fmt: skip
    box = _fitted(extent, width, height)
    ET.SubElement(
        item, "Extent", dict(zip(("xmin", "ymin", "xmax", "ymax"), map(repr, box), strict=True))
    )
    _srs(ET.SubElement(item, "crs"), crs)
    ET.SubElement(item, "LayerSet")
    _label(element, "{urbanshrink-title}", (_MARGIN, 8.0, _A4[0] - 2 * _MARGIN, 11.0),
           layout.title, 18, bold=True)  # fmt: skip
    _label(element, "{urbanshrink-note}", (_MARGIN, y + height + 3.0, _A4[0] - 2 * _MARGIN, 12.0),
           layout.note, 7)  # fmt: skip
    legend_box = (_LEGEND_X, y, _A4[0] - _MARGIN - _LEGEND_X, height)
    legend = _item(
        element, _LEGEND, "{urbanshrink-legend}", legend_box, 3, id="legend", map_uuid=map_uuid,
        title="Legend", resizeToContents="1",
        legendFilterByAtlas="0", symbolWidth="6", symbolHeight="3.5", columnCount="1",
        columnSpace="2", boxSpace="2", wrapChar="", splitLayer="0", equalColumnWidth="0",
        rasterBorder="1", rasterBorderColor="0,0,0,255", rasterBorderWidth="0",
        titleAlignment="1", symbolAlignment="1", lineSpacing="1", fontColor="#141414",
        wmsLegendWidth="50", wmsLegendHeight="25", minSymbolSize="0", maxSymbolSize="0",
    )  # fmt: skip
    styles = ET.SubElement(legend, "styles")
    for name, size, margins in _LEGEND_STYLES:
        style = ET.SubElement(styles, "style", {"name": name, **margins})
        ET.SubElement(style, "styleFont", description=_font(size, bold=name == "title"), style="")
    tree = ET.SubElement(legend, "layer-tree-group")  # the legend's own tree: visible map layers
    for layer in layers:
        if layer.visible and (layer.kind == "raster" or layer.geometry):
            _tree_layer(tree, layer, _legend_properties(layer))
    scalebar = _item(
        element, _SCALEBAR, "{urbanshrink-scalebar}", (x + 3.0, y + height - 14.0, 60.0, 11.0), 4,
        id="scalebar", mapUuid=map_uuid, style="Single Box", background="true", unitType="km",
        unitLabel="km", numMapUnitsPerScaleBarUnit="1", numSegments="4", numSegmentsLeft="0",
        numSubdivisions="1", subdivisionsHeight="1.5", segmentSizeMode="1", minBarWidth="30",
        maxBarWidth="55", numUnitsPerSegment="100", segmentMillimeters="0", height="2.5",
        labelBarSpace="2", boxContentSpace="1.5", alignment="0", labelVerticalPlacement="0",
        labelHorizontalPlacement="0", outlineWidth="0.3", lineJoinStyle="miter",
        lineCapStyle="square",
    )  # fmt: skip
    ET.SubElement(
        scalebar, "text-style", fontFamily=LABEL_FONT, fontSize="7", fontSizeUnit="Point",
        textColor="20,20,20,255", textOpacity="1",
    )  # fmt: skip
    _colour_element(scalebar, "fillColor", (20, 20, 20, 255))
    _colour_element(scalebar, "fillColor2", (255, 255, 255, 255))
    _colour_element(scalebar, "strokeColor", (20, 20, 20, 255))
    return element


def _maplayer(layer: ProjectLayer) -> ET.Element:
    style = ET.fromstring(layer.style)
    attrs = {"type": layer.kind, "styleCategories": "AllStyleCategories"}
    if layer.geometry:
        attrs.update(geometry=layer.geometry, wkbType=f"Multi{layer.geometry}")
    elif layer.kind == "vector":  # an attribute table
        attrs.update(geometry="No geometry", wkbType="NoGeometry")
    for key in ("labelsEnabled",):
        if key in style.attrib:
            attrs[key] = style.attrib[key]
    element = ET.Element("maplayer", attrs)
    ET.SubElement(element, "id").text = layer.layer_id
    ET.SubElement(element, "datasource").text = layer.source
    ET.SubElement(element, "layername").text = layer.name
    if layer.crs is not None:
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
    with sqlite_safe_path(path) as name:
        pyogrio.write_dataframe(rows, name, layer="layer_styles", driver="GPKG", append=False)
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
