"""HIL-MAINS: over voltage, under voltage and power loss from the AC source give their FaultState and recover.

While the EV charges, the AC source goes to 265 V (above +10 % of 230 V), then 190 V (below -10 %), then drops out
for 1 s (list program). Each gives a Fault event with the matching FaultState (OverVoltage, UnderVoltage,
PowerLoss), State Fault and SupplyState DisabledError with the contactor open; back at nominal mains a Fault event
to NoError, and State/SupplyState return to charging. No EnergyTransferStopped/Started is sent around the faults
(the event checks are strict).
"""

from __future__ import annotations

import pytest

from rig.bench.mains import NOMINAL_MAINS_V
from rig.instruments.capabilities import AcSource, ProgramStep
from rig.matter.eevse import FaultState, State, SupplyState
from rig.steps import TestStep
from rig.stimulus import Action
from suites.hil.support import ac_source, call, fault_event, mark, plug_in, require_bench, start_charging
from suites.tc_eevse.support import check_attr

pytestmark = [pytest.mark.tc("HIL-MAINS", "Mains faults from the AC source"), pytest.mark.pics("EEVSE.S")]

OVER_V = 265.0
UNDER_V = 190.0
DROPOUT_S = 1.0

STEPS = [
    TestStep("1", "Commission DUT to TH (done by the session)", is_commissioning=True),
    TestStep(
        "2",
        "Installation; EV plugs in (state B); EnableCharging(null, 6000, 16000); EV state C",
        "EnergyTransferStarted; contactor closed",
    ),
    TestStep(
        "3",
        f"AC source to {OVER_V:g} V",
        "Fault event NoError -> OverVoltage; State Fault, SupplyState DisabledError; contactor open",
    ),
    TestStep(
        "4",
        f"AC source back to {NOMINAL_MAINS_V:g} V",
        "Fault event OverVoltage -> NoError; State PluggedInCharging, SupplyState ChargingEnabled; contactor closed",
    ),
    TestStep("5", f"AC source to {UNDER_V:g} V", "Fault event NoError -> UnderVoltage; State Fault; contactor open"),
    TestStep(
        "6", f"AC source back to {NOMINAL_MAINS_V:g} V", "Fault event UnderVoltage -> NoError; State PluggedInCharging"
    ),
    TestStep(
        "7",
        f"AC source drops out to 0 V for {DROPOUT_S:g} s (list program)",
        "Fault event NoError -> PowerLoss; contactor open",
    ),
    TestStep(
        "8",
        "Mains back at the end of the program",
        "Fault event PowerLoss -> NoError; State PluggedInCharging; contactor closed",
    ),
    TestStep("9", "EV stops and unplugs; end of the installation", "EVNotDetected sent"),
]


async def _fault(steps, evse, events, ev, t_event: float, t0: float, previous, current) -> None:
    await fault_event(steps, events, t_event, faultStatePreviousState=previous, faultStateCurrentState=current)
    await check_attr(steps, evse, "State", State.kFault)
    await check_attr(steps, evse, "SupplyState", SupplyState.kDisabledError)
    contactor_open = await call(ev.wait_edge, "CONTACTOR_OPEN", t0, 2.0)
    steps.note(f"contactor open (edge at {contactor_open.t_s:.3f} s)")


async def _recovered(steps, evse, events, ev, t_event: float, t0: float, previous) -> None:
    await fault_event(
        steps, events, t_event, faultStatePreviousState=previous, faultStateCurrentState=FaultState.kNoError
    )
    await check_attr(steps, evse, "State", State.kPluggedInCharging)
    await check_attr(steps, evse, "SupplyState", SupplyState.kChargingEnabled)
    await call(ev.wait_edge, "CONTACTOR_CLOSED", t0, 5.0)
    steps.note("contactor closed again")


async def test_hil_mains_faults(steps, evse, evse_events, stimulus, bench) -> None:
    ev = require_bench(steps, stimulus, bench, AcSource)
    source = ac_source(bench)
    t_event = evse.event_timeout_s

    steps.step("1")
    steps.step("2")
    await plug_in(steps, stimulus, evse_events, t_event)
    t0 = await mark(ev)
    await start_charging(steps, evse, stimulus, evse_events, 16000)
    await call(ev.wait_edge, "CONTACTOR_CLOSED", t0, 5.0)
    events = evse_events

    try:
        steps.step("3")
        t0 = await mark(ev)
        await call(source.set_voltage, OVER_V)
        await _fault(steps, evse, events, ev, t_event, t0, FaultState.kNoError, FaultState.kOverVoltage)
        steps.step("4")
        t0 = await mark(ev)
        await call(source.set_voltage, NOMINAL_MAINS_V)
        await _recovered(steps, evse, events, ev, t_event, t0, FaultState.kOverVoltage)

        steps.step("5")
        t0 = await mark(ev)
        await call(source.set_voltage, UNDER_V)
        await _fault(steps, evse, events, ev, t_event, t0, FaultState.kNoError, FaultState.kUnderVoltage)
        steps.step("6")
        t0 = await mark(ev)
        await call(source.set_voltage, NOMINAL_MAINS_V)
        await _recovered(steps, evse, events, ev, t_event, t0, FaultState.kUnderVoltage)

        steps.step("7")
        t0 = await mark(ev)
        await call(source.run_program, [ProgramStep(0.0, DROPOUT_S)])
        await fault_event(
            steps,
            events,
            t_event,
            faultStatePreviousState=FaultState.kNoError,
            faultStateCurrentState=FaultState.kPowerLoss,
        )
        await check_attr(steps, evse, "State", State.kFault)
        steps.step("8")
        await _recovered(steps, evse, events, ev, DROPOUT_S + t_event, t0, FaultState.kPowerLoss)
    finally:
        await call(source.set_voltage, NOMINAL_MAINS_V)

    steps.step("9")
    await stimulus.apply(Action.DEMAND_CLEAR)
    await stimulus.apply(Action.UNPLUG)
    await evse_events.wait_for("EVNotDetected", t_event)
    await stimulus.apply(Action.UNINSTALL)
