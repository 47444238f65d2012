"""TC-EEVSE-2.6: Test Q quality functionality with DUT as Server (test plan 5.1.6).

SessionDuration, SessionEnergyCharged and SessionEnergyDischarged have quieter reporting (Q, revision 3): with
a subscription of max interval 10 s, a charging session may report them at most twice in 12 s and SessionID
not at all; unplugging reports the session attributes (not SessionID); plugging in again reports SessionID
exactly once and the session attributes at least once. The plan's 12 s and 5 s observation windows are waits
on the subscription's reports (ended early only when a count already breaks its limit).
"""

from __future__ import annotations

import pytest

from rig.matter.eevse import State, StoppedReason
from rig.steps import TestStep
from rig.stimulus import Action
from suites.tc_eevse.support import (
    TRIG,
    apply_or_skip,
    check_attr,
    check_event,
    check_report_count,
    feature_codes,
    observe_reports,
)

pytestmark = [
    pytest.mark.tc("TC-EEVSE-2.6", "Test Q quality functionality with DUT as Server"),
    pytest.mark.pics("EEVSE.S"),
]

COUNT = "TH counts all report transactions with an attribute report for the {} attribute"
V2X_COUNT = "If V2X feature is supported on the cluster, " + COUNT[0].lower() + COUNT[1:]

STEPS = [
    TestStep("1", "Commission DUT to TH (can be skipped if done in a preceding test)", is_commissioning=True),
    TestStep(
        "2",
        "TH reads from the DUT the FeatureMap",
        "Verify that the DUT response contains the FeatureMap attribute. Store the value as FeatureMap.",
    ),
    TestStep("3", "Set up a subscription to all EnergyEVSE cluster events"),
    TestStep(
        "4", "TH reads TestEventTriggersEnabled attribute from General Diagnostics Cluster", "Value has to be 1 (True)"
    ),
    TestStep(
        "5",
        "Set up a subscription to the EnergyEVSE cluster, with MinIntervalFloor set to 0, "
        "MaxIntervalCeiling set to 10 and KeepSubscriptions set to True",
        "Subscription successfully established",
    ),
    TestStep("6", TRIG + "Basic Functionality Test Event", "Verify DUT responds w/ status SUCCESS(0x00)"),
    TestStep("6a", "TH reads from the DUT the State", "Value has to be 0x00 (NotPluggedIn)"),
    TestStep(
        "7",
        TRIG + "EV Plugged-in Test Event",
        "Verify DUT responds w/ status SUCCESS(0x00) and event EEVSE.S.E00(EVConnected) sent",
    ),
    TestStep(
        "8",
        "TH sends command EnableCharging with ChargingEnabledUntil=null, minimumChargeCurrent=6000, "
        "maximumChargeCurrent=12000",
        "Verify DUT responds w/ status SUCCESS(0x00)",
    ),
    TestStep(
        "9",
        TRIG + "EV Charge Demand Test Event",
        "Verify DUT responds w/ status SUCCESS(0x00) and event EEVSE.S.E02(EnergyTransferStarted) sent",
    ),
    TestStep("9a", "TH reads from the DUT the State", "Value has to be 0x03 (PluggedInCharging)"),
    TestStep("10", "Reset all accumulated report counts, then wait 12 seconds"),
    TestStep("10a", COUNT.format("SessionID"), "TH verifies that numberOfReportsReceived = 0"),
    TestStep("10b", COUNT.format("SessionDuration"), "TH verifies that numberOfReportsReceived <= 2"),
    TestStep("10c", COUNT.format("SessionEnergyCharged"), "TH verifies that numberOfReportsReceived <= 2"),
    TestStep(
        "10d",
        V2X_COUNT.format("SessionEnergyDischarged"),
        "TH verifies that numberOfReportsReceived <= 2",
        pics="EEVSE.S.F04",
    ),
    TestStep("11", "Reset all accumulated report counts"),
    TestStep(
        "12",
        "TH sends command Disable",
        "Verify DUT responds w/ status SUCCESS(0x00) and Event EEVSE.S.E03(EnergyTransferStopped) sent with "
        "reason EvseStopped",
    ),
    TestStep("13", TRIG + "EV Charge Demand Test Event Clear", "Verify DUT responds w/ status SUCCESS(0x00)"),
    TestStep(
        "14",
        TRIG + "EV Plugged-in Test Event Clear",
        "Verify DUT responds w/ status SUCCESS(0x00) and event EEVSE.S.E01(EVNotDetected) sent",
    ),
    TestStep("15", "Wait 5 seconds"),
    TestStep("15a", COUNT.format("SessionID"), "TH verifies that numberOfReportsReceived = 0"),
    TestStep("15b", COUNT.format("SessionDuration"), "TH verifies that numberOfReportsReceived >= 1"),
    TestStep("15c", COUNT.format("SessionEnergyCharged"), "TH verifies that numberOfReportsReceived >= 1"),
    TestStep(
        "15d",
        V2X_COUNT.format("SessionEnergyDischarged"),
        "TH verifies that numberOfReportsReceived >= 1",
        pics="EEVSE.S.F04",
    ),
    TestStep("16", "Reset all accumulated report counts"),
    TestStep(
        "17",
        TRIG + "EV Plugged-in Test Event",
        "Verify DUT responds w/ status SUCCESS(0x00) and event EEVSE.S.E00(EVConnected) sent",
    ),
    TestStep("18", "Wait 5 seconds"),
    TestStep("18a", COUNT.format("SessionID"), "TH verifies that numberOfReportsReceived = 1"),
    TestStep("18b", COUNT.format("SessionDuration"), "TH verifies that numberOfReportsReceived >= 1"),
    TestStep("18c", COUNT.format("SessionEnergyCharged"), "TH verifies that numberOfReportsReceived >= 1"),
    TestStep(
        "18d",
        V2X_COUNT.format("SessionEnergyDischarged"),
        "TH verifies that numberOfReportsReceived >= 1",
        pics="EEVSE.S.F04",
    ),
    TestStep(
        "19",
        TRIG + "EV Plugged-in Test Event Clear",
        "Verify DUT responds w/ status SUCCESS(0x00) and event EEVSE.S.E01(EVNotDetected) sent",
    ),
    TestStep("20", TRIG + "Basic Functionality Test Event Clear", "Verify DUT responds w/ status SUCCESS(0x00)"),
    # The plan's text says "Device Energy Management"; the subscription of step 5 is to Energy EVSE.
    TestStep("21", "Cancel the subscription to the Energy EVSE cluster", "The subscription is cancelled successfully"),
]

