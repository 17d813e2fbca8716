"""``compare``: per-column drift between a reference and a current dataset, and the verdict.

Decision rule (all configurable):

- each column gets a test: KS for numeric, chi-square for categorical; the p-values of all
  compared columns are adjusted together by Benjamini–Hochberg;
- ``decision="both"`` (default): a column drifts when its adjusted p-value < ``alpha`` AND its
  PSI >= ``psi_threshold`` — large data cannot flag a negligible shift, small data cannot
  flag noise; ``"test"`` uses the test alone, ``"effect"`` the PSI alone;
- a column with values on one side and none on the other drifts;
- missingness: a column also drifts when its share of missing values moved by at least
  ``null_threshold`` (0.05) and a chi-square test of missing vs present counts (BH-adjusted
  across columns) is below ``alpha``;
- the dataset drifts when at least ``max(1, ceil(drift_share * compared))`` columns drift,
  or (``schema_drift=True``, default) a column was added, removed or changed kind.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import exact, ks, scan, stats
from .errors import InputError
from .kinds import CATEGORICAL, NUMERIC, check_kind, infer_kind, value_sql
from .profiles import ColumnProfile, Profile, bin_counts, scan_grid, scan_grids, scan_profile
from .result import DriftResult
from .sources import Source, is_profile_path, open_source
from .spark import pick_engine

DECISIONS = ("both", "test", "effect")
NULL_THRESHOLD = 0.05
# Against a saved profile the current side is binned coarser than for a raw comparison (the
# KS and Wasserstein bounds are dominated by the profile's own bins; fewer groups, a faster
# pass).
PROFILE_GRID = 12


def connect(engine: str | None = None, spark_master: str | None = None) -> Any:
    """A fresh DuckDB connection, or (``engine="spark"``, see ``spark.pick_engine``) a
    connection to a Spark session on ``spark_master`` (default: the active one, else
    ``local[*]``)."""
    if engine == "spark":
        from . import spark

        return spark.connect(spark_master)
    import duckdb

    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")  # stdout carries only results
    return con


def _plans(
    columns: Mapping[str, str],
    selected: list[str],
    kinds: Mapping[str, str],
    forced: Mapping[str, str],
) -> tuple[list[scan.ColumnPlan], list[dict]]:
    plans, unsupported = [], []
    for name in selected:
        dtype = columns[name]
        kind = forced.get(name) or kinds.get(name) or infer_kind(dtype)
        if kind is None:
            unsupported.append({"column": name, "change": "unsupported_type", "type": dtype})
            continue
        plans.append(scan.ColumnPlan(name, dtype, kind, value_sql(name, dtype, kind)))
    return plans, unsupported


def compare(
    reference: Any,
    current: Any,
    *,
    columns: Iterable[str] | None = None,
    exclude: Iterable[str] | None = None,
    kinds: Mapping[str, str] | None = None,
    alpha: float = 0.05,
    psi_threshold: float = 0.1,
    decision: str = "both",
    drift_share: float = 0.0,
    schema_drift: bool = True,
    null_threshold: float = NULL_THRESHOLD,
    progress: Callable[[str], None] | None = None,
    engine: str | None = None,
    spark_master: str | None = None,
) -> DriftResult:
    """Compare ``current`` with ``reference`` column by column.

    ``reference`` and ``current`` are paths (Parquet file, glob or hive folder, CSV,
    ``file.duckdb::table``), Polars/pandas frames, Arrow tables or DuckDB relations;
    ``reference`` may also be a saved profile (``*.profile.json`` or a ``Profile``).
    ``engine="spark"`` (chosen by itself for Spark DataFrames) runs the scans on Spark
    (``spark_master``, default the active session or ``local[*]``); the results are the same.

    >>> import polars as pl
    >>> ref = pl.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]})
    >>> compare(ref, ref).drift_detected
    False
    """
    _check_options(alpha, psi_threshold, decision, drift_share, null_threshold)
    say = progress or (lambda _msg: None)
    pair = prepare_pair(
        reference,
        current,
        columns=columns,
        exclude=exclude,
        kinds=kinds,
        engine=engine,
        spark_master=spark_master,
    )
    con, ref_src, cur_src = pair.con, pair.ref_src, pair.cur_src
    stats.warm_scipy()  # the p-values need it once the scans are done
    if getattr(con, "engine", "") == "spark":
        ref_profile, cur_profile, results = _via_profiles(pair, say)
    else:
        if pair.ref_profile is None:
            say("scanning reference and current")
            ref_profile, cur_profile, solved = _raw_pair(pair)
        else:
            say("scanning current")
            ref_profile = pair.ref_profile
            cur_profile, solved = _vs_profile(pair, ref_profile)
        say("comparing")
        results = column_results(ref_profile, cur_profile, pair.plans_cur, None, solved=solved)
    decide(results, alpha, psi_threshold, decision, null_threshold)
    schema_changes = pair.schema_changes
    drifted, detected = verdict(results, schema_changes, drift_share, schema_drift)
    settings = {
        "alpha": alpha,
        "psi_threshold": psi_threshold,
        "decision": decision,
        "drift_share": drift_share,
        "schema_drift": schema_drift,
        "null_threshold": null_threshold,
    }
    return DriftResult(
        drift_detected=detected,
        drifted_columns=drifted,
        reference={
            "source": ref_profile.source,
            "rows": ref_profile.rows,
            "profile": ref_src is None,
        },
        current={"source": cur_src.label, "rows": cur_profile.rows},
        columns=results,
        schema_changes=schema_changes,
        settings=settings,
    )


def _raw_pair(pair: Pair) -> tuple[Profile, Profile, dict[str, tuple]]:
    """Raw reference, DuckDB: one grouped pass per side on grids chosen from a sample of the
    reference (``scan.grid_key``), then joint narrow rounds over both sides for the exact KS
    statistic, the reference deciles and the counts of both sides at them."""
    con, ref_src, cur_src = pair.con, pair.ref_src, pair.cur_src
    numeric = [p for p in pair.plans_ref if p.kind == NUMERIC]
    grid = scan.grids(con, ref_src, numeric)
    q = scan.FIRST_GRID
    sides = [(ref_src, pair.plans_ref), (cur_src, pair.plans_cur)]
    (ref_profile, ref_groups), (cur_profile, cur_groups) = scan_grids(con, sides, grid, q)
    work = {}
    for p in pair.plans_cur:
        rc, cc = ref_profile.columns[p.name], cur_profile.columns[p.name]
        if p.kind == NUMERIC and rc.finite and cc.finite:
            groups = [ref_groups[p.name], cur_groups[p.name]]
            work[p] = (exact.Bins.from_grid(q, grid[p.name], groups), rc.finite, cc.finite)
    found: dict[str, tuple] = {}
    ks_d, _ = ks.ks_exact(exact.Resolver(con, [ref_src, cur_src]), work, found=found)
    for name, (edges, ref_le, cur_le) in found.items():
        for prof, le in ((ref_profile, ref_le), (cur_profile, cur_le)):
            c = prof.columns[name]
            c.edges, c.edge_counts = list(edges), bin_counts(le, c.finite)
    return ref_profile, cur_profile, _with_wasserstein(ks_d, work, ref_profile, cur_profile)


def _vs_profile(pair: Pair, ref_profile: Profile) -> tuple[Profile, dict[str, tuple]]:
    """A saved profile as the reference, DuckDB: one query over the current, grouped on grids
    centred by the profile's deciles and counting the rows at or below its PSI edges, then
    KS and Wasserstein bounded from the two kinds of bins."""
    con, cur_src = pair.con, pair.cur_src
    grid = {p.name: _profile_grid(ref_profile.columns[p.name]) for p in pair.plans_cur}
    edges = psi_edges(ref_profile, pair.plans_cur)
    cur_profile, groups = scan_grid(con, cur_src, pair.plans_cur, grid, PROFILE_GRID, edges)
    solved = {}
    for p in pair.plans_cur:
        rc, cc = ref_profile.columns[p.name], cur_profile.columns[p.name]
        if p.kind == NUMERIC and cc.finite and rc.finite:
            b = exact.Bins.from_grid(PROFILE_GRID, grid[p.name], [groups[p.name]])
            vmin, vmax = min(rc.min, cc.min), max(rc.max, cc.max)
            solved[p.name] = ks.mixed_bounds(rc.bins(), b, rc.finite, cc.finite, vmin, vmax)
    return cur_profile, solved


def _profile_grid(c: ColumnProfile) -> tuple[float, float]:
    """A grid for data compared with a saved column: centred on its median, scaled by the
    spread of its deciles (any grid is exact; this one puts the bins where the data are)."""
    if c.kind != NUMERIC or c.min is None or c.max is None:
        return 0.0, 1.0
    e = c.edges or [c.min, c.max]
    return scan.grid_from(e[len(e) // 2], e[0], e[-1], c.min, c.max)


def _via_profiles(pair: Pair, say: Callable[[str], None]) -> tuple[Profile, Profile, list]:
    """The Spark engine: profiles of both sides on order-code bins (a saved profile as the
    reference, or one made from it), then the statistics from them."""
    con, ref_src, cur_src = pair.con, pair.ref_src, pair.cur_src
    say("scanning reference")
    ref_profile = pair.ref_profile
    if ref_profile is None:
        ref_profile, _ref_bins = scan_profile(con, ref_src, pair.plans_ref)
    say("scanning current")
    # Against a profile no KS rounds run, so the counts between its PSI edges come from the
    # wide pass (one sum per edge) instead of narrow passes (against raw data the joint KS
    # rounds resolve them on the way), and the current histogram is made directly on the
    # profile's coarser bins (SAVED_SHIFT: 16x fewer groups than the base bins).
    edges = psi_edges(ref_profile, pair.plans_cur) if ref_src is None else None
    cur_profile, cur_bins = scan_profile(
        con, cur_src, pair.plans_cur, with_edges=False, edges=edges, shift=ref_profile.bin_shift
    )
    say("comparing")
    resolver = exact.Resolver(con, [ref_src, cur_src]) if ref_src is not None else None
    cur_resolver = exact.Resolver(con, [cur_src])
    results = column_results(
        ref_profile, cur_profile, pair.plans_cur, resolver, (cur_resolver, cur_bins)
    )
    return ref_profile, cur_profile, results


@dataclass
class Pair:
    """A reference (raw or profile) and a current source bound to one connection, with the
    columns to compare and the schema changes found."""

    con: Any
    ref_profile: Profile | None
    ref_src: Source | None
    cur_src: Source
    plans_ref: list[scan.ColumnPlan]
    plans_cur: list[scan.ColumnPlan]
    schema_changes: list[dict]


def prepare_pair(
    reference: Any,
    current: Any,
    *,
    columns: Iterable[str] | None = None,
    exclude: Iterable[str] | None = None,
    kinds: Mapping[str, str] | None = None,
    reserved: Iterable[str] = (),
    engine: str | None = None,
    spark_master: str | None = None,
) -> Pair:
    """Open both sides and decide which columns to compare, and as what kind.

    ``reserved`` columns (timestamps, labels, predictions) are never compared.
    """
    kinds = {k: check_kind(k, v) for k, v in (kinds or {}).items()}
    con = connect(pick_engine(engine, spark_master, reference, current), spark_master)
    ref_profile: Profile | None = None
    if isinstance(reference, Profile):
        ref_profile = reference
    elif is_profile_path(reference):
        ref_profile = Profile.load(reference)
    ref_src = None if ref_profile else open_source(con, reference, _label(reference))
    cur_src = open_source(con, current, _label(current))
    if ref_profile:
        ref_cols = {c.name: c.dtype for c in ref_profile.columns.values()}
        ref_kinds = {c.name: c.kind for c in ref_profile.columns.values()}
    else:
        ref_cols, ref_kinds = ref_src.columns, {}
    excl = list(exclude or ()) + [
        c for c in reserved if c and (columns is None or c not in columns)
    ]
    for c in reserved:
        if c and c not in cur_src.columns:
            raise InputError(f"column {c!r} not found in {cur_src.label}")
    selected, schema_changes = _select(ref_cols, cur_src.columns, columns, excl, kinds)
    # kind of each column: override > the reference's (profile) > inferred from the reference type
    plans_ref, unsupported = _plans(ref_cols, selected, kinds, ref_kinds)
    schema_changes += unsupported
    plans_cur, keep = [], []
    for p in plans_ref:
        cur_dtype = cur_src.columns[p.name]
        cur_kind = kinds.get(p.name) or infer_kind(cur_dtype)
        change = {"column": p.name, "reference_type": p.dtype, "current_type": cur_dtype}
        if cur_kind != p.kind and p.name not in kinds:
            schema_changes.append({**change, "change": "kind_changed"})
            continue
        if cur_dtype != p.dtype:
            schema_changes.append({**change, "change": "type_changed"})
        keep.append(p)
        plans_cur.append(
            scan.ColumnPlan(p.name, cur_dtype, p.kind, value_sql(p.name, cur_dtype, p.kind))
        )
    return Pair(con, ref_profile, ref_src, cur_src, keep, plans_cur, schema_changes)


def psi_edges(ref_profile: Profile, plans: list[scan.ColumnPlan]) -> dict[str, list[float]]:
    return {p.name: ref_profile.columns[p.name].edges or [] for p in plans if p.kind == NUMERIC}


def column_results(
    ref_profile: Profile,
    cur_profile: Profile,
    plans: list[scan.ColumnPlan],
    resolver: exact.Resolver | None,
    current: tuple[exact.Resolver, dict[str, exact.Bins]] | None = None,
    solved: dict[str, tuple] | None = None,
) -> list[dict]:
    """Statistics per column from two profiles (exact KS when ``resolver`` reads raw data).

    Current-side counts between the reference's PSI edges are taken from ``cur_profile``
    when it has them (monitoring computes them in its grouped scan); otherwise they are
    resolved exactly by narrow passes: on the two-sided bins of the KS search when both
    sides are raw, or on ``current``'s bins. ``solved`` (``{column: ((D, bound), (W,
    bound))}``): KS and Wasserstein found by the caller, whose profiles carry the edges.
    """
    if solved is None:
        solved = _solve(ref_profile, cur_profile, plans, resolver, current)
    results = []
    for p in plans:
        rc, cc = ref_profile.columns[p.name], cur_profile.columns[p.name]
        if p.kind == NUMERIC:
            results.append(_numeric(p, rc, cc, cc.edge_counts, solved.get(p.name)))
        else:
            results.append(_categorical(rc, cc))
        results[-1]["null_fraction"] = {
            "reference": _null_fraction(rc, ref_profile.rows),
            "current": _null_fraction(cc, cur_profile.rows),
        }
        rp = rc.finite if p.kind == NUMERIC else rc.non_null
        cp = cc.finite if p.kind == NUMERIC else cc.non_null
        chi, pv, _dof = stats.chi2_homogeneity(
            [ref_profile.rows - rp, rp], [cur_profile.rows - cp, cp]
        )
        results[-1]["missing_test"] = {"statistic": chi, "p_value": pv}
    return results


def _solve(
    ref_profile: Profile,
    cur_profile: Profile,
    plans: list[scan.ColumnPlan],
    resolver: exact.Resolver | None,
    current: tuple[exact.Resolver, dict[str, exact.Bins]] | None,
) -> dict[str, tuple]:
    """KS and Wasserstein on the two profiles' order-code bins (and the current's PSI edge
    counts where its profile lacks them)."""
    pair_bins = {}
    for p in plans:
        rc, cc = ref_profile.columns[p.name], cur_profile.columns[p.name]
        if p.kind == NUMERIC and rc.finite and cc.finite:
            pair_bins[p] = (_pair_bins(rc, cc), rc.finite, cc.finite)
    need = [
        p for p in plans if p.kind == NUMERIC and cur_profile.columns[p.name].edge_counts is None
    ]
    via_pair = {p: ref_profile.columns[p.name].edges or [] for p in need if p in pair_bins}
    ks_d, le = ks.ks_exact(resolver, pair_bins, via_pair if current is not None else None)
    if current is not None:
        cur_resolver, cur_bins = current
        alone = {
            p: (cur_bins[p.name], ref_profile.columns[p.name].edges or [])
            for p in need
            if p.name not in le
        }
        le.update(exact.counts_le(cur_resolver, alone) if alone else {})
        for p in need:
            cc = cur_profile.columns[p.name]
            cc.edges = list(ref_profile.columns[p.name].edges or [])
            cc.edge_counts = bin_counts(le[p.name], cc.finite)
    return _with_wasserstein(ks_d, pair_bins, ref_profile, cur_profile)


def _with_wasserstein(ks_d: dict, work: dict, ref: Profile, cur: Profile) -> dict[str, tuple]:
    """``{column: (KS, Wasserstein)}``, Wasserstein on the two-sided bins of the KS search."""
    out = {}
    for p, (bins, n, m) in work.items():
        rc, cc = ref.columns[p.name], cur.columns[p.name]
        w = ks.wasserstein(bins, n, m, min(rc.min, cc.min), max(rc.max, cc.max))
        out[p.name] = (ks_d[p.name], w)
    return out


def verdict(
    results: list[dict], schema_changes: list[dict], drift_share: float, schema_drift: bool
) -> tuple[list[str], bool]:
    drifted = [r["column"] for r in results if r["drifted"]]
    need = max(1, math.ceil(drift_share * len(results))) if results else 1
    return drifted, len(drifted) >= need or (schema_drift and bool(schema_changes))


def _label(data: Any) -> str | None:
    return str(data) if isinstance(data, (str,)) or hasattr(data, "__fspath__") else None


def _check_options(
    alpha: float,
    psi_threshold: float,
    decision: str,
    drift_share: float,
    null_threshold: float = NULL_THRESHOLD,
) -> None:
    if not 0 <= null_threshold <= 1:
        raise InputError(f"--null-threshold must be between 0 and 1, not {null_threshold}")
    if not 0 < alpha < 1:
        raise InputError(f"--alpha must be between 0 and 1, not {alpha}")
    if not psi_threshold >= 0:
        raise InputError(f"--psi-threshold must be >= 0, not {psi_threshold}")
    if decision not in DECISIONS:
        raise InputError(f"--decision must be one of {', '.join(DECISIONS)}, not {decision!r}")
    if not 0 <= drift_share <= 1:
        raise InputError(f"--drift-share must be between 0 and 1, not {drift_share}")


def _select(ref_cols, cur_cols, columns, exclude, kinds):
    changes: list[dict] = []
    if columns is not None:
        wanted = list(dict.fromkeys(columns))
        for c in wanted:
            if c not in ref_cols and c not in cur_cols:
                raise InputError(f"column {c!r} not found in either dataset")
    else:
        wanted = list(ref_cols) + [c for c in cur_cols if c not in ref_cols]
    excl = set(exclude or ())
    for c in excl | set(kinds):
        if c not in ref_cols and c not in cur_cols:
            raise InputError(f"column {c!r} not found in either dataset")
    selected = []
    for c in wanted:
        if c in excl:
            continue
        if c not in cur_cols:
            changes.append(
                {"column": c, "change": "missing_in_current", "reference_type": ref_cols[c]}
            )
        elif c not in ref_cols:
            changes.append(
                {"column": c, "change": "missing_in_reference", "current_type": cur_cols[c]}
            )
        else:
            selected.append(c)
    return selected, changes


def _null_fraction(c: ColumnProfile, rows: int) -> float:
    present = c.finite if c.kind == NUMERIC else c.non_null
    return (rows - present) / rows if rows else 0.0


def _binned(out: dict, ref_counts, cur_counts) -> None:
    out["psi"] = {"value": stats.psi(ref_counts, cur_counts)}
    out["js_distance"] = stats.js_distance(ref_counts, cur_counts)
    out["hellinger"] = stats.hellinger(ref_counts, cur_counts)
    out["linf"] = stats.linf(ref_counts, cur_counts)


def _pair_bins(rc: ColumnProfile, cc: ColumnProfile) -> exact.Bins:
    shift = max(rc.shift, cc.shift)  # a saved profile has coarser bins than a fresh scan
    rc, cc = rc.coarsened(shift), cc.coarsened(shift)
    return exact.Bins.from_keys(
        rc.shift,
        [
            (np.asarray(rc.keys, np.int64), np.asarray(rc.counts, np.int64)),
            (np.asarray(cc.keys, np.int64), np.asarray(cc.counts, np.int64)),
        ],
    )


def _numeric(plan, rc: ColumnProfile, cc: ColumnProfile, cur_edge_counts, solved) -> dict:
    out: dict[str, Any] = {
        "column": plan.name,
        "kind": NUMERIC,
        "dtype": {"reference": rc.dtype, "current": cc.dtype},
    }
    n, m = rc.finite, cc.finite
    out["count"] = {"reference": n, "current": m}
    out["mean"] = {"reference": rc.sum / n if n else None, "current": cc.sum / m if m else None}
    if n == 0 or m == 0:
        out["empty_side"] = "reference" if n == 0 else "current"
        return out
    (d, d_err), (w, w_err) = solved
    stat, p = stats.ks_p_value(d, n, m)
    if d_err == 0.0:
        out["ks"] = {"statistic": stat, "p_value": p}
    else:  # from a profile: the p-value of the midpoint, with the bound on D
        out["ks"] = {"statistic": d, "p_value": p, "error_bound": d_err}
    out["wasserstein"] = {"value": w, "error_bound": w_err}
    ref_counts = rc.edge_counts or [n]
    out["histogram"] = {
        "edges": rc.edges or [],
        "reference": ref_counts,
        "current": cur_edge_counts,
    }
    _binned(out, ref_counts, cur_edge_counts)
    out["test"] = "ks"
    out["p_value"] = out["ks"]["p_value"]
    return out


def _categorical(rc: ColumnProfile, cc: ColumnProfile) -> dict:
    out: dict[str, Any] = {
        "column": rc.name,
        "kind": CATEGORICAL,
        "dtype": {"reference": rc.dtype, "current": cc.dtype},
    }
    ra, ca = rc.categories or {}, cc.categories or {}
    out["count"] = {"reference": sum(ra.values()), "current": sum(ca.values())}
    if not ra or not ca:
        out["empty_side"] = "reference" if not ra else "current"
        return out
    cats = sorted(set(ra) | set(ca))
    r = [ra.get(k, 0) for k in cats]
    c = [ca.get(k, 0) for k in cats]
    chi, p, dof = stats.chi2_homogeneity(r, c)
    out["chi2"] = {"statistic": chi, "p_value": p, "dof": dof}
    _binned(out, r, c)
    out["new_categories"] = [k for k in cats if k not in ra]
    out["missing_categories"] = [k for k in cats if k not in ca]
    top = sorted(cats, key=lambda k: -(ra.get(k, 0) + ca.get(k, 0)))[:30]
    out["histogram"] = {
        "categories": top,
        "reference": [ra.get(k, 0) for k in top],
        "current": [ca.get(k, 0) for k in top],
    }
    out["test"] = "chi2"
    out["p_value"] = p
    return out


def decide(
    results: list[dict],
    alpha: float,
    psi_threshold: float | Mapping[str, float],
    decision: str,
    null_threshold: float = NULL_THRESHOLD,
) -> None:
    """Set ``drifted`` and ``reason`` per column (BH across columns; see the module doc)."""
    ps = np.array([r.get("p_value", np.nan) for r in results], dtype=float)
    adj = stats.benjamini_hochberg(ps) if len(ps) else ps
    nps = np.array([r["missing_test"]["p_value"] for r in results], dtype=float)
    nadj = stats.benjamini_hochberg(nps) if len(nps) else nps
    for r, a, na in zip(results, adj, nadj, strict=True):
        r["p_value_adjusted"] = None if np.isnan(a) else float(a)
        r["missing_test"]["p_value_adjusted"] = float(na)
        nf = r["null_fraction"]
        missing_moved = bool(na < alpha and abs(nf["current"] - nf["reference"]) >= null_threshold)
        if "empty_side" in r:
            present = r["count"]["reference"] + r["count"]["current"] > 0
            r["drifted"] = bool(present)
            r["reason"] = f"no values in {r['empty_side']}" if present else "no values"
            continue
        sig = bool(a < alpha)
        t = (
            psi_threshold.get(r["column"], 0.1)
            if isinstance(psi_threshold, Mapping)
            else psi_threshold
        )
        big = bool(r["psi"]["value"] >= t)
        r["drifted"] = {"both": sig and big, "test": sig, "effect": big}[decision] or missing_moved
        r["reason"] = (
            f"{r['test']} adjusted p={a:.3g} ({'<' if sig else '>='} {alpha}), "
            f"PSI={r['psi']['value']:.3g} ({'>=' if big else '<'} {t:.3g})"
        )
        if missing_moved:
            r["reason"] += (
                f"; missing {nf['reference']:.1%} -> {nf['current']:.1%} (adjusted p={na:.3g})"
            )


__all__ = ["compare", "connect", "Source"]


def profile(
    data: Any,
    *,
    columns: Iterable[str] | None = None,
    exclude: Iterable[str] | None = None,
    kinds: Mapping[str, str] | None = None,
    engine: str | None = None,
    spark_master: str | None = None,
) -> Profile:
    """Scan ``data`` once and return its reference profile (save it with ``.save(path)``).

    >>> import polars as pl
    >>> p = profile(pl.DataFrame({"x": [1.0, 2.0, 3.0], "s": ["a", "b", "a"]}))
    >>> p.rows, p.columns["s"].categories
    (3, {'a': 2, 'b': 1})
    """
    kinds = {k: check_kind(k, v) for k, v in (kinds or {}).items()}
    con = connect(pick_engine(engine, spark_master, data), spark_master)
    src = open_source(con, data, _label(data))
    selected, _ = _select(src.columns, src.columns, columns, exclude, kinds)
    plans, _unsupported = _plans(src.columns, selected, kinds, {})
    prof, _bins = scan_profile(con, src, plans)
    return prof
