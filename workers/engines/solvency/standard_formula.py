"""Standard-formula pieces other than the life revaluation.

Delegated Regulation (EU) 2015/35: interest-rate shocks (Art. 166-167), equity
(Art. 168-169), property (Art. 174), currency (Art. 188), market aggregation
with the up/down rule (Art. 164), operational risk (Art. 204), risk margin by
cost of capital (Art. 37-39), minimum capital requirement (Art. 248-251).
"""
from __future__ import annotations

import math

import numpy as np

from workers.engines.solvency.aggregation import MARKET_ORDER, Node, aggregate, market_correlation

# Art. 166 / 167: relative change of the basic risk-free rate by maturity (years).
SHOCK_MATURITIES = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 90], dtype=np.float64)
SHOCK_UP = np.array([0.70, 0.70, 0.64, 0.59, 0.55, 0.52, 0.49, 0.47, 0.44, 0.42, 0.39, 0.37, 0.35, 0.34,
                     0.33, 0.31, 0.30, 0.29, 0.27, 0.26, 0.20])
SHOCK_DOWN = np.array([0.75, 0.65, 0.56, 0.50, 0.46, 0.42, 0.39, 0.36, 0.33, 0.31, 0.30, 0.29, 0.28, 0.28,
                       0.27, 0.28, 0.28, 0.28, 0.29, 0.29, 0.20])


def interest_shock_factors(maturity_years) -> tuple[np.ndarray, np.ndarray]:
    """Relative up and down shocks ``(s_up, s_down)`` by maturity (Art. 166-167).

    Parameters
    ----------
    maturity_years : array_like, shape (n,)
        Maturities in years. Below 1 year the 1-year shock applies, between
        table points it is linearly interpolated, beyond 90 years it is 20 %.

    Returns
    -------
    tuple of ndarray, each shape (n,)
    """
    m = np.asarray(maturity_years, dtype=np.float64)
    return np.interp(m, SHOCK_MATURITIES, SHOCK_UP), np.interp(m, SHOCK_MATURITIES, SHOCK_DOWN)


