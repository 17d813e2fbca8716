"""The tools timed by ``harness.py``, one per fresh process (not a benchmark by itself).

    python benchmarks/harness_tools.py TOOL '{"ref": ..., "cur": ...}'

Only the standard library is imported at the top: this file also runs under the Evidently and
sliceline virtualenvs, which have neither DuckDB nor Sentinel. Each tool imports what it needs
(``setup``), then the clock runs from reading the data to the answer (``run``). The last line
printed is JSON: ``seconds`` (work, wall clock), ``cpu_seconds`` (work, all threads),
``import_seconds``, ``import_rss_mb`` (peak RSS after the imports, before any data),
``peak_rss_mb`` and ``check`` (a short proof that the tool did the work, e.g. the drifted
columns it found). The parent also polls the peak RSS while it runs.
"""

from __future__ import annotations

import json
import resource
import sys
import time

NUMERIC_PREFIX = "num_"


def peak_rss_mb() -> float:
    """VmHWM of this process. Not ``ru_maxrss``: on Linux that keeps the parent's RSS at fork
    time across exec, so a child of a large parent would report the parent's size."""
    with open("/proc/self/status") as fh:
        return next(int(ln.split()[1]) / 1024 for ln in fh if ln.startswith("VmHWM:"))


def _columns(path: str) -> tuple[list[str], list[str]]:
    import pyarrow.parquet as pq

    names = pq.read_schema(path).names
    nums = [c for c in names if c.startswith(NUMERIC_PREFIX)]
    return nums, [c for c in names if c not in nums]


def cpu_seconds() -> float:
    """User + system CPU time of this process, all threads."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# --- floors: read every column once, the least work any tool must do -------------------------


def duckdb_scan(a: dict):
    import duckdb

    limit_duckdb(a)

    def run():
        con = duckdb.connect()
        out = []
        for f in a["files"]:
            aggs = [f'sum("{c}")' for c in a["sum"]] + [f'max("{c}")' for c in a["max"]]
            out.append(
                con.execute(f"SELECT count(*), {', '.join(aggs)} FROM read_parquet(?)", [f])
                .fetchall()[0][0]
            )
        return {"rows": out}

    return run


def polars_scan(a: dict):
    import polars as pl

    def run():
        out = []
        for f in a["files"]:
            exprs = [pl.len()] + [pl.col(c).sum() for c in a["sum"]]
            exprs += [pl.col(c).max() for c in a["max"]]
            out.append(pl.scan_parquet(f).select(exprs).collect().item(0, 0))
        return {"rows": out}

    return run


# --- drift --------------------------------------------------------------------------------------


LIMITED: list[int] = []  # connections that got the lowered memory_limit


def limit_duckdb(a: dict) -> None:
    """Give every DuckDB connection opened from here on ``a["memory_limit"]`` (and a spill
    folder). Patched on ``duckdb.connect`` itself, so it holds whichever Sentinel module opens
    the connection (``compare`` opens its own through ``sentinel_sql.drift.connect``)."""
    if not a.get("memory_limit"):
        return
    import duckdb

    connect = duckdb.connect

    def limited(*args, **kwargs):
        con = connect(*args, **kwargs)
        con.execute(f"SET memory_limit = '{a['memory_limit']}'")
        if a.get("temp_directory"):
            con.execute(f"SET temp_directory = '{a['temp_directory']}'")
        LIMITED.append(1)
        return con

    duckdb.connect = limited


def _sentinel_setup(a: dict) -> None:
    """Import what compare() loads on first use; lower DuckDB's memory_limit if asked."""
    import scipy.stats  # noqa: F401

    import sentinel_sql.drift  # noqa: F401
    import sentinel_sql.exact  # noqa: F401
    import sentinel_sql.stats  # noqa: F401

    limit_duckdb(a)


def _drifted(result) -> dict:
    out = {"drifted": sorted(result.drifted_columns)}
    return {**out, "limited_connections": len(LIMITED)} if LIMITED else out


def sentinel_compare(a: dict):
    _sentinel_setup(a)
    import sentinel_sql

    return lambda: _drifted(sentinel_sql.compare(a["ref"], a["cur"]))


def sentinel_profile(a: dict):
    _sentinel_setup(a)
    import sentinel_sql

    def run():
        sentinel_sql.profile(a["ref"]).save(a["profile"])
        return {"profile": a["profile"]}

    return run


def sentinel_vs_profile(a: dict):
    _sentinel_setup(a)
    import sentinel_sql

    return lambda: _drifted(sentinel_sql.compare(a["profile"], a["cur"]))


