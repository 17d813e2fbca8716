"""Exact order statistics, CDF values and the exact two-sample KS statistic from bin counts.

A bin is the set of doubles whose order code lies in ``[lo, hi]``, of one of two kinds:

- order-code bins (profiles, monitoring, Spark): data-independent intervals of the IEEE-754
  order (``sql/engine_macros.sql``), ``sentinel_ord(x) >> shift``, refined 2^8 times finer;
- grid bins (a comparison of raw data on DuckDB): the groups of ``scan.grid_key`` on grid
  ``q`` of a column's grid ``(m, c)``, with ``[lo, hi]`` the extremes of the rows seen in them,
  refined on finer grids (``q`` + the bits of rows / ``REFINE_ROWS``) and fetched on the
  finest. They need no bit cast, the slowest step of the order-code passes.

Counts on either are exact, so an empirical CDF is known exactly at every bin edge. Where an
answer lies inside a bin, a narrow pass either fetches that bin's values (small bins) or
counts it on finer bins (large bins); a bin with ``lo == hi`` holds a single value. Rounds
repeat until every answer is exact. Everything here is numpy on small arrays; the scans are
in ``scan.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from . import scan
from .scan import ColumnPlan, ord_of

FETCH_MAX = 20_000  # a bin with more rows than this (both sides) is refined, not fetched
FETCH_TOTAL = 200_000  # more rows than this in one column's wanted bins: refine them all
SMALL_TOTAL = 200_000  # columns with fewer finite rows on both sides are fetched whole
REFINE_STEP = 8
GRID_FETCH_MAX = 100_000  # grid bins: fetched up to this many rows (values come grouped)
GRID_FETCH_TOTAL = 1_000_000  # grid bins: fetch up to this many rows a column in one round
REFINE_ROWS = 64  # grid bins are refined into parts of about this many rows
DECILES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def value_of(o: int) -> float:
    """The double whose order code is ``o``."""
    return float(scan.values_of(np.array([o]))[0])


@dataclass
class Bins:
    """Sorted, disjoint bins of one numeric column, with counts per side and fetched values."""

    lo: np.ndarray
    hi: np.ndarray
    shift: np.ndarray  # order-code bins: the shift; grid bins: the grid q
    counts: list[np.ndarray]  # one array per side
    values: dict[int, list[np.ndarray]] = field(default_factory=dict)  # lo -> values per side
    key: np.ndarray | None = None  # grid bins (``scan.grid_key``): the key on grid q
    grid: tuple[float, float] | None = None  # grid bins: the column's grid (m, c)

    @property
    def gridded(self) -> bool:
        return self.key is not None

    @property
    def multi(self) -> np.ndarray:
        """Bins that may hold more than one distinct value."""
        return self.lo != self.hi

    @classmethod
    def from_keys(cls, shift: int, sides: list[tuple[np.ndarray, np.ndarray]]) -> Bins:
        keys, counts, _, _ = _joined(
            [(np.asarray(k, np.int64), n) for k, n in sides], np.empty(0, np.int64)
        )
        lo = keys << np.int64(shift)
        hi = lo + (np.int64(1) << np.int64(shift)) - 1
        return cls(lo, hi, np.full(len(keys), shift, dtype=np.int64), counts)

    @classmethod
    def from_grid(
        cls, q: int, grid: tuple[float, float], sides: list[tuple[np.ndarray, ...]]
    ) -> Bins:
        """Bins of grid ``q`` from each side's ``(keys, counts, lo, hi)`` (keys sorted, lo/hi
        the order codes of the group's extremes): a bin spans the extremes of both sides."""
        keys, counts, lo, hi = _joined(sides, np.empty(0))
        shift = np.full(len(keys), q, dtype=np.int64)
        return cls(lo, hi, shift, counts, key=keys, grid=grid)

    @staticmethod
    def concat(parts: list[Bins]) -> Bins:
        """Disjoint bins of one column (of several shifts or grids), in value order."""
        lo = np.concatenate([p.lo for p in parts])
        order = np.argsort(lo, kind="stable")
        sides = range(len(parts[0].counts))
        keys = [p.key for p in parts]
        return Bins(
            lo[order],
            np.concatenate([p.hi for p in parts])[order],
            np.concatenate([p.shift for p in parts])[order],
            [np.concatenate([p.counts[s] for p in parts])[order] for s in sides],
            key=None if keys[0] is None else np.concatenate(keys)[order],
            grid=parts[0].grid,
        )

    def whole(self) -> Bins:
        """The same grid bins on grid 0 (at most 3: below the centre, around it, above it),
        for small columns whose every value is fetched at once."""
        if not len(self.lo) or self.key is None:
            return self
        k = np.trunc(self.key / 2.0 ** self.shift.astype(np.float64)) + 0.0
        uniq, start = np.unique(k, return_index=True)
        return Bins(
            np.minimum.reduceat(self.lo, start),
            np.maximum.reduceat(self.hi, start),
            np.zeros(len(uniq), dtype=np.int64),
            [np.add.reduceat(c, start) for c in self.counts],
            key=uniq,
            grid=self.grid,
        )

    def coarsened(self, shift: int) -> Bins:
        """The same counts on bins ``shift`` wide (unresolved; values are dropped)."""
        keys = [self.lo >> np.int64(shift)] * len(self.counts)
        sides = []
        for k, c in zip(keys, self.counts, strict=True):
            uniq, start = np.unique(k, return_index=True)
            sides.append((uniq, np.add.reduceat(c, start) if len(k) else c))
        return Bins.from_keys(shift, sides)

    def resolved(self, i: int) -> bool:
        return bool(self.lo[i] == self.hi[i]) or int(self.lo[i]) in self.values

    def replace(self, i_list: list[int], sub: Bins) -> None:
        """Replace bins ``i_list`` by ``sub``, the bins their rows fall in on finer bins."""
        keep = np.ones(len(self.lo), dtype=bool)
        keep[i_list] = False
        kept = Bins(
            self.lo[keep],
            self.hi[keep],
            self.shift[keep],
            [c[keep] for c in self.counts],
            key=None if self.key is None else self.key[keep],
            grid=self.grid,
        )
        out = Bins.concat([kept, sub])
        if (out.lo[1:] <= out.hi[:-1]).any():  # a wrong answer is worse than none
            raise RuntimeError("internal error: refined bins overlap")
        self.lo, self.hi, self.shift, self.counts, self.key = (
            out.lo,
            out.hi,
            out.shift,
            out.counts,
            out.key,
        )


