"""Speed and memory of urbanshrink_gis against a reading floor and its peers (``make bench``).

Builds the synthetic data once into ``bench/.cache``, then runs every tool of every scenario
``--repeat`` times (capped by a scenario's ``max_repeat``), each as a whole separate process,
measuring its wall time and the peak RSS of its process tree (Dask worker processes included).
Prints a Markdown table and writes ``bench/results/latest.json`` (``quick.json`` with
``--quick``). Floors and ratios are measured, never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import psutil

from data import BOUNDARIES
from tools import SCENARIOS, cache_for

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
# C, C-change, C-run (the whole job nationwide): opt-in (30 G px a year of land cover)
DEFAULT = ("A", "A-detailed", "A-exact", "A10", "A10-dask", "B", "P-run")
POLL_S = 0.05
RUN_COLUMN = "dark_builtup_km2"  # the whole run's column compared (it needs both series)
PEERS = ("exactextract", "rasterstats", "xarray-spatial")


def measure(cmd: list[str], timeout: float, also: list[psutil.Process] = ()) -> dict:
    """Run ``cmd`` once; wall seconds, peak RSS (MB) of its process tree and its JSON line.

    The trees of the processes ``also`` (a running Dask cluster it uses) count in the peak.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = psutil.Popen(cmd, stdout=out, stderr=err)
        peak = 0
        while True:
            try:
                proc.wait(timeout=POLL_S)
                break
            except psutil.TimeoutExpired:
                peak = max(peak, sum(_tree_rss(p) for p in [proc, *also]))
                if time.perf_counter() - start > timeout:
                    proc.kill()
                    proc.wait()
                    return {"error": f"timed out after {timeout:.0f} s"}
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        lines = out.read().decode().strip().splitlines()
        if proc.returncode != 0 or not lines:
            tail = err.read().decode().strip().splitlines()[-3:]
            return {"error": f"exit {proc.returncode}: " + " | ".join(tail)}
    report = json.loads(lines[-1])
    rss = max(peak / 2**20, report["self_maxrss_mb"])
    return {"wall_s": wall, "rss_mb": rss, "load_1min": os.getloadavg()[0], **report}


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


@contextlib.contextmanager
def dask_cluster(n_workers: int) -> Iterator[tuple[str, list[psutil.Process]]]:
    """A running Dask cluster on loopback, started as a user starts one: ``dask scheduler``
    and ``dask worker`` with ``n_workers`` one-thread processes; yields its address and
    processes, and shuts it down after."""
    from distributed import Client

    dask = str(Path(sys.executable).with_name("dask"))
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    with tempfile.TemporaryDirectory() as folder:
        file = str(Path(folder) / "scheduler.json")
        procs = [
            psutil.Popen(
                [dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                 "--scheduler-file", file],
                **quiet,
            ),
            psutil.Popen(
                [dask, "worker", "--scheduler-file", file, "--host", "127.0.0.1",
                 "--nworkers", str(n_workers), "--nthreads", "1", "--no-dashboard",
                 "--local-directory", folder],
                **quiet,
            ),
        ]  # fmt: skip
        try:
            with Client(scheduler_file=file, timeout="60s", set_as_default=False) as client:
                client.wait_for_workers(n_workers, timeout=60)
                yield client.scheduler.address, procs
                client.shutdown()
        finally:
            for proc in procs:
                with contextlib.suppress(psutil.TimeoutExpired):
                    proc.wait(timeout=30)
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()


def agreement(
    results: Path, scenario: str, tool: str, column: str, ours: str = "ours"
) -> dict | None:
    """Largest relative difference of ``column`` between ``tool`` and ``ours``, and its zone."""
    ours, peer = results / f"{scenario}-{ours}.csv", results / f"{scenario}-{tool}.csv"
    if not (ours.exists() and peer.exists()):
        return None
    zone = "city_id" if column == RUN_COLUMN else "zone"  # the whole run: its city_year table
    keys = ["year", zone]
    a = pd.read_csv(ours, dtype={zone: str}).set_index(keys)[column]
    b = pd.read_csv(peer, dtype={zone: str}).set_index(keys).get(column)
    if b is None:
        return None
    a, b = a.align(b, join="inner")
    diff = (a.fillna(0) - b.fillna(0)).abs() / b.fillna(0).abs().clip(lower=1.0)
    top = diff.sort_values(ascending=False).head(3)
    year, zone = top.index[0]
    return {
        "max": float(top.iloc[0]),
        "zone": zone,
        "year": int(year),
        "top3": {f"{y}/{z}": float(v) for (y, z), v in top.items()},
    }