SUBSCRIPTION_MAX_INTERVAL_S = 10  # step 5: MaxIntervalCeiling
CHARGING_QUIET_WINDOW_S = 12  # step 10: longer than the max interval; Q attributes at most twice
SESSION_BOUNDARY_WINDOW_S = 5  # steps 15 and 18: time for the reports of an unplug / a plug-in to arrive


async def test_tc_eevse_2_6(steps, evse, evse_events, stimulus, pics) -> None:
    events = evse_events
    t_event = evse.event_timeout_s

    steps.step("1")  # commissioned by the session fixture
    steps.step("2")
    feature_map = await evse.feature_map()
    has_v2x = pics.check("EEVSE.S.F04")  # the PICS file's V2X, or the DUT's FeatureMap bit without one
    steps.note(f"FeatureMap = 0x{feature_map:X}: {', '.join(feature_codes(feature_map))}")

    steps.step("3")  # the evse_events fixture subscribed to every Energy EVSE event

    steps.step("4")
    assert await evse.triggers_enabled(), "TestEventTriggersEnabled is False: the DUT refuses test event triggers"

    steps.step("5")
    reports = await evse.subscribe_attributes(min_s=0, max_s=SUBSCRIPTION_MAX_INTERVAL_S)
    try:
        await _walk(steps, evse, events, stimulus, reports, has_v2x, t_event)
    finally:
        evse.node.controller.close_subscription(reports)


