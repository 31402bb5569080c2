"""export/cog.py: COGs and their QGIS styles: class colours and names, ramps, overwrite, failure."""

import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import rasterio
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from rasterio.transform import from_origin
from rasterio.windows import Window

from urbanshrink_gis.errors import ConfigError, OutputExistsError
from urbanshrink_gis.export import qgisxml
from urbanshrink_gis.export.cog import qml_path, write_cog
from urbanshrink_gis.metrics.change import BUILTUP_CHANGE_CLASSES, builtup_change_blocks
from urbanshrink_gis.products import ClassInfo
from urbanshrink_gis.products.presets import get_product

SHAPE = (700, 1100)  # larger than a 512 x 512 tile, so the COGs get overviews
GRID = {
    "crs": "EPSG:4326",
    "transform": from_origin(100.0, 40.0, 0.01, 0.01),
    "width": SHAPE[1],
    "height": SHAPE[0],
}
CLASSES = (
    ClassInfo(0, "nodata", "#000000"),
    ClassInfo(1, "cropland", "#fae39c"),
    ClassInfo(3, "built-up", "#e24290"),  # code 2 left out: an empty category name
)


def blocks_of(array, rows=200):
    """An array cut into strips of rows, as a block iterator would give it."""
    for r in range(0, array.shape[0], rows):
        part = array[r : r + rows]
        yield Window(0, r, array.shape[1], part.shape[0]), part


@pytest.fixture
def classes():
    rng = np.random.default_rng(7)
    return rng.choice(np.array([0, 1, 3], np.uint8), SHAPE)


@pytest.fixture
def values():
    rng = np.random.default_rng(8)
    a = rng.normal(0.0, 5.0, SHAPE).astype(np.float32)
    a[:50] = np.nan
    return a


def write_classes(path, classes, **kwargs):
    return write_cog(
        path,
        GRID,
        blocks_of(classes),
        dtype="uint8",
        nodata=0,
        description="land cover",
        units="class",
        categories=CLASSES,
        **kwargs,
    )


def write_values(path, values, **kwargs):
    options = {"description": "night-light change", "units": "nW/cm²/sr", "ramp": "diverging"}
    return write_cog(
        path, GRID, blocks_of(values), dtype="float32", nodata=np.nan, **(options | kwargs)
    )


def assert_cog(path):
    with rasterio.open(path) as ds:
        assert ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert ds.profile["tiled"] and ds.block_shapes == [(512, 512)]
        assert ds.overviews(1) == [2, 4]  # down to one tile: 1100 / 4 < 512
        assert ds.compression.name == "deflate"


def read_qml(path):
    text = qml_path(path).read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE qgis")
    root = ET.fromstring(text)
    assert root.tag == "qgis" and root.get("version") == qgisxml.QGIS_VERSION
    return root.find("pipe/rasterrenderer")


def test_class_raster_is_a_cog_with_colours_names_and_a_paletted_style(tmp_path, classes):
    path = write_classes(tmp_path / "lc.tif", classes)
    assert path == tmp_path / "lc.tif"
    assert_cog(path)
    with rasterio.open(path) as ds:
        np.testing.assert_array_equal(ds.read(1), classes)
        assert ds.nodata == 0 and ds.dtypes == ("uint8",)
        assert ds.descriptions == ("land cover",) and ds.units == ("class",)
        colours = ds.colormap(1)
        assert colours[0] == (0, 0, 0, 0)  # nodata transparent
        assert colours[1] == (0xFA, 0xE3, 0x9C, 255) and colours[3] == (0xE2, 0x42, 0x90, 255)
    pam = ET.parse(tmp_path / "lc.tif.aux.xml").getroot()
    names = [c.text or "" for c in pam.findall("PAMRasterBand[@band='1']/CategoryNames/Category")]
    assert names == ["nodata", "cropland", "", "built-up"]
    renderer = read_qml(path)
    assert renderer.get("type") == "paletted" and renderer.get("band") == "1"
    entries = [e.attrib for e in renderer.findall("colorPalette/paletteEntry")]
    assert entries == [
        {"value": "1", "color": "#fae39c", "label": "cropland", "alpha": "255"},
        {"value": "3", "color": "#e24290", "label": "built-up", "alpha": "255"},
    ]


