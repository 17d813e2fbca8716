"""Plain-text rendering of a drift result (``DriftResult.to_dict()``) for a terminal.

Verdict first, then one row per column (drifted columns first), then schema changes.
Presentation only: every number shown is read from the result, none is computed here.

>>> result = {"drift_detected": False, "drifted_columns": [], "schema_changes": [],
...           "reference": {"source": "ref.parquet", "rows": 10},
...           "current": {"source": "cur.parquet", "rows": 12}, "columns": []}
>>> print(render_drift(result).splitlines()[0])
No drift: 0 of 0 columns drifted, no schema changes.
"""

from __future__ import annotations

import unicodedata
from typing import Any

MAX_NAME = 40
HEADER = ("column", "kind", "test", "statistic", "p adj", "PSI", "null ref→cur", "")


def verdict_line(result: dict[str, Any]) -> str:
    """One sentence: the dataset verdict and what it rests on."""
    n = len(result["columns"])
    drifted = result["drifted_columns"]
    changes = result.get("schema_changes") or []
    schema = "no schema changes"
    if changes:
        schema = f"{len(changes)} schema change{'s' if len(changes) != 1 else ''}"
    head = "DRIFT DETECTED" if result["drift_detected"] else "No drift"
    names = ""
    if drifted:
        more = ", …" if len(drifted) > 8 else ""
        names = f" ({', '.join(clean(c, 24) for c in drifted[:8])}{more})"
    return f"{head}: {len(drifted)} of {n} columns drifted{names}, {schema}."


def sources_line(result: dict[str, Any]) -> str:
    ref, cur = result["reference"], result["current"]
    kind = " (saved profile)" if ref.get("profile") else ""
    return (f"reference: {clean(str(ref['source']), 80)}{kind}, {ref['rows']:,} rows · "
            f"current: {clean(str(cur['source']), 80)}, {cur['rows']:,} rows")


def render_drift(result: dict[str, Any]) -> str:
    """The whole terminal report as one string (no trailing newline)."""
    lines = [verdict_line(result), sources_line(result)]
    cols = sorted(result["columns"], key=lambda c: not c["drifted"])  # stable: drifted first
    if cols:
        lines.append("")
        lines.extend(_table([HEADER] + [_row(c) for c in cols]))
    noted = [(c["column"], notes(c)) for c in cols if notes(c)]
    if noted:
        lines.append("")
        lines.append("Categories:")
        lines.extend(f"  {clean(name, MAX_NAME)}: {text}" for name, text in noted)
    changes = result.get("schema_changes") or []
    if changes:
        lines.append("")
        lines.append("Schema changes:")
        lines.extend(f"  {clean(ch['column'], MAX_NAME)}: {_change(ch)}" for ch in changes)
    return "\n".join(lines)


def _row(c: dict[str, Any]) -> tuple[str, ...]:
    stat = (c.get("ks") or c.get("chi2") or {}).get("statistic")
    psi = (c.get("psi") or {}).get("value")
    nf = c.get("null_fraction") or {}
    if "empty_side" in c:
        test = f"no values in {c['empty_side']}"
    else:
        test = c.get("test") or "-"
    return (
        clean(c["column"], MAX_NAME),
        c["kind"],
        test,
        num(stat),
        pval(c.get("p_value_adjusted")),
        num(psi),
        f"{pct(nf.get('reference'))}→{pct(nf.get('current'))}",
        "DRIFT" if c["drifted"] else "",
    )


def notes(c: dict[str, Any], limit: int = 3) -> str:
    """New and missing categories of a column, in a few words (empty when none)."""
    parts = []
    for key, word in (("new_categories", "new"), ("missing_categories", "gone")):
        values = c.get(key) or []
        if values:
            shown = ", ".join(repr(v) for v in values[:limit])
            more = f" +{len(values) - limit} more" if len(values) > limit else ""
            parts.append(f"{word}: {shown}{more}")
    return clean("; ".join(parts), 80)


def _change(ch: dict[str, Any]) -> str:
    change = ch["change"].replace("_", " ")
    types = [f"{k.replace('_', ' ')} {ch[k]}" for k in ("reference_type", "current_type", "type")
             if k in ch]
    return change + (f" ({', '.join(types)})" if types else "")


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(width(r[i]) for r in rows) for i in range(len(rows[0]))]
    right = {3, 4, 5}  # numbers line up on the right
    out = []
    for r in rows:
        cells = []
        for i, cell in enumerate(r):
            pad = " " * (widths[i] - width(cell))
            cells.append(pad + cell if i in right else cell + pad)
        out.append("  ".join(cells).rstrip())
    return out


def num(x: Any) -> str:
    if x is None:
        return "-"
    x = float(x)
    if x == 0:
        return "0"
    if abs(x) >= 1e5 or abs(x) < 1e-3:
        return f"{x:.2e}"
    return f"{x:.4g}" if abs(x) >= 1 else f"{x:.4f}"


def pval(p: Any) -> str:
    if p is None:
        return "-"
    p = float(p)
    if p == 0:
        return "<1e-300"
    return f"{p:.2e}" if p < 1e-3 else f"{p:.3f}"


def pct(x: Any) -> str:
    return "-" if x is None else f"{float(x):.1%}"


def clean(text: str, limit: int) -> str:
    """A name made safe to print on one line: control characters escaped, long names cut."""
    s = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in str(text))
    if width(s) <= limit:
        return s
    out, w = [], 0
    for ch in s:
        cw = width(ch)
        if w + cw > limit - 1:
            break
        out.append(ch)
        w += cw
    return "".join(out) + "…"


def width(s: str) -> int:
    """Display width in a terminal: wide East Asian characters and emoji take two cells."""
    w = 0
    for ch in s:
        if unicodedata.combining(ch):
            continue
        w += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return w
