"""Drift on Spark against drift on DuckDB, each against its own bare scan, in the same run.

    python benchmarks/bench_spark.py --rows 1000000 10000000 --repeat 3 [--master local[*]]

For each row count (files made by ``gen_data.py`` when missing: 10 numeric, 5 string
columns), prints the medians of: the bare DuckDB scan (count, sums of numerics, max of
strings, over both files), ``compare`` on DuckDB, the same bare scan as Spark SQL, and
``compare(..., engine="spark")``; and the ratios spark/duckdb and compare/scan per engine.
One Spark session serves every run (its start-up is printed once, not counted); the first
Spark query of each size is a warm-up, not counted either. Results must agree: the script
checks that both engines return the same drift verdict and the same KS statistics.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def _bare_sql(cols: list[str], path_sql: str) -> str:
    aggs = ", ".join(f'sum("{c}")' if c.startswith("num") else f'max("{c}")' for c in cols)
    return f"SELECT count(*), {aggs} FROM {path_sql}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--data", default=os.path.join(os.sep, "tmp", "sentinel-bench"))
    ap.add_argument("--master", default="local[*]")
    args = ap.parse_args()

    import duckdb

    from sentinel_sql import spark as sp

    t0 = time.perf_counter()
    session = sp.session(args.master)
    print(f"spark session on {args.master}: started in {time.perf_counter() - t0:.1f} s")
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    for n in args.rows:
        if not bench_size(n, args, session, con):
            sys.exit(1)


def _ratio(med: dict[str, float], a: str, b: str) -> str:
    return f"  {a} / {b}".ljust(34) + f"{med[a] / med[b]:6.1f}x"


def bench_size(n: int, args: argparse.Namespace, session, con) -> bool:
    """Time both engines on ``n`` + ``n`` rows; False when their results differ."""
    from gen_data import generate

    import sentinel_sql
    from sentinel_sql.dialect import to_spark

    ref = os.path.join(args.data, f"reference_{n}.parquet")
    cur = os.path.join(args.data, f"current_{n}.parquet")
    if not (os.path.exists(ref) and os.path.exists(cur)):
        generate(n, args.data)
    desc = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [ref]).fetchall()
    cols = [r[0] for r in desc]
    for name, path in (("r", ref), ("c", cur)):
        session.read.parquet(path).createOrReplaceTempView(f"bench_{name}")

    def duck_bare() -> None:
        for path in (ref, cur):
            con.execute(_bare_sql(cols, "read_parquet(?)"), [path]).fetchall()

    def spark_bare() -> None:
        for view in ("bench_r", "bench_c"):
            session.sql(to_spark(_bare_sql(cols, f'"{view}"'))).collect()

    def duck_compare() -> dict:
        return sentinel_sql.compare(ref, cur).to_dict()

    def spark_compare() -> dict:
        return sentinel_sql.compare(ref, cur, engine="spark").to_dict()

    spark_bare()  # warm-up: the JVM compiles the scan
    timings: dict[str, list[float]] = {}
    results: dict[str, dict] = {}
    for _ in range(args.repeat):
        for label, fn in (
            ("duckdb scan", duck_bare),
            ("duckdb compare", duck_compare),
            ("spark scan", spark_bare),
            ("spark compare", spark_compare),
        ):
            t = time.perf_counter()
            out = fn()
            timings.setdefault(label, []).append(time.perf_counter() - t)
            if out is not None:
                results[label] = out
    a, b = results["duckdb compare"], results["spark compare"]
    same = a["drift_detected"] == b["drift_detected"] and [
        c.get("ks", {}).get("statistic") for c in a["columns"]
    ] == [c.get("ks", {}).get("statistic") for c in b["columns"]]
    med = {k: statistics.median(v) for k, v in timings.items()}
    print(f"\n{n:,} + {n:,} rows, {len(cols)} columns, median of {args.repeat}:")
    for label, v in med.items():
        print(f"  {label:<16} {v:8.2f} s")
    print(_ratio(med, "spark compare", "spark scan"))
    print(_ratio(med, "duckdb compare", "duckdb scan"))
    print(_ratio(med, "spark compare", "duckdb compare"))
    print(f"  same results on both engines: {same}", flush=True)
    return same

if __name__ == "__main__":
    main()
