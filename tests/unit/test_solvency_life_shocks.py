"""Life shocks of the fused pass vs direct revaluations with hand-modified assumption sets."""
import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workers.engines.life.assumptions import TermAssumptions
from workers.engines.solvency.life_shocks import (LifeShocks, fixed_sum, fixed_to_float, shocked_bels,
                                                  shocked_assumptions)
from workers.engines.solvency.standard_formula import spot_annual_shocked


def _basis(**kw):
    ages = np.arange(20, 91)
    q0 = 0.0005 * np.exp(0.06 * (ages - 20))
    q = np.minimum(1.0, np.stack([q0 * (0.7 + 0.06 * d) for d in range(4)], axis=1))
    base = dict(q_select=q, min_age=20, select_period=3, lapse_by_policy_year=np.array([0.15, 0.10, 0.05, 0.03]),
                expense_acquisition=250.0, expense_maintenance=50.0, expense_inflation=0.02,
                commission_first_year=0.8, discount_spot_annual=np.array([0.01, 0.015, 0.02, 0.025, 0.03]))
    base.update(kw)
    return TermAssumptions(**base)


def _bel_reference(pol, a: TermAssumptions) -> float:
    """Straight transcription of specs/life.md A for one policy, with the shock fields."""
    term, dm0, n = pol["policy_term_years"], pol["duration_months"], pol["policy_count"]
    r = list(a.discount_spot_annual)
    if_mat = n if dm0 > 0 else 0.0
    total = []
    for t in range(12 * term - dm0 + 1):
        dm = dm0 + t
        dur = dm // 12
        maturity = if_mat if dm == 12 * term else 0.0
        nb = n if dm == 0 else 0.0
        inforce = if_mat - maturity + nb
        if inforce == 0.0:
            if_mat = 0.0
            continue
        q = a.q_select[pol["issue_age"] + dur - a.min_age][min(dur, a.select_period)]
        q = min(1.0, q * a.q_multiplier + (a.q_add_first_year if t < 12 else 0.0))
        lapse = a.lapse_by_policy_year[min(dur, len(a.lapse_by_policy_year) - 1)]
        shocked = lapse * a.lapse_multiplier
        if a.lapse_floor_drop is not None:
            shocked = max(shocked, lapse - a.lapse_floor_drop)
        lapse = min(1.0, shocked)
        deaths = inforce * (1 - (1 - q) ** (1 / 12))
        lapses = (inforce - deaths) * (1 - (1 - lapse) ** (1 / 12))
        if_mat = inforce - deaths - lapses
        prem = pol["monthly_premium"] * inforce
        claims = pol["sum_assured"] * deaths
        infl = a.expense_inflation + a.expense_inflation_add
        exp = a.expense_multiplier * (a.expense_acquisition * nb + inforce * a.expense_maintenance / 12 * (1 + infl) ** (t / 12))
        comm = a.commission_first_year * prem if dur == 0 else 0.0
        df = (1 + r[min(t // 12, len(r) - 1)]) ** (-t / 12)
        total.append((claims + exp + comm - prem) * df)
    return math.fsum(total)


POLICIES = {
    "issue_age": np.array([30, 45, 60, 25, 50]),
    "policy_term_years": np.array([10, 15, 5, 20, 3]),
    "policy_count": np.array([1.0, 3.0, 2.0, 1.5, 1.0]),
    "sum_assured": np.array([500_000.0, 200_000.0, 100_000.0, 800_000.0, 50_000.0]),
    "duration_months": np.array([0, 7, 30, 100, 36]),
    "monthly_premium": np.array([40.0, 90.0, 150.0, 70.0, 10.0]),
}


def _pol(i):
    return {k: v[i].item() for k, v in POLICIES.items()}


def test_base_bel_matches_spec_transcription():
    a = _basis()
    res = shocked_bels(POLICIES, a)
    for i in range(5):
        assert res["bel"][i] == pytest.approx(_bel_reference(_pol(i), a), rel=1e-11, abs=1e-6)
    # the matured policy (duration = 12·term) has no future cash flows
    assert res["bel"][4] == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(res["bel"], res["pv_claims"] + res["pv_expenses"] + res["pv_commissions"]
                               - res["pv_premiums"], rtol=1e-12)


@pytest.mark.parametrize("shock, modified", [
    ("mortality", dict(q_multiplier=1.15)),
    ("longevity", dict(q_multiplier=0.80)),
    ("expense", dict(expense_multiplier=1.10, expense_inflation_add=0.01)),
    ("lapse_up", dict(lapse_multiplier=1.5)),
    ("lapse_down", dict(lapse_multiplier=0.5, lapse_floor_drop=0.20)),
    ("catastrophe", dict(q_add_first_year=0.0015)),
])
def test_each_decrement_and_expense_shock_equals_direct_revaluation(shock, modified):
    a = _basis()
    res = shocked_bels(POLICIES, a)
    hand = dataclasses.replace(a, **modified)
    for i in range(5):
        assert res[f"bel_{shock}"][i] == pytest.approx(_bel_reference(_pol(i), hand), rel=1e-11, abs=1e-6)


def test_interest_shocks_equal_revaluation_on_hand_shocked_curves():
    a = _basis()
    res = shocked_bels(POLICIES, a)
    r = a.discount_spot_annual  # maturities 1..5: up 70, 70, 64, 59, 55 %; down 75, 65, 56, 50, 46 %
    up = np.maximum(r * (1 + np.array([0.70, 0.70, 0.64, 0.59, 0.55])), r + 0.01)
    down = r * (1 - np.array([0.75, 0.65, 0.56, 0.50, 0.46]))
    for name, curve in (("interest_up", up), ("interest_down", down)):
        hand = dataclasses.replace(a, discount_spot_annual=curve)
        for i in range(5):
            assert res[f"bel_{name}"][i] == pytest.approx(_bel_reference(_pol(i), hand), rel=1e-11, abs=1e-6)


def test_lapse_up_is_capped_at_one():
    a = _basis(lapse_by_policy_year=np.array([0.8]))
    res = shocked_bels(POLICIES, a)
    hand = dataclasses.replace(a, lapse_multiplier=1.5)
    assert res["bel_lapse_up"][0] == pytest.approx(_bel_reference(_pol(0), hand), rel=1e-11)


def test_shocks_agree_with_the_bel_engine_revaluation():
    cashflow = pytest.importorskip("workers.engines.life.cashflow")
    a = _basis()
    res = shocked_bels(POLICIES, a)
    np.testing.assert_allclose(res["bel"], cashflow.project_term_monthly(POLICIES, a).bel, rtol=1e-10, atol=1e-6)
    for name, a_s in shocked_assumptions(a).items():
        np.testing.assert_allclose(res[f"bel_{name}"], cashflow.project_term_monthly(POLICIES, a_s).bel,
                                   rtol=1e-10, atol=1e-6, err_msg=name)


def test_age_outside_table_is_an_error():
    a = _basis()
    bad = dict(POLICIES, issue_age=np.array([85, 45, 60, 25, 50]))
    with pytest.raises(ValueError, match="outside the mortality table"):
        shocked_bels(bad, a)


def test_runoff_sums_to_base_bel_and_is_split_invariant():
    a = _basis()
    res = shocked_bels(POLICIES, a)
    total = math.fsum(fixed_to_float(p) for p in res["runoff_fixed"])
    assert total == pytest.approx(math.fsum(res["bel"]), rel=1e-9)
    a1, a2 = ({k: v[s] for k, v in POLICIES.items()} for s in (slice(0, 2), slice(2, 5)))
    r1, r2 = shocked_bels(a1, a), shocked_bels(a2, a)
    n = max(len(r1["runoff_fixed"]), len(r2["runoff_fixed"]))
    pad = lambda x: np.vstack([x, np.zeros((n - len(x), 2), dtype=np.int64)])  # noqa: E731
    np.testing.assert_array_equal(pad(r1["runoff_fixed"]) + pad(r2["runoff_fixed"]), res["runoff_fixed"])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1e9, 1e9), min_size=1, max_size=40), st.integers(0, 40))
