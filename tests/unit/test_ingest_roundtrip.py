"""Same records through CSV, XLSX, Parquet and JSON give the same canonical bytes and hash;
XLSX sheets, Parquet types; a 1 000 000-row file against an independent encoding."""
import csv
import hashlib
import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from tests.unit.test_ingest_support import LOAN_HEADER, csv_bytes, gz, loan_rows, parquet_bytes, run, xlsx_bytes
from workers.ingest import UploadFormatError, encode_copy_csv, ingest, iter_batches, validate_records
from workers.ingest.validate import Validator
from workers.portfolios.loans import LOANS

RECORDS = [
    {"loan_id": "A-1", "segment": "retail, north", "ead": 1000.5, "pd_12m": 0.1, "lgd": 0.45, "eir": 0.035,
     "remaining_term_months": 12, "default_flag": True, "stage_override": 2, "pd_12m_origination": 1 / 3},
    {"loan_id": 'B"2', "segment": "sme", "ead": 2e-05, "pd_12m": 1.0, "lgd": 0.0, "eir": 0.0,
     "remaining_term_months": 360, "default_flag": False, "stage_override": None, "pd_12m_origination": None},
    {"loan_id": "C3", "segment": "corp", "ead": 12345678901.25, "pd_12m": 0.0, "lgd": 1.0, "eir": 0.1,
     "remaining_term_months": 1, "default_flag": False, "stage_override": 3, "pd_12m_origination": 0.5},
]
COLS = list(RECORDS[0])


def as_csv() -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([c.upper() for c in COLS])  # headers in another case on purpose
    for r in RECORDS:
        w.writerow(["" if r[c] is None else (repr(r[c]) if isinstance(r[c], float) else r[c]) for c in COLS])
    return buf.getvalue().encode()


def as_xlsx() -> bytes:
    return xlsx_bytes({"Loans": [COLS] + [[r[c] for c in COLS] for r in RECORDS]})


def as_parquet() -> bytes:
    t = pa.table({
        "loan_id": pa.array([r["loan_id"] for r in RECORDS]).dictionary_encode(),
        "segment": [r["segment"] for r in RECORDS],
        "ead": pa.array([r["ead"] for r in RECORDS], pa.float32()).cast(pa.float64()),
        "pd_12m": [r["pd_12m"] for r in RECORDS],
        "lgd": [r["lgd"] for r in RECORDS],
        "eir": [r["eir"] for r in RECORDS],
        "remaining_term_months": pa.array([r["remaining_term_months"] for r in RECORDS], pa.int16()),
        "default_flag": [r["default_flag"] for r in RECORDS],
        "stage_override": pa.array([r["stage_override"] for r in RECORDS], pa.float64()),  # pandas style
        "pd_12m_origination": [r["pd_12m_origination"] for r in RECORDS],
    })
    # float32 would change ead: write the exact float64 values
    t = t.set_column(2, "ead", pa.array([r["ead"] for r in RECORDS], pa.float64()))
    return parquet_bytes(t)


EXPECTED = (
    b'A-1,"retail, north",1000.5,0.0,0.0,0.1,0.3333333333333333,0.45,0.035,12,annuity,0,t,f,f,2\n'
    b'"B""2",sme,2e-05,0.0,0.0,1.0,,0.0,0.0,360,annuity,0,f,f,f,\n'
    b"C3,corp,12345678901.25,0.0,0.0,0.0,0.5,1.0,0.1,1,annuity,0,f,f,f,3\n"
)


@pytest.mark.parametrize("maker", [as_csv, as_xlsx, as_parquet], ids=["csv", "xlsx", "parquet"])
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_every_format_gives_the_same_canonical_bytes(maker, compress):
    data = maker()
    report, copy, digest, _ = run(gz(data) if compress else data, LOANS)
    assert report["valid"], report
    assert copy == EXPECTED
    assert digest == hashlib.sha256(EXPECTED).hexdigest()


