"""The engine's SQL has one form, DuckDB's; other engines get it generated from that form.

``scan.py`` builds every query the drift engine and the profiles run, in DuckDB SQL with ``?``
parameters. ``to_spark`` parses such a query with sqlglot and writes it as Spark SQL (the golden
files in ``tests/golden/`` pin the output). sqlglot translates most of it by itself (``>>`` to
``SHIFTRIGHT``, ``xor`` to ``^``, ``unnest`` to ``EXPLODE``, ``"ident"`` to ```ident```); the
few DuckDB functions Spark lacks are rewritten here, and only here:

==========================================  =====================================================
DuckDB                                      Spark
==========================================  =====================================================
``CAST(CAST(x AS BIT) AS BIGINT)``          the IEEE-754 bits computed arithmetically (exponent
(the raw bits of a DOUBLE)                  from ``log2`` corrected by exact powers of two,
                                            mantissa by exact scaling); equal bit for bit, tested
``isfinite(x)``                             ``abs(x) < CAST('inf' AS DOUBLE)`` (NaN sorts above
                                            +inf in Spark, NULL stays NULL)
``epoch_us(ts)``                            ``unix_micros(ts)`` (the session time zone is UTC)
``date_diff('day', DATE '1970-01-01', d)``  ``unix_date(d)``
``quantile_cont(x, q)`` (``q`` a number     ``percentile(x, q)``, a list as ``array(...)``: exact
or a list)                                  too, but Spark interpolates in another order, so
                                            the last bit can differ (``slices_prep`` reads the
                                            two order statistics and interpolates in Python)
TIME values                                 not supported: Spark has no TIME type
==========================================  =====================================================

DuckDB's own order code is kept as the BIT cast: there it is twice as fast as the arithmetic.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from .errors import InputError

_MIN_NORMAL = "2.2250738585072014e-308"
_TWO52 = "4503599627370496"
# Raw IEEE-754 bits of a finite DOUBLE ``__x`` (as a signed BIGINT, like DuckDB's BIT cast):
# e is the binary exponent (log2 may be off by one near powers of two: corrected by exact
# comparisons with 2^e), the mantissa is (a / 2^e - 1) * 2^52, an exact integer; subnormals
# are a * 2^1074, scaled in two exact steps.
_E0 = f"floor(log2(greatest(abs(__x), {_MIN_NORMAL})))"
_E = (
    f"({_E0} - CASE WHEN pow(2, {_E0}) > abs(__x) THEN 1 ELSE 0 END"
    f" + CASE WHEN pow(2, {_E0} + 1) <= abs(__x) THEN 1 ELSE 0 END)"
)
_MAGNITUDE = (
    f"CASE WHEN abs(__x) < {_MIN_NORMAL}"
    f" THEN CAST(abs(__x) * pow(2, 1022) * {_TWO52} AS BIGINT)"
    f" ELSE CAST(({_E} + 1023) * {_TWO52} AS BIGINT)"
    f" + CAST((abs(__x) / pow(2, {_E}) - 1) * {_TWO52} AS BIGINT) END"
)
_RAW_BITS = f"({_MAGNITUDE}) + CASE WHEN __x < 0 THEN -9223372036854775807 - 1 ELSE 0 END"


def _sqlglot() -> Any:
    try:
        import sqlglot
    except ImportError:  # pragma: no cover - depends on the installation
        raise InputError(
            "the Spark engine needs sqlglot and pyspark: pip install 'sentinel-sql[spark]'"
        ) from None
    return sqlglot


def _substitute(template: str, x: Any) -> Any:
    sqlglot = _sqlglot()
    exp = sqlglot.exp
    tree = sqlglot.parse_one(template, read="duckdb")
    x = x.transform(_rewrite)  # a replaced node's children are not visited again
    return tree.transform(
        lambda n: x.copy() if isinstance(n, exp.Column) and n.name == "__x" else n
    )


def _rewrite(node: Any) -> Any:
    exp = _sqlglot().exp
    if isinstance(node, exp.Cast):
        inner = node.this
        if (
            node.to.this == exp.DataType.Type.BIGINT
            and isinstance(inner, exp.Cast)
            and inner.to.this == exp.DataType.Type.BIT
        ):
            return exp.paren(_substitute(_RAW_BITS, inner.this), copy=False)
        if node.to.this in (exp.DataType.Type.BIT, exp.DataType.Type.TIME):
            raise InputError(f"Spark cannot run {node.sql('duckdb')}: no such type in Spark")
    if isinstance(node, exp.Anonymous):
        name = node.name.lower()
        args = node.expressions
        if name == "isfinite":
            return exp.paren(_substitute("abs(__x) < CAST('inf' AS DOUBLE)", args[0]), copy=False)
        if name == "epoch_us":
            return exp.Anonymous(this="unix_micros", expressions=[a.copy() for a in args])
    if isinstance(node, exp.PercentileCont) and node.expression is not None:
        q = node.expression
        if isinstance(q, exp.Array):
            q = exp.Anonymous(this="array", expressions=[e.copy() for e in q.expressions])
        else:
            q = q.copy()
        return exp.Anonymous(this="percentile", expressions=[node.this.copy(), q])
    if isinstance(node, exp.DateDiff):
        start = node.expression
        unit = str(node.args.get("unit") or "").strip("'\"").lower()
        if unit == "day" and "1970-01-01" in start.sql():
            return exp.Anonymous(this="unix_date", expressions=[node.this.copy()])
    return node


@lru_cache(maxsize=512)
def to_spark(sql: str) -> str:
    """The Spark SQL for one engine query written in DuckDB SQL (parameters stay ``?``)."""
    sqlglot = _sqlglot()
    trees = sqlglot.parse(sql, read="duckdb")
    if len(trees) != 1 or trees[0] is None:
        raise ValueError("to_spark takes exactly one statement")
    return trees[0].transform(_rewrite).sql(dialect="spark")
