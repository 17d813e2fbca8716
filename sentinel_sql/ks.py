"""Two-sample statistics on aligned bins: the exact KS statistic and Wasserstein-1.

Both sides share one set of bins (``exact.Bins`` with two count arrays). The empirical CDFs
are exact at bin edges; the supremum of ``F_ref - F_cur`` inside a bin is bounded by the edge
values, so only bins whose bound beats the best exact value so far are fetched or refined.
All comparisons use integer numerators ``R*m - C*n`` (R, C counts; n, m sizes): no rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import exact
from .exact import Bins, Resolver, ord_of
from .scan import ColumnPlan, values_of


@dataclass
class KSExtreme:
    """The largest and smallest ``F_ref - F_cur`` found, as exact count pairs."""

    max_num: int = 0
    max_pair: tuple[int, int] = (0, 0)
    min_num: int = 0
    min_pair: tuple[int, int] = (0, 0)

    def add(self, R: np.ndarray, C: np.ndarray, n: int, m: int) -> None:
        if len(R) == 0:
            return
        num = R.astype(object) * m - C.astype(object) * n if n * m > 2**62 else R * m - C * n
        i, j = int(np.argmax(num)), int(np.argmin(num))
        if num[i] > self.max_num:
            self.max_num, self.max_pair = int(num[i]), (int(R[i]), int(C[i]))
        if num[j] < self.min_num:
            self.min_num, self.min_pair = int(num[j]), (int(R[j]), int(C[j]))

    def statistic(self, n: int, m: int) -> float:
        """D as ``scipy.stats.ks_2samp`` computes it in floating point from these counts."""
        max_s = self.max_pair[0] / n - self.max_pair[1] / m
        min_s = min(max(-(self.min_pair[0] / n - self.min_pair[1] / m), 0.0), 1.0)
        return float(min_s) if min_s > max_s else float(max_s)


def _edges(bins: Bins) -> tuple[np.ndarray, ...]:
    r, c = bins.counts
    R_end, C_end = np.cumsum(r), np.cumsum(c)
    return R_end - r, C_end - c, R_end, C_end


def _in_bins(
    bins: Bins, idx: np.ndarray, R0: np.ndarray, C0: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The distinct values inside the fetched bins ``idx`` (ascending), the position in
    ``idx`` of each one's bin, and the counts ``#(ref <= v)``, ``#(cur <= v)`` there. Bins
    are disjoint and ordered, so the values of all of them side by side are sorted, and
    a value's rank among them, less the values of the bins before its own, is its rank
    inside its bin."""
    if not len(idx):
        e = np.empty(0, np.int64)
        return np.empty(0), e, e, e
    pairs = [bins.values[int(bins.lo[i])] for i in idx]
    sides = []
    for s in (0, 1):
        vals = [p[s] for p in pairs]
        sizes = np.fromiter((len(v) for v in vals), np.int64, len(vals))
        sides.append((np.concatenate(vals), np.cumsum(sizes) - sizes))
    (rv, r_off), (cv, c_off) = sides
    pts = np.unique(np.concatenate([rv, cv]))
    firsts = np.array([min(v[0] for v in p if len(v)) for p in pairs])  # none is empty
    where = np.searchsorted(firsts, pts, side="right") - 1
    R = R0[idx][where] + np.searchsorted(rv, pts, side="right") - r_off[where]
    C = C0[idx][where] + np.searchsorted(cv, pts, side="right") - c_off[where]
    return pts, where, R, C