def scipy_drift(a: dict):
    """The do-it-yourself baseline: pyarrow arrays, ks_2samp per numeric column, chi-square
    (chi2_contingency, no correction) per string column, p < 0.05 means drift."""
    import numpy as np
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    from scipy.stats import chi2_contingency, ks_2samp

    def counts(col) -> dict:
        vc = pc.value_counts(col.drop_null())
        return dict(zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist(),
                        strict=True))

    def run():
        nums, strs = _columns(a["ref"])
        ref, cur = pq.read_table(a["ref"]), pq.read_table(a["cur"])
        drifted = []
        for c in nums:
            x = ref[c].to_numpy().astype(np.float64)
            y = cur[c].to_numpy().astype(np.float64)
            x, y = x[np.isfinite(x)], y[np.isfinite(y)]
            if ks_2samp(x, y).pvalue < 0.05:
                drifted.append(c)
        for c in strs:
            p, q = counts(ref[c]), counts(cur[c])
            cats = sorted(set(p) | set(q))
            if len(cats) < 2:
                continue
            table = np.array([[p.get(k, 0) for k in cats], [q.get(k, 0) for k in cats]])
            if chi2_contingency(table, correction=False).pvalue < 0.05:
                drifted.append(c)
        return {"drifted": sorted(drifted)}

    return run


def evidently_drift(a: dict):
    """Evidently's DataDriftPreset with its defaults, on pandas frames read from the Parquet
    files (Evidently takes pandas)."""
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    def run():
        ref, cur = pd.read_parquet(a["ref"]), pd.read_parquet(a["cur"])
        snap = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
        drifted, methods, count = [], set(), None
        for m in snap.dict()["metrics"]:
            cfg = m.get("config", {})
            if cfg.get("type", "").endswith("DriftedColumnsCount"):
                count = m["value"]["count"]  # Evidently's own count, to check the list below
            if cfg.get("type", "").endswith("ValueDrift"):
                methods.add(str(cfg.get("method")))
                thr, val = cfg.get("threshold"), m.get("value")
                if isinstance(val, (int, float)) and thr is not None:
                    # p-value methods drift below the threshold, distances above it
                    is_p = "p_value" in str(cfg.get("method", "")).lower() or "test" in str(
                        cfg.get("method", "")
                    ).lower()
                    if (val < thr) if is_p else (val >= thr):
                        drifted.append(cfg.get("column"))
        return {"drifted": sorted(d for d in drifted if d), "methods": sorted(methods),
                "evidently_count": count}

    return run


# --- slices -------------------------------------------------------------------------------------


def sentinel_slices(a: dict):
    import duckdb

    import sentinel_sql.slices as slices

    limit_duckdb(a)

    def run():
        con = duckdb.connect()
        res = slices.find_slices(a["path"], error="err", max_level=a["max_level"],
                                 min_support=a["min_support"], top_k=a["top_k"], con=con)
        return {"top": [s.text for s in res.slices[:1]], "found": len(res.slices)}

    return run


def sliceline(a: dict):
    """The ``sliceline`` package (Slicefinder) on the same file, loaded with pyarrow."""
    import warnings

    import numpy as np
    import pyarrow.parquet as pq
    from sliceline.slicefinder import Slicefinder

    warnings.filterwarnings("ignore", message="Numba not available")

    def run():
        table = pq.read_table(a["path"])
        feats = [c for c in table.column_names if c != "err"]
        X = np.column_stack([table[c].to_numpy(zero_copy_only=False) for c in feats])
        err = table["err"].to_numpy()
        sf = Slicefinder(alpha=0.95, k=a["top_k"], max_l=a["max_level"],
                         min_sup=a["min_support"], verbose=False)
        sf.fit(X, err)
        top = sf.top_slices_[:1].tolist()
        text = [" AND ".join(f"{f} = '{v}'" for f, v in zip(feats, row, strict=True)
                             if v is not None) for row in top]
        return {"top": text, "found": len(sf.top_slices_)}

    return run


TOOLS = {f.__name__: f for f in (duckdb_scan, polars_scan, sentinel_compare, sentinel_profile,
                                 sentinel_vs_profile, scipy_drift, evidently_drift,
                                 sentinel_slices, sliceline)}


def main() -> None:
    tool, args = sys.argv[1], json.loads(sys.argv[2])
    t0 = time.perf_counter()
    run = TOOLS[tool](args)
    t1 = time.perf_counter()
    import_rss, cpu0 = peak_rss_mb(), cpu_seconds()
    check = run()
    t2 = time.perf_counter()
    print(json.dumps({"seconds": t2 - t1, "cpu_seconds": cpu_seconds() - cpu0,
                      "import_seconds": t1 - t0, "import_rss_mb": import_rss,
                      "peak_rss_mb": peak_rss_mb(), "check": check}, default=str))


if __name__ == "__main__":
    main()
