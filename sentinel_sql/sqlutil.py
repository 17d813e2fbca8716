"""SQL helpers: the one identifier-quoting function, and the SQL files shipped in ``sql/``."""

from __future__ import annotations

from functools import cache
from importlib import resources


def quote_ident(name: str) -> str:
    """Quote an identifier for DuckDB; any string is a valid column name afterwards.

    >>> quote_ident('a"; DROP TABLE x; --')
    '"a""; DROP TABLE x; --"'
    """
    if "\x00" in name:
        raise ValueError("identifiers cannot contain NUL characters")
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """Quote a string literal, for the rare statements that take no bound parameters (ATTACH).

    >>> quote_literal("it's")
    "'it''s'"
    """
    if "\x00" in value:
        raise ValueError("string literals cannot contain NUL characters")
    return "'" + value.replace("'", "''") + "'"


@cache
def sql_file(name: str) -> str:
    """Text of ``sql/<name>``, shipped inside the wheel as ``sentinel_sql.sql``."""
    return resources.files("sentinel_sql.sql").joinpath(name).read_text(encoding="utf-8")
