"""`rig run` end to end: the run folder holds report.html, report.json and junit.xml, the run is in the results
database, and `rig compare` names the case a firmware defect broke (exit 1)."""

from __future__ import annotations

import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from rig.report.html import render_report
from rig.report.record import load_record
from tests.report.conftest import ROOT, rig

pytestmark = pytest.mark.e2e


def _rig_run(reports: Path, *args: str) -> tuple[int, str, Path]:
    env = {k: v for k, v in os.environ.items() if k != "RIG_RESULTS_DB"}
    before = set(reports.glob("2*")) if reports.is_dir() else set()
    proc = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "rig"), "run", "--set", f"report.dir={reports}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )
    new = sorted(set(reports.glob("2*")) - before)
    assert len(new) == 1, proc.stdout + proc.stderr
    return proc.returncode, proc.stdout + proc.stderr, new[0]


def test_rig_run_leaves_record_html_junit_and_compare_catches_the_defect(tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("node") is None:
        pytest.skip("end-to-end tests need root, `ip` and `node` (CI runs them as root)")
    if not (ROOT / ".venv" / "bin" / "rig").exists():
        pytest.skip("no .venv/bin/rig: run scripts/setup.sh")
    reports = tmp_path / "reports"
    code, out, good = _rig_run(reports, "-k", "2_2")
    assert code == 0, out[-4000:]
    for name in ("report.html", "report.json", "junit.xml"):
        assert (good / name).is_file(), name
    assert "[rig] (1/1) TC-EEVSE-2.2" in out and "step 14" in out, "progress lines"
    rec = load_record(good / "report.json")
    assert rec["status"] == "finished" and rec["exit_status"] == 0 and rec["build"] == "1.0.0"
    assert rec["dut"]["identity"]["SoftwareVersionString"] == "1.0.0"
    (case,) = rec["cases"]
    assert case["id"] == "TC-EEVSE-2.2" and case["outcome"] == "passed" and case["events"]
    assert {a["name"] for a in rec["attachments"]} >= {"virtual-evse.log", "dut.json"}
    html = (good / "report.html").read_bytes()
    assert html == render_report(rec).encode("utf-8"), "report.html is written from report.json only"
    assert "<script" not in html.decode() and "TC-EEVSE-2.2" in html.decode()
    assert [c.get("name") for c in ET.parse(good / "junit.xml").iter("testcase")] == ["TC-EEVSE-2.2"]
    (good / "report.html").unlink()
    assert rig("report", "render", str(good)).returncode == 0
    assert (good / "report.html").read_bytes() == html, "rig report render recreates it byte for byte"

    code, out, bad = _rig_run(reports, "-k", "2_2", "--dut-defect", "session-id-not-incremented")
    assert code == 1, out[-4000:]
    assert load_record(bad / "report.json")["build"] == "1.0.0+session-id-not-incremented"

    db = str(reports / "results.sqlite")
    cmp_ = rig("compare", good.name, bad.name, "--db", db)
    assert cmp_.returncode == 1, cmp_.stdout + cmp_.stderr
    assert "newly failing: 1" in cmp_.stdout and "TC-EEVSE-2.2  passed -> failed at step 14" in cmp_.stdout
    by_build = rig("compare", "1.0.0", "1.0.0+session-id-not-incremented", "--db", db)
    assert by_build.returncode == 1 and "REGRESSION: TC-EEVSE-2.2" in by_build.stdout
    hist = rig("history", "--db", db)
    assert good.name in hist.stdout and bad.name in hist.stdout
    assert rig("report", "render", str(bad), "-o", str(tmp_path / "re.html")).returncode == 0
