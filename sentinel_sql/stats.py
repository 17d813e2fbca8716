"""Drift statistics: pure functions over small numpy arrays (no I/O, no DuckDB).

Every function states its exact definition and is tested against scipy or a direct
numpy computation (``tests/test_stats.py``). scipy is imported lazily, inside the
functions that need it, so that ``import sentinel_sql`` stays light.

Count vectors (``ref_counts``, ``cur_counts``) are 1-D, of equal length, finite and
non-negative; bin ``i`` of one is bin ``i`` of the other. A side whose counts sum to 0
has no distribution: the binned measures return ``nan`` for it.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "BINNED_STATISTICS",
    "KS_MAX_AUTO_N",
    "PSI_EPS",
    "Statistic",
    "benjamini_hochberg",
    "chi2_homogeneity",
    "hellinger",
    "js_distance",
    "ks_p_value",
    "linf",
    "psi",
    "smirnov_sf",
]


def warm_scipy() -> None:
    """Start importing ``scipy.stats`` (~1 s) on a thread, to overlap the scans that come
    before the p-values need it (DuckDB releases the GIL while it scans). The import lock
    makes a later ``import scipy.stats`` wait for it; not a daemon, so that interpreter
    shutdown never interrupts an import half done."""
    import sys
    import threading

    if "scipy.stats" not in sys.modules:
        threading.Thread(target=_import_scipy_stats, name="sentinel-warm-scipy").start()


def _import_scipy_stats() -> None:
    try:
        import scipy.stats  # noqa: F401
    except Exception:  # pragma: no cover - reported where it is used
        pass


#: ``scipy.stats.ks_2samp`` with ``method="auto"`` is exact up to this sample size.
KS_MAX_AUTO_N = 10000

#: Proportions equal to 0 are replaced by this value in PSI.
PSI_EPS = 1e-4


# --------------------------------------------------------------------------- helpers


def _counts_pair(ref_counts: ArrayLike, cur_counts: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validate two count vectors and return them as float64 arrays."""
    ref = np.asarray(ref_counts, dtype=np.float64)
    cur = np.asarray(cur_counts, dtype=np.float64)
    if ref.ndim != 1 or cur.ndim != 1:
        raise ValueError(f"count vectors must be 1-D, got shapes {ref.shape} and {cur.shape}")
    if ref.shape != cur.shape:
        raise ValueError(f"count vectors differ in length: {ref.shape[0]} != {cur.shape[0]}")
    for side, arr in (("reference", ref), ("current", cur)):
        if not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise ValueError(f"{side} counts must be finite and non-negative")
    return ref, cur


def _proportions(
    ref_counts: ArrayLike, cur_counts: ArrayLike
) -> tuple[np.ndarray, np.ndarray] | None:
    """``(p, q) = (ref / ref.sum(), cur / cur.sum())``, or ``None`` if either sum is 0."""
    ref, cur = _counts_pair(ref_counts, cur_counts)
    ref_total, cur_total = ref.sum(), cur.sum()
    if ref_total == 0 or cur_total == 0:
        return None
    return ref / ref_total, cur / cur_total


# --------------------------------------------------------------------------- KS


