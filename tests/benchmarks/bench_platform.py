"""Platform overhead: submit → succeeded of a one-shard job, and per-shard cost, against a bare Celery
round trip (a no-op task through the same broker and worker) in the same run."""
from __future__ import annotations

import statistics
import time

from tests.benchmarks.harness import report, stack, wait_job


def bare_round_trip(app, n: int) -> float:
    celery = app.extensions["celery"]
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        celery.send_task("provisor.bench_noop", args=[1], queue="compute").get(timeout=30)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def one_shard_latency(app, client, tenant, n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = client.post("/api/v1/jobs", json={"kind": "test_squares", "params": {"n": 10, "shard_size": 10}},
                        headers=tenant.headers)
        wait_job(app, r.get_json()["id"])
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    with stack(concurrency=1) as (app, client, tenant, _):
        bare_round_trip(app, 5)  # warm both paths
        one_shard_latency(app, client, tenant, 2)
        bare = bare_round_trip(app, 30)
        job = one_shard_latency(app, client, tenant, 15)
        report("platform one-shard submit->succeeded latency (median)", job * 1e3, "ms", bare * 1e3,
               ratio=job / bare, note="ratio = job latency / bare Celery round trip (plan + shard + finalize = 3 "
                                      "tasks + DB transactions); lower is better")
        shards = 200
        t0 = time.perf_counter()
        r = client.post("/api/v1/jobs", json={"kind": "test_squares", "params": {"n": shards, "shard_size": 1}},
                        headers=tenant.headers)
        wait_job(app, r.get_json()["id"])
        per_shard = (time.perf_counter() - t0) / shards
        report("platform per-shard overhead (1 worker process)", per_shard * 1e3, "ms", bare * 1e3,
               ratio=per_shard / bare, note="ratio = per-shard wall time / bare Celery round trip; lower is better")


if __name__ == "__main__":
    main()
