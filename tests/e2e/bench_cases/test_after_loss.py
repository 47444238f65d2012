"""BENCH-AFTER: the case after a loss (``test_lose_mid_session.py``), run only when rig.yaml's ``on_loss`` is
``continue``: the bench the loss left behind is safe, every relay of the EV emulator read back open (EV in state A,
no fault path closed).

It lives outside ``suites/`` so ``make run`` never runs it.
"""

from __future__ import annotations

import asyncio

import pytest

from rig.steps import TestStep

pytestmark = [pytest.mark.tc("BENCH-AFTER", "The bench after a loss")]

STEPS = [TestStep("1", "Read back every relay of the EV emulator", "All open: EV in state A, no fault path closed")]


async def test_after_loss(steps, bench) -> None:
    assert bench is not None and bench.ev_emulator is not None and bench.ev_emulator.relays is not None, (
        "this case needs a bench whose EV emulator is a relay network"
    )
    relays, wiring = bench.ev_emulator.relays, bench.ev_emulator.wiring
    steps.step("1")
    closed = [ch for ch, n in sorted(wiring.items()) if await asyncio.to_thread(relays.relay, n)]
    steps.measure("EV emulator relays closed", ", ".join(closed) or "none", expected="none")
