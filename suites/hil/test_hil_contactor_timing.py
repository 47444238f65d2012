"""HIL-CONTACTOR: the contactor closes within 3 s of state C and opens within 100 ms of C -> B and C -> A.

IEC 61851-1 Annex A sequences: B2 -> C2 with power allowed, the EVSE must energise within 3 s; when the EV opens S2
(C -> B) or is unplugged (-> A), it must de-energise within 100 ms. Each time comes from one single-shot scope
capture (``cp`` and ``evse_output``; trigger on the AC source's output rising through 0 V, then the EV emulator
switches): from the pilot's level change (9 V -> 6 V for B -> C, 6 V -> 9 V / 12 V for C -> B / A) to the EVSE's
output turning on or off.
"""

from __future__ import annotations

import pytest

from rig.bench.timing import CapturePlan
from rig.instruments.capabilities import WaveformCapture
from rig.steps import TestStep
from rig.stimulus import Action
from suites.hil.support import (
    CLOSE_WITHIN_S,
    OPEN_WITHIN_S,
    RIG_LATENCY_S,
    call,
    cp_change,
    output_switched,
    plug_in,
    reaction,
    require_bench,
    timed,
)

pytestmark = [pytest.mark.tc("HIL-CONTACTOR", "Contactor reaction times"), pytest.mark.pics("EEVSE.S")]

STEPS = [
    TestStep("1", "Commission DUT to TH (done by the session)", is_commissioning=True),
    TestStep(
        "2",
        "Installation; EV emulator plugs in (state B); TH sends EnableCharging(null, 6000, 16000)",
        "Verify Event EEVSE.S.E00(EVConnected) sent",
    ),
    TestStep(
        "3",
        "EV emulator: state C (EV requests energy)",
        "Contactor closed within 3 s; Event EEVSE.S.E02(EnergyTransferStarted) sent",
    ),
    TestStep(
        "4",
        "EV emulator: state B (EV stops)",
        "Contactor open within 100 ms; Event EEVSE.S.E03(EnergyTransferStopped) sent with reason EVStopped",
    ),
    TestStep("5", "EV emulator: state C again", "Contactor closed within 3 s"),
    TestStep(
        "6",
        "EV emulator: state A (unplugged while charging)",
        "Contactor open within 100 ms; Event EEVSE.S.E01(EVNotDetected) sent",
    ),
]


CLOSE = CapturePlan("contactor close after state C", ("cp", "evse_output"), CLOSE_WITHIN_S + RIG_LATENCY_S)
OPEN = CapturePlan("contactor open after state C ends", ("cp", "evse_output"), OPEN_WITHIN_S + RIG_LATENCY_S)


async def _close(steps, bench, ev, stimulus) -> None:
    cap = await timed(steps, bench, CLOSE, lambda: call(ev.set_state, "C"))
    t_c = cp_change(cap, "B", "C")
    reaction(steps, cap, "contactor close after state C", t_c, output_switched(cap, True, t_c), CLOSE_WITHIN_S)
    await stimulus.apply(Action.DEMAND)  # state C again: confirms the pilot reads C


async def _open(steps, bench, ev, stimulus, action: Action, state: str) -> None:
    cap = await timed(steps, bench, OPEN, lambda: call(ev.set_state, state))
    t_s = cp_change(cap, "C", state)
    label = f"state C -> {state}"
    reaction(steps, cap, f"contactor open after {label}", t_s, output_switched(cap, False, t_s), OPEN_WITHIN_S)
    await stimulus.apply(action)


async def test_hil_contactor_timing(steps, evse, evse_events, stimulus, bench) -> None:
    ev = require_bench(steps, stimulus, bench, WaveformCapture)
    t_event = evse.event_timeout_s

    steps.step("1")
    steps.step("2")
    await plug_in(steps, stimulus, evse_events, t_event)
    await evse.enable_charging(None, 6000, 16000)

    steps.step("3")
    await _close(steps, bench, ev, stimulus)
    steps.note((await evse_events.wait_for("EnergyTransferStarted", t_event)).summary())

    steps.step("4")
    await _open(steps, bench, ev, stimulus, Action.DEMAND_CLEAR, "B")
    stopped = await evse_events.wait_for("EnergyTransferStopped", t_event)
    steps.note(stopped.summary())
    steps.measure("EnergyTransferStopped.reason", int(stopped.data.reason), expected=0)  # EVStopped

    steps.step("5")
    await _close(steps, bench, ev, stimulus)

    steps.step("6")
    await _open(steps, bench, ev, stimulus, Action.UNPLUG, "A")
    steps.note((await evse_events.wait_for("EVNotDetected", t_event)).summary())
    await stimulus.apply(Action.UNINSTALL)
