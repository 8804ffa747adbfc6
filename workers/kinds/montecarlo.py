"""Job kind ``montecarlo``: Monte Carlo financial plans (spec ``montecarlo.md``).

Flow
----
* ``prepare`` resolves ``cma_id`` (``resources.get("cma", id)``) and, for ``risk_level``,
  the stored portfolio model (``resources.find("portfolio_model", "risk_level", n)``),
  checks both, and pins their content, ids, versions and sha256 under
  ``params["resolved"]`` (weights, fee, CMA, portfolio model). A client-supplied
  ``resolved`` is always overwritten.
* ``plan`` cuts the ``ceil(n_paths / 8192)`` path blocks into runs of ``shard_blocks``
  blocks (default: about 3 s of simulation per shard).
* ``run_shard`` simulates its blocks one at a time (memory bounded by one block) with
  :class:`workers.engines.montecarlo.PathSimulator` and returns a partial; no rows.
* ``finalize`` merges the partials into the summary.

Shard invariance
----------------
Block ``b`` always draws from ``SeedSequence(seed, spawn_key=(b,))``, so paths do not
depend on the shard layout. Floating sums are kept **per block** in the partials
(``math.fsum`` of the block's values) and ``finalize`` fsums them in block order;
counts are integers. The summary is therefore identical, to the last digit, for any
``shard_blocks`` and on rerun.

Percentiles (fan chart and terminal)
------------------------------------
Exact percentiles would need every value in one place. Instead each shard returns, for
every year end and for nominal and real wealth, a histogram over order-preserving log
buckets of the float64 bit pattern keeping ``HIST_MANTISSA_BITS = 8`` mantissa bits
(:func:`workers.engines.montecarlo.hist_bucket`). Partials hold only non-empty buckets
(deltas and counts, zlib + base64): about 150 kB per shard for the spec's example plan.

* ``n_paths <= EXACT_MAX_PATHS`` (1 000 000): **exact**. ``finalize`` finds, for every
  (series, year, percentile), the buckets holding the two order statistics numpy's
  ``linear`` rule needs, and returns a :class:`NextRound` whose shards re-simulate the same
  blocks (deterministic per block) and return only the values inside those buckets. The
  order statistics are then picked exactly and interpolated operation for operation as
  ``np.quantile`` does (tested for equality). Costs one more simulation pass.
* Larger (very large) runs: the histogram alone, numpy's ``linear`` rule on bucket
  midpoints. Bound (tested): within **relative 2**-9 ≈ 0.195 %** of the exact percentile
  (zero wealth, i.e. depleted paths, is exact); memory stays bounded by the shard size.
* A job of one block (``n_paths <= 8192``) is one shard and computes them directly.

``percentile_method`` in the summary says which applied (``max_relative_error`` 0 when exact).
Means, standard deviations, shortfalls and the success probability are always exact.

Outputs (``finalize``)
----------------------
``success_probability`` (never depleted and terminal wealth >= goal), its Wilson interval
``success_interval`` at ``confidence_level``; ``percentiles`` and ``real_percentiles``
(``{"p5": [year 1 .. horizon], …}``, real = nominal / inflation index); ``terminal`` and
``terminal_real`` (mean, sample std, p5..p95); ``expected_shortfall`` =
E[(goal − W_T)^+] over all paths, with ``shortfall_probability`` and
``expected_shortfall_given_shortfall``; ``depletion_ages`` (integer age
``start_age + year of depletion`` → count, among failed paths).
"""
from __future__ import annotations

import base64
import math
import zlib

import numpy as np
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from workers.engines import montecarlo as mc
from workers.kinds.base import InputError, JobKind, NextRound, PlanContext, ShardContext, ShardOutput, json_safe
from workers.kinds.cma import CMASchema, PortfolioModelSchema, unknown_assets, weight_problems
from workers.kinds.registry import register

