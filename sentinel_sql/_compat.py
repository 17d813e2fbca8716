"""Every version check of a dependency lives here (DuckDB 1.4 -> 2.0, private scipy helpers)."""

from __future__ import annotations

from typing import Any


def fetch_arrow(rel_or_cursor: Any) -> Any:
    """Return a ``pyarrow.Table`` from a DuckDB relation or an executed connection.

    DuckDB 2.0 made ``.arrow()`` return a reader; ``to_arrow_table`` / ``fetch_arrow_table``
    are the stable spellings.
    """
    for name in ("to_arrow_table", "fetch_arrow_table"):
        fn = getattr(rel_or_cursor, name, None)
        if fn is not None:
            return fn()
    out = rel_or_cursor.arrow()  # pragma: no cover - very old DuckDB
    return out.read_all() if hasattr(out, "read_all") else out


def query_arrow(con: Any, sql: str, params: list | None = None) -> Any:
    """Run ``sql`` with bound ``params`` and return a ``pyarrow.Table`` without an extra copy."""
    try:
        rel = con.sql(sql, params=params or None)
    except TypeError:  # pragma: no cover - DuckDB without params on .sql()
        return fetch_arrow(con.execute(sql, params or []))
    return fetch_arrow(rel)


def fetch_one(con: Any, sql: str, params: Any = None) -> tuple | None:
    """Run ``sql`` and return its first row (``rel.fetchone()`` is gone in DuckDB 2.0)."""
    rows = (
        con.execute(sql, params).fetchall() if params is not None else con.execute(sql).fetchall()
    )
    return rows[0] if rows else None


def ks_exact_two_sided(n1: int, n2: int, d: float) -> tuple[bool, float, float]:
    """scipy's exact two-sample KS path: ``(success, d, p)`` as ``ks_2samp`` computes them."""
    import math

    from scipy.stats import _stats_py

    g = math.gcd(n1, n2)
    return _stats_py._attempt_exact_2kssamp(n1, n2, g, d, "two-sided")


def duckdb_sqltypes() -> Any:
    """DuckDB's SQL type constants for UDFs: ``duckdb.sqltypes`` (2.0), else ``duckdb.typing``."""
    try:
        from duckdb import sqltypes
    except ImportError:  # pragma: no cover - DuckDB < 2.0
        from duckdb import typing as sqltypes
    return sqltypes
