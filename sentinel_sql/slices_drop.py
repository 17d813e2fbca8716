"""Root cause of a drop in performance: which slices explain the change in mean error.

``explain_drop(reference, current, ...)``:

1. Both datasets get the same row rule, error and task (decided on the reference) and the
   same bins: numeric features are binned on the *reference* quantile edges.
2. The candidate slices are the top ``top_k`` slices of the *current* data by SliceLine score
   (``find_slices`` on current, same options): where the model fails now.
3. Each is measured on both sides in one scan of the reference: share of rows
   ``w = |S|/n`` and mean error ``e = se/|S|`` before (0) and after (1).
4. The change of the overall mean error splits over any partition of the rows as
   ``Δē = ē1 − ē0 = Σ_s (w1_s·e1_s − w0_s·e0_s)``. A slice's term
   ``contribution = w1·e1 − w0·e0`` is decomposed symmetrically (Shapley, no order between
   the two effects): ``got_worse = w̄·(e1 − e0)`` with ``w̄ = (w0 + w1)/2`` and
   ``grew = ē_s·(w1 − w0)`` with ``ē_s = (e0 + e1)/2``; ``got_worse + grew == contribution``.
   A slice with no reference rows takes ``e0 = e1`` (all of its change is growth).
   Slices overlap, so contributions of different slices do not add up to ``Δē``;
   ``share_of_change = contribution / Δē`` says how much of the change lies inside the slice.
5. Slices are ranked by contribution (descending), then current score, then the
   ``find_slices`` order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import InputError
from .slices import Slice, check_options, engines, run_search, to_slice
from .slices_prep import prepare, resolve_columns
from .sources import open_source


@dataclass(frozen=True)
class DropSlice:
    """One slice measured on both sides, with the decomposition of its contribution."""

    slice: Slice  # statistics on current
    ref_size: int
    ref_error_sum: float
    ref_rows: int
    cur_rows: int

    @property
    def w0(self) -> float:
        return self.ref_size / self.ref_rows

    @property
    def w1(self) -> float:
        return self.slice.size / self.cur_rows

    @property
    def e1(self) -> float:
        return self.slice.error_sum / self.slice.size

    @property
    def e0(self) -> float:
        return self.ref_error_sum / self.ref_size if self.ref_size else self.e1

    @property
    def contribution(self) -> float:
        return self.slice.error_sum / self.cur_rows - self.ref_error_sum / self.ref_rows

    @property
    def got_worse(self) -> float:
        return (self.w0 + self.w1) / 2 * (self.e1 - self.e0)

    @property
    def grew(self) -> float:
        return (self.e0 + self.e1) / 2 * (self.w1 - self.w0)

    def to_dict(self, change: float) -> dict:
        s = self.slice
        return {
            "predicates": [dict(p) for p in s.predicates],
            "slice": s.text,
            "reference": {"size": self.ref_size, "share": self.w0,
                          "error_sum": self.ref_error_sum,
                          "average_error": self.ref_error_sum / self.ref_size
                          if self.ref_size else None},
            "current": {"size": s.size, "share": self.w1, "error_sum": s.error_sum,
                        "average_error": self.e1, "max_error": s.max_error, "score": s.score},
            "contribution": self.contribution,
            "got_worse": self.got_worse,
            "grew": self.grew,
            "share_of_change": self.contribution / change if change else None,
        }


@dataclass(frozen=True)
class DropResult:
    """The answer of ``explain_drop``; ``to_dict()`` is the JSON contract."""

    ref_rows: int
    ref_error: float
    cur_rows: int
    cur_error: float
    task: str
    slices: tuple[DropSlice, ...]
    bins: dict[str, list[float]]

    @property
    def change(self) -> float:
        return self.cur_error - self.ref_error

    def to_dict(self) -> dict:
        return {
            "reference": {"rows": self.ref_rows, "average_error": self.ref_error},
            "current": {"rows": self.cur_rows, "average_error": self.cur_error},
            "change": self.change,
            "task": self.task,
            "bins": {k: list(v) for k, v in self.bins.items()},
            "slices": [d.to_dict(self.change) for d in self.slices],
        }

    def to_polars(self) -> Any:
        import polars as pl

        rows = [d.to_dict(self.change) for d in self.slices]
        return pl.DataFrame(
            {
                "slice": [r["slice"] for r in rows],
                "ref_share": [r["reference"]["share"] for r in rows],
                "cur_share": [r["current"]["share"] for r in rows],
                "ref_error": [r["reference"]["average_error"] for r in rows],
                "cur_error": [r["current"]["average_error"] for r in rows],
                "contribution": [r["contribution"] for r in rows],
                "got_worse": [r["got_worse"] for r in rows],
                "grew": [r["grew"] for r in rows],
            },
            schema={"slice": pl.String, "ref_share": pl.Float64, "cur_share": pl.Float64,
                    "ref_error": pl.Float64, "cur_error": pl.Float64,
                    "contribution": pl.Float64, "got_worse": pl.Float64, "grew": pl.Float64},
        )


def explain_drop(
    reference: Any,
    current: Any,
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
) -> DropResult:
    """Slices of the current data ranked by how much of the change in mean error they hold.

    Same options as ``find_slices`` (``engine="spark"`` included); see the module docstring
    for the definitions.
    """
    check_options(top_k, max_level, alpha, bins)
    with engines(con, engine, spark_master, reference, current) as (duck, raw):
        return _explain_drop(duck, raw, reference, current, label=label, prediction=prediction,
                             error=error, features=features, top_k=top_k, max_level=max_level,
                             min_support=min_support, alpha=alpha, bins=bins, task=task)


def _explain_drop(con: Any, raw: Any, reference: Any, current: Any, *, label: Any,
                  prediction: Any, error: Any, features: Any, top_k: int, max_level: int,
                  min_support: Any, alpha: float, bins: int, task: str) -> DropResult:
    opened: list[Any] = []
    try:
        ref = open_source(raw, reference, label=None)
        opened.append((ref, reference))
        cur = open_source(raw, current, label=None)
        opened.append((cur, current))
        lab, pred, err, feats = resolve_columns(ref, label, prediction, error, features)
        resolve_columns(cur, lab, pred, err, feats)
        common = dict(label=lab, prediction=pred, error=err, features=feats, bins=bins,
                      min_support=min_support)
        p0 = prepare(raw, ref, task=task, **common)
        edges = {f.name: f.edges for f in p0.features if f.kind == "binned"}
        p1 = prepare(raw, cur, task=p0.task if err is None else "auto", edges_from=edges,
                     **common)
        out = run_search(con, cur, p1, alpha=alpha, top_k=top_k, max_level=max_level)
        found = [to_slice(s, p1.features) for s in out.slices]
        # one scan of the reference: totals and every slice's size and error sum
        e = p0.err_sql
        aggs, params = ["count(*)", f"sum({e})"], []
        for s in out.slices:
            conds, values = [], []
            for f, key in s.preds:
                k = p1.features[f].key_sql()
                if key is None:
                    conds.append(f"{k} IS NULL")
                else:
                    conds.append(f"{k} = ?")
                    values.append(key)
            cond = " AND ".join(conds)
            params += values + values  # the condition appears in two aggregates
            aggs += [f"count(*) FILTER (WHERE {cond})", f"sum({e}) FILTER (WHERE {cond})"]
        sql = f"SELECT {', '.join(aggs)} FROM {ref.from_clause()} WHERE {p0.valid_sql}"
        try:
            row = raw.execute(sql, params).fetchall()[0]
        except Exception as exc:
            raise InputError(f"{ref.label}: {str(exc).strip().splitlines()[0]}") from None
        n0, se0 = int(row[0]), float(row[1] or 0.0)
        drops = [
            DropSlice(s, int(row[2 + 2 * i]), float(row[3 + 2 * i] or 0.0), n0, out.rows)
            for i, s in enumerate(found)
        ]
        order = sorted(range(len(drops)),
                       key=lambda i: (-drops[i].contribution, -drops[i].slice.score, i))
        return DropResult(n0, se0 / n0, out.rows, out.error_sum / out.rows, p1.task,
                          tuple(drops[i] for i in order), edges)
    finally:
        for src, data in opened:
            if src is not data:
                src.release()
