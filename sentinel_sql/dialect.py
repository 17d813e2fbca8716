"""The engine's SQL has one form, DuckDB's; other engines get it generated from that form.

``scan.py`` builds every query the drift engine and the profiles run, in DuckDB SQL with ``?``
parameters. ``to_spark`` parses such a query with sqlglot and writes it as Spark SQL (the golden
files in ``tests/golden/`` pin the output). sqlglot translates most of it by itself (``>>`` to
``SHIFTRIGHT``, ``xor`` to ``^``, ``unnest`` to ``EXPLODE``, ``"ident"`` to ```ident```); the
few DuckDB functions Spark lacks are rewritten here, and only here:

==========================================  =====================================================
DuckDB                                      Spark
==========================================  =====================================================
``CAST(CAST(x AS BIT) AS BIGINT)``          the IEEE-754 bits computed arithmetically in two
(the raw bits of a DOUBLE column ``x`` in   layered subqueries (``_layered``; exponent from
a SELECT list)                              ``log2``, corrected exactly, mantissa by exact
                                            scaling); equal bit for bit, tested
``isfinite(x)``                             ``abs(x) < CAST('inf' AS DOUBLE)`` (NaN sorts above
                                            +inf in Spark, NULL stays NULL)
``epoch_us(ts)``                            ``unix_micros(ts)`` (the session time zone is UTC)
``date_diff('day', DATE '1970-01-01', d)``  ``unix_date(d)``
``x IN (SELECT unnest(?))`` (a semi-join)   ``array_contains(?, x)``: Spark plans the semi-join with
                                            the whole order-code expression inlined into the
                                            join key, 5x slower than the filter
``quantile_cont(x, q)`` (``q`` a number     ``percentile(x, q)``, a list as ``array(...)``: exact
or a list)                                  too, but Spark interpolates in another order, so
                                            the last bit can differ (``slices_prep`` reads the
                                            two order statistics and interpolates in Python)
TIME values                                 not supported: Spark has no TIME type
==========================================  =====================================================

DuckDB's own order code is kept as the BIT cast: there it is twice as fast as the arithmetic.
Parameters: ``?`` becomes ``:p0, :p1, …`` in the order of the DuckDB text (``spark_args``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from .errors import InputError

_MIN_NORMAL = "2.2250738585072014e-308"
_TWO52 = "4503599627370496"
# The raw IEEE-754 bits of a finite DOUBLE column ``__x`` (a signed BIGINT, like DuckDB's BIT
# cast), from two layered columns: Spark does not inline a costly expression used several
# times, so each layer is computed once a row (2x faster than one expression). __e0 is log2's
# exponent clamped to the normal range (log2 may be off by one near powers of two);
# __r = a / 2^__e0 is exact, lies in [0.5, 4) and says by itself whether __e0 is one too small
# (r >= 2) or too large (r < 1); the mantissa (r - 1) * 2^52 is an exact integer; subnormals
# are a * 2^1074, scaled in two exact steps.
_LAYER_E0 = f"least(greatest(floor(log2(greatest(abs(__x), {_MIN_NORMAL}))), -1022), 1023)"
_LAYER_BITS = (
    f"(CASE WHEN __a < {_MIN_NORMAL} THEN CAST(__a * pow(2, 1022) * {_TWO52} AS BIGINT)"
    " ELSE CAST((__e0 + 1023 + CASE WHEN __r >= 2 THEN 1 WHEN __r < 1 THEN -1 ELSE 0 END)"
    f" * {_TWO52} AS BIGINT) + CAST((__r * CASE WHEN __r >= 2 THEN 0.5 WHEN __r < 1 THEN 2.0"
    f" ELSE 1.0 END - 1) * {_TWO52} AS BIGINT) END)"
    " + CASE WHEN __x < 0 THEN -9223372036854775807 - 1 ELSE 0 END"
)


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


def _is_bit_cast(node: Any) -> bool:
    exp = _sqlglot().exp
    return (
        isinstance(node, exp.Cast)
        and node.to.this == exp.DataType.Type.BIGINT
        and isinstance(node.this, exp.Cast)
        and node.this.to.this == exp.DataType.Type.BIT
    )


def _layered(select: Any) -> Any:
    """A SELECT whose projections take the bits of a plain column (``CAST(CAST(f AS BIT) AS
    BIGINT)``): compute them from two extra layers under its FROM."""
    sqlglot = _sqlglot()
    exp = sqlglot.exp
    source = select.args.get("from_") or select.args.get("from")
    if source is None:
        return select
    cols = []
    for proj in select.expressions:
        node = proj.this if isinstance(proj, exp.Alias) else proj
        if _is_bit_cast(node) and isinstance(node.this.this, exp.Column):
            cols.append(node.this.this.name)
    if not cols:
        return select
    inner = source.this.copy().transform(_rewrite)  # a replaced node is not visited again
    first = [exp.Star()]
    second = [exp.Star()]
    for i, c in enumerate(dict.fromkeys(cols)):
        x = exp.column(c, quoted=True)
        first.append(exp.alias_(exp.Abs(this=x.copy()), f"__a{i}"))
        first.append(exp.alias_(_substitute(_LAYER_E0, x), f"__e0{i}"))
        second.append(
            exp.alias_(sqlglot.parse_one(f"__a{i} / pow(2, __e0{i})", read="duckdb"), f"__r{i}")
        )
    layer1 = exp.select(*first).from_(exp.Subquery(this=exp.select("*").from_(inner)))
    layer2 = exp.select(*second).from_(exp.Subquery(this=layer1))
    index = {c: i for i, c in enumerate(dict.fromkeys(cols))}

    def bits(node: Any) -> Any:
        if _is_bit_cast(node) and isinstance(node.this.this, exp.Column):
            i = index[node.this.this.name]
            text = _LAYER_BITS.replace("__a", f"__a{i}").replace("__e0", f"__e0{i}")
            text = text.replace("__r", f"__r{i}")
            return exp.paren(_substitute(text, node.this.this), copy=False)
        return node

    out = select.copy()
    out.set("expressions", [p.transform(bits).transform(_rewrite) for p in out.expressions])
    for key in ("where", "group", "having", "order"):
        if out.args.get(key) is not None:
            out.set(key, out.args[key].transform(_rewrite))
    key = "from_" if "from_" in out.args else "from"
    out.set(key, exp.From(this=exp.Subquery(this=layer2)))
    return out


def _rewrite(node: Any) -> Any:
    exp = _sqlglot().exp
    if isinstance(node, exp.Select):
        node = _layered(node)
    if isinstance(node, exp.Cast):
        inner = node.this
        if (
            node.to.this == exp.DataType.Type.BIGINT
            and isinstance(inner, exp.Cast)
            and inner.to.this == exp.DataType.Type.BIT
        ):
            raise InputError(
                f"Spark cannot run {node.sql('duckdb')}: the bits of a DOUBLE are generated for"
                " a plain column in a SELECT list only"
            )
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
    if isinstance(node, exp.In) and isinstance(node.args.get("query"), exp.Subquery):
        sel = node.args["query"].this
        items = sel.expressions if isinstance(sel, exp.Select) else []
        if len(items) == 1 and isinstance(items[0], (exp.Explode, exp.Unnest)) and not sel.args.get(
            "from"
        ):
            arr = items[0].this if isinstance(items[0], exp.Explode) else items[0].expressions[0]
            x = node.this.transform(_rewrite)
            return exp.Anonymous(this="array_contains", expressions=[arr.copy(), x])
    if isinstance(node, exp.DateDiff):
        start = node.expression
        unit = str(node.args.get("unit") or "").strip("'\"").lower()
        if unit == "day" and "1970-01-01" in start.sql():
            return exp.Anonymous(this="unix_date", expressions=[node.this.copy()])
    return node


@lru_cache(maxsize=512)
def to_spark(sql: str) -> str:
    """The Spark SQL for one engine query written in DuckDB SQL.

    The ``?`` parameters become named markers ``:p0, :p1, …`` in the order they appear in
    ``sql`` (a rewrite may move them: ``array_contains`` takes the array first); bind them
    with ``spark_args(params)``.
    """
    sqlglot = _sqlglot()
    exp = sqlglot.exp
    trees = sqlglot.parse(sql, read="duckdb")
    if len(trees) != 1 or trees[0] is None:
        raise ValueError("to_spark takes exactly one statement")
    tree = trees[0]
    marks = [n for n in tree.walk(bfs=False) if isinstance(n, exp.Placeholder)]
    tokens = sqlglot.tokenize(sql, read="duckdb")
    if len(marks) != sum(t.token_type == sqlglot.TokenType.PLACEHOLDER for t in tokens):
        raise ValueError("to_spark: cannot number the parameters of this query")
    for i, node in enumerate(marks):
        node.replace(exp.Placeholder(this=f"p{i}"))
    return tree.transform(_rewrite).sql(dialect="spark")


def spark_args(params: Any) -> dict[str, Any] | None:
    """The named arguments for a query made by ``to_spark``."""
    return {f"p{i}": v for i, v in enumerate(params)} if params else None
