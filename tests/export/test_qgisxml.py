"""export/qgisxml.py: QGIS styles as XML, without QGIS: categories, palettes, undrawn codes."""

import xml.etree.ElementTree as ET

from qgis_styles import LEGEND, parse
from urbanshrink_gis.export import qgisxml


def test_vector_categories_are_the_legend_codes_names_and_colours():
    root = parse(qgisxml.categorized_fill_qml("class", LEGEND[1:]))
    cats = [c.attrib for c in root.findall("renderer-v2/categories/category")]
    assert [(c["value"], c["label"]) for c in cats] == [("1", "a"), ("2", "b")]
    fills = root.findall("renderer-v2/symbols/symbol/layer/Option/Option[@name='color']")
    assert [f.get("value") for f in fills] == ["16,32,48,255", "255,255,255,255"]


def test_undrawn_codes_leave_the_palette_and_nothing_else():
    qml = qgisxml.paletted_qml(LEGEND, nodata=0)
    kept = parse(qgisxml.without_palette_entries(qml, ("1",)))
    assert [e.get("value") for e in kept.iter("paletteEntry")] == ["2"]
    whole = parse(qml)
    for entry in whole.findall(".//colorPalette/paletteEntry[@value='1']"):
        whole.find(".//colorPalette").remove(entry)
    assert ET.tostring(kept) == ET.tostring(whole)
