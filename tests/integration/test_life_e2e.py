"""Life, Solvency II, IFRS 17 and portfolio models through the API and a real worker."""
import numpy as np

from tests.integration.test_kinds_e2e import _mc_body, _records, run
from workers.demo import generate_policies


def _mortality_data(ages=range(55, 90), years=range(1980, 2011), seed=0):
    """Deaths simulated from a Lee–Carter surface with a known falling k_t."""
    rng = np.random.default_rng(seed)
    ages, years = np.array(list(ages)), np.array(list(years))
    a = -10 + 0.09 * ages
    b = np.full(len(ages), 1 / len(ages))
    k = np.linspace(15, -15, len(years))
    out = []
    for j, year in enumerate(years):
        m = np.exp(a + b * k[j])
        exposure = rng.uniform(20_000, 40_000, len(ages))
        deaths = rng.poisson(m * exposure)
        out += [{"age": int(x), "year": int(year), "deaths": float(d), "exposure": float(e)}
                for x, d, e in zip(ages, deaths, exposure)]
    return out


def test_mortality_publishes_a_basis_that_bel_uses(client, tenant, worker):
    job = run(client, tenant.headers, {"kind": "mortality", "inputs": {"mortality_data": _mortality_data()},
                                       "params": {"ages": [55, 89], "years": [1980, 2010], "model": "lee_carter",
                                                  "projection": {"horizon": 10}, "publish_basis": True,
                                                  "basis_name": "LC 2020"}})
    summary = client.get(f"/api/v1/jobs/{job['id']}/result", headers=tenant.headers).get_json()["summary"]
    assert summary["drift"] < 0 and summary["variance_explained"] > 0.9
    basis = client.get(f"/api/v1/assumptions/{summary['basis_id']}", headers=tenant.headers).get_json()
    assert basis["type"] == "mortality_basis" and basis["meta"]["source_job"] == job["id"]
    policies = _records(generate_policies(50, seed=2).assign(issue_age=60, policy_term_years=10, duration_months=0))
    bel = run(client, tenant.headers, {"kind": "bel", "inputs": {"policies": policies},
                                       "params": {"mortality": {"basis_id": summary["basis_id"]}}})
    assert bel["status"] == "succeeded"
    too_old = [dict(policies[0], issue_age=85, policy_term_years=20)]
    r = client.post("/api/v1/jobs", json={"kind": "bel", "inputs": {"policies": too_old},
                                          "params": {"mortality": {"basis_id": summary["basis_id"]}}},
                    headers=tenant.headers)
    assert r.status_code == 422 and too_old[0]["policy_id"] in str(r.get_json()["errors"])


def test_uploaded_assumption_sets_are_versioned(client, tenant):
    body = {"type": "lapse", "name": "house lapse", "content": {"rates": [0.1, 0.05]}}
    first = client.post("/api/v1/assumptions", json=body, headers=tenant.headers).get_json()
    second = client.post("/api/v1/assumptions", json=body, headers=tenant.headers).get_json()
    assert (first["version"], second["version"]) == (1, 2) and first["sha256"] == second["sha256"]
    csv = "age,0,1,2\n40,0.001,0.0012,0.0015\n41,0.0011,0.0013,0.0016\n"
    r = client.post("/api/v1/assumptions", json={"type": "mortality_basis", "name": "select",
                                                 "content": {"csv": csv}}, headers=tenant.headers)
    assert r.status_code == 201 and r.get_json()["content"]["select_period"] == 2


