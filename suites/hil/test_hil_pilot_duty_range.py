"""HIL-PWM-RANGE: the pilot duty cycle over the whole current range the DUT supports, both formula segments.

IEC 61851-1 Annex A (Table A.8) maps the offered current to the PWM duty cycle in two segments: 6-51 A ->
duty = I / 0.6 %, 51-80 A -> duty = I / 2.5 + 64 %. HIL-PWM checks a few currents inside the first segment; this case
walks the points that tell the segments apart and catch a boundary error or a segment swap: the least offer (6 A,
10 %), one 0.6 A step above it, 16 A and 32 A (common ratings), the last step below the boundary (50.4 A, 84 %), the
boundary itself (51 A: 85 % by I / 0.6, where I / 2.5 + 64 would give 84.4 %), the first steps above it (51.6 A: 84.6 %,
where I / 0.6 would give 86 %; 52.5 A: 85 %, not 87.5 %), 63 A, and the top of the range (79.5 A: 95.8 %, 80 A: 96 %).
Each point is offered with EnableCharging's maximum, every other limit the rig sets held at 80 A and the EV plugged
in without PP coding (a tethered cable carries no PP limit); the DUT's MaximumChargeCurrent must equal it and the
pilot duty (the scope's or DAQ's PWM reading) must offer it within the pulse-width tolerance of +-5 us (+-0.5 %).

The walk is limited by what the DUT reports it supports: with every limit the rig controls at 80 A, the DUT's
MaximumChargeCurrent is its own ceiling (its hardware rating, CircuitCapacity); a point above it is skipped, naming it.
Two profiles: the DUT as installed, and rated 80 A on an 80 A circuit where the DUT kind allows it (the virtual EVSE,
through its hardware port's ``rating`` test hook, given back at the end; a real EVSE's rating is its hardware's and
its CircuitCapacity its installer's, so that profile is skipped with the reason there). On the default virtual bench
the first profile walks the points up to its 24 A CircuitCapacity, the second the whole range.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest

from rig.ev_emulator.pilot import LOW_RANGE_MAX_A, current_to_duty
from rig.pytest_plugin.attach import attach_series
from rig.steps import TestStep
from rig.stimulus import Action
from suites.hil.support import DUTY_TOLERANCE_PCT, SETTLE_S, call, measure_duty_for, require_bench

RATED_MA = 80000
"""The top of the IEC 61851-1 PWM range, mA: every limit the rig sets is held here."""

POINTS_MA = (6000, 6600, 16000, 32000, 50400, 51000, 51600, 52500, 63000, 79500, 80000)
"""The currents walked, mA (see the module docstring for why each)."""

POINT_STEPS = [f"5{chr(ord('a') + i)}" for i in range(len(POINTS_MA))]


def _segment(ma: int) -> str:
    amps = ma / 1000
    if amps <= LOW_RANGE_MAX_A:
        return "6-51 A: I / 0.6"
    return "51-80 A: I / 2.5 + 64"


def _duty(ma: int) -> float:
    return round(current_to_duty(ma / 1000), 1)


PROFILES = [
    pytest.param(None, id="as-installed", marks=pytest.mark.tc("HIL-PWM-RANGE", "Pilot duty over the DUT's range")),
    pytest.param(
        RATED_MA,
        id="rated-80A",
        marks=pytest.mark.tc("HIL-PWM-RANGE-80A", "Pilot duty over 6-80 A, the DUT rated 80 A on an 80 A circuit"),
    ),
]

pytestmark = [pytest.mark.pics("EEVSE.S")]

STEPS = [
    TestStep("1", "Commission DUT to TH (done by the session)", is_commissioning=True),
    TestStep(
        "2",
        "Profile: the DUT as installed, or rated 80 A on an 80 A circuit (hardware limit and CircuitCapacity; the "
        "virtual EVSE's through its hardware port, given back at the end)",
        "The DUT kind offers the profile (otherwise the case is skipped with the reason)",
    ),
    TestStep(
        "3",
        "Installation; EV emulator plugs in without PP coding (tethered cable: no cable limit), CP state B",
        "Verify Event EEVSE.S.E00(EVConnected) sent",
    ),
    TestStep(
        "4",
        "TH writes UserMaximumChargeCurrent=80000 (if supported), sends EnableCharging(null, 6000, 80000); reads "
        "MaximumChargeCurrent",
        "The DUT's ceiling (hardware rating, CircuitCapacity): points above it are skipped naming it",
    ),
    *[
        TestStep(
            number,
            f"TH sends EnableCharging(null, 6000, {ma})",
            f"MaximumChargeCurrent = {ma} mA; pilot duty {_duty(ma):.1f} % +-{DUTY_TOLERANCE_PCT:g} % "
            f"({ma / 1000:g} A, {_segment(ma)})",
        )
        for number, ma in zip(POINT_STEPS, POINTS_MA, strict=True)
    ],
    TestStep(
        "6",
        "EV emulator unplugs; TH sends Disable; end of the installation (UserMaximumChargeCurrent and the profile "
        "given back)",
        "Verify Event EEVSE.S.E01(EVNotDetected) sent",
    ),
]


async def _enable(evse: Any, max_ma: int, what: str) -> None:
    """EnableCharging(null, 6000, ``max_ma``); a refusal fails naming the point, what was sent and the answer."""
    try:
        await evse.enable_charging(None, 6000, max_ma)
    except Exception as exc:
        raise AssertionError(
            f"{what}: EnableCharging(ChargingEnabledUntil=null, MinimumChargeCurrent=6000, "
            f"MaximumChargeCurrent={max_ma}) expected SUCCESS, the DUT answered {exc}"
        ) from exc


async def _give_back_user_max(evse: Any, value: int) -> None:
    if int(await evse.read("UserMaximumChargeCurrent")) != value:
        await evse.write("UserMaximumChargeCurrent", value)


async def _max_current_at_least(evse: Any, floor_ma: int, timeout_s: float = SETTLE_S) -> int:
    """Read MaximumChargeCurrent until it is at least ``floor_ma`` or ``timeout_s`` passes; return the last reading."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = int(await evse.read("MaximumChargeCurrent"))
        if value >= floor_ma or time.monotonic() >= deadline:
            return value
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("rating_ma", PROFILES)
async def test_hil_pilot_duty_range(steps, evse, evse_events, stimulus, bench, dut, request, rating_ma) -> None:
    ev = require_bench(steps, stimulus, bench)
    t_event = evse.event_timeout_s
    series: list[tuple[float, float]] = []

    steps.step("1")
    steps.step("2")
    if rating_ma is not None:
        reason = dut.rating_unavailable()
        if reason is not None:
            steps.skip_remaining(reason)
            pytest.skip(reason)
    async with contextlib.AsyncExitStack() as stack:
        if rating_ma is None:
            steps.note("the DUT as installed: its own hardware rating and CircuitCapacity")
        else:
            steps.note(await stack.enter_async_context(dut.rating(rating_ma)))

        steps.step("3")
        await stimulus.apply(Action.INSTALL)  # notes UserMaximumChargeCurrent, given back at UNINSTALL
        has_user_max = await evse.has_attribute("UserMaximumChargeCurrent")
        if has_user_max:  # given back on every way out, a failed point's too
            user_max = int(await evse.read("UserMaximumChargeCurrent"))
            stack.push_async_callback(_give_back_user_max, evse, user_max)
        await call(ev.set_cable, None)  # before CP state B: the EVSE sees the cable before the EV
        await call(ev.set_state, "B")
        connected = await evse_events.wait_for("EVConnected", t_event)
        steps.note(f"no PP coding (tethered cable), CP state B; {connected.summary()}")

        steps.step("4")
        if has_user_max:
            await evse.write("UserMaximumChargeCurrent", RATED_MA)
        await _enable(evse, RATED_MA, "the DUT's ceiling")
        ceiling = int(await evse.read("MaximumChargeCurrent"))
        if ceiling < POINTS_MA[0]:  # a socket outlet may refuse a plug without PP coding: the widest coding then
            await call(ev.set_cable, 63)
            ceiling = await _max_current_at_least(evse, POINTS_MA[0])
            steps.note("without PP coding the DUT offers less than 6 A: 63 A cable coded on PP (100 Ohm)")
        capacity = int(await evse.read("CircuitCapacity"))
        steps.note(f"CircuitCapacity = {capacity} mA")
        steps.measure("MaximumChargeCurrent with every rig limit at 80 A (the DUT's ceiling)", ceiling, "mA")

        for number, ma in zip(POINT_STEPS, POINTS_MA, strict=True):
            if ma > ceiling:
                steps.skip(
                    number,
                    f"{ma} mA is above the {ceiling} mA MaximumChargeCurrent the DUT reports with every limit the rig "
                    "sets at 80 A (its hardware rating, CircuitCapacity)",
                )
                continue
            steps.step(number)
            label = f"EnableCharging max {ma} mA, {_segment(ma)}"
            await _enable(evse, ma, f"{ma / 1000:g} A point")
            await measure_duty_for(steps, evse, ev, ma, series, label)

        steps.step("6")
        await stimulus.apply(Action.UNPLUG)
        await evse_events.wait_for("EVNotDetected", t_event)
        await evse.disable()
        await stimulus.apply(Action.UNINSTALL)
    attach_series(request, "PWM duty", "%", series, plot="pilot", step=True)
