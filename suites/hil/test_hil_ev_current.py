"""HIL-CURRENT: the EV's measured current never exceeds the current the EVSE advertises.

While the EV charges, the advertised limit is lowered step by step (EnableCharging maximum 16 A, 10 A, 6 A). After
each change the EV gets the IEC 61851-1 allowance of 5 s to follow the new PWM offer; from then on every meter
sample must stay within the advertised MaximumChargeCurrent (+0.5 A meter allowance), and the pilot must offer no
more than it.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from rig.ev_emulator.pilot import duty_for_offer, duty_to_current
from rig.instruments.capabilities import EnergyMeter
from rig.pytest_plugin.attach import attach_series
from rig.steps import TestStep
from rig.stimulus import Action
from suites.hil.support import (
    EV_FOLLOW_S,
    METER_CURRENT_TOLERANCE_A,
    call,
    meter,
    plug_in,
    require_bench,
    settled_pilot,
    start_charging,
    wait_current,
)

pytestmark = [pytest.mark.tc("HIL-CURRENT", "EV current within the advertised limit"), pytest.mark.pics("EEVSE.S")]

LIMITS_MA = (16000, 10000, 6000)
SAMPLES = 5

STEPS = [
    TestStep("1", "Commission DUT to TH (done by the session)", is_commissioning=True),
    TestStep("2", "Installation; EV emulator plugs in (state B)", "Verify Event EEVSE.S.E00(EVConnected) sent"),
    TestStep(
        "3",
        "TH sends EnableCharging(null, 6000, 16000); EV state C",
        "EnergyTransferStarted; meter current <= 16 A + 0.5 A",
    ),
    TestStep("4", "TH sends EnableCharging(null, 6000, 10000)", "Meter current <= 10 A + 0.5 A within 5 s and after"),
    TestStep("5", "TH sends EnableCharging(null, 6000, 6000)", "Meter current <= 6 A + 0.5 A within 5 s and after"),
    TestStep("6", "EV stops (state B), unplugs; end of the installation", "Verify Event EEVSE.S.E01(EVNotDetected)"),
]


async def _check_limit(steps, evse, ev, m, limit_ma: int, current: list, advertised: list) -> None:
    advertised_ma = int(await evse.read("MaximumChargeCurrent"))
    steps.measure("MaximumChargeCurrent", advertised_ma, "mA", high=limit_ma)
    status = await settled_pilot(ev, duty_for_offer(advertised_ma / 1000))
    offered = duty_to_current(status.reading.duty_pct) if status.pwm_on else 0.0
    steps.measure("pilot offer", round(offered, 2), "A", high=advertised_ma / 1000 + 0.3)
    limit_a = advertised_ma / 1000 + METER_CURRENT_TOLERANCE_A
    deadline = time.monotonic() + EV_FOLLOW_S
    while (amps := await call(m.current, 1)) > limit_a and time.monotonic() < deadline:
        current.append((time.time(), amps))
        await asyncio.sleep(0.1)
    worst = 0.0
    for _ in range(SAMPLES):
        amps = await call(m.current, 1)
        current.append((time.time(), amps))
        advertised.append((time.time(), advertised_ma / 1000))
        worst = max(worst, amps)
    steps.measure("highest EV current", round(worst, 3), "A", high=limit_a)


async def test_hil_ev_current(steps, evse, evse_events, stimulus, bench, request) -> None:
    ev = require_bench(steps, stimulus, bench, EnergyMeter)
    m = meter(bench)
    t_event = evse.event_timeout_s
    current: list = []
    advertised: list = []

    steps.step("1")
    steps.step("2")
    await plug_in(steps, stimulus, evse_events, t_event)

    steps.step("3")
    await start_charging(steps, evse, stimulus, evse_events, LIMITS_MA[0])
    await wait_current(m, flowing=True, what="contactor closing after state C")
    await _check_limit(steps, evse, ev, m, LIMITS_MA[0], current, advertised)

    for step, limit in zip(("4", "5"), LIMITS_MA[1:], strict=True):
        steps.step(step)
        await evse.enable_charging(None, 6000, limit)
        await _check_limit(steps, evse, ev, m, limit, current, advertised)

    steps.step("6")
    await stimulus.apply(Action.DEMAND_CLEAR)
    await stimulus.apply(Action.UNPLUG)
    await evse_events.wait_for("EVNotDetected", t_event)
    await stimulus.apply(Action.UNINSTALL)
    attach_series(request, "EV current (meter)", "A", current, plot="current")
    attach_series(request, "advertised MaximumChargeCurrent", "A", advertised, plot="current", step=True)
