"""The dashboard in a real browser: headless Chromium, driven over the DevTools protocol,
picks one file, drops the other, runs, and finds the verdict, the report table and the
slices; then shows the server's error for a bad file. The page may talk to its own server
only (no CDN). Skipped only when no Chromium/Chrome binary exists."""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import re
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from helpers import find_browser

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
ws_client = pytest.importorskip("websockets.sync.client")

TIMEOUT = 60





@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("dashboard")
    rng = np.random.default_rng(5)
    n = 400

    def frame(shift: float) -> pl.DataFrame:
        x = rng.normal(shift, 1, n)
        city = rng.choice(["paris", "lyon", "nice"], n)
        y = rng.integers(0, 2, n)
        p = np.where((city == "nice") & (x > 1), 1 - y, y)  # the model fails there
        return pl.DataFrame({"income": x, "city": city, "y": y, "p": p})

    out = {"ref": d / "reference.csv", "cur": d / "current.parquet", "bad": d / "notes.xlsx"}
    frame(0.0).write_csv(out["ref"])
    frame(0.8).write_parquet(out["cur"])
    out["bad"].write_bytes(b"PK\x03\x04 not a table")
    return out


@pytest.fixture(scope="module")
def server(files):
    """The app under uvicorn on a free loopback port, in a thread of this process; its data
    folder holds the two files too."""
    import uvicorn

    from sentinel_sql.server.app import create_app
    from sentinel_sql.server.limits import LOOPBACK_HOSTS
    from sentinel_sql.server.run import bind

    sock = bind("127.0.0.1", 0)
    app = create_app(files["ref"].parent, allowed_hosts=LOOPBACK_HOSTS)  # as `sentinel serve`
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield base
    srv.should_exit = True
    thread.join(10)
    sock.close()


class Page:
    """A minimal Chrome DevTools Protocol client for one page target."""

    def __init__(self, url: str) -> None:
        self.stack = contextlib.ExitStack()
        self.ws = self.stack.enter_context(ws_client.connect(url, max_size=None,
                                                             open_timeout=20))
        self.ids = itertools.count(1)
        self.events: list[dict] = []

    def send(self, method: str, **params) -> dict:
        i = next(self.ids)
        self.ws.send(json.dumps({"id": i, "method": method, "params": params}))
        deadline = time.monotonic() + TIMEOUT
        while True:
            msg = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if msg.get("id") == i:
                if "error" in msg:
                    raise AssertionError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def js(self, expression: str):
        res = self.send("Runtime.evaluate", expression=expression, returnByValue=True,
                        awaitPromise=True)
        if "exceptionDetails" in res:
            raise AssertionError(f"{expression}: {res['exceptionDetails']}")
        return res["result"].get("value")

    def wait_for(self, expression: str, what: str):
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.1)
        status = self.js("document.getElementById('status').textContent")
        raise AssertionError(f"timed out waiting for {what}; status: {status!r}")

    def center(self, selector: str) -> tuple[float, float]:
        r = self.js(f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
                    " e.scrollIntoView({block: 'center'}); const b = e.getBoundingClientRect();"
                    " return [b.x + b.width / 2, b.y + b.height / 2]; })()")
        return r[0], r[1]

    def click(self, selector: str) -> None:
        x, y = self.center(selector)
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left",
                      clickCount=1)

    def drop_file(self, selector: str, path: Path) -> None:
        """Drag a file from outside the page and drop it on ``selector``, as a person does."""
        x, y = self.center(selector)
        data = {"items": [], "files": [str(path)], "dragOperationsMask": 1}
        for kind in ("dragEnter", "dragOver", "drop"):
            self.send("Input.dispatchDragEvent", type=kind, x=x, y=y, data=data)

    def pick_file(self, selector: str, path: Path) -> None:
        """Choose a file in an ``<input type=file>``, as the file dialog does."""
        root = self.send("DOM.getDocument")["root"]["nodeId"]
        node = self.send("DOM.querySelector", nodeId=root, selector=selector)["nodeId"]
        self.send("DOM.setFileInputFiles", nodeId=node, files=[str(path)])

    def close(self) -> None:
        self.stack.close()


@pytest.fixture(scope="module")
def page(tmp_path_factory, server):
    path = find_browser()
    if path is None:
        pytest.skip("no Chromium/Chrome binary (`.ci/run` installs Debian's chromium)")
    profile = tmp_path_factory.mktemp("chromium-profile")
    proc = subprocess.Popen(
        [path, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--no-default-browser-check", "--disable-extensions", "--disable-sync",
         "--disable-background-networking", "--disable-component-update",
         "--window-size=1200,900", "--remote-debugging-port=0", "--remote-allow-origins=*",
         f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        port = None
        deadline = time.monotonic() + TIMEOUT
        while port is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                break
            m = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            port = m and m.group(1)
        assert port, f"Chromium did not start (exit {proc.poll()})"
        threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep the pipe empty
        targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list",
                                                    timeout=20).read())
        ws_url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        p = Page(ws_url)
        for domain in ("Page", "Runtime", "Network", "DOM"):
            p.send(f"{domain}.enable")
        p.send("Page.navigate", url=server + "/")
        p.wait_for("document.readyState === 'complete' && !!document.getElementById('run')",
                   "the dashboard")
        yield p
        p.close()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()


