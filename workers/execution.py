"""plan → shards → DB-counter fan-in → finalize, and the reaper.

The same functions run under Celery (``workers/tasks.py``) and the local executor
(``workers/executors.py``). Each is idempotent: a duplicated or redelivered message
changes nothing that is already done.
"""
from __future__ import annotations

import hashlib
import logging
import time
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

from flask import current_app
from sqlalchemy import select, text

from app import audit
from app.canonical import dumps, sha256_json
from app.dispatch import FINALIZE_JOB, PLAN_JOB, QUEUES, RUN_SHARD, relay
from app.models import Job, JobShard
from app.persistence import outbox, partitions, tables
from app.services.jobs import job_audit_view
from app.services.resources import create as create_resource
from workers.kinds import registry
from workers.kinds.base import InputError, NextRound
from workers.portfolios import registry as portfolio_kinds
from workers.portfolios.frames import coerce

log = logging.getLogger(__name__)
SYSTEM = ("system", "worker", None, None, None)


def _rt():
    ext = current_app.extensions
    return ext["provisor.db"], ext["provisor.config"]


def _now() -> datetime:
    return datetime.now(timezone.utc)


# ---------------------------------------------------------------- contexts handed to kinds


@dataclass
class _PlanContext:
    params: dict
    seed: int | None
    n_items: int
    default_shard_size: int


@dataclass
class _ShardContext:
    job_id: str
    shard_no: int
    spec: dict
    params: dict
    seed: int | None
    input_kind: str | None
    version_id: uuid.UUID | None
    inline: list | None
    _checked_at: float = 0.0
    _cancelled: bool = False
    load_s: float = 0.0

    def load_items(self, start: int, stop: int):
        t0 = time.perf_counter()
        kind = portfolio_kinds.get(self.input_kind)
        if self.inline is not None:
            import pandas as pd

            frame = coerce(kind, pd.DataFrame.from_records(self.inline[start:stop], columns=kind.field_names))
        else:
            db, _ = _rt()
            with db.session() as s:
                frame = coerce(kind, tables.read_portfolio_rows(s, kind, self.version_id, start, stop))
        self.load_s += time.perf_counter() - t0
        return frame

    def cancelled(self) -> bool:
        # At most one query a second, however often a kind asks.
        if not self._cancelled and time.monotonic() - self._checked_at > 1.0:
            db, _ = _rt()
            with db.session() as s:
                status = s.scalar(select(Job.status).where(Job.id == uuid.UUID(self.job_id)))
            self._cancelled = status in ("canceling", "canceled", "failed")
            self._checked_at = time.monotonic()
        return self._cancelled


@dataclass
class _FinalizeContext:
    job_id: str
    params: dict
    seed: int | None
    partials: list[dict]
    portfolio_id: str | None
    _kind: object
    _tenant_id: uuid.UUID
    _month: object
    published: list = field(default_factory=list)

    def read_rows(self, columns, job_id=None):
        db, _ = _rt()
        with db.session() as s:
            jid, month = uuid.UUID(self.job_id), self._month
            if job_id is not None:
                other = s.scalar(select(Job).where(Job.id == uuid.UUID(str(job_id)), Job.tenant_id == self._tenant_id))
                if other is None:
                    raise InputError(f"no job {job_id}")
                jid, month = other.id, other.created_month
            return tables.read_results(s, self._kind.result_table, month, jid, list(columns))

    def previous_job_id(self):
        if not self.portfolio_id:
            return None
        db, _ = _rt()
        with db.session() as s:
            prev = s.scalar(select(Job.id).where(
                Job.tenant_id == self._tenant_id, Job.portfolio_id == uuid.UUID(self.portfolio_id),
                Job.kind == self._kind.name, Job.status == "succeeded", Job.id != uuid.UUID(self.job_id))
                .order_by(Job.finished_at.desc()).limit(1))
        return str(prev) if prev else None

    def publish(self, resource_type: str, name: str, content: dict) -> str:
        rid = uuid.uuid4()
        self.published.append((rid, resource_type, name, content))
        return str(rid)


# ---------------------------------------------------------------- plan


