"""Stream an uploaded file as pyarrow record batches of about ``batch_rows`` rows.

Memory stays bounded by one batch (plus, for XLSX and Parquet, a spooled copy of
the file on disk, as both formats need seeking). CSV columns come out as text
(``string``) whatever they hold, so that type problems are reported per cell by
the validator instead of crashing the reader; XLSX cells come out as their text;
Parquet columns keep their types after a check against the portfolio kind.

Each reader yields at least one batch (possibly empty: a header-only file) so
the validator always sees the header. File-level problems raise
:class:`~workers.ingest.errors.UploadFormatError`.
"""
from __future__ import annotations

import csv
import datetime as _dt
import io
import itertools
import operator
import re
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.csv as pacsv

from workers.ingest import formats, xlsx
from workers.ingest.columns import match_columns
from workers.ingest.errors import UploadFormatError
from workers.portfolios.base import PortfolioKind

DELIMITERS = (",", ";", "\t", "|")
_DELIM_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_SNIFF_BYTES = 256 * 1024
_BOM_UTF8 = b"\xef\xbb\xbf"


def iter_batches(fileobj, *, kind: PortfolioKind | None = None, filename: str | None = None,
                 content_type: str | None = None, max_bytes: int | None = None,
                 batch_rows: int = 100_000, delimiter: str | None = None, encoding: str = "utf-8",
                 sheet: str | None = None) -> Iterator[pa.RecordBatch]:
    """Detect the format (and gzip) of an upload and stream its rows.

    Parameters
    ----------
    fileobj : binary file-like
        The upload; only ``read`` is used.
    kind : PortfolioKind, optional
        Needed for the Parquet column type check.
    max_bytes : int, optional
        Refuse content (uncompressed) larger than this.
    batch_rows : int
        Target rows per batch (CSV batches follow block boundaries, so it is approximate).
    delimiter : str, optional
        CSV delimiter; sniffed among ``, ; \\t |`` when not given.
    encoding : str
        CSV text encoding (UTF-8 with or without BOM by default).
    sheet : str, optional
        XLSX sheet to read; required when the workbook has several.

    Yields
    ------
    pyarrow.RecordBatch
        Columns named as in the file's header.
    """
    fmt, stream = formats.open_upload(fileobj, filename=filename, content_type=content_type,
                                      max_bytes=max_bytes)
    if fmt == formats.CSV:
        yield from iter_csv(stream, batch_rows=batch_rows, delimiter=delimiter, encoding=encoding)
    elif fmt == formats.XLSX:
        with formats.spool(stream) as tmp:
            yield from iter_xlsx(tmp, batch_rows=batch_rows, sheet=sheet)
    else:
        with formats.spool(stream) as tmp:
            yield from iter_parquet(tmp, kind=kind, batch_rows=batch_rows)


# --- CSV ----------------------------------------------------------------------------

def _split_header(text: str, delimiter: str) -> list[str]:
    return next(csv.reader([text], delimiter=delimiter, quotechar='"'), [])


def _sniff_delimiter(header: str, sample_lines: list[str], delimiter: str | None) -> str:
    if delimiter is not None:
        fields = _split_header(header, delimiter)
        if len(fields) > 1:
            return delimiter
        found = [d for d in DELIMITERS if d != delimiter and len(_split_header(header, d)) > 1]
        if found:
            raise UploadFormatError(
                f"wrong delimiter: the header splits into one column with {_DELIM_NAMES.get(delimiter, delimiter)}"
                f" but contains {_DELIM_NAMES[found[0]]}s: {header[:120]!r}", row=0)
        return delimiter
    counts = {d: len(_split_header(header, d)) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])  # ties: the earlier in DELIMITERS
    if counts[best] > 1:
        return best
    for d in DELIMITERS:
        widths = [len(_split_header(line, d)) for line in sample_lines if line.strip()]
        if widths and min(widths) > 1:
            raise UploadFormatError(
                f"wrong delimiter: the header {header[:120]!r} has a single column but the data lines are "
                f"separated by {_DELIM_NAMES[d]}s ({d!r}); use one delimiter throughout", row=0)
    return ","


