"""CSV reading: delimiters, encodings, ragged rows, header-only, quoting, row numbers."""
import io

import pytest

from tests.unit.test_ingest_support import LOAN_HEADER, csv_bytes, loan_rows, run
from workers.ingest import UploadFormatError, iter_batches
from workers.portfolios.loans import LOANS


def batches(data: bytes, **opts):
    return list(iter_batches(io.BytesIO(data), kind=LOANS, **opts))


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_delimiter_is_sniffed(sep):
    report, _, h, _ = run(csv_bytes(loan_rows(4), sep=sep), LOANS)
    assert report["valid"], report
    assert report["rows"] == 4
    _, _, h_comma, _ = run(csv_bytes(loan_rows(4)), LOANS)
    assert h == h_comma


def test_all_columns_arrive_as_text():
    (b,) = batches(csv_bytes(loan_rows(3)))
    assert b.schema.names == LOAN_HEADER
    assert {str(t) for t in b.schema.types} == {"string"}
    assert b.column(1).to_pylist() == ["1001.5", "1002.5", "1003.5"]


def test_wrong_delimiter_header_single_column():
    data = b"loan_id\nL1;100;0.02;0.4;0.05;12\nL2;100;0.02;0.4;0.05;12\n"
    with pytest.raises(UploadFormatError, match="wrong delimiter.*semicolons") as e:
        batches(data)
    assert e.value.row == 0


def test_explicit_delimiter_that_does_not_split_the_header():
    with pytest.raises(UploadFormatError, match="wrong delimiter"):
        batches(csv_bytes(loan_rows(2), sep=";"), delimiter=",")


def test_data_lines_with_another_delimiter_name_the_row():
    data = csv_bytes(loan_rows(2)) + b"L9;1;0.1;0.4;0.05;12\n"
    with pytest.raises(UploadFormatError) as e:
        batches(data)
    assert e.value.row == 3
    assert "data row 3 has 1 field(s) but the header has 6" in e.value.message
    assert "wrong delimiter?" in e.value.message


def test_ragged_row_too_many_fields():
    rows = loan_rows(5)
    rows[3] = rows[3] + ["extra"]
    with pytest.raises(UploadFormatError, match="data row 4 has 7 field") as e:
        batches(csv_bytes(rows))
    assert e.value.row == 4


def test_utf8_bom_and_crlf():
    data = b"\xef\xbb\xbf" + csv_bytes(loan_rows(3), newline="\r\n")
    report, copy, _, _ = run(data, LOANS)
    assert report["valid"], report
    assert report["column_mapping"]["loan_id"] == "loan_id"
    assert b"\r" not in copy


def test_invalid_utf8_names_row_column_and_byte():
    header = LOAN_HEADER + ["segment"]
    rows = [r + ["retail"] for r in loan_rows(4)]
    rows[2][-1] = "caf\xe9"
    data = csv_bytes(rows, header=header).replace("caf\xe9".encode(), b"caf\xe9")
    with pytest.raises(UploadFormatError) as e:
        batches(data)
    assert (e.value.row, e.value.column) == (3, "segment")
    assert "byte 0xe9 at byte 3 of the value" in e.value.message
    assert "save the file as UTF-8" in e.value.message


def test_invalid_utf8_row_number_counts_across_batches():
    rows = loan_rows(30_000)
    rows[28_999][0] = "L\xff"
    data = csv_bytes(rows).replace("L\xff".encode(), b"L\xff")
    assert len(data) > 1 << 20  # several reader blocks
    with pytest.raises(UploadFormatError) as e:
        batches(data, batch_rows=1000)
    assert (e.value.row, e.value.column) == (29_000, "loan_id")


def test_invalid_utf8_in_header():
    with pytest.raises(UploadFormatError, match="header line is not valid UTF-8") as e:
        batches(b"loan_id,\xe9ad\nL1,1\n")
    assert e.value.row == 0


def test_latin1_with_explicit_encoding():
    data = csv_bytes([r + ["caf\xe9"] for r in loan_rows(2)], header=LOAN_HEADER + ["segment"])
    data = data.decode().encode("latin-1")
    report, copy, _, _ = run(data, LOANS, encoding="latin-1")
    assert report["valid"], report
    assert "café".encode() in copy


def test_header_only_file_is_reported():
    for data in (csv_bytes([]), ",".join(LOAN_HEADER).encode()):
        (b,) = batches(data)
        assert b.num_rows == 0 and b.schema.names == LOAN_HEADER
        report, copy, _, _ = run(data, LOANS)
        assert not report["valid"]
        assert report["counts"] == {"header_only": 1}
        assert report["errors"][0]["message"] == "the file has a header but no data rows"
        assert copy == b""


def test_quoted_delimiters_newlines_and_quotes_survive():
    data = (b'loan_id,ead,pd_12m,lgd,eir,remaining_term_months,segment\n'
            b'"L,1",1,0.1,0.4,0.05,12,"multi\nline"\n'
            b'"L""2""",2,0.1,0.4,0.05,12,plain\n')
    report, copy, _, tables = run(data, LOANS)
    assert report["valid"], report
    assert tables[0].column("loan_id").to_pylist() == ["L,1", 'L"2"']
    assert tables[0].column("segment").to_pylist() == ["multi\nline", "plain"]
    assert copy == (b'"L,1","multi\nline",1.0,0.0,0.0,0.1,,0.4,0.05,12,annuity,0,f,f,f,\n'
                    b'"L""2""",plain,2.0,0.0,0.0,0.1,,0.4,0.05,12,annuity,0,f,f,f,\n')


def test_blank_lines_are_skipped_and_not_counted():
    data = csv_bytes(loan_rows(2)) + b"\n\n" + b"L9,x,0.1,0.4,0.05,12\n\n"
    report, _, _, _ = run(data, LOANS)
    assert report["rows"] == 3
    assert [(e["row"], e["column"]) for e in report["errors"]] == [(3, "ead")]


def test_bad_cells_do_not_crash_the_reader():
    rows = loan_rows(3)
    rows[1][5] = "twelve"
    rows[2][1] = '"1 000,50"'
    report, _, _, _ = run(csv_bytes(rows), LOANS)
    errs = [(e["row"], e["column"], e["value"], e["rule"]) for e in report["errors"]]
    assert errs == [(2, "remaining_term_months", "twelve", "type"), (3, "ead", "1 000,50", "type")]
    assert "decimal separator" in report["errors"][1]["message"]


def test_ragged_row_number_counts_across_batches():
    rows = loan_rows(30_000)
    rows[28_999] = rows[28_999] + ["x"]
    with pytest.raises(UploadFormatError, match="data row 29000 has 7 field") as e:
        batches(csv_bytes(rows), batch_rows=1000)
    assert e.value.row == 29_000


def test_classic_mac_line_ends():
    data = csv_bytes(loan_rows(2), newline="\r")
    report, _, _, _ = run(data, LOANS)
    assert report["valid"] and report["rows"] == 2
