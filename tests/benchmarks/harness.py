"""A real stack for end-to-end benchmarks: fresh database, Redis, a Celery worker, an API client."""
from __future__ import annotations

import contextlib
import os
import time
import uuid

import redis
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url

from tests.conftest import PG_ADMIN, REDIS, Tenant, Worker, _create_test_tables

BENCH_REDIS = REDIS.rsplit("/", 1)[0] + "/13"


def report(name: str, value: float, unit: str, ref: float | None = None, ref_unit: str | None = None,
           ratio: float | None = None, note: str = "") -> None:
    line = f"BENCH {name}: {value:.6g} {unit}"
    if ref is not None:
        line += f" | reference {ref:.6g} {ref_unit or unit}"
    if ratio is not None:
        line += f" | ratio {ratio:.3g}"
    if note:
        line += f" | {note}"
    print(line, flush=True)


@contextlib.contextmanager
def stack(concurrency: int = 2, **env_extra):
    """Yield ``(app, client, tenant, env)`` with a worker running; everything is torn down after."""
    from app import create_app
    from app.config import Config
    from app.db import app_role_url
    from app.dbsetup import upgrade

    name = f"provisor_bench_{uuid.uuid4().hex[:8]}"
    admin_engine = create_engine(PG_ADMIN, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin_url = make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    upgrade(admin_url, "provisor_app")
    _create_test_tables(admin_url)
    redis.Redis.from_url(BENCH_REDIS).flushdb()
    env = {"DATABASE_URL": app_role_url(admin_url, "provisor_app"), "DATABASE_ADMIN_URL": admin_url,
           "CELERY_BROKER_URL": BENCH_REDIS, "CELERY_RESULT_BACKEND": BENCH_REDIS, "LOG_LEVEL": "WARNING",
           "PROVISOR_KIND_MODULES": "tests.support.testkinds,tests.benchmarks.noop_task",
           "BROKER_KEY_PREFIX": f"{name}:", **{k: str(v) for k, v in env_extra.items()}}
    app = create_app(Config.from_env(env))
    worker = Worker(env, concurrency=concurrency, name=f"bench{uuid.uuid4().hex[:4]}").start(beat=True)
    try:
        with app.app_context():
            yield app, app.test_client(), Tenant(app, f"b{uuid.uuid4().hex[:10]}"), {**env, "admin_url": admin_url}
    finally:
        worker.stop()
        app.extensions["provisor.db"].engine.dispose()
        with admin_engine.connect() as c:
            c.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin_engine.dispose()


def wait_job(app, job_id: str, timeout: float = 3600, poll_s: float = 0.005) -> dict:
    """Poll the jobs row directly (cheaper than HTTP, so the latency measured is the platform's)."""
    db = app.extensions["provisor.db"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.engine.connect() as c:
            row = c.execute(text("SELECT status, created_at, finished_at, error FROM jobs WHERE id = :j"),
                            {"j": job_id}).mappings().one()
        if row["status"] in ("succeeded", "failed", "canceled"):
            if row["status"] != "succeeded":
                raise RuntimeError(f"job {job_id} {row['status']}: {row['error']}")
            return dict(row)
        time.sleep(poll_s)
    raise TimeoutError(job_id)


def shard_split(app, job_id: str) -> dict:
    """Sum of per-shard load/compute/write seconds and the largest worker RSS seen."""
    db = app.extensions["provisor.db"]
    with db.engine.connect() as c:
        rows = c.execute(text("SELECT timings FROM job_shards WHERE job_id = :j"), {"j": job_id}).scalars().all()
    out = {k: sum(r[k] for r in rows if r) for k in ("load_s", "compute_s", "write_s")}
    out["peak_rss_mb"] = max((r["peak_rss_mb"] for r in rows if r), default=0.0)
    out["shards"] = len(rows)
    return out


def peak_rss_of_pid(pid: int) -> float:
    """VmHWM of a live process, MB."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


__all__ = ["report", "stack", "wait_job", "shard_split", "os"]


def csv_bytes(frame) -> bytes:
    import io

    import pyarrow as pa
    import pyarrow.csv as pacsv

    buf = io.BytesIO()
    pacsv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), buf)
    return buf.getvalue()


def upload_portfolio(client, tenant, kind: str, data: bytes, timeout: float = 1800) -> tuple[str, dict, float]:
    """POST a portfolio and its CSV; return (portfolio_id, upload body, seconds from POST to version ready)."""
    pid = client.post("/api/v1/portfolios", json={"kind": kind, "name": "bench"}, headers=tenant.headers).get_json()["id"]
    t0 = time.perf_counter()
    u = client.post(f"/api/v1/portfolios/{pid}/uploads?filename=bench.csv", data=data,
                    headers={**tenant.headers, "Content-Type": "text/csv"}).get_json()
    deadline = time.monotonic() + timeout
    while u["status"] not in ("succeeded", "failed"):
        if time.monotonic() > deadline:
            raise TimeoutError(u)
        time.sleep(0.02)
        u = client.get(u["links"]["self"], headers=tenant.headers).get_json()
    if u["status"] != "succeeded":
        raise RuntimeError(u["report"])
    return pid, u, time.perf_counter() - t0


def run_job(app, client, tenant, body: dict) -> tuple[str, float]:
    t0 = time.perf_counter()
    r = client.post("/api/v1/jobs", json=body, headers=tenant.headers)
    if r.status_code != 202:
        raise RuntimeError(r.get_json())
    job_id = r.get_json()["id"]
    wait_job(app, job_id, poll_s=0.05)
    return job_id, time.perf_counter() - t0


def finalize_seconds(app, job_id: str) -> float:
    db = app.extensions["provisor.db"]
    with db.engine.connect() as c:
        return float(c.execute(text(
            "SELECT extract(epoch FROM j.finished_at - max(s.finished_at)) FROM jobs j JOIN job_shards s "
            "ON s.job_id = j.id WHERE j.id = :j GROUP BY j.finished_at"), {"j": job_id}).scalar())
