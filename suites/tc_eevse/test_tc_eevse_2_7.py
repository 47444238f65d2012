"""TC-EEVSE-2.7: Optional SoCReporting feature functionality with DUT as Server.

With the EV's state of charge reported (SoC low 20 %, high 95 %, then unknown), checks StateOfCharge and
BatteryCapacity and, when ChargingPreferences is supported too, how the DUT plans the next charge from a target
(23:59, TargetSoC 80 %, AddedEnergy 25 kWh): SoC-based while the SoC is known (NextChargeRequiredEnergy null,
no start time once the SoC is above the target), AddedEnergy-based once it is not. Skipped (every step shown as
skipped) when the DUT's FeatureMap lacks SOC.
"""

from __future__ import annotations

import pytest

from rig.matter.eevse import ChargingTargetScheduleStruct, ChargingTargetStruct, State
from rig.steps import TestStep
from rig.stimulus import Action
from suites.tc_eevse.support import (
    TRIG,
    apply_or_skip,
    check_attr,
    check_next_charge_null,
    describe_epoch_s,
    expected_target_time_epoch_s,
    has_feature,
    require_feature,
)

pytestmark = [
    pytest.mark.tc("TC-EEVSE-2.7", "Optional SoCReporting feature functionality with DUT as Server"),
    pytest.mark.pics("EEVSE.S.F01"),
]

ENABLE = (
    "TH sends command EnableCharging with ChargingEnabledUntil=null, minimumChargeCurrent=6000, "
    "maximumChargeCurrent=60000"
)
DISABLED_NOTE = "\nNOTE: in this step, the EVSE is disabled so all information about future charging should be null."


def _read(step: str, name: str, expectation: str) -> TestStep:
    return TestStep(step, f"TH reads from the DUT the {name}", expectation)


def _null_steps(n: str) -> list[TestStep]:
    return [
        _read(f"{n}{s}", a, "Value has to be null.")
        for s, a in zip(
            "abcd",
            ("NextChargeStartTime", "NextChargeTargetTime", "NextChargeRequiredEnergy", "NextChargeTargetSoC"),
            strict=True,
        )
    ]


