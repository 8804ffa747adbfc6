"""Schemas of the resources the Monte Carlo kind references (spec ``montecarlo.md`` §Inputs).

* ``cma`` — capital market assumptions: a versioned, immutable record
  (``POST /api/v1/cmas``); the correlation matrix must be symmetric, have a unit
  diagonal and be positive semi-definite, otherwise the load fails naming the problem.
* ``portfolio_model`` — weights by asset class summing to 1 (tolerance 1e-9), an
  optional risk level 1..10 (how a job may reference it) and an optional annual fee.

Pure marshmallow: the API wires these into its routes (a ``ValidationError`` becomes a
422 with ``errors`` keyed by field path). Loaded content is plain JSON types (dates stay
ISO strings) so it can be stored and hashed as is.
"""
from __future__ import annotations

import datetime as _dt
import math

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from workers.engines.matrices import validate_correlation

WEIGHT_SUM_TOL = 1e-9


def _iso_date(value: str) -> None:
    try:
        _dt.date.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError("must be an ISO date (YYYY-MM-DD)") from exc


_finite = {"allow_nan": False}


class AssetClassSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    expected_return = fields.Float(required=True, validate=validate.Range(min=-1.0, max=10.0), **_finite)
    volatility = fields.Float(required=True, validate=validate.Range(min=0.0, max=10.0), **_finite)


class InflationSchema(Schema):
    mean = fields.Float(required=True, validate=validate.Range(min=-1.0, max=10.0), **_finite)
    volatility = fields.Float(required=True, validate=validate.Range(min=0.0, max=10.0), **_finite)


class CMASchema(Schema):
    """Capital market assumptions: annual arithmetic expected returns μ_i and volatilities
    σ_i per asset class, their correlation matrix (rows/columns in ``asset_classes``
    order) and inflation (annual mean and volatility)."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    effective_date = fields.String(required=True, validate=_iso_date)
    source = fields.String(load_default="")
    methodology = fields.String(load_default="")
    asset_classes = fields.List(fields.Nested(AssetClassSchema), required=True,
                                validate=validate.Length(min=1, max=100))
    correlation = fields.List(fields.List(fields.Float(**_finite)), required=True)
    inflation = fields.Nested(InflationSchema, required=True)

    @validates_schema
    def _check(self, data, **kwargs):
        errors: dict[str, list[str]] = {}
        names = [a["name"] for a in data["asset_classes"]]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            errors["asset_classes"] = [f"duplicate asset class name(s): {', '.join(dupes)}"]
        corr = data["correlation"]
        if len(corr) != len(names):
            errors["correlation"] = [
                f"correlation has {len(corr)} rows but there are {len(names)} asset classes"
            ]
        else:
            problems = validate_correlation(corr, name="correlation")
            if problems:
                errors["correlation"] = problems
        if errors:
            raise ValidationError(errors)


class PortfolioModelSchema(Schema):
    """A model portfolio: ``weights`` by asset-class name (>= 0, summing to 1 within 1e-9),
    optional ``risk_level`` 1..10 and optional ``fee_annual`` (rate per year)."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    risk_level = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1, max=10))
    weights = fields.Dict(keys=fields.String(validate=validate.Length(min=1)),
                          values=fields.Float(validate=validate.Range(min=0.0, max=1.0), **_finite),
                          required=True)
    fee_annual = fields.Float(load_default=None, allow_none=True,
                              validate=validate.Range(min=0.0, max=0.5), **_finite)

    @validates_schema
    def _check(self, data, **kwargs):
        problems = weight_problems(data["weights"])
        if problems:
            raise ValidationError({"weights": problems})


def weight_problems(weights: dict) -> list[str]:
    """Problems of a weights mapping: empty, or not summing to 1 within 1e-9 (exact fsum)."""
    if not weights:
        return ["must name at least one asset class"]
    total = math.fsum(float(w) for w in weights.values())
    if abs(total - 1.0) > WEIGHT_SUM_TOL:
        return [f"weights must sum to 1 (sum is {total:.12g})"]
    return []


def unknown_assets(weights: dict, cma_content: dict) -> list[str]:
    """Names in ``weights`` that are not asset classes of the CMA, in the given order."""
    known = {a["name"] for a in cma_content["asset_classes"]}
    return [name for name in weights if name not in known]
