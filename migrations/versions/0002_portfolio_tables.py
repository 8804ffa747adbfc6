"""Typed tables for portfolio versions: loans, policies, mortality data.

Revision ID: 0002_portfolio_tables
"""
from alembic import op

from migrations.ddl import portfolio_table

revision = "0002_portfolio_tables"
down_revision = "0001_core"

LOANS = [
    ("loan_id", "text NOT NULL"), ("segment", "text NOT NULL"), ("ead", "float8 NOT NULL"),
    ("undrawn", "float8 NOT NULL"), ("ccf", "float8 NOT NULL"), ("pd_12m", "float8 NOT NULL"),
    ("pd_12m_origination", "float8"), ("lgd", "float8 NOT NULL"), ("eir", "float8 NOT NULL"),
    ("remaining_term_months", "int8 NOT NULL"), ("amortization", "text NOT NULL"),
    ("days_past_due", "int8 NOT NULL"), ("default_flag", "bool NOT NULL"), ("watchlist", "bool NOT NULL"),
    ("forborne", "bool NOT NULL"), ("stage_override", "int8"),
]
POLICIES = [
    ("policy_id", "text NOT NULL"), ("issue_age", "int8 NOT NULL"), ("sex", "text NOT NULL"),
    ("policy_term_years", "int8 NOT NULL"), ("policy_count", "float8 NOT NULL"),
    ("sum_assured", "float8 NOT NULL"), ("duration_months", "int8 NOT NULL"),
    ("monthly_premium", "float8 NOT NULL"), ("product", "text NOT NULL"), ("policy_type", "text NOT NULL"),
    ("annual_pension", "float8 NOT NULL"), ("issue_year", "int8"),
]
MORTALITY_DATA = [
    ("age", "int8 NOT NULL"), ("year", "int8 NOT NULL"), ("deaths", "float8 NOT NULL"),
    ("exposure", "float8 NOT NULL"),
]
TABLES = {"portfolio_loans": LOANS, "portfolio_policies": POLICIES, "portfolio_mortality_data": MORTALITY_DATA}


def upgrade(app_role: str = "provisor_app") -> None:
    for name, columns in TABLES.items():
        op.execute(portfolio_table(name, columns))


def downgrade(app_role: str = "provisor_app") -> None:
    for name in TABLES:
        op.execute(f"DROP TABLE {name}")
