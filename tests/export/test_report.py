"""export/report/: the HTML report and its charts: self-contained, rerun byte-identical, the run."""

import re
import warnings

import geopandas as gpd
import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib import image
from shapely.geometry import box

from urbanshrink_gis.errors import InputError, OutputExistsError, UrbanShrinkWarning
from urbanshrink_gis.export import report
from urbanshrink_gis.export.report import charts

# city_id, name, province, pop %, built-up %, NTL %, class
CITIES = [
    ("230400", "鹤岗市", "黑龙江省", -20.0, 30.0, -5.0, "shrinking_expanding"),
    ("230700", "伊春市", "黑龙江省", -25.0, -8.0, -30.0, "shrinking_contracting"),
    ("220600", "白山市", "吉林省", -12.0, 12.0, 10.0, "shrinking_expanding"),
    ("220100", "长春市", "吉林省", 8.0, 40.0, 45.0, "growing_expanding"),
    ("210200", "大连市", "辽宁省", 0.5, 2.0, 3.0, "stable_stable"),
]
SHARE = 2 / 3 * 100  # 2 paradox cities of 3 shrinking


@pytest.fixture(scope="module")
def tables():
    rows = pd.DataFrame(CITIES, columns=["city_id", "name", "province", "pop", "bu", "ntl", "cls"])
    cities = gpd.GeoDataFrame(
        {
            "city_id": rows["city_id"],
            "name": rows["name"],
            "pop_change_pct": rows["pop"],
            "builtup_change_pct": rows["bu"],
            "ntl_change_pct": rows["ntl"],
            "builtup_km2_start": 100.0,
            "builtup_km2_end": 100.0 * (1 + rows["bu"] / 100),
            "shrinking": rows["pop"] < -1,
            "expanding": rows["bu"] > 5,
            "paradox": (rows["pop"] < -1) & (rows["bu"] > 5),
            "class": rows["cls"],
            "new_builtup_km2": rows["bu"].clip(lower=0),
            "new_dark_builtup_km2": rows["bu"].clip(lower=0) / 2,
        },
        geometry=[box(120 + i, 40 + i % 2, 121 + i, 41 + i % 2) for i in range(len(rows))],
        crs="EPSG:4326",
    )
    years = [2010, 2015, 2020]
    city_year = pd.DataFrame(
        [
            {
                "city_id": c,
                "year": y,
                "builtup_km2": 100 * (1 + bu / 100 * k / 2),
                "ntl_sum": 1000 * (1 + ntl / 100 * k / 2),
            }
            for c, *_, bu, ntl, _ in CITIES
            for k, y in enumerate(years)
        ]
    )
    flags = cities[["shrinking", "expanding", "paradox"]].assign(province=rows["province"])
    by_province = flags.groupby("province").sum()
    summary = pd.concat([by_province, flags.drop(columns="province").sum().to_frame("all").T])
    summary.insert(0, "n_cities", [*flags.groupby("province").size(), len(flags)])
    summary["hollowing"] = pd.NA
    summary["share_shrinking_expanding_pct"] = summary["paradox"] / summary["shrinking"] * 100
    return cities, city_year, summary.rename_axis("province")


@pytest.fixture(scope="module")
def written(tables, tmp_path_factory):
    """One report, shared by the tests that only read it."""
    out = tmp_path_factory.mktemp("report")
    return out, report.write_report(out, *tables, title="Test <report> & co")


def test_writes_valid_nonblank_pngs(written):
    out, files = written
    pngs = [f for f in files if f.suffix == ".png"]
    assert [f.name for f in files] == list(report.REPORT_FILES)
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        pixels = image.imread(png)
        assert pixels.shape[0] > 400 and pixels.shape[1] > 800
        assert pixels[..., :3].std() > 0.05, f"{png.name} looks blank"
    assert not list(out.glob(".*")), "a temporary file was left behind"


def test_html_is_self_contained(written):
    out, _ = written
    page = (out / "report.html").read_text(encoding="utf-8")
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) == len(report.REPORT_FILES) - 1
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert not re.search(r"(href|src)=\"(?!data:)", page)
    assert "Test &lt;report&gt; &amp; co" in page
    for city_id, name, *_ in CITIES:
        assert f"<td>{city_id}</td>" in page
        assert f"<td>{name}</td>" in page
    assert f"{SHARE:.2f} %" in page
    assert page.count('<tr class="paradox">') == 2


