"""Monitoring: split current data into windows and compare each with the reference.

Windows come from ``timestamp`` + ``every`` (``1h``, ``1d``, ``1w``, ``1mo``, ``1y``, or any
DuckDB interval such as ``"15 minutes"``; a window is named by its start) or from the values
of a ``by`` column. All windows are profiled in one grouped wide pass and one grouped
histogram pass over the current data. Per window, PSI, chi-square, null fractions,
Jensen–Shannon and Hellinger are exact; KS and Wasserstein carry an ``error_bound`` (they
come from bin counts, as against a saved profile).

Thresholds: ``fixed`` uses ``psi_threshold`` and a performance band of the reference metric
± ``metric_tolerance``; ``learned`` splits the (raw) reference into the same kind of windows
and uses mean ± 3σ of each statistic across them (the PSI threshold of a column is the upper
end of its band, never below 0.01).
"""

from __future__ import annotations

import datetime as _dt
import re
import statistics
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import performance, scan
from .drift import (
    _check_options,
    column_results,
    decide,
    prepare_pair,
    psi_edges,
    verdict,
)
from .errors import InputError
from .profiles import Profile, from_summary, scan_profile
from .result import _clean
from .scan import Grouping
from .spark import pick_engine
from .sqlutil import quote_ident

_EVERY = {
    "h": "hour",
    "d": "day",
    "w": "week",
    "mo": "month",
    "m": "month",
    "y": "year",
    "min": "minute",
}
_EVERY_RE = re.compile(r"^\s*(\d+)\s*(min|mo|h|d|w|m|y)\s*$")


def parse_every(every: str) -> str:
    """``1d`` → ``1 day``; DuckDB interval strings pass through (validated by DuckDB later)."""
    m = _EVERY_RE.match(every)
    if m:
        n, unit = m.groups()
        if int(n) <= 0:
            raise InputError(f"--every must be positive, not {every!r}")
        return f"{n} {_EVERY[unit]}"
    if re.match(r"^\s*\d+\s+[a-z]+\s*$", every):
        return every.strip()
    raise InputError(f"--every must look like 1h, 1d, 1w, 1mo, 1y or '15 minutes', not {every!r}")


def grouping(
    columns: Mapping[str, str],
    *,
    timestamp: str | None,
    every: str | None,
    by: str | None,
    label: str,
) -> Grouping:
    if by and (timestamp or every):
        raise InputError("use either --by or --timestamp/--every, not both")
    if by:
        if by not in columns:
            raise InputError(f"--by column {by!r} not found in {label}")
        return Grouping(quote_ident(by), (), (by,))
    if not (timestamp and every):
        raise InputError("monitoring needs --timestamp COL with --every N, or --by COL")
    if timestamp not in columns:
        raise InputError(f"--timestamp column {timestamp!r} not found in {label}")
    interval = parse_every(every)
    sql = f"time_bucket(CAST(? AS INTERVAL), CAST({quote_ident(timestamp)} AS TIMESTAMP))"
    return Grouping(sql, (interval,), (timestamp,))


@dataclass
class MonitorResult:
    windows: list[dict[str, Any]]
    reference: dict[str, Any]
    settings: dict[str, Any]
    alerts: list[str] = field(default_factory=list)

    @property
    def alert(self) -> bool:
        """True when the newest window drifted or a performance metric left its band."""
        return bool(self.alerts)

    def to_dict(self) -> dict[str, Any]:
        return _clean(
            {
                "windows": self.windows,
                "reference": self.reference,
                "alert": self.alert,
                "alerts": self.alerts,
                "settings": self.settings,
            }
        )


def _windows(con, src, plans, edges, group, shift=scan.BASE_SHIFT) -> dict[Any, Profile]:
    """One profile per window, on bins at ``shift`` (the reference's, when it is coarser)."""
    sums = scan.summarize(con, src, plans, edges=edges, group=group)
    numeric = [p for p in plans if p.kind == "numeric"]
    hists = scan.histograms(con, src, numeric, shift=shift, group=group)
    return {
        g: from_summary("", s, hists.get(g, {}), plans, edges, shift) for g, s in sums.items()
    }


