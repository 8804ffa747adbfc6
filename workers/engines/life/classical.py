"""Classical (commutation-function) BEL of a policy portfolio (specs/life.md B).

The BEL of a death or annuity product under the classical model is its net premium
prospective reserve at the valuation date on best-estimate mortality and interest:
``kV = SA A_{x+k(:n-k)} - P ä_{x+k(:n-k)}`` with the net level annual premium ``P``
fixed at issue, times the number of policies. Pure numpy/pandas, no I/O.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from workers.engines.life.tables import LifeTable, commutation, reserve_prospective

#: Policy fields :func:`classical_bel` reads.
REQUIRED_FIELDS = ("issue_age", "duration_months", "policy_term_years", "sum_assured",
                   "policy_count", "policy_type")


def classical_bel(policies: pd.DataFrame, qx: np.ndarray, min_age: int, interest: float) -> np.ndarray:
    """Per-policy classical BEL (prospective net premium reserve x policy count).

    Parameters
    ----------
    policies : DataFrame, n rows
        Fields of the ``policies`` portfolio kind: ``issue_age`` (int, years),
        ``duration_months`` (int; ``k = duration_months // 12`` whole years elapsed),
        ``policy_term_years`` (int), ``sum_assured`` (float), ``policy_count`` (float),
        ``policy_type`` (``whole_life | term | endowment | annuity``) and, for annuities,
        ``annual_pension`` (float; missing column counts as 0).
    qx : ndarray of float64, shape (m,)
        Best-estimate one-year death probabilities at ages ``min_age .. min_age + m - 1``;
        the table is closed at its last age (q = 1 there, see ``LifeTable.from_qx``).
    min_age : int
        Age of ``qx[0]``.
    interest : float
        Annual effective valuation rate.

    Returns
    -------
    ndarray of float64, shape (n,)
        ``policy_count * kV`` (life.md B): ``SA A - P ä`` for whole life, term and
        endowment (0 once ``k >= policy_term_years``), ``annual_pension * ä_{x+k}`` for
        annuities in payment (annuity-due, no further premiums).

    Raises
    ------
    ValueError
        A missing field, an unknown policy type, or an issue age below ``min_age`` /
        attained age ``x + k`` above the table's last age (message names the rows).
    """
    missing = [f for f in REQUIRED_FIELDS if f not in policies.columns]
    if missing:
        raise ValueError(f"policies lack field(s) {', '.join(missing)}")
    n_pol = len(policies)
    if n_pol == 0:
        return np.zeros(0, dtype=np.float64)
    table = LifeTable.from_qx(np.arange(int(min_age), int(min_age) + len(qx)), qx)
    comm = commutation(table, interest)
    x = policies["issue_age"].to_numpy(dtype=np.int64)
    k = policies["duration_months"].to_numpy(dtype=np.int64) // 12
    n = policies["policy_term_years"].to_numpy(dtype=np.int64)
    kind = policies["policy_type"].to_numpy(dtype=object)
    outside = (x < table.min_age) | (x + k > table.max_age)
    attained = np.clip(x + k, table.min_age, table.max_age) - table.min_age
    # A life at an age the table never reaches (l = 0) has no reserve to value.
    issued = np.clip(x, table.min_age, table.max_age) - table.min_age
    bad = np.flatnonzero(outside | (table.lx[attained] <= 0.0) | (table.lx[issued] <= 0.0))
    if bad.size:
        rows = ", ".join(str(int(r)) for r in bad[:10])
        raise ValueError(
            f"issue or attained age outside the mortality table {table.min_age}..{table.max_age} "
            f"for policy rows {rows}{' ...' if bad.size > 10 else ''}")
    pension = (policies["annual_pension"].to_numpy(dtype=np.float64)
               if "annual_pension" in policies.columns else np.zeros(n_pol))
    v = reserve_prospective(comm, x, n, k, policies["sum_assured"].to_numpy(dtype=np.float64),
                            kind, annual_pension=pension)
    return v * policies["policy_count"].to_numpy(dtype=np.float64)
