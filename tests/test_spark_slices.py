"""Slice discovery on Spark: the same answer as DuckDB on the same Parquet files.

Spark runs the scans of the raw data, the DuckDB search finishes on the small results
(``slices_search``, "Engines"). Every comparison is of the whole JSON result (slices, sizes,
error sums, scores, candidates per level, bins), not of hard-coded numbers. The errors here
are 0/1 or multiples of 1/4, so that every error sum is exact in any summation order.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import invoke

from sentinel_sql import slices_search
from sentinel_sql.errors import InputError
from sentinel_sql.slices import explain_drop, find_slices
from sentinel_sql.slices_prep import Feature, missing_sql

QUOTE, TICK, SPACED, UNICODE = 'seg"ment', "back`tick; x", "age in years", "pays ü"
N = 1200


def _table(seed: int, planted: float) -> pa.Table:
    """Hostile names, NULLs in a text feature, NULL and NaN in a float feature, and a failing
    segment (``seg"ment = 'a'`` and an age above 45) with error rate ``planted``."""
    rng = np.random.default_rng(seed)
    seg = rng.choice(["a", "b", "c"], N).astype(object)
    seg[rng.random(N) < 0.08] = None
    age = np.round(rng.normal(40, 12, N), 1)
    age[rng.random(N) < 0.04] = np.nan  # NaNs (pyarrow's statistics leave them out) ...
    age_col = pa.array(age, mask=rng.random(N) < 0.04)  # ... and NULLs
    label = rng.integers(0, 2, N)
    wrong = rng.random(N) < 0.08
    wrong |= (seg == "a") & (np.nan_to_num(age) > 45) & (rng.random(N) < planted)
    return pa.table({
        QUOTE: pa.array(seg.tolist(), pa.string()),
        TICK: rng.choice(["x", "y"], N),
        SPACED: age_col,
        UNICODE: rng.choice(["ü", "é", "z", "ß"], N),
        "n": rng.integers(0, 4, N),
        "label": label,
        "pred": np.where(wrong, 1 - label, label),
        "err": np.where(wrong, 1.0, 0.0) * rng.choice([0.25, 1.0, 2.5], N),
    })


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("spark_slices")
    paths = {}
    for name, seed, planted in (("ref", 1, 0.0), ("cur", 2, 0.7)):
        paths[name] = root / f"{name}.parquet"
        pq.write_table(_table(seed, planted), paths[name], row_group_size=400)
    return paths


def test_find_slices_on_spark_equals_duckdb(spark, files, monkeypatch):
    # renumber the codes at level 3 too, so that the grouped rows go through every step
    monkeypatch.setattr(slices_search, "RECODE_FROM", 0)
    kw = dict(label="label", prediction="pred", min_support=20,
              features=[QUOTE, TICK, SPACED, UNICODE, "n"])
    ours = find_slices(files["cur"], **kw).to_dict()
    sent = _record_spark_sql(monkeypatch)
    theirs = find_slices(files["cur"], engine="spark", **kw).to_dict()
    assert theirs == ours
    _check_golden("slices.sql", sent)
    top = ours["slices"][0]["predicates"]
    assert {"column": QUOTE, "value": "a"} in top
    assert any(p["column"] == SPACED and p["low"] is not None for p in top)
    assert ours["candidates"][2] > 0  # level 3 was evaluated


def _record_spark_sql(monkeypatch) -> list[str]:
    """The Spark SQL of every query sent to Spark from now on (names made stable)."""
    from sentinel_sql import spark as sp
    from sentinel_sql.dialect import to_spark

    sent: list[str] = []
    real = sp.SparkConnection._frame

    def frame(self, sql, params):
        text = re.sub(r"__sentinel_spark_\d+_\d+", "__src", to_spark(sql))
        sent.append(re.sub(r"__sl\d+_", "__sl_", text))
        return real(self, sql, params)

    monkeypatch.setattr(sp.SparkConnection, "_frame", frame)
    return sent


def _check_golden(name: str, queries: list[str]) -> None:
    """Pin the generated Spark SQL (``SENTINEL_UPDATE_GOLDEN=1`` rewrites the file)."""
    path = Path(__file__).parent / "golden" / "spark" / name
    got = "\n;\n".join(queries) + "\n"
    if os.environ.get("SENTINEL_UPDATE_GOLDEN") == "1":
        path.write_text(got, encoding="utf-8")
    assert got == path.read_text(encoding="utf-8"), (
        f"{path} is stale: rerun with SENTINEL_UPDATE_GOLDEN=1 and review the diff"
    )


def test_explain_drop_on_spark_frame_equals_duckdb(spark, files):
    kw = dict(error="err", features=[QUOTE, SPACED, UNICODE, "n"], min_support=30, bins=4,
              max_level=2, top_k=5)
    ours = explain_drop(files["ref"], files["cur"], **kw).to_dict()
    current = spark.read.parquet(str(files["cur"]))  # a Spark DataFrame: engine chosen by itself
    theirs = explain_drop(files["ref"], current, **kw).to_dict()
    assert theirs == ours
    assert ours["change"] > 0 and ours["slices"]


def test_cli_spark_equals_duckdb_and_bad_input(spark, files, tmp_path):
    args = ["slices", files["cur"], "--error", "err", "--features", f"{QUOTE},{TICK},n",
            "--min-support", "25", "--max-level", "2", "--format", "json"]
    ours, _ = invoke(args, 0)
    theirs, _ = invoke([*args, "--engine", "spark", "--spark-master", "local[2]"], 0)
    assert json.loads(theirs) == json.loads(ours)
    _, err = invoke(["slices", tmp_path / "nope.parquet", "--label", "label", "--prediction",
                     "pred", "--engine", "spark"], 2)
    assert "nope.parquet" in err and "not found" in err and len(err.strip().splitlines()) == 1
    _, err = invoke(["slices", files["cur"], "--label", "nolabel", "--prediction", "pred",
                     "--engine", "spark"], 2)
    assert "'nolabel'" in err and len(err.strip().splitlines()) == 1
    _, err = invoke([*args, "--spark-master", "local[2]"], 2)
    assert "--engine spark" in err


def test_api_bad_input(files):
    with pytest.raises(InputError, match="engine must be one of"):
        find_slices(files["cur"], label="label", prediction="pred", engine="polars")
    with pytest.raises(InputError, match="spark_master needs engine='spark'"):
        find_slices(files["cur"], label="label", prediction="pred", spark_master="local[1]")


# ---------------------------------------------------------------------------------------------
# DuckDB alone: what makes the two engines agree


def test_nan_in_parquet_is_missing_on_duckdb(tmp_path):
    """DuckDB 2.0 folds ``isnan`` to false on Parquet columns whose statistics omit the NaNs;
    NaN must still be a missing value (key NULL), not a member of the top bin."""
    import duckdb

    path = tmp_path / "nan.parquet"
    pq.write_table(pa.table({"x": [1.0, float("nan"), 2.0, None]}), path)
    con = duckdb.connect()
    rel = con.read_parquet(str(path))  # noqa: F841 - read by name below
    binned = Feature("x", 0, "DOUBLE", "binned", [1.5])
    plain = Feature("x", 0, "DOUBLE")
    got = con.sql(f"SELECT {binned.key_sql()}, {plain.key_sql()}, {missing_sql('x', 'DOUBLE')} "
                  f"FROM rel").fetchall()
    assert [tuple(r) for r in got] == [(0, 1.0, False), (None, None, True), (1, 2.0, False),
                                       (None, None, True)]


@pytest.mark.parametrize("k", [3, 5, 7])
def test_edges_are_exactly_numpy_quantiles(tmp_path, k):
    rng = np.random.default_rng(k)
    x = rng.standard_normal(997) * 10.0 ** rng.integers(-3, 4, 997)
    path = tmp_path / "x.parquet"
    pq.write_table(pa.table({"x": x, "e": (rng.random(997) < 0.2).astype(float)}), path)
    res = find_slices(path, error="e", bins=k, max_level=1)
    expect = sorted(set(np.quantile(x, [i / k for i in range(1, k)]).tolist()))
    assert res.bins["x"] == expect
    assert all(math.isfinite(e) for e in expect)


@pytest.mark.parametrize("seed", [2, 4])
def test_edges_skip_null_and_non_finite_features(seed):
    """NULL, NaN and inf feature values are missing, not the top bin (a NULL once landed in
    the bucket above every probe and had no value)."""
    import polars as pl

    k = 2
    rng = np.random.default_rng(seed)
    x = rng.choice([0.0, 1.0, 2.0], 300, p=[0.1, 0.1, 0.8])  # the edge is the maximum
    xs = [None if i % 7 == 0 else (math.nan if i % 11 == 0 else v) for i, v in enumerate(x)]
    xs[5] = math.inf
    frame = pl.DataFrame({"x": pl.Series(xs, dtype=pl.Float64), "e": rng.random(300) < 0.3})
    res = find_slices(frame.with_columns(pl.col("e").cast(pl.Float64)), error="e", bins=k,
                      max_level=1)
    finite = np.array([v for v in xs if v is not None and math.isfinite(v)])
    expect = sorted(set(np.quantile(finite, [i / k for i in range(1, k)]).tolist()))
    assert res.bins["x"] == expect