def _utf8_error_message(raw: bytes, where: str) -> str:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = raw[exc.start:exc.start + 4]
        return (f"{where} is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at byte {exc.start} of the value, "
                f"near {bad!r}); save the file as UTF-8 (it may be Latin-1/Windows-1252)")
    return f"{where} is not valid UTF-8"


class _RowProblem:
    """Remembers the first ragged row the Arrow parser met (it reports no position itself)."""

    def __init__(self):
        self.row = None

    def __call__(self, row) -> str:
        if self.row is None:
            self.row = row
        return "error"


def iter_csv(stream, *, batch_rows: int = 100_000, delimiter: str | None = None,
             encoding: str = "utf-8") -> Iterator[pa.RecordBatch]:
    """Stream a (decompressed) CSV as text columns; see :func:`iter_batches`."""
    head = formats.read_head(stream, _SNIFF_BYTES)
    while b"\n" not in head and len(head) < 16 * _SNIFF_BYTES:  # a very wide header
        more = stream.read(_SNIFF_BYTES)
        if not more:
            break
        head += more
    utf8 = encoding.lower().replace("_", "-") in ("utf-8", "utf8")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UploadFormatError("the file is UTF-16 encoded; save it as UTF-8 CSV", row=0)
    if head.startswith(_BOM_UTF8):
        head = head[len(_BOM_UTF8):]
    if not head.strip():
        raise UploadFormatError("the file is empty")
    if b"\n" not in head and b"\r" in head:  # classic Mac line ends: the header ends at the first CR
        head = head.replace(b"\r", b"\n", 1)
    lines = head.split(b"\n")
    header_raw = lines[0].rstrip(b"\r")
    try:
        header = header_raw.decode(encoding)
    except UnicodeDecodeError:
        raise UploadFormatError(_utf8_error_message(header_raw, "the header line"), row=0) from None
    sample = [ln.rstrip(b"\r").decode(encoding, errors="replace") for ln in lines[1:21]]
    if len(lines) > 1 and len(head) >= _SNIFF_BYTES:
        sample = sample[:-1]  # the last line of the sample may be cut
    delim = _sniff_delimiter(header, sample, delimiter)
    names = [h.strip() for h in _split_header(header, delim)]
    if not any(names):
        raise UploadFormatError("the header line is empty", row=0)
    internal = [f"c{i}" for i in range(len(names))]
    body_start = len(lines[0]) + 1
    avg = max(16, (len(head) - body_start) // max(1, len(lines) - 2)) if len(lines) > 2 else 128
    block = int(min(max(avg * batch_rows, 1 << 20), 64 << 20))
    rest = formats.LimitedReader(stream, head[body_start:]) if body_start <= len(head) else stream
    problem = _RowProblem()
    reader_opts = pacsv.ReadOptions(column_names=internal, block_size=block, use_threads=False,
                                    encoding="utf8" if utf8 else encoding)
    parse_opts = pacsv.ParseOptions(delimiter=delim, quote_char='"', double_quote=True,
                                    newlines_in_values=True, ignore_empty_lines=True,
                                    invalid_row_handler=problem)
    convert_opts = pacsv.ConvertOptions(column_types={c: pa.binary() for c in internal},
                                        strings_can_be_null=False, quoted_strings_can_be_null=False)
    schema = pa.schema([pa.field(n, pa.string()) for n in names])
    rows = 0

    def ragged(exc) -> UploadFormatError:
        r = problem.row
        if r is None:
            return UploadFormatError(f"the CSV cannot be parsed: {exc}")
        number = r.number if r.number is not None and r.number >= 0 else None
        text = (r.text or "")[:120]
        hint = ""
        others = [d for d in DELIMITERS if d != delim and d in text]
        if others:
            hint = f"; the line contains {_DELIM_NAMES[others[0]]}s: wrong delimiter?"
        return UploadFormatError(
            f"data row {number if number is not None else '?'} has {r.actual_columns} field(s) but the header "
            f"has {r.expected_columns}{hint}: {text!r}", row=number)

    try:
        reader = pacsv.open_csv(io.BufferedReader(rest, 1 << 20) if rest is not stream else stream,
                                read_options=reader_opts, parse_options=parse_opts,
                                convert_options=convert_opts)
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):
            yield pa.RecordBatch.from_pylist([], schema=schema)
            return
        raise ragged(exc) from None
    yielded = False
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            break
        except pa.ArrowInvalid as exc:
            raise ragged(exc) from None
        columns = []
        for i, col in enumerate(batch.columns):
            try:
                columns.append(col.cast(pa.string()))
            except pa.ArrowInvalid:
                raise _bad_text(col, rows, names[i]) from None
        rows += batch.num_rows
        yielded = True
        yield pa.RecordBatch.from_arrays(columns, schema=schema)
    if not yielded:
        yield pa.RecordBatch.from_pylist([], schema=schema)


