"""Job kind ``mortality``: graduation, Lee-Carter and projection (specs/life.md C, D).

Input: a ``mortality_data`` portfolio (or inline ``inputs.mortality_data``) of
``age, year, deaths, exposure`` cells. Data sets are small (ages x years), so the
whole job is one shard; the result lives in the summary (no row table)::

    {"kind": "mortality", "portfolio_id": "<uuid>",
     "params": {"ages": [55, 89], "years": [1961, 2011], "model": "lee_carter",
                "graduation": null,                      # or {"lambda": 100, "order": 2, "weights": "deaths"}
                "zero_cells": "half_death",              # | "interpolate" | "error"
                "refit_kt": null,                        # or "deaths"
                "projection": {"horizon": 20, "level": 0.95, "n_paths": 0, "seed": null,
                               "years": null, "target_year": null},
                "reference": null,                       # or {"ages": [...], "qx": [...], "age_range": [lo, hi]}
                "publish_basis": false, "basis_name": null}}

``model: "whittaker_henderson"`` graduates the rates pooled over the selected years
instead (no projection). With ``publish_basis`` the period table of the target year is
published as a ``mortality_basis`` resource that the ``bel`` kind accepts.
"""
from __future__ import annotations

import math

import marshmallow as ma
import numpy as np
import pandas as pd

from workers.engines.life import mortality_models as mm
from workers.kinds.base import InputError, JobKind, ShardOutput
from workers.kinds.registry import register

ENGINE_VERSION = "mortality-1.0"
MAX_LISTED_CELLS = 200
RADIX = 100_000.0


def _bounds(data: dict, name: str) -> None:
    v = data.get(name)
    if v is not None and v[0] > v[1]:
        raise ma.ValidationError("lower bound above upper bound", name)


class GraduationSchema(ma.Schema):
    lam = ma.fields.Float(data_key="lambda", required=True, allow_nan=False,
                          validate=ma.validate.Range(min=0, max=1e12))
    order = ma.fields.Integer(load_default=2, validate=ma.validate.Range(min=1, max=4))
    weights = ma.fields.String(load_default="deaths", validate=ma.validate.OneOf(["deaths", "exposure", "equal"]))


class ProjectionSchema(ma.Schema):
    horizon = ma.fields.Integer(load_default=20, validate=ma.validate.Range(min=1, max=200))
    level = ma.fields.Float(load_default=0.95, validate=ma.validate.Range(min=0, max=1, min_inclusive=False,
                                                                          max_inclusive=False))
    n_paths = ma.fields.Integer(load_default=0, validate=ma.validate.Range(min=0, max=100_000))
    seed = ma.fields.Integer(load_default=None, allow_none=True, validate=ma.validate.Range(min=0))
    years = ma.fields.List(ma.fields.Integer(), load_default=None, allow_none=True)
    target_year = ma.fields.Integer(load_default=None, allow_none=True)


class ReferenceSchema(ma.Schema):
    ages = ma.fields.List(ma.fields.Integer(validate=ma.validate.Range(min=0, max=130)), required=True,
                          validate=ma.validate.Length(min=1))
    qx = ma.fields.List(ma.fields.Float(allow_nan=False, validate=ma.validate.Range(min=0, max=1)), required=True)
    age_range = ma.fields.List(ma.fields.Integer(), load_default=None, allow_none=True,
                               validate=ma.validate.Length(equal=2))

    @ma.validates_schema
    def _same_length(self, data, **kwargs):
        if len(data["ages"]) != len(data["qx"]):
            raise ma.ValidationError(f"has {len(data['qx'])} values for {len(data['ages'])} ages", "qx")
        if len(set(data["ages"])) != len(data["ages"]):
            raise ma.ValidationError("ages must be distinct", "ages")
        _bounds(data, "age_range")


class MortalityParams(ma.Schema):
    ages = ma.fields.List(ma.fields.Integer(validate=ma.validate.Range(min=0, max=130)), load_default=None,
                          allow_none=True, validate=ma.validate.Length(equal=2))
    years = ma.fields.List(ma.fields.Integer(), load_default=None, allow_none=True,
                           validate=ma.validate.Length(equal=2))
    model = ma.fields.String(load_default="lee_carter",
                             validate=ma.validate.OneOf(["lee_carter", "whittaker_henderson"]))
    graduation = ma.fields.Nested(GraduationSchema, load_default=None, allow_none=True)
    zero_cells = ma.fields.String(load_default="half_death",
                                  validate=ma.validate.OneOf(["half_death", "interpolate", "error"]))
    refit_kt = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.OneOf(["deaths"]))
    projection = ma.fields.Nested(ProjectionSchema, load_default=lambda: ProjectionSchema().load({}))
    reference = ma.fields.Nested(ReferenceSchema, load_default=None, allow_none=True)
    publish_basis = ma.fields.Boolean(load_default=False)
    basis_name = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(min=1, max=200))

    @ma.validates_schema
    def _ranges(self, data, **kwargs):
        _bounds(data, "ages")
        _bounds(data, "years")