def plan_job(job_id: str) -> None:
    db, cfg = _rt()
    with db.session() as s:
        job = s.get(Job, uuid.UUID(job_id), with_for_update=True)
        if job is None or job.status != "queued" or job.shards_total > 0:
            log.debug("plan_job: nothing to do", extra={"job_id": job_id, "found": job is not None,
                                                        "status": job.status if job else None})
            return  # unknown, cancelled, or a duplicate message: already planned
        kind = registry.get(job.kind)
        try:
            specs = kind.plan(_PlanContext(job.params, job.seed, int(job.n_items), cfg.default_shard_size))
        except InputError as e:
            _fail(s, job, f"planning failed: {e.message}", e.errors)
            return
        specs = specs or [{}]
        now = _now()
        for no, spec in enumerate(specs):
            s.add(JobShard(job_id=job.id, shard_no=no, status="queued", spec=spec, sent_at=now))
        before = job_audit_view(job)
        job.status, job.started_at, job.updated_at, job.shards_total = "running", now, now, len(specs)
        s.flush()
        for no in range(len(specs)):
            outbox.enqueue(s, RUN_SHARD, [job_id, no], QUEUES[RUN_SHARD])
        audit.record(s, tenant_id=job.tenant_id, action="job.started", entity_type="job", entity_id=job.id,
                     before=before, after=job_audit_view(job), actor=SYSTEM)


# ---------------------------------------------------------------- shards


def run_shard(job_id: str, shard_no: int) -> None:
    db, cfg = _rt()
    jid = uuid.UUID(job_id)
    with db.session() as s:
        claimed = s.execute(text(
            "UPDATE job_shards SET status = 'running', attempts = attempts + 1, started_at = now(), "
            "lease_until = now() + make_interval(secs => :lease) "
            "WHERE job_id = :j AND shard_no = :n AND status IN ('queued', 'retry') AND attempts < :cap "
            "RETURNING attempts, spec"), {"j": jid, "n": shard_no, "lease": cfg.shard_lease_s,
                                          "cap": cfg.max_shard_attempts}).first()
        if claimed is None:
            return  # done, running elsewhere, or out of attempts (the reaper fails the job)
        attempt, spec = claimed
        job = s.get(Job, jid)
        if job.status != "running":
            _settle_cancelled_shard(s, job, shard_no)
            return
        kind = registry.get(job.kind)
        ctx = _ShardContext(job_id, shard_no, spec, job.params, job.seed, kind.input_kind, job.portfolio_version_id,
                            (job.inputs or {}).get(kind.input_kind) if job.inputs else None)
        month = job.created_month
    # The session is closed: no connection is held during the numeric work.
    started = time.perf_counter()
    try:
        out = kind.run_shard(ctx)
    except InputError as e:
        with db.session() as s:
            _fail(s, s.get(Job, jid, with_for_update=True), f"shard {shard_no}: {e.message}", e.errors)
        return
    except Exception as e:  # retried up to the attempt cap, then the job fails
        log.exception("shard %s/%s failed (attempt %s)", job_id, shard_no, attempt)
        _retry_or_fail(db, cfg, jid, shard_no, attempt, e)
        return
    compute_s = time.perf_counter() - started - ctx.load_s
    write_started = time.perf_counter()
    with db.session() as s:
        # Job row first, then the shard: the same lock order as cancel and the reaper.
        job = s.get(Job, jid, with_for_update=True)
        if job.status != "running":
            _settle_cancelled_shard(s, job, shard_no)
            return
        mine = s.execute(text(
            "UPDATE job_shards SET status = 'succeeded', partial = CAST(:p AS jsonb), finished_at = now(), "
            "row_count = :rc, lease_until = NULL, error = NULL "
            "WHERE job_id = :j AND shard_no = :n AND status = 'running' AND attempts = :a RETURNING 1"),
            {"p": dumps(out.partial), "rc": 0 if out.rows is None else len(out.rows), "j": jid, "n": shard_no,
             "a": attempt}).first()
        if mine is None:
            return  # the reaper handed this shard to another worker meanwhile
        if kind.result_table is not None:
            tables.replace_shard_rows(s, kind.result_table, month, jid, shard_no, out.rows)
        timings = {"load_s": round(ctx.load_s, 4), "compute_s": round(compute_s, 4),
                   "write_s": round(time.perf_counter() - write_started, 4), "peak_rss_mb": _peak_rss_mb()}
        s.execute(text("UPDATE job_shards SET timings = CAST(:t AS jsonb) WHERE job_id = :j AND shard_no = :n"),
                  {"t": dumps(timings), "j": jid, "n": shard_no})
        job.shards_done += 1
        job.updated_at = _now()
        if job.shards_done == job.shards_total:
            outbox.enqueue(s, FINALIZE_JOB, [job_id], QUEUES[FINALIZE_JOB])
    log.info("shard done", extra={"job_id": job_id, "shard_no": shard_no, **timings})


