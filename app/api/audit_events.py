"""/api/v1/audit-events: the tenant's append-only trail."""
from __future__ import annotations

from datetime import datetime

from flask_smorest import Blueprint
from sqlalchemy import select, text

from app.api.common import db, decode_cursor, encode_cursor, problems, tenant_id
from app.api.schemas import AuditArgs
from app.auth import require
from app.models import AuditEvent

blp = Blueprint("audit", __name__, description="Audit trail")


def event_body(e: AuditEvent) -> dict:
    return {"id": e.id, "occurred_at": e.occurred_at.isoformat(), "actor": {"type": e.actor_type, "id": e.actor_id},
            "action": e.action, "entity_type": e.entity_type, "entity_id": e.entity_id, "before": e.before,
            "after": e.after, "request_id": e.request_id, "ip": e.ip, "user_agent": e.user_agent,
            "chain_hash": e.chain_hash}


@blp.route("/audit-events", methods=["GET"])
@blp.arguments(AuditArgs, location="query")
@blp.response(200, description="{items, next_cursor}, oldest first")
@problems(blp, 401, 403, 422)
@require("audit:read")
def list_events(args):
    """Audit events of the key's tenant, oldest first, filtered by entity and time."""
    q = select(AuditEvent).where(AuditEvent.tenant_id == tenant_id())
    if args["entity_id"]:
        q = q.where(AuditEvent.entity_id == args["entity_id"])
    if args["since"]:
        q = q.where(AuditEvent.occurred_at >= args["since"])
    if args["cursor"]:
        at, eid = decode_cursor(args["cursor"], 2)
        q = q.where(text("(audit_events.occurred_at, audit_events.id) > (:a, :i)").bindparams(
            a=datetime.fromisoformat(at), i=int(eid)))
    with db().session() as s:
        rows = list(s.scalars(q.order_by(AuditEvent.occurred_at, AuditEvent.id).limit(args["limit"] + 1)))
    more = len(rows) > args["limit"]
    rows = rows[: args["limit"]]
    nxt = encode_cursor(rows[-1].occurred_at.isoformat(), rows[-1].id) if more else None
    return {"items": [event_body(e) for e in rows], "next_cursor": nxt}