# --------------------------------------------------------------------------- helpers
def _f(v) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def _floats(a) -> list:
    return [_f(v) for v in np.asarray(a, dtype=np.float64).ravel().tolist()]


def _by(keys, values) -> dict:
    return {str(int(k)): _f(v) for k, v in zip(keys, np.asarray(values, dtype=np.float64).tolist())}


def _cell_list(mask: np.ndarray, ages: np.ndarray, years: np.ndarray) -> dict:
    ia, it = np.nonzero(mask)
    cells = [[int(ages[i]), int(years[t])] for i, t in zip(ia.tolist(), it.tolist())]
    return {"count": len(cells), "cells": cells[:MAX_LISTED_CELLS], "truncated": len(cells) > MAX_LISTED_CELLS}


def build_matrices(items: pd.DataFrame, age_range, year_range):
    """Deaths and exposure matrices ``(n_ages, n_years)`` from the input cells.

    Cells absent from the data count as ``E = D = 0`` and are reported as ``missing``.
    """
    if items is None or items.empty:
        raise InputError("no mortality data", {"inputs.mortality_data": ["no rows"]})
    df = items[["age", "year", "deaths", "exposure"]]
    lo_a, hi_a = age_range if age_range is not None else (int(df["age"].min()), int(df["age"].max()))
    lo_y, hi_y = year_range if year_range is not None else (int(df["year"].min()), int(df["year"].max()))
    df = df[(df["age"] >= lo_a) & (df["age"] <= hi_a) & (df["year"] >= lo_y) & (df["year"] <= hi_y)]
    if df.empty:
        raise InputError("no data cell inside the requested ages and years",
                         {"params.ages": ["no data in range"], "params.years": ["no data in range"]})
    dup = df.duplicated(["age", "year"], keep="first")
    if dup.any():
        first = df[dup].iloc[0]
        where = f"duplicate cell age {int(first['age'])} year {int(first['year'])}"
        raise InputError(f"{int(dup.sum())} duplicate (age, year) cells", {"inputs.mortality_data": [where]})
    ages = np.arange(lo_a, hi_a + 1, dtype=np.int64)
    years = np.arange(lo_y, hi_y + 1, dtype=np.int64)
    deaths = np.zeros((ages.size, years.size))
    exposure = np.zeros((ages.size, years.size))
    present = np.zeros((ages.size, years.size), dtype=bool)
    ia = df["age"].to_numpy(dtype=np.int64) - lo_a
    it = df["year"].to_numpy(dtype=np.int64) - lo_y
    deaths[ia, it] = df["deaths"].to_numpy(dtype=np.float64)
    exposure[ia, it] = df["exposure"].to_numpy(dtype=np.float64)
    present[ia, it] = True
    return ages, years, deaths, exposure, present


def zero_report(ages, years, deaths, exposure, present) -> dict:
    zero_e, zero_d = mm.cells_zero(deaths, exposure)
    return {
        "missing": _cell_list(~present, ages, years),
        "zero_exposure": _cell_list(zero_e & present, ages, years),
        "zero_deaths": _cell_list(zero_d, ages, years),
        "deaths_without_exposure": _cell_list(zero_e & (deaths > 0.0), ages, years),
    }


def _weights(kind: str, deaths: np.ndarray, exposure: np.ndarray) -> np.ndarray:
    usable = exposure > 0.0
    if kind == "deaths":
        return np.where(usable, deaths, 0.0)
    if kind == "exposure":
        return np.where(usable, exposure, 0.0)
    return usable.astype(np.float64)


def period_table(ages: np.ndarray, qx: np.ndarray) -> dict:
    """``l_x`` (radix 100 000) and the temporary curtate expectation up to the table's end.

    ``ex_curtate_truncated`` at age ``x`` is ``sum_{j=1}^{omega+1-x} l_{x+j} / l_x`` with
    ``omega`` the last age: complete years lived before ``omega + 1`` (the projected table
    has no rates beyond its last age, so the tail is not extrapolated).
    """
    q = np.asarray(qx, dtype=np.float64)
    lx = RADIX * np.concatenate(([1.0], np.cumprod(1.0 - q)))  # l at ages x0 .. omega + 1
    tail = np.cumsum(lx[::-1])[::-1]  # tail[i] = sum_{j >= i} l_j
    ex = tail[1:] / np.where(lx[:-1] > 0.0, lx[:-1], 1.0)
    return {"ages": [int(a) for a in ages], "qx": _floats(q), "lx": _floats(lx[:-1]),
            "ex_curtate_truncated": [_f(v) if l > 0 else None for v, l in zip(ex, lx[:-1])]}


