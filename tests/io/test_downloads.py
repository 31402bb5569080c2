# Tests of the test helper tests/downloads.py (no module of the package): its files are right.
"""The real-shaped fixtures of tests/downloads.py against ../shared/PRODUCTS.md and brute force."""

from __future__ import annotations

import fnmatch
import gzip
import re
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import rasterio
import shapely
from pyproj import CRS, Geod, Transformer
from rasterio.errors import WindowError
from rasterio.windows import Window, from_bounds

import downloads as dl

GEOD = Geod(ellps="WGS84")
BM_FIELDS = "HDFEOS/GRIDS/VIIRS_Grid_DNB_2d/Data Fields"

# File names as PRODUCTS.md documents them (GlobeLand30's is the unverified convention).
NAMES = {
    "vnl2": (
        r"^VNL_v21_npp_(?P<year>20(1[3-9]|2[01]))_global_vcmslcfg_c202205302300\.(?P<layer>\w+)"
        r"\.dat\.tif\.gz$|^VNL_v21_npp_(?P<y12>2012)04-201212_global_vcmcfg_c202205302300\."
        r"(?P<l12>\w+)\.dat\.tif\.gz$|^VNL_v22_npp-j01_(?P<y22>20(2[2-9]))_global_vcmslcfg_"
        r"c(?P<stamp>\d{12})\.(?P<l22>\w+)\.dat\.tif\.gz$"
    ),
    "blackmarble": r"^VNP46A4\.A(?P<year>\d{4})001\.h(\d\d)v(\d\d)\.002\.(?P<stamp>\d{13})\.h5$",
    "blackmarble_c1": r"^VNP46A4\.A(?P<year>\d{4})001\.h(\d\d)v(\d\d)\.001\.(?P<stamp>\d{13})\.h5$",
    "worldcover": r"^ESA_WorldCover_10m_(2020_v100|2021_v200)_[NS]\d\d[EW]\d{3}_(Map|InputQuality)\.tif$",  # noqa: E501 (one regex reads better whole)
    "globeland30": r"^N(?P<zone>\d\d)_(?P<lat>\d\d)_(2000|2010|2020)LC030\.zip$",
    "clcd": r"^CLCD_v01_(?P<year>\d{4})_albert\.tif$",
    "dmsp_harmonized": r"^Harmonized_DN_NTL_(?P<year>\d{4})_(?P<kind>calDMSP|simVIIRS)\.tif$",
    "ghsl_built_s": r"^GHS_BUILT_S_E(?P<year>\d{4})_GLOBE_R2023A_54009_100_V1_0_R(?P<r>\d+)_C(?P<c>\d+)\.tif$",  # noqa: E501
}

BUILDERS = {
    "vnl2": lambda d: dl.vnl_v2(d),
    "blackmarble": lambda d: dl.blackmarble_c2(d),
    "blackmarble_c1": lambda d: dl.blackmarble_c1(d),
    "worldcover": lambda d: dl.worldcover(d, 2021),
    "globeland30": lambda d: dl.globeland30(d),
    "clcd": lambda d: dl.clcd(d),
    "dmsp_harmonized": lambda d: dl.dmsp_harmonized(d),
    "ghsl_built_s": lambda d: dl.ghsl_built_s(d),
}


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    root = tmp_path_factory.mktemp("downloads")
    return {name: build(root / name) for name, build in BUILDERS.items()}


def _rasters(fx):
    return [f for f in fx.files if f.suffix != ".gpkg"]


def _year_files(fx, year):
    """The files the fixture's suggested pattern picks for `year` (glob rules, as fnmatch)."""
    pattern = fx.path_pattern.replace("{year}", str(year))
    return sorted(f for f in fx.files if fnmatch.fnmatchcase(f.name, pattern))


def _gdal_path(path: Path) -> str:
    if path.suffix == ".gz":
        return f"/vsigzip/{path}"
    if path.suffix == ".zip":
        member = next(n for n in zipfile.ZipFile(path).namelist() if n.endswith(".tif"))
        return f"/vsizip/{path}/{member}"
    return str(path)


# ----------------------------------------------------------------------------- brute force