def _bad_text(col: pa.Array, rows_before: int, name: str) -> UploadFormatError:
    for i, value in enumerate(col.to_pylist()):
        try:
            value.decode("utf-8")
        except UnicodeDecodeError:
            row = rows_before + i + 1
            return UploadFormatError(_utf8_error_message(value, f"data row {row}, column {name!r}"),
                                     row=row, column=name)
    return UploadFormatError(f"column {name!r} is not valid UTF-8", column=name)


# --- XLSX ---------------------------------------------------------------------------

def _xlsx_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    return str(value)


def iter_xlsx(fileobj, *, batch_rows: int = 100_000, sheet: str | None = None) -> Iterator[pa.RecordBatch]:
    """Stream one sheet of an XLSX workbook as text columns.

    The first non-blank row is the header; blank rows are skipped (so data row
    numbers count non-blank rows, like the CSV reader's). Cell values are those of
    openpyxl's read-only mode (see :mod:`workers.ingest.xlsx`), rendered by
    ``_xlsx_text``; the worksheet is streamed, never read whole.
    """
    book = xlsx.Workbook(fileobj)
    try:
        names = book.sheetnames
        if sheet is None:
            if len(names) != 1:
                raise UploadFormatError(
                    f"the workbook has {len(names)} sheets ({', '.join(repr(n) for n in names)}); "
                    "upload a workbook with exactly one sheet or choose one with the 'sheet' option")
            name = names[0]
        elif sheet in names:
            name = sheet
        else:
            raise UploadFormatError(f"no sheet {sheet!r} in the workbook (sheets: {', '.join(names)})")
        yield from _xlsx_batches(book, name, batch_rows)
    finally:
        book.close()


_NOT_FLOAT_TEXT = re.compile(r"^[^.eE\n]*$", re.M)  # a line without . e E: not float-looking
_FLOAT_CHARS = re.compile(r"[.eE]")
_ITEM = [operator.itemgetter(i) for i in range(5)]
_BOOL_TEXT = {"1": "true", "0": "false"}


