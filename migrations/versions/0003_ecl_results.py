"""Per-loan results of the ``ecl`` kind.

Revision ID: 0003_ecl_results
"""
from alembic import op

from migrations.ddl import month_partitioned_results

revision = "0003_ecl_results"
down_revision = "0002_portfolio_tables"

COLUMNS = [
    ("loan_id", "text"), ("segment", "text"), ("stage", "int2"), ("stage_reason", "text"),
    ("exposure", "float8"), ("ecl_12m", "float8"), ("ecl_lifetime", "float8"), ("ecl", "float8"),
    ("coverage", "float8"), ("pd_lifetime", "float8"),
]


def upgrade(app_role: str = "provisor_app") -> None:
    op.execute(month_partitioned_results("ecl_results", COLUMNS))


def downgrade(app_role: str = "provisor_app") -> None:
    op.execute("DROP TABLE ecl_results")
