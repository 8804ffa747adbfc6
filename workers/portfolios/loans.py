"""Loans portfolio kind (specs/ecl.md, "Loan record")."""
from workers.portfolios.base import Field, PortfolioKind

LOANS = PortfolioKind(
    name="loans",
    table="portfolio_loans",
    key_fields=("loan_id",),
    fields=(
        Field("loan_id", "str", max_length=64, aliases=("id", "loan", "contract_id", "account_id")),
        Field("segment", "str", required=False, default="default", aliases=("portfolio_segment",)),
        Field("ead", "float", min=0, aliases=("exposure", "balance", "drawn", "outstanding")),
        Field("undrawn", "float", required=False, default=0.0, min=0, aliases=("undrawn_amount",)),
        Field("ccf", "float", required=False, default=0.0, min=0, max=1),
        Field("pd_12m", "float", min=0, max=1, aliases=("pd", "pd12m", "pd_12")),
        Field("pd_12m_origination", "float", required=False, nullable=True, min=0, max=1,
              aliases=("pd_origination", "pd_orig", "origination_pd")),
        Field("lgd", "float", min=0, max=1),
        Field("eir", "float", min=0, aliases=("effective_interest_rate", "rate", "interest_rate")),
        Field("remaining_term_months", "int", min=1, aliases=("term_months", "remaining_term", "term")),
        Field("amortization", "str", required=False, default="annuity",
              choices=("bullet", "linear", "annuity"), aliases=("amortisation", "repayment_type")),
        Field("days_past_due", "int", required=False, default=0, min=0, aliases=("dpd",)),
        Field("default_flag", "bool", required=False, default=False, aliases=("defaulted", "in_default")),
        Field("watchlist", "bool", required=False, default=False, aliases=("watch_list",)),
        Field("forborne", "bool", required=False, default=False, aliases=("forbearance",)),
        Field("stage_override", "int", required=False, nullable=True, choices=(1, 2, 3)),
    ),
)
