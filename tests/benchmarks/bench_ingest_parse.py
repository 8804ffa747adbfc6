"""Throughput of the upload layer: parse + validate + canonical COPY encoding + SHA-256.

Reference, measured in the same run on the same bytes: ``pyarrow.csv.read_csv``
alone (multi-threaded, type inference; it validates nothing and encodes nothing).
ratio = our rows/s / reference rows/s (> 1 means we are faster).

    python tests/benchmarks/bench_ingest_parse.py [--rows 1000000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import gzip
import io
import os
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from workers.ingest import Validator, encode_copy_csv, ingest, iter_batches  # noqa: E402
from workers.portfolios.loans import LOANS  # noqa: E402


def loans_csv(n: int, seed: int = 1) -> bytes:
    """A realistic loans file: all fields present, amounts in cents, rates with few digits."""
    rng = np.random.default_rng(seed)
    t = pa.table({
        "loan_id": [f"LN{i:09d}" for i in range(n)],
        "segment": np.array(["retail", "sme", "corporate", "mortgage"])[rng.integers(0, 4, n)],
        "ead": np.round(rng.lognormal(10, 1.5, n), 2),
        "undrawn": np.round(rng.uniform(0, 5e4, n), 2),
        "ccf": np.round(rng.uniform(0, 1, n), 2),
        "pd_12m": np.round(rng.beta(1, 40, n), 6),
        "pd_12m_origination": np.round(rng.beta(1, 50, n), 6),
        "lgd": np.round(rng.uniform(0.05, 0.9, n), 4),
        "eir": np.round(rng.uniform(0.0, 0.12, n), 5),
        "remaining_term_months": rng.integers(1, 361, n),
        "amortization": np.array(["bullet", "linear", "annuity"])[rng.integers(0, 3, n)],
        "days_past_due": np.where(rng.random(n) < 0.9, 0, rng.integers(1, 200, n)),
        "default_flag": rng.random(n) < 0.02,
        "watchlist": rng.random(n) < 0.05,
        "forborne": rng.random(n) < 0.01,
        "stage_override": pa.array(rng.integers(1, 4, n), mask=rng.random(n) < 0.97),
    })
    buf = io.BytesIO()
    pacsv.write_csv(t, buf)
    return buf.getvalue()


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--xlsx-rows", type=int, default=100_000,
                    help="rows of the XLSX measurement (openpyxl, the reference, takes ~3 min per 1M rows)")
    args = ap.parse_args(argv)
    n, rep = args.rows, args.repeat
    data = loans_csv(n)
    gz = gzip.compress(data, compresslevel=6)

    def ours():
        res = ingest(io.BytesIO(data), LOANS)
        assert res.valid and res.rows == n, res.report["counts"]

    def ours_gz():
        res = ingest(io.BytesIO(gz), LOANS)
        assert res.valid and res.rows == n

    def reference():
        assert pacsv.read_csv(io.BytesIO(data)).num_rows == n

    def reference_1t():
        assert pacsv.read_csv(io.BytesIO(data), read_options=pacsv.ReadOptions(use_threads=False)).num_rows == n

    t_ref = best(reference, rep)
    t_ref1 = best(reference_1t, rep)
    t_ours = best(ours, rep)
    t_gz = best(ours_gz, max(1, rep - 1))

    # stage split, one pass (context only)
    t0 = time.perf_counter()
    batches = list(iter_batches(io.BytesIO(data), kind=LOANS))
    t1 = time.perf_counter()
    v = Validator(LOANS)
    tables = [v.feed(b) for b in batches]
    assert v.report()["valid"]
    t2 = time.perf_counter()
    nbytes = sum(len(encode_copy_csv(t, LOANS)) for t in tables)
    t3 = time.perf_counter()

    def line(name, ours_s, ref_s):
        a, b = n / ours_s, n / ref_s
        print(f"BENCH {name}: {a:,.0f} rows/s | reference {b:,.0f} rows/s | ratio {a / b:.2f}")

    line(f"ingest_csv_{n}_loans_parse_validate_encode_vs_arrow_read_csv", t_ours, t_ref)
    line(f"ingest_csv_{n}_loans_parse_validate_encode_vs_arrow_read_csv_1thread", t_ours, t_ref1)
    line(f"ingest_csv_gz_{n}_loans_vs_arrow_read_csv_plain", t_gz, t_ref)
    print(f"context: {len(data) / 1e6:.1f} MB CSV ({len(gz) / 1e6:.1f} MB gzip), {nbytes / 1e6:.1f} MB COPY text; "
          f"stages read {t1 - t0:.2f}s, validate+report {t2 - t1:.2f}s, encode {t3 - t2:.2f}s; "
          f"ours {t_ours:.2f}s, read_csv {t_ref:.2f}s (threads) / {t_ref1:.2f}s (1 thread); "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    if args.xlsx_rows:
        bench_xlsx(args.xlsx_rows, rep)


def bench_xlsx(m: int, rep: int) -> None:
    """XLSX read (streaming reader, text batches) vs openpyxl read-only values, the previous reader's core."""
    import warnings

    import openpyxl

    from tests.support.xlsx import write_xlsx
    from workers.demo import generate_loans
    from workers.ingest.readers import iter_xlsx

    data = write_xlsx({"loans": generate_loans(m)})

    def ours():
        assert sum(b.num_rows for b in iter_xlsx(io.BytesIO(data))) == m

    def reference():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        assert sum(1 for _ in wb.active.iter_rows(values_only=True)) == m + 1
        wb.close()

    t_ours, t_ref = best(ours, rep), best(reference, 1)
    a, b = m / t_ours, m / t_ref
    print(f"BENCH ingest_xlsx_{m}_loans_read_vs_openpyxl_read_only: {a:,.0f} rows/s | reference {b:,.0f} rows/s "
          f"| ratio {a / b:.2f}")
    print(f"context: {len(data) / 1e6:.1f} MB XLSX, {m} rows x 15 columns (inline strings); ours {t_ours:.2f}s, "
          f"openpyxl read-only iteration alone {t_ref:.2f}s")


if __name__ == "__main__":
    main()
