"""Monthly cash-flow projection of level term assurance (specs/life.md A, model ``term_monthly``).

The recursion is the spec's (and lifelib basiclife ``BasicTerm_ME``'s), per policy i and
projection month t = 0..L-1 with ``dm_t = duration_months + t``, ``dur_t = dm_t // 12``::

    IF_mat(0)   = policy_count if duration_months > 0 else 0
    maturity_t  = IF_mat(t) if dm_t == 12 term else 0
    new_biz_t   = policy_count if dm_t == 0 else 0
    IF_t        = IF_mat(t) - maturity_t + new_biz_t
    deaths_t    = IF_t q_mth(age_t, min(dur_t, select_period))
    lapses_t    = (IF_t - deaths_t) (1 - (1 - lapse[dur_t])^(1/12))
    IF_mat(t+1) = IF_t - deaths_t - lapses_t

and each stream is discounted with ``DF_t = (1 + r_{t // 12})^(-t/12)``.

Implementation: one compiled pass over policies x months (numba, serial) that keeps only
per-policy scalars, so memory is O(n_policies + L) whatever the projection length. The pass
values the same decrement projection under K "valuation bases" at once (discount curve,
expenses, inflation, commission): :func:`project_term_monthly_bases` groups bases that share
their decrements, so a Solvency II shard revalues interest and expense shocks without a new
decrement projection.

The module also holds exact (error-free) summation helpers, :class:`ExactSum` and
:func:`exact_sums`, used to aggregate per-policy values so that totals do not depend on how
a portfolio is split into shards.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Mapping, Sequence

import numba
import numpy as np

from workers.engines.life.assumptions import TermAssumptions

#: Streams of the aggregate monthly cash-flow table (``TermCashflows``), in kernel order.
MONTHLY_STREAMS = (
    "premiums", "claims", "expenses", "commissions", "inforce", "deaths", "lapses", "maturities", "new_business",
)
#: Streams of the exact yearly table; ``inforce_start`` is IF_t of the year's first month.
YEARLY_STREAMS = (
    "premiums", "claims", "expenses", "commissions", "net_cf",
    "inforce_start", "deaths", "lapses", "maturities", "new_business",
)

_N_BUCKETS = 2099  # binary exponents of float64 values, frexp e in [-1073, 1024]
_BUCKET_OFFSET = 1074
_LO_BITS = 26
_LO_MASK = (1 << _LO_BITS) - 1
_GROUP_BATCH = 64


# --------------------------------------------------------------------------------------
# Exact summation
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExactSum:
    """An exact binary rational ``mantissa * 2**exponent`` (a sum of float64 without rounding).

    Adding is associative and commutative, so totals combined from shard partials equal the
    correctly rounded sum of all values whatever the split. ``to_json``/``from_json`` give a
    plain-JSON form ``[str(mantissa), exponent]``.
    """

    mantissa: int = 0
    exponent: int = 0

    def __add__(self, other: "ExactSum") -> "ExactSum":
        if other.mantissa == 0:
            return self
        if self.mantissa == 0:
            return other
        e = min(self.exponent, other.exponent)
        m = (self.mantissa << (self.exponent - e)) + (other.mantissa << (other.exponent - e))
        return ExactSum(m, e)

    def to_float(self) -> float:
        """Correctly rounded float64 value."""
        if self.mantissa == 0:
            return 0.0
        if self.exponent >= 0:
            return float(self.mantissa << self.exponent)
        return float(Fraction(self.mantissa, 1 << -self.exponent))

    def to_json(self) -> list:
        return [str(self.mantissa), int(self.exponent)]

    @classmethod
    def from_json(cls, value: Sequence | None) -> "ExactSum":
        if value is None:
            return cls()
        return cls(int(value[0]), int(value[1]))

    @classmethod
    def total(cls, items: Sequence["ExactSum"]) -> "ExactSum":
        out = cls()
        for item in items:
            out = out + item
        return out


@numba.njit(cache=True, inline="always")
def _exact_add(acc, cell, x):
    # x = m 2^e with m*2^53 an integer below 2^53 in magnitude; split it so that int64
    # bucket sums cannot overflow before 2^36 additions.
    if x == 0.0:
        return
    m, e = math.frexp(x)
    mi = np.int64(m * 9007199254740992.0)
    b = e + _BUCKET_OFFSET
    acc[cell, b, 0] += mi >> _LO_BITS
    acc[cell, b, 1] += mi & _LO_MASK


@numba.njit(cache=True)
def _exact_group_kernel(values, groups, n_groups):
    n, m = values.shape
    acc = np.zeros((n_groups * m, _N_BUCKETS, 2), dtype=np.int64)
    for i in range(n):
        g = groups[i]
        for j in range(m):
            _exact_add(acc, g * m + j, values[i, j])
    return acc


def _acc_to_exact(acc: np.ndarray) -> list[ExactSum]:
    """Exact sums of the ``(n_cells, buckets, 2)`` int64 accumulator, one per cell."""
    out = [ExactSum() for _ in range(acc.shape[0])]
    cells, buckets = np.nonzero((acc[:, :, 0] != 0) | (acc[:, :, 1] != 0))
    for c, b in zip(cells.tolist(), buckets.tolist()):
        m = (int(acc[c, b, 0]) << _LO_BITS) + int(acc[c, b, 1])
        out[c] = out[c] + ExactSum(m, b - _BUCKET_OFFSET - 53)
    return out


def exact_sums(values: np.ndarray, groups: np.ndarray | None = None, n_groups: int = 1) -> list[list[ExactSum]]:
    """Exact per-group column sums of float64 values.

    Parameters
    ----------
    values : ndarray, shape (n,) or (n, m)
        Finite float64 values.
    groups : ndarray of int, shape (n,), optional
        Group index in ``[0, n_groups)`` of each row (all rows in group 0 when omitted).
    n_groups : int

    Returns
    -------
    list of list of ExactSum
        ``[group][column]``.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        v = v[:, None]
    if not np.all(np.isfinite(v)):
        raise ValueError("exact_sums needs finite values")
    g = np.zeros(v.shape[0], dtype=np.int64) if groups is None else np.asarray(groups, dtype=np.int64)
    if g.size and (g.min() < 0 or g.max() >= n_groups):
        raise ValueError("group index out of range")
    m = v.shape[1]
    out: list[list[ExactSum]] = []
    # The accumulator holds 2 x 2099 int64 per group and column: bound it by batching groups.
    for lo in range(0, int(n_groups), _GROUP_BATCH):
        hi = min(lo + _GROUP_BATCH, int(n_groups))
        rows = (g >= lo) & (g < hi) if (lo, hi) != (0, int(n_groups)) else slice(None)
        flat = _acc_to_exact(_exact_group_kernel(_kernel_array(v[rows], np.float64),
                                                 _kernel_array(g[rows] - lo, np.int64), hi - lo))
        out.extend(flat[k * m:(k + 1) * m] for k in range(hi - lo))
    return out


