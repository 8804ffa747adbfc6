"""Configuration, read from the environment once, in ``create_app``."""
from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace


def _int(env: dict, name: str, default: int) -> int:
    return int(env.get(name, default))


def _float(env: dict, name: str, default: float) -> float:
    return float(env.get(name, default))


@dataclass(frozen=True)
class Config:
    # Empty DATABASE_URL: embedded PostgreSQL (pgserver) with data under EMBEDDED_DATA_DIR.
    database_url: str = ""
    # Owner role used by migrations; defaults to DATABASE_URL.
    database_admin_url: str = ""
    app_db_role: str = "provisor_app"
    embedded_data_dir: str = "var/pgdata"
    # Empty CELERY_BROKER_URL: the local executor runs jobs in a process pool.
    celery_broker_url: str = ""
    celery_result_backend: str = ""
    # Prefix of every broker key: deployments (or test sessions) sharing one Redis stay apart.
    broker_key_prefix: str = ""
    local_workers: int = 2
    # Redis redelivers an unacked task after this many seconds; task limits stay below it.
    visibility_timeout_s: int = 3600
    task_soft_time_limit_s: int = 1500
    task_time_limit_s: int = 1800
    # Ingesting a multi-million-row XLSX takes minutes: its own limit, also below the visibility timeout.
    ingest_time_limit_s: int = 3300
    max_shard_attempts: int = 3
    # A running shard whose lease expired is handed to another worker by the reaper.
    shard_lease_s: int = 1800
    # Queued shards/jobs not picked up after this long are sent again (a broker may have lost them).
    resend_after_s: int = 120
    job_deadline_s: int = 6 * 3600
    reaper_interval_s: float = 15.0
    default_shard_size: int = 50_000
    max_upload_bytes: int = 2 * 1024**3
    max_request_bytes: int = 32 * 1024**2
    upload_chunk_bytes: int = 8 * 1024**2
    max_report_errors: int = 100
    # Extra job-kind modules to import (plug-ins; tests register a test-only kind this way).
    kind_modules: tuple[str, ...] = ()
    log_level: str = "INFO"
    log_json: bool = True
    testing: bool = False

    @classmethod
    def from_env(cls, env: dict | None = None) -> "Config":
        env = dict(os.environ if env is None else env)
        c = cls(
            database_url=env.get("DATABASE_URL", ""),
            database_admin_url=env.get("DATABASE_ADMIN_URL", ""),
            app_db_role=env.get("APP_DB_ROLE", cls.app_db_role),
            embedded_data_dir=env.get("PROVISOR_DATA_DIR", cls.embedded_data_dir),
            celery_broker_url=env.get("CELERY_BROKER_URL", ""),
            celery_result_backend=env.get("CELERY_RESULT_BACKEND", ""),
            broker_key_prefix=env.get("BROKER_KEY_PREFIX", ""),
            local_workers=_int(env, "LOCAL_WORKERS", cls.local_workers),
            visibility_timeout_s=_int(env, "VISIBILITY_TIMEOUT_S", cls.visibility_timeout_s),
            task_soft_time_limit_s=_int(env, "TASK_SOFT_TIME_LIMIT_S", cls.task_soft_time_limit_s),
            task_time_limit_s=_int(env, "TASK_TIME_LIMIT_S", cls.task_time_limit_s),
            ingest_time_limit_s=_int(env, "INGEST_TIME_LIMIT_S", cls.ingest_time_limit_s),
            max_shard_attempts=_int(env, "MAX_SHARD_ATTEMPTS", cls.max_shard_attempts),
            shard_lease_s=_int(env, "SHARD_LEASE_S", cls.shard_lease_s),
            resend_after_s=_int(env, "RESEND_AFTER_S", cls.resend_after_s),
            job_deadline_s=_int(env, "JOB_DEADLINE_S", cls.job_deadline_s),
            reaper_interval_s=_float(env, "REAPER_INTERVAL_S", cls.reaper_interval_s),
            default_shard_size=_int(env, "DEFAULT_SHARD_SIZE", cls.default_shard_size),
            max_upload_bytes=_int(env, "MAX_UPLOAD_BYTES", cls.max_upload_bytes),
            max_request_bytes=_int(env, "MAX_REQUEST_BYTES", cls.max_request_bytes),
            kind_modules=tuple(m.strip() for m in env.get("PROVISOR_KIND_MODULES", "").split(",") if m.strip()),
            log_level=env.get("LOG_LEVEL", cls.log_level),
            log_json=env.get("LOG_JSON", "1") not in ("0", "false", "no"),
        )
        if max(c.task_time_limit_s, c.ingest_time_limit_s) >= c.visibility_timeout_s:
            raise ValueError("TASK_TIME_LIMIT_S and INGEST_TIME_LIMIT_S must stay below VISIBILITY_TIMEOUT_S")
        return c

    def with_overrides(self, **overrides) -> "Config":
        known = {f.name for f in fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        return replace(self, **overrides)

    @property
    def uses_celery(self) -> bool:
        return bool(self.celery_broker_url)

