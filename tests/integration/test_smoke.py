from tests.conftest import wait_for


def test_job_runs_end_to_end(client, tenant, worker):
    r = client.post("/api/v1/jobs", json={"kind": "test_squares", "params": {"n": 2500, "shard_size": 1000}},
                    headers=tenant.headers)
    assert r.status_code == 202, r.get_json()
    job = wait_for(client, tenant.headers, r.get_json()["id"])
    assert job["status"] == "succeeded", job
    assert job["progress"]["shards_total"] == 3