def _pixel_area_m2(lat_centre: np.ndarray, res: float) -> np.ndarray:
    """Geodesic area of lon/lat pixels from their centre latitudes (4 corners, WGS84)."""
    out = np.empty(lat_centre.shape)
    for lat in np.unique(lat_centre):
        lons = [0, res, res, 0]
        lats = [lat + res / 2, lat + res / 2, lat - res / 2, lat - res / 2]
        out[lat_centre == lat] = abs(GEOD.polygon_area_perimeter(lons, lats)[0])
    return out


def _zone_pixels(path: str, poly, lonlat=None):
    """Values and centre lon/lat of the pixels of `path` whose centre lies in the lon/lat `poly`."""
    with rasterio.open(path) as ds:
        if lonlat is None:
            to_ds = Transformer.from_crs("EPSG:4326", ds.crs, always_xy=True)
            b = to_ds.transform_bounds(*poly.bounds, densify_pts=51)
            w = from_bounds(*b, ds.transform)
            c0, r0 = int(np.floor(w.col_off)), int(np.floor(w.row_off))
            win = Window(c0, r0, int(np.ceil(w.width)) + 1, int(np.ceil(w.height)) + 1)
        else:  # Black Marble: pixel positions from the file's own 1-D lat/lon
            lat, lon = lonlat
            cols = np.flatnonzero((lon >= poly.bounds[0]) & (lon <= poly.bounds[2]))
            rows = np.flatnonzero((lat >= poly.bounds[1]) & (lat <= poly.bounds[3]))
            if not len(cols) or not len(rows):
                return np.array([]), np.array([]), np.array([])
            win = Window(cols[0], rows[0], cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1)
        win = Window(win.col_off - 2, win.row_off - 2, win.width + 4, win.height + 4)
        try:
            win = win.intersection(Window(0, 0, ds.width, ds.height))
        except WindowError:  # the zone lies in another tile
            return np.array([]), np.array([]), np.array([])
        a = ds.read(1, window=win)
        r, c = np.mgrid[0 : a.shape[0], 0 : a.shape[1]]
        r, c = r + win.row_off, c + win.col_off
        if lonlat is None:
            x, y = ds.transform * (c + 0.5, r + 0.5)
            plon, plat = Transformer.from_crs(ds.crs, "EPSG:4326", always_xy=True).transform(x, y)
        else:
            plon, plat = lonlat[1][c], lonlat[0][r]
    inside = shapely.contains_xy(poly, plon, plat)
    return a[inside], plon[inside], plat[inside]


def _brute_force(fx, year, poly) -> dict:
    """The expected columns of one zone and year, recomputed from the files on disk."""
    vals, lats, res, fill, scale = [], [], None, None, 1.0
    for f in _year_files(fx, year):
        lonlat = None
        path = _gdal_path(f)
        if f.suffix == ".h5":
            with h5py.File(f) as h5:
                lonlat = (h5[f"{BM_FIELDS}/lat"][:], h5[f"{BM_FIELDS}/lon"][:])
                ds = h5[f"{BM_FIELDS}/{dl.BM_LAYERS[0]}"]
                fill, scale = ds.attrs["_FillValue"][0], float(ds.attrs["scale_factor"][0])
            path = f'HDF5:"{f}"://{BM_FIELDS.replace(" ", "_")}/{dl.BM_LAYERS[0]}'
            res = 1 / 240
        else:
            with rasterio.open(path) as ds:
                fill = ds.nodata
                res = ds.res[0] if ds.crs.is_geographic else None
        v, lon, lat = _zone_pixels(path, poly, lonlat)
        if fx.product == "globeland30":  # a tile's data is its own lon/lat cell (PRODUCTS.md §6)
            m = re.match(NAMES["globeland30"], f.name)
            west, south = -180 + 6 * (int(m.group("zone")) - 1), int(m.group("lat"))
            own = (lon >= west) & (lon < west + 6) & (lat >= south) & (lat < south + 5)
            v, lat = v[own], lat[own]
        vals.append(v)
        lats.append(lat)
    v, lat = np.concatenate(vals), np.concatenate(lats)
    if fx.product in ("clcd", "globeland30"):
        fill = 0  # no tag in CLCD; 0 is no data for both (PRODUCTS.md §4, §6)
    valid = v != fill if fill is not None else np.ones(v.shape, bool)
    out = {"fill_pixels": int((~valid).sum())}
    if res:  # zones sit on pixel edges of the lon/lat grids: their pixel count is known
        w, s, e, n = poly.bounds
        out["covered_share"] = len(v) / (round((e - w) / res) * round((n - s) / res))
    phys = np.where(valid, v.astype("float64") * scale, 0.0)
    if fx.product in ("vnl2", "blackmarble", "blackmarble_c1", "dmsp_harmonized"):
        lit = valid & (phys > (7 if fx.product == "dmsp_harmonized" else 0))
        out |= {
            "nl_sum": phys.sum(),
            "nl_sum_lit": phys[lit].sum(),
            "lit_pixels": int(lit.sum()),
            "lit_km2": _pixel_area_m2(lat[lit], res).sum() / 1e6,
        }
    elif fx.product == "ghsl_built_s":
        out["builtup_km2"] = phys.sum() / 1e6
    else:
        code = {"worldcover": 50, "globeland30": 80, "clcd": 8}[fx.product]
        built = valid & (v == code)
        area = (
            _pixel_area_m2(lat[built], res).sum()
            if res
            else built.sum() * (900.0 if fx.product in ("clcd", "globeland30") else 0)
        )
        out |= {"builtup_pixels": int(built.sum()), "builtup_km2": area / 1e6}
    return out


