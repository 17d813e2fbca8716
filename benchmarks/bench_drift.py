"""Drift benchmark: ``compare`` against a bare DuckDB scan of the same data, in the same run.

    python benchmarks/bench_drift.py --rows 10000000 --repeat 3

Prints medians of the bare scan (count, sums of numerics, max of strings, over both files),
of ``compare`` (exact KS), and of ``compare`` against a saved profile (scans only the batch),
their ratios, and the peak RSS of each ``compare`` process. Each measurement runs in a fresh
subprocess so that peak memory is per run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

CHILD = r"""
import json, resource, sys, time
mode, ref, cur, prof = sys.argv[1:5]
t0 = time.perf_counter()
if mode == "bare":
    import duckdb
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    for f in (ref, cur) if prof == "-" else (cur,):
        cols = [r[0] for r in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [f]).fetchall()]
        aggs = ", ".join(f'sum("{c}")' if c.startswith("num") else f'max("{c}")' for c in cols)
        con.execute(f"SELECT count(*), {aggs} FROM read_parquet(?)", [f]).fetchall()
elif mode == "compare":
    import sentinel_sql
    r = sentinel_sql.compare(ref, cur)
elif mode == "profile":
    import sentinel_sql
    sentinel_sql.profile(ref).save(prof)
elif mode == "vs_profile":
    import sentinel_sql
    r = sentinel_sql.compare(prof, cur)
dt = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
print(json.dumps({"seconds": dt, "rss_gb": rss}))
"""


def run(mode: str, ref: str, cur: str, prof: str = "-") -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode, ref, cur, prof],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    return json.loads(lines[-1])


def main() -> None:
    from gen_data import generate

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--data", default=os.path.join(tempfile.gettempdir(), "sentinel-bench"))
    a = ap.parse_args()
    ref, cur = generate(a.rows, a.data)
    prof = os.path.join(a.data, f"reference_{a.rows}.profile.json")
    run("profile", ref, cur, prof)
    res: dict[str, list[dict]] = {"bare": [], "compare": [], "bare_batch": [], "vs_profile": []}
    for _ in range(a.repeat):  # interleaved, so that noise hits every tool alike
        res["bare"].append(run("bare", ref, cur))
        res["compare"].append(run("compare", ref, cur))
        res["bare_batch"].append(run("bare", ref, cur, prof))
        res["vs_profile"].append(run("vs_profile", ref, cur, prof))
    med = {k: statistics.median(x["seconds"] for x in v) for k, v in res.items()}
    rss = {k: max(x["rss_gb"] for x in v) for k, v in res.items()}
    print(f"rows per file: {a.rows:,} (10 numeric + 5 string columns); medians of {a.repeat} runs")
    print(f"{'what':<34}{'median s':>10}{'ratio':>8}{'peak RSS GB':>13}")
    print(f"{'bare DuckDB scan, both files':<34}{med['bare']:>10.2f}{1:>8.2f}{rss['bare']:>13.2f}")
    print(
        f"{'compare (exact KS), both files':<34}{med['compare']:>10.2f}"
        f"{med['compare'] / med['bare']:>8.2f}{rss['compare']:>13.2f}"
    )
    print(
        f"{'bare DuckDB scan, current only':<34}{med['bare_batch']:>10.2f}{1:>8.2f}"
        f"{rss['bare_batch']:>13.2f}"
    )
    print(
        f"{'compare vs saved profile':<34}{med['vs_profile']:>10.2f}"
        f"{med['vs_profile'] / med['bare_batch']:>8.2f}{rss['vs_profile']:>13.2f}"
    )


if __name__ == "__main__":
    main()
