"""Job kind ``actuarial_values``: a life table with its commutation columns (specs/life.md B, D).

No input portfolio, a single shard. Request::

    {"kind": "actuarial_values",
     "params": {"life_table": {"law": "makeham", "A": 0.0007, "B": 0.00005, "c": 1.0964782,
                               "start_age": 13, "terminal_age": 130},   # or {"ages": [...], "qx": [...]}
                "interest": 0.06, "ages": [20, 100]}}                    # ages: optional filter

Rows: ``age, qx, lx, dx, Dx, Nx, Cx, Mx, A, a_due`` (``A = M/D``, ``a_due = N/D``).
"""
from __future__ import annotations

import math

import marshmallow as ma
import numpy as np
import pandas as pd

from workers.engines.life.tables import LifeTable, commutation
from workers.kinds.base import Column, InputError, JobKind, ResultTable, ShardOutput
from workers.kinds.registry import register

ENGINE_VERSION = "actuarial_values-1.0"
MAX_TABLE_AGES = 200
HEADLINE_AGES = tuple(range(20, 101, 10))

RESULT_TABLE = ResultTable(
    name="actuarial_values_results",
    columns=(
        Column("age", "int4"),
        Column("qx", "float8"),
        Column("lx", "float8"),
        Column("dx", "float8"),
        Column("Dx", "float8"),
        Column("Nx", "float8"),
        Column("Cx", "float8"),
        Column("Mx", "float8"),
        Column("A", "float8"),
        Column("a_due", "float8"),
    ),
)


class LifeTableSchema(ma.Schema):
    """Either a law (``law`` with its parameters) or explicit ``ages`` and ``qx``."""

    law = ma.fields.String(validate=ma.validate.OneOf(["makeham", "gompertz"]))
    A = ma.fields.Float(allow_nan=False)
    B = ma.fields.Float(allow_nan=False, validate=ma.validate.Range(min=0, min_inclusive=False))
    c = ma.fields.Float(allow_nan=False, validate=ma.validate.Range(min=1, min_inclusive=False))
    start_age = ma.fields.Integer(validate=ma.validate.Range(min=0, max=MAX_TABLE_AGES))
    terminal_age = ma.fields.Integer(validate=ma.validate.Range(min=0, max=MAX_TABLE_AGES))
    ages = ma.fields.List(ma.fields.Integer(validate=ma.validate.Range(min=0, max=MAX_TABLE_AGES)))
    qx = ma.fields.List(ma.fields.Float(allow_nan=False, validate=ma.validate.Range(min=0, max=1)))

    @ma.validates_schema
    def _one_source(self, data, **kwargs):
        if "law" in data:
            needed = ["B", "c", "start_age", "terminal_age"] + (["A"] if data["law"] == "makeham" else [])
            missing = {f: ["Missing data for required field."] for f in needed if f not in data}
            if missing:
                raise ma.ValidationError(missing)
            if "ages" in data or "qx" in data:
                raise ma.ValidationError("give either a law or ages and qx, not both", "_schema")
            if data["terminal_age"] < data["start_age"]:
                raise ma.ValidationError("must be >= start_age", "terminal_age")
            if data["law"] == "makeham" and data["A"] < -data["B"]:
                raise ma.ValidationError("Makeham needs A >= -B", "A")
            return
        if "ages" not in data or "qx" not in data:
            raise ma.ValidationError("give a law (makeham, gompertz) or ages and qx", "_schema")
        ages, qx = data["ages"], data["qx"]
        if not ages:
            raise ma.ValidationError("must not be empty", "ages")
        if len(ages) != len(qx):
            raise ma.ValidationError(f"has {len(qx)} values for {len(ages)} ages", "qx")
        for j in range(1, len(ages)):
            if ages[j] != ages[j - 1] + 1:
                raise ma.ValidationError(f"must be consecutive increasing integers (position {j})", "ages")


