"""Monte Carlo financial-plan engine (spec ``montecarlo.md``).

Model (spec §Model). Per step ``Δ = 1/steps_per_year``:

* asset log-returns ``r = (μ − σ²/2)Δ + σ√Δ · (L z)`` with ``L`` the Cholesky factor of
  the correlation (eigen-factor when only semi-definite, see
  :func:`workers.engines.matrices.factor_correlation`) and ``z`` independent N(0, 1);
* portfolio return, rebalanced every step, ``R = Σ_i w_i (e^{r_i} − 1)``;
* inflation ``π_k ~ N(π_mean Δ, π_vol² Δ)`` and index ``I_0 = 1``, ``I_{k+1} = I_k (1 + π_k)``;
* a cash flow pays ``amount_annual · Δ`` in every step of the years
  ``start_year <= y < end_year``; an indexed flow is multiplied by ``I_k`` (start of step);
* within step ``k``: add contributions, subtract withdrawals; if ``W <= 0`` the path is
  depleted (wealth 0 from then on, step ``k`` recorded, later flows ignored); otherwise
  ``W <- W (1 + R)(1 − fee Δ)``.

Random numbers (spec §Random numbers and sharding). Paths are grouped in blocks of
:data:`BLOCK_PATHS`; block ``b`` draws from ``Generator(PCG64(SeedSequence(seed,
spawn_key=(b,))))`` in this fixed order: for each step ``k`` (0, 1, …), one
``standard_normal`` call filling an array of shape (n_draw, n_paths_block) in C order,
i.e. the asset-0 normals of all the block's paths (path order), then asset 1, …, asset
``n_assets − 1``, then (row ``n_assets``, only when ``π_vol > 0``) the inflation normals of
all paths. Every asset's normal is drawn even when its weight is 0. A block's paths
therefore depend only on ``(seed, b, number of paths in the block, model)``, never on how
blocks are grouped into shards.

Statistics helpers: Wilson score interval, exact (numpy ``linear``) percentiles, and a
mergeable log-bucket histogram with a proven relative error bound (see
:func:`hist_bucket`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from workers.engines.matrices import factor_correlation

#: Paths per block: the unit of random-number streams (spec §Random numbers).
BLOCK_PATHS = 8192

#: Percentile levels reported (spec §Outputs), as fractions.
PERCENTILE_LEVELS = (0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95)

#: Mantissa bits kept by :func:`hist_bucket`: relative bucket width ``2**-m``.
HIST_MANTISSA_BITS = 10

_SIGN_MASK = np.int64(0x7FFF_FFFF_FFFF_FFFF)


# ---------------------------------------------------------------------------------------
# Model inputs
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CashFlow:
    """One plan cash flow (spec §Inputs). ``kind`` is ``"contribution"`` or ``"withdrawal"``;
    ``amount_annual`` in currency per year (>= 0); years counted from 0, end exclusive."""

    kind: str
    amount_annual: float
    start_year: int
    end_year: int
    indexed: bool = False


@dataclass(frozen=True)
class PlanModel:
    """Everything a path simulation needs, as float64 arrays / Python scalars.

    ``expected_return`` μ (annual arithmetic), ``volatility`` σ (annual) and ``weights``
    w have shape (n_assets,); ``correlation`` has shape (n_assets, n_assets).
    ``inflation_mean`` / ``inflation_volatility`` are annual; ``fee_annual`` is a rate per
    year; wealth amounts in currency.
    """

    expected_return: np.ndarray
    volatility: np.ndarray
    correlation: np.ndarray
    weights: np.ndarray
    inflation_mean: float
    inflation_volatility: float
    fee_annual: float
    steps_per_year: int
    horizon_years: int
    initial_wealth: float
    goal: float = 0.0
    cash_flows: tuple[CashFlow, ...] = ()

    @property
    def n_assets(self) -> int:
        return int(np.asarray(self.expected_return).shape[0])

    @property
    def n_steps(self) -> int:
        return int(self.steps_per_year) * int(self.horizon_years)

    @property
    def normals_per_path_step(self) -> int:
        """Normals drawn per path and step: ``n_assets`` (+1 when ``π_vol > 0``)."""
        return self.n_assets + (1 if self.inflation_volatility > 0.0 else 0)


def dt_step(steps_per_year: int) -> float:
    """Step length Δ in years (``1/steps_per_year``)."""
    return 1.0 / float(steps_per_year)


def drift_log_step(expected_return: np.ndarray, volatility: np.ndarray, dt: float) -> np.ndarray:
    """Per-step log-return drift ``(μ − σ²/2) Δ``, shape (n_assets,), spec §Model."""
    mu = np.asarray(expected_return, dtype=np.float64)
    sigma = np.asarray(volatility, dtype=np.float64)
    return (mu - 0.5 * sigma * sigma) * dt


def shock_matrix_step(volatility: np.ndarray, correlation: np.ndarray, dt: float) -> np.ndarray:
    """Matrix ``B = diag(σ √Δ) L`` so that the log-return shock is ``B z``, shape (n, n)."""
    sigma = np.asarray(volatility, dtype=np.float64)
    return (sigma * math.sqrt(dt))[:, None] * factor_correlation(correlation)


def flows_step(
    cash_flows, steps_per_year: int, horizon_years: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cash flow per step, split by type and indexation, each of shape (n_steps,).

    Returns ``(contrib_fixed, contrib_indexed, withdraw_fixed, withdraw_indexed)`` in
    currency per step: ``amount_annual · Δ`` summed (in list order) over the flows whose
    year range ``start_year <= y < end_year`` covers the step's year ``y = k //
    steps_per_year``. Indexed amounts are to be multiplied by the index ``I_k``.
    """
    n_steps = int(steps_per_year) * int(horizon_years)
    dt = dt_step(steps_per_year)
    out = [np.zeros(n_steps, dtype=np.float64) for _ in range(4)]
    year_of_step = np.arange(n_steps) // int(steps_per_year)
    for cf in cash_flows:
        slot = (0 if cf.kind == "contribution" else 2) + (1 if cf.indexed else 0)
        if cf.kind not in ("contribution", "withdrawal"):
            raise ValueError(f"unknown cash flow type {cf.kind!r}")
        mask = (year_of_step >= cf.start_year) & (year_of_step < cf.end_year)
        out[slot][mask] += float(cf.amount_annual) * dt
    return out[0], out[1], out[2], out[3]


