"""Job kind ``scr``: Solvency II standard-formula SCR of a term portfolio (specs/solvency_ifrs17.md A).

Shards revalue their policies under every life shock and the interest up/down
curves in one fused pass (:func:`workers.engines.solvency.life_shocks.shocked_bels`)
and write one row per policy with the base and every shocked BEL. Their partials
hold exact fixed-point sums (``[integer part, 2^-32 units]`` as Python ints) of
the per-policy shock effects, so finalize's totals do not depend on the shard
layout. Finalize aggregates the tree (life, market with the up/down rule,
default, BSCR, operational), the risk margin, technical provisions, MCR,
solvency ratio, and every stress scenario.

Conventions: mortality, longevity, lapse up and lapse down count per policy
(``Σ_p max(0, BEL_p,shocked − BEL_p)``, Art. 137, 138, 142(2)); expense, catastrophe
and interest count on the portfolio (``max(0, Σ_p ΔBEL_p)``, plus the user's asset
losses for interest); mass lapse is ``0.4 Σ_p max(0, −BEL_p)`` (no surrender values).
Operational risk takes, when not given, the annualised premiums of the in-force
policies and the base BEL as life provisions. The risk margin's SCR(t) follows the
BEL run-off (``risk_margin_driver``; a non-positive BEL, usual for term business,
falls back to the run-off of the PV of claims) and uses the whole SCR or the
reference undertaking's (``risk_margin_scope``). The linear MCR, when not given, is
``0.021 max(0, BEL) + 0.0007 Σ_p max(0, SA_p − BEL_p)`` (Art. 251). ``own_funds`` are
the user's figure (not derived from the BEL).

Stress scenarios act on the finalize-level inputs only (no second projection):
``own_funds, market, default, health, non_life, adjustments, operational,
cost_of_capital, mcr`` may be overridden; ``own_funds_delta`` and ``bel_delta``
shift own funds / BEL (a BEL increase reduces own funds by the same amount);
``life_scale`` multiplies and ``life`` replaces life sub-module requirements
(mortality, longevity, disability, expense, revision, lapse, catastrophe).
Changing a life shock *size* needs a new job (``overrides``).
"""
from __future__ import annotations

import copy
import math

import marshmallow
import numpy as np
import pandas as pd
from marshmallow import fields, validate

from workers.engines.life.cashflow import check_ages_in_table
from workers.engines.solvency import aggregation as agg
from workers.engines.solvency import standard_formula as sf
from workers.engines.solvency.life_shocks import LifeShocks, fixed_sum, fixed_to_float, shocked_bels
from workers.kinds.base import (Column, json_safe, FinalizeContext, InputError, JobKind, PlanContext, Resources, ResultTable,
                                ShardContext, ShardOutput, shard_ranges)
from workers.kinds.bel import BelParamsSchema, assumptions_from_params
from workers.kinds.bel import prepare as bel_prepare
from workers.kinds.registry import register

ENGINE_VERSION = "scr-1.0.0"
CHUNK_ROWS = 50_000
BEL_COLUMNS = ("bel", "bel_mortality", "bel_longevity", "bel_expense", "bel_lapse_up", "bel_lapse_down",
               "bel_catastrophe", "bel_interest_up", "bel_interest_down")
RESULT_TABLE = ResultTable("scr_results", (Column("policy_id", "text"),) + tuple(Column(c, "float8") for c in BEL_COLUMNS))
# shocks whose effect counts only on the policies where it raises BEL (Art. 137, 138, 142(2))
SELECTED = ("mortality", "longevity", "lapse_up", "lapse_down")
# shocks applied to the whole portfolio: SCR = max(0, Σ_p ΔBEL_p)
PORTFOLIO = ("expense", "catastrophe", "interest_up", "interest_down")
SUMS = ("bel", "pv_premiums", "pv_claims", "pv_expenses", "pv_commissions", "mass_lapse_base", "premiums_annual",
        "capital_at_risk") + tuple(f"d_{s}" for s in SELECTED + PORTFOLIO)


def _f(**kw) -> fields.Float:
    return fields.Float(allow_nan=False, **kw)


_NONNEG = validate.Range(min=0)


