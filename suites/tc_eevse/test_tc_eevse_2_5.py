"""TC-EEVSE-2.5: Optional diagnostics functionality with DUT as Server.

StartDiagnostics is refused (FAILURE) while charging is enabled and accepted once Disabled; in
DisabledDiagnostics, EnableCharging is refused (FAILURE); when diagnostics complete the EVSE stays Disabled.
No events are awaited.
"""

from __future__ import annotations

import pytest

from rig.matter.eevse import FaultState, State, SupplyState
from rig.steps import TestStep
from rig.stimulus import Action
from suites.tc_eevse.support import TRIG, apply_or_skip, check_attr

pytestmark = [
    pytest.mark.tc("TC-EEVSE-2.5", "Optional diagnostics functionality with DUT as Server"),
    pytest.mark.pics("EEVSE.S", "EEVSE.S.C04.Rsp"),
]

STEPS = [
    TestStep("1", "Commission DUT to TH (can be skipped if done in a preceding test)", is_commissioning=True),
    TestStep(
        "2", "TH reads TestEventTriggersEnabled attribute from General Diagnostics Cluster", "Value has to be 1 (True)"
    ),
    TestStep("3", TRIG + "Basic Functionality Test Event", "Verify DUT responds w/ status SUCCESS(0x00)"),
    TestStep("3a", "TH reads from the DUT the State attribute", "Value has to be 0x00 (NotPluggedIn)"),
    TestStep("3b", "TH reads from the DUT the SupplyState attribute", "Value has to be 0x00 (Disabled)"),
    TestStep("3c", "TH reads from the DUT the FaultState attribute", "Value has to be 0x00 (NoError)"),
    TestStep(
        "4",
        "TH sends command EnableCharging with ChargingEnabledUntil=Null, minimumChargeCurrent=6000, "
        "maximumChargeCurrent=60000",
        "Verify DUT responds w/ status SUCCESS(0x00)",
    ),
    TestStep("4a", "TH reads from the DUT the State attribute", "Value has to be 0x00 (NotPluggedIn)"),
    TestStep("4b", "TH reads from the DUT the SupplyState attribute", "Value has to be 0x01 (ChargingEnabled)"),
    TestStep(
        "5",
        "TH sends command StartDiagnostics",
        "Verify DUT responds w/ status FAILURE(0x01) since it must be Disabled first",
    ),
    TestStep("6", "TH sends command Disable", "Verify DUT responds w/ status SUCCESS(0x00)"),
    TestStep("6a", "TH reads from the DUT the State attribute", "Value has to be 0x00 (NotPluggedIn)"),
    TestStep("6b", "TH reads from the DUT the SupplyState attribute", "Value has to be 0x00 (Disabled)"),
    TestStep("7", "TH sends command StartDiagnostics", "Verify DUT responds w/ status SUCCESS(0x00)"),
    TestStep("7a", "TH reads from the DUT the SupplyState attribute", "Value has to be 0x04 (DisabledDiagnostics)"),
    TestStep(
        "8",
        "TH sends command EnableCharging with ChargingEnabledUntil=Null, minimumChargeCurrent=6000, "
        "maximumChargeCurrent=60000",
        "Verify DUT responds w/ status FAILURE(0x01) since it is in Diagnostics mode",
    ),
    TestStep("8a", "TH reads from the DUT the SupplyState attribute", "Value has to be 0x04 (DisabledDiagnostics)"),
    TestStep("9", TRIG + "EVSE Diagnostics Complete Event", "Verify DUT responds w/ status SUCCESS(0x00)"),
    TestStep("9a", "TH reads from the DUT the State attribute", "Value has to be 0x00 (NotPluggedIn)"),
    TestStep(
        "9b",
        "TH reads from the DUT the SupplyState attribute",
        "Value has to be 0x00 (Disabled) since the diagnostics have completed, the EVSE stays disabled",
    ),
    TestStep("10", TRIG + "Basic Functionality Test Event Clear", "Verify DUT responds w/ status SUCCESS(0x00)"),
]


async def test_tc_eevse_2_5(steps, evse, stimulus) -> None:
    steps.step("1")  # commissioned by the session fixture
    steps.step("2")
    assert await evse.triggers_enabled(), "TestEventTriggersEnabled is False: the DUT refuses test event triggers"

    steps.step("3")
    await apply_or_skip(steps, stimulus, Action.INSTALL)
    steps.step("3a")
    await check_attr(steps, evse, "State", State.kNotPluggedIn)
    steps.step("3b")
    await check_attr(steps, evse, "SupplyState", SupplyState.kDisabled)
    steps.step("3c")
    await check_attr(steps, evse, "FaultState", FaultState.kNoError)

    steps.step("4")
    await evse.enable_charging(None, 6000, 60000)
    steps.step("4a")
    await check_attr(steps, evse, "State", State.kNotPluggedIn)
    steps.step("4b")
    await check_attr(steps, evse, "SupplyState", SupplyState.kChargingEnabled)

    steps.step("5")
    exc = await evse.expect_status("FAILURE", evse.start_diagnostics())
    steps.note(f"StartDiagnostics while ChargingEnabled: {exc.status}")

    steps.step("6")
    await evse.disable()
    steps.step("6a")
    await check_attr(steps, evse, "State", State.kNotPluggedIn)
    steps.step("6b")
    await check_attr(steps, evse, "SupplyState", SupplyState.kDisabled)

    steps.step("7")
    await evse.start_diagnostics()
    steps.step("7a")
    await check_attr(steps, evse, "SupplyState", SupplyState.kDisabledDiagnostics)

    steps.step("8")
    exc = await evse.expect_status("FAILURE", evse.enable_charging(None, 6000, 60000))
    steps.note(f"EnableCharging in DisabledDiagnostics: {exc.status}")
    steps.step("8a")
    await check_attr(steps, evse, "SupplyState", SupplyState.kDisabledDiagnostics)

    steps.step("9")
    if await apply_or_skip(steps, stimulus, Action.DIAGNOSTICS_COMPLETE):
        steps.step("9a")
        await check_attr(steps, evse, "State", State.kNotPluggedIn)
        steps.step("9b")
        await check_attr(steps, evse, "SupplyState", SupplyState.kDisabled)
    else:
        steps.skip("9a", "diagnostics could not be completed (step 9 skipped)")
        steps.skip("9b", "diagnostics could not be completed (step 9 skipped)")

    steps.step("10")
    await apply_or_skip(steps, stimulus, Action.UNINSTALL)
