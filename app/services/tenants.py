"""Tenants and their API keys."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

from sqlalchemy import select

from app import audit
from app.auth import SCOPES, digest, new_key
from app.errors import ConflictError, NotFoundError, UnprocessableError
from app.models import ApiKey, Tenant

ADMIN_ACTOR = ("cli", "admin", None, None, None)


def create_tenant(session, code: str, name: str) -> Tenant:
    if session.scalar(select(Tenant).where(Tenant.code == code)):
        raise ConflictError(f"tenant {code!r} exists")
    t = Tenant(id=uuid.uuid4(), code=code, name=name)
    session.add(t)
    session.flush()
    audit.record(session, tenant_id=t.id, action="tenant.created", entity_type="tenant", entity_id=t.id,
                 after={"code": code, "name": name}, actor=ADMIN_ACTOR)
    return t


def tenant_by_code(session, code: str) -> Tenant:
    t = session.scalar(select(Tenant).where(Tenant.code == code))
    if t is None:
        raise NotFoundError(f"no tenant {code!r}")
    return t


def create_key(session, tenant: Tenant, scopes: list[str], name: str | None = None) -> tuple[ApiKey, str]:
    bad = [s for s in scopes if s not in SCOPES]
    if bad or not scopes:
        raise UnprocessableError(f"unknown scopes {bad}; choose from {list(SCOPES)}", {"scopes": bad})
    prefix, key = new_key()
    k = ApiKey(id=uuid.uuid4(), tenant_id=tenant.id, prefix=prefix, digest=digest(key), scopes=scopes, name=name)
    session.add(k)
    session.flush()
    audit.record(session, tenant_id=tenant.id, action="api_key.created", entity_type="api_key", entity_id=k.id,
                 after={"prefix": prefix, "scopes": scopes, "name": name}, actor=ADMIN_ACTOR)
    return k, key


def revoke_key(session, prefix: str) -> ApiKey:
    k = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if k is None:
        raise NotFoundError(f"no key with prefix {prefix!r}")
    if k.revoked_at is None:
        k.revoked_at = datetime.now(timezone.utc)
        audit.record(session, tenant_id=k.tenant_id, action="api_key.revoked", entity_type="api_key",
                     entity_id=k.id, before={"revoked": False}, after={"revoked": True}, actor=ADMIN_ACTOR)
    return k