STEPS = [
    TestStep("1", "Commission DUT to TH (can be skipped if done in a preceding test)", is_commissioning=True),
    TestStep(
        "2",
        "TH reads from the DUT the FeatureMap",
        "Verify that the DUT response contains the FeatureMap attribute. Store the value as FeatureMap.",
    ),
    TestStep(
        "3", "TH reads TestEventTriggersEnabled attribute from General Diagnostics Cluster", "Value has to be 1 (True)"
    ),
    TestStep("4", "TH sends command Disable", "Verify DUT responds w/ status SUCCESS(0x00)"),
    TestStep("5", TRIG + "Basic Functionality Test Event", "Verify DUT responds w/ status SUCCESS(0x00)"),
    TestStep("6", "TH reads from the DUT the State", "Value has to be 0x00 (NotPluggedIn)"),
    TestStep(
        "7", TRIG + "EV Plugged-in Test Event", "Verify DUT responds w/ status SUCCESS(0x00) and event EVConnected sent"
    ),
    TestStep("8", TRIG + "EVSE Set SoC Low Test Event", "Verify DUT responds w/ status SUCCESS(0x00)"),
    _read("8a", "StateOfCharge", "Value has to be 20 % state of charge."),
    _read("8b", "BatteryCapacity", "Value has to be 70,000,000 (70kWh)."),
    TestStep("9", "If ChargingPreferences feature is not supported, skip all remaining test steps."),
    TestStep("10", "TH sends command ClearTargets", "Verify DUT responds w/ status SUCCESS(0x00)"),
    *_null_steps("10"),
    TestStep(
        "11",
        "TH sends command SetTargets with DayOfTheWeekforSequence=0x7F (i.e. having all days set) and a "
        "single ChargingTargets={TargetTimeMinutesPastMidnight=1439, TargetSoC=80, AddedEnergy=25000000}. "
        "Store TargetTimeMinutesPastMidnight converted from local timezone into Matter EPOCH in UTC as "
        "TargetTime, TargetSoC as TargetSoC, and AddedEnergy as AddedEnergy.",
        "Verify DUT responds w/ status SUCCESS(0x00)",
    ),
    *_null_steps("11"),
    TestStep(
        "12",
        ENABLE,
        "Verify DUT responds w/ status SUCCESS(0x00)\nNOTE: in this step, the vehicle has provided StateOfCharge "
        "of 20%, and the TargetSoC is 80%, so the EVSE will attempt to charge the vehicle to 80% "
        "NextChargeTargetSoC. NextChargeStartTime and NextChargeTargetTime should be non null values. "
        "NextChargeRequiredEnergy should be null to indicate StateOfCharge based charging.",
    ),
    _read("12a", "NextChargeStartTime", "Value has to be less than the value of TargetTime."),
    _read("12b", "NextChargeTargetTime", "Value has to be equal to the value of TargetTime."),
    _read("12c", "NextChargeRequiredEnergy", "Value has to be null."),
    _read("12d", "NextChargeTargetSoC", "Value has to be equal to the value of TargetSoC."),
    TestStep("13", "TH sends command Disable", "Verify DUT responds w/ status SUCCESS(0x00)" + DISABLED_NOTE),
    *_null_steps("13"),
    TestStep("14", TRIG + "EVSE Set SoC High Test Event", "Verify DUT responds w/ status SUCCESS(0x00)"),
    _read("14a", "StateOfCharge", "Value has to be 95 % state of charge."),
    _read("14b", "BatteryCapacity", "Value has to be 70,000,000 (70kWh)."),
    TestStep(
        "15",
        ENABLE,
        "Verify DUT responds w/ status SUCCESS(0x00)\nNOTE: in this step, the vehicle has provided StateOfCharge "
        "of 95%, and the TargetSoC is 80%, so the EVSE will NOT attempt to charge the vehicle. "
        "NextChargeTargetSoC and NextChargeTargetTime should be non null to indicate to the user that the "
        "preference is recorded. NextChargeStartTime should be null to indicate it is not going to charge. "
        "NextChargeRequiredEnergy should be null to indicate StateOfCharge based charging.",
    ),
    _read("15a", "NextChargeStartTime", "Value has to be null."),
    _read("15b", "NextChargeTargetTime", "Value has to be equal to the value of TargetTime."),
    _read("15c", "NextChargeRequiredEnergy", "Value has to be null."),
    _read("15d", "NextChargeTargetSoC", "Value has to be equal to the value of TargetSoC."),
    TestStep("16", "TH sends command Disable", "Verify DUT responds w/ status SUCCESS(0x00)" + DISABLED_NOTE),
    *_null_steps("16"),
    TestStep("17", TRIG + "EVSE Set SoC Clear Test Event", "Verify DUT responds w/ status SUCCESS(0x00)"),
    _read("17a", "StateOfCharge", "Value has to be null."),
    _read("17b", "BatteryCapacity", "Value has to be null."),
    TestStep(
        "18",
        ENABLE,
        "Verify DUT responds w/ status SUCCESS(0x00)\nNOTE: in this step, the vehicle has NOT provided "
        "StateOfCharge so the EVSE will fallback to using AddedEnergy to attempt to charge the vehicle. "
        "NextChargeTargetTime and NextChargeRequiredEnergy should be the values from step 11 above. "
        "NextChargeStartTime should be non null to indicate it is going to charge in the future. "
        "NextChargeRequiredEnergy should be non null to indicate AddedEnergy based charging and "
        "NextChargeTargetSoC should be null.",
    ),
    _read("18a", "NextChargeStartTime", "Value has to be less than the value of TargetTime."),
    _read("18b", "NextChargeTargetTime", "Value has to be equal to the value of TargetTime."),
    TestStep(
        "18c",
        "TH reads from the DUT the NextChargeRequiredEnergy",
        "Value has to be equal to the value of AddedEnergy.",
    ),
    _read("18d", "NextChargeTargetSoC", "Value has to be null."),
]

TARGET_MINUTES = 1439  # 23:59 local time
TARGET_SOC = 80
ADDED_ENERGY_MWH = 25_000_000
BATTERY_CAPACITY_MWH = 70_000_000


async def _check_start_before(steps, evse, target_time: int) -> None:
    value = await evse.read("NextChargeStartTime")
    steps.note(f"NextChargeStartTime = {describe_epoch_s(value)}; TargetTime = {describe_epoch_s(target_time)}")
    if value is None or not isinstance(value, int):
        raise AssertionError(f"NextChargeStartTime: expected a time before TargetTime, read {value!r}")
    steps.measure("NextChargeStartTime", value, "s (Matter epoch)", high=target_time - 1)


