"""Load test of ``sentinel serve`` on loopback (not a test).

    python benchmarks/bench_server.py                          # 200 requests, 8 clients
    python benchmarks/bench_server.py --requests 400 --clients 16 --kind upload

Starts the server in a subprocess on 127.0.0.1 (a free port), sends a fixed number of
requests from ``--clients`` concurrent clients (threads, stdlib ``http.client``, one
keep-alive connection each), then stops the server. Request kinds, sent round-robin:

- ``health``: ``GET /health``, the HTTP layer alone;
- ``curl``: the issue's example, one row per side (``POST /detect-drift``);
- ``json``: 1,000 rows x 5 columns per side as JSON rows (``POST /detect-drift``);
- ``upload``: two Parquet files of 5,000 rows x 5 columns (``POST /detect-drift/upload``).

The server runs at most one engine call per CPU at once (``create_app(max_jobs=...)``); the
others wait their turn, so the latencies below include that queue.

One request of each kind warms the server up first (imports) and is not counted. Bounded:
``--requests`` in all, ``--timeout`` seconds per request, ``--deadline`` for the whole run
(requests not started by then are skipped and reported). Prints latency percentiles per
kind and overall, throughput and the errors (any answer but 200, or no answer); exits 1
when there was an error.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl

HOST = "127.0.0.1"
KINDS = ("health", "curl", "json", "upload")


def frame(rows: int, shift: float, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame({
        "age": rng.integers(18, 90, rows),
        "income": rng.lognormal(10 + shift, 0.5, rows),
        "score": rng.normal(shift, 1, rows),
        "city": rng.choice(["paris", "lyon", "nice", "lille"], rows),
        "device": rng.choice(["ios", "android", "web"], rows),
    })


def multipart(fields: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for name, (filename, data) in fields.items():
        out.write(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; "
                  f"filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                  .encode())
        out.write(data + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def parquet(df: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.write_parquet(buf)
    return buf.getvalue()


def payloads() -> dict[str, tuple[str, bytes, str]]:
    """kind -> (path, body, content type)."""
    curl = json.dumps({"reference_data": [{"age": 25, "income": 50000}],
                       "production_data": [{"age": 45, "income": 90000}]}).encode()
    rows = json.dumps({"reference_data": frame(1000, 0.0, 1).to_dicts(),
                       "production_data": frame(1000, 0.2, 2).to_dicts()}).encode()
    files, ctype = multipart({"reference": ("reference.parquet", parquet(frame(5000, 0, 3))),
                              "current": ("current.parquet", parquet(frame(5000, 0.1, 4)))})
    return {"health": ("/health", b"", ""),
            "curl": ("/detect-drift", curl, "application/json"),
            "json": ("/detect-drift", rows, "application/json"),
            "upload": ("/detect-drift/upload", files, ctype)}


def start_server(max_body_mb: int) -> tuple[subprocess.Popen, int]:
    code = ("from sentinel_sql.server.run import serve; "
            f"serve({HOST!r}, 0, max_body_bytes={max_body_mb} * 1024 * 1024, "
            "log_level='warning')")
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True,
                            env=env)
    line = proc.stderr.readline()
    m = re.search(rf"http://{re.escape(HOST)}:(\d+)/", line)
    if not m:
        proc.kill()
        sys.exit(f"the server did not start: {line}{proc.stderr.read()}")
    threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep the pipe empty
    return proc, int(m.group(1))


class Client(threading.local):
    conn: http.client.HTTPConnection | None = None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--kind", choices=("all", *KINDS), default="all")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per request")
    ap.add_argument("--deadline", type=float, default=600.0, help="seconds for the run")
    args = ap.parse_args()

    bodies = payloads()
    kinds = KINDS if args.kind == "all" else (args.kind,)
    proc, port = start_server(max_body_mb=64)
    local = Client()
    stop_at = time.monotonic() + args.deadline

    def send(kind: str) -> tuple[str, float, str | None]:
        if time.monotonic() > stop_at:
            return kind, float("nan"), "skipped: past --deadline"
        path, body, ctype = bodies[kind]
        start = time.perf_counter()
        try:
            if local.conn is None:
                local.conn = http.client.HTTPConnection(HOST, port, timeout=args.timeout)
            if body:
                local.conn.request("POST", path, body=body, headers={"Content-Type": ctype})
            else:
                local.conn.request("GET", path)
            resp = local.conn.getresponse()
            data = resp.read()
            took = time.perf_counter() - start
            if resp.status != 200:
                return kind, took, f"HTTP {resp.status}: {data[:200]!r}"
            json.loads(data)  # a whole JSON answer
            return kind, took, None
        except Exception as exc:  # a dropped connection, a timeout
            if local.conn is not None:
                local.conn.close()
                local.conn = None
            return kind, time.perf_counter() - start, f"{type(exc).__name__}: {exc}"

    try:
        for kind in kinds:  # warm-up, not counted
            _, took, err = send(kind)
            if err:
                sys.exit(f"warm-up {kind} failed: {err}")
        plan = [kinds[i % len(kinds)] for i in range(args.requests)]
        start = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            results = list(pool.map(send, plan))
        wall = time.perf_counter() - start
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()

    errors = [(k, e) for k, _, e in results if e]
    print(f"sentinel serve on {HOST}: {args.requests} requests ({', '.join(kinds)}), "
          f"{args.clients} concurrent clients, {wall:.1f} s, "
          f"{(len(results) - len(errors)) / wall:.1f} req/s, {len(errors)} errors")
    print(f"{'kind':<8}{'n':>5}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}  body")
    for kind in (*kinds, "all"):
        took = np.array([t for k, t, e in results if not e and kind in (k, "all")]) * 1000
        size = f"{len(bodies[kind][1]) / 1024:,.1f} KiB" if kind != "all" else ""
        if len(took):
            p50, p90, p99 = np.percentile(took, [50, 90, 99])
            print(f"{kind:<8}{len(took):>5}{p50:>9.0f}{p90:>9.0f}{p99:>9.0f}"
                  f"{took.max():>9.0f}  {size}")
    for kind, err in errors[:10]:
        print(f"error ({kind}): {err}")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
