"""Open a run's outputs in real QGIS and report what it sees, as JSON on stdout.

Run with Debian's python3 (which has ``qgis.core``), not the project's venv:
``QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/qgis_check.py OUT_DIR PNG``.
"""

import json
import sys
from pathlib import Path

from qgis.core import (
    Qgis,
    QgsApplication,
    QgsMapRendererSequentialJob,
    QgsMapSettings,
    QgsProject,
    QgsRasterLayer,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QSize
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
        report["layers"][name] = entry
    for tif in sorted((out / "rasters").glob("*.tif")):
        layer = QgsRasterLayer(str(tif), tif.stem)
        report["rasters"][tif.name] = {
            "valid": layer.isValid(),
            "renderer": layer.renderer().type() if layer.isValid() else None,
        }
    project = QgsProject.instance()
    ok = project.read(f"geopackage:{gpkg}?projectName=urbanshrink")
    layers = project.mapLayers().values()
    report["project"] = {
        "read": ok,
        "layers": sorted(layer.name() for layer in layers),
        "invalid": sorted(layer.name() for layer in layers if not layer.isValid()),
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


if __name__ == "__main__":
    app = QgsApplication([], False)
    app.initQgis()
    result = main(sys.argv[1], sys.argv[2])
    print("QGIS-JSON " + json.dumps(result))
    app.exitQgis()
