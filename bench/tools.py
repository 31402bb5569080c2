"""Benchmark scenarios, and one tool run on one of them as a whole process.

Usage: ``python bench/tools.py TOOL SCENARIO [--quick] [--out CSV]``. The run prints one JSON
line (pixels decoded, phase seconds, the process's own peak RSS) and writes the tool's
statistics to ``--out`` as a long table (year, zone, one column per statistic or class).

The ``ours-daskN`` tools start a ``dask.distributed.LocalCluster`` of N single-threaded worker
processes inside this process and pass its address as the scheduler; their JSON line adds the
phases (cluster start-up, compute, shutdown) and each worker's own peak RSS. The
``ours-clusterN`` tools are what a user of a running cluster does: ``run.py`` starts
``dask scheduler`` and ``dask worker`` (N one-thread processes) before the run, and this process
only connects to ``--scheduler ADDRESS`` (``urbanshrink run --scheduler tcp://...``).

Scenario ``C-run`` is the whole job a user runs nationwide (``urbanshrink run CONFIG --out
DIR``), called in this process as the CLI calls it; its JSON line adds the seconds of each stage
(``stages_s``) and the size of each output (``outputs_mb``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import geopandas as gpd
import pandas as pd
import rasterio
import rasterio.shutil
from rasterio.dtypes import dtype_rev, typename_fwd
from rasterio.windows import Window

from data import BOUNDARIES, FULL, QUICK, YEARS, ZONE_ID, Cache

CACHE = Path(__file__).resolve().parent / ".cache"
STATS = ("count", "sum", "mean", "min", "max")
FLOOR_WINDOW = 1 << 23  # pixels per strip of the floor's reads
FLOOR_CACHE_MB = 64
PHASES: dict[str, float] = {}  # extra timings and memory a tool reports in its JSON line
CENSUS = BOUNDARIES.parents[1] / "china_population" / "census_city_2010-2020_v1.csv"
#: The whole run's rasters (job "run"), in the order of ``Scenario.paths``: kind, year label.
RUN_INPUTS = (
    ("landcover", 2010), ("landcover", 2020),
    ("nightlight", 2012), ("nightlight", 2016), ("nightlight", 2020),
)  # fmt: skip
RUN_NTL_YEARS = (YEARS[0], YEARS[5], YEARS[-1])  # cached night lights labelled 2012, 2016, 2020


@dataclass(frozen=True)
class Scenario:
    """A benchmark case: zones, rasters and the rule every tool follows.

    Parameters
    ----------
    zones
        Zones file name in the cache (without ``.gpkg``), or ``"prefectures"``: the shared
        boundaries file itself (the same 375 polygons as ``zones``, with names and provinces).
    rasters
        ``"ntl"`` (one year of night lights), ``"ntl10"`` (ten years), ``"clcd"`` (land cover
        around 113E 34N), ``"mosaic"`` (nationwide land-cover VRT), ``"mosaic2"`` (two
        years of it), ``"run"`` (the whole run's inputs, :data:`RUN_INPUTS`: both years of
        the mosaic, then the night lights of :data:`RUN_NTL_YEARS`) or ``"province"`` (the
        same with two years of the land cover around 113E 34N instead of the mosaic).
    coverage
        Pixel rule of ours (``center`` or ``exact``); rasterstats always uses the centre rule
        and exactextract always weights by coverage.
    categorical
        Count pixels per class rather than value statistics.
    tools
        Tools run on it; the first is the floor, the second ours.
    about
        One line for the report.
    max_repeat
        Runs per tool at most, whatever ``--repeat`` says (for scenarios too slow to repeat).
    job
        What ours computes: ``"zonal"`` statistics, the built-up ``"change"`` raster (a
        COG with overviews, written to a temporary folder in the cache and deleted), or the
        whole ``"run"`` (``urbanshrink run CONFIG --out DIR``: zonal metrics, dark built-up,
        the change, trend and new-built-up-dark COGs, GeoPackage, CSVs and report; the
        configuration, the ``{year}``-named links to the rasters and the outputs are written
        to a temporary folder in the cache and deleted).
    """

    zones: str
    rasters: str
    coverage: str
    categorical: bool
    tools: tuple[str, ...]
    about: str
    max_repeat: int | None = None
    job: str = "zonal"

    def paths(self, cache: Cache) -> tuple[Path, dict[int, Path]]:
        """Zones path and rasters by year (year 0 for a single raster)."""
        if self.rasters == "ntl10":
            rasters = {year: cache.ntl(year) for year in YEARS}
        elif self.rasters == "ntl":
            rasters = {0: cache.ntl(YEARS[0])}
        elif self.rasters == "clcd":
            rasters = {0: cache.clcd()}
        elif self.rasters == "mosaic2":
            rasters = {2000: cache.mosaic(), 2020: cache.mosaic(later=True)}
        elif self.rasters in ("run", "province"):
            ntl = [cache.ntl(year) for year in RUN_NTL_YEARS]
            land = (
                [cache.mosaic(), cache.mosaic(later=True)]
                if self.rasters == "run"
                else [cache.clcd(1), cache.clcd(2)]
            )
            rasters = dict(enumerate([*land, *ntl]))
        else:
            rasters = {0: cache.mosaic()}
        zones = BOUNDARIES if self.zones == "prefectures" else cache.zones(self.zones)
        return zones, rasters


SCENARIOS = {
    "A": Scenario(
        "zones", "ntl", "center", False,
        ("floor", "ours", "exactextract", "rasterstats", "xarray-spatial"),
        "VIIRS-size float32 grid, 375 zones, centre rule",
    ),
    "A-detailed": Scenario(
        "zones_detailed", "ntl", "center", False,
        ("floor", "ours", "exactextract", "rasterstats", "xarray-spatial"),
        "A with zones densified to a vertex every ~100 m (3.7 M vertices)",
    ),
    "A-exact": Scenario(
        "zones", "ntl", "exact", False, ("floor", "ours", "exactextract"),
        "A weighted by covered fraction",
    ),
    "A10": Scenario(
        "zones", "ntl10", "exact", False, ("floor", "ours", "exactextract"),
        "ten years of A, exact (ours: one zonal_stats_many; peers: one run per year)",
    ),
    "A10-dask": Scenario(
        "zones", "ntl10", "exact", False,
        ("floor", "ours-dask1", "ours-dask2", "ours-cluster1", "ours-cluster2"),
        "A10 (exact) on Dask, 1 or 2 one-thread worker processes: a LocalCluster started in the"
        " measured process (daskN), or a running cluster it connects to (clusterN)",
    ),
    "B": Scenario(
        "zones_b", "clcd", "center", True,
        ("floor", "ours", "rasterstats", "exactextract", "xarray-spatial"),
        "CLCD-like uint8 20000x20000 at 30 m Albers, zones that intersect it, per-class counts",
    ),
    "C": Scenario(
        "zones", "mosaic", "center", True, ("floor", "ours"),
        "CLCD-size nationwide VRT mosaic (30 m Albers), per-class counts",
    ),
    "C-change": Scenario(
        "zones", "mosaic2", "center", True, ("floor", "ours"),
        "two years of C: ours writes the built-up change COG (overviews, colours), the floor"
        " decodes both", max_repeat=1, job="change",
    ),
    "C-run": Scenario(
        "prefectures", "run", "center", True, ("floor", "ours"),
        "the whole job nationwide (urbanshrink run): the 375 prefectures, C's two years as CLCD"
        " 2010/2020, three VIIRS-size years as VNL2 2012/2016/2020, the real census; zonal"
        " metrics, dark built-up, four COGs, GeoPackage, report; the floor decodes every input"
        " raster once and writes the four COGs as plain GDAL COG copies", max_repeat=1,
        job="run",
    ),
    "P-run": Scenario(
        "zones_p", "province", "center", True,
        ("floor", "ours", "ours-cluster1", "ours-cluster2"),
        "the whole job at province size (urbanshrink run): the prefectures around 113E 34N,"
        " two 20000² years of B's land cover as CLCD 2010/2020 (2 x 0.4 G px, 30 m), three"
        " VIIRS-size years as VNL2, the real census; the floor decodes every input once and"
        " writes the job's four COGs as plain GDAL COG copies; ours also on a running Dask"
        " cluster of 1 and 2 one-thread workers", job="run",
    ),
}  # fmt: skip


def cache_for(quick: bool) -> Cache:
    """The full-size data cache, or the small one of ``--quick``."""
    return Cache(CACHE / "quick", QUICK) if quick else Cache(CACHE, FULL)


def run_floor(sc: Scenario, zones: Path, rasters: dict[int, Path]) -> None:
    """Reading done well: read the zones, decode every pixel once by full-width strips.

    For the whole job (``job="run"``) the floor also writes the job's four rasters as plain
    GDAL COG copies (:func:`copy_outputs`).
    """
    import urbanshrink_gis  # noqa: F401  (same imports as ours)

    boundaries = gpd.read_file(zones)
    with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS", GDAL_CACHEMAX=FLOOR_CACHE_MB):
        for path in rasters.values():
            with rasterio.open(path) as ds:
                block = ds.block_shapes[0][0]
                rows = max(block, FLOOR_WINDOW // ds.width // block * block)
                for r0 in range(0, ds.height, rows):
                    ds.read(1, window=Window(0, r0, ds.width, min(rows, ds.height - r0)))
    if sc.job == "run":
        copy_outputs(boundaries, rasters)


def copy_outputs(boundaries: gpd.GeoDataFrame, rasters: dict[int, Path]) -> None:
    """The run's four rasters as plain GDAL COG copies of its inputs, over the same extent.

    Two copies of the last land-cover year (the run's uint8 built-up change and lit/dark
    rasters) and two of the last night-light year (its float32 change and trend), each cut to
    the boundaries' extent plus one pixel as the run cuts them, with the run's COG options
    (DEFLATE level 3, 512 tiles, overviews), into a temporary folder of the cache.
    """
    from urbanshrink_gis.export.cog import _cog_options
    from urbanshrink_gis.io.series import _extent_window

    paths = list(rasters.values())
    land, light = paths[len(RUN_INPUTS) - 4], paths[-1]  # last land-cover, last light year
    with tempfile.TemporaryDirectory(prefix="floor-", dir=land.parent) as folder:
        copies = [(land, "uint8", ()), (land, "uint8", ()), (light, "float32", None)]
        for i, (path, dtype, categories) in enumerate([*copies, copies[-1]]):
            with rasterio.open(path) as ds:
                window = _extent_window(ds, boundaries)[0] or Window(0, 0, ds.width, ds.height)
            vrt = Path(folder) / f"cut-{i}.vrt"
            _window_vrt(path, window, vrt)
            options = _cog_options(dtype, categories)
            rasterio.shutil.copy(vrt, Path(folder) / f"copy-{i}.tif", driver="COG", **options)


def _window_vrt(path: Path, window: Window, out: Path) -> None:
    """A VRT of one window of a raster (GDAL's ``-srcwin``), pixels unchanged."""
    with rasterio.open(path) as ds:
        transform = ds.window_transform(window)
        w, h = int(window.width), int(window.height)
        dtype = typename_fwd[dtype_rev[ds.dtypes[0]]]  # GDAL's name of the type
        bh, bw = ds.block_shapes[0]  # the source's blocks: GDAL reads each once (VRTs take 128)
        nodata = "" if ds.nodata is None else f"<NoDataValue>{ds.nodata}</NoDataValue>"
        srs = ds.crs.to_wkt().replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        geo = ", ".join(str(v) for v in transform.to_gdal())
        out.write_text(
            f'<VRTDataset rasterXSize="{w}" rasterYSize="{h}"><SRS>{srs}</SRS>'
            f'<GeoTransform>{geo}</GeoTransform><VRTRasterBand dataType="{dtype}" band="1"'
            f' blockXSize="{bw}" blockYSize="{bh}">'
            f"{nodata}<SimpleSource><SourceFilename>{path.resolve()}</SourceFilename>"
            f"<SourceBand>1</SourceBand>"
            f'<SrcRect xOff="{int(window.col_off)}" yOff="{int(window.row_off)}" xSize="{w}"'
            f' ySize="{h}"/><DstRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/>'
            "</SimpleSource></VRTRasterBand></VRTDataset>"
        )


def run_ours(sc: Scenario, zones: Path, rasters: dict[int, Path]) -> pd.DataFrame | None:
    """urbanshrink_gis: zonal_stats_many over the rasters, or the change raster of the job."""
    from urbanshrink_gis import Engine, zonal_stats_many

    if sc.job == "change":
        return write_change(rasters)
    if sc.job == "run":
        return run_job(zones, rasters)

    df = zonal_stats_many(
        zones,
        rasters,
        STATS,
        zone_id=ZONE_ID,
        engine=Engine(sc.coverage),
        categorical=sc.categorical,
    )
    df.index.names = ["year", "zone"]
    return df.reset_index()


def write_change(rasters: dict[int, Path]) -> None:
    """The built-up change COG between the first and last raster, written as a run writes it."""
    from urbanshrink_gis.metrics.change import BUILTUP_CHANGE_CLASSES, builtup_change_blocks
    from urbanshrink_gis.pipeline.plans import RasterPlan
    from urbanshrink_gis.products.presets import get_product

    start, end = rasters[min(rasters)], rasters[max(rasters)]
    plan = RasterPlan(
        "builtup_change.tif", "built-up change",
        partial(builtup_change_blocks, start, end, get_product("clcd")), str(start),
        "uint8", 0, categories=BUILTUP_CHANGE_CLASSES,
    )  # fmt: skip
    with tempfile.TemporaryDirectory(dir=CACHE) as folder:
        _, path = plan.write(Path(folder), overwrite=False, progress=None)
        PHASES["output_mb"] = path.stat().st_size / 2**20


RUN_CONFIG = """\
# C-run: the whole job nationwide, written by bench/tools.py (paths outside this folder absolute)
[boundaries]
path = {boundaries}
layer = "cn_city"
id = "city_adcode"
name = "city_name"
province = "province_name"

[[rasters]]
kind = "landcover"
product = "clcd"
path = "landcover/clcd_{{year}}{suffix}"
pixel_size = {pixel_size}  # 30 as CLCD, or the quick data's 240

[[rasters]]
kind = "nightlight"
product = "vnl2"
path = "nightlight/vnl2_{{year}}.tif"
pixel_size = {light_pixel_size}  # 15 arc-seconds as VNL2, or the quick data's 2 arc-minutes

[population]
path = {census}
id = "city_code"
resident = "popu_{{year}}"

[analysis]
start = 2010
end = 2020
"""


def run_job(zones: Path, rasters: dict[int, Path], scheduler: str | None = None) -> pd.DataFrame:
    """The whole job, as ``urbanshrink -q run CONFIG --out DIR`` runs it, on the run's inputs.

    In a temporary folder of the cache: links named by year to the rasters of
    :data:`RUN_INPUTS` (``landcover/clcd_2010.vrt`` -> the mosaic, ...), the configuration
    and the outputs; deleted after. With ``scheduler`` (a Dask address) the run goes there,
    as ``--scheduler`` sends it. Returns the ``city_year`` table.
    """
    from urbanshrink_gis import Engine
    from urbanshrink_gis.export import report
    from urbanshrink_gis.pipeline.config import load_config
    from urbanshrink_gis.pipeline.run import run

    cache = next(iter(rasters.values())).parent
    with tempfile.TemporaryDirectory(prefix="run-", dir=cache) as folder:
        root = Path(folder)
        for (kind, year), path in zip(RUN_INPUTS, rasters.values(), strict=True):
            name = f"clcd_{year}{path.suffix}" if kind == "landcover" else f"vnl2_{year}.tif"
            link = root / kind / name
            link.parent.mkdir(exist_ok=True)
            link.symlink_to(path.resolve())
        config = root / "urbanshrink.toml"
        quoted = {"boundaries": zones, "census": CENSUS}
        suffix = next(iter(rasters.values())).suffix  # .vrt (a mosaic) or .tif
        config.write_text(
            RUN_CONFIG.format(
                suffix=suffix,
                pixel_size=_pixel_size(next(iter(rasters.values()))),
                light_pixel_size=_pixel_size(list(rasters.values())[-1]),
                **{k: json.dumps(str(v.resolve())) for k, v in quoted.items()},
            ),
            encoding="utf-8",
        )
        out = root / "out"
        with _run_clock() as progress:
            engine = Engine() if scheduler is None else Engine(scheduler=scheduler)
            result = run(load_config(config), out_dir=out, engine=engine, progress=progress)
            text = report.paradox_text(result.cities, result.summary)  # the CLI prints it
        print(text, flush=True)
        PHASES["paradox_text"] = text
        PHASES["outputs_mb"] = {
            str(p.relative_to(out)): p.stat().st_size / 2**20 for p in sorted(result.files)
        }
        PHASES["outputs_total_mb"] = sum(PHASES["outputs_mb"].values())
    return result.city_year


def _pixel_size(path: Path) -> str:
    with rasterio.open(path) as ds:
        return repr(abs(ds.transform.a))


@contextlib.contextmanager
def _run_clock() -> Iterator[Callable[[str, int, int], None]]:
    """A run's progress callback that times its stages (``PHASES["stages_s"]``), as the CLI does.

    The stages a thread reports run one after another: each lasts from the end of that
    thread's stage before (the first of the run's own thread from the start, of another
    thread from its first call) to its last call, and prints a line then, as the CLI's ``-q``
    does. The rasters are written in a thread of their own, beside the tables and the report,
    so their stages overlap those. A raster's last call comes after GDAL's COG copy: the copy
    is the time since the call before (``cog_copy_s``). ``other`` is the run's own thread's
    time outside its stages (moving the staged outputs into place, ...).
    UrbanShrinkWarnings are collected (``-q`` hides them).
    """
    from urbanshrink_gis.errors import UrbanShrinkWarning

    start = time.perf_counter()
    main = threading.get_ident()
    last_end = {main: start}  # per thread
    events: list[tuple[str, float, float, int]] = []  # stage, start, end, thread
    started: dict[str, float] = {}
    last_call: dict[str, float] = {}
    copies: dict[str, float] = {}
    lock = threading.Lock()

    def progress(stage: str, done: int, total: int) -> None:
        now, thread = time.perf_counter(), threading.get_ident()
        with lock:
            started.setdefault(stage, last_end.setdefault(thread, now))
            if done == total:
                events.append((stage, started.pop(stage), now, thread))
                last_end[thread] = now
                if stage.startswith("raster ") and stage in last_call:
                    copies[stage] = now - last_call[stage]
                print(f"{stage}: done at {now - start:.1f} s", flush=True)
            last_call[stage] = now

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UrbanShrinkWarning)
            yield progress
    finally:
        end = time.perf_counter()
        stages: dict[str, float] = {}
        for stage, t0, t1, _ in events:
            stages[stage] = stages.get(stage, 0.0) + t1 - t0
        own = sum(t1 - t0 for _, t0, t1, thread in events if thread == main)
        stages["other"] = max(0.0, end - start - own)
        PHASES["stages_s"] = stages
        PHASES["stage_spans_s"] = [
            (stage, round(t0 - start, 2), round(t1 - start, 2), "main" if th == main else "rasters")
            for stage, t0, t1, th in events
        ]
        PHASES["cog_copy_s"] = copies
        messages = [str(w.message) for w in caught if issubclass(w.category, UrbanShrinkWarning)]
        PHASES["warnings"] = list(dict.fromkeys(m[:300] for m in messages))[:20]
        PHASES["warning_count"] = len(messages)


