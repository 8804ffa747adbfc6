"""The job API contract of DESIGN.md §3 (with a real worker behind it)."""
import threading

from sqlalchemy import text

from tests.conftest import wait_for


def submit(client, headers, n=3000, shard_size=1000, **extra):
    body = {"kind": "test_squares", "params": {"n": n, "shard_size": shard_size, **extra}}
    return client.post("/api/v1/jobs", json=body, headers=headers)


def test_submit_answers_202_with_location_and_retry_after(client, tenant):
    r = submit(client, tenant.headers)
    assert r.status_code == 202
    body = r.get_json()
    assert r.headers["Location"] == f"/api/v1/jobs/{body['id']}"
    assert int(r.headers["Retry-After"]) >= 1
    assert body["status"] == "queued" and body["kind"] == "test_squares"
    assert len(body["input_sha256"]) == 64 and body["seed"] is not None and body["engine_version"] == "test-1"


def test_status_progress_etag_and_result(client, tenant, worker):
    job_id = submit(client, tenant.headers).get_json()["id"]
    done = wait_for(client, tenant.headers, job_id)
    assert done["status"] == "succeeded"
    assert done["progress"] == {"shards_done": 3, "shards_total": 3, "percent": 100.0}
    assert done["started_at"] and done["finished_at"] and len(done["result_sha256"]) == 64
    r = client.get(f"/api/v1/jobs/{job_id}", headers=tenant.headers)
    assert "Retry-After" not in r.headers
    again = client.get(f"/api/v1/jobs/{job_id}", headers={**tenant.headers, "If-None-Match": r.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    result = client.get(f"/api/v1/jobs/{job_id}/result", headers=tenant.headers).get_json()
    assert result["summary"] == {"count": 3000, "sum": float(sum(i * i for i in range(3000)))}


def test_result_is_409_until_succeeded(client, tenant):
    job_id = submit(client, tenant.headers, n=10, sleep_s=5).get_json()["id"]
    r = client.get(f"/api/v1/jobs/{job_id}/result", headers=tenant.headers)
    assert r.status_code == 409 and r.mimetype == "application/problem+json"
    client.post(f"/api/v1/jobs/{job_id}/cancel", headers=tenant.headers)


def test_rows_pages_and_csv(client, tenant, worker):
    job_id = submit(client, tenant.headers, n=2500).get_json()["id"]
    wait_for(client, tenant.headers, job_id)
    items, cursor = [], None
    while True:
        url = f"/api/v1/jobs/{job_id}/rows?limit=700" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=tenant.headers).get_json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert [row["item"] for row in items] == list(range(2500))
    assert all(row["value"] == float(row["item"]) ** 2 for row in items)
    csv = client.get(f"/api/v1/jobs/{job_id}/rows", headers={**tenant.headers, "Accept": "text/csv"})
    lines = csv.data.decode().strip().split("\n")
    assert lines[0] == "item,value" and len(lines) == 2501 and lines[2] == "1,1"
    parquet = client.get(f"/api/v1/jobs/{job_id}/rows?format=parquet", headers=tenant.headers)
    assert parquet.data[:4] == b"PAR1"


def test_list_keyset_pagination_and_filters(client, tenant):
    ids = [submit(client, tenant.headers, n=5, sleep_s=0).get_json()["id"] for _ in range(5)]
    seen, cursor = [], None
    while True:
        page = client.get("/api/v1/jobs?limit=2" + (f"&cursor={cursor}" if cursor else ""),
                          headers=tenant.headers).get_json()
        seen += [j["id"] for j in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))
    assert client.get("/api/v1/jobs?kind=nope", headers=tenant.headers).get_json()["items"] == []
    bad = client.get("/api/v1/jobs?cursor=garbage", headers=tenant.headers)
    assert bad.status_code == 422 and "cursor" in bad.get_json()["errors"]
    assert client.get("/api/v1/jobs?status=bogus", headers=tenant.headers).status_code == 422