def test_inline_records_give_the_same_bytes():
    df, errors = validate_records(LOANS, RECORDS)
    assert errors == {}
    v = Validator(LOANS)
    t = v.feed(pd.DataFrame(RECORDS))
    assert v.report()["valid"]
    assert encode_copy_csv(t, LOANS) == EXPECTED
    assert df["ead"].tolist() == [r["ead"] for r in RECORDS]


def test_ingest_pipeline_sink_and_hash():
    got = []
    res = ingest(io.BytesIO(gz(as_csv())), LOANS, sink=got.append, filename="l.csv.gz")
    assert res.valid and res.rows == 3 and b"".join(got) == EXPECTED
    assert res.sha256 == hashlib.sha256(EXPECTED).hexdigest() and res.nbytes == len(EXPECTED)
    bad = ingest(io.BytesIO(csv_bytes(loan_rows(2) + loan_rows(1))), LOANS)
    assert not bad.valid and bad.sha256 is None and bad.report["counts"] == {"duplicate_key": 1}


# --- XLSX ----------------------------------------------------------------------------

def test_xlsx_with_several_sheets_names_them():
    data = xlsx_bytes({"Loans": [LOAN_HEADER] + loan_rows(2), "Notes": [["hello"]]})
    with pytest.raises(UploadFormatError, match="2 sheets \\('Loans', 'Notes'\\).*'sheet' option"):
        list(iter_batches(io.BytesIO(data), kind=LOANS))
    report, _, _, _ = run(data, LOANS, sheet="Loans")
    assert report["valid"] and report["rows"] == 2
    with pytest.raises(UploadFormatError, match="no sheet 'Other'"):
        list(iter_batches(io.BytesIO(data), sheet="Other"))


def test_xlsx_rows_numbers_errors_and_blank_rows():
    rows = [[None], LOAN_HEADER] + loan_rows(3)
    rows[3][1] = "n/a"
    rows.insert(4, [None, None])
    data = xlsx_bytes({"S": rows})
    report, _, _, _ = run(data, LOANS)
    assert report["rows"] == 3
    assert [(e["row"], e["column"], e["value"]) for e in report["errors"]] == [(2, "ead", "n/a")]


def test_xlsx_value_beyond_the_header():
    data = xlsx_bytes({"S": [LOAN_HEADER] + loan_rows(2) + [loan_rows(1, 9)[0] + ["stray"]]})
    with pytest.raises(UploadFormatError, match="data row 3 has values beyond") as e:
        list(iter_batches(io.BytesIO(data)))
    assert e.value.row == 3


def test_not_an_xlsx_zip():
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("hello.txt", "hi")
    with pytest.raises(UploadFormatError, match="not a readable XLSX"):
        list(iter_batches(io.BytesIO(buf.getvalue())))


def test_xlsx_in_batches():
    data = xlsx_bytes({"S": [LOAN_HEADER] + loan_rows(25)})
    sizes = [b.num_rows for b in iter_batches(io.BytesIO(data), batch_rows=10)]
    assert sizes == [10, 10, 5]


# --- Parquet -------------------------------------------------------------------------

@pytest.mark.parametrize("column,values,ptype,expected", [
    ("ead", ["1", "2"], "string", "a floating point or integer column"),
    ("remaining_term_months", ["12", "24"], "string", "an integer column"),
    ("loan_id", [1, 2], "int64", "a string column"),
    ("default_flag", [1, 0], "int64", "a boolean column"),
])
def test_parquet_with_wrong_types_names_column_and_types(column, values, ptype, expected):
    cols = {"loan_id": ["a", "b"], "ead": [1.0, 2.0], "pd_12m": [0.1, 0.1], "lgd": [0.4, 0.4],
            "eir": [0.01, 0.01], "remaining_term_months": [12, 24]}
    cols[column] = values
    data = parquet_bytes(pa.table(cols))
    with pytest.raises(UploadFormatError) as e:
        list(iter_batches(io.BytesIO(data), kind=LOANS))
    assert e.value.column == column
    assert f"column '{column}'" in e.value.message and f"Parquet type {ptype}" in e.value.message
    assert expected in e.value.message


