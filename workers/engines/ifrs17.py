"""IFRS 17 measurement of groups of term contracts (specs/solvency_ifrs17.md B).

Pure functions over group cash-flow vectors; the ``ifrs17`` kind builds the
groups and calls them.

* grouping (§14-24): portfolio x annual cohort x profitability (§16: onerous at
  initial recognition / no significant possibility of becoming onerous /
  remaining), :func:`profitability_class`;
* group cash flows: :func:`group_flows_mth`, the monthly term projection of
  specs/life.md A accumulated per group with exact fixed-point sums (so totals
  do not depend on how policies are split into shards);
* general model: fulfilment cash flows (§32-37), risk adjustment (§37, B86-B92)
  by confidence level from a seeded simulation of deaths or by cost of capital,
  :func:`initial_recognition` (§38, §47), :func:`csm_rollforward` (§44, B96, B119);
* premium allocation approach (§53-59): :func:`paa_lrc`, :func:`paa_loss_component`.
"""
from __future__ import annotations

import math

import numba
import numpy as np

#: Streams of :func:`group_flows_mth` (undiscounted, per projection month).
FLOW_STREAMS = ("premiums", "claims", "expenses", "commissions", "deaths", "coverage_units")
PROFITABILITY = ("onerous", "no_significant_risk", "remaining")


# ---------------------------------------------------------------- grouping


def profitability_class(fcf_inception, pv_premiums_inception, margin: float = 0.10) -> np.ndarray:
    """Profitability group of each contract at initial recognition (IFRS 17 §16).

    Parameters
    ----------
    fcf_inception : array_like, shape (n,)
        Fulfilment cash flows at initial recognition (PV outflows - PV inflows + RA), currency.
    pv_premiums_inception : array_like, shape (n,)
        PV of premiums at initial recognition, currency.
    margin : float
        A contract is "no_significant_risk" when ``-FCF >= margin · PV premiums``
        (its margin absorbs a reasonable adverse change), otherwise "remaining".

    Returns
    -------
    ndarray of str, shape (n,)
        "onerous" (``FCF > 0``), "no_significant_risk" or "remaining".
    """
    fcf = np.asarray(fcf_inception, dtype=np.float64)
    pvp = np.asarray(pv_premiums_inception, dtype=np.float64)
    out = np.where(fcf > 0.0, "onerous", np.where(-fcf >= margin * pvp, "no_significant_risk", "remaining"))
    return out.astype(object)


# ---------------------------------------------------------------- group cash flows


@numba.njit(cache=True, inline="always")
def _mth(q_ann):
    return 1.0 - (1.0 - q_ann) ** (1.0 / 12.0)


@numba.njit(cache=True)
def _group_kernel(issue_age, term_y, count, sa, dm0, prem, group, curve, q_sel, min_age, sp, lapse, acq, maint,
                  infl_f, cfy, q_mult, lapse_mult, df, n_groups, n_months):
    n = issue_age.size
    acc = np.zeros((n_groups, n_months, 6, 2), dtype=np.int64)
    pv = np.zeros((n, 3))  # pv_premiums, pv_outflows, pv_claims (discounted with the policy's curve)
    n_lapse = lapse.size
    buf = np.zeros(6)
    for p in range(n):
        n_t = 12 * term_y[p] - dm0[p] + 1
        if n_t <= 0:
            continue
        f = count[p] if dm0[p] > 0 else 0.0
        qm = lm = 0.0
        cur = -1
        g = group[p]
        for t in range(n_t):
            dm = dm0[p] + t
            dur = dm // 12
            mat = dm == 12 * term_y[p]
            nb = count[p] if dm == 0 else 0.0
            if mat:
                break
            if dur != cur:
                cur = dur
                qm = _mth(min(1.0, q_sel[issue_age[p] + dur - min_age, min(dur, sp)] * q_mult))
                lm = _mth(min(1.0, lapse[min(dur, n_lapse - 1)] * lapse_mult))
            i = f + nb
            d = i * qm
            f = i - d - (i - d) * lm
            buf[0] = prem[p] * i
            buf[1] = sa[p] * d
            buf[2] = acq * nb + i * maint / 12.0 * infl_f[t]
            buf[3] = cfy * buf[0] if dur == 0 else 0.0
            buf[4] = d
            buf[5] = i * sa[p]
            disc = df[curve[p], t]
            pv[p, 0] += buf[0] * disc
            pv[p, 1] += (buf[1] + buf[2] + buf[3]) * disc
            pv[p, 2] += buf[1] * disc
            for s in range(6):
                x = buf[s]
                h = np.floor(x)
                acc[g, t, s, 0] += np.int64(h)
                acc[g, t, s, 1] += np.int64(np.round((x - h) * 4294967296.0))
    return acc, pv


