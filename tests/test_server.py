"""The REST API through FastAPI's test client: every endpoint, every bad input, the limits,
the named-dataset jail, the OpenAPI schema under schemathesis, and ``sentinel serve``.

The client raises any exception that reaches the 500 handler (``raise_server_exceptions``),
so every bad-input test here also proves that bad input never becomes a 500.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import polars as pl
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("multipart")

from click.testing import CliRunner  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from sentinel_sql import __version__, cli, compare, find_slices  # noqa: E402
from sentinel_sql.drift import profile as make_profile  # noqa: E402
from sentinel_sql.errors import InputError  # noqa: E402
from sentinel_sql.server import create_app  # noqa: E402
from sentinel_sql.server.limits import BodyLimit  # noqa: E402

CURL_BODY = ('{"reference_data": [{"age": 25, "income": 50000}], '
             '"production_data": [{"age": 45, "income": 90000}]}')
MAX_BODY = 2 * 1024 * 1024
MAX_ROWS = 5000
N = 400  # the engine's cost is mostly per call: enough rows for a clear drift and slice


def frames(seed: int = 1, n: int = N) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Reference and current: ``x`` drifts, ``z`` and ``city`` do not; the model (``p``)
    is wrong in ``city == 'nice' AND x > 1``."""
    rng = np.random.default_rng(seed)

    def one(shift: float) -> pl.DataFrame:
        x = rng.normal(shift, 1, n)
        city = rng.choice(["paris", "lyon", "nice"], n)
        y = rng.integers(0, 2, n)
        p = np.where((city == "nice") & (x > 1), 1 - y, y)
        return pl.DataFrame({"x": x, "z": rng.normal(0, 1, n), "city": city, "y": y, "p": p})

    return one(0.0), one(0.7)


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    """The server's data folder, and a folder outside it that links point to."""
    base = tmp_path_factory.mktemp("server")
    root, outside = base / "root", base / "outside"
    root.mkdir()
    outside.mkdir()
    ref, cur = frames()
    ref.write_csv(root / "ref.csv")
    cur.write_parquet(root / "cur.parquet")
    ref.write_parquet(root / "ref.parquet")
    with gzip.open(root / "cur.csv.gz", "wb") as f:
        cur.write_csv(f)
    for i, part in enumerate(cur.partition_by("city")):
        (root / "lake" / f"part={i}").mkdir(parents=True)
        part.write_parquet(root / "lake" / f"part={i}" / "data.parquet")
    make_profile(str(root / "ref.parquet")).save(str(root / "ref.profile.json"))
    import duckdb

    with duckdb.connect(str(root / "wh.duckdb")) as con:
        con.register("cur_df", cur)
        con.execute("CREATE TABLE sales AS SELECT * FROM cur_df")
    (root / ".hidden.csv").write_text("a\n1\n")
    (root / "notes.md").write_text("not data")
    # escapes: a file link, a folder link, and a folder holding a link out
    secret = outside / "secret.parquet"
    cur.write_parquet(secret)
    (root / "link_out.parquet").symlink_to(secret)
    (root / "dir_out").symlink_to(outside, target_is_directory=True)
    (root / "mixed").mkdir()
    cur.write_parquet(root / "mixed" / "ok.parquet")
    (root / "mixed" / "evil.parquet").symlink_to(secret)
    # a link that stays inside is fine
    (root / "alias.parquet").symlink_to(root / "cur.parquet")
    return root


@pytest.fixture(scope="module")
def client(lake) -> TestClient:
    return TestClient(create_app(lake, max_body_bytes=MAX_BODY, max_rows=MAX_ROWS))


@pytest.fixture(scope="module")
def plain() -> TestClient:
    """A server without a data folder."""
    return TestClient(create_app())


def rows(df: pl.DataFrame) -> list[dict]:
    return df.to_dicts()


