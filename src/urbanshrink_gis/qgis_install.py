"""Install the QGIS plugin (:mod:`urbanshrink_gis.qgis_plugin`) into a QGIS user profile.

The plugin folder is copied to ``<profiles>/<profile>/python/plugins/urbanshrink`` with a record
(``urbanshrink.json``) of the command line it runs (this environment's Python with
``-m urbanshrink_gis``) and of the registry's names (presets by kind, statistics, pixel rules,
shrink rules), and enabled in the profile's ``QGIS/QGIS3.ini``, which ``qgis_process`` and the
desktop both read. Nothing outside that profile is touched.
"""

from __future__ import annotations

import configparser
import json
import os
import shutil
import sys
from importlib import metadata
from pathlib import Path
from typing import get_args

from urbanshrink_gis.analysis import ShrinkRule
from urbanshrink_gis.errors import ConfigError
from urbanshrink_gis.products.presets import get_product, product_names
from urbanshrink_gis.zonal.coverage import Coverage
from urbanshrink_gis.zonal.stats import DEFAULT_STATS, STATISTICS

__all__ = ["PLUGIN_NAME", "default_profiles_path", "install_plugin"]

#: Folder name of the plugin in a profile (and its name for ``qgis_process plugins enable``).
PLUGIN_NAME = "urbanshrink"


def default_profiles_path() -> Path:
    """Where QGIS keeps its user profiles.

    ``$QGIS_CUSTOM_CONFIG_PATH/profiles`` when that is set (as QGIS itself reads it), else
    ``~/.local/share/QGIS/QGIS3/profiles``.
    """
    custom = os.environ.get("QGIS_CUSTOM_CONFIG_PATH")
    if custom:
        return Path(custom) / "profiles"
    data = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data) / "QGIS" / "QGIS3" / "profiles"


def install_plugin(
    profile: str = "default", *, profiles_path: str | os.PathLike | None = None
) -> Path:
    """Copy the plugin into a QGIS profile, record this environment's CLI and enable it.

    Parameters
    ----------
    profile
        QGIS user profile name.
    profiles_path
        Folder holding the profiles (default: :func:`default_profiles_path`).

    Returns
    -------
    pathlib.Path
        The installed plugin folder (replaced if it was there).

    Raises
    ------
    ConfigError
        The profile name is not a plain folder name.
    """
    if not profile or Path(profile).name != profile or profile in {".", ".."}:
        raise ConfigError(
            f"profile {profile!r} is not a profile name",
            where="--profile",
            fix="give the name of a QGIS profile, e.g. default",
        )
    root = (Path(profiles_path) if profiles_path else default_profiles_path()) / profile
    plugins = root / "python" / "plugins"
    target = plugins / PLUGIN_NAME
    source = Path(__file__).with_name("qgis_plugin")
    plugins.mkdir(parents=True, exist_ok=True)
    staging = plugins / f".{PLUGIN_NAME}-installing"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (staging / "urbanshrink.json").write_text(json.dumps(_record(), indent=2), encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)
    _enable(root / "QGIS" / "QGIS3.ini")
    return target


def _record() -> dict:
    """The command line and the registry's names the plugin's dialogs offer."""
    presets: dict[str, list[str]] = {}
    for name in product_names():
        presets.setdefault(get_product(name).kind, []).append(name)
    return {
        "command": [sys.executable, "-m", "urbanshrink_gis"],
        "version": metadata.version("urbanshrink_gis"),
        "presets": presets,
        "stats": [
            *(s for s in STATISTICS if not s.startswith(("above_", "percentile"))),
            "percentile_10",
            "percentile_90",
        ],  # thresholds: the CLI's --stats
        "default_stats": list(DEFAULT_STATS),
        "coverage": list(get_args(Coverage)),
        "rules": list(get_args(ShrinkRule)),
    }


def _enable(ini: Path) -> None:
    """``[PythonPlugins] urbanshrink=true`` in the profile's settings, other keys kept."""
    settings = configparser.RawConfigParser(strict=False)
    settings.optionxform = str  # QSettings keys are case-sensitive
    if ini.exists():
        settings.read(ini, encoding="utf-8")
    if not settings.has_section("PythonPlugins"):
        settings.add_section("PythonPlugins")
    settings.set("PythonPlugins", PLUGIN_NAME, "true")
    ini.parent.mkdir(parents=True, exist_ok=True)
    with ini.open("w", encoding="utf-8") as f:
        settings.write(f, space_around_delimiters=False)
