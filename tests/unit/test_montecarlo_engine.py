"""Monte Carlo plan engine: closed forms, hand examples, documented draw order, statistics."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from workers.engines import montecarlo as mc


def one_asset(mu=0.06, sigma=0.2, spy=1, horizon=10, w0=100.0, flows=(), fee=0.0,
              infl_mean=0.0, infl_vol=0.0, goal=0.0):
    return mc.PlanModel(np.array([mu]), np.array([sigma]), np.array([[1.0]]), np.array([1.0]),
                        infl_mean, infl_vol, fee, spy, horizon, w0, goal, tuple(flows))


def test_terminal_mean_and_median_match_lognormal_closed_form():
    mu, sigma, T, w0, n = 0.06, 0.2, 10, 100.0, 4 * mc.BLOCK_PATHS
    paths = mc.simulate_paths(one_asset(mu, sigma, 12, T, w0), seed=7, n_paths=n)
    term = paths.terminal
    mean = w0 * math.exp(mu * T)
    sd = mean * math.sqrt(math.exp(sigma**2 * T) - 1.0)
    assert abs(term.mean() - mean) < 5 * sd / math.sqrt(n)
    # median: the number of paths below the true median is Binomial(n, 1/2)
    median = w0 * math.exp((mu - sigma**2 / 2) * T)
    below = int((term <= median).sum())
    assert abs(below - n / 2) < 5 * math.sqrt(n / 4)


def test_sigma_zero_is_deterministic():
    mu, fee, T = 0.05, 0.01, 7
    for spy in (1, 12):
        paths = mc.simulate_paths(one_asset(mu, 0.0, spy, T, 1000.0, fee=fee), seed=1, n_paths=5)
        expected = [1000.0 * math.exp(mu * y) * (1 - fee / spy) ** (spy * y) for y in range(1, T + 1)]
        for row in paths.wealth:
            np.testing.assert_allclose(row, expected, rtol=1e-12)


def test_portfolio_variance_reflects_correlation():
    # one annual step, 50/50 in two lognormal assets: Var R = 1/4 (V1 + V2 + 2 C12) with
    # E e^{r_i} = e^{mu_i}, V_i = e^{2 mu_i}(e^{s_i^2} - 1), C12 = e^{mu1 + mu2}(e^{rho s1 s2} - 1)
    mu1, mu2, s1, s2, n = 0.05, 0.03, 0.2, 0.1, 8 * mc.BLOCK_PATHS
    for rho in (0.8, -0.5):
        model = mc.PlanModel(np.array([mu1, mu2]), np.array([s1, s2]), np.array([[1, rho], [rho, 1]]),
                             np.array([0.5, 0.5]), 0.0, 0.0, 0.0, 1, 1, 1.0)
        r = mc.simulate_paths(model, seed=3, n_paths=n).terminal - 1.0
        v1 = math.exp(2 * mu1) * (math.exp(s1**2) - 1)
        v2 = math.exp(2 * mu2) * (math.exp(s2**2) - 1)
        c12 = math.exp(mu1 + mu2) * (math.exp(rho * s1 * s2) - 1)
        var = 0.25 * (v1 + v2 + 2 * c12)
        dev = r - r.mean()
        se = math.sqrt((np.mean(dev**4) - np.var(r) ** 2) / n)
        assert abs(np.var(r) - var) < 5 * se
        assert abs(r.mean() - (0.5 * math.exp(mu1) + 0.5 * math.exp(mu2) - 1)) < 5 * math.sqrt(var / n)


def test_withdrawals_deplete_at_the_hand_computed_step():
    # W0 = 100, withdraw 60 a year, no growth: step 0 -> 40, step 1 -> -20 <= 0: depleted at step 1
    flows = [mc.CashFlow("withdrawal", 60.0, 0, 3)]
    p = mc.simulate_paths(one_asset(0.0, 0.0, 1, 4, 100.0, flows), seed=0, n_paths=3)
    np.testing.assert_array_equal(p.depletion_step, [1, 1, 1])
    np.testing.assert_array_equal(p.wealth[0], [40.0, 0.0, 0.0, 0.0])


def test_contribution_added_before_withdrawal_and_zero_is_depleted():
    # contribution 50 and withdrawal 50 in year 0 from W0 = 0: 0 + 50 - 50 = 0 <= 0 -> depleted at step 0
    flows = [mc.CashFlow("withdrawal", 50.0, 0, 1), mc.CashFlow("contribution", 50.0, 0, 1)]
    p = mc.simulate_paths(one_asset(0.0, 0.0, 1, 2, 0.0, flows), seed=0, n_paths=1)
    assert p.depletion_step[0] == 0
    # with 60 contributed: 10 remains, then grows
    flows = [mc.CashFlow("withdrawal", 50.0, 0, 1), mc.CashFlow("contribution", 60.0, 0, 1)]
    p = mc.simulate_paths(one_asset(0.1, 0.0, 1, 2, 0.0, flows), seed=0, n_paths=1)
    assert p.depletion_step[0] == -1
    np.testing.assert_allclose(p.wealth[0], [10 * math.exp(0.1), 10 * math.exp(0.2)], rtol=1e-13)


def test_indexed_monthly_flows_hand_example():
    # monthly steps, deterministic inflation 12 %/yr -> pi = 1 % per step; indexed contribution
    # 1200/yr -> 100 * I_k at step k; mu = sigma = 0; fee 0.  W_12 = sum_k 100 * 1.01^k, real = W / 1.01^12
    flows = [mc.CashFlow("contribution", 1200.0, 0, 1, indexed=True)]
    p = mc.simulate_paths(one_asset(0.0, 0.0, 12, 2, 0.0, flows, infl_mean=0.12), seed=0, n_paths=1)
    w1 = sum(100.0 * 1.01**k for k in range(12))
    np.testing.assert_allclose(p.wealth[0], [w1, w1], rtol=1e-13)
    np.testing.assert_allclose(p.wealth_real[0], [w1 / 1.01**12, w1 / 1.01**24], rtol=1e-13)


def test_paths_follow_the_documented_draw_order_and_formulas():
    # Recompute block 2 by hand from the documented stream: per step, asset normals for all paths
    # (asset-major), then inflation normals for all paths.
    mu, sig = np.array([0.07, 0.03]), np.array([0.15, 0.05])
    corr = np.array([[1.0, 0.3], [0.3, 1.0]])
    w, fee, im, iv = np.array([0.7, 0.3]), 0.004, 0.02, 0.01
    flows = (mc.CashFlow("contribution", 10.0, 0, 1, True), mc.CashFlow("withdrawal", 30.0, 1, 2, False))
    model = mc.PlanModel(mu, sig, corr, w, im, iv, fee, 1, 2, 50.0, 0.0, flows)
    n, seed, block = 5, 11, 2
    got = mc.PathSimulator(model).simulate_block(seed, block, n)
    gen = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(block,))))
    L = np.linalg.cholesky(corr)
    W, I = np.full(n, 50.0), np.ones(n)
    dep = np.full(n, -1)
    for k in range(2):
        z = np.array([[gen.standard_normal() for _ in range(n)] for _ in range(2)])  # (asset, path)
        zi = np.array([gen.standard_normal() for _ in range(n)])
        for p in range(n):
            if dep[p] >= 0:
                continue
            wealth = W[p] + (10.0 if k == 0 else 0.0) * I[p] - (30.0 if k == 1 else 0.0)
            if wealth <= 0:
                dep[p], W[p] = k, 0.0
                continue
            r = (mu - sig**2 / 2) + sig * (L @ z[:, p])
            R = float(np.sum(w * np.expm1(r)))
            W[p] = wealth * (1 + R) * (1 - fee)
            I[p] = I[p] * (1 + im + iv * zi[p])
    np.testing.assert_allclose(got.wealth[:, -1], W, rtol=1e-13)
    np.testing.assert_allclose(got.wealth_real[:, -1], W / I, rtol=1e-13)
    np.testing.assert_array_equal(got.depletion_step, dep)


def test_blocks_are_independent_of_grouping_and_rerun():
    model = one_asset(0.05, 0.2, 12, 3, 100.0)
    a = mc.simulate_paths(model, seed=5, n_paths=mc.BLOCK_PATHS + 10)
    sim = mc.PathSimulator(model)
    b1 = sim.simulate_block(5, 1, 10)
    np.testing.assert_array_equal(a.wealth[mc.BLOCK_PATHS:], b1.wealth)
    np.testing.assert_array_equal(mc.PathSimulator(model).simulate_block(5, 1, 10).wealth, b1.wealth)


@settings(max_examples=60, deadline=None)
@given(st.floats(-700, 700))
def test_vector_exp_within_two_ulp(x):
    got = float(mc.exp_vector(np.array([x]))[0])
    assert abs(got - math.exp(x)) <= 2 * math.ulp(math.exp(x))


def test_normal_ppf_published_values():
    assert mc.normal_ppf(0.975) == pytest.approx(1.959963984540054, abs=1e-14)
    assert mc.normal_ppf(0.995) == pytest.approx(2.5758293035489004, abs=1e-13)
    assert mc.normal_ppf(0.001) == pytest.approx(-3.090232306167813, abs=1e-12)


def test_wilson_interval_hand_values():
    z2 = 1.959963984540054**2
    lo, hi = mc.wilson_interval(0, 10, 0.95)
    assert lo == pytest.approx(0.0, abs=1e-15) and hi == pytest.approx(z2 / (10 + z2), rel=1e-12)
    lo, hi = mc.wilson_interval(10, 10, 0.95)
    assert lo == pytest.approx(10 / (10 + z2), rel=1e-12) and hi == pytest.approx(1.0, abs=1e-15)
    # 50/100 at 95 %: centre 0.5, half-width z/(1+z^2/n) * sqrt(0.25/n + z^2/(4 n^2)) = 0.0961...
    lo, hi = mc.wilson_interval(50, 100, 0.95)
    assert (lo, hi) == (pytest.approx(0.40383153, abs=1e-8), pytest.approx(0.59616847, abs=1e-8))


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 3000), st.integers(0, 2**32 - 1), st.floats(0.01, 3.0), st.integers(4, 12),
       st.floats(0.0, 0.5))
def test_histogram_percentiles_within_documented_bound(n, seed, spread, bits, zero_share):
    rng = np.random.default_rng(seed)
    x = np.exp(spread * rng.standard_normal(n)) * 1e5
    x[rng.random(n) < zero_share] = 0.0
    uniq, counts = np.unique(mc.hist_bucket(x, bits), return_counts=True)
    approx = mc.percentiles_from_histogram(uniq, counts, mc.PERCENTILE_LEVELS, bits)
    exact = np.quantile(x, mc.PERCENTILE_LEVELS)
    bound = 2.0 ** -(bits + 1)
    for a, e in zip(approx, exact):
        assert abs(a - e) <= bound * e * (1 + 1e-12) + 1e-300


def test_histogram_bucket_is_monotone_across_signs():
    x = np.array([-3.0, -1e-300, -0.0, 0.0, 1e-300, 1.0, 1.0009, 2.0, np.inf])
    b = mc.hist_bucket(x, 10)
    assert np.all(np.diff(b) >= 0)
    v = mc.hist_value(b, 10)
    assert v[3] == 0.0 and abs(v[5] - 1.0) <= 2**-11 and abs(v[0] + 3.0) <= 3 * 2**-11
