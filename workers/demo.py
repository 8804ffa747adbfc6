"""``provisor demo``: the main jobs end to end through the real API.

With no DATABASE_URL / CELERY_BROKER_URL it runs on the embedded PostgreSQL and the local
executor; with them set it uses those servers and starts a Celery worker of its own.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import numpy as np
import pandas as pd


def generate_loans(n: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    pd_12m = np.clip(rng.lognormal(np.log(0.02), 0.9, n), 0.0005, 0.6)
    orig = np.clip(pd_12m / rng.uniform(0.6, 3.5, n), 0.0003, 0.5)
    dpd = rng.choice([0, 0, 0, 0, 0, 0, 10, 35, 95], n)
    return pd.DataFrame({
        "loan_id": [f"L{i:07d}" for i in range(n)],
        "segment": rng.choice(["mortgage", "consumer", "sme"], n, p=[0.5, 0.3, 0.2]),
        "ead": np.round(rng.lognormal(np.log(80_000), 0.8, n), 2),
        "undrawn": np.round(rng.choice([0.0, 5_000.0, 20_000.0], n, p=[0.7, 0.2, 0.1]), 2),
        "ccf": rng.choice([0.0, 0.5, 0.75], n),
        "pd_12m": pd_12m, "pd_12m_origination": orig,
        "lgd": np.round(rng.uniform(0.1, 0.6, n), 4),
        "eir": np.round(rng.uniform(0.01, 0.12, n), 4),
        "remaining_term_months": rng.integers(1, 361, n),
        "amortization": rng.choice(["annuity", "linear", "bullet"], n, p=[0.7, 0.2, 0.1]),
        "days_past_due": dpd,
        "default_flag": rng.random(n) < 0.01, "watchlist": rng.random(n) < 0.03, "forborne": rng.random(n) < 0.01,
    })


def generate_policies(n: int, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    term = rng.choice([10, 15, 20], n)
    return pd.DataFrame({
        "policy_id": [f"P{i:07d}" for i in range(n)],
        "issue_age": rng.integers(20, 59, n), "sex": rng.choice(["M", "F"], n),
        "policy_term_years": term, "policy_count": np.round(rng.uniform(1, 100, n), 0),
        "sum_assured": np.round(rng.uniform(10_000, 1_000_000, n), -3),
        "duration_months": rng.integers(0, 12 * term), "monthly_premium": np.round(rng.uniform(20, 400, n), 2),
        "product": rng.choice(["term_level", "term_plus"], n), "issue_year": 2026 - rng.integers(0, 10, n),
    })


class Api:
    def __init__(self, app, key: str):
        self.client, self.headers = app.test_client(), {"Authorization": f"Bearer {key}"}

    def call(self, method, path, **kw):
        r = getattr(self.client, method)(path, headers={**self.headers, **kw.pop("headers", {})}, **kw)
        if r.status_code >= 400:
            raise SystemExit(f"{method.upper()} {path} → {r.status_code}: {r.get_data(as_text=True)[:3000]}")
        return r.get_json()

    def upload(self, kind: str, frame: pd.DataFrame, name: str) -> str:
        pid = self.call("post", "/api/v1/portfolios", json={"kind": kind, "name": name})["id"]
        body = frame.to_csv(index=False).encode()
        u = self.call("post", f"/api/v1/portfolios/{pid}/uploads?filename={name}.csv", data=body,
                      headers={"Content-Type": "text/csv"})
        while u["status"] not in ("succeeded", "failed"):
            time.sleep(0.3)
            u = self.call("get", u["links"]["self"])
        if u["status"] != "succeeded":
            raise SystemExit(f"upload rejected: {u['report']}")
        print(f"  uploaded {u['report']['rows']:,} {kind} rows ({len(body) / 1e6:.1f} MB)")
        return pid

    def run(self, body: dict) -> dict:
        from workers.cli import poll

        job = self.call("post", "/api/v1/jobs", json=body)
        job = poll(lambda: self.call("get", f"/api/v1/jobs/{job['id']}"), interval=0.3)
        if job["status"] != "succeeded":
            raise SystemExit(f"job {job['id']} {job['status']}: {job.get('error')}")
        secs = (pd.Timestamp(job["finished_at"]) - pd.Timestamp(job["created_at"])).total_seconds()
        print(f"  job {job['id']} succeeded in {secs:.1f}s, {job['progress']['shards_total']} shard(s), "
              f"result_sha256 {job['result_sha256'][:16]}…")
        return self.call("get", f"/api/v1/jobs/{job['id']}/result")["summary"]


def demo_ecl(api: Api, n: int) -> None:
    print(f"\n== IFRS 9 ECL on {n:,} generated loans ==")
    pid = api.upload("loans", generate_loans(n), "demo-loans")
    s = api.run({"kind": "ecl", "portfolio_id": pid, "params": {"scenarios": [
        {"name": "base", "weight": 0.5, "pd_multiplier": 1.0, "lgd_multiplier": 1.0},
        {"name": "upside", "weight": 0.2, "pd_multiplier": 0.8, "lgd_multiplier": 0.9},
        {"name": "downside", "weight": 0.3, "pd_multiplier": 1.5, "lgd_multiplier": 1.2}]}})
    print(f"  {'stage':>5} {'count':>9} {'exposure':>18} {'ecl':>16} {'coverage':>9}")
    for stage, row in sorted(s["by_stage"].items()):
        print(f"  {stage:>5} {row['count']:>9,} {row['exposure']:>18,.2f} {row['ecl']:>16,.2f} "
              f"{row['coverage']:>9.4%}")
    print(f"  {'total':>5} {'':>9} {s['total_exposure']:>18,.2f} {s['total_ecl']:>16,.2f} {s['coverage']:>9.4%}")


def demo_bel(api: Api, n: int) -> None:
    print(f"\n== Life BEL (term_monthly) on {n:,} generated policies ==")
    pid = api.upload("policies", generate_policies(n), "demo-policies")
    s = api.run({"kind": "bel", "portfolio_id": pid, "params": {"model": "term_monthly"}})
    totals = s.get("totals", s)
    for k in ("pv_premiums", "pv_claims", "pv_expenses", "pv_commissions", "bel"):
        if k in totals:
            print(f"  {k:>15}: {totals[k]:>20,.2f}")


def demo_montecarlo(api: Api) -> None:
    print("\n== Monte Carlo retirement plan ==")
    cma = api.call("post", "/api/v1/cmas", json={
        "name": "demo house view", "effective_date": "2026-01-01", "source": "demo", "methodology": "illustrative",
        "asset_classes": [{"name": "equity", "expected_return": 0.07, "volatility": 0.16},
                          {"name": "bonds", "expected_return": 0.03, "volatility": 0.05}],
        "correlation": [[1, 0.2], [0.2, 1]], "inflation": {"mean": 0.025, "volatility": 0.01}})
    s = api.run({"kind": "montecarlo", "seed": 42, "params": {
        "cma_id": cma["id"], "weights": {"equity": 0.6, "bonds": 0.4}, "fee_annual": 0.005, "steps_per_year": 12,
        "n_paths": 100_000, "plan": {"start_age": 40, "horizon_years": 40, "initial_wealth": 250_000, "goal": 0,
                                     "cash_flows": [
                                         {"type": "contribution", "amount_annual": 20_000, "start_year": 0,
                                          "end_year": 25, "indexed": True},
                                         {"type": "withdrawal", "amount_annual": 60_000, "start_year": 25,
                                          "end_year": 40, "indexed": True}]}}})
    lo, hi = s["success_interval"]
    print(f"  success probability {s['success_probability']:.2%} (95% interval {lo:.2%}–{hi:.2%})")
    median = s["percentiles"]["p50"]
    print("  median wealth by year: " + ", ".join(f"y{y}: {v:,.0f}" for y, v in enumerate(median) if y % 5 == 4))


def _migrate_servers() -> None:
    """With servers configured, bring the schema to head and use the non-superuser app role."""
    from app.config import Config
    from app.db import app_role_url, normalise_url
    from app.dbsetup import upgrade

    cfg = Config.from_env()
    admin = normalise_url(cfg.database_admin_url or cfg.database_url)
    upgrade(admin, cfg.app_db_role)
    if not os.environ.get("DATABASE_ADMIN_URL"):
        os.environ["DATABASE_ADMIN_URL"] = admin
        os.environ["DATABASE_URL"] = app_role_url(admin, cfg.app_db_role)


def _start_worker(celery) -> subprocess.Popen:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker", "-B",
                             "-Q", "ingest,compute,finalize", "-c", "2", "--loglevel", "WARNING",
                             "-s", "/tmp/provisor-demo-beat"], cwd=root, start_new_session=True)
    deadline = time.monotonic() + 60
    while not celery.control.ping(timeout=1.0):  # answers once it consumes
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the Celery worker did not start")
    return proc


def main(args) -> int:
    from app import create_app
    from app.services.tenants import create_key, create_tenant

    os.environ.setdefault("LOG_LEVEL", "WARNING")  # the demo prints its own story
    if os.environ.get("DATABASE_URL"):
        _migrate_servers()
    app = create_app()
    cfg = app.extensions["provisor.config"]
    mode = "PostgreSQL + Redis + Celery worker" if cfg.uses_celery else "embedded PostgreSQL + local executor"
    print(f"Provisor demo on {mode}")
    with app.app_context():
        with app.extensions["provisor.db"].session() as s:
            tenant = create_tenant(s, f"demo-{uuid.uuid4().hex[:8]}", "Demo tenant")
            _, key = create_key(s, tenant, ["jobs:read", "jobs:write", "portfolios:read", "portfolios:write",
                                            "audit:read"])
        api = Api(app, key)
        if cfg.uses_celery:
            runner, stop = _start_worker(app.extensions["celery"]), None
        else:
            from workers.executors import LocalExecutor

            runner, stop = None, LocalExecutor(app).start()
        try:
            demo_ecl(api, args.loans)
            demo_bel(api, args.policies)
            demo_montecarlo(api)
        finally:
            if stop is not None:
                stop.stop()
            if runner is not None:
                import signal

                os.killpg(runner.pid, signal.SIGTERM)
                runner.wait(timeout=60)
    print("\nDemo finished.")
    return 0