def test_continuous_raster_has_nodata_units_scale_and_a_diverging_style(tmp_path, values):
    path = write_values(tmp_path / "d.tif", values, scale=2.0, offset=1.0)
    assert_cog(path)
    with rasterio.open(path) as ds:
        np.testing.assert_array_equal(ds.read(1), values)
        assert np.isnan(ds.nodata)
        assert ds.descriptions == ("night-light change",) and ds.units == ("nW/cm²/sr",)
        assert ds.scales == (2.0,) and ds.offsets == (1.0,)
        assert ds.tags(ns="IMAGE_STRUCTURE")["PREDICTOR"] == "3"
    assert not (tmp_path / "d.tif.aux.xml").exists()
    renderer = read_qml(path)
    assert renderer.get("type") == "singlebandpseudocolor"
    valid = values[~np.isnan(values)].astype(np.float64) * 2.0 + 1.0
    high = np.percentile(np.abs(valid), 98)  # every pixel is sampled: the grid is small
    step = 10 ** (np.floor(np.log10(high)) - 1)  # rounded up to two significant digits
    assert float(renderer.get("classificationMax")) == pytest.approx(np.ceil(high / step) * step)
    assert float(renderer.get("classificationMin")) == -float(renderer.get("classificationMax"))
    shader = renderer.find("rastershader/colorrampshader")
    assert shader.get("colorRampType") == "INTERPOLATED"
    items = shader.findall("item")
    assert [i.get("color") for i in items] == [
        "#0571b0",
        "#92c5de",
        "#f7f7f7",
        "#f4a582",
        "#ca0020",
    ]
    assert float(items[2].get("value")) == 0.0
    assert float(items[0].get("value")) == -float(items[-1].get("value"))


def test_sequential_ramp_spans_the_2nd_to_98th_percentiles(tmp_path, values):
    path = write_values(tmp_path / "s.tif", values, ramp="sequential")
    renderer = read_qml(path)
    low, high = np.percentile(values[~np.isnan(values)], [2, 98])
    step = 10 ** (np.floor(np.log10(high - low)) - 1)  # two significant digits of the span
    assert float(renderer.get("classificationMin")) == pytest.approx(np.floor(low / step) * step)
    assert float(renderer.get("classificationMax")) == pytest.approx(np.ceil(high / step) * step)
    items = renderer.findall("rastershader/colorrampshader/item")
    assert items[0].get("color") == "#440154" and items[-1].get("color") == "#fde725"


def test_ramp_legend_is_rounded_and_carries_the_units(tmp_path, values):
    shader = read_qml(write_values(tmp_path / "d.tif", values)).find("rastershader/colorrampshader")
    high = float(shader.get("maximumValue"))
    assert high == pytest.approx(float(f"{high:.2g}"))  # two significant digits, no 6 decimals
    legend = shader.find("rampLegendSettings")
    assert legend.get("suffix") == " nW/cm²/sr" and legend.get("useContinuousLegend") == "1"
    decimals = legend.find("numericFormat/Option/Option[@name='decimals']").get("value")
    assert f"{high:.{decimals}f}" == f"{high:.10f}".rstrip("0").rstrip(".")
    labels = [item.get("label") for item in shader.findall("item")]
    assert labels[2] == "0 nW/cm²/sr" and labels[-1] == f"{high:g} nW/cm²/sr"
    assert all(len(label.split()[0].partition(".")[2]) <= 3 for label in labels)


def test_category_names_are_inside_the_cog_without_the_sidecar(tmp_path, classes):
    path = write_classes(tmp_path / "lc.tif", classes)
    (tmp_path / "lc.tif.aux.xml").unlink()
    with rasterio.open(path) as ds:
        assert ds.tags(1) == {"CATEGORY_0": "nodata", "CATEGORY_1": "cropland",
                              "CATEGORY_3": "built-up"}  # fmt: skip
        assert ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert ds.colormap(1)[3] == (0xE2, 0x42, 0x90, 255)


def test_ramp_of_an_empty_raster_still_has_a_range(tmp_path):
    empty = np.full(SHAPE, np.nan, np.float32)
    renderer = read_qml(write_values(tmp_path / "e.tif", empty))
    assert (renderer.get("classificationMin"), renderer.get("classificationMax")) == ("-1", "1")


