"""find_slices against a brute-force numpy/itertools enumeration of every slice."""

from __future__ import annotations

import doctest
import itertools
import math

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentinel_sql import slices as slices_mod
from sentinel_sql.errors import InputError
from sentinel_sql.slices import find_slices

HOSTILE = 'a"; DROP TABLE x; --'

# --------------------------------------------------------------------------------------------
# brute force
# --------------------------------------------------------------------------------------------


def _keys(values: list, edges: list[float] | None) -> tuple[list, list]:
    """Per row: (rank of the value or bin, NULL last), and the JSON predicate of each rank."""
    def missing(v):
        return v is None or (isinstance(v, float) and math.isnan(v))

    if edges is None:
        distinct = sorted({v for v in values if not missing(v)})
        preds = [("value", v) for v in distinct]
        index = {v: i for i, v in enumerate(distinct)}
        ranks = [len(distinct) if missing(v) else index[v] for v in values]
    else:
        nb = len(edges) + 1
        preds = [("range", (edges[i - 1] if i else None, edges[i] if i < len(edges) else None))
                 for i in range(nb)]
        ranks = [nb if missing(v) else int(np.searchsorted(edges, float(v), side="left"))
                 for v in values]
    preds.append(("value", None))
    return ranks, preds


def _pred_dict(name: str, pred: tuple) -> dict:
    kind, v = pred
    if kind == "value":
        return {"column": name, "value": v}
    return {"column": name, "low": v[0], "high": v[1]}


def brute_force(columns: dict[str, list], err: np.ndarray, *, edges: dict[str, list[float]],
                top_k: int, max_level: int, min_support, alpha: float) -> list[dict]:
    names = list(columns)
    n = len(err)
    ebar = err.sum() / n
    if ebar == 0:
        return []
    sigma = min_support if isinstance(min_support, int) else min_support * n
    coded = [_keys(columns[c], edges.get(c)) for c in names]
    ranks = [np.array(r, dtype=np.int64) for r, _ in coded]
    found = []
    for level in range(1, max_level + 1):
        for combo in itertools.combinations(range(len(names)), level):
            card = [len(coded[j][1]) for j in combo]
            key = np.ravel_multi_index([ranks[j] for j in combo], card)
            size = np.bincount(key, minlength=math.prod(card))
            se = np.bincount(key, weights=err, minlength=math.prod(card))
            me = np.zeros(math.prod(card))
            np.maximum.at(me, key, err)
            for flat in np.flatnonzero(size):
                s = int(size[flat])
                if s < sigma:
                    continue
                sc = alpha * ((float(se[flat]) / s) / ebar - 1) - (1 - alpha) * (n / s - 1)
                if sc <= 0:
                    continue
                idx = np.unravel_index(flat, card)
                preds = [(j, int(r)) for j, r in zip(combo, idx, strict=True)]
                found.append((-sc, -s, preds, float(se[flat]), float(me[flat])))
    found.sort(key=lambda t: (t[0], t[1], t[2]))
    return [
        {
            "predicates": [_pred_dict(names[j], coded[j][1][r]) for j, r in preds],
            "size": -negs, "error_sum": se, "max_error": me, "score": -negsc,
        }
        for negsc, negs, preds, se, me in found[:top_k]
    ]


def check_edges(columns: dict[str, list], result, bins: int) -> dict[str, list[float]]:
    """The binning rule: numeric with > bins distinct values; edges = deduped numpy quantiles."""
    edges = result.to_dict()["bins"]
    for name, values in columns.items():
        present = [v for v in values
                   if v is not None and not (isinstance(v, float) and math.isnan(v))]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present)
        if numeric and len(set(present)) > bins:
            finite = np.array([v for v in present if math.isfinite(v)], dtype=float)
            expect = sorted(set(np.quantile(finite, [i / bins for i in range(1, bins)])))
            assert name in edges, name
            np.testing.assert_allclose(edges[name], expect, rtol=1e-12, atol=1e-12)
        else:
            assert name not in edges, name
    return edges


def assert_same(result, expected: list[dict]) -> None:
    got = result.to_dict()["slices"]
    assert [s["predicates"] for s in got] == [s["predicates"] for s in expected]
    for g, e in zip(got, expected, strict=True):
        assert g["size"] == e["size"]
        assert g["error_sum"] == pytest.approx(e["error_sum"], rel=1e-12, abs=1e-12)
        assert g["max_error"] == pytest.approx(e["max_error"])
        assert g["score"] == pytest.approx(e["score"], rel=1e-12, abs=1e-12)
        assert g["average_error"] == pytest.approx(e["error_sum"] / e["size"])


