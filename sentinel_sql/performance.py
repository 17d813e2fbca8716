"""Model performance per group (monitoring window), computed in SQL in one scan.

Classification (``prediction`` is a class; ``positive`` names the positive class, default: the
largest label value of the reference, e.g. 1, true or "yes"):
accuracy, and precision, recall and F1 of the positive class; with a ``probability`` column
(probability of the positive class): ROC AUC (Mann–Whitney, ties get average ranks) and log
loss (probabilities clipped to [1e-15, 1 - 1e-15]).

Regression: MAE, RMSE and R² (``1 - SSE / SST`` with the window's own mean; None when the
window's labels are constant).
"""

from __future__ import annotations

import math
from typing import Any

from .errors import InputError
from .scan import Grouping, _run
from .sources import Source
from .sqlutil import quote_ident

CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
REGRESSION_METRICS = ("mae", "rmse", "r2")
HIGHER_IS_BETTER = {"accuracy", "precision", "recall", "f1", "roc_auc", "r2"}
LOG_LOSS_EPS = 1e-15


def infer_task(label_type: str) -> str:
    """``regression`` for float/decimal labels, ``classification`` otherwise."""
    t = label_type.upper()
    return (
        "regression"
        if t in ("FLOAT", "DOUBLE", "REAL") or t.startswith("DECIMAL")
        else ("classification")
    )


def default_positive(con: Any, src: Source, label: str) -> str:
    rows = _run(
        con,
        src,
        f"SELECT max(CAST({quote_ident(label)} AS VARCHAR)) FROM {src.from_clause([label])}",
    ).fetchall()
    if not rows or rows[0][0] is None:
        raise InputError(f"{src.label}: label column {label!r} has no values")
    return str(rows[0][0])


def metrics(
    con: Any,
    src: Source,
    *,
    label: str,
    prediction: str,
    task: str,
    probability: str | None = None,
    positive: str | None = None,
    group: Grouping | None = None,
) -> dict[Any, dict[str, float | None]]:
    """``{group value: {metric: value}}`` (key None without ``group``)."""
    y, yhat = quote_ident(label), quote_ident(prediction)
    g_sql = f"({group.sql})" if group else "NULL"
    g_params = list(group.params) if group else []
    cols = sorted(
        {
            label,
            prediction,
            *([probability] if probability else []),
            *(group.columns if group else ()),
        }
    )
    if task == "regression":
        sql = f"""
            SELECT g, count(*), avg(abs(e)), sqrt(avg(e * e)),
                   sum(e * e), var_pop(y) * count(*)
            FROM (SELECT {g_sql} AS g, CAST({y} AS DOUBLE) AS y,
                         CAST({y} AS DOUBLE) - CAST({yhat} AS DOUBLE) AS e
                  FROM {src.from_clause(cols)})
            WHERE e IS NOT NULL AND isfinite(e) GROUP BY g"""
        out = {}
        for g, n, mae, rmse, sse, sst in _run(con, src, sql, g_params).fetchall():
            r2 = None if not sst else 1.0 - sse / sst
            out[g] = {"rows": n, "mae": mae, "rmse": rmse, "r2": r2}
        return out
    if task != "classification":
        raise InputError(f"--task must be classification or regression, not {task!r}")
    pos = positive if positive is not None else default_positive(con, src, label)
    p_sql = f"CAST({quote_ident(probability)} AS DOUBLE)" if probability else "NULL::DOUBLE"
    sql = f"""
        WITH s AS (
            SELECT {g_sql} AS g, CAST({y} AS VARCHAR) AS y, CAST({yhat} AS VARCHAR) AS yhat,
                   {p_sql} AS p
            FROM {src.from_clause(cols)} WHERE {y} IS NOT NULL AND {yhat} IS NOT NULL),
        r AS (
            SELECT g, y = ? AS pos, p,
                   rank() OVER (PARTITION BY g ORDER BY p)
                     + (count(*) OVER (PARTITION BY g, p) - 1) / 2.0 AS rk
            FROM s WHERE p IS NOT NULL),
        auc AS (
            SELECT g, count(*) FILTER (WHERE pos) AS npos, count(*) FILTER (WHERE NOT pos) AS nneg,
                   sum(rk) FILTER (WHERE pos) AS rsum,
                   -avg(CASE WHEN pos THEN ln(least(greatest(p, ?), 1 - ?))
                             ELSE ln(1 - least(greatest(p, ?), 1 - ?)) END) AS log_loss
            FROM r GROUP BY g),
        c AS (
            SELECT g, count(*) AS n, avg(CASE WHEN y = yhat THEN 1.0 ELSE 0.0 END) AS accuracy,
                   count(*) FILTER (WHERE y = ? AND yhat = ?) AS tp,
                   count(*) FILTER (WHERE y <> ? AND yhat = ?) AS fp,
                   count(*) FILTER (WHERE y = ? AND yhat <> ?) AS fn
            FROM s GROUP BY g)
        SELECT c.g, n, accuracy, tp, fp, fn, npos, nneg, rsum, log_loss
        FROM c LEFT JOIN auc ON c.g IS NOT DISTINCT FROM auc.g"""
    eps = LOG_LOSS_EPS
    params = g_params + [pos, eps, eps, eps, eps, pos, pos, pos, pos, pos, pos]
    out = {}
    for g, n, acc, tp, fp, fn, npos, nneg, rsum, ll in _run(con, src, sql, params).fetchall():
        prec = tp / (tp + fp) if tp + fp else None
        rec = tp / (tp + fn) if tp + fn else None
        f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None
        auc = None
        if probability and npos and nneg:
            auc = (float(rsum) - npos * (npos + 1) / 2) / (npos * nneg)
        m = {"rows": n, "accuracy": acc, "precision": prec, "recall": rec, "f1": f1}
        if probability:
            m["roc_auc"] = auc
            m["log_loss"] = None if ll is None or not math.isfinite(ll) else ll
        out[g] = m
    return out
