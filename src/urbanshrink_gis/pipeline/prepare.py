"""Prepare inputs once: every raster series clipped to the cities into tiled COGs, and a config.

A global VNL year read through ``/vsigzip/`` decompresses from the start for every read, and
a year of hundreds of WorldCover tiles opens hundreds of files; ``prepare`` reads each once
and writes, per series and year (and CRS group), one tiled, deflate-compressed COG of the
boundaries' extent plus one pixel, on the same grid (no resampling), with the fill, scale and
offset the run would use. The new configuration lists these files per year; a run on it gives
the same tables. Finished files are kept, so an interrupted ``prepare`` resumes.
"""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import rasterio
import rasterio.shutil

from urbanshrink_gis import pipeline
from urbanshrink_gis._files import atomic_path
from urbanshrink_gis._progress import StageProgress
from urbanshrink_gis.errors import ConfigError
from urbanshrink_gis.io import series as sources
from urbanshrink_gis.io.boundaries import read_boundaries

__all__ = ["prepare"]

log = logging.getLogger(__name__)

CONFIG_NAME = "urbanshrink.toml"
_COG = dict(driver="COG", COMPRESS="DEFLATE", LEVEL=3, BLOCKSIZE=512, RESAMPLING="NEAREST")


def prepare(
    config_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    progress: StageProgress | None = None,
) -> Path:
    """Clip every raster series of a configuration to its cities and write a new configuration.

    Parameters
    ----------
    config_path
        The run configuration (TOML).
    out_dir
        Folder for the COGs (``<series>/<series>_<year>.tif``) and the new ``urbanshrink.toml``.
    progress
        Called with (stage name, files done, files total).

    Returns
    -------
    pathlib.Path
        The new configuration.

    Raises
    ------
    UrbanShrinkError
        As :func:`urbanshrink_gis.pipeline.run` would before any work (a bad configuration, a
        file violating its preset, ...).
    """
    config = pipeline.load_config(config_path)
    out = Path(out_dir)
    b = config.boundaries
    boundaries = read_boundaries(b.path, id_field=b.id, name_field=b.name, layer=b.layer)
    series = pipeline.resolve_sources(config, boundaries, folder=out / ".sources")
    paths: list[dict[str, list[str]]] = []
    for one in series:
        cut = sources.clip_series(one, boundaries)
        paths.append(_write_series(cut, out, progress))
    raw = tomllib.loads(Path(config_path).read_text(encoding="utf-8"))
    new = _new_config(raw, Path(config_path).parent, config, paths)
    target = out / CONFIG_NAME
    with atomic_path(target, overwrite=True) as tmp:
        tmp.write_text(new, encoding="utf-8")
    return target


def _write_series(
    series: sources.Series, out: Path, progress: StageProgress | None
) -> dict[str, list[str]]:
    """Copy each year (and CRS group) of a clipped series into a COG; return year -> files."""
    units = [(y, g, name) for y in series.years for g, name in sorted(series.groups[y].items())]
    stage = f"prepare {series.label}"
    if progress is not None:
        progress(stage, 0, len(units))
    files: dict[str, list[str]] = {}
    for done, (year, group, name) in enumerate(units, start=1):
        suffix = f"_g{group}" if len(series.crs) > 1 else ""
        target = out / series.label / f"{series.label}_{year}{suffix}.tif"
        if not target.exists():  # finished files are kept: an interrupted prepare resumes
            target.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(target, overwrite=False) as tmp, rasterio.open(name) as src:
                rasterio.shutil.copy(src, tmp, **_COG)
        files.setdefault(str(year), []).append(os.fspath(target.resolve()))
        if progress is not None:
            progress(stage, done, len(units))
    return files


def _new_config(
    raw: Mapping[str, Any],
    base: Path,
    config: pipeline.RunConfig,
    paths: list[dict[str, list[str]]],
) -> str:
    """The configuration again, absolute paths, each series' files listed per year."""
    raw = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in raw.items()}
    raw["boundaries"]["path"] = os.fspath(config.boundaries.path.resolve())
    urban = config.boundaries.urban
    if urban is not None and urban.path is not None and "urban" in raw["boundaries"]:
        raw["boundaries"]["urban"] = {
            **raw["boundaries"]["urban"],
            "path": os.fspath(urban.path.resolve()),
        }
    if "population" in raw and config.population is not None:
        raw["population"]["path"] = os.fspath(Path(config.population.spec.path).resolve())
    if "output" in raw and "dir" in raw["output"]:
        raw["output"]["dir"] = os.fspath((base / raw["output"]["dir"]).resolve())
    rasters = []
    for table, files, raster in zip(raw["rasters"], paths, config.rasters, strict=True):
        table = {k: v for k, v in table.items() if k not in ("path", "paths", "years")}
        table["paths"] = files
        if raster.weights is not None and not raster.weights.startswith("/vsi"):
            table["weights"] = os.fspath(Path(raster.weights).resolve())
        rasters.append(table)
    raw["rasters"] = rasters
    return "# written by `urbanshrink prepare`: the inputs clipped to the cities\n" + _toml(raw)


def _toml(doc: Mapping[str, Any]) -> str:
    """TOML text of a configuration (tables, arrays of tables, inline tables, scalars)."""
    lines: list[str] = []
    for key, value in doc.items():
        if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            for item in value:
                lines += ["", f"[[{key}]]", *(f"{k} = {_value(v)}" for k, v in item.items())]
        elif isinstance(value, Mapping):
            lines += ["", f"[{key}]", *(f"{k} = {_value(v)}" for k, v in value.items())]
        else:
            lines.insert(0, f"{key} = {_value(value)}")
    return "\n".join(lines).lstrip("\n") + "\n"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if value == value and abs(value) != float("inf") else _special(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise ConfigError(f"cannot write {value!r} as TOML", where="prepare", fix="report this")


def _key(key: str) -> str:
    return (
        key if key.replace("_", "").replace("-", "").isalnum() and not key.isdigit() else f'"{key}"'
    )


def _special(value: float) -> str:
    return "nan" if value != value else ("inf" if value > 0 else "-inf")
