"""/api/v1/jobs: submit, poll, list, cancel, rerun, results and rows."""
from __future__ import annotations

import hashlib
import io
import json
import time
import uuid
from datetime import datetime

from flask import Response, request, stream_with_context
from flask_smorest import Blueprint

from app.api.common import cfg, db, decode_cursor, encode_cursor, problems, tenant_id
from app.api.schemas import JobListArgs, JobListSchema, JobRequestSchema, JobSchema, RowsArgs
from app.auth import require
from app.canonical import dumps
from app.errors import ConflictError, UnprocessableError
from app.models import TERMINAL_STATUSES, Job
from app.persistence import tables
from app.services import jobs as job_service
from workers.kinds import registry

blp = Blueprint("jobs", __name__, description="Calculation jobs")
MAX_WAIT_S = 30


def _iso(d):
    return d.isoformat() if d else None


def job_body(job: Job, session=None) -> dict:
    total = job.shards_total or 0
    percent = 100.0 if job.status == "succeeded" else (round(100.0 * job.shards_done / total, 1) if total else 0.0)
    base = f"/api/v1/jobs/{job.id}"
    body = {
        "id": str(job.id), "kind": job.kind, "status": job.status,
        "progress": {"shards_done": job.shards_done, "shards_total": total, "percent": percent},
        "created_at": _iso(job.created_at), "started_at": _iso(job.started_at), "finished_at": _iso(job.finished_at),
        "error": job.error, "input_sha256": job.input_sha256, "result_sha256": job.result_sha256,
        "seed": job.seed, "engine_version": job.engine_version,
        "portfolio_id": str(job.portfolio_id) if job.portfolio_id else None,
        "portfolio_version_id": str(job.portfolio_version_id) if job.portfolio_version_id else None,
        "rerun_of": str(job.rerun_of) if job.rerun_of else None,
        "links": {"self": base, "result": f"{base}/result", "rows": f"{base}/rows", "cancel": f"{base}/cancel",
                  "rerun": f"{base}/rerun"},
    }
    if job.rerun_of and session is not None and job.status == "succeeded":
        original = session.get(Job, job.rerun_of)
        body["rerun_hash_matched"] = bool(original and original.result_sha256 == job.result_sha256)
    return body


def _etag(body: dict) -> str:
    return '"' + hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32] + '"'


def _job_response(job: Job, status: int, session=None, location=False) -> Response:
    body = job_body(job, session)
    resp = Response(json.dumps(body), status=status, mimetype="application/json")
    resp.headers["ETag"] = _etag(body)
    if job.status not in TERMINAL_STATUSES:
        resp.headers["Retry-After"] = "1" if job.status == "running" else "2"
    if location:
        resp.headers["Location"] = f"/api/v1/jobs/{job.id}"
    return resp


def _wait_seconds() -> float:
    prefer = request.headers.get("Prefer", "")
    for part in prefer.split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "wait":
            try:
                return max(0.0, min(float(value), MAX_WAIT_S))
            except ValueError:
                return 0.0
    return 0.0


def _wait_until_done(job_id, tid, seconds: float):
    deadline = time.monotonic() + seconds
    while True:
        with db().session() as s:
            job = job_service.get(s, tid, job_id)
            if job.status in TERMINAL_STATUSES or time.monotonic() >= deadline:
                return job, job_body(job, s)
        time.sleep(0.1)


@blp.route("/jobs", methods=["POST"])
@blp.arguments(JobRequestSchema)
@blp.response(202, JobSchema, description="Accepted; poll the Location")
@blp.alt_response(200, schema=JobSchema, description="Idempotent replay, or the finished job with Prefer: wait")
@problems(blp, 401, 403, 404, 409, 413, 422)
@require("jobs:write")
def submit_job(body):
    """Submit a job. ``Idempotency-Key`` makes retries safe; ``Prefer: wait=N`` (N ≤ 30) may hold the reply."""
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (1 <= len(key) <= 255):
        raise UnprocessableError("Idempotency-Key must be 1-255 characters", {"Idempotency-Key": ["bad length"]})
    with db().session() as s:
        job, created = job_service.submit(s, _principal(), body, key, cfg())
        job_id = job.id
    wait = _wait_seconds()
    with db().session() as s:
        job = job_service.get(s, tenant_id(), job_id)
        if wait:
            job, _ = _wait_until_done(job_id, tenant_id(), wait)
        status = 200 if (not created or job.status in TERMINAL_STATUSES) else 202
        return _job_response(job, status, s, location=True)


def _principal():
    from flask import g

    return g.principal


@blp.route("/jobs", methods=["GET"])
@blp.arguments(JobListArgs, location="query")
@blp.response(200, JobListSchema)
@problems(blp, 401, 403, 422)
@require("jobs:read")
def list_jobs(args):
    """Jobs of the key's tenant, newest first; keyset pagination with ``next_cursor``."""
    after = None
    if args["cursor"]:
        c, i = decode_cursor(args["cursor"], 2)
        after = (datetime.fromisoformat(c), uuid.UUID(i))
    with db().session() as s:
        items = job_service.list_(s, tenant_id(), status=args["status"], kind=args["kind"],
                                  limit=args["limit"] + 1, after=after)
        more = len(items) > args["limit"]
        items = items[: args["limit"]]
        nxt = encode_cursor(items[-1].created_at.isoformat(), items[-1].id) if more else None
        return {"items": [job_body(j) for j in items], "next_cursor": nxt}


