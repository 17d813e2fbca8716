"""Run the app with uvicorn on a socket bound here, so a busy port is one clear error."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator

from ..errors import InputError
from .app import MAX_BODY_BYTES, MAX_ROWS, create_app
from .limits import LOOPBACK_HOSTS


def serve(host: str = "127.0.0.1", port: int = 8000, *, data_root: str | os.PathLike | None = None,
          max_body_bytes: int = MAX_BODY_BYTES, max_rows: int = MAX_ROWS,
          log_level: str = "info", say: Callable[[str], None] | None = None) -> None:
    """Serve until interrupted (Ctrl-C, SIGTERM). ``port=0`` picks a free port; the address
    is reported through ``say`` (default: a line on stderr) once the socket is bound."""
    import uvicorn

    say = say or (lambda msg: print(msg, file=sys.stderr, flush=True))
    app = create_app(data_root, max_body_bytes=max_body_bytes, max_rows=max_rows,
                     allowed_hosts=LOOPBACK_HOSTS | {host} if is_loopback(host) else None)
    sock = bind(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    say(f"sentinel: serving on http://{shown}:{bound}/ (dashboard), "
        f"http://{shown}:{bound}/docs (API); Ctrl-C stops")
    if not is_loopback(host):
        say(f"sentinel: warning: {host} is reachable from other machines and the server has "
            "no authentication")
    config = uvicorn.Config(app, log_level=log_level, server_header=False,
                            timeout_graceful_shutdown=5)
    try:
        with _stop_on_sigterm():
            uvicorn.Server(config).run(sockets=[sock])
    except (KeyboardInterrupt, _Stopped):
        # uvicorn shut down gracefully, then re-raised the signal: stopping is no error
        say("sentinel: server stopped")
    finally:
        sock.close()


class _Stopped(Exception):
    pass


@contextlib.contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """SIGTERM (as sent by systemd, docker stop) ends ``serve`` like Ctrl-C, not by killing
    the process: uvicorn re-raises the signal it handled, to the handler installed here."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(_sig: int, _frame: object) -> None:
        raise _Stopped

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port``; ``InputError`` when that is not possible."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise InputError(f"--host {host}: cannot resolve: {exc}") from None
    family, kind, proto, _name, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
