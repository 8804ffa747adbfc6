"""Upload → version ready for 1 000 000 loans (CSV), against raw ``COPY … FROM`` of the same CSV into an
equivalent table (same columns and primary key as ``portfolio_loans``), measured in the same run."""
from __future__ import annotations

import io
import sys
import time
import uuid

from sqlalchemy import create_engine, pool

from tests.benchmarks.harness import csv_bytes, report, stack, upload_portfolio
from workers.demo import generate_loans
from workers.portfolios.loans import LOANS

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000


def raw_copy_seconds(admin_url: str, data: bytes, keyed: bool = True) -> float:
    cols = ", ".join(f"{f.name} {f.sql_type}" for f in LOANS.fields)
    eng = create_engine(admin_url, poolclass=pool.NullPool)
    raw = eng.raw_connection()
    try:
        cur = raw.cursor()
        # Equivalent to the typed table: same columns, same primary key; the keys come from defaults.
        table = f"bench_copy_{uuid.uuid4().hex[:6]}"
        key = ", PRIMARY KEY (version_id, row_no)" if keyed else ""
        cur.execute(f"CREATE TABLE {table} (version_id uuid NOT NULL DEFAULT '{uuid.uuid4()}', "
                    f"row_no bigserial, {cols}{key})")
        raw.commit()
        t0 = time.perf_counter()
        header = data.split(b"\n", 1)[0].decode().replace('"', "")
        cur.copy_expert(f"COPY {table} ({header}) FROM STDIN WITH (FORMAT csv, HEADER)",
                        io.BytesIO(data))
        raw.commit()
        return time.perf_counter() - t0
    finally:
        raw.close()
        eng.dispose()


def main() -> None:
    data = csv_bytes(generate_loans(N, seed=5))
    with stack(concurrency=2) as (app, client, tenant, env):
        ref = raw_copy_seconds(env["admin_url"], data)
        bare = raw_copy_seconds(env["admin_url"], data, keyed=False)
        _, u, ours = upload_portfolio(client, tenant, "loans", data)
        assert u["report"]["rows"] == N
        report(f"upload {N:,} loans CSV -> version ready (rows/s, higher is better)", N / ours, "rows/s", N / ref,
               ratio=ref / ours, note=f"{ours:.2f}s vs raw COPY {ref:.2f}s of {len(data) / 1e6:.0f} MB; "
                                      "ours streams into PostgreSQL, parses, validates, hashes and COPYs")
        report(f"upload {N:,} loans CSV vs COPY into a bare table without keys", N / ours, "rows/s", N / bare,
               ratio=bare / ours, note=f"{ours:.2f}s vs {bare:.2f}s; a lower bound no real table reaches")


if __name__ == "__main__":
    main()
