"""Validator rules, exact rows/columns, aliases, chunking, inline records and dtypes."""
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workers.ingest import Validator, to_frame, validate_records
from workers.portfolios.base import Field, PortfolioKind
from workers.portfolios.loans import LOANS
from workers.portfolios.mortality_data import MORTALITY_DATA
from workers.portfolios.policies import POLICIES


def text_table(cols: dict[str, list[str]]) -> pa.Table:
    return pa.table({k: pa.array(v, pa.string()) for k, v in cols.items()})


def base_cols(n=3, **over):
    cols = {"loan_id": [f"L{i}" for i in range(1, n + 1)], "ead": ["100"] * n, "pd_12m": ["0.01"] * n,
            "lgd": ["0.4"] * n, "eir": ["0.05"] * n, "remaining_term_months": ["12"] * n}
    cols.update(over)
    return cols


def check(cols, kind=LOANS, **kw):
    v = Validator(kind, **kw)
    out = v.feed(text_table(cols))
    return v.report(), out


def errs(report):
    return [(e["row"], e["column"], e["value"], e["rule"]) for e in report["errors"]]


def test_valid_file_defaults_and_field_order():
    report, out = check(base_cols(2))
    assert report["valid"] and report["rows"] == 2 and report["errors"] == [] and report["counts"] == {}
    assert out.column_names == LOANS.field_names
    row = out.slice(0, 1).to_pylist()[0]
    assert row == {"loan_id": "L1", "segment": "default", "ead": 100.0, "undrawn": 0.0, "ccf": 0.0,
                   "pd_12m": 0.01, "pd_12m_origination": None, "lgd": 0.4, "eir": 0.05,
                   "remaining_term_months": 12, "amortization": "annuity", "days_past_due": 0,
                   "default_flag": False, "watchlist": False, "forborne": False, "stage_override": None}
    assert [str(t) for t in out.schema.types] == [
        "string", "string", "double", "double", "double", "double", "double", "double", "double",
        "int64", "string", "int64", "bool", "bool", "bool", "int64"]


def test_headers_match_case_insensitively_with_aliases_spaces_and_dashes():
    cols = {"  Contract-ID ": ["A"], "EXPOSURE": ["5"], "PD 12m": ["0.1"], "Lgd": ["0.2"],
            "Effective Interest Rate": ["0.03"], "term": ["7"], "DPD": ["3"], "Notes": ["x"]}
    report, out = check(cols)
    assert report["valid"], report
    assert report["column_mapping"] == {
        "  Contract-ID ": "loan_id", "EXPOSURE": "ead", "PD 12m": "pd_12m", "Lgd": "lgd",
        "Effective Interest Rate": "eir", "term": "remaining_term_months", "DPD": "days_past_due"}
    assert report["unknown_columns"] == ["Notes"]
    assert out.column("days_past_due").to_pylist() == [3]


def test_missing_required_columns_are_listed():
    cols = base_cols(2)
    del cols["lgd"], cols["eir"]
    report, _ = check(cols)
    assert not report["valid"]
    assert report["missing_columns"] == ["lgd", "eir"]
    assert report["counts"] == {"required_column": 2}
    assert errs(report) == [(None, "lgd", None, "required_column"), (None, "eir", None, "required_column")]
    assert "accepted names: eir, effective_interest_rate" in report["errors"][1]["message"]


def test_two_columns_for_one_field():
    cols = base_cols(2)
    cols["PD"] = ["0.5", "0.5"]
    report, out = check(cols)
    assert report["counts"] == {"duplicate_column": 1}
    assert report["errors"][0]["column"] == "PD"
    assert out.column("pd_12m").to_pylist() == [0.01, 0.01]  # the first column wins


@pytest.mark.parametrize("field,value,rule", [
    ("ead", "abc", "type"), ("ead", "1,5", "type"), ("ead", "nan", "type"), ("ead", "inf", "type"),
    ("ead", "-1", "range"), ("pd_12m", "1.0000001", "range"), ("pd_12m", "", "required"),
    ("remaining_term_months", "1.5", "type"), ("remaining_term_months", "0", "range"),
    ("remaining_term_months", "99999999999999999999", "type"), ("default_flag", "maybe", "type"),
    ("amortization", "balloon", "choices"), ("stage_override", "4", "choices"),
    ("loan_id", "x" * 65, "max_length"), ("loan_id", "  ", "required"),
])
def test_each_rule_reports_exact_row_and_column(field, value, rule):
    n = 5
    cols = base_cols(n)
    cols.setdefault(field, [""] * n)
    cols[field] = list(cols[field])
    cols[field][3] = value
    report, out = check(cols)
    assert not report["valid"]
    assert report["counts"] == {rule: 1}
    assert errs(report) == [(4, field, value, rule)]
    assert report["errors"][0]["field"] == field
    assert out.column(field)[3].as_py() is None  # nothing invalid leaks into the typed chunk


