"""Job kind ``bel``: best-estimate liability of a life policy portfolio (specs/life.md A, B, D).

``model: "term_monthly"`` projects each policy monthly with
:mod:`workers.engines.life.cashflow` on the job's assumptions; every assumption has a
default (lifelib's basiclife sample basis, see :mod:`workers.engines.life.assumptions`)
that the job records in its params. ``model: "classical"`` values each policy's net
premium prospective reserve with :func:`workers.engines.life.classical.classical_bel` on the
ultimate column of the mortality table and a flat ``interest``.

References are pinned at submission by :func:`prepare`: ``mortality: {"basis_id"}`` (a
``mortality_basis`` resource) and ``{"assumption_id"}`` for ``lapse_by_policy_year``
(``lapse``) and ``discount_spot_annual`` (``discount_curve``) are replaced by their content
plus the resource id, version and sha256, so shards never need the database.

Each shard returns one row per policy and a partial of *exact* sums
(:class:`~workers.engines.life.cashflow.ExactSum`): totals, the yearly aggregate cash
flows and in-force run-off, and BEL by product, sex and issue-year cohort. ``finalize``
adds the exact sums and rounds once, so the summary does not depend on the shard split.
"""
from __future__ import annotations

import marshmallow
import numpy as np
import pandas as pd
from marshmallow import fields, validate

from workers.engines.life import assumptions as life_assumptions
from workers.engines.life.cashflow import YEARLY_STREAMS, ExactSum, check_ages_in_table, exact_sums, project_term_monthly
from workers.kinds.base import (
    Column, FinalizeContext, InputError, JobKind, PlanContext, ResultTable, Resources, ShardContext, ShardOutput,
    shard_ranges,
)
from workers.kinds.registry import register

ENGINE_VERSION = "bel-1.0.0"
MAX_INLINE_ITEMS = 10_000
# Rows held in memory by one shard (the engine itself needs O(rows) memory).
MAX_SHARD_SIZE = 50_000
MODELS = ("term_monthly", "classical")
PV_COLUMNS = ("pv_premiums", "pv_claims", "pv_expenses", "pv_commissions", "pv_net_cf", "bel")
CASHFLOW_STREAMS = ("premiums", "claims", "expenses", "commissions", "net_cf")
RUNOFF_STREAMS = ("inforce_start", "new_business", "deaths", "lapses", "maturities")
GROUPINGS = (("by_product", "product"), ("by_sex", "sex"), ("by_issue_year", "issue_year"))
UNKNOWN = "unknown"
# Breakdowns with more distinct values than this are reported as null.
MAX_GROUPS = 1000

RESULT_TABLE = ResultTable(
    name="bel_results",
    columns=(
        Column("policy_id", "text"),
        Column("pv_premiums", "float8"),
        Column("pv_claims", "float8"),
        Column("pv_expenses", "float8"),
        Column("pv_commissions", "float8"),
        Column("pv_net_cf", "float8"),
        Column("bel", "float8"),
    ),
)


# ------------------------------------------------------------------------ params


def _finite_float(**kwargs) -> fields.Float:
    return fields.Float(allow_nan=False, **kwargs)


def _rates_list(value, name: str, lo: float, hi: float | None) -> list[float]:
    if not isinstance(value, (list, tuple)) or not value:
        raise marshmallow.ValidationError(f"{name} must be a non-empty list of rates")
    out = []
    for k, v in enumerate(value):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
            raise marshmallow.ValidationError(f"{name}[{k}] must be a finite number")
        # Discount rates must exceed -1 (exclusive); lapse rates lie in [0, 1].
        too_low = v <= lo if lo == -1.0 else v < lo
        if too_low or (hi is not None and v > hi):
            raise marshmallow.ValidationError(f"{name}[{k}] = {v} is out of range")
        out.append(float(v))
    return out


class _RatesOrReference(fields.Field):
    """A list of rates, or ``{"assumption_id": "<uuid>"}`` (resolved at submission)."""

    def __init__(self, lo: float, hi: float | None, **kwargs):
        super().__init__(**kwargs)
        self.lo, self.hi = lo, hi

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, dict):
            if not isinstance(value.get("assumption_id"), str) or not value["assumption_id"]:
                raise marshmallow.ValidationError("a reference needs a non-empty 'assumption_id'")
            out = {"assumption_id": value["assumption_id"]}
            if "rates" in value:  # pinned by prepare
                out["rates"] = _rates_list(value["rates"], "rates", self.lo, self.hi)
                out["version"] = value.get("version")
                out["sha256"] = value.get("sha256")
            return out
        return _rates_list(value, attr or "rates", self.lo, self.hi)