def ks_exact(
    resolver: Resolver | None,
    work: dict[ColumnPlan, tuple[Bins, int, int]],
    edges: dict[ColumnPlan, list[float]] | None = None,
    found: dict[str, tuple[list[float], list[int], list[int]]] | None = None,
) -> tuple[dict[str, tuple[float, float]], dict[str, list[int]]]:
    """``{column: (D, error_bound)}`` for every column, resolving all columns together, and
    ``{column: [#(current <= e) for e in edges]}`` for the requested ``edges`` (exact counts of
    the current side at the reference's PSI edges), found in the same narrow passes.

    With a resolver (raw data on both sides) D is exact (bound 0); each round is one narrow
    scan per side for all columns. Without one (a saved profile on one side), D is the midpoint
    of rigorous lower and upper bounds from the bins, and the bound is half their gap.
    With ``found`` (raw data on both sides), the reference deciles are resolved in the same
    rounds too: ``found[column] = (edges, #(reference <= e), #(current <= e))``.
    """
    out: dict[str, tuple[float, float]] = {}
    le: dict[str, list[int]] = {}
    if resolver is not None:
        # small columns: fetch every value at once, on at most 4 bins (one pass, no loops)
        small = {}
        for p, (b, n, m) in list(work.items()):
            if n + m <= exact.SMALL_TOTAL:
                coarse = b.whole() if b.gridded else b.coarsened(62)
                work[p] = (coarse, n, m)
                small[p] = (coarse, set(range(len(coarse.lo))))
        if small:
            resolver.run_round(small, fetch_all=True)
    pending = dict(work)
    edge_pending = dict(edges or {}) if resolver is not None else {}
    decile_pending = set(work) if found is not None and resolver is not None else set()
    while pending or edge_pending or decile_pending:
        wanted: dict[ColumnPlan, tuple[Bins, set[int]]] = {}

        for plan, (bins, n, m) in pending.items():
            d, err, cand = _ks_step(bins, n, m)
            if cand and resolver is not None:
                _want(wanted, plan, bins, cand)
            else:
                out[plan.name] = (d, err if resolver is None else 0.0)
        for plan, qs in edge_pending.items():
            bins = work[plan][0]
            counts, need = exact.counts_step(bins, qs, 1)
            if need:
                _want(wanted, plan, bins, need)
            else:
                le[plan.name] = counts
        for plan in list(decile_pending):
            bins, n, _m = work[plan]
            qs, need = exact.decile_step(bins, n, 0)
            if not need:
                qs = sorted(set(qs))
                ref_le, need_r = exact.counts_step(bins, qs, 0)
                cur_le, need_c = exact.counts_step(bins, qs, 1)
                need = need_r | need_c
            if need:
                _want(wanted, plan, bins, need)
            else:
                found[plan.name] = (qs, ref_le, cur_le)  # type: ignore[index]
                decile_pending.discard(plan)
        pending = {p: pending[p] for p in pending if p in wanted and p.name not in out}
        edge_pending = {p: q for p, q in edge_pending.items() if p.name not in le}
        if not wanted:
            break
        resolver.run_round(wanted)
    return out, le


def _want(wanted: dict, plan: ColumnPlan, bins: Bins, need: set[int]) -> None:
    wanted[plan] = (bins, wanted.get(plan, (bins, set()))[1] | need)


def _fetched(bins: Bins) -> np.ndarray:
    if not bins.values:
        return np.zeros(len(bins.lo), dtype=bool)
    return np.isin(bins.lo, np.fromiter(bins.values.keys(), dtype=np.int64))


def _ks_step(bins: Bins, n: int, m: int) -> tuple[float, float, set[int]]:
    """Best exact D so far, the bound gap, and the bins that could still hold a larger D."""
    R0, C0, R1, C1 = _edges(bins)
    ext = KSExtreme()
    ext.add(R1, C1, n, m)
    fetched = _fetched(bins) & bins.multi
    _, _, R, C = _in_bins(bins, np.flatnonzero(fetched), R0, C0)
    ext.add(R, C, n, m)
    r, c = bins.counts
    idx = np.flatnonzero(bins.multi & ~fetched & (r > 0) & (c > 0))
    lb = max(ext.max_num, -ext.min_num)
    d = ext.statistic(n, m)
    if not len(idx):
        return d, 0.0, set()
    ub = np.maximum(np.abs(R1[idx] * m - C0[idx] * n), np.abs(R0[idx] * m - C1[idx] * n))
    cand = {int(i) for i in idx[ub > lb]}
    hi = max(lb, int(ub.max())) / (n * m)
    return (d + hi) / 2 if cand else d, (hi - d) / 2 if cand else 0.0, cand


