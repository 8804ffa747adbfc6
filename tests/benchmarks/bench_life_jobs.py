"""``bel`` and ``scr`` jobs end to end on 1 000 000 stored policies, one worker (2 processes):
wall time, peak worker RSS, and the SCR's cost relative to the base BEL job on the same portfolio."""
from __future__ import annotations

import sys

from tests.benchmarks.harness import csv_bytes, report, run_job, shard_split, stack, upload_portfolio
from workers.demo import generate_policies

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000


def main() -> None:
    with stack(concurrency=2) as (app, client, tenant, _):
        pid, _, _ = upload_portfolio(client, tenant, "policies", csv_bytes(generate_policies(N, seed=5)))
        run_job(app, client, tenant, {"kind": "bel", "portfolio_id": pid})  # warm the workers' numba caches
        run_job(app, client, tenant, {"kind": "scr", "portfolio_id": pid, "params": {"own_funds": 1e9}})
        bel_id, bel_wall = run_job(app, client, tenant, {"kind": "bel", "portfolio_id": pid})
        bel = shard_split(app, bel_id)
        report(f"bel job {N:,} policies end to end (1 worker x 2 processes)", bel_wall, "s",
               note=f"{bel['shards']} shards; load {bel['load_s']:.2f}s compute {bel['compute_s']:.2f}s write "
                    f"{bel['write_s']:.2f}s summed; peak worker RSS {bel['peak_rss_mb']:.0f} MB")
        scr_id, scr_wall = run_job(app, client, tenant, {"kind": "scr", "portfolio_id": pid,
                                                         "params": {"own_funds": 1e9}})
        scr = shard_split(app, scr_id)
        report(f"scr job {N:,} policies (all life shocks) end to end", scr_wall, "s", bel_wall,
               ratio=scr_wall / bel_wall,
               note=f"ratio = SCR wall / base BEL wall (target <= 3); load {scr['load_s']:.2f}s compute "
                    f"{scr['compute_s']:.2f}s write {scr['write_s']:.2f}s; peak worker RSS {scr['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
