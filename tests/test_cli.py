"""The ``sentinel`` CLI through Click's runner: exit codes, stdout and stderr, output files."""

from __future__ import annotations

import html
import json
import re

import numpy as np
import polars as pl
import pytest
from helpers import invoke

from sentinel_sql import cli

HOSTILE = [
    'a"; DROP TABLE x; --',
    "first name",
    "it's",
    "semi;colon",
    "naïve ü 😀 名前",
    "<img src=x onerror=alert(1)>",
    "comma,name",
]





def assert_one_error_line(stdout: str, stderr: str, kind: str = "error") -> None:
    assert stdout == ""
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"sentinel: {kind}: ")
    assert "Traceback" not in stderr


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(7)
    n = 2000
    ref = pl.DataFrame({
        "x": rng.normal(0, 1, n),
        "y": rng.integers(0, 100, n),
        "city": rng.choice(["paris", "lyon", "nice"], n),
    })
    cur = pl.DataFrame({
        "x": rng.normal(0.8, 1, n),  # drifts
        "y": rng.integers(0, 100, n),
        "city": rng.choice(["paris", "lyon", "nice"], n),
    })
    paths = {"ref": d / "ref.parquet", "cur": d / "cur.parquet", "ref2": d / "ref2.parquet",
             "wide": d / "wide.parquet", "hostile": d / "hostile.parquet"}
    ref.write_parquet(paths["ref"])
    cur.write_parquet(paths["cur"])
    ref.sample(fraction=1.0, shuffle=True, seed=1).write_parquet(paths["ref2"])
    ref.with_columns(extra=pl.lit(1)).write_parquet(paths["wide"])
    pl.DataFrame({
        name: (rng.normal(i, 1, 500) if i % 2 == 0 else rng.choice(["u", "v", "w"], 500))
        for i, name in enumerate(HOSTILE)
    }).write_parquet(paths["hostile"])
    paths["dir"] = d
    return paths


def test_no_drift_exits_0_with_json_only_on_stdout(data):
    out, err = invoke(["drift", data["ref"], data["ref2"]], 0)
    assert err == ""  # not a terminal: no progress
    res = json.loads(out)
    assert res["drift_detected"] is False
    assert res["drifted_columns"] == []
    assert [c["column"] for c in res["columns"]] == ["x", "y", "city"]
    assert res["reference"]["rows"] == res["current"]["rows"] == 2000


def test_drift_exits_1_and_json_carries_the_contract(data):
    out, err = invoke(["drift", data["ref"], data["cur"], "--format", "json"], 1)
    assert err == ""
    res = json.loads(out)
    assert res["drift_detected"] is True
    assert res["drifted_columns"] == ["x"]
    x = next(c for c in res["columns"] if c["column"] == "x")
    assert x["kind"] == "numeric" and x["test"] == "ks" and x["drifted"] is True
    assert len(x["histogram"]["reference"]) == len(x["histogram"]["edges"]) + 1
    assert res["settings"]["alpha"] == 0.05


def test_table_format_puts_the_verdict_first(data):
    out, _ = invoke(["drift", data["ref"], data["cur"], "--format", "table"], 1)
    lines = out.splitlines()
    assert lines[0].startswith("DRIFT DETECTED: 1 of 3 columns drifted (x)")
    row = next(line for line in lines if line.startswith("x "))
    assert row.rstrip().endswith("DRIFT") and " ks " in row
    assert any(line.startswith("city ") and "DRIFT" not in line for line in lines)


def test_options_reach_the_engine(data):
    out, _ = invoke(["drift", data["ref"], data["cur"], "--columns", "y,city", "--kind",
                     "y=categorical", "--alpha", "0.01", "--decision", "test"], 0)
    res = json.loads(out)
    assert [c["column"] for c in res["columns"]] == ["y", "city"]
    assert res["columns"][0]["kind"] == "categorical"
    assert res["settings"] == {"alpha": 0.01, "psi_threshold": 0.1, "decision": "test",
                               "drift_share": 0.0, "schema_drift": True,
                               "null_threshold": 0.05}
    out, _ = invoke(["drift", data["ref"], data["cur"], "--exclude", "x", "--exclude", "y"], 0)
    assert [c["column"] for c in json.loads(out)["columns"]] == ["city"]
    # one drifted column of three is below a drift share of one half
    invoke(["drift", data["ref"], data["cur"], "--drift-share", "0.5", "-q"], 0)
    invoke(["drift", data["ref"], data["cur"], "--psi-threshold", "100", "-q"], 0)