class MarketSchema(marshmallow.Schema):
    """Market exposures (market values) and directly given charges (currency)."""

    equity_type1 = _f(load_default=0.0, validate=_NONNEG)
    equity_type2 = _f(load_default=0.0, validate=_NONNEG)
    property = _f(load_default=0.0, validate=_NONNEG)
    currency = _f(load_default=0.0, metadata={"description": "net foreign-currency exposure"})
    spread = _f(load_default=0.0, validate=_NONNEG, metadata={"description": "spread risk requirement"})
    concentration = _f(load_default=0.0, validate=_NONNEG, metadata={"description": "concentration requirement"})
    symmetric_adjustment = _f(load_default=0.0, validate=validate.Range(min=-0.10, max=0.10))
    assets_loss_interest_up = _f(load_default=0.0, metadata={"description": "loss of asset value under the up curve"})
    assets_loss_interest_down = _f(load_default=0.0, metadata={"description": "loss of asset value under the down curve"})


class OperationalSchema(marshmallow.Schema):
    premiums = _f(load_default=None, allow_none=True, validate=_NONNEG,
                  metadata={"description": "life premiums earned over 12 months; null: annualised in-force premiums"})
    provisions = _f(load_default=None, allow_none=True,
                    metadata={"description": "life technical provisions; null: the base BEL"})
    expenses_unit_linked = _f(load_default=0.0, validate=_NONNEG)


class McrSchema(marshmallow.Schema):
    linear = _f(load_default=None, allow_none=True, validate=_NONNEG,
                metadata={"description": "null: 0.021 max(0, BEL) + 0.0007 capital at risk (Art. 251)"})
    floor = _f(load_default=4_000_000.0, validate=_NONNEG)
    corridor_low = _f(load_default=0.25, validate=validate.Range(min=0, max=1))
    corridor_high = _f(load_default=0.45, validate=validate.Range(min=0, max=1))


def _matrix(**kw) -> fields.List:
    return fields.List(fields.List(_f()), load_default=None, allow_none=True, **kw)


class OverridesSchema(marshmallow.Schema):
    """Shock sizes, factors and correlation matrices (defaults: Delegated Regulation 2015/35)."""

    mortality_shock = _f(load_default=0.15, validate=_NONNEG)
    longevity_shock = _f(load_default=0.20, validate=validate.Range(min=0, max=1))
    expense_shock = _f(load_default=0.10, validate=_NONNEG)
    inflation_shock = _f(load_default=0.01)
    lapse_up_shock = _f(load_default=0.50, validate=_NONNEG)
    lapse_down_shock = _f(load_default=0.50, validate=validate.Range(min=0, max=1))
    lapse_down_max_drop = _f(load_default=0.20, validate=validate.Range(min=0, max=1))
    mass_lapse = _f(load_default=0.40, validate=validate.Range(min=0, max=1))
    catastrophe_shock = _f(load_default=0.0015, validate=validate.Range(min=0, max=1))
    interest_up_min = _f(load_default=0.01, validate=_NONNEG)
    interest_up_scale = _f(load_default=1.0, validate=_NONNEG)
    interest_down_scale = _f(load_default=1.0, validate=validate.Range(min=0, max=1))
    equity_type1_shock = _f(load_default=0.39, validate=validate.Range(min=0, max=1))
    equity_type2_shock = _f(load_default=0.49, validate=validate.Range(min=0, max=1))
    property_shock = _f(load_default=0.25, validate=validate.Range(min=0, max=1))
    currency_shock = _f(load_default=0.25, validate=validate.Range(min=0, max=1))
    disability = _f(load_default=0.0, validate=_NONNEG, metadata={"description": "disability-morbidity requirement"})
    revision = _f(load_default=0.0, validate=_NONNEG, metadata={"description": "revision requirement"})
    operational_cap = _f(load_default=0.30, validate=_NONNEG)
    correlation_life = _matrix(metadata={"description": "7x7, order " + ", ".join(agg.LIFE_ORDER)})
    correlation_market_up = _matrix(metadata={"description": "6x6, order " + ", ".join(agg.MARKET_ORDER)})
    correlation_market_down = _matrix(metadata={"description": "6x6, order " + ", ".join(agg.MARKET_ORDER)})
    correlation_bscr = _matrix(metadata={"description": "5x5, order " + ", ".join(agg.BSCR_ORDER)})

    @marshmallow.validates_schema
    def _matrices(self, data, **kwargs):
        errors = {}
        for key, size in (("correlation_life", 7), ("correlation_market_up", 6), ("correlation_market_down", 6),
                          ("correlation_bscr", 5)):
            if data.get(key) is not None:
                problems = agg.correlation_problems(data[key], key, size)
                if problems:
                    errors[key] = problems
        if errors:
            raise marshmallow.ValidationError(errors)


