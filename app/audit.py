"""Append-only audit events, hash-chained per tenant so tampering is detectable (``provisor audit verify``)."""
from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timezone

from flask import g, has_request_context, request
from sqlalchemy import select, text

from app.models import AuditEvent
from app.persistence import partitions


def _canonical(event: dict) -> bytes:
    return json.dumps(event, sort_keys=True, separators=(",", ":"), default=str).encode()


def _actor() -> tuple[str, str | None, str | None, str | None, str | None]:
    """(actor_type, actor_id, request_id, ip, user_agent) of the current request, or the system."""
    if has_request_context():
        principal = getattr(g, "principal", None)
        return (
            "api_key" if principal else "anonymous",
            str(principal.key_id) if principal else None,
            request.environ.get("provisor.request_id"),
            request.headers.get("X-Forwarded-For", request.remote_addr or "").split(",")[0].strip() or None,
            request.headers.get("User-Agent"),
        )
    return ("system", None, None, None, None)


def event_payload(e: AuditEvent) -> dict:
    return {
        "occurred_at": e.occurred_at.astimezone(timezone.utc).isoformat(),
        "tenant_id": str(e.tenant_id) if e.tenant_id else None,
        "actor_type": e.actor_type, "actor_id": e.actor_id, "action": e.action,
        "entity_type": e.entity_type, "entity_id": e.entity_id, "before": e.before, "after": e.after,
        "request_id": e.request_id, "ip": e.ip, "user_agent": e.user_agent,
    }


def chain(prev_hash: str | None, payload: dict) -> str:
    return hashlib.sha256((prev_hash or "").encode() + _canonical(payload)).hexdigest()


def record(session, *, tenant_id: uuid.UUID | None, action: str, entity_type: str, entity_id,
           before: dict | None = None, after: dict | None = None, actor: tuple | None = None) -> AuditEvent:
    """Add one audit event to ``session`` (flushed, committed by the caller's unit of work)."""
    now = datetime.now(timezone.utc)
    partitions.ensure(session, "audit_events", partitions.month_of(now))
    actor_type, actor_id, request_id, ip, ua = actor or _actor()
    # One writer at a time per tenant keeps the hash chain linear.
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext('audit:' || :t))"), {"t": str(tenant_id)})
    prev = session.scalar(
        select(AuditEvent.chain_hash).where(AuditEvent.tenant_id == tenant_id if tenant_id else AuditEvent.tenant_id.is_(None))
        .order_by(AuditEvent.id.desc()).limit(1)
    )
    e = AuditEvent(occurred_at=now, tenant_id=tenant_id, actor_type=actor_type, actor_id=actor_id, action=action,
                   entity_type=entity_type, entity_id=str(entity_id) if entity_id is not None else None,
                   before=before, after=after, request_id=request_id, ip=ip, user_agent=ua)
    e.chain_hash = chain(prev, event_payload(e))
    session.add(e)
    session.flush()
    return e


def verify(session, tenant_id: uuid.UUID | None = None) -> list[str]:
    """Recompute every tenant's chain; return the problems found (empty when intact)."""
    problems = []
    q = select(AuditEvent).order_by(AuditEvent.tenant_id, AuditEvent.id)
    if tenant_id:
        q = q.where(AuditEvent.tenant_id == tenant_id)
    last: dict = {}
    for e in session.scalars(q).yield_per(1000):
        key = e.tenant_id
        expected = chain(last.get(key), event_payload(e))
        if expected != e.chain_hash:
            problems.append(f"event {e.id} ({e.action} {e.entity_id}): hash mismatch")
        last[key] = e.chain_hash
    return problems