def test_written_files_pass_cog_validation(tmp_path, classes, values):
    cogeo = pytest.importorskip("rio_cogeo.cogeo", reason="rio-cogeo validates the COG layout")
    for path in (
        write_classes(tmp_path / "c.tif", classes),
        write_values(tmp_path / "v.tif", values),
    ):
        assert cogeo.cog_validate(path, strict=True) == (True, [], [])


def test_builtup_change_written_from_blocks(tmp_path, make_raster):
    start = make_raster(
        np.where(np.eye(600, 900) > 0, 8, 1).astype(np.uint8), nodata=0, name="s.tif"
    )
    end = make_raster(np.full((600, 900), 8, np.uint8), nodata=0, name="e.tif")
    with rasterio.open(start) as ref:
        path = write_cog(
            tmp_path / "out" / "change.tif",
            ref,
            builtup_change_blocks(start, end, get_product("clcd")),
            dtype="uint8",
            nodata=0,
            description="built-up change",
            categories=BUILTUP_CHANGE_CLASSES,
        )
    with rasterio.open(path) as ds:
        codes = ds.read(1)
    assert (codes[np.eye(600, 900) > 0] == 2).all() and (codes[np.eye(600, 900) == 0] == 3).all()
    labels = [e.get("label") for e in read_qml(path).findall("colorPalette/paletteEntry")]
    assert labels == ["never built-up", "stable built-up", "built-up gain", "built-up loss"]


def test_existing_output_is_kept_unless_overwrite(tmp_path, classes, values):
    path = write_classes(tmp_path / "x.tif", classes)
    before = path.read_bytes()
    with pytest.raises(
        OutputExistsError, match=r"x\.tif, .*x\.qml: output exists; pass --overwrite"
    ):
        write_values(path, values)
    assert path.read_bytes() == before
    path.unlink()
    with pytest.raises(OutputExistsError, match=r"x\.qml: output exists"):
        write_values(path, values)  # the style alone is an output too
    assert not path.exists()


def test_overwrite_replaces_the_raster_and_drops_stale_sidecars(tmp_path, classes, values):
    path = write_classes(tmp_path / "x.tif", classes)
    write_values(path, values, overwrite=True)
    with rasterio.open(path) as ds:
        assert ds.dtypes == ("float32",)
    assert not (tmp_path / "x.tif.aux.xml").exists()  # old category names would mislabel it
    assert read_qml(path).get("type") == "singlebandpseudocolor"
    write_values(path, values, ramp=None, overwrite=True)
    assert not qml_path(path).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.tif"]


def test_failed_write_leaves_nothing(tmp_path, classes):
    def failing():
        yield next(blocks_of(classes))
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        write_cog(tmp_path / "f.tif", GRID, failing(), dtype="uint8", nodata=0, description="f")
    assert list(tmp_path.iterdir()) == []


