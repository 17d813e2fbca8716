"""The ``sentinel`` command line: the one place where errors become exit codes.

Exit codes (``ExitCode``): 0 nothing found · 1 drift found · 2 usage or input error ·
3 internal error (130 when interrupted). Results go to stdout, and nothing else does;
errors (one line each), progress (only when stderr is a terminal) and hints go to stderr.

Adding a command: decorate a function with ``@main.command()``, the option bundles it needs
(``column_options``, ``decision_options``, ``output_options``) and ``@run_command`` innermost;
return an ``ExitCode``. Library code raises ``InputError`` for bad input; ``run_command``
turns it into one line on stderr and exit 2, and any other exception into exit 3.
Set ``SENTINEL_DEBUG=1`` to see the traceback.
"""

from __future__ import annotations

import csv
import enum
import functools
import os
import shlex
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

import click

from . import __version__
from .errors import InputError


class ExitCode(enum.IntEnum):
    OK = 0  # nothing found
    FOUND = 1  # drift found (or failing slices, with the flag that asks for it)
    USAGE = 2  # bad usage or bad input: a missing file, an unknown column, a bad option value
    INTERNAL = 3  # a bug: please report it
    INTERRUPTED = 130  # Ctrl-C (never 1, which would read as "drift found")


class OutputFormat(enum.StrEnum):
    TABLE = "table"
    JSON = "json"


DECISIONS = ("both", "test", "effect")  # drift.DECISIONS; tests/test_cli.py keeps them equal
# Click >= 8.2 raises this for a bare `sentinel`: show the help (on stderr), exit 2
_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


# ---------------------------------------------------------------------------------------------
# the error boundary


def error(message: str) -> None:
    """One line on stderr: ``sentinel: error: ...``."""
    click.echo(f"sentinel: error: {_one_line(message)}", err=True)


def _one_line(message: str) -> str:
    return " ".join(str(message).split()) or "unknown error"


def _debug() -> bool:
    return bool(os.environ.get("SENTINEL_DEBUG"))


