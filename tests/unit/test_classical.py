"""Classical BEL (life.md B) against direct expectations and published ILT values."""
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workers.engines.life.classical import classical_bel
from workers.engines.life.tables import q_makeham

MIN_AGE = 20
QX = np.r_[q_makeham(np.arange(20, 110), 0.0007, 0.00005, 10 ** 0.04), 1.0]  # ILT from 20, closed at 110


def _policies(**cols):
    base = {"issue_age": 40, "duration_months": 0, "policy_term_years": 10, "sum_assured": 1000.0,
            "policy_count": 1.0, "policy_type": "term", "annual_pension": 0.0}
    base.update(cols)
    n = max(len(v) if isinstance(v, list) else 1 for v in base.values())
    return pd.DataFrame({k: v if isinstance(v, list) else [v] * n for k, v in base.items()})


def _direct(x, n, k, sa, kind, i, pension=0.0):
    """Expected PV by summing over the years (no commutation functions)."""
    q = QX[x - MIN_AGE:]
    v = 1 / (1 + i)
    surv = np.r_[1.0, np.cumprod(1 - q)]
    years = len(q) if kind in ("whole_life", "annuity") else n
    def pv(start, length, benefit_maturity):
        p = surv[start:] / surv[start]
        ben = sum(v ** (t + 1) * p[t] * q[start + t] for t in range(min(length, len(q) - start)))
        ann = sum(v ** t * p[t] for t in range(min(length, len(q) - start)))
        endw = v ** length * p[length] if benefit_maturity and length < len(p) else 0.0
        return ben, ann, endw
    if kind == "annuity":
        return pension * pv(k, len(q), False)[1]
    ben0, ann0, end0 = pv(0, years, kind == "endowment")
    prem = sa * (ben0 + end0) / ann0
    if kind != "whole_life" and k >= n:
        return 0.0
    ben, ann, endw = pv(k, years - k if kind != "whole_life" else len(q), kind == "endowment")
    return sa * (ben + endw) - prem * ann


@pytest.mark.parametrize("kind", ["whole_life", "term", "endowment"])
@pytest.mark.parametrize("x, n, months", [(40, 20, 0), (40, 20, 61), (55, 10, 119), (30, 35, 240)])
def test_reserve_matches_direct_expectation(kind, x, n, months):
    pol = _policies(issue_age=x, policy_term_years=n, duration_months=months, policy_type=kind,
                    sum_assured=50_000.0, policy_count=3.0)
    got = classical_bel(pol, QX, MIN_AGE, 0.03)[0]
    want = 3.0 * _direct(x, n, months // 12, 50_000.0, kind, 0.03)
    assert got == pytest.approx(want, rel=1e-10, abs=1e-6)
    if months == 0:
        assert got == pytest.approx(0.0, abs=1e-6)


def test_annuity_in_payment_is_pension_times_annuity_due():
    pol = _policies(issue_age=65, duration_months=36, policy_type="annuity", annual_pension=12_000.0,
                    policy_count=2.0)
    assert classical_bel(pol, QX, MIN_AGE, 0.02)[0] == pytest.approx(
        2.0 * _direct(65, 0, 3, 0.0, "annuity", 0.02, pension=12_000.0), rel=1e-12)


def test_published_ilt_whole_life_reserve():
    # 1000 20V_40 = 1000 (1 - ä_60/ä_40) = 247.77 with the ILT's printed ä at 6 % (Bowers et al. 2nd ed.).
    pol = _policies(issue_age=40, duration_months=240, policy_type="whole_life", sum_assured=1000.0)
    assert classical_bel(pol, QX, MIN_AGE, 0.06)[0] == pytest.approx(1000 * (1 - 11.1454 / 14.8166), abs=0.01)


def test_run_off_and_vectorised_mix():
    pol = _policies(policy_type=["term", "endowment", "whole_life", "annuity"], duration_months=[120, 130, 0, 0],
                    annual_pension=[0.0, 0.0, 0.0, 1.0])
    bel = classical_bel(pol, QX, MIN_AGE, 0.04)
    assert bel[0] == 0.0 and bel[1] == 0.0 and bel[2] == pytest.approx(0.0, abs=1e-9)
    assert bel[3] == pytest.approx(_direct(40, 0, 0, 0.0, "annuity", 0.04, pension=1.0), rel=1e-12)
    assert classical_bel(pol.iloc[:0], QX, MIN_AGE, 0.04).shape == (0,)


def test_out_of_table_ages_and_bad_fields():
    with pytest.raises(ValueError, match="rows 0"):
        classical_bel(_policies(issue_age=18), QX, MIN_AGE, 0.03)
    with pytest.raises(ValueError, match="rows 1"):
        classical_bel(_policies(issue_age=[40, 105], duration_months=[0, 72]), QX, MIN_AGE, 0.03)
    with pytest.raises(ValueError, match="lack"):
        classical_bel(_policies().drop(columns=["policy_type"]), QX, MIN_AGE, 0.03)
    with pytest.raises(ValueError, match="unknown policy_type"):
        classical_bel(_policies(policy_type="unit_linked"), QX, MIN_AGE, 0.03)


@settings(max_examples=50, deadline=None)
@given(x=st.integers(20, 80), k=st.integers(0, 25), sa=st.floats(1.0, 1e7), count=st.floats(0.0, 1e3),
       i=st.floats(0.0, 0.1))
def test_whole_life_reserve_identity_and_linearity(x, k, sa, count, i):
    # kV = SA (1 - ä_{x+k} / ä_x) for whole life with premiums for life (Bowers et al. 2nd ed. §8.3),
    # with the annuities summed directly from the q column.
    pol = _policies(issue_age=x, duration_months=12 * k, policy_type="whole_life", sum_assured=sa,
                    policy_count=count)
    v = 1 / (1 + i)

    def a_due(age):
        surv = np.r_[1.0, np.cumprod(1 - QX[age - MIN_AGE:])][:-1]
        return float(np.sum(surv * v ** np.arange(surv.size)))

    got = classical_bel(pol, QX, MIN_AGE, i)[0]
    assert got == pytest.approx(count * sa * (1 - a_due(x + k) / a_due(x)), rel=1e-9, abs=1e-9 * sa * count)