class _XlsxText:
    """Text of raw XLSX cells, as ``_xlsx_text`` of openpyxl's value, one cell or one column at a time."""

    def __init__(self, book: xlsx.Workbook):
        self.book = book
        self.cells = xlsx.CellValues(book)
        self.date_styles = {str(i) for i in self.cells.dates}  # style ids (text) of date/time formats
        self.sst = None

    def text(self, s: str, t: str, v, inline, col: int, row: int) -> str:
        if (not t or t == "n") and v and not (s and s in self.date_styles):
            try:
                return repr(float(v)) if ("." in v or "e" in v or "E" in v) else str(int(v))
            except ValueError:
                pass
        elif t == "inlineStr":
            return inline or ""
        return _xlsx_text(self.cells.value(s, t, v, inline, col, row))

    def column(self, j: int, k: int, cells: list, numbers) -> tuple[list[str], bool] | None:
        """Texts of column ``j`` of a grid of ``k`` cells per row, and whether none is blank.

        None when a cell names a column other than its position.
        """
        col = cells[j::k]
        if not set(map(_ITEM[0], col)) <= {"", xlsx.col_letters(j)}:
            return None
        types = list(map(_ITEM[2], col))
        vs = list(map(_ITEM[3], col))
        kind = types[0]
        if types.count(kind) == len(types):
            try:
                if kind in ("", "n") and not (self.date_styles and not self.date_styles.isdisjoint(map(_ITEM[1], col))):
                    distinct = dict.fromkeys(vs)
                    if len(distinct) * 2 < len(vs):  # repeated values: convert each once
                        return list(map(self._number_text(distinct).__getitem__, vs)), "" not in distinct
                    joined = "\n".join(vs)
                    if _NOT_FLOAT_TEXT.search(joined) is None:
                        return list(map(repr, map(float, vs))), True
                    if _FLOAT_CHARS.search(joined) is None:
                        return list(map(str, map(int, vs))), True
                    return list(map(self._number_text(distinct).__getitem__, vs)), "" not in distinct
                if kind == "s":
                    if self.sst is None:
                        self.sst = self.book.shared_strings()
                    return list(map(self.sst.__getitem__, map(int, vs))), False
                if kind == "inlineStr":
                    return list(map(_ITEM[4], col)), False
                if kind == "b":
                    return list(map(_BOOL_TEXT.__getitem__, vs)), True
            except (ValueError, IndexError, KeyError):
                pass  # a bad cell: go cell by cell for the right value or error
        text = self.text
        return [text(s, t, v, i, j, number) for (_, s, t, v, i), number in zip(col, numbers)], False

    @staticmethod
    def _number_text(out: dict) -> dict[str, str]:
        """Fill ``out`` (distinct number cell texts) with their texts ("" for an empty cell)."""
        for v in out:
            out[v] = (repr(float(v)) if ("." in v or "e" in v or "E" in v) else str(int(v))) if v else ""
        return out


def _xlsx_batches(book: xlsx.Workbook, name: str, batch_rows: int) -> Iterator[pa.RecordBatch]:
    conv = _XlsxText(book)
    chunks = xlsx.raw_chunks(book, name)
    header = None
    expect = 1  # openpyxl drops rows numbered below an earlier row
    rest = None
    for kind, payload in chunks:
        rows = xlsx.grid_rows(payload) if kind == "grid" else payload
        for at, (number, row) in enumerate(rows):
            if header is not None:
                break
            if number < expect:
                continue
            expect = number + 1
            values: dict[int, object] = {}
            col = -1
            for letters, s, t, v, inline in row:
                col = xlsx.col_index(letters) if letters else col + 1
                values[col] = conv.cells.value(s, t, v, inline, col, number)
            if any(v is not None and str(v).strip() != "" for v in values.values()):
                header = [values.get(i) for i in range(max(values) + 1)]
                if kind == "grid":
                    numbers, k, cells = payload
                    rest = ("grid", (numbers[at + 1:], k, cells[(at + 1) * k:])) if at + 1 < len(numbers) else None
                else:
                    rest = ("rows", rows[at + 1:])
        if header is not None:
            break
    if header is None:
        raise UploadFormatError("the file is empty")
    width = len(header)
    while width and (header[width - 1] is None or str(header[width - 1]).strip() == ""):
        width -= 1
    names_ = [_xlsx_text(h).strip() if h is not None else f"column_{i + 1}" for i, h in enumerate(header[:width])]
    schema = pa.schema([pa.field(n, pa.string()) for n in names_])
    pending: list[list[str]] = [[] for _ in range(width)]
    state = {"kept": 0, "expect": expect}

    def row_path(rows) -> list[list[str]]:
        """Columns of the non-blank rows of a list of raw rows, cell by cell."""
        out = []
        blank = [""] * width
        expect = state["expect"]
        text = conv.text
        for number, row in rows:
            if number < expect:
                continue
            expect = number + 1
            vals = blank[:]
            col = -1
            for letters, s, t, v, inline in row:
                col = xlsx.col_index(letters) if letters else col + 1
                txt = text(s, t, v, inline, col, number)
                if col < width:
                    vals[col] = txt
                elif txt.strip():
                    r = state["kept"] + len(out) + 1
                    raise UploadFormatError(
                        f"data row {r} has values beyond the last header column ({width} columns)", row=r)
            if "".join(vals).strip():
                out.append(vals)
        state["expect"] = expect
        state["kept"] += len(out)
        return [list(c) for c in zip(*out)] if out else [[] for _ in range(width)]

    def grid_path(grid) -> list[list[str]] | None:
        numbers, k, cells = grid
        if numbers[0] < state["expect"] or (isinstance(numbers, list) and any(
                b <= a for a, b in zip(numbers, numbers[1:]))):
            return None
        cols, full = [], False
        for j in range(k):
            got = conv.column(j, k, cells, numbers)
            if got is None:
                return None
            texts, nonblank = got
            if j < width:
                cols.append(texts)
                full = full or nonblank
            elif "".join(texts).strip():
                return None  # the row path finds the row and raises
        n = len(numbers)
        cols += [[""] * n for _ in range(width - len(cols))]
        if not full:
            keep = [i for i, r in enumerate(zip(*cols)) if "".join(r).strip()]
            if len(keep) < n:
                cols = [[c[i] for i in keep] for c in cols]
        state["expect"] = numbers[-1] + 1
        state["kept"] += len(cols[0]) if cols else 0
        return cols

    def batch(cols) -> pa.RecordBatch:
        return pa.RecordBatch.from_arrays([pa.array(c, pa.string()) for c in cols], schema=schema)

    yielded = False
    for kind, payload in itertools.chain([rest] if rest is not None else [], chunks):
        cols = grid_path(payload) if kind == "grid" else None
        if cols is None:
            cols = row_path(xlsx.grid_rows(payload) if kind == "grid" else payload)
        for p, c in zip(pending, cols):
            p.extend(c)
        while len(pending[0]) >= batch_rows:
            yield batch([p[:batch_rows] for p in pending])
            yielded = True
            pending = [p[batch_rows:] for p in pending]
    if pending[0] or not yielded:
        yield batch(pending)


