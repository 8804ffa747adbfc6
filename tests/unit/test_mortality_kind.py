"""Kind ``mortality`` run through an in-memory context (life.md C, D)."""
import json

import marshmallow as ma
import numpy as np
import pandas as pd
import pytest

from workers.kinds import mortality as mk
from workers.kinds import registry
from workers.kinds.base import InputError

AGES = np.arange(60, 80)
YEARS = np.arange(1990, 2015)


class Ctx:
    """Implements the PlanContext / ShardContext / FinalizeContext protocols in memory."""

    def __init__(self, params, items, seed=None):
        self.params = mk.MortalityParams().load(params)
        self.items = items.reset_index(drop=True)
        self.seed, self.n_items, self.default_shard_size = seed, len(items), 1000
        self.job_id, self.shard_no, self.portfolio_id = "job-1", 0, None
        self.published = []

    def load_items(self, start, stop):
        return self.items.iloc[start:stop].reset_index(drop=True)

    def cancelled(self):
        return False

    def publish(self, resource_type, name, content):
        self.published.append((resource_type, name, content))
        return f"res-{len(self.published)}"


def _truth():
    x = AGES - AGES[0]
    a = -4.6 + 0.1 * x
    b = np.linspace(1.5, 0.5, AGES.size)
    b = b / b.sum()
    rng = np.random.default_rng(11)
    k = np.linspace(12.0, -12.0, YEARS.size) + rng.normal(0.0, 0.8, YEARS.size)
    return a, b, k - k.mean()


def _items(noise=0.0, seed=3):
    a, b, k = _truth()
    rng = np.random.default_rng(seed)
    exposure = rng.uniform(2e4, 6e4, (AGES.size, YEARS.size))
    log_m = a[:, None] + b[:, None] * k[None, :] + noise * rng.standard_normal(exposure.shape)
    deaths = exposure * np.exp(log_m)
    return pd.DataFrame([{"age": int(x), "year": int(y), "deaths": float(deaths[i, j]),
                          "exposure": float(exposure[i, j])}
                         for i, x in enumerate(AGES) for j, y in enumerate(YEARS)])


def _run(params, items, seed=None):
    ctx = Ctx(params, items, seed)
    shards = mk.plan(ctx)
    assert shards == [{"start": 0, "stop": len(items)}]
    ctx.spec = shards[0]
    out = mk.run_shard(ctx)
    assert out.rows is None
    ctx.partials = [out.partial]
    summary = mk.finalize(ctx)
    json.dumps(summary, allow_nan=False)
    return summary, ctx


def test_registered():
    kind = registry.get("mortality")
    assert kind is mk.KIND and kind.input_kind == "mortality_data" and kind.input_required
    assert kind.result_table is None


def test_lee_carter_recovers_parameters_and_projects():
    summary, _ = _run({"projection": {"horizon": 10, "level": 0.9}}, _items())
    a, b, k = _truth()
    np.testing.assert_allclose([summary["a_x"][str(x)] for x in AGES], a, atol=1e-10)
    np.testing.assert_allclose([summary["b_x"][str(x)] for x in AGES], b, atol=1e-10)
    kt = np.array([summary["k_t"][str(y)] for y in YEARS])
    np.testing.assert_allclose(kt, k, atol=1e-9)
    assert summary["variance_explained"] == pytest.approx(1.0, abs=1e-12)
    assert summary["drift"] == pytest.approx((k[-1] - k[0]) / (k.size - 1), rel=1e-9)
    proj = summary["projection"]
    assert proj["years"] == list(range(2015, 2025))
    np.testing.assert_allclose(proj["k_central"], k[-1] + summary["drift"] * np.arange(1, 11), atol=1e-9)
    half = (np.array(proj["k_upper"]) - np.array(proj["k_lower"])) / 2
    np.testing.assert_allclose(half / np.sqrt(np.arange(1, 11)), 1.6448536269514722 * summary["sigma"], rtol=1e-9)
    q2020 = np.array(proj["q"]["2020"])
    np.testing.assert_allclose(q2020, 1 - np.exp(-np.exp(a + b * proj["k_central"][5])), rtol=1e-9)
    assert np.all(np.array(proj["q_lower"]["2020"]) <= q2020) and np.all(q2020 <= np.array(proj["q_upper"]["2020"]))
    table = summary["period_life_table"]
    assert table["year"] == 2024 and table["ages"] == AGES.tolist()
    assert table["qx"] == pytest.approx(proj["q"]["2024"])
    assert summary["zero_cells"]["missing"]["count"] == 0 and "basis_id" not in summary


def test_refit_kt_deaths_and_graduation_report():
    summary, _ = _run({"refit_kt": "deaths", "graduation": {"lambda": 50, "order": 2}}, _items(noise=0.05))
    fitted = np.array([summary["fitted_deaths_by_year"][str(y)] for y in YEARS])
    observed = np.array([summary["observed_deaths_by_year"][str(y)] for y in YEARS])
    np.testing.assert_allclose(fitted, observed, rtol=1e-10)
    assert abs(sum(summary["k_t"].values())) < 1e-8
    assert sum(summary["b_x"].values()) == pytest.approx(1.0, abs=1e-12)
    grad = summary["graduation"]
    assert grad["lambda"] == 50 and grad["roughness_after"] < grad["roughness_before"]


