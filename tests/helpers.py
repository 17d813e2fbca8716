"""Helpers shared by the test modules (imported as ``helpers``: pytest puts tests/ on the path)."""

from __future__ import annotations

import os
import shutil

from click.testing import CliRunner

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def invoke(args: list, code: int, *, env: dict | None = None) -> tuple[str, str]:
    """Run ``sentinel ARGS``, assert the exit code, return ``(stdout, stderr)``."""
    from sentinel_sql import cli

    res = CliRunner(env=env).invoke(cli.main, [str(a) for a in args], catch_exceptions=False)
    assert res.exit_code == code, (
        f"exit {res.exit_code}, expected {code}\nstdout: {res.stdout}\nstderr: {res.stderr}"
    )
    return res.stdout, res.stderr


def find_browser() -> str | None:
    """A headless-capable Chromium/Chrome binary, or None."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None