# --------------------------------------------------------------------------- job
def plan(ctx) -> list[dict]:
    return [{"start": 0, "stop": int(ctx.n_items)}]


def _fail(exc: ValueError, where: str) -> InputError:
    return InputError(str(exc), {where: [str(exc)]})


def _log_rates(params, deaths, exposure, report):
    method = params["zero_cells"]
    if method == "error":
        zero_e, zero_d = mm.cells_zero(deaths, exposure)
        if zero_e.any() or zero_d.any():
            listed = [f"{k}: {v['cells'][:5]}" for k, v in report.items() if v["count"]]
            raise InputError(
                f"{int(zero_e.sum())} cell(s) without exposure and {int(zero_d.sum())} without deaths "
                "(params.zero_cells is 'error')", {"inputs.mortality_data": listed or ["zero cells"]})
        method = "half_death"
    try:
        return mm.log_rates_filled(deaths, exposure, method), method
    except ValueError as exc:
        raise _fail(exc, "inputs.mortality_data") from exc


def _graduate(grad: dict, log_m, deaths, exposure):
    w = _weights(grad["weights"], deaths, exposure)
    try:
        z = mm.graduate_log_rates(log_m, w, grad["lam"], grad["order"])
    except ValueError as exc:
        raise _fail(exc, "params.graduation") from exc
    info = {"lambda": grad["lam"], "order": grad["order"], "weights": grad["weights"],
            "roughness_before": _f(mm.roughness(log_m, grad["order"])),
            "roughness_after": _f(mm.roughness(z, grad["order"]))}
    return z, info


def _run_graduation_model(params, ages, years, deaths, exposure, report) -> dict:
    d, e = deaths.sum(axis=1, keepdims=True), exposure.sum(axis=1, keepdims=True)
    log_m, method = _log_rates(params, d, e, report)
    grad = params["graduation"] or {"lam": 100.0, "order": 2, "weights": "deaths"}
    z, info = _graduate(grad, log_m, d, e)
    m = np.exp(z[:, 0])
    q = mm.q_from_m(m)
    return {"zero_cell_method": method, "graduation": info,
            "m_crude": _by(ages, mm.rates_crude(d, e)[:, 0]), "m_graduated": _by(ages, m),
            "q_graduated": _by(ages, q), "_period_q": q,
            "target_year": int(years[-1]), "years_pooled": [int(years[0]), int(years[-1])]}


