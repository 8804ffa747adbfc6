"""The portfolio kinds the platform accepts, by name."""
from workers.portfolios.base import PortfolioKind
from workers.portfolios.loans import LOANS
from workers.portfolios.mortality_data import MORTALITY_DATA
from workers.portfolios.policies import POLICIES

PORTFOLIO_KINDS: dict[str, PortfolioKind] = {k.name: k for k in (LOANS, POLICIES, MORTALITY_DATA)}


def get(name: str) -> PortfolioKind | None:
    return PORTFOLIO_KINDS.get(name)
