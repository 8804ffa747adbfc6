"""term_monthly against lifelib's basiclife ``BasicTerm_ME`` (the open-source peer, specs/life.md A).

The lifelib model is read from the installed package (``modelx.read_model`` on
``lifelib/libraries/basiclife/BasicTerm_ME``; nothing is written to disk). Its own model
points and data (mortality table, discount curve, premium rates via ``premium_pp``) and its
formula constants (lapse ``max(10% - 2% dur, 2%)``, expenses 300 / 60, inflation 1%,
commission 100% of first-year premium) are fed to our engine, which must give the same
per-policy present values. The 10 000 model points include 1 730 future new-business
points (negative ``duration_mth``) that our engine projects the same way.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from workers.engines.life.assumptions import TermAssumptions, default_term_assumptions
from workers.engines.life.cashflow import project_term_monthly

lifelib = pytest.importorskip("lifelib", reason="lifelib (dev dependency) is not installed")
modelx = pytest.importorskip("modelx", reason="modelx (installed with lifelib) is not importable")

COLUMNS = {
    "pv_premiums": "PV Premiums",
    "pv_claims": "PV Claims",
    "pv_expenses": "PV Expenses",
    "pv_commissions": "PV Commissions",
    "pv_net_cf": "PV Net Cashflow",
}


@pytest.fixture(scope="module")
def basic_term_me():
    path = os.path.join(os.path.dirname(lifelib.__file__), "libraries", "basiclife", "BasicTerm_ME")
    if not os.path.isdir(path):
        pytest.skip(f"lifelib has no basiclife/BasicTerm_ME at {path}")
    model = modelx.read_model(path)
    yield model.Projection
    model.close()


def lifelib_inputs(space) -> tuple[dict, TermAssumptions]:
    mp = space.model_point_table
    policies = {
        "policy_id": mp.index.astype(str).to_numpy(dtype=object),
        "issue_age": mp["age_at_entry"].to_numpy(),
        "policy_term_years": mp["policy_term"].to_numpy(),
        "policy_count": mp["policy_count"].to_numpy(dtype=float),
        "sum_assured": mp["sum_assured"].to_numpy(dtype=float),
        "duration_months": mp["duration_mth"].to_numpy(),
        "monthly_premium": np.asarray(space.premium_pp(), dtype=float),
    }
    mort = space.mort_table
    durations = [int(c) for c in mort.columns]
    assert durations == list(range(len(durations)))
    a = TermAssumptions(
        q_select=mort.to_numpy(dtype=float),
        min_age=int(mort.index[0]),
        select_period=len(durations) - 1,
        lapse_by_policy_year=np.maximum(0.1 - 0.02 * np.arange(5), 0.02),  # lifelib lapse_rate(t)
        expense_acquisition=float(space.expense_acq()),
        expense_maintenance=float(space.expense_maint()),
        expense_inflation=float(space.inflation_rate()),
        commission_first_year=1.0,  # lifelib commissions(t) = (duration == 0) * premiums(t)
        discount_spot_annual=space.disc_rate_ann.to_numpy(dtype=float),
    )
    assert list(mort.index) == list(range(a.min_age, a.min_age + len(mort)))
    return policies, a


def test_same_assumptions_give_lifelib_present_values(basic_term_me):
    policies, a = lifelib_inputs(basic_term_me)
    ref = basic_term_me.result_pv()
    ours = project_term_monthly(policies, a)
    assert len(ref) == 10_000
    for name, col in COLUMNS.items():
        expected = ref[col].to_numpy(dtype=float)
        got = getattr(ours, name)
        # Relative to the policy's own cash-flow scale: pv_net_cf is a difference of PVs.
        scale = np.maximum.reduce([np.abs(expected), ref["PV Premiums"].abs().to_numpy(), np.full(expected.shape, 1.0)])
        assert np.max(np.abs(got - expected) / scale) < 1e-6, name
    np.testing.assert_allclose(ours.bel, -ref["PV Net Cashflow"].to_numpy(), rtol=1e-6, atol=1e-6)
    # Portfolio totals, as lifelib publishes them in its BasicTerm_ME notebook.
    assert ours.pv_net_cf.sum() == pytest.approx(ref["PV Net Cashflow"].sum(), rel=1e-9)


def test_aggregate_cashflows_and_policy_counts_match_lifelib(basic_term_me):
    policies, a = lifelib_inputs(basic_term_me)
    cf = project_term_monthly(policies, a, cashflows=True).cashflows
    ref_cf = basic_term_me.result_cf()
    ref_pols = basic_term_me.result_pols()
    assert len(cf.premiums) == len(ref_cf) == basic_term_me.max_proj_len()
    for ours, col in ((cf.premiums, "Premiums"), (cf.claims, "Claims"), (cf.expenses, "Expenses"),
                      (cf.commissions, "Commissions"), (cf.net_cf, "Net Cashflow")):
        np.testing.assert_allclose(ours, ref_cf[col].to_numpy(dtype=float), rtol=1e-9, atol=1e-6)
    for ours, col in ((cf.deaths, "pols_death"), (cf.lapses, "pols_lapse"), (cf.maturities, "pols_maturity"),
                      (cf.new_business, "pols_new_biz")):
        np.testing.assert_allclose(ours, ref_pols[col].to_numpy(dtype=float), rtol=1e-9, atol=1e-9)


def test_default_basis_is_lifelib_basis(basic_term_me):
    _, a = lifelib_inputs(basic_term_me)
    d = default_term_assumptions()
    np.testing.assert_allclose(d.q_select, a.q_select, rtol=1e-12)
    np.testing.assert_allclose(d.discount_spot_annual, a.discount_spot_annual, rtol=1e-12)
    np.testing.assert_allclose(d.lapse_by_policy_year, a.lapse_by_policy_year)
    assert (d.expense_acquisition, d.expense_maintenance, d.expense_inflation) == (
        a.expense_acquisition, a.expense_maintenance, a.expense_inflation)