def spot_annual_shocked(spot_annual, *, up_min_abs: float = 0.01, up_scale: float = 1.0,
                        down_scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Up and down shocked annual spot curves (Art. 166-167).

    The BEL engine applies ``r_k`` to cash flows in projection year ``k`` (times
    ``t`` in ``[k, k+1)`` years), whose maturities run up to ``k + 1`` years; the
    shock for maturity ``k + 1`` is used.

    Parameters
    ----------
    spot_annual : array_like, shape (K,)
        Annual spot rates ``r_k`` (decimal).
    up_min_abs : float
        Minimum absolute increase (Art. 166: one percentage point).
    up_scale, down_scale : float
        Multipliers on the regulatory relative shocks (1 = regulation).

    Returns
    -------
    (r_up, r_down) : ndarray, each shape (K,)
        ``r_up = max(r (1 + s_up), r + up_min_abs)``; ``r_down = r (1 - s_down)``
        for ``r > 0`` and ``r`` unchanged otherwise (no down shock on negative rates).
    """
    r = np.asarray(spot_annual, dtype=np.float64)
    s_up, s_down = interest_shock_factors(np.arange(1, r.size + 1, dtype=np.float64))
    r_up = np.maximum(r * (1.0 + up_scale * s_up), r + up_min_abs)
    r_down = np.where(r > 0.0, r * (1.0 - down_scale * s_down), r)
    return r_up, r_down


def scr_equity(type1: float, type2: float, *, shock_type1: float = 0.39, shock_type2: float = 0.49,
               symmetric_adjustment: float = 0.0, correlation: float = 0.75) -> float:
    """Equity risk (Art. 168-169): type 1/2 losses aggregated with correlation 0.75.

    Parameters
    ----------
    type1, type2 : float
        Market values of type 1 and type 2 equity exposures (currency).
    symmetric_adjustment : float
        Added to both shocks (decimal, e.g. -0.02).
    """
    l1 = max(0.0, type1) * (shock_type1 + symmetric_adjustment)
    l2 = max(0.0, type2) * (shock_type2 + symmetric_adjustment)
    return math.sqrt(max(0.0, l1 * l1 + 2.0 * correlation * l1 * l2 + l2 * l2))


def scr_property(exposure: float, shock: float = 0.25) -> float:
    """Property risk (Art. 174): loss on a 25 % fall of property values."""
    return max(0.0, exposure) * shock


def scr_currency(exposure: float, shock: float = 0.25) -> float:
    """Currency risk (Art. 188): loss on a 25 % move of foreign currencies (net exposure)."""
    return abs(exposure) * shock


def scr_market(sub: dict[str, float], interest_up: float, interest_down: float,
               correlation_up=None, correlation_down=None) -> tuple[Node, str]:
    """Market module with the up/down rule (Art. 164).

    Both aggregations are made, the up one with the interest up requirement and
    ``A = 0``, the down one with the down requirement and ``A = 0.5``; the larger
    is the market SCR and names the binding direction.

    Parameters
    ----------
    sub : dict
        equity, property, spread, concentration, currency requirements.
    interest_up, interest_down : float
        ``max(0, loss of own funds)`` under each interest shock.
    correlation_up, correlation_down : array_like, shape (6, 6), optional
        Override matrices (order ``MARKET_ORDER``).

    Returns
    -------
    (node, binding) : Node, str ("up" or "down")
    """
    c_up = market_correlation(0.0) if correlation_up is None else np.asarray(correlation_up, dtype=np.float64)
    c_dn = market_correlation(0.5) if correlation_down is None else np.asarray(correlation_down, dtype=np.float64)
    trees = {}
    for direction, ir, c in (("up", interest_up, c_up), ("down", interest_down, c_dn)):
        vals = dict(sub, interest=max(0.0, ir))
        v = [float(vals.get(k, 0.0) or 0.0) for k in MARKET_ORDER]
        trees[direction] = Node("market", aggregate(v, c), [Node(k, x) for k, x in zip(MARKET_ORDER, v)])
    binding = "up" if trees["up"].value >= trees["down"].value else "down"
    return trees[binding], binding


def scr_operational(bscr: float, premiums_earned: float, tp_life: float, expenses_unit_linked: float = 0.0,
                    *, premium_factor: float = 0.04, provision_factor: float = 0.0045,
                    cap: float = 0.30, unit_linked_factor: float = 0.25) -> float:
    """Operational risk for a life undertaking (Art. 204).

    ``Op = max(0.04 Earn_life, 0.0045 max(0, TP_life))`` and
    ``SCR_op = min(0.3 BSCR, Op) + 0.25 Exp_ul``.

    Parameters
    ----------
    bscr : float
    premiums_earned : float
        Life premiums earned over the last 12 months (currency).
    tp_life : float
        Life technical provisions (currency, without risk margin).
    expenses_unit_linked : float
        Expenses of unit-linked business over the last 12 months.
    """
    op = max(premium_factor * max(0.0, premiums_earned), provision_factor * max(0.0, tp_life))
    return min(cap * max(0.0, bscr), op) + unit_linked_factor * max(0.0, expenses_unit_linked)


def mcr(scr: float, mcr_linear: float, floor: float, *, corridor_low: float = 0.25,
        corridor_high: float = 0.45) -> dict:
    """Minimum capital requirement (Directive Art. 129, Delegated Regulation Art. 248).

    ``MCR_combined = min(max(MCR_linear, 0.25 SCR), 0.45 SCR)``,
    ``MCR = max(MCR_combined, AMCR)``.

    Returns
    -------
    dict
        ``linear, combined, floor, mcr, binding`` (binding: "linear",
        "corridor_low", "corridor_high" or "floor").
    """
    lo, hi = corridor_low * scr, corridor_high * scr
    combined = min(max(mcr_linear, lo), hi)
    value = max(combined, floor)
    if value == floor and floor > combined:
        binding = "floor"
    elif mcr_linear < lo:
        binding = "corridor_low"
    elif mcr_linear > hi:
        binding = "corridor_high"
    else:
        binding = "linear"
    return {"linear": float(mcr_linear), "combined": float(combined), "floor": float(floor),
            "mcr": float(value), "binding": binding}


def mcr_linear_life(tp_other_life: float, capital_at_risk: float, *, tp_factor: float = 0.021,
                    car_factor: float = 0.0007) -> float:
    """Linear MCR for non-profit life business (Art. 251): ``0.021 TP + 0.0007 CAR``.

    Parameters
    ----------
    tp_other_life : float
        Technical provisions of other life obligations (floored at 0).
    capital_at_risk : float
        Total capital at risk ``Σ_p max(0, SA_p - BEL_p)`` over in-force policies.
    """
    return tp_factor * max(0.0, tp_other_life) + car_factor * max(0.0, capital_at_risk)


def pv_future_at_year_start(net_outflow_mth, df_mth) -> np.ndarray:
    """Value at each projection year start ``y`` of the cash flows from ``12 y`` on.

    ``V(y) = Σ_{t >= 12y} x_t DF_t / DF_{12y}``.

    Parameters
    ----------
    net_outflow_mth : array_like, shape (L,)
        Monthly net outflows (outflows minus inflows), currency.
    df_mth : array_like, shape (L,)
        Discount factors from time 0 to month ``t``.

    Returns
    -------
    ndarray, shape (ceil(L / 12),)
    """
    x = np.asarray(net_outflow_mth, dtype=np.float64)
    df = np.asarray(df_mth, dtype=np.float64)
    tail = np.cumsum((x * df)[::-1])[::-1]
    idx = np.arange(0, x.size, 12)
    return tail[idx] / df[idx]


def risk_margin(scr0: float, runoff, df_year_end, cost_of_capital: float = 0.06) -> dict:
    """Risk margin by cost of capital (Art. 37-39).

    ``RM = CoC Σ_{t>=0} SCR(t) / (1 + r_{t+1})^{t+1}`` with
    ``SCR(t) = SCR(0) · runoff_t / runoff_0`` (run-off in proportion to the BEL).

    Parameters
    ----------
    scr0 : float
        SCR at the valuation date.
    runoff : array_like, shape (Y,)
        Run-off driver at the start of each year ``t = 0..Y-1`` (e.g. BEL(t));
        ``runoff[0]`` must be positive.
    df_year_end : array_like, shape (Y,)
        ``1 / (1 + r_{t+1})^{t+1}``, the discount factor to the end of year ``t``.

    Returns
    -------
    dict
        ``risk_margin`` and ``scr_projection`` (list, per year).
    """
    d = np.asarray(runoff, dtype=np.float64)
    df = np.asarray(df_year_end, dtype=np.float64)
    if d.size == 0 or not d[0] > 0.0:
        raise ValueError("the run-off driver must be positive at t = 0")
    scr_t = scr0 * np.maximum(d, 0.0) / d[0]
    rm = cost_of_capital * math.fsum((scr_t * df).tolist())
    return {"risk_margin": float(rm), "scr_projection": [float(x) for x in scr_t]}
