"""Monitoring history in a DuckDB database file, and alert webhooks.

Table ``sentinel_history``: one row per window and column (plus one row per window with
``column_name = '*'`` holding the window verdict and performance metrics as JSON). Re-running
the same windows replaces their rows, in one transaction; a second run at the same time waits
for the writer lock (``PATH.lock``, up to ``wait`` seconds) and then fails clearly.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

from .errors import InputError

TABLE = "sentinel_history"
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    run_at TIMESTAMP, source VARCHAR, window_key VARCHAR, column_name VARCHAR, kind VARCHAR,
    rows BIGINT, drifted BOOLEAN, test VARCHAR, statistic DOUBLE, p_value DOUBLE,
    p_value_adjusted DOUBLE, psi DOUBLE, js_distance DOUBLE, hellinger DOUBLE,
    null_fraction_reference DOUBLE, null_fraction_current DOUBLE, detail JSON
)"""


@contextlib.contextmanager
def _writer_lock(path: str, wait: float) -> Iterator[None]:
    """One writer at a time, across threads and processes: an flock on ``PATH.lock``."""
    import fcntl

    deadline = time.monotonic() + wait
    with open(path + ".lock", "a") as fh:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise InputError(f"{path}: history file is locked by another run") from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _connect(path: str, wait: float) -> Any:
    import duckdb

    deadline = time.monotonic() + wait
    while True:
        try:
            return duckdb.connect(path)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                msg = str(exc).splitlines()[0]
                raise InputError(f"{path}: history file is busy or unreadable: {msg}") from None
            time.sleep(0.2)


def write_history(path: str, result: dict[str, Any], *, source: str, wait: float = 60.0) -> int:
    """Store every window of a monitor result; returns the number of rows written."""
    now = _dt.datetime.now(_dt.UTC).replace(tzinfo=None)
    rows = []
    for w in result["windows"]:
        key = str(w["window"])
        perf = w.get("performance")
        rows.append(
            (
                now,
                source,
                key,
                "*",
                None,
                w["rows"],
                w["drift_detected"],
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                json.dumps({"performance": perf, "drifted_columns": w["drifted_columns"]}),
            )
        )
        for c in w["columns"]:
            test = c.get("test")
            st = (c.get(test) or {}) if test else {}
            rows.append(
                (
                    now,
                    source,
                    key,
                    c["column"],
                    c["kind"],
                    w["rows"],
                    c["drifted"],
                    test,
                    st.get("statistic"),
                    c.get("p_value"),
                    c.get("p_value_adjusted"),
                    (c.get("psi") or {}).get("value"),
                    c.get("js_distance"),
                    c.get("hellinger"),
                    c["null_fraction"]["reference"],
                    c["null_fraction"]["current"],
                    json.dumps({"reason": c.get("reason")}),
                )
            )
    with _writer_lock(path, wait):
        _write(path, rows, source, wait)
    return len(rows)


def _write(path: str, rows: list[tuple], source: str, wait: float) -> None:
    con = _connect(path, wait)
    try:
        con.execute(_SCHEMA)
        con.execute("BEGIN TRANSACTION")
        try:
            keys = sorted({r[2] for r in rows})
            con.execute(
                f"DELETE FROM {TABLE} WHERE source = ? AND list_contains(?, window_key)",
                [source, keys],
            )
            if rows:
                con.executemany(f"INSERT INTO {TABLE} VALUES ({', '.join(['?'] * 17)})", rows)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.close()


def alert_text(result: dict[str, Any]) -> str:
    """A one-paragraph summary for chat tools (Slack-compatible ``text``)."""
    alerts = result.get("alerts") or []
    return "Sentinel alert: " + "; ".join(alerts) if alerts else "Sentinel: no alert"


def post_webhook(url: str, result: dict[str, Any], timeout: float = 10.0) -> str | None:
    """POST the alert as JSON; returns None on success or a one-line reason on failure."""
    if not url.startswith(("http://", "https://")):
        return f"webhook URL must start with http:// or https://: {url}"
    newest = result["windows"][-1] if result.get("windows") else None
    payload = {
        "text": alert_text(result),
        "alerts": result.get("alerts", []),
        "window": newest and newest["window"],
        "drifted_columns": newest and newest["drifted_columns"],
        "performance": newest and newest.get("performance"),
    }
    req = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            if resp.status >= 300:
                return f"webhook answered HTTP {resp.status}"
    except urllib.error.HTTPError as exc:
        return f"webhook answered HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"webhook failed: {getattr(exc, 'reason', exc)}"
    return None
