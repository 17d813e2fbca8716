"""compare() against scipy / numpy references, on random and adversarial data, every source kind."""

from __future__ import annotations

import math

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pytest
import scipy.stats as ss
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sentinel_sql
from sentinel_sql.errors import InputError

DECILES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]


def ref_psi(ref: np.ndarray, cur: np.ndarray) -> tuple[float, list[float]]:
    """PSI exactly as DESIGN.md defines it, from the raw arrays."""
    edges = np.unique(np.quantile(ref, DECILES))
    p = np.bincount(np.searchsorted(edges, ref, side="left"), minlength=len(edges) + 1) / len(ref)
    q = np.bincount(np.searchsorted(edges, cur, side="left"), minlength=len(edges) + 1) / len(cur)
    p, q = np.where(p == 0, 1e-4, p), np.where(q == 0, 1e-4, q)
    return float(np.sum((q - p) * np.log(q / p))), list(edges)


def finite(x: np.ndarray) -> np.ndarray:
    return x[np.isfinite(x)]


def check_numeric(col: dict, ref: np.ndarray, cur: np.ndarray) -> None:
    r, c = finite(ref), finite(cur)
    assert col["null_fraction"]["reference"] == pytest.approx((len(ref) - len(r)) / len(ref))
    assert col["null_fraction"]["current"] == pytest.approx((len(cur) - len(c)) / len(cur))
    if len(r) == 0 or len(c) == 0:
        assert "ks" not in col
        return
    k = ss.ks_2samp(r, c)
    assert abs(col["ks"]["statistic"] - k.statistic) <= 1e-12
    assert col["ks"]["p_value"] == pytest.approx(k.pvalue, rel=1e-9, abs=1e-300)
    psi, edges = ref_psi(r, c)
    assert col["histogram"]["edges"] == edges
    assert col["psi"]["value"] == pytest.approx(psi, rel=1e-12, abs=1e-15)
    w = ss.wasserstein_distance(r, c)
    assert abs(col["wasserstein"]["value"] - w) <= col["wasserstein"]["error_bound"] + 1e-9 * max(
        1, w
    )


floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([0.0, -0.0, 1.0, 1e300, -1e300, 5e-324, -5e-324, 1e-310]),
    st.integers(-5, 5).map(float),
)
arrays = st.lists(floats, min_size=1, max_size=40).map(lambda v: np.array(v, dtype=np.float64))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arrays, arrays)
def test_numeric_matches_scipy(ref, cur):
    res = sentinel_sql.compare(pl.DataFrame({"x": ref}), pl.DataFrame({"x": cur}))
    check_numeric(res.column("x"), ref, cur)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(arrays, arrays)
def test_numeric_narrow_paths_match_scipy(force_narrow, ref, cur):
    """Tiny fetch limits force every refine/fetch/single-value branch of the exact passes."""
    res = sentinel_sql.compare(pl.DataFrame({"x": ref}), pl.DataFrame({"x": cur}))
    check_numeric(res.column("x"), ref, cur)


