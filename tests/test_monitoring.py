"""Monitoring windows, performance metrics (against numpy), history and webhooks."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading

import duckdb
import numpy as np
import polars as pl
import pytest
import scipy.stats as ss

import sentinel_sql
from sentinel_sql.errors import InputError
from sentinel_sql.history import post_webhook, write_history


def _frame(seed: int, n: int, start: dt.datetime, days: int, shift: float = 0.0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    ts = [start + dt.timedelta(hours=int(h)) for h in rng.integers(0, 24 * days, n)]
    y = (rng.random(n) < 0.3).astype(np.int64)
    prob = np.round(np.clip(0.3 * y + 0.7 * rng.random(n), 0, 1), 2)  # ties on purpose
    return pl.DataFrame(
        {
            "ts": ts,
            "x": rng.normal(shift, size=n),
            "seg": rng.choice(["a", "b", "c"], n),
            "y": y,
            "pred": (prob > 0.5).astype(np.int64),
            "prob": prob,
            "target": rng.normal(size=n),
            "estimate": rng.normal(size=n),
        }
    )


REF = _frame(0, 3000, dt.datetime(2025, 1, 6), 28)
CUR = _frame(1, 3000, dt.datetime(2025, 2, 3), 28, shift=0.5)


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    r = ss.rankdata(p)
    npos, nneg = y.sum(), len(y) - y.sum()
    return float((r[y == 1].sum() - npos * (npos + 1) / 2) / (npos * nneg))


def test_classification_metrics_match_numpy():
    res = sentinel_sql.monitor(
        REF, CUR, timestamp="ts", every="1w", label="y", prediction="pred", probability="prob"
    )
    assert len(res.windows) == 4
    for w in res.windows:
        start = dt.datetime.fromisoformat(w["window"])
        part = CUR.filter((pl.col("ts") >= start) & (pl.col("ts") < start + dt.timedelta(days=7)))
        y, yhat, p = part["y"].to_numpy(), part["pred"].to_numpy(), part["prob"].to_numpy()
        tp = np.sum((y == 1) & (yhat == 1))
        fp, fn = np.sum((y == 0) & (yhat == 1)), np.sum((y == 1) & (yhat == 0))
        perf = w["performance"]
        assert w["rows"] == part.height
        assert perf["accuracy"] == pytest.approx(np.mean(y == yhat), rel=1e-12)
        assert perf["precision"] == pytest.approx(tp / (tp + fp), rel=1e-12)
        assert perf["recall"] == pytest.approx(tp / (tp + fn), rel=1e-12)
        assert perf["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn), rel=1e-12)
        assert perf["roc_auc"] == pytest.approx(_auc(y, p), rel=1e-12)
        pc = np.clip(p, 1e-15, 1 - 1e-15)
        ll = -np.mean(y * np.log(pc) + (1 - y) * np.log(1 - pc))
        assert perf["log_loss"] == pytest.approx(ll, rel=1e-9)


def test_regression_metrics_match_numpy():
    res = sentinel_sql.monitor(REF, CUR, by="seg", label="target", prediction="estimate")
    assert [w["window"] for w in res.windows] == ["a", "b", "c"]
    for w in res.windows:
        part = CUR.filter(pl.col("seg") == w["window"])
        e = part["target"].to_numpy() - part["estimate"].to_numpy()
        y = part["target"].to_numpy()
        perf = w["performance"]
        assert perf["mae"] == pytest.approx(np.mean(np.abs(e)), rel=1e-12)
        assert perf["rmse"] == pytest.approx(np.sqrt(np.mean(e**2)), rel=1e-12)
        assert perf["r2"] == pytest.approx(1 - np.sum(e**2) / np.sum((y - y.mean()) ** 2), rel=1e-9)


def test_window_statistics_equal_compare_on_that_window():
    res = sentinel_sql.monitor(REF, CUR, by="seg", exclude=["ts"])
    for w in res.windows:
        part = CUR.filter(pl.col("seg") == w["window"]).drop("ts", "seg")
        direct = sentinel_sql.compare(REF.drop("ts", "seg"), part)
        for c in w["columns"]:
            d = direct.column(c["column"])
            assert c["psi"] == d["psi"] and c["null_fraction"] == d["null_fraction"]
            if c["kind"] == "numeric":
                bound = c["ks"].get("error_bound", 0.0)
                assert abs(c["ks"]["statistic"] - d["ks"]["statistic"]) <= bound + 1e-15
    assert res.windows[-1]["drift_detected"]  # x shifted by 0.5 sd
    assert res.alert and "x" in res.alerts[0]


def test_learned_thresholds_and_profile_reference(tmp_path):
    res = sentinel_sql.monitor(
        REF, CUR, timestamp="ts", every="1w", label="y", prediction="pred", thresholds="learned"
    )
    psi_t = res.settings["psi_threshold"]
    assert set(psi_t) >= {"x", "seg"} and all(v >= 0.01 for v in psi_t.values())
    lo, hi = res.settings["performance_bands"]["accuracy"]
    assert lo < hi
    prof = tmp_path / "ref.profile.json"
    sentinel_sql.profile(REF).save(prof)
    from_profile = sentinel_sql.monitor(str(prof), CUR, timestamp="ts", every="1w")
    assert [w["window"] for w in from_profile.windows] == [w["window"] for w in res.windows]
    with pytest.raises(InputError, match="learned"):
        sentinel_sql.monitor(str(prof), CUR, timestamp="ts", every="1w", thresholds="learned")


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"timestamp": "ts", "every": "fortnight"}, "every"),
        ({"timestamp": "nope", "every": "1d"}, "nope"),
        ({"by": "nope"}, "nope"),
        ({}, "timestamp"),
        ({"by": "seg", "label": "y"}, "prediction"),
    ],
)
def test_bad_options(kwargs, needle):
    with pytest.raises(InputError, match=needle):
        sentinel_sql.monitor(REF, CUR, **kwargs)


def test_history_replaces_rows_and_survives_concurrent_runs(tmp_path):
    path = str(tmp_path / "history.duckdb")
    res = sentinel_sql.monitor(REF, CUR, by="seg").to_dict()
    n = write_history(path, res, source="cur")
    write_history(path, res, source="cur")
    with duckdb.connect(path, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM sentinel_history").fetchall()[0][0] == n
        keys = con.execute("SELECT DISTINCT window_key FROM sentinel_history ORDER BY 1").fetchall()
    assert [k[0] for k in keys] == ["a", "b", "c"]
    errors = []

    def run():
        try:
            write_history(path, res, source="cur", wait=30)
        except InputError as exc:  # a clear failure is allowed, corruption is not
            errors.append(str(exc))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with duckdb.connect(path, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM sentinel_history").fetchall()[0][0] == n


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server API
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_webhook_posts_slack_text_and_reports_failures():
    server = http.server.HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.handle_request)
    thread.start()
    res = sentinel_sql.monitor(REF, CUR, by="seg").to_dict()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    assert post_webhook(url, res) is None
    thread.join(5)
    server.server_close()
    (payload,) = _Hook.received
    assert payload["text"].startswith("Sentinel alert") and "x" in payload["text"]
    assert post_webhook(url, res, timeout=2) is not None  # server gone: reported, not raised
    assert post_webhook("ftp://nowhere", res) is not None