def test_zero_cells_reported_and_handled():
    items = _items()
    items.loc[(items["age"] == 62) & (items["year"] == 1995), "deaths"] = 0.0
    items.loc[(items["age"] == 63) & (items["year"] == 1996), "exposure"] = 0.0
    items.loc[(items["age"] == 63) & (items["year"] == 1996), "deaths"] = 0.0
    items = items[~((items["age"] == 70) & (items["year"] == 2000))]
    summary, _ = _run({}, items)
    rep = summary["zero_cells"]
    assert rep["zero_deaths"]["cells"] == [[62, 1995]]
    assert rep["zero_exposure"]["cells"] == [[63, 1996]]
    assert rep["missing"]["cells"] == [[70, 2000]]
    assert summary["zero_cell_method"] == "half_death" and summary["n_cells"] == len(items)
    with pytest.raises(InputError) as err:
        _run({"zero_cells": "error"}, items)
    assert "inputs.mortality_data" in err.value.errors


def test_publish_basis_and_reference_comparison():
    ref_q = [0.01 + 0.001 * j for j in range(10)]
    summary, ctx = _run({"publish_basis": True, "projection": {"horizon": 5, "target_year": 2012},
                         "reference": {"ages": list(range(65, 75)), "qx": ref_q}}, _items())
    assert summary["basis_id"] == "res-1"
    rtype, _, content = ctx.published[0]
    assert rtype == "mortality_basis" and content["select_period"] == 0
    assert content["ages"] == AGES.tolist() and all(len(r) == 1 for r in content["rates"])
    from workers.engines.life.assumptions import select_table_arrays  # what the bel kind accepts
    q_sel, min_age, select_period = select_table_arrays(content)
    assert (min_age, select_period, q_sel.shape) == (60, 0, (AGES.size, 1))
    a, b, k = _truth()
    q2012 = 1 - np.exp(-np.exp(a + b * k[YEARS.tolist().index(2012)]))  # fitted year: fitted rates
    np.testing.assert_allclose([r[0] for r in content["rates"]], q2012, rtol=1e-9)
    cmp = summary["comparison"]
    assert cmp["ages"] == list(range(65, 75)) and cmp["year"] == 2012
    diff = q2012[5:15] - np.array(ref_q)
    assert cmp["rmse"] == pytest.approx(float(np.sqrt(np.mean(diff ** 2))), rel=1e-9)


def test_simulation_is_seeded():
    params = {"projection": {"horizon": 8, "n_paths": 500, "seed": 9}}
    s1, _ = _run(params, _items(noise=0.02))
    s2, _ = _run(params, _items(noise=0.02))
    assert s1["projection"]["simulation"] == s2["projection"]["simulation"]
    s3, _ = _run({"projection": {"horizon": 8, "n_paths": 500}}, _items(noise=0.02), seed=9)
    assert s3["projection"]["simulation"]["k_quantiles"] == s1["projection"]["simulation"]["k_quantiles"]
    lo, med, hi = s1["projection"]["simulation"]["k_quantiles"]
    assert all(x <= y <= z for x, y, z in zip(lo, med, hi))


def test_whittaker_henderson_model_pools_years():
    summary, ctx = _run({"model": "whittaker_henderson", "graduation": {"lambda": 10, "order": 2},
                         "publish_basis": True, "basis_name": "graduated"}, _items(noise=0.05))
    assert summary["years_pooled"] == [1990, 2014]
    assert set(summary["q_graduated"]) == {str(x) for x in AGES}
    assert ctx.published[0][1] == "graduated"
    assert summary["graduation"]["roughness_after"] <= summary["graduation"]["roughness_before"]


def test_input_errors():
    items = _items()
    with pytest.raises(InputError, match="at least 3"):
        _run({"years": [1990, 1991]}, items)
    with pytest.raises(InputError, match="duplicate"):
        _run({}, pd.concat([items, items.iloc[:1]]))
    with pytest.raises(InputError, match="target_year"):
        _run({"projection": {"horizon": 5, "target_year": 2050}}, items)
    with pytest.raises(InputError):
        _run({"ages": [100, 110]}, items)
    with pytest.raises(ma.ValidationError):
        mk.MortalityParams().load({"model": "cbd"})
    with pytest.raises(ma.ValidationError):
        mk.MortalityParams().load({"reference": {"ages": [60, 61], "qx": [0.1]}})


def test_period_table_hand_example():
    table = mk.period_table(np.array([60, 61]), np.array([0.5, 0.5]))
    assert table["lx"] == [100_000.0, 50_000.0]
    # e_60 = (l_61 + l_62) / l_60 = (50 000 + 25 000) / 100 000; e_61 = l_62 / l_61.
    assert table["ex_curtate_truncated"] == pytest.approx([0.75, 0.5])
    assert mk.period_table(np.array([60, 61]), np.array([1.0, 0.5]))["ex_curtate_truncated"] == [0.0, None]
