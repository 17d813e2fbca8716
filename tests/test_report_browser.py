"""The HTML report in a real browser: headless Chromium, offline, renders the table."""

from __future__ import annotations

import html
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from helpers import find_browser

from sentinel_sql import compare
from sentinel_sql.report import write_html

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--hide-scrollbars", "--window-size=900,600")
NAMES = ["income", "employment type", "<b>not bold</b>", "naïve 😀"]





@pytest.fixture(scope="module")
def chromium():
    path = find_browser()
    if path is None:
        pytest.skip("no Chromium/Chrome binary (`.ci/run` installs Debian's chromium)")
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("browser")
    rng = np.random.default_rng(3)
    n = 1500

    def frame(shift: float, kinds: list[str]) -> pl.DataFrame:
        return pl.DataFrame({
            NAMES[0]: rng.lognormal(10 + shift, 0.5, n),
            NAMES[1]: rng.choice(kinds, n),
            NAMES[2]: rng.normal(0, 1, n),
            NAMES[3]: rng.choice(["a", "b"], n),
        })

    result = compare(frame(0.0, ["salaried", "self"]), frame(0.3, ["salaried", "self", "gig"]))
    path = d / "report.html"
    write_html(result.to_dict(), path)
    return path


def run(chromium: str, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={tmp / 'profile'}", *args],
        capture_output=True, text=True, timeout=90, check=False,
    )


def test_dom_has_the_table_rows(chromium, report, tmp_path):
    proc = run(chromium, tmp_path, "--dump-dom", report.as_uri())
    dom = proc.stdout
    assert "gt_table" in dom, proc.stderr[-2000:]
    body = dom[dom.index("<tbody"):dom.index("</tbody>")]
    assert body.count("<tr") == len(NAMES)
    for name in NAMES:  # shown as text, never interpreted as markup
        assert f">{html.escape(name, quote=False)}</td>" in body
    assert "<b>not bold</b>" not in dom
    assert body.count("<svg") == 2 * len(NAMES)
    assert "Sentinel drift report: drift detected" in dom


def test_screenshot_is_not_blank(chromium, report, tmp_path):
    shot = tmp_path / "shot.png"
    proc = run(chromium, tmp_path, f"--screenshot={shot}", report.as_uri())
    assert shot.exists(), proc.stderr[-2000:]
    width, height, pixels = read_png(shot.read_bytes(), max_rows=300)  # the top: title, rows
    assert width == 900
    # a page with a table has many non-white pixels, and more than two colours
    non_white = sum(1 for i in range(0, len(pixels) - 2, 3) if pixels[i:i + 3] != b"\xff\xff\xff")
    assert non_white > 0.01 * width * height
    assert len(set(pixels[i:i + 3] for i in range(0, len(pixels) - 2, 3 * 7))) > 10


def read_png(data: bytes, max_rows: int) -> tuple[int, int, bytes]:
    """Width, rows read and RGB bytes of the top ``max_rows`` rows of an 8-bit RGB/RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and color in (2, 6)
            bpp = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    out, prev = bytearray(), bytearray(stride)
    height = min(height, max_rows)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        prev = line
        if bpp == 3:
            out += line
        else:
            out += bytes(v for j, v in enumerate(line) if j % 4 != 3)
    return width, height, bytes(out)
