"""The contract between the platform core and a job kind.

A job kind is a module under ``workers/kinds/`` that builds one :class:`JobKind`
and registers it with :func:`workers.kinds.registry.register`. The core knows no
kind by name: it validates ``params`` with ``params_schema``, lets ``prepare``
resolve references (assumption sets, CMAs) at submission, calls ``plan`` once,
``run_shard`` once per shard (possibly again after a crash: it must be a pure
function of its context) and ``finalize`` once.

Kinds never import Flask, Celery or SQLAlchemy: everything they need from the
database reaches them through the context objects below, which the core
implements.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Protocol

import marshmallow
import numpy as np
import pandas as pd


class InputError(Exception):
    """Bad user input found by a kind.

    Raised in ``prepare`` it becomes a 422 problem+json; raised while running it
    fails the job with this message. ``errors`` maps a field path (``"params.scenarios.0.weight"``,
    ``"inputs.policies.17.issue_age"``, ``"policy P123"``) to a list of messages.
    """

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or {}


@dataclass(frozen=True)
class Column:
    """One column of a kind's per-row result table (``sql_type`` is PostgreSQL)."""

    name: str
    sql_type: str  # "text" | "float8" | "int4" | "int2" | "bool"


@dataclass(frozen=True)
class ResultTable:
    """A month-partitioned table holding a kind's per-row results.

    The core adds ``job_id, shard_no, seq, created_month``; the kind's migration
    creates the table with the columns listed here, in this order.
    """

    name: str
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


class Resources(Protocol):
    """Stored, versioned resources a kind may reference (submission time only)."""

    def get(self, resource_type: str, resource_id: str) -> dict:
        """Return ``{"id", "type", "name", "version", "content", "sha256"}`` or raise InputError."""

    def find(self, resource_type: str, key: str, value: object) -> dict:
        """The latest version whose ``content[key] == value`` (same shape as ``get``), or raise InputError."""


class PlanContext(Protocol):
    params: dict  # validated params, after ``prepare``
    seed: int | None
    n_items: int  # rows of the input portfolio version / inline inputs (0 when the kind takes none)
    default_shard_size: int  # items per shard when the kind has no better idea


class ShardContext(Protocol):
    job_id: str
    shard_no: int
    spec: dict  # what ``plan`` returned for this shard
    params: dict
    seed: int | None

    def load_items(self, start: int, stop: int) -> pd.DataFrame:
        """Input rows ``start <= row_no < stop`` in stable order, typed per the portfolio kind."""

    def cancelled(self) -> bool:
        """True once the user asked to cancel: stop early and return anything."""


@dataclass
class ShardOutput:
    rows: pd.DataFrame | None  # exactly ``result_table.column_names`` (None when no table)
    partial: dict = field(default_factory=dict)  # JSON-serialisable, handed to finalize


class FinalizeContext(Protocol):
    job_id: str
    params: dict
    seed: int | None
    partials: list[dict]  # one per shard, ordered by shard_no
    portfolio_id: str | None

    def read_rows(self, columns: list[str], job_id: str | None = None) -> pd.DataFrame:
        """Result rows of this job (or another job of the same tenant), in (shard_no, seq) order."""

    def previous_job_id(self) -> str | None:
        """The last succeeded job of the same kind on the same portfolio, if any."""

    def publish(self, resource_type: str, name: str, content: dict) -> str:
        """Store a new versioned resource (e.g. a mortality basis) and return its id."""


@dataclass(frozen=True)
class NextRound:
    """What ``finalize`` returns to run more shards before the job ends (e.g. an exact refinement).

    The core adds one shard per spec; ``finalize`` is called again once they are done, with every
    shard's partial in ``ctx.partials`` (a kind marks its later-round partials to tell them apart).
    """

    specs: list[dict]


@dataclass(frozen=True)
class JobKind:
    name: str
    engine_version: str
    params_schema: type[marshmallow.Schema]
    plan: Callable[[PlanContext], list[dict]]
    run_shard: Callable[[ShardContext], ShardOutput]
    finalize: Callable[[FinalizeContext], "dict | NextRound"]
    # Name of the portfolio kind (and inline ``inputs`` key) the job reads, e.g. "loans".
    input_kind: str | None = None
    # Whether a portfolio or inline inputs must be given (False: optional or none).
    input_required: bool = False
    result_table: ResultTable | None = None
    # prepare(params, resources, inline_items) -> params with references resolved/pinned.
    prepare: Callable[[dict, Resources, pd.DataFrame | None], dict] | None = None
    # Maximum inline items accepted in ``inputs`` (documented per kind).
    max_inline_items: int = 10_000
    description: str = ""


def json_safe(x):
    """Plain-JSON copy of a partial or summary: numpy scalars → Python numbers, NaN/inf → None."""
    if isinstance(x, dict):
        return {k: json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


def shard_ranges(n_items: int, shard_size: int) -> list[dict]:
    """Split ``n_items`` rows into ``{"start", "stop"}`` ranges of ``shard_size`` (last one shorter)."""
    if n_items <= 0:
        return []
    size = max(1, int(shard_size))
    return [{"start": s, "stop": min(s + size, n_items)} for s in range(0, n_items, size)]

