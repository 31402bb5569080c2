"""The plugin object QGIS loads: it registers the Processing provider."""

from qgis.core import QgsApplication

from .provider import UrbanShrinkProvider


class UrbanShrinkPlugin:
    """Adds the provider when loaded (``initProcessing`` also serves ``qgis_process``)."""

    def __init__(self, iface):
        self.iface = iface
        self.provider = None

    def initProcessing(self):
        self.provider = UrbanShrinkProvider()
        QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self):
        self.initProcessing()

    def unload(self):
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
