"""The SQL the engine runs over a source. Every function here is one scan (or one narrow scan).

- ``summarize``: one wide pass over all columns: row and null counts, moments, category counts;
- ``histograms``: exact bin counts of every numeric column on data-independent bins
  (``sentinel_ord(x) >> shift``, see ``sql/engine_macros.sql``), optionally restricted to
  ranges of bins — the refinement step of the exact narrow pass;
- ``fetch``: the values of a few bins, for the exact KS statistic and exact quantiles.
"""

from __future__ import annotations

import os
import sys
import time
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
    t0 = time.perf_counter()
    try:
        if arrow:
            out = query_arrow(con, sql, params)
            _debug(t0, sql, params)
            return out
            return query_arrow(con, sql, params)
        out = con.execute(sql, params or [])
        _debug(t0, sql, params)
        return out
    except Exception as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{src.label}: {msg}") from None


def _debug(t0: float, sql: str, params: list | None) -> None:
    if os.environ.get("SENTINEL_DEBUG"):
        print(f"[sql {time.perf_counter() - t0:.3f}s, {len(params or [])} params] {sql[:150]}",
              file=sys.stderr)


def summarize(con: Any, src: Source, plans: list[ColumnPlan]) -> dict[str, Any]:
    """Row count, and per column: non-null count, finite count and moments or category counts.

    The value expressions are computed once per row in an inner projection.
    """
    inner, aggs = [], ["count(*)"]
    for i, p in enumerate(plans):
        if p.kind == "numeric":
            inner.append(f"{p.expr} AS v{i}")
            inner.append(f"sentinel_finite({p.expr}) AS f{i}")
            aggs += [f"count(v{i})", f"count(f{i})", f"min(f{i})", f"max(f{i})",
                     f"sum(f{i})", f"sum(f{i} * f{i})"]
        else:
            inner.append(f"{p.expr} AS v{i}")
            aggs += [f"count(v{i})", f"histogram(v{i})"]
    cols = sorted({p.name for p in plans})
    inner_sql = ", ".join(inner) if inner else "1 AS one"
    sql = f"SELECT {', '.join(aggs)} FROM (SELECT {inner_sql} FROM {src.from_clause(cols or None)})"
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


def _ordered(plan: ColumnPlan, src: Source, extra: str = "") -> str:
    """A subquery with the finite value ``f`` and its order code ``o`` computed once per row."""
    return (
        "(SELECT f, CASE WHEN b >= 0 THEN b ELSE xor(b, 9223372036854775807) END AS o"
        " FROM (SELECT f, CAST(CAST(f AS BIT) AS BIGINT) AS b"
        f" FROM (SELECT sentinel_finite({plan.expr}) AS f FROM {src.from_clause([plan.name])})"
        f" WHERE f IS NOT NULL){extra})"
    )


def histograms(
    con: Any,
    src: Source,
    requests: dict[ColumnPlan, tuple[int, list[int] | None, int]],
) -> dict[str, tuple[np.ndarray, ...]]:
    """Exact counts per bin ``sentinel_ord(x) >> shift`` for each requested numeric column.

    ``requests[plan] = (shift, parent_keys, parent_shift)``: with ``parent_keys`` the count is
    limited to the values in those bins at ``parent_shift`` (a refinement), and the smallest and
    largest order code per bin are returned too, so that single-valued bins are recognised.
    Returns ``(keys, counts[, omin, omax])`` sorted by key, per column name.
    """
    if not requests:
        return {}
    branches, params = [], []
    plans = list(requests)
    for i, p in enumerate(plans):
        shift, parents, parent_shift = requests[p]
        if parents is None:
            params.append(int(shift))
            branches.append(
                f"SELECT {i} AS c, o >> ? AS k, count(*) AS n, 0::BIGINT AS omin, 0::BIGINT AS omax"
                f" FROM {_ordered(p, src)} GROUP BY k"
            )
        else:
            params += [int(shift), int(parent_shift), [int(k) for k in parents]]
            branches.append(
                f"SELECT {i} AS c, o >> ? AS k, count(*) AS n, min(o) AS omin, max(o) AS omax"
                f" FROM {_ordered(p, src)} WHERE (o >> ?) IN (SELECT unnest(?::BIGINT[]))"
                " GROUP BY k"
            )
    tbl = _run(con, src, " UNION ALL ".join(branches), params, arrow=True)
    cols = {name: tbl.column(name).to_numpy() for name in ("c", "k", "n", "omin", "omax")}
    out = {}
    for i, p in enumerate(plans):
        sel = cols["c"] == i
        order = np.argsort(cols["k"][sel], kind="stable")
        out[p.name] = tuple(cols[x][sel][order].astype(np.int64) for x in ("k", "n", "omin", "omax"))
    return out


def fetch(
    con: Any, src: Source, requests: dict[ColumnPlan, list[tuple[int, list[int]]]]
) -> dict[str, np.ndarray]:
    """Sorted finite values of the requested bins: ``requests[plan] = [(shift, keys), ...]``."""
    requests = {p: r for p, r in requests.items() if r}
    if not requests:
        return {}
    branches, params = [], []
    plans = list(requests)
    for i, p in enumerate(plans):
        for shift, keys in requests[p]:
            params += [int(shift), [int(k) for k in keys]]
            branches.append(
                f"SELECT {i} AS c, f FROM {_ordered(p, src)}"
                " WHERE (o >> ?) IN (SELECT unnest(?::BIGINT[]))"
            )
    tbl = _run(con, src, " UNION ALL ".join(branches), params, arrow=True)
    c = tbl.column("c").to_numpy()
    f = tbl.column("f").to_numpy()
    return {p.name: np.sort(f[c == i]) for i, p in enumerate(plans)}
