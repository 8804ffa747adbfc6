"""Job kind ``ifrs17``: IFRS 17 measurement of a term portfolio (specs/solvency_ifrs17.md B).

Sharding: shards take ranges of policies. Each shard classifies its policies at
initial recognition (a projection from issue on the cohort's locked-in curve),
assigns them to groups ``product | cohort | profitability`` (plus ``| PAA`` for
contracts with a coverage period of at most one year) and returns, per group,
the expected monthly cash flows of its in-force policies and of its new
business (``duration_months == 0``) as exact fixed-point sums, plus one row per
policy. Finalize adds the group vectors exactly (so the result does not depend
on the split) and measures every group: risk adjustment from a seeded
simulation on the group cash flows, GMM (CSM roll-forward over the reporting
period = the 12 months after the valuation date) or PAA, movement table, totals.

Simplifications (documented in the result's ``notes``):
* the valuation date is 1 January of ``valuation_year``; a policy without
  ``issue_year`` belongs to cohort ``valuation_year - ceil(duration_months / 12)``;
* opening CSM / loss component of in-force groups: ``params.opening[group]`` when
  given (e.g. the previous closing), else the FCF-based transition value
  ``max(0, -FCF)`` / ``max(0, FCF)`` at the valuation date on the locked-in curve;
* experience in the period is as expected; ``assumption_changes`` give the
  changes in estimates for future service (measured on the flows after the period);
* claims are paid when incurred (life.md A), so the LIC is 0; acquisition cash
  flows of GMM groups are part of the fulfilment cash flows and of revenue.
"""
from __future__ import annotations

import math

import marshmallow
import numpy as np
import pandas as pd
from marshmallow import fields, validate

from workers.engines import ifrs17 as engine
from workers.engines.life.cashflow import check_ages_in_table
from workers.kinds.base import (Column, json_safe, FinalizeContext, InputError, JobKind, PlanContext, Resources, ResultTable,
                                ShardContext, ShardOutput, shard_ranges)
from workers.kinds.bel import BelParamsSchema, assumptions_from_params
from workers.kinds.bel import prepare as bel_prepare
from workers.kinds.registry import register

ENGINE_VERSION = "ifrs17-1.0.0"
CHUNK_ROWS = 50_000
DEFAULT_SEED = 17
RESULT_TABLE = ResultTable("ifrs17_results", (
    Column("policy_id", "text"), Column("group_key", "text"), Column("cohort", "int4"),
    Column("profitability", "text"), Column("measurement_model", "text"),
    Column("fcf_inception", "float8"), Column("pv_premiums_inception", "float8"),
))
NUMERIC_OUT = ("bel", "ra", "csm", "loss_component", "lrc", "lic", "revenue", "service_expenses", "service_result",
               "finance_expense")


def _f(**kw) -> fields.Float:
    return fields.Float(allow_nan=False, **kw)


_NONNEG = validate.Range(min=0)
_UNIT = validate.Range(min=0, max=1)


class RaSchema(marshmallow.Schema):
    method = fields.String(load_default="confidence_level", validate=validate.OneOf(["confidence_level",
                                                                                     "cost_of_capital"]))
    confidence_level = _f(load_default=0.75, validate=validate.Range(min=0.5, max=0.9999))
    cost_of_capital = _f(load_default=0.06, validate=_NONNEG)
    capital_level = _f(load_default=0.995, validate=validate.Range(min=0.5, max=0.9999))
    n_sims = fields.Integer(load_default=10_000, validate=validate.Range(min=100, max=200_000))
    mortality_sd = _f(load_default=0.10, validate=validate.Range(min=0, max=2))


class ProfitabilitySchema(marshmallow.Schema):
    margin = _f(load_default=0.10, validate=_NONNEG,
                metadata={"description": "no significant risk when -FCF >= margin x PV premiums"})
    ra_loading = _f(load_default=0.05, validate=_NONNEG,
                    metadata={"description": "RA used for the per-contract test, x PV claims"})


