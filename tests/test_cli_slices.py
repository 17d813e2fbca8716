"""`sentinel slices` through Click's runner: one dataset, two datasets, bad input."""

from __future__ import annotations

import html
import json

import numpy as np
import polars as pl
import pytest
from helpers import invoke as run


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("sl")
    rng = np.random.default_rng(0)

    def make(n, bad_rate):
        a = rng.choice(["x", "y", "z"], n)
        b = rng.choice(["p", "q"], n)
        y = rng.integers(0, 2, n)
        wrong = rng.random(n) < np.where((a == "x") & (b == "p"), bad_rate, 0.05)
        return pl.DataFrame({"a": a, "b": b, "y": y, "pred": np.where(wrong, 1 - y, y)})

    make(3000, 0.05).write_parquet(root / "ref.parquet")
    make(3000, 0.6).write_parquet(root / "cur.parquet")
    return root





def test_slices_finds_the_planted_segment(files):
    page = files / "s.html"
    out, _ = run(["slices", str(files / "cur.parquet"), "--label", "y", "--prediction", "pred",
                  "--format", "json", "--html", str(page), "--fail-on-slices"], 1)
    res = json.loads(out)
    top = res["slices"][0]
    assert {(p["column"], p["value"]) for p in top["predicates"]} == {("a", "x"), ("b", "p")}
    assert res["rows"] == 3000 and top["score"] > 0
    assert "a = 'x' AND b = 'p'" in html.unescape(page.read_text(encoding="utf-8"))


def test_root_cause_between_two_datasets(files):
    out, _ = run(["slices", str(files / "ref.parquet"), str(files / "cur.parquet"), "--label",
                  "y", "--prediction", "pred", "--format", "json"], 0)
    res = json.loads(out)
    assert res["current"]["average_error"] > res["reference"]["average_error"]
    best = max(res["slices"], key=lambda s: s["contribution"])
    assert best["slice"] in ("a = 'x' AND b = 'p'", "a = 'x'", "b = 'p'")
    assert best["got_worse"] + best["grew"] == pytest.approx(best["contribution"])


@pytest.mark.parametrize("args, needle", [
    (["--label", "nope", "--prediction", "pred"], "nope"),
    (["--label", "y", "--prediction", "pred", "--max-level", "0"], "max"),
    (["--label", "y"], "prediction"),
])
def test_bad_input_exit_2(files, args, needle):
    _, err = run(["slices", str(files / "cur.parquet"), *args], 2)
    assert needle in err.lower() and len(err.strip().splitlines()) == 1


def test_sentinel_sql_prints_macros_that_run_in_a_bare_connection():
    import duckdb

    out, _ = run(["sql"], 0)
    con = duckdb.connect()
    con.execute(out)
    con.execute("CREATE TABLE r AS SELECT range::DOUBLE AS x FROM range(200)")
    con.execute("CREATE TABLE c AS SELECT range::DOUBLE + 50 AS x FROM range(200)")
    ((name, ks, psi),) = con.execute(
        "SELECT column_name, ks_statistic, psi FROM sentinel_drift('r', 'c')").fetchall()
    assert name == "x" and ks == pytest.approx(0.25) and psi > 0.1
