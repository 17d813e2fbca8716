"""Sentinel SQL: why did the model get worse? Exact drift statistics computed by DuckDB SQL.

Heavy modules (duckdb, polars, scipy) load on first use, not on import.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "compare": ("sentinel_sql.drift", "compare"),
    "DriftResult": ("sentinel_sql.result", "DriftResult"),
    "Profile": ("sentinel_sql.profiles", "Profile"),
    "profile": ("sentinel_sql.drift", "profile"),
    "find_slices": ("sentinel_sql.slices", "find_slices"),
    "explain_drop": ("sentinel_sql.slices", "explain_drop"),
    "register": ("sentinel_sql.macros", "register"),
    "monitor": ("sentinel_sql.monitoring", "monitor"),
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        mod, attr = _LAZY[name]
        return getattr(importlib.import_module(mod), attr)
    raise AttributeError(f"module 'sentinel_sql' has no attribute {name!r}")
