"""Transactional outbox: a task message is a row committed with the state change that needs it."""
from __future__ import annotations

from sqlalchemy import text

from app.models import OutboxMessage

PENDING_KEY = "provisor.outbox.pending"


def enqueue(session, task: str, args: list, queue: str) -> OutboxMessage:
    msg = OutboxMessage(task=task, args=args, queue=queue)
    session.add(msg)
    session.flush()
    # Remembered on the session so the after-commit fast path can send it at once.
    session.info.setdefault(PENDING_KEY, []).append((msg.id, task, args, queue))
    return msg


def claim_unsent(session, older_than_s: float, limit: int = 500) -> list[tuple[int, str, list, str]]:
    rows = session.execute(text(
        "SELECT id, task, args, queue FROM outbox WHERE sent_at IS NULL "
        "AND created_at < now() - make_interval(secs => :age) ORDER BY id LIMIT :lim FOR UPDATE SKIP LOCKED"
    ), {"age": older_than_s, "lim": limit})
    return [tuple(r) for r in rows]


def mark_sent(session, ids: list[int]) -> None:
    if ids:
        session.execute(text("UPDATE outbox SET sent_at = now(), send_attempts = send_attempts + 1 "
                             "WHERE id = ANY(:ids)"), {"ids": ids})


def purge_sent(session, older_than_days: int = 7) -> int:
    r = session.execute(text("DELETE FROM outbox WHERE sent_at < now() - make_interval(days => :d)"),
                        {"d": older_than_days})
    return r.rowcount