@pytest.mark.parametrize("seed", range(4))
def test_narrow_paths_on_larger_data(force_narrow, seed, monkeypatch):
    from sentinel_sql import exact

    monkeypatch.setattr(exact, "FETCH_MAX", 50)
    rng = np.random.default_rng(seed)
    n = 3000
    kinds = [
        rng.normal(size=n),
        np.exp(3 * rng.normal(size=n)),
        rng.integers(0, 7, n).astype(float),
        np.round(rng.normal(size=n), 1) * 1e-300,
    ]
    for ref in kinds:
        cur = np.concatenate([ref[: n // 2], ref[: n // 3] * 1.01])
        res = sentinel_sql.compare(pl.DataFrame({"x": ref}), pl.DataFrame({"x": cur}))
        check_numeric(res.column("x"), ref, cur)


def test_large_sizes_use_asymptotic_p_value():
    rng = np.random.default_rng(7)
    ref, cur = rng.normal(size=30_000), rng.normal(0.02, size=25_000)
    res = sentinel_sql.compare(pl.DataFrame({"x": ref}), pl.DataFrame({"x": cur}))
    check_numeric(res.column("x"), ref, cur)


cats = st.lists(st.sampled_from(["a", "b", "c", "d", "é", "x y", None]), min_size=1, max_size=50)


@settings(max_examples=40, deadline=None)
@given(cats, cats)
def test_categorical_matches_scipy(ref, cur):
    res = sentinel_sql.compare(
        pl.DataFrame({"s": ref}, schema={"s": pl.String}),
        pl.DataFrame({"s": cur}, schema={"s": pl.String}),
    )
    col = res.column("s")
    r = [v for v in ref if v is not None]
    c = [v for v in cur if v is not None]
    assert col["null_fraction"]["reference"] == pytest.approx(1 - len(r) / len(ref))
    if not r or not c:
        assert "chi2" not in col
        return
    keys = sorted(set(r) | set(c))
    table = np.array([[r.count(k) for k in keys], [c.count(k) for k in keys]])
    if len(keys) == 1:
        assert col["chi2"] == {"statistic": 0.0, "p_value": 1.0, "dof": 0}
    else:
        chi = ss.chi2_contingency(table, correction=False)
        assert col["chi2"]["statistic"] == pytest.approx(chi.statistic, rel=1e-12)
        assert col["chi2"]["p_value"] == pytest.approx(chi.pvalue, rel=1e-9, abs=1e-300)
        assert col["chi2"]["dof"] == chi.dof
    p = np.maximum(table[0] / table[0].sum(), 0)
    q = table[1] / table[1].sum()
    p, q = np.where(p == 0, 1e-4, p), np.where(q == 0, 1e-4, q)
    assert col["psi"]["value"] == pytest.approx(float(np.sum((q - p) * np.log(q / p))), rel=1e-12)
    assert col["new_categories"] == sorted(set(c) - set(r))


def _sources(tmp_path, df: pl.DataFrame, name: str):
    path = tmp_path / f"{name}.parquet"
    df.write_parquet(path)
    csv = tmp_path / f"{name}.csv"
    df.write_csv(csv)
    db = tmp_path / f"{name}.duckdb"
    with duckdb.connect(str(db)) as con:
        con.register("src", df.to_arrow())
        con.execute('CREATE TABLE "my table" AS SELECT * FROM src')
    hive = tmp_path / f"{name}_lake"
    df.with_columns(part=pl.col("g") % 2).write_parquet(hive, partition_by="part")
    return {
        "parquet": str(path),
        "glob": str(tmp_path / f"{name}*.parquet"),
        "csv": str(csv),
        "duckdb": f"{db}::my table",
        "polars": df,
        "lazy": pl.scan_parquet(path),
        "arrow": df.to_arrow(),
        "pandas": df.to_pandas(),
    }


@pytest.mark.parametrize(
    "kind", ["parquet", "glob", "csv", "duckdb", "polars", "lazy", "arrow", "pandas"]
)
def test_every_source_kind_gives_the_same_numbers(tmp_path, kind):
    rng = np.random.default_rng(3)
    ref = pl.DataFrame(
        {
            "x": rng.normal(size=500),
            "g": rng.integers(0, 5, 500),
            "s": rng.choice(["u", "v", "w"], 500),
        }
    )
    cur = pl.DataFrame(
        {
            "x": rng.normal(0.3, size=400),
            "g": rng.integers(0, 6, 400),
            "s": rng.choice(["u", "v", "z"], 400),
        }
    )
    a = _sources(tmp_path, ref, "ref")[kind]
    b = _sources(tmp_path, cur, "cur")[kind]
    got = sentinel_sql.compare(a, b, columns=["x", "g", "s"])
    want = sentinel_sql.compare(ref, cur, columns=["x", "g", "s"])
    for name in ("x", "g"):
        gc, wc = got.column(name), want.column(name)
        assert gc["ks"] == wc["ks"] and gc["psi"] == wc["psi"]
        check_numeric(gc, ref[name].to_numpy().astype(float), cur[name].to_numpy().astype(float))
    assert got.column("s")["chi2"] == want.column("s")["chi2"]


def test_hive_folder_and_duckdb_relation(tmp_path):
    rng = np.random.default_rng(4)
    df = pl.DataFrame({"x": rng.normal(size=300), "g": rng.integers(0, 4, 300)})
    lake = tmp_path / "lake"
    df.write_parquet(lake, partition_by="g")
    con = duckdb.connect()
    rel = con.from_arrow(df.to_arrow())
    res = sentinel_sql.compare(str(lake), rel, columns=["x", "g"])
    assert res.column("x")["ks"]["statistic"] == 0.0
    assert not res.drift_detected


def test_hostile_column_names():
    names = ['a"; DROP TABLE x; --', "with space", "semi;colon", "ünï©ødé", "'quote'"]
    rng = np.random.default_rng(5)
    ref = pl.DataFrame({n: rng.normal(size=100) for n in names})
    cur = pl.DataFrame({n: rng.normal(1, size=100) for n in names})
    res = sentinel_sql.compare(ref, cur)
    assert [c["column"] for c in res.columns] == names
    for n in names:
        check_numeric(res.column(n), ref[n].to_numpy(), cur[n].to_numpy())
    assert res.drift_detected and set(res.drifted_columns) == set(names)


def test_edge_cases_all_null_constant_one_row():
    ref = pl.DataFrame(
        {"nul": [None, None], "const": [3.0, 3.0], "one": [1.0, 2.0]},
        schema={"nul": pl.Float64, "const": pl.Float64, "one": pl.Float64},
    )
    cur = pl.DataFrame(
        {"nul": [None], "const": [3.0], "one": [5.0]},
        schema={"nul": pl.Float64, "const": pl.Float64, "one": pl.Float64},
    )
    res = sentinel_sql.compare(ref, cur)
    assert res.column("nul")["null_fraction"] == {"reference": 1.0, "current": 1.0}
    assert res.column("nul")["drifted"] is False
    assert res.column("const")["ks"]["statistic"] == 0.0
    assert res.column("const")["psi"]["value"] == 0.0
    check_numeric(res.column("one"), np.array([1.0, 2.0]), np.array([5.0]))


def test_schema_changes_are_findings():
    ref = pl.DataFrame({"a": [1.0, 2.0], "gone": [1, 2], "t": [1, 2]})
    cur = pl.DataFrame({"a": [1.0, 2.0], "new": ["x", "y"], "t": ["1", "2"]})
    res = sentinel_sql.compare(ref, cur)
    changes = {(c["column"], c["change"]) for c in res.schema_changes}
    assert changes == {
        ("gone", "missing_in_current"),
        ("new", "missing_in_reference"),
        ("t", "kind_changed"),
    }
    assert res.drift_detected
    assert not sentinel_sql.compare(ref, cur, schema_drift=False).drift_detected


def test_decision_rule_needs_test_and_effect():
    rng = np.random.default_rng(11)
    big_ref, big_cur = rng.normal(size=200_000), rng.normal(0.02, size=200_000)
    res = sentinel_sql.compare(pl.DataFrame({"x": big_ref}), pl.DataFrame({"x": big_cur}))
    col = res.column("x")
    assert col["p_value_adjusted"] < 0.05 and col["psi"]["value"] < 0.1
    assert not col["drifted"]  # significant but negligible
    assert sentinel_sql.compare(
        pl.DataFrame({"x": big_ref}), pl.DataFrame({"x": big_cur}), decision="test"
    ).column("x")["drifted"]
    small = sentinel_sql.compare(
        pl.DataFrame({"x": [1.0, 2.0, 3.0]}), pl.DataFrame({"x": [1.5, 9.0]})
    )
    assert not small.column("x")["drifted"]  # large PSI, but 5 points prove nothing


def test_benjamini_hochberg_is_applied_across_columns():
    rng = np.random.default_rng(12)
    ref = pl.DataFrame({f"c{i}": rng.normal(size=300) for i in range(6)})
    cur = pl.DataFrame({f"c{i}": rng.normal(0.3 if i == 0 else 0, size=300) for i in range(6)})
    res = sentinel_sql.compare(ref, cur)
    ps = np.array([c["p_value"] for c in res.columns])
    adj = ss.false_discovery_control(ps, method="bh")
    assert [c["p_value_adjusted"] for c in res.columns] == pytest.approx(list(adj), rel=1e-12)


def test_json_contract_and_polars_view():
    rng = np.random.default_rng(2)
    ref = pl.DataFrame({"x": rng.normal(size=50), "s": rng.choice(["a", "b"], 50)})
    d = sentinel_sql.compare(ref, ref).to_dict()
    assert d["drift_detected"] is False and d["drifted_columns"] == []
    assert d["reference"]["rows"] == 50 and d["current"]["rows"] == 50
    x, s = d["columns"]
    assert {"column", "kind", "drifted", "null_fraction", "ks", "psi"} <= set(x)
    assert {"column", "kind", "drifted", "null_fraction", "chi2", "psi"} <= set(s)
    assert set(s["chi2"]) == {"statistic", "p_value", "dof"}
    frame = sentinel_sql.compare(ref, ref).to_polars()
    assert frame.columns[:3] == ["column", "kind", "drifted"] and frame.height == 2


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"columns": ["nope"]}, "nope"),
        ({"alpha": 2.0}, "alpha"),
        ({"decision": "maybe"}, "decision"),
        ({"kinds": {"x": "weird"}}, "kind"),
        ({"exclude": ["zz"]}, "zz"),
    ],
)
def test_bad_options_raise_input_error(kwargs, needle):
    df = pl.DataFrame({"x": [1.0, 2.0]})
    with pytest.raises(InputError, match=needle):
        sentinel_sql.compare(df, df, **kwargs)


