"""Generated run records, for the report benchmark and the report tests (deterministic for a given seed)."""

from __future__ import annotations

import random
from typing import Any

from rig.report.plan import TEST_PLAN
from rig.report.record import RECORD_KIND, SCHEMA_VERSION


def make_record(
    n_cases: int,
    *,
    run_id: str = "20260101-000000-aaaaaa",
    build: str = "1.0.0",
    sw_version: int = 1,
    seed: int = 1,
    fail: frozenset[int] = frozenset(),
    drift: float = 0.0,
    steps_per_case: int = 8,
    series_every: int = 100,
    status: str = "finished",
) -> dict[str, Any]:
    """Return a valid run record with ``n_cases`` cases.

    Args:
        n_cases: number of cases (ids ``TC-GEN-<i>``).
        run_id: the run id.
        build: the build label (also the DUT's SoftwareVersionString).
        sw_version: the DUT's SoftwareVersion.
        seed: seeds measurement noise.
        fail: case indexes that fail (at their fourth step).
        drift: relative change added to every measured value (0.2 = +20 %).
        steps_per_case: declared steps per case.
        series_every: every n-th case carries plot series.
        status: the record status.
    """
    rnd = random.Random(seed)
    t = 1_767_225_600.0
    cases = []
    for i in range(n_cases):
        start = t
        failed = i in fail
        steps = []
        for k in range(steps_per_case):
            outcome = "passed" if not failed or k < 3 else ("failed" if k == 3 else "not-run")
            ms = []
            if k in (2, 5):
                value = round(16_000 * (1 + drift) + rnd.uniform(-50, 50), 1)
                ms.append(
                    {
                        "name": "MaximumChargeCurrent",
                        "value": value,
                        "unit": "mA",
                        "low": 6000.0,
                        "high": 32000.0,
                        "expected": None,
                        "verdict": "pass",
                    }
                )
            if k == 6:
                ms.append(
                    {
                        "name": "State",
                        "value": 3,
                        "unit": "",
                        "low": None,
                        "high": None,
                        "expected": 3,
                        "verdict": "pass",
                    }
                )
            steps.append(
                {
                    "number": str(k + 1),
                    "description": f"TH reads attribute {k} from the DUT",
                    "expectation": "Value has to be 0x03 (PluggedInCharging)",
                    "pics": None,
                    "outcome": outcome,
                    "started": None if outcome == "not-run" else t,
                    "ended": None if outcome == "not-run" else t + 0.05,
                    "duration": None if outcome == "not-run" else 0.05,
                    "skip_reason": None,
                    "error": "AssertionError: State = 1, expected 3" if outcome == "failed" else None,
                    "notes": [f"value {k}"],
                    "measurements": ms if outcome != "not-run" else [],
                }
            )
            t += 0.05
        series = []
        if series_every and i % series_every == 0:
            duty = round(10 + (i // series_every) % 80, 1)  # every chart its own data
            series = [
                {
                    "name": "Pilot state",
                    "unit": "",
                    "plot": "pilot",
                    "step": True,
                    "points": [[start, "A"], [start + 0.1, "B"], [start + 0.2, "C"], [start + 0.4, "B"]],
                },
                {
                    "name": "PWM duty",
                    "unit": "%",
                    "plot": "pilot",
                    "step": True,
                    "points": [[start, 100], [start + 0.1, duty], [start + 0.4, 100]],
                },
            ]
        cases.append(
            {
                "id": f"TC-GEN-{i:05d}",
                "title": f"Generated case {i}",
                "nodeid": f"gen.py::test_{i}",
                "pics": ["EEVSE.S"],
                "outcome": "failed" if failed else "passed",
                "started": start,
                "ended": t,
                "duration": round(t - start, 6),
                "failed_step": "4" if failed else None,
                "error": "AssertionError: State = 1, expected 3" if failed else None,
                "steps": steps,
                "events": [
                    {
                        "name": "EVConnected",
                        "data": {"sessionID": i},
                        "endpoint": 1,
                        "event_number": i,
                        "priority": 1,
                        "received_at": start + 0.01,
                        "summary": f"EVConnected(sessionID={i})",
                    }
                ],
                "series": series,
                "logs": "",
                "logs_truncated": False,
                "attachments": [],
            }
        )
    return {
        "kind": RECORD_KIND,
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "status": status,
        "exit_status": 1 if fail else 0,
        "started": 1_767_225_600.0,
        "ended": t,
        "title": "EVSE conformance report",
        "energy_tolerance_pct": 2.0,
        "spec": {"cluster": "Energy EVSE", "cluster_id": "0x0099", "revision": 3, "source": "spec/EnergyEVSE.xml"},
        "test_plan": TEST_PLAN,
        "rig": {"version": "0.1.0", "git_sha": "0" * 40, "git_dirty": False, "python": "3.11", "pytest": "9"},
        "station": {"name": "gen-bench", "location": "Lab 2", "operator": "A. Tester"},
        "bench": "virtual",
        "config": {"path": "rig.yaml", "sha256": "0" * 64},
        "stimulus": "trigger",
        "dut": {
            "kind": "virtual",
            "node_id": 4097,
            "endpoint": 1,
            "defects": [],
            "identity": {
                "VendorName": "Gen",
                "VendorID": 0xFFF1,
                "ProductName": "Gen EVSE",
                "ProductID": 0x8000,
                "HardwareVersion": 1,
                "HardwareVersionString": "1",
                "SoftwareVersion": sw_version,
                "SoftwareVersionString": build,
                "SerialNumber": "GEN-1",
            },
        },
        "build": build,
        "pics": None,
        "instruments": {},
        "attachments": [],
        "cases": cases,
    }