@pytest.mark.parametrize("value,expected", [
    ("1", 1.0), (" 2.5 ", 2.5), ("+3", 3.0), ("1e3", 1000.0), (".5", 0.5), ("7.", 7.0), ("0", 0.0),
])
def test_number_spellings(value, expected):
    report, out = check(base_cols(1, ead=[value]))
    assert report["valid"], report
    assert out.column("ead").to_pylist() == [expected]


@pytest.mark.parametrize("value,expected", [("12", 12), ("+12", 12), (" 12 ", 12), ("12.0", 12), ("12.", 12)])
def test_integer_spellings(value, expected):
    report, out = check(base_cols(1, remaining_term_months=[value]))
    assert report["valid"], report
    assert out.column("remaining_term_months").to_pylist() == [expected]


def test_booleans_all_spellings():
    words = ["true", "FALSE", "1", "0", "Yes", "no", "T", "f", "y", "N", ""]
    report, out = check(base_cols(len(words), default_flag=words))
    assert report["valid"], report
    assert out.column("default_flag").to_pylist() == [True, False, True, False, True, False, True, False,
                                                      True, False, False]


def test_choices_match_case_insensitively_and_take_the_canonical_spelling():
    report, out = check(base_cols(3, amortization=["BULLET", "Linear", ""]))
    assert report["valid"]
    assert out.column("amortization").to_pylist() == ["bullet", "linear", "annuity"]


def test_min_exclusive():
    kind = PortfolioKind("t", "t", ("id",), (Field("id", "str"), Field("x", "float", min=0, min_exclusive=True)))
    report, _ = check({"id": ["a", "b", "c"], "x": ["0", "1e-300", "-0"]}, kind=kind)
    assert errs(report) == [(1, "x", "0", "range"), (3, "x", "-0", "range")]
    assert report["errors"][0]["message"] == "x: must be > 0"


def test_nullable_fields_stay_empty():
    report, out = check(base_cols(2, pd_12m_origination=["", "0.2"], stage_override=[" ", "2"]))
    assert report["valid"]
    assert out.column("pd_12m_origination").to_pylist() == [None, 0.2]
    assert out.column("stage_override").to_pylist() == [None, 2]


def test_duplicate_keys_across_chunks():
    v = Validator(LOANS)
    v.feed(text_table(base_cols(3)))  # L1 L2 L3 -> rows 1..3
    v.feed(text_table(base_cols(3, loan_id=["L4", "L2", "L4"])))  # rows 4..6
    v.feed(text_table(base_cols(1, loan_id=["L1"])))  # row 7
    report = v.report()
    assert report["counts"] == {"duplicate_key": 3}
    assert errs(report) == [(5, "loan_id", "L2", "duplicate_key"), (6, "loan_id", "L4", "duplicate_key"),
                            (7, "loan_id", "L1", "duplicate_key")]
    assert report["errors"][0]["message"] == "duplicate loan_id 'L2' (first at row 2)"
    assert report["errors"][2]["message"] == "duplicate loan_id 'L1' (first at row 1)"


def test_duplicate_composite_keys():
    v = Validator(MORTALITY_DATA)
    v.feed(text_table({"age": ["30", "30", "31", "30"], "calendar_year": ["2000", "2001", "2000", "2000"],
                       "dx": ["1", "1", "1", "1"], "ex": ["100"] * 4}))
    report = v.report()
    assert errs(report) == [(4, "age, calendar_year", "30, 2000", "duplicate_key")]


def test_max_errors_keeps_the_first_errors_in_row_order_and_full_counts():
    v = Validator(LOANS, max_errors=5)
    for start in (1, 4, 7):
        cols = base_cols(3, ead=["x", "1", "-1"], loan_id=[f"K{start + i}" for i in range(3)])
        v.feed(text_table(cols))
    report = v.report()
    assert report["counts"] == {"type": 3, "range": 3}
    assert [(e["row"], e["rule"]) for e in report["errors"]] == [
        (1, "type"), (3, "range"), (4, "type"), (6, "range"), (7, "type")]


def test_errors_on_one_row_follow_field_order():
    report, _ = check(base_cols(1, lgd=["2"], ead=["x"], loan_id=["y" * 70]))
    assert [e["column"] for e in report["errors"]] == ["loan_id", "ead", "lgd"]


def test_empty_and_header_only():
    assert Validator(LOANS).report()["counts"] == {"empty_file": 1}
    v = Validator(LOANS)
    v.feed(text_table({k: [] for k in base_cols(0)}))
    assert v.report()["counts"] == {"header_only": 1}