def wasserstein(bins: Bins, n: int, m: int, vmin: float, vmax: float) -> tuple[float, float]:
    """Wasserstein-1 ``∫|F_ref - F_cur| dx`` (as ``scipy.stats.wasserstein_distance``).

    Returns ``(value, error_bound)``: exact (bound 0) where bins were fetched or hold one
    value; inside other bins the integral is bounded by the edge CDF values.
    """
    if len(bins.lo) == 0:
        return 0.0, 0.0
    R0, C0, R1, C1 = _edges(bins)
    omin, omax = int(ord_of(np.array([vmin]))[0]), int(ord_of(np.array([vmax]))[0])
    with np.errstate(invalid="ignore", over="ignore"):
        a = np.where(bins.lo <= omin, vmin, values_of(bins.lo))
        b = np.where(bins.hi >= omax, vmax, values_of(bins.hi))
    fs, fe = R0 / n - C0 / m, R1 / n - C1 / m
    # between bins no value lies, so both CDFs are flat there: exact
    total = float(np.sum(np.abs(fe[:-1]) * (a[1:] - b[:-1])))
    fetched = _fetched(bins) & bins.multi & (b > a)
    idx = np.flatnonzero(fetched)
    pts, where, R, C = _in_bins(bins, idx, R0, C0)
    if len(idx):
        # inside a fetched bin: |F_ref - F_cur| is fs from a to its first value, then at each
        # value the CDFs there until the next value (or the bin's end b)
        last = np.r_[where[1:] != where[:-1], True]
        nxt = np.where(last, b[idx][where], np.r_[pts[1:], 0.0])
        first = np.r_[True, where[1:] != where[:-1]]
        total += float(np.sum(np.abs(fs[idx]) * (pts[first] - a[idx])))
        total += float(np.sum(np.abs(R / n - C / m) * (nxt - pts)))
    open_ = bins.multi & ~fetched & (b > a)
    w = (b - a)[open_]
    lower = w * np.maximum.reduce(
        [np.zeros(len(w)), (R0 / n - C1 / m)[open_], (C0 / m - R1 / n)[open_]]
    )
    upper = w * np.maximum(np.abs(R1 / n - C0 / m)[open_], np.abs(R0 / n - C1 / m)[open_])
    total += float(np.sum(lower / 2 + upper / 2))  # halves first: no overflow near 1.8e308
    return float(total), float(np.sum((upper - lower) / 2))


def _bracket(bins: Bins, counts: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bounds ``[L, U]`` on ``#(values <= x)`` at order codes ``x``: exact between bins and at
    a bin's last code, anything from the rows before to the rows through the bin inside it."""
    cum = np.concatenate([[0], np.cumsum(counts)])
    idx = np.searchsorted(bins.hi, x, side="left")  # bins wholly below x
    before = cum[idx]
    j = np.minimum(idx, len(bins.lo) - 1)
    inside = (idx < len(bins.lo)) & (bins.lo[j] <= x)
    within = np.where(inside, counts[j], 0)
    at_end = inside & (bins.hi[j] == x)
    return before + np.where(at_end, within, 0), before + within


def mixed_bounds(
    ref: Bins, cur: Bins, n: int, m: int, vmin: float, vmax: float
) -> tuple[tuple[float, float], tuple[float, float]]:
    """KS D and Wasserstein-1, each as ``(midpoint, error_bound)``, from two sides binned on
    different bins (a saved profile's order-code bins and the current's grid bins, one count
    array each). Both CDF brackets (``_bracket``) are constant between consecutive bin
    starts, ends and the codes after the ends of either side, so the extreme gaps over those
    points bound D from both sides, and the gaps times the widths bound the integral."""
    omin, omax = ord_of(np.array([vmin, vmax]))
    pts = np.concatenate([[omin, omax], *(b for x in (ref, cur) for b in (x.lo, x.hi, x.hi + 1))])
    pts = exact.sorted_unique(pts[(pts >= omin) & (pts <= omax)])
    Lr, Ur = _bracket(ref, ref.counts[0], pts)
    Lc, Uc = _bracket(cur, cur.counts[0], pts)
    if n * m > 2**62:  # exact integer numerators
        Lr, Ur, Lc, Uc = (a.astype(object) for a in (Lr, Ur, Lc, Uc))
    lower = np.maximum(np.maximum(Lr * m - Uc * n, Lc * n - Ur * m), 0)
    upper = np.maximum(Ur * m - Lc * n, Uc * n - Lr * m)
    lb, ub = int(lower.max()), int(upper.max())
    lo, hi = lb / (n * m), ub / (n * m)
    if lb == ub:  # exact: D as scipy computes it, from a point where both CDFs are known
        known = (Lr == Ur) & (Lc == Uc)
        ext = KSExtreme()
        ext.add(np.asarray(Lr[known], np.int64), np.asarray(Lc[known], np.int64), n, m)
        if max(ext.max_num, -ext.min_num) == lb:
            lo = hi = ext.statistic(n, m)
    with np.errstate(invalid="ignore", over="ignore"):
        widths = np.diff(np.concatenate([values_of(pts), [vmax]]))
        w_lo, w_hi = (
            float(np.sum(np.where(g > 0, widths * (g.astype(np.float64) / (n * m)), 0.0)))
            for g in (lower, upper)
        )
    return ((lo + hi) / 2, (hi - lo) / 2), (w_lo / 2 + w_hi / 2, (w_hi - w_lo) / 2)
