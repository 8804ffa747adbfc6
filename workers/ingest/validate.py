"""Row validation and normalisation of uploaded and inline portfolio records.

Everything here is vectorised over a whole record batch (pyarrow compute and
numpy); Python only runs per *reported* error, never per row.

Rules (the keys of ``report()["counts"]``):

==================  ===========================================================
``required_column``  a required field has no column (case-insensitive, aliases)
``duplicate_column`` two columns map to the same field (the first is used)
``type``             not a number / not an integer / not a boolean
``required``         empty cell in a field with no default that is not nullable
``range``            outside ``min``/``max`` (``min_exclusive``: strictly above)
``choices``          not one of the field's choices (matched case-insensitively,
                     stored in the field's spelling)
``max_length``       text longer than ``max_length`` characters
``duplicate_key``    key fields repeat a previous row (across the whole file)
``empty_file``       nothing was fed at all
``header_only``      a header but no data row
==================  ===========================================================

Cells are stripped of surrounding whitespace; an empty cell takes the field's
default, stays empty (NULL/NaN) when the field is nullable, else is an error.
Booleans accept true/false/1/0/yes/no/t/f/y/n in any case.
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from workers.ingest.columns import match_columns
from workers.portfolios.base import Field, PortfolioKind

ARROW_TYPES = {"str": pa.string(), "float": pa.float64(), "int": pa.int64(), "bool": pa.bool_()}
TRUE_WORDS = ("true", "1", "yes", "t", "y")
FALSE_WORDS = ("false", "0", "no", "f", "n")
_FLOAT_RE = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_INT_RE = r"^[+-]?\d{1,18}(\.0*)?$"  # 18 digits always fit in int64
_KEY_SEP = "\x1f"
_VALUE_CHARS = 200

RULES = ("required_column", "duplicate_column", "type", "required", "range", "choices",
         "max_length", "duplicate_key", "empty_file", "header_only")


def _np(mask) -> np.ndarray:
    """Arrow boolean array -> numpy bool array, null read as False."""
    if isinstance(mask, np.ndarray):
        return mask
    return pc.fill_null(mask, False).to_numpy(zero_copy_only=False)


def _null_where(values, mask: np.ndarray):
    if not mask.any():
        return values
    return pc.if_else(pa.array(mask), pa.scalar(None, values.type), values)


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t) or (
        pa.types.is_dictionary(t) and _is_text(t.value_type))


def _as_text(arr) -> pa.Array:
    """Any text-ish array -> string array with nulls as ''."""
    if pa.types.is_dictionary(arr.type) or pa.types.is_string_view(arr.type):
        arr = arr.cast(pa.string())
    if arr.null_count:
        arr = pc.fill_null(arr, "")
    return arr


def _display(value) -> str | None:
    """A cell shown in an error entry: text, never NaN (the report is JSON)."""
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        s = repr(value)
    else:
        s = str(value)
    return s if len(s) <= _VALUE_CHARS else s[:_VALUE_CHARS] + "..."


def _fmt_bound(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def range_text(f: Field) -> str:
    """``'must be >= 0 and <= 1'`` style description of a field's range."""
    parts = []
    if f.min is not None:
        parts.append(f"{'>' if f.min_exclusive else '>='} {_fmt_bound(f.min)}")
    if f.max is not None:
        parts.append(f"<= {_fmt_bound(f.max)}")
    return "must be " + " and ".join(parts)


def _type_message(f: Field, value: str | None) -> str:
    if f.dtype == "float":
        msg = f"{f.name}: not a number"
        if value and "," in value:
            msg += " (use '.' as decimal separator and no thousands separator)"
        elif value and value.strip().lower() in ("nan", "inf", "+inf", "-inf", "infinity", "-infinity"):
            msg = f"{f.name}: not a finite number"
        return msg
    if f.dtype == "int":
        return f"{f.name}: not an integer"
    if f.dtype == "bool":
        return f"{f.name}: not a boolean (use true/false, 1/0, yes/no, t/f, y/n)"
    return f"{f.name}: not text"


