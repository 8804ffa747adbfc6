"""Per-row results of the life and solvency kinds: bel, actuarial_values, scr, ifrs17.

Revision ID: 0004_life_results
"""
from alembic import op

from migrations.ddl import month_partitioned_results

revision = "0004_life_results"
down_revision = "0003_ecl_results"

F = "float8"
TABLES = {
    "bel_results": [("policy_id", "text"), ("pv_premiums", F), ("pv_claims", F), ("pv_expenses", F),
                    ("pv_commissions", F), ("pv_net_cf", F), ("bel", F)],
    "actuarial_values_results": [("age", "int4"), ("qx", F), ("lx", F), ("dx", F), ("Dx", F), ("Nx", F),
                                 ("Cx", F), ("Mx", F), ("A", F), ("a_due", F)],
    "scr_results": [("policy_id", "text"), ("bel", F), ("bel_mortality", F), ("bel_longevity", F),
                    ("bel_expense", F), ("bel_lapse_up", F), ("bel_lapse_down", F), ("bel_catastrophe", F),
                    ("bel_interest_up", F), ("bel_interest_down", F)],
    "ifrs17_results": [("policy_id", "text"), ("group_key", "text"), ("cohort", "int4"), ("profitability", "text"),
                       ("measurement_model", "text"), ("fcf_inception", F), ("pv_premiums_inception", F)],
}


def upgrade(app_role: str = "provisor_app") -> None:
    for name, columns in TABLES.items():
        op.execute(month_partitioned_results(name, columns))


def downgrade(app_role: str = "provisor_app") -> None:
    for name in TABLES:
        op.execute(f"DROP TABLE {name}")
