"""io/population.py: census tables (CSV, Excel; long, wide; encodings) read and interpolated."""

import math

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import CHINA_CENSUS, POPULATION, allowed, requires_shared
from urbanshrink_gis.errors import ConfigError, PopulationError
from urbanshrink_gis.io.population import (
    MUNICIPALITY_ALIASES,
    PopulationSpec,
    interpolate_population,
    read_population,
)

LONG = """adcode,year,pop_resident,gdp
230400,2020,"891,271",
230400,2010,"1,058,665",3.5
012345,2010,100,1e3
"""


@pytest.fixture
def write(tmp_path):
    """Write text (or bytes) to a file in tmp_path; returns its path as a string."""

    def make(content, name="pop.csv", encoding="utf-8"):
        path = tmp_path / name
        data = content if isinstance(content, bytes) else content.encode(encoding)
        path.write_bytes(data)
        return str(path)

    return make


def error(spec):
    with pytest.raises(PopulationError) as info:
        read_population(spec)
    return str(info.value)


# --- reading ---------------------------------------------------------------------------------


def test_long_csv_sorted_with_leading_zeros_and_thousands(write):
    df = read_population(PopulationSpec(write(LONG), gdp="gdp"))
    assert list(df.columns) == ["city_id", "year", "pop_resident", "gdp"]
    assert list(df["city_id"]) == ["012345", "230400", "230400"]
    assert list(df["year"]) == [2010, 2010, 2020]
    assert df["year"].dtype == np.int64
    assert list(df["pop_resident"]) == [100.0, 1058665.0, 891271.0]
    assert df["gdp"].iloc[:2].tolist() == [1000.0, 3.5] and math.isnan(df["gdp"].iloc[2])


def test_wide_csv_with_bare_year_columns(write):
    path = write("adcode,name,2010,2020\n230400,鹤岗,1058665,891271\n230700,伊春,,878881\n")
    df = read_population(PopulationSpec(path, resident="{year}"))
    assert list(zip(df["city_id"], df["year"], strict=True)) == [
        ("230400", 2010),
        ("230400", 2020),
        ("230700", 2010),
        ("230700", 2020),
    ]
    assert df["pop_resident"].iloc[[0, 1, 3]].tolist() == [1058665, 891271, 878881]
    assert math.isnan(df["pop_resident"].iloc[2])  # empty cell: missing, not an error


def test_wide_pattern_with_all_measures_and_year_none(write):
    text = (
        "code,p_2010,p_2020,u_2010,u_2020,r_2010,r_2020,g_2010,g_2020,a_2010,a_2020\n"
        "1,10,20,5,15,9,9,1.5,2.5,12.5,19.6\n"
    )
    spec = PopulationSpec(
        write(text),
        id="code",
        year=None,
        resident="p_{year}",
        registered="r_{year}",
        gdp="g_{year}",
        urban="u_{year}",
        age60="a_{year}",
    )
    df = read_population(spec)
    assert list(df.columns) == [
        "city_id",
        "year",
        "pop_resident",
        "pop_registered",
        "gdp",
        "pop_urban",
        "age60_share_pct",
    ]
    assert df["year"].tolist() == [2010, 2020]
    assert df.iloc[1, 2:].tolist() == [20, 9, 2.5, 15, 19.6]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_encodings_are_detected(write, encoding):
    path = write("城市代码,年份,常住人口\n230400,2010,1058665\n", encoding=encoding)
    spec = PopulationSpec(path, id="城市代码", year="年份", resident="常住人口")
    df = read_population(spec)
    assert df[["city_id", "year", "pop_resident"]].iloc[0].tolist() == ["230400", 2010, 1058665]


def test_explicit_encoding(write):
    path = write("adcode,year,pop_resident\n230400,2010,5\n", encoding="utf-16")
    assert read_population(PopulationSpec(path, encoding="utf-16"))["pop_resident"].item() == 5


def test_municipality_aliases_applied_and_replaceable(write):
    path = write("adcode,year,pop_resident\n110100,2010,1\n500100,2010,2\n230400,2010,3\n")
    assert read_population(PopulationSpec(path))["city_id"].tolist() == [
        "110000",
        "230400",
        "500000",
    ]
    assert read_population(PopulationSpec(path, aliases={}))["city_id"].tolist() == [
        "110100",
        "230400",
        "500100",
    ]
    assert MUNICIPALITY_ALIASES["310100"] == "310000"
    assert hash(PopulationSpec(path)) == hash(PopulationSpec(path, aliases={}))


