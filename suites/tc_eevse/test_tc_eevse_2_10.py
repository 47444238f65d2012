"""TC-EEVSE-2.10: Optional V2X feature functionality with DUT as Server.

Enables charging for 15 s and discharging for 5 s (SupplyState Enabled), starts a transfer, and checks that each
window's expiry disables its side: after the discharging window SupplyState is ChargingEnabled with the discharge
side zeroed; at the end of the charging window the DUT stops the transfer (EnergyTransferStopped, reason
EVSEStopped: "a value in the past disables charging") and is Disabled. Then discharging alone (DischargingEnabled),
Disable, unplug. Events are strict: EVConnected, EnergyTransferStarted, EnergyTransferStopped(EVSEStopped),
EVNotDetected.

Timing: this is the newer variant of the plan (15 s / 5 s windows). Its "wait 7 s" / "wait 10 s" are waits for what
each window produces: SupplyState leaving Enabled, and the EnergyTransferStopped event, each bounded by the window's
end plus EXPIRY_MARGIN_S. The plan's newer script expects the EnergyTransferStopped at step 12 (Disable); per the
spec the transfer already stopped at the charging window's expiry (step 10), so the Disable of step 12, in
PluggedInDemand, stops nothing and the next event must be EVNotDetected.
"""

from __future__ import annotations

import time

import pytest

from rig.matter.eevse import (
    MATTER_EPOCH_OFFSET_S,
    FaultState,
    State,
    StoppedReason,
    SupplyState,
    matter_epoch_s,
)
from rig.steps import TestStep
from rig.stimulus import Action
from suites.tc_eevse.support import (
    TRIG,
    apply_or_skip,
    check_at_expiry,
    check_attr,
    check_attr_within,
    check_event,
    describe_epoch_s,
    require_feature,
)

pytestmark = [
    pytest.mark.tc("TC-EEVSE-2.10", "Optional V2X feature functionality with DUT as Server"),
    pytest.mark.pics("EEVSE.S", "EEVSE.S.F04"),
]


MIN_CHARGE_CC = "Value has to be the minimum value of MaximumChargeCurrent and CircuitCapacity"


def _read(step: str, name: str, expectation: str) -> TestStep:
    return TestStep(step, f"TH reads from the DUT the {name}", expectation)