# ---------------------------------------------------------------------------------------
# Path simulation
# ---------------------------------------------------------------------------------------


def block_count(n_paths: int) -> int:
    """Number of blocks of :data:`BLOCK_PATHS` needed for ``n_paths`` paths."""
    return -(-int(n_paths) // BLOCK_PATHS)


def block_paths(n_paths: int, block_no: int) -> int:
    """Paths in block ``block_no`` (the last block may be shorter)."""
    return max(0, min(BLOCK_PATHS, int(n_paths) - block_no * BLOCK_PATHS))


def block_generator(seed: int, block_no: int) -> np.random.Generator:
    """``Generator(PCG64(SeedSequence(seed, spawn_key=(block_no,))))`` (spec §Random numbers)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(seed), spawn_key=(int(block_no),))))


_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # ln 2 split for Cody-Waite range reduction
_LN2_LO = 1.90821492927058770002e-10


@numba.njit(cache=True, nogil=True, fastmath={"contract"})
def _exp_inplace(x, scale_bits, scale):  # pragma: no cover - jitted
    """``x <- exp(x)`` elementwise, within 1 ulp of libm for ``x`` in [-708, 709].

    Written to vectorise (libm ``exp`` does not): ``x = k ln2 + f`` with ``|f| <= ln2/2``
    (Cody-Waite), ``e^f`` by its degree-13 Taylor polynomial (truncation < 2e-17), and
    ``2^k`` built from its IEEE bits in ``scale_bits`` read back through the float64
    view ``scale`` of the same memory. Arguments outside [-708, 709] are clamped.
    """
    n = x.size
    if scale_bits.size < n or scale.size < n:
        raise ValueError("scratch shorter than x")
    for i in range(n):
        xi = min(max(x[i], -708.0), 709.0)
        kf = np.floor(xi * _LOG2E + 0.5)
        f = (xi - kf * _LN2_HI) - kf * _LN2_LO
        p = 1.0 / 6227020800.0
        p = p * f + 1.0 / 479001600.0
        p = p * f + 1.0 / 39916800.0
        p = p * f + 1.0 / 3628800.0
        p = p * f + 1.0 / 362880.0
        p = p * f + 1.0 / 40320.0
        p = p * f + 1.0 / 5040.0
        p = p * f + 1.0 / 720.0
        p = p * f + 1.0 / 120.0
        p = p * f + 1.0 / 24.0
        p = p * f + 1.0 / 6.0
        p = p * f + 0.5
        p = p * f + 1.0
        p = p * f + 1.0
        x[i] = p
        scale_bits[i] = (np.int64(kf) + 1023) << 52
    for i in range(n):
        x[i] = x[i] * scale[i]


def exp_vector(x: np.ndarray) -> np.ndarray:
    """``e^x`` as computed inside the simulation (see ``_exp_inplace``), shape as ``x``."""
    out = np.array(x, dtype=np.float64, copy=True).ravel()
    bits = np.empty(out.size, dtype=np.int64)
    _exp_inplace(out, bits, bits.view(np.float64))
    return out.reshape(np.shape(x))


@numba.njit(cache=True, nogil=True, fastmath={"contract"})
def _advance_steps(z, k0, drift, shock, active, weights, infl_mu, infl_sd, fee_factor,
                  cf_fix, cf_idx, wd_fix, wd_idx, wealth, index, dep_step,
                  growth, scale_bits, scale):  # pragma: no cover - jitted
    """Advance every path of a block by the ``z.shape[0]`` steps starting at step ``k0``.

    ``z``: (n_sub, n_draw, n_paths) normals; scratch ``growth`` of shape
    ((n_active + 1) * n_paths,) and ``scale_bits`` of shape (n_active * n_paths,) with
    ``scale`` its float64 view. State
    ``wealth``, ``index`` (I_k) and ``dep_step`` (-1 or the depletion step) is updated in place.
    """
    n_sub, n_draw, n_paths = z.shape
    n_assets = shock.shape[0]
    n_active = active.shape[0]
    has_infl = n_draw > n_assets
    m = n_active * n_paths
    g = growth[:m]
    port = growth[m:m + n_paths]
    sb = scale_bits[:m]
    sc = scale[:m]
    for s in range(n_sub):
        k = k0 + s
        # growth factors e^{r_i}, r_i = drift_i + sum_j B_ij z_j, of the assets held;
        # whole-array passes so that each loop vectorises
        for a in range(n_active):
            i = active[a]
            d = drift[i]
            off = a * n_paths
            b0 = shock[i, 0]
            for p in range(n_paths):
                g[off + p] = d + b0 * z[s, 0, p]
            for j in range(1, n_assets):
                b = shock[i, j]
                if b != 0.0:
                    for p in range(n_paths):
                        g[off + p] += b * z[s, j, p]
        _exp_inplace(g, sb, sc)
        # portfolio return R = sum_i w_i (e^{r_i} - 1), summed in asset order
        for p in range(n_paths):
            port[p] = 0.0
        for a in range(n_active):
            w_a = weights[active[a]]
            off = a * n_paths
            for p in range(n_paths):
                port[p] += w_a * (g[off + p] - 1.0)
        c_f = cf_fix[k]
        c_i = cf_idx[k]
        w_f = wd_fix[k]
        w_i = wd_idx[k]
        # flows, depletion check, growth and fee; branch-free (depleted paths stay at 0)
        for p in range(n_paths):
            i_k = index[p]
            w = wealth[p] + (c_f + c_i * i_k)
            w = w - (w_f + w_i * i_k)
            alive = dep_step[p] < 0
            dies = alive and w <= 0.0
            keep = alive and not dies
            if has_infl:
                i_next = i_k * (1.0 + (infl_mu + infl_sd * z[s, n_assets, p]))
            else:
                i_next = i_k * (1.0 + infl_mu)
            grown = w * (1.0 + port[p]) * fee_factor
            wealth[p] = grown if keep else 0.0
            index[p] = i_next if keep else i_k
            dep_step[p] = k if dies else dep_step[p]


@dataclass
class BlockPaths:
    """Simulated paths of one block.

    ``wealth`` and ``wealth_real`` have shape (n_paths, horizon_years): column ``y`` is
    the nominal wealth, resp. wealth deflated by the index ``I``, at the end of year
    ``y + 1``. ``depletion_step`` has shape (n_paths,): the step ``k`` at which the path
    was depleted, -1 when never.
    """

    wealth: np.ndarray
    wealth_real: np.ndarray
    depletion_step: np.ndarray

    @property
    def terminal(self) -> np.ndarray:
        """Terminal nominal wealth ``W_T``, shape (n_paths,)."""
        return self.wealth[:, -1]


class PathSimulator:
    """Precomputed per-step coefficients of a :class:`PlanModel`; simulates blocks.

    One instance may simulate any number of blocks; it keeps one normal buffer of shape
    (steps_per_year, BLOCK_PATHS, normals_per_path_step) to avoid per-block allocation.
    """

    def __init__(self, model: PlanModel):
        self.model = model
        dt = dt_step(model.steps_per_year)
        self.drift = drift_log_step(model.expected_return, model.volatility, dt)
        self.shock = np.ascontiguousarray(shock_matrix_step(model.volatility, model.correlation, dt))
        w = np.asarray(model.weights, dtype=np.float64)
        self.weights = w
        self.active = np.flatnonzero(w != 0.0).astype(np.int64)  # zero weights need no exp
        self.infl_mu = float(model.inflation_mean) * dt
        self.infl_sd = float(model.inflation_volatility) * math.sqrt(dt)
        self.fee_factor = 1.0 - float(model.fee_annual) * dt
        self.flows = flows_step(model.cash_flows, model.steps_per_year, model.horizon_years)
        self.n_draw = model.normals_per_path_step
        self._buffer = np.empty((1, self.n_draw, BLOCK_PATHS), dtype=np.float64)
        n_scratch = max(1, self.active.size) * BLOCK_PATHS
        self._growth = np.empty(n_scratch + BLOCK_PATHS, dtype=np.float64)
        self._scale_bits = np.empty(n_scratch, dtype=np.int64)
        self._scale = self._scale_bits.view(np.float64)

    def normals_per_block(self, n_paths_block: int) -> int:
        """Normals a block of ``n_paths_block`` paths consumes."""
        return int(n_paths_block) * self.model.n_steps * self.n_draw

    def simulate_block(self, seed: int, block_no: int, n_paths_block: int) -> BlockPaths:
        """Simulate the paths of one block.

        Parameters
        ----------
        seed : int
            The job seed.
        block_no : int
            Block number ``b``; its normals come from :func:`block_generator` ``(seed, b)``.
        n_paths_block : int
            Paths in the block, 1..BLOCK_PATHS (:func:`block_paths`).

        Returns
        -------
        BlockPaths
            A pure function of the arguments and the model: reruns and any grouping of
            blocks into shards give identical bits.
        """
        m = self.model
        n = int(n_paths_block)
        if not 0 < n <= BLOCK_PATHS:
            raise ValueError(f"a block has 1..{BLOCK_PATHS} paths, got {n}")
        gen = block_generator(seed, block_no)
        # one step of normals per draw: (1, n_draw, n) stays in L2 cache between drawing and use
        z = self._buffer if n == BLOCK_PATHS else np.empty((1, self.n_draw, n), dtype=np.float64)
        wealth = np.full(n, float(m.initial_wealth), dtype=np.float64)
        index = np.ones(n, dtype=np.float64)
        dep = np.full(n, -1, dtype=np.int64)
        out_nom = np.empty((n, m.horizon_years), dtype=np.float64)
        out_real = np.empty((n, m.horizon_years), dtype=np.float64)
        cf_fix, cf_idx, wd_fix, wd_idx = self.flows
        spy = m.steps_per_year
        for k in range(m.n_steps):
            gen.standard_normal(out=z)
            _advance_steps(z, k, self.drift, self.shock, self.active,
                           self.weights, self.infl_mu, self.infl_sd, self.fee_factor,
                           cf_fix, cf_idx, wd_fix, wd_idx, wealth, index, dep,
                           self._growth, self._scale_bits, self._scale)
            if (k + 1) % spy == 0:
                year = (k + 1) // spy - 1
                out_nom[:, year] = wealth
                np.divide(wealth, index, out=out_real[:, year])
        return BlockPaths(out_nom, out_real, dep)


def simulate_paths(model: PlanModel, seed: int, n_paths: int) -> BlockPaths:
    """Simulate all ``n_paths`` paths (blocks concatenated in order). For tests and small runs:
    memory grows with ``n_paths``; the job kind works block by block."""
    sim = PathSimulator(model)
    parts = [sim.simulate_block(seed, b, block_paths(n_paths, b)) for b in range(block_count(n_paths))]
    return BlockPaths(
        np.concatenate([p.wealth for p in parts]),
        np.concatenate([p.wealth_real for p in parts]),
        np.concatenate([p.depletion_step for p in parts]),
    )


# ---------------------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------------------


def normal_ppf(p: float) -> float:
    """Standard normal quantile Φ⁻¹(p), 0 < p < 1.

    Acklam's rational approximation (relative error < 1.2e-9) refined by one Halley step
    on ``Φ(x) = erfc(−x/√2)/2`` (``math.erfc``), which brings it to about machine precision.
    """
    if not 0.0 < p < 1.0:
        raise ValueError("p must be in (0, 1)")
    a = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
         1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)
    b = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
         6.680131188771972e01, -1.328068155288572e01)
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
         -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
    p_low = 0.02425
    if p < p_low:
        q = math.sqrt(-2.0 * math.log(p))
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / (
            (((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0)
    elif p <= 1.0 - p_low:
        q = p - 0.5
        r = q * q
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / (
            ((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0)
    else:
        q = math.sqrt(-2.0 * math.log1p(-p))
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / (
            (((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0)
    e = 0.5 * math.erfc(-x / math.sqrt(2.0)) - p
    u = e * math.sqrt(2.0 * math.pi) * math.exp(0.5 * x * x)
    return x - u / (1.0 + 0.5 * x * u)


def wilson_interval(successes: int, n: int, confidence: float) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion.

    ``z = Φ⁻¹(1 − (1 − confidence)/2)``, ``p̂ = successes/n``;
    centre ``(p̂ + z²/2n)/(1 + z²/n)``, half-width
    ``z/(1 + z²/n) · sqrt(p̂(1 − p̂)/n + z²/4n²)`` (Wilson 1927). Returns ``(lo, hi)``
    clipped to [0, 1].
    """
    if n <= 0:
        raise ValueError("n must be positive")
    z = normal_ppf(1.0 - (1.0 - confidence) / 2.0)
    p = successes / n
    z2n = z * z / n
    centre = (p + z2n / 2.0) / (1.0 + z2n)
    half = z / (1.0 + z2n) * math.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def percentiles_exact(values: np.ndarray, levels=PERCENTILE_LEVELS) -> list[float]:
    """Exact percentiles (numpy's default ``linear`` rule: ``h = (n − 1) q``,
    ``x_(⌊h⌋) + (h − ⌊h⌋)(x_(⌊h⌋+1) − x_(⌊h⌋))`` on the sorted values)."""
    return [float(v) for v in np.quantile(np.asarray(values, dtype=np.float64), list(levels))]


def hist_bucket(values: np.ndarray, mantissa_bits: int = HIST_MANTISSA_BITS) -> np.ndarray:
    """Order-preserving log bucket of float64 values, shape as ``values``, int64.

    The IEEE-754 bit pattern of ``|x|`` is sign-folded into an int64 ``u`` that increases
    with ``x`` and then shifted right by ``52 − m``: bucket ``b`` holds the ``x`` with
    ``u >> (52 − m) == b``. For normal positive ``x`` in ``[2^e, 2^{e+1})`` a bucket is an
    interval ``[2^e (1 + j 2^{-m}), 2^e (1 + (j + 1) 2^{-m}))``: relative width at most
    ``2^{-m}``, so its midpoint (:func:`hist_value`) is within relative ``2^{-(m+1)}`` of
    every member. Zero (and |x| below ``2^-1022``) falls in bucket 0, represented by 0.
    """
    x = np.asarray(values, dtype=np.float64)
    bits = x.view(np.int64)
    u = np.where(bits >= 0, bits, -(bits & _SIGN_MASK))
    return u >> np.int64(52 - mantissa_bits)


def hist_value(buckets: np.ndarray, mantissa_bits: int = HIST_MANTISSA_BITS) -> np.ndarray:
    """Representative value (midpoint of the bucket's bit range) of :func:`hist_bucket` buckets."""
    b = np.asarray(buckets, dtype=np.int64)
    shift = np.int64(52 - mantissa_bits)
    mid = (b << shift) + (np.int64(1) << (shift - np.int64(1)))
    mag = np.abs(mid).astype(np.int64).view(np.float64)
    out = np.where(mid >= 0, mag, -mag)
    return np.where(b == 0, 0.0, out)


def percentiles_from_histogram(buckets: np.ndarray, counts: np.ndarray, levels=PERCENTILE_LEVELS,
                               mantissa_bits: int = HIST_MANTISSA_BITS) -> list[float]:
    """Percentiles of the values summarised by a bucket histogram.

    Same ``linear`` rule as :func:`percentiles_exact`, with each order statistic replaced by
    its bucket's representative value. Bound: when all values are >= 0, every result is
    within relative ``2^{-(m+1)}`` (m = ``mantissa_bits``; 4.9e-4 for m = 10) of the exact
    percentile, plus an absolute 2^-1022 for values in bucket 0, because the result is the
    same convex combination of representatives as the exact one is of order statistics.

    Parameters
    ----------
    buckets : ndarray of int64, shape (k,)
        Distinct buckets, strictly increasing.
    counts : ndarray of int64, shape (k,)
        Number of values in each bucket (all > 0).
    """
    b = np.asarray(buckets, dtype=np.int64)
    c = np.asarray(counts, dtype=np.int64)
    n = int(c.sum())
    if n == 0:
        return [None for _ in levels]
    cum = np.cumsum(c)
    reps = hist_value(b, mantissa_bits)
    out = []
    for q in levels:
        h = (n - 1) * float(q)
        j = int(math.floor(h))
        f = h - j
        lo = float(reps[np.searchsorted(cum, j, side="right")])
        if f > 0.0:
            hi = float(reps[np.searchsorted(cum, j + 1, side="right")])
            out.append(lo + f * (hi - lo))
        else:
            out.append(lo)
    return out
