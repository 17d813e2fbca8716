"""``sentinel profile`` and ``sentinel monitor``: reference profiles and scheduled monitoring."""

from __future__ import annotations

import json
from typing import Any

import click

from .cli import (
    ExitCode,
    OutputFormat,
    _master,
    column_options,
    decision_options,
    emit,
    engine_options,
    error,
    main,
    output_format,
    output_options,
    progress,
    run_command,
)
from .errors import InputError


@main.command()
@click.argument("data")
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False),
              help="Profile file to write (name it *.profile.json).")
@column_options
@engine_options
@run_command
def profile(data: str, out: str, columns: list[str] | None, exclude: list[str] | None,
            kinds: dict[str, str], engine: str, spark_master: str | None) -> ExitCode:
    """Scan DATA once and save its reference profile (bin counts, category counts, deciles,
    null counts, moments) to a small JSON file that `sentinel drift` and `sentinel monitor`
    accept in place of the reference."""
    from .drift import profile as make_profile

    if not out.endswith(".profile.json"):
        raise InputError(f"-o {out}: name the profile file *.profile.json")
    prof = make_profile(data, columns=columns, exclude=exclude, kinds=kinds, engine=engine,
                        spark_master=_master(engine, spark_master))
    try:
        prof.save(out)
    except OSError as exc:
        raise InputError(f"-o {out}: cannot write: {exc.strerror or exc}") from None
    click.echo(f"sentinel: profile of {prof.rows:,} rows, {len(prof.columns)} columns -> {out}",
               err=True)
    return ExitCode.OK


def _render(result: dict[str, Any]) -> str:
    lines = ["ALERT: " + "; ".join(result["alerts"]) if result["alerts"] else "No alert."]
    lines.append(f"{'window':<22}{'rows':>9}  {'drift':<6}drifted columns / performance")
    for w in result["windows"]:
        perf = w.get("performance") or {}
        p = "  ".join(f"{k}={v:.3g}" for k, v in perf.items() if v is not None)
        cols = ", ".join(w["drifted_columns"]) or "-"
        lines.append(f"{str(w['window'])[:21]:<22}{w['rows']:>9,}  "
                     f"{'yes' if w['drift_detected'] else 'no':<6}{cols}"
                     + (f"  [{p}]" if p else ""))
    return "\n".join(lines)


@main.command()
@click.argument("reference")
@click.argument("current")
@click.option("--timestamp", help="Time column that splits CURRENT into windows.")
@click.option("--every", help="Window length: 1h, 1d, 1w, 1mo, 1y or a DuckDB interval.")
@click.option("--by", help="Column whose values are the windows (a batch id, a year).")
@click.option("--label", help="True label column (enables performance metrics).")
@click.option("--prediction", help="Predicted label or value column.")
@click.option("--probability", help="Predicted probability of the positive class.")
@click.option("--positive", help="Positive class [default: the largest label value].")
@click.option("--task", type=click.Choice(["auto", "classification", "regression"]),
              default="auto", show_default=True)
@click.option("--thresholds", type=click.Choice(["fixed", "learned"]), default="fixed",
              show_default=True, help="learned: mean ± 3σ over the reference's own windows.")
@click.option("--metric-tolerance", type=float, default=0.05, show_default=True,
              help="Fixed band around the reference metric.")
@click.option("--history", "history_path", type=click.Path(dir_okay=False),
              help="DuckDB file to keep one row per window and column in.")
@click.option("--alert-webhook", help="POST a JSON alert (Slack-compatible 'text') here.")
@column_options
@decision_options
@output_options
@run_command
def monitor(reference: str, current: str, timestamp: str | None, every: str | None,
            by: str | None, label: str | None, prediction: str | None,
            probability: str | None, positive: str | None, task: str, thresholds: str,
            metric_tolerance: float, history_path: str | None, alert_webhook: str | None,
            columns: list[str] | None, exclude: list[str] | None, kinds: dict[str, str],
            alpha: float, psi_threshold: float, decision: str, drift_share: float,
            null_threshold: float, schema_drift: bool, fmt: str | None,
            html_path: str | None, quiet: bool) -> ExitCode:
    """Split CURRENT into windows and compare each with REFERENCE (raw data or a saved
    profile). Exits 1 when the newest window drifts or a performance metric leaves its band."""
    from .history import post_webhook, write_history
    from .monitoring import monitor as run_monitor

    res = run_monitor(
        reference, current, timestamp=timestamp, every=every, by=by, label=label,
        prediction=prediction, probability=probability, positive=positive, task=task,
        columns=columns, exclude=exclude, kinds=kinds, alpha=alpha,
        psi_threshold=psi_threshold, decision=decision, drift_share=drift_share,
        null_threshold=null_threshold, thresholds=thresholds,
        metric_tolerance=metric_tolerance, progress=progress(quiet),
    )
    result = res.to_dict()
    if html_path:
        from .report_monitor import write_monitor_html

        try:
            write_monitor_html(result, html_path)
        except OSError as exc:
            raise InputError(f"--html {html_path}: cannot write: {exc.strerror or exc}") from None
    if history_path:
        write_history(history_path, result, source=current)
    if alert_webhook and res.alert:
        problem = post_webhook(alert_webhook, result)
        if problem:
            error(f"--alert-webhook: {problem} (results were kept)")
    if not quiet:
        if output_format(fmt) is OutputFormat.JSON:
            emit(json.dumps(result, indent=2, allow_nan=False, default=str))
        else:
            emit(_render(result))
    return ExitCode.FOUND if res.alert else ExitCode.OK
