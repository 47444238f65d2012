"""HIL-POWER: a power cycle keeps the EVSE's non-volatile attributes and resets the volatile ones.

The TH sets the persistent configuration (UserMaximumChargeCurrent, RandomizationDelayWindow, EnableCharging with
ChargingEnabledUntil an hour ahead) and runs a session (plug-in / unplug: SessionID), gives the EV a state of charge
(fallback trigger where no ISO 15118 exists), then power-cycles the EVSE: on the virtual bench the EVSE process is
restarted on its storage; on a real bench the AC source is switched off and on again (the DUT kind decides:
``rig.dut``). Afterwards SessionID,
ChargingEnabledUntil, MinimumChargeCurrent, UserMaximumChargeCurrent, RandomizationDelayWindow and CircuitCapacity
read the same, SupplyState is ChargingEnabled again (the window has not expired), while State (NotPluggedIn),
FaultState (NoError) and the EV's StateOfCharge / BatteryCapacity (null) are reset.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from rig.matter.eevse import Evse, FaultState, State, SupplyState, is_null, matter_epoch_s
from rig.pics import attribute_code
from rig.steps import TestStep
from rig.stimulus import Action, StimulusUnavailable
from suites.hil.support import plug_in, require_bench

pytestmark = [pytest.mark.tc("HIL-POWER", "Power cycle keeps non-volatile attributes"), pytest.mark.pics("EEVSE.S")]

BACK_S = 60.0
"""Bound on the EVSE answering again after power returns."""

NON_VOLATILE = (
    "SessionID",
    "ChargingEnabledUntil",
    "MinimumChargeCurrent",
    "UserMaximumChargeCurrent",
    "RandomizationDelayWindow",
    "CircuitCapacity",
)
OPTIONAL = ("UserMaximumChargeCurrent", "RandomizationDelayWindow")
SOC_FEATURE = "EEVSE.S.F01"

STEPS = [
    TestStep("1", "Commission DUT to TH (done by the session)", is_commissioning=True),
    TestStep(
        "2",
        "TH writes UserMaximumChargeCurrent=20000, RandomizationDelayWindow=1234 and sends "
        "EnableCharging(ChargingEnabledUntil = now + 1 h, 7000, 16000)",
        "SUCCESS",
    ),
    TestStep(
        "3",
        "EV plugs in; the EV's state of charge becomes known; EV unplugs",
        "EVConnected, EVNotDetected; StateOfCharge not null while plugged in (SOC feature)",
    ),
    TestStep("4", "TH reads the non-volatile attributes", "Values noted"),
    TestStep(
        "5",
        "Power cycle of the EVSE (virtual: process restart on its storage; real: AC source off/on)",
        "The DUT answers again over Matter",
    ),
    TestStep("6", "TH reads the non-volatile attributes", "Each equals its value before the power cycle"),
    TestStep(
        "7",
        "TH reads SupplyState, State, FaultState, StateOfCharge, BatteryCapacity",
        "ChargingEnabled (window still open); NotPluggedIn; NoError; null; null",
    ),
    TestStep(
        "8",
        "TH sends Disable, writes back RandomizationDelayWindow; end of the installation",
        "UserMaximumChargeCurrent back to its value before the case",
    ),
]


async def _reachable(evse, timeout_s: float) -> float:
    t0 = time.monotonic()
    last = None
    while time.monotonic() - t0 < timeout_s:
        try:
            await asyncio.wait_for(evse.read("SessionID"), 5.0)
            return time.monotonic() - t0
        except Exception as exc:
            last = exc
            await asyncio.sleep(0.2)
    raise AssertionError(f"the DUT did not answer over Matter within {timeout_s:g} s after the power cycle: {last}")


async def test_hil_power_cycle(steps, evse, evse_events, stimulus, bench, dut, pics) -> None:
    require_bench(steps, stimulus, bench, *dut.power_cycle_needs())
    t_event = evse.event_timeout_s
    # Optional attributes and the SoC checks follow the DUT's PICS (the file's, or derived from the DUT).
    codes = {a: attribute_code(Evse.attribute(a).attribute_id) for a in OPTIONAL}
    attrs = [a for a in NON_VOLATILE if a not in OPTIONAL or pics.check(codes[a])]
    not_checked = [pics.why_not(codes[a]) for a in NON_VOLATILE if a not in attrs]
    has_soc = pics.check(SOC_FEATURE)

    steps.step("1")
    steps.step("2")
    await stimulus.apply(Action.INSTALL)  # notes UserMaximumChargeCurrent, put back at UNINSTALL
    rdw = await evse.read("RandomizationDelayWindow") if "RandomizationDelayWindow" in attrs else None
    if "UserMaximumChargeCurrent" in attrs:
        await evse.write("UserMaximumChargeCurrent", 20000)
    if "RandomizationDelayWindow" in attrs:
        await evse.write("RandomizationDelayWindow", 1234)
    await evse.enable_charging(matter_epoch_s() + 3600, 7000, 16000)

    steps.step("3")
    await plug_in(steps, stimulus, evse_events, t_event, install=False)
    if not has_soc:
        steps.note(f"StateOfCharge not set: {pics.why_not(SOC_FEATURE)}")
    else:
        try:
            await stimulus.apply(Action.SOC_HIGH)
            soc = await evse.read("StateOfCharge")
            steps.note(f"StateOfCharge = {soc}")
        except StimulusUnavailable as exc:
            steps.note(f"state of charge not set: {exc}")
    await stimulus.apply(Action.UNPLUG)
    await evse_events.wait_for("EVNotDetected", t_event)

    steps.step("4")
    before = {a: await evse.read(a) for a in attrs}
    steps.note(", ".join(f"{a} = {v}" for a, v in before.items()))
    for reason in not_checked:
        steps.note(f"not checked: {reason}")

    steps.step("5")
    steps.note(await dut.power_cycle(bench))
    evse.node.expire_sessions()  # the DUT forgot its sessions: do not wait for the stale one to time out
    took = await _reachable(evse, BACK_S)
    steps.note(f"DUT answering again {took:.1f} s after power returned")

    steps.step("6")
    for a in attrs:
        after = await evse.read(a)
        steps.measure(a, None if is_null(after) else after, expected=None if is_null(before[a]) else before[a])

    steps.step("7")
    steps.measure("SupplyState", int(await evse.read("SupplyState")), expected=int(SupplyState.kChargingEnabled))
    steps.measure("State", int(await evse.read("State")), expected=int(State.kNotPluggedIn))
    steps.measure("FaultState", int(await evse.read("FaultState")), expected=int(FaultState.kNoError))
    if not has_soc:
        steps.note(f"StateOfCharge, BatteryCapacity not checked: {pics.why_not(SOC_FEATURE)}")
    else:
        for a in ("StateOfCharge", "BatteryCapacity"):
            value = await evse.read(a)
            steps.measure(f"{a} is null", is_null(value), expected=True)

    steps.step("8")
    await evse.disable()
    if rdw is not None:
        await evse.write("RandomizationDelayWindow", rdw)
    await stimulus.apply(Action.UNINSTALL)