async def test_tc_eevse_2_7(steps, evse, evse_events, stimulus) -> None:
    events = evse_events
    t_event = evse.event_timeout_s

    steps.step("1")  # commissioned by the session fixture; evse_events is the case's event subscription
    steps.step("2")
    feature_map = await require_feature(steps, evse, "SOC")
    steps.note(f"FeatureMap = 0x{feature_map:x}")
    steps.step("3")
    assert await evse.triggers_enabled(), "TestEventTriggersEnabled is False: the DUT refuses test event triggers"

    steps.step("4")
    await evse.disable()
    steps.step("5")
    if not await apply_or_skip(steps, stimulus, Action.INSTALL):
        steps.skip_remaining("needs the installation stimulus of step 5")
        return
    steps.step("6")
    await check_attr(steps, evse, "State", State.kNotPluggedIn)

    steps.step("7")
    if not await apply_or_skip(steps, stimulus, Action.PLUG_IN):
        steps.skip_remaining("needs the plug-in stimulus of step 7")
        return
    ev = await events.next("EVConnected", t_event)
    steps.note(ev.summary())

    steps.step("8")
    if not await apply_or_skip(steps, stimulus, Action.SOC_LOW):
        steps.skip_remaining("needs the SoC stimulus of step 8")
        return
    steps.step("8a")
    await check_attr(steps, evse, "StateOfCharge", 20)
    steps.step("8b")
    await check_attr(steps, evse, "BatteryCapacity", BATTERY_CAPACITY_MWH)

    steps.step("9")
    if not has_feature(feature_map, "PREF"):
        steps.note("ChargingPreferences not supported: the remaining steps are skipped")
        steps.skip_remaining("ChargingPreferences (PREF) is not in the DUT's FeatureMap")
        return

    steps.step("10")
    await evse.clear_targets()
    await check_next_charge_null(steps, evse, "10")

    steps.step("11")
    target_time = expected_target_time_epoch_s(TARGET_MINUTES)
    steps.note(f"TargetTime = {describe_epoch_s(target_time)}")
    await evse.set_targets(
        [
            ChargingTargetScheduleStruct(
                dayOfWeekForSequence=0x7F,
                chargingTargets=[
                    ChargingTargetStruct(
                        targetTimeMinutesPastMidnight=TARGET_MINUTES, targetSoC=TARGET_SOC, addedEnergy=ADDED_ENERGY_MWH
                    )
                ],
            )
        ]
    )
    await check_next_charge_null(steps, evse, "11")  # SupplyState is still Disabled

    steps.step("12")
    await evse.enable_charging(None, 6000, 60000)
    steps.step("12a")
    await _check_start_before(steps, evse, target_time)
    steps.step("12b")
    await check_attr(steps, evse, "NextChargeTargetTime", target_time)
    steps.step("12c")
    await check_attr(steps, evse, "NextChargeRequiredEnergy", None)
    steps.step("12d")
    await check_attr(steps, evse, "NextChargeTargetSoC", TARGET_SOC)

    steps.step("13")
    await evse.disable()
    await check_next_charge_null(steps, evse, "13")

    steps.step("14")
    if not await apply_or_skip(steps, stimulus, Action.SOC_HIGH):
        steps.skip_remaining("needs the SoC stimulus of step 14")
        return
    steps.step("14a")
    await check_attr(steps, evse, "StateOfCharge", 95)
    steps.step("14b")
    await check_attr(steps, evse, "BatteryCapacity", BATTERY_CAPACITY_MWH)

    steps.step("15")
    await evse.enable_charging(None, 6000, 60000)
    steps.step("15a")
    await check_attr(steps, evse, "NextChargeStartTime", None)
    steps.step("15b")
    await check_attr(steps, evse, "NextChargeTargetTime", target_time)
    steps.step("15c")
    await check_attr(steps, evse, "NextChargeRequiredEnergy", None)
    steps.step("15d")
    await check_attr(steps, evse, "NextChargeTargetSoC", TARGET_SOC)

    steps.step("16")
    await evse.disable()
    await check_next_charge_null(steps, evse, "16")

    steps.step("17")
    if not await apply_or_skip(steps, stimulus, Action.SOC_CLEAR):
        steps.skip_remaining("needs the SoC stimulus of step 17")
        return
    steps.step("17a")
    await check_attr(steps, evse, "StateOfCharge", None)
    steps.step("17b")
    await check_attr(steps, evse, "BatteryCapacity", None)

    steps.step("18")
    await evse.enable_charging(None, 6000, 60000)
    steps.step("18a")
    await _check_start_before(steps, evse, target_time)
    steps.step("18b")
    await check_attr(steps, evse, "NextChargeTargetTime", target_time)
    steps.step("18c")
    await check_attr(steps, evse, "NextChargeRequiredEnergy", ADDED_ENERGY_MWH)
    steps.step("18d")
    await check_attr(steps, evse, "NextChargeTargetSoC", None)
