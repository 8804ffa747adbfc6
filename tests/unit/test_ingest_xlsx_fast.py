"""The streaming XLSX reader gives the same batches as openpyxl's read-only values."""
from __future__ import annotations

import datetime as dt
import io
import re
import warnings
import zipfile

import openpyxl
import pandas as pd
import pyarrow as pa
import pytest

from tests.support.xlsx import write_xlsx
from workers.ingest.errors import UploadFormatError
from workers.ingest.readers import _xlsx_text, iter_xlsx


def reference(data: bytes, *, batch_rows: int = 100_000, sheet: str | None = None) -> list[pa.RecordBatch]:
    """Batches built from openpyxl's read-only ``iter_rows(values_only=True)`` (the previous reader)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    ws = wb[sheet or wb.sheetnames[0]]
    ws.reset_dimensions()  # read every cell, whatever <dimension> says
    rows = ws.iter_rows(values_only=True)
    for header in rows:
        if any(v is not None and str(v).strip() != "" for v in header):
            break
    width = len(header)
    while width and (header[width - 1] is None or str(header[width - 1]).strip() == ""):
        width -= 1
    names = [_xlsx_text(h).strip() if h is not None else f"column_{i + 1}" for i, h in enumerate(header[:width])]
    schema = pa.schema([pa.field(n, pa.string()) for n in names])
    out, cols = [], [[] for _ in range(width)]
    for values in rows:
        if not any(v is not None and (not isinstance(v, str) or v.strip()) for v in values):
            continue
        for j in range(width):
            cols[j].append(_xlsx_text(values[j]) if j < len(values) else "")
        if len(cols[0]) >= batch_rows:
            out.append(pa.RecordBatch.from_arrays([pa.array(c, pa.string()) for c in cols], schema=schema))
            cols = [[] for _ in range(width)]
    if cols[0] or not out:
        out.append(pa.RecordBatch.from_arrays([pa.array(c, pa.string()) for c in cols], schema=schema))
    wb.close()
    return out


def ours(data: bytes, **opts) -> list[pa.RecordBatch]:
    return list(iter_xlsx(io.BytesIO(data), **opts))


def book(rows_by_sheet: dict[str, list[list]], *, shared: bool = True, setup=None) -> bytes:
    """A workbook written by openpyxl; ``shared=False`` writes strings inline (write-only mode)."""
    wb = openpyxl.Workbook(write_only=not shared)
    if shared:
        wb.remove(wb.active)
    for name, rows in rows_by_sheet.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(r)
        if setup is not None:
            setup(ws)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


MIXED = [
    ["id", "amount", "rate", "flag", "note", None, "when"],
    ["a1", 12, 12.0, True, "plain", None, dt.datetime(2024, 3, 31, 12, 30)],
    ["  padded  ", -0.1, 1e-300, False, "a & b < c > d \"q\" 'x'", None, dt.date(1999, 12, 31)],
    [None, None, None, None, None, None, None],
    ["é漢字\u00a0", 2**53 + 1, 1.5e16, None, "", None, None],
    ["x", 1234567.125, -3.0, True, "line1\nline2", None, dt.datetime(1900, 1, 1)],
    [None, None, None, None, "   ", None, None],
    ["last", 0, 0.0, False, "_x000D_ x005F_y", None, dt.time(6, 15, 30)],
]


def assert_same(data: bytes, **opts):
    got, want = ours(data, **opts), reference(data, **opts)
    assert [b.schema for b in got] == [b.schema for b in want]
    assert [b.to_pydict() for b in got] == [b.to_pydict() for b in want]
    return got


@pytest.mark.parametrize("shared", [True, False], ids=["shared-strings", "inline-strings"])
def test_mixed_values_match_openpyxl(shared):
    got = assert_same(book({"S": MIXED}, shared=shared))
    d = got[0].to_pydict()
    assert d["amount"][:2] == ["12", "-0.1"] and d["rate"][:2] == ["12", "1e-300"]  # openpyxl writes 12.0 as <v>12</v>
    assert d["flag"][:2] == ["true", "false"] and d["when"][0] == "2024-03-31T12:30:00"
    assert list(d) == ["id", "amount", "rate", "flag", "note", "column_6", "when"]
    assert len(d["id"]) == 5  # the two blank rows are skipped


def test_batches_and_blank_leading_rows_match_openpyxl():
    rows = [[None], [None, "  "], ["k", "v"]] + [[f"k{i}", i * 0.5] for i in range(23)]
    got = assert_same(book({"S": rows}), batch_rows=10)
    assert [b.num_rows for b in got] == [10, 10, 3]


def test_sparse_rows_and_cells_match_openpyxl():
    def setup(ws):
        ws["A1"], ws["B1"], ws["D1"] = "a", "b", "d"
        ws["A5"], ws["D5"] = "x", 4
        ws["C9"] = "only c"
        ws["B12"], ws["D12"] = True, 2.5
    got = assert_same(book({"S": []}, setup=setup))
    assert got[0].to_pydict() == {"a": ["x", "", ""], "b": ["", "", "true"], "column_3": ["", "only c", ""],
                                  "d": ["4", "", "2.5"]}


def test_value_beyond_the_header_is_an_error():
    def setup(ws):
        ws["A1"], ws["B1"] = "a", "b"
        ws["A2"], ws["B2"] = 1, 2
        ws["C4"] = "stray"
    with pytest.raises(UploadFormatError, match="data row 2 has values beyond") as e:
        ours(book({"S": []}, setup=setup))
    assert e.value.row == 2


def test_several_sheets_and_the_sheet_option():
    data = book({"Loans": [["id", "n"], ["a", 1]], "Notes": [["hello"], ["world"]]})
    with pytest.raises(UploadFormatError, match="2 sheets \\('Loans', 'Notes'\\).*'sheet' option"):
        ours(data)
    assert_same(data, sheet="Notes")
    assert ours(data, sheet="Loans")[0].to_pydict() == {"id": ["a"], "n": ["1"]}
    with pytest.raises(UploadFormatError, match="no sheet 'Other' in the workbook \\(sheets: Loans, Notes\\)"):
        ours(data, sheet="Other")


def test_empty_sheet_and_not_a_workbook():
    with pytest.raises(UploadFormatError, match="the file is empty"):
        ours(book({"S": [[None, " "]]}))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("hello.txt", "hi")
    with pytest.raises(UploadFormatError, match="not a readable XLSX"):
        ours(buf.getvalue())
    with pytest.raises(UploadFormatError, match="not a readable XLSX"):
        ours(b"PK\x03\x04 not really a zip")


def test_date1904_and_number_formats_match_openpyxl():
    def setup(ws):
        ws["A1"], ws["B1"], ws["C1"] = "d", "pct", "dur"
        ws["A2"], ws["B2"], ws["C2"] = dt.datetime(2020, 2, 29, 23, 59, 59), 0.25, dt.timedelta(hours=36)
        ws["B2"].number_format = "0.00%"
        ws.parent.epoch = openpyxl.utils.datetime.CALENDAR_MAC_1904
    got = assert_same(book({"S": []}, setup=setup))
    assert got[0].to_pydict() == {"d": ["2020-02-29T23:59:59"], "pct": ["0.25"], "dur": ["1 day, 12:00:00"]}


def test_frame_written_by_the_test_writer_matches_openpyxl():
    frame = pd.DataFrame({"loan_id": ["L1", "L&2", "<L3>"], "ead": [1000.5, 12.0, 3e-7],
                          "term": [12, 0, -5], "flag": [True, False, True], "gap": [1.0, None, 2.0]})
    got = assert_same(write_xlsx({"loans": frame}), batch_rows=2)
    assert pa.Table.from_batches(got).to_pydict() == {
        "loan_id": ["L1", "L&2", "<L3>"], "ead": ["1000.5", "12.0", "3e-07"], "term": ["12", "0", "-5"],
        "flag": ["true", "false", "true"], "gap": ["1.0", "", "2.0"]}


def _rewrite_sheet(data: bytes, edit) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            body = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                body = edit(body.decode()).encode()
            z.writestr(info, body)
    return buf.getvalue()


def test_unusual_markup_falls_back_to_expat_with_the_same_values():
    """Rich inline text, comments, CDATA, extra attributes, CRLF and entities still read as openpyxl does."""
    base = write_xlsx({"loans": pd.DataFrame({"id": ["a", "b", "c"], "v": [1.5, 2.0, 3.0]})})

    def edit(xml: str) -> str:
        xml = xml.replace('<c t="inlineStr"><is><t>b</t></is></c>',
                          '<c t="inlineStr" cm="1"><is><r><t>b</t></r><r><rPr><b/></rPr><t>&#x263A;\r\nz</t></r>'
                          '</is></c>', 1)
        xml = xml.replace("<row><c t=\"inlineStr\"><is><t>c</t>",
                          "<!-- note --><row><c t=\"inlineStr\"><is><t><![CDATA[c&]]></t>", 1)
        return xml
    data = _rewrite_sheet(base, edit)
    got = assert_same(data)
    assert got[0].to_pydict() == {"id": ["a", "b\u263a\nz", "c&"], "v": ["1.5", "2.0", "3.0"]}


def test_namespace_prefixed_worksheet_matches_openpyxl():
    base = book({"S": MIXED[:3]})

    def edit(xml: str) -> str:
        xml = re.sub(r"<(/?)(?!\?)([A-Za-z])", r"<\1x:\2", xml)
        return xml.replace('xmlns="', 'xmlns:x="', 1)
    assert_same(_rewrite_sheet(base, edit))


def test_many_rows_cross_chunk_boundaries(monkeypatch):
    import workers.ingest.xlsx as fast
    monkeypatch.setattr(fast, "_CHUNK", 1000)  # many chunks, cut inside rows and characters
    frame = pd.DataFrame({"s": [f"é{i}" * (i % 7) for i in range(3000)], "x": [i / 7 for i in range(3000)]})
    got = assert_same(write_xlsx({"t": frame}), batch_rows=1000)
    assert sum(b.num_rows for b in got) == 3000


def test_column_wise_path_edge_cases_match_openpyxl():
    """Dense rows (read a column at a time): empty numbers, repeated values, mixed types, dates."""
    n = 300
    frame = pd.DataFrame({
        "num": [None if i % 7 == 0 else i * 0.25 for i in range(n)],
        "rep": [float(i % 3) for i in range(n)],
        "mixed": [str(i) if i % 5 else f"s{i}" for i in range(n)],
        "ints": list(range(-150, 150)),
        "flag": [i % 2 == 0 for i in range(n)],
        "blank": ["" if i % 2 else "  " for i in range(n)],
    })
    frame["mixed"] = frame["mixed"].astype(object)
    frame.loc[frame.index % 5 != 0, "mixed"] = [float(x) for x in frame.loc[frame.index % 5 != 0, "mixed"]]
    assert_same(write_xlsx({"t": frame}), batch_rows=128)

    def setup(ws):
        ws.append(["when", "amount"])
        for i in range(n):
            ws.append([dt.datetime(2020, 1, 1) + dt.timedelta(days=i, seconds=i), i])
    got = assert_same(book({"S": []}, setup=setup))
    assert got[0].to_pydict()["when"][1] == "2020-01-02T00:00:01"
    rows = [["name", "n", "ok"]] + [[f"s{i % 5} & <{i % 3}>", i, i % 2 == 0] for i in range(n)]
    got = assert_same(book({"S": rows}), batch_rows=100)  # shared strings, every cell present
    assert got[0].to_pydict()["name"][:2] == ["s0 & <0>", "s1 & <1>"]


def test_blank_rows_in_dense_chunks_are_skipped():
    frame = pd.DataFrame({"a": ["x", " ", "y", ""], "b": ["1", "", "2", "\t"]})
    got = assert_same(write_xlsx({"t": frame}))
    assert got[0].to_pydict() == {"a": ["x", "y"], "b": ["1", "2"]}


def test_value_beyond_the_header_in_dense_rows():
    frame = pd.DataFrame({"a": ["1", "2", "3"], " ": ["", "", "stray"]})
    with pytest.raises(UploadFormatError, match="data row 3 has values beyond the last header column \\(1 columns\\)"):
        ours(write_xlsx({"t": frame}))


def test_rows_numbered_out_of_order_are_dropped_as_openpyxl_does():
    base = book({"S": [["a", "b"], [1, 2], [3, 4], [5, 6]]})

    def edit(xml: str) -> str:
        return xml.replace('<row r="3"', '<row r="9"').replace('r="A3"', 'r="A9"').replace('r="B3"', 'r="B9"')
    got = assert_same(_rewrite_sheet(base, edit))
    assert got[0].to_pydict() == {"a": ["1", "3"], "b": ["2", "4"]}


def test_bad_number_is_an_upload_error():
    base = write_xlsx({"t": pd.DataFrame({"a": [1.5, 2.5]})})
    with pytest.raises(UploadFormatError, match="cell A3: cannot read value '2.5x'"):
        ours(_rewrite_sheet(base, lambda xml: xml.replace("<v>2.5</v>", "<v>2.5x</v>")))


@pytest.mark.parametrize("edit,message", [
    (lambda xml: xml.replace("<t>a</t>", "<t>a\udcff</t>"), "not valid UTF-8"),
    (lambda xml: xml.replace("<t>a</t>", "<t>a</t><!-- -->", 1).replace("</is></c>", "</is>", 1), "cannot be parsed"),
])
def test_broken_worksheet_xml_is_an_upload_error(edit, message):
    base = write_xlsx({"t": pd.DataFrame({"id": ["a", "b"]})})

    def raw(xml: str) -> str:
        return edit(xml)
    src = zipfile.ZipFile(io.BytesIO(base))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for info in src.infolist():
            body = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                body = raw(body.decode()).encode("utf-8", "surrogateescape")
            z.writestr(info, body)
    with pytest.raises(UploadFormatError, match=message):
        ours(buf.getvalue())
