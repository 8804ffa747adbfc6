"""The ``ecl`` job end to end on 1 000 000 stored loans (3 scenarios), one worker (2 processes):
wall time, its split (load, compute, write, finalize), and the worker's peak RSS."""
from __future__ import annotations

import sys

from tests.benchmarks.harness import csv_bytes, finalize_seconds, report, run_job, shard_split, stack, upload_portfolio
from workers.demo import generate_loans

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
SCENARIOS = [{"name": "base", "weight": 0.5, "pd_multiplier": 1.0, "lgd_multiplier": 1.0},
             {"name": "up", "weight": 0.2, "pd_multiplier": 0.8, "lgd_multiplier": 0.9},
             {"name": "down", "weight": 0.3, "pd_multiplier": 1.5, "lgd_multiplier": 1.2}]


def main() -> None:
    with stack(concurrency=2) as (app, client, tenant, _):
        pid, _, _ = upload_portfolio(client, tenant, "loans", csv_bytes(generate_loans(N, seed=5)))
        # A first small-shard run warms the workers (numba cache load) and is the "previous run" for transitions.
        run_job(app, client, tenant, {"kind": "ecl", "portfolio_id": pid, "params": {"scenarios": SCENARIOS}})
        job_id, wall = run_job(app, client, tenant, {"kind": "ecl", "portfolio_id": pid,
                                                     "params": {"scenarios": SCENARIOS}})
        split = shard_split(app, job_id)
        fin = finalize_seconds(app, job_id)
        report(f"ecl job {N:,} loans end to end (1 worker x 2 processes)", wall, "s",
               note=f"{split['shards']} shards; summed over shards: load {split['load_s']:.2f}s, compute "
                    f"{split['compute_s']:.2f}s, write {split['write_s']:.2f}s; finalize {fin:.2f}s; "
                    f"{N / wall:,.0f} loans/s")
        report("ecl worker peak RSS", split["peak_rss_mb"], "MB", 2048, ratio=split["peak_rss_mb"] / 2048,
               note="reference = the 2 GiB budget; ratio < 1 is within budget")


if __name__ == "__main__":
    main()
