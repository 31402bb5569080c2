"""Run one algorithm of the installed "Urban shrinkage" provider inside QGIS, as JSON on stdout.

Run with Debian's python3 (``qgis.core``), not the project's venv:
``QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/qgis_algorithm.py PLUGINS_DIR ALG PARAMS.json
[--cancel-on-progress]``. With ``--cancel-on-progress`` the feedback is cancelled at the first
progress update, as the dialog's Cancel button does. Prints ``QGIS-JSON {...}`` with the
results, the progress values seen and the messages.
"""

import json
import sys

from qgis.core import QgsApplication, QgsProcessingContext, QgsProcessingFeedback, QgsProject


class Feedback(QgsProcessingFeedback):
    def __init__(self, cancel_on_progress):
        super().__init__()
        self.cancel_on_progress = cancel_on_progress
        self.seen, self.texts, self.errors = [], [], []
        self.progressChanged.connect(self._moved)

    def _moved(self, value):
        self.seen.append(value)
        if self.cancel_on_progress and value > 0:
            self.cancel()

    def setProgressText(self, text):
        self.texts.append(text)

    def reportError(self, error, fatalError=False):
        self.errors.append(error)


def main(plugins, algorithm, params_file, cancel):
    app = QgsApplication([], False)
    app.initQgis()
    sys.path.insert(0, plugins)
    from urbanshrink.provider import UrbanShrinkProvider

    provider = UrbanShrinkProvider()
    QgsApplication.processingRegistry().addProvider(provider)
    alg = QgsApplication.processingRegistry().createAlgorithmById(f"urbanshrink:{algorithm}")
    with open(params_file, encoding="utf-8") as f:
        params = json.load(f)
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    feedback = Feedback(cancel)
    results, ok = alg.run(params, context, feedback)
    loaded = [d.name for d in context.layersToLoadOnCompletion().values()]
    print("QGIS-JSON " + json.dumps({
        "ok": ok, "results": results, "progress": feedback.seen, "texts": feedback.texts,
        "errors": feedback.errors, "cancelled": feedback.isCanceled(), "loaded": loaded,
    }))  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], "--cancel-on-progress" in sys.argv)