_STRESS_LIFE_KEYS = validate.OneOf(agg.LIFE_ORDER)


class StressSchema(marshmallow.Schema):
    """A named stress scenario: finalize-level overrides and shifts (see the module docstring)."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=64))
    own_funds = _f(load_default=None, allow_none=True)
    own_funds_delta = _f(load_default=0.0)
    bel_delta = _f(load_default=0.0)
    market = fields.Dict(keys=fields.String(validate=validate.OneOf(list(MarketSchema().fields))),
                         values=_f(), load_default=dict)
    default = _f(load_default=None, allow_none=True, validate=_NONNEG)
    health = _f(load_default=None, allow_none=True, validate=_NONNEG)
    non_life = _f(load_default=None, allow_none=True, validate=_NONNEG)
    adjustments = _f(load_default=None, allow_none=True)
    cost_of_capital = _f(load_default=None, allow_none=True, validate=_NONNEG)
    operational = fields.Dict(keys=fields.String(validate=validate.OneOf(list(OperationalSchema().fields))),
                              values=_f(allow_none=True), load_default=dict)
    mcr = fields.Dict(keys=fields.String(validate=validate.OneOf(list(McrSchema().fields))),
                      values=_f(allow_none=True), load_default=dict)
    life_scale = fields.Dict(keys=fields.String(validate=_STRESS_LIFE_KEYS), values=_f(validate=_NONNEG),
                             load_default=dict)
    life = fields.Dict(keys=fields.String(validate=_STRESS_LIFE_KEYS), values=_f(validate=_NONNEG),
                       load_default=dict)


def _nested(schema):
    return fields.Nested(schema, load_default=lambda: schema().load({}))


class ScrParamsSchema(BelParamsSchema):
    """Parameters of an ``scr`` job: the term_monthly BEL assumptions plus the standard formula.

    ``mortality`` is an inline select table ``{"select_period", "ages", "rates"}`` or
    ``{"basis_id"}`` (a ``mortality_basis`` resource, pinned at submission).
    """

    model = fields.String(load_default="term_monthly", validate=validate.OneOf(["term_monthly"]))
    own_funds = _f(load_default=None, allow_none=True)
    market = _nested(MarketSchema)
    default = _f(load_default=0.0, validate=_NONNEG, metadata={"description": "counterparty default requirement"})
    health = _f(load_default=0.0, validate=_NONNEG)
    non_life = _f(load_default=0.0, validate=_NONNEG)
    adjustments = _f(load_default=0.0, metadata={"description": "loss-absorbing capacity of TP and deferred taxes"})
    operational = _nested(OperationalSchema)
    cost_of_capital = _f(load_default=0.06, validate=_NONNEG)
    risk_margin_driver = fields.String(load_default="bel", validate=validate.OneOf(["bel", "claims"]),
                                       metadata={"description": "run-off of SCR(t); 'bel' falls back to 'claims' "
                                                                "when the base BEL is not positive"})
    risk_margin_scope = fields.String(load_default="scr", validate=validate.OneOf(["scr", "reference_undertaking"]),
                                      metadata={"description": "SCR(0) of the risk margin: the whole SCR, or the "
                                                               "reference undertaking's (no market risk)"})
    mcr = _nested(McrSchema)
    overrides = _nested(OverridesSchema)
    stress_scenarios = fields.List(fields.Nested(StressSchema), load_default=list,
                                   validate=validate.Length(max=50))
    shard_size = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1))

    @marshmallow.validates("stress_scenarios")
    def _unique(self, value, **kwargs):
        names = [s.get("name") for s in value if isinstance(s, dict)]
        if len(set(names)) != len(names):
            raise marshmallow.ValidationError("stress scenario names must be unique")


# ---------------------------------------------------------------------- plan / run


def prepare(params: dict, resources: Resources, inline_items: pd.DataFrame | None) -> dict:
    """Pin referenced assumptions and check inline ages, exactly as the ``bel`` kind does."""
    return bel_prepare(params, resources, inline_items)


def plan(ctx: PlanContext) -> list[dict]:
    return shard_ranges(ctx.n_items, ctx.params.get("shard_size") or ctx.default_shard_size)


def life_shocks_from_params(params: dict) -> LifeShocks:
    o = params["overrides"]
    return LifeShocks(mortality=o["mortality_shock"], longevity=o["longevity_shock"], expense=o["expense_shock"],
                      expense_inflation=o["inflation_shock"], lapse_up=o["lapse_up_shock"],
                      lapse_down=o["lapse_down_shock"], lapse_down_max_drop=o["lapse_down_max_drop"],
                      mass_lapse=o["mass_lapse"], catastrophe=o["catastrophe_shock"],
                      interest_up_min=o["interest_up_min"], interest_up_scale=o["interest_up_scale"],
                      interest_down_scale=o["interest_down_scale"])


def _policies(df: pd.DataFrame) -> dict:
    return {k: df[k].to_numpy() for k in ("policy_id", "issue_age", "policy_term_years", "policy_count",
                                           "sum_assured", "duration_months", "monthly_premium")}


def _add_fixed(acc: dict, key: str, parts: list[int]) -> None:
    cur = acc.setdefault(key, [0, 0])
    cur[0] += parts[0]
    cur[1] += parts[1]


def _add_fixed_rows(acc: dict, key: str, rows: np.ndarray) -> None:
    cur = acc.setdefault(key, [])
    for y, (hi, lo) in enumerate(rows.tolist()):
        if y == len(cur):
            cur.append([0, 0])
        cur[y][0] += int(hi)
        cur[y][1] += int(lo)


def run_shard(ctx: ShardContext) -> ShardOutput:
    params = ctx.params
    a = assumptions_from_params(params)
    shocks = life_shocks_from_params(params)
    start, stop = int(ctx.spec["start"]), int(ctx.spec["stop"])
    frames, sums, runoff = [], {}, {}
    df_year_end: list[float] = []
    for lo in range(start, stop, CHUNK_ROWS):
        if ctx.cancelled():
            break
        items = ctx.load_items(lo, min(stop, lo + CHUNK_ROWS))
        pol = _policies(items)
        bad = check_ages_in_table(pol, a)
        if bad:
            raise InputError("policies reach ages outside the mortality table",
                             {f"policy {p}": [f"attained age outside {a.min_age}..{a.max_age}"] for p in bad[:20]})
        res = shocked_bels(pol, a, shocks)
        frames.append(pd.DataFrame({"policy_id": items["policy_id"].to_numpy(dtype=object),
                                    **{c: res[c] for c in BEL_COLUMNS}}))
        bel = res["bel"]
        in_force = 12 * pol["policy_term_years"] - pol["duration_months"] > 0
        count = pol["policy_count"].astype(np.float64)
        for k in ("bel", "pv_premiums", "pv_claims", "pv_expenses", "pv_commissions"):
            _add_fixed(sums, k, fixed_sum(res[k]))
        _add_fixed(sums, "mass_lapse_base", fixed_sum(np.maximum(0.0, -bel)))
        _add_fixed(sums, "premiums_annual", fixed_sum(np.where(in_force, 12.0 * pol["monthly_premium"] * count, 0.0)))
        _add_fixed(sums, "capital_at_risk",
                   fixed_sum(np.where(in_force, np.maximum(0.0, pol["sum_assured"] * count - bel), 0.0)))
        for s in SELECTED:
            _add_fixed(sums, f"d_{s}", fixed_sum(np.maximum(0.0, res[f"bel_{s}"] - bel)))
        for s in PORTFOLIO:
            _add_fixed(sums, f"d_{s}", fixed_sum(res[f"bel_{s}"] - bel))
        _add_fixed_rows(runoff, "net", res["runoff_fixed"])
        _add_fixed_rows(runoff, "claims", res["runoff_claims_fixed"])
        if len(res["df_year_end"]) > len(df_year_end):
            df_year_end = [float(x) for x in res["df_year_end"]]
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        {c: pd.Series(dtype=object if c == "policy_id" else np.float64) for c in RESULT_TABLE.column_names})
    partial = {"n_policies": int(sum(len(f) for f in frames)), "sums": sums, "runoff": runoff,
               "df_year_end": df_year_end}
    return ShardOutput(rows=rows[RESULT_TABLE.column_names], partial=partial)


# ------------------------------------------------------------------------ finalize


def combine_partials(partials: list[dict]) -> dict:
    """Exact totals over all shards (independent of the shard layout)."""
    sums = {k: [0, 0] for k in SUMS}
    runoff: dict[str, list[list[int]]] = {"net": [], "claims": []}
    df_year_end: list[float] = []
    n = 0
    for p in partials:
        n += int(p.get("n_policies", 0))
        for k, (hi, lo) in p.get("sums", {}).items():
            sums[k][0] += int(hi)
            sums[k][1] += int(lo)
        for key in runoff:
            for y, (hi, lo) in enumerate(p.get("runoff", {}).get(key, [])):
                if y == len(runoff[key]):
                    runoff[key].append([0, 0])
                runoff[key][y][0] += int(hi)
                runoff[key][y][1] += int(lo)
        if len(p.get("df_year_end", [])) > len(df_year_end):
            df_year_end = list(p["df_year_end"])
    return {"n_policies": n, "sums": {k: fixed_to_float(v) for k, v in sums.items()},
            "runoff": {k: [fixed_to_float(v) for v in rows] for k, rows in runoff.items()},
            "df_year_end": df_year_end}


def _runoff_at_year_start(pv0_by_year: list[float], df_year_end: list[float]) -> np.ndarray:
    """Value at the start of each year y of the flows of years >= y (from PVs at time 0 by year)."""
    n = len(pv0_by_year)
    tails = [math.fsum(pv0_by_year[y:]) for y in range(n)]
    df_start = [1.0] + list(df_year_end[:n - 1])
    return np.array([t / d for t, d in zip(tails, df_start)], dtype=np.float64)


def _merge(base: dict, stress: dict) -> dict:
    cfg = copy.deepcopy(base)
    for key in ("own_funds", "default", "health", "non_life", "adjustments", "cost_of_capital"):
        if stress.get(key) is not None:
            cfg[key] = stress[key]
    for key in ("market", "operational", "mcr"):
        cfg[key] = dict(cfg[key], **(stress.get(key) or {}))
    return cfg


def solvency_position(totals: dict, params: dict, *, bel_delta: float = 0.0, own_funds_delta: float = 0.0,
                      life_scale: dict | None = None, life_values: dict | None = None) -> dict:
    """The whole standard-formula result from exact totals and finalize-level params."""
    s = totals["sums"]
    o = params["overrides"]
    m = params["market"]
    bel = s["bel"] + bel_delta
    mass = o["mass_lapse"] * s["mass_lapse_base"]
    life = {
        "mortality": s["d_mortality"], "longevity": s["d_longevity"], "disability": o["disability"],
        "expense": max(0.0, s["d_expense"]), "revision": o["revision"],
        "lapse_up": s["d_lapse_up"], "lapse_down": s["d_lapse_down"], "lapse_mass": mass,
        "catastrophe": max(0.0, s["d_catastrophe"]),
    }
    life["lapse"] = max(life["lapse_up"], life["lapse_down"], life["lapse_mass"])
    life["lapse_binding"] = max(("up", life["lapse_up"]), ("down", life["lapse_down"]),
                                ("mass", life["lapse_mass"]), key=lambda kv: kv[1])[0]
    for k, f in (life_scale or {}).items():
        life[k] *= f
    for k, v in (life_values or {}).items():
        life[k] = v
    c_life = o["correlation_life"] or agg.LIFE_CORRELATION
    life_node = agg.aggregate_node("life", life, agg.LIFE_ORDER, c_life)
    life.update(scr_life=life_node.value, diversification=life_node.diversification)

    equity = sf.scr_equity(m["equity_type1"], m["equity_type2"], shock_type1=o["equity_type1_shock"],
                           shock_type2=o["equity_type2_shock"], symmetric_adjustment=m["symmetric_adjustment"])
    sub = {"equity": equity, "property": sf.scr_property(m["property"], o["property_shock"]),
           "spread": m["spread"], "concentration": m["concentration"],
           "currency": sf.scr_currency(m["currency"], o["currency_shock"])}
    ir_up = max(0.0, s["d_interest_up"] + m["assets_loss_interest_up"])
    ir_down = max(0.0, s["d_interest_down"] + m["assets_loss_interest_down"])
    market_node, binding = sf.scr_market(sub, ir_up, ir_down, o["correlation_market_up"], o["correlation_market_down"])
    market = dict(sub, interest_up=ir_up, interest_down=ir_down,
                  interest=ir_up if binding == "up" else ir_down, interest_binding=binding,
                  scr_market=market_node.value, diversification=market_node.diversification)

    bscr_node = agg.aggregate_node("bscr", {"market": market_node.value, "default": params["default"],
                                            "life": life_node.value, "health": params["health"],
                                            "non_life": params["non_life"]},
                                   agg.BSCR_ORDER, o["correlation_bscr"] or agg.BSCR_CORRELATION)
    bscr_node.children[0] = market_node
    bscr_node.children[2] = life_node
    bscr = bscr_node.value
    op_p = params["operational"]
    premiums = op_p["premiums"] if op_p["premiums"] is not None else s["premiums_annual"]
    provisions = op_p["provisions"] if op_p["provisions"] is not None else bel
    op = sf.scr_operational(bscr, premiums, provisions, op_p["expenses_unit_linked"], cap=o["operational_cap"])
    scr = bscr + op - params["adjustments"]

    # risk margin: SCR(t) in proportion to the run-off of the BEL (or of the claims)
    driver = params["risk_margin_driver"]
    df_ye = totals["df_year_end"]
    net = _runoff_at_year_start(totals["runoff"]["net"], df_ye) if totals["runoff"]["net"] else np.zeros(0)
    if driver == "bel" and not (net.size and net[0] > 0.0):
        driver = "claims"
    runoff = net if driver == "bel" else (
        _runoff_at_year_start(totals["runoff"]["claims"], df_ye) if totals["runoff"]["claims"] else np.zeros(0))
    scr_rm = scr
    if params["risk_margin_scope"] == "reference_undertaking":
        # Art. 38: the reference undertaking holds no avoidable market risk
        bscr_ru = agg.aggregate([0.0, params["default"], life_node.value, params["health"], params["non_life"]],
                                o["correlation_bscr"] or agg.BSCR_CORRELATION)
        scr_rm = bscr_ru + op - params["adjustments"]
    if runoff.size and runoff[0] > 0.0 and scr_rm > 0.0:
        rm = sf.risk_margin(scr_rm, runoff, np.asarray(df_ye[:runoff.size]), params["cost_of_capital"])
    else:
        rm = {"risk_margin": 0.0, "scr_projection": []}
    tp = bel + rm["risk_margin"]

    mp = params["mcr"]
    linear = mp["linear"] if mp["linear"] is not None else sf.mcr_linear_life(bel, s["capital_at_risk"])
    mcr = sf.mcr(scr, linear, mp["floor"], corridor_low=mp["corridor_low"], corridor_high=mp["corridor_high"])
    own_funds = None if params["own_funds"] is None else params["own_funds"] + own_funds_delta - bel_delta

    tree = agg.Node("scr", scr, [bscr_node, agg.Node("operational", op), agg.Node("adjustments", -params["adjustments"])])
    return {
        "bel": bel, "life": life, "market": market, "default": float(params["default"]),
        "health": float(params["health"]), "non_life": float(params["non_life"]),
        "bscr": bscr, "bscr_diversification": bscr_node.diversification, "operational": op,
        "adjustments": float(params["adjustments"]), "scr": scr,
        "risk_margin": rm["risk_margin"], "risk_margin_driver": driver, "scr_projection": rm["scr_projection"],
        "technical_provisions": tp, "own_funds": own_funds,
        "solvency_ratio": (own_funds / scr) if own_funds is not None and scr > 0 else None,
        "mcr": mcr["mcr"], "mcr_detail": mcr,
        "mcr_ratio": (own_funds / mcr["mcr"]) if own_funds is not None and mcr["mcr"] > 0 else None,
        "tree": tree.to_dict(),
    }




def finalize(ctx: FinalizeContext) -> dict:
    params = ctx.params
    totals = combine_partials(ctx.partials)
    result = solvency_position(totals, params)
    stress = []
    for sc in params.get("stress_scenarios") or []:
        cfg = _merge(params, sc)
        out = solvency_position(totals, cfg, bel_delta=sc.get("bel_delta", 0.0),
                                own_funds_delta=sc.get("own_funds_delta", 0.0),
                                life_scale=sc.get("life_scale"), life_values=sc.get("life"))
        out["name"] = sc["name"]
        stress.append(out)
    result.update(n_policies=totals["n_policies"],
                  pv={k: totals["sums"][k] for k in ("pv_premiums", "pv_claims", "pv_expenses", "pv_commissions")},
                  bel_runoff=[float(x) for x in _runoff_at_year_start(totals["runoff"]["net"], totals["df_year_end"])]
                  if totals["runoff"]["net"] else [],
                  stress=stress, parameters=params, engine_version=ENGINE_VERSION)
    return json_safe(result)


KIND = register(JobKind(
    name="scr",
    engine_version=ENGINE_VERSION,
    params_schema=ScrParamsSchema,
    plan=plan,
    run_shard=run_shard,
    finalize=finalize,
    input_kind="policies",
    input_required=True,
    result_table=RESULT_TABLE,
    prepare=prepare,
    description="Solvency II standard-formula SCR, risk margin, MCR and solvency ratio of a term portfolio.",
))