def test_missing_markers_and_blank_lines(write):
    path = write("adcode,year,pop_resident\n\n1,2010,NA\n\n2,2010,NaN\n3,2010, \n")
    df = read_population(PopulationSpec(path))
    assert df["city_id"].tolist() == ["1", "2", "3"] and df["pop_resident"].isna().all()


def test_excel_sheets_text_ids_and_numbers(tmp_path):
    path = tmp_path / "pop.xlsx"
    first = pd.DataFrame({"adcode": ["999999"], "year": [2000], "pop_resident": [1]})
    second = pd.DataFrame(
        {
            "adcode": ["012345", "230400"],
            "year": [2010, 2010.0],
            "pop_resident": [1058665, "1,058,665"],
            "age60": [12.5, None],
        }
    )
    with pd.ExcelWriter(path) as writer:
        first.to_excel(writer, sheet_name="other", index=False)
        second.to_excel(writer, sheet_name="人口", index=False)
    for sheet in ("人口", 1):
        df = read_population(PopulationSpec(str(path), sheet=sheet, age60="age60"))
        assert df["city_id"].tolist() == ["012345", "230400"]
        assert df["year"].tolist() == [2010, 2010]
        assert df["pop_resident"].tolist() == [1058665, 1058665]
        assert df["age60_share_pct"].iloc[0] == 12.5 and math.isnan(df["age60_share_pct"].iloc[1])
    assert read_population(PopulationSpec(str(path)))["city_id"].tolist() == ["999999"]
    message = error(PopulationSpec(str(path), sheet="2020"))
    assert "pop.xlsx" in message and "no sheet '2020'" in message
    assert "'other', '人口'" in message
    assert "no sheet 5" in error(PopulationSpec(str(path), sheet=5))


def test_excel_error_names_sheet_and_row(tmp_path):
    path = tmp_path / "pop.xlsx"
    frame = pd.DataFrame({"adcode": ["1", "2"], "year": [2010, 2010], "pop_resident": [5, "x"]})
    frame.to_excel(path, sheet_name="data", index=False)
    message = error(PopulationSpec(str(path)))
    assert "sheet 'data'" in message and "column 'pop_resident' row 3 'x'" in message


# --- errors ----------------------------------------------------------------------------------


def test_non_numeric_value_names_file_column_row_and_value(write):
    path = write("adcode,year,pop_resident\n1,2010,5\n\n2,2010,约100万\n")
    message = error(PopulationSpec(path))
    assert message.startswith(f"{path}: 1 bad cell(s)")
    assert "column 'pop_resident' row 4 '约100万' is not a number" in message  # blank row 3 counts


def test_all_bad_cells_listed_in_one_error(write):
    text = "code,p_2010,p_2020,a_2010,a_2020\n,-5,1,10,101\n7,1,2,1,1\n"
    spec = PopulationSpec(write(text), id="code", resident="p_{year}", age60="a_{year}")
    message = error(spec)
    assert "3 bad cell(s)" in message
    assert "column 'code' row 2 has no id" in message
    assert "column 'p_2010' row 2 '-5' is negative" in message
    assert "column 'a_2020' row 2 '101' is not a percentage (0-100)" in message


@pytest.mark.parametrize("value", ["1,05", "1.2.3", "inf", "1e999", "12%", "--1", "２０"])
def test_malformed_numbers_rejected(write, value):
    path = write(f'adcode,year,pop_resident\n1,2010,"{value}"\n')
    assert f"row 2 {value!r} is not a number" in error(PopulationSpec(path))


def test_bad_year_in_long_format(write):
    path = write("adcode,year,pop_resident\n1,二〇一〇,5\n1,,5\n1,２０１０,5\n")
    message = error(PopulationSpec(path))
    assert "column 'year' row 2 '二〇一〇' is not a year" in message
    assert "column 'year' row 3 '' is not a year" in message
    assert "column 'year' row 4 '２０１０' is not a year" in message


def test_duplicated_city_year(write):
    path = write("adcode,year,pop_resident\n1,2010,5\n2,2010,5\n1,2010,6\n")
    message = error(PopulationSpec(path))
    assert "city 1 year 2010 (rows 2, 4)" in message and "more than once" in message


def test_duplicate_made_by_alias(write):
    path = write("adcode,year,pop_resident\n110100,2010,5\n110000,2010,5\n")
    assert "city 110000 year 2010 (rows 2, 3)" in error(PopulationSpec(path))


def test_duplicated_row_in_wide_format(write):
    path = write("adcode,2010\n1,5\n1,6\n")
    assert "city 1 year 2010 (rows 2, 3)" in error(PopulationSpec(path, resident="{year}"))