def test_schema_drift_and_no_schema_drift(data):
    out, _ = invoke(["drift", data["wide"], data["ref2"]], 1)
    res = json.loads(out)
    assert res["drifted_columns"] == []
    assert res["schema_changes"][0]["column"] == "extra"
    invoke(["drift", data["wide"], data["ref2"], "--no-schema-drift"], 0)
    out, _ = invoke(["drift", data["wide"], data["ref2"], "--format", "table"], 1)
    assert "Schema changes:" in out and "extra: missing in current" in out


def test_quiet_prints_nothing(data):
    assert invoke(["drift", data["ref"], data["cur"], "--quiet"], 1) == ("", "")


def test_progress_only_when_stderr_is_a_terminal(data, monkeypatch):
    monkeypatch.setattr(cli, "stderr_is_tty", lambda: True)
    out, err = invoke(["drift", data["ref"], data["cur"]], 1)
    json.loads(out)  # stdout is still only the result
    assert "sentinel: scanning reference" in err
    assert invoke(["drift", data["ref"], data["cur"], "-q"], 1) == ("", "")


def test_missing_file_is_one_line_exit_2_and_no_report(data):
    report = data["dir"] / "missing.html"
    out, err = invoke(["drift", data["dir"] / "nope.parquet", data["cur"], "--html", report], 2)
    assert_one_error_line(out, err)
    assert "nope.parquet" in err
    assert not report.exists()


@pytest.mark.parametrize(
    "extra",
    [
        ["--alpha", "x"],
        ["--alpha", "1.5"],
        ["--psi-threshold", "-1"],
        ["--drift-share", "2"],
        ["--decision", "maybe"],
        ["--format", "xml"],
        ["--kind", "x"],
        ["--kind", "x=ordinal"],
        ["--kind", "nope=numeric"],
        ["--columns", "nope"],
        ["--exclude", "nope"],
        ["--bogus"],
        ["--html", "/no/such/folder/report.html"],
    ],
)
def test_bad_options_exit_2_with_one_line(data, extra):
    out, err = invoke(["drift", data["ref"], data["cur"], *extra], 2)
    assert_one_error_line(out, err)


@pytest.mark.parametrize(
    "args",
    [["drift"], ["drift", "only-one.parquet"], ["nosuchcommand"],
     ["drift", "no/match/*.parquet", "also/none/*.parquet"]],
)
def test_usage_errors_exit_2(args):
    out, err = invoke(args, 2)
    assert_one_error_line(out, err)


def test_internal_error_exits_3_without_traceback(data, monkeypatch):
    import sentinel_sql.drift

    def boom(*_args, **_kwargs):
        raise RuntimeError("kaboom\nsecond line")

    monkeypatch.setattr(sentinel_sql.drift, "compare", boom)
    report = data["dir"] / "internal.html"
    out, err = invoke(["drift", data["ref"], data["cur"], "--html", report], 3)
    assert_one_error_line(out, err, kind="internal error")
    assert "kaboom second line" in err
    assert not report.exists()
    _, err = invoke(["drift", data["ref"], data["cur"]], 3, env={"SENTINEL_DEBUG": "1"})
    assert "Traceback" in err and err.splitlines()[-1].startswith("sentinel: internal error:")


def test_report_failure_leaves_no_file(data, monkeypatch):
    import sentinel_sql.report

    def broken(_result):
        raise ValueError("cannot render")

    monkeypatch.setattr(sentinel_sql.report, "render_html", broken)
    report = data["dir"] / "broken.html"
    out, err = invoke(["drift", data["ref"], data["cur"], "--html", report], 3)
    assert_one_error_line(out, err, kind="internal error")
    assert not report.exists()
    assert not list(data["dir"].glob(".sentinel-*"))  # no temporary file left behind


