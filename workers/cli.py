"""``provisor``: administration (db, tenants, keys, audit), the HTTP client, and the demo."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time


def _app():
    from app import create_app

    return create_app()


def _admin_url(app) -> str:
    from app.db import normalise_url

    cfg = app.extensions["provisor.config"]
    return app.extensions.get("provisor.admin_url") or normalise_url(cfg.database_admin_url or cfg.database_url)


# ---------------------------------------------------------------- administration


def cmd_db_upgrade(args) -> int:
    from app.config import Config
    from app.db import embedded_url, normalise_url
    from app.dbsetup import upgrade

    cfg = Config.from_env()
    admin = normalise_url(cfg.database_admin_url or cfg.database_url) if cfg.database_url else embedded_url(
        cfg.embedded_data_dir)
    upgrade(admin, cfg.app_db_role)
    print("database at head; app role", cfg.app_db_role, "granted")
    return 0


def cmd_tenants_create(args) -> int:
    from app.services.tenants import create_tenant

    app = _app()
    with app.app_context(), app.extensions["provisor.db"].session() as s:
        t = create_tenant(s, args.code, args.name or args.code)
        print(f"tenant {t.code} {t.id}")
    return 0


def cmd_keys_create(args) -> int:
    from app.services.tenants import create_key, tenant_by_code

    app = _app()
    with app.app_context(), app.extensions["provisor.db"].session() as s:
        k, key = create_key(s, tenant_by_code(s, args.tenant), [x.strip() for x in args.scopes.split(",") if x],
                            args.name)
        print(f"key {k.prefix} for tenant {args.tenant} scopes {','.join(k.scopes)} (shown once)")
        print(key)
    return 0


def cmd_keys_revoke(args) -> int:
    from app.services.tenants import revoke_key

    app = _app()
    with app.app_context(), app.extensions["provisor.db"].session() as s:
        revoke_key(s, args.prefix)
    print(f"key {args.prefix} revoked")
    return 0


def cmd_audit_verify(args) -> int:
    from app import audit

    app = _app()
    with app.app_context(), app.extensions["provisor.db"].session() as s:
        problems = audit.verify(s)
    for p in problems:
        print(p)
    print("audit chain intact" if not problems else f"{len(problems)} problem(s)")
    return 0 if not problems else 1


# ---------------------------------------------------------------- HTTP client


class Client:
    def __init__(self, url: str, key: str):
        import requests

        self.url, self.http = url.rstrip("/"), requests.Session()
        self.http.headers["Authorization"] = f"Bearer {key}"

    def call(self, method: str, path: str, **kw):
        r = self.http.request(method, self.url + path, timeout=kw.pop("timeout", 60), **kw)
        if r.status_code >= 400:
            try:
                problem = r.json()
                detail = f"{problem.get('title')}: {problem.get('detail')}"
                if problem.get("errors"):
                    detail += "\n" + json.dumps(problem["errors"], indent=2)[:4000]
            except ValueError:
                detail = r.text[:2000]
            raise SystemExit(f"error {r.status_code}: {detail}")
        return r


def _client(args) -> Client:
    url = args.url or os.environ.get("PROVISOR_URL", "http://127.0.0.1:8000")
    key = args.key or os.environ.get("PROVISOR_API_KEY")
    if not key:
        raise SystemExit("no API key: pass --key or set PROVISOR_API_KEY")
    return Client(url, key)


def poll(get_status, *, interval: float = 0.5, show_progress: bool = True) -> dict:
    """Poll until terminal, with a progress bar over shards."""
    from tqdm import tqdm

    bar = None
    try:
        while True:
            job = get_status()
            p = job["progress"]
            if show_progress and p["shards_total"]:
                if bar is None:
                    bar = tqdm(total=p["shards_total"], unit="shard", desc=f"{job['kind']} {job['id'][:8]}",
                               file=sys.stderr)
                bar.update(p["shards_done"] - bar.n)
            if job["status"] in ("succeeded", "failed", "canceled"):
                return job
            time.sleep(interval)
    finally:
        if bar is not None:
            bar.close()


def cmd_submit(args) -> int:
    c = _client(args)
    body = {"kind": args.kind, "params": json.load(open(args.params)) if args.params else {}}
    if args.portfolio:
        body["portfolio_id"] = args.portfolio
    if args.inputs:
        body["inputs"] = json.load(open(args.inputs))
    if args.seed is not None:
        body["seed"] = args.seed
    job = c.call("POST", "/api/v1/jobs", json=body).json()
    print(f"job {job['id']} {job['status']}", file=sys.stderr)
    if not args.wait:
        print(json.dumps(job, indent=2))
        return 0
    job = poll(lambda: c.call("GET", f"/api/v1/jobs/{job['id']}").json())
    print(json.dumps(job, indent=2))
    if job["status"] == "succeeded":
        print(json.dumps(c.call("GET", f"/api/v1/jobs/{job['id']}/result").json()["summary"], indent=2)[:20000])
    return 0 if job["status"] == "succeeded" else 1


def cmd_status(args) -> int:
    print(json.dumps(_client(args).call("GET", f"/api/v1/jobs/{args.job_id}").json(), indent=2))
    return 0


def cmd_results(args) -> int:
    c = _client(args)
    if args.csv:
        r = c.call("GET", f"/api/v1/jobs/{args.job_id}/rows", headers={"Accept": "text/csv"}, stream=True,
                   timeout=600)
        with open(args.csv, "wb") as f:
            for chunk in r.iter_content(1 << 20):
                f.write(chunk)
        print(f"rows written to {args.csv}", file=sys.stderr)
    print(json.dumps(c.call("GET", f"/api/v1/jobs/{args.job_id}/result").json(), indent=2))
    return 0


def cmd_upload(args) -> int:
    from tqdm import tqdm

    c = _client(args)
    pid = args.portfolio or c.call("POST", "/api/v1/portfolios", json={
        "kind": args.kind, "name": args.name or os.path.basename(args.file)}).json()["id"]
    size = os.path.getsize(args.file)
    with open(args.file, "rb") as f, tqdm(total=size, unit="B", unit_scale=True, desc="upload",
                                          file=sys.stderr) as bar:
        def chunks():
            while data := f.read(1 << 20):
                bar.update(len(data))
                yield data

        u = c.call("POST", f"/api/v1/portfolios/{pid}/uploads?filename={os.path.basename(args.file)}",
                   data=chunks(), headers={"Content-Type": "application/octet-stream"}, timeout=3600).json()
    while u["status"] not in ("succeeded", "failed"):
        time.sleep(0.5)
        u = c.call("GET", u["links"]["self"]).json()
    print(json.dumps({"portfolio_id": pid, **u}, indent=2))
    return 0 if u["status"] == "succeeded" else 1


# ---------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="provisor", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    def client_args(sp):
        sp.add_argument("--url", help="API base URL (env PROVISOR_URL)")
        sp.add_argument("--key", help="API key (env PROVISOR_API_KEY)")

    demo = sub.add_parser("demo", help="run the main jobs end to end")
    demo.add_argument("--loans", type=int, default=100_000)
    demo.add_argument("--policies", type=int, default=20_000)
    demo.set_defaults(fn=lambda a: __import__("workers.demo", fromlist=["main"]).main(a))

    db = sub.add_parser("db").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="run migrations and grant the app role").set_defaults(fn=cmd_db_upgrade)

    tenants = sub.add_parser("tenants").add_subparsers(dest="tenants_command", required=True)
    tc = tenants.add_parser("create")
    tc.add_argument("code")
    tc.add_argument("--name")
    tc.set_defaults(fn=cmd_tenants_create)

    keys = sub.add_parser("keys").add_subparsers(dest="keys_command", required=True)
    kc = keys.add_parser("create", help="print a new key once, on the last line")
    kc.add_argument("--tenant", required=True)
    kc.add_argument("--scopes", required=True, help="comma-separated, e.g. jobs:read,jobs:write")
    kc.add_argument("--name")
    kc.set_defaults(fn=cmd_keys_create)
    kr = keys.add_parser("revoke")
    kr.add_argument("prefix")
    kr.set_defaults(fn=cmd_keys_revoke)

    audit = sub.add_parser("audit").add_subparsers(dest="audit_command", required=True)
    audit.add_parser("verify", help="recompute the audit hash chains").set_defaults(fn=cmd_audit_verify)

    s = sub.add_parser("submit", help="submit a job; --wait shows progress and prints the summary")
    s.add_argument("kind")
    s.add_argument("--params")
    s.add_argument("--inputs")
    s.add_argument("--portfolio")
    s.add_argument("--seed", type=int)
    s.add_argument("--wait", action="store_true")
    client_args(s)
    s.set_defaults(fn=cmd_submit)

    st = sub.add_parser("status")
    st.add_argument("job_id")
    client_args(st)
    st.set_defaults(fn=cmd_status)

    r = sub.add_parser("results")
    r.add_argument("job_id")
    r.add_argument("--csv", help="write all rows to this file")
    client_args(r)
    r.set_defaults(fn=cmd_results)

    u = sub.add_parser("upload", help="stream a CSV/XLSX/Parquet file into a portfolio")
    u.add_argument("kind", choices=["loans", "policies", "mortality_data"])
    u.add_argument("file")
    u.add_argument("--portfolio")
    u.add_argument("--name")
    client_args(u)
    u.set_defaults(fn=cmd_upload)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.fn(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
