"""Sentinel against the tools users would pick instead: same data, same run, one table.

    python benchmarks/harness.py                     # 1M rows, 3 repeats, a few minutes
    python benchmarks/harness.py --10m               # adds 10M rows (drift and slices)
    python benchmarks/harness.py --rows 2000 --repeat 1 --no-plot --no-install   # smoke

Drift (data from ``gen_data.generate``: 10 numeric + 5 string columns, Parquet): a bare DuckDB
and Polars scan of the same columns (the floor), ``sentinel_sql.compare`` (exact KS, PSI,
chi-square...), ``compare`` against a saved profile, scipy on pyarrow arrays (ks_2samp +
chi-square per column) and Evidently's ``DataDriftPreset`` (own virtualenv, pandas < 3).
Slices (data from ``bench_slices.make_data``: categorical features, 0/1 error, a planted
failing slice): the floor scans, ``sentinel_sql.slices.find_slices`` and the ``sliceline``
package (own virtualenv). A memory-budget scenario runs the drift tools on data larger than
DuckDB's ``memory_limit``: every process is killed when its RSS passes the budget (as a
container's OOM killer would), and Sentinel runs with DuckDB's limit below that budget.

Every measurement is a fresh process (``harness_tools.py``); tools run round-robin, ``--repeat``
times, and the table shows medians of the work (data read to answer, imports excluded), ratios
to the floor and to Sentinel, the CPU time and the peak RSS of the process. A tool past
``--limit`` seconds is killed and shown as "> limit", one past ``--cap-mb`` of RSS (a guard for
the shared machine) as OOM; its later repeats are skipped. Results go to
``--results`` as JSON and a PNG plot of time against rows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from harness_report import plot, table  # noqa: E402
from harness_run import VENVS, Outcome, Spec, bench, ensure_venv, measure  # noqa: E402

__all__ = ["Outcome", "Spec", "bench", "measure", "plot", "table"]


# --- scenarios ----------------------------------------------------------------------------------


def drift_specs(ref: str, cur: str, prof: str, peers: dict[str, tuple[str | None, str]],
                memory_limit: str | None = None, tmp: str | None = None) -> list[Spec]:
    import pyarrow.parquet as pq

    names = pq.read_schema(ref).names
    nums = [c for c in names if c.startswith("num_")]
    scan = {"sum": nums, "max": [c for c in names if c not in nums]}
    lim = {"memory_limit": memory_limit, "temp_directory": tmp} if memory_limit else {}
    ev_py, ev_skip = peers["evidently"]
    return [
        Spec("duckdb", "DuckDB scan, both files (floor)", "duckdb_scan",
             {"files": [ref, cur], **scan, **lim}),
        Spec("polars", "Polars scan, both files", "polars_scan", {"files": [ref, cur], **scan},
             floor="duckdb"),
        Spec("sentinel", "Sentinel compare(ref, cur)", "sentinel_compare",
             {"ref": ref, "cur": cur, **lim}, floor="duckdb"),
        Spec("duckdb_one", "DuckDB scan, one file (floor)", "duckdb_scan",
             {"files": [cur], **scan, **lim}),
        Spec("profile", "Sentinel profile(ref).save", "sentinel_profile",
             {"ref": ref, "profile": prof, **lim}, floor="duckdb_one"),
        Spec("vs_profile", "Sentinel compare(profile, cur)", "sentinel_vs_profile",
             {"profile": prof, "cur": cur, **lim}, floor="duckdb_one"),
        Spec("scipy", "scipy on pyarrow arrays (KS + chi2)", "scipy_drift",
             {"ref": ref, "cur": cur}, floor="duckdb"),
        Spec("evidently", "Evidently DataDriftPreset (pandas)", "evidently_drift",
             {"ref": ref, "cur": cur}, python=ev_py, floor="duckdb", skip=ev_skip),
    ]


def slice_specs(path: str, features: int, peers: dict[str, tuple[str | None, str]],
                max_level: int, min_support: float, top_k: int) -> list[Spec]:
    scan = {"files": [path], "sum": ["err"], "max": [f"f{j}" for j in range(features)]}
    params = {"path": path, "max_level": max_level, "min_support": min_support, "top_k": top_k}
    sl_py, sl_skip = peers["sliceline"]
    return [
        Spec("duckdb", "DuckDB scan (floor)", "duckdb_scan", scan),
        Spec("polars", "Polars scan", "polars_scan", scan, floor="duckdb"),
        Spec("sentinel", "Sentinel find_slices", "sentinel_slices", params, floor="duckdb"),
        Spec("sliceline", "sliceline Slicefinder (numba)", "sliceline", params, python=sl_py,
             floor="duckdb", skip=sl_skip),
    ]


def slice_data(rows: int, features: int, out: str, skew: bool = False) -> str:
    """``bench_slices.make_data`` written once to ``out`` (reused by later runs)."""
    path = os.path.join(out, f"slices_{rows}x{features}{'_skew' if skew else ''}.parquet")
    if not os.path.exists(path):
        from bench_slices import make_data

        frame = make_data(rows, features, skew=True) if skew else make_data(rows, features)
        frame.write_parquet(path + ".tmp")
        os.replace(path + ".tmp", path)
    return path


def arrow_gb(path: str) -> float:
    """In-memory (Arrow) size of a Parquet file, from its first row group."""
    import pyarrow.parquet as pq

    f = pq.ParquetFile(path)
    rg = f.read_row_group(0)
    return rg.nbytes / rg.num_rows * f.metadata.num_rows / 1e9


def versions(pythons: dict[str, str | None]) -> dict[str, str]:
    """Versions of the libraries each process uses, asked of its own Python."""
    probe = ("import importlib.metadata as m, sys, json; out = {}\n"
             "for p in sys.argv[1:]:\n"
             "    try: out[p] = m.version(p)\n"
             "    except m.PackageNotFoundError: pass\n"
             "print(json.dumps(out))")
    pkgs = {"main": ["sentinel-sql", "duckdb", "polars", "pyarrow", "scipy", "numpy"],
            "evidently": ["evidently", "pandas", "pyarrow", "scipy", "numpy"],
            "sliceline": ["sliceline", "numba", "scikit-learn", "pyarrow", "numpy"]}
    out = {"python": platform.python_version()}
    for name, py in pythons.items():
        if py:
            res = subprocess.run([py, "-c", probe, *pkgs[name]], capture_output=True, text=True)
            if res.returncode == 0:
                for k, v in json.loads(res.stdout).items():
                    again = name != "main" and k in ("pyarrow", "numpy", "scipy")
                    out[f"{k} ({name})" if again else k] = v
    return out


def sources_fingerprint() -> dict:
    """Which Sentinel code was measured: a hash of the package's sources (the working tree may
    be ahead of any commit) and the time of the newest file."""
    import hashlib

    import sentinel_sql

    root = os.path.dirname(os.path.dirname(os.path.abspath(sentinel_sql.__file__)))
    digest, newest = hashlib.sha256(), 0.0
    for folder in ("sentinel_sql", "sql"):
        base = os.path.join(root, folder)
        for name in sorted(os.listdir(base)) if os.path.isdir(base) else []:
            if name.endswith((".py", ".sql")):
                path = os.path.join(base, name)
                with open(path, "rb") as fh:
                    digest.update(name.encode() + fh.read())
                newest = max(newest, os.path.getmtime(path))
    return {"sha256": digest.hexdigest()[:12],
            "newest_file": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(newest))}


def machine() -> dict:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")),
                       "?")
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"nproc": os.cpu_count(), "memory_gib": round(mem, 1), "cpu": cpu,
            "platform": platform.platform()}


# --- main ---------------------------------------------------------------------------------------


def _sizes(text: str) -> list[int]:
    return [int(float(x)) for x in text.split(",") if x]


def _summary(kind: str, rows: int, outs: dict[str, Outcome], **extra) -> dict:
    return {"kind": kind, "rows": rows, **extra, "tools": [
        {"key": o.spec.key, "label": o.spec.label, "status": o.status,
         "median_s": o.median if o.status == "ok" else None, "seconds": o.seconds,
         "median_cpu_s": o.median_cpu if o.cpu else None, "cpu_seconds": o.cpu,
         "peak_rss_mb": round(o.rss_mb, 1), "import_s": o.import_seconds, "check": o.check,
         "detail": o.detail} for o in outs.values()]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=_sizes, default=[1_000_000],
                    help="drift sizes, rows per file, comma-separated (default 1000000)")
    ap.add_argument("--slice-rows", type=_sizes, default=None,
                    help="slice sizes (default: 100000 and the drift sizes)")
    ap.add_argument("--10m", dest="ten_m", action="store_true",
                    help="add 10,000,000 rows to the drift and slice sizes")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--limit", type=float, default=300.0, help="seconds per tool run")
    ap.add_argument("--budget-rows", type=int, default=None,
                    help="rows of the memory-budget scenario (default 10000000; 0: none)")
    ap.add_argument("--budget-mb", type=float, default=1024.0,
                    help="RSS budget of every process in that scenario")
    ap.add_argument("--cap-mb", type=float, default=10_000.0,
                    help="RSS cap of every process outside that scenario (protects the machine)")
    ap.add_argument("--memory-limit", default="500MB",
                    help="DuckDB memory_limit for Sentinel and the floor in that scenario")
    ap.add_argument("--features", type=int, default=8, help="features of the slice data")
    ap.add_argument("--slice-skew", action="store_true",
                    help="Zipf-like slice data (bench_slices --skew): a much larger search")
    ap.add_argument("--data", default=os.path.join(tempfile.gettempdir(), "sentinel-harness"))
    ap.add_argument("--results", default=os.path.join(HERE, "results"))
    ap.add_argument("--tag", default=None, help="name of the results files (default: sizes)")
    ap.add_argument("--evidently-venv", default=VENVS["evidently"][0])
    ap.add_argument("--sliceline-venv", default=VENVS["sliceline"][0])
    ap.add_argument("--no-install", action="store_true",
                    help="skip a peer whose virtualenv is missing instead of creating it")
    ap.add_argument("--skip", default="", help="comma-separated: evidently,sliceline,slices")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--quiet", action="store_true", help="no progress lines")
    ap.add_argument("--plot-from", nargs="+", metavar="JSON",
                    help="only draw the plot of earlier results files (e.g. a 1M and a 10M run)")
    a = ap.parse_args(argv)
    if a.plot_from:
        saved = []
        for f in a.plot_from:
            with open(f) as fh:
                saved.append(json.load(fh))
        runs = [r for d in saved for r in d["runs"]]
        limit = max(d["limit_s"] for d in saved)
        os.makedirs(a.results, exist_ok=True)
        print(plot(runs, os.path.join(a.results, f"harness_{a.tag or 'time_vs_rows'}.png"), limit))
        return 0
    say = (lambda *_: None) if a.quiet else (lambda *m: print(*m, file=sys.stderr, flush=True))
    sizes = sorted(set(a.rows + ([10_000_000] if a.ten_m else [])))
    slice_sizes = sorted(set(a.slice_rows if a.slice_rows is not None
                             else [100_000, *a.rows] + ([10_000_000] if a.ten_m else [])))
    budget_rows = 10_000_000 if a.budget_rows is None else a.budget_rows
    skip = set(filter(None, a.skip.split(",")))
    os.makedirs(a.data, exist_ok=True)
    os.makedirs(a.results, exist_ok=True)

    peers: dict[str, tuple[str | None, str]] = {}
    for name, path in (("evidently", a.evidently_venv), ("sliceline", a.sliceline_venv)):
        peers[name] = (None, "skipped (--skip)") if name in skip else ensure_venv(
            name, path, not a.no_install, say)
    vers = versions({"main": sys.executable, "evidently": peers["evidently"][0],
                     "sliceline": peers["sliceline"][0]})
    info = {"machine": machine(), "versions": vers, "sentinel_sources": sources_fingerprint(),
            "command": " ".join(
        ["python", "benchmarks/harness.py", *(sys.argv[1:] if argv is None else argv)]),
        "repeat": a.repeat, "limit_s": a.limit, "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "loadavg_start": os.getloadavg()}
    m = info["machine"]
    print(f"machine: {m['nproc']} cores, {m['memory_gib']} GiB, {m['cpu']}; "
          f"medians of {a.repeat} runs, {a.limit:.0f} s limit per run")
    src = info["sentinel_sources"]
    print("versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()))
    print(f"sentinel sources: sha256 {src['sha256']}, newest file {src['newest_file']}\n")

    from gen_data import generate

    runs: list[dict] = []
    todo = [(n, None) for n in sizes] + ([(budget_rows, a.budget_mb)] if budget_rows else [])
    for rows, budget in todo:
        cap = budget or a.cap_mb
        say(f"drift, {rows:,} rows{' under a memory budget' if budget else ''}: data ...")
        ref, cur = generate(rows, a.data)
        tag = f"_{a.memory_limit}" if budget else ""
        prof = os.path.join(a.data, f"harness_reference_{rows}{tag}.profile.json")
        gb = arrow_gb(ref) + arrow_gb(cur)
        specs = drift_specs(ref, cur, prof, peers, a.memory_limit if budget else None,
                            os.path.join(a.data, "duckdb_tmp") if budget else None)
        outs = bench(specs, a.repeat, a.limit, cap, a.data, say)
        if budget:
            title = (f"== drift under a {budget:.0f} MB RSS budget per process: {rows:,} rows per"
                     f" file, {gb:.2f} GB in memory (Arrow, both files); DuckDB memory_limit"
                     f" {a.memory_limit} for Sentinel and the DuckDB floor ==")
        else:
            title = (f"== drift: {rows:,} rows per file (10 numeric + 5 string columns, "
                     f"{gb:.2f} GB in memory as Arrow, both files) ==")
        print(table(title, outs, a.limit, cap, "budget" if budget else "cap"))
        runs.append(_summary("drift", rows, outs, arrow_gb=round(gb, 3), budget_mb=budget,
                             cap_mb=cap, memory_limit=a.memory_limit if budget else None))
    if "slices" not in skip:
        for rows in slice_sizes:
            say(f"slices, {rows:,} rows: data ...")
            path = slice_data(rows, a.features, a.data, a.slice_skew)
            specs = slice_specs(path, a.features, peers, 3, 0.01, 10)
            outs = bench(specs, a.repeat, a.limit, a.cap_mb, a.data, say)
            kind = "Zipf-like" if a.slice_skew else "uniform"
            print(table(f"== slices: {rows:,} rows x {a.features} categorical features ({kind}),"
                        f" 0/1 error; max_level 3, min_support 0.01, top 10 ==", outs, a.limit,
                        a.cap_mb, "cap"))
            runs.append(_summary("slices", rows, outs, features=a.features, cap_mb=a.cap_mb,
                                 skew=a.slice_skew))

    tag = a.tag or "_".join(f"{n // 1000}k" if n < 1_000_000 else f"{n // 1_000_000}M"
                            for n in sizes) or "budget"
    out = os.path.join(a.results, f"harness_{tag}.json")
    info["loadavg_end"] = os.getloadavg()
    with open(out, "w") as fh:
        json.dump({**info, "runs": runs}, fh, indent=1, default=str)
    print(f"load average (1, 5, 15 min) at start {info['loadavg_start']}, "
          f"at end {info['loadavg_end']}: other work shares these {m['nproc']} cores")
    print(f"results: {out}")
    if not a.no_plot:
        print(plot(runs, os.path.join(a.results, f"harness_{tag}.png"), a.limit))
    return 0


if __name__ == "__main__":
    sys.exit(main())
