"""Detection power: every firmware defect of the virtual EVSE is caught by a case of the default run.

One `rig run --dut-defect NAME -k <the cases that matter>` per defect (default stimulus: the EV emulator); each
must exit 1 with every listed case failed at the listed step (read from the run record, report.json). Together
with a conformant full run passing (tests/e2e/test_run.py), this proves the default run tells a defective EVSE
from a conformant one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]

# defect -> (-k expression, {case id: step at which it must fail})
DETECTION: dict[str, tuple[str, dict[str, str]]] = {
    "session-id-not-incremented": ("2_2", {"TC-EEVSE-2.2": "14"}),
    "no-energy-transfer-started-event": ("2_2", {"TC-EEVSE-2.2": "6"}),
    "state-change-not-reported": ("2_2", {"TC-EEVSE-2.2": "4a"}),
    "charging-enabled-until-ignored": ("2_2 or enabled_until", {"TC-EEVSE-2.2": "7", "HIL-UNTIL": "4"}),
    "fault-does-not-restore-supply-state": ("2_4 or residual", {"TC-EEVSE-2.4": "9b", "HIL-RCD": "4"}),
    "extra-event-on-fault": ("2_4 or residual", {"TC-EEVSE-2.4": "8", "HIL-RCD": "4"}),
    # TC-EEVSE-2.2 cannot see it: the factory UserMaximumChargeCurrent equals CircuitCapacity and limits first
    "max-current-ignores-circuit-capacity": ("pilot_duty", {"HIL-PWM": "5"}),
    "min-greater-than-max-accepted": ("pilot_duty", {"HIL-PWM": "7"}),
    "timed-invoke-not-enforced": ("spec_command_timed", {"TC-EEVSE-SPEC-C01": "2"}),
    "targets-merge-wrong": ("2_3", {"TC-EEVSE-2.3": "15"}),
}


def test_every_defect_is_listed() -> None:
    defects = json.loads((ROOT / "virtual_evse" / "defects.json").read_text())
    assert sorted(DETECTION) == sorted(defects), "each defect of virtual_evse/defects.json needs its detecting case"


@pytest.mark.parametrize("defect", sorted(DETECTION))
def test_defect_is_caught(rig_run, defect: str) -> None:
    keyword, expected = DETECTION[defect]
    res = rig_run("--dut-defect", defect, "-k", keyword)
    assert res.code == 1, f"the run must fail on the {defect} EVSE (exit {res.code}):\n{res.output[-3000:]}"
    results = res.results()
    for case, step in expected.items():
        assert case in results, f"{defect}: case {case} did not run; ran {sorted(results)}"
        got = results[case]
        assert got["outcome"] == "failed", f"{defect}: {case} {got['outcome']}, expected failed: {got}"
        assert got["failed_step"] == step, (
            f"{defect}: {case} failed at step {got['failed_step']}, expected {step}: {got.get('error')}"
        )
