"""Stored, immutable, versioned resources: mortality bases, curves, CMAs, portfolio models."""
from __future__ import annotations

import uuid

from sqlalchemy import func, select, text

from app.canonical import sha256_json
from app.errors import NotFoundError
from app.services.ownership import owned
from app.models import Resource
from workers.kinds.base import InputError


def as_dict(r: Resource) -> dict:
    return {"id": str(r.id), "type": r.type, "name": r.name, "version": r.version, "content": r.content,
            "meta": r.meta or {}, "sha256": r.sha256, "created_at": r.created_at.isoformat() if r.created_at else None}


def create(session, tenant_id: uuid.UUID, rtype: str, name: str, content: dict, meta: dict | None = None) -> Resource:
    """A new version of ``(type, name)``: versions are numbered 1, 2, … and never change."""
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"res:{tenant_id}:{rtype}:{name}"})
    latest = session.scalar(select(func.max(Resource.version)).where(
        Resource.tenant_id == tenant_id, Resource.type == rtype, Resource.name == name))
    r = Resource(tenant_id=tenant_id, type=rtype, name=name, version=(latest or 0) + 1, content=content,
                 meta=meta or {}, sha256=sha256_json(content))
    session.add(r)
    session.flush()
    return r


def get(session, tenant_id: uuid.UUID, rtype: str, resource_id) -> Resource:
    return owned(session, Resource, tenant_id, resource_id, rtype, Resource.type == rtype)


def list_(session, tenant_id: uuid.UUID, rtype: str, limit: int = 100) -> list[Resource]:
    return list(session.scalars(select(Resource).where(Resource.tenant_id == tenant_id, Resource.type == rtype)
                                .order_by(Resource.created_at.desc()).limit(limit)))


class TenantResources:
    """The ``Resources`` a kind's ``prepare`` sees: one tenant's, read-only."""

    def __init__(self, session, tenant_id: uuid.UUID):
        self.session, self.tenant_id = session, tenant_id

    def get(self, resource_type: str, resource_id: str) -> dict:
        try:
            return as_dict(get(self.session, self.tenant_id, resource_type, resource_id))
        except NotFoundError as e:
            raise InputError(e.detail, {resource_type: [e.detail]}) from None

    def find(self, resource_type: str, key: str, value) -> dict:
        r = self.session.scalar(
            select(Resource).where(Resource.tenant_id == self.tenant_id, Resource.type == resource_type,
                                   Resource.content[key].astext == str(value))
            .order_by(Resource.created_at.desc(), Resource.version.desc()).limit(1))
        if r is None:
            msg = f"no {resource_type} with {key} = {value}"
            raise InputError(msg, {key: [msg]})
        return as_dict(r)