ENGINE_VERSION = "montecarlo-1.0.0"
MAX_PATHS = 10_000_000
HIST_MANTISSA_BITS = 8
#: Normals per second one core is assumed to sustain when sizing shards (conservative).
PLANNING_NORMALS_PER_S = 3.0e7
TARGET_SHARD_SECONDS = 3.0

_finite = {"allow_nan": False}


class CashFlowSchema(Schema):
    type = fields.String(required=True, validate=validate.OneOf(["contribution", "withdrawal"]))
    amount_annual = fields.Float(required=True, validate=validate.Range(min=0.0, max=1e12), **_finite)
    start_year = fields.Integer(required=True, validate=validate.Range(min=0, max=200))
    end_year = fields.Integer(required=True, validate=validate.Range(min=0, max=200))
    indexed = fields.Boolean(load_default=False)

    @validates_schema
    def _check(self, data, **kwargs):
        if data["end_year"] <= data["start_year"]:
            raise ValidationError({"end_year": ["must be greater than start_year"]})


class PlanSchema(Schema):
    start_age = fields.Integer(required=True, validate=validate.Range(min=0, max=120))
    horizon_years = fields.Integer(required=True, validate=validate.Range(min=1, max=100))
    initial_wealth = fields.Float(required=True, validate=validate.Range(min=0.0, max=1e13), **_finite)
    goal = fields.Float(load_default=0.0, validate=validate.Range(min=0.0, max=1e15), **_finite)
    cash_flows = fields.List(fields.Nested(CashFlowSchema), load_default=list,
                             validate=validate.Length(max=100))


class MonteCarloParamsSchema(Schema):
    cma_id = fields.String(required=True, validate=validate.Length(min=1, max=100))
    weights = fields.Dict(keys=fields.String(validate=validate.Length(min=1)),
                          values=fields.Float(validate=validate.Range(min=0.0, max=1.0), **_finite),
                          load_default=None, allow_none=True)
    risk_level = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1, max=10))
    fee_annual = fields.Float(load_default=None, allow_none=True,
                              validate=validate.Range(min=0.0, max=0.5), **_finite)
    steps_per_year = fields.Integer(load_default=12, validate=validate.OneOf([1, 12]))
    n_paths = fields.Integer(load_default=100_000, validate=validate.Range(min=1, max=MAX_PATHS))
    plan = fields.Nested(PlanSchema, required=True)
    confidence_level = fields.Float(load_default=0.95, validate=validate.Range(
        min=0.0, max=1.0, min_inclusive=False, max_inclusive=False), **_finite)
    shard_blocks = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1))
    # Set by ``prepare`` (pinned CMA / portfolio model); anything a client sends is replaced.
    resolved = fields.Dict(load_default=None, allow_none=True)

    @validates_schema
    def _check(self, data, **kwargs):
        has_w = data.get("weights") is not None
        has_r = data.get("risk_level") is not None
        if has_w == has_r:
            raise ValidationError({"weights": ["give exactly one of weights or risk_level"]})
        if has_w:
            problems = weight_problems(data["weights"])
            if problems:
                raise ValidationError({"weights": problems})
        horizon = data["plan"]["horizon_years"]
        for i, cf in enumerate(data["plan"]["cash_flows"]):
            if cf["end_year"] > horizon:
                raise ValidationError({"plan": {"cash_flows": {i: {"end_year": [
                    f"must be <= horizon_years ({horizon})"]}}}})


# ---------------------------------------------------------------------------------------
# prepare / plan
# ---------------------------------------------------------------------------------------


def _pinned(res: dict) -> dict:
    return {"id": res.get("id"), "name": res.get("name"), "version": res.get("version"),
            "sha256": res.get("sha256"), "content": res["content"]}


