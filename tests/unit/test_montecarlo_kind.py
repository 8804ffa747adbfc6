"""Job kind ``montecarlo`` driven through small in-memory contexts (no database)."""
import json
import math
from dataclasses import dataclass

import numpy as np
import pytest
from marshmallow import ValidationError

from workers.engines import montecarlo as mc
from workers.kinds import montecarlo as kind
from workers.kinds.base import InputError, NextRound, ShardOutput
from workers.kinds.cma import CMASchema, PortfolioModelSchema
from workers.kinds.registry import get

CMA = {"name": "2026 house view", "effective_date": "2026-01-01", "source": "test", "methodology": "test",
       "asset_classes": [{"name": "equity", "expected_return": 0.07, "volatility": 0.16},
                         {"name": "bonds", "expected_return": 0.035, "volatility": 0.06},
                         {"name": "cash", "expected_return": 0.02, "volatility": 0.01}],
       "correlation": [[1, 0.2, 0.0], [0.2, 1, 0.1], [0.0, 0.1, 1]],
       "inflation": {"mean": 0.025, "volatility": 0.01}}
MODEL6 = {"name": "balanced", "risk_level": 6, "weights": {"equity": 0.6, "bonds": 0.4}, "fee_annual": 0.007}


class Resources:
    def __init__(self):
        self.store = {("cma", "c1"): {"id": "c1", "type": "cma", "name": CMA["name"], "version": 3,
                                      "content": CMA, "sha256": "ab" * 32}}
        self.models = [{"id": "m6", "type": "portfolio_model", "name": "balanced", "version": 1,
                        "content": MODEL6, "sha256": "cd" * 32}]

    def get(self, resource_type, resource_id):
        try:
            return self.store[(resource_type, resource_id)]
        except KeyError:
            raise InputError(f"{resource_type} {resource_id} not found", {"params.cma_id": ["not found"]})

    def find(self, resource_type, key, value):
        hits = [m for m in self.models if m["content"].get(key) == value]
        if not hits:
            raise InputError("no such model", {"params.risk_level": ["no portfolio model"]})
        return hits[-1]


@dataclass
class PlanCtx:
    params: dict
    seed: int
    n_items: int = 0
    default_shard_size: int = 1000


@dataclass
class ShardCtx:
    params: dict
    spec: dict
    seed: int
    shard_no: int = 0
    job_id: str = "job"
    cancel: bool = False

    def load_items(self, start, stop):
        raise AssertionError("montecarlo takes no input items")

    def cancelled(self):
        return self.cancel


@dataclass
class FinalCtx:
    params: dict
    seed: int
    partials: list
    job_id: str = "job"
    portfolio_id: str | None = None

    def read_rows(self, columns, job_id=None):
        raise AssertionError("no rows")

    def previous_job_id(self):
        return None

    def publish(self, resource_type, name, content):
        raise AssertionError("nothing to publish")


def request(**over):
    body = {"cma_id": "c1", "weights": {"equity": 0.6, "bonds": 0.4}, "fee_annual": 0.005,
            "steps_per_year": 12, "n_paths": 3 * mc.BLOCK_PATHS + 100,
            "plan": {"start_age": 40, "horizon_years": 6, "initial_wealth": 250000, "goal": 100000,
                     "cash_flows": [{"type": "contribution", "amount_annual": 20000, "start_year": 0,
                                     "end_year": 2, "indexed": True},
                                    {"type": "withdrawal", "amount_annual": 90000, "start_year": 2,
                                     "end_year": 6, "indexed": True}]},
            "confidence_level": 0.95, "shard_blocks": None}
    body.update(over)
    return body


def run_job(body, seed=42, shard_blocks=None):
    params = kind.MonteCarloParamsSchema().load(body)
    params = kind.prepare(params, Resources(), None)
    if shard_blocks is not None:
        params["shard_blocks"] = shard_blocks
    specs = kind.plan(PlanCtx(params, seed))
    partials, todo = [], list(specs)
    while True:  # as the core does: finalize may ask for another round of shards
        for spec in todo:
            out = kind.run_shard(ShardCtx(params, spec, seed, shard_no=len(partials)))
            assert isinstance(out, ShardOutput) and out.rows is None
            partials.append(json.loads(json.dumps(out.partial, allow_nan=False)))  # plain JSON only
        result = kind.finalize(FinalCtx(params, seed, partials))
        if not isinstance(result, NextRound):
            return specs, result
        todo = result.specs


def test_registered():
    k = get("montecarlo")
    assert k is kind.KIND and k.input_kind is None and k.result_table is None and k.prepare is kind.prepare


def test_summary_is_identical_for_any_shard_layout_and_rerun():
    specs1, one = run_job(request(n_paths=13 * 1000 + 5 * mc.BLOCK_PATHS), shard_blocks=100)
    specs13, many = run_job(request(n_paths=13 * 1000 + 5 * mc.BLOCK_PATHS), shard_blocks=1)
    assert len(specs1) == 1 and len(specs13) == 7
    _, again = run_job(request(n_paths=13 * 1000 + 5 * mc.BLOCK_PATHS), shard_blocks=3)
    a = json.dumps(one, sort_keys=True, allow_nan=False)
    assert a == json.dumps(many, sort_keys=True, allow_nan=False) == json.dumps(again, sort_keys=True)