def test_validation_errors_name_the_field(client, tenant):
    r = client.post("/api/v1/jobs", json={"kind": "nope"}, headers=tenant.headers)
    assert r.status_code == 422 and "kind" in r.get_json()["errors"]
    r = client.post("/api/v1/jobs", json={"kind": "test_squares", "params": {"n": -1}}, headers=tenant.headers)
    assert r.status_code == 422 and "params.n" in r.get_json()["errors"]
    r = client.post("/api/v1/jobs", json={"params": {}}, headers=tenant.headers)
    assert r.status_code == 422 and "kind" in r.get_json()["errors"]
    r = client.post("/api/v1/jobs", data="{not json", headers={**tenant.headers, "Content-Type": "application/json"})
    assert 400 <= r.status_code < 500 and r.mimetype == "application/problem+json"
    r = client.post("/api/v1/jobs", json={"kind": "test_squares", "params": {"n": 3}, "seed": "x"},
                    headers=tenant.headers)
    assert r.status_code == 422 and "seed" in r.get_json()["errors"]


def test_idempotency_key(client, tenant, app):
    h = {**tenant.headers, "Idempotency-Key": "abc-1"}
    first = submit(client, h, n=7)
    assert first.status_code == 202
    replay = submit(client, h, n=7)
    assert replay.status_code == 200 and replay.get_json()["id"] == first.get_json()["id"]
    different = submit(client, h, n=8)
    assert different.status_code == 422 and "Idempotency-Key" in different.get_json()["errors"]
    # In flight: another transaction holds the key's lock (as a concurrent first request would).
    db = app.extensions["provisor.db"]
    holder = db.engine.connect()
    tx = holder.begin()
    holder.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"idem:{tenant.id}:abc-2"})
    try:
        busy = submit(client, {**tenant.headers, "Idempotency-Key": "abc-2"}, n=7)
        assert busy.status_code == 409 and busy.headers["Retry-After"]
    finally:
        tx.rollback()
        holder.close()
    assert submit(client, {**tenant.headers, "Idempotency-Key": "abc-2"}, n=7).status_code == 202


def test_prefer_wait_returns_final_body(client, tenant, worker):
    r = client.post("/api/v1/jobs", json={"kind": "test_squares", "params": {"n": 50, "shard_size": 50}},
                    headers={**tenant.headers, "Prefer": "wait=20"})
    assert r.status_code == 200 and r.get_json()["status"] == "succeeded"


def test_method_not_allowed_keeps_allow(client, tenant):
    r = client.delete("/api/v1/jobs", headers=tenant.headers)
    assert r.status_code == 405 and "GET" in r.headers["Allow"] and r.mimetype == "application/problem+json"


def test_oversized_json_body_is_413(client, tenant, config):
    big = "x" * (config.max_request_bytes + 10)
    r = client.post("/api/v1/jobs", data=big, headers={**tenant.headers, "Content-Type": "application/json"})
    assert r.status_code == 413 and r.mimetype == "application/problem+json"


def test_openapi_declares_problem_responses(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    post = spec["paths"]["/api/v1/jobs"]["post"]
    assert "application/problem+json" in post["responses"]["422"]["content"]
    assert "application/problem+json" in post["responses"]["401"]["content"]
    for path in ("/api/v1/jobs/{job_id}", "/api/v1/jobs/{job_id}/rows", "/api/v1/portfolios",
                 "/api/v1/audit-events", "/api/v1/cmas"):
        assert path in spec["paths"], path
    assert client.get("/api/docs").status_code == 200


def test_concurrent_submissions_with_one_key_make_one_job(client, tenant, app):
    results = []

    def go():
        c = app.test_client()
        results.append(submit(c, {**tenant.headers, "Idempotency-Key": "race"}, n=9))

    threads = [threading.Thread(target=go) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = {r.get_json().get("id") for r in results if r.status_code in (200, 202)}
    assert len(ids) == 1
    assert all(r.status_code in (200, 202, 409) for r in results)
