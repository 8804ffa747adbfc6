"""Ingestion task: stored upload bytes → validated, immutable portfolio version, or nothing.

Everything happens in one transaction: the version row, the COPY of every chunk, the
upload's status and the audit event. An invalid file rolls it all back, then the failure
report is written in a second, small transaction.
"""
from __future__ import annotations

import io
import logging
import uuid
from datetime import datetime, timezone

from flask import current_app
from sqlalchemy import func, select, text

from app import audit
from app.models import Portfolio, PortfolioVersion, Upload
from app.persistence import blobs, tables
from workers.ingest.errors import UploadFormatError
from workers.ingest.pipeline import ingest
from workers.portfolios import registry as portfolio_kinds

log = logging.getLogger(__name__)
SYSTEM = ("system", "worker", None, None, None)


class UploadChunkReader(io.RawIOBase):
    """A read-only file over ``upload_chunks``, fetched one chunk at a time."""

    def __init__(self, db, upload_id: uuid.UUID):
        self.db, self.upload_id = db, upload_id
        self.seq, self.buf, self.pos, self.done = 0, b"", 0, False

    def readable(self) -> bool:
        return True

    def _fetch(self) -> None:
        with self.db.session() as s:
            data = blobs.read_chunk(s, self.upload_id, self.seq)
        if data is None:
            self.done = True
        else:
            self.buf, self.pos, self.seq = data, 0, self.seq + 1

    def readinto(self, b) -> int:
        while self.pos >= len(self.buf) and not self.done:
            self._fetch()
        if self.done and self.pos >= len(self.buf):
            return 0
        n = min(len(b), len(self.buf) - self.pos)
        b[:n] = self.buf[self.pos:self.pos + n]
        self.pos += n
        return n


class _Invalid(Exception):
    def __init__(self, report: dict):
        self.report = report


def _file_error_report(e: UploadFormatError) -> dict:
    entry = {"row": getattr(e, "row", None), "column": getattr(e, "column", None), "value": None,
             "message": e.message}
    return {"valid": False, "rows": 0, "errors": [entry], "counts": {"file": 1}, "file_error": e.message}


def ingest_upload(upload_id: str) -> None:
    db = current_app.extensions["provisor.db"]
    cfg = current_app.extensions["provisor.config"]
    uid = uuid.UUID(upload_id)
    with db.session() as s:
        claimed = s.execute(text("UPDATE uploads SET status = 'validating' WHERE id = :u AND status IN "
                                 "('queued', 'validating') RETURNING portfolio_id"), {"u": uid}).first()
    if claimed is None:
        return  # already finished: a duplicate message
    try:
        with db.session() as w:
            upload = w.get(Upload, uid, with_for_update=True)
            if upload.status != "validating":
                return
            portfolio = w.get(Portfolio, upload.portfolio_id)
            kind = portfolio_kinds.get(portfolio.kind)
            # Uploads to one portfolio become consecutive versions, one at a time.
            w.execute(text("SELECT pg_advisory_xact_lock(hashtext('portfolio:' || :p))"), {"p": str(portfolio.id)})
            number = (w.scalar(select(func.max(PortfolioVersion.version))
                               .where(PortfolioVersion.portfolio_id == portfolio.id)) or 0) + 1
            version = PortfolioVersion(id=uuid.uuid4(), portfolio_id=portfolio.id, tenant_id=portfolio.tenant_id,
                                       version=number, row_count=0, content_sha256="", upload_id=uid)
            w.add(version)
            w.flush()
            writer = tables.PortfolioRowWriter(w, kind, version.id)
            try:
                result = ingest(UploadChunkReader(db, uid), kind, sink=writer.write, filename=upload.filename,
                                content_type=upload.content_type, max_bytes=cfg.max_upload_bytes,
                                max_errors=cfg.max_report_errors, row_numbers=True)
            except UploadFormatError as e:
                raise _Invalid(_file_error_report(e)) from None
            finally:
                writer.close()  # ends the COPY either way; a failure rolls the whole transaction back
            if not result.valid:
                raise _Invalid(result.report)
            report = dict(result.report)
            version.row_count, version.content_sha256 = result.rows, result.sha256
            upload.status, upload.version_id, upload.report = "succeeded", version.id, report
            upload.finished_at = datetime.now(timezone.utc)
            portfolio.last_report = {"upload_id": upload_id, **report}
            audit.record(w, tenant_id=portfolio.tenant_id, action="portfolio.version_created",
                         entity_type="portfolio", entity_id=portfolio.id, actor=SYSTEM,
                         after={"version": number, "version_id": str(version.id), "rows": result.rows,
                                "content_sha256": result.sha256, "upload_id": upload_id})
    except _Invalid as bad:
        with db.session() as s:
            upload = s.get(Upload, uid, with_for_update=True)
            portfolio = s.get(Portfolio, upload.portfolio_id)
            upload.status, upload.report, upload.finished_at = "failed", bad.report, datetime.now(timezone.utc)
            portfolio.last_report = {"upload_id": upload_id, **bad.report}
            audit.record(s, tenant_id=portfolio.tenant_id, action="portfolio.upload_rejected",
                         entity_type="portfolio", entity_id=portfolio.id, actor=SYSTEM,
                         after={"upload_id": upload_id, "counts": bad.report.get("counts"),
                                "first_error": (bad.report.get("errors") or [None])[0]})
