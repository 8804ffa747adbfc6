"""Job kind ``bel`` driven through small in-memory implementations of the context protocols."""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest

from workers.engines.life.assumptions import default_term_assumptions
from workers.engines.life.cashflow import project_term_monthly
from workers.kinds import registry
from workers.kinds.base import InputError
from workers.kinds.bel import KIND, assumptions_from_params
from workers.portfolios.policies import POLICIES


def typed_policies(records: list[dict]) -> pd.DataFrame:
    """Policies typed as ShardContext.load_items returns them (defaults filled, per-field dtypes)."""
    cols = {}
    for f in POLICIES.fields:
        values = [r.get(f.name, f.default) for r in records]
        if f.dtype == "str":
            cols[f.name] = pd.Series(values, dtype=object)
        elif f.dtype == "float":
            cols[f.name] = pd.Series([np.nan if v is None else v for v in values], dtype="float64")
        elif f.nullable:
            cols[f.name] = pd.Series([np.nan if v is None else v for v in values], dtype="float64")
        else:
            cols[f.name] = pd.Series(values, dtype="int64")
    return pd.DataFrame(cols)


def make_portfolio(n: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        term = int(rng.choice([5, 10, 15, 20]))
        records.append(dict(
            policy_id=f"P{i:05d}", issue_age=int(rng.integers(20, 60)), sex=str(rng.choice(["M", "F"])),
            policy_term_years=term, policy_count=float(rng.integers(1, 50)),
            sum_assured=float(rng.integers(10, 1000)) * 1000.0, duration_months=int(rng.integers(0, 12 * term)),
            monthly_premium=float(rng.integers(20, 400)), product=str(rng.choice(["T10", "T20", "DTA"])),
            issue_year=None if i % 7 == 0 else int(2000 + rng.integers(0, 25)),
        ))
    return typed_policies(records)


class MemoryResources:
    def __init__(self, items: dict[tuple[str, str], dict]):
        self.items = items

    def get(self, resource_type: str, resource_id: str) -> dict:
        if (resource_type, resource_id) not in self.items:
            raise InputError(f"no {resource_type} {resource_id}")
        content = self.items[(resource_type, resource_id)]
        sha = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
        return {"id": resource_id, "type": resource_type, "name": resource_id, "version": 1, "content": content,
                "sha256": sha}

    def find(self, resource_type, key, value):
        raise InputError("not used")


@dataclass
class Plan:
    params: dict
    n_items: int
    default_shard_size: int
    seed: int | None = None


@dataclass
class Shard:
    params: dict
    spec: dict
    items: pd.DataFrame
    shard_no: int = 0
    job_id: str = "job-1"
    seed: int | None = None

    def load_items(self, start: int, stop: int) -> pd.DataFrame:
        return self.items.iloc[start:stop].reset_index(drop=True)

    def cancelled(self) -> bool:
        return False


@dataclass
class Finalize:
    params: dict
    partials: list[dict]
    rows: pd.DataFrame
    job_id: str = "job-1"
    seed: int | None = None
    portfolio_id: str | None = None
    published: list = field(default_factory=list)

    def read_rows(self, columns, job_id=None):
        return self.rows[columns]

    def previous_job_id(self):
        return None

    def publish(self, resource_type, name, content):
        raise AssertionError("bel publishes nothing")


def run_job(params_in: dict, items: pd.DataFrame, shard_size: int, resources=None) -> tuple[dict, pd.DataFrame]:
    params = KIND.params_schema().load(params_in)
    params = KIND.prepare(params, resources or MemoryResources({}), None)
    # The core stores params as JSON: prove they survive it and load again.
    params = KIND.params_schema().load(json.loads(json.dumps(params)))
    specs = KIND.plan(Plan(params, len(items), shard_size))
    outputs = [KIND.run_shard(Shard(params, spec, items, shard_no=k)) for k, spec in enumerate(specs)]
    partials = [json.loads(json.dumps(o.partial, allow_nan=False)) for o in outputs]
    rows = pd.concat([o.rows for o in outputs], ignore_index=True)
    summary = KIND.finalize(Finalize(params, partials, rows))
    json.dumps(summary, allow_nan=False)
    return summary, rows


def test_registered_with_contract():
    assert registry.get("bel") is KIND
    assert KIND.input_kind == "policies" and KIND.input_required
    assert KIND.result_table.name == "bel_results"
    assert KIND.result_table.column_names == [
        "policy_id", "pv_premiums", "pv_claims", "pv_expenses", "pv_commissions", "pv_net_cf", "bel"]


def test_defaults_are_recorded_and_rows_match_engine():
    items = make_portfolio(300)
    summary, rows = run_job({}, items, shard_size=1000)
    assert list(rows.columns) == KIND.result_table.column_names
    assert rows["policy_id"].tolist() == items["policy_id"].tolist()
    ref = project_term_monthly(items, default_term_assumptions())
    np.testing.assert_array_equal(rows["bel"].to_numpy(), ref.bel)
    assert summary["totals"]["bel"] == math.fsum(ref.bel)
    assert summary["totals"]["pv_net_cf"] == math.fsum(ref.pv_net_cf)
    assert summary["n_policies"] == 300 and summary["n_past_maturity"] == 0
    assert summary["assumptions"]["expense_acquisition"] == 300.0
    assert summary["assumptions"]["mortality"]["ages"] == [18, 120]


def test_summary_does_not_depend_on_shard_split():
    items = make_portfolio(257)
    one, rows_one = run_job({}, items, shard_size=1000)
    many, rows_many = run_job({}, items, shard_size=37)
    uneven, _ = run_job({"shard_size": 100}, items, shard_size=5)
    assert json.dumps(one, sort_keys=True) == json.dumps(many, sort_keys=True) == json.dumps(uneven, sort_keys=True)
    pd.testing.assert_frame_equal(rows_one, rows_many)


def test_breakdowns_add_up_and_unknown_cohort():
    items = make_portfolio(200)
    summary, rows = run_job({}, items, shard_size=64)
    total = summary["totals"]["bel"]
    for key in ("bel_by_product", "bel_by_sex", "bel_by_issue_year"):
        groups = summary[key]
        assert sum(g["n_policies"] for g in groups.values()) == 200
        assert math.fsum(g["bel"] for g in groups.values()) == pytest.approx(total, rel=1e-12, abs=1e-6)
    assert set(summary["bel_by_sex"]) <= {"M", "F"}
    assert "unknown" in summary["bel_by_issue_year"]
    dta = items["product"] == "DTA"
    assert summary["bel_by_product"]["DTA"]["bel"] == math.fsum(rows.loc[dta, "bel"])
    # Yearly cash flows: undiscounted premiums add up to the undiscounted aggregate projection.
    cf = project_term_monthly(items, default_term_assumptions(), cashflows=True).cashflows
    yearly = summary["cashflows_by_year"]
    assert len(yearly) == math.ceil(len(cf.premiums) / 12)
    assert math.fsum(y["premiums"] for y in yearly) == pytest.approx(cf.premiums.sum(), rel=1e-12)
    assert summary["inforce_by_year"][0]["inforce_start"] == pytest.approx(cf.inforce[0], rel=1e-12)


def test_references_are_resolved_and_pinned():
    mortality = {"select_period": 1, "ages": list(range(15, 100)), "rates": [[0.001, 0.002]] * 85}
    res = MemoryResources({
        ("mortality_basis", "m-1"): mortality,
        ("lapse", "l-1"): {"rates": [0.05]},
        ("discount_curve", "d-1"): {"rates": [0.02, 0.025]},
    })
    params = KIND.params_schema().load({"mortality": {"basis_id": "m-1"},
                                        "lapse_by_policy_year": {"assumption_id": "l-1"},
                                        "discount_spot_annual": {"assumption_id": "d-1"}})
    pinned = KIND.prepare(params, res, None)
    assert pinned["mortality"]["basis_id"] == "m-1" and len(pinned["mortality"]["sha256"]) == 64
    assert pinned["mortality"]["rates"][0] == [0.001, 0.002]
    assert pinned["lapse_by_policy_year"]["rates"] == [0.05]
    assert pinned["discount_spot_annual"]["rates"] == [0.02, 0.025]
    # Pinned params are stored as JSON and must validate again unchanged.
    assert KIND.params_schema().load(json.loads(json.dumps(pinned))) == pinned
    a = assumptions_from_params(pinned)
    assert a.min_age == 15 and a.select_period == 1 and a.lapse_by_policy_year.tolist() == [0.05]
    with pytest.raises(InputError):
        KIND.prepare(KIND.params_schema().load({"mortality": {"basis_id": "nope"}}), res, None)
    bad = MemoryResources({("lapse", "l-2"): {"rates": [1.5]}})
    with pytest.raises(InputError) as exc:
        KIND.prepare(KIND.params_schema().load({"lapse_by_policy_year": {"assumption_id": "l-2"}}), bad, None)
    assert "params.lapse_by_policy_year" in exc.value.errors


def test_age_outside_table_names_policies():
    mortality = {"select_period": 0, "ages": list(range(20, 60)), "rates": [[0.001]] * 40}
    items = typed_policies([
        dict(policy_id="OK", issue_age=30, policy_term_years=10, sum_assured=1e5),
        dict(policy_id="TOO-OLD", issue_age=55, policy_term_years=10, sum_assured=1e5),
    ])
    params = KIND.params_schema().load({"mortality": mortality})
    with pytest.raises(InputError) as exc:
        KIND.prepare(params, MemoryResources({}), items)
    assert "TOO-OLD" in exc.value.message and "policy TOO-OLD" in exc.value.errors
    assert "policy OK" not in exc.value.errors
    pinned = KIND.prepare(params, MemoryResources({}), None)
    with pytest.raises(InputError, match="TOO-OLD"):
        KIND.run_shard(Shard(pinned, {"start": 0, "stop": 2}, items))


def test_params_validation():
    schema = KIND.params_schema()
    import marshmallow
    for bad in ({"model": "nope"}, {"mortality": {"select_period": 1, "ages": [30, 32], "rates": [[0.1, 0.1]] * 2}},
                {"lapse_by_policy_year": []}, {"discount_spot_annual": [-1.0]}, {"expense_acquisition": -1},
                {"model": "classical"}):
        with pytest.raises(marshmallow.ValidationError):
            schema.load(bad)


def test_classical_model_fills_reserve_columns():
    """model "classical" delegates to classical_bel on the table's ultimate column and a flat rate."""
    classical = pytest.importorskip("workers.engines.life.classical")
    items = make_portfolio(20)
    summary, rows = run_job({"model": "classical", "interest": 0.03}, items, shard_size=8)
    ultimate = default_term_assumptions().q_select[:, -1].copy()
    np.testing.assert_array_equal(rows["bel"], classical.classical_bel(items, ultimate, 18, 0.03))
    np.testing.assert_array_equal(rows["pv_net_cf"], -rows["bel"])
    assert rows["pv_premiums"].isna().all() and (rows["pv_expenses"] == 0).all()
    assert summary["totals"]["pv_premiums"] is None
    assert summary["totals"]["bel"] == math.fsum(rows["bel"])
    assert summary["cashflows_by_year"] == []