def error_of(resp, status: int) -> str:
    """Assert an error answer: the status, JSON ``{"error": one line}``, no traceback."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    msg = body["error"]
    assert isinstance(msg, str) and msg and "\n" not in msg
    assert "Traceback" not in resp.text and 'File "' not in resp.text
    return msg


def without_sources(result: dict) -> dict:
    out = json.loads(json.dumps(result))
    out["reference"].pop("source")
    out["current"].pop("source")
    out.pop("report_html", None)
    return out


# ---------------------------------------------------------------------------------------------
# POST /detect-drift (JSON rows)


def test_the_curl_call_of_the_issue_works_as_is(client):
    resp = client.post("/detect-drift", content=CURL_BODY,
                       headers={"Content-Type": "application/json"})
    assert resp.status_code == 200, resp.text
    res = resp.json()
    assert res["reference"] == {"source": "reference_data", "rows": 1, "profile": False}
    assert res["current"] == {"source": "production_data", "rows": 1}
    assert [c["column"] for c in res["columns"]] == ["age", "income"]
    assert isinstance(res["drift_detected"], bool)
    assert res["schema_changes"] == []
    assert "report_html" not in res


def test_json_rows_give_the_engine_result(client):
    ref, cur = frames()
    settings = {"alpha": 0.01, "psi_threshold": 0.2, "decision": "both", "exclude": ["y", "p"],
                "kinds": {"z": "numeric"}, "null_threshold": 0.1}
    resp = client.post("/detect-drift", json={"reference_data": rows(ref),
                                              "production_data": rows(cur),
                                              "settings": settings})
    assert resp.status_code == 200, resp.text
    res = resp.json()
    want = compare(ref, cur, **settings).to_dict()
    assert without_sources(res) == without_sources(want)
    assert res["drifted_columns"] == ["x"]
    assert res["settings"]["alpha"] == 0.01 and res["settings"]["psi_threshold"] == 0.2


def test_settings_reach_the_engine(client):
    ref, cur = frames()
    body = {"reference_data": rows(ref), "production_data": rows(cur)}
    only = client.post("/detect-drift", json={**body, "settings": {"columns": ["z", "city"]}})
    assert [c["column"] for c in only.json()["columns"]] == ["z", "city"]
    assert only.json()["drift_detected"] is False
    effect = client.post("/detect-drift", json={**body, "settings": {
        "decision": "effect", "psi_threshold": 1000, "columns": ["x"]}})
    assert effect.json()["drift_detected"] is False


def test_report_flag_adds_the_html_report(client):
    ref, cur = frames()
    body = {"reference_data": rows(ref), "production_data": rows(cur)}
    res = client.post("/detect-drift?report=true", json=body).json()
    page = res["report_html"]
    assert page.startswith("<!DOCTYPE html>") and "gt_table" in page
    assert "drift detected" in page
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page)


def test_rows_with_nested_values_are_reported_not_refused(client):
    resp = client.post("/detect-drift", json={
        "reference_data": [{"a": 1, "tags": {"k": 1}}, {"a": 2, "tags": {"k": 2}}],
        "production_data": [{"a": 1, "tags": {"k": 3}}, {"a": 3, "tags": {"k": 1}}]})
    assert resp.status_code == 200, resp.text
    assert resp.json()["schema_changes"][0]["change"] == "unsupported_type"


def test_json_infinity_and_nan_become_missing_values(client):
    body = ('{"reference_data": [{"a": 1.0}, {"a": NaN}, {"a": 2.5}], '
            '"production_data": [{"a": Infinity}, {"a": 2.0}, {"a": 3.0}]}')
    resp = client.post("/detect-drift", content=body,
                       headers={"Content-Type": "application/json"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["columns"][0]["null_fraction"]["reference"] == pytest.approx(1 / 3)


ONE = [{"a": 1, "b": "u"}, {"a": 2, "b": "v"}]


@pytest.mark.parametrize(("body", "fragment"), [
    ({}, "reference_data: Field required"),
    ({"reference_data": ONE}, "production_data: Field required"),
    ({"reference_data": [], "production_data": ONE}, "reference_data: List should have"),
    ({"reference_data": [1, 2], "production_data": ONE}, "reference_data.0"),
    ({"reference_data": ONE, "production_data": "rows"}, "production_data"),
    ({"reference_data": [{}], "production_data": ONE}, "reference_data: the rows have no fields"),
    ({"reference_data": [{"a": 2**70}], "production_data": ONE}, "outside the 64-bit range"),
    ({"reference_data": [{"a\x00b": 1}], "production_data": ONE}, "NUL"),
    ({"reference_data": ONE, "production_data": ONE, "extra": 1}, "extra"),
    ({"reference_data": ONE, "production_data": ONE, "settings": {"alpha": 1.5}},
     "settings.alpha"),
    ({"reference_data": ONE, "production_data": ONE, "settings": {"alpha": 0}},
     "settings.alpha"),
    ({"reference_data": ONE, "production_data": ONE, "settings": {"psi_threshold": -1}},
     "settings.psi_threshold"),
    ({"reference_data": ONE, "production_data": ONE, "settings": {"decision": "vote"}},
     "settings.decision"),
    ({"reference_data": ONE, "production_data": ONE, "settings": {"drift_share": 2}},
     "settings.drift_share"),
    ({"reference_data": ONE, "production_data": ONE, "settings": {"psi": 0.2}},
     "settings.psi"),
    ({"reference_data": ONE, "production_data": ONE, "settings": {"kinds": {"a": "ordinal"}}},
     "settings.kinds.a"),
    ({"reference_data": ONE, "production_data": ONE, "settings": {"columns": ["nope"]}},
     "column 'nope' not found"),
    ({"reference_data": ONE, "production_data": ONE, "settings": {"exclude": ["nope"]}},
     "column 'nope' not found"),
    ({"reference_data": ONE, "production_data": ONE, "settings": {"kinds": {"nope":
                                                                             "numeric"}}},
     "column 'nope' not found"),
    ({"reference_data": ONE, "production_data": ONE, "settings": {"columns": "a"}},
     "settings.columns"),
])
def test_bad_json_bodies_are_422_naming_the_field(client, body, fragment):
    assert fragment in error_of(client.post("/detect-drift", json=body), 422)


@pytest.mark.parametrize(("content", "ctype", "status", "fragment"), [
    (b'{"reference_data": [', "application/json", 422, "not valid JSON"),
    (b"", "application/json", 422, "Field required"),
    (b"reference_data=1", "application/x-www-form-urlencoded", 422, "JSON object"),
    (CURL_BODY.encode(), "text/plain", 422, "JSON object"),
    (b"[1, 2]", "application/json", 422, "JSON object"),
    (b"\xff\xfe\x00", "application/json", 400, "error parsing the body"),
])
def test_malformed_bodies_are_4xx(client, content, ctype, status, fragment):
    resp = client.post("/detect-drift", content=content, headers={"Content-Type": ctype})
    assert fragment in error_of(resp, status)


def test_unknown_paths_and_methods_are_json_errors(client):
    assert error_of(client.get("/nope"), 404) == "Not Found"
    resp = client.get("/detect-drift")
    assert error_of(resp, 405) == "Method Not Allowed"
    assert resp.headers["allow"] == "POST"


# ---------------------------------------------------------------------------------------------
# limits


def test_too_many_rows_is_413(client):
    many = [{"a": i} for i in range(MAX_ROWS + 1)]
    msg = error_of(client.post("/detect-drift", json={"reference_data": ONE,
                                                      "production_data": many}), 413)
    assert msg == "production_data: 5,001 rows is more than this server's limit of 5,000 rows"


def test_a_body_over_the_limit_is_413_before_it_is_read(client):
    big = b'{"reference_data": [' + b'{"a": 1},' * (MAX_BODY // 9) + b'{"a": 1}]}'
    msg = error_of(client.post("/detect-drift", content=big,
                               headers={"Content-Type": "application/json"}), 413)
    assert "larger than this server's limit of 2,097,152 bytes" in msg


def test_a_chunked_body_over_the_limit_is_413(client):
    def chunks():
        yield b'{"reference_data": ['
        for _ in range(MAX_BODY // 4096 + 2):
            yield b'{"a": 1},' * 455 + b" " * 1

    resp = client.post("/detect-drift", content=chunks(),
                       headers={"Content-Type": "application/json"})
    assert "content-length" not in resp.request.headers  # streamed: counted while read
    assert "larger than" in error_of(resp, 413)


def test_an_upload_over_the_limit_is_413(client, lake):
    big = b"x\n" + b"1\n" * (MAX_BODY // 2)
    resp = client.post("/detect-drift/upload", files={
        "reference": ("big.csv", big), "current": ("cur.parquet", (lake / "cur.parquet")
                                                   .read_bytes())})
    assert "larger than" in error_of(resp, 413)


def test_an_uploaded_file_over_the_row_limit_is_413(client, lake):
    data = b"x\n" + b"1\n" * (MAX_ROWS + 1)
    resp = client.post("/detect-drift/upload", files={
        "reference": ("many.csv", data), "current": ("cur.csv", b"x\n1\n2\n")})
    assert error_of(resp, 413) == ("reference file 'many.csv': 5,001 rows is more than this "
                                   "server's limit of 5,000 rows")


@pytest.mark.parametrize(("headers", "chunks", "status"), [
    ([(b"content-length", b"abc")], [b"{}"], 400),
    ([(b"content-length", b"-5")], [b"{}"], 400),
    ([(b"content-length", b"11")], [b"01234567890"], 413),
    ([], [b"0123456", b"7890"], 413),
    ([], [b"0123", b"456789"], 200),
])
def test_body_limit_middleware(headers, chunks, status):
    """The middleware alone (limit 10 bytes): declared and streamed bodies."""
    import asyncio

    from starlette.exceptions import HTTPException

    async def app(scope, receive, send):
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    sent: list[dict] = []

    async def run():
        queue = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
                 for i, c in enumerate(chunks)]

        async def receive():
            return queue.pop(0)

        async def send(msg):
            sent.append(msg)

        try:
            await BodyLimit(app, 10)({"type": "http", "headers": headers}, receive, send)
        except HTTPException as exc:  # raised from receive: the app's handler answers it
            return exc.status_code
        return sent[0]["status"]

    assert asyncio.run(run()) == status


# ---------------------------------------------------------------------------------------------
# POST /detect-drift/upload (multipart)


def upload(client, ref: tuple, cur: tuple, **data):
    return client.post("/detect-drift/upload", files={"reference": ref, "current": cur},
                       data=data)


def test_upload_csv_and_parquet(client, lake):
    resp = upload(client, ("ref.csv", (lake / "ref.csv").read_bytes()),
                  ("cur.parquet", (lake / "cur.parquet").read_bytes()),
                  exclude="y,p", alpha="0.01")
    assert resp.status_code == 200, resp.text
    res = resp.json()
    assert res["reference"]["source"] == "ref.csv" and res["current"]["source"] == "cur.parquet"
    assert res["drifted_columns"] == ["x"]
    assert res["settings"]["alpha"] == 0.01
    assert [c["column"] for c in res["columns"]] == ["x", "z", "city"]
    want = compare(str(lake / "ref.csv"), str(lake / "cur.parquet"), exclude=["y", "p"],
                   alpha=0.01).to_dict()
    assert without_sources(res) == without_sources(want)


@pytest.mark.parametrize(("name", "convert"), [
    ("cur.csv.gz", lambda df: gzip.compress(df.write_csv().encode())),
    ("cur.tsv", lambda df: df.write_csv(separator="\t").encode()),
    ("blob", lambda df: df.write_csv().encode()),  # a browser blob without a name
    ("cur.data", lambda df: parquet_bytes(df)),  # Parquet is known by its magic bytes
])
def test_upload_formats(client, name, convert):
    ref, cur = frames()
    resp = upload(client, ("ref.parquet", parquet_bytes(ref)), (name, convert(cur)),
                  columns="x,z", report="true")
    assert resp.status_code == 200, resp.text
    assert resp.json()["drifted_columns"] == ["x"]
    assert resp.json()["current"]["rows"] == N


def parquet_bytes(df: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.write_parquet(buf)
    return buf.getvalue()


def test_upload_report_and_settings(client):
    ref, cur = frames()
    resp = client.post(
        "/detect-drift/upload?report=true",
        files={"reference": ("r.parquet", parquet_bytes(ref)),
               "current": ("c.parquet", parquet_bytes(cur))},
        data={"columns": 'x,"city"', "kinds": "city=categorical", "decision": "test",
              "psi_threshold": "0.5", "drift_share": "0.5", "null_threshold": "0.2",
              "schema_drift": "false"})
    assert resp.status_code == 200, resp.text
    res = resp.json()
    assert [c["column"] for c in res["columns"]] == ["x", "city"]
    assert res["settings"] == {"alpha": 0.05, "psi_threshold": 0.5, "decision": "test",
                               "drift_share": 0.5, "schema_drift": False,
                               "null_threshold": 0.2}
    assert "gt_table" in res["report_html"]


def test_an_uploaded_file_name_is_only_a_label(client, lake, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    resp = upload(client, ("../../../../etc/passwd.csv", b"a,b\n1,2\n3,4\n"),
                  ("..\\..\\x.csv", b"a,b\n1,2\n5,6\n"))
    assert resp.status_code == 200, resp.text
    assert resp.json()["reference"]["source"] == "passwd.csv"
    assert resp.json()["current"]["source"] == "x.csv"
    assert list(tmp_path.iterdir()) == []  # the uploads were removed


@pytest.mark.parametrize(("files", "data", "status", "fragment"), [
    ({"reference": ("r.xlsx", b"PK\x03\x04")}, {}, 415, "reference file 'r.xlsx': upload a CSV"),
    ({"reference": ("r.parquet", b"a,b\n1,2\n")}, {}, 422, "is not a Parquet file"),
    ({"reference": ("r.parquet", b"PAR1garbage")}, {}, 422, "reference file 'r.parquet': "),
    ({"reference": ("r.csv", b"")}, {}, 422, "reference file 'r.csv' is empty"),
    ({"reference": ("r.csv", bytes(range(256)) * 40)}, {}, 422, "reference file 'r.csv': "),
    ({"reference": ("r.csv.gz", b"\x1f\x8bnot gzip")}, {}, 422, "reference file 'r.csv.gz': "),
    ({}, {}, 422, "reference: upload a file"),
    ({"reference": ("r.csv", b"a\n1\n")}, {"reference_dataset": "ref.csv"}, 422,
     "not both"),
    ({"reference": ("r.csv", b"a\n1\n")}, {"alpha": "2"}, 422, "alpha"),
    ({"reference": ("r.csv", b"a\n1\n")}, {"alpha": "nan"}, 422, "alpha"),
    ({"reference": ("r.csv", b"a\n1\n")}, {"decision": "vote"}, 422, "decision"),
    ({"reference": ("r.csv", b"a\n1\n")}, {"kinds": "a=ordinal"}, 422, "kinds"),
    ({"reference": ("r.csv", b"a\n1\n")}, {"kinds": "a"}, 422, "kinds"),
    ({"reference": ("r.csv", b"a\n1\n")}, {"columns": "nope"}, 422, "column 'nope' not found"),
    ({"reference": ("r.csv", b"a\n1\n")}, {"columns": "a\x00"}, 422, "not found"),
    ({"reference": "not a file"}, {}, 422, "reference"),
])
def test_bad_uploads(client, files, data, status, fragment):
    files = {"current": ("c.csv", b"a\n1\n2\n"), **files}
    if isinstance(files.get("reference"), str):
        data, files = {**data, "reference": files.pop("reference")}, files
    resp = client.post("/detect-drift/upload", files=files, data=data)
    msg = error_of(resp, status)
    assert fragment in msg
    assert "/tmp" not in msg and "sentinel-upload" not in msg


# ---------------------------------------------------------------------------------------------
# named datasets


def named(client, ref: str, cur: str, **settings):
    return client.post("/detect-drift/datasets",
                       json={"reference": ref, "current": cur, "settings": settings})


@pytest.mark.parametrize(("ref", "cur"), [
    ("ref.csv", "cur.parquet"),
    ("ref.parquet", "lake/"),
    ("ref.parquet", "wh.duckdb::sales"),
    ("ref.profile.json", "cur.csv.gz"),
    ("./ref.parquet", "alias.parquet"),
])
def test_named_datasets(client, lake, ref, cur):
    resp = named(client, ref, cur, exclude=["y", "p"])
    assert resp.status_code == 200, resp.text
    res = resp.json()
    assert res["reference"]["source"] == ref and res["current"]["source"] == cur
    assert "x" in res["drifted_columns"]
    assert res["current"]["rows"] == N


def test_named_datasets_in_the_upload_form(client, lake):
    resp = client.post("/detect-drift/upload",
                       files={"current": ("c.parquet", (lake / "cur.parquet").read_bytes())},
                       data={"reference_dataset": "ref.csv", "exclude": "y,p"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["reference"]["source"] == "ref.csv"


@pytest.mark.parametrize(("name", "status", "fragment"), [
    ("../outside/secret.parquet", 400, "'..' is not allowed"),
    ("lake/../../outside/secret.parquet", 400, "'..' is not allowed"),
    ("..\\outside\\secret.parquet", 400, "'..' is not allowed"),
    ("/etc/passwd", 400, "not an absolute path"),
    ("\\\\server\\share\\x.csv", 400, "not an absolute path"),
    ("C:/x.csv", 400, "not an absolute path"),
    ("link_out.parquet", 400, "leads outside the data folder"),
    ("dir_out/secret.parquet", 400, "leads outside the data folder"),
    ("dir_out", 400, "leads outside the data folder"),
    ("mixed", 400, "a file in it leads outside the data folder"),
    ("*.parquet", 400, "wildcards"),
    ("lake/**/*.parquet", 400, "wildcards"),
    ("ref[1].csv", 400, "wildcards"),
    ("a\x00b.csv", 400, "NUL"),
    (".", 400, "leads outside the data folder"),
    (" ", 400, "empty dataset name"),
    ("lake::t", 400, "'::table' follows a DuckDB file"),
    ("missing.parquet", 404, "current: dataset 'missing.parquet' not found"),
    ("wh.duckdb", 422, "name a table as"),
    ("wh.duckdb::nope", 422, "dataset 'wh.duckdb::nope'"),
    ("notes.md", 422, "dataset 'notes.md': cannot read"),
])
def test_a_name_never_reaches_outside_the_data_folder(client, lake, name, status, fragment):
    msg = error_of(named(client, "ref.parquet", name), status)
    assert fragment in msg
    assert str(lake) not in msg and str(lake.parent) not in msg


def test_mixed_folder_is_fine_without_the_link(client, lake):
    assert named(client, "ref.parquet", "mixed/ok.parquet").status_code == 200


def test_named_datasets_are_off_without_a_data_root(plain, lake):
    for resp in (
        plain.post("/detect-drift/datasets", json={"reference": "ref.csv", "current": "x"}),
        plain.post("/slices/datasets", json={"dataset": "cur.parquet"}),
        plain.get("/datasets"),
        plain.post("/detect-drift/upload", data={"reference_dataset": "ref.csv",
                                                 "current_dataset": "cur.parquet"}),
    ):
        assert "--data-root" in error_of(resp, 403)


def test_dataset_listing(client):
    resp = client.get("/datasets")
    assert resp.status_code == 200
    listed = {d["name"]: d["format"] for d in resp.json()["datasets"]}
    assert listed == {
        "alias.parquet": "parquet", "cur.csv.gz": "csv", "cur.parquet": "parquet",
        "lake/part=0/data.parquet": "parquet", "lake/part=1/data.parquet": "parquet",
        "lake/part=2/data.parquet": "parquet", "mixed/ok.parquet": "parquet",
        "ref.csv": "csv", "ref.parquet": "parquet", "ref.profile.json": "profile",
        "wh.duckdb": "duckdb",
    }
    assert resp.json()["truncated"] is False


@pytest.mark.parametrize(("host", "status"), [
    ("127.0.0.1:8000", 200), ("localhost:8000", 200), ("[::1]:8000", 200), ("localhost", 200),
    ("evil.example:8000", 400), ("127.0.0.1.evil.example", 400), ("", 400),
])
def test_a_loopback_server_answers_loopback_names_only(host, status):
    """DNS rebinding: a page whose name resolves to 127.0.0.1 sends its own name."""
    from sentinel_sql.server.limits import LOOPBACK_HOSTS

    c = TestClient(create_app(allowed_hosts=LOOPBACK_HOSTS), base_url="http://127.0.0.1")
    resp = c.get("/health", headers={"Host": host})
    if status == 200:
        assert resp.status_code == 200, resp.text
    else:
        assert "unexpected Host header" in error_of(resp, 400)


def test_create_app_checks_its_options(tmp_path):
    with pytest.raises(InputError, match="not a folder"):
        create_app(tmp_path / "missing")
    with pytest.raises(InputError, match="positive"):
        create_app(max_rows=0)


# ---------------------------------------------------------------------------------------------
# slices


def test_slices_from_json_rows_match_the_engine(client):
    _, cur = frames()
    settings = {"label": "y", "prediction": "p", "features": ["x", "z", "city"], "top_k": 5,
                "min_support": 10}
    resp = client.post("/slices", json={"data": rows(cur), "settings": settings})
    assert resp.status_code == 200, resp.text
    res = resp.json()
    want = find_slices(cur, **settings)
    assert res["source"] == "data"
    assert [s["text"] for s in res["slices"]] == [s.text for s in want.slices]
    assert {k: v for k, v in res.items() if k != "source"} == {
        **want.to_dict(), "slices": [{**s.to_dict(), "text": s.text} for s in want.slices]}
    assert "city = 'nice'" in res["slices"][0]["text"]


def test_slices_upload_and_named(client, lake):
    resp = client.post("/slices/upload",
                       files={"data": ("cur.parquet", (lake / "cur.parquet").read_bytes())},
                       data={"label": "y", "prediction": "p", "min_support": "10", "top_k": "3",
                             "features": "x,city"})
    assert resp.status_code == 200, resp.text
    up = resp.json()
    assert up["source"] == "cur.parquet" and len(up["slices"]) == 3 and up["top_k"] == 3
    by_name = client.post("/slices/datasets", json={"dataset": "cur.parquet", "settings": {
        "label": "y", "prediction": "p", "min_support": 10, "top_k": 3,
        "features": ["x", "city"]}}).json()
    assert by_name["slices"] == up["slices"]
    form_ds = client.post("/slices/upload", data={
        "data_dataset": "cur.parquet", "label": "y", "prediction": "p", "min_support": "10",
        "top_k": "3", "features": "x,city"}).json()
    assert form_ds["slices"] == up["slices"]


def test_slices_with_an_error_column(client):
    data = [{"g": g, "err": 1.0 if g == "a" else 0.0} for g in "abcd" * 50]
    res = client.post("/slices", json={"data": data, "settings": {"error": "err"}}).json()
    assert res["task"] == "error"
    assert res["slices"][0]["text"] == "g = 'a'"


@pytest.mark.parametrize(("settings", "status", "fragment"), [
    ({}, 422, "label column missing"),
    ({"label": "y"}, 422, "prediction column missing"),
    ({"label": "nope", "prediction": "p"}, 422, "label column 'nope' not found in data"),
    ({"label": "y", "prediction": "p", "error": "x"}, 422, "not both"),
    ({"error": "city"}, 422, "is not numeric"),
    ({"error": "x"}, 422, "negative values"),
    ({"label": "y", "prediction": "p", "top_k": 0}, 422, "settings.top_k"),
    ({"label": "y", "prediction": "p", "max_level": 9}, 422, "settings.max_level"),
    ({"label": "y", "prediction": "p", "bins": 1}, 422, "settings.bins"),
    ({"label": "y", "prediction": "p", "alpha": 0}, 422, "settings.alpha"),
    ({"label": "y", "prediction": "p", "min_support": 0}, 422, "min_support"),
    ({"label": "y", "prediction": "p", "min_support": 1.5}, 422, "min_support"),
    ({"label": "y", "prediction": "p", "task": "ranking"}, 422, "settings.task"),
    ({"label": "y", "prediction": "p", "features": ["nope"]}, 422, "'nope'"),
    ({"label": "city", "prediction": "x", "task": "regression"}, 422, "regression needs"),
])
def test_bad_slice_requests(client, settings, status, fragment):
    _, cur = frames(n=200)
    resp = client.post("/slices", json={"data": rows(cur), "settings": settings})
    assert fragment in error_of(resp, status)


def test_bad_slice_uploads(client):
    msg = error_of(client.post("/slices/upload", data={"label": "y", "prediction": "p"}), 422)
    assert msg == "data: upload a file (or give data_dataset)"
    msg = error_of(client.post("/slices/upload", files={"data": ("d.csv", b"a,y,p\n1,0,1\n")},
                               data={"label": "y", "prediction": "p", "top_k": "x"}), 422)
    assert "top_k" in msg
    resp = client.post("/slices/upload", files={"data": ("d.csv", b"a,y,p\n1,0,1\n")},
                       data={"label": "nope", "prediction": "p"})
    assert error_of(resp, 422) == "label column 'nope' not found in data file 'd.csv'"


# ---------------------------------------------------------------------------------------------
# pages, docs, health, the 500 handler


def test_dashboard_is_one_self_contained_page(client):
    resp = client.get("/")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
    page = resp.text
    assert "<script>" in page and "detect-drift/upload" in page
    assert not re.search(r"""(?:src|href|url)\s*[=(]\s*["']?(?:https?:)?//""", page)
    assert "http://" not in page and "https://" not in page
    csp = resp.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp


def test_docs_are_served_without_a_cdn(client):
    page = client.get("/docs").text
    assert "swagger-ui-bundle.js" in page
    assert not re.search(r"""(?:src|href)\s*=\s*["'](?:https?:)?//""", page)
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        pytest.importorskip("swagger_ui")
        resp = client.get(f"/docs/{asset}")
        assert resp.status_code == 200 and len(resp.content) > 1000
    error_of(client.get("/docs/index.html"), 404)
    schema = client.get("/openapi.json").json()
    assert set(schema["paths"]) == {
        "/health", "/datasets", "/detect-drift", "/detect-drift/upload",
        "/detect-drift/datasets", "/slices", "/slices/upload", "/slices/datasets"}
    ops = schema["paths"]["/detect-drift"]["post"]["responses"]
    assert {"200", "400", "413", "422", "500"} <= set(ops)


def test_health(client):
    assert client.get("/health").json() == {
        "status": "ok", "version": __version__, "named_datasets": True,
        "max_body_bytes": MAX_BODY, "max_rows": MAX_ROWS}


def test_an_internal_error_is_a_500_without_details(lake, monkeypatch, caplog):
    import sentinel_sql.drift as drift

    def boom(*_a, **_k):
        raise RuntimeError("secret /etc/shadow detail")

    monkeypatch.setattr(drift, "compare", boom)
    c = TestClient(create_app(lake), raise_server_exceptions=False)
    resp = c.post("/detect-drift", content=CURL_BODY,
                  headers={"Content-Type": "application/json"})
    msg = error_of(resp, 500)
    assert msg.startswith("internal error (id ") and "secret" not in resp.text
    ref = msg.split("(id ")[1].split(")")[0]
    assert any(ref in r.getMessage() for r in caplog.records)  # the log has the id


# ---------------------------------------------------------------------------------------------
# property-based: the API against its own OpenAPI schema (schemathesis, in-process ASGI)

try:
    import schemathesis
    from schemathesis.specs.openapi.checks import positive_data_acceptance
except ImportError:  # pragma: no cover - in the test extra
    schemathesis = None

DOCUMENTED = {200, 400, 403, 404, 405, 413, 415, 422}  # 405: schemathesis tries other methods


def _schema_app():
    """A small server: a data folder of two files, low limits (cheap generated requests)."""
    import atexit
    import shutil
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="sentinel-schemathesis-"))
    atexit.register(shutil.rmtree, root, True)
    pl.DataFrame({"a": [1, 2, 3], "b": ["u", "v", "w"]}).write_parquet(root / "a.parquet")
    (root / "b.csv").write_text("a,b\n1,u\n2,v\n")
    return create_app(root, max_body_bytes=256 * 1024, max_rows=200)


