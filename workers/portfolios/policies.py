"""Policies portfolio kind (specs/life.md A and B).

``product`` and ``policy_type`` serve the classical model and the BEL breakdown;
the term_monthly cash-flow model reads the spec's fields only.
"""
from workers.portfolios.base import Field, PortfolioKind

POLICIES = PortfolioKind(
    name="policies",
    table="portfolio_policies",
    key_fields=("policy_id",),
    fields=(
        Field("policy_id", "str", max_length=64, aliases=("id", "point_id", "model_point")),
        Field("issue_age", "int", min=0, max=130, aliases=("age_at_entry", "entry_age")),
        Field("sex", "str", required=False, default="M", choices=("M", "F"), aliases=("gender",)),
        Field("policy_term_years", "int", min=1, aliases=("policy_term", "term_years", "term")),
        Field("policy_count", "float", required=False, default=1.0, min=0, aliases=("count", "number_of_policies")),
        Field("sum_assured", "float", min=0, aliases=("sa", "benefit")),
        Field("duration_months", "int", required=False, default=0, min=0, aliases=("duration_mth", "duration")),
        Field("monthly_premium", "float", required=False, default=0.0, min=0, aliases=("premium_pp", "premium")),
        Field("product", "str", required=False, default="term", aliases=("product_code",)),
        Field("policy_type", "str", required=False, default="term",
              choices=("whole_life", "term", "endowment", "annuity")),
        Field("annual_pension", "float", required=False, default=0.0, min=0),
        Field("issue_year", "int", required=False, nullable=True, min=1900, max=2200, aliases=("cohort",)),
    ),
)
