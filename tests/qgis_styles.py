"""Shared by the style tests: a small legend and the parser of a QGIS .qml text."""

import xml.etree.ElementTree as ET

from urbanshrink_gis.products import ClassInfo

LEGEND = (
    ClassInfo(0, "nodata", "#000000"),
    ClassInfo(1, "a", "#102030"),
    ClassInfo(2, "b", "#ffffff"),
)


def parse(qml):
    """The style's root element, after checking the DOCTYPE line QGIS writes."""
    doctype, _, body = qml.partition("\n")
    assert doctype == "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>"
    return ET.fromstring(body)
