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
    "chi2_sf",
    "hellinger",
    "js_distance",
    "ks_p_value",
    "kstwo_sf",
    "linf",
    "psi",
    "smirnov_sf",
]


def warm_scipy() -> None:
    """Start importing ``scipy.special`` (~0.3 s; all the p-values of large samples need)
    on a thread, to overlap the scans that come before the p-values (DuckDB releases the
    GIL while it scans). The import lock makes a later import wait for it; not a daemon,
    so that interpreter shutdown never interrupts an import half done. (``scipy.stats``,
    ~1 s more, is only imported for samples small enough for scipy's exact KS.)"""
    import sys
    import threading

    if "scipy.special" not in sys.modules:
        threading.Thread(target=_import_scipy_special, name="sentinel-warm-scipy").start()


def _import_scipy_special() -> None:
    try:
        import scipy.special  # noqa: F401
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
    * otherwise: ``kstwo.sf(d, round(n1*n2 / (n1+n2)))`` by ``kstwo_sf`` (scipy.stats only
      for the branches it computes by Durbin's matrix), to 1e-9 relative.

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
    return d, float(np.clip(kstwo_sf(d, int(en)), 0.0, 1.0))


def kstwo_sf(d: float, n: int) -> float:
    """``scipy.stats.kstwo.sf(d, n)``, the two-sided one-sample KS survival function,
    following scipy 1.17's choice of method (Simard & L'Ecuyer 2011), without importing
    ``scipy.stats`` for ``n > 140`` except where scipy runs Durbin's matrix method
    (``n <= 100000`` and ``n d^1.5 <= 1.4``):

    * ``n d <= 1`` and ``n d >= n - 1``: Ruben–Gambino's closed forms;
    * ``d >= 0.5`` or ``2.2 <= n d^2 < 370``: ``2 * smirnov(n, d)``; for d < 0.5 and
      n up to 10^6 scipy sums all ~n terms in double-double arithmetic (up to 1.7 s at
      n = 10^6), ``smirnov_sf`` the same sum anchored and stepped in logs;
      ``n d^2 >= 370``: 0;
    * otherwise ``1 - `` the Pelz–Good expansion of the CDF (``_pelz_good_cdf``).
    """
    if d <= 0.0:
        return 1.0
    if d >= 1.0:
        return 0.0
    if n <= _SMIRNOV_MIN_N:
        return _scipy_kstwo_sf(d, n)
    t = n * d
    if t <= 1.0:  # P(D_n <= d) = n!/n^n (2t - 1)^n, below e^-n here
        if t <= 0.5:
            return 1.0
        log_nfact_nn = math.lgamma(n + 1) - n * math.log(n)
        return 1.0 - math.exp(log_nfact_nn + n * math.log(2 * t - 1))
    if t >= n - 1:
        return 2.0 * (1.0 - d) ** n
    nd2 = t * d
    if d >= 0.5 or 2.2 <= nd2 < 370.0:
        if _SMIRNOV_MIN_N < n <= _SMIRNOV_MAX_N and d < 0.5:
            return 2.0 * smirnov_sf(n, d)
        import scipy.special as sc

        return 2.0 * float(sc.smirnov(n, d))
    if nd2 >= 370.0:
        return 0.0
    if n <= 100_000 and n * d**1.5 <= 1.4:  # scipy: Durbin's matrix
        return _scipy_kstwo_sf(d, n)
    return 1.0 - _pelz_good_cdf(n, d)


def _scipy_kstwo_sf(d: float, n: int) -> float:
    from scipy.stats import distributions

    return float(distributions.kstwo.sf(d, n))


def _pelz_good_cdf(n: int, d: float) -> float:
    """Pelz & Good (1976): ``P(D_n <= d) ~ K0 + K1/√n + K2/n + K3/n^1.5`` with
    ``z = d√n``, each ``K`` a theta-like series in ``q^(j^2)``, ``q = exp(-π²/(8z²))``
    over odd ``j``, plus (for K2, K3) a series in ``exp(-π²k²/(2z²))`` over all ``k``.
    The terms fall off like ``exp(-j²/z²)``; with ``z < 1.5`` here ``j < 16z/π + 1``
    leaves nothing a double can hold."""
    z = math.sqrt(n) * d
    z2 = z * z
    pi2 = math.pi**2
    kmax = math.ceil(16 * z / math.pi)
    j2 = (2.0 * np.arange(1, kmax + 1) - 1.0) ** 2  # odd squares
    with np.errstate(under="ignore"):
        w = np.exp(-pi2 * j2 / (8 * z2))
        k2 = np.arange(1, kmax + 1, dtype=np.float64) ** 2
        v = np.exp(-pi2 * k2 / (2 * z2))
    if not w.any():  # z below ~0.042: every term underflows, the CDF is 0
        return 0.0
    a = pi2 * j2 / 4  # π² j² / 4
    r = math.sqrt(2 * math.pi)
    k0 = r / z * np.sum(w)
    k1 = r / (6 * z**4) * np.sum((a - z2) * w)
    k2_odd = np.sum((6 * z**6 + 2 * z**4 + (2 * z**4 - 5 * z2) * a + (1 - 2 * z2) * a * a) * w)
    k2_all = np.sum(k2 * v)
    k2_ = r / (72 * z**7) * k2_odd - pi2 * r / (36 * z**3) * k2_all
    k3_odd = np.sum(
        (
            -30 * z**6
            - 90 * z**8
            + (135 * z**4 - 96 * z**6) * a
            + (212 * z**4 - 60 * z2) * a * a
            + (5 - 30 * z2) * a**3
        )
        * w
    )
    k3_all = np.sum((3 * z2 - pi2 * k2) * k2 * v)
    k3_ = r / (6480 * z**10) * k3_odd + pi2 * r / (216 * z**6) * k3_all
    return float(k0 + k1 / math.sqrt(n) + k2_ / n + k3_ / n**1.5)


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
    compensated prefix sums; the terms within e^-80 of the largest are summed pairwise
    (``np.sum``: every term is positive, so its relative error stays ~log2(n) ulps).
    Taking logs of C(n, v) and the powers directly (pieces ~10^6) loses ~3e-9.
    """
    nn = int(math.floor(n * (1.0 - d)))
    v = np.arange(0, nn, dtype=np.float64)  # the step from term v to term v + 1
    a = d + v / n
    b = (n * (1.0 - d) - v) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        steps = (
            np.log((n - v) / (v + 1) * (d + (v + 1) / n) / b)  # three logs in one
            + (v - 1) * np.log1p(1 / (n * a))
            + (n - v - 1) * np.log1p(-1 / (n * b))
        )
    first = -math.log(d) + n * math.log1p(-d)
    logs = np.concatenate([[first], first + _prefix_sums(steps)])
    logs = logs[np.isfinite(logs)]
    top = float(logs.max())
    near = logs[logs > top - 80.0]
    return d * math.exp(top) * float(np.sum(np.exp(near - top)))


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
    _, exponent = math.frexp(max(ref.max(), cur.max()))
    if abs(exponent) <= _CHI2_SAFE_EXPONENT:
        exponent = 0  # the usual case: the table as it is
    table = np.ldexp(np.array([ref, cur]), -exponent)
    # Pearson's statistic, in scipy's order of operations: expected = row x column / total
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    stat = math.ldexp(float(((table - expected) ** 2 / expected).sum()), exponent)
    dof = table.shape[1] - 1
    return stat, chi2_sf(stat, dof), dof


def chi2_sf(statistic: float, dof: int) -> float:
    """``scipy.stats.chi2.sf(statistic, dof)`` (through ``scipy.special.chdtrc``, without
    importing ``scipy.stats``); 1.0 for ``dof == 0`` (a single category)."""
    if dof == 0:
        return 1.0
    import scipy.special as sc

    return float(sc.chdtrc(dof, statistic))


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
    p = ps[ok]
    order = np.argsort(p, kind="stable")
    m = p.size
    adj = p[order] * (m / np.arange(1, m + 1))  # m / i >= 1 first: never below p
    adj = np.minimum.accumulate(adj[::-1])[::-1]  # monotone: a running minimum from the top
    res = np.empty(m)
    res[order] = np.minimum(adj, 1.0)
    out[ok] = res
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