def run_both(columns: dict[str, list], err: list[float], *, top_k=10, max_level=3,
             min_support=0.01, alpha=0.95, bins=5, data=None, **kw):
    frame = data if data is not None else pl.DataFrame({**columns, "__err": err},
                                                        strict=False)
    res = find_slices(frame, error=kw.pop("error", "__err"), features=list(columns),
                      top_k=top_k, max_level=max_level, min_support=min_support, alpha=alpha,
                      bins=bins, **kw)
    edges = check_edges(columns, res, bins)
    expected = brute_force(columns, np.asarray(err, dtype=float), edges=edges, top_k=top_k,
                           max_level=max_level, min_support=min_support, alpha=alpha)
    assert_same(res, expected)
    return res


# --------------------------------------------------------------------------------------------
# data with planted slices
# --------------------------------------------------------------------------------------------


def planted(seed: int, n: int = 600, nulls: bool = True) -> tuple[dict[str, list], list[float]]:
    rng = np.random.default_rng(seed)
    city = rng.choice(["lyon", "paris", "nice", "oslo"], n).tolist()
    if nulls:
        city = [None if rng.random() < 0.08 else c for c in city]
    device = rng.choice(["ios", "web", "android"], n).tolist()
    tier = rng.integers(0, 3, n).tolist()  # integer, <= bins distinct: categorical
    age = np.round(rng.normal(40, 12, n), 1).tolist()  # binned
    if nulls:
        age = [None if rng.random() < 0.05 else a for a in age]
    const = ["same"] * n
    err = (rng.random(n) < 0.1).astype(float)
    bad = np.array([(c == "paris") and (d == "ios") for c, d in zip(city, device, strict=True)])
    err[bad] = (rng.random(bad.sum()) < 0.6).astype(float)
    return {"city": city, "device": device, "tier": tier, "age": age, "const": const}, err.tolist()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("max_level", [1, 2, 3])
@pytest.mark.parametrize("alpha", [0.5, 0.95, 1.0])
def test_planted_matches_brute_force(seed, max_level, alpha):
    cols, err = planted(seed)
    res = run_both(cols, err, max_level=max_level, alpha=alpha, min_support=0.02, top_k=15)
    if alpha == 0.95 and max_level >= 2:
        assert res.slices[0].text.startswith("city = 'paris'")


@pytest.mark.parametrize("min_support", [1, 5, 40, 0.05, 0.3])
def test_min_support_values(min_support):
    cols, err = planted(7, n=400)
    run_both(cols, err, min_support=min_support, top_k=25)


def test_top_k_large_returns_every_positive_slice():
    cols, err = planted(3, n=300)
    res = run_both(cols, err, top_k=10_000, min_support=3)
    assert len(res.slices) > 20
    assert all(s.score > 0 for s in res.slices)


