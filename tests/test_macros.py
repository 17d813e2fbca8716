"""Sentinel inside DuckDB: the SQL macros and Python p-value functions of ``sentinel_sql.macros``.

The contract: ``sentinel_drift`` returns, for every statistic it outputs, what ``compare``
returns on the same data; the p-value functions equal scipy; the pure ``.sql`` files work on a
bare connection without Python functions.
"""

from __future__ import annotations

import datetime as dt
import doctest
import functools
import math
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
import scipy.stats
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentinel_sql import compare, macros, stats
from sentinel_sql.macros import MacroNameError, register, sql_text

HOSTILE = 'a"; DROP TABLE x; --'
SQL_DIR = Path(__file__).resolve().parents[1] / "sql"
FEW = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MANY = settings(max_examples=60, deadline=None)


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def con():
    c = duckdb.connect()
    register(c)
    yield c
    c.close()


def drift_rows(con, ref, cur, **options) -> dict[str, dict]:
    """``sentinel_drift`` of two frames (Polars or Arrow) registered as views, by column name."""
    con.register("ref_view", ref.to_arrow() if isinstance(ref, pl.DataFrame) else ref)
    con.register("cur_view", cur.to_arrow() if isinstance(cur, pl.DataFrame) else cur)
    named = "".join(f", {k} := ?" for k in options)
    rel = con.execute(
        f"SELECT * FROM sentinel_drift(?, ?{named})", ["ref_view", "cur_view", *options.values()]
    )
    names = [d[0] for d in rel.description]
    return {row[0]: dict(zip(names, row, strict=True)) for row in rel.fetchall()}


def close(a, b, rel=1e-9, abs_=1e-12) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


def close_js(a, b) -> bool:
    """JS distances agree: their squares (the divergence, a sum of rounded terms) to 1e-15.

    Near 0 the square root magnifies the summation's rounding (1e-17 becomes 3e-9), for
    scipy as for SQL, so the divergence is the well-conditioned quantity to compare.
    """
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a * a, b * b, rel_tol=1e-9, abs_tol=1e-15)


def assert_same_as_compare(rows: dict[str, dict], expected: dict, *, p_values: bool = True) -> None:
    """Every statistic the macro outputs equals ``compare``'s (``to_dict()``) for that column."""
    cols = expected["columns"]
    assert list(rows) == [c["column"] for c in cols]
    for c in cols:
        r = rows[c["column"]]
        where = c["column"]
        assert r["kind"] == c["kind"], where
        assert (r["count_reference"], r["count_current"]) == (
            c["count"]["reference"],
            c["count"]["current"],
        ), where
        assert close(r["null_fraction_reference"], c["null_fraction"]["reference"]), where
        assert close(r["null_fraction_current"], c["null_fraction"]["current"]), where
        assert close(r["missing_statistic"], c["missing_test"]["statistic"]), where
        assert r["type_reference"] == c["dtype"]["reference"], where
        assert r["type_current"] == c["dtype"]["current"], where
        if "empty_side" in c:
            assert r["test"] is None and r["psi"] is None and r["p_value"] is None, where
        elif c["kind"] == "numeric":
            assert r["test"] == "ks", where
            assert math.isclose(r["ks_statistic"], c["ks"]["statistic"], abs_tol=1e-12), where
            assert r["bin_edges"] == c["histogram"]["edges"], where
            assert r["reference_counts"] == c["histogram"]["reference"], where
            assert r["current_counts"] == c["histogram"]["current"], where
            if p_values:
                assert close(r["p_value"], c["ks"]["p_value"]), where
        else:
            assert r["test"] == "chi2", where
            assert close(r["chi2_statistic"], c["chi2"]["statistic"]), where
            assert r["chi2_dof"] == c["chi2"]["dof"], where
            assert r["new_categories"] == c["new_categories"], where
            assert r["missing_categories"] == c["missing_categories"], where
            if p_values:
                assert close(r["p_value"], c["chi2"]["p_value"]), where
        if "empty_side" not in c:
            assert close(r["psi"], c["psi"]["value"]), where
            assert close_js(r["js_distance"], c["js_distance"]), where
            assert close(r["hellinger"], c["hellinger"]), where
            assert close(r["linf"], c["linf"]), where
        if p_values:
            assert close(r["p_value_adjusted"], c["p_value_adjusted"]), where
            assert close(r["missing_p_value"], c["missing_test"]["p_value"]), where
            assert close(r["missing_p_value_adjusted"], c["missing_test"]["p_value_adjusted"]), (
                where
            )
            assert r["drifted"] == c["drifted"], where
            assert r["reason"] == c["reason"], where


