"""A test-only job kind that exercises the core: squares of 0..n-1, optionally slow or failing."""
from __future__ import annotations

import math
import time

import pandas as pd
from marshmallow import Schema, fields, validate

from workers.kinds import registry
from workers.kinds.base import Column, InputError, JobKind, ResultTable, ShardOutput, shard_ranges

TABLE = ResultTable("test_results", (Column("item", "int8"), Column("value", "float8")))
DDL_COLUMNS = [("item", "int8"), ("value", "float8")]


class SquaresParams(Schema):
    n = fields.Integer(required=True, validate=validate.Range(min=1, max=10_000_000))
    shard_size = fields.Integer(load_default=1000, validate=validate.Range(min=1))
    sleep_s = fields.Float(load_default=0.0, validate=validate.Range(min=0, max=30))
    fail_item = fields.Integer(load_default=None, allow_none=True)


def plan(ctx):
    return shard_ranges(ctx.params["n"], ctx.params["shard_size"])


def run_shard(ctx):
    start, stop = ctx.spec["start"], ctx.spec["stop"]
    deadline = time.monotonic() + ctx.params["sleep_s"]
    while time.monotonic() < deadline:
        if ctx.cancelled():
            return ShardOutput(rows=None, partial={})
        time.sleep(0.05)
    fail = ctx.params.get("fail_item")
    if fail is not None and start <= fail < stop:
        raise InputError(f"item {fail} is poisoned", {f"item {fail}": ["poisoned"]})
    items = list(range(start, stop))
    values = [float(i) * float(i) for i in items]
    return ShardOutput(rows=pd.DataFrame({"item": items, "value": values}),
                       partial={"count": len(items), "sum": math.fsum(values)})


def finalize(ctx):
    return {"count": sum(p["count"] for p in ctx.partials), "sum": math.fsum(p["sum"] for p in ctx.partials)}


SQUARES = registry.register(JobKind(
    name="test_squares", engine_version="test-1", params_schema=SquaresParams, plan=plan, run_shard=run_shard,
    finalize=finalize, result_table=TABLE, description="test only"))