def test_missing_column_names_nearest_and_available(write):
    path = write("adcode,year,pop_resdent\n1,2010,5\n")
    message = error(PopulationSpec(path))
    assert "no pop_resident column 'pop_resident'" in message
    assert "did you mean 'pop_resdent'?" in message
    assert "columns are: adcode, year, pop_resdent" in message


def test_missing_id_column(write):
    path = write("code,year,pop_resident\n1,2010,5\n")
    assert "no id column 'adcode'" in error(PopulationSpec(path))


def test_missing_year_column_when_not_wide(write):
    path = write("adcode,yr,pop_resident\n1,2010,5\n")
    message = error(PopulationSpec(path))
    assert "no year column 'year'" in message and "did you mean 'yr'?" in message


def test_no_year_and_no_pattern(write):
    path = write("adcode,pop_resident\n1,5\n")
    assert "has no {year}" in error(PopulationSpec(path, year=None))


def test_year_in_pattern_without_column(write):
    path = write("code,popu_2010,popu_2020,popu_urban_2010\n1,5,6,3\n")
    spec = PopulationSpec(path, id="code", resident="popu_{year}", urban="popu_urban_{year}")
    message = error(spec)
    assert "no 2020 pop_urban column 'popu_urban_2020'" in message
    assert "did you mean 'popu_urban_2010'?" in message


def test_pattern_matching_no_column(write):
    path = write("code,pop2010\n1,5\n")
    message = error(PopulationSpec(path, id="code", resident="popu_{year}"))
    assert "no column matches the resident pattern 'popu_{year}'" in message
    assert "columns are: code, pop2010" in message


def test_optional_measure_without_pattern_in_wide_table(write):
    path = write("code,popu_2010,gdp\n1,5,6\n")
    spec = PopulationSpec(path, id="code", resident="popu_{year}", gdp="gdp")
    assert "gdp column 'gdp' has no {year} in a wide table" in error(spec)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "is empty"),
        ("\n\n", "is empty"),
        ("adcode,year,pop_resident\n", "has no data rows"),
        ("adcode,year,pop_resident\n,,\n\n", "has no data rows"),
        ("adcode,year,pop_resident\n1,2010,5,7\n", "is not a readable CSV table"),
        ('adcode,year,pop_resident\n"1,2010,5\n', "is not a readable CSV table"),
        ("adcode,year,adcode\n1,2010,5\n", "column(s) 'adcode' appear more than once"),
        (b"\xff\xfe\x00\x81\x30", "is not utf-8-sig or gb18030 text"),
    ],
)
def test_unreadable_tables(write, content, expected):
    path = write(content)
    message = error(PopulationSpec(path))
    assert message.startswith(path) and expected in message


def test_file_not_found_old_excel_corrupt_workbook_and_encoding(write, tmp_path):
    assert "file not found" in error(PopulationSpec(str(tmp_path / "none.csv")))
    assert "file not found" in error(PopulationSpec(str(tmp_path)))
    assert "old Excel .xls" in error(PopulationSpec(write("x", name="a.xls")))
    assert "not a readable Excel workbook" in error(PopulationSpec(write("x", name="a.xlsx")))
    assert "unknown encoding 'klingon'" in error(PopulationSpec(write("a"), encoding="klingon"))
    path = write("adcode\n鹤岗\n".encode("gbk"))
    assert "is not utf-8 text" in error(PopulationSpec(path, encoding="utf-8"))


# --- interpolation -------------------------------------------------------------------------


def table(rows, columns=("city_id", "year", "pop_resident")):
    return pd.DataFrame(rows, columns=list(columns))


def test_linear_interpolation_by_hand():
    df = table([("a", 2010, 100.0), ("a", 2020, 200.0), ("b", 2014, 50.0)])
    out = interpolate_population(df, [2008, 2012, 2015, 2020, 2022], method="linear")
    assert out[["city_id", "year"]].values.tolist() == [
        ["a", 2010],
        ["a", 2012],
        ["a", 2015],
        ["a", 2020],
        ["b", 2014],
    ]
    assert out["pop_resident"].tolist() == [100, 120, 150, 200, 50]
    assert out["interpolated"].tolist() == [False, True, True, False, False]
    assert out["interpolated"].dtype == bool and out["year"].dtype == df["year"].dtype


def test_loglinear_interpolation_by_hand():
    df = table([("a", 2010, 100.0), ("a", 2020, 400.0), ("z", 2010, 0.0), ("z", 2020, 9.0)])
    out = interpolate_population(df, [2015], method="loglinear").set_index(["city_id", "year"])
    assert out.loc[("a", 2015), "pop_resident"] == pytest.approx(200.0)  # 100 * 4 ** 0.5
    assert out.loc[("z", 2015), "pop_resident"] == 0.0  # the geometric path from zero
    out = interpolate_population(df.iloc[:2], [2011])
    assert out["pop_resident"].iloc[1] == pytest.approx(130.0)


