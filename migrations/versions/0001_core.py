"""Core schema: tenants, keys, portfolios, jobs, shards, outbox, resources, audit (partitioned).

Revision ID: 0001_core
"""
from alembic import op

revision = "0001_core"
down_revision = None

CORE_DDL = r"""

CREATE TABLE tenants (
    id uuid PRIMARY KEY,
    code text NOT NULL UNIQUE CHECK (code ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants(id),
    prefix text NOT NULL UNIQUE,
    digest text NOT NULL,
    scopes text[] NOT NULL,
    name text,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

CREATE TABLE portfolios (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants(id),
    kind text NOT NULL,
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_report jsonb
);
CREATE INDEX portfolios_tenant ON portfolios (tenant_id, created_at DESC);

CREATE TABLE portfolio_versions (
    id uuid PRIMARY KEY,
    portfolio_id uuid NOT NULL REFERENCES portfolios(id),
    tenant_id uuid NOT NULL REFERENCES tenants(id),
    version integer NOT NULL,
    row_count bigint NOT NULL,
    content_sha256 text NOT NULL,
    upload_id uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (portfolio_id, version)
);

CREATE TABLE uploads (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants(id),
    portfolio_id uuid NOT NULL REFERENCES portfolios(id),
    job_id uuid,
    status text NOT NULL,
    filename text,
    content_type text,
    size_bytes bigint NOT NULL DEFAULT 0,
    sha256 text,
    report jsonb,
    version_id uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);

CREATE TABLE upload_chunks (
    upload_id uuid NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
    seq integer NOT NULL,
    data bytea NOT NULL,
    PRIMARY KEY (upload_id, seq)
);
ALTER TABLE upload_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

CREATE TABLE jobs (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants(id),
    kind text NOT NULL,
    status text NOT NULL CHECK (status IN ('queued','running','succeeded','failed','canceling','canceled')),
    params jsonb NOT NULL,
    inputs jsonb,
    portfolio_id uuid REFERENCES portfolios(id),
    portfolio_version_id uuid REFERENCES portfolio_versions(id),
    n_items bigint NOT NULL DEFAULT 0,
    seed bigint,
    input_sha256 text NOT NULL,
    result_sha256 text,
    engine_version text NOT NULL,
    shards_total integer NOT NULL DEFAULT 0,
    shards_done integer NOT NULL DEFAULT 0,
    result_summary jsonb,
    error jsonb,
    idempotency_key text,
    request_sha256 text,
    rerun_of uuid,
    created_by uuid,
    created_month date NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    finished_at timestamptz,
    deadline_at timestamptz,
    UNIQUE (tenant_id, idempotency_key)
);
CREATE INDEX jobs_tenant_keyset ON jobs (tenant_id, created_at DESC, id DESC);
CREATE INDEX jobs_active ON jobs (status) WHERE status IN ('queued','running','canceling');
CREATE INDEX jobs_portfolio ON jobs (portfolio_id, kind, finished_at DESC) WHERE status = 'succeeded';

CREATE TABLE job_shards (
    job_id uuid NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    shard_no integer NOT NULL,
    status text NOT NULL CHECK (status IN ('queued','running','retry','succeeded','failed','canceled')),
    spec jsonb NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    partial jsonb,
    error text,
    lease_until timestamptz,
    sent_at timestamptz,
    started_at timestamptz,
    finished_at timestamptz,
    row_count bigint,
    timings jsonb,
    PRIMARY KEY (job_id, shard_no)
);
CREATE INDEX job_shards_active ON job_shards (status) WHERE status IN ('queued','running','retry');

CREATE TABLE outbox (
    id bigserial PRIMARY KEY,
    task text NOT NULL,
    args jsonb NOT NULL,
    queue text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz,
    send_attempts integer NOT NULL DEFAULT 0
);
CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL;

CREATE TABLE resources (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants(id),
    type text NOT NULL,
    name text NOT NULL,
    version integer NOT NULL,
    content jsonb NOT NULL,
    meta jsonb,
    sha256 text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, type, name, version)
);
CREATE INDEX resources_tenant_type ON resources (tenant_id, type, created_at DESC);

CREATE TABLE audit_events (
    id bigserial,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    tenant_id uuid,
    actor_type text NOT NULL,
    actor_id text,
    action text NOT NULL,
    entity_type text NOT NULL,
    entity_id text,
    before jsonb,
    after jsonb,
    request_id text,
    ip text,
    user_agent text,
    chain_hash text,
    PRIMARY KEY (occurred_at, id)
) PARTITION BY RANGE (occurred_at);
CREATE INDEX audit_events_entity ON audit_events (tenant_id, entity_id, occurred_at);
CREATE INDEX audit_events_tenant ON audit_events (tenant_id, occurred_at, id);

-- Append-only: history that can be edited is not an audit trail.
CREATE FUNCTION provisor_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only (% rejected)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION provisor_audit_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION provisor_audit_append_only();

-- Monthly range partitions, created ahead by beat and on demand. SECURITY DEFINER so
-- the app role can create partitions without owning DDL rights.
CREATE FUNCTION provisor_ensure_month_partition(parent text, month date) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    lo date := date_trunc('month', month)::date;
    hi date := (date_trunc('month', month) + interval '1 month')::date;
    child text := parent || '_' || to_char(lo, 'YYYY_MM');
BEGIN
    IF parent NOT IN (SELECT c.relname FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid) THEN
        RAISE EXCEPTION 'not a partitioned table: %', parent;
    END IF;
    IF to_regclass(child) IS NULL THEN
        PERFORM pg_advisory_xact_lock(hashtext(child));
        IF to_regclass(child) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)', child, parent, lo, hi);
        END IF;
    END IF;
END $$;
"""


def upgrade(app_role: str = "provisor_app") -> None:
    op.execute(CORE_DDL)


def downgrade(app_role: str = "provisor_app") -> None:
    for t in ("audit_events", "resources", "outbox", "job_shards", "jobs", "upload_chunks", "uploads",
              "portfolio_versions", "portfolios", "api_keys", "tenants"):
        op.execute(f"DROP TABLE IF EXISTS {t} CASCADE")
    op.execute("DROP FUNCTION IF EXISTS provisor_ensure_month_partition(text, date)")
    op.execute("DROP FUNCTION IF EXISTS provisor_audit_append_only()")
