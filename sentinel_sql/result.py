"""The result of a comparison: the JSON contract, and a Polars view of the per-column table."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any


def _clean(x: Any) -> Any:
    """JSON-safe: numpy scalars to Python, NaN/inf to None."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


@dataclass
class DriftResult:
    """Per-column drift statistics and the dataset verdict. ``to_dict()`` is the JSON contract."""

    drift_detected: bool
    drifted_columns: list[str]
    reference: dict[str, Any]
    current: dict[str, Any]
    columns: list[dict[str, Any]]
    schema_changes: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return _clean(
            {
                "drift_detected": self.drift_detected,
                "drifted_columns": self.drifted_columns,
                "reference": self.reference,
                "current": self.current,
                "columns": self.columns,
                "schema_changes": self.schema_changes,
                "settings": self.settings,
            }
        )

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def column(self, name: str) -> dict[str, Any]:
        for c in self.columns:
            if c["column"] == name:
                return c
        raise KeyError(name)

    def to_polars(self) -> Any:
        """One row per compared column: kind, verdict, test statistics and null fractions."""
        import polars as pl

        rows = []
        for c in self.columns:
            rows.append(
                {
                    "column": c["column"],
                    "kind": c["kind"],
                    "drifted": c["drifted"],
                    "test": c.get("test"),
                    "statistic": (c.get("ks") or c.get("chi2") or {}).get("statistic"),
                    "p_value": c.get("p_value"),
                    "p_value_adjusted": c.get("p_value_adjusted"),
                    "psi": (c.get("psi") or {}).get("value"),
                    "js_distance": c.get("js_distance"),
                    "hellinger": c.get("hellinger"),
                    "wasserstein": (c.get("wasserstein") or {}).get("value"),
                    "null_fraction_reference": c["null_fraction"]["reference"],
                    "null_fraction_current": c["null_fraction"]["current"],
                }
            )
        return pl.DataFrame(rows, infer_schema_length=None)
