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
        out = con.execute(sql, params or [])
        _debug(t0, sql, params)
        return out
    except Exception as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{src.label}: {msg}") from None


def _debug(t0: float, sql: str, params: list | None) -> None:
    if os.environ.get("SENTINEL_DEBUG"):
        print(
            f"[sql {time.perf_counter() - t0:.3f}s, {len(params or [])} params] {sql[:150]}",
            file=sys.stderr,
        )


@dataclass(frozen=True)
class Grouping:
    """Split one scan into groups (monitoring windows): ``sql`` over the source's columns."""

    sql: str
    params: tuple = ()
    columns: tuple[str, ...] = ()


def summarize(
    con: Any,
    src: Source,
    plans: list[ColumnPlan],
    edges: dict[str, list[float]] | None = None,
    group: Grouping | None = None,
) -> Any:
    """Row count, and per column: non-null count, finite count and moments or category counts.

    With ``edges``, also the counts ``#(x <= e)`` at each edge of a numeric column (the PSI
    bins of a reference). With ``group``, one summary per group value in the same scan:
    ``{group_value: summary}``. Value expressions are computed once per row.
    """
    edges = edges or {}
    inner, aggs, params = [], ["count(*)"], []
    for i, p in enumerate(plans):
        inner.append(f"{p.expr} AS v{i}")
        if p.kind == "numeric":
            inner.append(f"sentinel_finite({p.expr}) AS f{i}")
            aggs += [
                f"count(v{i})",
                f"count(f{i})",
                f"min(f{i})",
                f"max(f{i})",
                f"sum(f{i})",
                f"sum(f{i} * f{i})",
            ]
            for e in edges.get(p.name, []):
                aggs.append(f"count(*) FILTER (WHERE f{i} <= ?)")
                params.append(float(e))
        else:
            aggs += [f"count(v{i})", f"histogram(v{i})"]
    cols = sorted({p.name for p in plans} | set(group.columns if group else ()))
    if group:
        inner.append(f"({group.sql}) AS g")
        aggs.insert(0, "g")
    inner_sql = ", ".join(inner) if inner else "1 AS one"
    sql = f"SELECT {', '.join(aggs)} FROM (SELECT {inner_sql} FROM {src.from_clause(cols or None)})"
    if group:
        sql += " GROUP BY g ORDER BY g"
        params = params + list(group.params)  # outer aggregates come first in the text
    rows = _run(con, src, sql, params).fetchall()
    if not group:
        return _summary_row(rows[0], plans, edges)
    return {r[0]: _summary_row(r[1:], plans, edges) for r in rows}


def _summary_row(row: tuple, plans: list[ColumnPlan], edges: dict[str, list[float]]) -> dict:
    out: dict[str, Any] = {"rows": int(row[0]), "columns": {}}
    i = 1
    for p in plans:
        if p.kind == "numeric":
            nn, fin, mn, mx, s, s2 = row[i : i + 6]
            i += 6
            k = len(edges.get(p.name, []))
            out["columns"][p.name] = {
                "non_null": int(nn),
                "finite": int(fin),
                "min": mn,
                "max": mx,
                "sum": float(s or 0.0),
                "sum_sq": float(s2 or 0.0),
                "le": [int(x) for x in row[i : i + k]],
            }
            i += k
        else:
            nn, hist = row[i : i + 2]
            i += 2
            out["columns"][p.name] = {"non_null": int(nn), "categories": dict(hist or {})}
    return out


def _ordered(plan: ColumnPlan, src: Source, group: Grouping | None = None) -> str:
    """A subquery with the finite value ``f`` and its order code ``o`` computed once per row
    (and the group value ``g``)."""
    g = f", ({group.sql}) AS g" if group else ", NULL AS g"
    cols = sorted({plan.name, *(group.columns if group else ())})
    return (
        "(SELECT g, f, CASE WHEN b >= 0 THEN b ELSE xor(b, 9223372036854775807) END AS o"
        " FROM (SELECT g, f, CAST(CAST(f AS BIT) AS BIGINT) AS b"
        f" FROM (SELECT sentinel_finite({plan.expr}) AS f{g} FROM {src.from_clause(cols)})"
        " WHERE f IS NOT NULL))"
    )


def histograms(
    con: Any,
    src: Source,
    requests: dict[ColumnPlan, tuple[int, list[int] | None, int]],
    group: Grouping | None = None,
) -> Any:
    """Exact counts per bin ``sentinel_ord(x) >> shift`` for each requested numeric column.

    ``requests[plan] = (shift, parent_keys, parent_shift)``: with ``parent_keys`` the count is
    limited to the values in those bins at ``parent_shift`` (a refinement), and the smallest and
    largest order code per bin are returned too, so that single-valued bins are recognised.
    Returns ``(keys, counts, omin, omax)`` sorted by key, per column name; with ``group``
    (base histograms only) ``{group_value: {column name: (keys, counts)}}``.
    """
    if not requests:
        return {}
    branches, params = [], []
    plans = list(requests)
    for i, p in enumerate(plans):
        shift, parents, parent_shift = requests[p]
        if parents is None:
            params += [int(shift), *(group.params if group else ())]
            branches.append(
                f"SELECT {i} AS c, g, o >> ? AS k, count(*) AS n, 0::BIGINT AS omin,"
                f" 0::BIGINT AS omax FROM {_ordered(p, src, group)} GROUP BY g, k"
            )
        else:
            params += [int(shift), int(parent_shift), [int(k) for k in parents]]
            branches.append(
                f"SELECT {i} AS c, g, o >> ? AS k, count(*) AS n, min(o) AS omin, max(o) AS omax"
                f" FROM {_ordered(p, src)} WHERE (o >> ?) IN (SELECT unnest(?::BIGINT[]))"
                " GROUP BY g, k"
            )
    tbl = _run(con, src, " UNION ALL ".join(branches), params, arrow=True)
    if group is not None:
        return _split_groups(tbl, plans)
    cols = {name: tbl.column(name).to_numpy() for name in ("c", "k", "n", "omin", "omax")}
    out = {}
    for i, p in enumerate(plans):
        sel = cols["c"] == i
        order = np.argsort(cols["k"][sel], kind="stable")
        out[p.name] = tuple(
            cols[x][sel][order].astype(np.int64) for x in ("k", "n", "omin", "omax")
        )
    return out


def _split_groups(tbl: Any, plans: list[ColumnPlan]) -> dict:
    import polars as pl

    df = pl.from_arrow(tbl).sort("g", "c", "k")
    out: dict = {}
    for (g,), part in df.group_by("g", maintain_order=True):
        per = {}
        for i, p in enumerate(plans):
            sel = part.filter(pl.col("c") == i)
            per[p.name] = (
                sel["k"].to_numpy().astype(np.int64),
                sel["n"].to_numpy().astype(np.int64),
            )
        out[g] = per
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