def run_scenario(name: str, args: argparse.Namespace, out_dir: Path) -> dict:
    """Every tool of one scenario, ``args.repeat`` times each; a summary per tool."""
    sc = SCENARIOS[name]
    print(f"\n## {name}: {sc.about}", flush=True)
    repeat = min(args.repeat, sc.max_repeat or args.repeat)
    if repeat < args.repeat:
        print(
            f"  (--repeat {args.repeat} capped to {repeat} for {name}: one run of a tool takes"
            " too long to repeat; its 'median' is that single run)",
            flush=True,
        )
    summary = {}
    for tool in sc.tools:
        runs = []
        for i in range(repeat):
            out = out_dir / f"{name}-{tool}.csv"
            cmd = [sys.executable, str(HERE / "tools.py"), tool, name, "--out", str(out)]
            cmd += ["--quick"] if args.quick else []
            if tool.startswith("ours-cluster"):  # a fresh cluster per run, started untimed
                with dask_cluster(int(tool.removeprefix("ours-cluster"))) as (address, procs):
                    run = measure([*cmd, "--scheduler", address], args.timeout, also=procs)
            else:
                run = measure(cmd, args.timeout)
            runs.append(run)
            print(f"  {tool:<14} run {i + 1}/{repeat}: {_shown(run)}", flush=True)
            if "error" in run:
                break
        summary[tool] = _summarise(runs)
    column = RUN_COLUMN if sc.job == "run" else "8" if sc.categorical else "sum"
    for tool in sc.tools[2:]:
        if "error" not in summary[tool]:
            diff = agreement(out_dir, name, tool, column, ours=sc.tools[1])
            summary[tool]["max_rel_diff"] = diff
    return {"about": sc.about, "compared_column": column, "repeat": repeat, "tools": summary}


def _shown(run: dict) -> str:
    """One run in a line: wall, peak RSS, compute phase and (Dask) start-up and workers."""
    if "error" in run:
        return run["error"]
    text = f"{run['wall_s']:.1f} s, {run['rss_mb']:.0f} MB (compute {run['compute_s']:.1f} s"
    if "cluster_start_s" in run:
        peaks = ", ".join(f"{mb:.0f}" for mb in run["workers_maxrss_mb"])
        text += (
            f", cluster start-up {run['cluster_start_s']:.1f} s, shutdown"
            f" {run['cluster_close_s']:.1f} s; peaks: tool {run['self_maxrss_mb']:.0f} MB,"
            f" workers [{peaks}] MB"
        )
    if "stages_s" in run:  # the whole run (C-run): seconds per stage and outputs
        stages = ", ".join(f"{k} {v:.1f}" for k, v in run["stages_s"].items())
        text += f"; stages s: {stages}; outputs {run['outputs_total_mb']:.0f} MB"
    return text + ")"


def _summarise(runs: list[dict]) -> dict:
    done = [r for r in runs if "error" not in r]
    if not done:
        return {"error": runs[-1]["error"]}
    wall = statistics.median(r["wall_s"] for r in done)
    extra = {
        key: statistics.median(r[key] for r in done)
        for key in ("cluster_start_s", "cluster_close_s")
        if key in done[0]
    }
    if "tree_maxrss_bound_mb" in done[0]:
        extra["tree_maxrss_bound_mb"] = max(r["tree_maxrss_bound_mb"] for r in done)
    # the whole run (C-run): its last run's stages, outputs, warnings and paradox line
    details = ("stages_s", "cog_copy_s", "outputs_mb", "outputs_total_mb", "warning_count")
    details += ("warnings", "paradox_text")
    extra.update({key: done[-1][key] for key in details if key in done[-1]})
    return {
        "wall_s": [r["wall_s"] for r in done],
        "median_s": wall,
        "run_s": statistics.median(r["run_s"] for r in done),
        "compute_s": statistics.median(r["compute_s"] for r in done),
        **extra,
        "cpu_s": statistics.median(r.get("cpu_s", float("nan")) for r in done),
        "load_1min": [r["load_1min"] for r in done],
        "rss_mb": max(r["rss_mb"] for r in done),
        "pixels": done[0]["pixels"],
        "mpx_per_s": done[0]["pixels"] / wall / 1e6,
    }


