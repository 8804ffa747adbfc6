"""The ``scr`` kind through an in-memory context: shard-layout invariance, traceability, stress, validation."""
import json
import math

import marshmallow
import numpy as np
import pandas as pd
import pytest

from workers.kinds import scr
from workers.kinds.base import InputError

from tests.support.contexts import Ctx, PlanCtx, policies_book


def _run(items, raw_params, shard_size):
    params = scr.ScrParamsSchema().load(raw_params)
    specs = scr.plan(PlanCtx(dict(params, shard_size=shard_size), len(items), 1000))
    outs = [scr.run_shard(Ctx(items, params, spec, shard_no=i)) for i, spec in enumerate(specs)]
    summary = scr.finalize(Ctx(items, params, partials=[json.loads(json.dumps(o.partial)) for o in outs]))
    rows = pd.concat([o.rows for o in outs], ignore_index=True)
    return summary, rows


PARAMS = {"own_funds": 5.0e7, "market": {"equity_type1": 1.0e7, "property": 4.0e6, "spread": 1.5e6},
          "default": 5.0e5, "mcr": {"floor": 1.0e5},
          "stress_scenarios": [{"name": "equity crash", "own_funds_delta": -3.9e6, "market": {"equity_type1": 6.1e6}},
                               {"name": "double mortality charge", "life_scale": {"mortality": 2.0}}]}


@pytest.fixture(scope="module")
def one_and_many():
    items = policies_book()
    return items, _run(items, PARAMS, 1000), _run(items, PARAMS, 7)


def test_summary_does_not_depend_on_shard_layout(one_and_many):
    _, (s1, rows1), (s7, rows7) = one_and_many
    assert json.dumps(s1, sort_keys=True) == json.dumps(s7, sort_keys=True)
    pd.testing.assert_frame_equal(rows1, rows7)


def test_rows_trace_every_life_number(one_and_many):
    items, (s, rows), _ = one_and_many
    assert list(rows.columns) == scr.RESULT_TABLE.column_names
    assert rows["policy_id"].tolist() == items["policy_id"].tolist()
    d = lambda c: rows[f"bel_{c}"] - rows["bel"]  # noqa: E731
    life, market = s["life"], s["market"]
    assert s["bel"] == pytest.approx(math.fsum(rows["bel"]), rel=1e-12)
    assert life["mortality"] == pytest.approx(math.fsum(np.maximum(0, d("mortality"))), rel=1e-9)
    assert life["longevity"] == pytest.approx(math.fsum(np.maximum(0, d("longevity"))), rel=1e-9, abs=1e-6)
    assert life["expense"] == pytest.approx(max(0.0, math.fsum(d("expense"))), rel=1e-9)
    assert life["catastrophe"] == pytest.approx(max(0.0, math.fsum(d("catastrophe"))), rel=1e-9)
    assert life["lapse_mass"] == pytest.approx(0.4 * math.fsum(np.maximum(0, -rows["bel"])), rel=1e-9)
    assert life["lapse"] == max(life["lapse_up"], life["lapse_down"], life["lapse_mass"])
    assert market["interest_up"] == pytest.approx(max(0.0, math.fsum(d("interest_up"))), rel=1e-9, abs=1e-6)
    assert market["interest_down"] == pytest.approx(max(0.0, math.fsum(d("interest_down"))), rel=1e-9, abs=1e-6)


def test_totals_hang_together(one_and_many):
    _, (s, _), _ = one_and_many
    assert s["scr"] == pytest.approx(s["bscr"] + s["operational"] - s["adjustments"])
    assert s["technical_provisions"] == pytest.approx(s["bel"] + s["risk_margin"])
    assert s["solvency_ratio"] == pytest.approx(5.0e7 / s["scr"])
    assert 0.25 * s["scr"] - 1e-6 <= s["mcr"] <= max(0.45 * s["scr"], 1.0e5) + 1e-6
    assert s["market"]["equity"] == pytest.approx(1.0e7 * 0.39)
    assert s["market"]["property"] == pytest.approx(1.0e6)
    tree = s["tree"]
    assert tree["value"] == pytest.approx(s["scr"])
    bscr = tree["children"][0]
    assert [c["name"] for c in bscr["children"]] == ["market", "default", "life", "health", "non_life"]
    assert bscr["children"][2]["value"] == pytest.approx(s["life"]["scr_life"])
    assert s["parameters"]["overrides"]["mortality_shock"] == 0.15
    assert s["risk_margin"] > 0 and s["risk_margin_driver"] in ("bel", "claims")


