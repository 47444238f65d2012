"""TC-EEVSE-2.9: Optional RFID feature functionality with DUT as Server.

Presents an RFID tag to the EVSE's reader and checks the RFID event arrives within 5 s with a UID that is not null
and at most 10 bytes long. Skipped (every step shown as skipped) when the DUT's FeatureMap lacks RFID.
"""

from __future__ import annotations

import pytest

from rig.matter.eevse import Evse, is_null
from rig.steps import TestStep
from rig.stimulus import Action
from suites.tc_eevse.support import TRIG, apply_or_skip, require_feature

pytestmark = [
    pytest.mark.tc("TC-EEVSE-2.9", "Optional RFID feature functionality with DUT as Server"),
    pytest.mark.pics("EEVSE.S", "EEVSE.S.F03"),
]

STEPS = [
    TestStep("1", "Commission DUT to TH (can be skipped if done in a preceding test)", is_commissioning=True),
    TestStep(
        "2", "TH reads TestEventTriggersEnabled attribute from General Diagnostics Cluster", "Value has to be 1 (True)"
    ),
    TestStep("3", "TH subscribes to the Energy EVSE cluster events", "Subscription established"),
    TestStep("4", TRIG + "EVSE Trigger RFID Test Event", "Verify DUT responds w/ status SUCCESS(0x00)"),
    TestStep(
        "5",
        "TH waits for an RFID event",
        "Verify Event EEVSE.S.E05(RFID) sent within 5 seconds with a UID value that is not null and has a "
        "length of at most 10 bytes",
    ),
]

RFID_WITHIN_S = 5.0  # the plan's "within 5 seconds"
UID_MAX_LENGTH = 10  # spec: RFID.UID octstr maxLength 10
RFID_EVENT = Evse.cluster.Events.Rfid.__name__  # the controller's name for event 0x05 (RFID)


async def test_tc_eevse_2_9(steps, evse, evse_events, stimulus) -> None:
    steps.step("1")  # commissioned by the session fixture
    await require_feature(steps, evse, "RFID")
    steps.step("2")
    assert await evse.triggers_enabled(), "TestEventTriggersEnabled is False: the DUT refuses test event triggers"

    steps.step("3")
    events = evse_events  # the case's own subscription, made before any stimulus
    steps.note("subscribed to every Energy EVSE event of the endpoint")

    steps.step("4")
    if not await apply_or_skip(steps, stimulus, Action.RFID):
        steps.skip_remaining("needs the RFID stimulus of step 4")
        return

    steps.step("5")
    ev = await events.next(RFID_EVENT, RFID_WITHIN_S)
    steps.note(ev.summary())
    uid = ev.data.uid
    if is_null(uid) or not isinstance(uid, bytes | bytearray):
        raise AssertionError(f"RFID.uid: expected an octet string, got {uid!r}")
    steps.note(f"UID = {bytes(uid).hex(' ')}")
    steps.measure("len(RFID.uid)", len(uid), "bytes", low=1, high=UID_MAX_LENGTH)
