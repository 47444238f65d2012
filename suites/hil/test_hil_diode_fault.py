"""HIL-DIODE: a shorted EV diode stops charging.

While the EV charges, the EV emulator shorts its diode: the negative PWM half is no longer clamped at -12 V. The
EVSE must raise a fault (PilotShortCircuit: the Matter FaultState for a pilot fault), open its contactor and stop
the current, and keep it stopped while the diode stays shorted; with the diode healthy again it resumes charging.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from rig.instruments.capabilities import EnergyMeter
from rig.matter.eevse import FaultState
from rig.steps import TestStep
from rig.stimulus import Action
from suites.hil.support import (
    METER_CURRENT_TOLERANCE_A,
    call,
    check_event_fields,
    mark,
    meter,
    plug_in,
    require_bench,
    start_charging,
)

pytestmark = [pytest.mark.tc("HIL-DIODE", "EV diode fault stops charging"), pytest.mark.pics("EEVSE.S")]

HOLD_S = 1.0

STEPS = [
    TestStep("1", "Commission DUT to TH (done by the session)", is_commissioning=True),
    TestStep("2", "Installation; EV plugs in; EnableCharging(null, 6000, 16000); EV state C",
             "EnergyTransferStarted; contactor closed; current flows"),
    TestStep("3", "EV emulator shorts the EV diode",
             "Fault event with FaultState PilotShortCircuit; contactor open within 100 ms of the fault"),
    TestStep("4", f"Diode kept shorted for {HOLD_S:g} s", "The contactor stays open and no current flows"),
    TestStep("5", "EV emulator restores the diode", "FaultState NoError; contactor closes again"),
    TestStep("6", "EV stops and unplugs; end of the installation", "EVNotDetected sent"),
]


async def test_hil_diode_fault(steps, evse, evse_events, stimulus, bench) -> None:
    ev = require_bench(steps, stimulus, bench, EnergyMeter)
    m = meter(bench)
    t_event = evse.event_timeout_s

    steps.step("1")
    steps.step("2")
    await plug_in(steps, stimulus, evse_events, t_event)
    t0 = await mark(ev)
    await start_charging(steps, evse, stimulus, evse_events, 16000)
    await call(ev.wait_edge, "CONTACTOR_CLOSED", t0, 5.0)
    steps.measure("EV current before the fault", round(await call(m.current, 1), 2), "A", low=5.5)

    steps.step("3")
    t_fault = await mark(ev)
    await call(ev.diode_fault, True)
    fault = await evse_events.wait_for("Fault", t_event)
    check_event_fields(steps, fault, faultStateCurrentState=FaultState.kPilotShortCircuit)
    opened = await call(ev.wait_edge, "CONTACTOR_OPEN", t_fault, 2.0)
    steps.measure("contactor open after the diode short", round(opened.t_s - t_fault, 4), "s", high=0.5)

    steps.step("4")
    worst = 0.0
    closed = False
    deadline = time.monotonic() + HOLD_S
    while time.monotonic() < deadline:
        worst = max(worst, await call(m.current, 1))
        closed = closed or any(e.signal == "CONTACTOR_CLOSED" and e.t_s > opened.t_s for e in await call(
            ev.capture.edges))
        await asyncio.sleep(0.1)
    steps.measure("highest current while the diode is shorted", round(worst, 3), "A", high=METER_CURRENT_TOLERANCE_A)
    steps.measure("contactor closed again while the diode is shorted", closed, expected=False)

    steps.step("5")
    t1 = await mark(ev)
    await stimulus.apply(Action.FAULT_CLEAR)
    await call(ev.wait_edge, "CONTACTOR_CLOSED", t1, 5.0)
    fault_state = await evse.read("FaultState")
    steps.measure("FaultState", int(fault_state), expected=int(FaultState.kNoError))

    steps.step("6")
    await stimulus.apply(Action.DEMAND_CLEAR)
    await stimulus.apply(Action.UNPLUG)
    await evse_events.wait_for("EVNotDetected", t_event)
    await stimulus.apply(Action.UNINSTALL)