def test_stress_scenarios_give_the_whole_result_again(one_and_many):
    _, (s, _), _ = one_and_many
    crash, mort = s["stress"]
    assert crash["name"] == "equity crash"
    assert crash["own_funds"] == pytest.approx(5.0e7 - 3.9e6)
    assert crash["market"]["equity"] == pytest.approx(6.1e6 * 0.39)
    assert crash["scr"] < s["scr"]
    assert mort["life"]["mortality"] == pytest.approx(2 * s["life"]["mortality"])
    assert mort["life"]["scr_life"] > s["life"]["scr_life"]
    assert set(mort) >= {"bel", "life", "market", "bscr", "scr", "risk_margin", "mcr", "solvency_ratio", "tree"}


def test_bigger_mortality_shock_override_raises_the_requirement():
    items = policies_book(20)
    base, _ = _run(items, {"own_funds": 1e7}, 1000)
    more, _ = _run(items, {"own_funds": 1e7, "overrides": {"mortality_shock": 0.30}}, 1000)
    assert more["life"]["mortality"] > 1.9 * base["life"]["mortality"]
    assert more["parameters"]["overrides"]["mortality_shock"] == 0.30


def test_bad_user_matrix_names_the_problem():
    bad = (np.eye(7) + 0.0).tolist()
    bad[0][1] = 0.3  # not symmetric
    with pytest.raises(marshmallow.ValidationError) as exc:
        scr.ScrParamsSchema().load({"overrides": {"correlation_life": bad}})
    assert any("correlation_life" in m for m in exc.value.messages["overrides"]["correlation_life"])
    not_psd = [[1, 0.9, -0.9, 0, 0], [0.9, 1, 0.9, 0, 0], [-0.9, 0.9, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1]]
    with pytest.raises(marshmallow.ValidationError, match="positive semi-definite"):
        scr.ScrParamsSchema().load({"overrides": {"correlation_bscr": not_psd}})


def test_age_outside_the_table_is_an_input_error():
    items = policies_book(5)
    items.loc[2, "issue_age"] = 119
    items.loc[2, "policy_term_years"] = 10
    with pytest.raises(InputError) as exc:
        _run(items, {}, 1000)
    assert "policy P0002" in exc.value.errors


def test_bel_delta_stress_moves_own_funds_and_bel():
    items = policies_book(10)
    s, _ = _run(items, {"own_funds": 1e7, "stress_scenarios": [{"name": "reserve strengthening", "bel_delta": 2e6}]}, 1000)
    (st,) = s["stress"]
    assert st["bel"] == pytest.approx(s["bel"] + 2e6)
    assert st["own_funds"] == pytest.approx(1e7 - 2e6)
    assert st["technical_provisions"] == pytest.approx(st["bel"] + st["risk_margin"])


def test_risk_margin_follows_the_bel_run_off_of_the_bel_engine():
    cashflow = pytest.importorskip("workers.engines.life.cashflow")
    from workers.kinds.bel import assumptions_from_params

    items = policies_book(30)
    items["monthly_premium"] = 1.0  # a positive BEL: the run-off driver is the BEL itself
    raw = {"own_funds": 1e8, "cost_of_capital": 0.05}
    s, _ = _run(items, raw, 7)
    assert s["risk_margin_driver"] == "bel" and s["bel"] > 0
    params = scr.ScrParamsSchema().load(raw)
    a = assumptions_from_params(params)
    cf = cashflow.project_term_monthly({k: items[k].to_numpy() for k in items}, a, cashflows=True).cashflows
    out = -cf.net_cf * cf.discount_factors
    n_years = (len(out) + 11) // 12
    r = np.asarray(params["discount_spot_annual"])
    bel_y = [out[12 * y:].sum() / (1 + r[y]) ** -y for y in range(n_years)]
    df_end = [(1 + r[y + 1]) ** -(y + 1) for y in range(n_years)]
    expected = 0.05 * sum(s["scr"] * b / bel_y[0] * d for b, d in zip(bel_y, df_end))
    assert bel_y[0] == pytest.approx(s["bel"], rel=1e-9)
    assert s["risk_margin"] == pytest.approx(expected, rel=1e-8)
    ru, _ = _run(items, dict(raw, risk_margin_scope="reference_undertaking"), 1000)
    assert ru["risk_margin"] < s["risk_margin"]
