"""Correlation-matrix validation messages and factors (workers/engines/matrices.py)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from workers.engines.matrices import factor_correlation, validate_correlation


def test_valid_matrix_has_no_problems():
    assert validate_correlation([[1, 0.2], [0.2, 1]]) == []


def test_asymmetry_names_both_entries():
    m = [[1, 0.2, 0.3], [0.2, 1, 0.1], [0.2, 0.1, 1]]
    assert validate_correlation(m) == ["correlation[0][2] != correlation[2][0] (0.3 vs 0.2)"]


def test_diagonal_must_be_one():
    assert validate_correlation([[1, 0], [0, 0.9]], name="corr") == ["corr[1][1] must be 1 (0.9)"]


def test_not_psd_reports_smallest_eigenvalue():
    # eigenvalues of [[1, .9, -.9], [.9, 1, .9], [-.9, .9, 1]]: 1.9, 1.9, -0.8 (hand: det < 0)
    m = [[1, 0.9, -0.9], [0.9, 1, 0.9], [-0.9, 0.9, 1]]
    problems = validate_correlation(m)
    assert problems == ["correlation is not positive semi-definite: smallest eigenvalue -0.8"]


def test_shape_and_range_problems():
    assert validate_correlation([[1, 0], [0]]) == ["correlation row 1 has 1 entries, expected 2 (matrix must be square)"]
    assert validate_correlation([[1, 1.5], [1.5, 1]])[0] == "correlation[0][1] must be between -1 and 1 (1.5)"
    assert validate_correlation([[1, "x"], [0, 1]]) == ["correlation[0][1] is not a number ('x')"]
    assert validate_correlation([]) == ["correlation must not be empty"]


def test_semidefinite_uses_eigen_factor():
    m = np.array([[1.0, 1.0], [1.0, 1.0]])  # rank 1: Cholesky fails
    assert validate_correlation(m) == []
    f = factor_correlation(m)
    np.testing.assert_allclose(f @ f.T, m, atol=1e-12)


def test_factor_rejects_invalid():
    with pytest.raises(ValueError, match="must be 1"):
        factor_correlation([[2.0, 0.0], [0.0, 1.0]])


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(0, 2**32 - 1))
def test_factor_reproduces_random_correlations(n, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, n + 2))
    cov = a @ a.T
    d = np.sqrt(np.diag(cov))
    corr = cov / d[:, None] / d[None, :]
    np.fill_diagonal(corr, 1.0)
    corr = 0.5 * (corr + corr.T)
    assert validate_correlation(corr) == []
    f = factor_correlation(corr)
    np.testing.assert_allclose(f @ f.T, corr, atol=1e-10)
