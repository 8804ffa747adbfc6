"""Celery configured as a Flask extension: settings from DESIGN.md §2, tasks run in an app context."""
from __future__ import annotations

from celery import Celery, Task
from flask import Flask

from app.config import Config


def celery_settings(cfg: Config) -> dict:
    transport = {"visibility_timeout": cfg.visibility_timeout_s}
    if cfg.broker_key_prefix:
        transport["global_keyprefix"] = cfg.broker_key_prefix
    return {
        "broker_url": cfg.celery_broker_url,
        "result_backend": cfg.celery_result_backend or None,
        "broker_transport_options": transport,
        "result_backend_transport_options": transport,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_soft_time_limit": cfg.task_soft_time_limit_s,
        "task_time_limit": cfg.task_time_limit_s,
        "task_ignore_result": True,
        "task_annotations": {"provisor.ingest_upload": {
            "time_limit": cfg.ingest_time_limit_s, "soft_time_limit": max(1, cfg.ingest_time_limit_s - 60)}},
        "task_serializer": "json",
        "accept_content": ["json"],
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "worker_enable_soft_shutdown_on_idle": True,
        "worker_soft_shutdown_timeout": 10.0,
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": 3,
        "task_default_queue": "compute",
        "task_queues_names": ("ingest", "compute", "finalize"),
        "worker_hijack_root_logger": False,
        "beat_schedule": {
            "reap": {"task": "provisor.reap", "schedule": cfg.reaper_interval_s, "options": {"queue": "finalize"}},
        },
    }


def init_celery(app: Flask, cfg: Config) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            from flask import has_app_context

            if has_app_context():
                return self.run(*args, **kwargs)
            with app.app_context():
                return self.run(*args, **kwargs)

    settings = celery_settings(cfg)
    settings.pop("task_queues_names")
    celery = Celery("provisor", task_cls=FlaskTask)
    celery.conf.update(settings)
    celery.set_default()
    app.extensions["celery"] = celery
    return celery
