"""HIL-DIODE: a shorted EV diode stops charging; the fault is latched until the EV is unplugged.

While the EV charges, the EV emulator shorts its diode: the negative PWM half is no longer clamped at -12 V. The
EVSE must raise a fault (PilotShortCircuit: the Matter FaultState for a pilot fault), stop the PWM, open its
contactor and stop the current. The diode can only be checked while the PWM runs, so the fault is latched, as
IEC 61851-1 practice has it (an EVSE does not resume on its own after a failed diode check; the EV has to be
disconnected, e.g. OpenEVSE's DIODE_CHK_FAILED hard fault, cancelled at unplug): one Fault event, no PWM and no
current while the diode stays shorted and also once it is healthy again with the EV still plugged in. Unplugging
(state A) clears it with one Fault event; plugged in again with a healthy diode, the PWM restarts, the diode check
passes and charging resumes. The contactor opening is timed on one scope capture (``cp``, ``evse_output``; trigger
on the AC source's output): from the pilot's negative level leaving -12 V to the EVSE's output turning off.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from rig.bench.timing import CapturePlan
from rig.instruments.capabilities import EnergyMeter, WaveformCapture
from rig.matter.eevse import FaultState, State, SupplyState
from rig.steps import TestStep
from rig.stimulus import Action
from suites.hil.support import (
    METER_CURRENT_TOLERANCE_A,
    RIG_LATENCY_S,
    call,
    check_event_fields,
    diode_short,
    fault_event,
    meter,
    output_switched,
    plug_in,
    reaction,
    require_bench,
    start_charging,
    timed,
    wait_current,
)
from suites.tc_eevse.support import check_attr

pytestmark = [pytest.mark.tc("HIL-DIODE", "EV diode fault stops charging"), pytest.mark.pics("EEVSE.S")]

HOLD_S = 1.0
OPEN_WITHIN_S = 0.5
"""The rig's bound on the EVSE opening its contactor after the diode short."""
DIODE = CapturePlan("contactor open after the diode short", ("cp", "evse_output"), OPEN_WITHIN_S + RIG_LATENCY_S)

STEPS = [
    TestStep("1", "Commission DUT to TH (done by the session)", is_commissioning=True),
    TestStep(
        "2",
        "Installation; EV plugs in; EnableCharging(null, 6000, 16000); EV state C",
        "EnergyTransferStarted; contactor closed; current flows",
    ),
    TestStep(
        "3",
        "EV emulator shorts the EV diode",
        "Fault event NoError -> PilotShortCircuit; contactor open within 0.5 s of the short",
    ),
    TestStep(
        "4",
        f"Diode kept shorted for {HOLD_S:g} s",
        "The contactor stays open, no current flows, no PWM; no further Fault event (latched)",
    ),
    TestStep(
        "5",
        f"EV emulator restores the diode; the EV stays plugged in for {HOLD_S:g} s",
        "Still latched: FaultState PilotShortCircuit, no Fault event, contactor open",
    ),
    TestStep(
        "6",
        "EV stops and unplugs",
        "EVNotDetected and Fault event PilotShortCircuit -> NoError (either order); State NotPluggedIn; "
        "SupplyState ChargingEnabled again",
    ),
    TestStep(
        "7",
        "EV plugs in again and asks for energy (healthy diode)",
        "EVConnected; PWM restarts and the diode check passes: EnergyTransferStarted next (no Fault event); "
        "contactor closed; current flows",
    ),
    TestStep("8", "EV stops and unplugs; end of the installation", "EVNotDetected sent"),
]


async def _hold(steps, ev, m, evse_events, what: str) -> None:
    """Watch for HOLD_S: current (the contactor) and PWM; then no Fault event may have arrived."""
    worst = 0.0
    pwm = False
    deadline = time.monotonic() + HOLD_S
    while time.monotonic() < deadline:
        worst = max(worst, await call(m.current, 1))
        pwm = pwm or (await call(ev.pilot)).pwm_on
        await asyncio.sleep(0.1)
    steps.measure(f"highest current {what}", round(worst, 3), "A", high=METER_CURRENT_TOLERANCE_A)
    steps.measure(f"PWM seen {what}", pwm, expected=False)
    extra = evse_events.flush()
    for e in extra:
        steps.note(f"event {what}: {e.summary()}")
    steps.measure(f"Fault events {what}", sum(e.name == "Fault" for e in extra), expected=0)


async def test_hil_diode_fault(steps, evse, evse_events, stimulus, bench) -> None:
    ev = require_bench(steps, stimulus, bench, EnergyMeter, WaveformCapture)
    m = meter(bench)
    t_event = evse.event_timeout_s

    steps.step("1")
    steps.step("2")
    await plug_in(steps, stimulus, evse_events, t_event)
    await start_charging(steps, evse, stimulus, evse_events, 16000)
    amps = await wait_current(m, flowing=True, what="contactor closing after state C")
    steps.measure("EV current before the fault", round(amps, 2), "A", low=5.5)

    steps.step("3")
    cap = await timed(steps, bench, DIODE, lambda: call(ev.diode_fault, True))
    t_short = diode_short(cap)
    reaction(
        steps, cap, "contactor open after the diode short", t_short, output_switched(cap, False, t_short), OPEN_WITHIN_S
    )
    await fault_event(
        steps,
        evse_events,
        t_event,
        faultStatePreviousState=FaultState.kNoError,
        faultStateCurrentState=FaultState.kPilotShortCircuit,
    )

    steps.step("4")
    await _hold(steps, ev, m, evse_events, "while the diode is shorted")

    steps.step("5")
    await stimulus.apply(Action.FAULT_CLEAR)
    await _hold(steps, ev, m, evse_events, "with the diode restored, EV plugged in")
    await check_attr(steps, evse, "FaultState", FaultState.kPilotShortCircuit)

    steps.step("6")
    await stimulus.apply(Action.DEMAND_CLEAR)
    await stimulus.apply(Action.UNPLUG)
    n_skipped = len(evse_events.skipped)
    steps.note((await evse_events.wait_for("EVNotDetected", t_event)).summary())
    passed = evse_events.skipped[n_skipped:]  # events before EVNotDetected: only the Fault event may be there
    for e in passed:
        if e.name != "Fault":
            raise AssertionError(f"unexpected event before EVNotDetected: {e.summary()}")
    cleared = passed[0] if passed else await evse_events.next("Fault", t_event)
    check_event_fields(
        steps,
        cleared,
        faultStatePreviousState=FaultState.kPilotShortCircuit,
        faultStateCurrentState=FaultState.kNoError,
    )
    await check_attr(steps, evse, "FaultState", FaultState.kNoError)
    await check_attr(steps, evse, "State", State.kNotPluggedIn)
    await check_attr(steps, evse, "SupplyState", SupplyState.kChargingEnabled)

    steps.step("7")
    await plug_in(steps, stimulus, evse_events, t_event, install=False)
    await stimulus.apply(Action.DEMAND)
    steps.note((await evse_events.next("EnergyTransferStarted", t_event)).summary())
    amps = await wait_current(m, flowing=True, what="contactor closing after the fault")
    steps.measure("EV current after the fault", round(amps, 2), "A", low=5.5)

    steps.step("8")
    await stimulus.apply(Action.DEMAND_CLEAR)
    await stimulus.apply(Action.UNPLUG)
    await evse_events.wait_for("EVNotDetected", t_event)
    await stimulus.apply(Action.UNINSTALL)