def test_scr_and_ifrs17_jobs(client, tenant, worker):
    policies = _records(generate_policies(400, seed=4))
    scr = run(client, tenant.headers, {"kind": "scr", "inputs": {"policies": policies},
                                       "params": {"own_funds": 5e8, "shard_size": 150}})
    s = client.get(f"/api/v1/jobs/{scr['id']}/result", headers=tenant.headers).get_json()["summary"]
    assert s["scr"] > 0 and s["solvency_ratio"] == s["own_funds"] / s["scr"]
    assert {"mortality", "lapse", "catastrophe", "scr_life"} <= set(s["life"]) and "tree" in s
    rows = client.get(f"/api/v1/jobs/{scr['id']}/rows?limit=5", headers=tenant.headers).get_json()["items"]
    assert {"bel", "bel_mortality", "bel_interest_up"} <= set(rows[0])
    ifrs = run(client, tenant.headers, {"kind": "ifrs17", "seed": 7, "inputs": {"policies": policies},
                                        "params": {"valuation_year": 2026}})
    summary = client.get(f"/api/v1/jobs/{ifrs['id']}/result", headers=tenant.headers).get_json()["summary"]
    assert summary["groups"] and "totals" in summary


def test_bad_user_matrix_is_422_naming_the_problem(client, tenant):
    bad = np.eye(7).tolist()
    bad[0][1] = 0.5  # not symmetric
    r = client.post("/api/v1/jobs", json={"kind": "scr", "inputs": {"policies": _records(generate_policies(3))},
                                          "params": {"own_funds": 1e6, "overrides": {"correlation_life": bad}}},
                    headers=tenant.headers)
    assert r.status_code == 422, r.get_json()
    assert "correlation_life" in str(r.get_json()["errors"]) and "[0][1]" in str(r.get_json()["errors"])


def test_montecarlo_by_risk_level(client, tenant, worker, cma):
    r = client.post("/api/v1/portfolio-models", json={"name": "balanced", "risk_level": 6,
                                                      "weights": {"equity": 0.6, "bonds": 0.4}},
                    headers=tenant.headers)
    assert r.status_code == 201, r.get_json()
    bad = client.post("/api/v1/portfolio-models", json={"name": "x", "weights": {"equity": 0.6, "bonds": 0.3}},
                      headers=tenant.headers)
    assert bad.status_code == 422 and "weights" in bad.get_json()["errors"]
    body = _mc_body(cma["id"], None)
    body["params"].pop("weights")
    body["params"]["risk_level"] = 6
    body["params"]["n_paths"] = 8192
    job = run(client, tenant.headers, body)
    summary = client.get(f"/api/v1/jobs/{job['id']}/result", headers=tenant.headers).get_json()["summary"]
    assert summary["weights"] == {"equity": 0.6, "bonds": 0.4}
    assert 0 <= summary["success_interval"][0] <= summary["success_probability"] <= summary["success_interval"][1]


def test_bel_uses_a_stored_expense_set(client, tenant, worker):
    stored = client.post("/api/v1/assumptions", json={"type": "expense_set", "name": "2026 expenses", "content": {
        "expense_acquisition": 500.0, "expense_maintenance": 90.0}}, headers=tenant.headers).get_json()
    policies = _records(generate_policies(20, seed=9))
    plain = run(client, tenant.headers, {"kind": "bel", "inputs": {"policies": policies}})
    costly = run(client, tenant.headers, {"kind": "bel", "inputs": {"policies": policies},
                                          "params": {"expense_set": {"assumption_id": stored["id"]}}})
    s1 = client.get(f"/api/v1/jobs/{plain['id']}/result", headers=tenant.headers).get_json()["summary"]
    s2 = client.get(f"/api/v1/jobs/{costly['id']}/result", headers=tenant.headers).get_json()["summary"]
    assert s2["totals"]["pv_expenses"] > s1["totals"]["pv_expenses"]
    assert s2["totals"]["pv_claims"] == s1["totals"]["pv_claims"]
    assert plain["input_sha256"] != costly["input_sha256"]
    bad = client.post("/api/v1/assumptions", json={"type": "expense_set", "name": "bad", "content": {
        "expense_acquisition": "lots"}}, headers=tenant.headers).get_json()
    r = client.post("/api/v1/jobs", json={"kind": "bel", "inputs": {"policies": policies},
                                          "params": {"expense_set": {"assumption_id": bad["id"]}}},
                    headers=tenant.headers)
    assert r.status_code == 422 and "expense_set" in str(r.get_json()["errors"])