def run_command(fn: Callable[..., ExitCode | int | None]) -> Callable[..., None]:
    """Run a command body and exit with its ``ExitCode``; map exceptions to exit codes."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            code = fn(*args, **kwargs)
        except (click.exceptions.Exit, click.ClickException, click.Abort, KeyboardInterrupt):
            raise
        except InputError as exc:
            if _debug():
                traceback.print_exc()
            error(str(exc))
            code = ExitCode.USAGE
        except Exception as exc:
            if _debug():
                traceback.print_exc()
            msg = _one_line(str(exc) or type(exc).__name__)
            click.echo(f"sentinel: internal error: {type(exc).__name__}: {msg}", err=True)
            code = ExitCode.INTERNAL
        raise click.exceptions.Exit(int(code or 0))

    return wrapper


class SentinelGroup(click.Group):
    """A Click group whose usage errors are one line on stderr and exit 2 (never 1)."""

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: Any = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name or "sentinel", complete_var,
                                standalone_mode=False, **extra)
        except _NO_ARGS_IS_HELP as exc:
            exc.show()
            code = ExitCode.USAGE
        except click.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            error(exc.format_message() + hint)
            code = ExitCode.USAGE
        except click.ClickException as exc:
            error(exc.format_message())
            code = ExitCode.USAGE
        except (click.Abort, KeyboardInterrupt):
            click.echo("sentinel: interrupted", err=True)
            code = ExitCode.INTERRUPTED
        sys.exit(int(code or 0))


# ---------------------------------------------------------------------------------------------
# option bundles


def _compose(*decorators: Callable) -> Callable:
    def apply(fn: Callable) -> Callable:
        for d in reversed(decorators):
            fn = d(fn)
        return fn

    return apply


def _names(_ctx: Any, _param: Any, values: tuple[str, ...]) -> list[str] | None:
    """``--columns a,b --columns c`` -> ``[a, b, c]``; a name with a comma is quoted CSV-style."""
    if not values:
        return None
    out: list[str] = []
    for row in csv.reader(values, skipinitialspace=True):
        out.extend(name for name in row if name != "")
    return out


def _kinds(_ctx: Any, _param: Any, values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for v in values:
        name, sep, kind = v.rpartition("=")
        if not sep or not name or not kind:
            raise click.BadParameter(f"expected COLUMN=numeric or COLUMN=categorical, not {v!r}")
        out[name] = kind.strip().lower()  # the engine checks the kind name
    return out


def _html_path(_ctx: Any, _param: Any, value: str | None) -> str | None:
    if value is None:
        return None
    folder = os.path.dirname(os.path.abspath(value))
    if os.path.isdir(value):
        raise click.BadParameter(f"{value!r} is a folder; give a file name")
    if not os.path.isdir(folder):
        raise click.BadParameter(f"folder {folder!r} does not exist")
    return value


column_options = _compose(
    click.option("--columns", multiple=True, callback=_names, metavar="A,B,...",
                 help="Compare only these columns (comma-separated, CSV quoting for a name "
                      "with a comma; repeatable)."),
    click.option("--exclude", multiple=True, callback=_names, metavar="A,B,...",
                 help="Leave these columns out (comma-separated; repeatable)."),
    click.option("--kind", "kinds", multiple=True, callback=_kinds, metavar="COLUMN=KIND",
                 help="Treat COLUMN as numeric or categorical (repeatable)."),
)

decision_options = _compose(
    click.option("--alpha", type=float, default=0.05, show_default=True,
                 help="Significance level for the adjusted p-values."),
    click.option("--psi-threshold", type=float, default=0.1, show_default=True,
                 help="PSI at or above which a shift is large enough to count."),
    click.option("--decision", type=click.Choice(DECISIONS), default="both", show_default=True,
                 help="both: a column drifts when its test AND its PSI say so; test: the "
                      "test alone; effect: the PSI alone."),
    click.option("--drift-share", type=float, default=0.0, show_default=True,
                 help="Share of columns that must drift for the dataset to drift "
                      "(0: any one column)."),
    click.option("--null-threshold", type=float, default=0.05, show_default=True,
                 help="A column also drifts when its share of missing values moves by at "
                      "least this much (and significantly)."),
    click.option("--no-schema-drift", "schema_drift", is_flag=True, flag_value=False,
                 default=True, help="Added, removed or retyped columns do not make drift."),
)

engine_options = _compose(
    click.option("--engine", type=click.Choice(["duckdb", "spark"]), default="duckdb",
                 show_default=True,
                 help="Who scans the data: DuckDB in this process, or Apache Spark (paths Spark "
                      "can read: Parquet files, folders, globs, hive lakes; needs pyspark)."),
    click.option("--spark-master", default=None, metavar="URL",
                 help="Spark master for --engine spark [default: local[*]]."),
)

format_option = click.option(
    "--format", "fmt", type=click.Choice([f.value for f in OutputFormat]), default=None,
    help="Output on stdout [default: table on a terminal, json otherwise].",
)

output_options = _compose(
    format_option,
    click.option("--html", "html_path", type=click.Path(dir_okay=False), callback=_html_path,
                 default=None, help="Also write a self-contained HTML report to this file."),
    click.option("--quiet", "-q", is_flag=True,
                 help="Print nothing on stdout and no progress: the exit code says it all."),
)


# ---------------------------------------------------------------------------------------------
# output


def _master(engine: str, spark_master: str | None) -> str | None:
    if spark_master and engine != "spark":
        raise InputError("--spark-master needs --engine spark")
    return spark_master


def stdout_is_tty() -> bool:
    return sys.stdout.isatty()


def stderr_is_tty() -> bool:
    return sys.stderr.isatty()


def progress(quiet: bool) -> Callable[[str], None] | None:
    """A progress callback writing to stderr, or None (quiet, or stderr is not a terminal)."""
    if quiet or not stderr_is_tty():
        return None
    start = time.monotonic()

    def say(message: str) -> None:
        click.echo(f"sentinel: {message} [{time.monotonic() - start:.1f}s]", err=True)

    return say


def emit(text: str) -> None:
    """Write the result on stdout; a closed pipe (``| head``) is not an error."""
    try:
        click.echo(text)
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def write_html(result: dict[str, Any], path: str) -> None:
    from .report import write_html as _write

    try:
        _write(result, path)
    except OSError as exc:
        raise InputError(f"--html {path}: cannot write: {exc.strerror or exc}") from None


def output_format(fmt: str | None) -> OutputFormat:
    """``--format``, or by default: a table for a person at a terminal, JSON for a program."""
    if fmt:
        return OutputFormat(fmt)
    return OutputFormat.TABLE if stdout_is_tty() else OutputFormat.JSON


def show_drift(result: dict[str, Any], fmt: str | None, quiet: bool) -> None:
    if quiet:
        return
    if output_format(fmt) is OutputFormat.JSON:
        import json

        emit(json.dumps(result, indent=2, allow_nan=False))
    else:
        from .terminal import render_drift

        emit(render_drift(result))


# ---------------------------------------------------------------------------------------------
# commands


@click.group(cls=SentinelGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="sentinel",
                      message="%(prog)s %(version)s")
def main() -> None:
    """Sentinel: why did the model get worse? Drift statistics and failing slices, computed
    by DuckDB SQL straight from Parquet, CSV and DuckDB tables.

    Exit codes: 0 nothing found, 1 drift found, 2 usage or input error, 3 internal error.
    """


@main.command()
@click.argument("reference")
@click.argument("current")
@column_options
@decision_options
@engine_options
@output_options
@run_command
def drift(reference: str, current: str, columns: list[str] | None, exclude: list[str] | None,
          kinds: dict[str, str], alpha: float, psi_threshold: float, decision: str,
          drift_share: float, null_threshold: float, schema_drift: bool, engine: str,
          spark_master: str | None, fmt: str | None, html_path: str | None,
          quiet: bool) -> ExitCode:
    """Compare CURRENT with REFERENCE column by column.

    REFERENCE and CURRENT: a Parquet file, a glob ('lake/2025-*.parquet'), a folder of
    (hive-partitioned) Parquet, a CSV file, or FILE.duckdb::TABLE. REFERENCE may also be a
    saved profile (*.profile.json).

    Exits 1 when drift is detected, 0 when not.
    """
    from .drift import compare

    result = compare(
        reference, current, columns=columns, exclude=exclude, kinds=kinds, alpha=alpha,
        psi_threshold=psi_threshold, decision=decision, drift_share=drift_share,
        schema_drift=schema_drift, null_threshold=null_threshold, progress=progress(quiet),
        engine=engine, spark_master=_master(engine, spark_master),
    ).to_dict()
    if html_path:  # before stdout: an error here leaves no half-printed result
        write_html(result, html_path)
    show_drift(result, fmt, quiet)
    return ExitCode.FOUND if result["drift_detected"] else ExitCode.OK


@main.command()
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Folder for the demo data and report [default: a new temporary folder].")
@click.option("--rows-per-month", type=click.IntRange(min=50), default=None,
              help="Rows in each month of data (fewer: faster).")
@format_option
@run_command
def demo(out: str | None, rows_per_month: int | None, fmt: str | None) -> ExitCode:
    """Build a small credit-scoring lake with planted drift and a failing segment, compare
    its current months with its reference months, and write the HTML report.

    Exits 0 when the demo ran (finding drift is its point).
    """
    import tempfile

    from . import demo as _demo

    if out is None:
        out = tempfile.mkdtemp(prefix="sentinel-demo-")
    else:
        try:
            os.makedirs(out, exist_ok=True)
        except OSError as exc:
            raise InputError(f"--out {out}: {exc.strerror or exc}") from None
    say = progress(False) or (lambda _msg: None)
    run = _demo.run(out, rows_per_month=rows_per_month or _demo.DEFAULT_ROWS_PER_MONTH,
                    progress=say)
    if output_format(fmt) is OutputFormat.JSON:
        import json

        emit(json.dumps({
            "data": {"reference": str(run.paths.reference), "current": str(run.paths.current)},
            "report": str(run.paths.report),
            "drift": run.drift,
            "slices": run.slices.to_dict() if run.slices is not None else None,
            "root_cause": run.drop,
        }, indent=2, allow_nan=False, default=str))
    else:
        from .terminal import render_drift

        text = render_drift(run.drift)
        if run.slices is not None:
            text += "\n\n" + "\n".join(_demo.slice_lines(run.slices))
        if run.drop is not None:
            text += "\n\n" + "\n".join(_demo.drop_lines(run.drop))
        emit(text)
    p = run.paths
    q = shlex.quote
    click.echo(f"\nsentinel: demo data in {p.root} (reference/ and current/, one folder per "
               f"month)\nsentinel: HTML report: {p.report}\nsentinel: the same comparison "
               f"from the shell:\n  sentinel drift {q(str(p.reference))} {q(str(p.current))} "
               f"--exclude {','.join(_demo.EXCLUDE)} --html report.html", err=True)
    return ExitCode.OK



def _register_more_commands() -> None:
    """Commands that live in their own modules register themselves on ``main``."""
    from . import cli_monitor, cli_serve, cli_slices, cli_sql  # noqa: F401


_register_more_commands()


if __name__ == "__main__":  # pragma: no cover
    main()