def table(results: dict) -> str:
    """Markdown table of the results (ratios: to the floor, and peer over ours)."""
    lines = [
        "| scenario | tool | median wall s | compute s | x floor | peer/ours (x faster) "
        "| peak RSS MB | CPU s | Mpx/s | max rel diff vs ours (zone) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, res in results.items():
        tools = res["tools"]
        floor, ours = (tools[t].get("median_s") for t in SCENARIOS[name].tools[:2])
        for tool, s in tools.items():
            if "error" in s:
                lines.append(f"| {name} | {tool} | {s['error']} | | | | | | | |")
                continue
            wall = s["median_s"]
            x_floor = f"{wall / floor:.2f}" if floor else ""
            faster = f"{wall / ours:.1f}" if ours and tool in PEERS else ""
            diff = s.get("max_rel_diff")
            diff = f"{diff['max']:.1e} ({diff['zone']})" if diff else ""
            lines.append(
                f"| {name} | {tool} | {wall:.1f} | {s['compute_s']:.1f} | {x_floor} | {faster} "
                f"| {s['rss_mb']:.0f} | {s['cpu_s']:.1f} | {s['mpx_per_s']:.0f} | {diff} |"
            )
    return "\n".join(lines)


def speedups(results: dict) -> list[str]:
    """Dask with two workers against one, per scenario and kind of cluster that ran both."""
    lines = []
    for name, res in results.items():
        for kind in ("dask", "cluster"):
            one, two = (res["tools"].get(f"ours-{kind}{n}") for n in (1, 2))
            if not one or not two or "error" in one or "error" in two:
                continue
            wall = one["median_s"] / two["median_s"]
            compute = one["compute_s"] / two["compute_s"]
            res.setdefault("dask_speedup", {})[kind] = {"wall": wall, "compute": compute}
            how = (
                f"a LocalCluster started and stopped in the measured process (start-up"
                f" {one['cluster_start_s']:.1f} / {two['cluster_start_s']:.1f} s included)"
                if kind == "dask"
                else "a running cluster (`dask scheduler` + `dask worker`, started untimed)"
            )
            call = "the whole job" if SCENARIOS[name].job == "run" else "the zonal_stats_many call"
            lines.append(
                f"{name}: Dask 2 workers vs 1 on {how}: {wall:.2f}x on the whole process,"
                f" {compute:.2f}x on {call} (floor: >= 1.6x; {os.cpu_count()} CPUs)."
            )
    return lines


def machine() -> dict:
    """Where the numbers come from."""
    versions = {}
    packages = ("urbanshrink_gis", "rasterio", "geopandas", "numpy", "exactextract", "rasterstats")
    for pkg in (*packages, "xarray-spatial", "xarray"):
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def main(argv: list[str] | None = None) -> int:
    """Build the data if needed, run the scenarios, print and save the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scenarios",
        default=",".join(DEFAULT),
        help=f"comma-separated, of {', '.join(SCENARIOS)} (default: all but the slow C,"
        " C-change and C-run; P-run is the whole `urbanshrink run` at province size, C-run"
        " nationwide, one run of"
        " 15-40 min)",
    )
    parser.add_argument("--repeat", type=int, help="runs per tool (default 3, 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="small grids: a smoke run of ~1 min")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per run")
    args = parser.parse_args(argv)
    if not BOUNDARIES.exists():
        print(f"bench skipped: the real boundaries are absent ({BOUNDARIES}); it needs ../shared")
        return 0
    names = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = sorted(set(names) - set(SCENARIOS))
    if unknown:
        parser.error(
            f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}"
        )
    args.repeat = args.repeat or (1 if args.quick else 3)

    print("Preparing data (built once, then reused) ...", flush=True)
    cache = cache_for(args.quick)
    for name in names:
        SCENARIOS[name].paths(cache)
    out_dir = RESULTS / ("quick" if args.quick else "latest")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = RESULTS / ("quick.json" if args.quick else "latest.json")
    report = {"quick": args.quick, "repeat": args.repeat, "machine": machine(), "scenarios": {}}
    for name in names:
        report["scenarios"][name] = run_scenario(name, args, out_dir)
        path.write_text(json.dumps(report, indent=2))  # saved as it goes: a long run may stop

    print("\n" + table(report["scenarios"]))
    for line in speedups(report["scenarios"]):
        print("\n" + line)
    path.write_text(json.dumps(report, indent=2))
    print(
        "\nx floor = wall / floor's wall; peer/ours = peer's wall / ours' wall. Wall times are"
        " whole processes (imports included; daskN: cluster start-up and shutdown too; clusterN:"
        " the cluster is started before and stopped after, untimed, and its processes count in"
        " the peak RSS but not in CPU s); compute s"
        " = the tool's own call only (Dask: the zonal_stats_many call, cluster excluded); peak"
        " RSS = the whole process tree, sampled every 50 ms (Dask workers included); CPU s ="
        " user + system of all its threads (a"
        " check on wall times when the machine is shared: see load_1min in the JSON; with"
        " daskN, the workers' too)."
        " exactextract always weights pixels by coverage, so its differences from ours'"
        " centre rule are expected. xarray-spatial runs only where the whole raster fits in"
        " memory (A, A-detailed, B): it reads the raster whole, burns the zones into one zone"
        " grid by the centre rule (rasterio's rasterize) and calls its zonal_stats, or"
        " zonal_crosstab for classes; one grid cannot hold overlapping zones (the later zone"
        " takes the pixel), so a few pixels of overlapping zones differ from ours."
    )
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
