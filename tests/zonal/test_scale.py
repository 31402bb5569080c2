"""Nationwide-scale machinery: schedulers give identical results, a Dask cluster on loopback,
and a run killed with SIGKILL resumes from its checkpoints."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from shapely.geometry import box

from urbanshrink_gis import pipeline, zonal_stats_many
from urbanshrink_gis.demo import write_demo_data
from urbanshrink_gis.zonal import Engine

STATS = ("count", "sum", "mean", "min", "max", "std", "above_km2", "median")


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    """Three years of a 700 x 900 float raster (several bands of rows) and 12 zones."""
    import geopandas as gpd
    import rasterio
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
        dashboard_address=None,
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


def _outputs(out: Path) -> dict[str, bytes]:
    names = ["city_year.csv", "cities.csv", "summary.csv"]
    return {n: (out / n).read_bytes() for n in names}


def test_killed_run_resumes_from_checkpoints_and_ends_identical(tmp_path):
    data = write_demo_data(tmp_path / "data")
    reference = tmp_path / "reference"
    pipeline.run(pipeline.load_config(data.config), out_dir=reference)
    out = tmp_path / "killed"
    command = [
        sys.executable, "-m", "urbanshrink_gis", "-q", "run", str(data.config), "--out", str(out),
        "--scheduler", "synchronous",
    ]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoints = out / ".checkpoints"
    deadline = time.monotonic() + 120

    def finished() -> set[str]:  # pathlib's "*" also matches the hidden temporaries
        return {p.name for p in checkpoints.glob("*.pkl") if not p.name.startswith(".")}

    while time.monotonic() < deadline and proc.poll() is None:
        if checkpoints.exists() and finished():
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "city_year.csv").exists(), "the run finished before it could be killed"
    done_before = finished()
    assert done_before
    result = subprocess.run([*command[:3], "-v", *command[4:]], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"checkpoints: {len(done_before)} reused" in result.stderr
    assert not list(checkpoints.glob(".*")), "a temporary checkpoint was left behind"
    assert _outputs(out) == _outputs(reference)


def test_changed_input_recomputes_only_its_units(tmp_path, caplog):
    data = write_demo_data(tmp_path / "data")
    config = pipeline.load_config(data.config)
    folder = tmp_path / "ckpt"
    first = pipeline.city_year_table(config, checkpoints=folder)
    before = {p.name for p in folder.glob("*.pkl")}
    ntl_2015 = tmp_path / "data" / "rasters" / "ntl" / "Harmonized_DN_NTL_2015_simVIIRS.tif"
    os.utime(ntl_2015, ns=(time.time_ns(), time.time_ns() + 10**9))
    with caplog.at_level("INFO", logger="urbanshrink_gis.pipeline"):
        again = pipeline.city_year_table(config, checkpoints=folder)
    # The 2015 night light feeds two units: its own metrics and the 2015 dark built-up.
    new_files = {p.name for p in folder.glob("*.pkl")} - before
    assert {n.rsplit("-", 1)[0] for n in new_files} == {
        "nightlight-dmsp_harmonized-2015",
        "dark-2015",
    }
    assert f"checkpoints: {len(before) - 2} reused, 2 computed" in caplog.text
    pd.testing.assert_frame_equal(again, first)


def test_changed_setting_recomputes_only_the_units_it_affects(tmp_path, caplog):
    data = write_demo_data(tmp_path / "data")
    folder = tmp_path / "ckpt"
    first = pipeline.city_year_table(pipeline.load_config(data.config), checkpoints=folder)
    before = {p.name for p in folder.glob("*.pkl")}
    text = data.config.read_text()
    edited = text.replace(
        'product = "dmsp_harmonized"', 'lit_threshold = 9.0\nproduct = "dmsp_harmonized"'
    )
    assert edited != text
    data.config.write_text(edited)
    with caplog.at_level("INFO", logger="urbanshrink_gis.pipeline"):
        again = pipeline.city_year_table(pipeline.load_config(data.config), checkpoints=folder)
    # The lit threshold decides the night-light units and the dark built-up, not the land cover.
    new_files = {p.name for p in folder.glob("*.pkl")} - before
    assert {n.rsplit("-", 1)[0] for n in new_files} == {
        f"{unit}-{year}"
        for unit in ("nightlight-dmsp_harmonized", "dark")
        for year in (2010, 2015, 2020)
    }
    assert f"checkpoints: {len(before) - 6} reused, 6 computed" in caplog.text
    pd.testing.assert_series_equal(again["builtup_km2"], first["builtup_km2"])
    assert (again["lit_km2"] <= first["lit_km2"]).all()
    assert (again["lit_km2"] < first["lit_km2"]).any()


def test_new_builtup_goes_through_checkpoints_with_progress(tmp_path, caplog):
    from urbanshrink_gis import read_boundaries

    config = pipeline.load_config(write_demo_data(tmp_path / "data").config)
    b = config.boundaries
    boundaries = read_boundaries(b.path, id_field=b.id, layer=b.layer)
    folder = tmp_path / "ckpt"
    series = pipeline.resolve_sources(config, boundaries, folder=tmp_path / "sources")
    events = []

    def table():
        return pipeline.new_builtup_table(
            config, boundaries, series, checkpoints=folder, progress=lambda *e: events.append(e)
        )

    first = table()
    assert [p.name.rsplit("-", 1)[0] for p in folder.glob("*.pkl")] == ["new-builtup"]
    totals = {total for stage, _, total in events if stage == "new built-up"}
    assert len(totals) == 1 and totals.pop() > 1  # bands of rows: a bar that moves
    assert first["new_builtup_km2"].gt(0).any()
    events.clear()
    with caplog.at_level("INFO", logger="urbanshrink_gis.pipeline"):
        again = table()
    assert "checkpoints: new built-up reused" in caplog.text
    assert events == [("new built-up", 1, 1)]  # the stage still ends (one line in a log)
    pd.testing.assert_frame_equal(again, first)