# --- parsing one column ---------------------------------------------------------------
# Each parser returns (values: typed arrow array, null where empty or bad,
#                      empty: np.bool_ array, bad: np.bool_ array).

def _parse_float_text(s: pa.Array):
    empty = _np(pc.equal(s, ""))
    try:
        values = pc.cast(_null_where(s, empty), pa.float64())
        bad = np.zeros(len(s), dtype=bool)
    except pa.ArrowInvalid:  # spaces or a bad cell somewhere: the slower, per-cell exact path
        t = pc.utf8_trim_whitespace(s)
        empty = _np(pc.equal(t, ""))
        ok = _np(pc.match_substring_regex(t, _FLOAT_RE))
        bad = ~empty & ~ok
        kept = _null_where(t, ~ok)
        try:
            values = pc.cast(kept, pa.float64())
        except pa.ArrowInvalid:  # e.g. '1e999': Python's float gives inf, rejected below
            values = pa.array([None if v is None else float(v) for v in kept.to_pylist()], pa.float64())
    finite = _np(pc.is_finite(values))
    notfinite = ~finite & ~empty & ~bad
    if notfinite.any():
        bad = bad | notfinite
        values = _null_where(values, notfinite)
    return values, empty, bad


def _parse_int_text(s: pa.Array):
    empty = _np(pc.equal(s, ""))
    try:
        return pc.cast(_null_where(s, empty), pa.int64()), empty, np.zeros(len(s), dtype=bool)
    except pa.ArrowInvalid:
        t = pc.utf8_trim_whitespace(s)
        empty = _np(pc.equal(t, ""))
        ok = _np(pc.match_substring_regex(t, _INT_RE))
        cleaned = pc.replace_substring_regex(pc.replace_substring_regex(t, r"^\+", ""), r"\.0*$", "")
        return pc.cast(_null_where(cleaned, ~ok), pa.int64()), empty, ~empty & ~ok


def _parse_bool_text(s: pa.Array):
    t = pc.utf8_lower(pc.utf8_trim_whitespace(s))
    empty = _np(pc.equal(t, ""))
    is_true = _np(pc.is_in(t, value_set=pa.array(TRUE_WORDS)))
    is_false = _np(pc.is_in(t, value_set=pa.array(FALSE_WORDS)))
    known = is_true | is_false
    return _null_where(pa.array(is_true), ~known), empty, ~empty & ~known


def _parse_str_text(s: pa.Array):
    t = pc.utf8_trim_whitespace(s)
    empty = _np(pc.equal(t, ""))
    if t.type != pa.string():
        t = t.cast(pa.string())
    return _null_where(t, empty), empty, np.zeros(len(s), dtype=bool)


_TEXT_PARSERS = {"float": _parse_float_text, "int": _parse_int_text, "bool": _parse_bool_text,
                 "str": _parse_str_text}


def _parse_typed(f: Field, arr: pa.Array):
    """Columns that arrive typed (Parquet, DataFrames): check and convert without text."""
    t = arr.type
    n = len(arr)
    if pa.types.is_null(t):
        return pa.nulls(n, ARROW_TYPES[f.dtype]), np.ones(n, dtype=bool), np.zeros(n, dtype=bool)
    numeric = pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
    if f.dtype == "float" and numeric:
        values = pc.cast(arr, pa.float64())
        empty = _np(pc.is_null(values, nan_is_null=True))
        bad = ~empty & ~_np(pc.is_finite(values))
        return _null_where(values, empty | bad), empty, bad
    if f.dtype == "int" and pa.types.is_integer(t):
        return pc.cast(arr, pa.int64()), _np(pc.is_null(arr)), np.zeros(n, dtype=bool)
    if f.dtype == "int" and (pa.types.is_floating(t) or pa.types.is_decimal(t)):
        x = pc.cast(arr, pa.float64())
        empty = _np(pc.is_null(x, nan_is_null=True))
        xn = x.to_numpy(zero_copy_only=False)
        with np.errstate(invalid="ignore"):
            integral = np.isfinite(xn) & (np.floor(xn) == xn) & (np.abs(xn) < 2.0 ** 63)
        bad = ~empty & ~integral
        values = pc.cast(_null_where(x, ~integral), pa.int64())
        return values, empty, bad
    if f.dtype == "bool" and pa.types.is_boolean(t):
        return arr, _np(pc.is_null(arr)), np.zeros(n, dtype=bool)
    # Anything else (text for a number, a date...) goes through its text form so that
    # each cell gets its own verdict.
    try:
        text = _as_text(pc.cast(arr, pa.string()))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.nulls(n, ARROW_TYPES[f.dtype]), np.zeros(n, dtype=bool), np.ones(n, dtype=bool)
    return _TEXT_PARSERS[f.dtype](text)


