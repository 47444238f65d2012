"""HIL-CONTACTOR: the contactor closes within 3 s of state C and opens within 100 ms of C -> B and C -> A.

IEC 61851-1 Annex A sequences: B2 -> C2 with power allowed, the EVSE must energise within 3 s; when the EV opens S2
(C -> B) or is unplugged (-> A), it must de-energise within 100 ms. Times are taken from the EV emulator's
timestamped edges (capture clock): from the instant the state was applied to the contactor edge.
"""

from __future__ import annotations

import pytest

from rig.steps import TestStep
from rig.stimulus import Action
from suites.hil.support import CLOSE_WITHIN_S, OPEN_WITHIN_S, mark, plug_in, require_bench, wait_contactor

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


async def _close(steps, ev, stimulus) -> None:
    t_c = await mark(ev)
    await stimulus.apply(Action.DEMAND)
    t_closed = await wait_contactor(ev, True, t_c, CLOSE_WITHIN_S + 2.0, "contactor closing after state C")
    steps.measure("contactor close after state C", round(t_closed - t_c, 4), "s", low=0.0, high=CLOSE_WITHIN_S)


async def _open(steps, ev, stimulus, action: Action, label: str) -> None:
    t_b = await mark(ev)
    await stimulus.apply(action)
    t_open = await wait_contactor(ev, False, t_b, 2.0, f"contactor opening after {label}")
    steps.measure(f"contactor open after {label}", round(t_open - t_b, 4), "s", low=0.0, high=OPEN_WITHIN_S)


async def test_hil_contactor_timing(steps, evse, evse_events, stimulus, bench) -> None:
    ev = require_bench(steps, stimulus, bench)
    t_event = evse.event_timeout_s

    steps.step("1")
    steps.step("2")
    await plug_in(steps, stimulus, evse_events, t_event)
    await evse.enable_charging(None, 6000, 16000)

    steps.step("3")
    await _close(steps, ev, stimulus)
    steps.note((await evse_events.wait_for("EnergyTransferStarted", t_event)).summary())

    steps.step("4")
    await _open(steps, ev, stimulus, Action.DEMAND_CLEAR, "state C -> B")
    stopped = await evse_events.wait_for("EnergyTransferStopped", t_event)
    steps.note(stopped.summary())
    steps.measure("EnergyTransferStopped.reason", int(stopped.data.reason), expected=0)  # EVStopped

    steps.step("5")
    await _close(steps, ev, stimulus)

    steps.step("6")
    await _open(steps, ev, stimulus, Action.UNPLUG, "state C -> A")
    steps.note((await evse_events.wait_for("EVNotDetected", t_event)).summary())
    await stimulus.apply(Action.UNINSTALL)
