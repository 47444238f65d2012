"""The rendered report in a real browser: headless Chromium (Debian package) opens it, takes a screenshot and
logs no console message (the page has no script, so any console line — an error, a failed load — is a fault).
pytest-html's live report has a script of its own: under its Content-Security-Policy that script still runs (it
fills the tables) and a hostile value is shown as text."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from rig.report.html import render_report
from rig.report.record import write_atomic
from rig.report.synthetic import make_record

CONSOLE = re.compile(r":CONSOLE[:(]\d*\)?\]\s*(.*)")


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("headless Chromium is not installed: `apt-get install chromium` (scripts/setup.sh does)")


def open_in_chromium(page: Path, shot: Path, profile: Path) -> list[str]:
    """Open ``page``, write a screenshot to ``shot``; return the console messages Chromium logged."""
    cmd = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1280,2000",
        f"--screenshot={shot}",
        page.resolve().as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [m.group(1) for m in map(CONSOLE.search, proc.stderr.splitlines()) if m]


def dom_in_chromium(page: Path, profile: Path) -> str:
    """Open ``page`` and return its DOM after its scripts ran."""
    cmd = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--dump-dom",
        page.resolve().as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "the screenshot is a PNG"
    return struct.unpack(">II", head[16:24])


def test_console_check_is_not_vacuous(tmp_path: Path) -> None:
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><html><body><script>noSuchFunction();</script></body></html>")
    messages = open_in_chromium(bad, tmp_path / "bad.png", tmp_path / "profile")
    assert any("noSuchFunction is not defined" in m for m in messages), messages


def test_rendered_report_opens_in_chromium_without_console_errors(tmp_path: Path, demo_suite: Path, demo_run) -> None:
    _chromium()
    rec = make_record(40, fail=frozenset({1, 7}), series_every=10)
    rec["cases"][1]["series"].append(
        {
            "name": "EVSE current",
            "unit": "A",
            "plot": "current",
            "step": False,
            "points": [[i * 0.5, 15.5 + (i % 4) * 0.2] for i in range(60)],
        }
    )
    rec["cases"][1]["series"].append(
        {
            "name": "Advertised limit",
            "unit": "A",
            "plot": "current",
            "step": True,
            "points": [[0, 16], [15, 20], [30, 20]],
        }
    )
    rec["cases"][2]["title"] = "<script>alert(1)</script> \x07"
    rec["cases"][2]["attachments"] = [{"name": "x", "path": "javascript:alert(1)"}]
    page = tmp_path / "report.html"
    write_atomic(page, render_report(rec))
    shot = tmp_path / "report.png"
    assert open_in_chromium(page, shot, tmp_path / "profile") == []
    assert _png_size(shot) == (1280, 2000) and shot.stat().st_size > 20_000, "a screenshot with content"
    # a run's own report.html, and pytest-html's live report carrying the same fragments (it has scripts of its own)
    (demo_suite / "conftest.py").write_text(
        "import pytest\n\n\n@pytest.fixture(autouse=True)\ndef _serial(metadata):\n"
        "    metadata['DUT serial'] = '<img src=x onerror=alert(1)>'\n"
    )
    _, run_dir = demo_run("--html", "RUN/pytest-html.html", "--self-contained-html")
    assert open_in_chromium(run_dir / "report.html", tmp_path / "run.png", tmp_path / "profile") == []
    live = run_dir / "pytest-html.html"
    assert 'http-equiv="Content-Security-Policy"' in live.read_text(encoding="utf-8")
    assert open_in_chromium(live, tmp_path / "live.png", tmp_path / "profile") == [], "no CSP violation either"
    dom = dom_in_chromium(live, tmp_path / "profile")
    assert len(re.findall(r'<tbody class="results-table-row (?:passed|failed|skipped)', dom)) == 4, "its script ran"
    assert "<td><div>&lt;img src=x onerror=alert(1)&gt;</div></td>" in dom, "the metadata value is text"
