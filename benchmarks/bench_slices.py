"""Benchmark of find_slices (not a test).

    python benchmarks/bench_slices.py                # 1,000,000 rows x 8 features (target < 5 s)
    python benchmarks/bench_slices.py --big          # 2,500,000 rows x 60 features (< 120 s)
    python benchmarks/bench_slices.py --rows 200000 --features 8 --sliceline /work/venv-sliceline

Data: categorical string features of 5-20 values each (f0, f1, f2: 5 values), uniformly
drawn, a 0/1 error with base rate 10%, and a planted failing segment
``f0 = 'v0' AND f1 = 'v1'`` (4% of rows) with error rate 60%. ``--skew`` draws the values
with Zipf-like frequencies instead (value i has weight 1/(i+1): the top value of every
feature covers 20-44% of rows, so every triple of top values passes min_support and the
search must evaluate tens of thousands of level-3 slices) and plants
``f0 = 'v0' AND f1 = 'v0' AND f2 = 'v1'``. Written once to a Parquet
file; every timing reads that file. Prints the median of ``--repeat`` runs of find_slices
(max_level 3, min_support 0.01), of a bare DuckDB scan ``SELECT count(*), sum(err)`` of the
same file, and their ratio. ``--sliceline VENV`` also times the ``sliceline`` package
(a separate virtualenv, run in a subprocess, same data, same parameters) and reports
"> limit" past ``--limit`` seconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np
import polars as pl

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from sentinel_sql.slices import find_slices  # noqa: E402


def make_data(rows: int, features: int, skew: bool = False, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    cols = {}
    for j in range(features):
        k = int(rng.integers(5, 21)) if skew or j > 2 else 5
        p = 1.0 / np.arange(1, k + 1) if skew else np.ones(k)
        codes = rng.choice(k, size=rows, p=p / p.sum())
        names = pl.Series([f"v{i}" for i in range(k)])
        cols[f"f{j}"] = names.gather(codes)
    frame = pl.DataFrame(cols)
    if skew:
        bad = (frame["f0"] == "v0") & (frame["f1"] == "v0") & (frame["f2"] == "v1")
    else:
        bad = (frame["f0"] == "v0") & (frame["f1"] == "v1")
    bad = bad.to_numpy()
    rate = np.where(bad, 0.6, 0.1)
    return frame.with_columns(err=pl.Series((rng.random(rows) < rate).astype(np.float64)))


def timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def bare_scan(path: str) -> float:
    import duckdb

    con = duckdb.connect()
    con.execute(f"SELECT count(*), sum(err) FROM read_parquet('{path}')").fetchall()
    con.close()
    return 0.0


SLICELINE = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from sliceline.slicefinder import Slicefinder
    data = np.load(sys.argv[1])
    X, err = data["X"], data["err"]
    t0 = time.perf_counter()
    sf = Slicefinder(alpha=0.95, k=10, max_l=3, min_sup=float(sys.argv[2]), verbose=False)
    sf.fit(X, err)
    print(time.perf_counter() - t0)
    print(sf.top_slices_[:3].tolist())
    """
)


def run_sliceline(venv: str, path: str, limit: float) -> str:
    py = os.path.join(venv, "bin", "python")
    try:
        out = subprocess.run([py, "-c", SLICELINE, path, "0.01"], capture_output=True,
                             text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return f"> {limit:.0f} s (limit)"
    if out.returncode != 0:
        return "failed: " + (out.stderr.strip().splitlines() or ["?"])[-1]
    lines = out.stdout.strip().splitlines()
    return f"{float(lines[0]):.2f} s  top: {lines[1][:120]}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=8)
    ap.add_argument("--big", action="store_true", help="2,500,000 rows x 60 features")
    ap.add_argument("--skew", action="store_true", help="Zipf-like value frequencies")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--max-level", type=int, default=3)
    ap.add_argument("--sliceline", metavar="VENV", help="virtualenv with the sliceline package")
    ap.add_argument("--sliceline-rows", type=int, default=100_000)
    ap.add_argument("--limit", type=float, default=60.0)
    args = ap.parse_args()
    if args.big:
        args.rows, args.features = 2_500_000, 60
        args.repeat = min(args.repeat, 1) if args.repeat == 3 else args.repeat
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "data.parquet")
        t0 = time.perf_counter()
        make_data(args.rows, args.features, args.skew).write_parquet(path)
        print(f"data: {args.rows:,} rows x {args.features} features, "
              f"{'skewed' if args.skew else 'uniform'} "
              f"({time.perf_counter() - t0:.1f} s to generate)")

        def run():
            return find_slices(path, error="err", max_level=args.max_level, min_support=0.01)

        t_find, res = timed(run, args.repeat)
        t_scan, _ = timed(lambda: bare_scan(path), max(args.repeat, 3))
        print(f"find_slices (max_level {args.max_level}, median of {args.repeat}): {t_find:.2f} s")
        print(f"bare scan SELECT count(*), sum(err): {t_scan:.3f} s; "
              f"ratio {t_find / t_scan:.0f}x")
        print(f"candidates per level: {list(res.candidates)}")
        for s in res.slices[:3]:
            print(f"  {s.score:7.3f}  {s.size:8d}  {s.text}")
        if args.sliceline:
            small = os.path.join(tmp, "small.parquet")
            frame = make_data(args.sliceline_rows, args.features, args.skew)
            frame.write_parquet(small)
            arrays = os.path.join(tmp, "small.npz")
            codes = frame.drop("err").select(pl.all().str.slice(1).cast(pl.Int32))
            np.savez(arrays, X=codes.to_numpy(),  # sliceline wants numbers: v7 -> 7
                     err=frame["err"].to_numpy())
            t_small, _ = timed(lambda: find_slices(small, error="err", max_level=3,
                                                   min_support=0.01), args.repeat)
            print(f"sliceline comparison on {args.sliceline_rows:,} rows: "
                  f"find_slices {t_small:.2f} s; sliceline "
                  f"{run_sliceline(args.sliceline, arrays, args.limit)}")


if __name__ == "__main__":
    main()
