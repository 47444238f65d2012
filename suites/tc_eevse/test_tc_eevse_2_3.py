"""TC-EEVSE-2.3: Optional ChargingPreferences feature functionality with DUT as Server (test plan 5.1.4).

SoC-aware flow of the plan: with SoCReporting in the FeatureMap a target without TargetSoC is an invalid
command (step 8 INVALID_COMMAND, steps 8a-8d and 9a-10 skipped). Checks ClearTargets/GetTargets/SetTargets,
the NextCharge* attributes against the TH's local time (TargetTime = next local occurrence as Matter epoch),
the merge of schedules per day (step 15: 0x3E, 0x40, 0x01 in that order), CONSTRAINT_ERROR for a day in two
schedules and RESOURCE_EXHAUSTED for 11 targets a day.
"""

from __future__ import annotations

import pytest

from rig.ledger import Cause
from rig.matter.eevse import ChargingTargetScheduleStruct, ChargingTargetStruct, State, is_null
from rig.steps import TestStep
from rig.stimulus import Action
from suites.tc_eevse.support import (
    TRIG,
    apply_or_skip,
    check_attr,
    check_event,
    check_next_charge_null,
    check_schedules,
    describe_epoch_s,
    expected_target_time_epoch_s,
    feature_codes,
    has_feature,
    session_ledger,
)

pytestmark = [
    pytest.mark.tc("TC-EEVSE-2.3", "Optional ChargingPreferences feature functionality with DUT as Server"),
    pytest.mark.pics("EEVSE.S", "EEVSE.S.F00"),
]