@pytest.mark.parametrize("product", list(BUILDERS))
def test_expected_values_match_brute_force_on_the_written_pixels(fixtures, product):
    fx = fixtures[product]
    assert 2 <= len(fx.zones) <= 4
    assert fx.zones.crs.to_epsg() == 4326
    assert all(isinstance(a, str) for a in fx.zones["adcode"]) and fx.zones["name"].notna().all()
    assert fx.zones_path.exists()
    assert set(fx.rtol) <= set(fx.expected.columns)
    for row in fx.expected.itertuples(index=False):
        poly = fx.zones.loc[fx.zones["adcode"] == row.adcode, "geometry"].item()
        got = _brute_force(fx, row.year, poly)
        for col, rtol in fx.rtol.items():
            assert got[col] == pytest.approx(getattr(row, col), rel=max(rtol, 1e-9)), (
                row.adcode,
                row.year,
                col,
            )
        # every zone has something to find, and the fill that must be masked lies inside it
        some = [c for c in ("lit_pixels", "builtup_pixels", "builtup_km2") if c in got]
        assert all(got[c] > 0 for c in some)
        if product not in ("vnl2", "dmsp_harmonized"):  # no fill value in those products
            assert got["fill_pixels"] > 0


@pytest.mark.parametrize("product", list(BUILDERS))
def test_names_follow_the_documented_convention(fixtures, product):
    fx = fixtures[product]
    rasters = _rasters(fx)
    assert rasters
    for f in rasters:
        assert re.match(NAMES[product], f.name), f.name
    years = sorted(set(fx.expected["year"]))
    for year in years:  # the suggested pattern picks the year's data files, no side files
        picked = _year_files(fx, year)
        assert picked, year
        assert not any("cf_cvg" in f.name or "InputQuality" in f.name for f in picked)
        assert all(str(year) in f.name for f in picked)


