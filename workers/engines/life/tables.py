"""Life tables, commutation functions and classical actuarial values (specs/life.md B).

A :class:`LifeTable` holds integer ages ``x0 .. omega`` with ``q_x``, ``l_x`` and
``d_x``; it is built from a column of ``q_x`` or from a law of mortality
(Makeham ``mu_x = A + B c^x``, Gompertz ``mu_x = B c^x``) with ``q = 1`` at the
terminal age. :func:`commutation` returns the columns

``D_x = v^x l_x``, ``N_x = sum_{y>=x} D_y``, ``C_x = v^{x+1} d_x``, ``M_x = sum_{y>=x} C_y``

from which every value of life.md B follows (annual, curtate, benefits at the end
of the year of death, annuities-due):

``A_x = M_x/D_x``, ``a_due_x = N_x/D_x``, ``A1_{x:n} = (M_x - M_{x+n})/D_x``,
``A_{x:n} = A1_{x:n} + D_{x+n}/D_x``, ``a_due_{x:n} = (N_x - N_{x+n})/D_x``,
``nE_x = D_{x+n}/D_x``.

Ages and terms are integers; ``x + n`` beyond the terminal age counts as ``D = N = M = 0``
(no one survives the terminal age). Pure numpy, float64, no I/O.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Default radix ``l_{x0}``.
RADIX = 100_000.0

POLICY_TYPES = ("whole_life", "term", "endowment", "annuity")


@dataclass(frozen=True)
class LifeTable:
    """A complete annual life table on consecutive integer ages.

    Attributes
    ----------
    ages : ndarray of int64, shape (n,)
        ``x0, x0 + 1, ..., omega``.
    qx : ndarray of float64, shape (n,)
        One-year death probabilities; ``qx[-1] == 1`` (the table is closed).
    lx : ndarray of float64, shape (n,)
        Survivors at exact age ``x``, ``lx[0]`` = radix.
    dx : ndarray of float64, shape (n,)
        Deaths between ``x`` and ``x + 1``: ``d_x = l_x q_x``; ``sum(dx) == lx[0]``.
    source : str
        ``"qx"``, ``"makeham"`` or ``"gompertz"`` (for reports).
    """

    ages: np.ndarray
    qx: np.ndarray
    lx: np.ndarray
    dx: np.ndarray
    source: str = "qx"

    @property
    def min_age(self) -> int:
        return int(self.ages[0])

    @property
    def max_age(self) -> int:
        return int(self.ages[-1])

    @classmethod
    def from_qx(cls, ages, qx, radix: float = RADIX, source: str = "qx") -> "LifeTable":
        """Build a table from ``q_x`` on consecutive integer ages.

        Parameters
        ----------
        ages : array_like of int, shape (n,)
            Consecutive increasing integer ages (``n >= 1``).
        qx : array_like of float, shape (n,)
            Death probabilities in ``[0, 1]``. The last one is set to 1: the table is
            closed at its last age, so survivors beyond it are not counted (life.md B:
            "q = 1 at the terminal age").
        radix : float
            ``l`` at the first age.

        Raises
        ------
        ValueError
            On non-consecutive ages, mismatched lengths or ``q`` outside ``[0, 1]``.
        """
        a = np.asarray(ages)
        q = np.asarray(qx, dtype=np.float64).copy()
        if a.ndim != 1 or q.ndim != 1 or a.shape != q.shape or a.size == 0:
            raise ValueError("ages and qx must be non-empty 1-d arrays of the same length")
        if not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
            raise ValueError("ages must be integers")
        a = a.astype(np.int64)
        if a.size > 1 and np.any(np.diff(a) != 1):
            raise ValueError("ages must be consecutive increasing integers")
        if not np.all(np.isfinite(q)) or np.any(q < 0.0) or np.any(q > 1.0):
            raise ValueError("qx must lie in [0, 1]")
        q[-1] = 1.0
        lx = np.empty_like(q)
        lx[0] = float(radix)
        # l_{x+1} = l_x p_x: cumulative product of survival probabilities.
        if q.size > 1:
            lx[1:] = float(radix) * np.cumprod(1.0 - q[:-1])
        dx = lx * q
        return cls(ages=a, qx=q, lx=lx, dx=dx, source=source)

    @classmethod
    def makeham(cls, A: float, B: float, c: float, start_age: int, terminal_age: int,
                radix: float = RADIX) -> "LifeTable":
        """Makeham table ``mu_x = A + B c^x`` on ``start_age .. terminal_age`` (q = 1 at the end).

        ``q_x = 1 - exp(-A - B c^x (c - 1) / ln c)`` (Bowers et al., *Actuarial
        Mathematics*, 2nd ed., §3.7; Dickson, Hardy & Waters, *AMLCR*, §2.5).
        """
        ages = _age_range(start_age, terminal_age)
        return cls.from_qx(ages, q_makeham(ages, A, B, c), radix=radix, source="makeham")

    @classmethod
    def gompertz(cls, B: float, c: float, start_age: int, terminal_age: int,
                 radix: float = RADIX) -> "LifeTable":
        """Gompertz table ``mu_x = B c^x`` (Makeham with ``A = 0``)."""
        ages = _age_range(start_age, terminal_age)
        return cls.from_qx(ages, q_makeham(ages, 0.0, B, c), radix=radix, source="gompertz")


def _age_range(start_age: int, terminal_age: int) -> np.ndarray:
    if int(terminal_age) < int(start_age):
        raise ValueError("terminal_age must be >= start_age")
    return np.arange(int(start_age), int(terminal_age) + 1, dtype=np.int64)


def q_makeham(ages, A: float, B: float, c: float) -> np.ndarray:
    """One-year death probability under Makeham's law.

    Parameters
    ----------
    ages : array_like, shape (n,)
        Ages ``x`` (years).
    A, B, c : float
        ``mu_x = A + B c^x``; ``B > 0``, ``c > 1``, ``A >= -B``.

    Returns
    -------
    ndarray of float64, shape (n,)
        ``q_x = 1 - exp(-(A + B c^x (c - 1)/ln c))`` (integral of ``mu`` over ``[x, x+1]``).
    """
    if not (B > 0.0 and c > 1.0):
        raise ValueError("Makeham/Gompertz need B > 0 and c > 1")
    x = np.asarray(ages, dtype=np.float64)
    cum_hazard = A + B * np.power(c, x) * (c - 1.0) / np.log(c)
    return -np.expm1(-cum_hazard)


@dataclass(frozen=True)
class Commutation:
    """Commutation columns of a :class:`LifeTable` at annual effective rate ``interest``.

    All arrays have shape (n,) aligned with ``ages``. The methods take integer ages
    ``x`` and terms ``n`` (scalars or broadcastable arrays) and return float64.
    """

    ages: np.ndarray
    interest: float
    Dx: np.ndarray
    Nx: np.ndarray
    Cx: np.ndarray
    Mx: np.ndarray

    @property
    def min_age(self) -> int:
        return int(self.ages[0])

    @property
    def max_age(self) -> int:
        return int(self.ages[-1])

    def _at(self, col: np.ndarray, x) -> np.ndarray:
        """``col`` at ages ``x``; 0 beyond the terminal age."""
        xi = np.asarray(x, dtype=np.int64) - self.min_age
        if np.any(xi < 0):
            raise ValueError(f"age below the table's first age {self.min_age}")
        padded = np.append(col, 0.0)
        return padded[np.minimum(xi, col.size)]

    def _D_alive(self, x) -> np.ndarray:
        xi = np.asarray(x, dtype=np.int64)
        if np.any(xi > self.max_age):
            raise ValueError(f"age above the table's terminal age {self.max_age}")
        return self._at(self.Dx, xi)

    def A_whole(self, x) -> np.ndarray:
        """Whole-life assurance ``A_x = M_x / D_x`` (benefit 1 at the end of the year of death)."""
        return self._at(self.Mx, x) / self._D_alive(x)

    def a_due(self, x) -> np.ndarray:
        """Whole-life annuity-due ``ä_x = N_x / D_x``."""
        return self._at(self.Nx, x) / self._D_alive(x)

    def A_term(self, x, n) -> np.ndarray:
        """Term assurance ``A1_{x:n} = (M_x - M_{x+n}) / D_x``."""
        x = np.asarray(x, dtype=np.int64)
        return (self._at(self.Mx, x) - self._at(self.Mx, x + _term(n))) / self._D_alive(x)

    def E_pure(self, x, n) -> np.ndarray:
        """Pure endowment ``nE_x = D_{x+n} / D_x``."""
        x = np.asarray(x, dtype=np.int64)
        return self._at(self.Dx, x + _term(n)) / self._D_alive(x)

    def A_endowment(self, x, n) -> np.ndarray:
        """Endowment assurance ``A_{x:n} = A1_{x:n} + nE_x``."""
        return self.A_term(x, n) + self.E_pure(x, n)

    def a_due_temp(self, x, n) -> np.ndarray:
        """Temporary annuity-due ``ä_{x:n} = (N_x - N_{x+n}) / D_x``."""
        x = np.asarray(x, dtype=np.int64)
        return (self._at(self.Nx, x) - self._at(self.Nx, x + _term(n))) / self._D_alive(x)


def _term(n) -> np.ndarray:
    n = np.asarray(n, dtype=np.int64)
    if np.any(n < 0):
        raise ValueError("terms must be >= 0")
    return n


def commutation(table: LifeTable, i: float) -> Commutation:
    """Commutation columns ``D, N, C, M`` of ``table`` at annual effective rate ``i``.

    Parameters
    ----------
    table : LifeTable
    i : float
        Annual effective interest rate (``> -1``); ``v = 1 / (1 + i)``.

    Returns
    -------
    Commutation
        ``D_x = v^x l_x``, ``N_x = sum_{y>=x} D_y``, ``C_x = v^{x+1} d_x``,
        ``M_x = sum_{y>=x} C_y`` (life.md B; Bowers et al. 2nd ed. §4.4, §5.4).
        Ages are absolute, as in the published tables (``v^x``, not ``v^{x - x0}``).
    """
    if not i > -1.0:
        raise ValueError("interest must be > -1")
    v = 1.0 / (1.0 + float(i))
    x = table.ages.astype(np.float64)
    Dx = np.power(v, x) * table.lx
    Cx = np.power(v, x + 1.0) * table.dx
    # Reverse cumulative sums: N_x and M_x sum from x to the terminal age.
    Nx = np.cumsum(Dx[::-1])[::-1]
    Mx = np.cumsum(Cx[::-1])[::-1]
    return Commutation(ages=table.ages, interest=float(i), Dx=Dx, Nx=Nx, Cx=Cx, Mx=Mx)


def premium_net_annual(comm: Commutation, x, n, sum_assured, policy_type) -> np.ndarray:
    """Net level annual premium payable from issue, ``P = SA A / ä`` (same term).

    Parameters
    ----------
    comm : Commutation
    x : array_like of int, shape (m,)
        Issue ages.
    n : array_like of int, shape (m,)
        Policy terms in years (ignored for ``whole_life``: premiums for life).
    sum_assured : array_like of float, shape (m,)
    policy_type : array_like of str, shape (m,)
        ``whole_life`` (``A_x / ä_x``), ``term`` (``A1_{x:n} / ä_{x:n}``),
        ``endowment`` (``A_{x:n} / ä_{x:n}``) or ``annuity`` (single premium: 0).

    Returns
    -------
    ndarray of float64, shape (m,)
        Annual premium, paid at the start of each policy year (life.md B).
    """
    x, n, sa, kind = _broadcast_policy(x, n, sum_assured, policy_type)
    out = np.zeros(x.shape, dtype=np.float64)
    wl = kind == "whole_life"
    tm = kind == "term"
    en = kind == "endowment"
    if wl.any():
        out[wl] = sa[wl] * comm.A_whole(x[wl]) / comm.a_due(x[wl])
    if tm.any():
        out[tm] = sa[tm] * comm.A_term(x[tm], n[tm]) / comm.a_due_temp(x[tm], n[tm])
    if en.any():
        out[en] = sa[en] * comm.A_endowment(x[en], n[en]) / comm.a_due_temp(x[en], n[en])
    return out


def reserve_prospective(comm: Commutation, x, n, k, sum_assured, policy_type,
                        annual_pension=0.0) -> np.ndarray:
    """Net premium prospective reserve ``kV`` at integer duration ``k`` (life.md B).

    ``kV = SA A_{x+k(:n-k)} - P ä_{x+k(:n-k)}`` with ``P`` from :func:`premium_net_annual`
    (Bowers et al. 2nd ed. §8.3; Dickson, Hardy & Waters §7.3): the reserve at time ``k``
    before the premium then due. ``annuity``: ``annual_pension * ä_{x+k}`` (in payment,
    annuity-due). Term and endowment contracts with ``k >= n`` have run off: 0.

    Parameters
    ----------
    comm : Commutation
    x, n, k : array_like of int, shape (m,)
        Issue age, term (years) and elapsed whole years.
    sum_assured, annual_pension : array_like of float, shape (m,)
    policy_type : array_like of str, shape (m,)

    Returns
    -------
    ndarray of float64, shape (m,)
        Reserve per policy.
    """
    x, n, sa, kind = _broadcast_policy(x, n, sum_assured, policy_type)
    k = np.broadcast_to(np.asarray(k, dtype=np.int64), x.shape)
    if np.any(k < 0):
        raise ValueError("durations must be >= 0")
    pension = np.broadcast_to(np.asarray(annual_pension, dtype=np.float64), x.shape)
    prem = premium_net_annual(comm, x, n, sa, kind)
    out = np.zeros(x.shape, dtype=np.float64)
    wl = kind == "whole_life"
    an = kind == "annuity"
    live = k < n
    tm = (kind == "term") & live
    en = (kind == "endowment") & live
    if wl.any():
        xk = x[wl] + k[wl]
        out[wl] = sa[wl] * comm.A_whole(xk) - prem[wl] * comm.a_due(xk)
    if an.any():
        out[an] = pension[an] * comm.a_due(x[an] + k[an])
    if tm.any():
        xk, nk = x[tm] + k[tm], n[tm] - k[tm]
        out[tm] = sa[tm] * comm.A_term(xk, nk) - prem[tm] * comm.a_due_temp(xk, nk)
    if en.any():
        xk, nk = x[en] + k[en], n[en] - k[en]
        out[en] = sa[en] * comm.A_endowment(xk, nk) - prem[en] * comm.a_due_temp(xk, nk)
    return out


def _broadcast_policy(x, n, sum_assured, policy_type):
    x = np.atleast_1d(np.asarray(x, dtype=np.int64))
    n = np.broadcast_to(np.asarray(n, dtype=np.int64), x.shape)
    sa = np.broadcast_to(np.asarray(sum_assured, dtype=np.float64), x.shape)
    kind = np.broadcast_to(np.asarray(policy_type, dtype=object), x.shape)
    bad = sorted({str(t) for t in kind.tolist() if t not in POLICY_TYPES})
    if bad:
        raise ValueError(f"unknown policy_type {', '.join(bad)} (expected one of {', '.join(POLICY_TYPES)})")
    return x, n, sa, kind
