"""DDL helpers shared by migrations (kept tiny: each migration still spells out its columns)."""


def month_partitioned_results(name: str, columns: list[tuple[str, str]]) -> str:
    """A per-kind result table, range-partitioned by the job's creation month."""
    cols = ",\n    ".join(f'"{c}" {t}' for c, t in columns)
    return f"""
CREATE TABLE {name} (
    created_month date NOT NULL,
    job_id uuid NOT NULL,
    shard_no integer NOT NULL,
    seq integer NOT NULL,
    {cols},
    PRIMARY KEY (created_month, job_id, shard_no, seq)
) PARTITION BY RANGE (created_month);
"""


def portfolio_table(name: str, columns: list[tuple[str, str]]) -> str:
    """Rows of immutable portfolio versions, in upload order (row_no from 0).

    No foreign key to portfolio_versions: its per-row trigger made COPY 2.6x slower, and rows
    are only ever written by the transaction that creates their version.
    """
    cols = ",\n    ".join(f"{c} {t}" for c, t in columns)
    return f"""
CREATE TABLE {name} (
    -- Set once per ingestion transaction, so COPY lines carry no version id.
    version_id uuid NOT NULL DEFAULT CAST(current_setting('provisor.version_id') AS uuid),
    row_no bigint NOT NULL,
    {cols},
    PRIMARY KEY (version_id, row_no)
);
"""
