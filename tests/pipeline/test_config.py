"""pipeline/config.py: the TOML configuration: paths, errors naming the key and the fix, fuzzing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from conftest import CONFIG, SIZE, YEARS, allowed, edit_config, landcover, write_raster, write_tiny
from urban_case import case_config
from urbanshrink_gis import pipeline
from urbanshrink_gis.cli import cli
from urbanshrink_gis.errors import ConfigError, UrbanShrinkError
from urbanshrink_gis.pipeline import config as run_config
from urbanshrink_gis.pipeline import stages


def write_config(tmp_path, text):
    path = tmp_path / "run.toml"
    path.write_text(text, encoding="utf-8")
    return path


BASE = """
[boundaries]
path = "b.gpkg"
id = "adcode"

[[rasters]]
kind = "nightlight"
product = "vnl2"
path = "ntl/vnl2_{year}.tif"

[analysis]
start = 2010
end = 2020
"""


def test_config_paths_are_relative_to_the_file(tmp_path):
    cfg = pipeline.load_config(write_config(tmp_path, BASE))
    assert cfg.boundaries.path == tmp_path / "b.gpkg"
    assert cfg.rasters[0].path == str(tmp_path / "ntl" / "vnl2_{year}.tif")
    assert cfg.analysis.start == 2010


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ("[analysis]", "[analysis]\nshrink_rul = 'period'"),
            "unknown key 'shrink_rul'.*'shrink_rule'",
        ),
        (("end = 2020", "end = 'soon'"), "'soon' is a str, not int"),
        (("end = 2020", "end = 2000"), "end year 2000 is not after start year 2010"),
        (('product = "vnl2"', 'product = "vnl2"\nkidn = 1'), "unknown key 'kidn'.*'kind'"),
        (('path = "ntl/vnl2_{year}.tif"', 'path = "ntl/vnl2.tif"'), "has no \\{year\\}"),
        (("[boundaries]", "[boundary]"), "unknown key 'boundary'.*'boundaries'"),
    ],
)
def test_config_errors_name_the_key_and_the_fix(tmp_path, edit, message):
    text = BASE.replace(*edit, 1)
    with pytest.raises(ConfigError, match=message):
        pipeline.load_config(write_config(tmp_path, text))


def test_a_folder_named_with_year_is_no_placeholder(tmp_path):
    """Only a pattern's own {year} is expanded: not the one of the configuration's folder."""
    root = tmp_path / "run_{year}"
    cfg = write_tiny(root)
    decoy = tmp_path / "run_2010" / "rasters"  # what "run_{year}/..." would also match
    decoy.mkdir(parents=True)
    for year in YEARS:
        for folder in (root / "rasters", decoy):
            write_raster(folder / f"pop_{year}.tif", np.ones((SIZE, SIZE), np.float32))
        write_raster(decoy / f"clcd_{year}.tif", landcover(year), nodata=0)
    edit_config(
        root, "lit_threshold = 0.0", 'lit_threshold = 0.0\nweights = "rasters/pop_{year}.tif"'
    )
    edit_config(root, "[population]", '[[rasters]]\nkind = "population"\nproduct = "custom"\n'
                'path = "rasters/pop_{year}.tif"\ndtype = "float32"\n\n[population]')  # fmt: skip
    landcover_cfg, light, people = pipeline.load_config(cfg).rasters

    def own(stem):
        return {y: str(root / "rasters" / f"{stem}_{y}.tif") for y in YEARS}

    assert landcover_cfg.files() == {y: (f,) for y, f in own("clcd").items()}
    assert people.files() == {y: (f,) for y, f in own("pop").items()}
    assert stages._weights_series(light, YEARS) == own("pop")
    one = root / "rasters" / "pop.tif"  # one weights file for every year: no pattern at all
    write_raster(one, np.ones((SIZE, SIZE), np.float32))
    edit_config(root, "pop_{year}.tif", "pop.tif")
    light = pipeline.load_config(cfg).rasters[1]
    assert stages._weights_series(light, YEARS) == dict.fromkeys(YEARS, str(one))


# --- the urban scope's settings (the crafted case of tests/urban_case.py) --------------------


@pytest.mark.parametrize(
    ("boundaries", "urban", "message"),
    [
        ('scope = "prefecture"', "[boundaries.urban]\nmin_km2 = 2.0\n", 'scope has no "urban"'),
        ('scope = ["urban", "urban"]', "", "must name each of its scopes once"),
        ('scope = "town"', "", "'town' is not one of"),
        ('scope = "urban"', "[boundaries.urban]\nbuffer_m = -5.0\n", "buffer_m = -5.0 is negative"),
        ('scope = "urban"', '[boundaries.urban]\npopulation = "resident"\n', "whole prefecture"),
        ('scope = "urban"', "[boundaries.urban]\nbufer_m = 5.0\n", "did you mean 'buffer_m'"),
    ],
)
def test_bad_urban_settings_stop_before_any_work(crafted, boundaries, urban, message):
    folder, text = crafted
    text = text.replace('scope = ["prefecture", "urban"]', boundaries)
    (folder / "urbanshrink.toml").write_text(text.format(urban=urban), encoding="utf-8")
    result = CliRunner().invoke(cli, ["run", str(folder / "urbanshrink.toml")])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (folder / "outputs").exists()


def test_the_urban_scope_needs_the_urban_population_and_a_land_cover(crafted):
    folder, text = crafted
    no_urban = text.replace('urban = "pop_urban"\n', "")
    with pytest.raises(ConfigError, match="needs the urban residents"):
        case_config(folder, no_urban)
    light_only = text.replace('kind = "landcover"\nproduct = "clcd"', 'kind = "nightlight"\n'
                              'product = "vnl2"')  # fmt: skip
    with pytest.raises(ConfigError, match="need a land-cover series"):
        case_config(folder, light_only)
    late = case_config(folder, text, "[boundaries.urban]\nyear = 2015\n")
    with pytest.raises(ConfigError, match="no year 2015"):
        pipeline.run(late, out_dir=folder / "out")


# --- fuzzing: a configuration or one UrbanShrinkError, never a crash ------------------------

VALID = {
    "boundaries": {"path": "b.gpkg", "id": "adcode", "name": "name"},
    "rasters": [
        {"kind": "landcover", "product": "clcd", "path": "lc/clcd_{year}.tif"},
        {"kind": "nightlight", "product": "vnl2", "path": "ntl/vnl2_{year}.tif",
         "years": [2010, 2020], "lit_threshold": 0.5},
    ],
    "population": {"path": "p.csv", "id": "adcode", "resident": "pop", "interpolate": "linear"},
    "analysis": {"start": 2010, "end": 2020, "criteria": ["econ_lag"]},
    "output": {"dir": "out"},
}  # fmt: skip

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["{year}", "clcd", "custom", "landcover", "nightlight", "period", "x.tif"])
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12,
)  # fmt: skip
EXTRA_KEYS = {"nodata", "scale", "classes", "builtup_classes", "dtype", "kind", "aliases",
              "sheet", "encoding", "shrink_rule", "coverage"}  # fmt: skip
KEYS = sorted(
    {k for v in VALID.values() for t in (v if isinstance(v, list) else [v]) for k in t}
    | set(VALID) | EXTRA_KEYS
)  # fmt: skip


def check_config(raw: dict) -> None:
    # a [population] that is not a table is test_population_section_not_a_table (a known bug)
    assume(isinstance(raw.get("population", {}), dict))

    def build() -> pipeline.RunConfig:
        cfg = pipeline.config_from_dict(raw, base=Path("/data"))  # type: ignore[arg-type]
        for raster in cfg.rasters:  # presets are part of the configuration
            raster.preset()
        return cfg

    cfg = allowed(build)
    assert cfg is None or isinstance(cfg, pipeline.RunConfig)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from([*run_config._SECTIONS, "x"]), values, max_size=6))
def test_fuzz_config_random_sections(raw) -> None:
    check_config(raw)


@pytest.mark.parametrize("population", [[[1, 2]], "ab", 5])
def test_population_section_not_a_table(population) -> None:
    with pytest.raises(UrbanShrinkError, match=r"\[population\].*is not a table"):
        pipeline.config_from_dict({**VALID, "population": population}, base=Path("/data"))


@st.composite
def mutated_configs(draw) -> dict:
    """A valid configuration with a few keys replaced, added or dropped at random."""
    raw = {k: [dict(r) for r in v] if isinstance(v, list) else dict(v) for k, v in VALID.items()}
    for _ in range(draw(st.integers(1, 3))):
        section = draw(st.sampled_from(sorted(raw)))
        tables = raw[section] if isinstance(raw[section], list) else [raw[section]]
        table = draw(st.sampled_from(tables))
        key = draw(st.sampled_from(KEYS))
        if draw(st.booleans()) or key not in table:
            table[key] = draw(values)
        else:
            del table[key]
    return raw


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_configs())
@example({**VALID, "rasters": [{"kind": "landcover", "product": "clcd", "path": "a{year}",
                                "classes": 5}]})  # fmt: skip
@example({**VALID, "population": {**VALID["population"], "aliases": 5}})
def test_fuzz_config_mutations(raw) -> None:
    check_config(raw)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300) | st.sampled_from([CONFIG, CONFIG.replace("]", "", 1)]))
def test_fuzz_load_config_random_text(tmp_path_factory, text) -> None:
    path = tmp_path_factory.getbasetemp() / "fuzz.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    cfg = allowed(lambda: pipeline.load_config(path))
    assert cfg is None or isinstance(cfg, pipeline.RunConfig)
