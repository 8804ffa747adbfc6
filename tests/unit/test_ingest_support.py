"""Shared builders for the ingest tests (small in-memory files); holds no tests itself."""
from __future__ import annotations

import gzip
import io

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq

from workers.ingest import Validator, encode_copy_csv, iter_batches
from workers.ingest.copyfmt import ContentHasher

LOAN_HEADER = ["loan_id", "ead", "pd_12m", "lgd", "eir", "remaining_term_months"]


def csv_bytes(rows: list[list[str]], header=LOAN_HEADER, sep=",", newline="\n") -> bytes:
    lines = [sep.join(header)] + [sep.join(r) for r in rows]
    return (newline.join(lines) + newline).encode()


def loan_rows(n: int, start: int = 1) -> list[list[str]]:
    return [[f"L{i}", f"{1000 + i}.5", "0.02", "0.45", "0.05", str(12 + i)] for i in range(start, start + n)]


def xlsx_bytes(sheets: dict[str, list[list]]) -> bytes:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def gz(data: bytes) -> bytes:
    return gzip.compress(data)


def run(data: bytes, kind, **opts):
    """Read + validate + encode; returns (report, copy bytes, sha256, normalised tables)."""
    v = Validator(kind, max_errors=opts.pop("max_errors", 100))
    h = ContentHasher()
    out, tables = [], []
    for batch in iter_batches(io.BytesIO(data), kind=kind, **opts):
        t = v.feed(batch)
        tables.append(t)
        b = encode_copy_csv(t, kind)
        out.append(b)
        h.update(b)
    return v.report(), b"".join(out), h.hexdigest(), tables
