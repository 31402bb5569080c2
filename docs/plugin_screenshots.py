"""Screenshots of the "Urban shrinkage" Processing toolbox and an algorithm dialog, headless.

Run with Debian's python3 (``qgis``), after ``urbanshrink qgis-plugin install``:
``QT_QPA_PLATFORM=offscreen /usr/bin/python3 docs/plugin_screenshots.py PLUGINS_DIR OUT_DIR``.
Writes ``qgis_plugin_toolbox.png`` and ``qgis_plugin_dialog.png``.
"""

import os
import sys
from pathlib import Path

from qgis.core import QgsApplication
from qgis.PyQt.QtCore import QSize


def main(plugins: str, out: str) -> None:
    """Write the two screenshots of the provider into `out`."""
    app = QgsApplication([], True)
    app.initQgis()
    sys.path.insert(0, "/usr/share/qgis/python/plugins")
    sys.path.insert(0, plugins)
    from processing.core.Processing import Processing
    from urbanshrink.provider import UrbanShrinkProvider

    Processing.initialize()
    provider = UrbanShrinkProvider()
    QgsApplication.processingRegistry().addProvider(provider)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)

    from processing.gui.AlgorithmDialog import AlgorithmDialog

    alg = QgsApplication.processingRegistry().algorithmById("urbanshrink:zonalstatistics")
    dialog = AlgorithmDialog(alg.create())
    dialog.resize(QSize(900, 640))
    dialog.show()
    app.processEvents()
    dialog.grab().save(str(folder / "qgis_plugin_dialog.png"))

    from qgis.gui import QgsProcessingToolboxTreeView

    toolbox = QgsProcessingToolboxTreeView(None, QgsApplication.processingRegistry())
    toolbox.setFilterString("urbanshrink")
    toolbox.resize(QSize(380, 260))
    toolbox.setHeaderHidden(True)
    toolbox.show()
    toolbox.expandAll()
    app.processEvents()
    toolbox.grab().save(str(folder / "qgis_plugin_toolbox.png"))
    os._exit(0)  # QGIS's teardown of a standalone GUI application may crash; the files are done


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
