"""Slice finding, step 1: which rows, which error per row, and which feature keys.

Everything here is decided by one scan of the source (``prepare``):

- **Rows.** A row takes part when its error is known: the error column, or both the label
  and the prediction, are not NULL (nor NaN for floating-point columns). The others are
  counted as ``excluded_rows`` and left out of every count, including ``n``.
- **Error per row.** ``error=`` a column of non-negative numbers, used as is; or from
  ``label``/``prediction``: ``1.0`` when they differ, else ``0.0`` (classification), or
  ``(prediction - label)²`` (regression).
- **task="auto"** is classification when the label column is text, boolean or enum, or an
  integer column with at most ``MAX_CLASSES`` distinct values whose prediction column is not
  floating point / decimal; regression otherwise.
- **Features.** A numeric column (integer, float, decimal) with more than ``bins`` distinct
  values is *binned*: the edges are the quantiles of its finite values at ``1/bins, 2/bins,
  ...``, exactly ``numpy.quantile`` (linear), duplicates dropped;
  bin ``i`` is ``(edge[i-1], edge[i]]`` with open outer bins (``x <= edge[0]``,
  ``x > edge[-1]``). Every other column (text, boolean, enum, dates, and numeric columns with
  at most ``bins`` distinct values) is *categorical*: each value is its own predicate.
  NULL (and NaN in floating-point columns) is one more value, shown as ``IS NULL``.
  Nested columns (lists, structs, maps) are skipped unless named, then refused.

The quantiles take two passes, so that they are the same on every engine (``quantile_cont``
interpolates in DuckDB's order, Spark's ``percentile`` in another, and both can differ from
numpy in the last bit): the first pass gives a value at or next to each quantile, a narrow
second pass reads the two order statistics around it exactly (counts below and at the value,
the largest value below it and the smallest above), and Python interpolates them as numpy.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from ._compat import fetch_one
from .errors import InputError
from .sqlutil import quote_ident

MAX_CLASSES = 20

_INT_TYPES = {
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
    "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT",
}
_FLOAT_TYPES = {"FLOAT", "DOUBLE", "REAL"}


def is_integer(dtype: str) -> bool:
    return dtype in _INT_TYPES


def is_float(dtype: str) -> bool:
    return dtype in _FLOAT_TYPES


def is_numeric(dtype: str) -> bool:
    return dtype in _INT_TYPES or dtype in _FLOAT_TYPES or dtype.startswith("DECIMAL")


def is_nested(dtype: str) -> bool:
    return dtype.endswith("]") or dtype.startswith(("STRUCT", "MAP", "UNION"))


def sql_double(x: float) -> str:
    """A DOUBLE literal that round-trips exactly (our own numbers only, never user text)."""
    x = float(x)
    return f"CAST('{x!r}' AS DOUBLE)"


def nan_sql(x: str) -> str:
    """SQL condition: the DOUBLE expression ``x`` is NaN (NULL for NULL).

    Not ``isnan(x)``: DuckDB 2.0 folds it (and ``x > 'inf'``) to false on Parquet columns whose
    min/max statistics, written without the NaNs (pyarrow does), say there is none. It
    keeps ``isfinite``; NaN is the one value neither finite nor infinite.
    """
    return f"(NOT isfinite({x}) AND abs({x}) <> CAST('inf' AS DOUBLE))"


def missing_sql(col: str, dtype: str) -> str:
    """SQL condition: the value of column ``col`` is missing (NULL, or NaN for floats)."""
    q = quote_ident(col)
    return f"({q} IS NULL OR {nan_sql(q)})" if is_float(dtype) else f"{q} IS NULL"


@dataclass
class Feature:
    """One feature column and the SQL expression of its key (value or bin number)."""

    name: str
    pos: int
    dtype: str
    kind: str = "categorical"  # or "binned"
    edges: list[float] = field(default_factory=list)

    def key_sql(self) -> str:
        q = quote_ident(self.name)
        if self.kind == "binned":
            x = f"CAST({q} AS DOUBLE)"
            whens = " ".join(
                f"WHEN {x} <= {sql_double(e)} THEN {i}" for i, e in enumerate(self.edges)
            )
            ctype = "UTINYINT" if len(self.edges) < 255 else "UINTEGER"
            return (
                f"(CASE WHEN {x} IS NULL OR {nan_sql(x)} THEN NULL {whens} "
                f"ELSE {len(self.edges)} END)::{ctype}"
            )
        if is_float(self.dtype):
            return f"(CASE WHEN {nan_sql(q)} THEN NULL ELSE {q} END)"
        return q

    def predicate(self, key: Any) -> dict:
        """The JSON predicate of the slice ``feature = key``."""
        if key is None:
            return {"column": self.name, "value": None}
        if self.kind == "binned":
            i = int(key)
            low = self.edges[i - 1] if i > 0 else None
            high = self.edges[i] if i < len(self.edges) else None
            return {"column": self.name, "low": low, "high": high}
        return {"column": self.name, "value": key}


@dataclass
class Prepared:
    """The outcome of ``prepare``: everything the search needs, and nothing row-sized."""

    rows_all: int
    rows: int
    task: str
    err_sql: str
    valid_sql: str
    features: list[Feature]
    sigma: int


def _check_column(src: Any, name: Any, option: str) -> str:
    if not isinstance(name, str):
        raise InputError(f"{option}: expected a column name, got {name!r}")
    if name not in src.columns:
        raise InputError(f"{option} column {name!r} not found in {src.label}")
    return name


def resolve_columns(
    src: Any, label: Any, prediction: Any, error: Any, features: Any
) -> tuple[str | None, str | None, str | None, list[str]]:
    """Validate the column options; return ``(label, prediction, error, features)``."""
    if error is not None:
        if label is not None or prediction is not None:
            raise InputError("give either error= or label= and prediction=, not both")
        error = _check_column(src, error, "error")
        if not is_numeric(src.columns[error]):
            raise InputError(f"error column {error!r} is not numeric ({src.columns[error]})")
    else:
        if label is None:
            raise InputError("label column missing: give label= and prediction=, or error=")
        if prediction is None:
            raise InputError("prediction column missing: give label= and prediction=, or error=")
        label = _check_column(src, label, "label")
        prediction = _check_column(src, prediction, "prediction")
    used = {c for c in (label, prediction, error) if c is not None}
    if features is None:
        feats = [c for c, t in src.columns.items() if c not in used and not is_nested(t)]
    else:
        if isinstance(features, str):
            features = [features]
        feats = [_check_column(src, f, "feature") for f in features]
        dup = {f for f in feats if feats.count(f) > 1}
        if dup:
            raise InputError(f"feature column {sorted(dup)[0]!r} given twice")
        for f in feats:
            if is_nested(src.columns[f]):
                raise InputError(f"feature column {f!r} has nested type {src.columns[f]}")
    if not feats:
        raise InputError(f"{src.label}: no feature columns to slice on")
    return label, prediction, error, feats


def min_support_rows(min_support: Any, n: int) -> int:
    """Slices need ``size >= min_support`` (int) or ``size >= min_support * n`` (float)."""
    bad = InputError(f"min_support must be an int >= 1 or a float in (0, 1), got {min_support!r}")
    if isinstance(min_support, bool) or not isinstance(min_support, (int, float)):
        raise bad
    if isinstance(min_support, int):
        if min_support < 1:
            raise bad
        return min_support
    if not 0.0 < min_support < 1.0:
        raise bad
    return max(1, math.ceil(min_support * n))


def _valid_sql(src: Any, cols: list[str]) -> str:
    return " AND ".join(f"NOT {missing_sql(c, src.columns[c])}" for c in cols)


def _decide_task(task: str, ltype: str, ptype: str, n_label: int | None) -> str:
    if task in ("classification", "regression"):
        return task
    if ltype in ("BOOLEAN", "VARCHAR", "UUID") or ltype.startswith("ENUM"):
        return "classification"
    if is_integer(ltype) and not (is_float(ptype) or ptype.startswith("DECIMAL")):
        if n_label is not None and n_label <= MAX_CLASSES:
            return "classification"
    return "regression"


def _err_sql(
    task: str, src: Any, label: str | None, prediction: str | None, error: str | None
) -> str:
    if error is not None:
        return f"CAST({quote_ident(error)} AS DOUBLE)"
    ql, qp = quote_ident(label), quote_ident(prediction)
    if task == "classification":
        return f"(CASE WHEN {ql} = {qp} THEN 0.0 ELSE 1.0 END)::DOUBLE"
    for c in (label, prediction):
        if not is_numeric(src.columns[c]):
            raise InputError(f"regression needs numeric columns: {c!r} is {src.columns[c]}")
    return f"power(CAST({qp} AS DOUBLE) - CAST({ql} AS DOUBLE), 2)"


_TASKS = ("auto", "classification", "regression")


def prepare(
    con: Any,
    src: Any,
    *,
    label: str | None,
    prediction: str | None,
    error: str | None,
    features: list[str],
    bins: int,
    task: str,
    min_support: Any,
    edges_from: dict[str, list[float]] | None = None,
) -> Prepared:
    """One scan of ``src``: row counts, task, distinct counts and quantile edges.

    ``edges_from`` (feature -> edges) reuses binning decided on another dataset
    (``explain_drop`` bins the current data on the reference's edges).
    """
    if task not in _TASKS:
        raise InputError(f"task must be one of {', '.join(_TASKS)}, got {task!r}")
    cols = [c for c in (label, prediction, error) if c is not None]
    valid = _valid_sql(src, cols)
    fracs = ", ".join(sql_double(i / bins) for i in range(1, bins))
    aggs = ["count(*)", f"count(*) FILTER (WHERE {valid})"]
    need_nlabel = task == "auto" and label is not None and is_integer(src.columns[label])
    if need_nlabel:
        aggs.append(f"count(DISTINCT {quote_ident(label)}) FILTER (WHERE {valid})")
    if error is not None:
        qe = quote_ident(error)
        aggs.append(f"min({qe}) FILTER (WHERE {valid})")
    feats = [Feature(name, i, src.columns[name]) for i, name in enumerate(features)]
    numeric = [f for f in feats if is_numeric(f.dtype) and (edges_from is None)]
    for f in numeric:
        x = _double(f.name)
        aggs.append(f"count(DISTINCT {f.key_sql()}) FILTER (WHERE {valid})")
        aggs.append(f"count({x}) FILTER (WHERE {valid} AND isfinite({x}))")
        aggs.append(f"quantile_cont({x}, [{fracs}]) FILTER (WHERE {valid} AND isfinite({x}))")
    row = _one(con, src, f"SELECT {', '.join(aggs)} FROM {src.from_clause()}")
    rows_all, rows = int(row[0]), int(row[1])
    it = iter(row[2:])
    n_label = int(next(it)) if need_nlabel else None
    if error is not None:
        emin = next(it)
        if emin is not None and emin < 0:
            raise InputError(f"error column {error!r} has negative values (min {emin})")
    near = {}
    for f in numeric:
        n_distinct, n_finite, quantiles = int(next(it)), int(next(it)), next(it)
        if n_distinct > bins and quantiles and n_finite:
            f.kind = "binned"
            near[f.name] = (n_finite, [float(q) for q in quantiles])
    if near:
        edges = exact_quantiles(con, src, valid, near, bins)
        for f in numeric:
            if f.name in near:
                f.edges = sorted(set(edges[f.name]))
    if edges_from is not None:
        for f in feats:
            if f.name in edges_from:
                f.kind, f.edges = "binned", list(edges_from[f.name])
    if rows == 0:
        raise InputError(f"{src.label}: no rows with a known error (empty, or all labels NULL)")
    ltype = src.columns[label] if label else ""
    ptype = src.columns[prediction] if prediction else ""
    chosen = _decide_task(task, ltype, ptype, n_label) if error is None else "error"
    err = _err_sql(chosen, src, label, prediction, error)
    return Prepared(rows_all, rows, chosen, err, valid, feats, min_support_rows(min_support, rows))


def _double(name: str) -> str:
    return f"CAST({quote_ident(name)} AS DOUBLE)"


def _one(con: Any, src: Any, sql: str) -> tuple:
    try:
        row = fetch_one(con, sql)
    except Exception as exc:  # the engine's message on one line
        raise InputError(f"{src.label}: {str(exc).strip().splitlines()[0]}") from None
    assert row is not None
    return row


def lerp(a: float, b: float, t: float) -> float:
    """numpy's ``_lerp``: ``a + (b-a)*t``, or ``b - (b-a)*(1-t)`` when t >= 0.5."""
    d = b - a
    return b - d * (1 - t) if t >= 0.5 else a + d * t


MAX_ROUNDS = 64


def exact_quantiles(
    con: Any, src: Any, valid: str, near: dict[str, tuple[int, list[float]]], bins: int
) -> dict[str, list[float]]:
    """Exact ``numpy.quantile(x, [1/bins, ...])`` of the finite values of each column.

    ``near``: column -> (number of finite values, a value at or next to each quantile).
    Each round is one narrow pass (``_around``) that pins, for a probe value ``v``, the order
    statistics of ranks ``#(< v) - 1 ... #(<= v)``. One round is the rule (a first-pass value
    lies between the two order statistics around its quantile, or next to them); a probe
    further away moves one value towards its rank per round.
    """
    want: dict[tuple[str, int], float] = {}  # (column, rank) -> probe value
    plan: dict[str, list[tuple[int, int, float]]] = {}
    for name, (n, approx) in near.items():
        plan[name] = []
        for i, v in enumerate(approx, 1):
            virtual = (n - 1) * (i / bins)
            lo = math.floor(virtual)
            hi = min(lo + 1, n - 1)
            plan[name].append((lo, hi, virtual - lo))
            for r in (lo, hi):
                want.setdefault((name, r), v)
    got: dict[tuple[str, int], float] = {}
    for _ in range(MAX_ROUNDS):
        probes: dict[str, set[float]] = {}
        for (name, r), v in want.items():
            if (name, r) not in got:
                probes.setdefault(name, set()).add(v)
        if not probes:
            break
        seen = _around(con, src, valid, {k: sorted(v) for k, v in probes.items()})
        for (name, r), v in list(want.items()):
            if (name, r) in got:
                continue
            below, upto, prev, nxt = seen[(name, v)]
            if below <= r < upto:
                got[(name, r)] = v
            elif r == below - 1:
                got[(name, r)] = prev
            elif r == upto:
                got[(name, r)] = nxt
            else:  # the probe was further away: move it one value towards rank r
                want[(name, r)] = prev if r < below else nxt
    else:  # pragma: no cover - every round moves each probe by at least one rank
        raise InputError(f"{src.label}: quantiles did not converge")
    return {name: [lerp(got[(name, lo)], got[(name, hi)], t) for lo, hi, t in steps]
            for name, steps in plan.items()}


def _around(
    con: Any, src: Any, valid: str, probes: dict[str, list[float]]
) -> dict[tuple[str, float], tuple[int, int, Any, Any]]:
    """One pass: for each column and sorted probe ``v``: ``#(x < v)``, ``#(x <= v)``, the
    largest value below ``v`` and the smallest above it (finite values only).

    Each finite value falls in a bucket: ``2j`` strictly between probes ``j-1`` and ``j``,
    ``2j+1`` equal to probe ``j``; one ``GROUP BY GROUPING SETS`` counts the buckets of all
    columns with their min and max.
    """
    names = list(probes)
    keys, aggs = [], []
    for i, name in enumerate(names):
        x = _double(name)
        whens = " ".join(f"WHEN {x} < {sql_double(v)} THEN {2 * j} "
                         f"WHEN {x} = {sql_double(v)} THEN {2 * j + 1}"
                         for j, v in enumerate(probes[name]))
        keys.append(f"CASE WHEN {x} IS NULL OR NOT isfinite({x}) THEN NULL {whens} "
                    f"ELSE {2 * len(probes[name])} END AS b{i}, {x} AS x{i}")
        aggs.append(f"min(x{i}) AS lo{i}, max(x{i}) AS hi{i}")
    fid = " ".join(f"WHEN GROUPING(b{i}) = 0 THEN {i}" for i in range(len(names)))
    bs = ", ".join(f"b{i}" for i in range(len(names)))
    sets = ", ".join(f"(b{i})" for i in range(len(names)))
    sql = (f"SELECT CASE {fid} END AS f, {bs}, count(*) AS n, {', '.join(aggs)} FROM "
           f"(SELECT {', '.join(keys)} FROM {src.from_clause()} WHERE {valid}) "
           f"GROUP BY GROUPING SETS ({sets})")
    try:
        rows = con.execute(sql).fetchall()
    except Exception as exc:  # the engine's message on one line
        raise InputError(f"{src.label}: {str(exc).strip().splitlines()[0]}") from None
    k = len(names)
    buckets: dict[int, dict[int, tuple[int, float, float]]] = {i: {} for i in range(k)}
    for r in rows:
        i = int(r[0])
        b = r[1 + i]
        if b is not None:
            buckets[i][int(b)] = (int(r[1 + k]), r[2 + k + 2 * i], r[3 + k + 2 * i])
    out = {}
    for i, name in enumerate(names):
        have = sorted(buckets[i].items())
        for j, v in enumerate(probes[name]):
            under = [c for b, c in have if b < 2 * j + 1]
            over = [c for b, c in have if b > 2 * j + 1]
            below = sum(c[0] for c in under)
            at = buckets[i].get(2 * j + 1, (0, None, None))[0]
            prev = float(under[-1][2]) if under else None
            nxt = float(over[0][1]) if over else None
            out[(name, v)] = (below, below + at, prev, nxt)
    return out


_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def show_name(name: str) -> str:
    return name if _PLAIN.match(name) else quote_ident(name)


def show_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return f"{v:.6g}"
    return "'" + str(v).replace("'", "''") + "'"


def show_predicate(p: dict) -> str:
    """``age in (16, 22]``, ``age <= 22``, ``age > 60``, ``education = 'HS'``, ``x IS NULL``."""
    name = show_name(p["column"])
    if "value" in p:
        return f"{name} IS NULL" if p["value"] is None else f"{name} = {show_value(p['value'])}"
    low, high = p["low"], p["high"]
    if low is None and high is None:
        return f"{name} IS NOT NULL"
    if low is None:
        return f"{name} <= {show_value(high)}"
    if high is None:
        return f"{name} > {show_value(low)}"
    return f"{name} in ({show_value(low)}, {show_value(high)}]"
