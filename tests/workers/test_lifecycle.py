"""Cancel, failure, rerun, audit trail, outbox recovery — through a real worker."""
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.conftest import wait_for


def submit(client, headers, **params):
    body = {"kind": "test_squares", "params": {"n": 3000, "shard_size": 1000, **params}}
    r = client.post("/api/v1/jobs", json=body, headers=headers)
    assert r.status_code == 202, r.get_json()
    return r.get_json()["id"]


def test_cancel_running_job(client, tenant, worker):
    job_id = submit(client, tenant.headers, n=8000, sleep_s=3)
    wait_for(client, tenant.headers, job_id, statuses=("running",))
    r = client.post(f"/api/v1/jobs/{job_id}/cancel", headers=tenant.headers)
    assert r.status_code == 202 and r.get_json()["status"] in ("canceling", "canceled")
    final = wait_for(client, tenant.headers, job_id, timeout=60)
    assert final["status"] == "canceled"
    assert final["progress"]["shards_done"] < final["progress"]["shards_total"]


def test_cancel_twice_and_after_success_is_harmless(client, tenant, worker):
    job_id = submit(client, tenant.headers, n=10)
    wait_for(client, tenant.headers, job_id)
    r = client.post(f"/api/v1/jobs/{job_id}/cancel", headers=tenant.headers)
    assert r.get_json()["status"] == "succeeded"


def test_failing_shard_fails_job_with_reason(client, tenant, worker):
    job_id = submit(client, tenant.headers, fail_item=1500)
    final = wait_for(client, tenant.headers, job_id)
    assert final["status"] == "failed"
    assert "item 1500 is poisoned" in final["error"]["message"]


def test_rerun_reproduces_hash(client, tenant, worker):
    job_id = submit(client, tenant.headers, n=2000)
    first = wait_for(client, tenant.headers, job_id)
    r = client.post(f"/api/v1/jobs/{job_id}/rerun", headers=tenant.headers)
    assert r.status_code == 202
    again = wait_for(client, tenant.headers, r.get_json()["id"])
    assert again["result_sha256"] == first["result_sha256"]
    assert again["rerun_of"] == job_id and again["rerun_hash_matched"] is True
    assert again["seed"] == first["seed"] and again["input_sha256"] == first["input_sha256"]


def test_audit_trail_of_a_job(client, tenant, worker):
    job_id = submit(client, tenant.headers, n=10)
    wait_for(client, tenant.headers, job_id)
    events = client.get(f"/api/v1/audit-events?entity_id={job_id}", headers=tenant.headers).get_json()["items"]
    assert [e["action"] for e in events] == ["job.submitted", "job.started", "job.succeeded"]
    submitted = events[0]
    assert submitted["actor"]["type"] == "api_key" and submitted["request_id"] and submitted["user_agent"]
    assert events[2]["before"]["status"] == "running" and events[2]["after"]["status"] == "succeeded"


def test_audit_events_are_append_only(app, tenant):
    db = app.extensions["provisor.db"]
    for sql in ("UPDATE audit_events SET action = 'x' WHERE tenant_id = :t",
                "DELETE FROM audit_events WHERE tenant_id = :t"):
        with pytest.raises(DBAPIError):
            with db.session() as s:
                s.execute(text(sql), {"t": tenant.id})


def test_audit_append_only_even_for_the_owner(database, tenant):
    """The trigger holds even for the migration role (the app role has no UPDATE right at all)."""
    from sqlalchemy import create_engine, pool

    eng = create_engine(database[0], poolclass=pool.NullPool)
    with pytest.raises(DBAPIError, match="append-only"):
        with eng.begin() as c:
            c.execute(text("UPDATE audit_events SET action = 'x' WHERE tenant_id = :t"), {"t": tenant.id})
    eng.dispose()


def test_audit_chain_verifies_and_detects_tampering(app, database, tenant):
    """Even the owner, who can switch the trigger off, cannot rewrite history unnoticed."""
    from sqlalchemy import create_engine, pool

    from app import audit

    with app.extensions["provisor.db"].session() as s:
        assert audit.verify(s, tenant.id) == []
    owner = create_engine(database[0], poolclass=pool.NullPool)

    def rewrite(action):
        with owner.begin() as c:
            c.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
            c.execute(text("UPDATE audit_events SET after = CAST(:a AS jsonb) WHERE tenant_id = :t "
                           "AND action = 'tenant.created'"), {"a": action, "t": tenant.id})
            c.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only"))

    with owner.connect() as c:
        original = c.execute(text("SELECT after::text FROM audit_events WHERE tenant_id = :t AND "
                                  "action = 'tenant.created'"), {"t": tenant.id}).scalar()
    rewrite('{"code": "forged"}')
    try:
        with app.extensions["provisor.db"].session() as s:
            problems = audit.verify(s, tenant.id)
        assert len(problems) == 1 and "hash mismatch" in problems[0]
    finally:
        rewrite(original)
        owner.dispose()


def test_committed_job_runs_once_broker_is_back(database, config, client, tenant, worker):
    """The API commits while its broker is unreachable; the reaper relays the outbox row later."""
    from app import create_app

    broken = create_app(config.with_overrides(celery_broker_url="redis://127.0.0.1:6399/11"))
    with broken.app_context():
        r = broken.test_client().post("/api/v1/jobs", json={"kind": "test_squares", "params": {"n": 100}},
                                      headers=tenant.headers)
    assert r.status_code == 202
    job_id = r.get_json()["id"]
    with broken.extensions["provisor.db"].session() as s:
        unsent = s.execute(text("SELECT count(*) FROM outbox WHERE sent_at IS NULL AND args->>0 = :j"),
                           {"j": job_id}).scalar()
    assert unsent == 1
    final = wait_for(client, tenant.headers, job_id, timeout=60)
    assert final["status"] == "succeeded"
