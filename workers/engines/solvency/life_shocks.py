"""Life underwriting shocks by revaluing the term BEL (spec life.md A) in one pass.

Delegated Regulation (EU) 2015/35 Art. 137 (mortality), 138 (longevity), 140
(expense), 142 (lapse), 143 (catastrophe) and 166-167 (interest). Each shock is
a change of the assumption set of the monthly term projection of life.md A:

====================  ================================================  ===================
shock                 assumption change                                  BEL engine field
====================  ================================================  ===================
mortality             annual q x (1 + 0.15), capped at 1                 q_multiplier
longevity             annual q x (1 - 0.20)                              q_multiplier
expense               expenses x 1.10, inflation + 1 point              expense_multiplier,
                                                                         expense_inflation_add
lapse up              annual lapse x 1.5, capped at 1                   lapse_multiplier
lapse down            annual lapse x 0.5, fall at most 20 points        lapse_multiplier,
                                                                         lapse_floor_drop
catastrophe           annual q + 0.0015 during the next 12 months       q_add_first_year
interest up / down    Art. 166-167 curves                               discount_spot_annual
====================  ================================================  ===================

:func:`shocked_bels` computes the base BEL and every shocked BEL per policy in a
single fused pass (numba): the decrement-free shocks (expense, interest) re-use
the base in-force path with other expense factors and discount factors, the
five decrement shocks carry their own in-force path next to the base one, and
the annual rates are converted to monthly rates once per policy year. The
result equals separate runs of the BEL engine under each modified assumption
set, which :func:`shocked_bels_by_revaluation` does (tests compare the two).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Mapping

import numba
import numpy as np

from workers.engines.solvency.standard_formula import spot_annual_shocked

SHOCK_NAMES = ("mortality", "longevity", "expense", "lapse_up", "lapse_down", "catastrophe",
               "interest_up", "interest_down")
_FIXED_SCALE = float(2 ** 32)


@dataclass(frozen=True)
class LifeShocks:
    """Shock parameters (defaults: Delegated Regulation 2015/35)."""

    mortality: float = 0.15  # relative increase of q (Art. 137)
    longevity: float = 0.20  # relative decrease of q (Art. 138)
    expense: float = 0.10  # relative increase of expenses (Art. 140)
    expense_inflation: float = 0.01  # absolute increase of the expense inflation rate (Art. 140)
    lapse_up: float = 0.50  # relative increase of lapse rates, capped at 1 (Art. 142(6))
    lapse_down: float = 0.50  # relative decrease of lapse rates (Art. 142(7))
    lapse_down_max_drop: float = 0.20  # ... by at most 20 percentage points
    mass_lapse: float = 0.40  # share of policies lapsing at once (Art. 142(8), other business)
    catastrophe: float = 0.0015  # absolute increase of q over the next 12 months (Art. 143)
    interest_up_min: float = 0.01  # minimum absolute up shock (Art. 166)
    interest_up_scale: float = 1.0  # multiplier on the regulatory relative up shocks
    interest_down_scale: float = 1.0  # multiplier on the regulatory relative down shocks


@numba.njit(cache=True, inline="always")
def _mth(q_ann):
    # monthly rate equivalent to an annual rate: 1 - (1 - q)^(1/12)
    return 1.0 - (1.0 - q_ann) ** (1.0 / 12.0)


@numba.njit(cache=True)
def _fixed_add(acc, y, s, x):
    # exact, order-free accumulation: integer part and 2^-32 fraction counted separately
    h = np.floor(x)
    acc[y, s, 0] += np.int64(h)
    acc[y, s, 1] += np.int64(np.round((x - h) * 4294967296.0))


@numba.njit(cache=True, parallel=True)
def _fused(issue_age, term_y, count, sa, dm0, prem, q_sel, min_age, sp, lapse, acq, mi, mi_exp, cfy, df, df_up,
           df_dn, sh, n_years, n_chunks):
    # mi[t] = maintenance/12 (1 + inflation)^(t/12); mi_exp[t] the same on the expense-shocked basis
    n = issue_age.size
    out = np.zeros((n, 13))  # pv_prem, pv_claims, pv_exp, pv_comm, bel, 8 shocked bels
    runoff = np.zeros((n_chunks, n_years, 2, 2), dtype=np.int64)
    n_lapse = lapse.size
    chunk = (n + n_chunks - 1) // n_chunks
    m_mort, m_long, c_cat = 1.0 + sh[0], 1.0 - sh[1], sh[2]
    x_exp, m_lup, m_ldn, d_ldn = 1.0 + sh[3], 1.0 + sh[4], 1.0 - sh[5], sh[6]
    for c in numba.prange(n_chunks):
        ybuf = np.zeros(n_years)
        cbuf = np.zeros(n_years)
        for p in range(c * chunk, min(n, (c + 1) * chunk)):
            n_cover = 12 * term_y[p] - dm0[p]  # months before maturity (no flows in the maturity month)
            if n_cover <= 0:
                continue
            ybuf[:] = 0.0
            cbuf[:] = 0.0
            # in force before decrements on each path: base, mortality, longevity, lapse up, lapse down, cat
            f0 = f1 = f2 = f3 = f4 = f5 = count[p]
            pv_p = pv_c = pv_e = pv_m = 0.0
            bel1 = bel2 = bel3 = bel4 = bel5 = 0.0
            bel_exp = pv_up = pv_dn = 0.0
            sa_p = sa[p]
            prem_p = prem[p]
            t = 0
            while t < n_cover:
                dm = dm0[p] + t
                dur = dm // 12
                seg_end = min(n_cover, t + 12 - dm % 12)  # rest of the policy year
                if t < 12:
                    seg_end = min(seg_end, 12)  # the catastrophe shock ends after 12 projection months
                q = q_sel[issue_age[p] + dur - min_age, min(dur, sp)]
                lr = lapse[min(dur, n_lapse - 1)]
                qb = _mth(q)
                qm = _mth(min(1.0, q * m_mort))
                ql = _mth(q * m_long)
                qc = _mth(min(1.0, q + c_cat)) if t < 12 else qb
                lb = _mth(lr)
                lu = _mth(min(1.0, lr * m_lup))
                ld = _mth(max(lr * m_ldn, lr - d_ldn))
                s0 = (1.0 - qb) * (1.0 - lb)
                s1 = (1.0 - qm) * (1.0 - lb)
                s2 = (1.0 - ql) * (1.0 - lb)
                s3 = (1.0 - qb) * (1.0 - lu)
                s4 = (1.0 - qb) * (1.0 - ld)
                s5 = (1.0 - qc) * (1.0 - lb)
                a0, a1, a2, a5 = sa_p * qb, sa_p * qm, sa_p * ql, sa_p * qc
                comm = cfy if dur == 0 else 0.0
                c_prem = (comm - 1.0) * prem_p  # commission less premium, per policy in force
                for tt in range(t, seg_end):
                    d = df[tt]
                    cm = mi[tt] + c_prem
                    prem_t = prem_p * f0
                    claim_t = a0 * f0
                    exp_t = mi[tt] * f0
                    net_out = f0 * (a0 + cm)
                    pv_p += prem_t * d
                    pv_c += claim_t * d
                    pv_e += exp_t * d
                    pv_m += comm * prem_t * d
                    y = tt // 12
                    ybuf[y] += net_out * d
                    cbuf[y] += claim_t * d
                    bel_exp += f0 * (a0 + c_prem + mi_exp[tt]) * d
                    pv_up += net_out * df_up[tt]
                    pv_dn += net_out * df_dn[tt]
                    bel1 += f1 * (a1 + cm) * d
                    bel2 += f2 * (a2 + cm) * d
                    bel3 += f3 * (a0 + cm) * d
                    bel4 += f4 * (a0 + cm) * d
                    bel5 += f5 * (a5 + cm) * d
                    f0 *= s0
                    f1 *= s1
                    f2 *= s2
                    f3 *= s3
                    f4 *= s4
                    f5 *= s5
                t = seg_end
            acq_p = acq * count[p] if dm0[p] == 0 else 0.0  # acquisition at t = 0 (DF 1)
            pv_e += acq_p
            ybuf[0] += acq_p
            bel = pv_c + pv_e + pv_m - pv_p
            out[p, 0] = pv_p
            out[p, 1] = pv_c
            out[p, 2] = pv_e
            out[p, 3] = pv_m
            out[p, 4] = bel
            out[p, 5] = bel1 + acq_p
            out[p, 6] = bel2 + acq_p
            out[p, 7] = bel_exp + x_exp * acq_p
            out[p, 8] = bel3 + acq_p
            out[p, 9] = bel4 + acq_p
            out[p, 10] = bel5 + acq_p
            out[p, 11] = pv_up + acq_p
            out[p, 12] = pv_dn + acq_p
            for y in range(min(n_years, (n_cover + 11) // 12)):
                _fixed_add(runoff[c], y, 0, ybuf[y])
                _fixed_add(runoff[c], y, 1, cbuf[y])
    return out, runoff


def discount_factors_mth(spot_annual, n_months: int) -> np.ndarray:
    """``DF_t = (1 + r_{t//12})^(-t/12)`` for ``t = 0..n_months-1`` (life.md A).

    Parameters
    ----------
    spot_annual : array_like, shape (K,)
        Annual spot rates by projection year; the last one applies beyond the curve.

    Returns
    -------
    ndarray, shape (n_months,)
    """
    r = np.asarray(spot_annual, dtype=np.float64)
    t = np.arange(n_months)
    return (1.0 + r[np.minimum(t // 12, r.size - 1)]) ** (-t / 12.0)


def _policy_arrays(policies: Mapping[str, np.ndarray]):
    return (np.ascontiguousarray(policies["issue_age"], dtype=np.int64),
            np.ascontiguousarray(policies["policy_term_years"], dtype=np.int64),
            np.ascontiguousarray(policies["policy_count"], dtype=np.float64),
            np.ascontiguousarray(policies["sum_assured"], dtype=np.float64),
            np.ascontiguousarray(policies["duration_months"], dtype=np.int64),
            np.ascontiguousarray(policies["monthly_premium"], dtype=np.float64))


def check_ages(policies: Mapping[str, np.ndarray], q_select: np.ndarray, min_age: int) -> np.ndarray:
    """Indices of policies whose attained ages leave the mortality table (life.md A: a 422).

    Ages looked up run from ``issue_age + duration_months // 12`` to
    ``issue_age + policy_term_years - 1`` for policies before maturity (no lookup in
    the maturity month nor after it).
    """
    age, term, _, _, dm0, _ = _policy_arrays(policies)
    live = 12 * term - dm0 > 0
    lo = age + dm0 // 12
    hi = age + term - 1
    max_age = min_age + q_select.shape[0] - 1
    return np.flatnonzero(live & ((lo < min_age) | (hi > max_age)))


def shocked_bels(policies: Mapping[str, np.ndarray], a, shocks: LifeShocks = LifeShocks(), *,
                 n_chunks: int | None = None) -> dict:
    """Base and shocked BEL per policy, one fused pass (life.md A, Art. 137-143, 166-167).

    Parameters
    ----------
    policies : mapping of str to ndarray, each shape (n,)
        ``issue_age, policy_term_years, policy_count, sum_assured, duration_months,
        monthly_premium`` (life.md A).
    a : TermAssumptions
        Base assumptions of the BEL engine (``q_select, min_age, select_period,
        lapse_by_policy_year, expense_acquisition, expense_maintenance,
        expense_inflation, commission_first_year, discount_spot_annual``; the
        ``*_multiplier`` / ``*_add`` fields must be at their neutral defaults).
    shocks : LifeShocks

    Returns
    -------
    dict
        ``pv_premiums, pv_claims, pv_expenses, pv_commissions, bel`` and
        ``bel_<shock>`` for every name in ``SHOCK_NAMES``: ndarray, shape (n,),
        currency, BEL = PV outflows - PV inflows. ``runoff_fixed``: int64 array,
        shape (Y, 2), the base PV (at time 0) of net outflows of each projection
        year, as exact fixed-point sums ``[integer part, 2^-32 units]`` so sums
        over any split of the policies agree; ``runoff_claims_fixed`` the same for
        claims. ``df_year_end``: shape (Y,),
        discount factors to the end of each projection year. ``n_months``.

    Raises
    ------
    ValueError
        A policy's attained age leaves the mortality table.
    """
    neutral = dict(q_multiplier=1.0, q_add_first_year=0.0, lapse_multiplier=1.0, lapse_floor_drop=None,
                   expense_multiplier=1.0, expense_inflation_add=0.0)
    shocked = [k for k, v in neutral.items() if getattr(a, k, v) != v]
    if shocked:
        raise ValueError(f"the base basis must be unshocked (got {', '.join(shocked)})")
    age, term, count, sa, dm0, prem = _policy_arrays(policies)
    q_sel = np.ascontiguousarray(a.q_select, dtype=np.float64)
    bad = check_ages(policies, q_sel, int(a.min_age))
    if bad.size:
        raise ValueError(f"attained ages outside the mortality table for {bad.size} policies (first row {int(bad[0])})")
    n_t = 12 * term - dm0 + 1
    n_months = int(max(1, n_t.max(initial=1)))
    n_years = (n_months + 11) // 12
    r = np.asarray(a.discount_spot_annual, dtype=np.float64)
    r_up, r_dn = spot_annual_shocked(r, up_min_abs=shocks.interest_up_min, up_scale=shocks.interest_up_scale,
                                     down_scale=shocks.interest_down_scale)
    # the BEL engine extends the last rate of a curve (shocked or not) beyond its end
    r_pad, r_up, r_dn = (np.concatenate([x, np.full(max(0, n_years + 1 - x.size), x[-1])]) for x in (r, r_up, r_dn))
    df, df_up, df_dn = (discount_factors_mth(x, n_months) for x in (r_pad, r_up, r_dn))
    t = np.arange(n_months)
    mi = float(a.expense_maintenance) / 12.0 * (1.0 + a.expense_inflation) ** (t / 12.0)
    mi_exp = (1.0 + shocks.expense) * float(a.expense_maintenance) / 12.0 * (
        1.0 + a.expense_inflation + shocks.expense_inflation) ** (t / 12.0)
    sh = np.array([shocks.mortality, shocks.longevity, shocks.catastrophe, shocks.expense, shocks.lapse_up,
                   shocks.lapse_down, shocks.lapse_down_max_drop], dtype=np.float64)
    n = age.size
    if n_chunks is None:
        n_chunks = max(1, min(n, 4 * numba.get_num_threads()))
    out, runoff = _fused(age, term, count, sa, dm0, prem, q_sel, int(a.min_age), int(a.select_period),
                         np.ascontiguousarray(a.lapse_by_policy_year, dtype=np.float64),
                         float(a.expense_acquisition), mi, mi_exp, float(a.commission_first_year), df, df_up, df_dn,
                         sh, n_years, max(1, n_chunks))
    res = {k: out[:, i].copy() for i, k in enumerate(
        ("pv_premiums", "pv_claims", "pv_expenses", "pv_commissions", "bel", "bel_mortality", "bel_longevity",
         "bel_expense", "bel_lapse_up", "bel_lapse_down", "bel_catastrophe", "bel_interest_up",
         "bel_interest_down"))}
    runoff = runoff.sum(axis=0)
    res["runoff_fixed"] = runoff[:, 0, :].copy()
    res["runoff_claims_fixed"] = runoff[:, 1, :].copy()
    res["df_year_end"] = (1.0 + r_pad[1:n_years + 1]) ** (-np.arange(1, n_years + 1, dtype=np.float64))
    res["n_months"] = n_months
    return res


def shocked_assumptions(a, shocks: LifeShocks = LifeShocks()) -> dict:
    """The modified BEL-engine assumption set of every shock (``dataclasses.replace``)."""
    r_up, r_dn = spot_annual_shocked(a.discount_spot_annual, up_min_abs=shocks.interest_up_min,
                                     up_scale=shocks.interest_up_scale, down_scale=shocks.interest_down_scale)
    rep = dataclasses.replace
    return {
        "mortality": rep(a, q_multiplier=1.0 + shocks.mortality),
        "longevity": rep(a, q_multiplier=1.0 - shocks.longevity),
        "expense": rep(a, expense_multiplier=1.0 + shocks.expense, expense_inflation_add=shocks.expense_inflation),
        "lapse_up": rep(a, lapse_multiplier=1.0 + shocks.lapse_up),
        "lapse_down": rep(a, lapse_multiplier=1.0 - shocks.lapse_down, lapse_floor_drop=shocks.lapse_down_max_drop),
        "catastrophe": rep(a, q_add_first_year=shocks.catastrophe),
        "interest_up": rep(a, discount_spot_annual=r_up),
        "interest_down": rep(a, discount_spot_annual=r_dn),
    }


def shocked_bels_by_revaluation(policies: Mapping[str, np.ndarray], a, shocks: LifeShocks = LifeShocks()) -> dict:
    """Reference path: one full BEL-engine run per shock (slow; used to validate :func:`shocked_bels`).

    Returns ``bel`` and ``bel_<shock>`` per policy, ndarray shape (n,).
    """
    from workers.engines.life.cashflow import project_term_monthly

    res = {"bel": np.asarray(project_term_monthly(policies, a).bel, dtype=np.float64)}
    for name, a_s in shocked_assumptions(a, shocks).items():
        res[f"bel_{name}"] = np.asarray(project_term_monthly(policies, a_s).bel, dtype=np.float64)
    return res


def fixed_to_float(parts) -> float:
    """Value of an exact fixed-point sum ``[integer part, 2^-32 units]`` (Python ints)."""
    hi, lo = (int(x) for x in parts)
    return (hi * 2 ** 32 + lo) / 2 ** 32  # exact integers, one correctly rounded division


def fixed_sum(x) -> list[int]:
    """Exact, order-independent sum of ``x`` as ``[integer part, 2^-32 units]`` (Python ints).

    Each value is rounded to 2^-32 before summing, so the sum of the parts of any
    split of ``x`` equals the parts of the whole (shard-layout invariance).
    """
    v = np.asarray(x, dtype=np.float64)
    h = np.floor(v)
    lo = np.round((v - h) * _FIXED_SCALE).astype(np.int64)
    return [int(h.astype(np.int64).sum()), int(lo.sum())]