class _Mortality(fields.Field):
    """Inline select table ``{select_period, ages, rates}`` or ``{"basis_id": "<uuid>"}``."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict):
            raise marshmallow.ValidationError("mortality must be an object")
        if "rates" in value:
            try:
                q, min_age, select_period = life_assumptions.select_table_arrays(value)
            except ValueError as exc:
                raise marshmallow.ValidationError(str(exc)) from exc
            out = {"select_period": select_period, "ages": list(range(min_age, min_age + q.shape[0])),
                   "rates": q.tolist()}
            for key in ("basis_id", "version", "sha256"):  # pinned by prepare
                if key in value:
                    out[key] = value[key]
            return out
        if isinstance(value.get("basis_id"), str) and value["basis_id"]:
            return {"basis_id": value["basis_id"]}
        raise marshmallow.ValidationError("give {select_period, ages, rates} or {basis_id}")


class BelParamsSchema(marshmallow.Schema):
    """Parameters of a ``bel`` job (specs/life.md D).

    Input: a ``policies`` portfolio (``portfolio_id``) or inline ``inputs.policies`` (at most
    10 000 policies inline). Defaults: lifelib basiclife sample assumptions.
    """

    model = fields.String(load_default="term_monthly", validate=validate.OneOf(MODELS))
    mortality = _Mortality(
        load_default=life_assumptions.default_select_table,
        metadata={"description": "Annual select table {select_period, ages, rates} or {basis_id}; "
                                 "default lifelib basiclife sample table (ages 18-120, select 5)."},
    )
    lapse_by_policy_year = _RatesOrReference(
        0.0, 1.0, load_default=lambda: list(life_assumptions.DEFAULT_LAPSE_BY_POLICY_YEAR),
        metadata={"description": "Annual lapse rates by policy year (last one applies later) or {assumption_id}."},
    )
    expense_acquisition = _finite_float(load_default=life_assumptions.DEFAULT_EXPENSE_ACQUISITION,
                                        validate=validate.Range(min=0))
    expense_maintenance = _finite_float(load_default=life_assumptions.DEFAULT_EXPENSE_MAINTENANCE,
                                        validate=validate.Range(min=0))
    expense_inflation = _finite_float(load_default=life_assumptions.DEFAULT_EXPENSE_INFLATION,
                                      validate=validate.Range(min=-1, min_inclusive=False))
    commission_first_year = _finite_float(load_default=life_assumptions.DEFAULT_COMMISSION_FIRST_YEAR,
                                          validate=validate.Range(min=0))
    discount_spot_annual = _RatesOrReference(
        -1.0, None, load_default=lambda: list(life_assumptions.DEFAULT_DISCOUNT_SPOT_ANNUAL),
        metadata={"description": "Annual spot rates for projection years 0, 1, ... or {assumption_id}."},
    )
    expense_set = fields.Dict(
        load_default=None, allow_none=True,
        metadata={"description": "{assumption_id}: a stored expense_set whose content sets expense_acquisition, "
                                 "expense_maintenance, expense_inflation and commission_first_year (resolved and "
                                 "pinned at submission)."})
    interest = _finite_float(load_default=None, allow_none=True, validate=validate.Range(min=-1, min_inclusive=False),
                             metadata={"description": "Flat valuation rate of the classical model (required there)."})
    shard_size = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1))

    @marshmallow.validates_schema
    def _classical_needs_interest(self, data, **kwargs):
        if data.get("model") == "classical" and data.get("interest") is None:
            raise marshmallow.ValidationError("required when model is 'classical'", field_name="interest")


# ------------------------------------------------------------------------ prepare


EXPENSE_KEYS = ("expense_acquisition", "expense_maintenance", "expense_inflation", "commission_first_year")


def _resolve_expense_set(params: dict, resources: Resources) -> None:
    """Copy a stored expense set's values over the scalar params; keep its id, version and hash."""
    ref = params.get("expense_set")
    if not ref or "sha256" in ref:
        return  # none, or already pinned (a rerun)
    if not isinstance(ref.get("assumption_id"), str):
        raise InputError("expense_set needs an 'assumption_id'", {"params.expense_set": ["needs assumption_id"]})
    res = resources.get("expense_set", ref["assumption_id"])
    content = res.get("content") or {}
    unknown = sorted(set(content) - set(EXPENSE_KEYS))
    bad = [k for k in EXPENSE_KEYS if k in content and not isinstance(content[k], (int, float))]
    if unknown or bad or not content:
        msg = f"expense_set {ref['assumption_id']} must hold numbers for some of {list(EXPENSE_KEYS)}"
        raise InputError(msg, {"params.expense_set": [msg]})
    try:
        checked = BelParamsSchema().load({k: content[k] for k in EXPENSE_KEYS if k in content}, partial=True)
    except marshmallow.ValidationError as exc:
        raise InputError(f"expense_set {ref['assumption_id']} is out of range",
                         {f"params.expense_set.{k}": v for k, v in exc.messages.items()}) from exc
    params.update({k: checked[k] for k in EXPENSE_KEYS if k in content})
    params["expense_set"] = {"assumption_id": ref["assumption_id"], "version": res.get("version"),
                             "sha256": res.get("sha256")}


