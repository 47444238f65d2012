"""The charging session the bench cases start: steps 2 to 4 of BENCH-HOLD and BENCH-LOSE."""

from __future__ import annotations

import asyncio
from typing import Any

from rig.instruments.capabilities import EnergyMeter
from suites.hil.support import wait_current

CABLE_A = 32
MAX_MA = 16000
CONTACTOR_TIMEOUT_S = 5.0  # the EVSE's contactorDelayMs is 200 ms by default


async def start_charging(steps: Any, bench: Any, evse: Any, evse_events: Any) -> tuple[EnergyMeter, Any]:
    """Step 2: the EV emulator plugs a 32 A cable in (state B), EVConnected awaited; step 3: EnableCharging (null,
    6 A, 16 A); step 4: state C, the contactor's closing seen as current on the meter, EnergyTransferStarted
    awaited. Returns the meter and the EnergyTransferStarted event."""
    assert bench is not None and bench.ev_emulator is not None, (
        "this case needs a bench with an EV emulator (rig.yaml instruments and ev_emulator)"
    )
    found = bench.first(EnergyMeter)
    assert found is not None, "this case needs a bench meter (rig.yaml instruments)"
    ev, meter, t_event = bench.ev_emulator, found[1], evse.event_timeout_s

    steps.step("2")
    await asyncio.to_thread(ev.release_all)
    await asyncio.to_thread(ev.set_cable, CABLE_A)
    await asyncio.to_thread(ev.set_state, "B")
    steps.note((await evse_events.wait_for("EVConnected", t_event)).summary())

    steps.step("3")
    await evse.enable_charging(None, 6000, MAX_MA)

    steps.step("4")
    await asyncio.to_thread(ev.set_state, "C")
    amps = await wait_current(
        meter, flowing=True, what="contactor closing after state C", timeout_s=CONTACTOR_TIMEOUT_S
    )
    steps.note(f"contactor closed: the meter reads {amps:.2f} A")
    started = await evse_events.wait_for("EnergyTransferStarted", t_event)
    steps.note(started.summary())
    return meter, started
