"""Safe state on a killed run: `rig run` interrupted mid charging session leaves the plant safe.

The run executes ``tests/e2e/bench_cases/test_hold_charging.py``, which starts a physical charging session on the
virtual bench (EV emulator B then C, EnableCharging over Matter, contactor closed, 16 A flowing) and holds it. Once
the plant log shows that session, the `rig` process gets SIGTERM (or SIGINT). The virtual bench writes its last
state (``"final": true``) to ``<run dir>/virtual-bench/plant.jsonl`` when it stops; that state must be the safe
state: AC output off, EV in state A (cp_connect open), every fault path and relay released, contactor open, no
current. The run folder must show the case interrupted (not passed). ``nothing_left_behind`` (autouse, conftest)
checks that no namespace, mount, state folder or process of the run is left.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import RIG, ROOT

pytestmark = pytest.mark.e2e

CASE = ROOT / "tests" / "e2e" / "bench_cases" / "test_hold_charging.py"
CASE_ID = "BENCH-HOLD"
SESSION_TIMEOUT_S = 120.0  # sandbox + virtual EVSE + bench + commissioning + the session itself (2 shared cores)
EXIT_TIMEOUT_S = 60.0  # the sandbox kills its child TEARDOWN_GRACE_S after the signal; this bounds the whole exit


def _plant_states(path: Path) -> list[dict[str, Any]]:
    """The plant log's records (a half-written last line is ignored)."""
    states = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            states.append(json.loads(line))
        except ValueError:
            continue
    return states


def _charging(state: dict[str, Any]) -> bool:
    return bool(state.get("contactor")) and state.get("cp_state") == "C" and bool(state.get("ac_on"))


def _wait_for_session(proc: subprocess.Popen[str], reports: Path, output: Path) -> Path:
    """Wait until the plant log shows the charging session; return the run folder."""
    deadline = time.monotonic() + SESSION_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"`rig run` ended (exit {proc.returncode}) before the charging session was established:\n"
                + output.read_text(errors="replace")[-4000:]
            )
        for log in reports.glob("2*/virtual-bench/plant.jsonl"):
            if any(_charging(s) for s in _plant_states(log)):
                return log.parent.parent
        time.sleep(0.1)
    proc.kill()
    proc.wait(10)
    pytest.fail(
        f"no charging session (contactor closed, EV in C, AC on) in the plant log within {SESSION_TIMEOUT_S:g} s:\n"
        + output.read_text(errors="replace")[-4000:]
    )


def _junit_outcome(junit: Path, case: str) -> str | None:
    if not junit.exists():
        return None
    for tc in ET.parse(junit).iter("testcase"):
        if tc.get("name") == case:
            for tag, outcome in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
                if tc.find(tag) is not None:
                    return outcome
            return "passed"
    return None


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_killed_charging_session_leaves_the_plant_safe(tmp_path: Path, sig: signal.Signals) -> None:
    reports = tmp_path / "reports"
    output = tmp_path / "rig-run.out"
    with output.open("w") as out:
        proc = subprocess.Popen(
            [*RIG, "run", "--set", f"report.dir={reports}", str(CASE)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        run_dir = _wait_for_session(proc, reports, output)
        assert proc.poll() is None, "the run must still be holding the session when it is killed"
        proc.send_signal(sig)
        try:
            code = proc.wait(EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`rig run` did not exit within {EXIT_TIMEOUT_S:g} s of {sig.name}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    text = output.read_text(errors="replace")
    assert code != 0, f"an interrupted run must not exit 0:\n{text[-3000:]}"

    # -- the plant after the run: its final state is the safe state ---------------------------------------------
    states = _plant_states(run_dir / "virtual-bench" / "plant.jsonl")
    assert states and states[-1].get("final") is True, (
        f"the virtual bench did not write its final state (it was not stopped cleanly); last: {states[-1:]}"
    )
    final = states[-1]
    plant_problems = []
    if final["ac_on"] or final["ac_v"] != 0:
        plant_problems.append(f"AC output still on ({final['ac_v']} V)")
    # State A is the EV side open (cp_connect released). The pilot then reads +12 V (A) while the EVSE drives it,
    # 0 V once the virtual EVSE has been stopped at session end; never stopped under a connected EV.
    if final["switches"].get("cp_connect") or (final["cp_state"] != "A" and final["cp_mode"] != "off"):
        plant_problems.append(
            f"EV not in state A (pilot {final['cp_state']}, cp_connect {final['switches'].get('cp_connect')})"
        )
    stopped_under_ev = [s for s in states if s["cp_mode"] == "off" and s["switches"].get("cp_connect")]
    if stopped_under_ev:
        plant_problems.append(f"the EVSE was switched off with the EV still connected: {stopped_under_ev[0]}")
    released = [s for s in states if not s["switches"].get("cp_connect") and s["cp_mode"] != "off"]
    if not released or released[-1]["cp_state"] != "A":
        plant_problems.append(f"the pilot never read state A after the EV was released: {released[-1:]}")
    if final["switches"]:
        plant_problems.append(f"relays / fault paths still closed: {sorted(final['switches'])}")
    if final["contactor"]:
        plant_problems.append("EVSE contactor still closed")
    if final["ev_current_a"]:
        plant_problems.append(f"EV still drawing {final['ev_current_a']} A")
    if final["energy_wh"] <= 0:
        plant_problems.append("no energy flowed during the held session (was it charging?)")

    # -- the run folder: the case was interrupted, not passed -----------------------------------------------
    report_problems = []
    record = json.loads((run_dir / "report.json").read_text())
    entry = next((c for c in record["cases"] if c["id"] == CASE_ID), None)
    if entry is None:
        report_problems.append(f"report.json does not list {CASE_ID}: {[c['id'] for c in record['cases']]}")
    elif entry["outcome"] == "passed":
        report_problems.append(f"report.json shows the killed case as passed: {entry['outcome']}, {entry['error']}")
    if record["status"] != "interrupted":
        report_problems.append(f"report.json status {record['status']!r}, expected 'interrupted'")
    if any(c["outcome"] == "passed" for c in record["cases"] if c["id"] == CASE_ID):
        report_problems.append("report.json shows the killed case as passed")
    junit = _junit_outcome(run_dir / "junit.xml", CASE_ID)
    if junit == "passed":
        report_problems.append("junit.xml shows the killed case as passed (a testcase without failure or error)")

    assert not (plant_problems or report_problems), (
        f"after {sig.name}:"
        + "".join(f"\n  plant: {p}" for p in plant_problems)
        + "".join(f"\n  run folder: {p}" for p in report_problems)
        + "\nlast plant states:\n"
        + "\n".join(json.dumps(s) for s in states[-6:])
    )
