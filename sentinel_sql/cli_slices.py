"""``sentinel slices``: where the model fails (one dataset) or what explains a drop (two)."""

from __future__ import annotations

import json
from typing import Any

import click

from .cli import (
    ExitCode,
    OutputFormat,
    _master,
    _names,
    emit,
    engine_options,
    format_option,
    main,
    output_format,
    run_command,
)
from .errors import InputError


def _render(result: dict[str, Any]) -> str:
    drop = "change" in result
    if drop:
        head = (f"Error {result['reference']['average_error']:.4g} -> "
                f"{result['current']['average_error']:.4g} "
                f"({result['reference']['rows']:,} -> {result['current']['rows']:,} rows)")
    else:
        head = f"{result['rows']:,} rows, overall error {result['average_error']:.4g}"
    lines = [head, ""]
    if not result["slices"]:
        return head + "\nNo slice scores above 0."
    for i, s in enumerate(result["slices"], 1):
        cur = s["current"] if drop else s
        before = s["reference"]["average_error"] if drop else None
        extra = (f"  before {'n/a' if before is None else format(before, '.3g')}  "
                 f"share of change {s['share_of_change'] or 0:.1%}" if drop else "")
        lines.append(f"{i:>3}. {s['slice']}\n     rows {cur['size']:,}  error "
                     f"{cur['average_error']:.3g}  score {cur['score']:.3g}{extra}")
    return "\n".join(lines)


@main.command()
@click.argument("data", nargs=-1, required=True)
@click.option("--label", help="True label column.")
@click.option("--prediction", help="Prediction column (misclassified = 1; regression: squared "
                                   "error).")
@click.option("--error", "error_col", help="A non-negative error column, instead of label and "
                                           "prediction.")
@click.option("--features", multiple=True, callback=_names, metavar="A,B,...",
              help="Columns to slice on [default: all but label, prediction, error].")
@click.option("--top", "top_k", type=int, default=10, show_default=True)
@click.option("--max-level", type=int, default=3, show_default=True)
@click.option("--min-support", type=float, default=0.01, show_default=True,
              help="Rows (>= 1) or a fraction of the rows (< 1).")
@click.option("--alpha", type=float, default=0.95, show_default=True)
@click.option("--bins", type=int, default=5, show_default=True,
              help="Quantile bins per numeric feature.")
@click.option("--task", type=click.Choice(["auto", "classification", "regression"]),
              default="auto", show_default=True)
@click.option("--fail-on-slices", is_flag=True, help="Exit 1 when any slice is found.")
@engine_options
@format_option
@click.option("--html", "html_path", type=click.Path(dir_okay=False), default=None,
              help="Also write a self-contained HTML report to this file.")
@run_command
def slices(data: tuple[str, ...], label: str | None, prediction: str | None,
           error_col: str | None, features: list[str] | None, top_k: int, max_level: int,
           min_support: float, alpha: float, bins: int, task: str, fail_on_slices: bool,
           engine: str, spark_master: str | None, fmt: str | None,
           html_path: str | None) -> ExitCode:
    """Find the slices (conjunctions of feature values) where the model's error is far above
    average, exactly (SliceLine). With two datasets, REFERENCE CURRENT, rank the slices that
    explain the change in error between them."""
    if len(data) > 2:
        raise InputError("give DATA, or REFERENCE CURRENT")
    support: int | float = int(min_support) if min_support >= 1 else min_support
    kw = {"label": label, "prediction": prediction, "error": error_col, "features": features,
          "top_k": top_k, "max_level": max_level, "min_support": support, "alpha": alpha,
          "bins": bins, "task": task, "engine": engine,
          "spark_master": _master(engine, spark_master)}
    if len(data) == 2:
        from .slices import explain_drop

        result = explain_drop(data[0], data[1], **kw).to_dict()
    else:
        from .slices import find_slices

        result = find_slices(data[0], **kw).to_dict()
    if html_path:
        from .report_slices import write_slices_html

        try:
            write_slices_html(result, html_path)
        except OSError as exc:
            raise InputError(f"--html {html_path}: cannot write: {exc.strerror or exc}") from None
    if output_format(fmt) is OutputFormat.JSON:
        emit(json.dumps(result, indent=2, allow_nan=False, default=str))
    else:
        emit(_render(result))
    return ExitCode.FOUND if fail_on_slices and result["slices"] else ExitCode.OK
