"""PICS end to end: `rig run` with a PICS file against the virtual EVSE, `rig pics check` and `rig pics derive`.

Needs root, `ip` and `node` (the e2e fixtures skip otherwise) and leaves nothing behind (checked).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from rig.pics import load_pics
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


V2X_OFF = "examples/pics/virtual-evse-v2x-off.xml"


def test_full_run_with_a_feature_off_skips_exactly_what_depends_on_it(rig_run) -> None:  # noqa: F811
    """The default suites (every TC-EEVSE case, the spec checks, the HIL cases) with a PICS file that switches V2X off,
    against the virtual EVSE that has V2X: exactly the cases and steps whose PICS codes the file switches off are
    skipped, each with its reason; everything else passes; the contradiction with the DUT is in the record."""
    off = {k for k, v in load_pics(ROOT / V2X_OFF).items.items() if not v}
    assert off == {"EEVSE.S.F04", "EEVSE.S.A0004", "EEVSE.S.A0008", "EEVSE.S.A0043", "EEVSE.S.C03.Rsp"}
    res = rig_run("--pics", V2X_OFF, timeout=600)  # the same as --set dut.pics=...
    assert res.code == 0, res.output[-6000:]
    record = json.loads((res.run_dir / "report.json").read_text())
    skipped_cases, skipped_steps = set(), set()
    for case in record["cases"]:
        lacking = [code for code in case["pics"] if code in off]
        if lacking:
            assert case["outcome"] == "skipped", case["id"]
            assert f"PICS not supported: {', '.join(lacking)} (PICS file virtual-evse-v2x-off.xml)" in case["error"]
            skipped_cases.add(case["id"])
            continue
        if case["outcome"] == "skipped":  # the one skip of a plain default run: EventList is not readable
            assert case["id"] == "TC-EEVSE-SPEC-EventList" and "PICS" not in case["error"], case
            continue
        assert case["outcome"] == "passed", (case["id"], case["error"])
        for step in case["steps"]:
            if step["pics"] in off:
                assert step["outcome"] == "skipped", (case["id"], step)
                assert f"PICS {step['pics']} not supported (PICS file" in step["skip_reason"], step
                skipped_steps.add(f"{case['id']}/{step['number']}")
            elif step["outcome"] == "skipped":
                assert "PICS" not in step["skip_reason"], (case["id"], step)
    assert skipped_cases == {
        "TC-EEVSE-2.10",
        "TC-EEVSE-BOUNDS-C03",  # EnableDischarging's bounds: EEVSE.S.C03.Rsp
        "TC-EEVSE-STATE-Discharging",  # the Discharging state needs V2X: EEVSE.S.F04
        "TC-EEVSE-SPEC-A0004",
        "TC-EEVSE-SPEC-A0008",
        "TC-EEVSE-SPEC-A0043",
        "TC-EEVSE-SPEC-C03",
    }, skipped_cases
    assert skipped_steps == {
        "TC-EEVSE-2.1/6",
        "TC-EEVSE-2.1/10",
        "TC-EEVSE-2.1/24",
        "TC-EEVSE-2.6/10d",
        "TC-EEVSE-2.6/15d",
        "TC-EEVSE-2.6/18d",
    }, skipped_steps
    pics = record["pics"]
    assert pics["given"] and pics["origin"] == "file" and pics["path"].endswith("virtual-evse-v2x-off.xml")
    assert {n["case"] for n in pics["not_applicable"]} == skipped_cases
    assert len(pics["contradictions"]) == 5, pics["contradictions"]
    assert "PICS says EEVSE.S.F04=0 but the DUT's FeatureMap has V2X (bit 4)" in pics["contradictions"]
    html = (res.run_dir / "report.html").read_text()
    assert "the PICS contradict the DUT" in html and "not applicable: TC-EEVSE-2.10 lacks EEVSE.S.F04" in html
