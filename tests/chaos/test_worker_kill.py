"""SIGKILL the worker in the middle of a multi-shard job; a new worker finishes it exactly once."""
import time

from sqlalchemy import text

from tests.conftest import REDIS, Worker, worker_env, wait_for


def test_sigkill_mid_job_gives_exact_rows(database, config, tenant):
    from app import create_app

    broker = REDIS.rsplit("/", 1)[0] + "/12"
    import redis

    redis.Redis.from_url(broker).flushdb()
    env = worker_env(database, CELERY_BROKER_URL=broker, SHARD_LEASE_S=4, REAPER_INTERVAL_S=1, RESEND_AFTER_S=6)
    api = create_app(config.with_overrides(celery_broker_url=broker))
    client = api.test_client()
    first = Worker(env, concurrency=2).start()
    try:
        with api.app_context():
            r = client.post("/api/v1/jobs", json={"kind": "test_squares",
                                                  "params": {"n": 24000, "shard_size": 1000, "sleep_s": 0.6}},
                            headers=tenant.headers)
            job_id = r.get_json()["id"]
            deadline = time.monotonic() + 60
            while client.get(f"/api/v1/jobs/{job_id}", headers=tenant.headers).get_json()["progress"][
                    "shards_done"] < 4:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        first.kill()
    finally:
        first.stop()
    second = Worker(env, concurrency=2).start()
    try:
        with api.app_context():
            final = wait_for(client, tenant.headers, job_id, timeout=120)
    finally:
        second.stop()
    assert final["status"] == "succeeded", final
    with api.extensions["provisor.db"].session() as s:
        n, distinct, total = s.execute(text(
            "SELECT count(*), count(DISTINCT item), sum(value) FROM test_results WHERE job_id = :j"),
            {"j": job_id}).one()
        attempts = s.execute(text("SELECT max(attempts) FROM job_shards WHERE job_id = :j"), {"j": job_id}).scalar()
    assert n == distinct == 24000
    assert total == sum(i * i for i in range(24000))
    assert attempts >= 1
