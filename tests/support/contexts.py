"""In-memory stand-ins for the core's contexts, and a small policies book, for kind unit tests."""
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


def policies_book(n=60, seed=7):
    rng = np.random.default_rng(seed)
    term = rng.integers(5, 21, n)
    return pd.DataFrame({
        "policy_id": [f"P{i:04d}" for i in range(n)],
        "issue_age": rng.integers(20, 59, n).astype(np.int64),
        "sex": ["M"] * n,
        "policy_term_years": term.astype(np.int64),
        "policy_count": rng.uniform(1, 100, n),
        "sum_assured": rng.uniform(10_000, 1_000_000, n),
        "duration_months": (rng.integers(0, 12, n) * term // 2).astype(np.int64),
        "monthly_premium": rng.uniform(5, 500, n),
        "product": ["term"] * n, "policy_type": ["term"] * n,
        "annual_pension": np.zeros(n), "issue_year": np.full(n, 2020.0),
    })


@dataclass
class Ctx:
    """In-memory shard/finalize context (implements the context protocols)."""

    items: pd.DataFrame
    params: dict
    spec: dict = field(default_factory=dict)
    job_id: str = "job"
    shard_no: int = 0
    seed: int | None = None
    partials: list = field(default_factory=list)
    portfolio_id: str | None = None

    def load_items(self, start, stop):
        return self.items.iloc[start:stop].reset_index(drop=True)

    def cancelled(self):
        return False


@dataclass
class PlanCtx:
    params: dict
    n_items: int
    default_shard_size: int
    seed: int | None = None
