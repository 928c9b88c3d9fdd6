"""The report: every data string escaped; renders in headless Chromium without console errors."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from asr.audit.config import AuditConfig
from asr.audit.pipeline import run_audit
from asr.audit.synthetic import make_results

SCRIPT = '<script>alert("x")</script>'
ATTR = '"><img src=x onerror=alert(1)>'
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory):
    """An audit of results whose group names, speaker ids, ids and transcripts carry HTML."""
    root = tmp_path_factory.mktemp("hostile")
    df = make_results(900, 3, 36, n_texts=30)
    df["dialect"] = df["dialect"].replace({"dialect02": SCRIPT, "dialect01": ATTR})
    df["speaker"] = "<b onmouseover='x'>" + df["speaker"]
    df["id"] = df["id"] + "&'\"<i>"
    df.loc[df.index[:50], "ref"] = df.loc[df.index[:50], "ref"] + SCRIPT
    df.loc[df.index[:50], "hyp"] = df.loc[df.index[:50], "hyp"] + "<b>"
    df["condition"] = df["condition"].replace({"noisy": "<style>body{display:none}</style>"})
    path = root / "results-test.jsonl"
    df.to_json(path, orient="records", lines=True, force_ascii=False)
    out = run_audit([path], 'rel"<i>', root / "reports",
                    AuditConfig(by=["dialect", "gender", "condition"], replicates=100, permutations=100))
    return out


def test_nothing_unescaped_gets_through(hostile_report):
    page = (hostile_report.directory / "fairness.html").read_text(encoding="utf-8")
    index = hostile_report.index.read_text(encoding="utf-8")
    for html in (page, index):
        assert not re.search(r"<\s*(script|img|style>body|b\s+onmouseover|i>)", html, re.IGNORECASE)
        assert not re.search(r"<[^<>]*\son\w+\s*=", html)  # no event-handler attribute in any tag
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page  # the group name, shown escaped
    assert "&lt;b onmouseover=&#x27;x&#x27;&gt;" in page  # a speaker id among the worst utterances
    assert page.count("<style>") == 1  # only our own stylesheet
    assert "Content-Security-Policy" in page and "default-src 'none'" in page


def _console_errors(html_path: Path, tmp_path: Path, width: int = 1100) -> tuple[list[str], bytes]:
    """Chromium's console messages while loading the page, and a screenshot (PNG bytes)."""
    shot = tmp_path / f"{html_path.stem}-{width}.png"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--no-first-run", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}",
           "--enable-logging=stderr", "--v=0", f"--window-size={width},1400", f"--screenshot={shot}", html_path.as_uri()]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    messages = [line for line in run.stderr.splitlines() if re.search(r":CONSOLE[:(]", line)]
    return messages, shot.read_bytes() if shot.exists() else b""


def _distinct_pixel_bytes(png: bytes) -> int:
    """How many distinct byte values the decompressed image data has (1-3 for a blank page)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, data = 8, b""
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos : pos + 8])
        if kind == b"IDAT":
            data += png[pos + 8 : pos + 8 + length]
        pos += 12 + length
    return len(set(zlib.decompress(data)))


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_report_renders_in_headless_chromium_without_console_errors(hostile_report, tmp_path):
    control = tmp_path / "control.html"
    control.write_text("<html><body>x<script>undefined_function()</script></body></html>", encoding="utf-8")
    messages, _ = _console_errors(control, tmp_path)
    assert any("Uncaught ReferenceError" in m for m in messages)  # the check can see an error
    for page in (hostile_report.directory / "fairness.html", hostile_report.index):
        messages, png = _console_errors(page, tmp_path)
        assert messages == []
        assert len(png) > 10_000 and _distinct_pixel_bytes(png) > 20


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
@pytest.mark.parametrize("width", [1400, 800])
def test_report_renders_at_desktop_and_narrow_widths(hostile_report, tmp_path, width):
    page = hostile_report.directory / "fairness.html"
    messages, png = _console_errors(page, tmp_path, width)
    assert messages == []
    assert struct.unpack(">II", png[16:24]) == (width, 1400)  # the screenshot is of the page at that width
    assert _distinct_pixel_bytes(png) > 20
    html = page.read_text(encoding="utf-8")
    assert "table.heatmap" in html and "overflow-x: auto" in html  # wide tables scroll inside their box
    assert html.count("<table class=heatmap>") == 3  # one heatmap per pair of the three attributes
