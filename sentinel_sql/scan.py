"""The SQL the engine runs over a source. Every function here is one scan (or one narrow scan).

- ``summarize``: one wide pass over all columns: row and null counts, moments, category counts;
- ``histograms``: exact bin counts of every numeric column on data-independent bins
  (``sentinel_ord(x) >> shift``, see ``sql/engine_macros.sql``), optionally restricted to
  ranges of bins — the refinement step of the exact narrow pass;
- ``fetch``: the values of a few bins, for the exact KS statistic and exact quantiles;
- ``grid_pass`` / ``narrow_grid``: the same on the raw comparison's bins, grids of a
  monotone transform of the values (``grid_key``): plain arithmetic, no bit cast (the bit
  cast costs ~12 ns a value in DuckDB, as much as a whole grouped pass).
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._compat import query_arrow
from .errors import InputError
from .sources import Source

BASE_SHIFT = 40  # 24-bit keys: bins 2^-12 of a binade wide (few KS candidates)


_FLIP = np.int64(0x7FFFFFFFFFFFFFFF)  # the magnitude bits of a negative double, flipped


def ord_of(x: np.ndarray) -> np.ndarray:
    """Order codes of float64 values (the numpy twin of the ``sentinel_ord`` macro)."""
    b = (np.asarray(x, dtype=np.float64) + 0.0).view(np.int64)
    return np.where(b >= 0, b, b ^ _FLIP)


def values_of(o: np.ndarray) -> np.ndarray:
    """The float64 values of order codes (the inverse of ``ord_of``)."""
    o = np.asarray(o, dtype=np.int64)
    return np.where(o >= 0, o, o ^ _FLIP).view(np.float64)


@dataclass(frozen=True)
class ColumnPlan:
    """A column to measure: its name, DuckDB type, kind and the SQL value expression."""

    name: str
    dtype: str
    kind: str
    expr: str


def finite_sql(expr: str) -> str:
    """``sentinel_finite(expr)`` inlined (see ``sql/engine_macros.sql``): the queries here are
    also generated for Spark (``dialect.py``), which has no macros."""
    return f"CASE WHEN isfinite(CAST({expr} AS DOUBLE)) THEN CAST({expr} AS DOUBLE) + 0.0 END"


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
            inner.append(f"{finite_sql(p.expr)} AS f{i}")
            aggs += [
                f"count(v{i})",
                f"count(f{i})",
                f"min(f{i})",
                f"max(f{i})",
                f"sum(f{i})",
                f"sum(f{i} * f{i})",
            ]
            for e in edges.get(p.name, []):
                aggs.append(f"sum(CAST(f{i} <= ? AS INTEGER))")  # cheaper than FILTER
                params.append(float(e))
        else:
            aggs.append(f"count(v{i})")  # categories: categories() (histogram() here is slow)
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
    cats = categories(con, src, [p for p in plans if p.kind != "numeric"], group)
    out = {r[0] if group else None: _summary_row(r[1:] if group else r, plans, edges) for r in rows}
    for g, summary in out.items():
        for name, counts in cats.get(g, {}).items():
            summary["columns"][name]["categories"] = counts
    return out if group else out[None]


def categories(
    con: Any, src: Source, plans: list[ColumnPlan], group: Grouping | None
) -> dict[Any, dict[str, dict[str, int]]]:
    """Category counts per column (one GROUP BY branch per column): ``{g: {name: counts}}``."""
    return categories_of(con, [(src, plans)], group)[0]


def categories_of(
    con: Any, sides: list[tuple[Source, list[ColumnPlan]]], group: Grouping | None = None
) -> list[dict[Any, dict[str, dict[str, int]]]]:
    """``categories`` of several sides ``(source, plans)`` in one query."""
    branches, params, what = [], [], []
    for s, (src, plans) in enumerate(sides):
        for p in plans:
            cols = sorted({p.name, *(group.columns if group else ())})
            g = f"({group.sql})" if group else "NULL"
            branches.append(
                f"SELECT {len(what)} AS c, g, v, count(*) AS n FROM (SELECT {g} AS g,"
                f" {p.expr} AS v FROM {src.from_clause(cols)}) WHERE v IS NOT NULL GROUP BY g, v"
            )
            params += list(group.params) if group else []
            what.append((s, p.name))
    out: list[dict[Any, dict[str, dict[str, int]]]] = [{} for _ in sides]
    if not branches:
        return out
    rows = _run_sides(con, [src for src, _ in sides], " UNION ALL ".join(branches), params, False)
    if rows is None:  # one side failed: each side alone, so that the error names its source
        return [categories_of(con, [side], group)[0] for side in sides]
    for c, g, v, n in rows:
        s, name = what[c]
        out[s].setdefault(g, {}).setdefault(name, {})[str(v)] = int(n)
    return out


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
                "le": [int(x or 0) for x in row[i : i + k]],
            }
            i += k
        else:
            out["columns"][p.name] = {"non_null": int(row[i]), "categories": {}}
            i += 1
    return out


def _ordered(plan: ColumnPlan, src: Source, group: Grouping | None = None) -> str:
    """A subquery with the finite value ``f`` and its order code ``o`` computed once per row
    (and the group value ``g``)."""
    g = f", ({group.sql}) AS g" if group else ", NULL AS g"
    cols = sorted({plan.name, *(group.columns if group else ())})
    return (
        "(SELECT g, f, CASE WHEN b >= 0 THEN b ELSE xor(b, 9223372036854775807) END AS o"
        " FROM (SELECT g, f, CAST(CAST(f AS BIT) AS BIGINT) AS b"
        f" FROM (SELECT {finite_sql(plan.expr)} AS f{g} FROM {src.from_clause(cols)})"
        " WHERE f IS NOT NULL))"
    )


def histograms(
    con: Any,
    src: Source,
    plans: list[ColumnPlan],
    shift: int = BASE_SHIFT,
    group: Grouping | None = None,
) -> Any:
    """Exact counts per bin ``sentinel_ord(x) >> shift`` of every numeric column (one branch
    per column, each reading only its column).

    Returns ``{column name: (keys, counts)}`` sorted by key; with ``group``
    ``{group value: {column name: (keys, counts)}}``.
    """
    if not plans:
        return {}
    branches, params = [], []
    for i, p in enumerate(plans):
        params += [int(shift), *(group.params if group else ())]
        branches.append(
            f"SELECT {i} AS c, g, o >> ? AS k, count(*) AS n"
            f" FROM {_ordered(p, src, group)} GROUP BY g, k"
        )
    tbl = _run(con, src, " UNION ALL ".join(branches), params, arrow=True)
    if group is not None:
        return _split_groups(tbl, plans)
    c, k, n = (_np(tbl.column(x)) for x in ("c", "k", "n"))
    order = np.lexsort((k, c))
    c, k, n = c[order], k[order].astype(np.int64), n[order].astype(np.int64)
    cuts = np.searchsorted(c, np.arange(len(plans) + 1))
    return {
        p.name: (k[cuts[i] : cuts[i + 1]], n[cuts[i] : cuts[i + 1]]) for i, p in enumerate(plans)
    }


_NP_TYPES = {
    "int8": np.int8,
    "int16": np.int16,
    "int32": np.int32,
    "int64": np.int64,
    "uint8": np.uint8,
    "double": np.float64,
    "float": np.float32,
}


def _np(col: Any) -> np.ndarray:
    """A null-free Arrow column as numpy, read from its buffer: pyarrow's ``to_numpy`` imports
    pandas (0.4 s) when pandas is installed."""
    if hasattr(col, "combine_chunks"):
        col = col.combine_chunks()
    if str(col.type) == "bool":
        col = col.cast("int8")
    dtype = np.dtype(_NP_TYPES[str(col.type)])
    if col.null_count or len(col) == 0:
        return np.array(col.to_pylist(), dtype=dtype)
    return np.frombuffer(
        col.buffers()[1], dtype=dtype, count=len(col), offset=col.offset * dtype.itemsize
    )


def _np_nullable(col: Any) -> tuple[np.ndarray, np.ndarray]:
    """A float64 Arrow column as numpy ``(values with nulls set to 0, null mask)``, read
    from its buffers (``fill_null`` loads pyarrow.compute, ~0.3 s)."""
    if hasattr(col, "combine_chunks"):
        col = col.combine_chunks()
    n, off = len(col), col.offset
    validity, data = col.buffers()[:2]
    values = np.frombuffer(data, dtype=np.float64, count=n, offset=off * 8).copy()
    if validity is None or col.null_count == 0:
        return values, np.zeros(n, dtype=bool)
    bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
    null = bits[off : off + n] == 0
    values[null] = 0.0
    return values, null


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


def narrow(
    con: Any,
    src: Source,
    fetches: dict[ColumnPlan, list[tuple[int, list[int]]]],
    refines: dict[ColumnPlan, tuple[int, list[int], int]],
) -> tuple[dict[str, np.ndarray], dict[str, tuple[np.ndarray, ...]]]:
    """One narrow pass: the values of small bins, and finer counts inside large bins.

    ``fetches[plan] = [(shift, keys), ...]`` asks for the sorted values of those bins;
    ``refines[plan] = (new_shift, parent_keys, parent_shift)`` asks for counts per bin at
    ``new_shift`` inside the parent bins, with each sub-bin's smallest and largest order code
    (single-valued bins are recognised). One query per round; fetched values come back
    grouped (value, count), so ties cost nothing.
    """
    plans = [p for p in dict.fromkeys([*fetches, *refines]) if fetches.get(p) or p in refines]
    if not plans:
        return {}, {}
    branches, params = [], []
    member = "(o >> ?) IN (SELECT unnest(CAST(? AS BIGINT[])))"  # planned as a semi-join
    for i, p in enumerate(plans):
        for shift, keys in fetches.get(p, []):
            branches.append(
                f"SELECT {i} AS c, NULL::BIGINT AS k, f AS v, count(*) AS n, min(o) AS omin,"
                f" max(o) AS omax FROM {_ordered(p, src)} WHERE {member} GROUP BY f"
            )
            params += [int(shift), [int(k) for k in keys]]
        if p in refines:
            new_shift, parents, parent_shift = refines[p]
            branches.append(
                f"SELECT {i} AS c, o >> ? AS k, NULL::DOUBLE AS v, count(*) AS n,"
                f" min(o) AS omin, max(o) AS omax FROM {_ordered(p, src)} WHERE {member}"
                " GROUP BY 2"
            )
            params += [int(new_shift), int(parent_shift), [int(k) for k in parents]]
    tbl = _run(con, src, " UNION ALL ".join(branches), params, arrow=True)
    cols = {n: tbl.column(n).combine_chunks() for n in ("c", "k", "v", "n", "omin", "omax")}
    c = _np(cols["c"])
    is_ref = _np(cols["k"].is_valid()).astype(bool)
    n = _np(cols["n"])
    fetched: dict[str, np.ndarray] = {}
    refined: dict[str, tuple[np.ndarray, ...]] = {}
    k = _np(cols["k"].fill_null(0))
    v = _np(cols["v"].fill_null(0.0))
    omin, omax = _np(cols["omin"]), _np(cols["omax"])
    for i, p in enumerate(plans):
        mine = c == i
        if fetches.get(p):
            sel = mine & ~is_ref
            order = np.argsort(v[sel], kind="stable")
            fetched[p.name] = np.repeat(v[sel][order], n[sel][order])
        if p in refines:
            sel = mine & is_ref
            order = np.argsort(k[sel], kind="stable")
            refined[p.name] = tuple(x[sel][order].astype(np.int64) for x in (k, n, omin, omax))
    return fetched, refined


# ---------------------------------------------------------------- grids (raw compare)
#
# The raw comparison bins values on a grid of ``y = 1 - c / (|x - m| + c)`` in [0, 1] (m and
# c per column, from a sample of the reference): key ``sign(x - m) * trunc(y * 2^q)``. Each
# step (a subtraction, |.|, an addition, a division, a subtraction, a product by a power of
# two) is correctly rounded and monotone, so the key never decreases as x grows: bins are
# intervals, the grid at q' > q nests inside the grid at q, and a later narrow pass computes
# the same key for the same row (numpy is never asked to). y spreads the values around m
# evenly and squeezes the tails (a heavy tail fills a few bins, not millions), which keeps the
# first pass at ~10^5 groups a column with few rows in the bins a KS maximum can lie in.
# y is a multiple of 2^-53, so grids stop at q = 53; a bin there still holding several values
# (values closer than y can tell apart) is fetched whatever its size. ``+ x * 0.0`` makes the
# key of +-inf and NaN NaN (one group); NULL stays NULL: the first pass counts nulls and
# non-finite values in the same GROUP BY.

FIRST_GRID = 14  # the first pass's q: ~2^15 bins at most a column
LAST_GRID = 53  # y has 53 bits: no finer grid separates more values


def grid_key(value: str = "f") -> str:
    """The SQL key of ``value`` on the grid given by the next five parameters
    (``grid_params``)."""
    return (
        f"sign({value} - ?) * trunc((1.0::DOUBLE - ? / (abs({value} - ?) + ?)) * ?)"
        f" + {value} * 0.0::DOUBLE"
    )


def grid_params(grid: tuple[float, float], q: int) -> list[float]:
    m, c = grid
    return [m, c, m, c, 2.0 ** int(q)]


def grids(con: Any, src: Source, plans: list[ColumnPlan]) -> dict[str, tuple[float, float]]:
    """Each numeric column's grid centre and scale ``(m, c)``: the median and half the
    interquartile range of a ~1% sample (any positive c is exact; a good one means fewer
    rounds)."""
    if not plans:
        return {}
    aggs = []
    for i, _p in enumerate(plans):
        aggs += [f"quantile_cont(f{i}, [0.25, 0.5, 0.75])", f"min(f{i})", f"max(f{i})"]
    inner = ", ".join(f"{finite_sql(p.expr)} AS f{i}" for i, p in enumerate(plans))
    cols = sorted({p.name for p in plans})
    row = None
    for sample in ("{} USING SAMPLE 1% (system)", "(SELECT * FROM {} LIMIT 100000)"):
        sample = sample.format(src.from_clause(cols))  # a LazyFrame stream is read once
        row = _run(con, src, f"SELECT {', '.join(aggs)} FROM (SELECT {inner} FROM {sample})")
        row = row.fetchall()[0]
        if all(v is not None for v in row[1::3]):
            break
    return {p.name: _grid_for(*row[3 * i : 3 * i + 3]) for i, p in enumerate(plans)}


def _grid_for(qs: list | None, lo: float | None, hi: float | None) -> tuple[float, float]:
    if not qs or lo is None or hi is None:
        return 0.0, 1.0
    return grid_from(qs[1], qs[0], qs[2], lo, hi)


def grid_from(mid: float, a: float, b: float, lo: float, hi: float) -> tuple[float, float]:
    """The grid ``(m, c)`` centred on ``mid``, scaled by half the spread ``[a, b]`` (else of
    ``[lo, hi]``, else 1): c must be positive and finite, any such c is exact."""
    if not math.isfinite(mid):  # an interpolated quantile can overflow
        mid = lo / 2 + hi / 2
    for x, y in ((a, b), (lo, hi)):
        half = y / 2 - x / 2  # never overflows
        if 1e-300 <= half < float("inf"):
            return float(mid), float(half)
    return float(mid), max(1.0, abs(float(mid)))


def grid_pass(
    con: Any,
    sides: list[tuple[Source, list[ColumnPlan]]],
    grid: dict[str, tuple[float, float]],
    q: int,
    edges: dict[str, list[float]] | None = None,
) -> list[tuple[int, dict[str, dict[str, Any]]]]:
    """Per side ``(source, numeric plans)``: rows, and per numeric column its groups on its
    grid at ``q``: ``{name: {"keys", "n", "lo", "hi" (order codes of each group's extremes),
    "nulls", "non_finite", "min", "max", "sum", "le"}}``. One branch per column, one query
    for all sides (DuckDB schedules the branches of both files of a comparison better
    together: ~12% less than two queries). No sum of squares: nothing in a comparison reads
    it, and each aggregate costs ~10% of this pass.

    ``edges[name]`` (finite points, e.g. a saved profile's PSI edges): ``"le"`` holds the
    exact ``#(finite x <= e)`` at each, counted by one more branch per column (``count_if``
    over the column costs a third of a narrow pass that would fetch the bins around them)."""
    edges = edges or {}
    branches: list[str] = []
    params: list = []
    for s, (src, plans) in enumerate(sides):
        # every column's groups (its NULL and NaN groups too) add up to the row count; a
        # count only without numeric columns (no second scan of a LazyFrame stream)
        if not plans:
            branches.append(
                f"SELECT {s} AS s, -1 AS c, NULL::DOUBLE AS k, count(*) AS n,"
                " NULL::DOUBLE AS s1, NULL::DOUBLE AS lo, NULL::DOUBLE AS hi,"
                f" NULL::BIGINT[] AS le FROM {src.from_clause(None)}"
            )
        for i, p in enumerate(plans):
            # a fresh scan per branch (LazyFrame streams)
            base = f"(SELECT CAST({p.expr} AS DOUBLE) AS f FROM {src.from_clause([p.name])})"
            branches.append(
                f"SELECT {s} AS s, {i} AS c, k, count(*) AS n, sum(f) AS s1, min(f) AS lo,"
                f" max(f) AS hi, NULL::BIGINT[] AS le"
                f" FROM (SELECT f, {grid_key()} AS k FROM {base}) GROUP BY k"
            )
            params += grid_params(grid[p.name], q)
            if edges.get(p.name):
                # -inf is <= every edge: counted first, to be taken off
                counts = ", ".join(
                    ["count_if(f = '-inf'::DOUBLE)"] + ["count_if(f <= ?)"] * len(edges[p.name])
                )
                branches.append(
                    f"SELECT {s} AS s, {i} AS c, NULL::DOUBLE AS k, 0 AS n, NULL::DOUBLE AS s1,"
                    f" NULL::DOUBLE AS lo, NULL::DOUBLE AS hi, [{counts}] AS le FROM {base}"
                )
                params += [float(e) for e in edges[p.name]]
    tbl = _run_sides(con, [src for src, _ in sides], " UNION ALL ".join(branches), params)
    if tbl is None:  # one side failed: each side alone, so that the error names its source
        return [grid_pass(con, [side], grid, q, edges)[0] for side in sides]
    side = _np(tbl.column("s"))
    c = _np(tbl.column("c"))
    k, null_key = _np_nullable(tbl.column("k"))
    k = k + 0.0  # -0.0 and 0.0 are one group
    n = _np(tbl.column("n"))
    rest = {x: _np_nullable(tbl.column(x))[0] for x in ("s1", "lo", "hi")}
    le_col = tbl.column("le").to_pylist()
    is_le = np.array([x is not None for x in le_col], dtype=bool)
    result = []
    for s, (_, plans) in enumerate(sides):
        on = side == s
        rows = int(n[on & (c == (0 if plans else -1))].sum())
        out: dict[str, dict[str, Any]] = {}
        for i, p in enumerate(plans):
            mine = on & (c == i)
            groups = mine & ~is_le
            nan_key = groups & ~null_key & np.isnan(k)
            fin = groups & ~null_key & ~np.isnan(k)
            order = np.argsort(k[fin], kind="stable")
            lo, hi = rest["lo"][fin][order], rest["hi"][fin][order]
            le = [le_col[j] for j in np.flatnonzero(mine & is_le)]
            out[p.name] = {
                "keys": k[fin][order],
                "n": n[fin][order].astype(np.int64),
                "lo": ord_of(lo),
                "hi": ord_of(hi),
                "nulls": int(n[groups & null_key].sum()),
                "non_finite": int(n[nan_key].sum()),
                "min": float(lo.min()) if len(lo) else None,
                "max": float(hi.max()) if len(hi) else None,
                "sum": _fsum(rest["s1"][fin]),
                "le": [int(x) - int(le[0][0]) for x in le[0][1:]] if le else None,
            }
        result.append((rows, out))
    return result


def _run_sides(
    con: Any, srcs: list[Source], sql: str, params: list, arrow: bool = True
) -> Any | None:
    """One query over one or more sources, as an Arrow table (``arrow``) or a list of rows.
    With several sources, ``None`` if it fails: the caller then runs each source alone, so
    that the error names its source."""
    if len(srcs) == 1:
        out = _run(con, srcs[0], sql, params, arrow=arrow)
        return out if arrow else out.fetchall()
    t0 = time.perf_counter()
    try:
        out = query_arrow(con, sql, params) if arrow else con.execute(sql, params).fetchall()
    except Exception:
        return None
    _debug(t0, sql, params)
    return out


def _fsum(x: np.ndarray) -> float:
    try:
        return math.fsum(x.tolist()) if len(x) else 0.0
    except (OverflowError, ValueError):  # beyond the double range (or inf - inf): plain sum
        with np.errstate(over="ignore", invalid="ignore"):
            return float(np.sum(x))


def narrow_grid(
    con: Any,
    srcs: list[Source],
    grid: dict[str, tuple[float, float]],
    fetches: dict[ColumnPlan, list[tuple[int, list[float]]]],
    refines: dict[ColumnPlan, list[tuple[int, int, list[float]]]],
) -> list[tuple[dict[str, np.ndarray], dict[str, list[tuple]]]]:
    """One narrow pass over every source (one query) on the columns' grids
    (``grid[name]``): ``fetches[plan] = [(q, keys)]`` asks for the sorted values of those
    bins; ``refines[plan] = [(new_q, q, keys)]`` for the groups at ``new_q`` inside those
    bins (count and extremes). Returns, per source, ``fetched[name]`` (sorted values) and
    ``refined[name] = [(new_q, keys, n, lo, hi), ...]`` (lo/hi as order codes), one entry
    per refine request."""
    plans = [p for p in dict.fromkeys([*fetches, *refines]) if fetches.get(p) or refines.get(p)]
    if not plans:
        return [({}, {}) for _ in srcs]
    branches, params, what = [], [], []
    member = f"{grid_key()} IN (SELECT unnest(CAST(? AS DOUBLE[])))"
    for s, src in enumerate(srcs):
        for p in plans:
            # a fresh scan per branch (LazyFrame streams)
            base = f"(SELECT CAST({p.expr} AS DOUBLE) AS f FROM {src.from_clause([p.name])})"
            g = grid[p.name]
            for q, keys in fetches.get(p, []):
                branches.append(
                    f"SELECT {len(what)} AS b, NULL::DOUBLE AS k, f AS v, count(*) AS n,"
                    f" NULL::DOUBLE AS lo, NULL::DOUBLE AS hi FROM {base} WHERE {member}"
                    " GROUP BY f"
                )
                params += [*grid_params(g, q), [float(x) for x in keys]]
                what.append((s, p, "fetch", q))
            for new_q, q, keys in refines.get(p, []):
                branches.append(
                    f"SELECT {len(what)} AS b, {grid_key()} AS k, NULL::DOUBLE AS v,"
                    f" count(*) AS n, min(f) AS lo, max(f) AS hi FROM {base} WHERE {member}"
                    " GROUP BY 2"
                )
                params += [*grid_params(g, new_q), *grid_params(g, q), [float(x) for x in keys]]
                what.append((s, p, "refine", new_q))
    tbl = _run_sides(con, srcs, " UNION ALL ".join(branches), params)
    if tbl is None:  # one source failed: each alone, so that the error names it
        return [narrow_grid(con, [src], grid, fetches, refines)[0] for src in srcs]
    b = _np(tbl.column("b"))
    cols = {x: _np_nullable(tbl.column(x))[0] for x in ("k", "v", "lo", "hi")}
    n = _np(tbl.column("n")).astype(np.int64)
    fetched: list[dict[str, list[np.ndarray]]] = [{} for _ in srcs]
    refined: list[dict[str, list[tuple]]] = [{} for _ in srcs]
    for j, (s, p, kind, q) in enumerate(what):
        sel = b == j
        if kind == "fetch":
            fetched[s].setdefault(p.name, []).append(np.repeat(cols["v"][sel], n[sel]))
        else:
            k = cols["k"][sel] + 0.0
            order = np.argsort(k, kind="stable")
            refined[s].setdefault(p.name, []).append(
                (
                    q,
                    k[order],
                    n[sel][order],
                    ord_of(cols["lo"][sel][order]),
                    ord_of(cols["hi"][sel][order]),
                )
            )
    return [
        ({k: np.sort(np.concatenate(v)) for k, v in f.items()}, r)
        for f, r in zip(fetched, refined, strict=True)
    ]