def _constant(f: Field, n: int) -> pa.Array:
    if f.default is None:
        return pa.nulls(n, ARROW_TYPES[f.dtype])
    return pa.repeat(pa.scalar(f.default, ARROW_TYPES[f.dtype]), n)


class Validator:
    """Validate and normalise a portfolio file fed chunk by chunk.

    Parameters
    ----------
    kind : PortfolioKind
        The record type rows must match.
    max_errors : int
        How many error entries the report lists (the counts are always complete).

    Notes
    -----
    Feed every chunk in file order, then call :meth:`report`: duplicate keys are
    resolved there (the key values of every chunk are kept, a few tens of bytes per
    row). A chunk returned by :meth:`feed` may hold NULL where a cell was invalid:
    do not store a version unless ``report()["valid"]``.
    """

    def __init__(self, kind: PortfolioKind, max_errors: int = 100):
        self.kind = kind
        self.max_errors = int(max_errors)
        self.rows = 0
        self._match = None
        self._headers: list[str] | None = None
        self._counts: Counter = Counter()
        self._errors: list[tuple] = []  # (row, field_index, rule, column, field, value, message)
        self._pending: list[tuple] = []
        self._keys: list[pa.Array] = []
        self._key_starts: list[int] = []
        self._finished = False
        self._field_pos = {f.name: i for i, f in enumerate(kind.fields)}

    # -- errors ---------------------------------------------------------------------
    @property
    def error_count(self) -> int:
        """Errors found so far (duplicate keys are only known after :meth:`report`)."""
        return sum(self._counts.values())

    def _wants_entries(self, first_row: int) -> bool:
        return len(self._errors) < self.max_errors or (
            first_row is not None and self._errors[-1][0] is not None and first_row <= self._errors[-1][0])

    def _record(self, rule, f: Field, column, mask, raw, first_row, message):
        n = int(np.count_nonzero(mask))
        if not n:
            return
        self._counts[rule] += n
        if not self._wants_entries(first_row):
            return
        fi = self._field_pos[f.name]
        for i in np.flatnonzero(mask)[: self.max_errors]:
            value = _display(raw[int(i)].as_py()) if raw is not None else None
            msg = message(value) if callable(message) else message
            self._pending.append((first_row + int(i), fi, rule, column, f.name, value, msg))

    def _file_error(self, rule, f: Field | None, column, message):
        self._counts[rule] += 1
        fi = self._field_pos[f.name] if f is not None else -1
        self._pending.append((None, fi, rule, column, f.name if f is not None else None, None, message))

    def _flush(self):
        if self._pending:
            merged = self._errors + self._pending
            merged.sort(key=lambda e: (-1 if e[0] is None else e[0], e[1]))
            self._errors = merged[: self.max_errors]
            self._pending = []

    # -- columns --------------------------------------------------------------------
    def _start(self, headers: list[str]):
        self._headers = list(headers)
        m = match_columns(self._headers, self.kind)
        self._match = m
        for name in m.missing:
            f = self.kind.field(name)
            accepted = ", ".join((f.name, *f.aliases))
            self._file_error("required_column", f, name,
                             f"required column '{name}' is missing (accepted names: {accepted})")
        for name, headers in m.duplicates:
            self._file_error("duplicate_column", self.kind.field(name), headers[1],
                             f"columns {', '.join(repr(h) for h in headers)} all map to field '{name}'")
        self._flush()

    # -- feeding --------------------------------------------------------------------
    def feed(self, batch, first_row: int | None = None) -> pa.Table:
        """Validate one chunk and return it normalised.

        Parameters
        ----------
        batch : pyarrow.RecordBatch | pyarrow.Table | pandas.DataFrame
            Source columns as named in the file: text columns (CSV, XLSX) or typed
            ones (Parquet, DataFrames).
        first_row : int, optional
            1-based data row number of the chunk's first row; defaults to the
            row after the previous chunk.

        Returns
        -------
        pyarrow.Table
            One column per field of the kind, in field order, typed
            string/float64/int64/bool, defaults applied, NULL where empty and
            nullable (or invalid).
        """
        if isinstance(batch, pd.DataFrame):
            batch = pa.Table.from_pandas(batch, preserve_index=False)
        if first_row is None:
            first_row = self.rows + 1
        if self._headers is None:
            self._start([str(c) for c in batch.schema.names])
        elif [str(c) for c in batch.schema.names] != self._headers:
            raise ValueError("every chunk must have the columns of the first one")
        n = batch.num_rows
        self.rows += n
        columns = []
        for f in self.kind.fields:
            src = self._match.source_index.get(f.name)
            if src is None:
                values = _constant(f, n)
            else:
                values = self._field(f, batch.column(src), self._headers[src], first_row)
            columns.append(values)
        table = pa.Table.from_arrays(columns, names=self.kind.field_names)
        self._keep_keys(table, first_row)
        self._flush()
        return table

    def _field(self, f: Field, raw, column: str, first_row: int):
        if isinstance(raw, pa.ChunkedArray):
            raw = raw.combine_chunks()
        if _is_text(raw.type):
            values, empty, bad = _TEXT_PARSERS[f.dtype](_as_text(raw))
        else:
            values, empty, bad = _parse_typed(f, raw)
        if bad.any():
            self._record("type", f, column, bad, raw, first_row, lambda v, f=f: _type_message(f, v))
        if empty.any():
            if f.default is not None:
                values = pc.if_else(pa.array(empty), pa.scalar(f.default, values.type), values)
            elif not f.nullable:
                self._record("required", f, column, empty, raw, first_row, f"{f.name}: a value is required")
        check = ~empty & ~bad
        if f.choices is not None:
            if f.dtype == "str":
                choices = pa.array([str(c) for c in f.choices])
                idx = pc.index_in(pc.utf8_lower(values), value_set=pc.utf8_lower(choices))
                wrong = check & _np(pc.is_null(idx))
                values = pc.if_else(pa.array(check), pc.take(choices, idx), values)
            else:
                inset = _np(pc.is_in(values, value_set=pa.array(f.choices, values.type)))
                wrong = check & ~inset
                values = _null_where(values, wrong)
            shown = ", ".join(str(c) for c in f.choices)
            self._record("choices", f, column, wrong, raw, first_row, f"{f.name}: must be one of {shown}")
            check &= ~wrong
        if f.min is not None or f.max is not None:
            v = values.to_numpy(zero_copy_only=False)
            out = np.zeros(len(v), dtype=bool)
            with np.errstate(invalid="ignore"):
                if f.min is not None:
                    out |= (v <= f.min) if f.min_exclusive else (v < f.min)
                if f.max is not None:
                    out |= v > f.max
            out &= check
            self._record("range", f, column, out, raw, first_row, f"{f.name}: {range_text(f)}")
            values = _null_where(values, out)
            check &= ~out
        if f.max_length is not None and f.dtype == "str":
            long_ = check & _np(pc.greater(pc.utf8_length(values), f.max_length))
            self._record("max_length", f, column, long_, raw, first_row,
                         f"{f.name}: longer than {f.max_length} characters")
            values = _null_where(values, long_)
        return values

    def _keep_keys(self, table: pa.Table, first_row: int):
        keys = self.kind.key_fields
        if not keys:
            return
        if len(keys) == 1:
            k = table.column(keys[0]).combine_chunks()
            if pa.types.is_string(k.type):
                k = k.cast(pa.large_string())
        else:
            parts = [pc.cast(table.column(name), pa.large_string()) for name in keys]
            k = pc.binary_join_element_wise(*parts, pa.scalar(_KEY_SEP, pa.large_string())).combine_chunks()
        self._keys.append(k)
        self._key_starts.append(first_row)

    # -- the end --------------------------------------------------------------------
    def _finish(self):
        if self._finished:
            return
        self._finished = True
        if self._headers is None:
            self._counts["empty_file"] += 1
            self._pending.append((None, -1, "empty_file", None, None, None, "the file is empty"))
        elif self.rows == 0:
            self._counts["header_only"] += 1
            self._pending.append((None, -1, "header_only", None, None, None,
                                  "the file has a header but no data rows"))
        elif self._keys:
            self._find_duplicate_keys()
        self._flush()

    def _find_duplicate_keys(self):
        keys = pa.chunked_array(self._keys).combine_chunks()
        idx = pc.fill_null(pc.dictionary_encode(keys).indices, -1).to_numpy(zero_copy_only=False)
        order = np.argsort(idx, kind="stable")
        s = idx[order]
        repeat = np.zeros(len(s), dtype=bool)
        repeat[1:] = s[1:] == s[:-1]
        repeat &= s >= 0
        n = int(np.count_nonzero(repeat))
        if not n:
            return
        self._counts["duplicate_key"] += n
        # position in sorted order of each row's group start = first occurrence
        group_start = np.maximum.accumulate(np.where(repeat, 0, np.arange(len(s))))
        dup_pos = order[repeat]
        first_pos = order[group_start[repeat]]
        sel = np.argsort(dup_pos, kind="stable")[: self.max_errors]
        starts = np.asarray(self._key_starts, dtype=np.int64)
        lengths = np.asarray([len(k) for k in self._keys], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])

        def row_of(pos):
            c = int(np.searchsorted(offsets, pos, side="right") - 1)
            return int(starts[c] + pos - offsets[c])

        names = self.kind.key_fields
        cols = [self._source_name(k) for k in names]
        f0 = self.kind.field(names[0])
        for j in sel:
            pos, first = int(dup_pos[j]), int(first_pos[j])
            value = keys[pos].as_py().replace(_KEY_SEP, ", ") if len(names) > 1 else _display(keys[pos].as_py())
            label = ", ".join(names)
            self._pending.append((row_of(pos), self._field_pos[f0.name], "duplicate_key", ", ".join(cols),
                                  f0.name, value,
                                  f"duplicate {label} {value!r} (first at row {row_of(first)})"))

    def _source_name(self, field: str) -> str:
        src = self._match.source_index.get(field)
        return self._headers[src] if src is not None else field

    def report(self) -> dict:
        """The validation report (JSON-ready); finishes validation on first call.

        Returns
        -------
        dict
            ``{valid, rows, errors: [{row, column, field, value, message, rule}],
            counts: {rule: n}, unknown_columns, missing_columns, column_mapping}``;
            ``row`` is the 1-based data row (None for file-level errors),
            ``column`` the header as written in the file.
        """
        self._finish()
        m = self._match
        return {
            "valid": not any(self._counts.values()),
            "rows": int(self.rows),
            "errors": [{"row": r, "column": c, "field": fld, "value": v, "message": msg, "rule": rule}
                       for (r, _fi, rule, c, fld, v, msg) in self._errors],
            "counts": {rule: int(self._counts[rule]) for rule in RULES if self._counts[rule]},
            "unknown_columns": list(m.unknown) if m else [],
            "missing_columns": list(m.missing) if m else [],
            "column_mapping": dict(m.mapping) if m else {},
        }