def ks_p_value(d: float, n1: int, n2: int) -> tuple[float, float]:
    """Two-sided two-sample KS ``(statistic, p_value)`` from the raw statistic ``d``.

    ``d = max |F1(x) - F2(x)|`` over the pooled sample, with ``F = count(<= x) / n``
    computed in floating point as ``scipy.stats.ks_2samp`` does. The result is what
    ``ks_2samp(x, y)`` (two-sided, ``method="auto"``) returns for samples of sizes
    ``n1``, ``n2`` with that ``d``, following scipy 1.17:

    * ``max(n1, n2) <= 10000``: scipy's exact distribution. The statistic is rounded to
      the lattice ``h / lcm(n1, n2)`` that ``d`` lies on; if the exact computation fails
      numerically, the asymptotic path below runs with that rounded statistic.
    * otherwise: ``kstwo.sf(d, round(n1*n2 / (n1+n2)))``; its slow branch (scipy's exact
      Smirnov sum for n up to 10^6) is computed by ``smirnov_sf``, to 1e-9 relative.

    The p-value is clipped to ``[0, 1]``.

    >>> ks_p_value(0.0, 3, 4)
    (0.0, 1.0)
    >>> stat, p = ks_p_value(1.0, 20000, 20000)
    >>> stat, p < 1e-300
    (1.0, True)
    """
    n1 = operator.index(n1)
    n2 = operator.index(n2)
    if n1 <= 0 or n2 <= 0:
        raise ValueError(f"KS needs two non-empty samples, got sizes {n1} and {n2}")
    d = float(d)
    if not 0.0 <= d <= 1.0:
        raise ValueError(f"the KS statistic must lie in [0, 1], got {d!r}")

    if max(n1, n2) <= KS_MAX_AUTO_N:
        from sentinel_sql._compat import ks_exact_two_sided

        success, d_exact, prob = ks_exact_two_sided(n1, n2, d)
        # scipy keeps the rounded statistic even when it falls back to 'asymp'.
        d = float(d_exact)
        if success:
            return d, float(np.clip(prob, 0.0, 1.0))

    # scipy sorts the sizes because its one-sided formula is not symmetric in them.
    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = float(np.round(m * n / (m + n)))
    if _SMIRNOV_MIN_N < en <= _SMIRNOV_MAX_N and 0.0 < d < 0.5 and 2.2 <= en * d * d < 370.0:
        # kstwo.sf's branch "2 * smirnov(n, d)": scipy sums all ~n terms in double-double
        # arithmetic (up to 1.7 s at n = 10^6); the same sum, anchored and stepped in logs
        return d, float(np.clip(2.0 * smirnov_sf(int(en), d), 0.0, 1.0))

    from scipy.stats import distributions

    prob = distributions.kstwo.sf(d, en)
    return d, float(np.clip(prob, 0.0, 1.0))


#: ``scipy.stats.kstwo.sf`` takes ``2 * scipy.special.smirnov(n, d)`` for these n (and
#: 2.2 <= n d^2 < 370, d < 0.5); above 10^6 scipy's smirnov is asymptotic and fast.
_SMIRNOV_MIN_N, _SMIRNOV_MAX_N = 140, 1_000_000


def smirnov_sf(n: int, d: float) -> float:
    """``P(D+_n >= d)``, the one-sided one-sample KS survival function, as
    ``scipy.special.smirnov(n, d)`` (tested to 1e-9 relative, or 1e-300 absolute, for
    140 < n <= 10^6 and 2.2 <= n d^2 < 370).

    Birnbaum–Tingey: ``d * sum_{v=0}^{floor(n(1-d))} C(n,v) (d+v/n)^(v-1) (1-d-v/n)^(n-v)``.
    The log of the v = 0 term, ``-log d + n log1p(-d)``, is accurate; each next term's log
    adds ``log((n-v)/(v+1)) + log(a') + (v-1) log1p(1/(n a)) + (n-v-1) log1p(-1/(n b)) - log b``
    (``a = d + v/n``, ``b = 1 - a``), all pieces of order one, accumulated with blocked,
    compensated prefix sums; the terms within e^-80 of the largest are summed by ``fsum``.
    Taking logs of C(n, v) and the powers directly (pieces ~10^6) loses ~3e-9.
    """
    nn = int(math.floor(n * (1.0 - d)))
    v = np.arange(0, nn, dtype=np.float64)  # the step from term v to term v + 1
    a = d + v / n
    b = (n * (1.0 - d) - v) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        steps = (
            np.log((n - v) / (v + 1))
            + np.log(d + (v + 1) / n)
            + (v - 1) * np.log1p(1 / (n * a))
            + (n - v - 1) * np.log1p(-1 / (n * b))
            - np.log(b)
        )
    first = -math.log(d) + n * math.log1p(-d)
    logs = np.concatenate([[first], first + _prefix_sums(steps)])
    logs = logs[np.isfinite(logs)]
    top = float(logs.max())
    near = logs[logs > top - 80.0]
    return d * math.exp(top) * math.fsum(np.exp(near - top).tolist())


