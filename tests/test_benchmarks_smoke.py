"""The benchmark harness runs end to end on a tiny size, so that it does not rot.

Not a benchmark: 2,000 rows, one repeat, no plot, and the peers that live in their own
virtualenvs (Evidently, sliceline) pointed at folders that do not exist, so they are reported
as skipped instead of being installed.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys

HARNESS = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "harness.py")


def _row(out: str, label: str, section: str) -> list[str]:
    block = out.split(section, 1)[1].split("\n\n", 1)[0]
    line = next(ln for ln in block.splitlines() if ln.startswith(label))
    return re.split(r"\s{2,}", line[len(label):].strip())


def test_harness_prints_the_table(tmp_path):
    cmd = [sys.executable, HARNESS, "--rows", "2000", "--slice-rows", "2000", "--repeat", "1",
           "--budget-rows", "2000", "--budget-mb", "20", "--no-plot", "--no-install",
           "--evidently-venv", str(tmp_path / "no-evidently"),
           "--sliceline-venv", str(tmp_path / "no-sliceline"),
           "--data", str(tmp_path / "data"), "--results", str(tmp_path / "results"),
           "--tag", "smoke", "--quiet"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "median s" in out and "x floor" in out and "x Sentinel" in out

    drift = "== drift: 2,000 rows"
    for label in ("DuckDB scan, both files (floor)", "Sentinel compare(ref, cur)",
                  "Sentinel compare(profile, cur)*", "scipy on pyarrow arrays (KS + chi2)"):
        seconds, to_floor, to_sentinel = _row(out, label, drift)[:3]
        assert all(math.isfinite(float(x)) and float(x) > 0
                   for x in (seconds, to_floor, to_sentinel)), label
    assert _row(out, "Sentinel compare(ref, cur)", drift)[2] == "1.00"
    assert _row(out, "DuckDB scan, both files (floor)", drift)[1] == "1.00"
    assert "skipped: no virtualenv" in out  # Evidently and sliceline

    # 20 MB of RSS is less than any of these processes needs just to import: all are killed
    budget = "== drift under a 20 MB RSS budget"
    assert _row(out, "Sentinel compare(ref, cur)", budget)[0] == "OOM"

    seconds, to_floor = _row(out, "Sentinel find_slices", "== slices: 2,000 rows")[:2]
    assert math.isfinite(float(seconds)) and math.isfinite(float(to_floor))
    assert "top: f0 = 'v0'" in out

    saved = json.loads((tmp_path / "results" / "harness_smoke.json").read_text())
    assert saved["machine"]["nproc"] >= 1 and "duckdb" in saved["versions"]
    assert {r["kind"] for r in saved["runs"]} == {"drift", "slices"}


def test_time_limit_is_reported_not_omitted(tmp_path):
    sys.path.insert(0, os.path.dirname(HARNESS))
    try:
        import harness
    finally:
        sys.path.pop(0)
    spec = harness.Spec("duckdb", "DuckDB scan (floor)", "duckdb_scan",
                        {"files": [], "sum": [], "max": []})
    res = harness.measure(spec, limit=0.05, budget_mb=None, cwd=str(tmp_path))
    assert res["status"] == "limit"  # killed while still importing

    floor = harness.Outcome(spec, seconds=[2.0], cpu=[2.0], rss_mb=100)
    slow = harness.Outcome(harness.Spec("peer", "a slow peer", "x", {}, floor="duckdb"),
                           status="limit", seconds=[300.0], rss_mb=900)
    out = harness.table("t", {"duckdb": floor, "peer": slow}, limit=300)
    row = next(ln for ln in out.splitlines() if ln.startswith("a slow peer"))
    assert "> 300" in row and "> 150" in row and "killed at the time limit" in row