@functools.cache
def mixed_frames() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every supported kind of column, with NULL, NaN, inf, ties, new and missing categories."""
    rng = np.random.default_rng(7)

    def frame(n: int, shift: float, cats: list[str], days: int) -> pl.DataFrame:
        x = rng.normal(shift, 1.0, n)
        x[::17] = np.nan
        x[5] = np.inf
        start = dt.datetime(2024, 1, 1)
        return pl.DataFrame(
            {
                "x": x,
                "ints": rng.integers(0, 6, n),
                "f32": rng.normal(shift, 1.0, n).astype(np.float32),
                "label": [None if i % 11 == 0 else cats[i % len(cats)] for i in range(n)],
                "flag": rng.random(n) < 0.3 + shift / 4,
                "day": [
                    dt.date(2024, 1, 1) + dt.timedelta(days=int(d))
                    for d in rng.integers(0, days, n)
                ],
                "ts": [start + dt.timedelta(seconds=int(s)) for s in rng.integers(0, 10**6, n)],
                "price": [Decimal(f"{v:.2f}") for v in rng.uniform(0, 100, n)],
                "constant": [1.0] * n,
                HOSTILE: rng.choice(["p", "q"], n),
                "tags": [[1, 2]] * n,  # unsupported: compared by neither
            }
        )

    return frame(300, 0.0, ["a", "b", "c"], 90), frame(250, 0.4, ["a", "b", "d", "e"], 120)


@functools.cache
def mixed_expected(options: tuple = (), columns: tuple | None = None) -> dict:
    """``compare`` on the mixed frames (cached: it is the slow half of these tests)."""
    ref, cur = mixed_frames()
    return compare(ref, cur, columns=columns, **dict(options)).to_dict()


# --------------------------------------------------------------------------- drift vs compare


def test_sentinel_drift_equals_compare_on_every_kind(con):
    ref, cur = mixed_frames()
    con.execute("CREATE TABLE x AS SELECT 1 AS still_here")
    rows = drift_rows(con, ref, cur)
    assert_same_as_compare(rows, mixed_expected())
    assert "tags" not in rows
    assert con.execute("SELECT * FROM x").fetchall() == [(1,)]


@pytest.mark.parametrize(
    "options",
    [
        {"decision": "test", "null_threshold": 0.0},
        {"decision": "effect", "psi_threshold": 0.05, "alpha": 0.2, "null_threshold": 1.0},
    ],
)
def test_sentinel_drift_options_equal_compare(con, options):
    ref, cur = mixed_frames()
    assert_same_as_compare(
        drift_rows(con, ref, cur, **options), mixed_expected(tuple(options.items()))
    )


def test_sentinel_drift_column_is_one_column_compare(con):
    ref, cur = mixed_frames()
    con.register("ref_view", ref.to_arrow())
    con.register("cur_view", cur.to_arrow())
    for name in ("x", HOSTILE):
        rel = con.execute("SELECT * FROM sentinel_drift_column('ref_view', 'cur_view', ?)", [name])
        names = [d[0] for d in rel.description]
        rows = {r[0]: dict(zip(names, r, strict=True)) for r in rel.fetchall()}
        assert_same_as_compare(rows, mixed_expected(columns=(name,)))
        assert rows[name]["p_value_adjusted"] == pytest.approx(rows[name]["p_value"], rel=1e-15)


def test_empty_sides_and_kind_changes_like_compare(con):
    ref = pl.DataFrame(
        {
            "gone": [None, None, None],
            "x": [1.0, 2.0, 3.0],
            "k": ["a", "b", "c"],
            "both_empty": [None, None, None],
        },
        schema={"gone": pl.Float64, "x": pl.Float64, "k": pl.Utf8, "both_empty": pl.Utf8},
    )
    cur = pl.DataFrame(
        {"gone": [1.0, 2.0], "x": [1.0, float("nan")], "k": [1, 2], "both_empty": [None, None]},
        schema={"gone": pl.Float64, "x": pl.Float64, "k": pl.Int64, "both_empty": pl.Utf8},
    )
    rows = drift_rows(con, ref, cur)
    assert_same_as_compare(rows, compare(ref, cur).to_dict())
    assert rows["gone"]["reason"] == "no values in reference" and rows["gone"]["drifted"]
    assert rows["both_empty"]["reason"] == "no values" and not rows["both_empty"]["drifted"]
    assert "k" not in rows  # categorical in reference, numeric in current: not compared


def test_temporal_and_exotic_types_equal_compare(con, force_narrow):
    """Time zones (in a non-UTC session), TIME, TIMESTAMP_NS, HUGEINT, UTINYINT, REAL."""
    from sentinel_sql._compat import fetch_arrow

    con.execute("SET TimeZone = 'America/New_York'")

    def make(n: int, seed: int):
        return fetch_arrow(
            con.sql(f"""
            SELECT TIMESTAMPTZ '2024-01-01 00:00:00+00'
                       + to_seconds((hash(range + {seed}) % 100000)::BIGINT) AS tz,
                   TIME '00:00:00' + to_seconds((hash(range * 3 + {seed}) % 86400)::BIGINT) AS tm,
                   TIMESTAMP_NS '2024-01-01'
                       + to_microseconds((hash(range + {seed}) % 1000000)::BIGINT) AS ns,
                   (range % 7)::UTINYINT AS u8,
                   (range * 1.5 + {seed})::HUGEINT AS big,
                   CASE WHEN range % 4 = 0 THEN NULL ELSE range::REAL / 3 END AS r
            FROM range({n})""")
        )

    ref, cur = make(120, 1), make(90, 7)
    assert_same_as_compare(drift_rows(con, ref, cur), compare(ref, cur).to_dict())


@st.composite
def frame_pairs(draw: st.DrawFn) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Two frames with a numeric and a categorical column: ties, NULL, NaN, inf, one value."""
    pool = draw(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=6))
    num = st.one_of(
        st.sampled_from(pool),
        st.floats(-1e300, 1e300),
        st.sampled_from([None, math.nan, math.inf, -0.0]),
    )
    cat = st.one_of(st.sampled_from(["a", "b", "c", "", "é"]), st.none())

    def frame(n: int) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "v": draw(st.lists(num, min_size=n, max_size=n)),
                "c": draw(st.lists(cat, min_size=n, max_size=n)),
            },
            schema={"v": pl.Float64, "c": pl.Utf8},
        )

    return frame(draw(st.integers(1, 40))), frame(draw(st.integers(1, 40)))


