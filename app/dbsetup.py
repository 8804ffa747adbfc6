"""``provisor db upgrade``: Alembic migrations, then the app role and its grants."""
from __future__ import annotations

import os

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import create_engine, pool, text

MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "migrations")


def alembic_config(admin_url: str, app_role: str) -> AlembicConfig:
    cfg = AlembicConfig(os.path.join(MIGRATIONS_DIR, "alembic.ini"))
    cfg.set_main_option("script_location", MIGRATIONS_DIR)
    cfg.set_main_option("sqlalchemy.url", admin_url.replace("%", "%%"))
    cfg.set_main_option("provisor.app_role", app_role)
    return cfg


def upgrade(admin_url: str, app_role: str) -> None:
    command.upgrade(alembic_config(admin_url, app_role), "head")
    grant_app_role(admin_url, app_role)


def grant_app_role(admin_url: str, app_role: str) -> None:
    """Create the non-superuser login role the app uses and give it data rights only."""
    engine = create_engine(admin_url, poolclass=pool.NullPool)
    password = os.environ.get("APP_DB_PASSWORD")
    with engine.begin() as c:
        exists = c.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": app_role}).scalar()
        if not exists:
            # Another database on the same cluster may create it at the same moment.
            c.execute(text("SELECT pg_advisory_xact_lock(hashtext('provisor-role'))"))
            if not c.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": app_role}).scalar():
                c.execute(text(f'CREATE ROLE "{app_role}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE'))
        if password:
            c.execute(text(f'ALTER ROLE "{app_role}" PASSWORD :p'), {"p": password})
        db = c.execute(text("SELECT current_database()")).scalar()
        c.execute(text(f'GRANT CONNECT ON DATABASE "{db}" TO "{app_role}"'))
        c.execute(text(f'GRANT USAGE ON SCHEMA public TO "{app_role}"'))
        c.execute(text(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{app_role}"'))
        c.execute(text(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{app_role}"'))
        # The trail stays append-only even if the trigger were dropped by mistake.
        c.execute(text(f'REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM "{app_role}"'))
        c.execute(text(f'REVOKE ALL ON alembic_version FROM "{app_role}"'))
        c.execute(text(
            f'GRANT EXECUTE ON FUNCTION provisor_ensure_month_partition(text, date) TO "{app_role}"'
        ))
    engine.dispose()


def current_revision(admin_url: str) -> str | None:
    engine = create_engine(admin_url, poolclass=pool.NullPool)
    try:
        with engine.connect() as c:
            return c.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()
