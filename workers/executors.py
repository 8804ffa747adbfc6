"""The local executor: the same plan/shard/finalize code in a process pool, fed from the outbox.

Used when no broker is configured (``make demo`` on a bare machine). A relay thread claims
unsent outbox rows and submits them to the pool; it also runs the reaper periodically.
"""
from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from concurrent.futures import ProcessPoolExecutor

from app.config import Config
from app.persistence.outbox import claim_unsent, mark_sent

log = logging.getLogger(__name__)
_child_app = None


def _init_child(config: Config) -> None:
    global _child_app
    from app import create_app

    _child_app = create_app(config)
    _child_app.app_context().push()


def _run(task: str, args: list) -> None:
    from workers import execution, ingestion

    fn = {"provisor.plan_job": execution.plan_job, "provisor.run_shard": execution.run_shard,
          "provisor.finalize_job": execution.finalize_job, "provisor.ingest_upload": ingestion.ingest_upload}[task]
    fn(*args)


class LocalExecutor:
    def __init__(self, app, workers: int | None = None, poll_s: float = 0.05):
        self.app = app
        self.cfg: Config = app.extensions["provisor.config"]
        if self.cfg.uses_celery:
            raise RuntimeError("a broker is configured: run Celery workers instead of the local executor")
        self.db = app.extensions["provisor.db"]
        self.poll_s = poll_s
        # Children get the embedded server's app-role URL directly: they must not start another one.
        child_cfg = self.cfg.with_overrides(database_url=self.db.url)
        self.pool = ProcessPoolExecutor(max_workers=workers or self.cfg.local_workers,
                                        mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_init_child, initargs=(child_cfg,))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._relay_loop, name="provisor-local-relay", daemon=True)

    def start(self) -> "LocalExecutor":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _relay_loop(self) -> None:
        from workers.execution import reap

        last_reap = 0.0
        with self.app.app_context():
            while not self._stop.is_set():
                try:
                    with self.db.session() as s:
                        rows = claim_unsent(s, 0.0, limit=200)
                        for _id, task, args, _queue in rows:
                            if task != "provisor.reap":
                                self.pool.submit(_run, task, list(args)).add_done_callback(_log_failure)
                        mark_sent(s, [r[0] for r in rows])
                    if time.monotonic() - last_reap > self.cfg.reaper_interval_s:
                        reap(None)
                        last_reap = time.monotonic()
                except Exception:
                    log.exception("local relay iteration failed")
                self._stop.wait(self.poll_s)


def _log_failure(future) -> None:
    exc = future.exception()
    if exc is not None:
        log.error("local task failed: %r", exc)