def group_flows_mth(policies, a, group, n_groups: int, df_by_curve, curve, *, from_inception: bool = False,
                    q_multiplier: float = 1.0, lapse_multiplier: float = 1.0, expense_multiplier: float = 1.0):
    """Expected monthly cash flows per group, exact (specs/life.md A projection).

    Parameters
    ----------
    policies : mapping of str to ndarray, each shape (n,)
        ``issue_age, policy_term_years, policy_count, sum_assured, duration_months, monthly_premium``.
    a : TermAssumptions
        Best-estimate basis (mortality, lapse, expenses, commission).
    group : ndarray of int, shape (n,)
        Group index of each policy, ``0 <= group < n_groups``.
    df_by_curve : ndarray, shape (n_curves, L)
        Monthly discount factors of each curve (``L >=`` the longest projection).
    curve : ndarray of int, shape (n,)
        Curve used for each policy's present values (its cohort's locked-in curve).
    from_inception : bool
        Project every policy from issue (``duration_months = 0``), for the
        assessment at initial recognition.
    q_multiplier, lapse_multiplier, expense_multiplier : float
        A changed basis (changes in estimates).

    Returns
    -------
    flows : ndarray of int64, shape (n_groups, L, 6, 2)
        Exact fixed-point sums ``[integer part, 2^-32 units]`` of :data:`FLOW_STREAMS`
        by projection month ``t`` (counted from the valuation date, or from issue).
    pv : ndarray, shape (n, 3)
        Per policy: PV premiums, PV outflows (claims + expenses + commissions), PV claims.
    """
    get = lambda k, dt: np.ascontiguousarray(policies[k], dtype=dt)  # noqa: E731
    dm0 = np.zeros(len(policies["issue_age"]), dtype=np.int64) if from_inception else get("duration_months", np.int64)
    n_months = df_by_curve.shape[1]
    infl_f = (1.0 + a.expense_inflation) ** (np.arange(n_months) / 12.0)
    return _group_kernel(get("issue_age", np.int64), get("policy_term_years", np.int64), get("policy_count", np.float64),
                         get("sum_assured", np.float64), dm0, get("monthly_premium", np.float64),
                         np.ascontiguousarray(group, dtype=np.int64), np.ascontiguousarray(curve, dtype=np.int64),
                         np.ascontiguousarray(a.q_select, dtype=np.float64), int(a.min_age), int(a.select_period),
                         np.ascontiguousarray(a.lapse_by_policy_year, dtype=np.float64),
                         float(a.expense_acquisition) * expense_multiplier,
                         float(a.expense_maintenance) * expense_multiplier, infl_f, float(a.commission_first_year),
                         float(q_multiplier), float(lapse_multiplier), np.ascontiguousarray(df_by_curve), int(n_groups),
                         int(n_months))


def fixed_to_float_array(parts) -> np.ndarray:
    """Float values of exact fixed-point sums ``[..., 2]`` (integer part, 2^-32 units)."""
    p = np.asarray(parts, dtype=np.int64)
    hi, lo = p[..., 0], p[..., 1]
    # move whole units out of the fraction so 0 <= lo < 2^32: both terms are then exact
    # floats (|hi| < 2^53) and their one addition rounds the exact value correctly
    carry = np.floor_divide(lo, 2 ** 32)
    hi = hi + carry
    lo = lo - carry * 2 ** 32
    return hi.astype(np.float64) + lo.astype(np.float64) / 2.0 ** 32


# ---------------------------------------------------------------- present values


def pv_from(flows_mth, df_mth, start_month: int = 0) -> float:
    """Value at month ``start_month`` of the flows from that month on.

    ``Σ_{t >= s} x_t DF_t / DF_s`` (flows at the start of each month, DF_t from time 0).

    Parameters
    ----------
    flows_mth : array_like, shape (L,)
    df_mth : array_like, shape (>= L,)
    """
    x = np.asarray(flows_mth, dtype=np.float64)
    df = np.asarray(df_mth, dtype=np.float64)[: x.size]
    if start_month >= x.size:
        return 0.0
    return math.fsum((x[start_month:] * df[start_month:]).tolist()) / df[start_month]


