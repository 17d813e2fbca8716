"""The HTML drift report: one great-tables table, one row per column, saved as a single page.

``drift_report(result)`` is a pure function from the JSON contract (``DriftResult.to_dict()``)
to a ``great_tables.GT``; ``write_html(result, path)`` renders it into a self-contained page
(no fonts, scripts or styles fetched from the network) written atomically.

Each row shows the column's reference and current histograms side by side as nanoplot bar
charts — the share of rows in each PSI bin (numeric: the reference-decile bins; categorical:
the most frequent categories) on one y scale per row — then the test, its statistic, the
Benjamini–Hochberg adjusted p-value, the PSI and the missing fractions. Drifted rows are
highlighted and listed first. Presentation only: nothing here computes a statistic.

>>> result = {"drift_detected": False, "drifted_columns": [], "schema_changes": [],
...           "reference": {"source": "ref.parquet", "rows": 10},
...           "current": {"source": "cur.parquet", "rows": 12}, "columns": [], "settings": {}}
>>> "No drift" in render_html(result)
True
"""

from __future__ import annotations

import html as _html
import math
import os
import re
from typing import Any

from . import terminal

DRIFT_FILL = "#FDE7E4"
DRIFT_TEXT = "#B42318"
PLOT_HEIGHT = "2.2em"
HOVER_MAX_COLUMNS = 200  # above this, no hover values on the plots: half the page size

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ margin: 1.5em; background: #fff;
  font-family: -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif; }}
</style>
</head>
<body>
{table}
</body>
</html>
"""


def drift_report(result: dict[str, Any]) -> Any:
    """A ``great_tables.GT`` of the drift result ``result`` (``DriftResult.to_dict()``)."""
    import polars as pl
    from great_tables import GT, html, loc, nanoplot_options, style

    cols = sorted(result["columns"], key=lambda c: not c["drifted"])  # drifted first, stable
    frame = pl.DataFrame(
        [_row(c) for c in cols],
        schema={
            "column": pl.String, "kind": pl.String, "reference": pl.List(pl.Float64),
            "current": pl.List(pl.Float64), "test": pl.String, "statistic": pl.Float64,
            "p_adj": pl.Float64, "psi": pl.Float64, "null_ref": pl.Float64,
            "null_cur": pl.Float64, "notes": pl.String, "verdict": pl.String,
        },
    )
    gt = (
        GT(frame)
        .tab_header(title=html(_title(result)), subtitle=html(_subtitle(result)))
        .cols_label(column="Column", kind="Kind", reference="Reference", current="Current",
                    test="Test", statistic="Statistic", p_adj="p (adj.)", psi="PSI",
                    null_ref="Reference", null_cur="Current", notes="Notes", verdict="")
        .tab_spanner(label="Share of rows per bin", columns=["reference", "current"])
        .tab_spanner(label="Missing", columns=["null_ref", "null_cur"])
        .fmt(terminal.num, columns=["statistic", "psi"])
        .fmt(terminal.pval, columns="p_adj")
        .fmt(terminal.pct, columns=["null_ref", "null_cur"])
        .sub_missing(columns=["test", "statistic", "p_adj", "psi", "null_ref", "null_cur"],
                     missing_text="–")
        .cols_align("right", columns=["statistic", "p_adj", "psi", "null_ref", "null_cur"])
        .tab_style(style.text(font="ui-monospace, Menlo, Consolas, monospace", size="90%"),
                   loc.body(columns="column"))
        .tab_options(table_font_size="14px", data_row_padding="2px",
                     heading_title_font_size="20px", heading_subtitle_font_size="13px",
                     source_notes_font_size="12px")
    )
    # one y scale per row, shared by its two plots; rows grouped by scale: few formatter calls
    options = nanoplot_options(
        data_bar_fill_color="#7AA6D8", data_bar_stroke_color="#4F7FB8",
        data_bar_stroke_width=2, show_y_axis_guide=False,
        show_vertical_guides=len(cols) <= HOVER_MAX_COLUMNS,
        y_val_fmt_fn=_share_label, y_axis_fmt_fn=_share_label,  # cheap: no GT per number
    )
    by_top: dict[float, list[int]] = {}
    for i, c in enumerate(cols):
        shares = _shares(c, "reference") + _shares(c, "current")
        if shares:
            by_top.setdefault(_nice_top(max(shares)), []).append(i)
    for top, rows in sorted(by_top.items()):
        for side in ("reference", "current"):
            gt = gt.fmt_nanoplot(side, rows=rows, plot_type="bar", plot_height=PLOT_HEIGHT,
                                 expand_y=[0, top], options=options)
    gt = gt.sub_missing(columns=["reference", "current"], missing_text="no data")
    drifted = pl.col("verdict") == "DRIFT"
    gt = gt.tab_style(style.fill(color=DRIFT_FILL), loc.body(rows=drifted)).tab_style(
        style.text(color=DRIFT_TEXT, weight="bold"),
        loc.body(columns=["column", "verdict"], rows=drifted),
    )
    for note in _notes(result):
        gt = gt.tab_source_note(html(note))
    return gt


def render_html(result: dict[str, Any]) -> str:
    """The report as a complete, self-contained HTML page."""
    table = drift_report(result).as_raw_html()
    page = _PAGE.format(title=_html.escape(_title(result)), table=table)
    return _offline(_compact(page))


def write_html(result: dict[str, Any], path: str | os.PathLike) -> None:
    """Render the report and write it to ``path`` atomically (never a partial file)."""
    from .profiles import write_atomic

    write_atomic(path, render_html(result))


def _row(c: dict[str, Any]) -> dict[str, Any]:
    nf = c.get("null_fraction") or {}
    test = {"ks": "KS", "chi2": "χ²"}.get(c.get("test") or "", c.get("test"))
    if "empty_side" in c:
        test = f"no values in {c['empty_side']}"
    return {
        "column": c["column"],
        "kind": c["kind"],
        "reference": _shares(c, "reference") or None,
        "current": _shares(c, "current") or None,
        "test": test,
        "statistic": (c.get("ks") or c.get("chi2") or {}).get("statistic"),
        "p_adj": c.get("p_value_adjusted"),
        "psi": (c.get("psi") or {}).get("value"),
        "null_ref": nf.get("reference"),
        "null_cur": nf.get("current"),
        "notes": terminal.notes(c),
        "verdict": "DRIFT" if c["drifted"] else "",
    }


def _shares(c: dict[str, Any], side: str) -> list[float]:
    """Counts per bin as shares of that side's total (the histogram the PSI was computed on)."""
    counts = (c.get("histogram") or {}).get(side) or []
    total = sum(counts)
    return [x / total for x in counts] if total else []