def test_bad_sources(tmp_path):
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    empty = pl.DataFrame({"x": []}, schema={"x": pl.Float64})
    ok = pl.DataFrame({"x": [1.0]})
    for src, needle in [
        (str(tmp_path / "missing.parquet"), "not found"),
        (str(bad), "bad.parquet"),
        (str(tmp_path / "*.nothing"), "no files"),
        (empty, "empty"),
    ]:
        with pytest.raises(InputError, match=needle):
            sentinel_sql.compare(src, ok)


def test_dates_timestamps_and_overrides():
    import datetime as dt

    base = dt.datetime(2024, 1, 1)
    ref = pl.DataFrame(
        {
            "t": [base + dt.timedelta(hours=i) for i in range(100)],
            "d": [dt.date(2024, 1, 1) + dt.timedelta(days=i % 30) for i in range(100)],
            "code": [i % 3 for i in range(100)],
            "flag": [i % 2 == 0 for i in range(100)],
        }
    )
    cur = ref.with_columns(pl.col("t") + dt.timedelta(days=2))
    res = sentinel_sql.compare(ref, cur, kinds={"code": "categorical"})
    assert res.column("t")["kind"] == "numeric" and res.column("t")["ks"][
        "statistic"
    ] == pytest.approx(0.48)
    assert (
        res.column("code")["kind"] == "categorical" and res.column("flag")["kind"] == "categorical"
    )
    assert math.isclose(res.column("d")["ks"]["statistic"], 0.0)