def test_interpolation_per_column_between_known_values():
    df = table(
        [("a", 2010, 100.0, 1.0), ("a", 2015, np.nan, np.nan), ("a", 2020, 200.0, np.nan)],
        columns=("city_id", "year", "pop_resident", "gdp"),
    )
    out = interpolate_population(df, range(2010, 2021, 5)).set_index("year")
    assert math.isnan(out.loc[2015, "pop_resident"])  # a read row is never overwritten
    out = interpolate_population(df, [2012, 2018]).set_index("year")
    assert out.loc[2012, "pop_resident"] == 120 and out.loc[2018, "pop_resident"] == 180
    assert out.loc[[2012, 2018], "gdp"].isna().all()  # gdp is known only in 2010


def test_interpolation_adds_no_empty_rows_and_keeps_input():
    df = table([("a", 2010, np.nan), ("a", 2020, np.nan)])
    before = df.copy()
    out = interpolate_population(df, [2015])
    assert out["year"].tolist() == [2010, 2020]
    pd.testing.assert_frame_equal(df, before)


@given(
    known=st.lists(st.integers(1990, 2030), min_size=1, max_size=6, unique=True).map(sorted),
    data=st.data(),
    wanted=st.lists(st.integers(1985, 2035), max_size=10),
)
def test_linear_interpolation_matches_numpy(known, data, wanted):
    values = data.draw(st.lists(st.floats(0, 1e9), min_size=len(known), max_size=len(known)))
    df = table([("a", year, value) for year, value in zip(known, values, strict=True)])
    out = interpolate_population(df, wanted)
    read, added = out[~out["interpolated"]], out[out["interpolated"]]
    pd.testing.assert_frame_equal(read.drop(columns="interpolated").reset_index(drop=True), df)
    expected = sorted({y for y in wanted if known[0] < y < known[-1] and y not in known})
    assert added["year"].tolist() == expected  # no extrapolation, no duplicates
    assert added["pop_resident"].to_numpy() == pytest.approx(np.interp(expected, known, values))
    assert out["year"].is_monotonic_increasing


def test_interpolation_errors():
    df = table([("a", 2010, 1.0), ("a", 2010, 2.0)])
    with pytest.raises(PopulationError, match="city a year 2010"):
        interpolate_population(df, [2011])
    with pytest.raises(ConfigError, match="'cubic'"):
        interpolate_population(df, [2011], method="cubic")
    with pytest.raises(PopulationError, match="no key column 'year'"):
        interpolate_population(df.drop(columns="year"), [2011])
    with pytest.raises(PopulationError, match="negative"):
        interpolate_population(table([("a", 2010, -1.0)]), [2011], method="loglinear")


# --- the real census -------------------------------------------------------------------------


@requires_shared
def test_real_census_wide():
    spec = PopulationSpec(
        str(CHINA_CENSUS),
        id="city_code",
        year=None,
        resident="popu_{year}",
        urban="popu_urban_{year}",
        age60="age_60_{year}",
    )
    df = read_population(spec)
    assert (
        len(df) == 2 * 369
        and df.groupby("city_id")["year"].apply(list).map([2010, 2020].__eq__).all()
    )
    assert {"110000", "120000", "310000", "500000"} <= set(df["city_id"])
    assert not {"110100", "120100", "310100", "500100"} & set(df["city_id"])
    hegang = df.set_index(["city_id", "year"]).loc["230400", "pop_resident"]
    assert hegang.tolist() == [1058665, 891271]
    bingtuan = df[df["city_id"].str.startswith("659")]
    assert len(bingtuan) == 20 and bingtuan["pop_resident"].isna().all()
    wide = df.pivot(index="city_id", columns="year", values="pop_resident").dropna()
    mainland = wide[~wide.index.str[:2].isin(["71", "81", "82"])]  # no Taiwan, Hong Kong, Macau
    assert len(mainland) == 356  # 369 - 10 Bingtuan - 三沙 (no 2010) - Hong Kong - Macau
    assert int((mainland[2020] < mainland[2010]).sum()) == 156


# --- fuzz ------------------------------------------------------------------------------------

CELLS = st.one_of(
    st.text(alphabet='0123456789,.-+eE"\n\r 约万NA\x00\t{}', max_size=8),
    st.integers(-5, 10**7).map(str),
    st.sampled_from(["2010", "2020", "110100", "1,058,665", "12.5", "", "NA"]),
)
HEADERS = st.one_of(
    st.permutations(["adcode", "year", "pop_resident"]),
    st.permutations(["adcode", "popu_2010", "popu_2020", "2020"]),
    st.lists(st.sampled_from(["adcode", "year", "pop_resident", "popu_2010", "", '"']), max_size=5),
)