@FEW
@given(frame_pairs())
def test_sentinel_drift_equals_compare_property(frames):
    """Against the engine's refine-and-fetch path (the other tests meet its small-data path)."""
    from sentinel_sql import exact

    ref, cur = frames
    c = duckdb.connect()
    try:
        register(c)
        with pytest.MonkeyPatch.context() as mp:  # what the force_narrow fixture does
            mp.setattr(exact, "SMALL_TOTAL", 0)
            mp.setattr(exact, "FETCH_MAX", 3)
            expected = compare(ref, cur).to_dict()
        assert_same_as_compare(drift_rows(c, ref, cur), expected)
    finally:
        c.close()


def test_bad_options_are_errors(con):
    con.execute("CREATE TABLE t AS SELECT range AS v FROM range(5)")
    for option, message in [
        ("alpha := 1.5", "alpha"),
        ("psi_threshold := -1", "psi_threshold"),
        ("decision := 'maybe'", "decision"),
        ("null_threshold := 2", "null_threshold"),
    ]:
        with pytest.raises(duckdb.Error, match=message):
            con.execute(f"SELECT * FROM sentinel_drift('t', 't', {option})").fetchall()


# --------------------------------------------------------------------------- plain SQL


def test_sql_files_run_on_a_bare_connection_without_python():
    ref, cur = mixed_frames()
    c = duckdb.connect()
    for name in ("engine_macros.sql", "drift_macros.sql"):  # what `.read` does in the CLI
        c.execute((SQL_DIR / name).read_text(encoding="utf-8"))
    python_functions = c.execute(
        "SELECT count(*) FROM duckdb_functions() WHERE function_name LIKE 'sentinel_py_%'"
        " OR function_name IN ('ks_p_value', 'chi2_p_value')"
    ).fetchall()
    assert python_functions == [(0,)]
    rows = drift_rows(c, ref, cur)
    assert_same_as_compare(rows, mixed_expected(), p_values=False)
    for r in rows.values():
        assert r["p_value"] is None and r["p_value_adjusted"] is None
        if r["test"] is None:
            continue
        missing_shift = abs(r["null_fraction_current"] - r["null_fraction_reference"])
        if r["psi"] < 0.1 and missing_shift < 0.05:
            assert r["drifted"] is False  # the statistics alone rule it out
        else:
            assert r["drifted"] is None and "needs the Python functions" in r["reason"]
    with pytest.raises(duckdb.Error, match="ks_p_value"):
        c.execute("SELECT ks_p_value(0.5, 10, 10)")


