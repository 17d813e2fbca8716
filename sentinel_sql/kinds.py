"""Column kinds: which statistic family a column gets, and the SQL value it is measured by.

Rules (reported per column as ``kind``):

- strings, booleans, enums and UUIDs are ``categorical`` (compared as text);
- integers, floats and decimals are ``numeric`` (compared as DOUBLE);
- dates and timestamps are ``numeric``, compared as ordered values (days, microseconds
  since the epoch);
- anything else (lists, structs, maps, blobs) is not compared and is reported as unsupported;
- a per-column override (``kinds={"zip": "categorical"}``) wins. No cardinality-based guessing:
  a low-cardinality integer stays numeric unless you say otherwise.
"""

from __future__ import annotations

import re

from .errors import InputError
from .sqlutil import quote_ident

NUMERIC = "numeric"
CATEGORICAL = "categorical"
KINDS = (NUMERIC, CATEGORICAL)

_NUMERIC_RE = re.compile(
    r"^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT"
    r"|FLOAT|DOUBLE|REAL|DECIMAL.*|INT\d*)$"
)
_CATEGORICAL_RE = re.compile(r"^(VARCHAR|BOOLEAN|ENUM\(.*|UUID|CHAR.*|STRING)$", re.S)
_DATE_RE = re.compile(r"^DATE$")
_TIMESTAMP_RE = re.compile(r"^(TIMESTAMP.*|TIME.*)$")


def infer_kind(dtype: str) -> str | None:
    """``numeric``, ``categorical`` or None (unsupported) for a DuckDB type name.

    >>> infer_kind("BIGINT"), infer_kind("VARCHAR"), infer_kind("INTEGER[]")
    ('numeric', 'categorical', None)
    """
    t = dtype.upper()
    if _NUMERIC_RE.match(t) or _DATE_RE.match(t) or _TIMESTAMP_RE.match(t):
        return NUMERIC
    if _CATEGORICAL_RE.match(t):
        return CATEGORICAL
    return None


def check_kind(column: str, kind: str) -> str:
    if kind not in KINDS:
        raise InputError(f"column {column!r}: kind must be one of {', '.join(KINDS)}, not {kind!r}")
    return kind


def value_sql(column: str, dtype: str, kind: str) -> str:
    """The SQL expression measured for ``column``: DOUBLE for numeric, VARCHAR for categorical."""
    col = quote_ident(column)
    t = dtype.upper()
    if kind == CATEGORICAL:
        return f"CAST({col} AS VARCHAR)"
    if _DATE_RE.match(t):
        return f"CAST(date_diff('day', DATE '1970-01-01', {col}) AS DOUBLE)"
    if t.startswith("TIMESTAMP"):
        return f"CAST(epoch_us({col}) AS DOUBLE)"
    if t.startswith("TIME"):
        return f"CAST(epoch_us({col}::TIME) AS DOUBLE)"
    if _NUMERIC_RE.match(t):
        return f"CAST({col} AS DOUBLE)"
    return f"TRY_CAST({col} AS DOUBLE)"