def test_lazyframe_is_streamed_not_collected(monkeypatch):
    """The engine reads a LazyFrame through collect_batches, never LazyFrame.collect on all rows."""
    lf = pl.LazyFrame({"x": np.arange(1000.0)})
    calls = []
    orig = pl.LazyFrame.collect

    def spy(self, *a, **k):
        out = orig(self, *a, **k)
        calls.append(out.height)
        return out

    monkeypatch.setattr(pl.LazyFrame, "collect", spy)
    res = sentinel_sql.compare(lf, lf)
    assert res.column("x")["ks"]["statistic"] == 0.0
    # collect() is only used on zero-row heads to learn the schema
    assert calls and max(calls) == 0


def test_import_is_light():
    import subprocess
    import sys

    heavy = "('duckdb', 'polars', 'scipy', 'pyarrow', 'numpy', 'great_tables')"
    code = f"import sys, sentinel_sql; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_arrow_table_with_nan_and_inf():
    x = np.array([1.0, np.nan, np.inf, -np.inf, 2.0, 3.0])
    tbl = pa.table({"x": x})
    res = sentinel_sql.compare(tbl, tbl)
    assert res.column("x")["null_fraction"]["reference"] == pytest.approx(0.5)
    check_numeric(res.column("x"), x, x)


def test_missing_values_moving_is_drift():
    rng = np.random.default_rng(21)
    x = rng.normal(size=4000)
    y = x.copy()
    y[rng.random(4000) < 0.25] = np.nan  # values unchanged, a quarter now missing
    res = sentinel_sql.compare(pl.DataFrame({"x": x}), pl.DataFrame({"x": y}))
    col = res.column("x")
    assert col["psi"]["value"] < 0.1 and col["drifted"] and "missing" in col["reason"]
    table = np.array([[0, 4000], [np.isnan(y).sum(), (~np.isnan(y)).sum()]])
    chi = ss.chi2_contingency(table, correction=False)
    assert col["missing_test"]["p_value"] == pytest.approx(chi.pvalue, rel=1e-9, abs=1e-300)
    assert not sentinel_sql.compare(pl.DataFrame({"x": x}), pl.DataFrame({"x": y}),
                                    null_threshold=0.5).column("x")["drifted"]


def test_a_source_failing_mid_scan_is_named(tmp_path):
    """Both sides are scanned in one query; when one fails only there (a CSV value the type
    sniffer did not see), the error still names that file, never the other."""
    rng = np.random.default_rng(3)
    ok = tmp_path / "ref.parquet"
    pl.DataFrame({"x": rng.normal(size=30_000)}).write_parquet(ok)
    bad = tmp_path / "late_text.csv"
    lines = ["x"] + [repr(float(v)) for v in rng.normal(size=30_000)] + ["not a number"]
    bad.write_text("\n".join(lines) + "\n")
    for ref, cur in ((str(ok), str(bad)), (str(bad), str(ok))):
        with pytest.raises(InputError) as err:
            sentinel_sql.compare(ref, cur)
        assert str(err.value).startswith(f"{bad}: ")
