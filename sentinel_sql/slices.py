"""Where is the model failing? Exact SliceLine slice discovery in DuckDB SQL.

``find_slices`` returns the top-k slices — conjunctions of ``feature = value`` predicates on
distinct features, numeric features binned first — by the SliceLine score (DESIGN.md):

    sc = α·((se/|S|)/ē − 1) − (1 − α)·(n/|S| − 1)

with ``n`` the number of rows with a known error, ``ē`` their mean error, ``|S|`` the slice
size and ``se`` its error sum. The answer is exactly what brute-force enumeration of every
slice with ``1..max_level`` predicates, ``size >= min_support`` and ``score > 0`` returns,
ordered by:

1. score, descending;
2. size, descending;
3. the predicate list, compared element by element as ``(feature position, value rank)``
   where the feature position is its index in ``features`` (default: the column order) and
   the value rank is the value's place in DuckDB's ascending order of the column (for binned
   features: the bin order), NULL last; a list that is a prefix of another comes first.

When every error is 0 no slice has a positive score and the answer is empty.
How rows, errors, the task and the binning are decided: see ``slices_prep``; how the search
prunes without changing the answer: see ``slices_search``. ``explain_drop`` (root cause of a
drop in performance between two datasets) lives in ``slices_drop``.

``engine="spark"`` (chosen by itself for a Spark DataFrame) scans the data on Apache Spark:
the same queries, generated as Spark SQL, bring back only small tables (counts, quantile
probes, level-1 slices, the encoded rows grouped by their codes), and the search finishes in
a local DuckDB connection (``slices_search``, "Engines"). The answer is the same as DuckDB's.

>>> import polars as pl
>>> df = pl.DataFrame({"country": ["fr", "fr", "de", "de"] * 25,
...                    "device": ["ios", "web", "ios", "web"] * 25,
...                    "err": [1.0, 0.0, 0.0, 0.0] * 25})
>>> res = find_slices(df, error="err", min_support=10)
>>> for s in res.slices:
...     print(s.text, s.size, round(s.score, 3))
country = 'fr' AND device = 'ios' 25 2.7
country = 'fr' 50 0.9
device = 'ios' 50 0.9
"""

from __future__ import annotations

import datetime
import decimal
import math
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from .errors import InputError
from .slices_prep import Feature, prepare, resolve_columns, show_predicate
from .slices_search import Found, Search
from .sources import open_source
from .spark import pick_engine


def _json_value(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else str(v)
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, (datetime.date, datetime.time)):
        return v.isoformat()
    if isinstance(v, (uuid.UUID, bytes)):
        return str(v)
    return str(v)


@dataclass(frozen=True)
class Slice:
    """One slice: its predicates (JSON-ready dicts, in feature order) and statistics."""

    predicates: tuple[dict, ...]
    size: int
    error_sum: float
    max_error: float
    score: float

    @property
    def average_error(self) -> float:
        return self.error_sum / self.size

    @property
    def level(self) -> int:
        return len(self.predicates)

    @property
    def text(self) -> str:
        """Readable form: ``age in (16, 22] AND education = 'HS'``."""
        return " AND ".join(show_predicate(p) for p in self.predicates)

    def to_dict(self) -> dict:
        return {
            "predicates": [dict(p) for p in self.predicates],
            "slice": self.text,
            "size": self.size,
            "error_sum": self.error_sum,
            "average_error": self.average_error,
            "max_error": self.max_error,
            "score": self.score,
        }


@dataclass(frozen=True)
class SliceResult:
    """The answer of ``find_slices``; ``to_dict()`` is the JSON contract.

    ``rows``: rows with a known error (``n``); ``excluded_rows``: the others.
    ``candidates[0]``: level-1 slices with ``size >= min_support``; ``candidates[L-1]``: level-L
    candidates whose size and error were computed (after pruning). ``bins``: the edges of each
    binned feature. ``min_support_rows``: ``min_support`` as a row count.
    """

    rows: int
    average_error: float
    slices: tuple[Slice, ...]
    candidates: tuple[int, ...]
    task: str
    excluded_rows: int
    min_support_rows: int
    bins: dict[str, list[float]]
    params: dict

    def to_dict(self) -> dict:
        return {
            "rows": self.rows,
            "average_error": self.average_error,
            "excluded_rows": self.excluded_rows,
            "task": self.task,
            "min_support_rows": self.min_support_rows,
            **self.params,
            "bins": {k: list(v) for k, v in self.bins.items()},
            "candidates": list(self.candidates),
            "slices": [s.to_dict() for s in self.slices],
        }

    def to_polars(self) -> Any:
        """One row per slice, best first, with a readable ``slice`` column."""
        import polars as pl

        return pl.DataFrame(
            {
                "rank": list(range(1, len(self.slices) + 1)),
                "slice": [s.text for s in self.slices],
                "level": [s.level for s in self.slices],
                "size": [s.size for s in self.slices],
                "error_sum": [s.error_sum for s in self.slices],
                "average_error": [s.average_error for s in self.slices],
                "max_error": [s.max_error for s in self.slices],
                "score": [s.score for s in self.slices],
            },
            schema={"rank": pl.Int64, "slice": pl.String, "level": pl.Int64, "size": pl.Int64,
                    "error_sum": pl.Float64, "average_error": pl.Float64,
                    "max_error": pl.Float64, "score": pl.Float64},
        )


