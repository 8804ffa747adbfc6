"""Operational endpoints: liveness, readiness (DB and broker), Prometheus metrics."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import text

from app import metrics

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    checks = {}
    db = current_app.extensions["provisor.db"]
    try:
        with db.session() as s:
            s.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as e:
        checks["database"] = f"error: {type(e).__name__}"
    cfg = current_app.extensions["provisor.config"]
    if cfg.uses_celery:
        try:
            celery = current_app.extensions["celery"]
            with celery.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
            checks["broker"] = "ok"
        except Exception as e:
            checks["broker"] = f"error: {type(e).__name__}"
    else:
        checks["broker"] = "local executor"
    ready = all(v in ("ok", "local executor") for v in checks.values())
    return jsonify(status="ready" if ready else "not ready", checks=checks), 200 if ready else 503


@bp.get("/metrics")
def prometheus():
    cfg = current_app.extensions["provisor.config"]
    body = metrics.render(current_app.extensions["provisor.db"], cfg.celery_broker_url, cfg.broker_key_prefix)
    return Response(body, mimetype="text/plain; version=0.0.4")
