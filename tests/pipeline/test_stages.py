"""pipeline/stages.py: the period's lit/dark and built-up change pixels, rendered once for the
dark and new built-up tables and the rasters of every scope."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
import rasterio

from urbanshrink_gis import pipeline, read_boundaries
from urbanshrink_gis.demo import write_demo_data
from urbanshrink_gis.io.series import clip_series
from urbanshrink_gis.metrics import change
from urbanshrink_gis.pipeline.checkpoints import CHECKPOINT_DIR
from urbanshrink_gis.pipeline.stages import LIT_DARK, PIXEL_DIR, period_pixels, vacancy_source


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo's configuration, boundaries and resolved raster series."""
    root = tmp_path_factory.mktemp("stages")
    config = pipeline.load_config(write_demo_data(root / "data").config)
    b = config.boundaries
    boundaries = read_boundaries(b.path, id_field=b.id, layer=b.layer)
    series = pipeline.resolve_sources(config, boundaries, folder=root / "sources")
    return config, boundaries, series


def codes_of(path):
    with rasterio.open(path) as ds:
        return ds.read(1)


def lit_dark_pixels(config, series, folder):
    return period_pixels(config, series, folder)[LIT_DARK]


def test_new_builtup_counted_on_the_rendered_pixels_equals_the_direct_count(demo, tmp_path):
    config, boundaries, series = demo
    rendered = lit_dark_pixels(config, series, tmp_path)
    direct = pipeline.new_builtup_table(config, boundaries, series)
    shared = pipeline.new_builtup_table(config, boundaries, series, lit_dark=rendered)
    assert direct["new_builtup_km2"].gt(0).any()
    pd.testing.assert_frame_equal(shared, direct, check_exact=True)  # the same codes counted
    source = vacancy_source(config, series)
    expected = np.zeros_like(codes_of(rendered.vrt))
    for window, block in source.blocks():
        expected[window.toslices()] = block
    np.testing.assert_array_equal(codes_of(rendered.vrt), expected)
    assert set(np.unique(expected)) >= {1, 2, 4}  # not built-up, old and new built-up


def test_the_end_years_dark_builtup_counted_on_the_render_equals_the_direct_count(demo, tmp_path):
    config, boundaries, series = demo
    rendered = lit_dark_pixels(config, series, tmp_path)
    direct = pipeline.city_year_table(config, boundaries, series=series)
    shared = pipeline.city_year_table(config, boundaries, series=series, lit_dark=rendered)
    end = direct[direct["year"] == config.analysis.end]
    assert end["dark_builtup_km2"].gt(0).any() and direct["year"].nunique() > 2
    pd.testing.assert_frame_equal(shared, direct, check_exact=True)


def test_the_change_pixels_rendered_with_the_lit_dark_codes_equal_the_change_blocks(demo, tmp_path):
    config, _, series = demo
    rendered = period_pixels(config, series, tmp_path)
    lc = next(one for one in series if one.product.kind == "landcover")
    start, end = config.analysis.start, config.analysis.end
    name = f"builtup_change_{start}_{end}.tif"
    assert sorted(rendered) == sorted([LIT_DARK, name])
    blocks = change.builtup_change_blocks(lc.path(start), lc.path(end), lc.product)
    expected = np.zeros((blocks.grid.height, blocks.grid.width), np.uint8)
    for window, block in blocks:
        expected[window.toslices()] = block
    np.testing.assert_array_equal(codes_of(rendered[name].vrt), expected)
    assert set(np.unique(expected)) >= {1, 2, 3}  # never, stable and gained built-up


def test_a_finished_render_is_reused_and_an_unfinished_one_computed_again(demo, tmp_path):
    config, _, series = demo
    first = lit_dark_pixels(config, series, tmp_path)
    codes = codes_of(first.vrt)
    stamps = [p.stat().st_mtime_ns for p in first.parts]
    again = lit_dark_pixels(config, series, tmp_path)
    assert again.parts == first.parts
    assert [p.stat().st_mtime_ns for p in again.parts] == stamps  # reused, not rewritten
    (first.vrt.parent.parent / "done").unlink()  # as a run killed while rendering leaves it
    first.parts[0].write_bytes(b"half a strip")
    redone = lit_dark_pixels(config, series, tmp_path)
    np.testing.assert_array_equal(codes_of(redone.vrt), codes)


def test_the_run_leaves_no_rendered_pixels_and_writes_them_as_the_raster(demo_run, tmp_path):
    _, out = demo_run
    assert not (out / CHECKPOINT_DIR / PIXEL_DIR).exists()  # they are in the COG now
    config = pipeline.load_config(out / "data" / "urbanshrink.toml")
    b = config.boundaries
    boundaries = read_boundaries(b.path, id_field=b.id, layer=b.layer)
    series = pipeline.resolve_sources(config, boundaries, folder=tmp_path / "sources")
    cut = [clip_series(one, boundaries) for one in series]
    source = vacancy_source(config, cut)
    raster = codes_of(out / "rasters" / "new_builtup_dark.tif")
    expected = np.zeros_like(raster)
    for window, block in source.blocks():
        expected[window.toslices()] = block
    np.testing.assert_array_equal(raster, expected)


def test_scopes_share_one_render_whatever_their_boundaries(demo, tmp_path):
    config, _, series = demo
    first = lit_dark_pixels(config, series, tmp_path)
    urban = dataclasses.replace(  # the urban scope's configuration names its footprints
        config, boundaries=dataclasses.replace(config.boundaries, path="footprints.gpkg")
    )
    assert lit_dark_pixels(urban, series, tmp_path).parts == first.parts
    assert len(list(tmp_path.iterdir())) == 1
