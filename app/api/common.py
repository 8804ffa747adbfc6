"""Helpers shared by the API blueprints: problem responses in OpenAPI, cursors, the tenant's session."""
from __future__ import annotations

import base64
import json

from flask import current_app, g

from app.api.schemas import ProblemSchema
from app.errors import UnprocessableError

PROBLEM_CT = "application/problem+json"


def problems(blp, *codes):
    """Declare problem+json responses for ``codes`` on a view, in the OpenAPI document."""

    def wrap(view):
        for code in codes:
            view = blp.alt_response(code, schema=ProblemSchema, content_type=PROBLEM_CT,
                                    description="RFC 9457 problem details")(view)
        return view

    return wrap


def db():
    return current_app.extensions["provisor.db"]


def cfg():
    return current_app.extensions["provisor.config"]


def tenant_id():
    return g.principal.tenant_id


def encode_cursor(*values) -> str:
    return base64.urlsafe_b64encode(json.dumps([str(v) for v in values]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, n: int) -> list[str]:
    try:
        pad = "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(cursor + pad))
        if not isinstance(values, list) or len(values) != n:
            raise ValueError
        return values
    except Exception:
        raise UnprocessableError("invalid cursor", {"cursor": ["not a cursor this API issued"]}) from None