def test_refuses_to_overwrite_and_reruns_byte_identical(written, tables, tmp_path):
    _, files = written
    again = report.write_report(tmp_path, *tables, title="Test <report> & co")
    assert [f.read_bytes() for f in again] == [f.read_bytes() for f in files]
    with pytest.raises(OutputExistsError, match=r"report\.html"):
        report.write_report(tmp_path, *tables)
    report.write_report(tmp_path, *tables, overwrite=True)
    assert "<title>urbanshrink_gis report</title>" in (tmp_path / "report.html").read_text("utf-8")


def test_existing_chart_alone_blocks_before_writing(tables, tmp_path):
    (tmp_path / "chart_quadrants.png").write_bytes(b"old")
    with pytest.raises(OutputExistsError):
        report.write_report(tmp_path, *tables)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chart_quadrants.png"]


def test_optional_columns(tables, tmp_path):
    cities, city_year, summary = tables
    cities = cities.drop(columns=["name", "ntl_change_pct"]).assign(
        hollowing=[True, False, pd.NA, False, False], dark_builtup_share_pct_end=25.0
    )
    city_year = city_year.drop(columns="ntl_sum")
    files = report.write_report(tmp_path, cities, city_year, summary)
    assert "chart_ntl_builtup.png" not in [f.name for f in files]
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<th>hollowing</th>" in page and "<th>built-up in the dark (end)</th>" in page
    assert '<td class="n" data-v="25.0">25.0 %</td>' in page
    assert "鹤岗市" not in page and "<td>230400</td>" in page


def test_no_paradox_city(tables, tmp_path):
    cities, city_year, summary = tables
    cities = cities.assign(paradox=False, shrinking=False)
    summary = summary.assign(shrinking=0, paradox=0, share_shrinking_expanding_pct=np.nan)
    files = report.write_report(tmp_path, cities, city_year, summary)
    assert "chart_timeseries.png" not in [f.name for f in files]
    assert "n/a (no city shrinks)" in (tmp_path / "report.html").read_text(encoding="utf-8")


def test_missing_columns_listed_at_once(tables, tmp_path):
    cities, city_year, summary = tables
    with pytest.raises(InputError, match=r"no column class, paradox in cities.*no row 'all'"):
        report.write_report(
            tmp_path, cities.drop(columns=["class", "paradox"]), city_year, summary.drop("all")
        )


def test_leaves_matplotlib_state_alone(tables, tmp_path):
    backend, family = matplotlib.get_backend(), list(matplotlib.rcParams["font.sans-serif"])
    report.write_report(tmp_path, *tables)
    assert matplotlib.get_backend() == backend
    assert matplotlib.rcParams["font.sans-serif"] == family


@pytest.fixture
def no_cjk_font(monkeypatch, tmp_path):
    monkeypatch.setattr(charts, "_CJK_FAMILIES", ("No Such Font Family",))
    monkeypatch.setattr(charts, "_CJK_FILES", (str(tmp_path / "no_fonts"), "*.ttc"))
    charts._cjk_family.cache_clear()
    yield
    charts._cjk_family.cache_clear()


def test_without_cjk_font_warns_once_and_writes(no_cjk_font, tables, tmp_path):
    with pytest.warns(UrbanShrinkWarning, match="fonts-noto-cjk"):
        report.write_report(tmp_path / "a", *tables)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        files = report.write_report(tmp_path / "b", *tables)
    assert (tmp_path / "b" / "report.html") in files


def test_sensitivity_section(tables, tmp_path):
    from urbanshrink_gis.analysis import SENSITIVITY_COLUMNS

    index = pd.MultiIndex.from_tuples(
        [(0.0, 0.0), (-5.0, 0.0)], names=["pop_threshold_pct", "builtup_threshold_pct"]
    )
    grid = pd.DataFrame(
        [[5, 3, 4, 2, pd.NA, 200 / 3, True], [5, 1, 4, 1, pd.NA, 100.0, False]],
        index=index,
        columns=list(SENSITIVITY_COLUMNS),
    )
    report.write_report(tmp_path, *tables, sensitivity=grid)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    section = page.split("<h2>Sensitivity</h2>", 1)[1].split("<h2>", 1)[0]
    assert "ranges from 66.7 % to 100.0 %" in section
    assert section.count('<tr class="configured">') == 1
    report.write_report(tmp_path / "none", *tables)
    assert "<h2>Sensitivity</h2>" not in (tmp_path / "none" / "report.html").read_text("utf-8")


