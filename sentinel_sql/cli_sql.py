"""``sentinel sql``: print the pure-SQL macros for any DuckDB client."""

from __future__ import annotations

from .cli import ExitCode, emit, main, run_command


@main.command()
@run_command
def sql() -> ExitCode:
    """Print Sentinel's SQL macros (sentinel_drift, psi, js_distance, hellinger, ...) for
    `.read` in the duckdb shell or piping into any DuckDB client. The p-value functions need
    Python (sentinel_sql.register); without them p-values are NULL."""
    from .macros import sql_text

    emit(sql_text())
    return ExitCode.OK