# --------------------------------------------------------------------------------------
# Assumption vectors
# --------------------------------------------------------------------------------------
def q_mth(q_ann: np.ndarray) -> np.ndarray:
    """Monthly decrement rate ``1 - (1 - q)^(1/12)`` of an annual rate (any shape)."""
    return 1.0 - (1.0 - np.asarray(q_ann, dtype=np.float64)) ** (1.0 / 12.0)


def q_ann_shocked(a: TermAssumptions, first_year: bool) -> np.ndarray:
    """Annual select table after the mortality shocks, shape ``(n_ages, select_period + 1)``.

    ``min(1, q * q_multiplier)``, plus ``q_add_first_year`` (then capped at 1) when
    ``first_year`` (projection months t < 12).
    """
    q = a.q_select * a.q_multiplier
    if first_year:
        q = q + a.q_add_first_year
    return np.minimum(1.0, q)


def lapse_ann_shocked(a: TermAssumptions) -> np.ndarray:
    """Annual lapse rates by policy year after the lapse shocks, shape ``(n_years,)``."""
    lapse = a.lapse_by_policy_year
    shocked = lapse * a.lapse_multiplier
    if a.lapse_floor_drop is not None:
        shocked = np.maximum(shocked, lapse - a.lapse_floor_drop)
    return np.clip(shocked, 0.0, 1.0)