def _prefix_sums(x: np.ndarray, block: int = 1024) -> np.ndarray:
    """Prefix sums, exact to ~block ulps: cumsum inside blocks, Kahan-summed block offsets."""
    size = len(x)
    if size == 0:
        return x
    rows = np.concatenate([x, np.zeros((-size) % block)]).reshape(-1, block)
    inside = np.cumsum(rows, axis=1)
    offsets = np.empty(len(rows))
    total = comp = 0.0
    for k, t in enumerate(inside[:, -1].tolist()):
        offsets[k] = total - comp
        y = t - comp
        nxt = total + y
        comp = (nxt - total) - y
        total = nxt
    return (inside + offsets[:, None]).ravel()[:size]


# --------------------------------------------------------------------------- binned


def psi(ref_counts: ArrayLike, cur_counts: ArrayLike, eps: float = PSI_EPS) -> float:
    """Population stability index of the current counts against the reference counts.

    ``p = ref / sum(ref)``, ``q = cur / sum(cur)``; proportions equal to 0 become
    ``eps`` (no renormalisation); ``PSI = sum((q - p) * ln(q / p))``. ``nan`` if either
    side sums to 0.

    >>> round(psi([50, 50], [50, 50]), 12)
    0.0
    >>> round(psi([1, 1], [1, 3]), 6)  # (0.25-0.5)ln(0.5) + (0.75-0.5)ln(1.5)
    0.274653
    """
    props = _proportions(ref_counts, cur_counts)
    if props is None:
        return math.nan
    p, q = props
    p = np.where(p == 0, eps, p)
    q = np.where(q == 0, eps, q)
    # ln q - ln p rather than ln(q / p): the ratio of a tiny and a large proportion
    # overflows, the difference of logarithms cannot (every term stays below ~745).
    return float(np.sum((q - p) * (np.log(q) - np.log(p))))


def js_distance(ref_counts: ArrayLike, cur_counts: ArrayLike) -> float:
    """Jensen-Shannon distance, base 2, of the normalised count vectors (in ``[0, 1]``).

    With ``p``, ``q`` the proportions and ``m = (p + q) / 2``:
    ``sqrt((KL(p || m) + KL(q || m)) / (2 ln 2))``, i.e.
    ``scipy.spatial.distance.jensenshannon(p, q, base=2)``, made robust where scipy is
    not: a bin whose ``m`` underflows to 0 (both proportions subnormal) contributes 0
    (its true term is below ``p ln 2 < 1e-307``; scipy returns ``inf``), and rounding
    outside ``[0, 1]`` is clipped (scipy returns ``nan`` below 0). ``nan`` if either
    side sums to 0.

    >>> js_distance([1, 0], [0, 1])
    1.0
    >>> js_distance([2, 6], [1, 3])
    0.0
    """
    props = _proportions(ref_counts, cur_counts)
    if props is None:
        return math.nan
    from scipy.special import rel_entr

    p, q = props
    m = (p + q) / 2.0
    terms = np.where(m > 0, rel_entr(p, m) + rel_entr(q, m), 0.0)
    js = np.sum(terms) / np.log(2.0)
    return float(np.sqrt(min(max(js / 2.0, 0.0), 1.0)))


def hellinger(ref_counts: ArrayLike, cur_counts: ArrayLike) -> float:
    """Hellinger distance of the normalised count vectors, normalised to lie in ``[0, 1]``.

    ``H = sqrt(1 - sum(sqrt(p * q)))`` (clipped at 0), which equals
    ``||sqrt(p) - sqrt(q)||_2 / sqrt(2)``: 0 for equal distributions, 1 for disjoint
    supports. It is computed in the second form, which does not cancel: equal
    distributions give exactly 0, where the first form can give ~1e-8. ``nan`` if either
    side sums to 0.

    >>> hellinger([1, 0], [0, 1])
    1.0
    >>> hellinger([3, 1], [6, 2])
    0.0
    """
    props = _proportions(ref_counts, cur_counts)
    if props is None:
        return math.nan
    p, q = props
    h = math.sqrt(0.5 * float(np.sum((np.sqrt(p) - np.sqrt(q)) ** 2)))
    return min(h, 1.0)


def linf(ref_counts: ArrayLike, cur_counts: ArrayLike) -> float:
    """L-infinity distance of the proportions: ``max_i |p_i - q_i|`` (in ``[0, 1]``).

    ``nan`` if either side sums to 0.

    >>> linf([1, 1], [1, 3])
    0.25
    """
    props = _proportions(ref_counts, cur_counts)
    if props is None:
        return math.nan
    p, q = props
    return float(np.max(np.abs(p - q)))


