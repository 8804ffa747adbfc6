"""Job kind ``ecl`` (workers/kinds/ecl.py) through small in-memory contexts.

The contexts below implement the Protocols of ``workers.kinds.base`` over a
DataFrame and a dict of stored result rows; they stand in for the core, not for
the database semantics under test.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import marshmallow
import numpy as np
import pandas as pd
import pytest

from workers.kinds import ecl as K
from workers.kinds import registry
from workers.kinds.base import InputError, shard_ranges
from workers.portfolios.frames import coerce
from workers.portfolios.loans import LOANS

# ----------------------------------------------------------------- contexts


@dataclass
class PlanCtx:
    params: dict
    n_items: int
    seed: int | None = None
    default_shard_size: int = 50_000


@dataclass
class ShardCtx:
    job_id: str
    shard_no: int
    spec: dict
    params: dict
    items: pd.DataFrame
    seed: int | None = None
    cancel: bool = False
    loads: list = field(default_factory=list)

    def load_items(self, start: int, stop: int) -> pd.DataFrame:
        self.loads.append((start, stop))
        return self.items.iloc[start:stop].reset_index(drop=True)

    def cancelled(self) -> bool:
        return self.cancel


@dataclass
class FinalizeCtx:
    job_id: str
    params: dict
    partials: list
    portfolio_id: str | None
    store: dict
    previous: str | None = None
    seed: int | None = None

    def read_rows(self, columns, job_id=None):
        return self.store[job_id or self.job_id][columns].copy()

    def previous_job_id(self):
        return self.previous

    def publish(self, resource_type, name, content):  # pragma: no cover - ecl publishes nothing
        raise AssertionError("ecl must not publish resources")


def run_job(loans: pd.DataFrame, params: dict | None = None, *, job_id: str = "job-1", store=None,
            previous: str | None = None, portfolio_id: str | None = "pf-1", default_shard_size: int = 50_000):
    params = K.KIND.params_schema().load(params or {})
    store = {} if store is None else store
    specs = K.KIND.plan(PlanCtx(params=params, n_items=len(loans), default_shard_size=default_shard_size))
    outputs = [K.KIND.run_shard(ShardCtx(job_id, i, spec, params, loans)) for i, spec in enumerate(specs)]
    rows = pd.concat([o.rows for o in outputs], ignore_index=True)
    store[job_id] = rows
    # The core stores partials as JSON: go through it so nothing non-JSON slips in.
    partials = [json.loads(json.dumps(o.partial, allow_nan=False)) for o in outputs]
    summary = K.KIND.finalize(FinalizeCtx(job_id, params, partials, portfolio_id, store, previous))
    return specs, rows, summary


def make_loans(n: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    pd_orig = rng.uniform(0.001, 0.05, n)
    df = pd.DataFrame({
        "loan_id": [f"L{i:05d}" for i in range(n)],
        "segment": rng.choice(["retail", "sme", "corporate"], n),
        "ead": rng.lognormal(10, 1.5, n),
        "undrawn": np.where(rng.random(n) < 0.3, rng.uniform(0, 5e4, n), 0.0),
        "ccf": rng.uniform(0, 1, n),
        "pd_12m": np.clip(pd_orig * rng.lognormal(0, 0.8, n), 0, 1),
        "pd_12m_origination": np.where(rng.random(n) < 0.8, pd_orig, np.nan),
        "lgd": rng.uniform(0.05, 0.9, n),
        "eir": rng.uniform(0, 0.2, n),
        "remaining_term_months": rng.integers(1, 361, n),
        "amortization": rng.choice(["bullet", "linear", "annuity"], n),
        "days_past_due": rng.choice([0, 0, 0, 15, 31, 60, 95], n),
        "default_flag": rng.random(n) < 0.03,
        "watchlist": rng.random(n) < 0.05,
        "forborne": rng.random(n) < 0.02,
        "stage_override": np.where(rng.random(n) < 0.02, rng.integers(1, 4, n), np.nan),
    })
    return coerce(LOANS, df)


def loans_from(records: list[dict]) -> pd.DataFrame:
    defaults = {f.name: f.default for f in LOANS.fields if f.default is not None}
    base = {"pd_12m": 0.02, "lgd": 0.5, "eir": 0.0, "remaining_term_months": 12, "amortization": "bullet"}
    return coerce(LOANS, pd.DataFrame([{**defaults, **base, **r} for r in records]))


def plain_json(value) -> bool:
    if isinstance(value, dict):
        return all(type(k) is str and plain_json(v) for k, v in value.items())
    if isinstance(value, list):
        return all(plain_json(v) for v in value)
    if type(value) is float:
        return math.isfinite(value)
    return value is None or type(value) in (int, str, bool)


SCENARIOS = [
    {"name": "base", "weight": 0.5, "pd_multiplier": 1.0, "lgd_multiplier": 1.0},
    {"name": "upside", "weight": 0.2, "pd_multiplier": 0.7, "lgd_multiplier": 0.9},
    {"name": "downside", "weight": 0.3, "pd_multiplier": 1.8, "lgd_multiplier": 1.25},
]


# -------------------------------------------------------------- registration


def test_kind_is_registered_with_its_contract():
    assert registry.get("ecl") is K.KIND
    kind = K.KIND
    assert kind.input_kind == "loans" and kind.input_required is True
    assert kind.max_inline_items == 10_000
    assert kind.result_table.name == "ecl_results"
    assert [(c.name, c.sql_type) for c in kind.result_table.columns] == [
        ("loan_id", "text"), ("segment", "text"), ("stage", "int2"), ("stage_reason", "text"),
        ("exposure", "float8"), ("ecl_12m", "float8"), ("ecl_lifetime", "float8"), ("ecl", "float8"),
        ("coverage", "float8"), ("pd_lifetime", "float8"),
    ]
    assert "10 000" in (kind.params_schema.__doc__ or "")


# -------------------------------------------------------------------- params


def test_default_params():
    params = K.EclParamsSchema().load({})
    assert params["scenarios"] == [{"name": "base", "weight": 1.0, "pd_multiplier": 1.0, "lgd_multiplier": 1.0}]
    assert params["sicr"] == {"dpd_stage2": 30, "dpd_stage3": 90, "relative_pd_threshold": 2.0,
                              "absolute_pd_threshold": 0.005, "low_credit_risk_pd": None}
    assert params["compliance"] == {"min_stage3_coverage": 0.60}
    assert params["shard_size"] is None


def test_weights_may_miss_one_by_less_than_1e9():
    ok = [{"name": "a", "weight": 0.5}, {"name": "b", "weight": 0.5 + 5e-10}]
    assert len(K.EclParamsSchema().load({"scenarios": ok})["scenarios"]) == 2


@pytest.mark.parametrize(("params", "path"), [
    ({"scenarios": [{"name": "a", "weight": 0.5}]}, ("scenarios",)),
    ({"scenarios": [{"name": "a", "weight": 0.5}, {"name": "b", "weight": 0.5 + 2e-9}]}, ("scenarios",)),
    ({"scenarios": [{"name": "a", "weight": 0.5}, {"name": "a", "weight": 0.5}]}, ("scenarios",)),
    ({"scenarios": []}, ("scenarios",)),
    ({"scenarios": [{"name": "a", "weight": 0.0}, {"name": "b", "weight": 1.0}]}, ("scenarios", 0, "weight")),
    ({"scenarios": [{"name": "a", "weight": 1.0, "pd_multiplier": -0.1}]}, ("scenarios", 0, "pd_multiplier")),
    ({"scenarios": [{"name": "a", "weight": 1.0, "lgd_multiplier": -1}]}, ("scenarios", 0, "lgd_multiplier")),
    ({"scenarios": [{"weight": 1.0}]}, ("scenarios", 0, "name")),
    ({"sicr": {"dpd_stage2": -1}}, ("sicr", "dpd_stage2")),
    ({"sicr": {"dpd_stage2": 100}}, ("sicr", "dpd_stage3")),
    ({"sicr": {"relative_pd_threshold": 0.5}}, ("sicr", "relative_pd_threshold")),
    ({"sicr": {"absolute_pd_threshold": 1.5}}, ("sicr", "absolute_pd_threshold")),
    ({"sicr": {"low_credit_risk_pd": -0.1}}, ("sicr", "low_credit_risk_pd")),
    ({"compliance": {"min_stage3_coverage": 1.2}}, ("compliance", "min_stage3_coverage")),
    ({"shard_size": 0}, ("shard_size",)),
    ({"shard_size": "many"}, ("shard_size",)),
    ({"stress": True}, ("stress",)),
])
def test_schema_errors_name_the_field(params, path):
    with pytest.raises(marshmallow.ValidationError) as info:
        K.EclParamsSchema().load(params)
    node = info.value.messages
    for key in path:
        assert key in node, (path, info.value.messages)
        node = node[key]


# ----------------------------------------------------------------- planning


def test_plan_uses_shard_size_or_default():
    params = K.EclParamsSchema().load({"shard_size": 30})
    assert K.plan(PlanCtx(params, 100)) == shard_ranges(100, 30)
    params = K.EclParamsSchema().load({})
    assert K.plan(PlanCtx(params, 100, default_shard_size=64)) == [{"start": 0, "stop": 64}, {"start": 64, "stop": 100}]
    assert K.plan(PlanCtx(params, 0)) == []


# --------------------------------------------------------------- run + summary


def test_rows_and_summary_by_hand():
    # eir = 0, bullet, T = 12: ECL_12m = LGD * ead * pd (sum of marginal PDs over a year is p).
    loans = loans_from([
        {"loan_id": "A", "segment": "retail", "ead": 1000.0, "pd_12m": 0.02, "lgd": 0.5},
        {"loan_id": "B", "segment": "retail", "ead": 400.0, "undrawn": 200.0, "ccf": 0.5, "watchlist": True,
         "pd_12m": 0.1, "lgd": 0.25},
        {"loan_id": "C", "segment": "sme", "ead": 300.0, "default_flag": True, "lgd": 0.4},
    ])
    _, rows, summary = run_job(loans, {"compliance": {"min_stage3_coverage": 0.5}})
    assert rows["loan_id"].tolist() == ["A", "B", "C"]
    assert rows["stage"].tolist() == [1, 2, 3] and rows["stage"].dtype == np.int16
    assert rows["stage_reason"].tolist() == ["performing", "watchlist", "default_flag"]
    assert rows["exposure"].tolist() == [1000.0, 500.0, 300.0]
    assert rows["ecl"].tolist() == pytest.approx([10.0, 12.5, 120.0], rel=1e-13)
    assert rows["coverage"].tolist() == pytest.approx([0.01, 0.025, 0.4], rel=1e-13)
    assert rows["pd_lifetime"].tolist() == pytest.approx([0.02, 0.1, 1.0], rel=1e-13)
    assert list(rows.columns) == K.RESULT_TABLE.column_names

    assert summary["total_exposure"] == 1800.0
    assert summary["total_ecl"] == pytest.approx(142.5, rel=1e-13)
    assert summary["coverage"] == pytest.approx(142.5 / 1800, rel=1e-13)
    assert summary["by_stage"]["1"] == {"count": 1, "exposure": 1000.0, "ecl": pytest.approx(10.0, rel=1e-13),
                                        "coverage": pytest.approx(0.01, rel=1e-13)}
    assert summary["by_stage"]["3"]["count"] == 1 and summary["by_stage"]["2"]["exposure"] == 500.0
    assert summary["by_segment"]["sme"]["3"]["ecl"] == pytest.approx(120.0, rel=1e-15)
    assert summary["by_segment"]["sme"]["1"] == {"count": 0, "exposure": 0.0, "ecl": 0.0, "coverage": 0.0}
    assert summary["by_segment"]["retail"]["2"]["count"] == 1
    assert summary["by_scenario"] == {"base": pytest.approx(142.5, rel=1e-13)}
    assert summary["compliance"] == [{
        "rule": "min_stage3_coverage", "passed": False, "value": pytest.approx(0.4, rel=1e-15),
        "threshold": 0.5, "message": "stage 3 coverage 40.00% is below the minimum 50.00%",
    }]
    assert summary["transitions"] is None
    assert plain_json(summary)


def test_compliance_passes_and_without_stage3():
    loans = loans_from([{"ead": 100.0, "default_flag": True, "lgd": 0.7}])
    _, _, summary = run_job(loans)
    assert summary["compliance"][0]["passed"] is True and summary["compliance"][0]["threshold"] == 0.6
    _, _, summary = run_job(loans_from([{"ead": 100.0}]))
    assert summary["compliance"][0] == {"rule": "min_stage3_coverage", "passed": True, "value": None,
                                        "threshold": 0.6, "message": "no stage 3 exposure"}
    _, _, summary = run_job(loans, {"compliance": {"min_stage3_coverage": None}})
    assert summary["compliance"] == []


def test_one_shard_and_seven_shards_agree_to_the_last_bit(monkeypatch):
    loans = make_loans(700)
    params = {"scenarios": SCENARIOS}
    specs1, rows1, sum1 = run_job(loans, {**params, "shard_size": 700})
    specs7, rows7, sum7 = run_job(loans, {**params, "shard_size": 100})
    assert len(specs1) == 1 and len(specs7) == 7
    pd.testing.assert_frame_equal(rows1, rows7, check_exact=True)
    assert sum1 == sum7
    # And with chunked shards (cancellation checks between chunks) and an uneven split.
    monkeypatch.setattr(K, "CHUNK_ROWS", 37)
    _, rows_c, sum_c = run_job(loans, {**params, "shard_size": 111})
    pd.testing.assert_frame_equal(rows1, rows_c, check_exact=True)
    assert sum_c == sum1

    # Totals are the exact fsum of the rows, whatever the layout.
    assert sum1["total_ecl"] == math.fsum(rows1["ecl"])
    assert sum1["total_exposure"] == math.fsum(rows1["exposure"])
    for st in ("1", "2", "3"):
        sel = rows1["stage"] == int(st)
        assert sum1["by_stage"][st]["count"] == int(sel.sum())
        assert sum1["by_stage"][st]["ecl"] == math.fsum(rows1.loc[sel, "ecl"])
    sel = (rows1["segment"] == "sme") & (rows1["stage"] == 2)
    assert sum1["by_segment"]["sme"]["2"]["exposure"] == math.fsum(rows1.loc[sel, "exposure"])
    assert set(sum1["by_scenario"]) == {"base", "upside", "downside"}
    # Probability weighting of the scenario totals gives back the total ECL.
    weighted = math.fsum(s["weight"] * sum1["by_scenario"][s["name"]] for s in SCENARIOS)
    assert weighted == pytest.approx(sum1["total_ecl"], rel=1e-12)
    assert sum1["by_scenario"]["downside"] > sum1["by_scenario"]["base"] > sum1["by_scenario"]["upside"]
    assert plain_json(sum1)


def test_shard_loads_only_its_range_in_chunks(monkeypatch):
    monkeypatch.setattr(K, "CHUNK_ROWS", 4)
    loans = make_loans(30)
    params = K.EclParamsSchema().load({})
    ctx = ShardCtx("j", 1, {"start": 10, "stop": 21}, params, loans)
    out = K.run_shard(ctx)
    assert ctx.loads == [(10, 14), (14, 18), (18, 21)]
    assert out.rows["loan_id"].tolist() == loans["loan_id"].iloc[10:21].tolist()
    assert out.partial["n_loans"] == 11 and out.partial["cancelled"] is False


def test_cancelled_shard_stops_early():
    params = K.EclParamsSchema().load({})
    out = K.run_shard(ShardCtx("j", 0, {"start": 0, "stop": 10}, params, make_loans(10), cancel=True))
    assert out.partial["cancelled"] is True and out.partial["n_loans"] == 0
    assert list(out.rows.columns) == K.RESULT_TABLE.column_names and len(out.rows) == 0


def test_transition_matrix_against_previous_job():
    store: dict = {}
    before = loans_from([
        {"loan_id": "A", "ead": 100.0},
        {"loan_id": "B", "ead": 200.0},
        {"loan_id": "C", "ead": 300.0, "days_past_due": 45},
        {"loan_id": "D", "ead": 400.0, "default_flag": True},
        {"loan_id": "E", "ead": 500.0},
    ])
    _, _, first = run_job(before, job_id="jan", store=store)
    assert first["transitions"] is None
    after = loans_from([
        {"loan_id": "A", "ead": 90.0},                          # 1 -> 1
        {"loan_id": "B", "ead": 180.0, "days_past_due": 31},    # 1 -> 2
        {"loan_id": "C", "ead": 290.0, "days_past_due": 91},    # 2 -> 3
        {"loan_id": "D", "ead": 350.0, "stage_override": 2},    # 3 -> 2 (cured, override)
        {"loan_id": "F", "ead": 600.0},                         # new
    ])                                                          # E derecognised
    _, _, second = run_job(after, job_id="feb", store=store, previous="jan")
    tr = second["transitions"]
    assert tr["previous_job_id"] == "jan"
    assert tr["counts"] == {"1": {"1": 1, "2": 1, "3": 0}, "2": {"1": 0, "2": 0, "3": 1},
                            "3": {"1": 0, "2": 1, "3": 0}}
    assert tr["exposure"] == {"1": {"1": 90.0, "2": 180.0, "3": 0.0}, "2": {"1": 0.0, "2": 0.0, "3": 290.0},
                              "3": {"1": 0.0, "2": 350.0, "3": 0.0}}
    assert tr["new"] == {"count": 1, "exposure": 600.0}
    assert tr["derecognised"] == {"count": 1, "exposure": 500.0}
    assert plain_json(second)


def test_no_transitions_for_inline_inputs():
    store: dict = {}
    loans = loans_from([{"loan_id": "A", "ead": 1.0}])
    run_job(loans, job_id="a", store=store)
    _, _, summary = run_job(loans, job_id="b", store=store, previous="a", portfolio_id=None)
    assert summary["transitions"] is None


def test_steps_accept_params_without_defaults():
    # The core hands back stored params; a copy without defaults must mean the same thing.
    loans = make_loans(5)
    full = K.EclParamsSchema().load({})
    assert K.EclParamsSchema().load(full) == full
    a = K.run_shard(ShardCtx("j", 0, {"start": 0, "stop": 5}, {}, loans))
    b = K.run_shard(ShardCtx("j", 0, {"start": 0, "stop": 5}, full, loans))
    pd.testing.assert_frame_equal(a.rows, b.rows, check_exact=True)
    assert a.partial == b.partial


def test_bad_loan_data_is_an_input_error():
    loans = make_loans(3)
    loans.loc[1, "amortization"] = "balloon"
    with pytest.raises(InputError, match="amortization") as info:
        K.run_shard(ShardCtx("j", 0, {"start": 0, "stop": 3}, {}, loans))
    assert "inputs.loans" in info.value.errors