if schemathesis is not None:
    from hypothesis import HealthCheck, settings

    SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", _schema_app())

    @SCHEMA.parametrize()
    @settings(max_examples=15, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def test_api_conforms_to_its_openapi_schema(case):
        """Any request the schema allows (and many it does not) gets a documented status, a
        body matching the documented schema, and never a 5xx. A schema-valid request may
        still be refused (a column that is not in the data): that check is left out."""
        resp = case.call_and_validate(excluded_checks=[positive_data_acceptance])
        assert resp.status_code in DOCUMENTED, resp.text
        if resp.status_code >= 400:
            assert set(resp.json()) <= {"error", "details"}
else:  # pragma: no cover
    def test_api_conforms_to_its_openapi_schema():
        pytest.skip("schemathesis is not installed (pip install -e '.[test]')")


# ---------------------------------------------------------------------------------------------
# sentinel serve


def serve_cli(args: list[str], code: int) -> tuple[str, str]:
    from sentinel_sql import cli_serve  # noqa: F401  (cli.py registers it)

    res = CliRunner().invoke(cli.main, args, catch_exceptions=False)
    assert res.exit_code == code, (res.stdout, res.stderr)
    return res.stdout, res.stderr


def test_serve_help():
    out, _ = serve_cli(["serve", "--help"], 0)
    for opt in ("--host", "--port", "--data-root", "--max-body-mb", "--max-rows"):
        assert opt in out
    assert "127.0.0.1" in out and "8000" in out


def test_serve_on_a_busy_port_is_one_error_line():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        out, err = serve_cli(["serve", "--port", str(port)], 2)
    assert out == ""
    assert err.strip().startswith(f"sentinel: error: cannot listen on 127.0.0.1:{port}: ")
    assert len(err.strip().splitlines()) == 1


def test_serve_bad_options_exit_2(tmp_path):
    serve_cli(["serve", "--data-root", str(tmp_path / "nope")], 2)
    serve_cli(["serve", "--max-rows", "0"], 2)
    serve_cli(["serve", "--max-body-mb", "0"], 2)


def test_serve_answers_the_curl_call_on_loopback(lake):
    code = "from sentinel_sql import cli, cli_serve; cli.main()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "serve", "--port", "0", "--data-root", str(lake),
         "--max-rows", "100"], stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        line = proc.stderr.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert m, line + proc.stderr.read()
        base = f"http://127.0.0.1:{m.group(1)}"
        for _ in range(100):  # uvicorn starts its loop after the socket is bound
            try:
                urllib.request.urlopen(base + "/health", timeout=5).read()
                break
            except OSError:
                time.sleep(0.05)
        req = urllib.request.Request(base + "/detect-drift", data=CURL_BODY.encode(),
                                     headers={"Content-Type": "application/json"})
        res = json.loads(urllib.request.urlopen(req, timeout=30).read())
        assert res["reference"]["rows"] == 1 and res["current"]["rows"] == 1
    finally:
        proc.send_signal(signal.SIGTERM)  # a service manager's stop (Ctrl-C takes the same
        # path, as KeyboardInterrupt): a graceful stop, exit 0
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()
            proc.wait()
    err = proc.stderr.read()
    assert proc.returncode == 0, err
    assert "sentinel: server stopped" in err and "Traceback" not in err
