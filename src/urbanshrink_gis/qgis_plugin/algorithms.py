"""Processing algorithms mirroring the urbanshrink command line, one child process each.

Each algorithm turns its parameters into the command's arguments (:meth:`arguments`) and runs
it with :func:`.runner.run_cli`; choices (presets, statistics, coverage rules, shrink rules)
come from the registry recorded at install, so they match the command line's.
"""

from pathlib import Path

from qgis.core import (
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingOutputFile,
    QgsProcessingOutputFolder,
    QgsProcessingParameterBand,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorLayer,
)

from .runner import CliCancelled, CliError, run_cli, settings

#: Layers of a run's GeoPackage loaded into the project, top to bottom.
RUN_LAYERS = ("cities", "cities_urban", "urban_footprint")
TABLE_FILTER = "CSV (*.csv);;GeoPackage (*.gpkg);;Parquet (*.parquet)"


class CliAlgorithm(QgsProcessingAlgorithm):
    """An algorithm that runs one urbanshrink command; subclasses give its arguments."""

    NAME, TITLE, HELP = "", "", ""
    #: Parameter holding the file written, loaded into the project when done (if any).
    LOADED = "OUTPUT"

    def name(self):
        return self.NAME

    def displayName(self):
        return self.TITLE

    def shortHelpString(self):
        return self.HELP

    def createInstance(self):
        return type(self)()

    def processAlgorithm(self, parameters, context, feedback):
        arguments = self.arguments(parameters, context, feedback)
        try:
            run_cli(arguments, feedback)
        except CliCancelled as err:
            feedback.reportError(str(err))
            return {}
        except CliError as err:
            raise QgsProcessingException(str(err)) from err
        results = self.results(parameters, context)
        if "GEOPACKAGE" in results:
            feedback.pushInfo(
                f"The run's QGIS project is stored in {results['GEOPACKAGE']}: Project > Open "
                "From > GeoPackage, then choose the project 'urbanshrink'."
            )
        return results

    def arguments(self, parameters, context, feedback):
        raise NotImplementedError

    def results(self, parameters, context):
        path = self.parameterAsFileOutput(parameters, self.LOADED, context)
        name = Path(path).stem
        context.addLayerToLoadOnCompletion(
            path, QgsProcessingContext.LayerDetails(name, context.project(), self.LOADED)
        )
        return {self.LOADED: path}

    # shared parameter groups

    def add_zones(self):
        self.addParameter(
            QgsProcessingParameterVectorLayer(
                "ZONES", "City boundaries (zones)", [QgsProcessing.TypeVectorPolygon]
            )
        )
        self.addParameter(
            QgsProcessingParameterField("ZONE_ID", "Id field", parentLayerParameterName="ZONES")
        )

    def zones_arguments(self, parameters, context, feedback):
        path, layer = self.parameterAsCompatibleSourceLayerPathAndLayerName(
            parameters, "ZONES", context, ["gpkg", "shp", "geojson"], "gpkg", feedback
        )
        field = self.parameterAsString(parameters, "ZONE_ID", context)
        return path, ["--id", field, *(["--layer", layer] if layer else [])]

    def add_coverage(self):
        self.coverages = settings()["coverage"]
        self.addParameter(
            QgsProcessingParameterEnum(
                "COVERAGE", "Pixel rule", options=self.coverages, defaultValue=0
            )
        )

    def coverage(self, parameters, context):
        return self.coverages[self.parameterAsEnum(parameters, "COVERAGE", context)]

    def add_table_output(self, title="Output table"):
        self.addParameter(QgsProcessingParameterFileDestination("OUTPUT", title, TABLE_FILTER))

    def table_output(self, parameters, context):
        return ["-o", self.parameterAsFileOutput(parameters, "OUTPUT", context), "--overwrite"]