def run_ours_dask(
    n_workers: int, sc: Scenario, zones: Path, rasters: dict[int, Path]
) -> pd.DataFrame:
    """Ours through a real local Dask cluster of ``n_workers`` one-thread worker processes."""
    from distributed import Client, LocalCluster

    from urbanshrink_gis import Engine, zonal_stats_many

    t0 = time.perf_counter()
    cluster = LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",  # a free port, whatever else runs
    )
    with cluster:
        t1 = time.perf_counter()
        df = zonal_stats_many(
            zones, rasters, STATS, zone_id=ZONE_ID, categorical=sc.categorical,
            engine=Engine(sc.coverage, cluster.scheduler_address),
        )  # fmt: skip
        t2 = time.perf_counter()
        with Client(cluster, set_as_default=False) as client:
            workers_mb = client.run(_high_water_mb)
        t3 = time.perf_counter()
    t4 = time.perf_counter()
    PHASES.update(
        cluster_start_s=t1 - t0,
        compute_s=t2 - t1,
        cluster_close_s=t4 - t3,
        workers=len(workers_mb),
        workers_maxrss_mb=sorted(workers_mb.values()),
    )
    df.index.names = ["year", "zone"]
    return df.reset_index()


def run_ours_on_cluster(
    sc: Scenario, zones: Path, rasters: dict[int, Path], *, scheduler: str
) -> pd.DataFrame:
    """Ours sent to a running Dask cluster (fresh workers: they import the package in the run)."""
    from distributed import Client

    from urbanshrink_gis import Engine, zonal_stats_many

    if sc.job == "run":
        df = run_job(zones, rasters, scheduler)
    else:
        df = zonal_stats_many(
            zones, rasters, STATS, zone_id=ZONE_ID, categorical=sc.categorical,
            engine=Engine(sc.coverage, scheduler),
        )  # fmt: skip
    with Client(scheduler, set_as_default=False) as client:
        workers_mb = client.run(_high_water_mb)
    PHASES.update(workers=len(workers_mb), workers_maxrss_mb=sorted(workers_mb.values()))
    if sc.job == "run":
        return df
    df.index.names = ["year", "zone"]
    return df.reset_index()


