"""The ``provisor`` console script: admin commands on the database, client commands over real HTTP."""
import json
import os
import subprocess
import sys
import threading

import pytest
from werkzeug.serving import make_server

from tests.conftest import ROOT, worker_env
from workers.demo import generate_loans


@pytest.fixture(scope="module")
def server(app):
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()


def provisor(env, *args, check=True):
    proc = subprocess.run([sys.executable, "-m", "workers.cli", *args], cwd=ROOT, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=300)
    if check and proc.returncode:
        raise AssertionError(f"provisor {' '.join(args)} → {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_admin_and_client_commands(database, server, worker, tmp_path):
    env = worker_env(database)
    code = f"cli{os.getpid()}"
    assert code in provisor(env, "tenants", "create", code, "--name", "CLI Bank").stdout
    out = provisor(env, "keys", "create", "--tenant", code, "--scopes",
                   "jobs:read,jobs:write,portfolios:read,portfolios:write").stdout
    key = out.strip().splitlines()[-1]
    assert key.startswith("pvk_")
    client = {**env, "PROVISOR_URL": server, "PROVISOR_API_KEY": key}

    loans = tmp_path / "loans.csv"
    generate_loans(300).to_csv(loans, index=False)
    up = provisor(client, "upload", "loans", str(loans))
    report = json.loads(up.stdout)
    assert report["status"] == "succeeded" and report["report"]["rows"] == 300
    assert "upload" in up.stderr  # the progress bar

    params = tmp_path / "ecl.json"
    params.write_text(json.dumps({"shard_size": 100}))
    sub = provisor(client, "submit", "ecl", "--portfolio", report["portfolio_id"], "--params", str(params), "--wait")
    assert "shard" in sub.stderr  # progress bar over shards
    job = json.loads(sub.stdout[: sub.stdout.index("\n}\n") + 2])
    assert job["status"] == "succeeded" and job["progress"]["shards_total"] == 3
    assert '"total_ecl"' in sub.stdout

    status = json.loads(provisor(client, "status", job["id"]).stdout)
    assert status["result_sha256"] == job["result_sha256"]
    rows = tmp_path / "rows.csv"
    provisor(client, "results", job["id"], "--csv", str(rows))
    lines = rows.read_text().strip().splitlines()
    assert lines[0].startswith("loan_id,segment,stage") and len(lines) == 301

    bad = provisor(client, "submit", "ecl", "--portfolio", "00000000-0000-0000-0000-000000000000", check=False)
    assert bad.returncode != 0 and "404" in bad.stderr + bad.stdout
    revoke = key.split("_")[1]
    provisor(env, "keys", "revoke", revoke)
    denied = provisor(client, "status", job["id"], check=False)
    assert denied.returncode != 0 and "401" in denied.stderr + denied.stdout


def test_audit_verify_command(database, app):
    env = worker_env(database)
    out = provisor(env, "audit", "verify")
    assert "audit chain intact" in out.stdout
