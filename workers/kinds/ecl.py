"""Job kind ``ecl``: IFRS 9 expected credit loss of a loan book (``specs/ecl.md``).

Each shard stages and measures a range of loans with :mod:`workers.engines.ecl`
and returns one row per loan plus a partial holding *exact* sums (lists of
non-overlapping float partials per segment x stage and per scenario). ``finalize``
``math.fsum``s the concatenated partials, which equals the ``fsum`` over every
row whatever the shard layout, so the summary does not depend on the split.
"""
from __future__ import annotations

import math

import marshmallow
import numpy as np
import pandas as pd
from marshmallow import fields, validate

from workers.engines import ecl as engine
from workers.kinds.base import (
    Column, FinalizeContext, InputError, JobKind, PlanContext, ResultTable, ShardContext, ShardOutput, shard_ranges,
)
from workers.kinds.registry import register

ENGINE_VERSION = "ecl-1.0.0"
MAX_INLINE_ITEMS = 10_000
# Loans measured between two cancellation checks (about 0.1-0.3 s of work).
CHUNK_ROWS = 50_000
STAGES = ("1", "2", "3")
WEIGHT_TOLERANCE = 1e-9

RESULT_TABLE = ResultTable(
    name="ecl_results",
    columns=(
        Column("loan_id", "text"),
        Column("segment", "text"),
        Column("stage", "int2"),
        Column("stage_reason", "text"),
        Column("exposure", "float8"),
        Column("ecl_12m", "float8"),
        Column("ecl_lifetime", "float8"),
        Column("ecl", "float8"),
        Column("coverage", "float8"),
        Column("pd_lifetime", "float8"),
    ),
)


# ------------------------------------------------------------------------ params


def _finite_float(**kwargs) -> fields.Float:
    return fields.Float(allow_nan=False, **kwargs)