def _resolve_rates(params: dict, key: str, resource_type: str, resources: Resources) -> None:
    value = params.get(key)
    if not isinstance(value, dict) or "rates" in value:
        return
    res = resources.get(resource_type, value["assumption_id"])
    content = res.get("content") or {}
    try:
        rates = BelParamsSchema().fields[key].deserialize(content.get("rates"), attr=key)
    except marshmallow.ValidationError as exc:
        raise InputError(f"{resource_type} {value['assumption_id']} is not usable as {key}",
                         {f"params.{key}": [str(m) for m in exc.messages]}) from exc
    params[key] = {"assumption_id": value["assumption_id"], "rates": rates,
                   "version": res.get("version"), "sha256": res.get("sha256")}


def _age_error(bad: list[str], a: life_assumptions.TermAssumptions) -> InputError:
    msg = f"attained age outside the mortality table ({a.min_age}..{a.max_age})"
    shown = ", ".join(bad[:20]) + (f" and {len(bad) - 20} more" if len(bad) > 20 else "")
    return InputError(f"{msg} for policies {shown}", {f"policy {p}": [msg] for p in bad[:100]})


def prepare(params: dict, resources: Resources, inline_items: pd.DataFrame | None) -> dict:
    """Resolve and pin resource references; check inline policies' ages against the table."""
    params = dict(params)
    mortality = params.get("mortality") or life_assumptions.default_select_table()
    if "rates" not in mortality:
        res = resources.get("mortality_basis", mortality["basis_id"])
        try:
            content = _Mortality().deserialize(res.get("content") or {})
        except marshmallow.ValidationError as exc:
            raise InputError(f"mortality basis {mortality['basis_id']} is not a select table",
                             {"params.mortality": [str(m) for m in exc.messages]}) from exc
        if "rates" not in content:
            raise InputError(f"mortality basis {mortality['basis_id']} is not a select table",
                             {"params.mortality": ["content needs select_period, ages and rates"]})
        mortality = {**{k: content[k] for k in ("select_period", "ages", "rates")},
                     "basis_id": mortality["basis_id"], "version": res.get("version"), "sha256": res.get("sha256")}
    params["mortality"] = mortality
    _resolve_rates(params, "lapse_by_policy_year", "lapse", resources)
    _resolve_rates(params, "discount_spot_annual", "discount_curve", resources)
    _resolve_expense_set(params, resources)
    if inline_items is not None and len(inline_items) and params.get("model", "term_monthly") == "term_monthly":
        a = assumptions_from_params(params)
        bad = check_ages_in_table(inline_items, a)
        if bad:
            raise _age_error(bad, a)
    return params


def _rates(value) -> list[float]:
    return value["rates"] if isinstance(value, dict) else value


def assumptions_from_params(params: dict) -> life_assumptions.TermAssumptions:
    """:class:`TermAssumptions` of resolved (pinned) job params."""
    return life_assumptions.term_assumptions_from_params({
        **params,
        "lapse_by_policy_year": _rates(params["lapse_by_policy_year"]),
        "discount_spot_annual": _rates(params["discount_spot_annual"]),
    })


