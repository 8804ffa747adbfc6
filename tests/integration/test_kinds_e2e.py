"""Real kinds through the API and a real worker: sharding invariance, reruns, references, bad input."""
import pytest

from tests.conftest import wait_for
from workers.demo import generate_loans, generate_policies


def _records(frame):
    return frame.astype(object).where(frame.notna(), None).to_dict(orient="records")


def run(client, headers, body, expect="succeeded"):
    r = client.post("/api/v1/jobs", json=body, headers=headers)
    assert r.status_code == 202, r.get_json()
    job = wait_for(client, headers, r.get_json()["id"], timeout=180)
    assert job["status"] == expect, job
    return job


def rows(client, headers, job_id):
    return client.get(f"/api/v1/jobs/{job_id}/rows", headers={**headers, "Accept": "text/csv"}).data


def test_ecl_inline_one_vs_seven_shards_identical(client, tenant, worker):
    loans = _records(generate_loans(700, seed=3))
    one = run(client, tenant.headers, {"kind": "ecl", "inputs": {"loans": loans}, "params": {"shard_size": 700}})
    seven = run(client, tenant.headers, {"kind": "ecl", "inputs": {"loans": loans}, "params": {"shard_size": 100}})
    assert one["progress"]["shards_total"] == 1 and seven["progress"]["shards_total"] == 7
    assert rows(client, tenant.headers, one["id"]) == rows(client, tenant.headers, seven["id"])
    r1 = client.get(f"/api/v1/jobs/{one['id']}/result", headers=tenant.headers).get_json()["summary"]
    r7 = client.get(f"/api/v1/jobs/{seven['id']}/result", headers=tenant.headers).get_json()["summary"]
    assert r1 == r7
    assert sum(v["count"] for v in r1["by_stage"].values()) == 700


def test_ecl_bad_inline_loan_is_422_naming_row_and_field(client, tenant):
    loans = _records(generate_loans(3))
    loans[2]["pd_12m"] = 1.5
    r = client.post("/api/v1/jobs", json={"kind": "ecl", "inputs": {"loans": loans}}, headers=tenant.headers)
    assert r.status_code == 422
    assert any("inputs.loans.2" in k and "pd_12m" in k for k in r.get_json()["errors"]), r.get_json()


def test_ecl_scenario_weights_must_sum_to_one(client, tenant):
    r = client.post("/api/v1/jobs", json={"kind": "ecl", "inputs": {"loans": _records(generate_loans(2))},
                                          "params": {"scenarios": [
                                              {"name": "a", "weight": 0.5, "pd_multiplier": 1, "lgd_multiplier": 1},
                                              {"name": "b", "weight": 0.4, "pd_multiplier": 1, "lgd_multiplier": 1}]}},
                    headers=tenant.headers)
    assert r.status_code == 422 and any(k.startswith("params.scenarios") for k in r.get_json()["errors"])


def test_inline_inputs_over_the_cap_are_rejected(client, tenant):
    r = client.post("/api/v1/jobs", json={"kind": "ecl", "inputs": {"loans": [{}] * 10_001}}, headers=tenant.headers)
    assert r.status_code == 413 and "inputs.loans" in r.get_json()["errors"]


def test_bel_inline_and_age_outside_table(client, tenant, worker):
    policies = _records(generate_policies(300))
    job = run(client, tenant.headers, {"kind": "bel", "inputs": {"policies": policies},
                                       "params": {"model": "term_monthly", "shard_size": 100}})
    summary = client.get(f"/api/v1/jobs/{job['id']}/result", headers=tenant.headers).get_json()["summary"]
    assert summary["n_policies"] == 300
    policies[5]["issue_age"] = 125
    r = client.post("/api/v1/jobs", json={"kind": "bel", "inputs": {"policies": policies}}, headers=tenant.headers)
    assert r.status_code == 422 and any(policies[5]["policy_id"] in k for k in r.get_json()["errors"]), r.get_json()


