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
           "PROVISOR_KIND_MODULES": "tests.support.testkinds,tests.benchmarks.noop_task", **{k: str(v) for k, v in env_extra.items()}}
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