def _run_lee_carter(params, ages, years, deaths, exposure, report, job_seed) -> dict:
    if years.size < 3:
        raise InputError("Lee-Carter with a random walk needs at least 3 years",
                         {"params.years": ["need at least 3 calendar years"]})
    log_m, method = _log_rates(params, deaths, exposure, report)
    out: dict = {"zero_cell_method": method}
    if params["graduation"] is not None:
        log_m, out["graduation"] = _graduate(params["graduation"], log_m, deaths, exposure)
    try:
        fit = mm.lee_carter_fit(log_m)
        if params["refit_kt"] == "deaths":
            fit = mm.refit_kt_deaths(fit, deaths, exposure)
    except ValueError as exc:
        raise _fail(exc, "inputs.mortality_data") from exc
    drift, sigma = mm.rwd_drift_sigma(fit.k)
    proj = params["projection"]
    horizon, level = proj["horizon"], proj["level"]
    proj_years = years[-1] + np.arange(1, horizon + 1)
    central = mm.rwd_central(fit.k[-1], drift, horizon)
    lower, upper = mm.rwd_intervals(fit.k[-1], drift, sigma, horizon, level)
    projection = {"years": [int(y) for y in proj_years], "level": level, "z": mm.z_two_sided(level),
                  "k_central": _floats(central), "k_lower": _floats(lower), "k_upper": _floats(upper)}
    if proj["n_paths"] > 0:
        seed = proj["seed"] if proj["seed"] is not None else (job_seed if job_seed is not None else 0)
        paths = mm.rwd_simulate(fit.k[-1], drift, sigma, horizon, proj["n_paths"], np.random.default_rng(seed))
        probs = [(1.0 - level) / 2.0, 0.5, (1.0 + level) / 2.0]
        qs = np.quantile(paths, probs, axis=0)
        projection["simulation"] = {"n_paths": proj["n_paths"], "seed": int(seed), "probabilities": probs,
                                    "k_quantiles": [_floats(r) for r in qs], "k_mean": _floats(paths.mean(axis=0))}

    wanted = proj["years"] if proj["years"] is not None else [int(y) for y in proj_years]
    bad = [y for y in wanted if not proj_years[0] <= y <= proj_years[-1]]
    if bad:
        raise InputError("projection years outside the projected range",
                         {"params.projection.years": [f"{bad[:5]} not in {int(proj_years[0])}..{int(proj_years[-1])}"]})
    idx = np.asarray(wanted, dtype=np.int64) - int(proj_years[0])
    m_c = mm.m_projected(fit.a, fit.b, central[idx])
    q_lo_k = mm.q_from_m(mm.m_projected(fit.a, fit.b, lower[idx]))
    q_hi_k = mm.q_from_m(mm.m_projected(fit.a, fit.b, upper[idx]))
    projection["q"] = {str(y): _floats(mm.q_from_m(m_c[:, j])) for j, y in enumerate(wanted)}
    projection["m"] = {str(y): _floats(m_c[:, j]) for j, y in enumerate(wanted)}
    # b_x of either sign: the bounds of q at an age come from either end of the k interval.
    projection["q_lower"] = {str(y): _floats(np.minimum(q_lo_k[:, j], q_hi_k[:, j])) for j, y in enumerate(wanted)}
    projection["q_upper"] = {str(y): _floats(np.maximum(q_lo_k[:, j], q_hi_k[:, j])) for j, y in enumerate(wanted)}

    target = proj["target_year"] if proj["target_year"] is not None else int(proj_years[-1])
    if years[0] <= target <= years[-1]:
        k_target = fit.k[target - years[0]]
    elif proj_years[0] <= target <= proj_years[-1]:
        k_target = central[target - proj_years[0]]
    else:
        raise InputError("target_year outside the fitted and projected years",
                         {"params.projection.target_year": [f"not in {int(years[0])}..{int(proj_years[-1])}"]})
    fitted = fit.log_m()
    out.update({
        "a_x": _by(ages, fit.a), "b_x": _by(ages, fit.b), "k_t": _by(years, fit.k),
        "drift": _f(drift), "sigma": _f(sigma), "variance_explained": _f(fit.variance_explained),
        "refit_kt": params["refit_kt"],
        "fitted_deaths_by_year": _by(years, (exposure * np.exp(fitted)).sum(axis=0)),
        "observed_deaths_by_year": _by(years, deaths.sum(axis=0)),
        "projection": projection,
        "target_year": int(target),
        "_period_q": mm.q_from_m(np.exp(fit.a + fit.b * k_target)),
    })
    return out


def run_shard(ctx) -> ShardOutput:
    params = ctx.params
    items = ctx.load_items(ctx.spec.get("start", 0), ctx.spec.get("stop", 0))
    if ctx.cancelled():
        return ShardOutput(rows=None, partial={"cancelled": True})
    ages, years, deaths, exposure, present = build_matrices(items, params["ages"], params["years"])
    report = zero_report(ages, years, deaths, exposure, present)
    if params["model"] == "whittaker_henderson":
        result = _run_graduation_model(params, ages, years, deaths, exposure, report)
    else:
        result = _run_lee_carter(params, ages, years, deaths, exposure, report, ctx.seed)
    q_period = result.pop("_period_q")
    summary = {"model": params["model"], "ages": [int(ages[0]), int(ages[-1])],
               "years": [int(years[0]), int(years[-1])], "n_cells": int(present.sum()),
               "zero_cells": report, **result,
               "period_life_table": {"year": result["target_year"], **period_table(ages, q_period)}}
    ref = params["reference"]
    if ref is not None:
        try:
            summary["comparison"] = {"year": result["target_year"], **mm.compare_to_reference(
                ages, q_period, ref["ages"], ref["qx"],
                tuple(ref["age_range"]) if ref["age_range"] is not None else None)}
        except ValueError as exc:
            raise _fail(exc, "params.reference") from exc
    return ShardOutput(rows=None, partial=summary)


def finalize(ctx) -> dict:
    summary = dict(ctx.partials[0]) if ctx.partials else {}
    if summary.get("cancelled") or not summary:
        return summary
    if ctx.params.get("publish_basis"):
        table = summary["period_life_table"]
        name = ctx.params.get("basis_name") or (
            f"{summary['model']} {summary['ages'][0]}-{summary['ages'][1]} period {table['year']}")
        content = {"select_period": 0, "ages": table["ages"], "rates": [[q] for q in table["qx"]]}
        summary["basis_id"] = ctx.publish("mortality_basis", name, content)
        summary["basis_name"] = name
    return summary


KIND = register(JobKind(
    name="mortality",
    engine_version=ENGINE_VERSION,
    params_schema=MortalityParams,
    plan=plan,
    run_shard=run_shard,
    finalize=finalize,
    input_kind="mortality_data",
    input_required=True,
    result_table=None,
    max_inline_items=50_000,
    description="Crude rates, Whittaker-Henderson graduation, Lee-Carter fit and random-walk projection.",
))
