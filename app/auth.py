"""API keys: shown once, stored as SHA-256 digests, found by a public prefix, scoped to one tenant."""
from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

from flask import current_app, g, request
from sqlalchemy import select

from app.errors import AuthError, ForbiddenError
from app.models import ApiKey

SCOPES = ("jobs:read", "jobs:write", "portfolios:read", "portfolios:write", "audit:read", "admin")
KEY_PREFIX = "pvk"


@dataclass(frozen=True)
class Principal:
    key_id: uuid.UUID
    tenant_id: uuid.UUID
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> tuple[str, str]:
    """Return ``(prefix, full_key)``; the prefix is public and indexes the lookup."""
    prefix = secrets.token_hex(6)
    return prefix, f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"


def parse_prefix(key: str) -> str | None:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1]:
        return None
    return parts[1]


def authenticate(session, header: str | None) -> Principal:
    if not header or not header.startswith("Bearer "):
        raise AuthError("missing API key: send 'Authorization: Bearer <key>'",
                        headers={"WWW-Authenticate": 'Bearer realm="provisor"'})
    key = header[len("Bearer "):].strip()
    prefix = parse_prefix(key)
    row = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix)) if prefix else None
    # Compare even when no row matched so timing says nothing about which prefixes exist.
    expected = row.digest if row is not None else digest("no-such-key")
    if not hmac.compare_digest(expected, digest(key)) or row is None or row.revoked_at is not None:
        raise AuthError("invalid or revoked API key", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    return Principal(row.id, row.tenant_id, frozenset(row.scopes))


def require(scope: str):
    """Decorator for views: authenticate, then check ``scope``; sets ``g.principal``."""

    def wrap(view):
        @functools.wraps(view)
        def inner(*args, **kwargs):
            db = current_app.extensions["provisor.db"]
            with db.session() as s:
                principal = authenticate(s, request.headers.get("Authorization"))
            if not principal.allows(scope):
                raise ForbiddenError(f"this key lacks the '{scope}' scope")
            g.principal = principal
            return view(*args, **kwargs)

        return inner

    return wrap
