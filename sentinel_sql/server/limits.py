"""Guards that run before any parsing, as pure ASGI middleware.

``BodyLimit``: a declared ``Content-Length`` above the limit is answered 413 at once
(nothing is read); a body without one (chunked) is counted while it streams and refused as
soon as it passes the limit, so neither JSON parsing nor a multipart upload ever holds more
than the limit.

``HostCheck``: a server on loopback answers only requests addressed to a loopback name.
A web page elsewhere can make a browser send requests to ``127.0.0.1``; with a DNS name that
it rebinds to ``127.0.0.1`` it could also read the answers (datasets, statistics). Such
requests carry the attacker's name in ``Host``: they are refused (400).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.exceptions import HTTPException


def too_large(limit: int) -> str:
    return f"request body is larger than this server's limit of {limit:,} bytes"


class BodyLimit:
    def __init__(self, app: Any, max_body_bytes: int) -> None:
        self.app = app
        self.limit = max_body_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = None
        for key, value in scope.get("headers", ()):
            if key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
        if declared is not None and (declared < 0 or declared > self.limit):
            status = 400 if declared < 0 else 413
            msg = "invalid Content-Length header" if declared < 0 else too_large(self.limit)
            await _reply(send, status, msg)  # the unread body: uvicorn closes the connection
            return
        seen = 0
        limit = self.limit

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise HTTPException(413, too_large(limit))
            return message

        await self.app(scope, counted, send)


async def _reply(send: Any, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]})
    await send({"type": "http.response.body", "body": body})



LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class HostCheck:
    def __init__(self, app: Any, allowed_hosts: frozenset[str]) -> None:
        self.app = app
        self.allowed = frozenset(h.lower() for h in allowed_hosts)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            host = ""
            for key, value in scope.get("headers", ()):
                if key == b"host":
                    host = value.decode("latin-1").lower()
            name = host.rpartition("]")[0].lstrip("[") if host.startswith("[") else (
                host.rpartition(":")[0] if ":" in host else host)
            if name not in self.allowed:
                await _reply(send, 400, f"unexpected Host header {host!r}: this server "
                                        "answers requests to " + ", ".join(sorted(self.allowed)))
                return
        await self.app(scope, receive, send)
