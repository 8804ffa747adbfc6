"""Portfolios, their immutable versions, and uploads stored in PostgreSQL for any worker to read."""
from __future__ import annotations

import hashlib
import uuid

from sqlalchemy import select

from app import audit
from app.dispatch import INGEST_UPLOAD, QUEUES
from app.errors import PayloadTooLargeError, UnprocessableError
from app.models import Portfolio, PortfolioVersion, Upload
from app.services.ownership import owned
from app.persistence import blobs, outbox


def create(session, tenant_id, kind: str, name: str) -> Portfolio:
    p = Portfolio(id=uuid.uuid4(), tenant_id=tenant_id, kind=kind, name=name)
    session.add(p)
    session.flush()
    audit.record(session, tenant_id=tenant_id, action="portfolio.created", entity_type="portfolio", entity_id=p.id,
                 after={"kind": kind, "name": name})
    return p


def get(session, tenant_id, portfolio_id) -> Portfolio:
    return owned(session, Portfolio, tenant_id, portfolio_id, "portfolio")


def versions(session, portfolio_id) -> list[PortfolioVersion]:
    return list(session.scalars(select(PortfolioVersion).where(PortfolioVersion.portfolio_id == portfolio_id)
                                .order_by(PortfolioVersion.version)))


def uploads(session, portfolio_id, limit=20) -> list[Upload]:
    return list(session.scalars(select(Upload).where(Upload.portfolio_id == portfolio_id)
                                .order_by(Upload.created_at.desc()).limit(limit)))


def get_upload(session, tenant_id, portfolio_id, upload_id) -> Upload:
    portfolio = get(session, tenant_id, portfolio_id)
    return owned(session, Upload, tenant_id, upload_id, "upload", Upload.portfolio_id == portfolio.id)


def store_upload(session, portfolio: Portfolio, stream, *, filename, content_type, max_bytes: int,
                 chunk_bytes: int) -> Upload:
    """Copy the body into ``upload_chunks`` chunk by chunk (never the whole file in memory)."""
    u = Upload(id=uuid.uuid4(), tenant_id=portfolio.tenant_id, portfolio_id=portfolio.id, status="queued",
               filename=filename, content_type=content_type)
    session.add(u)
    session.flush()
    digest, size, seq = hashlib.sha256(), 0, 0
    while True:
        data = stream.read(chunk_bytes)
        if not data:
            break
        size += len(data)
        if size > max_bytes:
            # The caller's transaction rolls back: no chunk of this upload survives.
            raise PayloadTooLargeError(f"upload over the limit of {max_bytes} bytes",
                                       {"file": [f"larger than {max_bytes} bytes"]})
        digest.update(data)
        blobs.write_chunk(session, u.id, seq, data)
        seq += 1
    if size == 0:
        raise UnprocessableError("the upload is empty", {"file": ["empty body"]})
    u.size_bytes, u.sha256 = size, digest.hexdigest()
    outbox.enqueue(session, INGEST_UPLOAD, [str(u.id)], QUEUES[INGEST_UPLOAD])
    audit.record(session, tenant_id=portfolio.tenant_id, action="portfolio.upload_received", entity_type="portfolio",
                 entity_id=portfolio.id, after={"upload_id": str(u.id), "bytes": size, "sha256": u.sha256,
                                                "filename": filename})
    return u