def _share_label(x: float | None) -> str:
    return "NA" if x is None or x != x else f"{x:.1%}"


def _nice_top(x: float) -> float:
    """The y-axis top for a largest share ``x``: the next multiple of 0.05 (at most 1)."""
    return min(1.0, math.ceil(x * 20 - 1e-9) / 20) or 0.05


def _title(result: dict[str, Any]) -> str:
    verdict = "drift detected" if result["drift_detected"] else "no drift"
    return f"Sentinel drift report: {verdict}"


def _subtitle(result: dict[str, Any]) -> str:
    esc = _html.escape
    ref, cur = result["reference"], result["current"]
    saved = " (saved profile)" if ref.get("profile") else ""
    color = DRIFT_TEXT if result["drift_detected"] else "#067647"
    return (
        f'<strong style="color:{color}">{esc(terminal.verdict_line(result))}</strong><br>'

        f"Reference: <code>{esc(str(ref['source']))}</code>{saved}, {ref['rows']:,} rows"
        f" &nbsp;·&nbsp; Current: <code>{esc(str(cur['source']))}</code>, {cur['rows']:,} rows"
    )


def _notes(result: dict[str, Any]) -> list[str]:
    esc = _html.escape
    s = result.get("settings") or {}
    notes = []
    changes = result.get("schema_changes") or []
    if changes:
        items = "; ".join(
            f"<code>{esc(ch['column'])}</code>: {esc(terminal._change(ch))}" for ch in changes
        )
        notes.append(f"<strong>Schema changes:</strong> {items}")
    if s:
        rule = {
            "both": f"adjusted p &lt; {s.get('alpha')} and PSI ≥ {s.get('psi_threshold')}",
            "test": f"adjusted p &lt; {s.get('alpha')}",
            "effect": f"PSI ≥ {s.get('psi_threshold')}",
        }.get(s.get("decision"), esc(str(s.get("decision"))))
        notes.append(
            f"A column drifts when {rule} (p-values adjusted by Benjamini–Hochberg across "
            f"columns). Histograms: share of non-missing rows per bin — reference-decile bins "
            f"for numeric columns, the most frequent categories for categorical ones."
        )
    notes.append("Generated by Sentinel SQL.")
    return notes


_SVG = re.compile(r"<svg\b.*?</svg>", re.S)
_SVG_STYLE = re.compile(r"<style>.*?</style>", re.S)
_LONG_DECIMAL = re.compile(r"(\d\.\d{2})\d+")


def _compact(page: str) -> str:
    """Shrink the nanoplots: coordinates to 2 decimals, and each plot's copy of the same
    ``<style>`` kept once (a ``<style>`` inside inline SVG applies to the whole page)."""
    seen: set[str] = set()

    def once(m: re.Match) -> str:
        if m.group(0) in seen:
            return ""
        seen.add(m.group(0))
        return m.group(0)

    def svg(m: re.Match) -> str:
        return _SVG_STYLE.sub(once, _LONG_DECIMAL.sub(r"\1", m.group(0)))

    return _SVG.sub(svg, page)


_IMPORT = re.compile(r"@import\s+url\([^)]*\)\s*;?", re.IGNORECASE)
_EXTERNAL = re.compile(r"""<(?:script|link)\b[^>]*(?:src|href)\s*=\s*["']?https?:""", re.I)


def _offline(page: str) -> str:
    """Drop any web-font import great-tables may add; refuse any external script or link."""
    page = _IMPORT.sub("", page)
    if _EXTERNAL.search(page):  # pragma: no cover - great-tables does not emit these today
        raise RuntimeError("the HTML report would load a resource from the network")
    return page