def test_ties_are_broken_by_size_then_predicates():
    # every slice of a/b has the same error rate: many exact ties in score
    n = 240
    a = ["x", "y", "z"] * (n // 3)
    b = [i % 4 for i in range(n)]
    c = [True, False] * (n // 2)
    err = [1.0 if (ai == "x") else 0.0 for ai in a]
    res = run_both({"b": b, "a": a, "c": c}, err, top_k=30, min_support=1)
    scores = [s.score for s in res.slices]
    assert len(set(scores)) < len(scores)


def test_regression_and_classification_tasks():
    rng = np.random.default_rng(5)
    n = 500
    g = rng.choice(["a", "b", "c"], n).tolist()
    h = rng.integers(0, 4, n).tolist()
    y = rng.integers(0, 10, n)
    p = y + rng.integers(-1, 2, n) * (1 + 3 * (np.array(g) == "b"))
    frame = pl.DataFrame({"g": g, "h": h, "y": y.astype(float), "p": p.astype(float)})
    res = find_slices(frame, label="y", prediction="p", features=["g", "h"], min_support=5)
    assert res.task == "regression"
    sq = ((p - y) ** 2).astype(float)
    assert_same(res, brute_force({"g": g, "h": h}, sq, edges={}, top_k=10, max_level=3,
                                 min_support=5, alpha=0.95))
    yc = np.array(["cat", "dog"])[y % 2]
    pc = np.where(rng.random(n) < np.where(np.array(g) == "c", 0.5, 0.9), yc, "cow")
    frame = pl.DataFrame({"g": g, "h": h, "y": yc, "p": pc})
    res = find_slices(frame, label="y", prediction="p", min_support=5)
    assert res.task == "classification"
    mis = (yc != pc).astype(float)
    assert_same(res, brute_force({"g": g, "h": h}, mis, edges={}, top_k=10, max_level=3,
                                 min_support=5, alpha=0.95))
    # integer labels with few classes: classification; forcing regression is allowed
    frame = pl.DataFrame({"g": g, "y": y, "p": p})
    assert find_slices(frame, label="y", prediction="p").task == "classification"
    assert find_slices(frame, label="y", prediction="p", task="regression").task == "regression"


def test_rows_without_label_are_excluded():
    frame = pl.DataFrame({"g": ["a", "b", "a", "b", "a"], "y": [1, 0, None, 1, 1],
                          "p": [0, 0, 1, 1, 1]})
    res = find_slices(frame, label="y", prediction="p", min_support=1)
    assert res.rows == 4 and res.excluded_rows == 1
    assert res.average_error == pytest.approx(0.25)
    assert res.slices[0].predicates == ({"column": "g", "value": "a"},)


def test_all_errors_zero_gives_no_slice():
    frame = pl.DataFrame({"g": ["a", "b"] * 10, "e": [0.0] * 20})
    res = find_slices(frame, error="e", min_support=1)
    assert res.slices == () and res.average_error == 0.0


def test_hostile_column_names_and_parquet_source(tmp_path):
    cols, err = planted(11, n=300)
    cols = {HOSTILE if k == "city" else k: v for k, v in cols.items()}
    cols["it's"] = cols.pop("device")
    frame = pl.DataFrame({**cols, "e\"rr": err}, strict=False)
    path = tmp_path / "data.parquet"
    frame.write_parquet(path)
    for data in (frame, str(path)):
        res = run_both(cols, err, data=data, error='e"rr', min_support=0.03)
        assert res.to_dict()["slices"][0]["predicates"][0]["column"] == HOSTILE
        assert res.slices[0].text.startswith('"a""; DROP TABLE x; --" = \'paris\'')


@pytest.mark.parametrize("kind", ["lazy", "arrow", "pandas", "relation", "csv"])
def test_other_sources(kind, tmp_path):
    import duckdb

    cols, err = planted(4, n=300, nulls=False)
    frame = pl.DataFrame({**cols, "__err": err})
    if kind == "lazy":
        data = frame.lazy()
    elif kind == "arrow":
        data = frame.to_arrow()
    elif kind == "pandas":
        data = frame.to_pandas()
    elif kind == "csv":
        data = str(tmp_path / "d.csv")
        frame.write_csv(data)
    else:
        con = duckdb.connect()
        con.register("t", frame.to_arrow())
        data = con.sql("SELECT * FROM t")
    run_both(cols, err, data=data, min_support=0.03)


def test_nan_and_infinite_feature_values():
    rng = np.random.default_rng(2)
    n = 300
    x = rng.normal(size=n)
    x[::17] = np.nan
    x[::23] = np.inf
    x[::29] = -np.inf
    err = (rng.random(n) < np.where(x > 0.5, 0.5, 0.1)).astype(float).tolist()
    run_both({"x": x.tolist(), "k": rng.choice(["u", "v"], n).tolist()}, err, min_support=5)


hyp_settings = settings(max_examples=40, deadline=None,
                        suppress_health_check=[HealthCheck.too_slow])


@st.composite
def datasets(draw):
    n = draw(st.integers(10, 120))
    m = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    cols = {}
    for j in range(m):
        kind = draw(st.sampled_from(["str", "int", "float", "bool"]))
        card = draw(st.integers(1, 5))
        if kind == "str":
            vals = rng.choice([f"s{i}" for i in range(card)], n).tolist()
        elif kind == "int":
            vals = rng.integers(0, card * 3, n).tolist()
        elif kind == "float":
            vals = np.round(rng.normal(size=n), 1).tolist()
        else:
            vals = rng.choice([True, False], n).tolist()
        if draw(st.booleans()):
            vals = [None if rng.random() < 0.15 else v for v in vals]
        cols[f"f{j}" if j else HOSTILE] = vals
    err = rng.choice([0.0, 0.0, 0.0, 1.0, 0.5, 2.0], n)
    plant = np.array([v is not None and v == cols[HOSTILE][0] for v in cols[HOSTILE]])
    err[plant] += rng.choice([0.0, 1.0], plant.sum())
    return cols, err.tolist()


@hyp_settings
@given(data=datasets(), max_level=st.integers(1, 4), top_k=st.integers(1, 12),
       min_support=st.one_of(st.integers(1, 12), st.floats(0.01, 0.5)),
       alpha=st.sampled_from([0.3, 0.8, 0.95, 1.0]), bins=st.integers(2, 4))
def test_hypothesis_matches_brute_force(data, max_level, top_k, min_support, alpha, bins):
    cols, err = data
    run_both(cols, err, max_level=max_level, top_k=top_k, min_support=min_support,
             alpha=alpha, bins=bins)


# --------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------

FRAME = pl.DataFrame({"g": ["a", "b"] * 5, "y": [1, 0] * 5, "p": [1, 1] * 5,
                      "e": [0.5, -1.0] * 5, "s": ["x"] * 10, "l": [[1]] * 10})


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"label": "nope", "prediction": "p"}, "nope"),
        ({"label": "y", "prediction": "nope"}, "nope"),
        ({"prediction": "p"}, "label"),
        ({"label": "y"}, "prediction"),
        ({"error": "nope"}, "nope"),
        ({"error": "e"}, "'e'"),
        ({"error": "g"}, "'g'"),
        ({"label": "y", "prediction": "p", "features": ["zz"]}, "zz"),
        ({"label": "y", "prediction": "p", "features": ["g", "g"]}, "'g'"),
        ({"label": "y", "prediction": "p", "features": ["l"]}, "'l'"),
        ({"label": "y", "prediction": "p", "features": []}, "no feature"),
        ({"label": "y", "prediction": "p", "min_support": 0}, "min_support"),
        ({"label": "y", "prediction": "p", "min_support": 1.0}, "min_support"),
        ({"label": "y", "prediction": "p", "min_support": True}, "min_support"),
        ({"label": "y", "prediction": "p", "alpha": 0}, "alpha"),
        ({"label": "y", "prediction": "p", "top_k": 0}, "top_k"),
        ({"label": "y", "prediction": "p", "max_level": 0}, "max_level"),
        ({"label": "y", "prediction": "p", "bins": 1}, "bins"),
        ({"label": "y", "prediction": "p", "task": "ranking"}, "task"),
        ({"label": "g", "prediction": "s", "task": "regression"}, "'g'"),
        ({"label": "y", "prediction": "p", "error": "e"}, "error"),
    ],
)
def test_bad_input(kwargs, needle):
    with pytest.raises(InputError, match=None) as info:
        find_slices(FRAME, **kwargs)
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