def test_sql_text_is_the_pure_files():
    text = sql_text()
    for name in ("engine_macros.sql", "drift_macros.sql"):
        assert (SQL_DIR / name).read_text(encoding="utf-8").strip() in text
    assert "sentinel_py_" not in text


def test_drift_reads_files_directly(con, tmp_path):
    ref, cur = mixed_frames()
    ref, cur = ref.drop("tags"), cur.drop("tags")
    ref.write_parquet(tmp_path / "ref.parquet")
    cur.write_parquet(tmp_path / "cur.parquet")
    rel = con.execute(
        "SELECT column_name, psi, p_value FROM sentinel_drift(?, ?)",
        [str(tmp_path / "ref.parquet"), str(tmp_path / "cur.parquet")],
    )
    got = {r[0]: r[1:] for r in rel.fetchall()}
    for c in mixed_expected()["columns"]:
        assert close(got[c["column"]][0], c["psi"]["value"])
        assert close(got[c["column"]][1], c["p_value"])


# --------------------------------------------------------------------------- count lists

# weighted counts too, but not below 1e-6: scipy's chi2_contingency (the reference) rejects
# tables whose expected frequencies underflow to 0
count_values = st.one_of(
    st.integers(0, 5), st.integers(0, 10**12), st.just(0.0), st.floats(1e-6, 1e12)
)


@st.composite
def count_lists(draw: st.DrawFn) -> tuple[list, list]:
    k = draw(st.integers(1, 12))
    return (
        draw(st.lists(count_values, min_size=k, max_size=k)),
        draw(st.lists(count_values, min_size=k, max_size=k)),
    )


def nan_to_none(x: float) -> float | None:
    return None if math.isnan(x) else x


@MANY
@given(count_lists())
def test_list_macros_equal_stats(pair):
    ref, cur = (np.array(v, dtype=np.float64).tolist() for v in pair)
    c = _bare()
    row = c.execute(
        "SELECT psi($1, $2), js_distance($1, $2), hellinger($1, $2), sentinel_linf($1, $2),"
        " sentinel_chi2_statistic($1, $2), sentinel_chi2_dof($1, $2)",
        [ref, cur],
    ).fetchall()[0]
    chi, _, dof = stats.chi2_homogeneity(ref, cur)
    want = [
        stats.psi(ref, cur),
        stats.js_distance(ref, cur),
        stats.hellinger(ref, cur),
        stats.linf(ref, cur),
    ]
    for got, exp, same in zip(row[:4], want, (close, close_js, close, close), strict=True):
        assert same(got, nan_to_none(exp)), (got, exp)
    assert close(row[4], chi) and row[5] == dof


