"""Correlation aggregation and the standard-formula aggregation tree.

Directive 2009/138/EC Annex IV and Delegated Regulation (EU) 2015/35: every
module and the BSCR aggregate their sub-requirements as ``sqrt(v' C v)``. The
tree keeps, at every node, the undiversified sum, the aggregated value and the
diversification between them, so a waterfall chart can be drawn from it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from workers.engines.matrices import validate_correlation

LIFE_ORDER = ("mortality", "longevity", "disability", "expense", "revision", "lapse", "catastrophe")
LIFE_CORRELATION = np.array([
    [1.0, -0.25, 0.25, 0.25, 0.0, 0.0, 0.25],
    [-0.25, 1.0, 0.0, 0.25, 0.25, 0.25, 0.0],
    [0.25, 0.0, 1.0, 0.5, 0.0, 0.0, 0.25],
    [0.25, 0.25, 0.5, 1.0, 0.5, 0.5, 0.25],
    [0.0, 0.25, 0.0, 0.5, 1.0, 0.0, 0.0],
    [0.0, 0.25, 0.0, 0.5, 0.0, 1.0, 0.25],
    [0.25, 0.0, 0.25, 0.25, 0.0, 0.25, 1.0],
])
MARKET_ORDER = ("interest", "equity", "property", "spread", "concentration", "currency")
BSCR_ORDER = ("market", "default", "life", "health", "non_life")
BSCR_CORRELATION = np.array([
    [1.0, 0.25, 0.25, 0.25, 0.25],
    [0.25, 1.0, 0.25, 0.25, 0.5],
    [0.25, 0.25, 1.0, 0.25, 0.0],
    [0.25, 0.25, 0.25, 1.0, 0.0],
    [0.25, 0.5, 0.0, 0.0, 1.0],
])


def market_correlation(a: float) -> np.ndarray:
    """Market correlation matrix (Delegated Regulation 2015/35 Art. 164).

    Parameters
    ----------
    a : float
        Interest/equity/property/spread correlation: 0 when the interest up
        shock binds, 0.5 when the down shock binds.

    Returns
    -------
    ndarray, shape (6, 6)
        In ``MARKET_ORDER`` (interest, equity, property, spread, concentration, currency).
    """
    return np.array([
        [1.0, a, a, a, 0.0, 0.25],
        [a, 1.0, 0.75, 0.75, 0.0, 0.25],
        [a, 0.75, 1.0, 0.5, 0.0, 0.25],
        [a, 0.75, 0.5, 1.0, 0.0, 0.25],
        [0.0, 0.0, 0.0, 0.0, 1.0, 0.0],
        [0.25, 0.25, 0.25, 0.25, 0.0, 1.0],
    ])


def correlation_problems(matrix, name: str, size: int | None = None) -> list[str]:
    """Problems that make ``matrix`` unusable as a correlation matrix of ``size``.

    Parameters
    ----------
    matrix : array_like, shape (n, n)
    name : str
        Used in every message (``"correlation_life is not symmetric ..."``).
    size : int, optional
        Expected ``n`` (the number of sub-modules of the module).

    Returns
    -------
    list of str
        Empty when the matrix is square of ``size`` and passes
        :func:`workers.engines.matrices.validate_correlation` (finite, entries in
        [-1, 1], symmetric, unit diagonal, positive semi-definite).
    """
    problems = validate_correlation(matrix, name)
    if problems:
        return problems
    n = len(matrix)
    if size is not None and n != size:
        return [f"{name} must be {size}x{size}, got {n}x{n}"]
    return []


def aggregate(values, correlation) -> float:
    """Correlation aggregation ``sqrt(v' C v)`` (Directive 2009/138/EC Annex IV).

    Parameters
    ----------
    values : array_like, shape (n,)
        Sub-module capital requirements (currency units, >= 0).
    correlation : array_like, shape (n, n)

    Returns
    -------
    float
        Aggregated requirement; a tiny negative quadratic form from rounding is
        treated as 0.
    """
    v = np.asarray(values, dtype=np.float64)
    c = np.asarray(correlation, dtype=np.float64)
    q = float(v @ c @ v)
    return math.sqrt(max(q, 0.0))


@dataclass
class Node:
    """One node of the aggregation tree (a module or a sub-module)."""

    name: str
    value: float
    children: list["Node"] = field(default_factory=list)

    @property
    def undiversified(self) -> float:
        return math.fsum(c.value for c in self.children) if self.children else self.value

    @property
    def diversification(self) -> float:
        return self.value - self.undiversified if self.children else 0.0

    def to_dict(self) -> dict:
        out = {"name": self.name, "value": float(self.value)}
        if self.children:
            out["undiversified"] = float(self.undiversified)
            out["diversification"] = float(self.diversification)
            out["children"] = [c.to_dict() for c in self.children]
        return out


def aggregate_node(name: str, values: dict[str, float], order, correlation) -> Node:
    """Aggregate named sub-module values in ``order`` into a tree node.

    Parameters
    ----------
    values : dict
        ``{sub-module: requirement}``; a missing one is 0.
    order : sequence of str, length n
    correlation : array_like, shape (n, n)
    """
    v = [float(values.get(k, 0.0) or 0.0) for k in order]
    return Node(name, aggregate(v, correlation), [Node(k, x) for k, x in zip(order, v)])