def prepare(params: dict, resources, _items=None) -> dict:
    """Resolve and pin the CMA and (for ``risk_level``) the portfolio model."""
    cma = resources.get("cma", params["cma_id"])
    try:
        cma_content = CMASchema().load(cma["content"])
    except ValidationError as exc:
        raise InputError(f"CMA {params['cma_id']} is invalid",
                         {f"cma.{k}": v if isinstance(v, list) else [str(v)]
                          for k, v in exc.messages.items()}) from exc
    model = None
    if params.get("risk_level") is not None:
        model = resources.find("portfolio_model", "risk_level", params["risk_level"])
        try:
            model_content = PortfolioModelSchema().load(model["content"])
        except ValidationError as exc:
            raise InputError(f"portfolio model for risk level {params['risk_level']} is invalid",
                             {f"portfolio_model.{k}": v if isinstance(v, list) else [str(v)]
                              for k, v in exc.messages.items()}) from exc
        weights = dict(model_content["weights"])
        field = "portfolio_model.weights"
        fee = params.get("fee_annual")
        if fee is None:
            fee = model_content.get("fee_annual") or 0.0
    else:
        weights = dict(params["weights"])
        field = "params.weights"
        fee = params.get("fee_annual") or 0.0
    unknown = unknown_assets(weights, cma_content)
    if unknown:
        raise InputError(
            f"weights name asset classes absent from CMA {params['cma_id']}: {', '.join(unknown)}",
            {f"{field}.{name}": [f"not an asset class of the CMA ({params['cma_id']})"] for name in unknown})
    out = dict(params)
    out["resolved"] = {
        "weights": weights,
        "fee_annual": float(fee),
        "cma": _pinned({**cma, "content": cma_content}),
        "portfolio_model": _pinned(model) if model is not None else None,
    }
    return out


