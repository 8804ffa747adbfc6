"""Canonical COPY text: float repr, quoting, NULLs, chunk-independence, hash."""
import csv
import hashlib
import io

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from workers.ingest import ContentHasher, encode_copy_csv
from workers.ingest.copyfmt import format_float_column
from workers.portfolios.base import Field, PortfolioKind

KIND = PortfolioKind("t", "t", ("s",), (
    Field("s", "str"), Field("x", "float", nullable=True), Field("i", "int", nullable=True),
    Field("b", "bool")))


def table(s, x, i, b):
    return pa.table({"s": pa.array(s, pa.string()), "x": pa.array(x, pa.float64()),
                     "i": pa.array(i, pa.int64()), "b": pa.array(b, pa.bool_())})


def test_hand_written_example():
    t = table(["plain", "a,b", 'say "hi"', "two\nlines", "", "\\."],
              [1.0, 0.1, None, 1e-05, 1e16, -0.0], [1, None, -7, 0, 2**62, 3],
              [True, False, True, False, True, False])
    assert encode_copy_csv(t, KIND) == (
        b"plain,1.0,1,t\n"
        b'"a,b",0.1,,f\n'
        b'"say ""hi""",,-7,t\n'
        b'"two\nlines",1e-05,0,f\n'
        b'"",1e+16,4611686018427387904,t\n'
        b'"\\.",-0.0,3,f\n')


def test_empty_table_is_empty_bytes():
    assert encode_copy_csv(table([], [], [], []), KIND) == b""


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=50))
def test_floats_are_written_as_python_repr(xs):
    assert format_float_column(pa.array(xs, pa.float64())).to_pylist() == [repr(x) for x in xs]


def test_float_formatting_across_magnitudes():
    rng = np.random.default_rng(7)
    x = rng.standard_normal(50_000) * 10.0 ** rng.integers(-12, 22, 50_000)
    x = np.concatenate([x, np.round(x, 2), np.floor(x), [0.0, -0.0, 5e-324, 1.7976931348623157e308]])
    assert format_float_column(pa.array(x)).to_pylist() == [repr(v) for v in x.tolist()]


text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(text, st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
                          st.one_of(st.none(), st.integers(-2**63, 2**63 - 1)), st.booleans()),
                min_size=1, max_size=20))
def test_python_csv_reads_back_every_value(rows):
    """An independent CSV parser (Python's csv module) gets every value back."""
    t = table(*map(list, zip(*rows)))
    data = encode_copy_csv(t, KIND)
    assert data.endswith(b"\n")
    parsed = list(csv.reader(io.StringIO(data.decode(), newline="")))
    assert len(parsed) == len(rows)
    for (s, x, i, b), (ps, px, pi, pb) in zip(rows, parsed):
        assert ps == s
        assert px == ("" if x is None else repr(x))
        assert pi == ("" if i is None else str(i))
        assert pb == ("t" if b else "f")


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=0, max_value=40), st.lists(st.integers(min_value=1, max_value=15), max_size=5))
def test_chunking_does_not_change_bytes_or_hash(n, cuts):
    rng = np.random.default_rng(n)
    t = table([f"k{j}" for j in range(n)], rng.standard_normal(n).tolist(), list(range(n)),
              (rng.random(n) < 0.5).tolist())
    whole = encode_copy_csv(t, KIND)
    h = ContentHasher()
    pos, pieces = 0, []
    for c in cuts + [n]:
        part = t.slice(pos, c)
        pieces.append(encode_copy_csv(part, KIND))
        h.update(pieces[-1])
        pos += part.num_rows
    assert b"".join(pieces) == whole
    assert h.hexdigest() == hashlib.sha256(whole).hexdigest()
    assert h.nbytes == len(whole)


def test_large_table_is_split_internally_without_changing_bytes():
    n = 600_000  # more than one internal piece
    t = table(["k"] * n, np.arange(n, dtype=float), np.arange(n), np.zeros(n, dtype=bool))
    data = encode_copy_csv(t, KIND)
    assert data.count(b"\n") == n
    assert data.startswith(b"k,0.0,0,f\nk,1.0,1,f\n") and data.endswith(b"k,599999.0,599999,f\n")


def test_row_numbers_lead_each_line_and_continue_across_pieces():
    t = table(["a", "b", "c"], [1.0, 2.5, None], [1, 2, 3], [True, False, True])
    plain = encode_copy_csv(t, KIND).splitlines()
    numbered = encode_copy_csv(t, KIND, first_row_no=7).splitlines()
    assert numbered == [f"{7 + i},".encode() + line for i, line in enumerate(plain)]
    split = encode_copy_csv(t.slice(0, 2), KIND, first_row_no=0) + encode_copy_csv(t.slice(2), KIND, first_row_no=2)
    assert split == encode_copy_csv(t, KIND, first_row_no=0)
