"""Celery tasks: thin wrappers with stable names; the work is in ``workers.execution``."""
from __future__ import annotations

from celery import shared_task
from flask import current_app

from workers import execution, ingestion


@shared_task(name="provisor.plan_job")
def plan_job(job_id: str) -> None:
    execution.plan_job(job_id)


@shared_task(name="provisor.run_shard")
def run_shard(job_id: str, shard_no: int) -> None:
    execution.run_shard(job_id, shard_no)


@shared_task(name="provisor.finalize_job")
def finalize_job(job_id: str) -> None:
    execution.finalize_job(job_id)


@shared_task(name="provisor.ingest_upload")
def ingest_upload(upload_id: str) -> None:
    ingestion.ingest_upload(upload_id)


@shared_task(name="provisor.reap")
def reap() -> dict:
    return execution.reap(current_app.extensions["provisor.dispatcher"])