def test_pick_drop_run_and_read_the_verdict_table_and_slices(page, server, files, tmp_path):
    assert page.js("document.getElementById('run').disabled") is True
    page.pick_file("#reference-file", files["ref"])
    page.drop_file("#current-zone", files["cur"])
    names = page.js("[document.getElementById('reference-name').textContent, "
                    "document.getElementById('current-name').textContent]")
    assert names == ["reference.csv", "current.parquet"]
    assert page.js("document.getElementById('run').disabled") is False
    page.js("document.getElementById('alpha').value = '0.01'; "
            "document.getElementById('label').value = 'y'; "
            "document.getElementById('prediction').value = 'p'; "
            "document.getElementById('exclude').value = 'y, p'")
    page.click("#run")

    headline = page.wait_for(
        "getComputedStyle(document.getElementById('verdict')).display !== 'none' && "
        "document.getElementById('verdict-headline').textContent", "the verdict")
    assert headline == "Drift detected: 1 of 2 columns drifted"
    detail = page.js("document.getElementById('verdict-detail').textContent")
    assert "Drifted: income." in detail and "reference.csv: 400 rows" in detail

    # the great-tables report, inside the iframe, one row per column
    rows = page.wait_for(
        "(() => { const d = document.getElementById('report').contentDocument;"
        " const t = d && d.querySelector('table.gt_table');"
        " return t ? [...t.tBodies[0].rows].map(r => r.cells[0].textContent.trim()) : null;"
        " })()", "the report table")
    assert rows == ["income", "city"]
    assert page.js("document.getElementById('report').contentDocument"
                   ".querySelectorAll('table.gt_table svg').length") == 4  # the histograms
    assert page.js("document.getElementById('report').getBoundingClientRect().height") > 200

    slices = page.wait_for(
        "getComputedStyle(document.getElementById('slices-card')).display !== 'none' && "
        "[...document.querySelectorAll('#slices-table tbody tr')]"
        ".map(r => r.cells[1].textContent)", "the slices")
    assert slices and "city = 'nice'" in slices[0]
    assert page.js("document.getElementById('error').textContent") == ""

    shot = base64.b64decode(page.send("Page.captureScreenshot", format="png",
                                      captureBeyondViewport=True)["data"])
    (tmp_path / "dashboard.png").write_bytes(shot)
    assert len(shot) > 20_000  # a page with a coloured verdict, a table and plots

    requested = [e["params"]["request"]["url"] for e in page.events
                 if e.get("method") == "Network.requestWillBeSent"]
    assert any(u.startswith(server + "/detect-drift/upload") for u in requested)
    offsite = [u for u in requested
               if not u.startswith((server + "/", "data:", "blob:", "about:"))]
    assert offsite == []  # no CDN, no font or script from elsewhere
    thrown = [e for e in page.events if e.get("method") == "Runtime.exceptionThrown"]
    assert thrown == []


def test_a_bad_file_shows_the_servers_error(page, files):
    page.pick_file("#current-file", files["bad"])
    page.click("#run")
    msg = page.wait_for("getComputedStyle(document.getElementById('error')).display !== "
                        "'none' && document.getElementById('error').textContent",
                        "the error message")
    assert msg == ("current file 'notes.xlsx': upload a CSV (.csv, .tsv, .txt, optionally "
                   ".gz) or a Parquet file")
    assert page.js("getComputedStyle(document.getElementById('verdict')).display") == "none"
    assert page.js("document.getElementById('status').textContent") == "Failed."


def test_datasets_on_the_server_can_be_chosen_instead(page):
    options = page.wait_for("[...document.querySelectorAll('#reference-dataset option')]"
                            ".map(o => o.value).filter(v => v)", "the dataset list")
    assert options == ["current.parquet", "reference.csv"]
    page.js("for (const [side, name] of [['reference', 'reference.csv'], "
            "['current', 'current.parquet']]) { const s = document.getElementById(side + "
            "'-dataset'); s.value = name; s.dispatchEvent(new Event('change')); }")
    assert page.js("document.getElementById('current-name').textContent") == ""  # replaced
    page.js("document.getElementById('label').value = ''; "
            "document.getElementById('prediction').value = ''")
    page.click("#run")
    detail = page.wait_for(
        "getComputedStyle(document.getElementById('verdict')).display !== 'none' && "
        "document.getElementById('verdict-detail').textContent", "the verdict")
    assert "Reference reference.csv: 400 rows; current current.parquet: 400 rows." in detail
    assert page.js("getComputedStyle(document.getElementById('slices-card')).display") == "none"
