"""Property tests of ``sentinel_sql.stats`` against scipy and direct numpy computations."""

from __future__ import annotations

import dataclasses
import doctest
import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon
from scipy.special import rel_entr

from sentinel_sql import stats

FAST = settings(max_examples=150, deadline=None)

finite_floats = st.floats(allow_nan=False, allow_infinity=False, width=64)


# --------------------------------------------------------------------------- strategies


@st.composite
def two_samples(draw: st.DrawFn, max_size: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Two float samples, often sharing a small pool of values (heavy ties, constants)."""
    pool = draw(st.lists(finite_floats, min_size=1, max_size=5))
    mode = draw(st.sampled_from(["pool", "mixed", "free"]))
    if mode == "pool":
        elem = st.sampled_from(pool)
    elif mode == "mixed":
        elem = st.one_of(st.sampled_from(pool), finite_floats)
    else:
        elem = finite_floats
    x = draw(st.lists(elem, min_size=1, max_size=max_size))
    y = draw(st.lists(elem, min_size=1, max_size=max_size))
    return np.array(x, dtype=np.float64), np.array(y, dtype=np.float64)


count_values = st.one_of(
    st.integers(0, 5),
    st.integers(0, 10**12),
    st.floats(min_value=0.0, max_value=1e300, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, 5e-324, 1e-300, 1.0, 1e300]),
)


@st.composite
def count_pairs(draw: st.DrawFn, max_bins: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Two count vectors on the same bins: zeros, one bin, huge and tiny magnitudes."""
    k = draw(st.integers(1, max_bins))
    ref = draw(st.lists(count_values, min_size=k, max_size=k))
    if draw(st.booleans()):
        cur = draw(st.lists(count_values, min_size=k, max_size=k))
    else:  # a nearby or proportional current side
        scale = draw(st.sampled_from([1, 2, 7, 1000]))
        cur = [c * scale for c in ref]
        i = draw(st.integers(0, k - 1))
        cur[i] = cur[i] + draw(st.integers(0, 3))
    return np.array(ref, dtype=np.float64), np.array(cur, dtype=np.float64)


def nonempty(pair: tuple[np.ndarray, np.ndarray]) -> bool:
    return pair[0].sum() > 0 and pair[1].sum() > 0


def proportions(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return ref / ref.sum(), cur / cur.sum()


# --------------------------------------------------------------------------- KS


def raw_ks_d(x: np.ndarray, y: np.ndarray) -> float:
    """The raw two-sided statistic exactly as scipy.stats.ks_2samp computes it."""
    x, y = np.sort(x), np.sort(y)
    pooled = np.concatenate([x, y])
    cddiffs = (
        np.searchsorted(x, pooled, side="right") / x.size
        - np.searchsorted(y, pooled, side="right") / y.size
    )
    min_s = np.clip(-cddiffs.min(), 0, 1)
    max_s = cddiffs.max()
    return float(min_s if min_s > max_s else max_s)


def assert_matches_ks_2samp(x: np.ndarray, y: np.ndarray) -> None:
    with warnings.catch_warnings():  # "Exact calculation unsuccessful": see below
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = scipy.stats.ks_2samp(x, y)
    stat, p = stats.ks_p_value(raw_ks_d(x, y), x.size, y.size)
    assert abs(stat - float(expected.statistic)) <= 1e-12
    assert math.isclose(p, float(expected.pvalue), rel_tol=1e-9, abs_tol=0.0)
    assert 0.0 <= p <= 1.0


@FAST
@given(two_samples())
def test_ks_matches_scipy_on_small_samples(xy: tuple[np.ndarray, np.ndarray]) -> None:
    assert_matches_ks_2samp(*xy)


@FAST
@given(st.integers(1, 400), st.integers(1, 400), st.data())
def test_ks_matches_scipy_on_every_lattice_point(n1: int, n2: int, data: st.DataObject) -> None:
    # Integer samples put d anywhere on the lattice k / lcm(n1, n2), ties included.
    hi = data.draw(st.integers(0, 50))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x = rng.integers(0, hi + 1, n1).astype(np.float64)
    y = rng.integers(0, hi + 1, n2).astype(np.float64) + data.draw(st.integers(-3, 3))
    assert_matches_ks_2samp(x, y)


@pytest.mark.parametrize(
    ("n1", "n2", "shift", "decimals"),
    [
        (10000, 7, 0.5, None),  # exact, very unequal sizes
        (2999, 3000, 0.05, None),  # exact, coprime sizes
        (10000, 10000, 0.02, 1),  # exact at the boundary, ties
        (10000, 10001, 0.02, None),  # asymp just past the boundary
        (10001, 20000, 0.03, None),  # asymp
        (20000, 20000, 0.0, 1),  # asymp, same distribution, heavy ties
        (20000, 12, 1.0, None),  # asymp, one tiny sample
        (15000, 15000, 5.0, None),  # asymp, disjoint samples: p underflows
    ],
)
def test_ks_matches_scipy_on_large_samples(
    n1: int, n2: int, shift: float, decimals: int | None
) -> None:
    rng = np.random.default_rng(n1 * 7 + n2)
    x = rng.normal(size=n1)
    y = rng.normal(loc=shift, size=n2)
    if decimals is not None:
        x, y = np.round(x, decimals), np.round(y, decimals)
    assert_matches_ks_2samp(x, y)


def test_ks_falls_back_to_asymp_with_rounded_d(monkeypatch: pytest.MonkeyPatch) -> None:
    from scipy.stats import _stats_py

    original = _stats_py._attempt_exact_2kssamp

    def failing(n1, n2, g, d, alternative):  # type: ignore[no-untyped-def]
        _, d_rounded, _ = original(n1, n2, g, d, alternative)
        return False, d_rounded, np.nan

    # sentinel_sql._compat calls the same private function, so both sides fail.
    monkeypatch.setattr(_stats_py, "_attempt_exact_2kssamp", failing)
    rng = np.random.default_rng(3)
    for n1, n2 in [(30, 7), (400, 399), (5, 5)]:
        x, y = rng.normal(size=n1), rng.normal(loc=0.3, size=n2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            assert_matches_ks_2samp(x, y)


@pytest.mark.parametrize(
    ("d", "n1", "n2"),
    [(0.5, 0, 3), (0.5, 3, 0), (0.5, -1, 3), (-0.1, 3, 3), (1.5, 3, 3), (math.nan, 3, 3)],
)
def test_ks_rejects_bad_input(d: float, n1: int, n2: int) -> None:
    with pytest.raises(ValueError):
        stats.ks_p_value(d, n1, n2)


def test_scipy_returns_nan_for_an_empty_sample_where_we_raise() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = scipy.stats.ks_2samp(np.array([]), np.array([1.0]))
    assert math.isnan(result.statistic) and math.isnan(result.pvalue)


def test_ks_exact_rounding_above_one_falls_back_like_scipy() -> None:
    # n1 == n2 and d = 1/n: scipy's exact p rounds to 1 + 2**-52, which it treats as a
    # failure, warns, and answers with the asymptotic p-value instead.
    x = np.arange(7, dtype=np.float64)
    with pytest.warns(RuntimeWarning, match="Exact calculation unsuccessful"):
        expected = scipy.stats.ks_2samp(x, x + 0.5)
    stat, p = stats.ks_p_value(1 / 7, 7, 7)
    assert stat == float(expected.statistic)
    assert p == float(expected.pvalue) < 1.0


# --------------------------------------------------------------------------- PSI


@FAST
@given(count_pairs(), st.sampled_from([1e-4, 1e-6, 0.01]))
def test_psi_is_symmetrised_kl_with_eps(pair: tuple[np.ndarray, np.ndarray], eps: float) -> None:
    ref, cur = pair
    value = stats.psi(ref, cur, eps=eps)
    if not nonempty(pair):
        assert math.isnan(value)
        return
    assert math.isfinite(value)  # every term is below 745 even for subnormal proportions
    assert value >= -1e-12
    p, q = proportions(ref, cur)
    p, q = np.where(p == 0, eps, p), np.where(q == 0, eps, q)
    with np.errstate(over="ignore"):
        loop = math.fsum((qi - pi) * math.log(qi / pi) for pi, qi in zip(p, q, strict=True))
        # (q - p) ln(q / p) = q ln(q / p) + p ln(p / q): an independent way to add it up.
        by_kl = float(np.sum(rel_entr(q, p)) + np.sum(rel_entr(p, q)))
    with np.errstate(over="ignore", under="ignore"):
        ratios = np.concatenate([q / p, p / q])
    # q / p overflows, or rounds to a subnormal (a few bits) when one proportion is subnormal:
    # there the ratio-based references are the inexact ones; ln q - ln p is checked by fsum.
    if np.all(np.isfinite(ratios) & (ratios >= np.finfo(np.float64).tiny)):
        for expected in (loop, by_kl):
            assert value == pytest.approx(expected, rel=1e-9, abs=1e-12)
    by_logs = math.fsum(
        (qi - pi) * (math.log(qi) - math.log(pi)) for pi, qi in zip(p, q, strict=True)
    )
    assert value == pytest.approx(by_logs, rel=1e-9, abs=1e-12)
    assert stats.psi(cur, ref, eps=eps) == pytest.approx(value, rel=1e-9, abs=1e-12)


@FAST
@given(st.lists(st.integers(0, 10**9), min_size=1, max_size=20), st.integers(1, 1000))
def test_psi_is_zero_for_proportional_counts(ref: list[int], scale: int) -> None:
    assume(sum(ref) > 0)
    assert stats.psi(ref, [scale * c for c in ref]) == pytest.approx(0.0, abs=1e-12)


def test_psi_replaces_zero_proportions_by_eps() -> None:
    # p = (1, eps), q = (eps, 1): PSI = 2 (1 - eps) ln(1 / eps)
    eps = stats.PSI_EPS
    assert stats.psi([5, 0], [0, 9]) == pytest.approx(2 * (1 - eps) * math.log(1 / eps))


# --------------------------------------------------------------------------- JS, Hellinger, L-inf


@FAST
@given(count_pairs())
def test_js_distance_matches_scipy(pair: tuple[np.ndarray, np.ndarray]) -> None:
    ref, cur = pair
    value = stats.js_distance(ref, cur)
    if not nonempty(pair):
        assert math.isnan(value)
        return
    assert 0.0 <= value <= 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = float(jensenshannon(ref, cur, base=2))
        if math.isinf(expected):
            # m = (p + q) / 2 underflowed to 0 in a bin where both proportions are
            # subnormal; such bins weigh < 1e-307, so scipy without them is the reference.
            p, q = proportions(ref, cur)
            keep = (p >= np.finfo(np.float64).tiny) | (q >= np.finfo(np.float64).tiny)
            expected = float(jensenshannon(ref[keep], cur[keep], base=2))
    if math.isnan(expected):  # scipy's divergence rounded below 0
        assert value == 0.0
        return
    # Compare divergences: sqrt amplifies the last-bit rounding of values near 0.
    assert abs(value**2 - expected**2) <= 1e-14
    if expected > 1e-3:
        assert value == pytest.approx(expected, rel=1e-9)
    assert stats.js_distance(cur, ref) == pytest.approx(value, rel=1e-9, abs=1e-7)


@FAST
@given(count_pairs())
def test_hellinger_matches_numpy(pair: tuple[np.ndarray, np.ndarray]) -> None:
    ref, cur = pair
    value = stats.hellinger(ref, cur)
    if not nonempty(pair):
        assert math.isnan(value)
        return
    p, q = proportions(ref, cur)
    by_norm = float(np.linalg.norm(np.sqrt(p) - np.sqrt(q)) / np.sqrt(2))
    by_bhattacharyya = math.sqrt(max(0.0, 1.0 - float(np.sum(np.sqrt(p * q)))))
    assert value == pytest.approx(by_norm, rel=1e-12, abs=1e-15)
    assert value == pytest.approx(by_bhattacharyya, abs=1e-7)  # that form cancels near 0
    assert 0.0 <= value <= 1.0


@FAST
@given(count_pairs())
def test_linf_matches_numpy(pair: tuple[np.ndarray, np.ndarray]) -> None:
    ref, cur = pair
    value = stats.linf(ref, cur)
    if not nonempty(pair):
        assert math.isnan(value)
        return
    p, q = proportions(ref, cur)
    assert value == float(np.linalg.norm(p - q, ord=np.inf))
    assert 0.0 <= value <= 1.0


@pytest.mark.parametrize("fn", [stats.js_distance, stats.hellinger, stats.linf])
def test_distances_at_the_extremes(fn) -> None:  # type: ignore[no-untyped-def]
    assert fn([3, 0, 0], [0, 2, 5]) == pytest.approx(1.0, abs=1e-15)
    assert fn([5e-324, 1.0], [5e-324, 2.0]) == pytest.approx(0.0, abs=1e-15)
    assert fn([3, 1, 4], [6, 2, 8]) == 0.0
    assert fn([7], [1]) == 0.0
    assert math.isnan(fn([0, 0], [1, 2]))
    assert math.isnan(fn([], []))


@pytest.mark.parametrize(
    "fn", [stats.psi, stats.js_distance, stats.hellinger, stats.linf, stats.chi2_homogeneity]
)
@pytest.mark.parametrize(
    ("ref", "cur"),
    [([1, 2], [1, 2, 3]), ([1, -1], [1, 1]), ([1, math.nan], [1, 1]), ([[1, 2]], [[1, 2]])],
)
def test_count_vectors_are_validated(fn, ref, cur) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        fn(ref, cur)


# --------------------------------------------------------------------------- chi-square


def chi2_by_formula(ref: np.ndarray, cur: np.ndarray) -> tuple[float, float, int]:
    table = np.array([ref, cur])
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    stat = float(np.sum((table - expected) ** 2 / expected))
    dof = table.shape[1] - 1
    return stat, float(scipy.stats.chi2.sf(stat, dof)), dof


integer_counts = st.one_of(st.integers(0, 3), st.integers(0, 10**12))


@st.composite
def integer_count_pairs(draw: st.DrawFn, max_bins: int = 12) -> tuple[np.ndarray, np.ndarray]:
    k = draw(st.integers(1, max_bins))
    ref = draw(st.lists(integer_counts, min_size=k, max_size=k))
    cur = draw(
        st.one_of(
            st.lists(integer_counts, min_size=k, max_size=k),
            st.just([2 * c for c in ref]),  # homogeneous: statistic 0
            st.just([c + 1 for c in ref]),  # nearly homogeneous
        )
    )
    return np.array(ref, dtype=np.float64), np.array(cur, dtype=np.float64)


@FAST
@given(integer_count_pairs())
def test_chi2_matches_chi2_contingency(pair: tuple[np.ndarray, np.ndarray]) -> None:
    ref, cur = pair
    stat, p, dof = stats.chi2_homogeneity(ref, cur)
    keep = (ref > 0) | (cur > 0)
    r, c = ref[keep], cur[keep]
    if keep.sum() <= 1 or r.sum() == 0 or c.sum() == 0:
        assert (stat, p, dof) == (0.0, 1.0, 0)
        return
    expected = scipy.stats.chi2_contingency(np.array([r, c]), correction=False)
    assert dof == expected.dof == keep.sum() - 1
    assert stat == pytest.approx(float(expected.statistic), rel=1e-12, abs=1e-300)
    assert math.isclose(p, float(expected.pvalue), rel_tol=1e-9, abs_tol=0.0)
    f_stat, _, _ = chi2_by_formula(r, c)
    assert stat == pytest.approx(f_stat, rel=1e-9, abs=1e-6)
    assert stat >= 0.0 and 0.0 <= p <= 1.0


@FAST
@given(integer_count_pairs(), st.integers(-1070, 900))
def test_chi2_at_huge_and_tiny_magnitudes(
    pair: tuple[np.ndarray, np.ndarray], exponent: int
) -> None:
    # The statistic is homogeneous of degree 1 in the counts; scaling by 2**e is exact.
    ref, cur = pair
    stat, p, dof = stats.chi2_homogeneity(ref, cur)
    scaled = stats.chi2_homogeneity(np.ldexp(ref, exponent), np.ldexp(cur, exponent))
    assert scaled[2] == dof
    assert scaled[0] == pytest.approx(math.ldexp(stat, exponent), rel=1e-12, abs=1e-300)
    expected_p = float(scipy.stats.chi2.sf(math.ldexp(stat, exponent), dof)) if dof else 1.0
    assert math.isclose(scaled[1], expected_p, rel_tol=1e-9, abs_tol=0.0)


def test_chi2_drops_empty_categories_and_handles_one_category() -> None:
    with_zeros = stats.chi2_homogeneity([10, 0, 20, 0], [20, 0, 10, 0])
    assert with_zeros == stats.chi2_homogeneity([10, 20], [20, 10])
    assert with_zeros[2] == 1
    assert stats.chi2_homogeneity([5], [9]) == (0.0, 1.0, 0)
    assert stats.chi2_homogeneity([0, 0], [4, 5]) == (0.0, 1.0, 0)
    assert stats.chi2_homogeneity([], []) == (0.0, 1.0, 0)
    # Counts whose margins overflow inside scipy.
    big = stats.chi2_homogeneity([1e300, 2e300], [2e300, 1e300])
    assert big[0] == pytest.approx(1e300 * with_zeros[0] / 10, rel=1e-12)
    assert big[1] == 0.0
    # scipy itself refuses an all-zero category, which is why we drop them first.
    with pytest.raises(ValueError):
        scipy.stats.chi2_contingency(np.array([[10, 0], [20, 0]]), correction=False)


# --------------------------------------------------------------------------- BH


def bh_by_definition(ps: list[float]) -> list[float]:
    """adj(p_i) = min over p_j >= p_i of p_j * m / #{l : p_l <= p_j}, capped at 1."""
    m = len(ps)
    return [
        min(1.0, min(pj * m / sum(pl <= pj for pl in ps) for pj in ps if pj >= pi)) for pi in ps
    ]


p_values = st.one_of(
    st.floats(0.0, 1.0), st.sampled_from([0.0, 1.0, 5e-324, 0.05, 0.5]), st.just(math.nan)
)


@FAST
@given(st.lists(p_values, max_size=40))
@example(ps=[0.0, 0.0, 3.1973884836002557e-190])  # p * 3 / 3 < p: rounding order matters
def test_benjamini_hochberg_matches_scipy(ps: list[float]) -> None:
    adjusted = stats.benjamini_hochberg(ps)
    arr = np.array(ps, dtype=np.float64)
    assert adjusted.shape == arr.shape
    nan = np.isnan(arr)
    assert np.array_equal(np.isnan(adjusted), nan)
    finite = arr[~nan]
    if finite.size == 0:
        return
    expected = scipy.stats.false_discovery_control(finite, method="bh")
    np.testing.assert_allclose(adjusted[~nan], expected, rtol=1e-12, atol=0)
    np.testing.assert_allclose(
        adjusted[~nan], bh_by_definition(finite.tolist()), rtol=1e-12, atol=0
    )
    assert np.all(adjusted[~nan] >= finite)
    assert np.all(adjusted[~nan] <= 1.0)


def test_benjamini_hochberg_edge_cases() -> None:
    assert stats.benjamini_hochberg([]).shape == (0,)
    assert np.isnan(stats.benjamini_hochberg([math.nan, math.nan])).all()
    assert stats.benjamini_hochberg([0, 1]).tolist() == [0.0, 1.0]  # integer input
    with pytest.raises(ValueError):
        stats.benjamini_hochberg([0.5, 1.5])


# --------------------------------------------------------------------------- registry, docs


def test_registry_lists_the_binned_statistics() -> None:
    names = [s.name for s in stats.BINNED_STATISTICS]
    assert names == ["psi", "js_distance", "hellinger", "linf"]
    ref, cur = [5, 3, 0, 2], [1, 3, 4, 2]
    for statistic in stats.BINNED_STATISTICS:
        assert statistic.kinds == ("numeric", "categorical")
        assert statistic.compute is getattr(stats, statistic.name)
        assert statistic.compute(ref, cur) > 0
        assert statistic.threshold is None or statistic.threshold > 0
        assert statistic.doc
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.BINNED_STATISTICS[0].threshold = 1.0  # type: ignore[misc]


def test_docstring_examples() -> None:
    result = doctest.testmod(stats, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 8
    assert result.failed == 0


def test_importing_stats_does_not_import_scipy() -> None:
    code = "import sys, sentinel_sql.stats; assert 'scipy' not in sys.modules, 'scipy imported'"
    root = Path(stats.__file__).resolve().parent.parent
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True)


@settings(max_examples=60, deadline=None)
@given(st.integers(141, 200_000), st.floats(2.2, 369.9))
def test_smirnov_sum_matches_scipy(n, nd2):
    """The branch of kstwo.sf that scipy computes by an exact sum over ~n terms."""
    import scipy.special as sc

    d = math.sqrt(nd2 / n)
    if d >= 0.5:
        return
    got, want = stats.smirnov_sf(n, d), sc.smirnov(n, d)
    assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-300)


@pytest.mark.parametrize("n", [999_999, 1_000_000, 654_321])
@pytest.mark.parametrize("nd2", [2.2, 9.0, 150.0, 369.0])
def test_smirnov_sum_at_the_largest_sizes(n, nd2):
    import scipy.special as sc
    from scipy.stats import distributions

    d = math.sqrt(nd2 / n)
    assert math.isclose(stats.smirnov_sf(n, d), sc.smirnov(n, d), rel_tol=1e-9, abs_tol=1e-300)
    # the two-sample p-value equals kstwo.sf wherever it goes through the sum
    n1 = n2 = 2 * n
    _, p = stats.ks_p_value(d, n1, n2)
    assert math.isclose(p, distributions.kstwo.sf(d, n), rel_tol=1e-9, abs_tol=1e-300)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(st.integers(141, 100_000), st.integers(100_001, 10**9)),
    st.one_of(
        st.floats(0.0, 2.2),  # the Pelz-Good region (n d^2 < 2.2)
        st.floats(2.2, 400.0),  # 2 * smirnov, then 0
        st.floats(0.0, 1.0).map(lambda t: -t),  # marks d = t'/n, Ruben-Gambino's n d <= 1
    ),
)
def test_kstwo_sf_matches_scipy_for_large_n(n, x):
    """kstwo.sf without scipy.stats (every branch for n > 140) equals scipy's."""
    from scipy.stats import distributions

    d = -x * 1.2 / n if x < 0 else math.sqrt(x / n)
    if 1_000_000 < n and 2.2 <= n * d * d < 370 and n > 10**8:
        return  # scipy's own smirnov is asymptotic there; nothing of ours runs
    got, want = stats.kstwo_sf(d, n), float(distributions.kstwo.sf(d, n))
    assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-300), (n, d, got, want)


