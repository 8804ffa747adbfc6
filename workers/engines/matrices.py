"""Correlation-matrix validation and factorisation shared by the engines.

Used by the Monte Carlo plan engine (CMA correlations, spec ``montecarlo.md`` §Inputs:
"symmetric, unit diagonal, positive semi-definite — otherwise 422 naming the problem")
and by the Solvency II aggregation (correlation matrices of the standard formula).

Pure numpy; no I/O.
"""
from __future__ import annotations

import math

import numpy as np

#: Absolute tolerance on symmetry and on the unit diagonal.
SYMMETRY_TOL = 1e-12
#: An eigenvalue ``>= -PSD_TOL * max(1, n)`` counts as non-negative (rounding of a PSD matrix).
PSD_TOL = 1e-10


def _as_float_matrix(matrix) -> tuple[np.ndarray | None, list[str]]:
    """Parse ``matrix`` (nested lists or array) into a float64 square array, or describe why not."""
    try:
        rows = [list(r) for r in matrix]
    except TypeError:
        return None, ["must be a list of rows"]
    n = len(rows)
    if n == 0:
        return None, ["must not be empty"]
    problems: list[str] = []
    for i, row in enumerate(rows):
        if len(row) != n:
            problems.append(f"row {i} has {len(row)} entries, expected {n} (matrix must be square)")
    if problems:
        return None, problems
    out = np.empty((n, n), dtype=np.float64)
    for i, row in enumerate(rows):
        for j, v in enumerate(row):
            try:
                f = float(v)
            except (TypeError, ValueError):
                problems.append(f"[{i}][{j}] is not a number ({v!r})")
                continue
            if isinstance(v, bool) or not math.isfinite(f):
                problems.append(f"[{i}][{j}] is not a finite number ({v!r})")
                continue
            out[i, j] = f
    return (None if problems else out), problems


def validate_correlation(matrix, name: str = "correlation") -> list[str]:
    """Check that ``matrix`` is a valid correlation matrix.

    Parameters
    ----------
    matrix : array_like, shape (n, n)
        Candidate correlation matrix (nested lists as received in JSON, or an array).
    name : str
        Name used in the messages (e.g. ``"correlation"``, ``"market.correlation"``).

    Returns
    -------
    list of str
        Human-readable problems, empty when the matrix is valid. Checks, in order:
        square and finite; entries in [-1, 1]; symmetric (``|a_ij - a_ji| <= 1e-12``);
        unit diagonal (``|a_ii - 1| <= 1e-12``); positive semi-definite (smallest
        eigenvalue of the symmetric part ``>= -1e-10 * max(1, n)``). The eigenvalue test
        runs only when the matrix is otherwise valid.
    """
    arr, problems = _as_float_matrix(matrix)
    if arr is None:
        return [f"{name} {p}" if not p.startswith("[") else f"{name}{p}" for p in problems]
    n = arr.shape[0]
    for i in range(n):
        for j in range(n):
            if abs(arr[i, j]) > 1.0 + SYMMETRY_TOL:
                problems.append(f"{name}[{i}][{j}] must be between -1 and 1 ({arr[i, j]:g})")
    for i in range(n):
        for j in range(i + 1, n):
            if abs(arr[i, j] - arr[j, i]) > SYMMETRY_TOL:
                problems.append(
                    f"{name}[{i}][{j}] != {name}[{j}][{i}] ({arr[i, j]:g} vs {arr[j, i]:g})"
                )
    for i in range(n):
        if abs(arr[i, i] - 1.0) > SYMMETRY_TOL:
            problems.append(f"{name}[{i}][{i}] must be 1 ({arr[i, i]:g})")
    if problems:
        return problems
    smallest = float(np.linalg.eigvalsh(0.5 * (arr + arr.T))[0])
    if smallest < -PSD_TOL * max(1, n):
        problems.append(f"{name} is not positive semi-definite: smallest eigenvalue {smallest:.6g}")
    return problems


def factor_correlation(matrix) -> np.ndarray:
    """Return a factor ``L`` with ``L @ L.T == matrix`` (to rounding).

    Parameters
    ----------
    matrix : array_like, shape (n, n)
        A valid correlation matrix (see :func:`validate_correlation`).

    Returns
    -------
    numpy.ndarray, shape (n, n), float64
        The lower-triangular Cholesky factor when the matrix is positive definite;
        otherwise (semi-definite) the eigen-factor ``V diag(sqrt(max(λ, 0)))`` with the
        rows rescaled so that ``(L L^T)_ii = 1`` exactly up to rounding (unit variances
        are preserved). ``z -> L z`` maps independent standard normals to normals with
        this correlation.

    Raises
    ------
    ValueError
        When the matrix fails :func:`validate_correlation`.
    """
    problems = validate_correlation(matrix)
    if problems:
        raise ValueError("; ".join(problems))
    arr = np.asarray(matrix, dtype=np.float64)
    arr = 0.5 * (arr + arr.T)
    try:
        return np.linalg.cholesky(arr)
    except np.linalg.LinAlgError:
        pass
    eigval, eigvec = np.linalg.eigh(arr)
    factor = eigvec * np.sqrt(np.clip(eigval, 0.0, None))[None, :]
    norms = np.sqrt(np.einsum("ij,ij->i", factor, factor))
    norms[norms == 0.0] = 1.0
    return factor / norms[:, None]