class ChangesSchema(marshmallow.Schema):
    q_multiplier = _f(load_default=1.0, validate=_NONNEG)
    lapse_multiplier = _f(load_default=1.0, validate=_NONNEG)
    expense_multiplier = _f(load_default=1.0, validate=_NONNEG)


class OpeningSchema(marshmallow.Schema):
    csm = _f(load_default=0.0, validate=_NONNEG)
    loss_component = _f(load_default=0.0, validate=_NONNEG)


class PaaSchema(marshmallow.Schema):
    enabled = fields.Boolean(load_default=True)
    defer_acquisition = fields.Boolean(load_default=False)


def _nested(schema):
    return fields.Nested(schema, load_default=lambda: schema().load({}))


class Ifrs17ParamsSchema(BelParamsSchema):
    """Parameters of an ``ifrs17`` job (term_monthly best-estimate basis plus IFRS 17 choices)."""

    model = fields.String(load_default="term_monthly", validate=validate.OneOf(["term_monthly"]))
    locked_in_curves = fields.Dict(keys=fields.String(validate=validate.Regexp(r"^\d{4}$")),
                                   values=fields.List(_f(validate=validate.Range(min=-0.5, max=1)),
                                                      validate=validate.Length(min=1)),
                                   load_default=dict, metadata={"description": "cohort -> curve at initial recognition"})
    valuation_year = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1900, max=2200))
    ra = _nested(RaSchema)
    profitability = _nested(ProfitabilitySchema)
    assumption_changes = _nested(ChangesSchema)
    opening = fields.Dict(keys=fields.String(), values=fields.Nested(OpeningSchema), load_default=dict)
    paa = _nested(PaaSchema)
    shard_size = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1))


def prepare(params: dict, resources: Resources, inline_items: pd.DataFrame | None) -> dict:
    """Pin referenced assumptions and check inline ages, exactly as the ``bel`` kind does."""
    return bel_prepare(params, resources, inline_items)


def plan(ctx: PlanContext) -> list[dict]:
    return shard_ranges(ctx.n_items, ctx.params.get("shard_size") or ctx.default_shard_size)


# ---------------------------------------------------------------------- shards


def _current_curve(params: dict) -> list[float]:
    """The valuation-date curve (inline list, or the pinned ``{"assumption_id", "rates"}``)."""
    value = params["discount_spot_annual"]
    return value["rates"] if isinstance(value, dict) else value