def test_list_macros_on_integer_lists_and_bad_input(con):
    assert con.execute(
        "SELECT psi([50, 50], [50, 50]), js_distance([1, 0], [0, 1]),"
        " hellinger([3, 1], [6, 2]), psi(NULL, [1]), psi([0, 0], [1, 2])"
    ).fetchall() == [(0.0, 1.0, 0.0, None, None)]
    with pytest.raises(duckdb.Error, match="differ in length"):
        con.execute("SELECT psi([1, 2], [1])").fetchall()
    with pytest.raises(duckdb.Error, match="non-negative"):
        con.execute("SELECT hellinger([1, -2], [1, 1])").fetchall()


_BARE: list = []


def _bare():
    """One connection with the pure SQL only, shared by the fast property tests."""
    if not _BARE:
        c = duckdb.connect()
        c.execute(sql_text())
        _BARE.append(c)
    return _BARE[0]


# --------------------------------------------------------------------------- p-value functions


@pytest.mark.filterwarnings("ignore:ks_2samp. Exact calculation unsuccessful")
@MANY
@given(
    st.lists(st.integers(-5, 5), min_size=1, max_size=50),
    st.lists(st.integers(-5, 5), min_size=1, max_size=50),
    st.floats(-3, 3),
)
def test_ks_p_value_equals_scipy(x, y, shift):
    x, y = np.array(x, float), np.array(y, float) + round(shift)
    want = scipy.stats.ks_2samp(x, y)
    got = (
        _registered()
        .execute("SELECT ks_p_value(?, ?, ?)", [float(want.statistic), len(x), len(y)])
        .fetchall()[0][0]
    )
    assert got == pytest.approx(want.pvalue, rel=1e-9)


@pytest.mark.parametrize(
    "n, m, shift", [(12000, 9000, 0.03), (20000, 20000, 0.0), (500, 30000, 0.1)]
)
def test_ks_p_value_equals_scipy_large_samples(n, m, shift):
    rng = np.random.default_rng(n + m)
    x, y = rng.normal(0, 1, n), rng.normal(shift, 1, m)
    want = scipy.stats.ks_2samp(x, y)
    got = (
        _registered()
        .execute("SELECT ks_p_value(?, ?, ?)", [float(want.statistic), n, m])
        .fetchall()[0][0]
    )
    assert got == pytest.approx(want.pvalue, rel=1e-9)


@MANY
@given(st.floats(0, 500), st.integers(1, 60))
def test_chi2_p_value_equals_scipy(statistic, dof):
    got = _registered().execute("SELECT chi2_p_value(?, ?)", [statistic, dof]).fetchall()[0][0]
    assert got == pytest.approx(scipy.stats.chi2.sf(statistic, dof), rel=1e-9, abs=1e-300)


def test_p_value_edge_cases(con):
    assert con.execute(
        "SELECT chi2_p_value(0, 0), ks_p_value(0.5, 0, 3), ks_p_value(NULL, 3, 3),"
        " chi2_p_value(NULL, 2), ks_p_value(0, 3, 4)"
    ).fetchall() == [(1.0, None, None, None, 1.0)]
    with pytest.raises(duckdb.Error, match="must lie in"):
        con.execute("SELECT ks_p_value(1.5, 3, 3)").fetchall()
    with pytest.raises(duckdb.Error, match="dof must be"):
        con.execute("SELECT chi2_p_value(1.0, -1)").fetchall()


_REGISTERED: list = []


def _registered():
    if not _REGISTERED:
        c = duckdb.connect()
        register(c)
        _REGISTERED.append(c)
    return _REGISTERED[0]


# --------------------------------------------------------------------------- registration


def _functions(c) -> list[tuple]:
    return c.execute(
        "SELECT database_name, function_name, function_type FROM duckdb_functions()"
        " WHERE NOT internal OR function_name LIKE 'sentinel_py_%' ORDER BY ALL"
    ).fetchall()


def test_register_twice_is_a_no_op(con):
    before = _functions(con)
    assert register(con) == list(macros.PUBLIC_NAMES)
    assert _functions(con) == before
    ref, cur = mixed_frames()
    assert_same_as_compare(drift_rows(con, ref, cur), mixed_expected())


