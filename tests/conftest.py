"""Shared fixtures: a fresh PostgreSQL database per test session, real Redis, a real Celery worker.

Tests isolate by tenant: every test that needs data gets a tenant of its own, so nothing is
truncated (audit_events could not be: it is append-only).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import pytest

PG_ADMIN = os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/11")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _admin_engine(url=PG_ADMIN):
    from sqlalchemy import create_engine, pool

    return create_engine(url, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def database():
    """A new database, migrated; yields (admin_url, app_url). Dropped at the end."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from app.db import app_role_url
    from app.dbsetup import upgrade

    name = f"provisor_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    eng = _admin_engine()
    with eng.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin_url = make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    upgrade(admin_url, "provisor_app")
    _create_test_tables(admin_url)
    yield admin_url, app_role_url(admin_url, "provisor_app")
    with eng.connect() as c:
        c.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    eng.dispose()


def _create_test_tables(admin_url):
    from sqlalchemy import text

    from migrations.ddl import month_partitioned_results
    from tests.support.testkinds import DDL_COLUMNS

    eng = _admin_engine(admin_url)
    with eng.connect() as c:
        c.execute(text(month_partitioned_results("test_results", DDL_COLUMNS)))
        c.execute(text("GRANT SELECT, INSERT, UPDATE, DELETE ON test_results TO provisor_app"))
    eng.dispose()


def worker_env(database, **extra) -> dict:
    admin_url, app_url = database
    env = {
        "DATABASE_URL": app_url, "DATABASE_ADMIN_URL": admin_url, "CELERY_BROKER_URL": REDIS,
        "SHARD_LEASE_S": "20", "RESEND_AFTER_S": "15", "REAPER_INTERVAL_S": "2", "TASK_TIME_LIMIT_S": "900",
        "TASK_SOFT_TIME_LIMIT_S": "850", "INGEST_TIME_LIMIT_S": "900", "VISIBILITY_TIMEOUT_S": "1000", "LOG_LEVEL": "WARNING",
        "PROVISOR_KIND_MODULES": "tests.support.testkinds",
        # This session's own broker keys: a stray worker of another run can never take its messages.
        "BROKER_KEY_PREFIX": f"{database[0].rsplit('/', 1)[-1]}:",
    }
    env.update({k: str(v) for k, v in extra.items()})
    return env


@pytest.fixture(scope="session")
def config(database):
    from app.config import Config

    return Config.from_env(worker_env(database)).with_overrides(testing=True)


@pytest.fixture(scope="session")
def app(config):
    import redis

    redis.Redis.from_url(REDIS).flushdb()
    from app import create_app

    application = create_app(config)
    with application.app_context():
        yield application


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture()
def db(app):
    return app.extensions["provisor.db"]


class Tenant:
    """A tenant of a test's own with keys; ``headers(scopes)`` gives an Authorization header."""

    def __init__(self, app, code):
        from app.services.tenants import create_key, create_tenant

        self.app, self.code = app, code
        with app.extensions["provisor.db"].session() as s:
            self.tenant = create_tenant(s, code, f"Test {code}")
            self.id = self.tenant.id
            _, self.key = create_key(s, self.tenant, ["jobs:read", "jobs:write", "portfolios:read",
                                                      "portfolios:write", "audit:read"])

    def new_key(self, scopes):
        from app.services.tenants import create_key

        with self.app.extensions["provisor.db"].session() as s:
            return create_key(s, self.tenant, scopes)[1]

    @property
    def headers(self):
        return {"Authorization": f"Bearer {self.key}"}


@pytest.fixture()
def tenant(app):
    return Tenant(app, f"t{uuid.uuid4().hex[:12]}")


@pytest.fixture()
def other_tenant(app):
    return Tenant(app, f"o{uuid.uuid4().hex[:12]}")


def _die_with_parent() -> None:
    """Linux: the worker gets SIGTERM if the test process dies, so no orphan consumes later runs' queues."""
    import ctypes
    import signal

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@pytest.fixture()
def cma(client, tenant):
    """A two-asset capital market assumption set of the test's tenant."""
    body = {"name": "test view", "effective_date": "2026-01-01", "source": "test", "methodology": "test",
            "asset_classes": [{"name": "equity", "expected_return": 0.07, "volatility": 0.16},
                              {"name": "bonds", "expected_return": 0.03, "volatility": 0.05}],
            "correlation": [[1, 0.2], [0.2, 1]], "inflation": {"mean": 0.02, "volatility": 0.01}}
    r = client.post("/api/v1/cmas", json=body, headers=tenant.headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


class Worker:
    """A real ``celery worker`` subprocess (with embedded beat for the reaper)."""

    def __init__(self, env: dict, concurrency: int = 2, name: str | None = None):
        self.env = {**os.environ, **env, "PYTHONPATH": ROOT}
        self.concurrency = concurrency
        self.name = name or f"w{uuid.uuid4().hex[:6]}"
        self.proc = None
        self.log_path = os.path.join("/tmp", f"provisor-{self.name}.log")

    def output(self) -> str:
        with open(self.log_path) as f:
            return f.read()

    def start(self, beat: bool = True) -> "Worker":
        cmd = [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker", "-Q", "ingest,compute,finalize",
               "-c", str(self.concurrency), "-n", f"{self.name}@%h", "--loglevel", "INFO", "--without-gossip",
               "--without-mingle", "--pool", "prefork"]
        if beat:
            cmd += ["-B", "-s", f"/tmp/provisor-beat-{self.name}"]
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, env=self.env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited: {self.output()[-3000:]}")
            if "ready." in self.output():
                return self
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready: {self.output()[-3000:]}")

    def kill(self, sig=9) -> None:
        import signal

        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig if sig != 9 else signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        import signal

        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()


@pytest.fixture(scope="session")
def worker(database, app):
    w = Worker(worker_env(database)).start()
    yield w
    w.stop()


def wait_for(client, headers, job_id, timeout=120, statuses=("succeeded", "failed", "canceled")) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/jobs/{job_id}", headers=headers).get_json()
        if body["status"] in statuses:
            return body
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} not in {statuses} after {timeout}s: {body}")
