"""pipeline/prepare.py: `urbanshrink prepare` keeps the urban layer; a run on it is the same."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
from click.testing import CliRunner

from urban_case import ALBERS, prefecture_frame, square
from urbanshrink_gis.cli import cli


def test_prepare_keeps_the_urban_layer_and_the_run_on_it_is_the_same(crafted):
    folder, text = crafted
    west = prefecture_frame().to_crs(ALBERS).geometry.iloc[0]
    x0, _, _, y1 = west.bounds
    gpd.GeoDataFrame(
        {"pref_code": ["420100"]},
        geometry=[square(x0 + 1000, y1 - 7000, x0 + 5000, y1 - 4000)],
        crs=ALBERS,
    ).to_file(folder / "districts.gpkg", engine="pyogrio")
    config = folder / "urbanshrink.toml"
    urban = '[boundaries.urban]\npath = "districts.gpkg"\nid = "pref_code"\n'
    config.write_text(text.format(urban=urban), encoding="utf-8")
    runner = CliRunner()
    assert (
        runner.invoke(cli, ["-qq", "run", str(config), "--out", str(folder / "a")]).exit_code == 0
    )
    result = runner.invoke(cli, ["-qq", "prepare", str(config), "--out", str(folder / "prep")])
    assert result.exit_code == 0, result.output
    prepared = folder / "prep" / "urbanshrink.toml"
    again = runner.invoke(cli, ["-qq", "run", str(prepared), "--out", str(folder / "b")])
    assert again.exit_code == 0, again.output
    for name in ("cities_urban.csv", "city_year_urban.csv", "scopes.csv"):
        pd.testing.assert_frame_equal(
            pd.read_csv(folder / "a" / name), pd.read_csv(folder / "b" / name)
        )
