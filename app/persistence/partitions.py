"""Monthly range partitions: created ahead by beat, and on demand before a write."""
from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import text

_ensured: set[tuple[str, date]] = set()


def month_of(when: datetime | date | None = None) -> date:
    when = when or datetime.now(timezone.utc)
    return date(when.year, when.month, 1)


def add_months(month: date, n: int) -> date:
    y, m = divmod(month.year * 12 + month.month - 1 + n, 12)
    return date(y, m + 1, 1)


def ensure(session, table: str, month: date) -> None:
    """Create ``table``'s partition for ``month`` unless this process already knows it exists."""
    if (table, month) in _ensured:
        return
    session.execute(text("SELECT provisor_ensure_month_partition(:t, :m)"), {"t": table, "m": month})
    _ensured.add((table, month))


def partitioned_tables(session) -> list[str]:
    rows = session.execute(text(
        "SELECT c.relname FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' ORDER BY 1"
    ))
    return [r[0] for r in rows]


def ensure_ahead(session, months_ahead: int = 2) -> list[str]:
    """Partitions for this month and the next ``months_ahead`` of every partitioned table."""
    created = []
    this = month_of()
    for table in partitioned_tables(session):
        for k in range(months_ahead + 1):
            month = add_months(this, k)
            session.execute(text("SELECT provisor_ensure_month_partition(:t, :m)"), {"t": table, "m": month})
            created.append(f"{table}@{month:%Y-%m}")
    return created
