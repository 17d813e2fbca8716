"""``sentinel serve``: the REST API and the upload dashboard (needs the ``server`` extra)."""

from __future__ import annotations

import click

from .cli import ExitCode, main, run_command
from .errors import InputError


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0: every interface; there is no "
                   "authentication).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port to listen on (0: any free port, reported on stderr).")
@click.option("--data-root", type=click.Path(exists=True, file_okay=False), default=None,
              help="Folder whose datasets clients may compare by name (default: none).")
@click.option("--max-body-mb", type=click.FloatRange(min=0, min_open=True), default=64,
              show_default=True, help="Largest request body (JSON or uploaded files), in MiB.")
@click.option("--max-rows", type=click.IntRange(min=1), default=1_000_000, show_default=True,
              help="Most rows per dataset sent in a request (JSON rows or an uploaded file).")
@run_command
def serve(host: str, port: int, data_root: str | None, max_body_mb: float,
          max_rows: int) -> ExitCode:
    """Serve the REST API (OpenAPI docs at /docs) and the upload dashboard (at /).

    Runs until interrupted (Ctrl-C). Needs: pip install 'sentinel-sql[server]'.
    """
    try:
        from .server.run import serve as run
    except ImportError as exc:
        raise InputError(f"sentinel serve needs the server extra ({exc.name} is missing): "
                         "pip install 'sentinel-sql[server]'") from None
    run(host, port, data_root=data_root, max_body_bytes=int(max_body_mb * 1024 * 1024),
        max_rows=max_rows, say=lambda msg: click.echo(msg, err=True))
    return ExitCode.OK
