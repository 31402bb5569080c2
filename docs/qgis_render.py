"""Render a run's stored QGIS project headless: the map as opened, a city close up, the layout.

Run with Debian's python3 (which has ``qgis.core``), not the project's venv; docs/screenshots.py
calls it: ``QT_QPA_PLATFORM=offscreen /usr/bin/python3 docs/qgis_render.py OUT_DIR DOCS_DIR``.
"""

import sys
from pathlib import Path

from qgis.core import (
    QgsApplication,
    QgsCoordinateTransform,
    QgsLayoutExporter,
    QgsMapRendererParallelJob,
    QgsMapSettings,
    QgsProject,
    QgsRectangle,
)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor

CLOSE_UP = "230400"  # 鹤岗: the demo's new district that stays dark
CLOSE_UP_KM = 120  # width of the close-up


def render(project: QgsProject, extent, path: Path, size=(900, 650)) -> None:
    """The project's visible layers in tree order over ``extent``, as the canvas draws them."""
    root = project.layerTreeRoot()
    settings = QgsMapSettings()
    settings.setLayers([n.layer() for n in root.findLayers() if n.isVisible() and n.layer()])
    settings.setDestinationCrs(project.crs())
    settings.setTransformContext(project.transformContext())
    settings.setExtent(extent)
    settings.setOutputSize(QSize(*size))
    settings.setBackgroundColor(QColor(255, 255, 255))
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    job.renderedImage().save(str(path))


def main(out_dir: str, docs: str) -> None:
    """Write qgis_project.png, qgis_close_up.png and qgis_layout.png into ``docs``."""
    gpkg = Path(out_dir) / "urbanshrink.gpkg"
    folder = Path(docs)
    project = QgsProject.instance()
    if not project.read(f"geopackage:{gpkg}?projectName=urbanshrink"):
        raise SystemExit(f"cannot read the project in {gpkg}")
    render(project, project.viewSettings().defaultViewExtent(), folder / "qgis_project.png")
    cities = project.mapLayersByName("cities")[0]
    (city,) = cities.getFeatures(f"\"city_id\" = '{CLOSE_UP}'")
    to_map = QgsCoordinateTransform(cities.crs(), project.crs(), project)
    centre = to_map.transform(city.geometry().centroid().asPoint())
    half = CLOSE_UP_KM * 500  # metres either side of the centroid
    box = QgsRectangle(centre.x() - half, centre.y() - half, centre.x() + half, centre.y() + half)
    render(project, box, folder / "qgis_close_up.png", size=(650, 650))
    (layout,) = project.layoutManager().printLayouts()
    settings = QgsLayoutExporter.ImageExportSettings()
    settings.dpi = 110
    settings.exportMetadata = False
    result = QgsLayoutExporter(layout).exportToImage(str(folder / "qgis_layout.png"), settings)
    if result != QgsLayoutExporter.Success:
        raise SystemExit(f"layout export failed ({result})")


if __name__ == "__main__":
    app = QgsApplication([], False)
    app.initQgis()
    main(sys.argv[1], sys.argv[2])
    app.exitQgis()