# --------------------------------------------------------------------------- tests


#: Tables whose largest count lies within 2**±400 go to scipy unscaled.
_CHI2_SAFE_EXPONENT = 400


def chi2_homogeneity(ref_counts: ArrayLike, cur_counts: ArrayLike) -> tuple[float, float, int]:
    """Chi-square test of homogeneity on the 2 x k table ``[ref_counts, cur_counts]``.

    Categories whose two counts are both 0 are dropped first; the result is then
    ``scipy.stats.chi2_contingency(table, correction=False)`` as
    ``(statistic, p_value, dof)`` with ``dof = k - 1``. A single remaining category, or
    a side whose counts sum to 0, gives ``(0.0, 1.0, 0)``.

    scipy multiplies margins, which overflows for counts above ~1e154 (and underflows
    for tiny weighted counts); such a table is first scaled by a power of two, which is
    exact in floating point, so the statistic is scipy's on the scaled table times the
    scale, and the p-value is ``chi2.sf`` of it.

    >>> chi2_homogeneity([10, 0], [10, 0])
    (0.0, 1.0, 0)
    >>> stat, p, dof = chi2_homogeneity([10, 20], [20, 10])
    >>> round(stat, 6), dof
    (6.666667, 1)
    """
    ref, cur = _counts_pair(ref_counts, cur_counts)
    keep = (ref > 0) | (cur > 0)
    ref, cur = ref[keep], cur[keep]
    if ref.size <= 1 or ref.sum() == 0 or cur.sum() == 0:
        return 0.0, 1.0, 0
    from scipy.stats import chi2, chi2_contingency

    _, exponent = math.frexp(max(ref.max(), cur.max()))
    if abs(exponent) <= _CHI2_SAFE_EXPONENT:
        exponent = 0  # the usual case: scipy on the table as it is
    table = np.ldexp(np.array([ref, cur]), -exponent)
    res = chi2_contingency(table, correction=False)
    if exponent == 0:
        return float(res.statistic), float(res.pvalue), int(res.dof)
    stat = math.ldexp(float(res.statistic), exponent)
    return stat, float(chi2.sf(stat, res.dof)), int(res.dof)


def benjamini_hochberg(p_values: ArrayLike) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (false discovery rate), same shape as input.

    For the ``m`` non-NaN p-values sorted ascending, ``p_(i) * m / i``, made monotone by
    a running minimum from the largest down and clipped to 1 - i.e.
    ``scipy.stats.false_discovery_control(ps, method="bh")``. NaN entries stay NaN and
    do not count in ``m``.

    >>> benjamini_hochberg([0.01, float("nan"), 0.04, 0.03]).tolist()
    [0.03, nan, 0.04, 0.04]
    """
    ps = np.asarray(p_values, dtype=np.float64)
    out = np.full(ps.shape, np.nan)
    ok = ~np.isnan(ps)
    if not ok.any():
        return out
    if np.any((ps[ok] < 0) | (ps[ok] > 1)):
        raise ValueError("p-values must lie in [0, 1] (or be NaN)")
    from scipy.stats import false_discovery_control

    out[ok] = false_discovery_control(ps[ok], method="bh")
    return out


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Statistic:
    """One drift statistic: what it applies to, how to compute it, its default threshold.

    ``compute(ref_counts, cur_counts) -> float``; drift is flagged when the value is
    above ``threshold`` (``None``: reported, never flagged).
    """

    name: str
    kinds: tuple[str, ...]
    compute: Callable[[ArrayLike, ArrayLike], float]
    threshold: float | None
    doc: str


_BOTH = ("numeric", "categorical")

#: Statistics computed from two count vectors on the same bins, in report order.
#: Thresholds are the usual rules of thumb (PSI > 0.2: significant shift).
BINNED_STATISTICS: tuple[Statistic, ...] = (
    Statistic("psi", _BOTH, psi, 0.2, "Population stability index, eps = 1e-4."),
    Statistic("js_distance", _BOTH, js_distance, 0.1, "Jensen-Shannon distance, base 2."),
    Statistic("hellinger", _BOTH, hellinger, 0.1, "Hellinger distance in [0, 1]."),
    Statistic("linf", _BOTH, linf, 0.1, "Largest absolute difference of proportions."),
)