# --- pandas view and inline records ---------------------------------------------------

def to_frame(table: pa.Table, kind: PortfolioKind | None = None) -> pd.DataFrame:
    """Normalised table -> the DataFrame job kinds receive (workers/portfolios/base.py).

    str -> object column of Python ``str`` (None when empty), float -> float64
    (NaN when empty), int -> int64, or float64 with NaN when the field is
    nullable, bool -> bool.
    """
    fields = kind.fields if kind is not None else None
    data = {}
    for i, name in enumerate(table.column_names):
        col = table.column(i)
        f = fields[i] if fields is not None else None
        dtype = f.dtype if f is not None else {
            pa.string(): "str", pa.large_string(): "str", pa.float64(): "float",
            pa.int64(): "int", pa.bool_(): "bool"}.get(col.type, "str")
        if dtype == "str":
            data[name] = pd.Series(col.to_numpy(zero_copy_only=False), dtype=object)
        elif dtype == "float":
            data[name] = pd.Series(pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
        elif dtype == "int":
            nullable = (f.nullable if f is not None else False) or col.null_count > 0
            if nullable:
                data[name] = pd.Series(pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False),
                                       dtype=np.float64)
            else:
                data[name] = pd.Series(col.to_numpy(zero_copy_only=False), dtype=np.int64)
        else:
            data[name] = pd.Series(pc.fill_null(col, False).to_numpy(zero_copy_only=False), dtype=bool)
    return pd.DataFrame(data, columns=list(table.column_names))


