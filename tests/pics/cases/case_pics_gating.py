"""Two tiny cases run by the PICS end-to-end tests with `rig run tests/pics/cases/case_pics_gating.py`.

The file name does not match ``test_*.py``, so the rig's own test run never collects it; `rig run` passes it
explicitly. One case needs the RFID feature (skipped at collection by a PICS file without EEVSE.S.F03); the other
always applies and has an RFID-dependent optional step (skipped by ``pics_guard``).
"""

from __future__ import annotations

from typing import Any

import pytest

from rig.pics import Pics
from rig.steps import StepRunner, TestStep

STEPS = [
    TestStep("1", "TH reads from the DUT the FeatureMap attribute", "Value is noted"),
    TestStep("2", "TH reads from the DUT the State attribute", "Value is in 0..6"),
    TestStep("3", "TH notes that the DUT reports RFID tags", "RFID event supported", pics="EEVSE.S.E05"),
]


@pytest.mark.tc("TC-PICS-RFID", "A case that needs the RFID feature")
@pytest.mark.pics("EEVSE.S", "EEVSE.S.F03")
async def test_rfid_case(evse: Any, steps: StepRunner, pics: Pics) -> None:
    steps.step("1")
    steps.note(f"FeatureMap = 0x{await evse.feature_map():X}")
    steps.step("2")
    steps.measure("State", int(await evse.read("State")), low=0, high=6)
    steps.step("3")
    steps.pics_guard(pics.check("EEVSE.S.E05"))


@pytest.mark.tc("TC-PICS-BASE", "A case every EVSE runs, with an RFID-dependent step")
@pytest.mark.pics("EEVSE.S")
async def test_base_case(evse: Any, steps: StepRunner, pics: Pics) -> None:
    steps.step("1")
    steps.note(f"FeatureMap = 0x{await evse.feature_map():X}")
    steps.step("2")
    steps.measure("State", int(await evse.read("State")), low=0, high=6)
    steps.step("3")
    if steps.pics_guard(pics.check("EEVSE.S.E05")):
        steps.note("the PICS says the DUT sends RFID events")
