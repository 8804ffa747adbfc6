"""IFRS 17 engine: CSM roll-forward identity, onerous groups, PAA, RA properties, group cash flows."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workers.engines import ifrs17 as e
from workers.engines.life.assumptions import default_term_assumptions
from workers.engines.life.cashflow import project_term_monthly

CSM_LINES = ("new_business", "interest_accretion", "changes_in_estimates", "release")


def test_csm_rollforward_hand_case():
    # opening 1000, NB 200, 2 % accretion = 24, favourable change 76 → 1300; 30 of 130 units provided
    r = e.csm_rollforward(1000.0, 200.0, 0.02, -76.0, 30.0, 100.0)
    assert r["interest_accretion"] == pytest.approx(24.0)
    assert r["changes_in_estimates"] == pytest.approx(76.0)
    assert r["release"] == pytest.approx(-1300.0 * 30 / 130)
    assert r["closing"] == pytest.approx(1300.0 * 100 / 130)
    assert r["lc_closing"] == 0.0


@settings(max_examples=200, deadline=None)
@given(st.floats(0, 1e9), st.floats(0, 1e9), st.floats(-0.01, 0.1), st.floats(-2e9, 2e9), st.floats(0, 1e6),
       st.floats(0, 1e6), st.floats(0, 1e9), st.floats(0, 1e9))
def test_csm_rollforward_opening_plus_movements_is_closing(opening, nb, rate, change, cu_p, cu_r, lc0, lc_nb):
    r = e.csm_rollforward(opening, nb, rate, change, cu_p, cu_r, opening_lc=lc0, new_business_lc=lc_nb)
    total = math.fsum([r["opening"]] + [r[k] for k in CSM_LINES])
    assert r["closing"] == pytest.approx(total, rel=1e-9, abs=1e-3)
    assert r["closing"] >= -1e-6 and r["lc_closing"] >= -1e-6
    lc = math.fsum([r["lc_opening"], r["lc_new_business"], r["lc_increase"], r["lc_reversal"]])
    assert r["lc_closing"] == pytest.approx(lc, rel=1e-9, abs=1e-3)
    # a CSM and a loss component are never both increased by the same change
    assert not (r["lc_increase"] > 0 and r["changes_in_estimates"] > 0)


def test_onerous_at_initial_recognition_has_no_csm_and_a_loss_component():
    ir = e.initial_recognition(pv_outflows=1200.0, pv_inflows=1000.0, ra=50.0)
    assert ir["csm"] == 0.0 and ir["loss_component"] == pytest.approx(250.0)
    ok = e.initial_recognition(pv_outflows=700.0, pv_inflows=1000.0, ra=50.0)
    assert ok["csm"] == pytest.approx(250.0) and ok["loss_component"] == 0.0


def test_adverse_change_beyond_the_csm_goes_to_the_loss_component_and_reverses_first():
    r = e.csm_rollforward(100.0, 0.0, 0.0, 150.0, 1.0, 1.0)
    assert r["closing"] == 0.0 and r["lc_increase"] == pytest.approx(50.0)
    back = e.csm_rollforward(0.0, 0.0, 0.0, -80.0, 1.0, 1.0, opening_lc=50.0)
    assert back["lc_reversal"] == pytest.approx(-50.0) and back["lc_closing"] == pytest.approx(0.0)
    assert back["changes_in_estimates"] == pytest.approx(30.0) and back["closing"] == pytest.approx(15.0)


def test_paa_hand_case():
    # 1 200 premiums for a 12-month cover received up front, 4 months elapsed, acquisition 120 deferred
    lrc = e.paa_lrc(0.0, 1200.0, 400.0, acquisition_paid=120.0, acquisition_amortised=40.0)
    assert lrc["closing"] == pytest.approx(1200 - 400 - 120 + 40)
    # remaining cover: PV claims 700, PV expenses 50, RA 30 vs LRC 720 → loss 60
    assert e.paa_loss_component(700 + 50 + 30, 720.0) == pytest.approx(60.0)
    assert e.paa_loss_component(500.0, 720.0) == 0.0


def test_profitability_classes():
    cls = e.profitability_class([10.0, -5.0, -50.0, 0.0], [100.0, 100.0, 100.0, 100.0], margin=0.10)
    assert cls.tolist() == ["onerous", "remaining", "no_significant_risk", "remaining"]


def _flows():
    claims = np.full(60, 1000.0)
    deaths = np.full(60, 2.0)
    df = 1.02 ** (-np.arange(61) / 12.0)
    return deaths, claims, df


def test_ra_reproducible_with_the_seed_and_monotone_in_the_confidence_level():
    deaths, claims, df = _flows()
    s1 = e.simulate_pv_claims(deaths, claims, df, np.random.default_rng(42), n_sims=4000)
    s2 = e.simulate_pv_claims(deaths, claims, df, np.random.default_rng(42), n_sims=4000)
    s3 = e.simulate_pv_claims(deaths, claims, df, np.random.default_rng(43), n_sims=4000)
    np.testing.assert_array_equal(s1[0], s2[0])
    assert not np.array_equal(s1[0], s3[0])
    levels = [0.5, 0.6, 0.75, 0.9, 0.99, 0.995]
    ras = [e.ra_confidence_level(s1[0], lv) for lv in levels]
    assert all(b >= a for a, b in zip(ras, ras[1:])) and ras[-1] > ras[0]
    for lv, ra in zip(levels[1:], ras[1:]):  # at 50 % the median is below the mean: RA floored at 0
        assert e.implied_confidence_level(s1[0], ra) == pytest.approx(lv, abs=0.01)


def test_simulated_claims_are_centred_on_the_expected_pv():
    deaths, claims, df = _flows()
    sims = e.simulate_pv_claims(deaths, claims, df, np.random.default_rng(7), n_sims=20000, mortality_sd=0.1)
    expected0 = float(np.sum(claims * df[:60]))
    assert sims[0].mean() == pytest.approx(expected0, rel=0.01)
    expected12 = float(np.sum(claims[12:] * df[12:60]) / df[12])
    assert sims[12].mean() == pytest.approx(expected12, rel=0.01)
    # Poisson(2·12 per year) noise with a 10 % level: sd of a year's count ≈ sqrt(24 + 0.01·24²) ≈ 5.5
    assert sims[0].std() > 0.05 * expected0


def test_ra_cost_of_capital_hand_case():
    ra = e.ra_cost_of_capital(100.0, [300.0, 200.0, 100.0], [0.98, 0.96, 0.94], 0.06)
    assert ra == pytest.approx(0.06 * (100 * 0.98 + 200 / 3 * 0.96 + 100 / 3 * 0.94))


def test_group_flows_match_the_bel_engine_cashflows():
    a = default_term_assumptions()
    rng = np.random.default_rng(3)
    n = 40
    pol = {"issue_age": rng.integers(20, 60, n), "policy_term_years": rng.integers(1, 20, n),
           "policy_count": rng.uniform(1, 50, n), "sum_assured": rng.uniform(1e4, 1e6, n),
           "duration_months": rng.integers(0, 12, n), "monthly_premium": rng.uniform(10, 300, n)}
    group = np.arange(n) % 3
    n_months = int((12 * pol["policy_term_years"] + 1).max())
    df = (1 + np.asarray(a.discount_spot_annual)[np.minimum(np.arange(n_months) // 12, 150)]) ** (-np.arange(n_months) / 12)
    acc, pv = e.group_flows_mth(pol, a, group, 3, df[None, :], np.zeros(n, dtype=np.int64))
    flows = e.fixed_to_float_array(acc)  # (3, L, 6)
    total = flows.sum(axis=0)
    ref = project_term_monthly(pol, a, cashflows=True)
    cf = ref.cashflows
    for i, s in enumerate(("premiums", "claims", "expenses", "commissions", "deaths")):
        np.testing.assert_allclose(total[: len(getattr(cf, s)), i], getattr(cf, s), rtol=1e-9, atol=1e-6, err_msg=s)
    np.testing.assert_allclose(pv[:, 0], ref.pv_premiums, rtol=1e-10)
    np.testing.assert_allclose(pv[:, 1], ref.pv_claims + ref.pv_expenses + ref.pv_commissions, rtol=1e-10)
    # group 1 alone is the same as projecting its policies alone
    sel = group == 1
    ref1 = project_term_monthly({k: v[sel] for k, v in pol.items()}, a, cashflows=True).cashflows
    np.testing.assert_allclose(flows[1, : len(ref1.claims), 1], ref1.claims, rtol=1e-9, atol=1e-6)


def test_pv_from_hand_case():
    df = 1.1 ** (-np.arange(3) / 12.0)
    assert e.pv_from([1.0, 2.0, 3.0], df, 1) == pytest.approx(2.0 + 3.0 * df[2] / df[1])
    assert e.pv_from([1.0], df, 5) == 0.0