class ActuarialValuesParams(ma.Schema):
    life_table = ma.fields.Nested(LifeTableSchema, required=True)
    interest = ma.fields.Float(required=True, allow_nan=False,
                               validate=ma.validate.Range(min=-0.5, max=1))
    ages = ma.fields.List(ma.fields.Integer(), validate=ma.validate.Length(equal=2), load_default=None,
                          allow_none=True)

    @ma.validates_schema
    def _age_filter(self, data, **kwargs):
        ages = data.get("ages")
        if ages is not None and ages[0] > ages[1]:
            raise ma.ValidationError("lower bound above upper bound", "ages")


def build_life_table(spec: dict) -> LifeTable:
    """The :class:`LifeTable` a validated ``life_table`` parameter describes."""
    try:
        if spec.get("law") == "makeham":
            return LifeTable.makeham(spec["A"], spec["B"], spec["c"], spec["start_age"], spec["terminal_age"])
        if spec.get("law") == "gompertz":
            return LifeTable.gompertz(spec["B"], spec["c"], spec["start_age"], spec["terminal_age"])
        return LifeTable.from_qx(spec["ages"], spec["qx"])
    except ValueError as exc:
        raise InputError(str(exc), {"params.life_table": [str(exc)]}) from exc


def plan(ctx) -> list[dict]:
    return [{"start": 0, "stop": 0}]


def _values(params: dict) -> pd.DataFrame:
    table = build_life_table(params["life_table"])
    comm = commutation(table, params["interest"])
    rows = pd.DataFrame({
        "age": table.ages.astype(np.int64),
        "qx": table.qx, "lx": table.lx, "dx": table.dx,
        "Dx": comm.Dx, "Nx": comm.Nx, "Cx": comm.Cx, "Mx": comm.Mx,
        # Undefined (NaN) at ages nobody reaches (l_x = 0 after a q of 1 inside the table).
        "A": np.divide(comm.Mx, comm.Dx, out=np.full(comm.Dx.shape, np.nan), where=comm.Dx > 0),
        "a_due": np.divide(comm.Nx, comm.Dx, out=np.full(comm.Dx.shape, np.nan), where=comm.Dx > 0),
    })
    if params.get("ages") is not None:
        lo, hi = params["ages"]
        rows = rows[(rows["age"] >= lo) & (rows["age"] <= hi)].reset_index(drop=True)
    if rows.empty:
        raise InputError("no table age inside the requested age range", {"params.ages": ["outside the table"]})
    return rows


def _plain(v: float) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def run_shard(ctx) -> ShardOutput:
    rows = _values(ctx.params)
    spec = ctx.params["life_table"]
    by_age = rows.set_index("age")
    headline = {str(x): {"A": _plain(by_age.at[x, "A"]), "a_due": _plain(by_age.at[x, "a_due"])}
                for x in HEADLINE_AGES if x in by_age.index}
    partial = {
        "n_rows": int(len(rows)),
        "min_age": int(rows["age"].iloc[0]),
        "max_age": int(rows["age"].iloc[-1]),
        "table_source": spec.get("law", "qx"),
        "headline": headline,
    }
    return ShardOutput(rows=rows[RESULT_TABLE.column_names], partial=partial)


def finalize(ctx) -> dict:
    part = ctx.partials[0] if ctx.partials else {}
    spec = ctx.params["life_table"]
    source = {"law": spec["law"], **{k: spec[k] for k in ("A", "B", "c", "start_age", "terminal_age") if k in spec}} \
        if "law" in spec else {"law": None, "ages": [spec["ages"][0], spec["ages"][-1]]}
    return {
        "interest": float(ctx.params["interest"]),
        "life_table": source,
        "n_rows": part.get("n_rows", 0),
        "ages": [part.get("min_age"), part.get("max_age")],
        "headline": part.get("headline", {}),
        "conventions": "annual, benefits at end of year of death, annuity-due; q = 1 at the last age",
    }


KIND = register(JobKind(
    name="actuarial_values",
    engine_version=ENGINE_VERSION,
    params_schema=ActuarialValuesParams,
    plan=plan,
    run_shard=run_shard,
    finalize=finalize,
    input_kind=None,
    input_required=False,
    result_table=RESULT_TABLE,
    description="Life table with commutation columns D, N, C, M and A_x, a_due_x at a given interest rate.",
))
