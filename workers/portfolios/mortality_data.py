"""Mortality experience data kind (specs/life.md C): deaths and central exposure by age x year."""
from workers.portfolios.base import Field, PortfolioKind

MORTALITY_DATA = PortfolioKind(
    name="mortality_data",
    table="portfolio_mortality_data",
    key_fields=("age", "year"),
    fields=(
        Field("age", "int", min=0, max=130),
        Field("year", "int", min=1700, max=2300, aliases=("calendar_year",)),
        Field("deaths", "float", min=0, aliases=("dx", "d")),
        Field("exposure", "float", min=0, aliases=("ex", "e", "central_exposure")),
    ),
)