def test_fixed_sum_is_split_invariant(values, cut):
    whole = fixed_sum(values)
    left, right = fixed_sum(values[:cut]), fixed_sum(values[cut:])
    assert [left[0] + right[0], left[1] + right[1]] == whole
    assert fixed_to_float(whole) == pytest.approx(math.fsum(values), abs=1e-6 * len(values))


def test_mortality_shock_raises_and_longevity_lowers_term_bel():
    res = shocked_bels(POLICIES, _basis())
    live = slice(0, 4)
    assert np.all(res["bel_mortality"][live] > res["bel"][live])
    assert np.all(res["bel_longevity"][live] < res["bel"][live])
    assert np.all(res["bel_catastrophe"][live] > res["bel"][live])


def test_custom_shock_sizes():
    a = _basis()
    sh = LifeShocks(mortality=0.30, interest_up_min=0.02)
    res = shocked_bels(POLICIES, a, sh)
    hand = dataclasses.replace(a, q_multiplier=1.30)
    assert res["bel_mortality"][1] == pytest.approx(_bel_reference(_pol(1), hand), rel=1e-11)
    up, _ = spot_annual_shocked(a.discount_spot_annual, up_min_abs=0.02)
    assert up[0] == pytest.approx(0.03)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.0, 0.5), st.floats(0.0, 0.9), st.floats(0.0, 0.01))
def test_property_fused_pass_equals_engine_revaluation(seed, mort, lapse_up, cat):
    cashflow = pytest.importorskip("workers.engines.life.cashflow")
    rng = np.random.default_rng(seed)
    n = 12
    term = rng.integers(1, 15, n)
    pol = {"issue_age": rng.integers(20, 70, n), "policy_term_years": term, "policy_count": rng.uniform(0, 20, n),
           "sum_assured": rng.uniform(0, 1e6, n), "duration_months": rng.integers(0, 12 * term + 2),
           "monthly_premium": rng.uniform(0, 400, n)}
    a = _basis(discount_spot_annual=rng.uniform(-0.005, 0.05, rng.integers(1, 30)))
    shocks = LifeShocks(mortality=mort, lapse_up=lapse_up, catastrophe=cat)
    res = shocked_bels(pol, a, shocks)
    for name, a_s in shocked_assumptions(a, shocks).items():
        ref = cashflow.project_term_monthly(pol, a_s).bel
        np.testing.assert_allclose(res[f"bel_{name}"], ref, rtol=1e-9, atol=1e-6, err_msg=name)