def test_vnl_gzipped_global_grid(fixtures):
    fx = fixtures["vnl2"]
    layers = {}
    for f in _rasters(fx):
        with f.open("rb") as fh:
            assert fh.read(2) == b"\x1f\x8b"
        layers[f.name.split(".")[1]] = layers.get(f.name.split(".")[1], 0) + 1
        with rasterio.open(f"/vsigzip/{f}") as ds:
            assert (ds.width, ds.height) == (86401, 33601)
            assert ds.crs.to_epsg() == 4326
            assert ds.nodata is None
            assert ds.dtypes[0] == ("float32" if "average_masked" in f.name else "uint16")
            assert ds.transform.c == pytest.approx(-180.0020833, abs=1e-7)
            assert ds.transform.f == pytest.approx(75.0020833, abs=1e-7)
            assert ds.res == pytest.approx((1 / 240, 1 / 240), rel=1e-12)
    assert layers == {"average_masked": 3, "cf_cvg": 1}
    stamps = {re.match(NAMES["vnl2"], f.name).group("stamp") for f in _rasters(fx)}
    assert len(stamps) == 2  # V2.1's one stamp (no group: None) and 2022's
    # the cf_cvg layer beside 2015 has other values: a glob taking it would be wrong
    cvg = next(f for f in fx.files if "cf_cvg" in f.name)
    poly = fx.zones.geometry.iloc[0]
    v, _, _ = _zone_pixels(f"/vsigzip/{cvg}", poly)
    exp = fx.expected.query("year == 2015").iloc[0]
    assert v.sum() != pytest.approx(exp["nl_sum"])


def test_vnl_2012_and_v22_names(tmp_path):
    fx = dl.vnl_v2(tmp_path, years=(2012, 2021, 2023))
    names = [f.name for f in _rasters(fx)]
    assert (
        "VNL_v21_npp_201204-201212_global_vcmcfg_c202205302300.average_masked.dat.tif.gz" in names
    )
    assert "VNL_v21_npp_2021_global_vcmslcfg_c202205302300.average_masked.dat.tif.gz" in names
    assert any(n.startswith("VNL_v22_npp-j01_2023_global_vcmslcfg_c2024") for n in names)
    for year in (2012, 2021, 2023):
        assert len([f for f in _year_files(fx, year) if "average_masked" in f.name]) == 1


@pytest.mark.parametrize("product", ["blackmarble", "blackmarble_c1"])
def test_blackmarble_hdf5_layout(fixtures, product):
    fx = fixtures[product]
    c2 = product == "blackmarble"
    tiles = {}
    for f in _rasters(fx):
        with h5py.File(f) as h5:
            assert "HDFEOS INFORMATION/StructMetadata.0" in h5
            grp = h5[BM_FIELDS]
            for layer in dl.BM_LAYERS:
                ds = grp[layer]
                assert ds.shape == (2400, 2400)
                assert ds.dtype == (np.float32 if c2 else np.uint16)
                assert ds.chunks is not None and ds.compression == "gzip"
                fill = ds.attrs["_FillValue"][0]
                assert fill == (np.float32(-999.9) if c2 else 65535)
                assert ds.attrs["scale_factor"][0] == pytest.approx(1.0 if c2 else 0.1)
                assert ds.attrs["add_offset"][0] == 0.0
                assert grp[f"{layer}_Num"].dtype == np.uint16
                assert grp[f"{layer}_Num"].attrs["_FillValue"][0] == 65535
                assert grp[f"{layer}_Quality"].dtype == np.uint8
                assert grp[f"{layer}_Quality"].attrs["_FillValue"][0] == 255
            lat, lon = grp["lat"][:], grp["lon"][:]
            assert lat.shape == lon.shape == (2400,)
            assert np.allclose(np.diff(lat), -1 / 240) and np.allclose(np.diff(lon), 1 / 240)
        h, v = (int(x) for x in re.search(r"h(\d\d)v(\d\d)", f.name).groups())
        assert lon[0] - 1 / 480 == pytest.approx(-180 + 10 * h)
        assert lat[0] + 1 / 480 == pytest.approx(90 - 10 * v)
        tiles[f.name[:22]] = (lon[0], lon[-1])
        gdal = f'HDF5:"{f}"://HDFEOS/GRIDS/VIIRS_Grid_DNB_2d/Data_Fields/{dl.BM_LAYERS[1]}'
        with rasterio.open(gdal) as ds:  # what GDAL dumps of the files show
            assert ds.dtypes[0] == ("float32" if c2 else "uint16")
            assert ds.nodata == pytest.approx(-999.9 if c2 else 65535)
    # h29 and h30 abut at 120 E without overlap
    w, e = tiles[next(k for k in tiles if "h29" in k)], tiles[next(k for k in tiles if "h30" in k)]
    assert w[1] + 1 / 240 == pytest.approx(e[0])
    stamps = {re.match(NAMES[product], f.name).group("stamp") for f in _rasters(fx)}
    assert len(stamps) == len(_rasters(fx))


