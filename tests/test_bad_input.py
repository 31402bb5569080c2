# Integration tests: bad input through the CLI, the run end to end (every stage), not one module.
"""Bad input and failure safety: one line, exit code 2, nothing lost, no temporary files left.

Every case breaks one thing of the tiny runnable dataset of conftest.py (two cities on a 64 x 64
grid, tiled DEFLATE GeoTIFFs), runs the CLI over an output folder that holds a previous run's
outputs and checks that the run stops with one line naming the file, the field or value and the
fix, while the folder stays byte-for-byte as it was. The fuzz tests of the readers are in
pipeline/test_config.py, io/test_boundaries.py and io/test_population.py.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner, Result
from shapely.geometry import LineString, Point, Polygon, box

import urbanshrink_gis.metrics
from conftest import (
    CITIES,
    POPULATION,
    RES,
    SIZE,
    assert_one_line_error,
    boundaries_frame,
    edit_config,
    landcover,
    nightlight,
    write_boundaries,
    write_raster,
)
from urbanshrink_gis.cli import cli
from urbanshrink_gis.errors import UrbanShrinkError
from urbanshrink_gis.export import qgisxml
from urbanshrink_gis.pipeline import scopes

try:
    from urbanshrink_gis.pipeline.checkpoints import CHECKPOINT_DIR
except ImportError:  # before resumable runs
    CHECKPOINT_DIR = ".checkpoints"


# --- the tiny dataset's tiles, and its output folder ----------------------------------------


def tiff_tiles(path: Path) -> list[tuple[int, int]]:
    """(offset, byte count) of every tile of a classic little-endian tiled GeoTIFF."""
    data = path.read_bytes()
    assert data[:4] == b"II*\x00", "expected a classic little-endian TIFF"
    (ifd,) = struct.unpack_from("<I", data, 4)
    (n,) = struct.unpack_from("<H", data, ifd)
    tags = {}
    for i in range(n):
        tag, kind, count, value = struct.unpack_from("<HHII", data, ifd + 2 + 12 * i)
        size = {3: 2, 4: 4}[kind] if tag in (324, 325) else 0
        if tag in (324, 325):
            fmt = "<" + ("H" if size == 2 else "I") * count
            where = ifd + 10 + 12 * i if count * size <= 4 else value
            tags[tag] = struct.unpack_from(fmt, data, where)
    return list(zip(tags[324], tags[325], strict=True))


def corrupt_tile(path: Path, index: int = -1) -> None:
    """Overwrite the DEFLATE stream of one tile: the header reads fine, that block does not."""
    offset, count = tiff_tiles(path)[index]
    with path.open("r+b") as f:
        f.seek(offset + 2)  # keep the zlib header, break the stream behind it
        f.write(b"\xff" * max(count - 2, 1))


def hash_tree(folder: Path) -> dict[str, str]:
    """Relative path to SHA-256 of every file under ``folder`` (hidden files too).

    The checkpoints of resumable runs are left out: a failed run keeps the years it finished
    there on purpose, and they are no output.
    """
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.relative_to(folder).parts[0] != CHECKPOINT_DIR
    }


# --- the catalogue -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Case:
    """A broken input: how to break the tiny dataset and what the one line must say.

    ``needles`` name the file, the field or value and the fix; ``args`` replace the default
    ``run CONFIG --out OUT --overwrite`` (with ``{cfg}``, ``{root}`` and ``{out}`` filled in).
    """

    id: str
    breaks: Callable[[Path], None]
    needles: tuple[str, ...]
    args: tuple[str, ...] = ("run", "{cfg}", "--out", "{out}", "--overwrite")
    marks: tuple = ()


def _noop(root: Path) -> None:
    return None


def _config(text: str) -> Callable[[Path], None]:
    return lambda root: (root / "urbanshrink.toml").write_text(text, encoding="utf-8")


def _edit(old: str, new: str) -> Callable[[Path], None]:
    return lambda root: edit_config(root, old, new)


def _boundaries(change: Callable[[gpd.GeoDataFrame], gpd.GeoDataFrame]) -> Callable[[Path], None]:
    return lambda root: write_boundaries(root, change(boundaries_frame()))


def _set(column: str, values: list) -> Callable[[gpd.GeoDataFrame], gpd.GeoDataFrame]:
    return lambda gdf: gdf.assign(**{column: values})


def _geometries(geoms: list) -> Callable[[gpd.GeoDataFrame], gpd.GeoDataFrame]:
    return lambda gdf: gdf.set_geometry(gpd.GeoSeries(geoms, crs=gdf.crs))


def _raster(name: str, make: Callable[[Path], None]) -> Callable[[Path], None]:
    return lambda root: make(root / "rasters" / name)


def _population(content: bytes | str) -> Callable[[Path], None]:
    def write(root: Path) -> None:
        data = content.encode("utf-8") if isinstance(content, str) else content
        (root / "population.csv").write_bytes(data)

    return write


def _population_rows(change: Callable[[str], str]) -> Callable[[Path], None]:
    return _population(change(POPULATION))


def _excel_population(root: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "2010-2020"
    for line in POPULATION.splitlines():
        sheet.append(line.split(","))
    book.save(root / "population.xlsx")
    edit_config(root, 'path = "population.csv"', 'path = "population.xlsx"\nsheet = "人口"')


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    offset, _ = tiff_tiles(path)[-1]
    path.write_bytes(data[: offset + 4])


def _both(*steps: Callable[[Path], None]) -> Callable[[Path], None]:
    def run(root: Path) -> None:
        for step in steps:
            step(root)

    return run


CASES = [
    # configuration
    Case("config missing", _noop, ("nope.toml", "file not found", "check the configuration path"),
         args=("run", "{root}/nope.toml", "--out", "{out}", "--overwrite")),
    Case("config not TOML", _config("[boundaries\npath = 'x'"),
         ("urbanshrink.toml", "not valid TOML", "fix the syntax")),
    Case("config is a folder", _noop, ("rasters", "not a file", "configuration"),
         args=("run", "{root}/rasters", "--out", "{out}", "--overwrite")),
    Case("unknown key", _edit("end = 2020", "end = 2020\nshrink_rul = 'period'"),
         ("urbanshrink.toml [analysis]", "unknown key 'shrink_rul'", "did you mean 'shrink_rule'")),
    Case("unknown section", _edit("[analysis]", "[analysys]"),
         ("urbanshrink.toml", "unknown key 'analysys'", "did you mean 'analysis'")),
    Case("wrong value type", _edit("end = 2020", 'end = "2020"'),
         ("urbanshrink.toml [analysis] end", "'2020' is a str, not int", "write a int value")),
    Case("start not before end", _edit("end = 2020", "end = 2010"),
         ("urbanshrink.toml", "[analysis]", "end year 2010 is not after start year 2010",
          "set a later end year")),
    Case("missing section", _edit("[analysis]\nstart = 2010\nend = 2020", ""),
         ("urbanshrink.toml", "missing section [analysis]", "add a [analysis] table")),
    Case("unknown raster kind", _edit('kind = "landcover"', 'kind = "landcovr"'),
         ("urbanshrink.toml [[rasters]] #1 kind", "'landcovr'", "did you mean 'landcover'")),
    Case("unknown product preset", _edit('product = "clcd"', 'product = "clcdd"'),
         ("urbanshrink.toml [[rasters]] #1", "unknown product 'clcdd'", "choose from", "clcd")),
    Case("bad product override", _edit('product = "clcd"', 'product = "clcd"\nnodata = "none"'),
         ("urbanshrink.toml [[rasters]] #1", "nodata 'none' is not a number", "correct")),
    Case("pattern without {year}", _edit("clcd_{year}.tif", "clcd.tif"),
         ("urbanshrink.toml [[rasters]] #1", "has no {year}", "write the year as {year}")),
    # boundaries
    Case("boundaries missing", lambda root: (root / "boundaries" / "cities.gpkg").unlink(),
         ("cities.gpkg", "file not found", "check the path to the boundaries")),
    Case("boundaries not a vector file",
         lambda root: (root / "boundaries" / "cities.gpkg").write_text("adcode,name\n1,a\n"),
         ("cities.gpkg", "not a readable vector file", "give a GeoPackage")),
    Case("boundaries layer missing", _edit('layer = "cities"', 'layer = "city"'),
         ("cities.gpkg", "no layer 'city'", "set layer to one of 'cities'")),
    Case("boundaries without CRS", _boundaries(lambda gdf: gdf.set_crs(None, allow_override=True)),
         ("cities.gpkg", "has no coordinate reference system", "assign one")),
    Case("id field missing", _edit('id = "adcode"', 'id = "adcod"'),
         ("cities.gpkg", "no id field 'adcod'", "did you mean 'adcode'")),
    Case("duplicated ids", _boundaries(_set("adcode", ["230100", "230100"])),
         ("cities.gpkg", "field 'adcode' repeats id(s) 230100", "make the ids unique")),
    Case("null ids", _boundaries(_set("adcode", ["230100", None])),
         ("cities.gpkg", "field 'adcode' is empty in 1 feature(s)", "give every city an id")),
    Case("blank ids", _boundaries(_set("adcode", ["230100", "  "])),
         ("cities.gpkg", "field 'adcode' is empty in 1 feature(s)", "give every city an id")),
    Case("points in boundaries",
         _boundaries(_geometries([box(*CITIES["230100"][1]), Point(100.4, 39.5)])),
         ("cities.gpkg", "1 feature(s) are Point, not polygons (ids 230400)", "keep only")),
    Case("lines in boundaries",
         _boundaries(_geometries([LineString([(100.1, 39.8), (100.2, 39.9)]),
                                  box(*CITIES["230400"][1])])),
         ("cities.gpkg", "LineString, not polygons (ids 230100)", "keep only the polygon")),
    Case("boundaries with zero features", _boundaries(lambda gdf: gdf.iloc[:0]),
         ("cities.gpkg", "has no features", "check the file and layer")),
    Case("zones miss the raster",
         _boundaries(lambda gdf: gdf.set_geometry(gdf.geometry.translate(xoff=5.0))),
         ("clcd_2010.tif", "no zone overlaps the raster", "CRS")),
    # rasters
    Case("raster missing",
         _both(_edit("clcd_{year}.tif\"", "clcd_{year}.tif\"\nyears = [2010, 2020]"),
               lambda root: (root / "rasters" / "clcd_2020.tif").unlink()),
         ("clcd_2020.tif", "file not found", "check the raster path")),
    Case("not a raster", _raster("clcd_2020.tif", lambda p: p.write_text("not a raster")),
         ("clcd_2020.tif", "not a readable raster", "gdalinfo")),
    Case("corrupt tile mid-run", _raster("vnl2_2020.tif", corrupt_tile),
         ("vnl2_2020.tif", "cannot read block at row", "truncated or corrupt")),
    Case("truncated raster", _raster("vnl2_2020.tif", _truncate),
         ("vnl2_2020.tif", "truncated or corrupt")),
    Case("raster without CRS",
         _raster("clcd_2020.tif", lambda p: write_raster(p, landcover(2020), nodata=0, crs=None)),
         ("clcd_2020.tif", "has no coordinate reference system", "gdal_edit.py -a_srs")),
    Case("series on different grids",
         _raster("vnl2_2020.tif", lambda p: write_raster(p, nightlight(2020), res=RES / 2)),
         ("vnl2_2020.tif", "another grid", "warp")),
    Case("pattern matches nothing", _edit("vnl2_{year}.tif", "viirs_{year}.tif"),
         ("viirs_{year}.tif", "no file matches the {year} pattern", "check the folder")),
    Case("class codes outside the legend",
         _raster("clcd_2020.tif",
                 lambda p: write_raster(p, np.where(landcover(2020) == 8, 42, 1).astype(np.uint8),
                                        nodata=0)),
         ("clcd_2020.tif (year 2020)", "values 42 are not classes of product 'clcd'", "check")),
    # population
    Case("population missing", lambda root: (root / "population.csv").unlink(),
         ("population.csv", "file not found", "check the population path")),
    Case("end year missing in population",
         _population_rows(lambda t: "\n".join(r for r in t.splitlines() if ",2020," not in r)),
         ("population.csv", "2020", "interpolate")),
    Case("population UTF-16 without BOM", _population(POPULATION.encode("utf-16-le")),
         ("population.csv", "UTF-16", "save it as a UTF-8 CSV")),
    Case("population random bytes", _population(bytes(range(128, 256)) * 4),
         ("population.csv", "is not utf-8-sig or gb18030 text", "set the population encoding")),
    Case("negative population", _population_rows(lambda t: t.replace("891271", "-891271")),
         ("population.csv", "column 'pop_resident' row 5 '-891271' is negative", "correct")),
    Case("non-numeric population", _population_rows(lambda t: t.replace("891271", "约100万")),
         ("population.csv", "row 5 '约100万' is not a number", "thousands separators")),
    Case("empty population CSV", _population(b""),
         ("population.csv", "is empty", "give a table with a header")),
    Case("population column missing", _edit('resident = "pop_resident"', 'resident = "pop_res"'),
         ("population.csv", "no pop_resident column 'pop_res'", "did you mean 'pop_resident'")),
    Case("population city-year twice",
         _population_rows(lambda t: t + "230400,鹤岗市,2020,891272\n"),
         ("population.csv", "city 230400 year 2020 (rows 5, 6)", "keep one row")),
    Case("Excel without the sheet", _excel_population,
         ("population.xlsx", "no sheet '人口' (sheets: '2010-2020')", "set the sheet")),
    # outputs
    Case("outputs exist without --overwrite", _noop,
         ("outputs exist (urbanshrink.gpkg", "--overwrite"),
         args=("run", "{cfg}", "--out", "{out}")),
    Case("output folder is a file", _noop, ("cities.csv", "not a folder", "--out"),
         args=("run", "{cfg}", "--out", "{out}/cities.csv", "--overwrite")),
    # the other commands
    Case("zonal unknown statistic", _noop, ("unknown statistic 'medain'", "choose from"),
         args=("zonal", "{root}/rasters/vnl2_2010.tif", "{root}/boundaries/cities.gpkg",
               "--id", "adcode", "--stats", "sum medain", "-o", "{out}/z.csv")),
    Case("zonal band missing", _noop, ("vnl2_2010.tif", "has no band 2", "choose a band"),
         args=("zonal", "{root}/rasters/vnl2_2010.tif", "{root}/boundaries/cities.gpkg",
               "--id", "adcode", "--band", "2", "-o", "{out}/z.csv")),
    Case("zonal table exists", _noop, ("cities.csv", "output exists", "--overwrite"),
         args=("zonal", "{root}/rasters/vnl2_2010.tif", "{root}/boundaries/cities.gpkg",
               "--id", "adcode", "-o", "{out}/cities.csv")),
    Case("builtup unknown product", _noop, ("unknown product 'clc'", "choose from"),
         args=("builtup", "{root}/rasters/clcd_{year}.tif", "{root}/boundaries/cities.gpkg",
               "--id", "adcode", "--product", "clc", "-o", "{out}/b.csv")),
    Case("nightlight year missing", _noop, ("vnl2_2015.tif", "file not found"),
         args=("nightlight", "{root}/rasters/vnl2_{year}.tif", "{root}/boundaries/cities.gpkg",
               "--id", "adcode", "--years", "2010,2015", "-o", "{out}/n.csv")),
    Case("classify table missing", _noop, ("city_year.csv", "file not found"),
         args=("classify", "{root}/city_year.csv", "--start", "2010", "--end", "2020",
               "-o", "{out}/c.csv")),
]  # fmt: skip


def invoke(root: Path, out: Path, args: tuple[str, ...]) -> Result:
    fill = {"{cfg}": str(root / "urbanshrink.toml"), "{root}": str(root), "{out}": str(out)}
    argv = []
    for arg in args:
        for key, value in fill.items():
            arg = arg.replace(key, value)
        argv.append(arg)
    return CliRunner().invoke(cli, argv)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_bad_input_is_one_line_exit_2_and_loses_nothing(case: Case, tiny) -> None:
    root, out = tiny
    case.breaks(root)
    before = hash_tree(out)
    result = invoke(root, out, case.args)
    assert_one_line_error(result, *case.needles)
    assert hash_tree(out) == before


def test_case_catalogue_is_large_and_distinct() -> None:
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)


def test_verbose_shows_the_traceback(tiny, caplog) -> None:
    root, out = tiny
    edit_config(root, 'id = "adcode"', 'id = "adcod"')
    result = CliRunner().invoke(cli, ["-v", "run", str(root / "urbanshrink.toml"), "--out",
                                      str(out), "--overwrite"])  # fmt: skip
    assert result.exit_code == 2
    assert "no id field 'adcod'" in result.output
    assert any(r.exc_info and "Traceback" not in r.getMessage() for r in caplog.records)


def test_read_only_output_folder(tiny) -> None:
    root, out = tiny
    before = hash_tree(out)
    out.chmod(0o555)
    try:
        probe = out / ".probe"
        try:
            probe.write_bytes(b"")
        except PermissionError:
            pass
        else:
            probe.unlink()
            pytest.skip("the output folder stays writable after chmod 0o555 (running as root)")
        result = invoke(root, out, ("run", "{cfg}", "--out", "{out}", "--overwrite"))
        assert_one_line_error(result, str(out), "cannot be written")
    finally:
        out.chmod(0o755)
    assert hash_tree(out) == before


def test_unwritable_output_folder_is_one_line(tiny, monkeypatch) -> None:
    """As root cannot be refused a write, simulate what every other user meets."""
    root, out = tiny
    before = hash_tree(out)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(out))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    monkeypatch.setattr(os, "access", lambda *a, **k: False)
    result = invoke(root, out, ("run", "{cfg}", "--out", "{out}", "--overwrite"))
    assert_one_line_error(result, str(out), "cannot be written")
    assert hash_tree(out) == before


# --- runs that survive oddities ------------------------------------------------------------


def _ok_run(root: Path, out: Path) -> Result:
    result = invoke(root, out, ("run", "{cfg}", "--out", "{out}", "--overwrite"))
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result


def warning_lines(result: Result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("Warning: ")]


@pytest.mark.parametrize(
    ("name", "array", "nodata"),
    [
        ("clcd_2020.tif", np.zeros((SIZE, SIZE), np.uint8), 0),
        ("vnl2_2020.tif", np.full((SIZE, SIZE), -1, np.float32), -1),
    ],
    ids=["land cover", "night light"],
)
def test_all_nodata_raster_warns_and_runs(tiny, name, array, nodata) -> None:
    root, out = tiny
    write_raster(root / "rasters" / name, array, nodata=nodata)
    lines = warning_lines(_ok_run(root, out))
    assert len(lines) == 1, lines
    assert name in lines[0] and "no valid pixel" in lines[0]


def test_invalid_polygon_is_repaired_with_a_warning(tiny) -> None:
    root, out = tiny
    x0, y0, x1, y1 = CITIES["230100"][1]
    bowtie = Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])
    write_boundaries(root, _geometries([bowtie, box(*CITIES["230400"][1])])(boundaries_frame()))
    lines = warning_lines(_ok_run(root, out))
    assert len(lines) == 1 and "repaired 1 invalid polygon(s)" in lines[0] and "230100" in lines[0]


def test_quiet_hides_warnings(tiny) -> None:
    root, out = tiny
    write_raster(root / "rasters" / "clcd_2020.tif", np.zeros((SIZE, SIZE), np.uint8), nodata=0)
    result = CliRunner().invoke(cli, ["-q", "run", str(root / "urbanshrink.toml"), "--out",
                                      str(out), "--overwrite"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert not warning_lines(result)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "gbk"])
def test_population_thousands_separators_and_chinese_encodings_are_read(tiny, encoding) -> None:
    root, out = tiny
    text = POPULATION.replace("1058665", '"1,058,665"').replace("10635971", '"10,635,971"')
    (root / "population.csv").write_bytes(text.encode(encoding))
    _ok_run(root, out)
    city_year = pd.read_csv(out / "city_year.csv", dtype={"city_id": str})
    pop = city_year.set_index(["city_id", "year"])["pop_resident"]
    assert pop["230400", 2010] == 1058665 and pop["230100", 2010] == 10635971


# --- nothing lost --------------------------------------------------------------------------


def test_corrupt_input_stops_before_any_work_and_keeps_previous_outputs(tiny) -> None:
    root, out = tiny
    corrupt_tile(root / "rasters" / "vnl2_2020.tif")
    stages = []
    real = urbanshrink_gis.metrics.landcover_metrics

    def spy(*args, **kwargs):
        stages.append("landcover")
        return real(*args, **kwargs)

    before = hash_tree(out)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(urbanshrink_gis.metrics, "landcover_metrics", spy)
        result = invoke(root, out, ("run", "{cfg}", "--out", "{out}", "--overwrite"))
    assert not stages  # the inputs' check reads where the zones are: no zonal work starts
    assert_one_line_error(result, "vnl2_2020.tif", "cannot read block")
    assert hash_tree(out) == before


@pytest.mark.parametrize("stage", ["analysis", "export gpkg"])
def test_late_failure_keeps_previous_outputs_and_leaves_no_temporary_file(tiny, stage) -> None:
    root, out = tiny
    before = hash_tree(out)

    def boom(*args, **kwargs):
        raise UrbanShrinkError("late failure", where=stage, fix="nothing")

    with pytest.MonkeyPatch.context() as mp:
        if stage == "analysis":
            mp.setattr(scopes, "analyse", boom)
        else:
            mp.setattr(qgisxml, "store_in_geopackage", boom)
        result = invoke(root, out, ("run", "{cfg}", "--out", "{out}", "--overwrite"))
    assert_one_line_error(result, "late failure")
    assert hash_tree(out) == before


def test_failure_between_output_files_keeps_the_previous_set(tiny) -> None:
    """A run that dies after its GeoPackage but before its CSVs must not mix two runs."""
    root, out = tiny
    edit_config(root, "end = 2020", "end = 2020\nexpand_threshold_pct = 50.0")
    before = hash_tree(out)
    real = pd.DataFrame.to_csv

    def to_csv(self, path, *args, **kwargs):
        if "summary" in str(path):
            raise OSError(28, "No space left on device", str(path))
        return real(self, path, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pd.DataFrame, "to_csv", to_csv)
        result = CliRunner().invoke(cli, ["run", str(root / "urbanshrink.toml"), "--out",
                                          str(out), "--overwrite"])  # fmt: skip
    assert result.exit_code != 0
    assert hash_tree(out) == before


def test_rerun_leaves_no_temporary_file(tiny, previous_run) -> None:
    root, out = tiny
    _ok_run(root, out)
    assert sorted(hash_tree(out)) == sorted(hash_tree(previous_run))
    assert not [p for p in out.rglob(".*") if p.name != CHECKPOINT_DIR]
