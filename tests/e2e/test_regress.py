"""`rig regress` end to end: three virtual EVSE builds installed over Matter OTA in turn on the virtual bench, the same
short selection run on each, and the regression report finding exactly the regression and the fix.

v2 is clean, v3 has the defect ``state-change-not-reported`` (TC-EEVSE-2.2 fails at step 4a), v4 is clean again.
TC-EEVSE-2.1 is unaffected by it. Expected: TC-EEVSE-2.2 regresses on v3 and is fixed on v4, exit code 1, every
link of the page leads to an existing run report, the three runs are in the results database (SQLite) under their
builds.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import RIG, ROOT

pytestmark = pytest.mark.e2e

DEFECT = "state-change-not-reported"
CASES = ("TC-EEVSE-2.1", "TC-EEVSE-2.2")


def _image(tmp_path: Path, version: int, *defects: str) -> Path:
    out = tmp_path / f"evse-{version}.ota"
    cmd = [*RIG, "sim", "build-image", "--out", str(out), "--software-version", str(version)]
    cmd += ["--version-string", f"{version}.0.0"]
    for defect in defects:
        cmd += ["--defect", defect]
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, timeout=60)
    return out


def test_regress_finds_the_regression_and_the_fix(tmp_path: Path) -> None:
    images = [_image(tmp_path, 2), _image(tmp_path, 3, DEFECT), _image(tmp_path, 4)]
    reports = tmp_path / "reports"
    database = tmp_path / "results.sqlite"
    cmd = [*RIG, "regress", *map(str, images)]
    for tc in CASES:
        cmd += ["--tc", tc]
    cmd += ["--set", "virtual_evse.keep_storage=true", "--set", f"station.state_dir={tmp_path / 'station'}"]
    cmd += ["--set", f"report.dir={reports}", "--set", f"report.database=sqlite:///{database}"]
    cmd += ["--query-timeout", "60", "--download-timeout", "60", "--reboot-timeout", "60"]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    elapsed = time.monotonic() - t0
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, f"exit {proc.returncode} after {elapsed:.0f} s:\n{output[-6000:]}"

    (folder,) = reports.glob("regress-*")
    report = json.loads((folder / "regress.json").read_text())
    builds = report["builds"]
    assert [b["software_version"] for b in builds] == [2, 3, 4]
    assert [b["status"] for b in builds] == ["tested"] * 3, output[-4000:]
    assert [b["build"] for b in builds] == ["2.0.0", f"3.0.0+{DEFECT}", "4.0.0"]
    assert report["regressions"] == [{"case": "TC-EEVSE-2.2", "build": 1, "previous": 0}], output[-4000:]
    assert report["fixes"] == [{"case": "TC-EEVSE-2.2", "build": 2, "previous": 1}]
    rows = {row["id"]: [c["outcome"] for c in row["cells"]] for row in report["cases"]}
    assert rows == {"TC-EEVSE-2.1": ["passed"] * 3, "TC-EEVSE-2.2": ["passed", "failed", "passed"]}
    failed = report["cases"][[r["id"] for r in report["cases"]].index("TC-EEVSE-2.2")]["cells"][1]
    assert failed["failed_step"] == "4a" and failed["change"] == "regression"
    assert report["left_running"] == "4 (4.0.0)" and report["exit_code"] == 1

    page = (folder / "report.html").read_text()
    links = re.findall(r'href="([^"]+)"', page)
    run_links = [link for link in links if link.endswith("/report.html")]
    assert len(run_links) == 3 + 3 * len(CASES)  # a link per build's run, and one per cell
    for link in run_links:
        assert (folder / link).resolve().is_file(), link
    assert {Path(link).parent.name for link in run_links} == {b["run"]["run_id"] for b in builds}
    assert "NEW FAILURE" in page and "FIXED" in page and "Content-Security-Policy" in page

    with sqlite3.connect(database) as db:
        got = dict(db.execute("SELECT run_id, build FROM runs").fetchall())
    assert got == {b["run"]["run_id"]: b["build"] for b in builds}
    print(f"rig regress of 3 builds x {len(CASES)} cases: {elapsed:.0f} s")