def test_actuarial_values_rows(client, tenant, worker):
    job = run(client, tenant.headers, {"kind": "actuarial_values", "params": {
        "life_table": {"law": "makeham", "A": 0.0007, "B": 0.00005, "c": 1.0964782, "start_age": 13,
                       "terminal_age": 130}, "interest": 0.06}})
    items = client.get(f"/api/v1/jobs/{job['id']}/rows?limit=200", headers=tenant.headers).get_json()["items"]
    at = {row["age"]: row for row in items}
    # Illustrative Life Table (Bowers et al.), age 40 at 6%: ä = 14.8166, 1000 A = 161.32
    assert at[40]["a_due"] == pytest.approx(14.8166, abs=5e-4)
    assert at[40]["A"] * 1000 == pytest.approx(161.32, abs=5e-2)
    assert set(at[40]) >= {"Dx", "dx", "Nx", "Mx"} and at[40]["Dx"] != at[40]["dx"]


def test_cma_versions_and_bad_correlation(client, tenant, cma):
    again = client.post("/api/v1/cmas", json={**cma["content"]}, headers=tenant.headers).get_json()
    assert again["version"] == cma["version"] + 1 and again["id"] != cma["id"]
    bad = {**cma["content"], "correlation": [[1, 0.9], [0.2, 1]]}
    r = client.post("/api/v1/cmas", json=bad, headers=tenant.headers)
    assert r.status_code == 422
    assert any("correlation" in k for k in r.get_json()["errors"]) and "0.9" in str(r.get_json()["errors"])
    not_psd = {**cma["content"], "asset_classes": cma["content"]["asset_classes"] + [
        {"name": "gold", "expected_return": 0.02, "volatility": 0.1}],
        "correlation": [[1, 0.9, -0.9], [0.9, 1, 0.9], [-0.9, 0.9, 1]]}
    r = client.post("/api/v1/cmas", json=not_psd, headers=tenant.headers)
    assert r.status_code == 422 and "semi-definite" in str(r.get_json()["errors"])
    assert client.get(f"/api/v1/cmas/{cma['id']}", headers=tenant.headers).get_json()["content"] == cma["content"]


def _mc_body(cma_id, shard_blocks):
    return {"kind": "montecarlo", "seed": 1234, "params": {
        "cma_id": cma_id, "weights": {"equity": 0.6, "bonds": 0.4}, "fee_annual": 0.005, "steps_per_year": 12,
        "n_paths": 13 * 8192, "shard_blocks": shard_blocks,
        "plan": {"start_age": 40, "horizon_years": 10, "initial_wealth": 100000, "goal": 50000,
                 "cash_flows": [{"type": "withdrawal", "amount_annual": 8000, "start_year": 2, "end_year": 10,
                                 "indexed": True}]}}}


def test_montecarlo_hash_identical_for_1_and_13_shards_and_rerun(client, tenant, worker, cma):
    one = run(client, tenant.headers, _mc_body(cma["id"], 13))
    many = run(client, tenant.headers, _mc_body(cma["id"], 1))
    # Two rounds each: the histogram round, then the round that makes the percentiles exact.
    assert one["progress"]["shards_total"] == 2 and many["progress"]["shards_total"] == 26
    assert one["result_sha256"] == many["result_sha256"]
    summary = client.get(f"/api/v1/jobs/{one['id']}/result", headers=tenant.headers).get_json()["summary"]
    assert summary["percentile_method"]["max_relative_error"] == 0.0
    r = client.post(f"/api/v1/jobs/{many['id']}/rerun", headers=tenant.headers)
    again = wait_for(client, tenant.headers, r.get_json()["id"], timeout=180)
    assert again["result_sha256"] == many["result_sha256"] and again["rerun_hash_matched"] is True


def test_montecarlo_unknown_asset_and_missing_cma(client, tenant, cma):
    body = _mc_body(cma["id"], None)
    body["params"]["weights"] = {"equity": 0.6, "crypto": 0.4}
    r = client.post("/api/v1/jobs", json=body, headers=tenant.headers)
    assert r.status_code == 422 and "crypto" in str(r.get_json())
    body = _mc_body("00000000-0000-0000-0000-000000000000", None)
    r = client.post("/api/v1/jobs", json=body, headers=tenant.headers)
    assert r.status_code == 422 and "cma" in str(r.get_json()["errors"])


def test_other_tenant_cannot_use_my_cma(client, other_tenant, cma):
    r = client.post("/api/v1/jobs", json=_mc_body(cma["id"], None), headers=other_tenant.headers)
    assert r.status_code == 422
    assert client.get(f"/api/v1/cmas/{cma['id']}", headers=other_tenant.headers).status_code == 404
