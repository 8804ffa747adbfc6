"""One exception hierarchy; every error leaves the API as RFC 9457 problem+json."""
from __future__ import annotations

import logging

from flask import Flask, Response, json, request
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"


class ProvisorError(Exception):
    status = 400
    title = "Bad request"
    type_slug = "bad-request"

    def __init__(self, detail: str, errors: dict | list | None = None, headers: dict | None = None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}


class AuthError(ProvisorError):
    status, title, type_slug = 401, "Unauthorized", "unauthorized"


class ForbiddenError(ProvisorError):
    status, title, type_slug = 403, "Forbidden", "forbidden"


class NotFoundError(ProvisorError):
    status, title, type_slug = 404, "Not found", "not-found"


class ConflictError(ProvisorError):
    status, title, type_slug = 409, "Conflict", "conflict"


class PayloadTooLargeError(ProvisorError):
    status, title, type_slug = 413, "Payload too large", "payload-too-large"


class UnsupportedMediaError(ProvisorError):
    status, title, type_slug = 415, "Unsupported media type", "unsupported-media-type"


class UnprocessableError(ProvisorError):
    status, title, type_slug = 422, "Unprocessable content", "validation-error"


def problem(status: int, title: str, detail: str, *, type_slug: str = "about:blank", errors=None,
            headers: dict | None = None) -> Response:
    body = {
        "type": f"https://provisor.dev/problems/{type_slug}" if type_slug != "about:blank" else type_slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.path if request else None,
    }
    if errors:
        body["errors"] = errors
    rid = request.environ.get("provisor.request_id") if request else None
    if rid:
        body["request_id"] = rid
    resp = Response(json.dumps(body), status=status, mimetype=PROBLEM)
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def flatten_messages(messages, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages → ``{"params.scenarios.0.weight": ["..."]}``."""
    out: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for k, v in messages.items():
            path = f"{prefix}.{k}" if prefix else str(k)
            out.update(flatten_messages(v, path))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        out[prefix or "_schema"] = list(messages)
    elif isinstance(messages, list):
        for i, m in enumerate(messages):
            out.update(flatten_messages(m, f"{prefix}.{i}" if prefix else str(i)))
    else:
        out[prefix or "_schema"] = [str(messages)]
    return out


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ProvisorError)
    def _provisor(e: ProvisorError):
        return problem(e.status, e.title, e.detail, type_slug=e.type_slug, errors=e.errors, headers=e.headers)

    @app.errorhandler(ValidationError)
    def _validation(e: ValidationError):
        errors = flatten_messages(e.messages)
        first = next(iter(errors), "request")
        return problem(422, "Unprocessable content", f"invalid request: {first}: {errors.get(first, [''])[0]}",
                       type_slug="validation-error", errors=errors)

    @app.errorhandler(HTTPException)
    def _http(e: HTTPException):
        headers = {}
        if e.code == 405 and hasattr(e, "valid_methods") and e.valid_methods:
            headers["Allow"] = ", ".join(e.valid_methods)
        errors = None
        data = getattr(e, "data", None)  # flask-smorest/webargs attach marshmallow messages here
        if isinstance(data, dict) and "messages" in data:
            # webargs nests by location ({"json": {...}, "query": {...}}); clients want the field path.
            errors = {}
            for location_messages in data["messages"].values():
                errors.update(flatten_messages(location_messages))
        detail = e.description or e.name
        if errors:
            first = next(iter(errors))
            detail = f"invalid request: {first}: {errors[first][0]}"
        slug = "validation-error" if e.code == 422 else e.name.lower().replace(" ", "-")
        return problem(e.code or 500, e.name, detail, type_slug=slug, errors=errors, headers=headers)

    @app.errorhandler(Exception)
    def _unexpected(e: Exception):
        log.exception("unhandled error")
        return problem(500, "Internal server error", "an unexpected error occurred; it has been logged",
                       type_slug="internal")
