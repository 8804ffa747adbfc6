"""Health, readiness, metrics, deploy files."""
import os

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_healthz_and_readyz(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.get_json()["checks"] == {"database": "ok", "broker": "ok"}


def test_readyz_reports_broker_down(config):
    from app import create_app

    broken = create_app(config.with_overrides(celery_broker_url="redis://127.0.0.1:6399/0"))
    r = broken.test_client().get("/readyz")
    assert r.status_code == 503 and r.get_json()["checks"]["broker"].startswith("error")


def test_metrics_exposes_jobs_durations_and_queues(client, tenant, worker):
    from tests.conftest import wait_for

    job_id = client.post("/api/v1/jobs", json={"kind": "test_squares", "params": {"n": 10}},
                         headers=tenant.headers).get_json()["id"]
    wait_for(client, tenant.headers, job_id)
    text = client.get("/metrics").data.decode()
    assert 'provisor_jobs{kind="test_squares",status="succeeded"}' in text
    assert "provisor_job_duration_seconds_bucket" in text
    assert "provisor_shard_duration_seconds_count" in text
    assert 'provisor_queue_depth{queue="compute"}' in text


def test_request_id_is_echoed(client):
    r = client.get("/healthz", headers={"X-Request-Id": "abc123"})
    assert r.headers["X-Request-Id"] == "abc123"


def test_docker_compose_has_the_services():
    with open(os.path.join(ROOT, "docker-compose.yml")) as f:
        compose = yaml.safe_load(f)
    assert {"api", "worker", "beat", "flower", "postgres", "redis"} <= set(compose["services"])
    assert "celery" in compose["services"]["worker"]["command"]


def test_procfile_processes():
    with open(os.path.join(ROOT, "Procfile")) as f:
        names = {line.split(":", 1)[0] for line in f if line.strip()}
    assert names == {"release", "web", "worker", "beat", "flower"}


def test_celery_settings_follow_the_design(config):
    from app.celery_ext import celery_settings

    s = celery_settings(config)
    assert s["task_acks_late"] and s["task_reject_on_worker_lost"] and s["worker_prefetch_multiplier"] == 1
    assert s["task_time_limit"] < s["broker_transport_options"]["visibility_timeout"]
    assert s["broker_transport_options"] == s["result_backend_transport_options"]
    assert s["worker_send_task_events"] and s["worker_cancel_long_running_tasks_on_connection_loss"]


def test_partitions_are_created_ahead(app):
    from sqlalchemy import text

    from app.persistence import partitions

    db = app.extensions["provisor.db"]
    with db.session() as s:
        created = partitions.ensure_ahead(s, months_ahead=2)
        assert any(c.startswith("audit_events@") for c in created)
        nxt = partitions.add_months(partitions.month_of(), 2)
        name = f"audit_events_{nxt:%Y_%m}"
        assert s.execute(text("SELECT to_regclass(:n)"), {"n": name}).scalar() == name
