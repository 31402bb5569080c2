"""The "Urban shrinkage" Processing provider."""

from qgis.core import QgsProcessingProvider

from . import algorithms


class UrbanShrinkProvider(QgsProcessingProvider):
    """Algorithms that mirror the urbanshrink command line (see :mod:`.algorithms`)."""

    def id(self):
        return "urbanshrink"

    def name(self):
        return "Urban shrinkage"

    def longName(self):
        return "Urban shrinkage (urbanshrink_gis)"

    def loadAlgorithms(self):
        for algorithm in algorithms.ALGORITHMS:
            self.addAlgorithm(algorithm())
