"""Human-norm loaders: each reads a small fixture in the real column layout of its source (synthetic numbers,
see tests/data/norms/README.md), maps countries to ISO 3166-1 alpha-3 and reports layout problems with the file,
column and line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from psychoml.errors import DataError
from psychoml.instruments import load
from psychoml.instruments.norms import (
    country_table,
    country_to_iso3,
    load_hofstede,
    load_inglehart_welzel,
    load_mfq2,
    load_wvs7,
)

NORMS = Path(__file__).parent / "data" / "norms"


# --- country codes ------------------------------------------------------------------------------------------------
def test_country_table_is_iso_3166_1():
    table = country_table()
    assert len(table) == 249  # ISO 3166-1 entries in Debian iso-codes
    assert table["alpha_3"].is_unique and table["alpha_2"].is_unique
    assert table.set_index("alpha_3").loc["DEU", "numeric"] == "276"


@pytest.mark.parametrize(
    ("value", "iso3"),
    [("U.S.A.", "USA"), ("Great Britain", "GBR"), ("great_britain", "GBR"), ("Korea South", "KOR"),
     ("Czech Rep", "CZE"), ("taiwan_roc", "TWN"), ("Viet Nam", "VNM"), ("Vietnam", "VNM"), ("DE", "DEU"),
     ("deu", "DEU"), ("076", "BRA"), (840, "USA"), ("Côte d'Ivoire", "CIV"), ("Moldova Rep of", "MDA"),
     ("russian_federation", "RUS"), ("Columbia", "COL")],
)
def test_country_names_and_codes_map_to_iso3(value, iso3):
    assert country_to_iso3([value]).iloc[0] == iso3


def test_regional_samples_map_to_missing_not_to_a_country():
    out = country_to_iso3(["Arab countries", "Belgium French", "northern_ireland", "Germany West"])
    assert out.isna().all()


def test_unknown_country_is_located():
    with pytest.raises(DataError, match=r"my\.csv: line 3, column 'nation': unknown country 'Atlantis'"):
        country_to_iso3(["France", "Atlantis"], source="my.csv", column="nation")


# --- Hofstede -----------------------------------------------------------------------------------------------------
def test_load_hofstede_reads_the_6d_layout():
    table = load_hofstede(NORMS / "hofstede_6d.csv")
    assert list(table.columns) == ["iso3", "country", "hofstede_code", "PDI", "IDV", "MAS", "UAI", "LTO", "IVR"]
    assert table["country"].tolist() == ["Arab countries", "Argentina", "Belgium French", "Korea South", "U.S.A."]
    by_country = table.set_index("country")
    assert by_country.loc["Argentina", "iso3"] == "ARG" and by_country.loc["U.S.A.", "iso3"] == "USA"
    assert pd.isna(by_country.loc["Arab countries", "iso3"]) and pd.isna(by_country.loc["Belgium French", "iso3"])
    assert by_country.loc["Korea South", "LTO"] == 100 and by_country.loc["U.S.A.", "IDV"] == 90
    assert np.isnan(by_country.loc["Arab countries", "LTO"])  # '#NULL!' is missing
    assert by_country.loc["Argentina", "hofstede_code"] == "ARG"


def test_load_hofstede_missing_column_names_file_and_column(tmp_path):
    bad = tmp_path / "hof.csv"
    bad.write_text("ctr;country;pdi;idv;mas;uai;ivr\nARG;Argentina;49;46;56;86;62\n")
    with pytest.raises(DataError, match=r"hof\.csv: missing column\(s\) 'ltowvs'"):
        load_hofstede(bad)


def test_load_hofstede_bad_value_names_line_and_column(tmp_path):
    bad = tmp_path / "hof.csv"
    bad.write_text("ctr;country;pdi;idv;mas;uai;ltowvs;ivr\nARG;Argentina;49;46;56;86;20;62\n"
                   "USA;U.S.A.;40;high;62;46;26;68\n")
    with pytest.raises(DataError, match=r"hof\.csv: line 3, column 'idv': value 'high' is not a number"):
        load_hofstede(bad)


def test_load_hofstede_unknown_country_is_located(tmp_path):
    bad = tmp_path / "hof.csv"
    bad.write_text("ctr;country;pdi;idv;mas;uai;ltowvs;ivr\nXXX;Narnia;49;46;56;86;20;62\n")
    with pytest.raises(DataError, match=r"hof\.csv: line 2, column 'country': unknown country 'Narnia'"):
        load_hofstede(bad)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match="nope.csv: file not found"):
        load_hofstede(tmp_path / "nope.csv")


# --- WVS-7 --------------------------------------------------------------------------------------------------------
def test_load_wvs7_keys_by_iso3_and_scores_with_the_instrument():
    data = load_wvs7(NORMS / "wvs7_sample.csv")
    assert data["iso3"].tolist() == ["ARG", "ARG", "DEU", "DEU"]
    assert "W_WEIGHT" in data and "Q154" in data and "A_WAVE" not in data
    assert data.loc[3, "Q1"] == -1  # WVS codes are kept; the instrument reads -1..-5 as missing
    scores = load("wvs7").score(data)
    # Y002 (4-item): row 0 Q154=2, Q155=4 -> postmaterialist 3; row 1 1, 3 -> materialist 1;
    # row 2 4, 2 -> 3; row 3 Q154 = -1 (don't know) -> missing
    assert scores["Y002"].tolist()[:3] == [3, 1, 3] and np.isnan(scores.loc[3, "Y002"])


def test_load_wvs7_numeric_country_codes(tmp_path):
    f = tmp_path / "wvs.csv"
    f.write_text("B_COUNTRY,Q1\n32,1\n276,2\n")
    assert load_wvs7(f)["iso3"].tolist() == ["ARG", "DEU"]


def test_load_wvs7_without_country_column_is_located(tmp_path):
    f = tmp_path / "wvs.csv"
    f.write_text("COUNTRY,Q1\nARG,1\n")
    with pytest.raises(DataError, match=r"wvs\.csv: missing column\(s\) 'B_COUNTRY_ALPHA'"):
        load_wvs7(f)


def test_load_wvs7_non_numeric_answer_is_located(tmp_path):
    f = tmp_path / "wvs.csv"
    f.write_text("B_COUNTRY_ALPHA,Q1,Q2\nARG,1,2\nDEU,1,very\n")
    with pytest.raises(DataError, match=r"wvs\.csv: line 3, column 'Q2': value 'very' is not a number"):
        load_wvs7(f)


def test_load_wvs7_needs_wvs_questions(tmp_path):
    f = tmp_path / "wvs.csv"
    f.write_text("B_COUNTRY_ALPHA,V1\nARG,1\n")
    with pytest.raises(DataError, match="no WVS-7 question column"):
        load_wvs7(f)


# --- MFQ-2 --------------------------------------------------------------------------------------------------------
def test_load_mfq2_country_foundations():
    data = load_mfq2(NORMS / "mfq2_country.csv")
    assert data["iso3"].tolist() == ["COL", "EGY", "JPN"]
    assert list(data.columns) == ["iso3", "country", "care", "equality", "proportionality", "loyalty",
                                  "authority", "purity"]
    assert data.loc[1, "purity"] == pytest.approx(4.4)


def test_load_mfq2_items_score_with_the_instrument(tmp_path):
    f = tmp_path / "mfq2.csv"
    header = "country," + ",".join(f"mfq2_{i:02d}" for i in range(1, 37))
    # respondent 1: every item 3 except care items (1, 7, 13, 19, 25, 31) = 5 -> care 5, others 3
    r1 = ["Japan"] + ["5" if i % 6 == 1 else "3" for i in range(1, 37)]
    r2 = ["Egypt"] + ["2"] * 36
    f.write_text("\n".join([header, ",".join(r1), ",".join(r2)]) + "\n")
    data = load_mfq2(f)
    scores = load("mfq2").score(data)
    assert scores.loc[0, "care"] == 5 and scores.loc[0, "purity"] == 3 and scores.loc[1, "equality"] == 2


def test_load_mfq2_out_of_range_is_located(tmp_path):
    f = tmp_path / "mfq2.csv"
    f.write_text("country,care,equality,proportionality,loyalty,authority,purity\nJapan,3,3,3,3,3,7\n")
    with pytest.raises(DataError, match=r"mfq2\.csv: line 2, column 'purity': value 7 is outside 1\.\.5"):
        load_mfq2(f)


def test_load_mfq2_missing_foundation_is_named(tmp_path):
    f = tmp_path / "mfq2.csv"
    f.write_text("country,care,equality,proportionality,loyalty,authority\nJapan,3,3,3,3,3\n")
    with pytest.raises(DataError, match=r"mfq2\.csv: missing foundation column\(s\) 'purity'"):
        load_mfq2(f)


# --- Inglehart-Welzel ---------------------------------------------------------------------------------------------
def test_load_inglehart_welzel_merges_the_two_ddf_files():
    table = load_inglehart_welzel(NORMS)
    assert list(table.columns) == ["iso3", "country", "year", "traditional_secular", "survival_self_expression"]
    row = table.set_index(["country", "year"]).loc[("great_britain", 2022)]
    assert row["iso3"] == "GBR" and row["traditional_secular"] == 0.95 and row["survival_self_expression"] == 1.75
    ni = table.set_index("country").loc["northern_ireland"]
    assert pd.isna(ni["iso3"]) and np.isnan(ni["survival_self_expression"])  # only in the tradagg file
    assert len(table) == 4


def test_load_inglehart_welzel_single_file_and_missing_columns(tmp_path):
    f = tmp_path / "iw.csv"
    f.write_text("country,year,tradagg,survsagg\nJapan,2019,1.6,0.4\n")
    assert load_inglehart_welzel(f).loc[0, "iso3"] == "JPN"
    g = tmp_path / "bad.csv"
    g.write_text("country,wave,tradagg\nJapan,7,1.6\n")
    with pytest.raises(DataError, match=r"bad\.csv: missing column\(s\) 'year'"):
        load_inglehart_welzel(g)


def test_inglehart_welzel_output_reads_back_and_default_needs_a_bundled_copy(tmp_path):
    table = load_inglehart_welzel(NORMS)
    saved = tmp_path / "iw.csv"
    table.to_csv(saved, index=False)
    again = load_inglehart_welzel(saved)  # the loader's own layout (what the bundling script writes)
    pd.testing.assert_frame_equal(again, table, check_dtype=False)
    bundled = Path(__file__).resolve().parents[1] / "psychoml" / "instruments" / "data" / "inglehart_welzel.csv"
    if bundled.is_file():
        assert {"iso3", "traditional_secular", "survival_self_expression"} <= set(load_inglehart_welzel().columns)
    else:
        with pytest.raises(DataError, match="no bundled Inglehart-Welzel table"):
            load_inglehart_welzel()


def test_load_hofstede_accepts_a_comma_resaved_latin1_copy(tmp_path):
    text = (NORMS / "hofstede_6d.csv").read_text(encoding="utf-8").replace(";", ",")
    text = text.replace("Argentina", "Curaçao")  # a non-ASCII name, saved as Latin-1 by an old spreadsheet
    f = tmp_path / "hof.csv"
    f.write_bytes(text.encode("latin-1"))
    table = load_hofstede(f)
    assert table["iso3"].tolist()[1] == "CUW" and table.loc[4, "IDV"] == 90