def test_parquet_float_column_for_an_integer_field_is_checked_per_cell():
    t = pa.table({"loan_id": ["a", "b"], "ead": [1, 2], "pd_12m": [0.1, 0.1], "lgd": [0.4, 0.4],
                  "eir": [0.01, 0.01], "Term": [12.0, 12.5]})
    report, _, _, _ = run(parquet_bytes(t), LOANS)
    assert [(e["row"], e["column"], e["value"], e["rule"]) for e in report["errors"]] == [
        (2, "Term", "12.5", "type")]


def test_parquet_batches_and_corrupt_file():
    n = 2500
    t = pa.table({"loan_id": [f"L{i}" for i in range(n)], "ead": np.arange(n, dtype=float),
                  "pd_12m": [0.1] * n, "lgd": [0.4] * n, "eir": [0.01] * n, "term": np.full(n, 12)})
    data = parquet_bytes(t)
    assert [b.num_rows for b in iter_batches(io.BytesIO(data), kind=LOANS, batch_rows=1000)] == [1000, 1000, 500]
    with pytest.raises(UploadFormatError, match="Parquet"):
        list(iter_batches(io.BytesIO(data[:100] + data[-8:]), kind=LOANS))


# --- a million rows ------------------------------------------------------------------

def test_one_million_rows_hash_matches_an_independent_encoding():
    """1e6 generated loans: written by Arrow's CSV writer, ingested, and the hash compared with
    the canonical text built independently (Python's float repr and str.join)."""
    n = 1_000_000
    rng = np.random.default_rng(20261122)
    ids = [f"L{i}" for i in range(n)]
    seg_names = np.array(["retail", "sme", "corp, large"])
    seg = rng.integers(0, 3, n)
    ead = np.round(rng.uniform(0, 2e6, n), 2)
    pd12 = rng.uniform(0, 0.3, n)
    lgd = np.round(rng.uniform(0, 1, n), 4)
    eir = rng.integers(0, 2000, n) / 10_000
    term = rng.integers(1, 480, n)
    stage = np.where(rng.random(n) < 0.5, rng.integers(1, 4, n), 0)
    flag = rng.random(n) < 0.02
    src = pa.table({
        "Loan ID": ids, "Segment": seg_names[seg], "Exposure": ead, "PD": pd12, "lgd": lgd, "EIR": eir,
        "term": term, "Stage Override": pa.array(stage, mask=stage == 0), "default_flag": flag,
    })
    buf = io.BytesIO()
    pacsv.write_csv(src, buf)
    data = buf.getvalue()

    got = []
    res = ingest(io.BytesIO(data), LOANS, sink=got.append)
    assert res.valid, res.report
    assert res.rows == n

    def floats(x):
        return list(map(repr, x.tolist()))  # Python's shortest round-trip repr: '0.1', '1.0', '1e-05'

    quoted = [f'"{s}"' if "," in s else s for s in seg_names]
    cols = [ids, [quoted[s] for s in seg.tolist()], floats(ead), ["0.0"] * n, ["0.0"] * n, floats(pd12),
            [""] * n, floats(lgd), floats(eir), list(map(str, term.tolist())), ["annuity"] * n, ["0"] * n,
            ["t" if f else "f" for f in flag.tolist()], ["f"] * n, ["f"] * n,
            ["" if s == 0 else str(s) for s in stage.tolist()]]
    expected = ("\n".join(map(",".join, zip(*cols))) + "\n").encode()
    assert res.nbytes == len(expected)
    assert res.sha256 == hashlib.sha256(expected).hexdigest()