class RunConfiguration(CliAlgorithm):
    NAME, TITLE = "run", "Run a configuration"
    HELP = (
        "Runs the whole job of an urbanshrink.toml: zonal statistics per city and year, the "
        "population join, the classification, the GeoPackage, COG rasters and the report. "
        "The cities and rasters are loaded with their styles; the GeoPackage also stores a QGIS "
        "project (Project > Open From > GeoPackage). A run started again resumes."
    )

    def initAlgorithm(self, config=None):
        self.addParameter(
            QgsProcessingParameterFile("CONFIG", "Configuration (TOML)", extension="toml")
        )
        self.addParameter(QgsProcessingParameterFolderDestination("OUTPUT_FOLDER", "Output folder"))
        self.addParameter(
            QgsProcessingParameterBoolean(
                "OVERWRITE", "Replace existing outputs", defaultValue=False
            )
        )
        self.addOutput(QgsProcessingOutputFile("GEOPACKAGE", "GeoPackage"))

    def arguments(self, parameters, context, feedback):
        config = self.parameterAsFile(parameters, "CONFIG", context)
        out = self.parameterAsString(parameters, "OUTPUT_FOLDER", context)
        overwrite = self.parameterAsBoolean(parameters, "OVERWRITE", context)
        return ["run", config, "--out", out, *(["--overwrite"] if overwrite else [])]

    def results(self, parameters, context):
        out = Path(self.parameterAsString(parameters, "OUTPUT_FOLDER", context))
        gpkg = out / "urbanshrink.gpkg"
        for raster in sorted((out / "rasters").glob("*.tif")):
            details = QgsProcessingContext.LayerDetails(
                raster.stem, context.project(), "OUTPUT_FOLDER"
            )
            context.addLayerToLoadOnCompletion(str(raster), details)
        for layer in reversed(RUN_LAYERS):  # the last added is drawn on top
            source = f"{gpkg}|layername={layer}"
            details = QgsProcessingContext.LayerDetails(layer, context.project(), "GEOPACKAGE")
            if layer == "cities" or _has_layer(gpkg, layer):
                context.addLayerToLoadOnCompletion(source, details)
        return {"OUTPUT_FOLDER": str(out), "GEOPACKAGE": str(gpkg)}


def _has_layer(gpkg, layer):
    """Whether a GeoPackage holds a layer (read with sqlite3: no GDAL in this module)."""
    import sqlite3

    try:
        with sqlite3.connect(f"file:{gpkg}?mode=ro", uri=True) as db:
            row = db.execute(
                "SELECT 1 FROM gpkg_contents WHERE table_name = ?", (layer,)
            ).fetchone()
    except sqlite3.Error:
        return False
    return row is not None


class ZonalStatistics(CliAlgorithm):
    NAME, TITLE = "zonalstatistics", "Zonal statistics"
    HELP = (
        "Statistics of a raster for every polygon: pixel rule center, all_touched or exact "
        "(coverage fractions), true km² on any CRS, class counts and areas with categorical."
    )

    def initAlgorithm(self, config=None):
        record = settings()
        self.stats = record["stats"]
        self.add_zones()
        self.addParameter(QgsProcessingParameterRasterLayer("RASTER", "Raster"))
        self.addParameter(QgsProcessingParameterBand("BAND", "Band", 1, "RASTER", optional=True))
        defaults = [self.stats.index(s) for s in record["default_stats"]]
        self.addParameter(
            QgsProcessingParameterEnum(
                "STATS", "Statistics", options=self.stats, allowMultiple=True, defaultValue=defaults
            )
        )
        self.add_coverage()
        self.addParameter(
            QgsProcessingParameterBoolean(
                "CATEGORICAL", "Categorical (pixel counts per class)", defaultValue=False
            )
        )
        self.addParameter(
            QgsProcessingParameterBoolean(
                "AREAS", "With categorical: km² per class", defaultValue=False
            )
        )
        self.addParameter(
            QgsProcessingParameterRasterLayer(
                "WEIGHTS", "Weights (weighted_sum, weighted_mean)", optional=True
            )
        )
        self.add_table_output()

    def arguments(self, parameters, context, feedback):
        zones, zone_args = self.zones_arguments(parameters, context, feedback)
        raster = self.parameterAsRasterLayer(parameters, "RASTER", context).source()
        args = ["zonal", raster, zones, *zone_args]
        categorical = self.parameterAsBoolean(parameters, "CATEGORICAL", context)
        if categorical:
            args.append("--categorical")
            if self.parameterAsBoolean(parameters, "AREAS", context):
                args.append("--areas")
        else:
            chosen = self.parameterAsEnums(parameters, "STATS", context)
            args += ["--stats", " ".join(self.stats[i] for i in chosen)]
        weights = self.parameterAsRasterLayer(parameters, "WEIGHTS", context)
        if weights is not None:
            args += ["--weights", weights.source()]
        band = self.parameterAsInt(parameters, "BAND", context) or 1
        args += ["--band", str(band), "--coverage", self.coverage(parameters, context)]
        return args + self.table_output(parameters, context)


