"""Keys: 401 without or with a bad key, 403 without the scope, 404 for another tenant's objects."""
import uuid


def _submit(client, headers):
    return client.post("/api/v1/jobs", json={"kind": "test_squares", "params": {"n": 10}}, headers=headers)


def test_missing_key_is_401_problem(client):
    r = client.get("/api/v1/jobs")
    assert r.status_code == 401
    assert r.mimetype == "application/problem+json"
    body = r.get_json()
    assert body["status"] == 401 and "missing API key" in body["detail"] and body["instance"] == "/api/v1/jobs"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_malformed_and_wrong_keys_are_401(client, tenant):
    for key in ("nonsense", "pvk_abc_def", tenant.key[:-2] + "xx"):
        r = client.get("/api/v1/jobs", headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 401, key


def test_missing_scope_is_403(client, tenant):
    read_only = tenant.new_key(["jobs:read"])
    r = _submit(client, {"Authorization": f"Bearer {read_only}"})
    assert r.status_code == 403
    assert "jobs:write" in r.get_json()["detail"]
    assert client.get("/api/v1/jobs", headers={"Authorization": f"Bearer {read_only}"}).status_code == 200


def test_revoked_key_is_401(app, client, tenant):
    from app.auth import parse_prefix
    from app.services.tenants import revoke_key

    key = tenant.new_key(["jobs:read"])
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/api/v1/jobs", headers=headers).status_code == 200
    with app.extensions["provisor.db"].session() as s:
        revoke_key(s, parse_prefix(key))
    assert client.get("/api/v1/jobs", headers=headers).status_code == 401


def test_key_is_stored_as_digest_only(app, tenant):
    from sqlalchemy import text

    with app.extensions["provisor.db"].session() as s:
        rows = s.execute(text("SELECT prefix, digest FROM api_keys WHERE tenant_id = :t"), {"t": tenant.id}).all()
    assert rows
    for prefix, digest in rows:
        assert tenant.key not in digest and len(digest) == 64


def test_other_tenants_job_is_404(client, tenant, other_tenant):
    job_id = _submit(client, tenant.headers).get_json()["id"]
    for method, path in (("get", f"/api/v1/jobs/{job_id}"), ("post", f"/api/v1/jobs/{job_id}/cancel"),
                         ("post", f"/api/v1/jobs/{job_id}/rerun"), ("get", f"/api/v1/jobs/{job_id}/result"),
                         ("get", f"/api/v1/jobs/{job_id}/rows")):
        r = getattr(client, method)(path, headers=other_tenant.headers)
        assert r.status_code == 404, (method, path, r.get_json())
    listed = client.get("/api/v1/jobs", headers=other_tenant.headers).get_json()["items"]
    assert job_id not in {j["id"] for j in listed}
    assert client.get(f"/api/v1/jobs/{uuid.uuid4()}", headers=tenant.headers).status_code == 404
    assert client.get("/api/v1/jobs/not-a-uuid", headers=tenant.headers).status_code == 404
