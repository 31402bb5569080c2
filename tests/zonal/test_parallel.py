"""zonal/parallel.py: every scheduler gives the single-process result, a Dask cluster included."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from shapely.geometry import box

from urbanshrink_gis import zonal_stats_many
from urbanshrink_gis.zonal import Engine

STATS = ("count", "sum", "mean", "min", "max", "std", "above_km2", "median")


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    """Three years of a 700 x 900 float raster (several bands of rows) and 12 zones."""
    import geopandas as gpd
    from rasterio.transform import from_origin

    folder = tmp_path_factory.mktemp("series")
    rng = np.random.default_rng(5)
    paths = {}
    for year in (2018, 2019, 2020):
        values = rng.gamma(2.0, 3.0, size=(700, 900)).astype("float32")
        values[rng.random(values.shape) < 0.01] = -1
        path = folder / f"r_{year}.tif"
        profile = dict(
            driver="GTiff", height=700, width=900, count=1, dtype="float32", nodata=-1,
            crs="EPSG:4326", transform=from_origin(100, 40, 0.01, 0.01), tiled=True,
            blockxsize=128, blockysize=128,
        )  # fmt: skip
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(values, 1)
        paths[year] = str(path)
    geoms = [
        box(100 + 0.7 * i, 33.2 + 0.5 * j, 100.9 + 0.7 * i, 34.3 + 0.5 * j)
        for i in range(4)
        for j in range(3)
    ]
    zones = folder / "zones.gpkg"
    ids = [f"{k:02d}" for k in range(len(geoms))]
    gpd.GeoDataFrame({"id": ids}, geometry=geoms, crs="EPSG:4326").to_file(zones)
    return zones, paths


def run_with(zones, paths, scheduler, workers=None):
    import urbanshrink_gis.zonal.zones as z

    old = z._WINDOW_PIXELS
    z._WINDOW_PIXELS = 128 * 900  # many bands, so the schedulers really split the work
    try:
        return zonal_stats_many(
            zones,
            paths,
            STATS,
            zone_id="id",
            threshold=5.0,
            engine=Engine(scheduler=scheduler, workers=workers),
        )
    finally:
        z._WINDOW_PIXELS = old


@pytest.mark.parametrize(("scheduler", "workers"), [("threads", 2), ("processes", 2)])
def test_local_schedulers_equal_the_single_process_run(series, scheduler, workers):
    zones, paths = series
    reference = run_with(zones, paths, "synchronous")
    other = run_with(zones, paths, scheduler, workers)
    pd.testing.assert_frame_equal(other, reference, check_exact=True)


def test_dask_cluster_on_loopback_equals_the_local_run(series):
    distributed = pytest.importorskip("distributed")
    zones, paths = series
    reference = run_with(zones, paths, "synchronous")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=":0",  # a free port: never "8787 in use" beside another cluster
    ) as cluster:  # fmt: skip
        result = run_with(zones, paths, cluster.scheduler_address)
    counts = ["count"]
    pd.testing.assert_frame_equal(result[counts], reference[counts], check_exact=True)
    rel = (result - reference).abs() / reference.abs().where(reference != 0, 1)
    assert float(rel.max().max()) <= 1e-12


@pytest.fixture
def dask_cluster(tmp_path):
    """A Dask scheduler and two one-thread worker processes on loopback, started as a user
    starts them (`dask scheduler`, `dask worker`); yields a client connected to it."""
    distributed = pytest.importorskip("distributed")
    dask = str(Path(sys.executable).with_name("dask"))
    file = str(tmp_path / "scheduler.json")
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    processes = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--scheduler-file", file],
            **quiet,
        ),
        subprocess.Popen(
            [dask, "worker", "--scheduler-file", file, "--host", "127.0.0.1", "--nworkers", "2",
             "--nthreads", "1", "--no-dashboard", "--death-timeout", "60",
             "--local-directory", str(tmp_path / "workers")],
            **quiet,
        ),
    ]  # fmt: skip
    try:
        with distributed.Client(scheduler_file=file, timeout="60s") as client:
            client.wait_for_workers(2, timeout=60)
            yield client
            client.shutdown()  # the scheduler and both workers stop
        for proc in processes:
            proc.wait(timeout=60)
    finally:
        for proc in processes:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_cli_run_on_a_dask_cluster_equals_the_local_run(demo_run, dask_cluster, tmp_path):
    _, local = demo_run
    out = tmp_path / "on-dask"
    config = local / "data" / "urbanshrink.toml"
    command = [
        sys.executable, "-m", "urbanshrink_gis", "-q", "run", str(config), "--out", str(out),
        "--scheduler", dask_cluster.scheduler.address,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    executed = dask_cluster.run(lambda dask_worker: dask_worker.state.executed_count)
    assert len(executed) == 2 and min(executed.values()) > 0, executed  # both workers worked
    for name in ("city_year.csv", "cities.csv", "summary.csv"):
        on_dask, reference = (pd.read_csv(folder / name, dtype=str) for folder in (out, local))
        assert list(on_dask.columns) == list(reference.columns)
        numbers = [c for c in reference.columns if _numeric(reference[c])]
        # counts equal, sums to 1e-12 relative; text columns (ids, names, classes) equal
        pd.testing.assert_frame_equal(
            on_dask[numbers].astype(float), reference[numbers].astype(float), rtol=1e-12, atol=0
        )
        others = [c for c in reference.columns if c not in numbers]
        pd.testing.assert_frame_equal(on_dask[others], reference[others])
    rasters = sorted(p.name for p in (local / "rasters").glob("*.tif"))
    assert rasters and rasters == sorted(p.name for p in (out / "rasters").glob("*.tif"))
    for name in rasters:  # strips computed and written by the workers: the same pixels
        with (
            rasterio.open(out / "rasters" / name) as a,
            rasterio.open(local / "rasters" / name) as b,
        ):
            np.testing.assert_array_equal(a.read(1), b.read(1))
            assert a.overviews(1) == b.overviews(1)


def _numeric(column: pd.Series) -> bool:
    return pd.to_numeric(column, errors="coerce").notna().sum() == column.notna().sum()


def test_unknown_scheduler_is_a_config_error(series):
    from urbanshrink_gis.errors import ConfigError

    zones, paths = series
    with pytest.raises(ConfigError, match="unknown scheduler 'gpu'"):
        zonal_stats_many(zones, paths, ("count",), zone_id="id", engine=Engine(scheduler="gpu"))


def test_run_beside_returns_raises_and_waits_when_the_block_fails():
    import threading
    import time

    from urbanshrink_gis.zonal.parallel import run_beside

    main = threading.get_ident()
    with run_beside(lambda x: (x * 2, threading.get_ident()), 21) as result:
        pass
    value, thread = result()
    assert value == 42
    assert thread != main  # it ran in a thread of its own

    def fails():
        raise ValueError("raster on fire")

    with run_beside(fails) as result:
        pass
    with pytest.raises(ValueError, match="raster on fire"):
        result()

    finished = []

    def slow():
        time.sleep(0.5)
        finished.append(True)

    with pytest.raises(RuntimeError, match="tables on fire"), run_beside(slow):
        raise RuntimeError("tables on fire")  # the block's error wins...
    assert finished == [True]  # ...once the thread is done