STEPS = [
    TestStep("1", "Commissioning, already done", is_commissioning=True),
    TestStep("1a", "Set up a subscription to all EnergyEVSE cluster events"),
    TestStep(
        "2", "TH reads TestEventTriggersEnabled attribute from General Diagnostics Cluster", "Value has to be 1 (True)"
    ),
    TestStep("3", TRIG + "Basic Functionality Test Event", "Verify DUT responds w/ status SUCCESS(0x00)"),
    TestStep("3a", "After a few seconds TH reads from the DUT the State", "Value has to be 0x00 (NotPluggedIn)"),
    _read("3b", "SupplyState", "Value has to be 0x00 (Disabled)"),
    _read("3c", "FaultState", "Value has to be 0x00 (NoError)"),
    TestStep(
        "4", TRIG + "EV Plugged-in Test Event", "Verify DUT responds w/ status SUCCESS(0x00) and event EVConnected sent"
    ),
    _read("4a", "State", "Value has to be 0x01 (PluggedInNoDemand)"),
    TestStep(
        "5",
        "TH sends command EnableCharging with ChargingEnabledUntil=15 seconds in the future, "
        "MinimumChargeCurrent=6000, MaximumChargeCurrent=60000. Store the ChargingEnabledUntil into Matter "
        "EPOCH in UTC as ChargingEnabledUntilEpochTime, MinimumChargeCurrent as MinimumChargeCurrent and "
        "MaximumChargeCurrent as MaximumChargeCurrent",
        "Verify DUT responds w/ status SUCCESS(0x00)",
    ),
    _read("6a", "SupplyState", "Value has to be 0x01 (ChargingEnabled)"),
    TestStep(
        "7",
        "TH sends command EnableDischarging with DischargingEnabledUntil=5 seconds in the future, "
        "MaximumDischargeCurrent=32000. Store the DischargingEnabledUntil into Matter EPOCH in UTC as "
        "DischargingEnabledUntilEpochTime, MaximumDischargeCurrent as MaximumDischargeCurrent",
        "Verify DUT responds w/ status SUCCESS(0x00)",
    ),
    _read("7a", "SupplyState", "Value has to be 0x05 (Enabled)"),
    _read("7b", "ChargingEnabledUntil", "Value has to be equal to the value of ChargingEnabledUntilEpochTime"),
    _read("7c", "MinimumChargeCurrent", "Value has to be equal to the value of MinimumChargeCurrent"),
    _read("7d", "CircuitCapacity", "Store the value as CircuitCapacity"),
    _read("7e", "MaximumChargeCurrent", MIN_CHARGE_CC),
    _read("7f", "DischargingEnabledUntil", "Value has to be equal to the value of DischargingEnabledUntilEpochTime"),
    _read(
        "7g",
        "MaximumDischargeCurrent",
        "Value has to be the minimum value of MaximumDischargeCurrent and CircuitCapacity",
    ),
    TestStep(
        "8",
        TRIG + "EV Charge Demand Test Event",
        "Verify DUT responds w/ status SUCCESS(0x00) and event EnergyTransferStarted sent containing "
        "MaximumCurrent with MaximumChargeCurrent value determined in step 7e, and MaximumDischargeCurrent "
        "having the MaximumDischargeCurrent as determined in step 7g.",
    ),
    TestStep(
        "9",
        "Wait 7 seconds (until the DischargingEnabledUntil time has passed)",
        "SupplyState leaves 0x05 (Enabled) once DischargingEnabledUntilEpochTime has passed",
    ),
    _read("9a", "SupplyState", "Value has to be 0x01 (ChargingEnabled)"),
    _read("9b", "ChargingEnabledUntil", "Value has to be equal to the value of ChargingEnabledUntilEpochTime"),
    _read("9c", "MinimumChargeCurrent", "Value has to be equal to the value of MinimumChargeCurrent"),
    _read("9d", "MaximumChargeCurrent", MIN_CHARGE_CC),
    _read("9e", "DischargingEnabledUntil", "Value has to be 0"),
    _read("9f", "MaximumDischargeCurrent", "Value has to be 0"),
    TestStep(
        "10",
        "Wait 10 seconds (until the ChargingEnabledUntil time has passed)",
        "Verify Event EEVSE.S.E03(EnergyTransferStopped) sent with reason EVSEStopped when "
        "ChargingEnabledUntilEpochTime has passed (the expiry disables charging and stops the transfer)",
    ),
    _read("10a", "SupplyState", "Value has to be 0x00 (Disabled)"),
    _read("10b", "ChargingEnabledUntil", "Value has to be 0"),
    _read("10c", "MinimumChargeCurrent", "Value has to be 0"),
    _read("10d", "MaximumChargeCurrent", "Value has to be 0"),
    TestStep(
        "11",
        "TH sends command EnableDischarging with DischargingEnabledUntil=null, "
        "maximumDischargeCurrent=12000. Store MaximumDischargeCurrent as MaximumDischargeCurrent",
        "Verify DUT responds w/ status SUCCESS(0x00)",
    ),
    _read("11a", "SupplyState", "Value has to be 0x02 (DischargingEnabled)"),
    _read("11b", "ChargingEnabledUntil", "Value has to be 0"),
    _read("11c", "MinimumChargeCurrent", "Value has to be 0"),
    _read("11d", "MaximumChargeCurrent", "Value has to be 0"),
    _read("11e", "DischargingEnabledUntil", "Value has to be null"),
    _read(
        "11f", "MaximumDischargeCurrent", "Value has to be minimum value of MaximumDischargeCurrent and CircuitCapacity"
    ),
    TestStep(
        "12",
        "TH sends command Disable",
        "Verify DUT responds w/ status SUCCESS(0x00); no EnergyTransferStopped is due (the transfer stopped at "
        "the expiry in step 10; checked by the strict event order of step 13)",
    ),
    _read("12a", "SupplyState", "Value has to be 0x00 (Disabled)"),
    _read("12b", "ChargingEnabledUntil", "Value has to be 0"),
    _read("12c", "MinimumChargeCurrent", "Value has to be 0"),
    _read("12d", "MaximumChargeCurrent", "Value has to be 0"),
    _read("12e", "DischargingEnabledUntil", "Value has to be 0"),
    _read("12f", "MaximumDischargeCurrent", "Value has to be 0"),
    TestStep(
        "13",
        TRIG + "EV Plugged-in Test Event Clear",
        "Verify DUT responds w/ status SUCCESS(0x00) and event EVNotDetected sent",
    ),
    TestStep("14", TRIG + "Basic Functionality Test Event Clear", "Verify DUT responds w/ status SUCCESS(0x00)"),
]