def run_exactextract(sc: Scenario, zones: Path, rasters: dict[int, Path]) -> pd.DataFrame:
    """exactextract (coverage-weighted), one call per raster; classes as count x frac."""
    from exactextract import exact_extract

    gdf = gpd.read_file(zones)
    ops = ["count", "unique", "frac"] if sc.categorical else list(STATS)
    tables = []
    for year, path in rasters.items():
        df = exact_extract(str(path), gdf, ops, include_cols=[ZONE_ID], output="pandas")
        if sc.categorical:
            df = _explode_classes(df)
        tables.append(df.rename(columns={ZONE_ID: "zone"}).assign(year=year))
    return pd.concat(tables, ignore_index=True)


def _explode_classes(df: pd.DataFrame) -> pd.DataFrame:
    """Weighted pixel count per class (one column per class) from exactextract's unique/frac."""
    rows = [
        {ZONE_ID: z, **{int(c): n * f for c, f in zip(u, fr, strict=True)}}
        for z, n, u, fr in zip(df[ZONE_ID], df["count"], df["unique"], df["frac"], strict=True)
    ]
    return pd.DataFrame(rows)


def run_rasterstats(sc: Scenario, zones: Path, rasters: dict[int, Path]) -> pd.DataFrame:
    """rasterstats (centre rule), one call per raster."""
    from rasterstats import zonal_stats

    gdf = gpd.read_file(zones)
    tables = []
    for year, path in rasters.items():
        rows = zonal_stats(gdf, str(path), stats=list(STATS), categorical=sc.categorical)
        tables.append(pd.DataFrame(rows).assign(zone=gdf[ZONE_ID].to_numpy(), year=year))
    return pd.concat(tables, ignore_index=True)


