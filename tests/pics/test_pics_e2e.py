"""PICS end to end: `rig run` with a PICS file against the virtual EVSE, `rig pics check` and `rig pics derive`.

Needs root, `ip` and `node` (the e2e fixtures skip otherwise) and leaves nothing behind (checked).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from rig.matter.pics import load_pics
from tests.e2e.conftest import RIG, ROOT, _leftovers_of, nothing_left_behind, rig_run  # noqa: F401 - fixtures

pytestmark = pytest.mark.e2e

RFID_OFF = "examples/pics/virtual-evse-rfid-off.xml"
CASES = "tests/pics/cases/case_pics_gating.py"
SKIP_REASON = "PICS not supported: EEVSE.S.F03 (PICS file virtual-evse-rfid-off.xml)"
CONTRADICTION = "PICS says EEVSE.S.F03=0 but the DUT's FeatureMap has RFID (bit 3)"


def rig(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run `rig ARGS`; a `rig pics` run must leave nothing of its sandbox behind (its run id is in stderr)."""
    proc = subprocess.run([*RIG, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    for run_id in re.findall(r", run (\d{8}-\d{6}-[0-9a-f]{6})\)", proc.stderr):
        assert _leftovers_of(run_id) == [], f"left behind by {run_id}: {_leftovers_of(run_id)}"
    return proc


def test_rfid_off_pics_skips_the_rfid_case_and_step(rig_run) -> None:  # noqa: F811
    res = rig_run("--set", f"dut.pics={RFID_OFF}", "--set", "virtual_evse.features=[PREF,SOC,PNC,V2X]", CASES)
    assert res.code == 0, res.output[-4000:]
    assert res.junit_cases() == {"TC-PICS-RFID": "skipped", "TC-PICS-BASE": "passed"}
    results = res.results()
    assert results["TC-PICS-RFID"]["outcome"] == "skipped"
    steps = {s["number"]: s for s in results["TC-PICS-BASE"]["steps"]}
    assert steps["3"]["outcome"] == "skipped" and "EEVSE.S.E05" in steps["3"]["skip_reason"]
    record = json.loads((res.run_dir / "report.json").read_text())
    rfid = next(c for c in record["cases"] if c["id"] == "TC-PICS-RFID")
    assert rfid["outcome"] == "skipped" and SKIP_REASON in (rfid.get("error") or ""), rfid
    assert SKIP_REASON in res.output
    assert "contradict" not in res.output, "this PICS file matches the DUT (RFID off on both sides)"


def test_run_with_contradicting_pics_states_it(rig_run) -> None:  # noqa: F811
    res = rig_run("--set", f"dut.pics={RFID_OFF}", CASES)
    assert res.code == 0, res.output[-4000:]
    assert f"rig: PICS contradiction: {CONTRADICTION}" in res.output
    assert "PICS contradicts the DUT" in res.output


def test_pics_check_names_the_disagreement_and_derive_writes_the_dut(tmp_path: Path) -> None:
    proc = rig("pics", "check", RFID_OFF)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.splitlines() == [CONTRADICTION], proc.stdout
    assert "contradicts the DUT in 1 place(s)" in proc.stderr and ", run " in proc.stderr
    out = tmp_path / "derived.txt"
    proc = rig("pics", "derive", "-o", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == "", "pytest's output goes to stderr"
    assert load_pics(out).items == load_pics(ROOT / "examples" / "pics" / "virtual-evse.xml").items


def test_pics_check_refuses_a_malformed_file_before_starting_anything(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text("<clusterPICS>\n<picsItem><itemNumber>EEVSE.S</itemNumber>\n</clusterPICS>\n")
    proc = rig("pics", "check", str(bad), timeout=30)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"{bad}:3: not well-formed PICS XML" in proc.stderr and "reading the DUT" not in proc.stderr