def disc_factors_mth(discount_spot_annual: np.ndarray, n_months: int) -> np.ndarray:
    """``DF_t = (1 + r_{t // 12})^(-t/12)``, t = 0..n_months-1 (last rate extends), shape (n_months,)."""
    r = np.asarray(discount_spot_annual, dtype=np.float64)
    t = np.arange(n_months)
    return (1.0 + r[np.minimum(t // 12, r.size - 1)]) ** (-t / 12.0)


def inflation_factors_mth(inflation_ann: float, n_months: int) -> np.ndarray:
    """``(1 + i)^(t/12)``, t = 0..n_months-1, shape (n_months,)."""
    return (1.0 + inflation_ann) ** (np.arange(n_months) / 12.0)


def decrement_key(a: TermAssumptions) -> tuple:
    """Everything the decrement projection depends on (bases with equal keys share one pass)."""
    return (
        a.min_age, a.select_period, a.q_select.shape, a.q_select.tobytes(), a.q_multiplier, a.q_add_first_year,
        a.lapse_by_policy_year.tobytes(), a.lapse_multiplier, a.lapse_floor_drop,
    )


# --------------------------------------------------------------------------------------
# Projection
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TermCashflows:
    """Aggregate monthly cash flows over all policies, each shape ``(L,)`` (t = 0..L-1).

    Undiscounted currency amounts (premiums, claims, expenses, commissions, net_cf) and
    policy counts (inforce = IF_t before decrements, deaths, lapses, maturities,
    new_business); ``discount_factors`` is DF_t.
    """

    premiums: np.ndarray
    claims: np.ndarray
    expenses: np.ndarray
    commissions: np.ndarray
    net_cf: np.ndarray
    inforce: np.ndarray
    deaths: np.ndarray
    lapses: np.ndarray
    maturities: np.ndarray
    new_business: np.ndarray
    discount_factors: np.ndarray


@dataclass(frozen=True)
class TermProjection:
    """Per-policy present values at the valuation date, each shape ``(n_policies,)``.

    ``pv_net_cf = pv_premiums - pv_claims - pv_expenses - pv_commissions`` and
    ``bel = -pv_net_cf``. ``cashflows`` when asked for; ``yearly`` (exact aggregate per
    projection year ``t // 12``: ``{stream: [ExactSum per year]}``, streams
    :data:`YEARLY_STREAMS`) when asked for.
    """

    pv_premiums: np.ndarray
    pv_claims: np.ndarray
    pv_expenses: np.ndarray
    pv_commissions: np.ndarray
    pv_net_cf: np.ndarray
    bel: np.ndarray
    cashflows: TermCashflows | None = None
    yearly: dict[str, list[ExactSum]] | None = None


@numba.njit(cache=True)
def _project_kernel(issue_age, term, count, sa, dm0, prem, qm, qm_first, min_age, select_period, lapse_m,
                    df, infl, acq, maint, comm, want_agg, want_yearly, n_years):
    n = issue_age.size
    n_bases, n_months = df.shape
    pv = np.zeros((4, n_bases, n))
    agg = np.zeros((n_bases if want_agg else 0, 9, n_months))
    n_ys = 10
    acc = np.zeros((n_years * n_ys if want_yearly else 0, _N_BUCKETS, 2), dtype=np.int64)
    ybuf = np.zeros(n_ys)
    n_lapse = lapse_m.size
    loc = np.zeros((4, n_bases))
    for i in range(n):
        mat_month = 12 * term[i]
        n_t = mat_month - dm0[i] + 1
        if n_t <= 0:
            continue  # matured before the valuation date
        if_mat = count[i] if dm0[i] > 0 else 0.0
        loc[:, :] = 0.0
        ybuf[:] = 0.0
        for t in range(n_t):
            dm = dm0[i] + t
            dur = dm // 12
            maturity = if_mat if dm == mat_month else 0.0
            new_biz = count[i] if dm == 0 else 0.0
            inforce = if_mat - maturity + new_biz
            if 0 <= dm < mat_month:
                row = issue_age[i] + dur - min_age
                col = min(dur, select_period)
                q = qm_first[row, col] if t < 12 else qm[row, col]
                lapse = lapse_m[min(dur, n_lapse - 1)]
            else:
                q = 0.0
                lapse = 0.0
            deaths = inforce * q
            lapses = (inforce - deaths) * lapse
            premiums = prem[i] * inforce
            claims = sa[i] * deaths
            first = 1.0 if dur == 0 else 0.0
            for k in range(n_bases):
                d = df[k, t]
                expenses = acq[k] * new_biz + inforce * maint[k] / 12.0 * infl[k, t]
                commissions = comm[k] * premiums * first
                loc[0, k] += premiums * d
                loc[1, k] += claims * d
                loc[2, k] += expenses * d
                loc[3, k] += commissions * d
                if want_agg:
                    agg[k, 0, t] += premiums
                    agg[k, 1, t] += claims
                    agg[k, 2, t] += expenses
                    agg[k, 3, t] += commissions
                    agg[k, 4, t] += inforce
                    agg[k, 5, t] += deaths
                    agg[k, 6, t] += lapses
                    agg[k, 7, t] += maturity
                    agg[k, 8, t] += new_biz
            if want_yearly:
                expenses0 = acq[0] * new_biz + inforce * maint[0] / 12.0 * infl[0, t]
                commissions0 = comm[0] * premiums * first
                ybuf[0] += premiums
                ybuf[1] += claims
                ybuf[2] += expenses0
                ybuf[3] += commissions0
                if t % 12 == 0:
                    ybuf[5] = inforce
                ybuf[6] += deaths
                ybuf[7] += lapses
                ybuf[8] += maturity
                ybuf[9] += new_biz
                if t % 12 == 11 or t == n_t - 1:
                    ybuf[4] = ybuf[0] - ybuf[1] - ybuf[2] - ybuf[3]
                    y = t // 12
                    for s in range(n_ys):
                        _exact_add(acc, y * n_ys + s, ybuf[s])
                    ybuf[:] = 0.0
            if_mat = inforce - deaths - lapses
        for j in range(4):
            for k in range(n_bases):
                pv[j, k, i] = loc[j, k]
    return pv, agg, acc


def _kernel_array(values, dtype) -> np.ndarray:
    # Writeable C arrays only: numba compiles a separate specialisation for read-only inputs
    # (pandas copy-on-write columns are read-only views).
    return np.require(np.asarray(values, dtype=dtype), requirements=["C", "W"])


def _policy_arrays(policies: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    n = len(np.asarray(policies["issue_age"]))
    out = {
        "issue_age": _kernel_array(policies["issue_age"], np.int64),
        "term": _kernel_array(policies["policy_term_years"], np.int64),
        "dm0": _kernel_array(policies["duration_months"], np.int64)
        if "duration_months" in policies else np.zeros(n, dtype=np.int64),
        "count": _kernel_array(policies["policy_count"], np.float64)
        if "policy_count" in policies else np.ones(n),
        "sa": _kernel_array(policies["sum_assured"], np.float64),
        "prem": _kernel_array(policies["monthly_premium"], np.float64)
        if "monthly_premium" in policies else np.zeros(n),
    }
    for name, arr in out.items():
        if arr.shape != (n,):
            raise ValueError(f"policy field {name} must have shape ({n},)")
    if n and out["term"].min() < 1:
        raise ValueError("policy_term_years must be >= 1")
    for name in ("count", "sa", "prem"):
        if not np.all(np.isfinite(out[name])):
            raise ValueError(f"policy field {name} must be finite")
    return out


def _policy_ids(policies: Mapping[str, np.ndarray], n: int) -> list[str]:
    if "policy_id" in policies:
        return [str(p) for p in np.asarray(policies["policy_id"], dtype=object)]
    return [str(i) for i in range(n)]


def check_ages_in_table(policies: Mapping[str, np.ndarray], a: TermAssumptions) -> list[str]:
    """Policy ids whose attained ages before maturity fall outside the mortality table.

    A policy needs ``q`` at ages ``issue_age + duration_months // 12`` .. ``issue_age +
    policy_term_years - 1`` (none when already at or past maturity).

    Returns
    -------
    list of str
        ``policy_id`` values (row numbers as strings when the mapping has no ``policy_id``).
    """
    p = _policy_arrays(policies)
    active = p["dm0"] < 12 * p["term"]
    lo = p["issue_age"] + np.maximum(p["dm0"], 0) // 12
    hi = p["issue_age"] + p["term"] - 1
    bad = active & ((lo < a.min_age) | (hi > a.max_age))
    if not bad.any():
        return []
    ids = _policy_ids(policies, bad.size)
    return [ids[i] for i in np.flatnonzero(bad)]


def projection_months(policies: Mapping[str, np.ndarray]) -> int:
    """``L = max(12 term - duration_months + 1)`` over policies (0 when none is in force)."""
    p = _policy_arrays(policies)
    if p["term"].size == 0:
        return 0
    return int(max(0, (12 * p["term"] - p["dm0"] + 1).max()))


def project_term_monthly_bases(policies: Mapping[str, np.ndarray], bases: Sequence[TermAssumptions], *,
                               cashflows: bool = False, yearly: bool = False) -> list[TermProjection]:
    """Project the same policies under several bases, one decrement pass per distinct decrements.

    Bases that differ only in discount curve, expenses, inflation or commission (the
    Solvency II interest and expense shocks) share one projection of the decrements and are
    valued together in that pass (see :func:`decrement_key`).

    Parameters
    ----------
    policies : mapping of str to ndarray, each shape (n,)
        ``issue_age``, ``policy_term_years``, ``sum_assured`` and optionally ``policy_count``
        (default 1), ``duration_months`` (0), ``monthly_premium`` (0), ``policy_id``.
    bases : sequence of TermAssumptions
    cashflows : bool
        Also return aggregate monthly cash flows (:class:`TermCashflows`) for every basis.
    yearly : bool
        Also return exact yearly aggregates (:data:`YEARLY_STREAMS`) for every basis.

    Returns
    -------
    list of TermProjection
        In the order of ``bases``.

    Raises
    ------
    ValueError
        When a policy reaches an age outside a basis's mortality table (the message lists
        up to 20 policy ids) or a policy field is invalid.
    """
    p = _policy_arrays(policies)
    n_months = projection_months(policies)
    n_years = (n_months + 11) // 12
    groups: dict[tuple, list[int]] = {}
    for idx, a in enumerate(bases):
        groups.setdefault(decrement_key(a), []).append(idx)
    results: list[TermProjection | None] = [None] * len(bases)
    for members in groups.values():
        a0 = bases[members[0]]
        bad = check_ages_in_table(policies, a0)
        if bad:
            shown = ", ".join(bad[:20]) + (f" and {len(bad) - 20} more" if len(bad) > 20 else "")
            raise ValueError(f"ages outside the mortality table ({a0.min_age}..{a0.max_age}) for policies {shown}")
        group = [bases[k] for k in members]
        df = np.stack([disc_factors_mth(b.discount_spot_annual, n_months) for b in group]).reshape(len(group), n_months)
        infl = np.stack([inflation_factors_mth(b.expense_inflation + b.expense_inflation_add, n_months)
                         for b in group]).reshape(len(group), n_months)
        acq = np.array([b.expense_acquisition * b.expense_multiplier for b in group])
        maint = np.array([b.expense_maintenance * b.expense_multiplier for b in group])
        comm = np.array([b.commission_first_year for b in group])
        lapse_m = q_mth(lapse_ann_shocked(a0))
        pv, agg, acc = _project_kernel(
            p["issue_age"], p["term"], p["count"], p["sa"], p["dm0"], p["prem"],
            q_mth(q_ann_shocked(a0, False)), q_mth(q_ann_shocked(a0, True)), a0.min_age, a0.select_period,
            lapse_m, df, infl, acq, maint, comm, cashflows, False, n_years,
        )
        for j, k in enumerate(members):
            net = pv[0, j] - pv[1, j] - pv[2, j] - pv[3, j]
            cf = None
            if cashflows:
                streams = dict(zip(MONTHLY_STREAMS, agg[j]))
                cf = TermCashflows(net_cf=streams["premiums"] - streams["claims"] - streams["expenses"]
                                   - streams["commissions"], discount_factors=df[j].copy(), **streams)
            results[k] = TermProjection(pv[0, j], pv[1, j], pv[2, j], pv[3, j], net, -net, cf, None)
        if yearly:
            # Exact yearly aggregates are produced for basis 0 of a pass: one extra cheap pass
            # per basis keeps the main kernel free of K accumulators.
            for k in members:
                b = bases[k]
                _, _, acc = _project_kernel(
                    p["issue_age"], p["term"], p["count"], p["sa"], p["dm0"], p["prem"],
                    q_mth(q_ann_shocked(a0, False)), q_mth(q_ann_shocked(a0, True)), a0.min_age, a0.select_period,
                    lapse_m, np.ascontiguousarray(disc_factors_mth(b.discount_spot_annual, n_months)[None, :]),
                    np.ascontiguousarray(inflation_factors_mth(b.expense_inflation + b.expense_inflation_add,
                                                               n_months)[None, :]),
                    np.array([b.expense_acquisition * b.expense_multiplier]),
                    np.array([b.expense_maintenance * b.expense_multiplier]),
                    np.array([b.commission_first_year]), False, True, n_years,
                )
                flat = _acc_to_exact(acc)
                n_ys = len(YEARLY_STREAMS)
                table = {s: [flat[y * n_ys + j] for y in range(n_years)] for j, s in enumerate(YEARLY_STREAMS)}
                results[k] = replace(results[k], yearly=table)
    return results  # type: ignore[return-value]


def project_term_monthly(policies: Mapping[str, np.ndarray], a: TermAssumptions, *,
                         cashflows: bool = False, yearly: bool = False) -> TermProjection:
    """Project level term policies monthly and value them at the valuation date (specs/life.md A).

    Parameters
    ----------
    policies : mapping of str to ndarray, each shape (n,)
        Policies portfolio fields: ``issue_age`` (int, years), ``policy_term_years`` (int >= 1),
        ``sum_assured``, ``policy_count`` (default 1), ``duration_months`` (int >= 0, months since
        issue; 0 = new business at t = 0, default 0; a negative value -m is future new business
        issued in projection month m, as in lifelib BasicTerm_ME), ``monthly_premium`` (per policy, default 0),
        ``policy_id`` (used in error messages). A pandas DataFrame works.
    a : TermAssumptions
    cashflows : bool
        Also return aggregate monthly cash flows, each shape (L,).
    yearly : bool
        Also return exact aggregates by projection year.

    Returns
    -------
    TermProjection
        ``pv_premiums, pv_claims, pv_expenses, pv_commissions, pv_net_cf, bel``, shape (n,).
        Policies already past maturity (``duration_months > 12 term``) have zero values.
    """
    return project_term_monthly_bases(policies, [a], cashflows=cashflows, yearly=yearly)[0]


__all__ = [
    "ExactSum",
    "MONTHLY_STREAMS",
    "TermAssumptions",
    "TermCashflows",
    "TermProjection",
    "YEARLY_STREAMS",
    "check_ages_in_table",
    "decrement_key",
    "disc_factors_mth",
    "exact_sums",
    "inflation_factors_mth",
    "lapse_ann_shocked",
    "project_term_monthly",
    "project_term_monthly_bases",
    "projection_months",
    "q_ann_shocked",
    "q_mth",
]