class _SeriesAlgorithm(CliAlgorithm):
    KIND, COMMAND = "", ""

    def initAlgorithm(self, config=None):
        self.presets = settings()["presets"][self.KIND]
        self.add_zones()
        self.addParameter(
            QgsProcessingParameterString(
                "PATTERN", "Raster files, with {year} (e.g. /data/CLCD_v01_{year}_albert.tif)"
            )
        )
        self.addParameter(
            QgsProcessingParameterEnum(
                "PRODUCT", "Product preset", options=self.presets, defaultValue=0
            )
        )
        self.addParameter(
            QgsProcessingParameterString(
                "YEARS", "Years (comma-separated; default: every file found)", optional=True
            )
        )
        self.add_coverage()
        self.add_table_output()

    def arguments(self, parameters, context, feedback):
        zones, zone_args = self.zones_arguments(parameters, context, feedback)
        pattern = self.parameterAsString(parameters, "PATTERN", context)
        product = self.presets[self.parameterAsEnum(parameters, "PRODUCT", context)]
        args = [self.COMMAND, pattern, zones, *zone_args, "--product", product]
        years = self.parameterAsString(parameters, "YEARS", context).strip()
        if years:
            args += ["--years", years]
        args += ["--coverage", self.coverage(parameters, context)]
        return args + self.table_output(parameters, context)


class BuiltupPerYear(_SeriesAlgorithm):
    NAME, TITLE, KIND, COMMAND = "builtup", "Built-up per year", "landcover", "builtup"
    HELP = "Built-up km² per city and year from a land-cover series (CLCD, WorldCover, ...)."


class NightlightPerYear(_SeriesAlgorithm):
    NAME, TITLE, KIND, COMMAND = "nightlight", "Night light per year", "nightlight", "nightlight"
    HELP = "Night-light sums (pixel and area-true), mean and lit km² per city and year."


class Classify(CliAlgorithm):
    NAME, TITLE = "classify", "Classify"
    HELP = "Shrinking, expanding and paradox cities from a city_year table (CSV)."

    def initAlgorithm(self, config=None):
        self.rules = settings()["rules"]
        self.addParameter(
            QgsProcessingParameterFile("CITY_YEAR", "city_year table", extension="csv")
        )
        self.addParameter(QgsProcessingParameterNumber("START", "Start year", defaultValue=2010))
        self.addParameter(QgsProcessingParameterNumber("END", "End year", defaultValue=2020))
        self.addParameter(
            QgsProcessingParameterEnum("RULE", "Rule", options=self.rules, defaultValue=0)
        )
        self.add_table_output("Cities")

    def arguments(self, parameters, context, feedback):
        rule = self.rules[self.parameterAsEnum(parameters, "RULE", context)]
        return [
            "classify", self.parameterAsFile(parameters, "CITY_YEAR", context),
            "--start", str(self.parameterAsInt(parameters, "START", context)),
            "--end", str(self.parameterAsInt(parameters, "END", context)), "--rule", rule,
            *self.table_output(parameters, context),
        ]  # fmt: skip


class Report(CliAlgorithm):
    NAME, TITLE = "report", "Report"
    HELP = "Writes the charts and report.html of a run folder again."

    def initAlgorithm(self, config=None):
        self.addParameter(
            QgsProcessingParameterFile(
                "RUN_FOLDER", "Run folder", behavior=QgsProcessingParameterFile.Folder
            )
        )
        self.addParameter(
            QgsProcessingParameterBoolean("OVERWRITE", "Replace the report", defaultValue=True)
        )
        self.addOutput(QgsProcessingOutputFolder("REPORT", "Report folder"))

    def arguments(self, parameters, context, feedback):
        folder = self.parameterAsFile(parameters, "RUN_FOLDER", context)
        overwrite = self.parameterAsBoolean(parameters, "OVERWRITE", context)
        return ["report", folder, *(["--overwrite"] if overwrite else [])]

    def results(self, parameters, context):
        folder = Path(self.parameterAsFile(parameters, "RUN_FOLDER", context))
        return {"REPORT": str(folder / "report")}


ALGORITHMS = (
    RunConfiguration,
    ZonalStatistics,
    BuiltupPerYear,
    NightlightPerYear,
    Classify,
    Report,
)