def _cell_text(value):
    """A JSON value -> the text a CSV cell would hold; None for non-scalars."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return value
    return None


def validate_records(kind: PortfolioKind, records, path_prefix: str = "inputs.loans",
                     max_errors: int = 1000) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Validate inline job records (a JSON list of objects) with the upload rules.

    Parameters
    ----------
    kind : PortfolioKind
    records : list[dict]
        Keys are matched like upload headers (case-insensitive, aliases).
    path_prefix : str
        Error paths are ``f"{path_prefix}.{index}.{field}"`` (index 0-based).
    max_errors : int
        At most this many error paths are returned.

    Returns
    -------
    (frame, errors) : tuple[pandas.DataFrame, dict[str, list[str]]]
        ``frame`` as :func:`to_frame` builds it (meaningful only without errors);
        ``errors`` maps a path to its messages, empty when all is valid.
    """
    errors: dict[str, list[str]] = {}

    def add(path, msg):
        if len(errors) < max_errors or path in errors:
            errors.setdefault(path, []).append(msg)

    empty_frame = to_frame(pa.table({f.name: pa.array([], ARROW_TYPES[f.dtype]) for f in kind.fields}), kind)
    if not isinstance(records, list):
        return empty_frame, {path_prefix: ["Must be a list of records."]}
    if not records:
        return empty_frame, {path_prefix: ["Must contain at least one record."]}
    headers: dict[str, None] = {}
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            add(f"{path_prefix}.{i}", "Must be an object.")
            continue
        for key in rec:
            headers.setdefault(str(key), None)
    if errors:
        return empty_frame, errors
    names = list(headers)
    columns = {h: [] for h in names}
    for i, rec in enumerate(records):
        for h in names:
            text = _cell_text(rec.get(h))
            if text is None:
                add(f"{path_prefix}.{i}.{h}", "Must be a scalar (string, number, boolean or null).")
                text = ""
            columns[h].append(text)
    v = Validator(kind, max_errors=max_errors)
    if names:
        out = v.feed(pa.table({h: pa.array(columns[h], pa.string()) for h in names}), first_row=1)
    else:  # records all {}: only the required-column errors
        v._start([])
        v.rows = len(records)
        out = pa.Table.from_arrays([_constant(f, len(records)) for f in kind.fields], names=kind.field_names)
    rep = v.report()
    known = {h for h in v._match.mapping}
    for i, rec in enumerate(records):
        for key in rec:
            if str(key) not in known and str(key) in rep["unknown_columns"]:
                add(f"{path_prefix}.{i}.{key}", "Unknown field.")
    for e in rep["errors"]:
        if e["rule"] == "required_column":
            for i in range(len(records)):
                add(f"{path_prefix}.{i}.{e['field']}", "Missing data for required field.")
        elif e["rule"] == "duplicate_column":
            for i, rec in enumerate(records):
                if e["column"] in rec:
                    add(f"{path_prefix}.{i}.{e['column']}", e["message"])
        elif e["row"] is not None:
            add(f"{path_prefix}.{e['row'] - 1}.{e['field']}", e["message"])
    return to_frame(out, kind), errors
