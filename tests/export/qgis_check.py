"""Open a run's outputs in real QGIS and report what it sees, as JSON on stdout.

Run with Debian's python3 (which has ``qgis.core``), not the project's venv:
``QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/export/qgis_check.py OUT_DIR PNG``.
"""

import json
import shutil
import sys
import tempfile
from pathlib import Path

from osgeo import gdal
from qgis.core import (
    Qgis,
    QgsApplication,
    QgsColorRampLegendNode,
    QgsLayerTreeGroup,
    QgsLayerTreeLayer,
    QgsLayoutExporter,
    QgsLayoutItemLabel,
    QgsLayoutItemLegend,
    QgsLayoutItemMap,
    QgsLayoutItemScaleBar,
    QgsMapRendererSequentialJob,
    QgsMapSettings,
    QgsNumericFormatContext,
    QgsProject,
    QgsRasterLayer,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QSize, Qt
from qgis.PyQt.QtGui import QColor


def main(out_dir: str, png: str) -> dict:
    messages = []
    QgsApplication.messageLog().messageReceived.connect(
        lambda msg, tag, level: messages.append([tag, int(level), msg])
    )
    out = Path(out_dir)
    gpkg = out / "urbanshrink.gpkg"
    report = {"layers": {}, "rasters": {}, "project": {}}
    for name in ("cities", "city_year", "summary"):
        layer = QgsVectorLayer(f"{gpkg}|layername={name}", name, "ogr")
        entry = {"valid": layer.isValid(), "features": layer.featureCount()}
        if layer.isValid() and layer.isSpatial():
            renderer = layer.renderer()
            entry["renderer"] = renderer.type()
            entry["categories"] = len(getattr(renderer, "categories", lambda: [])())
            entry["labels"] = layer.labelsEnabled()
            symbols = [c.symbol().clone() for c in getattr(renderer, "categories", list)()]
            fills = [symbol.symbolLayer(0) for symbol in symbols]  # the symbols kept alive
            entry["fill_alpha"] = sorted({f.color().alpha() for f in fills})
            entry["outline_alpha"] = sorted({f.strokeColor().alpha() for f in fills})
        report["layers"][name] = entry
    for tif in sorted((out / "rasters").glob("*.tif")):
        layer = QgsRasterLayer(str(tif), tif.stem)
        report["rasters"][tif.name] = {
            "valid": layer.isValid(),
            "renderer": layer.renderer().type() if layer.isValid() else None,
            "legend": _legend_labels(layer),
            "alone": _without_sidecars(tif),
        }
    project = QgsProject.instance()
    ok = project.read(f"geopackage:{gpkg}?projectName=urbanshrink")
    layers = project.mapLayers().values()
    root = project.layerTreeRoot()
    report["project"] = {
        "read": ok,
        "layers": sorted(layer.name() for layer in layers),
        "invalid": sorted(layer.name() for layer in layers if not layer.isValid()),
        "crs": project.crs().toProj(),
        "crs_valid": project.crs().isValid(),
        "groups": {
            group.name(): [child.name() for child in group.children()]
            for group in root.children()
            if isinstance(group, QgsLayerTreeGroup)
        },
        "visible": [node.name() for node in root.findLayers() if node.isVisible()],
        "relations": [
            {
                "name": rel.name(),
                "valid": rel.isValid(),
                "parent": rel.referencedLayer().name() if rel.referencedLayer() else None,
                "child": rel.referencingLayer().name() if rel.referencingLayer() else None,
                "fields": sorted(rel.fieldPairs().items()),  # (child field, parent field)
                "children_of_first": _children_of_first(rel),
            }
            for rel in project.relationManager().relations().values()
        ],
        "layouts": [_layout(lay, png) for lay in project.layoutManager().printLayouts()],
        "palettes": {
            layer.name(): [c.label for c in layer.renderer().classes()]
            for layer in layers
            if isinstance(layer, QgsRasterLayer) and layer.renderer().type() == "paletted"
        },
    }
    settings = QgsMapSettings()
    order = [
        project.layerTreeRoot().findLayer(lid).layer()
        for lid in project.layerTreeRoot().findLayerIds()
    ]
    settings.setLayers([layer for layer in order if layer is not None])
    settings.setDestinationCrs(project.crs())
    canvas = project.viewSettings().defaultViewExtent()
    settings.setExtent(canvas if not canvas.isEmpty() else settings.fullExtent())
    settings.setOutputSize(QSize(800, 600))
    settings.setBackgroundColor(QColor(255, 255, 255))
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    image.save(png)
    colours = {image.pixel(x, y) for x in range(0, 800, 20) for y in range(0, 600, 20)}
    report["render"] = {"distinct_colours": len(colours), "png": png}
    report["warnings"] = [m for m in messages if m[1] >= int(Qgis.Warning)]
    return report


def _legend_labels(layer) -> list[str]:
    """The texts QGIS's legend shows for a layer (class names, a ramp's ends with units)."""
    if not layer.isValid():
        return []
    texts = []
    for node in layer.legend().createLayerTreeModelLegendNodes(QgsLayerTreeLayer(layer)):
        if isinstance(node, QgsColorRampLegendNode):  # continuous: its two ends, as drawn
            settings = node.settings()
            shader = layer.renderer().shader().rasterShaderFunction()
            number = settings.numericFormat()
            context = QgsNumericFormatContext()
            texts += [
                number.formatDouble(value, context) + settings.suffix()
                for value in (shader.minimumValue(), shader.maximumValue())
            ]
        else:
            texts.append(str(node.data(Qt.DisplayRole)))
    return texts


def _without_sidecars(tif: Path) -> dict:
    """What QGIS's GDAL reads from the raster copied alone (no .aux.xml, no .qml)."""
    with tempfile.TemporaryDirectory() as folder:
        alone = Path(folder) / tif.name
        shutil.copyfile(tif, alone)
        dataset = gdal.Open(str(alone))  # kept: its band dies with it
        band = dataset.GetRasterBand(1)
        result = {
            "metadata": band.GetMetadata(),
            "category_names": band.GetCategoryNames(),
            "colours": band.GetColorTable() is not None,
        }
        band = dataset = None  # closes the file
        layer = QgsRasterLayer(str(alone), tif.stem)
        html = layer.htmlMetadata()
        del layer
    result["qgis_metadata_has_names"] = all(name in html for name in result["metadata"].values())
    return result


def _children_of_first(rel) -> int:
    parent = next(rel.referencedLayer().getFeatures(), None)
    return 0 if parent is None else len(list(rel.getRelatedFeatures(parent)))


def _layout(layout, png: str) -> dict:
    items = layout.items()
    maps = [i for i in items if isinstance(i, QgsLayoutItemMap)]
    legends = [i for i in items if isinstance(i, QgsLayoutItemLegend)]
    bars = [i for i in items if isinstance(i, QgsLayoutItemScaleBar)]
    labels = [i.text() for i in items if isinstance(i, QgsLayoutItemLabel)]
    path = str(Path(png).with_name(f"layout_{layout.name()}.png"))
    settings = QgsLayoutExporter.ImageExportSettings()
    settings.dpi = 60
    settings.exportMetadata = False
    result = QgsLayoutExporter(layout).exportToImage(path, settings)
    legend_names = []
    if legends:
        model = legends[0].model()
        legend_names = [
            n.customProperty("legend/title-label") or n.name()
            for n in model.rootGroup().findLayers()
        ]
    return {
        "name": layout.name(),
        "maps": len(maps),
        "map_layers": [layer.name() for layer in maps[0].layersToRender()] if maps else [],
        "map_crs": maps[0].crs().toProj() if maps else None,
        "legends": len(legends),
        "legend_layers": legend_names,
        "scalebars": len(bars),
        "scalebar_units": [bar.units() for bar in bars],
        "labels": labels,
        "export": int(result),
        "png": path,
    }


if __name__ == "__main__":
    app = QgsApplication([], False)
    app.initQgis()
    result = main(sys.argv[1], sys.argv[2])
    print("QGIS-JSON " + json.dumps(result))
    app.exitQgis()
