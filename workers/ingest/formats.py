"""Detect the upload format and undo gzip, without reading the whole file.

Magic bytes win over the declared content type and file name: a file called
``loans.csv`` that starts with ``PAR1`` is read as Parquet.
"""
from __future__ import annotations

import io
import shutil
import tempfile
import zlib

import pyarrow as pa

from workers.ingest.errors import UploadFormatError

CSV, XLSX, PARQUET = "csv", "xlsx", "parquet"
FORMATS = (CSV, XLSX, PARQUET)

MAGIC_GZIP = b"\x1f\x8b"
MAGIC_ZIP = b"PK\x03\x04"
MAGIC_PARQUET = b"PAR1"
MAGIC_OLE = b"\xd0\xcf\x11\xe0"  # legacy .xls and other OLE2 documents

_EXTENSIONS = {
    ".csv": CSV, ".txt": CSV, ".tsv": CSV, ".psv": CSV,
    ".xlsx": XLSX, ".xlsm": XLSX,
    ".parquet": PARQUET, ".pq": PARQUET, ".parq": PARQUET,
}
_CONTENT_TYPES = {
    "text/csv": CSV, "text/plain": CSV, "text/tab-separated-values": CSV, "application/csv": CSV,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": XLSX,
    "application/vnd.apache.parquet": PARQUET, "application/x-parquet": PARQUET,
    "application/parquet": PARQUET,
}
_SPOOL_BYTES = 64 * 1024 * 1024


def _strip_gz(filename: str | None) -> str | None:
    if filename and filename.lower().endswith((".gz", ".gzip")):
        return filename[: filename.rfind(".")]
    return filename


def _declared_format(filename: str | None, content_type: str | None) -> str | None:
    if filename:
        name = filename.lower()
        for ext, fmt in _EXTENSIONS.items():
            if name.endswith(ext):
                return fmt
    if content_type:
        return _CONTENT_TYPES.get(content_type.split(";")[0].strip().lower())
    return None


def detect_format(head: bytes, filename: str | None = None, content_type: str | None = None) -> str:
    """Return ``"csv"``, ``"xlsx"`` or ``"parquet"`` for already-decompressed content.

    Parameters
    ----------
    head : bytes
        The first bytes of the (decompressed) content; 8 are enough.
    filename, content_type : str, optional
        Used only when the magic bytes say nothing (i.e. for text).
    """
    if head.startswith(MAGIC_PARQUET):
        return PARQUET
    if head.startswith(MAGIC_ZIP):
        return XLSX
    if head.startswith(MAGIC_OLE):
        raise UploadFormatError("legacy Excel .xls files are not supported: save the sheet as .xlsx or CSV")
    if head.startswith(MAGIC_GZIP):
        raise UploadFormatError("the file is gzip-compressed twice")
    declared = _declared_format(_strip_gz(filename), content_type)
    if declared == XLSX:
        raise UploadFormatError(f"{filename or 'the file'} is declared as XLSX but is not a zip/XLSX workbook")
    if declared == PARQUET:
        raise UploadFormatError(f"{filename or 'the file'} is declared as Parquet but has no PAR1 signature")
    return CSV


class LimitedReader(io.RawIOBase):
    """Read-only stream that replays ``prefix`` then reads ``raw``, counting bytes.

    Raises :class:`UploadFormatError` as soon as more than ``max_bytes`` bytes
    have been delivered, so an over-size (or gzip-bomb) upload is refused
    without being read to the end. Decompression errors become
    :class:`UploadFormatError` too.
    """

    def __init__(self, raw, prefix: bytes = b"", max_bytes: int | None = None, what: str = "the file"):
        super().__init__()
        self._raw = raw
        self._prefix = memoryview(prefix)
        self._max = max_bytes
        self._what = what
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        view = memoryview(b).cast("B")
        if len(self._prefix):
            n = min(len(view), len(self._prefix))
            view[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
        else:
            try:
                chunk = self._raw.read(len(view))
            except (OSError, EOFError, zlib.error, pa.ArrowException) as exc:
                raise UploadFormatError(f"corrupt compressed data: {exc}") from exc
            n = len(chunk)
            view[:n] = chunk
        self.bytes_read += n
        if self._max is not None and self.bytes_read > self._max:
            raise UploadFormatError(
                f"{self._what} is larger than the limit of {self._max:,} bytes"
                " (the limit applies to the uncompressed content)")
        return n


def read_head(raw, n: int) -> bytes:
    """Read up to ``n`` bytes (fewer only at end of stream)."""
    buf = b""
    while len(buf) < n:
        chunk = raw.read(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def open_upload(fileobj, *, filename: str | None = None, content_type: str | None = None,
                max_bytes: int | None = None) -> tuple[str, io.BufferedReader]:
    """Open an uploaded binary file-like object for streaming.

    gzip is undone transparently (detected by its magic bytes ``1f 8b``),
    the format is detected on the decompressed content.

    Parameters
    ----------
    fileobj : binary file-like
        Only ``read(n)`` is used.
    max_bytes : int, optional
        Limit on the uncompressed content; exceeding it raises
        :class:`UploadFormatError` while reading.

    Returns
    -------
    (format, stream) : tuple[str, io.BufferedReader]
        ``format`` is one of :data:`FORMATS`; ``stream`` yields the
        decompressed bytes from the start.
    """
    head = read_head(fileobj, 4)
    raw = LimitedReader(fileobj, head)  # replay what was peeked
    if head.startswith(MAGIC_GZIP):
        # Arrow's inflater releases the GIL (the reader runs beside validation) and reads
        # concatenated gzip members like gzip.GzipFile does.
        raw = LimitedReader(pa.CompressedInputStream(pa.PythonFile(raw, mode="r"), "gzip"))
    inner_head = read_head(raw, 8)
    fmt = detect_format(inner_head, filename, content_type)
    stream = io.BufferedReader(LimitedReader(raw, inner_head, max_bytes), buffer_size=1 << 20)
    return fmt, stream


def spool(stream):
    """Copy a stream into a seekable temporary file (XLSX and Parquet need seeking)."""
    tmp = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)
    try:
        shutil.copyfileobj(stream, tmp, 1 << 20)
    except BaseException:
        tmp.close()
        raise
    tmp.seek(0)
    return tmp