@pytest.mark.parametrize("d", [0.0, 1e-9, 0.5, 0.999999, 1.0])
def test_kstwo_sf_edges(d):
    from scipy.stats import distributions

    for n in (141, 99_999, 100_001, 5_000_000):
        want = float(distributions.kstwo.sf(d, n))
        assert math.isclose(stats.kstwo_sf(d, n), want, rel_tol=1e-9, abs_tol=1e-300)


def test_large_comparisons_do_not_import_scipy_stats() -> None:
    """The p-values of samples above scipy's exact KS size (KS, chi-square, BH) come from
    scipy.special alone: scipy.stats costs ~1 s of import on every run."""
    code = (
        "import sys, numpy as np, polars as pl, sentinel_sql\n"
        "rng = np.random.default_rng(1)\n"
        "n = 250_000\n"
        "ref = pl.DataFrame({'x': rng.normal(size=n), 'c': rng.choice(['a', 'b'], n)})\n"
        "cur = pl.DataFrame({'x': rng.normal(0.01, size=n), 'c': rng.choice(['a', 'b'], n)})\n"
        "r = sentinel_sql.compare(ref, cur).column('x')\n"
        "assert 'scipy.stats' not in sys.modules, 'scipy.stats imported'\n"
        "import scipy.stats as ss\n"
        "want = ss.ks_2samp(ref['x'].to_numpy(), cur['x'].to_numpy())\n"
        "assert r['ks']['statistic'] == want.statistic\n"
        "assert abs(r['ks']['p_value'] - want.pvalue) <= 1e-9 * want.pvalue, r['ks']\n"
    )
    root = Path(stats.__file__).resolve().parent.parent
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True)