def test_worldcover_tiles(fixtures):
    fx = fixtures["worldcover"]
    maps = [f for f in fx.files if f.name.endswith("_Map.tif")]
    assert len(maps) == 4
    bounds = []
    for f in maps:
        with rasterio.open(f) as ds:
            assert (ds.width, ds.height, ds.count) == (36000, 36000, 1)
            assert ds.dtypes[0] == "uint8" and ds.nodata == 0 and ds.crs.to_epsg() == 4326
            assert ds.res == pytest.approx((1 / 12000, 1 / 12000), rel=1e-12)
            assert ds.profile["tiled"] and ds.profile["compress"] == "deflate"
            tile = re.search(r"_([NS]\d\d[EW]\d{3})_Map", f.name).group(1)
            assert (ds.bounds.left, ds.bounds.bottom) == pytest.approx(
                (int(tile[4:7]), int(tile[1:3]))
            )
            bounds.append(tuple(round(b, 9) for b in ds.bounds))
        q = f.with_name(f.name.replace("_Map", "_InputQuality"))
        with rasterio.open(q) as ds:
            assert ds.count == 3
    xs, ys = {b[0] for b in bounds} | {b[2] for b in bounds}, {b[1] for b in bounds}
    assert xs == {111, 114, 117} and ys | {b[3] for b in bounds} == {27, 30, 33}
    corner = fx.zones.geometry.iloc[0]  # zone 420100 straddles (114 E, 30 N)
    assert corner.bounds[0] < 114 < corner.bounds[2] and corner.bounds[1] < 30 < corner.bounds[3]


def test_globeland30_zips_in_two_utm_zones(fixtures):
    fx = fixtures["globeland30"]
    zips = _rasters(fx)
    assert len(zips) == 2
    for f in zips:
        zone = int(re.match(NAMES["globeland30"], f.name).group("zone"))
        names = zipfile.ZipFile(f).namelist()
        assert {Path(n).suffix for n in names} == {".tif", ".txt", ".xml"}
        with rasterio.open(_gdal_path(f)) as ds:
            assert ds.crs.to_epsg() == 32600 + zone
            assert ds.res == (30.0, 30.0) and ds.dtypes[0] == "uint8" and ds.nodata == 0
            # data only inside the tile's own lon/lat cell: 108-114 E (49), 114-120 E (50)
            west = -180 + 6 * (zone - 1)
            poly = fx.zones.geometry.iloc[0]
            v, lon, _ = _zone_pixels(_gdal_path(f), poly)
            outside = (lon < west) | (lon >= west + 6)
            assert outside.any() and (v[outside] == 0).all() and (v[~outside] != 0).any()
    seam = fx.zones.geometry.iloc[0]
    assert seam.bounds[0] < 114 < seam.bounds[2]


def test_clcd_albers_without_nodata(fixtures):
    fx = fixtures["clcd"]
    for f in _rasters(fx):
        with rasterio.open(f) as ds:
            assert ds.crs.to_epsg() is None
            assert CRS.from_wkt(ds.crs.to_wkt()) == CRS.from_proj4(dl.CLCD_PROJ)
            assert ds.nodata is None and ds.dtypes[0] == "uint8" and ds.res == (30.0, 30.0)
            assert ds.colormap(1)[8][:3] == dl.CLCD_COLORS[8][:3]
            a = ds.read(1, window=Window(0, 0, 4096, 4096))
            assert set(np.unique(a)) <= set(range(10))


def test_dmsp_harmonized_grid(fixtures):
    fx = fixtures["dmsp_harmonized"]
    for f in _rasters(fx):
        m = re.match(NAMES["dmsp_harmonized"], f.name)
        assert m.group("kind") == ("calDMSP" if int(m.group("year")) <= 2013 else "simVIIRS")
        with rasterio.open(f) as ds:
            assert ds.dtypes[0] == "uint8" and ds.nodata is None and ds.crs.to_epsg() == 4326
            assert ds.res == pytest.approx((1 / 120, 1 / 120), rel=1e-12)
    exp = fx.expected
    assert (exp["nl_sum_lit"] < exp["nl_sum"]).all()  # the DN 5 blocks are not lit


