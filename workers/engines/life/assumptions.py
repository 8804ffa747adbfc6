"""Assumptions of the monthly term-assurance cash-flow model (specs/life.md A).

:class:`TermAssumptions` is the complete, validated basis that
:func:`workers.engines.life.cashflow.project_term_monthly` projects with, including the
Solvency II shock parameters (multipliers and additions) so that a shocked basis is a
``dataclasses.replace`` of the best-estimate one.

The default basis is the one of lifelib's ``basiclife`` sample models (BasicTerm_S/M/SE/ME,
workbook ``basic_term_sample.xlsx``, MIT licence): select mortality
``q[x][0] = min(1, 0.0002 * exp(0.00025 * x**2.2))``, ``q[x][d] = min(1, 1.1 * q[x][d-1])``
for d = 1..5 (column 5 ultimate), ages 18..120; lapse ``max(10% - 2% * policy_year, 2%)``;
acquisition 300 per new policy, maintenance 60 per policy per year, inflation 1%,
first-year commission 100% of premium, and the sample's zero-coupon spot curve (years 0..150).
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np

# lifelib basic_term_sample.xlsx, sheet "mortality": q[x][0] = min(1, a * exp(b * x**c)).
DEFAULT_MORT_A = 0.0002
DEFAULT_MORT_B = 0.00025
DEFAULT_MORT_C = 2.2
DEFAULT_SELECT_FACTOR = 1.1
DEFAULT_SELECT_PERIOD = 5
DEFAULT_MIN_AGE = 18
DEFAULT_MAX_AGE = 120

DEFAULT_LAPSE_BY_POLICY_YEAR = (0.10, 0.08, 0.06, 0.04, 0.02)
DEFAULT_EXPENSE_ACQUISITION = 300.0
DEFAULT_EXPENSE_MAINTENANCE = 60.0
DEFAULT_EXPENSE_INFLATION = 0.01
DEFAULT_COMMISSION_FIRST_YEAR = 1.0

# lifelib basiclife BasicTerm_ME ``disc_rate_ann`` (zero_spot, projection years 0..150).
DEFAULT_DISCOUNT_SPOT_ANNUAL = (
    0.0, 0.00555, 0.00684, 0.00788, 0.00866, 0.00937, 0.00997, 0.0105, 0.01098, 0.01144,
    0.01188, 0.01226, 0.01259, 0.01285, 0.01308, 0.0133, 0.01345, 0.01358, 0.01368, 0.01375,
    0.01378, 0.01379, 0.01376, 0.01373, 0.01369, 0.01365, 0.01361, 0.01356, 0.01351, 0.01346,
    0.0134, 0.01333, 0.01325, 0.01316, 0.01306, 0.01295, 0.01283, 0.01271, 0.0126, 0.0125,
    0.01241, 0.01235, 0.01229, 0.01222, 0.01214, 0.01203, 0.0119, 0.01178, 0.01168, 0.01164,
    0.01166, 0.01177, 0.01193, 0.01215, 0.01241, 0.0127, 0.01301, 0.01333, 0.01367, 0.01402,
    0.01437, 0.01473, 0.01508, 0.01543, 0.01579, 0.01613, 0.01648, 0.01682, 0.01715, 0.01748,
    0.0178, 0.01812, 0.01843, 0.01874, 0.01903, 0.01933, 0.01961, 0.01989, 0.02016, 0.02043,
    0.02069, 0.02095, 0.0212, 0.02144, 0.02168, 0.02192, 0.02215, 0.02237, 0.02259, 0.0228,
    0.02301, 0.02322, 0.02342, 0.02362, 0.02381, 0.024, 0.02419, 0.02437, 0.02455, 0.02472,
    0.02489, 0.02506, 0.02522, 0.02539, 0.02554, 0.0257, 0.02585, 0.026, 0.02615, 0.02629,
    0.02643, 0.02657, 0.02671, 0.02684, 0.02698, 0.02711, 0.02723, 0.02736, 0.02748, 0.0276,
    0.02772, 0.02784, 0.02795, 0.02807, 0.02818, 0.02829, 0.0284, 0.0285, 0.02861, 0.02871,
    0.02881, 0.02891, 0.02901, 0.02911, 0.0292, 0.0293, 0.02939, 0.02948, 0.02957, 0.02966,
    0.02975, 0.02984, 0.02992, 0.03001, 0.03009, 0.03017, 0.03025, 0.03033, 0.03041, 0.03049,
    0.03056,
)


@dataclass(frozen=True)
class TermAssumptions:
    """Best-estimate (optionally shocked) basis of the term_monthly model.

    Attributes
    ----------
    q_select : ndarray, shape (n_ages, select_period + 1)
        Annual mortality rates ``q[age - min_age, min(dur, select_period)]``; the last column
        is the ultimate rate.
    min_age : int
        Age of row 0 of ``q_select``.
    select_period : int
        Number of select years (``q_select.shape[1] - 1``).
    lapse_by_policy_year : ndarray, shape (n,)
        Annual lapse rates by policy year 0, 1, ...; the last one applies to later years.
    expense_acquisition : float
        Per new policy (currency).
    expense_maintenance : float
        Per policy per year (currency), paid monthly as ``/12``.
    expense_inflation : float
        Annual inflation of maintenance expenses, ``(1 + i)^(t/12)``.
    commission_first_year : float
        Fraction of premium paid as commission while the policy year is 0.
    discount_spot_annual : ndarray, shape (k,)
        Annual spot rates r_k for projection years k = 0, 1, ...; the last one extends.
    q_multiplier, q_add_first_year : float
        Shocks ``q -> min(1, q * q_multiplier)`` and, in projection months t < 12,
        ``q -> min(1, q * q_multiplier + q_add_first_year)`` (Solvency II mortality,
        longevity and catastrophe sub-modules).
    lapse_multiplier, lapse_floor_drop : float, float or None
        ``lapse -> min(1, lapse * m)``; with ``lapse_floor_drop`` (lapse-down shock)
        ``lapse -> min(1, max(lapse * m, lapse - drop))``.
    expense_multiplier, expense_inflation_add : float
        Scale acquisition and maintenance expenses; add to the inflation rate.
    """

    q_select: np.ndarray
    min_age: int
    select_period: int
    lapse_by_policy_year: np.ndarray
    expense_acquisition: float
    expense_maintenance: float
    expense_inflation: float
    commission_first_year: float
    discount_spot_annual: np.ndarray
    q_multiplier: float = 1.0
    q_add_first_year: float = 0.0
    lapse_multiplier: float = 1.0
    lapse_floor_drop: float | None = None
    expense_multiplier: float = 1.0
    expense_inflation_add: float = 0.0

    def __post_init__(self) -> None:
        q = np.ascontiguousarray(self.q_select, dtype=np.float64)
        if q.ndim != 2 or q.shape[0] < 1 or q.shape[1] != int(self.select_period) + 1:
            raise ValueError("q_select must have shape (n_ages, select_period + 1)")
        if not np.all((q >= 0.0) & (q <= 1.0)):
            raise ValueError("mortality rates must lie in [0, 1]")
        lapse = np.ascontiguousarray(self.lapse_by_policy_year, dtype=np.float64).ravel()
        if lapse.size < 1 or not np.all((lapse >= 0.0) & (lapse <= 1.0)):
            raise ValueError("lapse_by_policy_year needs at least one rate in [0, 1]")
        disc = np.ascontiguousarray(self.discount_spot_annual, dtype=np.float64).ravel()
        if disc.size < 1 or not np.all(np.isfinite(disc)) or not np.all(disc > -1.0):
            raise ValueError("discount_spot_annual needs at least one finite rate > -1")
        for name in ("q_multiplier", "lapse_multiplier", "expense_multiplier"):
            if not getattr(self, name) >= 0.0:
                raise ValueError(f"{name} must be >= 0")
        if not self.expense_inflation + self.expense_inflation_add > -1.0:
            raise ValueError("expense inflation must be > -1")
        object.__setattr__(self, "q_select", q)
        object.__setattr__(self, "lapse_by_policy_year", lapse)
        object.__setattr__(self, "discount_spot_annual", disc)
        object.__setattr__(self, "min_age", int(self.min_age))
        object.__setattr__(self, "select_period", int(self.select_period))

    @property
    def max_age(self) -> int:
        """Highest age of the mortality table."""
        return self.min_age + self.q_select.shape[0] - 1


def default_select_table() -> dict:
    """lifelib basiclife sample select table as inline mortality content.

    Returns
    -------
    dict
        ``{"select_period": 5, "ages": [18, ..., 120], "rates": [[q_d0, ..., q_d5], ...]}`` with
        ``q[x][0] = min(1, 0.0002 exp(0.00025 x^2.2))`` and ``q[x][d] = min(1, 1.1 q[x][d-1])``.
    """
    ages = list(range(DEFAULT_MIN_AGE, DEFAULT_MAX_AGE + 1))
    rates = []
    for x in ages:
        row = [min(1.0, DEFAULT_MORT_A * math.exp(DEFAULT_MORT_B * x ** DEFAULT_MORT_C))]
        for _ in range(DEFAULT_SELECT_PERIOD):
            row.append(min(1.0, row[-1] * DEFAULT_SELECT_FACTOR))
        rates.append(row)
    return {"select_period": DEFAULT_SELECT_PERIOD, "ages": ages, "rates": rates}


def select_table_arrays(content: Mapping) -> tuple[np.ndarray, int, int]:
    """Validate inline mortality content and return ``(q_select, min_age, select_period)``.

    Parameters
    ----------
    content : mapping
        ``{"select_period": k, "ages": [consecutive ints], "rates": [[q_d0..q_dk], ...]}``.

    Raises
    ------
    ValueError
        With a message naming the offending age or row.
    """
    try:
        select_period = int(content["select_period"])
        ages = [int(a) for a in content["ages"]]
        rates = content["rates"]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError("mortality needs select_period, ages and rates") from exc
    if select_period < 0:
        raise ValueError("select_period must be >= 0")
    if not ages or len(rates) != len(ages):
        raise ValueError("mortality needs one rates row per age (at least one age)")
    if ages != list(range(ages[0], ages[0] + len(ages))):
        raise ValueError("mortality ages must be consecutive and increasing")
    for age, row in zip(ages, rates):
        if len(row) != select_period + 1:
            raise ValueError(f"mortality age {age}: expected {select_period + 1} rates, got {len(row)}")
        for q in row:
            if q is None or not (0.0 <= float(q) <= 1.0):
                raise ValueError(f"mortality age {age}: rate {q!r} is not in [0, 1]")
    return np.asarray(rates, dtype=np.float64).reshape(len(ages), select_period + 1), ages[0], select_period


def parse_select_table_csv(text: str) -> dict:
    """Parse an uploaded select table CSV ``age,0,1,...,k`` into inline mortality content.

    The header's duration columns must read ``0, 1, ..., k`` (a trailing ``+`` as in ``5+`` is
    accepted for the ultimate column); each following row holds an age and k + 1 annual rates.

    Returns
    -------
    dict
        ``{"select_period": k, "ages": [...], "rates": [[...], ...]}``, ages sorted.

    Raises
    ------
    ValueError
        Naming the line at fault.
    """
    rows = [r for r in csv.reader(io.StringIO(text.strip().lstrip("\ufeff"))) if any(c.strip() for c in r)]
    if len(rows) < 2:
        raise ValueError("mortality CSV needs a header and at least one age row")
    header = [c.strip() for c in rows[0]]
    if header[0].lower() not in ("age", "x"):
        raise ValueError("mortality CSV: the first header column must be 'age'")
    durations = header[1:]
    if not durations:
        raise ValueError("mortality CSV needs at least one duration column")
    for k, d in enumerate(durations):
        if d.rstrip("+") != str(k):
            raise ValueError(f"mortality CSV: header column {k + 2} must be '{k}', got '{d}'")
    table: dict[int, list[float]] = {}
    for line_no, row in enumerate(rows[1:], start=2):
        cells = [c.strip() for c in row]
        if len(cells) != len(durations) + 1:
            raise ValueError(f"mortality CSV line {line_no}: expected {len(durations) + 1} values")
        try:
            age = int(float(cells[0]))
            if age != float(cells[0]):
                raise ValueError
            values = [float(c) for c in cells[1:]]
        except ValueError as exc:
            raise ValueError(f"mortality CSV line {line_no}: not a number") from exc
        if age in table:
            raise ValueError(f"mortality CSV line {line_no}: age {age} repeated")
        table[age] = values
    ages = sorted(table)
    content = {"select_period": len(durations) - 1, "ages": ages, "rates": [table[a] for a in ages]}
    select_table_arrays(content)
    return content


def term_assumptions_from_params(params: Mapping) -> TermAssumptions:
    """Build :class:`TermAssumptions` from resolved job params (inline values only).

    Parameters
    ----------
    params : mapping
        ``mortality`` inline content, ``lapse_by_policy_year``, ``discount_spot_annual`` lists
        and the scalar expense/commission parameters, as pinned by the ``bel`` kind's prepare.
    """
    q, min_age, select_period = select_table_arrays(params["mortality"])
    return TermAssumptions(
        q_select=q,
        min_age=min_age,
        select_period=select_period,
        lapse_by_policy_year=np.asarray(params["lapse_by_policy_year"], dtype=np.float64),
        expense_acquisition=float(params["expense_acquisition"]),
        expense_maintenance=float(params["expense_maintenance"]),
        expense_inflation=float(params["expense_inflation"]),
        commission_first_year=float(params["commission_first_year"]),
        discount_spot_annual=np.asarray(params["discount_spot_annual"], dtype=np.float64),
    )


def default_term_assumptions() -> TermAssumptions:
    """The lifelib basiclife sample basis (see module docstring) as :class:`TermAssumptions`."""
    q, min_age, select_period = select_table_arrays(default_select_table())
    return TermAssumptions(
        q_select=q,
        min_age=min_age,
        select_period=select_period,
        lapse_by_policy_year=np.asarray(DEFAULT_LAPSE_BY_POLICY_YEAR),
        expense_acquisition=DEFAULT_EXPENSE_ACQUISITION,
        expense_maintenance=DEFAULT_EXPENSE_MAINTENANCE,
        expense_inflation=DEFAULT_EXPENSE_INFLATION,
        commission_first_year=DEFAULT_COMMISSION_FIRST_YEAR,
        discount_spot_annual=np.asarray(DEFAULT_DISCOUNT_SPOT_ANNUAL),
    )


__all__ = [
    "TermAssumptions",
    "default_select_table",
    "default_term_assumptions",
    "parse_select_table_csv",
    "select_table_arrays",
    "term_assumptions_from_params",
]