# ---------------------------------------------------------------- risk adjustment


def simulate_pv_claims(deaths_mth, claims_mth, df_mth, rng: np.random.Generator, *, n_sims: int = 10_000,
                       mortality_sd: float = 0.10, start_months=(0, 12)) -> dict:
    """Seeded simulation of the PV of claims from a group's decrements (IFRS 17 B86-B92).

    Deaths of projection year ``y`` are ``Poisson(m · E_y)`` with ``E_y`` the
    expected deaths (policy counts) and ``m`` a lognormal mortality level common
    to all years of a path (mean 1, standard deviation ``mortality_sd``: the
    uncertainty about the mortality basis); the claims of a year scale with its
    deaths. Expenses and premiums are deterministic here.

    Parameters
    ----------
    deaths_mth, claims_mth : array_like, shape (L,)
        Expected deaths (counts) and claims (currency) by projection month.
    df_mth : array_like, shape (>= L,)
        Discount factors from time 0.
    rng : numpy.random.Generator
    start_months : sequence of int
        Valuation points ``s``; each gets the PV at ``s`` of the claims from ``s`` on.

    Returns
    -------
    dict
        ``{s: ndarray shape (n_sims,)}`` simulated PV of claims, same draws for every ``s``.
    """
    deaths = np.asarray(deaths_mth, dtype=np.float64)
    claims = np.asarray(claims_mth, dtype=np.float64)
    df = np.asarray(df_mth, dtype=np.float64)[: claims.size]
    n_years = (claims.size + 11) // 12
    pad = n_years * 12 - claims.size
    d_y = np.pad(deaths, (0, pad)).reshape(n_years, 12).sum(axis=1)
    pvc_m = np.pad(claims * df, (0, pad)).reshape(n_years, 12)
    sigma_ln = math.sqrt(math.log1p(mortality_sd ** 2))
    level = np.exp(sigma_ln * rng.standard_normal(n_sims) - 0.5 * sigma_ln ** 2)
    sim_d = rng.poisson(np.outer(level, d_y))
    ratio = np.divide(sim_d, d_y, out=np.zeros((n_sims, n_years)), where=d_y > 0)
    out = {}
    for s in start_months:
        s = int(s)
        if s >= claims.size:
            out[s] = np.zeros(n_sims)
            continue
        pv_y = pvc_m.copy()
        pv_y[: s // 12] = 0.0
        pv_y[s // 12, : s % 12] = 0.0
        out[s] = ratio @ pv_y.sum(axis=1) / df[s]
    return out


def ra_confidence_level(pv_outflow_sims, level: float = 0.75) -> float:
    """Risk adjustment by confidence level: ``quantile_level(PV outflows) - mean`` (B92).

    Parameters
    ----------
    pv_outflow_sims : array_like, shape (n_sims,)
    level : float in (0, 1)

    Returns
    -------
    float, >= 0
    """
    x = np.asarray(pv_outflow_sims, dtype=np.float64)
    if x.size == 0:
        return 0.0
    return max(0.0, float(np.quantile(x, level)) - float(x.mean()))


def ra_cost_of_capital(capital0: float, runoff, df_year_end, cost_of_capital: float = 0.06) -> float:
    """Risk adjustment by cost of capital: ``CoC Σ_y C_y DF(y+1)``, ``C_y = C_0 runoff_y / runoff_0``.

    Parameters
    ----------
    capital0 : float
        Capital held at the valuation point (e.g. the 99.5 % quantile of the PV of
        outflows minus its mean).
    runoff : array_like, shape (Y,)
        Run-off driver at each year start (e.g. remaining PV of claims).
    df_year_end : array_like, shape (Y,)
        Discount factor from the valuation point to the end of year ``y``.
    """
    d = np.asarray(runoff, dtype=np.float64)
    if d.size == 0 or not d[0] > 0.0:
        return 0.0
    c = capital0 * np.maximum(d, 0.0) / d[0]
    return cost_of_capital * math.fsum((c * np.asarray(df_year_end, dtype=np.float64)[: d.size]).tolist())


def implied_confidence_level(pv_outflow_sims, ra: float) -> float:
    """Share of simulations with PV outflows ``<= mean + RA`` (disclosure, IFRS 17 §119)."""
    x = np.asarray(pv_outflow_sims, dtype=np.float64)
    return float(np.mean(x <= x.mean() + ra)) if x.size else 1.0


# ---------------------------------------------------------------- general model


def initial_recognition(pv_outflows: float, pv_inflows: float, ra: float) -> dict:
    """Measurement at initial recognition (§32, §38, §47).

    ``FCF = PV(outflows) - PV(inflows) + RA``; ``CSM = max(0, -FCF)``,
    loss component ``max(0, FCF)``.
    """
    fcf = pv_outflows - pv_inflows + ra
    return {"bel": pv_outflows - pv_inflows, "ra": ra, "fcf": fcf, "csm": max(0.0, -fcf), "loss_component": max(0.0, fcf)}


def csm_rollforward(opening: float, new_business: float, accretion_rate: float, change_future_service: float,
                    cu_provided: float, cu_remaining: float, *, opening_lc: float = 0.0,
                    new_business_lc: float = 0.0) -> dict:
    """CSM (and loss component) movements over a reporting period (§44, §48, §50, B96, B119).

    Order: opening + new business + interest accretion at the locked-in rate
    (on both, for the whole period) + changes in estimates for future service,
    then release for the services of the period by coverage units
    ``provided / (provided + expected remaining)``.

    An increase of the fulfilment cash flows (``change_future_service > 0``)
    first reduces the CSM, the excess becomes a loss (loss component); a
    decrease first reverses the loss component, the rest increases the CSM.

    Parameters
    ----------
    opening, new_business : float
        CSM at the start of the period and of contracts recognised in it (>= 0).
    accretion_rate : float
        Locked-in rate for the period (e.g. 1-year rate at initial recognition).
    change_future_service : float
        Change of fulfilment cash flows for future service (+ = more liability).
    cu_provided, cu_remaining : float
        Coverage units of the period and expected after it.
    opening_lc, new_business_lc : float
        Loss component at the start and of new onerous contracts.

    Returns
    -------
    dict
        ``opening, new_business, interest_accretion, changes_in_estimates,
        release, closing`` for the CSM (opening + movements = closing) and
        ``lc_opening, lc_new_business, lc_increase, lc_reversal, lc_closing``.
    """
    accretion = (opening + new_business) * accretion_rate
    before = opening + new_business + accretion
    lc = opening_lc + new_business_lc
    lc_increase = lc_reversal = 0.0
    if change_future_service >= 0.0:
        absorbed = min(before, change_future_service)
        lc_increase = change_future_service - absorbed
        csm_change = -absorbed
    else:
        favourable = -change_future_service
        lc_reversal = min(lc, favourable)
        csm_change = favourable - lc_reversal
    after = before + csm_change
    total_units = cu_provided + cu_remaining
    release = after * cu_provided / total_units if total_units > 0.0 else after
    return {
        "opening": opening, "new_business": new_business, "interest_accretion": accretion,
        "changes_in_estimates": csm_change, "release": -release, "closing": after - release,
        "lc_opening": opening_lc, "lc_new_business": new_business_lc, "lc_increase": lc_increase,
        "lc_reversal": -lc_reversal, "lc_closing": lc + lc_increase - lc_reversal,
    }


# ---------------------------------------------------------------- premium allocation approach


def paa_lrc(opening: float, premiums_received: float, revenue: float, acquisition_paid: float = 0.0,
            acquisition_amortised: float = 0.0) -> dict:
    """Liability for remaining coverage under the PAA (§55).

    ``closing = opening + premiums received - revenue - acquisition cash flows
    paid + their amortisation`` (acquisition paid and amortised are 0 when they
    are expensed as incurred, §59(a)).
    """
    closing = opening + premiums_received - revenue - acquisition_paid + acquisition_amortised
    return {"opening": opening, "premiums_received": premiums_received, "revenue": -revenue,
            "acquisition_paid": -acquisition_paid, "acquisition_amortised": acquisition_amortised, "closing": closing}


def paa_loss_component(fcf_remaining: float, lrc: float) -> float:
    """Loss of an onerous PAA group (§57-58): ``max(0, FCF of remaining coverage - LRC)``."""
    return max(0.0, fcf_remaining - lrc)