def _peak_rss_mb() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def _retry_or_fail(db, cfg, jid, shard_no, attempt, exc) -> None:
    with db.session() as s:
        job = s.get(Job, jid, with_for_update=True)
        message = f"{type(exc).__name__}: {exc}"
        if attempt >= cfg.max_shard_attempts:
            s.execute(text("UPDATE job_shards SET status = 'failed', error = :e, finished_at = now() "
                           "WHERE job_id = :j AND shard_no = :n"), {"e": message, "j": jid, "n": shard_no})
            _fail(s, job, f"shard {shard_no} failed after {attempt} attempts: {message}",
                  {"traceback": traceback.format_exception_only(exc)})
            return
        s.execute(text("UPDATE job_shards SET status = 'retry', error = :e, lease_until = NULL, sent_at = now() "
                       "WHERE job_id = :j AND shard_no = :n AND status = 'running' AND attempts = :a"),
                  {"e": message, "j": jid, "n": shard_no, "a": attempt})
        outbox.enqueue(s, RUN_SHARD, [str(jid), shard_no], QUEUES[RUN_SHARD])


def _settle_cancelled_shard(s, job: Job, shard_no: int) -> None:
    s.execute(text("UPDATE job_shards SET status = 'canceled', finished_at = now(), lease_until = NULL "
                   "WHERE job_id = :j AND shard_no = :n AND status IN ('queued', 'retry', 'running')"),
              {"j": job.id, "n": shard_no})
    if job.status == "canceling":
        _finish_cancel_if_idle(s, job)


def _finish_cancel_if_idle(s, job: Job) -> None:
    busy = s.scalar(text("SELECT count(*) FROM job_shards WHERE job_id = :j AND status = 'running'"), {"j": job.id})
    if busy:
        return
    s.execute(text("UPDATE job_shards SET status = 'canceled', finished_at = now() "
                   "WHERE job_id = :j AND status IN ('queued', 'retry')"), {"j": job.id})
    s.refresh(job, with_for_update=True)
    if job.status != "canceling":
        return
    before = job_audit_view(job)
    job.status, job.finished_at, job.updated_at = "canceled", _now(), _now()
    audit.record(s, tenant_id=job.tenant_id, action="job.canceled", entity_type="job", entity_id=job.id,
                 before=before, after=job_audit_view(job), actor=SYSTEM)


def _fail(s, job: Job, message: str, details=None) -> None:
    if job is None or job.status in ("succeeded", "failed", "canceled"):
        return
    before = job_audit_view(job)
    job.status, job.finished_at, job.updated_at = "failed", _now(), _now()
    job.error = {"message": message, "details": details or {}}
    s.execute(text("UPDATE job_shards SET status = 'canceled', finished_at = now() "
                   "WHERE job_id = :j AND status IN ('queued', 'retry')"), {"j": job.id})
    audit.record(s, tenant_id=job.tenant_id, action="job.failed", entity_type="job", entity_id=job.id,
                 before=before, after={**job_audit_view(job), "error": message}, actor=SYSTEM)


# ---------------------------------------------------------------- finalize


def finalize_job(job_id: str) -> None:
    db, _ = _rt()
    jid = uuid.UUID(job_id)
    with db.session() as s:
        job = s.get(Job, jid)
        if job is None or job.status != "running" or job.shards_done < job.shards_total:
            return
        kind = registry.get(job.kind)
        partials = [p for (p,) in s.execute(select(JobShard.partial).where(JobShard.job_id == jid)
                                            .order_by(JobShard.shard_no))]
        ctx = _FinalizeContext(job_id, job.params, job.seed, partials,
                               str(job.portfolio_id) if job.portfolio_id else None, kind, job.tenant_id,
                               job.created_month)
    try:
        summary = kind.finalize(ctx)
        if isinstance(summary, NextRound):
            _start_round(db, jid, summary.specs)
            return
        rows_sha = _rows_sha256(db, kind, ctx._month, jid)
    except InputError as e:
        with db.session() as s:
            _fail(s, s.get(Job, jid, with_for_update=True), f"finalize: {e.message}", e.errors)
        return
    result_sha = hashlib.sha256(f"{sha256_json(summary)}:{rows_sha}".encode()).hexdigest()
    with db.session() as s:
        job = s.get(Job, jid, with_for_update=True)
        if job.status == "canceling":
            _finish_cancel_if_idle(s, job)
            return
        if job.status != "running":
            return  # a duplicate finalize got here first
        for rid, rtype, name, content in ctx.published:
            r = create_resource(s, job.tenant_id, rtype, name, content, meta={"source_job": job_id})
            _rename_published(summary, str(rid), str(r.id))
        before = job_audit_view(job)
        job.result_summary, job.result_sha256 = summary, result_sha
        job.status, job.finished_at, job.updated_at = "succeeded", _now(), _now()
        audit.record(s, tenant_id=job.tenant_id, action="job.succeeded", entity_type="job", entity_id=job.id,
                     before=before, after=job_audit_view(job), actor=SYSTEM)
    