def quoted(cell):
    return '"' + cell.replace('"', '""') + '"'


@st.composite
def csv_texts(draw):
    """Mostly well-formed tables with odd cells, some ragged or badly quoted."""
    header = draw(HEADERS)
    width = len(header)
    row = st.one_of(
        st.lists(CELLS, min_size=width, max_size=width),
        st.lists(CELLS, max_size=width + 1),
    )
    rows = draw(st.lists(row, max_size=6))
    quote = draw(st.sampled_from([quoted, str]))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    return newline.join(",".join(map(quote, cells)) for cells in [header, *rows])


SPECS = st.sampled_from(
    [
        {},
        {"resident": "popu_{year}"},
        {"resident": "{year}", "year": None},
        {"gdp": "year", "age60": "pop_resident"},
    ]
)


def read_or_population_error(path, spec):
    try:
        out = read_population(PopulationSpec(path, **spec))
    except PopulationError:
        return
    assert isinstance(out, pd.DataFrame) and list(out.columns[:2]) == ["city_id", "year"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=200), suffix=st.sampled_from([".csv", ".xlsx", ".txt"]))
@example(data=b"\xef\xbb\xbf", suffix=".csv")
@example(data=b"adcode,year,pop_resident\n1,2010,\x00", suffix=".csv")
def test_fuzz_random_bytes(tmp_path_factory, data, suffix):
    path = tmp_path_factory.getbasetemp() / f"fuzz{suffix}"
    path.write_bytes(data)
    read_or_population_error(str(path), {})


@settings(max_examples=300, deadline=None)
@given(text=csv_texts(), spec=SPECS, encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]))
@example(text='adcode,year,pop_resident\n1,2010,"1,0"', spec={}, encoding="utf-8")
def test_fuzz_malformed_csv(tmp_path_factory, text, spec, encoding):
    path = tmp_path_factory.getbasetemp() / "fuzz_text.csv"
    path.write_bytes(text.encode(encoding))
    read_or_population_error(str(path), spec)


# --- fuzz: Excel cells and encodings (random CSV bytes and text above) -----------------------

EXCEL_CELLS = st.one_of(
    st.none(), st.integers(-(10**12), 10**12), st.floats(allow_nan=True, allow_infinity=False),
    st.booleans(), st.text(st.characters(min_codepoint=32, exclude_categories=["Cs"]), max_size=6),
    st.dates(), st.sampled_from(["1,058,665", "约100万"]),
)  # fmt: skip


CODECS = ["utf-16", "utf-16-le", "utf-32", "latin-1", "idna", "rot13", "hex", "nope", "big5"]


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(
    header=st.lists(st.sampled_from(["adcode", "year", "pop_resident", "popu_2010", ""]),
                    min_size=1, max_size=4),
    rows=st.lists(st.lists(EXCEL_CELLS, max_size=4), max_size=4),
    sheet=st.none() | st.integers(-1, 2) | st.sampled_from(["Sheet", "x"]),
    wide=st.booleans(),
)  # fmt: skip
def test_fuzz_population_excel_cells(tmp_path_factory, header, rows, sheet, wide) -> None:
    path = tmp_path_factory.getbasetemp() / "fuzz_cells.xlsx"
    book = openpyxl.Workbook()
    book.active.append(header)
    for row in rows:
        book.active.append(row)
    book.save(path)
    spec = PopulationSpec(path, sheet=sheet, **({"year": None, "resident": "popu_{year}"}
                                               if wide else {}))  # fmt: skip
    out = allowed(lambda: read_population(spec))
    assert out is None or list(out.columns[:2]) == ["city_id", "year"]


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(max_size=60), write=st.sampled_from(CODECS[:5]),
       read=st.none() | st.sampled_from(CODECS))  # fmt: skip
@example(text=POPULATION, write="utf-16-le", read=None)
@example(text="adcode,year,pop_resident\n" + "a" * 70 + ",2010,1", write="utf-8", read="idna")
def test_fuzz_population_encodings(tmp_path_factory, text, write, read) -> None:
    path = tmp_path_factory.getbasetemp() / "fuzz_enc.csv"
    try:
        path.write_bytes(text.encode(write))
    except UnicodeError:  # not every text can be written in every codec
        return
    out = allowed(lambda: read_population(PopulationSpec(path, encoding=read)))
    assert out is None or list(out.columns[:2]) == ["city_id", "year"]
