"""Upload -> validated, canonical COPY bytes and content hash, in one streaming pass."""
from __future__ import annotations

import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from workers.ingest.copyfmt import ContentHasher, encode_copy_csv
from workers.ingest.readers import iter_batches
from workers.ingest.validate import Validator
from workers.portfolios.base import PortfolioKind


@dataclass(frozen=True)
class IngestResult:
    report: dict  # Validator.report()
    rows: int
    sha256: str | None  # content hash of the COPY bytes; None when invalid
    nbytes: int  # COPY bytes produced

    @property
    def valid(self) -> bool:
        return bool(self.report["valid"])


_DONE = object()


def _prefetch(it: Iterator, depth: int = 2) -> Iterator:
    """Run ``it`` in a thread, ``depth`` items ahead (Arrow's reader releases the GIL)."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce():
        try:
            for item in it:
                while not stop.is_set():
                    try:
                        q.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put((_DONE, None))
        except BaseException as exc:  # handed to the consumer, re-raised there
            q.put((_DONE, exc))
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()  # release the reader's files in this thread

    thread = threading.Thread(target=produce, name="ingest-reader", daemon=True)
    thread.start()
    try:
        while True:
            item, exc = q.get()
            if exc is not None:
                raise exc
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                q.get(timeout=0.1)
            except queue.Empty:
                pass
        thread.join()


def ingest(fileobj, kind: PortfolioKind, *, sink: Callable[[bytes], object] | None = None,
           filename: str | None = None, content_type: str | None = None, max_bytes: int | None = None,
           max_errors: int = 100, batch_rows: int = 100_000, delimiter: str | None = None,
           encoding: str = "utf-8", sheet: str | None = None, threads: int | None = None,
           row_numbers: bool = False) -> IngestResult:
    """Parse, validate and encode an upload, handing COPY text to ``sink`` chunk by chunk.

    ``sink`` receives the canonical ``COPY <kind.table> (<kind.field_names>) FROM STDIN
    WITH (FORMAT csv)`` bytes of each chunk in row order, on the calling thread (e.g. a
    temporary file's ``write``). After the first invalid row nothing more is encoded
    or sent: discard what the sink got unless the result is valid (duplicate keys are
    only known at the end).

    Parameters
    ----------
    row_numbers : bool
        Start every line with its 0-based row number (see :mod:`workers.ingest.copyfmt`);
        the hash then covers the numbered lines.
    threads : int, optional
        0 runs everything on the calling thread; otherwise reading runs one chunk
        ahead in a thread and encoding in ``threads`` worker threads (default: 1 on a
        single CPU, else 2). The output does not depend on it.

    Raises
    ------
    UploadFormatError
        For file-level problems (see :mod:`workers.ingest.readers`).
    """
    if threads is None:
        threads = 1 if (os.cpu_count() or 1) < 2 else 2
    validator = Validator(kind, max_errors=max_errors)
    hasher = ContentHasher()
    batches = iter_batches(fileobj, kind=kind, filename=filename, content_type=content_type,
                           max_bytes=max_bytes, batch_rows=batch_rows, delimiter=delimiter,
                           encoding=encoding, sheet=sheet)

    def emit(data: bytes):
        hasher.update(data)
        if sink is not None:
            sink(data)

    first_row = 1
    if threads <= 0:
        for batch in batches:
            table = validator.feed(batch, first_row)
            row_no = first_row - 1 if row_numbers else None
            first_row += batch.num_rows
            if validator.error_count == 0 and table.num_rows:
                emit(encode_copy_csv(table, kind, row_no))
    else:
        pending: deque = deque()
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ingest-encode") as pool:
            try:
                for batch in _prefetch(batches):
                    table = validator.feed(batch, first_row)
                    row_no = first_row - 1 if row_numbers else None
                    first_row += batch.num_rows
                    if validator.error_count == 0 and table.num_rows:
                        pending.append(pool.submit(encode_copy_csv, table, kind, row_no))
                    while pending and (pending[0].done() or len(pending) > threads + 1):
                        emit(pending.popleft().result())
                while pending:
                    emit(pending.popleft().result())
            finally:
                for f in pending:
                    f.cancel()
    report = validator.report()
    return IngestResult(report=report, rows=report["rows"],
                        sha256=hasher.hexdigest() if report["valid"] else None, nbytes=hasher.nbytes)
