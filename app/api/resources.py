"""Versioned, immutable resources: assumption sets, capital market assumptions, portfolio models."""
from __future__ import annotations

from flask import request
from flask_smorest import Blueprint

from app import audit
from app.api.common import db, problems, tenant_id
from app.api.schemas import ResourceCreateSchema
from app.auth import require
from app.errors import NotFoundError, UnprocessableError
from app.services import resources as service
from workers.kinds.cma import CMASchema, PortfolioModelSchema

ASSUMPTION_TYPES = ("mortality_basis", "lapse", "discount_curve", "expense_set")
blp = Blueprint("resources", __name__, description="Assumption sets, CMAs and portfolio models")


def _create(rtype: str, name: str, content: dict, meta: dict | None = None):
    with db().session() as s:
        r = service.create(s, tenant_id(), rtype, name, content, meta)
        audit.record(s, tenant_id=tenant_id(), action=f"{rtype}.created", entity_type=rtype, entity_id=r.id,
                     after={"name": name, "version": r.version, "sha256": r.sha256})
        body = service.as_dict(r)
    return body, 201, {"Location": f"{request.path.rstrip('/')}/{body['id']}"}


def _get(rtype: str, resource_id: str):
    with db().session() as s:
        return service.as_dict(service.get(s, tenant_id(), rtype, resource_id))


def _list(rtype: str):
    with db().session() as s:
        return {"items": [service.as_dict(r) for r in service.list_(s, tenant_id(), rtype)]}


@blp.route("/assumptions", methods=["POST"])
@blp.arguments(ResourceCreateSchema)
@blp.response(201, description="A new immutable version of the named assumption set")
@problems(blp, 401, 403, 422)
@require("portfolios:write")
def create_assumption(body):
    """Store a mortality basis, lapse vector, discount curve or expense set (JSON ``content``)."""
    content = body["content"]
    if body["type"] == "mortality_basis" and "csv" in content:
        from workers.engines.life.assumptions import parse_select_table_csv

        try:
            content = parse_select_table_csv(content["csv"])
        except ValueError as e:
            raise UnprocessableError(f"mortality table CSV: {e}", {"content.csv": [str(e)]}) from None
    return _create(body["type"], body["name"], content)


@blp.route("/assumptions/<resource_id>", methods=["GET"])
@blp.response(200, description="The assumption set")
@problems(blp, 401, 403, 404)
@require("portfolios:read")
def get_assumption(resource_id):
    with db().session() as s:
        for rtype in ASSUMPTION_TYPES:
            try:
                return service.as_dict(service.get(s, tenant_id(), rtype, resource_id))
            except NotFoundError:
                continue
    raise NotFoundError(f"no assumption set {resource_id}")


@blp.route("/cmas", methods=["POST"])
@blp.response(201, description="A new immutable CMA version")
@problems(blp, 401, 403, 422)
@require("portfolios:write")
def create_cma():
    """Capital market assumptions; the correlation must be symmetric, unit-diagonal and PSD."""
    content = CMASchema().load(request.get_json(force=True, silent=False) or {})
    meta = {k: content[k] for k in ("effective_date", "source", "methodology")}
    return _create("cma", content["name"], content, meta)


@blp.route("/cmas", methods=["GET"])
@blp.response(200, description="{items}")
@problems(blp, 401, 403)
@require("portfolios:read")
def list_cmas():
    return _list("cma")


@blp.route("/cmas/<cma_id>", methods=["GET"])
@blp.response(200, description="One CMA version")
@problems(blp, 401, 403, 404)
@require("portfolios:read")
def get_cma(cma_id):
    return _get("cma", cma_id)


@blp.route("/portfolio-models", methods=["POST"])
@blp.response(201, description="A new immutable portfolio model version")
@problems(blp, 401, 403, 422)
@require("portfolios:write")
def create_portfolio_model():
    """Weights by asset class summing to 1, optionally a risk level 1–10 jobs may reference."""
    content = PortfolioModelSchema().load(request.get_json(force=True, silent=False) or {})
    return _create("portfolio_model", content["name"], content)


@blp.route("/portfolio-models", methods=["GET"])
@blp.response(200, description="{items}")
@problems(blp, 401, 403)
@require("portfolios:read")
def list_portfolio_models():
    return _list("portfolio_model")


@blp.route("/portfolio-models/<model_id>", methods=["GET"])
@blp.response(200, description="One portfolio model version")
@problems(blp, 401, 403, 404)
@require("portfolios:read")
def get_portfolio_model(model_id):
    return _get("portfolio_model", model_id)