class Resolver:
    """Runs narrow passes over one or two sources until every requested bin is exact."""

    def __init__(self, con: Any, sources: list[Any]):
        self.con = con
        self.sources = sources

    def run_round(
        self, wanted: dict[ColumnPlan, tuple[Bins, set[int]]], fetch_all: bool = False
    ) -> bool:
        """Fetch (small bins) or refine (large bins) the wanted bins; False if none was open.

        ``fetch_all``: fetch every wanted bin whatever its size (small columns)."""
        n_src = len(self.sources)
        fetches: dict[ColumnPlan, list] = {}
        refines: dict[ColumnPlan, Any] = {}
        todo_fetch: dict[ColumnPlan, list[int]] = {}
        todo_refine: dict[ColumnPlan, list[int]] = {}
        for plan, (bins, idx) in wanted.items():
            open_idx = sorted(i for i in idx if not bins.resolved(i))
            if not open_idx:
                continue
            size = {i: sum(int(c[i]) for c in bins.counts) for i in open_idx}
            if fetch_all:
                small, big = open_idx, []
            elif sum(size.values()) > (GRID_FETCH_TOTAL if bins.gridded else FETCH_TOTAL):
                # too many rows to fetch: narrow bins first
                small, big = [], open_idx
            else:
                limit = GRID_FETCH_MAX if bins.gridded else FETCH_MAX
                small = [i for i in open_idx if size[i] <= limit]
                big = [i for i in open_idx if size[i] > limit]
            if bins.gridded:  # a bin on the finest grid is fetched whatever its size
                small += [i for i in big if int(bins.shift[i]) >= scan.LAST_GRID]
                big = [i for i in big if int(bins.shift[i]) < scan.LAST_GRID]
            if small:
                todo_fetch[plan] = small
                by_grid: dict[int, list] = {}
                for i in small:
                    g = int(bins.shift[i])
                    k = float(bins.key[i]) if bins.gridded else int(bins.lo[i]) >> g
                    by_grid.setdefault(g, []).append(k)
                fetches[plan] = sorted(by_grid.items())
            if big and bins.gridded:
                todo_refine[plan] = big
                # one finer grid per parent grid (each is a branch, i.e. a scan): the finest
                # any of its bins asks for (a sub-bin never holds more rows than its parent)
                by_new: dict[int, tuple[int, list[float]]] = {}
                for i in big:
                    q = int(bins.shift[i])
                    parts = max(2, size[i] // REFINE_ROWS)
                    new_q = min(scan.LAST_GRID, q + (parts - 1).bit_length())
                    nq, keys = by_new.get(q, (new_q, []))
                    by_new[q] = (max(nq, new_q), [*keys, float(bins.key[i])])
                refines[plan] = [(nq, q, keys) for q, (nq, keys) in sorted(by_new.items())]
            elif big:
                # refine one parent shift per round: the coarsest bins first
                parent = int(max(bins.shift[i] for i in big))
                big = [i for i in big if int(bins.shift[i]) == parent]
                new_shift = max(0, parent - REFINE_STEP)  # 256 sub-bins a bin
                todo_refine[plan] = big
                refines[plan] = (new_shift, [int(bins.lo[i]) >> parent for i in big], parent)
        if not todo_fetch and not todo_refine:
            return False
        fetched: list[dict] = [{} for _ in range(n_src)]
        refined: list[dict] = [{} for _ in range(n_src)]
        for gridded in (False, True):
            f_req = {p: v for p, v in fetches.items() if wanted[p][0].gridded == gridded}
            r_req = {p: v for p, v in refines.items() if wanted[p][0].gridded == gridded}
            if not f_req and not r_req:
                continue
            if gridded:  # one query for all sources
                grid = {p.name: wanted[p][0].grid for p in (*f_req, *r_req)}
                found = scan.narrow_grid(self.con, self.sources, grid, f_req, r_req)
            else:
                found = [scan.narrow(self.con, src, f_req, r_req) for src in self.sources]
            for s, (f, r) in enumerate(found):
                fetched[s].update(f)
                refined[s].update(r)
        for plan, idx in todo_fetch.items():
            bins = wanted[plan][0]
            vals = [fetched[s][plan.name] for s in range(n_src)]
            ords = [ord_of(v) for v in vals]
            los, his = bins.lo[idx], bins.hi[idx]  # every bin's slice at once
            cuts = [
                (np.searchsorted(o, los, "left"), np.searchsorted(o, his, "right")) for o in ords
            ]
            for j, i in enumerate(idx):
                bins.values[int(bins.lo[i])] = [
                    v[int(a[j]) : int(b[j])] for v, (a, b) in zip(vals, cuts, strict=True)
                ]
        for plan, idx in todo_refine.items():
            bins = wanted[plan][0]
            sides = [refined[s][plan.name] for s in range(n_src)]
            if bins.gridded:
                assert bins.grid is not None
                parts = [
                    Bins.from_grid(branch[0][0], bins.grid, [b[1:] for b in branch])
                    for branch in zip(*sides, strict=True)
                ]
                sub = parts[0] if len(parts) == 1 else Bins.concat(parts)
            else:
                sub = _sub_bins(refines[plan][0], sides)
            bins.replace(idx, sub)
        return True


def sorted_unique(x: np.ndarray) -> np.ndarray:
    """``np.unique`` by sorting (a stable sort merges sorted runs in linear time; np.unique
    hashes, ~60 ms for 10^5 keys)."""
    x = np.sort(x, kind="stable")
    return x[np.concatenate(([True], x[1:] != x[:-1]))] if len(x) else x


def _joined(
    sides: list[tuple[np.ndarray, ...]], empty: np.ndarray
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray, np.ndarray]:
    """The sorted union of the sides' sorted keys, each side's counts on it, and (for sides
    ``(keys, counts, lo, hi)``) each key's smallest ``lo`` and largest ``hi`` over the sides."""
    keys = (
        sides[0][0]
        if len(sides) == 1
        else sorted_unique(np.concatenate([s[0] for s in sides] or [empty]))
    )
    big = np.iinfo(np.int64).max
    lo = np.full(len(keys), big, dtype=np.int64)
    hi = np.full(len(keys), -big - 1, dtype=np.int64)
    counts = []
    for k, n, *extremes in sides:
        pos = np.searchsorted(keys, k)
        c = np.zeros(len(keys), dtype=np.int64)
        c[pos] = n
        counts.append(c)
        if extremes:
            lo[pos] = np.minimum(lo[pos], extremes[0])
            hi[pos] = np.maximum(hi[pos], extremes[1])
    return keys, counts, lo, hi


def _sub_bins(shift: int, sides: list[tuple[np.ndarray, ...]]) -> Bins:
    """The refinement of all the bins refined in one round at once (the refine pass returns
    rows of those bins only, ``(keys, counts, min code, max code)`` per side); single-valued
    sub-bins get shift 0."""
    out = Bins.from_keys(shift, [(k, n) for k, n, _, _ in sides])
    _, _, mn, mx = _joined(list(sides), np.empty(0, np.int64))
    single = mn == mx
    out.lo[single] = mn[single]
    out.hi[single] = mn[single]
    out.shift[single] = 0
    return out


# ---------------------------------------------------------------- one side: quantiles, CDF


def _locate_rank(bins: Bins, rank: int, side: int = 0) -> tuple[int, int]:
    cum = np.cumsum(bins.counts[side])
    i = int(np.searchsorted(cum, rank, side="right"))
    return i, rank - int(cum[i] - bins.counts[side][i])


def order_statistic(bins: Bins, rank: int, side: int = 0) -> float | None:
    """The ``rank``-th smallest value (0-based), or None while its bin is unresolved."""
    i, r = _locate_rank(bins, rank, side)
    if bins.lo[i] == bins.hi[i]:
        return value_of(int(bins.lo[i]))
    vals = bins.values.get(int(bins.lo[i]))
    return None if vals is None else float(vals[side][r])


def count_le(bins: Bins, q: float, side: int = 0) -> int | None:
    """Number of values <= q, or None while the bin holding q is unresolved."""
    oq = int(ord_of(np.array([q]))[0])
    cum = np.cumsum(bins.counts[side])
    i = int(np.searchsorted(bins.hi, oq, side="left"))
    before = int(cum[i - 1]) if i > 0 else 0
    if i == len(bins.lo) or int(bins.lo[i]) > oq:
        return before
    if bins.lo[i] == bins.hi[i]:
        return int(cum[i])
    vals = bins.values.get(int(bins.lo[i]))
    return None if vals is None else before + int(np.searchsorted(vals[side], q, side="right"))


def bin_of_value(bins: Bins, q: float) -> int | None:
    oq = int(ord_of(np.array([q]))[0])
    i = int(np.searchsorted(bins.hi, oq, side="left"))
    return i if i < len(bins.lo) and int(bins.lo[i]) <= oq else None


def decile_step(bins: Bins, N: int, side: int = 0) -> tuple[list[float], set[int]]:
    """Exact ``numpy.quantile(x, DECILES)`` (linear) of one side from its bins, or the bins
    still to resolve for it (then the list is incomplete)."""
    if N == 0:
        return [], set()
    virtual = (N - 1) * np.array(DECILES, dtype=np.float64)
    prev = np.floor(virtual).astype(np.int64)
    nxt = np.minimum(prev + 1, N - 1)
    gamma = virtual - prev
    needed, qs = set(), []
    for a_rank, b_rank, g in zip(prev, nxt, gamma, strict=True):
        a = order_statistic(bins, int(a_rank), side)
        b = order_statistic(bins, int(b_rank), side)
        if a is None:
            needed.add(_locate_rank(bins, int(a_rank), side)[0])
        if b is None:
            needed.add(_locate_rank(bins, int(b_rank), side)[0])
        if a is not None and b is not None:
            qs.append(_lerp(a, b, float(g)))
    return qs, needed


def counts_step(bins: Bins, qs: list[float], side: int = 0) -> tuple[list, set[int]]:
    """Exact ``#(x <= q)`` of one side for each q, or the bins still to resolve for them."""
    out, needed = [], set()
    for q in qs:
        c = count_le(bins, q, side)
        if c is None:
            needed.add(bin_of_value(bins, q))
        out.append(c)
    return out, needed


def quantile_edges(resolver: Resolver, work: dict[ColumnPlan, Bins], n: dict[str, int]) -> dict:
    """Exact ``numpy.quantile(x, DECILES)`` (linear) per column, via narrow passes."""
    return _resolve_all(
        resolver, {p: (b, partial(decile_step, N=n[p.name])) for p, b in work.items()}
    )


def _resolve_all(resolver: Resolver, steps: dict[ColumnPlan, tuple[Bins, Callable]]) -> dict:
    """Narrow rounds until every column's ``step(bins) -> (answer, bins still needed)`` has
    its answer: ``{column: answer}``."""
    while True:
        wanted, result = {}, {}
        for plan, (bins, step) in steps.items():
            out, needed = step(bins)
            if needed:
                wanted[plan] = (bins, needed)
            else:
                result[plan.name] = out
        if not wanted:
            return result
        resolver.run_round(wanted)


def _lerp(a: float, b: float, t: float) -> float:
    """numpy's ``_lerp``: ``a + (b-a)*t``, or ``b - (b-a)*(1-t)`` when t >= 0.5."""
    d = np.float64(b) - np.float64(a)
    if t >= 0.5:
        return float(np.float64(b) - d * (1 - t))
    return float(np.float64(a) + d * t)


def counts_le(
    resolver: Resolver, work: dict[ColumnPlan, tuple[Bins, list[float]]], side: int = 0
) -> dict:
    """Exact ``#(x <= q)`` for each requested point q, per column, via narrow passes
    (``side`` picks the count array of two-sided bins)."""
    return _resolve_all(
        resolver, {p: (b, partial(counts_step, qs=qs, side=side)) for p, (b, qs) in work.items()}
    )