NULL = "Value has to be null."
STEPS = [
    TestStep("1", "Commission DUT to TH (can be skipped if done in a preceding test)", is_commissioning=True),
    TestStep(
        "1a",
        "TH reads from the DUT the FeatureMap",
        "Verify that the DUT response contains the FeatureMap attribute. Store the value as FeatureMap.",
    ),
    TestStep(
        "2", "TH reads TestEventTriggersEnabled attribute from General Diagnostics Cluster", "Value has to be 1 (True)"
    ),
    TestStep("3", TRIG + "Basic Functionality Test Event", "Verify DUT responds w/ status SUCCESS(0x00)"),
    TestStep("4", TRIG + "EVSE TimeOfUse Mode Test Event", "Verify DUT responds w/ status SUCCESS(0x00)"),
    TestStep(
        "5", TRIG + "EV Plugged-in Test Event", "Verify DUT responds w/ status SUCCESS(0x00) and event EVConnected sent"
    ),
    TestStep("6", "TH sends command ClearTargets", "Verify DUT responds w/ status SUCCESS(0x00)"),
    TestStep("6a", "TH reads from the DUT the NextChargeStartTime", NULL),
    TestStep("6b", "TH reads from the DUT the NextChargeTargetTime", NULL),
    TestStep("6c", "TH reads from the DUT the NextChargeRequiredEnergy", NULL),
    TestStep("6d", "TH reads from the DUT the NextChargeTargetSoC", NULL),
    TestStep(
        "7", "TH sends command GetTargets", "Response EEVSE.S.C00.Tx(GetTargetsResponse) sent with no targets defined."
    ),
    TestStep(
        "8",
        "TH sends command SetTargets with DayOfTheWeekforSequence=0x7F (i.e. having all days set) and a "
        "single ChargingTargets={TargetTimeMinutesPastMidnight=1439, TargetSoC=null, "
        "AddedEnergy=25000000}. Store TargetTimeMinutesPastMidnight converted from local timezone into "
        "Matter EPOCH in UTC as TargetTime, TargetSoC as TargetSoC, and AddedEnergy as AddedEnergy.",
        "If SoCReporting feature is in FeatureMap, Verify DUT responds w/ status INVALID_COMMAND(0x85) and "
        "skip to step 9, otherwise Verify DUT responds w/ status SUCCESS(0x00)",
    ),
    TestStep("8a", "TH reads from the DUT the NextChargeStartTime", NULL),
    TestStep("8b", "TH reads from the DUT the NextChargeTargetTime", NULL),
    TestStep("8c", "TH reads from the DUT the NextChargeRequiredEnergy", NULL),
    TestStep("8d", "TH reads from the DUT the NextChargeTargetSoC", NULL),
    TestStep(
        "9",
        "TH sends command EnableCharging with ChargingEnabledUntil=null, minimumChargeCurrent=6000, "
        "maximumChargeCurrent=60000",
        "Verify DUT responds w/ status SUCCESS(0x00)",
    ),
    TestStep(
        "9a",
        "If SoCReporting feature is in FeatureMap skip to step 11, otherwise TH reads from the DUT the "
        "NextChargeStartTime",
        "Value has to be before the next TargetTime above.",
    ),
    TestStep("9b", "TH reads from the DUT the NextChargeTargetTime", "Value has to be TargetTime above."),
    TestStep("9c", "TH reads from the DUT the NextChargeRequiredEnergy", "Value has to be AddedEnergy above."),
    TestStep("9d", "TH reads from the DUT the NextChargeTargetSoC", NULL),
    TestStep(
        "10",
        "TH sends command GetTargets",
        "Response EEVSE.S.C00.Tx(GetTargetsResponse) sent with targets equivalent to the above (Note 1).",
    ),
    TestStep(
        "11",
        "TH sends command SetTargets with DayOfTheWeekforSequence=0x7F (i.e. having all days set) and a "
        "single ChargingTargets={TargetTimeMinutesPastMidnight=1, TargetSoC=100, AddedEnergy=null}. "
        "Store TargetTimeMinutesPastMidnight converted from local timezone into Matter EPOCH in UTC as "
        "TargetTime, TargetSoC as TargetSoC, and AddedEnergy as AddedEnergy.",
        "Verify DUT responds w/ status SUCCESS(0x00)",
    ),
    TestStep(
        "11a", "TH reads from the DUT the NextChargeStartTime", "Value has to be before the next TargetTime above."
    ),
    TestStep("11b", "TH reads from the DUT the NextChargeTargetTime", "Value has to be TargetTime above."),
    TestStep("11c", "TH reads from the DUT the NextChargeRequiredEnergy", NULL),
    TestStep("11d", "TH reads from the DUT the NextChargeTargetSoC", "Value has to be 100."),
    TestStep(
        "12",
        "TH sends command GetTargets",
        "Response EEVSE.S.C00.Tx(GetTargetsResponse) sent with targets equivalent to the above (Note 1).",
    ),
    # The plan's text says AddedEnergy=2500000; its script sends 25000000 (25 kWh), as here.
    TestStep(
        "13",
        "TH sends command SetTargets with DayOfTheWeekforSequence=0x40 (i.e. having Saturday set) and 10 "
        "ChargingTargets with TargetTimeMinutesPastMidnight=60,180,300,420,540,660,780,900,1020,1140 and "
        "all with TargetSoC=100, AddedEnergy=25000000",
        "Verify DUT responds w/ status SUCCESS(0x00)",
    ),
    TestStep(
        "14",
        "TH sends command SetTargets with DayOfTheWeekforSequence=0x01 (i.e. having Sunday set) and no ChargingTargets",
        "Verify DUT responds w/ status SUCCESS(0x00)",
    ),
    TestStep(
        "15",
        "TH sends command GetTargets",
        "Response EEVSE.S.C00.Tx(GetTargetsResponse) sent with 1 target for each day Monday to Friday "
        "equivalent to step 11 (Note 1), 10 targets for Saturday as step 13, and no targets for Sunday as "
        "step 14.",
    ),
    TestStep("16", "TH sends command ClearTargets", "Verify DUT responds w/ status SUCCESS(0x00)"),
    TestStep("16a", "TH reads from the DUT the NextChargeStartTime", NULL),
    TestStep("16b", "TH reads from the DUT the NextChargeTargetTime", NULL),
    TestStep("16c", "TH reads from the DUT the NextChargeRequiredEnergy", NULL),
    TestStep("16d", "TH reads from the DUT the NextChargeTargetSoC", NULL),
    TestStep(
        "17", "TH sends command GetTargets", "Response EEVSE.S.C00.Tx(GetTargetsResponse) sent with no targets defined."
    ),
    TestStep(
        "18",
        "TH sends command SetTargets with two identical ChargingTargetSchedules="
        "{DayOfTheWeekforSequence=0x01,ChargingTarget[0]={TargetTimeMinutesPastMidnight=60,TargetSoC=100,"
        "AddedEnergy=25000000}}",
        "Verify DUT responds w/ status CONSTRAINT_ERROR(0x87)",
    ),
    TestStep(
        "19",
        "TH sends command SetTargets with DayOfTheWeekforSequence=0x40 and 11 ChargingTargets with "
        "TargetTimeMinutesPastMidnight=60,180,300,420,540,660,780,900,1020,1140,1260 and all with "
        "TargetSoC=100, AddedEnergy=25000000",
        "Verify DUT responds w/ status RESOURCE_EXHAUSTED(0x89)",
    ),
    TestStep(
        "20",
        TRIG + "EV Plugged-in Test Event Clear",
        "Verify DUT responds w/ status SUCCESS(0x00) and event EVNotDetected sent",
    ),
    TestStep("21", TRIG + "Basic Functionality Test Event Clear", "Verify DUT responds w/ status SUCCESS(0x00)"),
    TestStep("22", TRIG + "EVSE TimeOfUse Mode Test Event Clear", "Verify DUT responds w/ status SUCCESS(0x00)"),
]