# -------------------------------------------------------------------- plan / run


def plan(ctx: PlanContext) -> list[dict]:
    size = ctx.params.get("shard_size") or min(ctx.default_shard_size, MAX_SHARD_SIZE)
    return shard_ranges(ctx.n_items, size)


def _group_keys(items: pd.DataFrame, column: str) -> np.ndarray:
    n = len(items)
    if column not in items.columns:
        return np.full(n, UNKNOWN, dtype=object)
    values = items[column].to_numpy()
    if column == "issue_year":
        return np.array([UNKNOWN if pd.isna(v) else str(int(v)) for v in values], dtype=object)
    return np.array([UNKNOWN if v is None or (isinstance(v, float) and np.isnan(v)) or v == "" else str(v)
                     for v in values], dtype=object)


def _grouped(items: pd.DataFrame, column: str, bel: np.ndarray) -> dict:
    keys = _group_keys(items, column)
    labels, idx = np.unique(keys.astype(str), return_inverse=True) if len(keys) else (np.array([]), np.array([]))
    count = items["policy_count"].to_numpy(dtype=np.float64) if "policy_count" in items else np.ones(len(items))
    sums = exact_sums(np.column_stack([bel, count]), idx, len(labels)) if len(labels) else []
    n_rows = np.bincount(idx, minlength=len(labels)) if len(labels) else []
    return {str(lab): {"bel": sums[g][0].to_json(), "policy_count": sums[g][1].to_json(), "n_policies": int(n_rows[g])}
            for g, lab in enumerate(labels)}


def _partial(items: pd.DataFrame, pv: dict[str, np.ndarray], yearly: dict | None) -> dict:
    totals = exact_sums(np.column_stack([pv[c] for c in PV_COLUMNS]))[0] if len(items) else [ExactSum()] * 6
    past = items["duration_months"].to_numpy() > 12 * items["policy_term_years"].to_numpy() if len(items) else []
    partial = {
        "n_policies": int(len(items)),
        "n_past_maturity": int(np.count_nonzero(past)),
        "totals": {c: s.to_json() for c, s in zip(PV_COLUMNS, totals)},
        "yearly": {s: [v.to_json() for v in yearly[s]] for s in YEARLY_STREAMS} if yearly else {},
    }
    for key, column in GROUPINGS:
        partial[key] = _grouped(items, column, pv["bel"])
    return partial


def _run_term_monthly(items: pd.DataFrame, params: dict) -> tuple[dict, dict | None]:
    a = assumptions_from_params(params)
    bad = check_ages_in_table(items, a)
    if bad:
        raise _age_error(bad, a)
    proj = project_term_monthly(items, a, yearly=True)
    pv = {c: getattr(proj, c) for c in PV_COLUMNS}
    return pv, proj.yearly


def _run_classical(items: pd.DataFrame, params: dict) -> dict:
    # Imported lazily: the classical engine belongs to another module and only this model needs it.
    from workers.engines.life.classical import classical_bel

    q, min_age, _ = life_assumptions.select_table_arrays(params["mortality"])
    try:
        bel = np.asarray(classical_bel(items, q[:, -1].copy(), min_age, float(params["interest"])), dtype=np.float64)
    except ValueError as exc:
        raise InputError(f"classical BEL: {exc}") from exc
    # The classical model gives the net premium reserve only: it has no expense or commission
    # streams, and its premium/benefit split is not reported (NaN rows, null in summaries).
    nan = np.full(len(items), np.nan)
    return {"pv_premiums": nan, "pv_claims": nan, "pv_expenses": np.zeros(len(items)),
            "pv_commissions": np.zeros(len(items)), "pv_net_cf": -bel, "bel": bel}


