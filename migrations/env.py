"""Alembic environment: the URL comes from the caller (``provisor db upgrade``), never from a file."""
from alembic import context
from sqlalchemy import create_engine, pool

url = context.config.get_main_option("sqlalchemy.url")
app_role = context.config.get_main_option("provisor.app_role") or "provisor_app"


def run_migrations_online() -> None:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations(app_role=app_role)


run_migrations_online()
