"""Database engine and sessions; the embedded PostgreSQL when no DATABASE_URL is set."""
from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)


def embedded_url(data_dir: str) -> str:
    """Start (or reuse) the embedded PostgreSQL under ``data_dir`` and return its URL."""
    import pgserver  # imported here: only the embedded mode needs it

    os.makedirs(data_dir, exist_ok=True)
    server = pgserver.get_server(os.path.abspath(data_dir), cleanup_mode=None)
    uri = server.get_uri()  # postgresql://postgres:@/postgres?host=/abs/dir
    return uri.replace("postgresql://", "postgresql+psycopg2://", 1)


def normalise_url(url: str) -> str:
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg2://" + url[len("postgresql://"):]
    return url


def app_role_url(admin_url: str, role: str) -> str:
    """The same server and database as ``admin_url``, as the non-superuser app role."""
    url = make_url(admin_url)
    return url.set(username=role, password=os.environ.get("APP_DB_PASSWORD") or None).render_as_string(
        hide_password=False
    )


def _json(obj) -> str:
    from app.canonical import dumps

    return dumps(obj, sort=False)  # NaN → null, numpy scalars → numbers: JSONB accepts both


def make_engine(url: str, *, pool_size: int = 5) -> Engine:
    return create_engine(
        url,
        json_serializer=_json,
        pool_size=pool_size,
        max_overflow=5,
        pool_pre_ping=True,
        pool_recycle=1800,
        future=True,
    )


class Database:
    """Engine + session factory, one per process (rebuilt after fork)."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._pid = os.getpid()

    def _check_fork(self) -> None:
        if os.getpid() != self._pid:
            # A forked child must not share the parent's sockets.
            self.engine.dispose(close=False)
            self._pid = os.getpid()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commits once at the end, rolls back on error."""
        self._check_fork()
        s = self.sessions()
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    def raw_connection(self):
        self._check_fork()
        return self.engine.raw_connection()