class ScenarioSchema(marshmallow.Schema):
    """One macroeconomic scenario: its weight and the multipliers it applies to PD and LGD."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=64))
    weight = _finite_float(required=True, validate=validate.Range(min=0, min_inclusive=False))
    pd_multiplier = _finite_float(load_default=1.0, validate=validate.Range(min=0))
    lgd_multiplier = _finite_float(load_default=1.0, validate=validate.Range(min=0))


class SicrSchema(marshmallow.Schema):
    """Significant-increase-in-credit-risk and default thresholds (IFRS 9 §5.5.11, B5.5.37)."""

    dpd_stage2 = fields.Integer(load_default=30, validate=validate.Range(min=0, max=3650))
    dpd_stage3 = fields.Integer(load_default=90, validate=validate.Range(min=0, max=3650))
    relative_pd_threshold = _finite_float(load_default=2.0, validate=validate.Range(min=1))
    absolute_pd_threshold = _finite_float(load_default=0.005, validate=validate.Range(min=0, max=1))
    low_credit_risk_pd = _finite_float(load_default=None, allow_none=True, validate=validate.Range(min=0, max=1))

    @marshmallow.validates_schema
    def _stage3_after_stage2(self, data, **kwargs):
        if data.get("dpd_stage3", 90) < data.get("dpd_stage2", 30):
            raise marshmallow.ValidationError("must be >= dpd_stage2", field_name="dpd_stage3")


class ComplianceSchema(marshmallow.Schema):
    """Compliance checks run on the summary (null switches a rule off)."""

    min_stage3_coverage = _finite_float(load_default=0.60, allow_none=True, validate=validate.Range(min=0, max=1))


def _default_scenarios() -> list[dict]:
    return [{"name": "base", "weight": 1.0, "pd_multiplier": 1.0, "lgd_multiplier": 1.0}]


class EclParamsSchema(marshmallow.Schema):
    """Parameters of an ``ecl`` job (specs/ecl.md).

    Input: a ``loans`` portfolio (``portfolio_id``) or inline ``inputs.loans``
    (at most 10 000 loans inline; upload larger books as a portfolio).
    """

    scenarios = fields.List(
        fields.Nested(ScenarioSchema),
        load_default=_default_scenarios,
        validate=validate.Length(min=1, max=100),
        metadata={"description": "Weights > 0 summing to 1 (within 1e-9); default one 'base' scenario 1/1/1."},
    )
    sicr = fields.Nested(SicrSchema, load_default=lambda: SicrSchema().load({}))
    compliance = fields.Nested(ComplianceSchema, load_default=lambda: ComplianceSchema().load({}))
    shard_size = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1))

    @marshmallow.validates("scenarios")
    def _weights_sum_to_one(self, value, **kwargs):
        if not all(isinstance(s, dict) and "weight" in s and "name" in s for s in value):
            return  # the nested schema already reported the broken scenario
        total = math.fsum(s["weight"] for s in value)
        if abs(total - 1.0) > WEIGHT_TOLERANCE:
            raise marshmallow.ValidationError(f"scenario weights must sum to 1 (±1e-9), got {total!r}")
        names = [s["name"] for s in value]
        if len(set(names)) != len(names):
            raise marshmallow.ValidationError("scenario names must be unique")


# -------------------------------------------------------------------- plan / run


def _validated(params: dict) -> dict:
    # Loading is idempotent on validated params and restores defaults if the
    # stored copy dropped them, so every step sees the same complete dict.
    return EclParamsSchema().load(params)


def plan(ctx: PlanContext) -> list[dict]:
    return shard_ranges(ctx.n_items, _validated(ctx.params)["shard_size"] or ctx.default_shard_size)


def _measure_chunk(loans: pd.DataFrame, params: dict) -> tuple[pd.DataFrame, dict]:
    scenarios = params["scenarios"]
    try:
        res = engine.ecl_loans(loans, scenarios, params["sicr"])
    except ValueError as exc:  # a loan the portfolio validation should have refused
        raise InputError(f"invalid loan data: {exc}", {"inputs.loans": [str(exc)]}) from exc
    segment = loans["segment"].to_numpy(dtype=object)
    rows = pd.DataFrame({
        "loan_id": loans["loan_id"].to_numpy(dtype=object),
        "segment": segment,
        "stage": res.stage.astype(np.int16),
        "stage_reason": res.stage_reason,
        "exposure": res.exposure,
        "ecl_12m": res.ecl_12m,
        "ecl_lifetime": res.ecl_lifetime,
        "ecl": res.ecl,
        "coverage": res.coverage,
        "pd_lifetime": res.pd_lifetime,
    })

    seg_names, seg_idx = np.unique(segment.astype(str), return_inverse=True)
    cell = seg_idx.astype(np.int64) * 3 + (res.stage.astype(np.int64) - 1)
    n_cells = 3 * len(seg_names)
    sums = engine.grouped_exact_partials(np.column_stack([res.exposure, res.ecl]), cell, n_cells)
    counts = np.bincount(cell, minlength=n_cells)
    cells: dict[str, dict[str, dict]] = {}
    for j, seg in enumerate(seg_names):
        for st in range(3):
            c = j * 3 + st
            if counts[c]:
                cells.setdefault(str(seg), {})[STAGES[st]] = {
                    "count": int(counts[c]), "exposure": sums[c][0], "ecl": sums[c][1],
                }
    scn = engine.grouped_exact_partials(res.ecl_by_scenario, np.zeros(len(loans), dtype=np.int64), 1)[0]
    by_scenario = {s["name"]: scn[i] for i, s in enumerate(scenarios)}
    return rows, {"cells": cells, "by_scenario": by_scenario}


def _merge_partials(parts: list[dict], scenario_names: list[str]) -> dict:
    cells: dict[str, dict[str, dict]] = {}
    for part in parts:
        for seg, stages in part["cells"].items():
            for st, cell in stages.items():
                acc = cells.setdefault(seg, {}).setdefault(st, {"count": 0, "exposure": [], "ecl": []})
                acc["count"] += cell["count"]
                acc["exposure"].extend(cell["exposure"])
                acc["ecl"].extend(cell["ecl"])
    for stages in cells.values():
        for cell in stages.values():
            cell["exposure"] = engine.exact_partials(cell["exposure"])
            cell["ecl"] = engine.exact_partials(cell["ecl"])
    by_scenario = {
        name: engine.exact_partials(v for part in parts for v in part["by_scenario"].get(name, []))
        for name in scenario_names
    }
    return {"cells": cells, "by_scenario": by_scenario}


def run_shard(ctx: ShardContext) -> ShardOutput:
    start, stop = int(ctx.spec["start"]), int(ctx.spec["stop"])
    params = _validated(ctx.params)
    names = [s["name"] for s in params["scenarios"]]
    frames: list[pd.DataFrame] = []
    parts: list[dict] = []
    cancelled = False
    for lo in range(start, stop, CHUNK_ROWS):
        if ctx.cancelled():
            cancelled = True
            break
        loans = ctx.load_items(lo, min(lo + CHUNK_ROWS, stop))
        rows, part = _measure_chunk(loans, params)
        frames.append(rows)
        parts.append(part)
    if frames:
        rows = pd.concat(frames, ignore_index=True)
    else:
        rows = pd.DataFrame({c.name: pd.Series(dtype=_EMPTY_DTYPES[c.sql_type]) for c in RESULT_TABLE.columns})
    partial = _merge_partials(parts, names)
    partial["n_loans"] = int(len(rows))
    partial["cancelled"] = cancelled
    return ShardOutput(rows=rows, partial=partial)


_EMPTY_DTYPES = {"text": "str", "int2": np.int16, "float8": np.float64}


# ---------------------------------------------------------------------- finalize


def _figures(count: int, exposure: float, ecl: float) -> dict:
    return {
        "count": int(count),
        "exposure": exposure,
        "ecl": ecl,
        "coverage": ecl / exposure if exposure > 0.0 else 0.0,
    }


def _compliance(params: dict, by_stage: dict) -> list[dict]:
    checks = []
    threshold = params.get("compliance", {}).get("min_stage3_coverage")
    if threshold is not None:
        s3 = by_stage["3"]
        if s3["exposure"] > 0.0:
            value = s3["coverage"]
            passed = value >= threshold
            message = (
                f"stage 3 coverage {value:.2%} is at or above the minimum {threshold:.2%}" if passed
                else f"stage 3 coverage {value:.2%} is below the minimum {threshold:.2%}"
            )
        else:
            value, passed, message = None, True, "no stage 3 exposure"
        checks.append({
            "rule": "min_stage3_coverage", "passed": bool(passed), "value": value,
            "threshold": float(threshold), "message": message,
        })
    return checks


def _cell_sum(partials: list[float]) -> float:
    return math.fsum(partials) + 0.0  # + 0.0 turns a -0.0 of an empty sum into 0.0


def _transitions(ctx: FinalizeContext) -> dict | None:
    if ctx.portfolio_id is None:
        return None
    prev_id = ctx.previous_job_id()
    if prev_id is None:
        return None
    cols = ["loan_id", "stage", "exposure"]
    prev = ctx.read_rows(cols, job_id=prev_id)
    cur = ctx.read_rows(cols)
    merged = cur.merge(prev, on="loan_id", how="outer", suffixes=("", "_prev"), indicator=True)
    both = merged[merged["_merge"] == "both"]
    from_idx = both["stage_prev"].to_numpy(dtype=np.int64) - 1
    to_idx = both["stage"].to_numpy(dtype=np.int64) - 1
    cell = from_idx * 3 + to_idx
    counts = np.bincount(cell, minlength=9)
    expo = engine.grouped_exact_partials(both["exposure"].to_numpy(dtype=np.float64), cell, 9)
    new = merged[merged["_merge"] == "left_only"]
    gone = merged[merged["_merge"] == "right_only"]
    return {
        "previous_job_id": str(prev_id),
        "exposure_basis": "current",
        "counts": {f: {t: int(counts[i * 3 + j]) for j, t in enumerate(STAGES)} for i, f in enumerate(STAGES)},
        "exposure": {
            f: {t: _cell_sum(expo[i * 3 + j][0]) for j, t in enumerate(STAGES)} for i, f in enumerate(STAGES)
        },
        "new": {"count": int(len(new)), "exposure": _cell_sum(new["exposure"].to_numpy(dtype=np.float64).tolist())},
        "derecognised": {
            "count": int(len(gone)), "exposure": _cell_sum(gone["exposure_prev"].to_numpy(dtype=np.float64).tolist()),
        },
    }


def finalize(ctx: FinalizeContext) -> dict:
    params = _validated(ctx.params)
    names = [s["name"] for s in params["scenarios"]]
    merged = _merge_partials(ctx.partials, names)
    cells = merged["cells"]

    by_segment: dict[str, dict] = {}
    stage_parts = {st: {"count": 0, "exposure": [], "ecl": []} for st in STAGES}
    for seg in sorted(cells):
        by_segment[seg] = {}
        for st in STAGES:
            cell = cells[seg].get(st, {"count": 0, "exposure": [], "ecl": []})
            by_segment[seg][st] = _figures(cell["count"], _cell_sum(cell["exposure"]), _cell_sum(cell["ecl"]))
            stage_parts[st]["count"] += cell["count"]
            stage_parts[st]["exposure"].extend(cell["exposure"])
            stage_parts[st]["ecl"].extend(cell["ecl"])
    by_stage = {
        st: _figures(p["count"], _cell_sum(p["exposure"]), _cell_sum(p["ecl"])) for st, p in stage_parts.items()
    }
    total_exposure = _cell_sum([v for p in stage_parts.values() for v in p["exposure"]])
    total_ecl = _cell_sum([v for p in stage_parts.values() for v in p["ecl"]])
    return {
        "n_loans": int(sum(p["count"] for p in stage_parts.values())),
        "total_ecl": total_ecl,
        "total_exposure": total_exposure,
        "coverage": total_ecl / total_exposure if total_exposure > 0.0 else 0.0,
        "by_stage": by_stage,
        "by_segment": by_segment,
        "by_scenario": {name: _cell_sum(merged["by_scenario"][name]) for name in names},
        "compliance": _compliance(params, by_stage),
        "transitions": _transitions(ctx),
    }


KIND = register(JobKind(
    name="ecl",
    engine_version=ENGINE_VERSION,
    params_schema=EclParamsSchema,
    plan=plan,
    run_shard=run_shard,
    finalize=finalize,
    input_kind="loans",
    input_required=True,
    result_table=RESULT_TABLE,
    max_inline_items=MAX_INLINE_ITEMS,
    description=(
        "IFRS 9 expected credit loss: staging (30/90 dpd, SICR PD trigger, overrides), 12-month and "
        "lifetime ECL discounted at the EIR, probability-weighted scenarios. Input: a loans portfolio, "
        "or at most 10 000 inline loans."
    ),
))
