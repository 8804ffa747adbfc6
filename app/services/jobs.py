"""Submitting, reading, cancelling and re-running jobs."""
from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta, timezone

from marshmallow import ValidationError
from sqlalchemy import select, text

from app import audit
from app.canonical import sha256_json
from app.dispatch import PLAN_JOB, QUEUES
from app.errors import ConflictError, NotFoundError, PayloadTooLargeError, UnprocessableError
from app.models import TERMINAL_STATUSES, Job, Portfolio, PortfolioVersion
from app.services.ownership import owned
from app.persistence import outbox, partitions
from app.services.resources import TenantResources
from workers.ingest.validate import validate_records
from workers.kinds import registry
from workers.kinds.base import InputError
from workers.portfolios import registry as portfolio_kinds


def job_audit_view(job: Job) -> dict:
    return {"status": job.status, "kind": job.kind, "shards_done": job.shards_done,
            "shards_total": job.shards_total, "result_sha256": job.result_sha256}


def _kind_or_422(name: str):
    kind = registry.get(name)
    if kind is None:
        raise UnprocessableError(f"unknown job kind {name!r}", {"kind": [f"must be one of {registry.names()}"]})
    return kind


def _load_params(kind, params: dict) -> dict:
    try:
        return kind.params_schema().load(params or {})
    except ValidationError as e:
        raise ValidationError({"params": e.messages}) from None


def _resolve_portfolio(session, tenant_id, kind, portfolio_id, version_no):
    try:
        pid = uuid.UUID(str(portfolio_id))
    except ValueError:
        raise UnprocessableError("portfolio_id is not a UUID", {"portfolio_id": ["not a valid UUID"]}) from None
    p = session.scalar(select(Portfolio).where(Portfolio.id == pid, Portfolio.tenant_id == tenant_id))
    if p is None:
        raise NotFoundError(f"no portfolio {portfolio_id}", {"portfolio_id": ["not found"]})
    if p.kind != kind.input_kind:
        raise UnprocessableError(f"a {kind.name} job needs a {kind.input_kind} portfolio, not {p.kind}",
                                 {"portfolio_id": [f"portfolio kind is {p.kind}, expected {kind.input_kind}"]})
    q = select(PortfolioVersion).where(PortfolioVersion.portfolio_id == pid)
    q = q.where(PortfolioVersion.version == version_no) if version_no else q.order_by(PortfolioVersion.version.desc())
    v = session.scalar(q.limit(1))
    if v is None:
        what = f"version {version_no}" if version_no else "no version yet (upload data first)"
        raise ConflictError(f"portfolio {portfolio_id} has {what}" if not version_no else f"no {what}",
                            {"portfolio_version": [what]})
    return p, v


def _inline_items(kind, inputs: dict | None):
    if not inputs:
        return None, None
    key = kind.input_kind
    if key is None or set(inputs) - {key}:
        allowed = [key] if key else []
        raise UnprocessableError("unexpected inline inputs", {"inputs": [f"allowed keys: {allowed}"]})
    records = inputs.get(key)
    if not isinstance(records, list):
        raise UnprocessableError(f"inputs.{key} must be a list of records", {f"inputs.{key}": ["must be a list"]})
    if len(records) > kind.max_inline_items:
        raise PayloadTooLargeError(
            f"inputs.{key} has {len(records)} items; at most {kind.max_inline_items} are accepted inline — "
            f"upload a portfolio instead", {f"inputs.{key}": [f"at most {kind.max_inline_items} items"]})
    pkind = portfolio_kinds.get(key)
    frame, errors = validate_records(pkind, records, path_prefix=f"inputs.{key}")
    if errors:
        first = next(iter(errors))
        raise UnprocessableError(f"invalid inline inputs: {first}: {errors[first][0]}", errors)
    return frame, {key: frame.to_dict(orient="records")}


