"""``sentinel serve``: the REST API and the upload dashboard.

Needs the ``server`` extra: ``pip install 'sentinel-sql[server]'``.

``create_app(data_root=None, max_body_bytes=..., max_rows=...)`` returns the FastAPI app
(``app.py``); ``serve(...)`` runs it with uvicorn (``run.py``). Importing this package
imports neither FastAPI nor uvicorn: the CLI can register ``serve`` without the extra.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app", "serve"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "serve":
        from .run import serve

        return serve
    raise AttributeError(f"module 'sentinel_sql.server' has no attribute {name!r}")
