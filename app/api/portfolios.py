"""/api/v1/portfolios: create, upload (streamed), inspect versions and validation reports."""
from __future__ import annotations

from flask import request
from flask_smorest import Blueprint

from app.api.common import cfg, db, problems, tenant_id
from app.api.schemas import PortfolioCreateSchema
from app.auth import require
from app.errors import UnprocessableError
from app.services import portfolios as service

blp = Blueprint("portfolios", __name__, description="Portfolios and uploads")


def upload_body(u) -> dict:
    return {"id": str(u.id), "portfolio_id": str(u.portfolio_id), "status": u.status, "filename": u.filename,
            "content_type": u.content_type, "size_bytes": u.size_bytes, "sha256": u.sha256,
            "version_id": str(u.version_id) if u.version_id else None, "report": u.report,
            "created_at": u.created_at.isoformat() if u.created_at else None,
            "finished_at": u.finished_at.isoformat() if u.finished_at else None,
            "links": {"self": f"/api/v1/portfolios/{u.portfolio_id}/uploads/{u.id}"}}


def portfolio_body(session, p) -> dict:
    return {"id": str(p.id), "kind": p.kind, "name": p.name, "created_at": p.created_at.isoformat(),
            "versions": [{"id": str(v.id), "version": v.version, "row_count": v.row_count,
                          "content_sha256": v.content_sha256, "created_at": v.created_at.isoformat(),
                          "upload_id": str(v.upload_id) if v.upload_id else None}
                         for v in service.versions(session, p.id)],
            "last_report": p.last_report,
            "uploads": [upload_body(u) for u in service.uploads(session, p.id, limit=5)]}


@blp.route("/portfolios", methods=["POST"])
@blp.arguments(PortfolioCreateSchema)
@blp.response(201, description="The new, empty portfolio")
@problems(blp, 401, 403, 422)
@require("portfolios:write")
def create_portfolio(body):
    """Create a portfolio of a kind (``loans``, ``policies``, ``mortality_data``); upload data next."""
    with db().session() as s:
        p = service.create(s, tenant_id(), body["kind"], body["name"])
        out = portfolio_body(s, p)
    return out, 201, {"Location": f"/api/v1/portfolios/{out['id']}"}


@blp.route("/portfolios/<portfolio_id>", methods=["GET"])
@blp.response(200, description="Versions, row counts, content hashes, last validation report")
@problems(blp, 401, 403, 404)
@require("portfolios:read")
def get_portfolio(portfolio_id):
    with db().session() as s:
        return portfolio_body(s, service.get(s, tenant_id(), portfolio_id))


@blp.route("/portfolios/<portfolio_id>/uploads", methods=["POST"])
@blp.response(202, description="The upload, queued for ingestion on the ingest queue")
@problems(blp, 401, 403, 404, 413, 415, 422)
@require("portfolios:write")
def upload(portfolio_id):
    """Upload CSV, XLSX or Parquet (optionally gzip), as multipart (field ``file``) or a raw body.

    The body is streamed into PostgreSQL in chunks; validation and loading run as an ingestion
    task. A valid file becomes a new immutable version; an invalid one changes nothing and the
    report lists ``{row, column, value, message}`` for the first errors plus counts per rule.
    """
    c = cfg()
    ctype = (request.content_type or "").split(";")[0].strip().lower()
    if ctype == "multipart/form-data":
        f = request.files.get("file")
        if f is None:
            raise UnprocessableError("multipart upload without a 'file' field", {"file": ["missing"]})
        stream, filename, content_type = f.stream, f.filename, f.mimetype
    else:
        stream = request.stream
        filename = request.args.get("filename") or request.headers.get("X-Filename")
        content_type = ctype or None
        if request.headers.get("Content-Encoding", "").lower() == "gzip":
            content_type = (content_type or "") + "+gzip"
    with db().session() as s:
        p = service.get(s, tenant_id(), portfolio_id)
        u = service.store_upload(s, p, stream, filename=filename, content_type=content_type,
                                 max_bytes=c.max_upload_bytes, chunk_bytes=c.upload_chunk_bytes)
        out = upload_body(u)
    return out, 202, {"Location": out["links"]["self"], "Retry-After": "2"}


@blp.route("/portfolios/<portfolio_id>/uploads/<upload_id>", methods=["GET"])
@blp.response(200, description="Upload status and validation report")
@problems(blp, 401, 403, 404)
@require("portfolios:read")
def get_upload(portfolio_id, upload_id):
    with db().session() as s:
        u = service.get_upload(s, tenant_id(), portfolio_id, upload_id)
        body = upload_body(u)
    headers = {} if u.status in ("succeeded", "failed") else {"Retry-After": "2"}
    return body, 200, headers