def test_progress_counts_pixels_then_the_cog_copy(tmp_path, classes):
    calls = []
    write_classes(tmp_path / "p.tif", classes, progress=lambda *call: calls.append(call))
    pixels = SHAPE[0] * SHAPE[1]
    total = pixels + math.ceil(pixels * 0.4)  # the copy with overviews: 40 % of the blocks
    blocks = [min(r + 200, SHAPE[0]) * SHAPE[1] for r in range(0, SHAPE[0], 200)]
    assert calls == [(done, total) for done in [*blocks, total]]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"categories": CLASSES, "ramp": "diverging"}, "both categories and a colour ramp"),
        ({"categories": CLASSES, "dtype": "int16"}, "uint8 or uint16 codes, not int16"),
        ({"categories": ()}, "list of categories is empty"),
        ({"ramp": "rainbow"}, "unknown colour ramp 'rainbow'; use one of diverging, sequential"),
    ],
)
def test_bad_requests_are_config_errors(tmp_path, classes, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        write_cog(
            tmp_path / "b.tif",
            GRID,
            blocks_of(classes),
            **({"dtype": "uint8", "nodata": 0, "description": "b"} | kwargs),
        )
    assert list(tmp_path.iterdir()) == []


class ArrayStrips:
    """Strips of an array (a Strips source: it pickles, so processes can compute it)."""

    def __init__(self, array):
        self.array = array

    def strip(self, row, end):
        for w, part in blocks_of(self.array[row:end], rows=512):
            yield Window(w.col_off, w.row_off + row, w.width, w.height), part


@pytest.mark.parametrize("scheduler", ["synchronous", "threads", "processes"])
def test_strips_written_side_by_side_equal_the_blocks_written_in_one(
    tmp_path, monkeypatch, values, classes, scheduler
):
    from urbanshrink_gis import Engine
    from urbanshrink_gis.export import cog

    monkeypatch.setattr(cog, "_TASK_PIXELS", 512 * 512)  # two strips of 512 and 188 rows
    engine = Engine(scheduler=scheduler, workers=2)
    one = write_values(tmp_path / "one.tif", values)
    strips = write_cog(
        tmp_path / "strips.tif", GRID, ArrayStrips(values), dtype="float32", nodata=np.nan,
        description="night-light change", units="nW/cm²/sr", ramp="diverging", engine=engine,
    )  # fmt: skip
    one_classes = write_classes(tmp_path / "one_classes.tif", classes)
    strip_classes = write_cog(
        tmp_path / "strip_classes.tif", GRID, ArrayStrips(classes), dtype="uint8", nodata=0,
        description="land cover", units="class", categories=CLASSES, engine=engine,
    )  # fmt: skip
    for a, b in ((one, strips), (one_classes, strip_classes)):
        assert_cog(b)
        with rasterio.open(a) as x, rasterio.open(b) as y:
            np.testing.assert_array_equal(x.read(1), y.read(1))
            overview = (175, 275)  # the overviews too
            np.testing.assert_array_equal(
                x.read(1, out_shape=overview), y.read(1, out_shape=overview)
            )
            assert (x.descriptions, x.units, x.tags(1)) == (y.descriptions, y.units, y.tags(1))
            np.testing.assert_array_equal(x.nodatavals, y.nodatavals)  # NaN equals NaN here
            assert x.transform == y.transform and x.crs == y.crs
            if x.dtypes[0] == "uint8":
                assert x.colormap(1) == y.colormap(1)
        assert qml_path(a).read_text() == qml_path(b).read_text()  # same ramp limits
    names = ("one", "strips", "one_classes", "strip_classes")
    expected = [f"{n}{ext}" for n in names for ext in (".tif", ".qml")]
    expected += ["one_classes.tif.aux.xml", "strip_classes.tif.aux.xml"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(expected)  # no strip left


@pytest.mark.parametrize("scheduler", ["threads", "processes"])
def test_rasters_copied_side_by_side_equal_those_written_one_by_one(
    tmp_path, values, classes, scheduler
):
    from urbanshrink_gis import Engine
    from urbanshrink_gis.export.cog import CogRequest, write_cogs

    alone = [write_values(tmp_path / "v.tif", values), write_classes(tmp_path / "c.tif", classes)]
    together = tmp_path / "together"
    requests = [
        CogRequest(together / "v.tif", GRID, ArrayStrips(values), "float32", np.nan,
                   "night-light change", units="nW/cm²/sr", ramp="diverging"),
        CogRequest(together / "c.tif", GRID, blocks_of(classes), "uint8", 0, "land cover",
                   units="class", categories=CLASSES),
    ]  # fmt: skip
    written = write_cogs(requests, engine=Engine(scheduler=scheduler, workers=2))
    assert written == [together / "v.tif", together / "c.tif"]
    for a, b in zip(alone, written, strict=True):
        assert_cog(b)
        assert a.read_bytes() == b.read_bytes()  # the same COG, byte for byte
        assert qml_path(a).read_text() == qml_path(b).read_text()
    assert sorted(p.name for p in together.iterdir()) == ["c.qml", "c.tif", "c.tif.aux.xml",
                                                          "v.qml", "v.tif"]  # fmt: skip


def test_rasters_written_together_are_all_written_or_none(tmp_path, values, classes):
    from urbanshrink_gis.export.cog import CogRequest, write_cogs

    def failing():
        yield next(blocks_of(classes))
        raise RuntimeError("disk on fire")

    requests = [
        CogRequest(tmp_path / "v.tif", GRID, blocks_of(values), "float32", np.nan, "v",
                   ramp="diverging"),
        CogRequest(tmp_path / "c.tif", GRID, failing(), "uint8", 0, "c", categories=CLASSES),
    ]  # fmt: skip
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_cogs(requests)
    assert list(tmp_path.iterdir()) == []  # the first raster, rendered, was not kept either
    write_values(tmp_path / "v.tif", values)
    with pytest.raises(OutputExistsError, match="output exists"):
        write_cogs([CogRequest(tmp_path / "w.tif", GRID, blocks_of(values), "float32", np.nan,
                               "w"), requests[0]])  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.qml", "v.tif"]  # nothing started


class TileStrips(ArrayStrips):
    """Strips of an array in tiles of ``tile`` rows x columns (windows off the COG's tiles)."""

    def __init__(self, array, tile):
        super().__init__(array)
        self.tile = tile

    def strip(self, row, end):
        rows, cols = self.tile
        for r in range(row, end, rows):
            for c in range(0, self.array.shape[1], cols):
                part = self.array[r : min(r + rows, end), c : c + cols]
                yield Window(c, r, part.shape[1], part.shape[0]), part


def gdal_cog(tmp_path, array):
    """GDAL's own COG of a class raster's pixels: a plain GeoTIFF copied by the COG driver."""
    import rasterio.shutil

    from urbanshrink_gis.export.cog import _cog_options

    h, w = array.shape
    plain, cog = tmp_path / "plain.tif", tmp_path / "gdal.tif"
    grid = {**GRID, "width": w, "height": h}
    with rasterio.open(plain, "w", driver="GTiff", count=1, dtype="uint8", nodata=0, **grid) as d:
        d.write(array, 1)
    rasterio.shutil.copy(plain, cog, driver="COG", **_cog_options("uint8", CLASSES))
    return cog


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    shape=st.tuples(st.integers(1, 1800), st.integers(1, 1800)),
    tile=st.tuples(st.integers(1, 700), st.integers(1, 1200)),
    strip_tiles=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
@example(shape=(1025, 1537), tile=(512, 1537), strip_tiles=1, seed=0)  # sizes odd at each level
@example(shape=(1, 1500), tile=(1, 700), strip_tiles=1, seed=1)  # a level would be empty
def test_class_overviews_taken_with_the_strips_are_gdals(tmp_path_factory, shape, tile,
                                                         strip_tiles, seed):  # fmt: skip
    from unittest import mock

    from urbanshrink_gis import Engine
    from urbanshrink_gis.export import cog

    tmp_path = tmp_path_factory.mktemp("ovr")
    array = np.random.default_rng(seed).integers(0, 4, shape, dtype=np.uint8)
    grid = {**GRID, "width": shape[1], "height": shape[0]}
    (tmp_path / "strips").mkdir()
    strips = math.ceil(shape[0] / 512 / strip_tiles)  # strips of strip_tiles x 512 rows
    with mock.patch.object(cog, "_TASK_PIXELS", 1), mock.patch.object(cog, "_MIN_TASKS", strips):
        rendered = cog.render(
            tmp_path / "strips", grid, TileStrips(array, tile), dtype="uint8", nodata=0,
            overviews=True, engine=Engine(scheduler="synchronous"),
        )  # fmt: skip
    levels = cog.nearest_overviews(shape[1], shape[0])
    assert len(rendered.overviews) == len(levels)
    reference = gdal_cog(tmp_path, array)
    for level, files in enumerate(rendered.overviews):  # the strips' levels are GDAL's
        strips = []
        for path in files:
            with rasterio.open(path) as part:
                strips.append(part.read(1))
        with rasterio.open(reference, overview_level=level) as y:
            np.testing.assert_array_equal(np.vstack(strips), y.read(1))
    ours = write_cog(
        tmp_path / "ours.tif", grid, rendered, dtype="uint8", nodata=0,
        description="land cover", categories=CLASSES,
    )  # fmt: skip
    with rasterio.open(ours) as x, rasterio.open(reference) as y:
        assert x.overviews(1) == y.overviews(1)
        np.testing.assert_array_equal(x.read(1), array)
    for level in range(len(levels)):
        with (
            rasterio.open(ours, overview_level=level) as x,
            rasterio.open(reference, overview_level=level) as y,
        ):
            np.testing.assert_array_equal(x.read(1), y.read(1))
