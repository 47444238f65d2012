"""HIL-CPSHORT: a CP-PE short (state E) gives PilotShortCircuit, and removing it recovers.

With the EV plugged in and charging enabled (PWM on), the EV emulator shorts CP to PE (state E, 0 V): the EVSE must
raise FaultState PilotShortCircuit (Fault event, State Fault, SupplyState DisabledError) and stop its PWM; back to
state B the fault clears (Fault event to NoError) and the PWM resumes.
"""

from __future__ import annotations

import pytest

from rig.matter.eevse import FaultState, State, SupplyState
from rig.steps import TestStep
from rig.stimulus import Action
from suites.hil.support import call, fault_event, plug_in, require_bench, settled_pilot
from suites.tc_eevse.support import check_attr

pytestmark = [pytest.mark.tc("HIL-CPSHORT", "CP short circuit (state E)"), pytest.mark.pics("EEVSE.S")]

STEPS = [
    TestStep("1", "Commission DUT to TH (done by the session)", is_commissioning=True),
    TestStep("2", "Installation; EV plugs in (state B); EnableCharging(null, 6000, 16000)", "Pilot PWM on (B2)"),
    TestStep(
        "3",
        "EV emulator shorts CP to PE (state E)",
        "Fault event NoError -> PilotShortCircuit; State Fault; SupplyState DisabledError; no PWM",
    ),
    TestStep(
        "4",
        "EV emulator removes the short (state B)",
        "Fault event PilotShortCircuit -> NoError; State PluggedInNoDemand; PWM on again",
    ),
    TestStep("5", "EV unplugs; end of the installation", "EVNotDetected sent"),
]


async def test_hil_cp_short(steps, evse, evse_events, stimulus, bench) -> None:
    ev = require_bench(steps, stimulus, bench)
    t_event = evse.event_timeout_s

    steps.step("1")
    steps.step("2")
    await plug_in(steps, stimulus, evse_events, t_event)
    await evse.enable_charging(None, 6000, 16000)
    status = await settled_pilot(ev, 26.7)
    steps.measure("pilot PWM", status.pwm_on, expected=True)

    steps.step("3")
    await call(ev.set_state, "E")
    await fault_event(
        steps,
        evse_events,
        t_event,
        faultStatePreviousState=FaultState.kNoError,
        faultStateCurrentState=FaultState.kPilotShortCircuit,
    )
    await check_attr(steps, evse, "State", State.kFault)
    await check_attr(steps, evse, "SupplyState", SupplyState.kDisabledError)
    status = await settled_pilot(ev, None)
    steps.measure("pilot PWM during the short", status.pwm_on, expected=False)

    steps.step("4")
    await stimulus.apply(Action.DEMAND_CLEAR)  # state B
    await fault_event(
        steps,
        evse_events,
        t_event,
        faultStatePreviousState=FaultState.kPilotShortCircuit,
        faultStateCurrentState=FaultState.kNoError,
    )
    await check_attr(steps, evse, "State", State.kPluggedInNoDemand)
    status = await settled_pilot(ev, 26.7)
    steps.measure("pilot PWM after the short", status.pwm_on, expected=True)

    steps.step("5")
    await stimulus.apply(Action.UNPLUG)
    await evse_events.wait_for("EVNotDetected", t_event)
    await stimulus.apply(Action.UNINSTALL)
