"""term_monthly cash-flow engine (specs/life.md A) against hand computations and invariants."""
from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workers.engines.life.assumptions import (
    TermAssumptions, default_select_table, default_term_assumptions, parse_select_table_csv, select_table_arrays,
)
from workers.engines.life.cashflow import (
    ExactSum, check_ages_in_table, exact_sums, lapse_ann_shocked, project_term_monthly, project_term_monthly_bases,
)


def small_basis(**overrides) -> TermAssumptions:
    """Ages 30..39, select period 2, distinct select/ultimate rates so lookups are visible."""
    ages = np.arange(30, 40)
    q = np.column_stack([0.001 + 0.0001 * (ages - 30), 0.002 + 0.0002 * (ages - 30), 0.004 + 0.0003 * (ages - 30)])
    base = dict(q_select=q, min_age=30, select_period=2, lapse_by_policy_year=np.array([0.10, 0.05]),
                expense_acquisition=300.0, expense_maintenance=60.0, expense_inflation=0.02,
                commission_first_year=0.8, discount_spot_annual=np.array([0.01, 0.02, 0.03]))
    base.update(overrides)
    return TermAssumptions(**base)


def hand_projection(pol: dict, a: TermAssumptions, shocks: bool = True) -> dict:
    """Plain-Python month loop written from the spec text, one policy at a time."""
    out = {k: 0.0 for k in ("pv_premiums", "pv_claims", "pv_expenses", "pv_commissions")}
    term, dm0, count = pol["policy_term_years"], pol["duration_months"], pol["policy_count"]
    n_months = 12 * term - dm0 + 1
    if_mat = count if dm0 > 0 else 0.0
    lapses = list(a.lapse_by_policy_year)
    rates = list(a.discount_spot_annual)
    for t in range(max(n_months, 0)):
        dm = dm0 + t
        dur = dm // 12
        maturity = if_mat if dm == 12 * term else 0.0
        new_biz = count if dm == 0 else 0.0
        inforce = if_mat - maturity + new_biz
        if dm < 12 * term:
            q_ann = a.q_select[pol["issue_age"] + dur - a.min_age][min(dur, a.select_period)]
            q_ann = min(1.0, q_ann * a.q_multiplier + (a.q_add_first_year if t < 12 else 0.0))
            lapse_ann = lapses[min(dur, len(lapses) - 1)]
            lapse_ann = min(1.0, lapse_ann * a.lapse_multiplier)
        else:
            q_ann = lapse_ann = 0.0
        deaths = inforce * (1 - (1 - q_ann) ** (1 / 12))
        lapsed = (inforce - deaths) * (1 - (1 - lapse_ann) ** (1 / 12))
        df = (1 + rates[min(t // 12, len(rates) - 1)]) ** (-t / 12)
        premiums = pol["monthly_premium"] * inforce
        infl = 1 + a.expense_inflation + a.expense_inflation_add
        expenses = a.expense_multiplier * (a.expense_acquisition * new_biz
                                           + inforce * a.expense_maintenance / 12 * infl ** (t / 12))
        out["pv_premiums"] += premiums * df
        out["pv_claims"] += pol["sum_assured"] * deaths * df
        out["pv_expenses"] += expenses * df
        out["pv_commissions"] += (a.commission_first_year * premiums if dur == 0 else 0.0) * df
        if_mat = inforce - deaths - lapsed
    out["pv_net_cf"] = out["pv_premiums"] - out["pv_claims"] - out["pv_expenses"] - out["pv_commissions"]
    return out


def as_arrays(pols: list[dict]) -> dict:
    return {k: np.array([p[k] for p in pols]) for k in pols[0]}


POL_A = dict(policy_id="A", issue_age=31, policy_term_years=2, policy_count=3.0, sum_assured=100_000.0,
             duration_months=0, monthly_premium=25.0)
POL_B = dict(policy_id="B", issue_age=33, policy_term_years=4, policy_count=1.5, sum_assured=50_000.0,
             duration_months=17, monthly_premium=12.0)


def assert_matches_hand(pols: list[dict], a: TermAssumptions) -> None:
    res = project_term_monthly(as_arrays(pols), a)
    for i, pol in enumerate(pols):
        ref = hand_projection(pol, a)
        for key, value in ref.items():
            assert getattr(res, key)[i] == pytest.approx(value, rel=1e-12, abs=1e-9), (pol["policy_id"], key)
        assert res.bel[i] == pytest.approx(-ref["pv_net_cf"], rel=1e-12, abs=1e-9)


def test_one_new_business_policy_matches_hand_loop():
    assert_matches_hand([POL_A], small_basis())


def test_two_policies_new_and_in_force_match_hand_loop():
    assert_matches_hand([POL_A, POL_B], small_basis())


def test_first_month_of_single_policy_by_hand():
    """A one-year term issued today on a flat basis: closed form of the 13-month projection."""
    q, lapse, r = 0.012, 0.0, 0.0
    a = small_basis(q_select=np.full((10, 3), q), lapse_by_policy_year=np.array([lapse]),
                    discount_spot_annual=np.array([r]), expense_inflation=0.0, commission_first_year=0.0,
                    expense_acquisition=0.0, expense_maintenance=0.0)
    pol = dict(policy_id="X", issue_age=35, policy_term_years=1, policy_count=1.0, sum_assured=1000.0,
               duration_months=0, monthly_premium=0.0)
    res = project_term_monthly(as_arrays([pol]), a)
    # Without lapses and discounting, expected claims over the year = SA * annual q exactly.
    assert res.pv_claims[0] == pytest.approx(1000.0 * q, rel=1e-12)


def test_duration_zero_is_new_business_and_positive_is_in_force():
    a = small_basis()
    new = dict(POL_A, duration_months=0)
    old = dict(POL_A, duration_months=1)
    res = project_term_monthly(as_arrays([new, old]), a, cashflows=True)
    cf = res.cashflows
    # One acquisition expense only (the new policy); the in-force policy is already on the books.
    assert cf.new_business[0] == 3.0 and cf.new_business[1:].sum() == 0.0
    assert cf.inforce[0] == 6.0
    assert res.pv_expenses[0] - res.pv_expenses[1] > 299.0
    assert_matches_hand([new, old], a)


def test_maturity_month_releases_in_force_and_ends_projection():
    a = small_basis()
    pol = dict(POL_B, duration_months=12 * 4 - 1)  # one month before maturity
    res = project_term_monthly(as_arrays([pol]), a, cashflows=True)
    cf = res.cashflows
    assert cf.inforce.shape == (2,)  # L = 12*term - duration + 1
    assert cf.maturities[0] == 0.0 and cf.inforce[1] == 0.0
    assert cf.maturities[1] == pytest.approx(pol["policy_count"] - cf.deaths[0] - cf.lapses[0], rel=1e-14)
    matured = dict(POL_B, duration_months=12 * 4 + 5)
    past = project_term_monthly(as_arrays([matured]), a)
    assert past.pv_premiums[0] == past.pv_claims[0] == past.bel[0] == 0.0


def test_select_then_ultimate_rates_are_used():
    """Deaths in the first projection month equal IF * q_mth of the select or ultimate column."""
    a = small_basis(lapse_by_policy_year=np.array([0.0]))
    rows = []
    for dm in (0, 13, 60):  # durations 0 (select col 0), 1 (col 1), 5 (ultimate col 2)
        rows.append(dict(POL_A, policy_id=f"d{dm}", policy_term_years=8, duration_months=dm))
    for pol in rows:
        cf = project_term_monthly(as_arrays([pol]), a, cashflows=True).cashflows
        dur = pol["duration_months"] // 12
        q_ann = a.q_select[pol["issue_age"] + dur - 30][min(dur, 2)]
        assert cf.deaths[0] == pytest.approx(3.0 * (1 - (1 - q_ann) ** (1 / 12)), rel=1e-14)


def test_age_outside_table_is_reported_not_zero():
    a = small_basis()
    old = dict(POL_A, policy_id="OLD", issue_age=38, policy_term_years=5)  # reaches 42 > 39
    young = dict(POL_A, policy_id="YOUNG", issue_age=25)
    done = dict(POL_A, policy_id="DONE", issue_age=38, policy_term_years=5, duration_months=60)  # at maturity
    pols = as_arrays([POL_A, old, young, done])
    assert check_ages_in_table(pols, a) == ["OLD", "YOUNG"]
    with pytest.raises(ValueError, match="OLD, YOUNG"):
        project_term_monthly(pols, a)


def test_shocks_match_hand_loop_and_decrement_sharing():
    base = small_basis()
    shocked = [
        dataclasses.replace(base, q_multiplier=1.15),
        dataclasses.replace(base, q_add_first_year=0.0015),
        dataclasses.replace(base, lapse_multiplier=1.5),
        dataclasses.replace(base, expense_multiplier=1.1, expense_inflation_add=0.01),
        dataclasses.replace(base, discount_spot_annual=base.discount_spot_annual + 0.01),
    ]
    for a in shocked:
        assert_matches_hand([POL_A, POL_B], a)
    together = project_term_monthly_bases(as_arrays([POL_A, POL_B]), [base, *shocked])
    for a, res in zip([base, *shocked], together):
        alone = project_term_monthly(as_arrays([POL_A, POL_B]), a)
        np.testing.assert_array_equal(res.bel, alone.bel)


def test_lapse_down_shock_floor():
    a = dataclasses.replace(small_basis(lapse_by_policy_year=np.array([0.5, 0.1])),
                            lapse_multiplier=0.5, lapse_floor_drop=0.2)
    # max(50% of the rate, rate - 20 points)
    np.testing.assert_allclose(lapse_ann_shocked(a), [0.30, 0.05])


def test_cashflow_aggregates_discount_back_to_pvs():
    a = small_basis()
    res = project_term_monthly(as_arrays([POL_A, POL_B]), a, cashflows=True, yearly=True)
    cf = res.cashflows
    df = cf.discount_factors
    assert float(cf.premiums @ df) == pytest.approx(res.pv_premiums.sum(), rel=1e-12)
    assert float(cf.claims @ df) == pytest.approx(res.pv_claims.sum(), rel=1e-12)
    assert float(cf.net_cf @ df) == pytest.approx(res.pv_net_cf.sum(), rel=1e-12)
    # Policies leave only by death, lapse or maturity.
    total = 3.0 + 1.5
    assert cf.deaths.sum() + cf.lapses.sum() + cf.maturities.sum() == pytest.approx(total, rel=1e-13)
    yearly_prem = [s.to_float() for s in res.yearly["premiums"]]
    assert math.fsum(yearly_prem) == pytest.approx(cf.premiums.sum(), rel=1e-13)
    assert res.yearly["inforce_start"][0].to_float() == pytest.approx(cf.inforce[0])


def test_default_mortality_is_the_lifelib_sample_formula():
    """Published lifelib basic_term_sample values: age 18 select 0.000231.., ultimate 0.000372.."""
    table = default_select_table()
    assert table["ages"][0] == 18 and table["ages"][-1] == 120 and table["select_period"] == 5
    assert table["rates"][0][0] == pytest.approx(0.0002 * math.exp(0.00025 * 18 ** 2.2))
    assert table["rates"][0][0] == pytest.approx(0.000231, abs=5e-7)
    assert table["rates"][0][5] == pytest.approx(0.00037214, abs=5e-9)
    assert table["rates"][-1] == [1.0] * 6


def test_parse_select_table_csv():
    text = "age,0,1,2+\n41,0.002,0.003,0.004\n40,0.001,0.0015,0.002\n"
    content = parse_select_table_csv(text)
    assert content == {"select_period": 2, "ages": [40, 41], "rates": [[0.001, 0.0015, 0.002], [0.002, 0.003, 0.004]]}
    q, min_age, sp = select_table_arrays(content)
    assert q.shape == (2, 3) and min_age == 40 and sp == 2
    for bad in ("age,0,1\n40,0.1\n", "age,0,2\n40,0.1,0.2\n", "age,0\n40,1.5\n", "age,0\n40,0.1\n42,0.1\n"):
        with pytest.raises(ValueError):
            parse_select_table_csv(bad)


def test_exact_sums_are_exact_and_split_independent():
    values = np.array([1e16, 1.0, -1e16, 3.0, 1e-300, 0.1, 0.2, -0.3])
    total = exact_sums(values)[0][0]
    expected = sum(Fraction(v) for v in values.tolist())
    assert Fraction(total.mantissa) * Fraction(2) ** total.exponent == expected
    assert total.to_float() == math.fsum(values)
    parts = [exact_sums(values[:3])[0][0], exact_sums(values[3:])[0][0]]
    again = ExactSum.total([ExactSum.from_json(p.to_json()) for p in parts])
    assert again.to_float() == total.to_float()


@settings(max_examples=40, deadline=None)
@given(
    issue_age=st.integers(18, 60), term=st.integers(1, 15), dm=st.integers(0, 200),
    count=st.floats(0, 100), sa=st.floats(0, 1e6), prem=st.floats(0, 500),
    rate=st.floats(-0.005, 0.08), scale=st.floats(0.5, 2.0),
)
def test_property_linear_in_count_and_hand_loop(issue_age, term, dm, count, sa, prem, rate, scale):
    a = dataclasses.replace(default_term_assumptions(), discount_spot_annual=np.array([rate]))
    pol = dict(policy_id="P", issue_age=issue_age, policy_term_years=term, policy_count=count, sum_assured=sa,
               duration_months=dm, monthly_premium=prem)
    res = project_term_monthly(as_arrays([pol, dict(pol, policy_count=count * scale)]), a)
    ref = hand_projection(pol, a)
    scale_pv = max(ref["pv_premiums"], ref["pv_claims"], ref["pv_expenses"], 1e-9)
    for key in ("pv_premiums", "pv_claims", "pv_expenses", "pv_commissions", "pv_net_cf"):
        assert getattr(res, key)[0] == pytest.approx(ref[key], abs=1e-11 * scale_pv)
        assert getattr(res, key)[1] == pytest.approx(scale * getattr(res, key)[0], abs=1e-11 * scale * scale_pv)
    assert np.all(res.pv_claims >= 0) and np.all(res.pv_premiums >= 0)


@settings(max_examples=25, deadline=None)
@given(bump=st.floats(0.001, 0.03))
def test_property_higher_mortality_raises_claims_and_higher_rates_lower_pvs(bump):
    base = default_term_assumptions()
    pols = as_arrays([dict(POL_A, issue_age=40, policy_term_years=10), dict(POL_B, issue_age=50)])
    b = project_term_monthly(pols, base)
    up = project_term_monthly(pols, dataclasses.replace(base, q_multiplier=1 + 10 * bump))
    disc = project_term_monthly(pols, dataclasses.replace(base, discount_spot_annual=base.discount_spot_annual + bump))
    assert np.all(up.pv_claims > b.pv_claims)
    assert np.all(disc.pv_premiums < b.pv_premiums) and np.all(disc.pv_claims < b.pv_claims)


def test_exact_sums_by_many_groups():
    rng = np.random.default_rng(3)
    values = rng.normal(size=(500, 2)) * 10.0 ** rng.integers(-5, 9, size=(500, 1))
    groups = rng.integers(0, 150, size=500)
    sums = exact_sums(values, groups, 150)
    for g in (0, 63, 64, 149):
        for j in range(2):
            assert sums[g][j].to_float() == math.fsum(values[groups == g, j])