CHARGING_WINDOW_S = 15  # the plan's ChargingEnabledUntil (newer variant)
DISCHARGING_WINDOW_S = 5  # the plan's DischargingEnabledUntil
EXPIRY_MARGIN_S = 3.0  # how long after a window's end its effect may take (whole-second epoch + timer + report)


def _remaining_s(until_epoch_s: int) -> float:
    """Seconds until the Matter-epoch time ``until_epoch_s`` (0 if already past)."""
    return max(until_epoch_s + MATTER_EPOCH_OFFSET_S - time.time(), 0.0)


async def test_tc_eevse_2_10(steps, evse, evse_events, stimulus) -> None:
    t_event = evse.event_timeout_s

    steps.step("1")  # commissioned by the session fixture
    await require_feature(steps, evse, "V2X")
    steps.step("1a")
    events = evse_events
    steps.step("2")
    assert await evse.triggers_enabled(), "TestEventTriggersEnabled is False: the DUT refuses test event triggers"

    steps.step("3")
    if not await apply_or_skip(steps, stimulus, Action.INSTALL):
        steps.skip_remaining("needs the installation stimulus of step 3")
        return
    steps.step("3a")
    await check_attr(steps, evse, "State", State.kNotPluggedIn)
    steps.step("3b")
    await check_attr(steps, evse, "SupplyState", SupplyState.kDisabled)
    steps.step("3c")
    await check_attr(steps, evse, "FaultState", FaultState.kNoError)

    steps.step("4")
    if not await apply_or_skip(steps, stimulus, Action.PLUG_IN):
        steps.skip_remaining("needs the plug-in stimulus of step 4")
        return
    ev = await events.next("EVConnected", t_event)
    steps.note(ev.summary())
    session_id = ev.data.sessionID
    steps.step("4a")
    await check_attr(steps, evse, "State", State.kPluggedInNoDemand)

    steps.step("5")
    min_charge, max_charge = 6000, 60000
    charging_until = matter_epoch_s() + CHARGING_WINDOW_S
    steps.note(f"ChargingEnabledUntilEpochTime = {describe_epoch_s(charging_until)}")
    await evse.enable_charging(charging_until, min_charge, max_charge)
    steps.step("6a")
    await check_attr(steps, evse, "SupplyState", SupplyState.kChargingEnabled)

    steps.step("7")
    max_discharge = 32000
    discharging_until = matter_epoch_s() + DISCHARGING_WINDOW_S
    steps.note(f"DischargingEnabledUntilEpochTime = {describe_epoch_s(discharging_until)}")
    await evse.enable_discharging(discharging_until, max_discharge)
    steps.step("7a")
    await check_attr(steps, evse, "SupplyState", SupplyState.kEnabled)
    steps.step("7b")
    await check_attr(steps, evse, "ChargingEnabledUntil", charging_until)
    steps.step("7c")
    await check_attr(steps, evse, "MinimumChargeCurrent", min_charge)
    steps.step("7d")
    circuit_capacity = await evse.read("CircuitCapacity")
    steps.note(f"CircuitCapacity = {circuit_capacity}")
    if isinstance(circuit_capacity, bool) or not isinstance(circuit_capacity, int):
        raise AssertionError(f"CircuitCapacity: expected an integer, read {circuit_capacity!r}")
    steps.step("7e")
    expected_max_charge = min(max_charge, circuit_capacity)
    await check_attr(steps, evse, "MaximumChargeCurrent", expected_max_charge)
    steps.step("7f")
    await check_attr(steps, evse, "DischargingEnabledUntil", discharging_until)
    steps.step("7g")
    expected_max_discharge = min(max_discharge, circuit_capacity)
    await check_attr(steps, evse, "MaximumDischargeCurrent", expected_max_discharge)

    steps.step("8")
    if not await apply_or_skip(steps, stimulus, Action.DEMAND):
        steps.skip_remaining("needs the charge-demand stimulus of step 8")
        return
    ev = await events.next("EnergyTransferStarted", t_event)
    check_event(
        steps,
        ev,
        sessionID=session_id,
        state=State.kPluggedInCharging,
        maximumCurrent=expected_max_charge,
        maximumDischargeCurrent=expected_max_discharge,
    )

    steps.step("9")
    # The plan's 7 s wait is for the discharging window to pass: wait for its effect, bounded by window + margin.
    await check_attr_within(
        steps, evse, "SupplyState", SupplyState.kChargingEnabled, _remaining_s(discharging_until) + EXPIRY_MARGIN_S
    )
    check_at_expiry(steps, "SupplyState ChargingEnabled", time.time(), discharging_until, EXPIRY_MARGIN_S)
    steps.step("9a")
    await check_attr(steps, evse, "SupplyState", SupplyState.kChargingEnabled)
    steps.step("9b")
    await check_attr(steps, evse, "ChargingEnabledUntil", charging_until)
    steps.step("9c")
    await check_attr(steps, evse, "MinimumChargeCurrent", min_charge)
    steps.step("9d")
    await check_attr(steps, evse, "MaximumChargeCurrent", expected_max_charge)
    steps.step("9e")
    await check_attr(steps, evse, "DischargingEnabledUntil", 0)
    steps.step("9f")
    await check_attr(steps, evse, "MaximumDischargeCurrent", 0)

    steps.step("10")
    # Strict: the next event after EnergyTransferStarted must be this one, produced by the charging window's end.
    ev = await events.next("EnergyTransferStopped", _remaining_s(charging_until) + EXPIRY_MARGIN_S)
    check_event(steps, ev, sessionID=session_id, state=State.kPluggedInCharging, reason=StoppedReason.kEVSEStopped)
    check_at_expiry(steps, "EnergyTransferStopped", ev.received_at, charging_until, EXPIRY_MARGIN_S)
    steps.step("10a")
    await check_attr(steps, evse, "SupplyState", SupplyState.kDisabled)
    steps.step("10b")
    await check_attr(steps, evse, "ChargingEnabledUntil", 0)
    steps.step("10c")
    await check_attr(steps, evse, "MinimumChargeCurrent", 0)
    steps.step("10d")
    await check_attr(steps, evse, "MaximumChargeCurrent", 0)

    steps.step("11")
    max_discharge = 12000
    await evse.enable_discharging(None, max_discharge)
    steps.step("11a")
    await check_attr(steps, evse, "SupplyState", SupplyState.kDischargingEnabled)
    steps.step("11b")
    await check_attr(steps, evse, "ChargingEnabledUntil", 0)
    steps.step("11c")
    await check_attr(steps, evse, "MinimumChargeCurrent", 0)
    steps.step("11d")
    await check_attr(steps, evse, "MaximumChargeCurrent", 0)
    steps.step("11e")
    await check_attr(steps, evse, "DischargingEnabledUntil", None)
    steps.step("11f")
    await check_attr(steps, evse, "MaximumDischargeCurrent", min(max_discharge, circuit_capacity))

    steps.step("12")
    await evse.disable()
    steps.step("12a")
    await check_attr(steps, evse, "SupplyState", SupplyState.kDisabled)
    steps.step("12b")
    await check_attr(steps, evse, "ChargingEnabledUntil", 0)
    steps.step("12c")
    await check_attr(steps, evse, "MinimumChargeCurrent", 0)
    steps.step("12d")
    await check_attr(steps, evse, "MaximumChargeCurrent", 0)
    steps.step("12e")
    await check_attr(steps, evse, "DischargingEnabledUntil", 0)
    steps.step("12f")
    await check_attr(steps, evse, "MaximumDischargeCurrent", 0)

    steps.step("13")
    if not await apply_or_skip(steps, stimulus, Action.UNPLUG):
        steps.skip_remaining("needs the unplug stimulus of step 13")
        return
    ev = await events.next("EVNotDetected", t_event)
    check_event(steps, ev, sessionID=session_id)

    steps.step("14")
    await apply_or_skip(steps, stimulus, Action.UNINSTALL)
