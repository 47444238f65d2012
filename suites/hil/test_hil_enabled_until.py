"""HIL-UNTIL: expiry of ChargingEnabledUntil physically stops the current.

While the EV charges under EnableCharging with ChargingEnabledUntil a few seconds ahead, the EVSE must, at the
expiry, open its contactor and stop the PWM, so the meter sees no more current; EnergyTransferStopped(EVSEStopped)
is sent. The limit is in whole seconds (from 1 s before to 1.5 s after the expiry), so the meter is polled every
50 ms on the host's wall clock (the clock ChargingEnabledUntil was computed from) and the current stopping is placed
on it:
no scope capture is needed for a limit this coarse.
"""

from __future__ import annotations

import time

import pytest

from rig.instruments.capabilities import EnergyMeter
from rig.matter.eevse import matter_epoch_s
from rig.steps import TestStep
from rig.stimulus import Action
from suites.hil.support import (
    METER_CURRENT_TOLERANCE_A,
    call,
    epoch_to_unix,
    meter,
    plug_in,
    require_bench,
    start_charging,
    wait_current,
)

pytestmark = [pytest.mark.tc("HIL-UNTIL", "ChargingEnabledUntil expiry stops the current"), pytest.mark.pics("EEVSE.S")]

WINDOW_S = 3
LATE_S = 1.5

STEPS = [
    TestStep("1", "Commission DUT to TH (done by the session)", is_commissioning=True),
    TestStep("2", "Installation; EV emulator plugs in (state B)", "Verify Event EEVSE.S.E00(EVConnected) sent"),
    TestStep(
        "3",
        f"TH sends EnableCharging(ChargingEnabledUntil = now + {WINDOW_S} s, 6000, 16000); EV state C",
        "Event EEVSE.S.E02(EnergyTransferStarted); the meter sees the EV's current",
    ),
    TestStep(
        "4",
        "Wait for the ChargingEnabledUntil expiry",
        f"Contactor opens between 1 s before and {LATE_S} s after the expiry; "
        "Event EEVSE.S.E03(EnergyTransferStopped) with reason EVSEStopped",
    ),
    TestStep("5", "Meter reads the current after the expiry", "No current (<= 0.5 A); pilot PWM off"),
    TestStep("6", "EV emulator unplugs; end of the installation", "Verify Event EEVSE.S.E01(EVNotDetected) sent"),
]


async def test_hil_enabled_until(steps, evse, evse_events, stimulus, bench) -> None:
    ev = require_bench(steps, stimulus, bench, EnergyMeter)
    m = meter(bench)
    t_event = evse.event_timeout_s

    steps.step("1")
    steps.step("2")
    await plug_in(steps, stimulus, evse_events, t_event)

    steps.step("3")
    until = matter_epoch_s() + WINDOW_S
    await start_charging(steps, evse, stimulus, evse_events, 16000, until)
    current = await wait_current(m, flowing=True, what="contactor closing after state C")
    steps.measure("EV current while enabled", round(current, 2), "A", low=6.0 - METER_CURRENT_TOLERANCE_A)

    steps.step("4")
    remaining = epoch_to_unix(until) - time.time()
    await wait_current(
        m, flowing=False, what="current stopping at the expiry", timeout_s=max(remaining, 0) + LATE_S + 1
    )
    steps.measure(
        "current stopped after the expiry", round(time.time() - epoch_to_unix(until), 3), "s", low=-1.0, high=LATE_S
    )
    stopped = await evse_events.wait_for("EnergyTransferStopped", t_event)
    steps.note(stopped.summary())
    steps.measure("EnergyTransferStopped.reason", int(stopped.data.reason), expected=1)  # EVSEStopped

    steps.step("5")
    steps.measure(
        "EV current after the expiry", round(await call(m.current, 1), 3), "A", high=METER_CURRENT_TOLERANCE_A
    )
    status = await call(ev.pilot)
    steps.measure("pilot PWM after the expiry", status.pwm_on, expected=False)

    steps.step("6")
    await stimulus.apply(Action.UNPLUG)
    await evse_events.wait_for("EVNotDetected", t_event)
    await stimulus.apply(Action.UNINSTALL)