def test_reading_the_sql_again_keeps_the_p_values(con):
    con.execute(sql_text())  # e.g. a user piping `sentinel sql` into the same connection
    ref, cur = mixed_frames()
    assert all(
        r["p_value"] is not None
        for r in drift_rows(con, ref, cur).values()
        if r["test"] is not None
    )


def test_register_after_reading_the_sql():
    c = duckdb.connect()
    c.execute(sql_text())
    register(c)  # the comments mark the macros as Sentinel's: no clash
    assert c.execute("SELECT ks_p_value(0, 3, 4)").fetchall() == [(1.0,)]


def _their_macro(c) -> str:
    c.execute("CREATE TEMP MACRO psi(a, b) AS 42")
    return "psi"


def _their_persistent_macro(c) -> str:
    c.execute("CREATE MACRO psi(a, b) AS 42")
    return "psi"


def _their_python_function(c) -> str:
    from sentinel_sql._compat import duckdb_sqltypes

    t = duckdb_sqltypes()
    c.create_function("hellinger", lambda a, b: 42.0, [t.DOUBLE, t.DOUBLE], t.DOUBLE)
    return "hellinger"


@pytest.mark.parametrize("define", [_their_macro, _their_persistent_macro, _their_python_function])
def test_a_users_function_of_the_same_name_is_a_clear_error(define):
    c = duckdb.connect()
    name = define(c)
    with pytest.raises(MacroNameError, match=rf"{name} \("):
        register(c)
    # nothing was defined, theirs is untouched
    assert c.execute(f"SELECT {name}(1, 2)").fetchall() == [(42,)]
    assert c.execute(
        "SELECT count(*) FROM duckdb_functions() WHERE function_name = 'sentinel_drift'"
    ).fetchall() == [(0,)]
    # replace=True: Sentinel's take precedence on this connection
    register(c, replace=True)
    assert c.execute(f"SELECT {name}([1, 1], [1, 1])").fetchall() == [(0.0,)]


def test_read_only_connection(tmp_path):
    path = str(tmp_path / "warehouse.duckdb")
    ref, cur = mixed_frames()
    ref, cur = ref.drop("tags"), cur.drop("tags")
    with duckdb.connect(path) as w:
        w.register("r", ref.to_arrow())
        w.register("c", cur.to_arrow())
        w.execute(
            "CREATE TABLE ref AS SELECT * FROM r; CREATE TABLE cur AS SELECT * FROM c;"
            " CREATE VIEW cur_view AS SELECT * FROM cur"
        )
    with duckdb.connect(path, read_only=True) as ro:
        register(ro)
        register(ro)
        rel = ro.execute("SELECT * FROM sentinel_drift('ref', 'cur_view')")
        names = [d[0] for d in rel.description]
        rows = {r[0]: dict(zip(names, r, strict=True)) for r in rel.fetchall()}
        with pytest.raises(duckdb.Error, match="read-only"):
            ro.execute("CREATE MACRO persistent_one() AS 1")
    assert_same_as_compare(rows, mixed_expected())


def test_hostile_names_are_data_not_sql(con):
    con.execute("CREATE TABLE x AS SELECT 1 AS keep")
    con.execute(
        f'CREATE TABLE "{HOSTILE.replace(chr(34), chr(34) * 2)}" AS'
        f' SELECT range::DOUBLE AS "{HOSTILE.replace(chr(34), chr(34) * 2)}"'
        " FROM range(10)"
    )
    table = '"' + HOSTILE.replace('"', '""') + '"'
    got = con.execute(
        "SELECT column_name, ks_statistic, p_value FROM sentinel_drift_column(?, ?, ?)",
        [table, table, HOSTILE],
    ).fetchall()
    assert got == [(HOSTILE, 0.0, 1.0)]
    assert con.execute("SELECT * FROM x").fetchall() == [(1,)]


# --------------------------------------------------------------------------- module hygiene


def test_doctests():
    assert doctest.testmod(macros).failed == 0


def test_import_is_light():
    code = (
        "import sys, sentinel_sql.macros; "
        "print(sorted(m for m in ('duckdb', 'scipy', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
