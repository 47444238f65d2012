"""HIL-RCD: residual current gives GroundFault with the contactor open.

While the EV charges, the EV emulator injects 30 mA AC residual current (type A RCD rated current): the EVSE must
raise GroundFault (Fault event, State Fault, SupplyState DisabledError) and open its contactor within the RCD trip
time of 300 ms; removing the injection clears the fault and charging resumes. The same with 6 mA smooth DC
(IEC 62955 RDC-DD). Each trip time comes from one scope capture (``residual_current``, the test current across a
shunt in the injection path, and ``evse_output``; trigger on the AC source's output): from the onset of the test
current to the EVSE's output turning off.
"""

from __future__ import annotations

import pytest

from rig.bench.timing import CapturePlan
from rig.instruments.capabilities import EnergyMeter, WaveformCapture
from rig.matter.eevse import FaultState, State, SupplyState
from rig.steps import TestStep
from rig.stimulus import Action
from suites.hil.support import (
    METER_CURRENT_TOLERANCE_A,
    RCD_TRIP_S,
    RIG_LATENCY_S,
    call,
    fault_event,
    meter,
    output_switched,
    plug_in,
    reaction,
    require_bench,
    residual_onset,
    start_charging,
    timed,
    wait_current,
)
from suites.tc_eevse.support import check_attr

pytestmark = [pytest.mark.tc("HIL-RCD", "Residual current gives GroundFault"), pytest.mark.pics("EEVSE.S")]

TRIP = CapturePlan(
    "contactor open after the residual current", ("residual_current", "evse_output"), RCD_TRIP_S + RIG_LATENCY_S
)

STEPS = [
    TestStep("1", "Commission DUT to TH (done by the session)", is_commissioning=True),
    TestStep(
        "2",
        "Installation; EV plugs in; EnableCharging(null, 6000, 16000); EV state C",
        "EnergyTransferStarted; contactor closed",
    ),
    TestStep(
        "3",
        "EV emulator injects 30 mA AC residual current",
        "Fault event NoError -> GroundFault; State Fault; SupplyState DisabledError; contactor open within "
        "300 ms; no current",
    ),
    TestStep("4", "Injection removed", "Fault event GroundFault -> NoError; State PluggedInCharging; contactor closed"),
    TestStep(
        "5",
        "EV emulator injects 6 mA smooth DC residual current",
        "Fault event NoError -> GroundFault; contactor open within 300 ms",
    ),
    TestStep("6", "Injection removed", "Fault event GroundFault -> NoError; contactor closed"),
    TestStep("7", "EV stops and unplugs; end of the installation", "EVNotDetected sent"),
]


async def _inject(steps, bench, evse, events, ev, m, t_event: float, **kind: bool) -> None:
    cap = await timed(steps, bench, TRIP, lambda: call(ev.residual_current, **kind))
    t_on = residual_onset(cap)
    reaction(steps, cap, "contactor open after the injection", t_on, output_switched(cap, False, t_on), RCD_TRIP_S)
    await fault_event(
        steps,
        events,
        t_event,
        faultStatePreviousState=FaultState.kNoError,
        faultStateCurrentState=FaultState.kGroundFault,
    )
    await check_attr(steps, evse, "State", State.kFault)
    await check_attr(steps, evse, "SupplyState", SupplyState.kDisabledError)
    steps.measure(
        "EV current during the fault", round(await call(m.current, 1), 3), "A", high=METER_CURRENT_TOLERANCE_A
    )


async def _clear(steps, evse, events, m, stimulus, t_event: float) -> None:
    await stimulus.apply(Action.FAULT_CLEAR)
    await fault_event(
        steps,
        events,
        t_event,
        faultStatePreviousState=FaultState.kGroundFault,
        faultStateCurrentState=FaultState.kNoError,
    )
    await check_attr(steps, evse, "State", State.kPluggedInCharging)
    await wait_current(m, flowing=True, what="contactor closing after the injection was removed")
    steps.note("contactor closed again: current flows")


async def test_hil_residual_current(steps, evse, evse_events, stimulus, bench) -> None:
    ev = require_bench(steps, stimulus, bench, EnergyMeter, WaveformCapture)
    m = meter(bench)
    t_event = evse.event_timeout_s

    steps.step("1")
    steps.step("2")
    await plug_in(steps, stimulus, evse_events, t_event)
    await start_charging(steps, evse, stimulus, evse_events, 16000)
    await wait_current(m, flowing=True, what="contactor closing after state C")

    steps.step("3")
    await _inject(steps, bench, evse, evse_events, ev, m, t_event, ac_30ma=True)
    steps.step("4")
    await _clear(steps, evse, evse_events, m, stimulus, t_event)
    steps.step("5")
    await _inject(steps, bench, evse, evse_events, ev, m, t_event, dc_6ma=True)
    steps.step("6")
    await _clear(steps, evse, evse_events, m, stimulus, t_event)

    steps.step("7")
    await stimulus.apply(Action.DEMAND_CLEAR)
    await stimulus.apply(Action.UNPLUG)
    await evse_events.wait_for("EVNotDetected", t_event)
    await stimulus.apply(Action.UNINSTALL)