def test_thirteen_shards_equal_one():
    body = request(n_paths=13 * mc.BLOCK_PATHS, steps_per_year=1)
    specs_a, a = run_job(body, shard_blocks=13)
    specs_b, b = run_job(body, shard_blocks=1)
    assert (len(specs_a), len(specs_b)) == (1, 13)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    _, c = run_job(body, seed=43, shard_blocks=13)
    assert c["terminal"]["mean"] != a["terminal"]["mean"]


def test_summary_agrees_with_the_paths_it_summarises():
    body = request()
    _, s = run_job(body, shard_blocks=2)
    params = kind.prepare(kind.MonteCarloParamsSchema().load(body), Resources(), None)
    paths = mc.simulate_paths(kind.plan_model(params), 42, body["n_paths"])
    term, goal = paths.terminal, 100000.0
    ok = (paths.depletion_step < 0) & (term >= goal)
    assert s["n_paths"] == body["n_paths"] and s["success_count"] == int(ok.sum())
    assert s["success_probability"] == ok.mean()
    lo, hi = s["success_interval"]
    assert lo < s["success_probability"] < hi
    assert s["terminal"]["mean"] == pytest.approx(term.mean(), rel=1e-13)
    assert s["terminal"]["std"] == pytest.approx(term.std(ddof=1), rel=1e-10)
    assert s["expected_shortfall"] == pytest.approx(np.maximum(goal - term, 0).mean(), rel=1e-12)
    assert s["percentile_method"]["max_relative_error"] == 0.0  # refined: exact, like np.quantile
    for y in range(6):
        for i, q in enumerate(mc.PERCENTILE_LEVELS):
            key = f"p{round(q * 100)}"
            assert s["percentiles"][key][y] == float(np.quantile(paths.wealth[:, y], q))
            assert s["real_percentiles"][key][y] == float(np.quantile(paths.wealth_real[:, y], q))
    dep = paths.depletion_step[paths.depletion_step >= 0]
    ages = 40 + dep // 12
    assert s["depletion_ages"]["n_depleted"] == dep.size > 0
    assert s["depletion_ages"]["counts"] == {str(a): int(c) for a, c in zip(*np.unique(ages, return_counts=True))}
    assert s["depletion_ages"]["n_failed"] == body["n_paths"] - s["success_count"]
    assert s["years"] == [1, 2, 3, 4, 5, 6] and s["ages"] == [41, 42, 43, 44, 45, 46]
    assert s["cma"] == {"id": "c1", "name": CMA["name"], "version": 3, "sha256": "ab" * 32}


def test_risk_level_resolves_the_stored_model_and_its_fee():
    body = request(risk_level=6, fee_annual=None)
    del body["weights"]
    params = kind.prepare(kind.MonteCarloParamsSchema().load(body), Resources(), None)
    r = params["resolved"]
    assert r["weights"] == {"equity": 0.6, "bonds": 0.4} and r["fee_annual"] == 0.007
    assert r["portfolio_model"]["id"] == "m6" and r["portfolio_model"]["sha256"] == "cd" * 32
    with pytest.raises(InputError):
        body["risk_level"] = 3
        kind.prepare(kind.MonteCarloParamsSchema().load(body), Resources(), None)


def test_weights_must_name_cma_assets():
    params = kind.MonteCarloParamsSchema().load(request(weights={"equity": 0.5, "gold": 0.5}))
    with pytest.raises(InputError) as exc:
        kind.prepare(params, Resources(), None)
    assert list(exc.value.errors) == ["params.weights.gold"]


def test_client_cannot_smuggle_a_resolved_cma():
    params = kind.MonteCarloParamsSchema().load(request(resolved={"weights": {"x": 1.0}}))
    assert kind.prepare(params, Resources(), None)["resolved"]["weights"] == {"equity": 0.6, "bonds": 0.4}


@pytest.mark.parametrize("change, field", [
    ({"weights": {"equity": 0.6, "bonds": 0.3}}, "weights"),
    ({"risk_level": 6}, "weights"),
    ({"steps_per_year": 4}, "steps_per_year"),
    ({"n_paths": 10_000_001}, "n_paths"),
    ({"confidence_level": 1.0}, "confidence_level"),
])
def test_params_schema_rejects(change, field):
    with pytest.raises(ValidationError) as exc:
        kind.MonteCarloParamsSchema().load(request(**change))
    assert field in exc.value.messages


def test_cash_flow_must_end_within_horizon():
    body = request()
    body["plan"]["cash_flows"][1]["end_year"] = 7
    with pytest.raises(ValidationError) as exc:
        kind.MonteCarloParamsSchema().load(body)
    assert exc.value.messages["plan"]["cash_flows"][1]["end_year"]