ADDED_ENERGY_MWH = 25_000_000  # 25 kWh
SATURDAY, SUNDAY, ALL_DAYS, MONDAY_TO_FRIDAY = 0x40, 0x01, 0x7F, 0x3E
TEN_TARGET_TIMES = (60, 180, 300, 420, 540, 660, 780, 900, 1020, 1140)
SOC_SKIP_8 = (
    "SoCReporting is in the FeatureMap: TargetSoC is mandatory, so step 8 (TargetSoC omitted) returns "
    "INVALID_COMMAND and the plan skips to step 9"
)
SOC_SKIP_9 = "SoCReporting is in the FeatureMap: step 8 set no targets, so the plan skips to step 11"


def schedule(days: int, *targets: ChargingTargetStruct) -> ChargingTargetScheduleStruct:
    """One ChargingTargetScheduleStruct."""
    return ChargingTargetScheduleStruct(dayOfWeekForSequence=days, chargingTargets=list(targets))


def soc_targets(times: tuple[int, ...]) -> list[ChargingTargetStruct]:
    """Targets at ``times`` with TargetSoC=100 and AddedEnergy=25 kWh (steps 13, 18, 19)."""
    return [
        ChargingTargetStruct(targetTimeMinutesPastMidnight=t, targetSoC=100, addedEnergy=ADDED_ENERGY_MWH)
        for t in times
    ]