@blp.route("/jobs/<job_id>", methods=["GET"])
@blp.response(200, JobSchema)
@blp.alt_response(304, description="Not modified (If-None-Match)")
@problems(blp, 401, 403, 404)
@require("jobs:read")
def get_job(job_id):
    """Status and progress; send ``If-None-Match`` with the last ``ETag`` to get 304 while nothing changed."""
    with db().session() as s:
        job = job_service.get(s, tenant_id(), job_id)
        resp = _job_response(job, 200, s)
    if request.headers.get("If-None-Match") == resp.headers["ETag"]:
        not_modified = Response(status=304)
        not_modified.headers["ETag"] = resp.headers["ETag"]
        if "Retry-After" in resp.headers:
            not_modified.headers["Retry-After"] = resp.headers["Retry-After"]
        return not_modified
    return resp


@blp.route("/jobs/<job_id>/cancel", methods=["POST"])
@blp.response(202, JobSchema)
@problems(blp, 401, 403, 404)
@require("jobs:write")
def cancel_job(job_id):
    """Ask a job to stop; shards stop at their next check. A finished job is returned unchanged."""
    with db().session() as s:
        job_service.cancel(s, tenant_id(), job_id)
    with db().session() as s:
        return _job_response(job_service.get(s, tenant_id(), job_id), 202, s)


@blp.route("/jobs/<job_id>/rerun", methods=["POST"])
@blp.response(202, JobSchema)
@problems(blp, 401, 403, 404, 422)
@require("jobs:write")
def rerun_job(job_id):
    """Run again with the same pinned parameters, inputs and seed; the new job reports ``rerun_hash_matched``."""
    with db().session() as s:
        job = job_service.rerun(s, _principal(), job_id, cfg())
        new_id = job.id
    with db().session() as s:
        return _job_response(job_service.get(s, tenant_id(), new_id), 202, s, location=True)


@blp.route("/jobs/<job_id>/result", methods=["GET"])
@blp.response(200, description="The job's summary (shape per kind)")
@problems(blp, 401, 403, 404, 409)
@require("jobs:read")
def job_result(job_id):
    """The summary of a succeeded job (409 before)."""
    with db().session() as s:
        job = job_service.get(s, tenant_id(), job_id)
        if job.status != "succeeded":
            raise ConflictError(f"job is {job.status}; the result exists once it has succeeded",
                                headers={"Retry-After": "2"} if job.status not in TERMINAL_STATUSES else None)
        body = {"job_id": str(job.id), "kind": job.kind, "result_sha256": job.result_sha256,
                "input_sha256": job.input_sha256, "seed": job.seed, "engine_version": job.engine_version,
                "summary": job.result_summary}
    return Response(json.dumps(body), mimetype="application/json")


@blp.route("/jobs/<job_id>/rows", methods=["GET"])
@blp.arguments(RowsArgs, location="query")
@blp.response(200, description="Per-item rows: JSON pages, or the whole set as CSV/Parquet")
@problems(blp, 401, 403, 404, 409, 422)
@require("jobs:read")
def job_rows(args, job_id):
    """Per-item results. JSON pages with ``next_cursor``; ``Accept: text/csv`` or ``format=csv|parquet`` streams all."""
    with db().session() as s:
        job = job_service.get(s, tenant_id(), job_id)
        if job.status != "succeeded":
            raise ConflictError(f"job is {job.status}; rows are complete once it has succeeded")
        kind = registry.get(job.kind)
        table = kind.result_table
        if table is None:
            raise ConflictError(f"kind {job.kind} has no per-row results; see /result")
        month, jid = job.created_month, job.id
    fmt = args["format"] or ("csv" if "text/csv" in request.headers.get("Accept", "") else "json")
    if fmt == "csv":
        return _csv_stream(table, month, jid)
    if fmt == "parquet":
        with db().session() as s:
            frame = tables.read_results(s, table, month, jid, table.column_names)
        import pyarrow as pa
        import pyarrow.parquet as pq

        buf = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buf)
        return Response(buf.getvalue(), mimetype="application/vnd.apache.parquet",
                        headers={"Content-Disposition": f'attachment; filename="{jid}.parquet"'})
    after = tuple(int(v) for v in decode_cursor(args["cursor"], 2)) if args["cursor"] else None
    with db().session() as s:
        frame = tables.read_results(s, table, month, jid, ["shard_no", "seq", *table.column_names], after=after,
                                    limit=args["limit"] + 1)
    more = len(frame) > args["limit"]
    frame = frame.iloc[: args["limit"]]
    nxt = encode_cursor(int(frame["shard_no"].iloc[-1]), int(frame["seq"].iloc[-1])) if more else None
    # Python's float repr round-trips: the JSON carries every digit the engine produced.
    items = frame[table.column_names].to_dict(orient="records")
    return Response(dumps({"items": items, "next_cursor": nxt}, sort=False), mimetype="application/json")


def _csv_stream(table, month, jid) -> Response:
    header = (",".join(table.column_names) + "\n").encode()

    def generate():
        yield header
        with db().session() as s:
            yield from tables.result_csv_pages(s, table, month, jid)

    return Response(stream_with_context(generate()), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{jid}.csv"'})
