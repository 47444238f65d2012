"""HIL-ENERGY: SessionEnergyCharged agrees with the external meter.

The energy the EVSE reports for a session (EVNotDetected.sessionEnergyCharged and the SessionEnergyCharged
attribute, written at the session boundary) must agree with the energy the bench's reference meter measured
between plug-in and unplug, within rig.yaml ``report.energy_tolerance_pct``.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from rig.instruments.capabilities import EnergyMeter
from rig.ledger import Cause, SessionLedger
from rig.pytest_plugin.attach import attach_series
from rig.steps import TestStep
from rig.stimulus import Action
from suites.hil.support import call, meter, plug_in, require_bench, start_charging, wait_current

pytestmark = [pytest.mark.tc("HIL-ENERGY", "Session energy agrees with the meter"), pytest.mark.pics("EEVSE.S")]

CHARGE_S = 2.0
"""Charging time: enough energy (about 3 Wh at 24 A) to compare to the percent."""

STEPS = [
    TestStep("1", "Commission DUT to TH (done by the session)", is_commissioning=True),
    TestStep(
        "2",
        "Meter reads its imported energy; installation; EV emulator plugs in (state B)",
        "Verify Event EEVSE.S.E00(EVConnected) sent",
    ),
    TestStep("3", "TH sends EnableCharging(null, 6000, 32000); EV state C", "EnergyTransferStarted"),
    TestStep(
        "4",
        f"The EV charges for {CHARGE_S:g} s, then stops (state B) and unplugs (state A)",
        "EnergyTransferStopped and EVNotDetected sent",
    ),
    TestStep(
        "5",
        "Compare the session energy with the meter",
        "EVNotDetected.sessionEnergyCharged and SessionEnergyCharged within report.energy_tolerance_pct of "
        "the metered energy",
    ),
    TestStep("6", "End of the installation", ""),
]


async def test_hil_session_energy(steps, evse, evse_events, stimulus, bench, rig_config, request) -> None:
    require_bench(steps, stimulus, bench, EnergyMeter)
    m = meter(bench)
    t_event = evse.event_timeout_s
    tolerance = rig_config.report.energy_tolerance_pct
    energy: list = []
    # Every field of every event is also cross-checked against the rig's clock, the meter and the attributes read
    # before and after (rig/ledger.py), energyTransferred and sessionDuration included.
    ledger = SessionLedger(steps, evse, m, energy_tolerance_pct=tolerance)

    steps.step("1")
    steps.step("2")
    e0 = await call(m.energy_import_wh)
    energy.append((time.time(), 0.0))
    mark = await ledger.mark(Cause.PLUG_IN)
    await ledger.judge(await plug_in(steps, stimulus, evse_events, t_event), mark)

    steps.step("3")
    mark = await ledger.mark(Cause.DEMAND)
    await ledger.judge(await start_charging(steps, evse, stimulus, evse_events, 32000), mark)
    await wait_current(m, flowing=True, what="contactor closing after state C")

    steps.step("4")
    deadline = time.monotonic() + CHARGE_S  # the observation window: energy has to flow to be compared
    while time.monotonic() < deadline:
        energy.append((time.time(), await call(m.energy_import_wh) - e0))
        await asyncio.sleep(0.25)
    mark = await ledger.mark(Cause.EV_STOP)
    await stimulus.apply(Action.DEMAND_CLEAR)
    await ledger.judge(await evse_events.wait_for("EnergyTransferStopped", t_event), mark)
    mark = await ledger.mark(Cause.UNPLUG)
    await stimulus.apply(Action.UNPLUG)
    gone = await ledger.judge(await evse_events.wait_for("EVNotDetected", t_event), mark)

    steps.step("5")
    metered_wh = await call(m.energy_import_wh) - e0
    energy.append((time.time(), metered_wh))
    steps.note(f"meter: {metered_wh:.4f} Wh imported during the session")
    low, high = metered_wh * (1 - tolerance / 100), metered_wh * (1 + tolerance / 100)
    steps.measure(
        "EVNotDetected.sessionEnergyCharged",
        round(gone.data.sessionEnergyCharged / 1000, 4),
        "Wh",
        low=round(low, 4),
        high=round(high, 4),
    )
    attr = await evse.read("SessionEnergyCharged")
    steps.measure("SessionEnergyCharged", round(int(attr) / 1000, 4), "Wh", low=round(low, 4), high=round(high, 4))
    steps.measure("metered energy", round(metered_wh, 4), "Wh", low=0.5)

    steps.step("6")
    await stimulus.apply(Action.UNINSTALL)
    attach_series(request, "meter energy", "Wh", energy, plot="energy")
    attach_series(request, "SessionEnergyCharged", "Wh", [(time.time(), int(attr) / 1000)], plot="energy")
