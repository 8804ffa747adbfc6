"""Sending task messages: Celery by task name, or nothing (the local executor polls the outbox).

The API never imports the worker modules; it only knows task names.
"""
from __future__ import annotations

import logging

from sqlalchemy import event, text
from sqlalchemy.orm import Session

from app.persistence.outbox import PENDING_KEY, claim_unsent, mark_sent

log = logging.getLogger(__name__)

PLAN_JOB = "provisor.plan_job"
RUN_SHARD = "provisor.run_shard"
FINALIZE_JOB = "provisor.finalize_job"
INGEST_UPLOAD = "provisor.ingest_upload"
REAP = "provisor.reap"
QUEUES = {PLAN_JOB: "finalize", RUN_SHARD: "compute", FINALIZE_JOB: "finalize", INGEST_UPLOAD: "ingest",
          REAP: "finalize"}


class CeleryDispatcher:
    def __init__(self, celery_app):
        self.celery = celery_app

    def send(self, task: str, args: list, queue: str) -> None:
        self.celery.send_task(task, args=args, queue=queue)


class OutboxOnlyDispatcher:
    """Local mode: the executor's relay reads the outbox itself; nothing to push."""

    def send(self, task: str, args: list, queue: str) -> None:  # pragma: no cover - never called
        raise RuntimeError("the local executor relays from the outbox")


def install_fast_path(sessionmaker, engine, dispatcher) -> None:
    """After the outermost commit, send the session's outbox rows now and mark them sent.

    ``after_commit`` fires for the real commit only (not savepoint releases). A crash between the
    send and the mark leaves the row unsent: the relay sends it again, and tasks are idempotent.
    """

    @event.listens_for(sessionmaker, "after_commit")
    def _send_pending(session: Session) -> None:
        pending = session.info.pop(PENDING_KEY, None)
        if not pending:
            return
        sent = []
        for msg_id, task, args, queue in pending:
            try:
                dispatcher.send(task, args, queue)
                sent.append(msg_id)
            except Exception:  # broker down: the relay retries from the outbox
                log.warning("broker unavailable; %s stays in the outbox", task, exc_info=True)
                break
        if sent:
            try:
                with engine.begin() as c:
                    c.execute(text("UPDATE outbox SET sent_at = now(), send_attempts = send_attempts + 1 "
                                   "WHERE id = ANY(:ids)"), {"ids": sent})
            except Exception:
                log.warning("could not mark outbox rows sent; the relay will resend", exc_info=True)

    @event.listens_for(sessionmaker, "after_rollback")
    def _drop_pending(session: Session) -> None:
        session.info.pop(PENDING_KEY, None)


def relay(db, dispatcher, older_than_s: float = 2.0, limit: int = 500) -> int:
    """Send outbox rows the fast path missed (broker was down, process died). Returns rows sent."""
    with db.session() as s:
        rows = claim_unsent(s, older_than_s, limit)
        sent = []
        for msg_id, task, args, queue in rows:
            try:
                dispatcher.send(task, args, queue)
            except Exception:
                log.warning("broker unavailable during relay", exc_info=True)
                break
            sent.append(msg_id)
        mark_sent(s, sent)
        s.info.pop(PENDING_KEY, None)
    return len(sent)

