"""Prometheus metrics read from PostgreSQL and the broker at scrape time.

Workers run in many processes; reading the shared state at scrape time gives one truth
without a multiprocess registry.
"""
from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from sqlalchemy import text

log = logging.getLogger(__name__)
BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
QUEUES = ("ingest", "compute", "finalize")


def _histogram(name, doc, rows, label):
    fam = HistogramMetricFamily(name, doc, labels=[label])
    by = {}
    for key, seconds in rows:
        by.setdefault(key, []).append(float(seconds))
    for key, values in by.items():
        buckets = [(str(b), sum(v <= b for v in values)) for b in BUCKETS] + [("+Inf", len(values))]
        fam.add_metric([key], buckets, sum(values))
    return fam


class ProvisorCollector:
    def __init__(self, db, redis_url: str | None, key_prefix: str = ""):
        self.db, self.redis_url, self.key_prefix = db, redis_url, key_prefix

    def collect(self):
        with self.db.session() as s:
            jobs = GaugeMetricFamily("provisor_jobs", "Jobs by status and kind", labels=["status", "kind"])
            for status, kind, n in s.execute(text("SELECT status, kind, count(*) FROM jobs GROUP BY 1, 2")):
                jobs.add_metric([status, kind], n)
            yield jobs
            recent = s.execute(text(
                "SELECT kind, extract(epoch FROM finished_at - created_at) FROM jobs WHERE finished_at > "
                "now() - interval '1 hour' AND status = 'succeeded'")).all()
            yield _histogram("provisor_job_duration_seconds", "Submit to success, jobs finished in the last hour",
                             recent, "kind")
            shards = s.execute(text(
                "SELECT j.kind, extract(epoch FROM s.finished_at - s.started_at) FROM job_shards s JOIN jobs j "
                "ON j.id = s.job_id WHERE s.finished_at > now() - interval '1 hour' AND s.status = 'succeeded'"
            )).all()
            yield _histogram("provisor_shard_duration_seconds", "Shard run time, last hour", shards, "kind")
            unsent = s.scalar(text("SELECT count(*) FROM outbox WHERE sent_at IS NULL"))
            yield GaugeMetricFamily("provisor_outbox_unsent", "Outbox messages not yet sent", value=unsent)
        depth = GaugeMetricFamily("provisor_queue_depth", "Messages waiting in each broker queue", labels=["queue"])
        if self.redis_url and self.redis_url.startswith("redis"):
            try:
                import redis

                r = redis.Redis.from_url(self.redis_url, socket_timeout=1)
                for q in QUEUES:
                    depth.add_metric([q], r.llen(self.key_prefix + q))
            except Exception:
                log.warning("queue depth unavailable", exc_info=True)
        yield depth


def render(db, redis_url: str | None, key_prefix: str = "") -> bytes:
    registry = CollectorRegistry()
    registry.register(ProvisorCollector(db, redis_url, key_prefix))
    return generate_latest(registry)
