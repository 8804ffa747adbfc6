"""IFRS 9 expected credit loss: staging and measurement of a loan book.

Implements ``specs/ecl.md``: staging (IFRS 9 §5.5.3, §5.5.11, B5.5.37 30/90 days
past due presumptions, §5.5.10 low credit risk), lifetime and 12-month ECL
discounted at the effective interest rate (B5.5.44), probability-weighted over
scenarios on the ECL, never on the inputs (§5.5.17(a), §5.5.18).

All money is float64 in the loan's currency; rates are annual decimals; terms are
whole months. The month-by-month sum is one fused numba loop over loans
(``_measure_kernel``): per loan it builds ``EAD_t DF_t`` once (shared by all
scenarios) and then sweeps the months for two scenarios at a time with the
survival and running sums in registers; nothing of size loans x months is ever
allocated. Exact, shard-layout-independent totals come from
:func:`exact_partials` / :func:`grouped_exact_partials` (Shewchuk expansions:
``math.fsum`` of the concatenated partials of any split equals ``math.fsum`` of
all the values).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numba
import numpy as np
import pandas as pd

__all__ = [
    "AMORTIZATION_CODES",
    "STAGE_REASONS",
    "EclResult",
    "amortization_code",
    "balance_start_mth",
    "disc_mth",
    "ecl_loans",
    "ecl_measure",
    "exact_partials",
    "grouped_exact_partials",
    "q_mth",
    "stage_with_reason",
]

#: Integer codes of the amortisation profiles used by the kernel.
AMORTIZATION_CODES: dict[str, int] = {"bullet": 0, "linear": 1, "annuity": 2}

#: ``stage_reason`` strings; a loan's reason code is an index into this tuple.
#: Order is the evaluation order of the spec (first that applies wins).
STAGE_REASONS: tuple[str, ...] = (
    "default_flag",
    "dpd_stage3",
    "dpd_stage2",
    "watchlist",
    "forborne",
    "pd_deterioration",
    "performing",
    "override",
)
_R = {name: np.int8(i) for i, name in enumerate(STAGE_REASONS)}

# Below this monthly rate an annuity is a linear profile to float64 precision and
# the ratio of numerators would run through subnormal numbers.
_TINY_RATE = 1e-280
# A Shewchuk expansion of finite float64 values has at most ~40 non-overlapping
# components (2098 binary exponents / 53 bits); 64 leaves margin.
_MAX_PARTIALS = 64


# --------------------------------------------------------------------------- staging


def stage_with_reason(
    days_past_due: np.ndarray,
    default_flag: np.ndarray,
    watchlist: np.ndarray,
    forborne: np.ndarray,
    pd_12m: np.ndarray,
    pd_12m_origination: np.ndarray,
    stage_override: np.ndarray | None = None,
    *,
    dpd_stage2: int = 30,
    dpd_stage3: int = 90,
    relative_pd_threshold: float = 2.0,
    absolute_pd_threshold: float = 0.005,
    low_credit_risk_pd: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """IFRS 9 stage of each loan and the first rule that put it there.

    Rules, in order (``specs/ecl.md`` "Staging"; IFRS 9 §5.5.3, §5.5.10,
    §5.5.11, B5.5.37):

    1. stage 3 if ``default_flag`` (reason ``default_flag``) or
       ``days_past_due > dpd_stage3`` (``dpd_stage3``);
    2. stage 2 if ``days_past_due > dpd_stage2`` (``dpd_stage2``), ``watchlist``,
       ``forborne``, or the PD trigger (``pd_deterioration``):
       ``pd_12m_origination`` present and ``pd_12m >= relative * pd_orig`` and
       ``pd_12m - pd_orig >= absolute``, switched off alone when
       ``low_credit_risk_pd`` is set and ``pd_12m <= low_credit_risk_pd``;
    3. otherwise stage 1 (``performing``).

    A present ``stage_override`` (1, 2 or 3) replaces the stage, reason ``override``.

    Parameters
    ----------
    days_past_due : ndarray of int, shape (n,)
        Days past due at the reporting date.
    default_flag, watchlist, forborne : ndarray of bool, shape (n,)
    pd_12m : ndarray of float64, shape (n,)
        12-month PD at the reporting date.
    pd_12m_origination : ndarray of float64, shape (n,)
        12-month PD at initial recognition, NaN when unknown.
    stage_override : ndarray of float64 or int, shape (n,), optional
        1, 2, 3, or NaN for none.
    dpd_stage2, dpd_stage3 : int
        Days-past-due thresholds (strictly greater than triggers).
    relative_pd_threshold, absolute_pd_threshold : float
        PD deterioration trigger: both must hold.
    low_credit_risk_pd : float or None
        Low credit risk exemption of the PD trigger (§5.5.10).

    Returns
    -------
    stage : ndarray of int8, shape (n,)
        1, 2 or 3.
    reason : ndarray of int8, shape (n,)
        Index into :data:`STAGE_REASONS`.
    """
    dpd = np.asarray(days_past_due)
    dflt = np.asarray(default_flag, dtype=bool)
    watch = np.asarray(watchlist, dtype=bool)
    forb = np.asarray(forborne, dtype=bool)
    pd_now = np.asarray(pd_12m, dtype=np.float64)
    pd_orig = np.asarray(pd_12m_origination, dtype=np.float64)

    pd_trigger = (
        ~np.isnan(pd_orig)
        & (pd_now >= relative_pd_threshold * pd_orig)
        & (pd_now - pd_orig >= absolute_pd_threshold)
    )
    if low_credit_risk_pd is not None:
        pd_trigger &= ~(pd_now <= low_credit_risk_pd)

    conditions = [
        dflt,
        dpd > dpd_stage3,
        dpd > dpd_stage2,
        watch,
        forb,
        pd_trigger,
    ]
    reason = np.select(conditions, [_R[name] for name in STAGE_REASONS[:6]], default=_R["performing"])
    reason = reason.astype(np.int8)
    stage = np.where(reason <= _R["dpd_stage3"], 3, np.where(reason <= _R["pd_deterioration"], 2, 1))
    stage = stage.astype(np.int8)
    if stage_override is not None:
        ovr = np.asarray(stage_override, dtype=np.float64)
        has = ~np.isnan(ovr)
        if np.any(has & ~np.isin(ovr, (1.0, 2.0, 3.0))):
            raise ValueError("stage_override must be 1, 2, 3 or empty")
        stage = np.where(has, np.nan_to_num(ovr, nan=0.0), stage).astype(np.int8)
        reason = np.where(has, _R["override"], reason).astype(np.int8)
    return stage, reason


# ----------------------------------------------------------- elementary quantities


def q_mth(pd_12m: np.ndarray | float) -> np.ndarray:
    """Monthly default probability with a constant hazard.

    ``q = 1 - (1 - p)^(1/12)``, and ``q = 1`` when ``p = 1`` (``specs/ecl.md``,
    "Measurement"). Computed as ``-expm1(log1p(-p)/12)`` so small PDs keep full
    relative precision.

    Parameters
    ----------
    pd_12m : float or ndarray of float64, shape (n,)
        12-month PD in [0, 1].

    Returns
    -------
    ndarray of float64, shape (n,)
        Monthly PD in [0, 1].
    """
    p = np.asarray(pd_12m, dtype=np.float64)
    with np.errstate(divide="ignore"):
        q = -np.expm1(np.log1p(-p) / 12.0)
    return np.where(p >= 1.0, 1.0, q)


def disc_mth(eir: float, t: np.ndarray) -> np.ndarray:
    """Discount factor to the reporting date of the end of month ``t``.

    ``DF_t = (1 + eir)^(-t/12)`` (IFRS 9 B5.5.44: discount at the EIR).

    Parameters
    ----------
    eir : float
        Annual effective interest rate (decimal).
    t : ndarray of int, shape (m,)
        Months after the reporting date, >= 1.

    Returns
    -------
    ndarray of float64, shape (m,)
    """
    return np.exp(-np.asarray(t, dtype=np.float64) / 12.0 * math.log1p(eir))


def balance_start_mth(ead: float, eir: float, term_months: int, amortization: str) -> np.ndarray:
    """Drawn balance at the start of months 1..T for one loan.

    bullet ``B_t = ead``; linear ``B_t = ead (T - t + 1) / T``; annuity with
    ``r = eir / 12 > 0``: ``B_t = ead ((1+r)^T - (1+r)^(t-1)) / ((1+r)^T - 1)``,
    linear when ``r = 0`` (``specs/ecl.md``). The annuity is evaluated as
    ``(1 - (1+r)^-(T-t+1)) / (1 - (1+r)^-T)`` with ``expm1`` so that small rates
    keep full precision. This is the readable per-loan reference of what the
    kernel does; the kernel never materialises the array.

    Parameters
    ----------
    ead : float
        Drawn balance at the reporting date.
    eir : float
        Annual effective interest rate.
    term_months : int
        Remaining term T >= 1.
    amortization : {"bullet", "linear", "annuity"}

    Returns
    -------
    ndarray of float64, shape (T,)
    """
    T = int(term_months)
    t = np.arange(1, T + 1, dtype=np.float64)
    code = amortization_code(amortization)
    r = eir / 12.0
    if code == 0:
        return np.full(T, float(ead))
    if code == 1 or r <= _TINY_RATE:
        return ead * (T - t + 1.0) / T
    lg = math.log1p(r)
    return ead * np.expm1(-(T - t + 1.0) * lg) / math.expm1(-T * lg)


def amortization_code(name: str) -> int:
    """Kernel code of an amortisation profile name (``bullet | linear | annuity``)."""
    try:
        return AMORTIZATION_CODES[name]
    except KeyError:
        raise ValueError(f"amortization must be one of bullet, linear, annuity, not {name!r}") from None


# ------------------------------------------------------------------------- kernel


def _f64(a) -> np.ndarray:
    # Writable C-contiguous float64 always, so the kernels compile one signature
    # (pandas hands out read-only views, and numba types read-only arrays apart).
    return np.require(a, dtype=np.float64, requirements=("C", "W"))


def _i64(a) -> np.ndarray:
    return np.require(a, dtype=np.int64, requirements=("C", "W"))


@numba.njit(cache=True, nogil=True)
def _measure_kernel(ead, ccf_undrawn, lgd, eir, term, amort, pd_12m, stage,
                    weight, pd_mult, lgd_mult,
                    ecl_12m, ecl_lifetime, pd_lifetime, ecl_scn):  # pragma: no cover - compiled
    n = ead.shape[0]
    k = weight.shape[0]
    q = np.empty(k)
    s1 = np.empty(k)
    lp = np.empty(k)
    lgd_s = np.empty(k)
    acc = np.empty(k)
    acc12 = np.empty(k)
    max_t = 1
    for i in range(n):
        if term[i] > max_t:
            max_t = term[i]
    x = np.empty(max_t + 1)  # EAD_t DF_t of the current loan, index t (annuity: numerators first)
    for i in range(n):
        T = term[i]
        cu = ccf_undrawn[i]
        e1 = ead[i] + cu
        for s in range(k):
            v = lgd[i] * lgd_mult[s]
            lgd_s[s] = v if v < 1.0 else 1.0
        if stage[i] == 3:
            tot = 0.0
            for s in range(k):
                v = lgd_s[s] * e1
                ecl_scn[i, s] = v
                tot += weight[s] * v
            ecl_12m[i] = tot
            ecl_lifetime[i] = tot
            pd_lifetime[i] = 1.0
            continue
        for s in range(k):
            p = pd_12m[i] * pd_mult[s]
            if p >= 1.0:
                q[s] = 1.0
                s1[s] = 0.0
                lp[s] = -np.inf
            else:
                lp[s] = math.log1p(-p) / 12.0
                q[s] = -math.expm1(lp[s])
                s1[s] = math.exp(lp[s])
        r = eir[i] / 12.0
        d = math.exp(-math.log1p(eir[i]) / 12.0)
        code = amort[i]
        if code == 2 and not r > 1e-280:
            code = 1
        b0 = ead[i]
        # Pass 1: x_t = EAD_t DF_t, shared by every scenario.
        if code == 2:
            # Backward recurrence N_{j+2} = N_j / (1+r)^2 + N_2 for N_j = 1 - (1+r)^-j
            # (two interleaved chains): a contraction, so no cancellation at any
            # rate, unlike 1 - (1+r)^-j or the forward balance recurrence
            # B_{t+1} = (1+r) B_t - P, which amplifies errors by (1+r)^T.
            ginv = 1.0 / (1.0 + r)
            g2 = ginv * ginv
            n1 = r * ginv
            n2 = n1 * ginv + n1
            na = n1
            nb = n2
            x[T] = na
            if T >= 2:
                x[T - 1] = nb
            for j in range(3, T + 1, 2):
                na = na * g2 + n2
                x[T - j + 1] = na
                if j + 1 <= T:
                    nb = nb * g2 + n2
                    x[T - j] = nb
            scale = b0 / x[1]
            df = 1.0
            for t in range(1, T + 1):
                df *= d
                x[t] = (scale * x[t] + cu) * df
        elif code == 1:
            step = b0 / T
            df = 1.0
            for t in range(1, T + 1):
                df *= d
                x[t] = (step * (T - t + 1) + cu) * df
        else:
            df = 1.0
            for t in range(1, T + 1):
                df *= d
                x[t] = (b0 + cu) * df
        # Pass 2: sum_t S_{t-1} x_t per scenario, two scenarios per sweep so the
        # survival and sum recurrences of both stay in registers.
        h = T if T < 12 else 12
        s = 0
        while s < k:
            sa = s1[s]
            sb = s1[s + 1] if s + 1 < k else 1.0
            ua = 1.0
            ub = 1.0
            aa = 0.0
            ab = 0.0
            for t in range(1, h + 1):
                xt = x[t]
                aa += ua * xt
                ua *= sa
                ab += ub * xt
                ub *= sb
            acc12[s] = aa
            if s + 1 < k:
                acc12[s + 1] = ab
            for t in range(h + 1, T + 1):
                xt = x[t]
                aa += ua * xt
                ua *= sa
                ab += ub * xt
                ub *= sb
            acc[s] = aa
            if s + 1 < k:
                acc[s + 1] = ab
            s += 2
        t12 = 0.0
        tlt = 0.0
        tpd = 0.0
        st = stage[i]
        for s in range(k):
            e12 = lgd_s[s] * (q[s] * acc12[s])
            elt = lgd_s[s] * (q[s] * acc[s])
            if q[s] >= 1.0:
                pl = 1.0
            else:
                pl = -math.expm1(T * lp[s])
            ecl_scn[i, s] = e12 if st == 1 else elt
            t12 += weight[s] * e12
            tlt += weight[s] * elt
            tpd += weight[s] * pl
        ecl_12m[i] = t12
        ecl_lifetime[i] = tlt
        pd_lifetime[i] = tpd


def ecl_measure(
    ead: np.ndarray,
    undrawn: np.ndarray,
    ccf: np.ndarray,
    lgd: np.ndarray,
    eir: np.ndarray,
    remaining_term_months: np.ndarray,
    amortization: np.ndarray,
    pd_12m: np.ndarray,
    stage: np.ndarray,
    weights: Sequence[float],
    pd_multipliers: Sequence[float],
    lgd_multipliers: Sequence[float],
) -> dict[str, np.ndarray]:
    """Probability-weighted 12-month and lifetime ECL of each loan.

    Per scenario ``s`` (``specs/ecl.md`` "Measurement"; IFRS 9 §5.5.17, B5.5.44):
    ``p = min(1, pd_12m m_pd)``, ``LGD = min(1, lgd m_lgd)``, monthly PD
    ``q = 1 - (1-p)^(1/12)``, survival ``S_t = (1-q)^t``, marginal PD
    ``m_t = S_{t-1} - S_t = q S_{t-1}``, ``EAD_t = B_t + ccf undrawn``,
    ``DF_t = (1+eir)^(-t/12)`` and ``ECL_s(H) = LGD sum_{t=1}^{min(H,T)} m_t EAD_t DF_t``.
    Stage 3 loans (PD = 1) have ``ECL_s = LGD EAD_1`` for both horizons. The
    weighted figures are ``sum_s w_s ECL_s``.

    Parameters
    ----------
    ead, undrawn, ccf, lgd, eir, pd_12m : ndarray of float64, shape (n,)
        Loan columns (money in currency units, rates annual decimals).
    remaining_term_months : ndarray of int, shape (n,)
        T >= 1.
    amortization : ndarray of int, shape (n,)
        Codes from :data:`AMORTIZATION_CODES`.
    stage : ndarray of int, shape (n,)
        1, 2 or 3 (from :func:`stage_with_reason`).
    weights, pd_multipliers, lgd_multipliers : sequence of float, length k
        Scenario weights (sum to 1) and multipliers.

    Returns
    -------
    dict of ndarray
        ``ecl_12m``, ``ecl_lifetime``, ``pd_lifetime`` (shape (n,), weighted;
        ``pd_lifetime = sum_s w_s (1 - S_T)``, 1 in stage 3) and ``ecl_by_scenario``
        (shape (n, k), the unweighted stage-appropriate ECL of each scenario:
        12-month in stage 1, lifetime in stages 2 and 3).
    """
    ead = _f64(ead)
    n = ead.shape[0]
    cu = _f64(np.asarray(ccf, dtype=np.float64) * np.asarray(undrawn, dtype=np.float64))
    term = _i64(remaining_term_months)
    if n and term.min() < 1:
        raise ValueError("remaining_term_months must be >= 1")
    w = _f64(weights)
    k = w.shape[0]
    out = {
        "ecl_12m": np.empty(n),
        "ecl_lifetime": np.empty(n),
        "pd_lifetime": np.empty(n),
        "ecl_by_scenario": np.empty((n, k)),
    }
    per_loan = (cu, _f64(lgd), _f64(eir), term, _i64(amortization), _f64(pd_12m), _i64(stage))
    per_scenario = (_f64(pd_multipliers), _f64(lgd_multipliers))
    # The kernel does no bounds checks: shapes are checked here.
    if any(a.shape != (n,) for a in per_loan) or any(a.shape != (k,) for a in per_scenario):
        raise ValueError("loan columns must all have shape (n,) and scenario arrays shape (k,)")
    _measure_kernel(
        ead, *per_loan, w, *per_scenario,
        out["ecl_12m"], out["ecl_lifetime"], out["pd_lifetime"], out["ecl_by_scenario"],
    )
    return out


# --------------------------------------------------------------------- whole book


@dataclass(frozen=True)
class EclResult:
    """Per-loan ECL results, arrays of shape (n,) unless noted."""

    stage: np.ndarray  # int8, 1..3
    stage_reason: np.ndarray  # object array of str (STAGE_REASONS)
    exposure: np.ndarray  # EAD_1 = ead + ccf undrawn
    ecl_12m: np.ndarray
    ecl_lifetime: np.ndarray
    ecl: np.ndarray  # ecl_12m in stage 1, ecl_lifetime in stages 2-3
    coverage: np.ndarray  # ecl / exposure, 0 when exposure is 0
    pd_lifetime: np.ndarray
    ecl_by_scenario: np.ndarray  # (n, k) unweighted stage-appropriate ECL per scenario


_SICR_KEYS = ("dpd_stage2", "dpd_stage3", "relative_pd_threshold", "absolute_pd_threshold", "low_credit_risk_pd")


def ecl_loans(
    loans: pd.DataFrame,
    scenarios: Sequence[Mapping] | None = None,
    sicr: Mapping | None = None,
) -> EclResult:
    """Stage and measure a loans DataFrame (fields of ``workers.portfolios.loans``).

    Parameters
    ----------
    loans : DataFrame, n rows
        Required columns ``ead, pd_12m, lgd, eir, remaining_term_months``;
        optional ``undrawn, ccf, pd_12m_origination, amortization,
        days_past_due, default_flag, watchlist, forborne, stage_override``
        (absent: the loan record defaults of specs/ecl.md).
    scenarios : sequence of mapping, optional
        ``{name, weight, pd_multiplier, lgd_multiplier}``; default one base
        scenario with weight 1 and multipliers 1.
    sicr : mapping, optional
        Keyword arguments of :func:`stage_with_reason` (missing keys take the
        spec defaults).

    Returns
    -------
    EclResult
    """
    scenarios = list(scenarios or [{"name": "base", "weight": 1.0, "pd_multiplier": 1.0, "lgd_multiplier": 1.0}])
    sicr_kw = {key: value for key, value in (sicr or {}).items() if key in _SICR_KEYS}
    n = len(loans)

    def col(name: str, dtype, default=None) -> np.ndarray:
        # Optional fields of the loan record may be absent: the record's default applies.
        if name in loans:
            return loans[name].to_numpy(dtype=dtype)
        if default is None:
            raise ValueError(f"loans need a {name!r} column")
        return np.full(n, default, dtype=dtype)

    pd_12m = col("pd_12m", np.float64)
    stage, reason = stage_with_reason(
        col("days_past_due", np.int64, 0),
        col("default_flag", bool, False),
        col("watchlist", bool, False),
        col("forborne", bool, False),
        pd_12m,
        col("pd_12m_origination", np.float64, np.nan),
        col("stage_override", np.float64, np.nan),
        **sicr_kw,
    )
    amort_names = col("amortization", object, "annuity")
    codes = np.full(n, -1, dtype=np.int64)
    for name, code in AMORTIZATION_CODES.items():
        codes[amort_names == name] = code
    if np.any(codes < 0):
        bad = amort_names[codes < 0][0]
        raise ValueError(f"amortization must be one of bullet, linear, annuity, not {bad!r}")

    ead = col("ead", np.float64)
    undrawn = col("undrawn", np.float64, 0.0)
    ccf = col("ccf", np.float64, 0.0)
    measured = ecl_measure(
        ead, undrawn, ccf, col("lgd", np.float64), col("eir", np.float64),
        col("remaining_term_months", np.int64), codes, pd_12m, stage,
        [float(s["weight"]) for s in scenarios],
        [float(s.get("pd_multiplier", 1.0)) for s in scenarios],
        [float(s.get("lgd_multiplier", 1.0)) for s in scenarios],
    )
    exposure = ead + ccf * undrawn
    ecl = np.where(stage == 1, measured["ecl_12m"], measured["ecl_lifetime"])
    safe = np.where(exposure > 0.0, exposure, 1.0)
    coverage = np.where(exposure > 0.0, ecl / safe, 0.0)
    return EclResult(
        stage=stage,
        stage_reason=np.asarray(STAGE_REASONS, dtype=object)[reason],
        exposure=exposure,
        ecl_12m=measured["ecl_12m"],
        ecl_lifetime=measured["ecl_lifetime"],
        ecl=ecl,
        coverage=coverage,
        pd_lifetime=measured["pd_lifetime"],
        ecl_by_scenario=measured["ecl_by_scenario"],
    )


# ------------------------------------------------------------------- exact sums


@numba.njit(cache=True, nogil=True)
def _grouped_partials_kernel(values, groups, parts, counts):  # pragma: no cover - compiled
    # Shewchuk's grow-expansion (Python's ``msum`` recipe), one expansion per
    # (group, column): exact, with no rounding anywhere.
    n, c = values.shape
    cap = parts.shape[2]
    for i in range(n):
        g = groups[i]
        for col in range(c):
            x = values[i, col]
            m = counts[g, col]
            j = 0
            for kk in range(m):
                y = parts[g, col, kk]
                if abs(x) < abs(y):
                    x, y = y, x
                hi = x + y
                lo = y - (hi - x)
                if lo != 0.0:
                    parts[g, col, j] = lo
                    j += 1
                x = hi
            if j >= cap:
                return False
            parts[g, col, j] = x
            counts[g, col] = j + 1
    return True


def grouped_exact_partials(values: np.ndarray, groups: np.ndarray, n_groups: int) -> list[list[list[float]]]:
    """Exact per-group sums of several columns, as lists of non-overlapping partials.

    ``math.fsum`` of the partials of a group equals ``math.fsum`` of the group's
    values, and so does ``math.fsum`` over the concatenated partials of any split
    of the rows: the partials add up *exactly* to the values' sum.

    Parameters
    ----------
    values : ndarray of float64, shape (n, c)
        Finite values.
    groups : ndarray of int, shape (n,)
        Group index in ``[0, n_groups)`` of each row.
    n_groups : int

    Returns
    -------
    list (n_groups) of list (c) of list of float
        Plain Python floats (JSON-safe).
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values.reshape(-1, 1)
    values = _f64(values)
    if not np.all(np.isfinite(values)):
        raise ValueError("exact sums need finite values")
    groups = _i64(groups)
    if len(groups) != len(values) or (len(groups) and (groups.min() < 0 or groups.max() >= n_groups)):
        raise ValueError("groups must give one index in [0, n_groups) per row")
    c = values.shape[1]
    parts = np.zeros((n_groups, c, _MAX_PARTIALS))
    counts = np.zeros((n_groups, c), dtype=np.int64)
    if not _grouped_partials_kernel(values, groups, parts, counts):  # pragma: no cover - impossible for finite doubles
        raise OverflowError("exact sum expansion overflow")
    return [
        [[float(v) for v in parts[g, col, : counts[g, col]] if v != 0.0] for col in range(c)]
        for g in range(n_groups)
    ]


def exact_partials(values: Iterable[float]) -> list[float]:
    """Non-overlapping partials whose exact sum is the exact sum of ``values``.

    Pure-Python Shewchuk expansion, for compacting short lists of partials
    (e.g. merging chunks). ``math.fsum(exact_partials(v)) == math.fsum(v)``.
    """
    partials: list[float] = []
    for x in values:
        x = float(x)
        i = 0
        for y in partials:
            if abs(x) < abs(y):
                x, y = y, x
            hi = x + y
            lo = y - (hi - x)
            if lo:
                partials[i] = lo
                i += 1
            x = hi
        partials[i:] = [x]
    return [p for p in partials if p != 0.0]
