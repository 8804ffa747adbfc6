"""The database agrees with the code: every kind's result table and every portfolio kind's typed table."""
from sqlalchemy import text

from workers.kinds import registry
from workers.portfolios.registry import PORTFOLIO_KINDS


def _columns(session, table):
    return [r[0] for r in session.execute(text(
        "SELECT attname FROM pg_attribute WHERE attrelid = CAST(:t AS regclass) AND attnum > 0 AND NOT attisdropped "
        "ORDER BY attnum"), {"t": table})]


def test_result_tables_match_kinds(app, db):
    with db.session() as s:
        for name in registry.names():
            kind = registry.get(name)
            if kind.result_table is None:
                continue
            cols = _columns(s, kind.result_table.name)
            assert cols == ["created_month", "job_id", "shard_no", "seq", *kind.result_table.column_names], name
            assert s.scalar(text("SELECT count(*) FROM pg_partitioned_table WHERE partrelid = CAST(:t AS regclass)"),
                            {"t": kind.result_table.name}) == 1


def test_portfolio_tables_match_kinds(app, db):
    with db.session() as s:
        for kind in PORTFOLIO_KINDS.values():
            assert _columns(s, kind.table) == ["version_id", "row_no", *kind.field_names], kind.name


def test_app_role_is_not_superuser(app, db):
    with db.session() as s:
        user, superuser = s.execute(text("SELECT current_user, usesuper FROM pg_user WHERE usename = current_user")).one()
    assert user == "provisor_app" and superuser is False


def test_engines_import_no_framework():
    import ast
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[2] / "workers" / "engines"
    banned = {"flask", "celery", "sqlalchemy", "psycopg2", "app", "redis"}
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert name.split(".")[0] not in banned, f"{path} imports {name}"


def test_readme_documents_every_column_and_alias():
    import pathlib

    readme = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text()
    for kind in PORTFOLIO_KINDS.values():
        for f in kind.fields:
            assert f"| `{f.name}` |" in readme, f.name
            for alias in f.aliases:
                assert f"`{alias}`" in readme, alias
