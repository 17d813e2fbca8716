"""Running one tool of the harness: a fresh process, a time limit, a memory cap, repeats.

Used by ``harness.py``; see its docstring for what is measured.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "harness_tools.py")

VENVS = {  # name: (default path, packages, import probe)
    "evidently": ("/work/venv-evidently", ["evidently", "pandas<3", "pyarrow"],
                  "import evidently.presets, pandas, pyarrow"),
    "sliceline": ("/work/venv-sliceline", ["sliceline[optimized]", "pyarrow"],
                  "import sliceline.slicefinder, pyarrow"),
}


@dataclass
class Spec:
    """One tool of one scenario: what runs, under which Python, and what it is measured
    against (``floor``: the key of the scan that reads the same data)."""

    key: str
    label: str
    tool: str
    args: dict
    python: str | None = sys.executable  # None: skipped, see ``skip``
    floor: str | None = None
    skip: str = ""


@dataclass
class Outcome:
    """The repeats of one tool: status is ok, limit (past the time limit), oom (past the
    memory budget), error or skipped."""

    spec: Spec
    status: str = "ok"
    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss_mb: float = 0.0
    import_seconds: float = math.nan
    check: dict = field(default_factory=dict)
    detail: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.seconds) if self.seconds else math.nan

    @property
    def median_cpu(self) -> float:
        return statistics.median(self.cpu) if self.cpu else math.nan


# --- running one tool ---------------------------------------------------------------------------


def _peak_mb(pid: int) -> float:
    """VmHWM (peak RSS so far) of a running process; polling it misses no spike."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def measure(spec: Spec, limit: float, budget_mb: float | None, cwd: str) -> dict:
    """Run one tool in a fresh process; kill it past ``limit`` s or past ``budget_mb`` of
    peak RSS (VmHWM, polled every 20 ms, as a container's OOM killer would)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([spec.python, TOOLS, spec.tool, json.dumps(spec.args)],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=cwd)
        t0, killed, seen = time.perf_counter(), "", 0.0
        while proc.poll() is None:
            elapsed = time.perf_counter() - t0
            seen = max(seen, _peak_mb(proc.pid))
            if elapsed > limit:
                killed = "limit"
            elif budget_mb and seen > budget_mb:
                killed = "oom"
            if killed:
                proc.kill()
                proc.wait()
                break
            time.sleep(0.02)
        wall = time.perf_counter() - t0
        if killed:
            return {"status": killed, "wall": wall, "rss_mb": seen}
        out.seek(0)
        err.seek(0)
        lines = out.read().strip().splitlines()
        if proc.returncode != 0 or not lines:
            msg = (err.read().strip().splitlines() or [f"exit {proc.returncode}"])[-1]
            return {"status": "error", "wall": wall, "rss_mb": seen, "detail": msg[:200]}
        res = json.loads(lines[-1])
        rss = max(seen, res.pop("peak_rss_mb"))
        if budget_mb and rss > budget_mb:  # grew past the budget after the last poll
            return {"status": "oom", "wall": wall, "rss_mb": rss}
        return {"status": "ok", "wall": wall, "rss_mb": rss, **res}


def bench(specs: list[Spec], repeat: int, limit: float, budget_mb: float | None, cwd: str,
          say=print) -> dict[str, Outcome]:
    """Round-robin over the tools, ``repeat`` rounds, so that noise hits every tool alike."""
    outs = {s.key: Outcome(s, status="skipped" if s.skip else "ok", detail=s.skip) for s in specs}
    for r in range(repeat):
        for s in specs:
            o = outs[s.key]
            if o.status != "ok":
                continue
            res = measure(s, limit, budget_mb, cwd)
            o.rss_mb = max(o.rss_mb, res["rss_mb"])
            if res["status"] != "ok":
                o.status, o.detail = res["status"], res.get("detail", "")
                o.seconds = [res["wall"]]
                say(f"  [{r + 1}/{repeat}] {s.label}: {res['status']} {o.detail}")
                continue
            o.seconds.append(res["seconds"])
            o.cpu.append(res["cpu_seconds"])
            o.import_seconds, o.check = res["import_seconds"], res["check"]
            say(f"  [{r + 1}/{repeat}] {s.label}: {res['seconds']:.2f} s, "
                f"{res['rss_mb']:.0f} MB")
    return outs



def ensure_venv(name: str, path: str, install: bool, say=print) -> tuple[str | None, str]:
    """The Python of a peer's own virtualenv, created and filled if missing (unless
    ``install`` is false): (python, "") or (None, why it is skipped)."""
    _, packages, probe = VENVS[name]
    py = os.path.join(path, "bin", "python")
    if not os.path.exists(py):
        if not install:
            return None, f"skipped: no virtualenv at {path} (--no-install)"
        say(f"creating {path} ...")
        subprocess.run([sys.executable, "-m", "venv", path], check=True)
    if subprocess.run([py, "-c", probe], capture_output=True).returncode == 0:
        return py, ""
    if not install:
        return None, f"skipped: {path} lacks {' '.join(packages)} (--no-install)"
    say(f"pip install {' '.join(packages)} into {path} ...")
    pip = subprocess.run([py, "-m", "pip", "install", "-q", *packages],
                         capture_output=True, text=True)
    if pip.returncode != 0:
        tail = [ln for ln in pip.stderr.splitlines() if not ln.startswith("WARNING")]
        return None, "skipped: pip install failed: " + " | ".join(tail[-2:])[:200]
    return py, ""
