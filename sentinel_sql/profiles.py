"""Profiles: the small, mergeable summary of one dataset that every statistic is computed from.

A profile holds, per column: row, null and finite counts, moments, exact counts on the
data-independent bins of ``sql/engine_macros.sql`` (numeric), the reference deciles and the
counts between them (PSI bins), or category counts (categorical). Its size does not depend
on the row count. Counts add, so profiles of partitions merge into the profile of the whole
(the decile edges of a merged profile are re-derived only by a new scan).

File format (``*.profile.json``): ``{"format": "sentinel-profile", "version": 1, "source":
str, "rows": int, "columns": [{"name", "dtype", "kind", "non_null", ...}]}``.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from . import exact, scan
from .errors import InputError
from .scan import BASE_SHIFT, ColumnPlan

FORMAT = "sentinel-profile"
VERSION = 1
SAVED_SHIFT = 44  # saved profiles keep bins 2^-8 of a binade wide: small files


@dataclass
class ColumnProfile:
    name: str
    dtype: str
    kind: str
    non_null: int
    finite: int = 0
    min: float | None = None
    max: float | None = None
    sum: float = 0.0
    sum_sq: float = 0.0
    shift: int = BASE_SHIFT
    keys: list[int] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    edges: list[float] | None = None  # distinct reference deciles (PSI bin edges)
    edge_counts: list[int] | None = None  # counts in (-inf, e1], (e1, e2], ..., (ek, inf)
    categories: dict[str, int] | None = None

    def coarsened(self, shift: int) -> ColumnProfile:
        """The same column on coarser bins (``shift`` >= this one's): counts add up."""
        if self.kind != "numeric" or shift <= self.shift:
            return self
        keys, counts = coarsen(self.keys, self.counts, shift - self.shift)
        return replace(self, shift=shift, keys=keys, counts=counts)

    def bins(self) -> exact.Bins:
        return exact.Bins.from_keys(
            self.shift, [(np.asarray(self.keys, np.int64), np.asarray(self.counts, np.int64))]
        )


@dataclass
class Profile:
    source: str
    rows: int
    columns: dict[str, ColumnProfile]

    @property
    def bin_shift(self) -> int:
        """The coarsest bins of its columns: comparisons with it happen on these, so data
        compared with it can be binned on them directly (fewer groups)."""
        return max([BASE_SHIFT, *(c.shift for c in self.columns.values())])

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "source": self.source,
            "rows": self.rows,
            "columns": [asdict(c) for c in self.columns.values()],
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write the profile as JSON, atomically (a temp file renamed into place), on bins of
        ``SAVED_SHIFT`` so that its size does not depend on the row count."""
        cols = {k: c.coarsened(SAVED_SHIFT) for k, c in self.columns.items()}
        small = Profile(self.source, self.rows, cols)
        write_atomic(path, json.dumps(small.to_dict(), separators=(",", ":")))

    @classmethod
    def load(cls, path: str | os.PathLike) -> Profile:
        try:
            with open(path, encoding="utf-8") as fh:
                d = json.load(fh)
        except FileNotFoundError:
            raise InputError(f"{path}: profile file not found") from None
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: not a readable profile: {exc}") from None
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise InputError(f"{path}: not a Sentinel profile")
        if d.get("version") != VERSION:
            raise InputError(f"{path}: profile format version {d.get('version')} is not {VERSION}")
        cols = {c["name"]: ColumnProfile(**c) for c in d["columns"]}
        return cls(d.get("source", str(path)), int(d["rows"]), cols)

    def merge(self, other: Profile) -> Profile:
        """The profile of the union of two partitions (same schema): counts add.

        Decile edges are not mergeable; the merged profile keeps none (PSI then needs them
        from a profile made over the whole, or a comparison against raw data).
        """
        if set(self.columns) != set(other.columns):
            raise InputError("cannot merge profiles with different columns")
        out = {}
        for name, a in self.columns.items():
            b = other.columns[name]
            shift = max(a.shift, b.shift)
            a, b = a.coarsened(shift), b.coarsened(shift)
            if a.kind != b.kind:
                raise InputError(f"column {name!r}: cannot merge profiles of different kinds")
            c = ColumnProfile(name, a.dtype, a.kind, a.non_null + b.non_null, shift=a.shift)
            if a.kind == "numeric":
                c.finite = a.finite + b.finite
                mins = [v for v in (a.min, b.min) if v is not None]
                maxs = [v for v in (a.max, b.max) if v is not None]
                c.min, c.max = (min(mins) if mins else None), (max(maxs) if maxs else None)
                c.sum, c.sum_sq = a.sum + b.sum, a.sum_sq + b.sum_sq
                merged: dict[int, int] = {}
                for k, n in [
                    *zip(a.keys, a.counts, strict=True),
                    *zip(b.keys, b.counts, strict=True),
                ]:
                    merged[k] = merged.get(k, 0) + n
                c.keys = sorted(merged)
                c.counts = [merged[k] for k in c.keys]
            else:
                cats = dict(a.categories or {})
                for k, n in (b.categories or {}).items():
                    cats[k] = cats.get(k, 0) + n
                c.categories = dict(sorted(cats.items()))
            out[name] = c
        return Profile(f"{self.source} + {other.source}", self.rows + other.rows, out)


def write_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and a rename."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".sentinel-", dir=folder)
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)  # as an ordinary new file, not mkstemp's 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def scan_profile(
    con: Any,
    src: Any,
    plans: list[ColumnPlan],
    *,
    with_edges: bool = True,
    edges: dict[str, list[float]] | None = None,
    shift: int = BASE_SHIFT,
) -> tuple[Profile, dict[str, exact.Bins]]:
    """Profile ``src``: one wide pass, one histogram pass, and narrow passes for exact deciles.

    With ``edges`` (a reference's PSI edges) the counts between them come from the wide pass
    and no deciles are computed. ``shift``: the bins of the histogram pass (a coarser one
    than ``BASE_SHIFT`` when only a coarse profile will be compared with it: fewer groups, a
    faster pass). Returns the profile and the per-column bins.
    """
    summary = scan.summarize(con, src, plans, edges=edges)
    if summary["rows"] == 0:
        raise InputError(f"{src.label}: dataset is empty")
    numeric = [p for p in plans if p.kind == "numeric"]
    hists = scan.histograms(con, src, numeric, shift=shift)
    prof = from_summary(src.label, summary, hists, plans, edges, shift)
    cols = prof.columns
    bins = {p.name: cols[p.name].bins() for p in numeric}
    if with_edges and edges is None and numeric:
        resolver = exact.Resolver(con, [src])
        work = {p: bins[p.name] for p in numeric}
        deciles = exact.quantile_edges(
            resolver, work, {p.name: cols[p.name].finite for p in numeric}
        )
        edges = {name: sorted(set(q)) for name, q in deciles.items()}
        le = exact.counts_le(resolver, {p: (bins[p.name], edges[p.name]) for p in numeric})
        for p in numeric:
            c = cols[p.name]
            c.edges = edges[p.name]
            c.edge_counts = bin_counts(le[p.name], c.finite)
    return prof, bins


def scan_grid(
    con: Any,
    src: Any,
    plans: list[ColumnPlan],
    grid: dict[str, tuple[float, float]],
    q: int,
    edges: dict[str, list[float]] | None = None,
) -> tuple[Profile, dict[str, tuple[np.ndarray, ...]]]:
    """``scan_grids`` of one source."""
    return scan_grids(con, [(src, plans)], grid, q, edges)[0]


def scan_grids(
    con: Any,
    sides: list[tuple[Any, list[ColumnPlan]]],
    grid: dict[str, tuple[float, float]],
    q: int,
    edges: dict[str, list[float]] | None = None,
) -> list[tuple[Profile, dict[str, tuple[np.ndarray, ...]]]]:
    """Profile each side ``(source, plans)`` for a comparison: one grouped pass for all
    sides (counts, sums and the groups of each numeric column on its grid ``grid[name]`` at
    ``q``, see ``scan.grid_key``) and the category counts. The profiles have no order-code
    bins and no sum of squares; their edges and edge counts are ``edges`` (given: e.g. a
    saved profile's) or none (the narrow rounds of the comparison find the deciles); each
    comes with its columns' groups ``(keys, counts, lo, hi)``."""
    numeric = [(src, [p for p in plans if p.kind == "numeric"]) for src, plans in sides]
    passes = scan.grid_pass(con, numeric, grid, q, edges)
    for (src, _), (rows, _) in zip(sides, passes, strict=True):
        if rows == 0:
            raise InputError(f"{src.label}: dataset is empty")
    cats_of = scan.categories_of(
        con, [(src, [p for p in plans if p.kind != "numeric"]) for src, plans in sides]
    )
    out = []
    for (src, plans), (rows, hists), cats in zip(sides, passes, cats_of, strict=True):
        cols: dict[str, Any] = {}
        for p in plans:
            if p.kind == "numeric":
                h = hists[p.name]
                non_null = rows - h["nulls"]
                cols[p.name] = {
                    "non_null": non_null,
                    "finite": non_null - h["non_finite"],
                    **{k: h[k] for k in ("min", "max", "sum")},
                    "sum_sq": float("nan"),  # not computed (nothing in a comparison reads it)
                    "le": h["le"] or [],
                }
            else:
                counts = cats.get(None, {}).get(p.name, {})
                cols[p.name] = {"non_null": sum(counts.values()), "categories": counts}
        prof = from_summary(src.label, {"rows": rows, "columns": cols}, {}, plans, edges)
        groups = {n: (h["keys"], h["n"], h["lo"], h["hi"]) for n, h in hists.items()}
        out.append((prof, groups))
    return out


def from_summary(
    source: str,
    summary: dict[str, Any],
    hists: dict[str, tuple[np.ndarray, np.ndarray]],
    plans: list[ColumnPlan],
    edges: dict[str, list[float]] | None = None,
    shift: int = BASE_SHIFT,
) -> Profile:
    """A profile from one ``scan.summarize`` result and the matching ``scan.histograms``
    (made at ``shift``)."""
    cols: dict[str, ColumnProfile] = {}
    empty = (np.empty(0, np.int64), np.empty(0, np.int64))
    for p in plans:
        s = summary["columns"][p.name]
        c = ColumnProfile(p.name, p.dtype, p.kind, s["non_null"], shift=shift)
        if p.kind == "numeric":
            c.finite, c.min, c.max = s["finite"], s["min"], s["max"]
            c.sum, c.sum_sq = s["sum"], s["sum_sq"]
            if edges is not None:
                c.edges = list(edges.get(p.name, []))
                c.edge_counts = bin_counts(s["le"], c.finite)
            k, n = hists.get(p.name, empty)[:2]
            c.keys, c.counts = np.asarray(k).tolist(), np.asarray(n).tolist()
        else:
            c.categories = {str(k): int(v) for k, v in sorted(s["categories"].items())}
        cols[p.name] = c
    return Profile(source, summary["rows"], cols)


def coarsen(keys: list[int], counts: list[int], by: int) -> tuple[list[int], list[int]]:
    """Bin keys ``by`` bits coarser, counts summed (keys are sorted, so are the results)."""
    k = np.asarray(keys, dtype=np.int64) >> np.int64(by)
    uniq, start = np.unique(k, return_index=True)
    sums = np.add.reduceat(np.asarray(counts, dtype=np.int64), start) if len(k) else k
    return [int(x) for x in uniq], [int(x) for x in sums]


def bin_counts(le: list[int], total: int) -> list[int]:
    """Counts per right-closed bin from cumulative counts ``#(x <= e_j)`` at the edges."""
    cum = [0, *le, total]
    return [cum[i + 1] - cum[i] for i in range(len(cum) - 1)]