def check_options(top_k: Any, max_level: Any, alpha: Any, bins: Any) -> None:
    """Raise ``InputError`` naming the first invalid search option."""
    for name, v, lo in (("top_k", top_k, 1), ("max_level", max_level, 1), ("bins", bins, 2)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise InputError(f"{name} must be an integer >= {lo}, got {v!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha <= 1:
        raise InputError(f"alpha must be a number in (0, 1], got {alpha!r}")


def to_slice(found: Found, features: list[Feature]) -> Slice:
    preds = []
    for f, key in found.preds:
        p = features[f].predicate(key)
        if "value" in p:
            p["value"] = _json_value(p["value"])
        preds.append(p)
    return Slice(tuple(preds), found.size, found.se, found.me, found.score)


def run_search(con: Any, src: Any, prep: Any, *, alpha: float, top_k: int, max_level: int) -> Any:
    """Run the SliceLine search over a prepared source; its errors name the source."""
    search = Search(con, src.from_clause, prep.valid_sql, prep.err_sql, prep.features,
                    sigma=prep.sigma, alpha=float(alpha), top_k=top_k, max_level=max_level,
                    raw=src.con)
    try:
        return search.run()
    except InputError as exc:
        raise InputError(f"{src.label}: {exc}") from None
    except Exception as exc:  # e.g. label and prediction of incomparable types
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{src.label}: {msg}") from None


@contextmanager
def engines(con: Any, engine: str | None, spark_master: str | None,
            *data: Any) -> Iterator[tuple[Any, Any]]:
    """``(duck, raw)``: the DuckDB connection the search runs on (``con``, or a new one) and
    the connection that scans the data (``duck`` itself, or a Spark connection)."""
    raw = None
    if pick_engine(engine, spark_master, *data) == "spark":
        from .spark import connect

        raw = connect(spark_master)
    own = con is None
    if own:
        import duckdb

        con = duckdb.connect()
    try:
        yield con, raw if raw is not None else con
    finally:
        if own:
            con.close()
        if raw is not None:
            raw.close()


def find_slices(
    data: Any,
    *,
    label: str | None = None,
    prediction: str | None = None,
    error: str | None = None,
    features: list[str] | None = None,
    top_k: int = 10,
    max_level: int = 3,
    min_support: int | float = 0.01,
    alpha: float = 0.95,
    bins: int = 5,
    task: str = "auto",
    con: Any = None,
    engine: str | None = None,
    spark_master: str | None = None,
) -> SliceResult:
    """Top-k slices by SliceLine score, exactly as brute-force enumeration finds them.

    ``data``: anything ``sources.open_source`` takes. Give ``error=`` (a non-negative error
    column) or ``label=`` and ``prediction=``. ``min_support``: an int is a row count, a float
    in (0, 1) a fraction of the rows. ``con``: a DuckDB connection to run on (default: a new
    in-memory one). ``engine="spark"`` (the default for a Spark DataFrame; a path is then read
    by Spark) scans the data on Spark (``spark_master``, default: the active session, else
    ``local[*]``) with the same result. Raises ``InputError`` for bad input.
    """
    check_options(top_k, max_level, alpha, bins)
    with engines(con, engine, spark_master, data) as (duck, raw):
        return _find_slices(duck, raw, data, label=label, prediction=prediction, error=error,
                            features=features, top_k=top_k, max_level=max_level,
                            min_support=min_support, alpha=alpha, bins=bins, task=task)


def _find_slices(con: Any, raw: Any, data: Any, *, label: Any, prediction: Any, error: Any,
                 features: Any, top_k: int, max_level: int, min_support: Any, alpha: float,
                 bins: int, task: str) -> SliceResult:
    src = None
    try:
        src = open_source(raw, data)
        lab, pred, err, feats = resolve_columns(src, label, prediction, error, features)
        prep = prepare(raw, src, label=lab, prediction=pred, error=err, features=feats,
                       bins=bins, task=task, min_support=min_support)
        out = run_search(con, src, prep, alpha=alpha, top_k=top_k, max_level=max_level)
        return SliceResult(
            rows=out.rows,
            average_error=out.error_sum / out.rows if out.rows else 0.0,
            slices=tuple(to_slice(s, prep.features) for s in out.slices),
            candidates=tuple(out.candidates),
            task=prep.task,
            excluded_rows=prep.rows_all - prep.rows,
            min_support_rows=prep.sigma,
            bins={f.name: list(f.edges) for f in prep.features if f.kind == "binned"},
            params={"alpha": float(alpha), "max_level": max_level, "top_k": top_k},
        )
    finally:
        if src is not None and src is not data:
            src.release()


def explain_drop(reference: Any, current: Any, **kwargs: Any) -> Any:
    """Slices that explain a drop in performance; see ``slices_drop.explain_drop``."""
    from .slices_drop import explain_drop as _explain_drop

    return _explain_drop(reference, current, **kwargs)
