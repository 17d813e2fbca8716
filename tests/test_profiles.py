"""Saved profiles: exact where the issue demands it, bounded where it cannot be, mergeable."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

import sentinel_sql
from sentinel_sql.errors import InputError
from sentinel_sql.profiles import Profile


def _data(seed: int, n: int, shift: float = 0.0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, size=n)
    x[rng.random(n) < 0.05] = np.nan
    return pl.DataFrame(
        {
            "x": x,
            "heavy": np.exp(2 * rng.normal(size=n)),
            "k": rng.integers(0, 9, n),
            "s": [None if v == "-" else v for v in rng.choice(["a", "b", "c", "-"], n)],
        }
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_profile_comparison_equals_raw_where_exact(tmp_path, seed):
    ref, cur = _data(seed, 5000), _data(seed + 10, 4000, shift=0.2)
    path = tmp_path / "ref.profile.json"
    sentinel_sql.profile(ref).save(path)
    raw = sentinel_sql.compare(ref, cur).to_dict()
    prof = sentinel_sql.compare(str(path), cur).to_dict()
    assert prof["reference"]["profile"] is True
    for a, b in zip(raw["columns"], prof["columns"], strict=True):
        assert a["null_fraction"] == b["null_fraction"]
        assert a["psi"] == b["psi"]
        for key in ("js_distance", "hellinger", "chi2", "histogram"):
            assert a.get(key) == b.get(key)
        if a["kind"] == "numeric":
            exact_d = a["ks"]["statistic"]
            bound = b["ks"].get("error_bound", 0.0)
            assert abs(b["ks"]["statistic"] - exact_d) <= bound + 1e-15
            w = a["wasserstein"]
            assert abs(b["wasserstein"]["value"] - w["value"]) <= (
                b["wasserstein"]["error_bound"] + w["error_bound"] + 1e-12
            )


def test_merged_halves_equal_the_whole():
    df = _data(3, 6000)
    whole = sentinel_sql.profile(df)
    merged = sentinel_sql.profile(df.head(2500)).merge(sentinel_sql.profile(df.tail(3500)))
    assert merged.rows == whole.rows
    for name, w in whole.columns.items():
        m = merged.columns[name]
        assert (m.non_null, m.finite, m.min, m.max) == (w.non_null, w.finite, w.min, w.max)
        assert m.keys == w.keys and m.counts == w.counts
        assert m.categories == w.categories
        assert m.sum == pytest.approx(w.sum, rel=1e-12, abs=1e-9)


def test_profile_file_is_small_versioned_and_checked(tmp_path):
    small, big = tmp_path / "s.profile.json", tmp_path / "b.profile.json"
    sentinel_sql.profile(_data(4, 2000)).save(small)
    sentinel_sql.profile(_data(4, 200_000)).save(big)
    assert big.stat().st_size < 3 * small.stat().st_size + 50_000  # independent of row count
    d = json.loads(small.read_text())
    assert d["format"] == "sentinel-profile" and d["version"] == 1
    d["version"] = 99
    bad = tmp_path / "bad.profile.json"
    bad.write_text(json.dumps(d))
    with pytest.raises(InputError, match="version"):
        Profile.load(bad)
    with pytest.raises(InputError, match="not found"):
        Profile.load(tmp_path / "missing.profile.json")


def test_schema_change_against_profile(tmp_path):
    path = tmp_path / "r.profile.json"
    sentinel_sql.profile(_data(5, 500)).save(path)
    cur = _data(6, 500).drop("k").with_columns(pl.col("x").cast(pl.Float32))
    res = sentinel_sql.compare(str(path), cur)
    changes = {(c["column"], c["change"]) for c in res.schema_changes}
    assert ("k", "missing_in_current") in changes and ("x", "type_changed") in changes
