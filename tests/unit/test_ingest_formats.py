"""Format detection, gzip, size limit and file-level errors of the readers."""
import io

import pyarrow as pa
import pytest

from tests.unit.test_ingest_support import LOAN_HEADER, csv_bytes, gz, loan_rows, parquet_bytes, run, xlsx_bytes
from workers.ingest import UploadFormatError, detect_format, iter_batches, open_upload
from workers.portfolios.loans import LOANS


@pytest.mark.parametrize("head,expected", [
    (b"PAR1\x15\x04", "parquet"), (b"PK\x03\x04\x14\x00", "xlsx"), (b"loan_id,ead\n", "csv"),
])
def test_detect_by_magic_bytes_whatever_the_name(head, expected):
    assert detect_format(head, filename="whatever.csv", content_type="text/csv") == expected


def test_declared_binary_format_without_its_signature_is_refused():
    with pytest.raises(UploadFormatError, match="declared as XLSX"):
        detect_format(b"loan_id,ead\n", filename="book.xlsx")
    with pytest.raises(UploadFormatError, match="PAR1"):
        detect_format(b"loan_id,ead\n", content_type="application/vnd.apache.parquet")


def test_legacy_xls_is_refused_clearly():
    with pytest.raises(UploadFormatError, match="legacy Excel"):
        detect_format(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")


@pytest.mark.parametrize("maker,fmt", [
    (lambda: csv_bytes(loan_rows(3)), "csv"),
    (lambda: xlsx_bytes({"s": [LOAN_HEADER] + loan_rows(3)}), "xlsx"),
    (lambda: parquet_bytes(pa.table({"loan_id": ["a"], "ead": [1.0]})), "parquet"),
])
def test_gzip_is_transparent_for_every_format(maker, fmt):
    data = maker()
    f1, s1 = open_upload(io.BytesIO(gz(data)), filename="x.gz")
    f2, s2 = open_upload(io.BytesIO(data))
    assert f1 == f2 == fmt
    assert s1.read() == s2.read() == data


def test_gzip_csv_gives_the_same_rows_and_hash():
    data = csv_bytes(loan_rows(50))
    r1, b1, h1, _ = run(data, LOANS)
    r2, b2, h2, _ = run(gz(data), LOANS, filename="loans.csv.gz")
    assert r1["valid"] and r2["valid"] and r1["rows"] == r2["rows"] == 50
    assert (b1, h1) == (b2, h2)


def test_corrupt_gzip_is_a_format_error():
    data = gz(csv_bytes(loan_rows(2000)))
    broken = data[:40] + bytes(b ^ 0xFF for b in data[40:80]) + data[80:]
    with pytest.raises(UploadFormatError, match="corrupt compressed data"):
        list(iter_batches(io.BytesIO(broken), kind=LOANS))


@pytest.mark.parametrize("compress", [False, True])
def test_max_bytes_refuses_an_oversize_file(compress):
    data = csv_bytes(loan_rows(5000))
    assert len(data) > 100_000
    payload = gz(data) if compress else data
    with pytest.raises(UploadFormatError, match="larger than the limit of 100,000 bytes"):
        list(iter_batches(io.BytesIO(payload), kind=LOANS, max_bytes=100_000))
    # at the limit it passes
    rows = sum(b.num_rows for b in iter_batches(io.BytesIO(payload), kind=LOANS, max_bytes=len(data)))
    assert rows == 5000


def test_max_bytes_applies_to_xlsx_and_parquet_too():
    data = xlsx_bytes({"s": [LOAN_HEADER] + loan_rows(200)})
    with pytest.raises(UploadFormatError, match="larger than the limit"):
        list(iter_batches(io.BytesIO(data), max_bytes=len(data) - 1))


@pytest.mark.parametrize("data", [b"", b"   \n\n", b"\xef\xbb\xbf", gz(b"")])
def test_empty_file(data):
    with pytest.raises(UploadFormatError, match="the file is empty"):
        list(iter_batches(io.BytesIO(data), kind=LOANS))


def test_utf16_is_refused_with_advice():
    data = "loan_id,ead\nL1,1\n".encode("utf-16")
    with pytest.raises(UploadFormatError, match="UTF-16"):
        list(iter_batches(io.BytesIO(data), kind=LOANS))


def test_max_bytes_trips_while_streaming_not_only_on_the_first_read():
    data = csv_bytes(loan_rows(40_000))  # ~1.4 MB, limit far beyond the sniffed head
    limit = 1_000_000
    seen = []
    with pytest.raises(UploadFormatError, match="larger than the limit of 1,000,000 bytes"):
        for b in iter_batches(io.BytesIO(gz(data)), kind=LOANS, max_bytes=limit, batch_rows=1000):
            seen.append(b.num_rows)
    assert sum(seen) < 40_000


@pytest.mark.parametrize("threads", [0, 1, 2])
def test_ingest_result_does_not_depend_on_threads(threads):
    from workers.ingest import ingest
    data = csv_bytes(loan_rows(30_000))
    got = []
    res = ingest(io.BytesIO(data), LOANS, sink=got.append, batch_rows=1000, threads=threads)
    ref = run(data, LOANS)
    assert res.valid and res.rows == 30_000
    assert (b"".join(got), res.sha256) == (ref[1], ref[2])


def test_ingest_propagates_reader_errors_from_its_thread():
    from workers.ingest import ingest
    rows = loan_rows(30_000)
    rows[29_000][0] = "L\xff"
    data = csv_bytes(rows).replace("L\xff".encode(), b"L\xff")
    with pytest.raises(UploadFormatError) as e:
        ingest(io.BytesIO(data), LOANS, batch_rows=1000, threads=2)
    assert (e.value.row, e.value.column) == (29_001, "loan_id")


def test_two_columns_for_one_field_in_a_csv():
    from workers.ingest import ingest
    data = b"loan_id,ead,EAD,pd,lgd,eir,term\nL1,1,2,0.1,0.1,0.1,1\n"
    report = ingest(io.BytesIO(data), LOANS).report
    assert report["counts"] == {"duplicate_column": 1}
    assert report["errors"][0]["column"] == "EAD"


def test_truncated_gzip_is_refused_not_read_as_a_shorter_file():
    data = gz(csv_bytes(loan_rows(20_000)))
    with pytest.raises(UploadFormatError, match="corrupt compressed data"):
        list(iter_batches(io.BytesIO(data[: len(data) // 2]), kind=LOANS))


def test_concatenated_gzip_members_are_read_whole():
    data = csv_bytes(loan_rows(10))
    cut = data.index(b"\nL6,") + 1
    (b,) = list(iter_batches(io.BytesIO(gz(data[:cut]) + gz(data[cut:])), kind=LOANS))
    assert b.num_rows == 10