def test_html_report_has_every_column_and_the_verdict(data):
    report = data["dir"] / "report.html"
    out, err = invoke(["drift", data["ref"], data["cur"], "--html", report], 1)
    assert json.loads(out)["drift_detected"] is True and err == ""
    page = report.read_text(encoding="utf-8")
    assert "Sentinel drift report: drift detected" in page
    assert "DRIFT DETECTED: 1 of 3 columns drifted (x)" in page
    for name in ("x", "y", "city"):
        assert f">{name}</td>" in page
    assert page.count("<svg") == 6  # reference and current histogram per column
    assert str(data["ref"]) in page and "2,000 rows" in page
    # self-contained: no font, script or stylesheet from the network
    assert not re.search(r"https?://(?!www\.w3\.org/)", page)
    assert "@import" not in page and "<script" not in page


def test_hostile_column_names_round_trip(data):
    report = data["dir"] / "hostile.html"
    out, _ = invoke(["drift", data["hostile"], data["hostile"], "--html", report], 0)
    assert [c["column"] for c in json.loads(out)["columns"]] == HOSTILE
    page = report.read_text(encoding="utf-8")
    for name in HOSTILE:
        assert html.escape(name) in page
    assert "<img src=x" not in page
    # selecting them by name: CSV quoting for the comma, the last '=' for --kind
    picked = f'{HOSTILE[0]},"comma,name",{HOSTILE[4]}'  # a quote inside a name is literal
    out, _ = invoke(["drift", data["hostile"], data["hostile"], "--columns", picked,
                     "--kind", f"{HOSTILE[1]}=categorical", "--exclude", HOSTILE[4]], 0)
    res = json.loads(out)
    assert [c["column"] for c in res["columns"]] == [HOSTILE[0], "comma,name"]
    out, _ = invoke(["drift", data["hostile"], data["hostile"], "--format", "table"], 0)
    for name in HOSTILE:
        assert name in out


def test_version_and_help():
    out, _ = invoke(["--version"], 0)
    assert out.strip() == f"sentinel {cli.__version__}"
    out, _ = invoke(["drift", "--help"], 0)
    assert "--psi-threshold" in out and "--html" in out


def test_decision_choices_match_the_engine():
    from sentinel_sql.drift import DECISIONS

    assert cli.DECISIONS == DECISIONS


def test_demo_runs_and_writes_the_report(tmp_path):
    out, err = invoke(["demo", "--out", tmp_path, "--rows-per-month", "400"], 0)
    res = json.loads(out)
    assert res["drift"]["drift_detected"] is True
    assert {"income", "employment_type"} <= set(res["drift"]["drifted_columns"])
    emp = next(c for c in res["drift"]["columns"] if c["column"] == "employment_type")
    assert emp["new_categories"] == ["gig"]
    assert sorted(p.name for p in (tmp_path / "current").iterdir()) == [
        "month=2025-04", "month=2025-05", "month=2025-06"]
    report = tmp_path / "report.html"
    assert res["report"] == str(report)
    assert "employment_type" in report.read_text(encoding="utf-8")
    assert f"HTML report: {report}" in err
    if res["slices"] is not None:  # slice discovery finds the planted segment
        top = res["slices"]["slices"][0]["predicates"]
        assert {p.get("column") for p in top} >= {"age", "employment_type"}


def test_table_is_the_default_on_a_terminal(data, monkeypatch):
    monkeypatch.setattr(cli, "stdout_is_tty", lambda: True)
    out, _ = invoke(["drift", data["ref"], data["cur"]], 1)
    assert out.startswith("DRIFT DETECTED")
    out, _ = invoke(["drift", data["ref"], data["cur"], "--format", "json"], 1)
    json.loads(out)


def test_interrupt_is_not_read_as_drift(data, monkeypatch):
    import sentinel_sql.drift

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sentinel_sql.drift, "compare", interrupted)
    out, err = invoke(["drift", data["ref"], data["cur"]], cli.ExitCode.INTERRUPTED)
    assert out == "" and err.strip() == "sentinel: interrupted"


def test_docstring_examples():
    import doctest

    from sentinel_sql import demo, report, terminal

    for mod in (terminal, report, demo):
        assert doctest.testmod(mod).failed == 0, mod.__name__