def run_xarray_spatial(sc: Scenario, zones: Path, rasters: dict[int, Path]) -> pd.DataFrame:
    """xarray-spatial as its users do zonal statistics, with the whole raster in memory.

    Per raster: read the band whole (rasterio) into an ``xarray.DataArray``, mask nodata to NaN
    (categorical: pass it as ``nodata_values``), burn the zones, reprojected to the raster's
    CRS, into one integer zone grid with ``rasterio.features.rasterize`` (the centre rule, as
    ours' ``center``; 0 outside every zone; the grid is reused while the rasters share it),
    then ``xrspatial.zonal_stats`` (count, sum, mean, min, max) or, for classes,
    ``xrspatial.zonal_crosstab`` (pixels per class). Zones without any pixel centre get no row
    from xarray-spatial; here they keep their row with empty statistics (counts 0).

    One zone grid cannot hold overlapping zones: where zones overlap, the later one in the file
    takes the pixel (the real boundaries have one small overlap), so a few pixels differ from
    ours, which counts them in both; the agreement column shows it.
    """
    import numpy as np
    import xarray as xr
    from rasterio.features import rasterize
    from xrspatial import zonal_crosstab, zonal_stats

    gdf = gpd.read_file(zones)
    ids = pd.Index(gdf[ZONE_ID].astype(str), name="zone")
    numbers = list(range(1, len(gdf) + 1))  # zone grid values (sorted, as xrspatial wants)
    dtype = np.uint16 if len(gdf) < 2**16 else np.int32
    grid_of, zone_grid = None, None
    tables = []
    for year, path in rasters.items():
        t0 = time.perf_counter()
        with rasterio.open(path) as ds:
            data = ds.read(1)
            nodata, grid = ds.nodata, (ds.crs, ds.transform, ds.shape)
        if not sc.categorical and nodata is not None:
            data = data.astype(np.float64 if data.dtype.itemsize > 4 else np.float32, copy=False)
            data[data == nodata] = np.nan
        t1 = time.perf_counter()
        if grid != grid_of:
            zone_grid = None  # free the previous one before burning the next
            shapes = zip(gdf.to_crs(grid[0]).geometry, numbers, strict=True)
            burnt = rasterize(shapes, out_shape=grid[2], transform=grid[1], fill=0, dtype=dtype)
            zone_grid, grid_of = xr.DataArray(burnt, dims=("y", "x")), grid
        t2 = time.perf_counter()
        values = xr.DataArray(data, dims=("y", "x"))
        if sc.categorical:
            df = zonal_crosstab(zone_grid, values, zone_ids=numbers, nodata_values=nodata)
            df = df.rename(columns={c: int(c) for c in df.columns if c != "zone"})
        else:
            df = zonal_stats(zone_grid, values, zone_ids=numbers, stats_funcs=list(STATS))
        t3 = time.perf_counter()
        del values, data
        df.index = ids[df.pop("zone").astype(int).to_numpy() - 1]
        counts = [c for c in df.columns if c == "count" or not isinstance(c, str)]
        df = df.reindex(ids)
        df[counts] = df[counts].fillna(0).astype(np.int64)
        tables.append(df.reset_index().assign(year=year).set_index(["year", "zone"]))
        for phase, seconds in (("read_s", t1 - t0), ("rasterize_s", t2 - t1), ("zonal_s", t3 - t2)):
            PHASES[phase] = PHASES.get(phase, 0.0) + seconds
    return pd.concat(tables).reset_index()