async def test_tc_eevse_2_3(steps, evse, evse_events, stimulus, bench, rig_config) -> None:
    # The session's events are also cross-checked against the rig's clock and meter (rig/ledger.py).
    ledger = session_ledger(steps, evse, bench, rig_config)
    events = evse_events
    t_event = evse.event_timeout_s

    steps.step("1")  # commissioned by the session fixture
    steps.step("1a")
    feature_map = await evse.feature_map()
    soc_supported = has_feature(feature_map, "SOC")
    steps.note(f"FeatureMap = 0x{feature_map:X}: {', '.join(feature_codes(feature_map))}")
    if not has_feature(feature_map, "PREF"):
        raise AssertionError("ChargingPreferences (PREF) is not in the FeatureMap: mandatory in revision 3")

    steps.step("2")
    assert await evse.triggers_enabled(), "TestEventTriggersEnabled is False: the DUT refuses test event triggers"

    steps.step("3")
    await apply_or_skip(steps, stimulus, Action.INSTALL)
    steps.step("4")
    await apply_or_skip(steps, stimulus, Action.TIME_OF_USE_MODE)

    steps.step("5")
    mark = await ledger.mark(Cause.PLUG_IN)
    await stimulus.apply(Action.PLUG_IN)
    ev = await ledger.judge(await events.next("EVConnected", t_event), mark)
    session_id = ev.data.sessionID

    steps.step("6")
    await evse.clear_targets()
    await check_next_charge_null(steps, evse, "6")

    steps.step("7")
    check_schedules(steps, await evse.get_targets(), [])

    steps.step("8")
    minutes_8 = 1439
    targets_8 = [
        schedule(ALL_DAYS, ChargingTargetStruct(targetTimeMinutesPastMidnight=minutes_8, addedEnergy=ADDED_ENERGY_MWH))
    ]
    if soc_supported:
        exc = await evse.expect_status("INVALID_COMMAND", evse.set_targets(targets_8))
        steps.note(f"SetTargets without TargetSoC: {exc.status} (SoCReporting supported)")
        for sub in "abcd":
            steps.skip(f"8{sub}", SOC_SKIP_8)
    else:
        await evse.set_targets(targets_8)
        await check_next_charge_null(steps, evse, "8")  # SupplyState is still Disabled

    steps.step("9")
    await evse.enable_charging(None, 6000, 60000)
    if soc_supported:
        for sub in ("9a", "9b", "9c", "9d", "10"):
            steps.skip(sub, SOC_SKIP_9)
    else:
        steps.step("9a")
        start = await evse.read("NextChargeStartTime")
        target_time = expected_target_time_epoch_s(minutes_8)
        steps.note(f"NextChargeStartTime = {describe_epoch_s(start)}; TargetTime = {describe_epoch_s(target_time)}")
        if is_null(start):
            raise AssertionError("NextChargeStartTime: expected a time before the TargetTime, read null")
        steps.measure("NextChargeStartTime", int(start), "s", high=target_time - 1)
        steps.step("9b")
        await check_attr(steps, evse, "NextChargeTargetTime", target_time)
        steps.step("9c")
        await check_attr(steps, evse, "NextChargeRequiredEnergy", ADDED_ENERGY_MWH)
        steps.step("9d")
        await check_attr(steps, evse, "NextChargeTargetSoC", None)
        steps.step("10")
        check_schedules(steps, await evse.get_targets(), targets_8)

    steps.step("11")
    minutes_11 = 1
    daily_targets_11 = [ChargingTargetStruct(targetTimeMinutesPastMidnight=minutes_11, targetSoC=100)]
    targets_11 = [schedule(ALL_DAYS, *daily_targets_11)]
    await evse.set_targets(targets_11)
    steps.step("11a")
    start = await evse.read("NextChargeStartTime")
    steps.note(f"NextChargeStartTime = {describe_epoch_s(start)}")
    steps.step("11b")
    target_read = await evse.read("NextChargeTargetTime")
    target_time = expected_target_time_epoch_s(minutes_11)
    steps.note(f"NextChargeTargetTime = {describe_epoch_s(target_read)}; expected {describe_epoch_s(target_time)}")
    if is_null(start) or is_null(target_read):
        raise AssertionError(
            f"NextChargeStartTime / NextChargeTargetTime: expected times, read "
            f"{describe_epoch_s(start)} / {describe_epoch_s(target_read)}"
        )
    steps.measure("NextChargeStartTime before NextChargeTargetTime", int(target_read) - int(start), "s", low=1)
    steps.measure("NextChargeTargetTime", int(target_read), "s", expected=target_time)
    steps.step("11c")
    await check_attr(steps, evse, "NextChargeRequiredEnergy", None)
    steps.step("11d")
    await check_attr(steps, evse, "NextChargeTargetSoC", 100)

    steps.step("12")
    check_schedules(steps, await evse.get_targets(), targets_11)

    steps.step("13")
    targets_13 = [schedule(SATURDAY, *soc_targets(TEN_TARGET_TIMES))]
    await evse.set_targets(targets_13)
    steps.step("14")
    targets_14 = [schedule(SUNDAY)]
    await evse.set_targets(targets_14)

    steps.step("15")
    # Each new schedule replaces the days it names; the step-11 entry keeps Monday to Friday, first.
    check_schedules(
        steps, await evse.get_targets(), [schedule(MONDAY_TO_FRIDAY, *daily_targets_11), targets_13[0], targets_14[0]]
    )

    steps.step("16")
    await evse.clear_targets()
    await check_next_charge_null(steps, evse, "16")
    steps.step("17")
    check_schedules(steps, await evse.get_targets(), [])

    steps.step("18")
    twice = [schedule(SUNDAY, *soc_targets((60,))), schedule(SUNDAY, *soc_targets((60,)))]
    exc = await evse.expect_status("CONSTRAINT_ERROR", evse.set_targets(twice))
    steps.note(f"SetTargets with Sunday in two schedules: {exc.status}")
    steps.step("19")
    eleven = [schedule(SATURDAY, *soc_targets((*TEN_TARGET_TIMES, 1260)))]
    exc = await evse.expect_status("RESOURCE_EXHAUSTED", evse.set_targets(eleven))
    steps.note(f"SetTargets with 11 targets on Saturday: {exc.status}")

    steps.step("20")
    mark = await ledger.mark(Cause.UNPLUG)
    await stimulus.apply(Action.UNPLUG)
    ev = await events.next("EVNotDetected", t_event)
    check_event(steps, ev, sessionID=session_id, state=State.kPluggedInNoDemand)
    await ledger.judge(ev, mark)  # sessionDuration by the rig's clock, sessionEnergyCharged by the bench meter

    steps.step("21")
    await apply_or_skip(steps, stimulus, Action.UNINSTALL)
    steps.step("22")
    await apply_or_skip(steps, stimulus, Action.TIME_OF_USE_MODE_CLEAR)