def _start_round(db, jid: uuid.UUID, specs: list[dict]) -> None:
    """More shards for a running job; the counter fan-in calls finalize again when they are done."""
    with db.session() as s:
        job = s.get(Job, jid, with_for_update=True)
        if job.status != "running" or job.shards_done < job.shards_total:
            return  # a duplicate finalize already started the round
        now, first = _now(), job.shards_total
        for i, spec in enumerate(specs):
            s.add(JobShard(job_id=jid, shard_no=first + i, status="queued", spec=spec, sent_at=now))
        job.shards_total, job.updated_at = first + len(specs), now
        s.flush()
        for i in range(len(specs)):
            outbox.enqueue(s, RUN_SHARD, [str(jid), first + i], QUEUES[RUN_SHARD])


def _rename_published(summary, provisional: str, final: str) -> None:
    """Published resources get their id on insert; swap the provisional id the kind saw."""
    if isinstance(summary, dict):
        for k, v in summary.items():
            if v == provisional:
                summary[k] = final
            else:
                _rename_published(v, provisional, final)
    elif isinstance(summary, list):
        for i, v in enumerate(summary):
            if v == provisional:
                summary[i] = final
            else:
                _rename_published(v, provisional, final)


def _rows_sha256(db, kind, month, jid) -> str:
    h = hashlib.sha256()
    if kind.result_table is not None:
        with db.session() as s:
            for page in tables.result_csv_pages(s, kind.result_table, month, jid):
                h.update(page)
    return h.hexdigest()


# ---------------------------------------------------------------- reaper


def reap(dispatcher=None) -> dict:
    """Beat task: resend what may be lost, recover vanished workers, enforce deadlines, add partitions."""
    db, cfg = _rt()
    counts = {}
    if dispatcher is not None:
        counts["outbox_resent"] = relay(db, dispatcher, older_than_s=2.0)
    with db.session() as s:
        # Shards whose worker vanished (lease expired): another attempt, or the job fails at the cap.
        expired = s.execute(text(
            "SELECT job_id, shard_no, attempts FROM job_shards WHERE status = 'running' AND lease_until < now() "
            "FOR UPDATE SKIP LOCKED")).all()
        for job_id, shard_no, attempts in expired:
            if attempts >= cfg.max_shard_attempts:
                s.execute(text("UPDATE job_shards SET status = 'failed', error = 'worker lost', finished_at = now() "
                               "WHERE job_id = :j AND shard_no = :n"), {"j": job_id, "n": shard_no})
                _fail(s, s.get(Job, job_id, with_for_update=True),
                      f"shard {shard_no}: worker lost {attempts} times")
            else:
                s.execute(text("UPDATE job_shards SET status = 'retry', lease_until = NULL, sent_at = now(), "
                               "error = 'worker lost' WHERE job_id = :j AND shard_no = :n"),
                          {"j": job_id, "n": shard_no})
                outbox.enqueue(s, RUN_SHARD, [str(job_id), shard_no], QUEUES[RUN_SHARD])
        counts["shards_recovered"] = len(expired)
        # Messages a broker may have dropped (Redis keeps nothing on disk): send again.
        stale = s.execute(text(
            "UPDATE job_shards SET sent_at = now() WHERE (job_id, shard_no) IN (SELECT job_id, shard_no "
            "FROM job_shards WHERE status IN ('queued', 'retry') AND sent_at < now() - make_interval(secs => :a) "
            "FOR UPDATE SKIP LOCKED) RETURNING job_id, shard_no"), {"a": cfg.resend_after_s}).all()
        for job_id, shard_no in stale:
            outbox.enqueue(s, RUN_SHARD, [str(job_id), shard_no], QUEUES[RUN_SHARD])
        counts["shards_resent"] = len(stale)
        jobs = s.execute(text(
            "UPDATE jobs SET updated_at = now() WHERE id IN (SELECT id FROM jobs WHERE "
            "((status = 'queued' AND shards_total = 0) OR (status = 'running' AND shards_done = shards_total "
            "AND shards_total > 0)) AND updated_at < now() - make_interval(secs => :a) FOR UPDATE SKIP LOCKED) "
            "RETURNING id, status"), {"a": cfg.resend_after_s}).all()
        for job_id, status in jobs:
            task = PLAN_JOB if status == "queued" else FINALIZE_JOB
            outbox.enqueue(s, task, [str(job_id)], QUEUES[task])
        counts["jobs_resent"] = len(jobs)
        for job in s.scalars(select(Job).where(Job.status.in_(("queued", "running")), Job.deadline_at < _now())
                             .with_for_update(skip_locked=True)):
            _fail(s, job, "deadline exceeded")
        for job in s.scalars(select(Job).where(Job.status == "canceling").with_for_update(skip_locked=True)):
            _finish_cancel_if_idle(s, job)
        partitions.ensure_ahead(s)
        outbox.purge_sent(s)
    return counts
