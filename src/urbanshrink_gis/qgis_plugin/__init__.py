"""QGIS plugin: the "Urban shrinkage" Processing provider.

Only QGIS and the standard library are imported here: every algorithm runs the urbanshrink
command line of the environment recorded at install (``urbanshrink qgis-plugin install``) as a
child process, so rasterio's and geopandas' GDAL never load into QGIS's process.
"""


def classFactory(iface):
    """Entry point QGIS calls when it loads the plugin."""
    from .plugin import UrbanShrinkPlugin

    return UrbanShrinkPlugin(iface)