def test_ghsl_mollweide_tiles(fixtures):
    fx = fixtures["ghsl_built_s"]
    tiles = []
    for f in _rasters(fx):
        m = re.match(NAMES["ghsl_built_s"], f.name)
        r, c = int(m.group("r")), int(m.group("c"))
        with rasterio.open(f) as ds:
            assert ds.crs == CRS.from_user_input("ESRI:54009")
            assert (ds.width, ds.height) == (10000, 10000) and ds.res == (100.0, 100.0)
            assert ds.dtypes[0] == "uint16" and ds.nodata == 65535
            assert ds.transform.c == -18_041_000 + (c - 1) * 1_000_000
            assert ds.transform.f == 9_000_000 - (r - 1) * 1_000_000
            tiles.append((ds.bounds.left, ds.bounds.right))
    tiles.sort()
    assert tiles[0][1] == tiles[1][0]


def test_years_differ_and_grow(fixtures):
    for product in ("vnl2", "blackmarble", "clcd", "dmsp_harmonized"):
        exp = fixtures[product].expected
        col = "builtup_pixels" if "builtup_pixels" in exp else "lit_pixels"
        for _, g in exp.groupby("adcode"):
            assert g.sort_values("year")[col].is_monotonic_increasing
            assert g[col].nunique() == len(g)


def test_gz_and_zip_are_real_archives(fixtures):
    gz = next(f for f in fixtures["vnl2"].files if f.suffix == ".gz")
    with gzip.open(gz) as fh:
        assert fh.read(4) in (b"II*\x00", b"MM\x00*")
    z = fixtures["globeland30"].files[0]
    assert zipfile.is_zipfile(z) and zipfile.ZipFile(z).testzip() is None


@pytest.mark.parametrize(
    ("product", "n_tiles"),
    [
        ("blackmarble", 2),
        ("blackmarble_c1", 2),
        ("worldcover", 4),
        ("globeland30", 2),
        ("ghsl_built_s", 2),
    ],
)
def test_seam_zone_has_values_in_every_tile(fixtures, product, n_tiles):
    fx = fixtures[product]
    year = int(fx.expected["year"].min())
    poly = fx.zones.geometry.iloc[0]
    code = {"worldcover": 50, "globeland30": 80}.get(product)
    found = 0
    for f in _year_files(fx, year):
        if f.suffix == ".h5":
            with h5py.File(f) as h5:
                lonlat = (h5[f"{BM_FIELDS}/lat"][:], h5[f"{BM_FIELDS}/lon"][:])
            path = f'HDF5:"{f}"://{BM_FIELDS.replace(" ", "_")}/{dl.BM_LAYERS[0]}'
            v, _, _ = _zone_pixels(path, poly, lonlat)
            found += bool(((v > 0) & (v != 65535)).any())
        else:
            v, _, _ = _zone_pixels(_gdal_path(f), poly)
            found += bool((v == code).any() if code else ((v > 0) & (v != 65535)).any())
    assert found == n_tiles


def test_worldcover_2020_is_v100_and_a_missing_tile_lowers_coverage(tmp_path):
    fx = dl.worldcover(tmp_path, 2020, tiles=("N30E114",))
    assert fx.files[0].name.startswith("ESA_WorldCover_10m_2020_v100_")
    assert fx.path_pattern.replace("{year}", "2020") == "ESA_WorldCover_10m_2020_v*_*_Map.tif"
    share = dict(zip(fx.expected["adcode"], fx.expected["covered_share"], strict=True))
    assert share == {"420100": 0.25, "421100": 1.0}  # the corner zone lies in four tiles
    for row in fx.expected.itertuples(index=False):
        poly = fx.zones.loc[fx.zones["adcode"] == row.adcode, "geometry"].item()
        got = _brute_force(fx, row.year, poly)
        assert got["builtup_pixels"] == row.builtup_pixels
        assert got["covered_share"] == row.covered_share