def test_typed_input_from_a_dataframe():
    df = pd.DataFrame({"loan_id": ["a", "b", "c"], "ead": [1.0, np.nan, 3.0], "pd_12m": [0.1, 0.2, 0.3],
                       "lgd": [0.4, 0.4, 0.4], "eir": [0.01, 0.01, 0.01],
                       "remaining_term_months": [12.0, 12.5, np.nan], "default_flag": [True, False, True]})
    v = Validator(LOANS)
    v.feed(df)
    report = v.report()
    assert errs(report) == [(2, "ead", None, "required"), (2, "remaining_term_months", "12.5", "type"),
                            (3, "remaining_term_months", None, "required")]


# --- to_frame ------------------------------------------------------------------------

def test_to_frame_dtypes_follow_the_portfolio_contract():
    _, out = check(base_cols(2, stage_override=["", "3"]))
    df = to_frame(out, LOANS)
    assert list(df.columns) == LOANS.field_names
    assert df["loan_id"].dtype == object and type(df["loan_id"][0]) is str
    assert df["ead"].dtype == np.float64 and math.isnan(df["pd_12m_origination"][0])
    assert df["remaining_term_months"].dtype == np.int64
    assert df["stage_override"].dtype == np.float64 and math.isnan(df["stage_override"][0])
    assert df["stage_override"][1] == 3.0
    assert df["default_flag"].dtype == bool


# --- inline records ------------------------------------------------------------------

def good_record(i=0, **over):
    rec = {"loan_id": f"L{i}", "ead": 100.0, "pd_12m": 0.02, "lgd": 0.45, "eir": 0.05, "remaining_term_months": 24}
    rec.update(over)
    return rec


def test_validate_records_valid():
    recs = [good_record(0), good_record(1, stage_override=2, default_flag=True, PD=None)]
    recs[1].pop("PD")
    df, errors = validate_records(LOANS, recs)
    assert errors == {}
    assert df["stage_override"].tolist()[1] == 2.0 and df["default_flag"].tolist() == [False, True]
    assert df["ead"].tolist() == [100.0, 100.0]


def test_validate_records_error_paths():
    recs = [good_record(0), good_record(1, pd_12m=1.5), good_record(2, ead="abc", colour="red"),
            good_record(3, remaining_term_months=None), good_record(1), good_record(5, ead=[1])]
    _, errors = validate_records(LOANS, recs, path_prefix="inputs.loans")
    assert set(errors) == {"inputs.loans.1.pd_12m", "inputs.loans.2.ead", "inputs.loans.2.colour",
                           "inputs.loans.3.remaining_term_months", "inputs.loans.4.loan_id",
                           "inputs.loans.5.ead"}
    assert errors["inputs.loans.1.pd_12m"] == ["pd_12m: must be >= 0 and <= 1"]
    assert errors["inputs.loans.2.colour"] == ["Unknown field."]
    assert errors["inputs.loans.4.loan_id"] == ["duplicate loan_id 'L1' (first at row 2)"]
    assert errors["inputs.loans.5.ead"][0].startswith("Must be a scalar")


def test_validate_records_missing_field_and_bad_shapes():
    recs = [good_record(0), good_record(1)]
    for r in recs:
        r.pop("lgd")
    _, errors = validate_records(LOANS, recs)
    assert errors == {"inputs.loans.0.lgd": ["Missing data for required field."],
                      "inputs.loans.1.lgd": ["Missing data for required field."]}
    assert validate_records(LOANS, [])[1] == {"inputs.loans": ["Must contain at least one record."]}
    assert validate_records(LOANS, {"a": 1})[1] == {"inputs.loans": ["Must be a list of records."]}
    assert validate_records(POLICIES, [1], "inputs.policies")[1] == {"inputs.policies.0": ["Must be an object."]}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, min_value=0, max_value=1), min_size=1,
                max_size=20))
def test_floats_survive_text_exactly(values):
    """Any float written with repr (as XLSX cells and JSON are) parses back to itself."""
    recs = [good_record(i, pd_12m=v) for i, v in enumerate(values)]
    df, errors = validate_records(LOANS, recs)
    assert errors == {}
    assert df["pd_12m"].tolist() == values


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f"]), min_size=1, max_size=40),
       st.integers(min_value=1, max_value=7))
def test_duplicate_count_matches_an_independent_count(ids, chunk):
    """Duplicates reported == rows minus distinct ids, whatever the chunking."""
    v = Validator(LOANS, max_errors=1000)
    for s in range(0, len(ids), chunk):
        part = ids[s:s + chunk]
        v.feed(text_table(base_cols(len(part), loan_id=part)))
    report = v.report()
    assert report["counts"].get("duplicate_key", 0) == len(ids) - len(set(ids))
    seen, expected = set(), []
    for i, k in enumerate(ids, 1):
        if k in seen:
            expected.append(i)
        seen.add(k)
    assert [e["row"] for e in report["errors"]] == expected