CONTEXT = {
    "date": "2026-12-02",
    "period": "2010–2020",
    "rule": "period",
    "settings": {"shrink_threshold_pct": 1.0, "criteria": ["pop_decline", "mismatch"]},
    "inputs": [
        {
            "series": "landcover clcd",
            "kind": "landcover",
            "product": "clcd",
            "years": [2010, 2015, 2020],
            "files": 3,
        },
    ],
    "population": "census.csv (adcode, year, pop_resident)",
}


def _section(page, heading):
    return page.split(f"<h2>{heading}</h2>", 1)[1].split("<h2>", 1)[0]


def test_report_states_the_run(tables, tmp_path):
    from urbanshrink_gis import __version__

    report.write_report(tmp_path, *tables, context=CONTEXT)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    run = _section(page, "Run")
    assert f"<td>urbanshrink_gis {__version__}</td>" in run
    assert "<td>2026-12-02</td>" in run and "<td>period</td>" in run
    assert "shrink_threshold_pct = 1.0; criteria = [pop_decline, mismatch]" in run
    assert "<td>landcover clcd</td><td>landcover</td><td>clcd</td><td>2010, 2015, 2020</td>" in run
    assert "census.csv (adcode, year, pop_resident)" in run
    assert f"urbanshrink_gis {__version__} on 2026-12-02" in page.split("<footer>")[1]


def test_report_without_context_says_so(written):
    out, _ = written
    run = _section((out / "report.html").read_text(encoding="utf-8"), "Run")
    assert "not given to this report" in run and "urbanshrink_gis 0" in run


def _province_rows(page):
    section = _section(page, "Provinces")
    body = section.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<tr><td>([^<]*)</td>", body)


def test_provinces_by_shrinking_share_or_by_code(tables, tmp_path):
    report.write_report(tmp_path / "share", *tables)
    page = (tmp_path / "share" / "report.html").read_text(encoding="utf-8")
    assert _province_rows(page) == ["黑龙江省", "吉林省", "辽宁省"]  # 100 %, 50 %, 0 % shrink
    assert "by the share of their cities that shrink" in page
    assert '<td class="n" data-v="50.0">50.0 %</td>' in _section(page, "Provinces")
    cities, city_year, summary = tables
    with_province = cities.assign(province=[p for *_, p, _, _, _, _ in CITIES])
    report.write_report(tmp_path / "code", with_province, city_year, summary)
    page = (tmp_path / "code" / "report.html").read_text(encoding="utf-8")
    assert _province_rows(page) == ["辽宁省", "吉林省", "黑龙江省"]  # 21, 22, 23
    assert "Provinces by province code." in page


def test_province_chart_height_follows_the_provinces(tables, tmp_path):
    cities, city_year, summary = tables
    many = pd.DataFrame(
        {"n_cities": 10, "shrinking": range(34), "expanding": 5, "paradox": 0, "hollowing": pd.NA,
         "share_shrinking_expanding_pct": np.nan},
        index=pd.Index([f"{11 + i}0000" for i in range(34)], name="province"),
    )  # fmt: skip
    many = pd.concat([many, summary.loc[["all"]]])
    report.write_report(tmp_path, cities, city_year, many)
    rows = image.imread(tmp_path / "chart_provinces.png").shape[0]
    assert 34 * 0.24 * 150 < rows < (34 * 0.24 + 1.5) * 150  # ~0.24 in per province at 150 dpi
    assert _province_rows((tmp_path / "report.html").read_text("utf-8"))[:2] == ["110000", "120000"]
    report.write_report(tmp_path / "s", *tables)
    small = image.imread(tmp_path / "s" / "chart_provinces.png").shape[0]
    assert 400 < small <= 3 * 150  # three provinces: the minimum height, 3 in


def test_run_report_states_rule_inputs_and_date(demo_run):
    _, out = demo_run
    page = (out / "report" / "report.html").read_text(encoding="utf-8")
    run = _section(page, "Run")
    assert "<th>rule</th><td>period</td>" in run and "<td>2010–2020</td>" in run
    assert "shrink_threshold_pct = 0.0" in run
    assert "<td>landcover-clcd</td><td>landcover</td><td>clcd</td><td>2010, 2015, 2020</td>" in run
    assert re.search(r"<th>date</th><td>\d{4}-\d\d-\d\d</td>", run)