def submit(session, principal, body: dict, idempotency_key: str | None, config) -> tuple[Job, bool]:
    """Validate and store a job with its outbox message and audit event. Returns (job, created)."""
    request_sha = sha256_json(body)
    if idempotency_key:
        got = session.execute(text("SELECT pg_try_advisory_xact_lock(hashtext(:k))"),
                              {"k": f"idem:{principal.tenant_id}:{idempotency_key}"}).scalar()
        if not got:
            raise ConflictError("a request with this Idempotency-Key is still in flight; retry shortly",
                                headers={"Retry-After": "1"})
        existing = session.scalar(select(Job).where(Job.tenant_id == principal.tenant_id,
                                                     Job.idempotency_key == idempotency_key))
        if existing is not None:
            if existing.request_sha256 != request_sha:
                raise UnprocessableError("Idempotency-Key was already used with a different request body",
                                         {"Idempotency-Key": ["reused with a different body"]})
            return existing, False

    kind = _kind_or_422(body["kind"])
    params = _load_params(kind, body.get("params") or {})
    portfolio = version = None
    if body.get("portfolio_id") and body.get("inputs"):
        raise UnprocessableError("give either portfolio_id or inputs, not both", {"inputs": ["not with portfolio_id"]})
    if body.get("portfolio_id"):
        if kind.input_kind is None:
            raise UnprocessableError(f"kind {kind.name} takes no portfolio", {"portfolio_id": ["not accepted"]})
        portfolio, version = _resolve_portfolio(session, principal.tenant_id, kind, body["portfolio_id"],
                                                body.get("portfolio_version"))
    frame, inputs = _inline_items(kind, body.get("inputs"))
    if kind.input_required and portfolio is None and inputs is None:
        raise UnprocessableError(f"kind {kind.name} needs portfolio_id or inputs.{kind.input_kind}",
                                 {"portfolio_id": ["required (or inline inputs)"]})
    if kind.prepare is not None:
        try:
            params = kind.prepare(params, TenantResources(session, principal.tenant_id), frame)
        except InputError as e:
            raise UnprocessableError(e.message, e.errors or {"params": [e.message]}) from None
    seed = body.get("seed")
    if seed is None:
        seed = secrets.randbits(63)
    n_items = version.row_count if version else (len(frame) if frame is not None else 0)
    input_sha = sha256_json({"kind": kind.name, "params": params, "inputs": inputs,
                             "portfolio_content_sha256": version.content_sha256 if version else None})
    return _insert(session, principal.tenant_id, principal.key_id, kind, params, inputs, portfolio, version,
                   n_items, seed, input_sha, idempotency_key, request_sha, config), True


def _insert(session, tenant_id, key_id, kind, params, inputs, portfolio, version, n_items, seed, input_sha,
            idempotency_key, request_sha, config, rerun_of=None) -> Job:
    now = datetime.now(timezone.utc)
    job = Job(id=uuid.uuid4(), tenant_id=tenant_id, kind=kind.name, status="queued", params=params, inputs=inputs,
              portfolio_id=portfolio.id if portfolio else None, portfolio_version_id=version.id if version else None,
              n_items=n_items, seed=seed, input_sha256=input_sha, engine_version=kind.engine_version,
              idempotency_key=idempotency_key, request_sha256=request_sha, created_by=key_id, rerun_of=rerun_of,
              created_month=partitions.month_of(now), created_at=now, updated_at=now,
              deadline_at=now + timedelta(seconds=config.job_deadline_s))
    session.add(job)
    if kind.result_table is not None:
        partitions.ensure(session, kind.result_table.name, job.created_month)
    session.flush()
    outbox.enqueue(session, PLAN_JOB, [str(job.id)], QUEUES[PLAN_JOB])
    audit.record(session, tenant_id=tenant_id, action="job.submitted", entity_type="job", entity_id=job.id,
                 after={"kind": kind.name, "input_sha256": input_sha, "seed": seed,
                        "portfolio_version_id": str(job.portfolio_version_id) if job.portfolio_version_id else None,
                        "rerun_of": str(rerun_of) if rerun_of else None})
    return job


def get(session, tenant_id, job_id) -> Job:
    return owned(session, Job, tenant_id, job_id, "job")


def list_(session, tenant_id, *, status=None, kind=None, limit=50, after=None) -> list[Job]:
    q = select(Job).where(Job.tenant_id == tenant_id)
    if status:
        q = q.where(Job.status == status)
    if kind:
        q = q.where(Job.kind == kind)
    if after:
        created_at, jid = after
        q = q.where(text("(jobs.created_at, jobs.id) < (:c, :i)").bindparams(c=created_at, i=jid))
    return list(session.scalars(q.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit)))


def cancel(session, tenant_id, job_id) -> Job:
    job = get(session, tenant_id, job_id)
    session.refresh(job, with_for_update=True)
    if job.status in TERMINAL_STATUSES or job.status == "canceling":
        return job
    before = job_audit_view(job)
    now = datetime.now(timezone.utc)
    if job.status == "queued" and job.shards_total == 0:
        job.status, job.finished_at = "canceled", now
        action = "job.canceled"
    else:
        job.status = "canceling"
        action = "job.cancel_requested"
    job.updated_at = now
    audit.record(session, tenant_id=tenant_id, action=action, entity_type="job", entity_id=job.id,
                 before=before, after=job_audit_view(job))
    return job


def rerun(session, principal, job_id, config) -> Job:
    """A new job with the original's pinned params, inputs, portfolio version and seed."""
    old = get(session, principal.tenant_id, job_id)
    kind = _kind_or_422(old.kind)
    portfolio = session.get(Portfolio, old.portfolio_id) if old.portfolio_id else None
    version = session.get(PortfolioVersion, old.portfolio_version_id) if old.portfolio_version_id else None
    return _insert(session, principal.tenant_id, principal.key_id, kind, old.params, old.inputs, portfolio, version,
                   old.n_items, old.seed, old.input_sha256, None, None, config, rerun_of=old.id)