def _name(g: Any) -> Any:
    if isinstance(g, (_dt.datetime, _dt.date)):
        return g.isoformat()
    return g


def monitor(
    reference: Any,
    current: Any,
    *,
    timestamp: str | None = None,
    every: str | None = None,
    by: str | None = None,
    label: str | None = None,
    prediction: str | None = None,
    probability: str | None = None,
    positive: str | None = None,
    task: str = "auto",
    columns: Iterable[str] | None = None,
    exclude: Iterable[str] | None = None,
    kinds: Mapping[str, str] | None = None,
    alpha: float = 0.05,
    psi_threshold: float = 0.1,
    decision: str = "both",
    drift_share: float = 0.0,
    null_threshold: float = 0.05,
    thresholds: str = "fixed",
    metric_tolerance: float = 0.05,
    progress: Callable[[str], None] | None = None,
) -> MonitorResult:
    """Compare every window of ``current`` with ``reference`` (raw data or a saved profile).

    >>> import polars as pl
    >>> ref = pl.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "b": [1, 1, 2, 2]})
    >>> [w["window"] for w in monitor(ref, ref, by="b").windows]
    [1, 2]
    """
    _check_options(alpha, psi_threshold, decision, drift_share, null_threshold)
    if thresholds not in ("fixed", "learned"):
        raise InputError(f"--thresholds must be fixed or learned, not {thresholds!r}")
    if (label is None) != (prediction is None):
        raise InputError("--label and --prediction go together")
    say = progress or (lambda _m: None)
    if pick_engine(None, None, reference, current) != "duckdb":
        raise InputError(
            "monitor runs on DuckDB only (its window SQL is not generated for Spark yet): "
            "give paths, or profile the reference on Spark and monitor the batches here"
        )
    reserved = [c for c in (timestamp, by, label, prediction, probability) if c]
    pair = prepare_pair(
        reference, current, columns=columns, exclude=exclude, kinds=kinds, reserved=reserved
    )
    con, cur_src, ref_src = pair.con, pair.cur_src, pair.ref_src
    group = grouping(cur_src.columns, timestamp=timestamp, every=every, by=by, label=cur_src.label)
    say("scanning reference")
    ref_profile = pair.ref_profile
    if ref_profile is None:
        ref_profile, _ = scan_profile(con, ref_src, pair.plans_ref)
    edges = psi_edges(ref_profile, pair.plans_cur)
    if task == "auto" and label:
        task = performance.infer_task(cur_src.columns[label])
    perf_kw = {}
    if label:
        if probability and probability not in cur_src.columns:
            raise InputError(f"--probability column {probability!r} not found in {cur_src.label}")
        pos_src = ref_src if ref_src is not None and label in ref_src.columns else cur_src
        if task == "classification" and positive is None:
            positive = performance.default_positive(con, pos_src, label)
        perf_kw = {
            "label": label,
            "prediction": prediction,
            "task": task,
            "probability": probability,
            "positive": positive,
        }

    # bands: fixed (reference metric +- tolerance, psi_threshold) or learned (mean +- 3 sigma)
    psi_t: float | dict[str, float] = psi_threshold
    bands: dict[str, tuple[float, float]] = {}
    ref_perf = None
    if label and ref_src is not None and label in ref_src.columns and prediction in ref_src.columns:
        ref_perf = performance.metrics(con, ref_src, **perf_kw).get(None)
    if thresholds == "learned":
        if ref_src is None:
            raise InputError("--thresholds learned needs the raw reference, not a profile")
        say("learning thresholds from reference windows")
        rgroup = grouping(
            ref_src.columns, timestamp=timestamp, every=every, by=by, label=ref_src.label
        )
        ref_windows = _windows(con, ref_src, pair.plans_ref, edges, rgroup)
        per_col: dict[str, list[float]] = {}
        for wp in ref_windows.values():
            for r in column_results(ref_profile, wp, pair.plans_ref, None):
                if "psi" in r:
                    per_col.setdefault(r["column"], []).append(r["psi"]["value"])
        psi_t = {c: max(0.01, _mean_3sd(v)[1]) for c, v in per_col.items()}
        if label:
            ref_wperf = performance.metrics(con, ref_src, group=rgroup, **perf_kw)
            for m in _metric_names(perf_kw):
                vals = [w[m] for w in ref_wperf.values() if w.get(m) is not None]
                if vals:
                    bands[m] = _mean_3sd(vals)
    elif ref_perf:
        for m in _metric_names(perf_kw):
            if ref_perf.get(m) is not None:
                tol = metric_tolerance * (
                    1
                    if m in performance.HIGHER_IS_BETTER or m == "log_loss"
                    else max(abs(ref_perf[m]), 1e-12)
                )
                bands[m] = (ref_perf[m] - tol, ref_perf[m] + tol)

    say("scanning current windows")
    # windows are compared on the reference's bins: made on them directly when it is coarser
    profiles = _windows(con, cur_src, pair.plans_cur, edges, group, ref_profile.bin_shift)
    perf = performance.metrics(con, cur_src, group=group, **perf_kw) if label else {}
    windows = []
    for g in sorted(profiles, key=lambda v: (v is None, v)):
        wp = profiles[g]
        results = column_results(ref_profile, wp, pair.plans_cur, None)
        decide(results, alpha, psi_t, decision, null_threshold)
        drifted, detected = verdict(results, pair.schema_changes, drift_share, True)
        w = {
            "window": _name(g),
            "rows": wp.rows,
            "drift_detected": detected,
            "drifted_columns": drifted,
            "columns": results,
        }
        if label:
            p = {k: v for k, v in perf.get(g, {}).items() if k != "rows"}
            w["performance"] = p
            w["performance_alerts"] = [
                m for m, (lo, hi) in bands.items() if p.get(m) is not None and not lo <= p[m] <= hi
            ]
        windows.append(w)
    alerts = []
    if windows:
        newest = windows[-1]
        if newest["drift_detected"]:
            what = ", ".join(newest["drifted_columns"]) or "schema changes"
            alerts.append(f"window {newest['window']}: drift in {what}")
        for m in newest.get("performance_alerts", []):
            lo, hi = bands[m]
            alerts.append(
                f"window {newest['window']}: {m}={newest['performance'][m]:.4g} "
                f"outside [{lo:.4g}, {hi:.4g}]"
            )
    settings = {
        "timestamp": timestamp,
        "every": every,
        "by": by,
        "label": label,
        "prediction": prediction,
        "probability": probability,
        "task": task if label else None,
        "positive": positive,
        "thresholds": thresholds,
        "alpha": alpha,
        "psi_threshold": psi_t,
        "performance_bands": bands,
        "decision": decision,
    }
    return MonitorResult(
        windows=windows,
        reference={
            "source": ref_profile.source,
            "rows": ref_profile.rows,
            "profile": ref_src is None,
            "performance": ref_perf,
            "schema_changes": pair.schema_changes,
        },
        settings=settings,
        alerts=alerts,
    )


def _metric_names(perf_kw: dict) -> tuple[str, ...]:
    if perf_kw.get("task") == "regression":
        return performance.REGRESSION_METRICS
    names = ("accuracy", "precision", "recall", "f1")
    return names + (("roc_auc", "log_loss") if perf_kw.get("probability") else ())


def _mean_3sd(values: list[float]) -> tuple[float, float]:
    mu = statistics.fmean(values)
    sd = statistics.pstdev(values) if len(values) > 1 else 0.0
    return mu - 3 * sd, mu + 3 * sd