# --- Parquet ------------------------------------------------------------------------

def _parquet_type_ok(dtype: str, t: pa.DataType) -> bool:
    if pa.types.is_null(t):
        return True
    if pa.types.is_dictionary(t):
        t = t.value_type
    if dtype == "str":
        return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)
    if dtype == "float":
        return pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_decimal(t)
    if dtype == "int":  # float columns are allowed: pandas writes nullable integers as float64
        return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
    return pa.types.is_boolean(t)


_EXPECTED = {"str": "a string column", "float": "a floating point or integer column (double)",
             "int": "an integer column (int64)", "bool": "a boolean column"}


def check_parquet_schema(schema: pa.Schema, kind: PortfolioKind) -> None:
    """Raise :class:`UploadFormatError` naming the first column whose type cannot hold its field."""
    m = match_columns(schema.names, kind)
    for field_name, i in sorted(m.source_index.items(), key=lambda kv: kv[1]):
        f = kind.field(field_name)
        t = schema.field(i).type
        if not _parquet_type_ok(f.dtype, t):
            raise UploadFormatError(
                f"column {schema.names[i]!r} (field {f.name}) has Parquet type {t}, expected {_EXPECTED[f.dtype]}",
                column=schema.names[i])


def iter_parquet(fileobj, *, kind: PortfolioKind | None = None,
                 batch_rows: int = 100_000) -> Iterator[pa.RecordBatch]:
    """Stream a Parquet file with its own column types, checked against ``kind``."""
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(fileobj)
        schema = pf.schema_arrow
    except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
        raise UploadFormatError(f"not a readable Parquet file: {exc}") from None
    if kind is not None:
        check_parquet_schema(schema, kind)
    yielded = False
    try:
        for batch in pf.iter_batches(batch_size=batch_rows):
            yielded = True
            yield batch
    except (pa.ArrowInvalid, OSError) as exc:
        raise UploadFormatError(f"corrupt Parquet data: {exc}") from None
    if not yielded:
        yield pa.RecordBatch.from_pylist([], schema=schema)
