"""Fetching a tenant's own object by id: anything else (another tenant's, malformed id) is a 404."""
from __future__ import annotations

import uuid

from sqlalchemy import select

from app.errors import NotFoundError


def owned(session, model, tenant_id, raw_id, label: str, *conditions):
    """The ``model`` row with id ``raw_id`` of ``tenant_id`` (plus ``conditions``), else NotFoundError."""
    try:
        oid = uuid.UUID(str(raw_id))
    except ValueError:
        raise NotFoundError(f"no {label} {raw_id}") from None
    row = session.scalar(select(model).where(model.id == oid, model.tenant_id == tenant_id, *conditions))
    if row is None:
        raise NotFoundError(f"no {label} {raw_id}")
    return row
