"""The ``ifrs17`` kind through an in-memory context: groups, movement tables, PAA, seed, shard invariance."""
import json
import math

import numpy as np
import pandas as pd
import pytest

from workers.kinds import ifrs17
from workers.kinds.base import InputError

from tests.support.contexts import Ctx, PlanCtx, policies_book


def _run(items, raw, shard_size=1000, seed=11):
    params = ifrs17.Ifrs17ParamsSchema().load(raw)
    specs = ifrs17.plan(PlanCtx(dict(params, shard_size=shard_size), len(items), 1000))
    outs = [ifrs17.run_shard(Ctx(items, params, spec, shard_no=i)) for i, spec in enumerate(specs)]
    partials = [json.loads(json.dumps(o.partial)) for o in outs]
    summary = ifrs17.finalize(Ctx(items, params, seed=seed, partials=partials))
    return summary, pd.concat([o.rows for o in outs], ignore_index=True)


def _items(n=60):
    items = policies_book(n, seed=3)
    items["issue_year"] = (2025 - (items["duration_months"] + 11) // 12).astype(np.float64)
    items.loc[:4, "monthly_premium"] = 0.5  # onerous
    return items


RAW = {"valuation_year": 2025, "ra": {"n_sims": 2000}, "assumption_changes": {"q_multiplier": 1.05}}


@pytest.fixture(scope="module")
def runs():
    items = _items()
    return items, _run(items, RAW, 1000), _run(items, RAW, 9)


def test_result_does_not_depend_on_the_shard_layout(runs):
    _, (s1, r1), (s9, r9) = runs
    assert json.dumps(s1, sort_keys=True) == json.dumps(s9, sort_keys=True)
    pd.testing.assert_frame_equal(r1, r9)


def test_every_movement_table_adds_up(runs):
    _, (s, _), _ = runs
    for g in s["groups"] + [s["totals"]]:
        for table, mv in g["movements"].items():
            lines = [v for k, v in mv.items() if k not in ("opening", "closing")]
            assert mv["closing"] == pytest.approx(math.fsum([mv["opening"]] + lines), rel=1e-9, abs=1e-4), table
    for g in s["groups"]:
        if g["measurement_model"] == "GMM":
            assert g["csm"] == g["movements"]["csm"]["closing"]
            assert g["lrc"] == pytest.approx(g["bel"] + g["ra"] + g["csm"])
            assert g["service_result"] == pytest.approx(g["revenue"] - g["service_expenses"])


def test_onerous_group_has_no_csm_and_a_loss_component(runs):
    items, (s, rows), _ = runs
    onerous_ids = set(items["policy_id"][:5])
    assert set(rows.loc[rows["policy_id"].isin(onerous_ids), "profitability"]) == {"onerous"}
    onerous = [g for g in s["groups"] if g["profitability"] == "onerous" and g["measurement_model"] == "GMM"]
    assert onerous
    for g in onerous:
        assert g["csm"] == 0.0
        assert g["loss_component"] > 0.0
    # at least one profitable group carries a CSM
    assert any(g["csm"] > 0 for g in s["groups"] if g["profitability"] == "no_significant_risk")


def test_totals_are_sums_of_the_groups(runs):
    _, (s, _), _ = runs
    for k in ifrs17.NUMERIC_OUT:
        assert s["totals"][k] == pytest.approx(math.fsum(g[k] for g in s["groups"]), rel=1e-12, abs=1e-6)
    assert s["totals"]["n_policies"] == 60
    assert s["parameters"]["assumption_changes"]["q_multiplier"] == 1.05


def test_seed_reproducible_and_ra_monotone_in_confidence_level():
    items = _items(25)
    a, _ = _run(items, dict(RAW, ra={"n_sims": 2000, "confidence_level": 0.6}), seed=1)
    b, _ = _run(items, dict(RAW, ra={"n_sims": 2000, "confidence_level": 0.6}), seed=1)
    c, _ = _run(items, dict(RAW, ra={"n_sims": 2000, "confidence_level": 0.6}), seed=2)
    hi, _ = _run(items, dict(RAW, ra={"n_sims": 2000, "confidence_level": 0.9}), seed=1)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert a["totals"]["ra"] != c["totals"]["ra"]
    assert hi["totals"]["ra"] > a["totals"]["ra"]
    coc, _ = _run(items, dict(RAW, ra={"n_sims": 2000, "method": "cost_of_capital"}), seed=1)
    assert coc["totals"]["ra"] > 0


def test_paa_group_hand_built():
    # one-year cover issued at the valuation date, no deaths or lapses: revenue = 12 premiums, LRC back to 0
    ages = list(range(18, 121))
    params = {"valuation_year": 2025, "mortality": {"select_period": 0, "ages": ages, "rates": [[0.0]] * len(ages)},
              "lapse_by_policy_year": [0.0], "expense_inflation": 0.0, "ra": {"n_sims": 200},
              "paa": {"defer_acquisition": True}}
    items = policies_book(2)
    items["policy_term_years"] = 1
    items["duration_months"] = 0
    items["issue_year"] = 2025.0
    items["monthly_premium"] = [100.0, 50.0]
    items["policy_count"] = [2.0, 4.0]
    s, rows = _run(items, params)
    assert set(rows["measurement_model"]) == {"PAA"}
    (g,) = s["groups"]
    assert g["group"].endswith("|PAA")
    premiums = 12 * (100 * 2 + 50 * 4)
    assert g["revenue"] == pytest.approx(premiums)
    lrc = g["movements"]["lrc"]
    assert lrc["premiums_received"] == pytest.approx(premiums)
    assert lrc["acquisition_paid"] == pytest.approx(-premiums * 1.0)  # first-year commission 100 %
    assert lrc["closing"] == pytest.approx(0.0, abs=1e-6)
    # service expenses: acquisition 300 x 6 policies + maintenance 60 x 6 + amortised commission
    assert g["service_expenses"] == pytest.approx(300 * 6 + 60 * 6 + premiums + g["loss_component"])


def test_missing_cohort_without_valuation_year_is_an_input_error():
    items = _items(5)
    items["issue_year"] = np.nan
    with pytest.raises(InputError):
        _run(items, {"ra": {"n_sims": 200}})
