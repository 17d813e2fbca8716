"""Sentinel inside DuckDB: drift macros and p-value functions on a user's own connection.

``register(con)`` defines, as TEMP objects of that connection only:

- pure SQL macros (``sql/engine_macros.sql`` + ``sql/drift_macros.sql``, also usable in the
  DuckDB command-line client without Python; ``sql_text()`` returns them):

  - ``psi(ref_counts, cur_counts)``, ``js_distance(...)``, ``hellinger(...)``,
    ``sentinel_linf(...)``, ``sentinel_chi2_statistic(...)``, ``sentinel_chi2_dof(...)``
    over two count lists (the definitions of ``sentinel_sql.stats``; NULL where it returns nan);
  - table macros ``sentinel_drift(ref_table, cur_table)`` and
    ``sentinel_drift_column(ref_table, cur_table, column_name)``: per-column statistics and
    verdicts as ``sentinel_sql.compare`` (options ``alpha``, ``psi_threshold``, ``decision``,
    ``null_threshold``);

- the functions that need Python (scipy): ``ks_p_value(d, n, m)`` and
  ``chi2_p_value(statistic, dof)``. With them the drift macros also return p-values,
  Benjamini-Hochberg adjusted p-values and test-based verdicts; without them (plain SQL) the
  p-values are NULL and ``drifted`` is NULL where only a p-value could decide it.

Names and collisions: the names above are used exactly (no prefix), so they can clash with a
user's own macro or function. ``register`` checks first and raises ``MacroNameError`` naming
every clash, changing nothing; with ``replace=True`` Sentinel's TEMP macros are created anyway
and take precedence on this connection (a user's TEMP macro of that name is replaced; a
persistent macro or a Python function is left in place, shadowed). Names starting with
``sentinel_`` are reserved and always (re)defined. Registering twice is a no-op in effect (the
same definitions again; the Python functions are created once). Everything is TEMP, so it works
on a read-only connection and does not write to the database file.

>>> import duckdb
>>> con = duckdb.connect()
>>> "psi" in register(con)
True
>>> con.execute("SELECT round(psi([1, 1], [1, 3]), 6)").fetchall()
[(0.274653,)]
>>> con.execute("SELECT round(chi2_p_value(3.841458820694124, 1), 6)").fetchall()
[(0.05,)]
"""

from __future__ import annotations

from typing import Any

from .errors import InputError
from .sqlutil import sql_file

__all__ = ["PUBLIC_NAMES", "MacroNameError", "register", "sql_text"]

#: Names defined without the reserved ``sentinel_`` prefix (checked for clashes).
UNPREFIXED_NAMES = ("psi", "js_distance", "hellinger", "ks_p_value", "chi2_p_value")

#: Everything ``register`` makes available to users, in the order of the README.
PUBLIC_NAMES = (
    "sentinel_drift",
    "sentinel_drift_column",
    "psi",
    "js_distance",
    "hellinger",
    "sentinel_linf",
    "sentinel_chi2_statistic",
    "sentinel_chi2_dof",
    "ks_p_value",
    "chi2_p_value",
)

#: Marker at the start of the comment of every Sentinel macro (``COMMENT ON MACRO``).
COMMENT_MARK = "sentinel_sql:"

_PURE_FILES = ("engine_macros.sql", "drift_macros.sql")
_PYTHON_FILE = "drift_pvalues.sql"


class MacroNameError(InputError):
    """A name ``register`` would define is already taken by something that is not Sentinel's."""


def sql_text() -> str:
    """The pure SQL macros (no Python needed), ready for any DuckDB client.

    >>> "CREATE OR REPLACE TEMP MACRO sentinel_drift(" in sql_text()
    True
    """
    return "\n".join(sql_file(name).rstrip() + "\n" for name in _PURE_FILES)


def register(con: Any, *, replace: bool = False) -> list[str]:
    """Define Sentinel's macros and p-value functions on ``con``; return the public names.

    Raises ``MacroNameError`` (nothing changed) if one of ``psi``, ``js_distance``,
    ``hellinger``, ``ks_p_value``, ``chi2_p_value`` already exists and is not Sentinel's,
    unless ``replace=True``. Idempotent; works on read-only connections (TEMP objects only).
    """
    if not replace:
        clashes = _foreign(con)
        if clashes:
            listed = ", ".join(f"{name} ({where})" for name, where in clashes)
            raise MacroNameError(
                f"cannot register Sentinel's SQL functions: {listed} already exist(s) and "
                "are not Sentinel's; drop them, use another connection, or pass replace=True "
                "to let Sentinel's TEMP macros take precedence on this connection"
            )
    con.execute(sql_text())
    _create_python_functions(con)
    con.execute(sql_file(_PYTHON_FILE))
    return list(PUBLIC_NAMES)


def _foreign(con: Any) -> list[tuple[str, str]]:
    """``(name, where)`` for each unprefixed name that something other than Sentinel defines.

    Only what a call can resolve to is looked at: built-in and Python functions (``system``),
    TEMP macros and the current database's; not other attached databases.
    """
    rows = con.execute(
        "SELECT DISTINCT lower(function_name), database_name || '.' || schema_name, function_type"
        " FROM duckdb_functions()"
        " WHERE lower(function_name) IN (SELECT unnest(?::VARCHAR[]))"
        "   AND database_name IN ('system', 'temp', current_database())"
        "   AND NOT (database_name = 'temp' AND starts_with(coalesce(comment, ''), ?))"
        " ORDER BY 1, 2",
        [list(UNPREFIXED_NAMES), COMMENT_MARK],
    ).fetchall()
    return [(name, f"{function_type} in {where}") for name, where, function_type in rows]


def _ks_p_value(d: float, n: int, m: int) -> float:
    """scipy's two-sided KS p-value (the SQL wrapper returns NULL for an empty sample)."""
    from .stats import ks_p_value

    return ks_p_value(d, n, m)[1]


def _chi2_p_value(statistic: float, dof: int) -> float:
    """``scipy.stats.chi2.sf(statistic, dof)``; 1.0 for ``dof == 0`` (a single category)."""
    if dof < 0:
        raise ValueError(f"chi2_p_value: dof must be >= 0, got {dof}")
    from .stats import chi2_sf

    return chi2_sf(statistic, dof)


def _create_python_functions(con: Any) -> None:
    """Create the scipy-backed scalar functions once per connection."""
    from ._compat import duckdb_sqltypes

    t = duckdb_sqltypes()
    wanted = {
        "sentinel_py_ks_p_value": (_ks_p_value, [t.DOUBLE, t.BIGINT, t.BIGINT]),
        "sentinel_py_chi2_p_value": (_chi2_p_value, [t.DOUBLE, t.BIGINT]),
    }
    existing = {
        row[0]
        for row in con.execute(
            "SELECT function_name FROM duckdb_functions() WHERE function_name IN (?, ?)",
            list(wanted),
        ).fetchall()
    }
    for name, (fn, params) in wanted.items():
        if name not in existing:
            con.create_function(name, fn, params, t.DOUBLE)
