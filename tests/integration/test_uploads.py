"""Bulk uploads through the API and a real worker: versions, reports, all-or-nothing."""
import gzip
import io
import threading

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import text

from workers.demo import generate_loans


def new_portfolio(client, headers, kind="loans"):
    r = client.post("/api/v1/portfolios", json={"kind": kind, "name": "book"}, headers=headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def upload(client, headers, pid, data: bytes, content_type="text/csv", filename="book.csv", multipart=False,
           timeout=300):
    import time

    if multipart:
        r = client.post(f"/api/v1/portfolios/{pid}/uploads", headers=headers,
                        data={"file": (io.BytesIO(data), filename)}, content_type="multipart/form-data")
    else:
        r = client.post(f"/api/v1/portfolios/{pid}/uploads?filename={filename}", data=data,
                        headers={**headers, "Content-Type": content_type})
    assert r.status_code == 202, r.get_json()
    u = r.get_json()
    deadline = time.monotonic() + timeout
    while u["status"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, u
        time.sleep(0.1)
        u = client.get(u["links"]["self"], headers=headers).get_json()
    return u


def rows_of_portfolio(db, pid):
    with db.session() as s:
        return s.scalar(text("SELECT count(*) FROM portfolio_loans l JOIN portfolio_versions v ON v.id = l.version_id "
                             "WHERE v.portfolio_id = :p"), {"p": pid})


def test_csv_upload_creates_version_and_ecl_runs_on_it(client, tenant, worker, db):
    pid = new_portfolio(client, tenant.headers)
    frame = generate_loans(1200)
    u = upload(client, tenant.headers, pid, frame.to_csv(index=False).encode())
    assert u["status"] == "succeeded" and u["report"]["rows"] == 1200 and u["report"]["valid"]
    p = client.get(f"/api/v1/portfolios/{pid}", headers=tenant.headers).get_json()
    assert [v["version"] for v in p["versions"]] == [1] and p["versions"][0]["row_count"] == 1200
    assert len(p["versions"][0]["content_sha256"]) == 64 and p["last_report"]["valid"]
    from tests.conftest import wait_for

    first = client.post("/api/v1/jobs", json={"kind": "ecl", "portfolio_id": pid, "params": {"shard_size": 500}},
                        headers=tenant.headers).get_json()
    first = wait_for(client, tenant.headers, first["id"])
    assert first["status"] == "succeeded" and first["portfolio_version_id"] == p["versions"][0]["id"]
    second = client.post("/api/v1/jobs", json={"kind": "ecl", "portfolio_id": pid}, headers=tenant.headers).get_json()
    second = wait_for(client, tenant.headers, second["id"])
    summary = client.get(f"/api/v1/jobs/{second['id']}/result", headers=tenant.headers).get_json()["summary"]
    moves = summary["transitions"]
    assert moves["previous_job_id"] == first["id"]
    assert sum(sum(row.values()) for row in moves["counts"].values()) == 1200
    assert all(moves["counts"][s].get(s, 0) == summary["by_stage"][s]["count"] for s in ("1", "2", "3"))
    events = client.get(f"/api/v1/audit-events?entity_id={pid}", headers=tenant.headers).get_json()["items"]
    assert [e["action"] for e in events] == ["portfolio.created", "portfolio.upload_received",
                                             "portfolio.version_created"]


def test_invalid_rows_are_reported_and_nothing_is_written(client, tenant, worker, db):
    pid = new_portfolio(client, tenant.headers)
    frame = generate_loans(300)
    frame.loc[7, "pd_12m"] = 1.7
    frame.loc[250, "amortization"] = "balloon"
    frame.loc[251, "loan_id"] = frame.loc[3, "loan_id"]
    frame["colour"] = "red"
    u = upload(client, tenant.headers, pid, frame.to_csv(index=False).encode())
    assert u["status"] == "failed"
    rep = u["report"]
    by_row = {(e["row"], e["column"]): e for e in rep["errors"]}
    assert by_row[(8, "pd_12m")]["value"] == "1.7"
    assert (251, "amortization") in by_row
    assert rep["counts"]["range"] >= 1 and rep["counts"]["choices"] >= 1 and rep["counts"]["duplicate_key"] >= 1
    assert "colour" in rep["unknown_columns"]
    assert rows_of_portfolio(db, pid) == 0
    p = client.get(f"/api/v1/portfolios/{pid}", headers=tenant.headers).get_json()
    assert p["versions"] == [] and p["last_report"]["valid"] is False


@pytest.mark.parametrize("data,needle", [
    (b"", "empty"),
    (b"loan_id,ead,pd_12m,lgd,eir,remaining_term_months\n", "header"),
    (b"loan_id;ead;pd_12m;lgd;eir;remaining_term_months\nA;1;0.1;0.2;0.01;12\n", None),
    (b"loan_id,ead,pd_12m,lgd,eir,remaining_term_months\nA,1,0.1,0.2,0.01,12\nB\xff\xfe,1,0.1,0.2,0.01,12\n",
     "utf-8"),
])
def test_file_problems_get_clear_messages(client, tenant, worker, data, needle):
    pid = new_portfolio(client, tenant.headers)
    if not data:
        r = client.post(f"/api/v1/portfolios/{pid}/uploads", data=b"", headers={**tenant.headers,
                                                                               "Content-Type": "text/csv"})
        assert r.status_code == 422 and "empty" in r.get_json()["detail"]
        return
    u = upload(client, tenant.headers, pid, data)
    if needle is None:  # ';' is sniffed as the delimiter: valid
        assert u["status"] == "succeeded", u["report"]
        return
    assert u["status"] == "failed"
    assert needle in str(u["report"]).lower(), u["report"]


def test_wrong_delimiter_is_named(client, tenant, worker):
    pid = new_portfolio(client, tenant.headers)
    mixed = b"loan_id,ead,pd_12m,lgd,eir,remaining_term_months\nA;1;0.1;0.2;0.01;12\n"
    u = upload(client, tenant.headers, pid, mixed)
    assert u["status"] == "failed" and "delimiter" in str(u["report"]).lower(), u["report"]


def test_xlsx_with_several_sheets_and_parquet_with_wrong_types(client, tenant, worker):
    pid = new_portfolio(client, tenant.headers)
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as xl:
        generate_loans(5).to_excel(xl, sheet_name="loans", index=False)
        generate_loans(5).to_excel(xl, sheet_name="other", index=False)
    u = upload(client, tenant.headers, pid, buf.getvalue(), content_type="application/octet-stream",
               filename="book.xlsx")
    assert u["status"] == "failed" and "sheet" in str(u["report"]).lower() and "other" in str(u["report"])
    bad = generate_loans(5)
    bad["remaining_term_months"] = bad["remaining_term_months"].astype(str) + " months"
    pbuf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(bad, preserve_index=False), pbuf)
    u = upload(client, tenant.headers, pid, pbuf.getvalue(), content_type="application/vnd.apache.parquet",
               filename="book.parquet")
    assert u["status"] == "failed" and "remaining_term_months" in str(u["report"]), u["report"]


def test_over_the_size_limit_is_413_and_leaves_nothing(config, tenant, db):
    from app import create_app

    small = create_app(config.with_overrides(max_upload_bytes=1000, upload_chunk_bytes=256))
    with small.app_context():
        c = small.test_client()
        pid = new_portfolio(c, tenant.headers)
        r = c.post(f"/api/v1/portfolios/{pid}/uploads", data=generate_loans(50).to_csv(index=False).encode(),
                   headers={**tenant.headers, "Content-Type": "text/csv"})
        assert r.status_code == 413 and "1000 bytes" in r.get_json()["detail"]
    with db.session() as s:
        assert s.scalar(text("SELECT count(*) FROM uploads WHERE portfolio_id = :p"), {"p": pid}) == 0


def test_gzip_multipart_and_aliases(client, tenant, worker):
    pid = new_portfolio(client, tenant.headers)
    frame = generate_loans(40).rename(columns={"loan_id": "Loan ID", "days_past_due": "DPD", "pd_12m": "PD"})
    u = upload(client, tenant.headers, pid, gzip.compress(frame.to_csv(index=False).encode()), multipart=True,
               filename="book.csv.gz")
    assert u["status"] == "succeeded", u["report"]
    assert u["report"]["column_mapping"]["Loan ID"] == "loan_id"


def test_concurrent_uploads_make_consecutive_versions(client, tenant, worker, app):
    pid = new_portfolio(client, tenant.headers)
    payloads = [generate_loans(200, seed=s).to_csv(index=False).encode() for s in range(4)]
    results = []

    def go(data):
        results.append(upload(app.test_client(), tenant.headers, pid, data))

    threads = [threading.Thread(target=go, args=(d,)) for d in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(u["status"] == "succeeded" for u in results)
    versions = client.get(f"/api/v1/portfolios/{pid}", headers=tenant.headers).get_json()["versions"]
    assert [v["version"] for v in versions] == [1, 2, 3, 4]


def test_other_tenant_cannot_see_or_upload(client, tenant, other_tenant):
    pid = new_portfolio(client, tenant.headers)
    assert client.get(f"/api/v1/portfolios/{pid}", headers=other_tenant.headers).status_code == 404
    r = client.post(f"/api/v1/portfolios/{pid}/uploads", data=b"a,b\n1,2\n",
                    headers={**other_tenant.headers, "Content-Type": "text/csv"})
    assert r.status_code == 404
    r = client.post("/api/v1/jobs", json={"kind": "ecl", "portfolio_id": pid}, headers=other_tenant.headers)
    assert r.status_code == 404
