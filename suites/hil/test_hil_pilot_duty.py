"""HIL-PWM: the pilot duty cycle offers MaximumChargeCurrent, whichever limit is the lowest.

With the EV plugged in (state B) and charging enabled, the EVSE's pilot PWM must offer exactly its
MaximumChargeCurrent (IEC 61851-1: 6-51 A -> duty = I / 0.6 %, 51-80 A -> I / 2.5 + 64 %) within the pulse-width
tolerance of +-5 us (+-0.5 %), as each limit in turn becomes the lowest: the EnableCharging maximum, the
UserMaximumChargeCurrent, the installer's CircuitCapacity and the cable's PP coding. An EnableCharging with
minimum > maximum must be refused (CONSTRAINT_ERROR) and leave the offer unchanged.
"""

from __future__ import annotations

import pytest

from rig.pytest_plugin.attach import attach_series
from rig.steps import TestStep
from rig.stimulus import Action
from suites.hil.support import call, measure_duty_for, plug_in, require_bench

pytestmark = [pytest.mark.tc("HIL-PWM", "Pilot duty cycle follows the limiting current"), pytest.mark.pics("EEVSE.S")]

STEPS = [
    TestStep("1", "Commission DUT to TH (done by the session)", is_commissioning=True),
    TestStep(
        "2",
        "Installation; EV emulator plugs in (cable coded on PP, CP state B)",
        "Verify Event EEVSE.S.E00(EVConnected) sent",
    ),
    TestStep(
        "3",
        "TH sends EnableCharging(ChargingEnabledUntil=null, min 6000, max 10000): the command maximum limits",
        "MaximumChargeCurrent = 10000 mA; pilot duty 16.7 % +-0.5 % (10 A)",
    ),
    TestStep(
        "4",
        "TH writes UserMaximumChargeCurrent=8000, sends EnableCharging max 80000: the user maximum limits",
        "MaximumChargeCurrent = 8000 mA; pilot duty 13.3 % +-0.5 % (8 A)",
        pics="EEVSE.S.A0009",
    ),
    TestStep(
        "5",
        "TH writes UserMaximumChargeCurrent=80000 (no user limit): the CircuitCapacity limits",
        "MaximumChargeCurrent = CircuitCapacity (never above it); pilot duty offers it +-0.5 %",
    ),
    TestStep(
        "6",
        "EV emulator codes a 13 A cable on PP: the cable limits",
        "MaximumChargeCurrent = 13000 mA; pilot duty 21.7 % +-0.5 % (13 A)",
    ),
    TestStep(
        "7",
        "TH sends EnableCharging with minimumChargeCurrent=16000 > maximumChargeCurrent=10000",
        "DUT responds CONSTRAINT_ERROR; MaximumChargeCurrent and the pilot duty unchanged",
    ),
    TestStep("8", "EV emulator unplugs; end of the installation", "Verify Event EEVSE.S.E01(EVNotDetected) sent"),
]


async def test_hil_pilot_duty(steps, evse, evse_events, stimulus, bench, request) -> None:
    ev = require_bench(steps, stimulus, bench)
    t_event = evse.event_timeout_s
    duty: list[tuple[float, float]] = []

    steps.step("1")
    steps.step("2")
    await plug_in(steps, stimulus, evse_events, t_event)
    capacity = int(await evse.read("CircuitCapacity"))
    steps.note(f"CircuitCapacity = {capacity} mA, cable {ev.cable_a} A")

    steps.step("3")
    await evse.enable_charging(None, 6000, 10000)
    await measure_duty_for(steps, evse, ev, min(10000, capacity), duty, "command maximum")

    steps.step("4")
    has_user_max = steps.pics_guard()  # EEVSE.S.A0009: from the PICS file, or the DUT's AttributeList without one
    if has_user_max:
        await evse.write("UserMaximumChargeCurrent", 8000)
        await evse.enable_charging(None, 6000, 80000)
        await measure_duty_for(steps, evse, ev, min(8000, capacity), duty, "user maximum")

    steps.step("5")
    if has_user_max:
        await evse.write("UserMaximumChargeCurrent", 80000)
    await evse.enable_charging(None, 6000, 80000)
    limit = min(capacity, (ev.cable_a or 80) * 1000)
    await measure_duty_for(steps, evse, ev, limit, duty, "CircuitCapacity")

    steps.step("6")
    await call(ev.set_cable, 13)
    await measure_duty_for(steps, evse, ev, min(13000, capacity), duty, "13 A cable")

    steps.step("7")
    await evse.expect_status("CONSTRAINT_ERROR", evse.enable_charging(None, 16000, 10000))
    steps.note("EnableCharging(min 16000 > max 10000): CONSTRAINT_ERROR")
    await measure_duty_for(steps, evse, ev, min(13000, capacity), duty, "after the refused command")

    steps.step("8")
    await stimulus.apply(Action.UNPLUG)
    await evse_events.wait_for("EVNotDetected", t_event)
    await stimulus.apply(Action.UNINSTALL)
    attach_series(request, "PWM duty", "%", duty, plot="pilot", step=True)