def test_empty_data_and_missing_file(tmp_path):
    with pytest.raises(InputError, match="no rows"):
        find_slices(FRAME.head(0), label="y", prediction="p")
    with pytest.raises(InputError, match="not found"):
        find_slices(str(tmp_path / "missing.parquet"), label="y", prediction="p")


def test_infinite_errors_are_refused():
    frame = pl.DataFrame({"g": ["a", "b"], "y": [1.0, float("inf")], "p": [1.0, 2.0]})
    with pytest.raises(InputError, match="finite"):
        find_slices(frame, label="y", prediction="p", task="regression", min_support=1)


def test_docstring_examples():
    from sentinel_sql import slices_cover

    assert doctest.testmod(slices_mod).failed == 0
    assert doctest.testmod(slices_cover).failed == 0


# --------------------------------------------------------------------------------------------
# explain_drop
# --------------------------------------------------------------------------------------------


def _drop_frames(seed: int = 0):
    rng = np.random.default_rng(seed)

    def frame(n, bad_rate, bad_share, new_device):
        city = rng.choice(["lyon", "paris", "nice"], n)
        device = rng.choice(["ios", "web"], n).astype(object)
        bad = rng.random(n) < bad_share
        city[bad], device[bad] = "paris", "ios"
        if new_device:
            device[: n // 10] = "watch"
        age = rng.integers(18, 80, n)
        rate = np.where((city == "paris") & (device == "ios"), bad_rate, 0.1)
        rate = np.where(device == "watch", 0.7, rate)
        y = rng.integers(0, 2, n)
        p = np.where(rng.random(n) < rate, 1 - y, y)
        return pl.DataFrame({"city": city, "device": device, "age": age, "y": y, "p": p})

    return frame(2000, 0.1, 0.0, False), frame(3000, 0.6, 0.2, True)


def test_explain_drop_decomposition_matches_numpy():
    from sentinel_sql.slices import explain_drop

    ref, cur = _drop_frames()
    res = explain_drop(ref, cur, label="y", prediction="p", min_support=0.02, top_k=8)
    d = res.to_dict()
    e_ref = (ref["y"] != ref["p"]).to_numpy().astype(float)
    e_cur = (cur["y"] != cur["p"]).to_numpy().astype(float)
    assert d["reference"]["average_error"] == pytest.approx(e_ref.mean())
    assert d["current"]["average_error"] == pytest.approx(e_cur.mean())
    assert d["change"] == pytest.approx(e_cur.mean() - e_ref.mean())
    # the bins come from the reference
    ages = ref["age"].to_numpy().astype(float)
    np.testing.assert_allclose(d["bins"]["age"], sorted(set(np.quantile(ages, [.2, .4, .6, .8]))))
    edges = d["bins"]["age"]

    def mask(frame, preds):
        m = np.ones(frame.height, dtype=bool)
        for p in preds:
            col = frame[p["column"]].to_numpy()
            if "value" in p:
                m &= col == p["value"]
            else:
                b = np.searchsorted(edges, col.astype(float), side="left")
                lo = 0 if p["low"] is None else edges.index(p["low"]) + 1
                m &= b == lo
        return m

    texts = [s["slice"] for s in d["slices"]]
    assert "city = 'paris' AND device = 'ios'" in texts[:3]
    assert "device = 'watch'" in texts  # new in current: no reference rows
    contributions = [s["contribution"] for s in d["slices"]]
    assert contributions == sorted(contributions, reverse=True)
    for s in d["slices"]:
        m0, m1 = mask(ref, s["predicates"]), mask(cur, s["predicates"])
        assert s["reference"]["size"] == m0.sum() and s["current"]["size"] == m1.sum()
        w0, w1 = m0.mean(), m1.mean()
        e1 = e_cur[m1].mean()
        e0 = e_ref[m0].mean() if m0.any() else e1
        assert s["contribution"] == pytest.approx(w1 * e1 - w0 * e0, abs=1e-12)
        assert s["got_worse"] == pytest.approx((w0 + w1) / 2 * (e1 - e0), abs=1e-12)
        assert s["grew"] == pytest.approx((e0 + e1) / 2 * (w1 - w0), abs=1e-12)
        assert s["got_worse"] + s["grew"] == pytest.approx(s["contribution"], abs=1e-12)
        if not m0.any():
            assert s["reference"]["average_error"] is None and s["got_worse"] == 0
    assert res.to_polars().height == len(d["slices"])


def test_explain_drop_bad_input():
    from sentinel_sql.slices import explain_drop

    ref, cur = _drop_frames()
    with pytest.raises(InputError, match="'city'"):
        explain_drop(ref, cur.drop("city"), label="y", prediction="p")
    with pytest.raises(InputError, match="'zz'"):
        explain_drop(ref, cur, label="zz", prediction="p")


@pytest.mark.parametrize("recode_from", [0, 10_000])
@pytest.mark.parametrize(("top_k", "max_level"), [(5, 3), (400, 3), (20, 4)])
def test_many_features_every_pass_plan(monkeypatch, recode_from, top_k, max_level):
    """12 features: multi-feature passes, and renumbered codes (or not) above level 2."""
    from sentinel_sql import slices_search

    monkeypatch.setattr(slices_search, "RECODE_FROM", recode_from)
    rng = np.random.default_rng(recode_from + top_k)
    n = 500
    cols = {f"x{j}": rng.integers(0, 2 + j % 3, n).tolist() for j in range(12)}
    cols["x3"] = [None if v == 0 else v for v in cols["x3"]]
    err = (rng.random(n) < 0.15).astype(float)
    hot = (np.array(cols["x0"]) == 1) & (np.array(cols["x5"]) == 0)
    err[hot] = (rng.random(hot.sum()) < 0.5).astype(float)
    run_both(cols, err.tolist(), top_k=top_k, max_level=max_level, min_support=8)