def default_shard_blocks(params: dict) -> int:
    """Blocks per shard so that a shard takes about ``TARGET_SHARD_SECONDS``."""
    resolved = params.get("resolved") or {}
    cma = (resolved.get("cma") or {}).get("content") or {}
    n_assets = len(cma.get("asset_classes") or []) or 5
    steps = int(params["steps_per_year"]) * int(params["plan"]["horizon_years"])
    normals = mc.BLOCK_PATHS * steps * (n_assets + 1)
    return max(1, int(TARGET_SHARD_SECONDS * PLANNING_NORMALS_PER_S // normals))


def plan(ctx: PlanContext) -> list[dict]:
    params = ctx.params
    n_blocks = mc.block_count(params["n_paths"])
    size = params.get("shard_blocks") or default_shard_blocks(params)
    return [{"block_start": s, "block_stop": min(s + size, n_blocks)} for s in range(0, n_blocks, size)]


# ---------------------------------------------------------------------------------------
# run_shard
# ---------------------------------------------------------------------------------------


def plan_model(params: dict) -> mc.PlanModel:
    """Build the engine model from prepared params (CMA order of asset classes)."""
    resolved = params["resolved"]
    cma = resolved["cma"]["content"]
    names = [a["name"] for a in cma["asset_classes"]]
    weights = np.array([float(resolved["weights"].get(n, 0.0)) for n in names], dtype=np.float64)
    p = params["plan"]
    flows = tuple(mc.CashFlow(cf["type"], float(cf["amount_annual"]), int(cf["start_year"]),
                              int(cf["end_year"]), bool(cf.get("indexed", False)))
                  for cf in p.get("cash_flows", []))
    return mc.PlanModel(
        expected_return=np.array([a["expected_return"] for a in cma["asset_classes"]], dtype=np.float64),
        volatility=np.array([a["volatility"] for a in cma["asset_classes"]], dtype=np.float64),
        correlation=np.array(cma["correlation"], dtype=np.float64),
        weights=weights,
        inflation_mean=float(cma["inflation"]["mean"]),
        inflation_volatility=float(cma["inflation"]["volatility"]),
        fee_annual=float(resolved["fee_annual"]),
        steps_per_year=int(params["steps_per_year"]),
        horizon_years=int(p["horizon_years"]),
        initial_wealth=float(p["initial_wealth"]),
        goal=float(p.get("goal", 0.0)),
        cash_flows=flows,
    )


def _moments(x: np.ndarray) -> list:
    """``[n, fsum(x), fsum((x - mean)^2)]`` of one block (mean = fsum/n)."""
    s = math.fsum(x.tolist())
    mean = s / x.size
    return [int(x.size), s, math.fsum(((x - mean) ** 2).tolist())]


def _hist_encode(buckets: np.ndarray, counts: np.ndarray) -> list:
    """``[first bucket, n, payload]``: bucket deltas then counts as little-endian int32,
    zlib-compressed and base64-encoded (plain JSON, about 1 byte per bucket)."""
    if buckets.size == 0:
        return [0, 0, ""]
    raw = np.concatenate([np.diff(buckets), counts]).astype("<i4", casting="unsafe")
    return [int(buckets[0]), int(buckets.size), base64.b64encode(zlib.compress(raw.tobytes(), 6)).decode("ascii")]


def _hist_decode(enc: list) -> tuple[np.ndarray, np.ndarray]:
    first, size, payload = enc
    if size == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    raw = np.frombuffer(zlib.decompress(base64.b64decode(payload)), dtype="<i4").astype(np.int64)
    buckets = np.cumsum(np.concatenate([[first], raw[: size - 1]])).astype(np.int64)
    return buckets, raw[size - 1:]


def _merge_hist(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    b = np.concatenate([p[0] for p in parts]) if parts else np.empty(0, np.int64)
    c = np.concatenate([p[1] for p in parts]) if parts else np.empty(0, np.int64)
    uniq, inv = np.unique(b, return_inverse=True)
    out = np.zeros(uniq.size, dtype=np.int64)
    np.add.at(out, inv, c)
    return uniq.astype(np.int64), out


def _year_hist(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    uniq, counts = np.unique(mc.hist_bucket(values, HIST_MANTISSA_BITS), return_counts=True)
    return uniq.astype(np.int64), counts.astype(np.int64)


# Exact percentiles up to this many paths (a second, refining round); above it the histogram.
EXACT_MAX_PATHS = 1_000_000


def _floats_encode(x: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(x, dtype="<f8").tobytes()).decode()


def _floats_decode(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f8")


def _order_stat_ranks(n: int, q: float) -> tuple[int, int, float]:
    """numpy's 'linear' rule: ranks (0-based) of the two order statistics and the weight."""
    vi = np.float64(n - 1) * np.float64(q)
    if vi >= n - 1:
        return n - 1, n - 1, 0.0
    lo = int(np.floor(vi))
    return lo, lo + 1, float(vi - np.float64(lo))


def _lerp(a: float, b: float, t: float) -> float:
    """numpy's ``_lerp``, operation for operation, so the result equals ``np.quantile`` exactly."""
    a, b, t = np.float64(a), np.float64(b), np.float64(t)
    diff = b - a
    return float(b - diff * (1 - t)) if t >= 0.5 else float(a + diff * t)


def _bucket_of_rank(cum: np.ndarray, buckets: np.ndarray, rank: int) -> tuple[int, int]:
    """(bucket holding the ``rank``-th smallest value, its rank within that bucket)."""
    i = int(np.searchsorted(cum, rank, side="right"))
    return int(buckets[i]), rank - (int(cum[i - 1]) if i else 0)


def _refine_shard(ctx: ShardContext, params: dict) -> ShardOutput:
    """Round 2: re-simulate the blocks and keep only the values inside the target buckets."""
    sim = mc.PathSimulator(plan_model(params))
    n_paths = int(params["n_paths"])
    targets = ctx.spec["refine"]
    found = {series: [[] for _ in years] for series, years in targets.items()}
    for b in range(int(ctx.spec["block_start"]), int(ctx.spec["block_stop"])):
        if ctx.cancelled():
            return ShardOutput(rows=None, partial={"cancelled": True, "refine": True})
        res = sim.simulate_block(int(ctx.seed), b, mc.block_paths(n_paths, b))
        for series, wealth in (("nominal", res.wealth), ("real", res.wealth_real)):
            for y, wanted in enumerate(targets[series]):
                values = wealth[:, y]
                keep = np.isin(mc.hist_bucket(values, HIST_MANTISSA_BITS), np.asarray(wanted, dtype=np.int64))
                found[series][y].append(values[keep])
    partial = {"refine": {series: [_floats_encode(np.concatenate(chunks) if chunks else np.empty(0))
                                   for chunks in years] for series, years in found.items()}}
    return ShardOutput(rows=None, partial=partial)


def run_shard(ctx: ShardContext) -> ShardOutput:
    params = ctx.params
    if "refine" in ctx.spec:
        return _refine_shard(ctx, params)
    if ctx.seed is None:
        raise InputError("montecarlo needs a seed (the server chooses one when the client gives none)")
    model = plan_model(params)
    sim = mc.PathSimulator(model)
    n_paths = int(params["n_paths"])
    goal = model.goal
    spy = model.steps_per_year
    start_age = int(params["plan"]["start_age"])
    horizon = model.horizon_years
    blocks = []
    empty = (np.empty(0, np.int64), np.empty(0, np.int64))
    # running histograms, merged block by block: memory bounded by one block, not the shard
    hist: dict[str, list[tuple]] = {"nominal": [empty] * horizon, "real": [empty] * horizon}
    successes = 0
    shortfall_n = 0
    depleted_ages: dict[int, int] = {}
    failed_not_depleted = 0
    exact = None
    for b in range(int(ctx.spec["block_start"]), int(ctx.spec["block_stop"])):
        if ctx.cancelled():
            return ShardOutput(rows=None, partial={"cancelled": True})
        res = sim.simulate_block(int(ctx.seed), b, mc.block_paths(n_paths, b))
        term = res.terminal
        term_real = res.wealth_real[:, -1]
        depleted = res.depletion_step >= 0
        success = (~depleted) & (term >= goal)
        successes += int(success.sum())
        shortfall = np.maximum(goal - term, 0.0)
        shortfall_n += int((shortfall > 0.0).sum())
        failed_not_depleted += int(((~success) & (~depleted)).sum())
        ages = start_age + res.depletion_step[depleted] // spy
        for age, cnt in zip(*np.unique(ages, return_counts=True)):
            depleted_ages[int(age)] = depleted_ages.get(int(age), 0) + int(cnt)
        blocks.append({"block": b, "terminal": _moments(term), "terminal_real": _moments(term_real),
                       "shortfall": math.fsum(shortfall.tolist())})
        if n_paths <= mc.BLOCK_PATHS:  # one block, hence one shard whatever the layout
            exact = {"nominal": [mc.percentiles_exact(res.wealth[:, y]) for y in range(horizon)],
                     "real": [mc.percentiles_exact(res.wealth_real[:, y]) for y in range(horizon)]}
        for y in range(horizon):
            hist["nominal"][y] = _merge_hist([hist["nominal"][y], _year_hist(res.wealth[:, y])])
            hist["real"][y] = _merge_hist([hist["real"][y], _year_hist(res.wealth_real[:, y])])
    partial = {
        "blocks": blocks,
        "successes": successes,
        "shortfall_count": shortfall_n,
        "failed_not_depleted": failed_not_depleted,
        "depleted_ages": {str(a): c for a, c in sorted(depleted_ages.items())},
        "hist": {series: [_hist_encode(*h) for h in years] for series, years in hist.items()},
        "exact_percentiles": exact,
    }
    return ShardOutput(rows=None, partial=partial)


# ---------------------------------------------------------------------------------------
# finalize
# ---------------------------------------------------------------------------------------


def _level_key(q: float) -> str:
    return f"p{int(round(q * 100))}"


def _combine_moments(blocks: list[dict], key: str) -> tuple[float, float]:
    """Mean and sample std from per-block ``[n, sum, m2]`` (Chan et al. pairwise update,
    written as fsums in block order so the shard layout cannot matter)."""
    parts = [blk[key] for blk in blocks]
    n = sum(p[0] for p in parts)
    mean = math.fsum(p[1] for p in parts) / n
    m2 = math.fsum([p[2] for p in parts] + [p[0] * (p[1] / p[0] - mean) ** 2 for p in parts])
    std = math.sqrt(m2 / (n - 1)) if n > 1 else 0.0
    return mean, std




def _exact_from_refined(merged: tuple[np.ndarray, np.ndarray], values: np.ndarray, n: int, levels) -> list[float]:
    """Exact percentiles: each needed order statistic is picked from the values of its bucket."""
    buckets, counts = merged
    cum = np.cumsum(counts)
    by_bucket: dict[int, np.ndarray] = {}
    vb = mc.hist_bucket(values, HIST_MANTISSA_BITS)
    for bucket in np.unique(vb):
        by_bucket[int(bucket)] = np.sort(values[vb == bucket])

    def order_stat(rank: int) -> float:
        bucket, r = _bucket_of_rank(cum, buckets, rank)
        return float(by_bucket[bucket][r])

    out = []
    for q in levels:
        lo, hi, t = _order_stat_ranks(n, q)
        out.append(_lerp(order_stat(lo), order_stat(hi), t))
    return out


def _refine_round(first: list[dict], merged: dict, n: int, levels) -> NextRound:
    """Specs of the refining round: round 1's block ranges, and the buckets each percentile needs."""
    targets = {}
    for series, years in merged.items():
        targets[series] = []
        for buckets, counts in years:
            cum = np.cumsum(counts)
            wanted = set()
            for q in levels:
                lo, hi, _ = _order_stat_ranks(n, q)
                wanted.update(_bucket_of_rank(cum, buckets, r)[0] for r in (lo, hi))
            targets[series].append(sorted(wanted))
    ranges = sorted((min(blk["block"] for blk in p["blocks"]), max(blk["block"] for blk in p["blocks"]) + 1)
                    for p in first)
    return NextRound(specs=[{"block_start": lo, "block_stop": hi, "refine": targets} for lo, hi in ranges])


def finalize(ctx) -> dict | NextRound:
    params = ctx.params
    everything = [p for p in ctx.partials if p and not p.get("cancelled")]
    refined = [p for p in everything if "refine" in p]
    partials = [p for p in everything if "refine" not in p]
    blocks = sorted((blk for p in partials for blk in p["blocks"]), key=lambda blk: blk["block"])
    n = sum(blk["terminal"][0] for blk in blocks)
    n_paths = int(params["n_paths"])
    if n != n_paths or [blk["block"] for blk in blocks] != list(range(mc.block_count(n_paths))):
        raise InputError(f"partials cover {n} of {n_paths} paths: a shard is missing")
    horizon = int(params["plan"]["horizon_years"])
    start_age = int(params["plan"]["start_age"])
    goal = float(params["plan"].get("goal", 0.0))
    levels = mc.PERCENTILE_LEVELS

    def series_percentiles(series: str) -> list[list[float]]:
        out = []
        for y in range(horizon):
            b, c = _merge_hist([_hist_decode(p["hist"][series][y]) for p in partials])
            out.append(mc.percentiles_from_histogram(b, c, levels, HIST_MANTISSA_BITS))
        return out

    exact = partials[0].get("exact_percentiles") if len(partials) == 1 else None
    if exact is not None:
        nominal, real = exact["nominal"], exact["real"]
        method = "exact"
    elif n <= EXACT_MAX_PATHS:
        merged = {series: [_merge_hist([_hist_decode(p["hist"][series][y]) for p in partials])
                           for y in range(horizon)] for series in ("nominal", "real")}
        if not refined:
            return _refine_round(partials, merged, n, levels)
        exact_by = {}
        for series in ("nominal", "real"):
            exact_by[series] = [
                _exact_from_refined(merged[series][y], np.concatenate(
                    [_floats_decode(p["refine"][series][y]) for p in refined]), n, levels)
                for y in range(horizon)]
        nominal, real = exact_by["nominal"], exact_by["real"]
        method = "exact"
    else:
        nominal = series_percentiles("nominal")
        real = series_percentiles("real")
        method = "histogram"
    successes = sum(p["successes"] for p in partials)
    lo, hi = mc.wilson_interval(successes, n, float(params["confidence_level"]))
    mean, std = _combine_moments(blocks, "terminal")
    mean_r, std_r = _combine_moments(blocks, "terminal_real")
    shortfall_sum = math.fsum(blk["shortfall"] for blk in blocks)
    shortfall_n = sum(p["shortfall_count"] for p in partials)
    ages: dict[int, int] = {}
    for p in partials:
        for a, c in p["depleted_ages"].items():
            ages[int(a)] = ages.get(int(a), 0) + int(c)
    n_depleted = sum(ages.values())
    n_failed = n - successes
    resolved = params["resolved"]
    pm = resolved.get("portfolio_model")
    summary = {
        "engine_version": ENGINE_VERSION,
        "seed": ctx.seed,
        "n_paths": n,
        "steps_per_year": int(params["steps_per_year"]),
        "horizon_years": horizon,
        "years": list(range(1, horizon + 1)),
        "ages": [start_age + y for y in range(1, horizon + 1)],
        "cma": {k: resolved["cma"][k] for k in ("id", "name", "version", "sha256")},
        "portfolio_model": None if pm is None else {k: pm[k] for k in ("id", "name", "version", "sha256")},
        "weights": resolved["weights"],
        "fee_annual": resolved["fee_annual"],
        "goal": goal,
        "confidence_level": float(params["confidence_level"]),
        "success_count": successes,
        "success_probability": successes / n,
        "success_interval": [lo, hi],
        "percentiles": {_level_key(q): [row[i] for row in nominal] for i, q in enumerate(levels)},
        "real_percentiles": {_level_key(q): [row[i] for row in real] for i, q in enumerate(levels)},
        "terminal": {"mean": mean, "std": std,
                     **{_level_key(q): nominal[-1][i] for i, q in enumerate(levels)}},
        "terminal_real": {"mean": mean_r, "std": std_r,
                          **{_level_key(q): real[-1][i] for i, q in enumerate(levels)}},
        "expected_shortfall": shortfall_sum / n,
        "shortfall_probability": shortfall_n / n,
        "expected_shortfall_given_shortfall": (shortfall_sum / shortfall_n) if shortfall_n else 0.0,
        "depletion_ages": {
            "n_failed": n_failed,
            "n_depleted": n_depleted,
            "n_failed_not_depleted": sum(p["failed_not_depleted"] for p in partials),
            "counts": {str(a): ages[a] for a in sorted(ages)},
            "shares": {str(a): ages[a] / n_failed for a in sorted(ages)} if n_failed else {},
            "mean_age": (sum(a * c for a, c in ages.items()) / n_depleted) if n_depleted else None,
        },
        "percentile_method": {
            "method": "exact, numpy 'linear' rule",
            "mantissa_bits": None,
            "max_relative_error": 0.0,
        } if method == "exact" else {
            "method": "log-bucket histogram, numpy 'linear' rule on bucket midpoints",
            "mantissa_bits": HIST_MANTISSA_BITS,
            "max_relative_error": 2.0 ** -(HIST_MANTISSA_BITS + 1),
        },
    }
    return json_safe(summary)




KIND = register(JobKind(
    name="montecarlo",
    engine_version=ENGINE_VERSION,
    params_schema=MonteCarloParamsSchema,
    plan=plan,
    run_shard=run_shard,
    finalize=finalize,
    input_kind=None,
    input_required=False,
    result_table=None,
    prepare=prepare,
    description="Monte Carlo financial plan: success probability, wealth fan chart, "
                "terminal distribution, shortfall and depletion ages.",
))
