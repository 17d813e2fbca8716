"""The Spark engine: generated Spark SQL (golden files), the order code on Spark, and the same
results as DuckDB on the same files (drift, profiles, CLI)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from helpers import invoke
from hypothesis import given, settings
from hypothesis import strategies as st

import sentinel_sql
from sentinel_sql.exact import ord_of

GOLDEN = Path(__file__).parent / "golden" / "spark"
HOSTILE = 'we"ird`; col ü'
INEXACT = {"mean", "sum", "sum_sq"}  # float sums: the summation order differs between engines


def _raw_bits(x: np.ndarray) -> np.ndarray:
    return (np.asarray(x, dtype=np.float64) + 0.0).view(np.int64)


def _adversarial() -> np.ndarray:
    p = np.ldexp(1.0, np.arange(-1074, 1024))
    rng = np.random.default_rng(7)
    bits = rng.integers(-(2**63), 2**63 - 1, 5000, dtype=np.int64).view(np.float64)
    x = np.concatenate(
        [
            p,
            -p,
            np.nextafter(p, 0),
            np.nextafter(p[:-1], np.inf),
            [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 2.225073858507201e-308],
            [1.7976931348623157e308, -1.7976931348623157e308, 0.1, 1 / 3, 1e-300, 123456789.0],
            bits,
            rng.standard_normal(2000),
        ]
    )
    return x[np.isfinite(x)]


# ---------------------------------------------------------------------------------------------
# the generated SQL


def _golden_queries() -> dict[str, str]:
    """The DuckDB SQL of every engine query for a fixed plan (captured while running on a
    tiny table), as ``name -> sql``."""
    import duckdb

    from sentinel_sql import exact, scan
    from sentinel_sql.kinds import value_sql
    from sentinel_sql.sources import Source

    con = duckdb.connect()
    con.execute(
        f'CREATE TABLE t (x DOUBLE, "{HOSTILE.replace(chr(34), chr(34) * 2)}" VARCHAR, d DATE, '
        "ts TIMESTAMP WITH TIME ZONE, b BOOLEAN)"
    )
    con.execute(
        "INSERT INTO t VALUES (1.5, 'a', DATE '2024-01-02', TIMESTAMP '2024-01-02 03:04:05', "
        "true), (-2.0, NULL, NULL, NULL, false)"
    )
    src = Source(con, "golden", "relation", None, "t")
    src.columns = {r[0]: r[1] for r in con.execute("DESCRIBE t").fetchall()}
    plans = [
        scan.ColumnPlan(n, t, k, value_sql(n, t, k))
        for n, t, k in [
            ("x", "DOUBLE", "numeric"),
            (HOSTILE, "VARCHAR", "categorical"),
            ("d", "DATE", "numeric"),
            ("ts", "TIMESTAMP WITH TIME ZONE", "numeric"),
            ("b", "BOOLEAN", "categorical"),
        ]
    ]
    seen: list[str] = []
    real = scan._run

    def record(con_, src_, sql, params=None, arrow=False):
        seen.append(sql)
        return real(con_, src_, sql, params, arrow)

    mp = pytest.MonkeyPatch()
    mp.setattr(scan, "_run", record)
    try:
        numeric = [p for p in plans if p.kind == "numeric"]
        scan.summarize(con, src, plans, edges={"x": [0.0, 1.0]})
        scan.histograms(con, src, numeric)
        x = numeric[0]
        scan.narrow(con, src, {x: [(40, [1, 2])]}, {x: (32, [3], 40)})
    finally:
        mp.undo()
    assert exact  # imported for the side effect of a complete engine
    return dict(zip(["summarize", "categories", "histograms", "narrow"], seen, strict=True))


def test_generated_spark_sql_matches_the_golden_files():
    pytest.importorskip("sqlglot")
    from sentinel_sql.dialect import to_spark

    update = os.environ.get("SENTINEL_UPDATE_GOLDEN") == "1"
    for name, sql in _golden_queries().items():
        got = to_spark(sql) + "\n"
        path = GOLDEN / f"{name}.sql"
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(got, encoding="utf-8")
        assert got == path.read_text(encoding="utf-8"), (
            f"{path} is stale: rerun with SENTINEL_UPDATE_GOLDEN=1 and review the diff"
        )
        assert "BIT" not in got and "ISFINITE" not in got.upper() and "EPOCH_US" not in got


def test_to_spark_refuses_what_spark_cannot_run():
    pytest.importorskip("sqlglot")
    from sentinel_sql.dialect import to_spark
    from sentinel_sql.errors import InputError

    with pytest.raises(InputError, match="TIME"):
        to_spark("SELECT CAST(x AS TIME) FROM t")
    with pytest.raises(InputError, match="plain column"):
        to_spark("SELECT CAST(CAST(x + 1 AS BIT) AS BIGINT) FROM t")


def _layered_bits_in_duckdb(x: np.ndarray) -> np.ndarray:
    """The layered form Spark runs (``dialect._layered``), written back as DuckDB SQL."""
    import duckdb
    import pyarrow as pa
    import sqlglot

    from sentinel_sql import dialect

    tree = sqlglot.parse_one("SELECT CAST(CAST(f AS BIT) AS BIGINT) AS b FROM t", read="duckdb")
    sql = dialect._layered(tree).sql(dialect="duckdb")
    assert "BIT" not in sql
    con = duckdb.connect()
    con.register("t", pa.table({"f": x + 0.0}))
    return con.execute(sql).fetchnumpy()["b"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=50))
def test_layered_order_code_equals_the_ieee_bits(xs):
    """The arithmetic that replaces DuckDB's BIT cast on Spark, evaluated by DuckDB (it is
    plain SQL): bit for bit the IEEE-754 pattern, for any finite double."""
    x = np.array(xs, dtype=np.float64)
    assert np.array_equal(_layered_bits_in_duckdb(x), _raw_bits(x))


def test_spark_order_code_formula_on_adversarial_values_in_duckdb():
    x = _adversarial()
    assert np.array_equal(_layered_bits_in_duckdb(x), _raw_bits(x))


def test_order_code_on_spark_equals_numpy(spark):
    from sentinel_sql.spark import SparkConnection

    x = _adversarial()
    spark.createDataFrame([(float(v),) for v in x], "f double").createOrReplaceTempView("ordt")
    con = SparkConnection(spark)
    sql = (
        "SELECT f, CASE WHEN b >= 0 THEN b ELSE xor(b, 9223372036854775807) END AS o"
        ' FROM (SELECT f, CAST(CAST(f AS BIT) AS BIGINT) AS b FROM "ordt")'
    )
    tbl = con.sql(sql).to_arrow_table()
    f = tbl.column("f").to_numpy()
    o = tbl.column("o").to_numpy()
    assert len(f) == len(x)
    assert np.array_equal(o, ord_of(f))


# ---------------------------------------------------------------------------------------------
# the same results as DuckDB


def _frame(seed: int, n: int, shift: float = 0.0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, n)
    x[::37] = np.nan
    x[::41] = np.inf
    x[::43] = -np.inf
    heavy = rng.standard_cauchy(n) * 1e200
    tiny = rng.standard_normal(n) * 1e-310
    ties = rng.integers(0, 4, n).astype(float)
    cat = rng.choice(["a", "b", "c", "ü ; '"], n).astype(object)
    cat[::11] = None
    return pl.DataFrame(
        {
            "x": x,
            HOSTILE: pl.Series(cat.tolist(), dtype=pl.String),
            "heavy": heavy,
            "tiny": tiny,
            "ties": ties,
            "const": np.full(n, 3.25),
            "none": pl.Series([None] * n, dtype=pl.Float64),
            "i": rng.integers(-5, 5, n),
            "d": pl.date_range(
                pl.date(2020, 1, 1), pl.date(2020, 1, 1) + pl.duration(days=n - 1), eager=True
            ),
            "flag": rng.random(n) < 0.3 + shift / 10,
        }
    )


def _same(a, b, path="$"):
    """Equal results: exactly, except float sums (order of summation) to 1e-9 relative."""
    if isinstance(a, dict):
        assert set(a) == set(b), f"{path}: keys {set(a) ^ set(b)}"
        for k in a:
            if k == "source":
                continue
            if k == "wasserstein":  # bounded on each engine's own bins: the intervals meet
                (u, ue), (v, ve) = (
                    (a[k]["value"], a[k]["error_bound"]),
                    (b[k]["value"], b[k]["error_bound"]),
                )
                assert abs(u - v) <= ue + ve + 1e-9 * max(abs(u), abs(v)), f"{path}.{k}"
                continue
            if k in INEXACT and a[k] is not None:
                ok = all(
                    math.isclose(u, v, rel_tol=1e-9, abs_tol=1e-300)
                    for u, v in zip(_flat(a[k]), _flat(b[k]), strict=True)
                )
                assert ok, f"{path}.{k}: {a[k]} != {b[k]}"
            else:
                _same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), f"{path}: {len(a)} != {len(b)} items"
        for i, (u, v) in enumerate(zip(a, b, strict=True)):
            _same(u, v, f"{path}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b), f"{path}: {a} != {b}"
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def _flat(v):
    if isinstance(v, dict):
        return [x for k in sorted(v) for x in _flat(v[k])]
    return [float(v)] if v is not None else []


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("spark")
    ref, cur = d / "ref.parquet", d / "cur.parquet"
    _frame(1, 3000).write_parquet(ref)
    _frame(2, 2500, shift=0.6).write_parquet(cur)
    lake = d / "lake"
    for part, sub in enumerate([_frame(3, 700), _frame(4, 900, shift=0.2)]):
        p = lake / f"batch={part}"
        p.mkdir(parents=True)
        sub.write_parquet(p / "part.parquet")
    return {"ref": ref, "cur": cur, "lake": lake, "dir": d}


def test_compare_on_spark_equals_duckdb(spark, files):
    a = sentinel_sql.compare(files["ref"], files["cur"]).to_dict()
    b = sentinel_sql.compare(files["ref"], files["cur"], engine="spark").to_dict()
    _same(a, b)
    assert a["drift_detected"] and "x" in a["drifted_columns"]


def test_narrow_refine_rounds_on_spark_equal_duckdb(spark, files, force_narrow):
    """Tiny fetch limits: the exact KS search refines bins on Spark as it does on DuckDB."""
    cols = ["x", "ties", "heavy", "tiny", "d"]
    a = sentinel_sql.compare(files["ref"], files["cur"], columns=cols).to_dict()
    b = sentinel_sql.compare(files["ref"], files["cur"], columns=cols, engine="spark").to_dict()
    _same(a, b)


def test_spark_dataframes_hive_lakes_and_globs(spark, files):
    ref_df = spark.read.parquet(str(files["ref"]))
    a = sentinel_sql.compare(files["ref"], files["lake"]).to_dict()
    b = sentinel_sql.compare(ref_df, str(files["lake"])).to_dict()  # engine chosen by the frame
    _same(a, b)
    glob = str(files["lake"] / "*" / "*.parquet")
    c = sentinel_sql.compare(files["ref"], glob, engine="spark").to_dict()
    d = sentinel_sql.compare(files["ref"], glob).to_dict()
    _same(d, c)


def test_profiles_made_on_spark_and_duckdb_are_interchangeable(spark, files, tmp_path):
    pd_ = sentinel_sql.profile(files["ref"])
    ps = sentinel_sql.profile(files["ref"], engine="spark")
    _same(pd_.to_dict(), ps.to_dict())
    # a saved Spark profile against current data on DuckDB, and the other way round
    path = tmp_path / "ref.profile.json"
    ps.save(path)
    a = sentinel_sql.compare(path, files["cur"]).to_dict()
    b = sentinel_sql.compare(path, files["cur"], engine="spark").to_dict()
    # the KS bounds come from each engine's own bins of the current side (DuckDB: grid bins,
    # Spark: order-code bins): the intervals meet, the p-values follow their midpoints
    for u, v in zip(a["columns"], b["columns"], strict=True):
        if "ks" in u:
            ku, kv = u.pop("ks"), v.pop("ks")
            gap = abs(ku["statistic"] - kv["statistic"])
            assert gap <= ku.get("error_bound", 0) + kv.get("error_bound", 0) + 1e-15
        for k in ("p_value", "p_value_adjusted", "reason"):
            u.pop(k, None), v.pop(k, None)
    _same(a, b)
    # halves profiled by different engines merge into the profile of the whole
    df = pl.read_parquet(files["ref"])
    h1, h2 = files["dir"] / "h1.parquet", files["dir"] / "h2.parquet"
    df.head(1000).write_parquet(h1)
    df.tail(2000).write_parquet(h2)
    merged = sentinel_sql.profile(h1, engine="spark").merge(sentinel_sql.profile(h2))
    whole = pd_
    for name, m in merged.columns.items():
        w = whole.columns[name].coarsened(m.shift)
        assert (m.non_null, m.keys, m.counts, m.categories) == (
            w.non_null,
            w.keys,
            w.counts,
            w.categories,
        ), name


def test_cli_engine_spark(spark, files):
    out_d, _ = invoke(["drift", files["ref"], files["cur"], "--format", "json"], 1)
    out_s, _ = invoke(
        ["drift", files["ref"], files["cur"], "--format", "json", "--engine", "spark"], 1
    )
    _same(json.loads(out_d), json.loads(out_s))
    _, err = invoke(["drift", files["dir"] / "nope.parquet", files["cur"], "--engine", "spark"], 2)
    assert "nope.parquet" in err and "file not found" in err and len(err.strip().splitlines()) == 1
    _, err = invoke(["drift", files["ref"], files["cur"], "--spark-master", "local[1]"], 2)
    assert "--spark-master needs --engine spark" in err
    _, err = invoke(
        ["drift", files["ref"], files["cur"], "--engine", "spark", "--columns", "nope"], 2
    )
    assert "'nope'" in err
    prof = files["dir"] / "cli.profile.json"
    invoke(["profile", files["ref"], "-o", prof, "--engine", "spark"], 0)
    assert json.loads(prof.read_text())["rows"] == 3000


def test_monitor_refuses_spark_frames_clearly(spark, files):
    from sentinel_sql.errors import InputError

    frame = spark.read.parquet(str(files["cur"]))
    with pytest.raises(InputError, match="monitor runs on DuckDB only"):
        sentinel_sql.monitor(files["ref"], frame, by="i")
