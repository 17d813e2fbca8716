"""The SQL the engine runs over a source. Every function here is one scan (or one narrow scan).

- ``summarize``: one wide pass over all columns: row and null counts, moments, category counts;
- ``histograms``: exact bin counts of every numeric column on data-independent bins
  (``sentinel_ord(x) >> shift``, see ``sql/engine_macros.sql``), optionally restricted to
  ranges of bins — the refinement step of the exact narrow pass;
- ``fetch``: the values of a few bins, for the exact KS statistic and exact quantiles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._compat import query_arrow
from .errors import InputError
from .sources import Source
from .sqlutil import sql_file

BASE_SHIFT = 44  # 20-bit keys: bins 2^-8 of a binade wide
_MACROS_LOADED = "__sentinel_macros_loaded"


@dataclass(frozen=True)
class ColumnPlan:
    """A column to measure: its name, DuckDB type, kind and the SQL value expression."""

    name: str
    dtype: str
    kind: str
    expr: str


def prepare(con: Any) -> None:
    """Define the engine macros on ``con`` (idempotent)."""
    con.execute(sql_file("engine_macros.sql"))


def _run(con: Any, src: Source, sql: str, params: list | None = None, arrow: bool = False) -> Any:
    try:
        if arrow:
            return query_arrow(con, sql, params)
        return con.execute(sql, params or [])
    except Exception as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{src.label}: {msg}") from None


def summarize(con: Any, src: Source, plans: list[ColumnPlan]) -> dict[str, Any]:
    """Row count, and per column: non-null count, finite count and moments or category counts."""
    aggs = ["count(*)"]
    for p in plans:
        if p.kind == "numeric":
            f = f"sentinel_finite({p.expr})"
            aggs += [
                f"count({p.expr})",
                f"count({f})",
                f"min({f})",
                f"max({f})",
                f"sum({f})",
                f"sum({f} * {f})",
            ]
        else:
            aggs += [f"count({p.expr})", f"histogram({p.expr})"]
    cols = sorted({p.name for p in plans})
    sql = f"SELECT {', '.join(aggs)} FROM {src.from_clause(cols or None)}"
    row = _run(con, src, sql).fetchall()[0]
    out: dict[str, Any] = {"rows": int(row[0]), "columns": {}}
    i = 1
    for p in plans:
        if p.kind == "numeric":
            nn, fin, mn, mx, s, s2 = row[i : i + 6]
            i += 6
            out["columns"][p.name] = {
                "non_null": int(nn),
                "finite": int(fin),
                "min": mn,
                "max": mx,
                "sum": float(s or 0.0),
                "sum_sq": float(s2 or 0.0),
            }
        else:
            nn, hist = row[i : i + 2]
            i += 2
            out["columns"][p.name] = {"non_null": int(nn), "categories": dict(hist or {})}
    return out


def _range_predicate(var: str, ranges: list[tuple[int, int]], params: list) -> str:
    parts = []
    for lo, hi in ranges:
        params += [int(lo), int(hi)]
        parts.append(f"({var} BETWEEN ? AND ?)")
    return " OR ".join(parts) if parts else "TRUE"


def histograms(
    con: Any,
    src: Source,
    requests: dict[ColumnPlan, tuple[int, list[tuple[int, int]] | None]],
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Exact counts per bin ``sentinel_ord(x) >> shift`` for each requested numeric column.

    ``requests[plan] = (shift, ranges)``; ``ranges`` (inclusive ``sentinel_ord`` bounds) limits
    the count to those values (None: all finite values). Returns sorted keys and counts.
    """
    if not requests:
        return {}
    branches, params = [], []
    plans = list(requests)
    for i, p in enumerate(plans):
        shift, ranges = requests[p]
        params.append(int(shift))
        where = "o IS NOT NULL"
        if ranges is not None:
            where += " AND (" + _range_predicate("o", ranges, params) + ")"
        branches.append(
            f"SELECT {i} AS c, o >> ? AS k, count(*) AS n FROM "
            f"(SELECT sentinel_ord(sentinel_finite({p.expr})) AS o "
            f"FROM {src.from_clause([p.name])}) WHERE {where} GROUP BY k"
        )
    tbl = _run(con, src, " UNION ALL ".join(branches), params, arrow=True)
    c = tbl.column("c").to_numpy()
    k = tbl.column("k").to_numpy()
    n = tbl.column("n").to_numpy()
    out = {}
    for i, p in enumerate(plans):
        sel = c == i
        order = np.argsort(k[sel], kind="stable")
        out[p.name] = (k[sel][order].astype(np.int64), n[sel][order].astype(np.int64))
    return out


def fetch(
    con: Any, src: Source, requests: dict[ColumnPlan, list[tuple[int, int]]]
) -> dict[str, np.ndarray]:
    """Sorted finite values whose ``sentinel_ord`` lies in the given inclusive ranges, per column.

    One scan for all columns (one ``list`` aggregate each).
    """
    requests = {p: r for p, r in requests.items() if r}
    if not requests:
        return {}
    aggs, params = [], []
    plans = list(requests)
    for i, p in enumerate(plans):
        f = f"sentinel_finite({p.expr})"
        pred = _range_predicate(f"sentinel_ord({f})", requests[p], params)
        aggs.append(f"list({f}) FILTER (WHERE {f} IS NOT NULL AND ({pred})) AS v{i}")
    cols = sorted({p.name for p in plans})
    sql = f"SELECT {', '.join(aggs)} FROM {src.from_clause(cols)}"
    tbl = _run(con, src, sql, params, arrow=True)
    out = {}
    for i, p in enumerate(plans):
        cell = tbl.column(f"v{i}")[0]
        if not cell.is_valid:
            out[p.name] = np.empty(0, dtype=np.float64)
            continue
        arr = np.asarray(cell.values.to_numpy(zero_copy_only=False), dtype=np.float64)
        out[p.name] = np.sort(arr)
    return out
