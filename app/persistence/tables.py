"""COPY-based reading and writing of typed row tables (portfolio rows, per-kind results)."""
from __future__ import annotations

import io
import queue
import threading
import uuid
from datetime import date

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from workers.kinds.base import ResultTable
from workers.portfolios.base import PortfolioKind

_ARROW_TYPES = {"text": pa.string(), "float8": pa.float64(), "int2": pa.int16(), "int4": pa.int32(),
                "int8": pa.int64(), "bool": pa.bool_()}


def _q(names) -> str:
    """Quoted, comma-separated identifiers (result columns may differ only by case: ``Dx`` vs ``dx``)."""
    return ", ".join(f'"{n}"' for n in names)


def _cursor(session):
    """The psycopg2 cursor of the session's current transaction (COPY must share it)."""
    return session.connection().connection.dbapi_connection.cursor()


def _csv_bytes(df: pd.DataFrame) -> bytes:
    table = pa.Table.from_pandas(df, preserve_index=False)
    sink = io.BytesIO()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    return sink.getvalue()


def _read_csv(data: bytes, types: dict[str, pa.DataType]) -> pd.DataFrame:
    if not data:
        return pd.DataFrame({c: pd.Series(dtype=object if t == pa.string() else t.to_pandas_dtype())
                             for c, t in types.items()})
    table = pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(column_names=list(types)),
        convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=False,
                                             quoted_strings_can_be_null=False, true_values=["t"],
                                             false_values=["f"]),
    )
    return table.to_pandas(types_mapper=None)


def replace_shard_rows(session, table: ResultTable, month: date, job_id: uuid.UUID, shard_no: int,
                       rows: pd.DataFrame) -> bytes:
    """Delete the shard's rows and COPY the new ones, in the caller's transaction. Returns the CSV written."""
    cur = _cursor(session)
    cur.execute(f"DELETE FROM {table.name} WHERE created_month = %s AND job_id = %s AND shard_no = %s",
                (month, str(job_id), shard_no))
    if rows is None or len(rows) == 0:
        return b""
    n = len(rows)
    framed = pd.DataFrame({"created_month": [month.isoformat()] * n, "job_id": [str(job_id)] * n,
                           "shard_no": [shard_no] * n, "seq": range(n)})
    framed = pd.concat([framed, rows[table.column_names].reset_index(drop=True)], axis=1)
    data = _csv_bytes(framed)
    cols = _q(["created_month", "job_id", "shard_no", "seq", *table.column_names])
    cur.copy_expert(f"COPY {table.name} ({cols}) FROM STDIN WITH (FORMAT csv)", io.BytesIO(data))
    return data


def copy_out(session, sql: str) -> bytes:
    buf = io.BytesIO()
    _cursor(session).copy_expert(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", buf)
    return buf.getvalue()


def result_types(table: ResultTable, columns: list[str]) -> dict[str, pa.DataType]:
    by_name = {c.name: c.sql_type for c in table.columns}
    by_name.update({"shard_no": "int4", "seq": "int4"})
    return {c: _ARROW_TYPES[by_name[c]] for c in columns}


def read_results(session, table: ResultTable, month: date, job_id: uuid.UUID, columns: list[str],
                 after: tuple[int, int] | None = None, limit: int | None = None) -> pd.DataFrame:
    """Rows of one job in (shard_no, seq) order, optionally a keyset page."""
    for c in columns:
        if c not in table.column_names and c not in ("shard_no", "seq"):
            raise ValueError(f"unknown column {c!r} of {table.name}")
    where = f"created_month = '{month.isoformat()}' AND job_id = '{uuid.UUID(str(job_id))}'"
    if after is not None:
        where += f" AND (shard_no, seq) > ({int(after[0])}, {int(after[1])})"
    sql = f"SELECT {_q(columns)} FROM {table.name} WHERE {where} ORDER BY shard_no, seq"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return _read_csv(copy_out(session, sql), result_types(table, columns))


def result_csv_pages(session, table: ResultTable, month: date, job_id: uuid.UUID, page_rows: int = 100_000):
    """Yield the job's rows as CSV bytes (no header), page by page in (shard_no, seq) order."""
    after = (-1, -1)
    cols = _q(["shard_no", "seq", *table.column_names])
    while True:
        sql = (f"SELECT {cols} FROM {table.name} WHERE created_month = '{month.isoformat()}' "
               f"AND job_id = '{uuid.UUID(str(job_id))}' AND (shard_no, seq) > ({after[0]}, {after[1]}) "
               f"ORDER BY shard_no, seq LIMIT {page_rows}")
        data = copy_out(session, sql)
        if not data:
            return
        last = data.rstrip(b"\n").rsplit(b"\n", 1)[-1].split(b",", 2)
        after = (int(last[0]), int(last[1]))
        # Drop the two keyset columns from each line.
        yield b"".join(line.split(b",", 2)[2] + b"\n" for line in data.splitlines())


class PortfolioRowWriter:
    """COPY a version's rows on the session's connection from a thread fed through a bounded queue.

    PostgreSQL parses and inserts one batch in its own process while Python validates the
    next, so the two costs overlap. Feed canonical CSV with row numbers
    (``encode_copy_csv(..., first_row_no=…)``); ``version_id`` comes from a transaction-local
    setting the column defaults to. Same transaction as the caller's session.
    """

    def __init__(self, session, kind: PortfolioKind, version_id: uuid.UUID, depth: int = 3):
        self.queue: queue.Queue = queue.Queue(maxsize=depth)
        self.error: BaseException | None = None
        self.sql = f"COPY {kind.table} ({_q(['row_no', *kind.field_names])}) FROM STDIN WITH (FORMAT csv)"
        self.cursor = _cursor(session)
        self.cursor.execute("SELECT set_config('provisor.version_id', %s, true)", (str(version_id),))
        self.thread = threading.Thread(target=self._copy, name="provisor-copy", daemon=True)
        self.thread.start()

    def _copy(self) -> None:
        try:
            self.cursor.copy_expert(self.sql, _QueueReader(self.queue), size=1 << 20)
        except BaseException as e:  # surfaced to the feeding thread
            self.error = e

    def _put(self, item) -> None:
        while True:
            if self.error is not None:
                raise self.error
            if not self.thread.is_alive():
                raise RuntimeError("COPY ended before its input")
            try:
                self.queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def write(self, csv_rows: bytes) -> None:
        self._put(csv_rows)

    def close(self) -> None:
        """Finish the COPY; raises what the COPY raised."""
        self._put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error


class _QueueReader(io.RawIOBase):
    def __init__(self, q: queue.Queue):
        self.q, self.buf, self.pos, self.eof = q, b"", 0, False

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while self.pos >= len(self.buf):
            if self.eof:
                return 0
            item = self.q.get()
            if item is None:
                self.eof = True
                return 0
            self.buf, self.pos = item, 0
        n = min(len(b), len(self.buf) - self.pos)
        b[:n] = self.buf[self.pos:self.pos + n]
        self.pos += n
        return n


def read_portfolio_rows(session, kind: PortfolioKind, version_id: uuid.UUID, start: int, stop: int) -> pd.DataFrame:
    cols = kind.field_names
    sql = (f"SELECT {_q(cols)} FROM {kind.table} WHERE version_id = '{uuid.UUID(str(version_id))}' "
           f"AND row_no >= {int(start)} AND row_no < {int(stop)} ORDER BY row_no")
    types = {f.name: _ARROW_TYPES[f.sql_type] for f in kind.fields}
    return _read_csv(copy_out(session, sql), types)