def _df_mth(curve, n_months: int) -> np.ndarray:
    r = np.asarray(curve, dtype=np.float64)
    t = np.arange(n_months)
    return (1.0 + r[np.minimum(t // 12, r.size - 1)]) ** (-t / 12.0)


def _cohorts(items: pd.DataFrame, valuation_year: int | None) -> np.ndarray:
    iy = items["issue_year"].to_numpy(dtype=np.float64)
    missing = np.isnan(iy)
    if missing.any():
        if valuation_year is None:
            first = items["policy_id"].iloc[int(np.flatnonzero(missing)[0])]
            raise InputError("issue_year missing and no params.valuation_year to derive the cohort",
                             {f"policy {first}": ["issue_year is empty"], "params.valuation_year": ["required"]})
        dm = items["duration_months"].to_numpy(dtype=np.int64)
        iy = np.where(missing, valuation_year - (dm + 11) // 12, iy)
    return iy.astype(np.int64)


def _is_neutral(changes: dict) -> bool:
    return all(changes[k] == 1.0 for k in ("q_multiplier", "lapse_multiplier", "expense_multiplier"))


def _trim(acc: np.ndarray) -> list:
    """Month rows up to the last non-zero one, as JSON ints ``[[hi, lo] x streams] x months``."""
    nz = np.flatnonzero(np.any(acc != 0, axis=(1, 2)))
    return acc[: (nz[-1] + 1) if nz.size else 0].tolist()


def run_shard(ctx: ShardContext) -> ShardOutput:
    params = ctx.params
    a = assumptions_from_params(params)
    start, stop = int(ctx.spec["start"]), int(ctx.spec["stop"])
    curves = {"current": _current_curve(params), **params["locked_in_curves"]}
    curve_names = list(curves)
    frames, groups = [], {}
    for lo in range(start, stop, CHUNK_ROWS):
        if ctx.cancelled():
            break
        items = ctx.load_items(lo, min(stop, lo + CHUNK_ROWS))
        pol = {k: items[k].to_numpy() for k in ("policy_id", "issue_age", "policy_term_years", "policy_count",
                                                 "sum_assured", "duration_months", "monthly_premium")}
        bad = check_ages_in_table(pol, a)
        if bad:
            raise InputError("policies reach ages outside the mortality table",
                             {f"policy {p}": [f"attained age outside {a.min_age}..{a.max_age}"] for p in bad[:20]})
        n = len(items)
        cohort = _cohorts(items, params.get("valuation_year"))
        curve_idx = np.array([curve_names.index(str(c)) if str(c) in curves else 0 for c in cohort], dtype=np.int64)
        n_months = int(max(1, (12 * pol["policy_term_years"] + 1).max(initial=1)))
        df_all = np.stack([_df_mth(curves[c], n_months) for c in curve_names])
        _, pv0 = engine.group_flows_mth(pol, a, np.zeros(n, dtype=np.int64), 1, df_all, curve_idx, from_inception=True)
        fcf0 = pv0[:, 1] - pv0[:, 0] + params["profitability"]["ra_loading"] * pv0[:, 2]
        prof = engine.profitability_class(fcf0, pv0[:, 0], params["profitability"]["margin"])
        paa = params["paa"]["enabled"] & (pol["policy_term_years"] <= 1)
        model = np.where(paa, "PAA", "GMM")
        product = items["product"].astype(str).str.replace("|", "/", regex=False).to_numpy(dtype=object)
        keys = np.array([f"{p}|{c}|{q}" + ("|PAA" if m == "PAA" else "") for p, c, q, m in
                         zip(product, cohort, prof, model)], dtype=object)
        uniq, gidx = np.unique(keys.astype(str), return_inverse=True)
        is_nb = (pol["duration_months"] == 0).astype(np.int64)
        slot = 2 * gidx + is_nb
        n_slots = 2 * len(uniq)
        # in-force flows are discounted per group in finalize; the kernel PVs here are unused
        acc, _ = engine.group_flows_mth(pol, a, slot, n_slots, df_all, curve_idx)
        acc_ch = None
        if not _is_neutral(params["assumption_changes"]):
            ch = params["assumption_changes"]
            acc_ch, _ = engine.group_flows_mth(pol, a, slot, n_slots, df_all, curve_idx,
                                               q_multiplier=ch["q_multiplier"], lapse_multiplier=ch["lapse_multiplier"],
                                               expense_multiplier=ch["expense_multiplier"])
        for g, key in enumerate(uniq.tolist()):
            entry = groups.setdefault(key, {"n_policies": 0, "parts": []})
            entry["n_policies"] += int((gidx == g).sum())
            part = {"inforce": _trim(acc[2 * g]), "new_business": _trim(acc[2 * g + 1])}
            if acc_ch is not None:
                part["inforce_changed"] = _trim(acc_ch[2 * g])
                part["new_business_changed"] = _trim(acc_ch[2 * g + 1])
            entry["parts"].append(part)
        frames.append(pd.DataFrame({
            "policy_id": items["policy_id"].to_numpy(dtype=object), "group_key": keys, "cohort": cohort.astype(np.int32),
            "profitability": prof, "measurement_model": model.astype(object),
            "fcf_inception": fcf0, "pv_premiums_inception": pv0[:, 0]}))
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        {c.name: pd.Series(dtype=object if c.sql_type == "text" else (np.int32 if c.sql_type == "int4" else np.float64))
         for c in RESULT_TABLE.columns})
    return ShardOutput(rows=rows[RESULT_TABLE.column_names], partial={"groups": groups})


# ---------------------------------------------------------------------- finalize


def _sum_parts(parts: list[list]) -> np.ndarray:
    """Exact sum of trimmed fixed-point month tables -> float array (L, streams).

    The integer parts and the 2^-32 units are added as int64 (far from overflow for
    money amounts), then combined once per cell with exact integer arithmetic.
    """
    n = max((len(p) for p in parts), default=0)
    acc = np.zeros((n, len(engine.FLOW_STREAMS), 2), dtype=np.int64)
    for p in parts:
        if p:
            acc[: len(p)] += np.asarray(p, dtype=np.int64)
    return engine.fixed_to_float_array(acc) if n else np.zeros((0, len(engine.FLOW_STREAMS)))


def _pad(x: np.ndarray, n: int) -> np.ndarray:
    return np.vstack([x, np.zeros((n - len(x), len(engine.FLOW_STREAMS)))]) if len(x) < n else x


class _Flows:
    def __init__(self, m: np.ndarray):
        s = {k: m[:, i] for i, k in enumerate(engine.FLOW_STREAMS)}
        self.premiums, self.claims, self.deaths, self.cu = s["premiums"], s["claims"], s["deaths"], s["coverage_units"]
        self.expenses, self.commissions = s["expenses"], s["commissions"]
        self.outflows = self.claims + self.expenses + self.commissions
        self.net_out = self.outflows - self.premiums


def _ra(flows: _Flows, df, ra_p: dict, rng_seed, starts=(0, 12)) -> tuple[dict, dict]:
    """RA at each start month and the implied confidence level (same draws for every start)."""
    rng = np.random.default_rng(rng_seed)
    sims = engine.simulate_pv_claims(flows.deaths, flows.claims, df, rng, n_sims=ra_p["n_sims"],
                                     mortality_sd=ra_p["mortality_sd"], start_months=starts)
    ra, level = {}, {}
    for s in starts:
        if ra_p["method"] == "confidence_level":
            ra[s] = engine.ra_confidence_level(sims[s], ra_p["confidence_level"])
        else:
            capital0 = engine.ra_confidence_level(sims[s], ra_p["capital_level"])
            n_years = max(0, (len(flows.claims) - s + 11) // 12)
            runoff = [engine.pv_from(flows.claims, df, s + 12 * y) for y in range(n_years)]
            d_end = [(df[s + 12 * (y + 1)] / df[s]) if s + 12 * (y + 1) < len(df) else df[-1] / df[s]
                     for y in range(n_years)]
            ra[s] = engine.ra_cost_of_capital(capital0, runoff, d_end, ra_p["cost_of_capital"])
        level[s] = engine.implied_confidence_level(sims[s], ra[s])
    return ra, level


def measure_group(key: str, f_if: np.ndarray, f_nb: np.ndarray, f_if_ch, f_nb_ch, params: dict, seed: int,
                  group_no: int) -> dict:
    """IFRS 17 measurement of one group for the reporting period (12 months after the valuation date)."""
    cohort = key.split("|")[1]
    n = max(len(f_if), len(f_nb), 13, len(f_if_ch) if f_if_ch is not None else 0,
            len(f_nb_ch) if f_nb_ch is not None else 0)
    df_cur = _df_mth(_current_curve(params), n + 1)
    df_lock = _df_mth(params["locked_in_curves"].get(cohort, _current_curve(params)), n + 1)
    fi, fn = _Flows(_pad(f_if, n)), _Flows(_pad(f_nb, n))
    tot = _Flows(_pad(f_if, n) + _pad(f_nb, n))
    changed = f_if_ch is not None
    tot_ch = _Flows(_pad(f_if_ch, n) + _pad(f_nb_ch, n)) if changed else tot
    ra_p = params["ra"]
    seq = lambda part: np.random.SeedSequence([seed, group_no, part])  # noqa: E731
    ra_if, lvl_if = _ra(fi, df_cur, ra_p, seq(0), (0,))
    ra_nb, _ = _ra(fn, df_cur, ra_p, seq(1), (0,))
    ra_tot, lvl_tot = _ra(tot, df_cur, ra_p, seq(2), (12,))
    ra_close_exp = ra_tot[12]
    ra_close = _ra(tot_ch, df_cur, ra_p, seq(2), (12,))[0][12] if changed else ra_close_exp
    pv = lambda x, df, s=0: engine.pv_from(x, df, s)  # noqa: E731
    bel_if, bel_nb = pv(fi.net_out, df_cur), pv(fn.net_out, df_cur)
    bel_close_exp, bel_close = pv(tot.net_out, df_cur, 12), pv(tot_ch.net_out, df_cur, 12)
    in_period = slice(0, 12)
    cash = -math.fsum(tot.net_out[in_period].tolist())  # premiums received - claims, expenses, commissions paid
    claims_p = math.fsum(tot.claims[in_period].tolist())
    exp_p = math.fsum(tot.expenses[in_period].tolist())
    comm_p = math.fsum(tot.commissions[in_period].tolist())
    prem_p = math.fsum(tot.premiums[in_period].tolist())
    bel_mv = {"opening": bel_if, "new_business": bel_nb, "cash_flows": cash,
              "interest": bel_close_exp - bel_if - bel_nb - cash, "changes_in_estimates": bel_close - bel_close_exp,
              "closing": bel_close}
    ra_unwind = (ra_if[0] + ra_nb[0]) * (1.0 / df_cur[12] - 1.0)
    ra_mv = {"opening": ra_if[0], "new_business": ra_nb[0], "interest": ra_unwind,
             "release": ra_close_exp - ra_if[0] - ra_nb[0] - ra_unwind,
             "changes_in_estimates": ra_close - ra_close_exp, "closing": ra_close}
    out = {"group": key, "cohort": int(cohort), "profitability": key.split("|")[2],
           "ra_confidence_level_implied": lvl_tot[12] if lvl_tot else None}
    if key.endswith("|PAA"):
        out["measurement_model"] = "PAA"
        defer = params["paa"]["defer_acquisition"]
        acq_paid = comm_p if defer else 0.0
        rev_after = math.fsum(tot.premiums[12:].tolist())
        amort = acq_paid * prem_p / (prem_p + rev_after) if prem_p + rev_after > 0 else acq_paid
        lrc = engine.paa_lrc(0.0, prem_p, prem_p, acq_paid, amort)
        lc = engine.paa_loss_component(bel_if + bel_nb + ra_if[0] + ra_nb[0], lrc["opening"])
        service_exp = claims_p + exp_p + (amort if defer else comm_p) + lc
        out.update(bel=bel_close, ra=ra_close, csm=0.0, loss_component=lc, lrc=lrc["closing"] + lc, lic=0.0,
                   revenue=prem_p, service_expenses=service_exp, service_result=prem_p - service_exp,
                   finance_expense=0.0, movements={"lrc": lrc, "bel": bel_mv, "ra": ra_mv})
        return out
    out["measurement_model"] = "GMM"
    opening = params["opening"].get(key)
    if opening is not None:
        csm_open, lc_open = opening["csm"], opening["loss_component"]
        opening_basis = "params"
    else:
        ir_if = engine.initial_recognition(pv(fi.outflows, df_lock), pv(fi.premiums, df_lock), ra_if[0])
        csm_open, lc_open = ir_if["csm"], ir_if["loss_component"]
        opening_basis = "fcf_transition" if len(f_if) else "none"
    ir_nb = engine.initial_recognition(pv(fn.outflows, df_lock), pv(fn.premiums, df_lock), ra_nb[0])
    change = 0.0
    if changed:  # future-service change at locked-in rates (B96(b))
        change = (pv(tot_ch.net_out, df_lock, 12) + ra_close) - (pv(tot.net_out, df_lock, 12) + ra_close_exp)
    roll = engine.csm_rollforward(csm_open, ir_nb["csm"], 1.0 / df_lock[12] - 1.0, change,
                                  math.fsum(tot.cu[:12].tolist()), math.fsum(tot.cu[12:].tolist()),
                                  opening_lc=lc_open, new_business_lc=ir_nb["loss_component"])
    ra_release = -ra_mv["release"]
    revenue = claims_p + exp_p + comm_p + ra_release - roll["release"]
    losses = roll["lc_new_business"] + roll["lc_increase"] + roll["lc_reversal"]
    service_exp = claims_p + exp_p + comm_p + losses
    lrc = bel_close + ra_close + roll["closing"]
    out.update(bel=bel_close, ra=ra_close, csm=roll["closing"], loss_component=roll["lc_closing"], lrc=lrc, lic=0.0,
               revenue=revenue, service_expenses=service_exp, service_result=revenue - service_exp,
               finance_expense=bel_mv["interest"] + ra_unwind + roll["interest_accretion"], opening_basis=opening_basis,
               initial_recognition_new_business=ir_nb,
               movements={"bel": bel_mv, "ra": ra_mv,
                          "csm": {k: roll[k] for k in ("opening", "new_business", "interest_accretion",
                                                       "changes_in_estimates", "release", "closing")},
                          "loss_component": {"opening": roll["lc_opening"], "new_business": roll["lc_new_business"],
                                             "increase": roll["lc_increase"], "reversal": roll["lc_reversal"],
                                             "closing": roll["lc_closing"]}})
    return out




def finalize(ctx: FinalizeContext) -> dict:
    params = ctx.params
    seed = DEFAULT_SEED if ctx.seed is None else int(ctx.seed)
    merged: dict[str, dict] = {}
    for p in ctx.partials:
        for key, entry in p.get("groups", {}).items():
            m = merged.setdefault(key, {"n_policies": 0, "parts": []})
            m["n_policies"] += entry["n_policies"]
            m["parts"].extend(entry["parts"])
    groups = []
    for g, key in enumerate(sorted(merged)):
        parts = merged[key]["parts"]
        f = {k: _sum_parts([p[k] for p in parts if k in p]) for k in ("inforce", "new_business")}
        ch = None
        if "inforce_changed" in parts[0]:
            ch = {k: _sum_parts([p[k] for p in parts]) for k in ("inforce_changed", "new_business_changed")}
        res = measure_group(key, f["inforce"], f["new_business"], ch and ch["inforce_changed"],
                            ch and ch["new_business_changed"], params, seed, g)
        res["n_policies"] = merged[key]["n_policies"]
        groups.append(res)
    totals = {k: math.fsum(g[k] for g in groups) for k in NUMERIC_OUT}
    movement_rows = {}
    for g in groups:
        for table, mv in g["movements"].items():
            acc = movement_rows.setdefault(table, {})
            for line, v in mv.items():
                acc.setdefault(line, []).append(v)
    totals["movements"] = {t: {line: math.fsum(v) for line, v in lines.items()} for t, lines in movement_rows.items()}
    totals["n_groups"] = len(groups)
    totals["n_policies"] = sum(g["n_policies"] for g in groups)
    return json_safe({"groups": groups, "totals": totals, "seed_used": seed, "parameters": params,
                   "engine_version": ENGINE_VERSION,
                   "notes": ["reporting period: the 12 months after the valuation date; experience as expected",
                             "opening CSM of in-force groups: params.opening, else the FCF-based transition value",
                             "RA simulates deaths (Poisson around a lognormal mortality level); LIC is 0"]})


KIND = register(JobKind(
    name="ifrs17",
    engine_version=ENGINE_VERSION,
    params_schema=Ifrs17ParamsSchema,
    plan=plan,
    run_shard=run_shard,
    finalize=finalize,
    input_kind="policies",
    input_required=True,
    result_table=RESULT_TABLE,
    prepare=prepare,
    description="IFRS 17 GMM/PAA measurement of a term portfolio: groups, RA, CSM roll-forward, movement table.",
))