TOOLS: dict[str, Callable[..., pd.DataFrame | None]] = {
    "floor": run_floor,
    "ours": run_ours,
    "ours-dask1": partial(run_ours_dask, 1),
    "ours-dask2": partial(run_ours_dask, 2),
    "ours-cluster1": run_ours_on_cluster,
    "ours-cluster2": run_ours_on_cluster,
    "exactextract": run_exactextract,
    "rasterstats": run_rasterstats,
    "xarray-spatial": run_xarray_spatial,
}


def pixel_count(rasters: dict[int, Path]) -> int:
    """Pixels of all rasters together."""
    total = 0
    for path in rasters.values():
        with rasterio.open(path) as ds:
            total += ds.width * ds.height
    return total


def _high_water_mb() -> float:
    """Peak RSS of this process since it started (VmHWM: fork's inherited pages not counted)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> None:
    """Run one tool on one scenario and print its JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tool", choices=sorted(TOOLS))
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--quick", action="store_true", help="use the small data set")
    parser.add_argument("--out", type=Path, help="write the statistics here (CSV)")
    parser.add_argument("--scheduler", help="address of a running Dask scheduler (ours-clusterN)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    sc = SCENARIOS[args.scenario]
    zones, rasters = sc.paths(cache_for(args.quick))
    ready = time.perf_counter()
    on = {"scheduler": args.scheduler} if args.scheduler else {}
    result = TOOLS[args.tool](sc, zones, rasters, **on)
    done = time.perf_counter()
    self_mb = _high_water_mb()
    if args.out is not None and result is not None:
        result.columns = [str(c) for c in result.columns]
        result.to_csv(args.out, index=False)
    workers_mb = PHASES.get("workers_maxrss_mb", [])
    report = {
        "pixels": pixel_count(rasters),
        "setup_s": ready - start,
        "run_s": done - ready,
        "compute_s": PHASES.get("compute_s", done - ready),
        "self_maxrss_mb": self_mb,
        # an upper bound of the tree's peak: each process's own peak, as if all at once
        "tree_maxrss_bound_mb": self_mb + sum(workers_mb),
        # this process and its finished (waited-for) children, such as Dask workers
        "cpu_s": sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
        + sum(resource.getrusage(resource.RUSAGE_CHILDREN)[:2]),
        **PHASES,
    }
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    sys.exit(main())