async def _walk(steps, evse, events, stimulus, reports, has_v2x: bool, t_event: float) -> None:
    discharged = ["SessionEnergyDischarged"] if has_v2x else []

    steps.step("6")
    await apply_or_skip(steps, stimulus, Action.INSTALL)
    steps.step("6a")
    await check_attr(steps, evse, "State", State.kNotPluggedIn)

    steps.step("7")
    await stimulus.apply(Action.PLUG_IN)
    ev = await events.next("EVConnected", t_event)
    steps.note(ev.summary())
    session_id = ev.data.sessionID

    steps.step("8")
    await evse.enable_charging(None, 6000, 12000)

    steps.step("9")
    await stimulus.apply(Action.DEMAND)
    ev = await events.next("EnergyTransferStarted", t_event)
    check_event(steps, ev, sessionID=session_id, state=State.kPluggedInCharging)
    steps.step("9a")
    await check_attr(steps, evse, "State", State.kPluggedInCharging)

    steps.step("10")
    reports.reset()
    limits = {"SessionID": 0, "SessionDuration": 2, "SessionEnergyCharged": 2} | dict.fromkeys(discharged, 2)
    seen = await observe_reports(reports, CHARGING_QUIET_WINDOW_S, limits)
    steps.note(f"observed {seen:.1f} s of the {CHARGING_QUIET_WINDOW_S} s window")
    steps.step("10a")
    check_report_count(steps, reports, "SessionID", high=0)
    steps.step("10b")
    check_report_count(steps, reports, "SessionDuration", high=2)
    steps.step("10c")
    check_report_count(steps, reports, "SessionEnergyCharged", high=2)
    steps.step("10d")
    if steps.pics_guard():  # EEVSE.S.F04
        check_report_count(steps, reports, "SessionEnergyDischarged", high=2)

    steps.step("11")
    reports.reset()

    steps.step("12")
    await evse.disable()
    ev = await events.next("EnergyTransferStopped", t_event)
    check_event(steps, ev, sessionID=session_id, reason=StoppedReason.kEVSEStopped)

    steps.step("13")
    await stimulus.apply(Action.DEMAND_CLEAR)

    steps.step("14")
    await stimulus.apply(Action.UNPLUG)
    ev = await events.next("EVNotDetected", t_event)
    check_event(steps, ev, sessionID=session_id)

    steps.step("15")
    seen = await observe_reports(reports, SESSION_BOUNDARY_WINDOW_S, {"SessionID": 0})
    steps.note(f"observed {seen:.1f} s of the {SESSION_BOUNDARY_WINDOW_S} s window")
    steps.step("15a")
    check_report_count(steps, reports, "SessionID", high=0)
    steps.step("15b")
    check_report_count(steps, reports, "SessionDuration", low=1)
    steps.step("15c")
    check_report_count(steps, reports, "SessionEnergyCharged", low=1)
    steps.step("15d")
    if steps.pics_guard():  # EEVSE.S.F04
        check_report_count(steps, reports, "SessionEnergyDischarged", low=1)

    steps.step("16")
    reports.reset()

    steps.step("17")
    await stimulus.apply(Action.PLUG_IN)
    ev = await events.next("EVConnected", t_event)
    check_event(steps, ev, sessionID=session_id + 1)

    steps.step("18")
    seen = await observe_reports(reports, SESSION_BOUNDARY_WINDOW_S, {"SessionID": 1})
    steps.note(f"observed {seen:.1f} s of the {SESSION_BOUNDARY_WINDOW_S} s window")
    steps.step("18a")
    check_report_count(steps, reports, "SessionID", low=1, high=1)
    steps.step("18b")
    check_report_count(steps, reports, "SessionDuration", low=1)
    steps.step("18c")
    check_report_count(steps, reports, "SessionEnergyCharged", low=1)
    steps.step("18d")
    if steps.pics_guard():  # EEVSE.S.F04
        check_report_count(steps, reports, "SessionEnergyDischarged", low=1)

    steps.step("19")
    await stimulus.apply(Action.UNPLUG)
    ev = await events.next("EVNotDetected", t_event)
    check_event(steps, ev, sessionID=session_id + 1)

    steps.step("20")
    await apply_or_skip(steps, stimulus, Action.UNINSTALL)

    steps.step("21")
    evse.node.controller.close_subscription(reports)
    steps.note("attribute subscription cancelled")
