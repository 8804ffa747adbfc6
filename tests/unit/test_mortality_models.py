"""Mortality models (life.md C): recovery of known parameters, W-H moment property, random walk."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workers.engines.life import mortality_models as mm


def _true_lc(n_ages=30, n_years=40, seed=7):
    rng = np.random.default_rng(seed)
    x = np.arange(n_ages)
    a = -8.5 + 0.09 * x
    b = 1.0 + 0.5 * np.sin(x / 5.0)
    b = b / b.sum()
    k = np.linspace(15.0, -15.0, n_years) + rng.normal(0.0, 1.5, n_years)
    k = k - k.mean()
    return a, b, k


def test_lee_carter_recovers_exact_rank_one_model():
    a, b, k = _true_lc()
    fit = mm.lee_carter_fit(a[:, None] + b[:, None] * k[None, :])
    np.testing.assert_allclose(fit.a, a, atol=1e-12)
    np.testing.assert_allclose(fit.b, b, atol=1e-12)
    np.testing.assert_allclose(fit.k, k, atol=1e-10)
    assert fit.variance_explained == pytest.approx(1.0, abs=1e-12)
    assert fit.b.sum() == pytest.approx(1.0, abs=1e-14) and abs(fit.k.sum()) < 1e-10


def test_lee_carter_recovers_parameters_under_small_noise():
    a, b, k = _true_lc()
    rng = np.random.default_rng(123)
    log_m = a[:, None] + b[:, None] * k[None, :] + rng.normal(0.0, 1e-3, (a.size, k.size))
    fit = mm.lee_carter_fit(log_m)
    np.testing.assert_allclose(fit.a, a, atol=1e-3)
    np.testing.assert_allclose(fit.b, b, atol=5e-4)
    np.testing.assert_allclose(fit.k, k, atol=0.05)
    assert 0.999 < fit.variance_explained < 1.0


def test_refit_kt_matches_observed_deaths():
    a, b, k = _true_lc()
    rng = np.random.default_rng(5)
    exposure = rng.uniform(5e5, 5e6, (a.size, k.size))  # ~100+ deaths a cell
    deaths = rng.poisson(exposure * np.exp(a[:, None] + b[:, None] * k[None, :])).astype(float)
    fit = mm.lee_carter_fit(mm.log_rates_filled(deaths, exposure))
    refit = mm.refit_kt_deaths(fit, deaths, exposure)
    fitted = (exposure * np.exp(refit.log_m())).sum(axis=0)
    np.testing.assert_allclose(fitted, deaths.sum(axis=0), rtol=1e-10)
    np.testing.assert_array_equal(refit.b, fit.b)
    assert abs(refit.k.sum()) < 1e-9
    np.testing.assert_allclose(refit.k, k, atol=0.5)  # still close to the truth


def test_refit_rejects_a_year_without_deaths():
    fit = mm.LeeCarterFit(a=np.zeros(2), b=np.array([0.5, 0.5]), k=np.array([1.0, -1.0]), variance_explained=1.0)
    with pytest.raises(ValueError, match="year column 1"):
        mm.refit_kt_deaths(fit, np.array([[1.0, 0.0], [2.0, 0.0]]), np.ones((2, 2)))


def test_crude_rates_and_zero_cells_are_never_logged():
    deaths = np.array([[4.0, 0.0, 3.0], [5.0, 2.0, 0.0]])
    exposure = np.array([[100.0, 50.0, 0.0], [200.0, 100.0, 80.0]])
    m = mm.rates_crude(deaths, exposure)
    assert np.isnan(m[0, 2]) and m[0, 1] == 0.0 and m[0, 0] == 0.04
    zero_e, zero_d = mm.cells_zero(deaths, exposure)
    assert zero_e.tolist() == [[False, False, True], [False, False, False]]
    assert zero_d.tolist() == [[False, True, False], [False, False, True]]
    half = mm.log_rates_filled(deaths, exposure, "half_death")
    assert half[0, 1] == pytest.approx(math.log(0.5 / 50.0))
    assert half[1, 2] == pytest.approx(math.log(0.5 / 80.0))
    assert half[0, 2] == pytest.approx(half[1, 2])  # E = 0: constant extrapolation over age
    deaths[1, 2] = 1.0  # keep one usable cell in the last year
    interp = mm.log_rates_filled(deaths, exposure, "interpolate")
    assert interp[0, 2] == pytest.approx(math.log(1.0 / 80.0))
    assert interp[0, 1] == pytest.approx(math.log(0.02))  # only age with data in that year
    assert np.all(np.isfinite(half)) and np.all(np.isfinite(interp))
    with pytest.raises(ValueError, match="no cell"):
        mm.log_rates_filled(np.zeros((2, 1)), np.zeros((2, 1)))
    with pytest.raises(ValueError):
        mm.log_rates_filled(deaths, exposure, "drop")


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_whittaker_henderson_order_two_keeps_weighted_moments(data):
    n = data.draw(st.integers(4, 60))
    y = np.array(data.draw(st.lists(st.floats(-10, 0), min_size=n, max_size=n)))
    w = np.array(data.draw(st.lists(st.floats(0.1, 1000.0), min_size=n, max_size=n)))
    lam = data.draw(st.floats(0.0, 1e5))
    x = np.arange(n, dtype=float)
    z = mm.whittaker_henderson(y, w, lam, order=2)
    scale = np.sum(w * np.abs(y)) + 1.0
    assert np.sum(w * z) == pytest.approx(np.sum(w * y), abs=1e-8 * scale)
    assert np.sum(w * x * z) == pytest.approx(np.sum(w * x * y), abs=1e-8 * scale * n)
    assert mm.roughness(z, 2) <= mm.roughness(y, 2) * (1 + 1e-9) + 1e-12


@pytest.mark.parametrize("order", [1, 2, 3])
def test_whittaker_henderson_limits(order):
    rng = np.random.default_rng(order)
    x = np.arange(40, dtype=float)
    y = -9 + 0.08 * x + rng.normal(0, 0.2, x.size)
    w = rng.uniform(1, 50, x.size)
    np.testing.assert_allclose(mm.whittaker_henderson(y, w, 0.0, order), y, atol=1e-12)
    # A huge lambda forces a polynomial of degree order-1: weighted least squares (polyfit uses sqrt(w)).
    coef = np.polyfit(x, y, order - 1, w=np.sqrt(w))
    np.testing.assert_allclose(mm.whittaker_henderson(y, w, 1e9, order), np.polyval(coef, x), atol=1e-3)
    # z minimises the W-H objective: any perturbation increases it.
    z = mm.whittaker_henderson(y, w, 30.0, order)

    def objective(v):
        return np.sum(w * (y - v) ** 2) + 30.0 * np.sum(np.diff(v, n=order) ** 2)

    base = objective(z)
    for _ in range(20):
        assert objective(z + 1e-3 * rng.standard_normal(x.size)) > base


def test_whittaker_henderson_zero_weights_fill_gaps():
    y = np.array([-5.0, -4.8, np.nan, -4.4, -4.2])
    w = np.array([1.0, 1.0, 0.0, 1.0, 1.0])
    z = mm.whittaker_henderson(y, w, 1e-6, order=2)
    assert z[2] == pytest.approx(-4.6, abs=1e-6)
    with pytest.raises(ValueError, match="positive weights"):
        mm.whittaker_henderson(y, np.array([0.0, 0, 0, 0, 1.0]), 1.0, order=2)


def test_random_walk_hand_example():
    k = np.array([0.0, -1.0, -3.0, -4.0, -6.0])
    drift, sigma = mm.rwd_drift_sigma(k)
    assert drift == -1.5
    assert sigma == pytest.approx(math.sqrt(1.0 / 3.0), rel=1e-15)  # increments -+0.5 around the drift
    central = mm.rwd_central(k[-1], drift, 4)
    assert central.tolist() == [-7.5, -9.0, -10.5, -12.0]
    lo, hi = mm.rwd_intervals(k[-1], drift, sigma, 4, level=0.95)
    half = (hi - lo) / 2
    np.testing.assert_allclose(half / np.sqrt([1, 2, 3, 4]), 1.959963984540054 * sigma, rtol=1e-12)
    np.testing.assert_allclose((hi + lo) / 2, central, atol=1e-12)
    with pytest.raises(ValueError):
        mm.rwd_drift_sigma(k[:2])


def test_random_walk_simulation_is_seeded_and_consistent():
    p1 = mm.rwd_simulate(-6.0, -1.5, 0.6, 25, 20_000, np.random.default_rng(42))
    p2 = mm.rwd_simulate(-6.0, -1.5, 0.6, 25, 20_000, np.random.default_rng(42))
    np.testing.assert_array_equal(p1, p2)
    assert not np.array_equal(p1, mm.rwd_simulate(-6.0, -1.5, 0.6, 25, 20_000, np.random.default_rng(43)))
    h = np.arange(1, 26)
    # Mean k_T + h drift, sd sigma sqrt(h): 6 standard errors of the sample mean / sd.
    z_mean = (p1.mean(axis=0) - (-6.0 - 1.5 * h)) / (0.6 * np.sqrt(h) / math.sqrt(20_000))
    assert np.max(np.abs(z_mean)) < 6.0
    np.testing.assert_allclose(p1.std(axis=0, ddof=1), 0.6 * np.sqrt(h), rtol=0.03)
    lo, hi = mm.rwd_intervals(-6.0, -1.5, 0.6, 25, 0.9)
    inside = ((p1 >= lo) & (p1 <= hi)).mean(axis=0)
    np.testing.assert_allclose(inside, 0.9, atol=0.015)


def test_projection_outputs_and_reference_comparison():
    a, b = np.array([-5.0, -4.0]), np.array([0.4, 0.6])
    m = mm.m_projected(a, b, np.array([0.0, -10.0]))
    np.testing.assert_allclose(m, np.exp([[-5.0, -9.0], [-4.0, -10.0]]))
    q = mm.q_from_m(m)
    np.testing.assert_allclose(q, 1 - np.exp(-m), rtol=1e-11)
    cmp = mm.compare_to_reference(np.array([60, 61, 62]), np.array([0.01, 0.02, 0.03]),
                                  np.array([61, 62, 63]), np.array([0.01, 0.0, 0.1]), age_range=(60, 62))
    assert cmp["ages"] == [61, 62]
    assert cmp["ratio"] == [2.0, None]
    assert cmp["difference"] == pytest.approx([0.01, 0.03])
    assert cmp["rmse"] == pytest.approx(math.sqrt((0.01 ** 2 + 0.03 ** 2) / 2))
    with pytest.raises(ValueError):
        mm.compare_to_reference(np.array([60]), np.array([0.01]), np.array([70]), np.array([0.02]))
    assert mm.z_two_sided(0.95) == pytest.approx(1.959963984540054, rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_lee_carter_recovers_any_rank_one_surface(data):
    n_ages = data.draw(st.integers(2, 25))
    n_years = data.draw(st.integers(3, 30))
    a = np.array(data.draw(st.lists(st.floats(-10, -1), min_size=n_ages, max_size=n_ages)))
    b = np.array(data.draw(st.lists(st.floats(0.05, 2.0), min_size=n_ages, max_size=n_ages)))
    k = np.array(data.draw(st.lists(st.floats(-20, 20), min_size=n_years, max_size=n_years)))
    if np.ptp(k) < 1.0:
        return
    b = b / b.sum()
    k = k - k.mean()
    fit = mm.lee_carter_fit(a[:, None] + b[:, None] * k[None, :])
    np.testing.assert_allclose(fit.b, b, atol=1e-9)
    np.testing.assert_allclose(fit.k, k, atol=1e-8 * max(1.0, np.abs(k).max()))
    np.testing.assert_allclose(fit.a, a, atol=1e-10)


def test_refit_kt_with_negative_b_converges():
    a = np.array([-6.0, -5.0, -4.0, -3.0])
    b = np.array([0.9, 0.5, -0.2, -0.2])  # sums to 1, mixed signs
    k = np.array([4.0, 1.0, -2.0, -3.0])
    exposure = np.full((4, 4), 1e5)
    deaths = exposure * np.exp(a[:, None] + b[:, None] * (k[None, :] + np.array([0.5, -0.3, 0.2, -0.4])))
    fit = mm.LeeCarterFit(a=a, b=b, k=k, variance_explained=1.0)
    refit = mm.refit_kt_deaths(fit, deaths, exposure)
    np.testing.assert_allclose((exposure * np.exp(refit.log_m())).sum(axis=0), deaths.sum(axis=0), rtol=1e-10)


def test_graduation_of_a_matrix_is_column_by_column():
    rng = np.random.default_rng(2)
    y = rng.normal(-5, 0.3, (25, 6))
    w = rng.uniform(0, 10, (25, 6))
    w[3, 2] = 0.0
    y[3, 2] = -np.inf  # a zero-death cell with zero weight is ignored, not propagated
    z = mm.graduate_log_rates(y, w, 40.0, 2)
    for t in range(6):
        np.testing.assert_allclose(z[:, t], mm.whittaker_henderson(y[:, t], w[:, t], 40.0, 2), rtol=1e-12)
    assert np.all(np.isfinite(z))
    with pytest.raises(ValueError, match="year column 1"):
        mm.graduate_log_rates(y[:, :2], np.c_[w[:, 0], np.zeros(25)], 1.0, 2)
