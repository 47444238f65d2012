"""BENCH-LOSE: a charging session that loses an instrument or the DUT mid-case.

Run by ``tests/e2e/test_loss.py`` with ``rig run`` on this file and ``test_after_loss.py``. BENCH-LOSE
plugs the EV emulator in (state B), enables charging over Matter, asks for energy (state C), waits for the current
on the meter, then watches the session: the meter's current and the DUT's State attribute, read again and again,
until one of them fails. The e2e test meanwhile switches the meter off (the virtual bench's control FIFO) or kills
the virtual EVSE's process (SIGKILL); the case must then fail as a loss naming the meter or the DUT, with the rest
of the bench in its safe state. BENCH-AFTER (``test_after_loss.py``) runs only when rig.yaml's ``on_loss`` is
``continue``.

It lives outside ``suites/`` so ``make run`` never runs it.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from rig.matter.controller import Clusters
from rig.steps import TestStep
from tests.e2e.bench_cases.session import start_charging

WATCH_S = 120.0
WATCH_EVERY_S = 0.1  # the pace of the watch's reads (each read is a round trip to the meter and to the DUT)
WATCHING_FILE = "bench-lose.json"
"""Written into the run folder once the session is watched: the e2e test then causes the loss."""

pytestmark = [pytest.mark.tc("BENCH-LOSE", "Charging session watched until an instrument or the DUT is lost")]

STEPS = [
    TestStep("1", "Commission DUT to TH (done by the session)", is_commissioning=True),
    TestStep("2", "EV emulator: 32 A cable, CP state B (plug-in)", "Event EVConnected"),
    TestStep("3", "TH sends EnableCharging (null, 6000 mA, 16000 mA)", "SUCCESS"),
    TestStep("4", "EV emulator: CP state C", "Current on the meter; Event EnergyTransferStarted"),
    TestStep(
        "5",
        "Watch the session: read the meter's current and the DUT's State again and again",
        f"An instrument or the DUT is lost within {WATCH_S:g} s: the case fails naming it",
    ),
]


async def test_lose_mid_session(steps, bench, dut, run_dir, evse, evse_events) -> None:
    steps.step("1")
    meter, _ = await start_charging(steps, bench, evse, evse_events)

    steps.step("5")
    process = getattr(getattr(dut, "_evse", None), "proc", None)
    mark = {"watching": True, "virtual_evse_pid": getattr(process, "pid", None)}
    (run_dir / WATCHING_FILE).write_text(json.dumps(mark), encoding="utf-8")
    deadline = time.monotonic() + WATCH_S
    reads = 0
    while time.monotonic() < deadline:
        await asyncio.to_thread(meter.current)
        await evse.node.read(Clusters.EnergyEvse.Attributes.State)
        reads += 1
        await asyncio.sleep(WATCH_EVERY_S)  # the watch's pace; what ends it is a read that fails
    pytest.fail(
        f"watched the session for {WATCH_S:g} s ({reads} reads of the meter and the DUT) and nothing was lost: this "
        "case exists to lose an instrument or the DUT mid-session (tests/e2e/test_loss.py)"
    )
