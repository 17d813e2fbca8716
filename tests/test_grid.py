"""The raw comparison's grids (``scan.grid_key``): monotone and nested keys, and exact
statistics where the grid cannot tell values apart."""

from __future__ import annotations

import math

import duckdb
import numpy as np
import polars as pl
import scipy.stats as ss
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import sentinel_sql
from sentinel_sql import scan

doubles = st.floats(allow_nan=False, allow_infinity=False, width=64)
scales = st.floats(min_value=5e-324, max_value=1.7e308, allow_nan=False)


def keys(values: list[float], m: float, c: float, q: int) -> list[float]:
    con = duckdb.connect()
    sql = f"SELECT {scan.grid_key()} FROM (SELECT unnest(CAST(? AS DOUBLE[])) AS f)"
    return [r[0] for r in con.execute(sql, [*scan.grid_params((m, c), q), values]).fetchall()]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(doubles, min_size=1, max_size=40),
    doubles,
    scales,
    st.integers(0, scan.LAST_GRID - 1),
    st.integers(1, 20),
)
def test_keys_never_decrease_and_finer_grids_nest(values, m, c, q, step):
    """Sorted values get non-decreasing keys on every grid, and a key on a finer grid names a
    sub-bin of the coarser key: bins are intervals and refinement never crosses a bin."""
    values = sorted(values)
    fine_q = min(scan.LAST_GRID, q + step)
    coarse, fine = keys(values, m, c, q), keys(values, m, c, fine_q)
    assert all(a <= b for a, b in zip(coarse, coarse[1:], strict=False))
    assert all(a <= b for a, b in zip(fine, fine[1:], strict=False))
    assert [math.trunc(k / 2.0 ** (fine_q - q)) for k in fine] == [int(k) for k in coarse]


def test_non_finite_and_null_keys():
    """+-inf and NaN share the NaN key (counted as non-finite), NULL stays NULL, and the
    finite extremes keep finite keys whatever the centre."""
    con = duckdb.connect()
    sql = f"SELECT {scan.grid_key()} FROM (SELECT unnest(CAST(? AS DOUBLE[])) AS f)"
    vals = [float("inf"), float("-inf"), float("nan"), None, 1.7e308, -1.7e308, -0.0]
    out = [r[0] for r in con.execute(sql, [*scan.grid_params((-1e308, 1.0), 30), vals]).fetchall()]
    assert all(math.isnan(k) for k in out[:3])
    assert out[3] is None
    assert all(math.isfinite(k) for k in out[4:])


def check_ks(ref: np.ndarray, cur: np.ndarray) -> None:
    res = sentinel_sql.compare(pl.DataFrame({"x": ref}), pl.DataFrame({"x": cur}))
    col = res.column("x")
    want = ss.ks_2samp(ref, cur)
    assert col["ks"]["statistic"] == want.statistic
    assert math.isclose(col["ks"]["p_value"], want.pvalue, rel_tol=1e-9, abs_tol=1e-300)
    assert col["histogram"]["edges"] == sorted(set(np.quantile(ref, np.arange(1, 10) / 10)))


def test_values_the_grid_cannot_separate_are_fetched(force_narrow):
    """A cluster of distinct values far closer together than y resolves next to the grid's
    centre (they all share a key on the finest grid), and values whose distance to the
    centre overflows: exact all the same, through the finest-grid fetch."""
    rng = np.random.default_rng(3)
    spread = rng.normal(0, 1e6, 300)
    cluster = np.arange(1, 41) * 1e-12
    ref = np.concatenate([spread, cluster, [1.7e308, -1.7e308]])
    cur = np.concatenate([spread[:200] * 1.5, cluster[::2], [1e308]])
    check_ks(ref, cur)
    check_ks(cur, ref)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.integers(0, 2**32 - 1), st.sampled_from([1.0, 1e-300, 1e300, 3e-320]))
def test_deep_refinement_matches_scipy(force_narrow, seed, scale):
    """Heavy tails at huge and tiny magnitudes with ties, refined from a coarse first grid."""
    rng = np.random.default_rng(seed)
    ref = np.round(rng.standard_cauchy(400), 2) * scale
    cur = np.round(rng.standard_cauchy(300) + 0.3, 2) * scale
    check_ks(ref, cur)


values = st.one_of(
    doubles,
    st.sampled_from([0.0, -0.0, 1.0, 1.0, 1.0, 5e-324, -1e-300, 1e300, float("nan"), float("inf")]),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(values, min_size=1, max_size=60), st.lists(values, min_size=1, max_size=60))
@example(ref=[0.0], cur=[2.0**1023])  # CI found: midpoint of two bounds near 2^1023 overflowed
@example(ref=[-(2.0**1023)], cur=[2.0**1023, 0.0])
def test_against_a_saved_profile_bounds_hold(tmp_path_factory, ref, cur):
    """Against a saved profile (order-code bins) the current's grid bins give KS and
    Wasserstein bounds that contain scipy's values; PSI and null fractions are exact."""
    ref, cur = np.array(ref), np.array(cur)
    path = tmp_path_factory.mktemp("p") / "ref.profile.json"
    sentinel_sql.profile(pl.DataFrame({"x": ref})).save(path)
    col = sentinel_sql.compare(str(path), pl.DataFrame({"x": cur})).column("x")
    raw = sentinel_sql.compare(pl.DataFrame({"x": ref}), pl.DataFrame({"x": cur})).column("x")
    r, c = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    assert col["null_fraction"] == raw["null_fraction"]
    if len(r) == 0 or len(c) == 0:
        assert "ks" not in col
        return
    d = ss.ks_2samp(r, c).statistic
    assert abs(col["ks"]["statistic"] - d) <= col["ks"].get("error_bound", 0.0) * (1 + 1e-12)
    if "error_bound" not in col["ks"]:
        assert col["ks"]["statistic"] == d
    assert col["psi"] == raw["psi"]
    assert col["histogram"] == raw["histogram"]
    with np.errstate(all="ignore"):
        w = ss.wasserstein_distance(r, c)
    if math.isfinite(w):
        got = col["wasserstein"]
        assert abs(got["value"] - w) <= got["error_bound"] * (1 + 1e-9) + 1e-9 * abs(w) + 1e-300
