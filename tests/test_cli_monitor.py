"""`sentinel profile` and `sentinel monitor` through Click's runner."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import numpy as np
import polars as pl
import pytest
from helpers import invoke as run


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("mon")
    rng = np.random.default_rng(0)
    n = 4000
    ts = [dt.datetime(2025, 1, 6) + dt.timedelta(hours=int(h)) for h in rng.integers(0, 24 * 56, n)]
    y = (rng.random(n) < 0.3).astype(int)
    df = pl.DataFrame({"ts": ts, "x": rng.normal(size=n), "s": rng.choice(["a", "b"], n),
                       "y": y, "pred": np.where(rng.random(n) < 0.8, y, 1 - y)})
    ref = df.filter(pl.col("ts") < dt.datetime(2025, 2, 3))
    cur = df.filter(pl.col("ts") >= dt.datetime(2025, 2, 3)).with_columns(
        x=pl.when(pl.col("ts") >= dt.datetime(2025, 2, 24)).then(pl.col("x") + 1)
        .otherwise(pl.col("x")))
    ref.write_parquet(root / "ref.parquet")
    cur.write_parquet(root / "cur.parquet")
    return root





def test_profile_then_monitor_with_history_and_html(lake):
    prof = str(lake / "ref.profile.json")
    run(["profile", str(lake / "ref.parquet"), "-o", prof], 0)
    hist, page = str(lake / "h.duckdb"), str(lake / "m.html")
    args = ["monitor", prof, str(lake / "cur.parquet"), "--timestamp", "ts", "--every", "1w",
            "--label", "y", "--prediction", "pred", "--history", hist, "--html", page,
            "--format", "json"]
    out, _ = run(args, 1)  # the newest week drifts
    res = json.loads(out)
    assert [w["window"][:10] for w in res["windows"]] == [
        "2025-02-03", "2025-02-10", "2025-02-17", "2025-02-24"]
    assert res["windows"][-1]["drift_detected"] and "x" in res["windows"][-1]["drifted_columns"]
    assert 0.7 < res["windows"][0]["performance"]["accuracy"] < 0.9
    run(args, 1)  # a second run replaces its rows
    with duckdb.connect(hist, read_only=True) as con:
        n = con.execute("SELECT count(*) FROM sentinel_history").fetchall()[0][0]
        w = con.execute("SELECT count(DISTINCT window_key) FROM sentinel_history").fetchall()[0][0]
    assert w == 4 and n == 4 * (1 + len(res["windows"][0]["columns"]))
    text = open(page, encoding="utf-8").read()
    assert "Sentinel monitoring report" in text and "accuracy" in text and "<svg" in text


@pytest.mark.parametrize("extra, needle", [
    (["--every", "1w"], "--timestamp"),
    (["--by", "nope"], "nope"),
    (["--by", "s", "--every", "1w", "--timestamp", "ts"], "either"),
    (["--timestamp", "ts", "--every", "soon"], "every"),
])
def test_monitor_bad_input_is_exit_2(lake, extra, needle):
    _, err = run(["monitor", str(lake / "ref.parquet"), str(lake / "cur.parquet"), *extra], 2)
    assert needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_profile_needs_profile_suffix(lake):
    _, err = run(["profile", str(lake / "ref.parquet"), "-o", str(lake / "x.json")], 2)
    assert "profile.json" in err
    assert not (lake / "x.json").exists()


def test_webhook_failure_keeps_results(lake):
    out, err = run(["monitor", str(lake / "ref.parquet"), str(lake / "cur.parquet"), "--by", "s",
                    "--alert-webhook", "http://127.0.0.1:9/hook", "--format", "json",
                    "--psi-threshold", "0", "--decision", "effect"], 1)
    assert json.loads(out)["windows"] and "webhook" in err