def test_cma_schema_names_correlation_problems():
    bad = dict(CMA, correlation=[[1, 0.2, 0.3], [0.2, 1, 0.1], [0.2, 0.1, 1]])
    with pytest.raises(ValidationError) as exc:
        CMASchema().load(bad)
    assert exc.value.messages["correlation"] == ["correlation[0][2] != correlation[2][0] (0.3 vs 0.2)"]
    with pytest.raises(ValidationError) as exc:
        CMASchema().load(dict(CMA, correlation=[[1, 0], [0, 1]]))
    assert "2 rows but there are 3" in exc.value.messages["correlation"][0]
    with pytest.raises(ValidationError) as exc:
        CMASchema().load(dict(CMA, asset_classes=[dict(CMA["asset_classes"][0], volatility=-0.1)] * 3))
    assert "asset_classes" in exc.value.messages
    assert CMASchema().load(CMA)["effective_date"] == "2026-01-01"


def test_portfolio_model_weights_sum_to_one():
    assert PortfolioModelSchema().load({"name": "m", "weights": {"a": 0.1, "b": 0.2, "c": 0.7}})["risk_level"] is None
    with pytest.raises(ValidationError) as exc:
        PortfolioModelSchema().load({"name": "m", "weights": {"a": 0.5, "b": 0.5 + 2e-9}})
    assert "sum to 1" in exc.value.messages["weights"][0]
    with pytest.raises(ValidationError):
        PortfolioModelSchema().load({"name": "m", "risk_level": 11, "weights": {"a": 1.0}})


def test_cancelled_shard_stops_early():
    params = kind.prepare(kind.MonteCarloParamsSchema().load(request()), Resources(), None)
    out = kind.run_shard(ShardCtx(params, {"block_start": 0, "block_stop": 4}, 42, cancel=True))
    assert out.partial == {"cancelled": True}


def test_missing_shard_is_detected():
    body = request(steps_per_year=1)
    params = kind.prepare(kind.MonteCarloParamsSchema().load(body), Resources(), None)
    params["shard_blocks"] = 1
    specs = kind.plan(PlanCtx(params, 1))
    partials = [kind.run_shard(ShardCtx(params, sp, 1)).partial for sp in specs[:-1]]
    with pytest.raises(InputError, match="missing"):
        kind.finalize(FinalCtx(params, 1, partials))


def test_default_plan_sizes_shards_by_work():
    params = kind.prepare(kind.MonteCarloParamsSchema().load(request(n_paths=10_000_000)), Resources(), None)
    params["plan"]["horizon_years"] = 40
    specs = kind.plan(PlanCtx(params, 1))
    assert specs[0]["block_start"] == 0 and specs[-1]["block_stop"] == math.ceil(10_000_000 / mc.BLOCK_PATHS)
    assert all(a["block_stop"] == b["block_start"] for a, b in zip(specs, specs[1:]))


def test_single_block_jobs_report_exact_percentiles():
    body = request(n_paths=3000, steps_per_year=1)
    _, s = run_job(body, shard_blocks=5)
    params = kind.prepare(kind.MonteCarloParamsSchema().load(body), Resources(), None)
    paths = mc.simulate_paths(kind.plan_model(params), 42, 3000)
    assert s["percentile_method"]["max_relative_error"] == 0.0
    for i, q in enumerate(mc.PERCENTILE_LEVELS):
        key = f"p{round(q * 100)}"
        assert s["percentiles"][key] == [float(np.quantile(paths.wealth[:, y], q)) for y in range(6)]
        assert s["real_percentiles"][key][-1] == float(np.quantile(paths.wealth_real[:, -1], q))
        assert s["terminal"][key] == s["percentiles"][key][-1]


def test_very_large_runs_use_the_histogram_within_its_bound(monkeypatch):
    """Above EXACT_MAX_PATHS one round and a histogram: relative error at most 2^-(m+1)."""
    monkeypatch.setattr(kind, "EXACT_MAX_PATHS", 0)
    body = request(n_paths=3 * 8192 + 5, steps_per_year=12)
    specs, s = run_job(body, shard_blocks=2)
    params = kind.prepare(kind.MonteCarloParamsSchema().load(body), Resources(), None)
    paths = mc.simulate_paths(kind.plan_model(params), 42, body["n_paths"])
    bound = s["percentile_method"]["max_relative_error"]
    assert bound == 2.0 ** -(kind.HIST_MANTISSA_BITS + 1) and s["percentile_method"]["mantissa_bits"]
    for y in range(paths.wealth.shape[1]):
        exact = np.quantile(paths.wealth[:, y], mc.PERCENTILE_LEVELS)
        for i, q in enumerate(mc.PERCENTILE_LEVELS):
            assert abs(s["percentiles"][f"p{round(q * 100)}"][y] - exact[i]) <= bound * exact[i] + 1e-300


def test_order_statistics_follow_numpy_exactly():
    rng = np.random.default_rng(3)
    for n in (2, 3, 17, 8193, 100_003):
        values = rng.lognormal(10, 1, n)
        b, c = np.unique(mc.hist_bucket(values, kind.HIST_MANTISSA_BITS), return_counts=True)
        got = kind._exact_from_refined((b, c), values, n, mc.PERCENTILE_LEVELS)
        assert got == [float(v) for v in np.quantile(values, mc.PERCENTILE_LEVELS)]
