"""Canonical CSV for ``COPY <table> (<fields>) FROM STDIN WITH (FORMAT csv)`` and its hash.

The bytes are the definition of a version's content: the SHA-256 of a
portfolio version is taken over exactly what is COPY'd, row after row. The
format is fixed so that the same records give the same hash whatever the
upload format (CSV, XLSX, Parquet, inline JSON) or chunking:

* one line per row, ``\\n``-terminated, no header, ``,``-separated, fields in
  the kind's field order;
* NULL is an empty unquoted field;
* text is written as is, or double-quoted (``"`` doubled) when it holds
  ``,`` ``"`` ``\\r`` or ``\\n`` (the RFC 4180 / Python ``csv.QUOTE_MINIMAL``
  rule), is empty (so that it is not read as NULL; validated text never is)
  or is COPY's end-of-data marker ``\\.``;
* float8 as Python ``repr`` (shortest text that round-trips: ``0.1``,
  ``1.0``, ``1e-05``, ``1e+16``);
* int8 in decimal; bool as ``t``/``f``;
* when the ingestion stores a version, each line starts with its 0-based
  ``row_no`` (``encode_copy_csv(..., first_row_no=…)``), so the bytes COPY'd
  and the bytes hashed are the same and no per-line work is left to Python.
"""
from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workers.portfolios.base import PortfolioKind

_ROWS_PER_PIECE = 262_144  # keeps each joined piece far from the 2 GiB string offset limit
_NEEDS_QUOTES = r'[,"\r\n]|^$|^\\\.$'  # also '' (else read as NULL) and COPY's end marker


def format_float_column(values: pa.Array) -> pa.Array:
    """float64 -> text exactly as Python's ``repr`` (NULL stays NULL).

    Arrow's cast already gives the shortest round-trip digits; it differs from
    ``repr`` only in style: integral values lack ``.0`` and the switch to
    exponent notation happens elsewhere. Values where that can matter
    (exponent form, or magnitude outside [1e-4, 1e10)) go through ``repr``
    one by one -- they are rare in portfolios.
    """
    text = pc.cast(values, pa.string())
    x = values.to_numpy(zero_copy_only=False)
    valid = _np_valid(values)
    with np.errstate(invalid="ignore"):
        ax = np.abs(x)
        odd = ((ax >= 1e10) | ((ax < 1e-4) & (ax != 0)) | ~np.isfinite(ax)) & valid
        integral = np.floor(x) == x  # Arrow writes these without ".0"
    odd |= _np_true(pc.match_substring(text, "e"))  # belt and braces: any exponent form goes to repr
    integral &= valid & ~odd
    if integral.any():
        idx = np.flatnonzero(integral)
        text = pc.replace_with_mask(
            text, pa.array(integral),
            pc.binary_join_element_wise(pc.take(text, pa.array(idx)), ".0", ""))
    if odd.any():
        idx = np.flatnonzero(odd)
        fixed = pa.array([repr(float(v)) for v in x[idx]], pa.string())
        text = pc.replace_with_mask(text, pa.array(odd), fixed)
    return text


def _np_true(mask: pa.Array) -> np.ndarray:
    return pc.fill_null(mask, False).to_numpy(zero_copy_only=False)


def _np_valid(values: pa.Array) -> np.ndarray:
    if values.null_count == 0:
        return np.ones(len(values), dtype=bool)
    return pc.is_valid(values).to_numpy(zero_copy_only=False)


def _text_column(values: pa.Array) -> pa.Array:
    if values.type != pa.string():
        values = values.cast(pa.string())
    needs = pc.match_substring_regex(values, _NEEDS_QUOTES)
    if not pc.any(needs).as_py():
        return values
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(values, '"', '""'), '"', "")
    return pc.if_else(needs, quoted, values)


def _cell_text(values: pa.Array, dtype: str) -> pa.Array:
    if dtype == "float":
        return format_float_column(pc.cast(values, pa.float64()))
    if dtype == "int":
        return pc.cast(pc.cast(values, pa.int64()), pa.string())
    if dtype == "bool":
        return pc.if_else(values, "t", "f")
    return _text_column(values)


def encode_copy_csv(table: pa.Table, kind: PortfolioKind, first_row_no: int | None = None) -> bytes:
    """The canonical COPY text of a normalised table (see module docstring).

    Parameters
    ----------
    table : pyarrow.Table
        As returned by :meth:`workers.ingest.validate.Validator.feed`:
        one column per field of ``kind``.
    kind : PortfolioKind
    first_row_no : int, optional
        When given, every line starts with its row number (``first_row_no``,
        ``first_row_no + 1``, …): the ``row_no`` column of the typed table.

    Returns
    -------
    bytes
        UTF-8, one ``\\n``-terminated line per row; concatenating the encodings
        of consecutive chunks equals the encoding of the whole table.
    """
    out = []
    join = pc.JoinOptions(null_handling="replace", null_replacement="")
    for start in range(0, table.num_rows, _ROWS_PER_PIECE):
        piece = table.slice(start, _ROWS_PER_PIECE)
        cols = [_cell_text(piece.column(f.name).combine_chunks(), f.dtype) for f in kind.fields]
        if first_row_no is not None:
            lo = first_row_no + start
            cols.insert(0, pc.cast(pa.array(np.arange(lo, lo + piece.num_rows, dtype=np.int64)), pa.string()))
        cols[-1] = pc.binary_join_element_wise(cols[-1], "\n", "", options=join)  # the line end, cheaply
        lines = pc.binary_join_element_wise(*cols, ",", options=join)
        out.append(_string_bytes(lines))
    return b"".join(out)


def _string_bytes(arr: pa.Array) -> bytes:
    """The concatenated values of a string array without NULLs, zero-copy where possible."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32 if arr.type == pa.string() else np.int64)
    start = int(offsets[arr.offset])
    end = int(offsets[arr.offset + len(arr)])
    data = arr.buffers()[2]
    if data is None or end == start:
        return b""
    return data.slice(start, end - start).to_pybytes()


class ContentHasher:
    """SHA-256 over the canonical COPY bytes of a version, fed in row order.

    >>> h = ContentHasher()
    >>> h.update(b"L1,default,1.0\\n")
    >>> len(h.hexdigest())
    64
    """

    def __init__(self):
        self._h = hashlib.sha256()
        self.nbytes = 0

    def update(self, data: bytes) -> None:
        self._h.update(data)
        self.nbytes += len(data)

    def hexdigest(self) -> str:
        return self._h.hexdigest()
