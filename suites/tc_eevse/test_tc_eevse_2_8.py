"""TC-EEVSE-2.8: Optional PlugAndCharge feature functionality with DUT as Server.

Reads VehicleID (a string or null), has the EV send its vehicle identity and checks VehicleID becomes a string of at
most 32 characters. Skipped (every step shown as skipped) when the DUT's FeatureMap lacks PNC.
"""

from __future__ import annotations

import pytest

from rig.matter.eevse import is_null
from rig.steps import TestStep
from rig.stimulus import Action
from suites.tc_eevse.support import TRIG, apply_or_skip, require_feature

pytestmark = [
    pytest.mark.tc("TC-EEVSE-2.8", "Optional PlugAndCharge feature functionality with DUT as Server"),
    pytest.mark.pics("EEVSE.S.F02"),
]

STEPS = [
    TestStep("1", "Commissioning, already done", is_commissioning=True),
    TestStep(
        "2", "TH reads TestEventTriggersEnabled attribute from General Diagnostics Cluster", "Value has to be 1 (True)"
    ),
    TestStep(
        "3",
        "TH reads from the DUT the VehicleID attribute.",
        "Verify that the DUT response contains a string value, or null.",
    ),
    TestStep("4", TRIG + "EVSE Set VehicleID Test Event", "Verify DUT responds w/ status SUCCESS(0x00)"),
    TestStep(
        "5",
        "TH reads from the DUT the VehicleID attribute.",
        "Verify that the DUT response contains a string value with length <= 32 characters.",
    ),
]

VEHICLE_ID_MAX_LENGTH = 32  # spec: VehicleID maxLength 32


async def test_tc_eevse_2_8(steps, evse, stimulus) -> None:
    steps.step("1")  # commissioned by the session fixture
    await require_feature(steps, evse, "PNC")
    steps.step("2")
    assert await evse.triggers_enabled(), "TestEventTriggersEnabled is False: the DUT refuses test event triggers"

    steps.step("3")
    value = await evse.read("VehicleID")
    steps.note(f"VehicleID = {'null' if is_null(value) else repr(value)}")
    if not (is_null(value) or isinstance(value, str)):
        raise AssertionError(f"VehicleID: expected a string or null, read {value!r} ({type(value).__name__})")

    steps.step("4")
    if not await apply_or_skip(steps, stimulus, Action.VEHICLE_ID):
        steps.skip_remaining("needs the VehicleID stimulus of step 4")
        return

    steps.step("5")
    value = await evse.read("VehicleID")
    steps.note(f"VehicleID = {'null' if is_null(value) else repr(value)}")
    if not isinstance(value, str):
        raise AssertionError(f"VehicleID: expected a string after the EV sent its identity, read {value!r}")
    steps.measure("len(VehicleID)", len(value), "characters", high=VEHICLE_ID_MAX_LENGTH)