def run_shard(ctx: ShardContext) -> ShardOutput:
    start, stop = int(ctx.spec["start"]), int(ctx.spec["stop"])
    items = ctx.load_items(start, stop)
    if ctx.cancelled():
        return ShardOutput(rows=pd.DataFrame({c: [] for c in RESULT_TABLE.column_names}), partial={"canceled": True})
    if ctx.params.get("model", "term_monthly") == "classical":
        pv, yearly = _run_classical(items, ctx.params), None
    else:
        pv, yearly = _run_term_monthly(items, ctx.params)
    rows = pd.DataFrame({"policy_id": items["policy_id"].astype(str).to_numpy(dtype=object),
                         **{c: np.asarray(pv[c], dtype=np.float64) for c in PV_COLUMNS}})
    summable = {c: np.nan_to_num(pv[c], nan=0.0) for c in PV_COLUMNS}
    return ShardOutput(rows=rows, partial=_partial(items, summable, yearly))


# ---------------------------------------------------------------------- finalize


def _add_json(states: list) -> ExactSum:
    return ExactSum.total([ExactSum.from_json(s) for s in states])


def _merge_groups(partials: list[dict], key: str) -> dict | None:
    labels = sorted({lab for p in partials for lab in p.get(key, {})})
    if len(labels) > MAX_GROUPS:
        return None  # a breakdown by a near-unique field is not a summary
    out = {}
    for lab in labels:
        parts = [p[key][lab] for p in partials if lab in p.get(key, {})]
        out[lab] = {"bel": _add_json([x["bel"] for x in parts]).to_float(),
                    "policy_count": _add_json([x["policy_count"] for x in parts]).to_float(),
                    "n_policies": sum(int(x["n_policies"]) for x in parts)}
    return out


def finalize(ctx: FinalizeContext) -> dict:
    params = ctx.params
    model = params.get("model", "term_monthly")
    partials = [p for p in ctx.partials if not p.get("canceled")]
    totals = {c: _add_json([p["totals"][c] for p in partials]).to_float() for c in PV_COLUMNS}
    if model == "classical":
        totals["pv_premiums"] = totals["pv_claims"] = None
    n_years = max((len(p["yearly"].get("premiums", [])) for p in partials), default=0)

    def year_value(stream: str, y: int) -> float:
        return _add_json([p["yearly"][stream][y] for p in partials
                          if p["yearly"] and y < len(p["yearly"][stream])]).to_float()

    cashflows = [{"year": y, **{s: year_value(s, y) for s in CASHFLOW_STREAMS}} for y in range(n_years)]
    runoff = [{"year": y, **{s: year_value(s, y) for s in RUNOFF_STREAMS}} for y in range(n_years)]
    mortality = params.get("mortality") or {}
    summary = {
        "model": model,
        "n_policies": sum(int(p["n_policies"]) for p in partials),
        # Policies whose term ended before the valuation date: valued at zero.
        "n_past_maturity": sum(int(p.get("n_past_maturity", 0)) for p in partials),
        "totals": totals,
        "cashflows_by_year": cashflows,
        "inforce_by_year": runoff,
        "bel_by_product": _merge_groups(partials, "by_product"),
        "bel_by_sex": _merge_groups(partials, "by_sex"),
        "bel_by_issue_year": _merge_groups(partials, "by_issue_year"),
        "assumptions": {
            "mortality": {"basis_id": mortality.get("basis_id"), "version": mortality.get("version"),
                          "sha256": mortality.get("sha256"), "select_period": mortality.get("select_period"),
                          "ages": [mortality["ages"][0], mortality["ages"][-1]] if mortality.get("ages") else None},
            "lapse_by_policy_year": params.get("lapse_by_policy_year"),
            "expense_acquisition": params.get("expense_acquisition"),
            "expense_maintenance": params.get("expense_maintenance"),
            "expense_inflation": params.get("expense_inflation"),
            "commission_first_year": params.get("commission_first_year"),
            "discount_spot_annual": params.get("discount_spot_annual"),
            "interest": params.get("interest"),
        },
    }
    if len(partials) != len(ctx.partials):
        summary["canceled_shards"] = len(ctx.partials) - len(partials)
    return summary


KIND = register(JobKind(
    name="bel",
    engine_version=ENGINE_VERSION,
    params_schema=BelParamsSchema,
    plan=plan,
    run_shard=run_shard,
    finalize=finalize,
    input_kind="policies",
    input_required=True,
    result_table=RESULT_TABLE,
    prepare=prepare,
    max_inline_items=MAX_INLINE_ITEMS,
    description="Life BEL: monthly term-assurance cash-flow projection (term_monthly) or classical reserve.",
))
