"""metrics/city.py: night-light area sums, population-weighted light and gridded population."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod
from shapely.geometry import box

from urbanshrink_gis import ConfigError, get_product
from urbanshrink_gis.metrics.city import nightlight_metrics, population_metrics

RES = 1 / 240  # 15″, the VIIRS grid
GEOD = Geod(ellps="WGS84")


def pixel_km2(lat_top: float, rows: int) -> np.ndarray:
    """Geodesic area of one pixel in each row below ``lat_top``."""
    out = []
    for r in range(rows):
        top = lat_top - r * RES
        area, _ = GEOD.geometry_area_perimeter(box(120.0, top - RES, 120.0 + RES, top))
        out.append(abs(area) / 1e6)
    return np.array(out)


def test_ntl_area_sum_is_radiance_times_true_pixel_area(make_raster, make_zones):
    """Two cities of equal pixel sums, at 18°N and 54°N: their area sums differ by latitude."""
    vnl2 = get_product("vnl2")
    values = np.zeros((8, 4), "float32")
    values[:4] = np.arange(16).reshape(4, 4)  # the northern city ...
    values[4:] = np.arange(16).reshape(4, 4)  # ... and the same lights further south (18°N)
    north = make_raster(values[:4], res=RES, origin=(120.0, 54.0), name="n2020.tif")
    south = make_raster(values[4:], res=RES, origin=(120.0, 18.0), name="s2020.tif")
    for path, lat in ((north, 54.0), (south, 18.0)):
        zones = make_zones([box(120.0, lat - 4 * RES, 120.0 + 4 * RES, lat)], name=f"z{lat}.gpkg")
        out = nightlight_metrics(zones, {2020: path}, vnl2, zone_id="id").iloc[0]
        expected = (values[:4] * pixel_km2(lat, 4)[:, None]).sum()
        assert out["ntl_sum"] == values[:4].sum() == 120
        assert out["ntl_area_sum"] == pytest.approx(expected, rel=1e-6)
        assert "ntl_pop_weighted_mean" not in out


def test_population_weighted_light_per_year(make_raster, make_zones):
    vnl2 = get_product("vnl2")
    light = np.array([[10.0, 0.0], [2.0, 4.0]], "float32")
    people = np.array([[100.0, 5000.0], [-99999.0, 300.0]], "float32")
    ntl = {2020: make_raster(light, res=RES, name="ntl2020.tif")}
    pop = {2020: make_raster(people, res=RES, nodata=-99999.0, name="pop2020.tif")}
    zones = make_zones([box(100.0, 40.0 - 2 * RES, 100.0 + 2 * RES, 40.0)])
    out = nightlight_metrics(zones, ntl, vnl2, zone_id="id", weights=pop).iloc[0]
    # the unlit pixel holds most people; the nodata one (light 2) has no weight
    assert out["ntl_pop_weighted_mean"] == pytest.approx((1000 + 0 + 1200) / 5400)
    assert out["ntl_mean"] == pytest.approx(4.0)


def test_population_sums_and_default_value(make_raster, make_zones):
    """Truth table: valid pixels, partly nodata, wholly nodata, off the raster."""
    wp = get_product("worldpop")
    nd = wp.nodata
    people = np.array(
        [
            [1.5, 2.5, nd, nd],
            [3.0, nd, nd, nd],
        ],
        "float32",
    )
    raster = make_raster(people, res=RES, nodata=nd, name="wp2020.tif")
    x0, y0 = 100.0, 40.0
    zones = make_zones(
        [
            box(x0, y0 - RES, x0 + 2 * RES, y0),  # a: 1.5 + 2.5
            box(x0, y0 - 2 * RES, x0 + 2 * RES, y0 - RES),  # b: 3.0 and one nodata
            box(x0 + 2 * RES, y0 - 2 * RES, x0 + 4 * RES, y0),  # c: wholly nodata
            box(x0 + 10, y0 - 1, x0 + 11, y0),  # d: off the raster
        ]
    )
    plain = population_metrics(zones, {2020: raster}, wp, zone_id="id").set_index("city_id")
    assert list(plain.columns) == ["year", "pop_grid"]
    assert plain.loc["a", "pop_grid"] == 4.0
    assert plain.loc["b", "pop_grid"] == 3.0
    assert np.isnan(plain.loc["c", "pop_grid"]) and np.isnan(plain.loc["d", "pop_grid"])
    zero = population_metrics(
        zones, {2020: raster}, wp, zone_id="id", default_value=0, column="pop_resident"
    ).set_index("city_id")
    assert zero.loc["c", "pop_resident"] == 0.0  # nodata counted as nobody
    assert np.isnan(zero.loc["d", "pop_resident"])  # off the raster: still unknown
    assert zero.loc["a", "pop_resident"] == 4.0 and zero.loc["b", "pop_resident"] == 3.0
    some = population_metrics(zones, {2020: raster}, wp, zone_id="id", default_value=2).set_index(
        "city_id"
    )
    assert some.loc["b", "pop_grid"] == 5.0 and some.loc["c", "pop_grid"] == 8.0


def test_population_metrics_refuse_other_products(make_raster, make_zones):
    raster = make_raster(np.ones((2, 2), "float32"), name="x2020.tif")
    zones = make_zones([box(100.0, 39.99, 100.01, 40.0)])
    with pytest.raises(ConfigError, match="not population"):
        population_metrics(zones, {2020: raster}, get_product("vnl2"), zone_id="id")
