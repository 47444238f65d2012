"""HIL-POWER: a power cycle keeps the EVSE's non-volatile attributes and resets the volatile ones.

The TH sets the persistent configuration (UserMaximumChargeCurrent, RandomizationDelayWindow, EnableCharging with
ChargingEnabledUntil an hour ahead) and runs a session (plug-in / unplug: SessionID), gives the EV a state of charge
(fallback trigger where no ISO 15118 exists), then power-cycles the EVSE: on the virtual bench the EVSE process is
switched off (its process killed where it is, no goodbye) and on again, booting from its storage; on a real bench the
AC source is switched off and on again (the DUT kind decides: ``rig.dut``). The TH then re-establishes CASE,
resubscribes and recovers every event sent in the gap (event numbers continue from the DUT's persisted epoch, Matter
core 7.14.2.1; a number the DUT no longer has fails the case), and requires the DUT's StartUp event, the proof that it
rebooted. Afterwards SessionID,
ChargingEnabledUntil, MinimumChargeCurrent, UserMaximumChargeCurrent, RandomizationDelayWindow and CircuitCapacity
read the same, SupplyState is ChargingEnabled again (the window has not expired), while State (NotPluggedIn),
FaultState (NoError) and the EV's StateOfCharge / BatteryCapacity (null) are reset.
"""

from __future__ import annotations

import time

import pytest

from rig.matter.eevse import Evse, FaultState, State, SupplyState, is_null, matter_epoch_s
from rig.pics import attribute_code
from rig.steps import TestStep
from rig.stimulus import Action, StimulusUnavailable
from suites.hil.support import after_reboot, plug_in, require_bench

pytestmark = [pytest.mark.tc("HIL-POWER", "Power cycle keeps non-volatile attributes"), pytest.mark.pics("EEVSE.S")]

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
        "Power cycle of the EVSE (virtual: its power off and on; real: AC source off/on)",
        "The DUT reboots (StartUp event); TH re-establishes CASE and resubscribes; no event lost",
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


def _value(value):
    """An attribute value as a measurement (null spelt out, so that it is compared too)."""
    return "null" if is_null(value) else value


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
    await after_reboot(steps, evse, evse_events, time.monotonic())

    steps.step("6")
    for a in attrs:
        steps.measure(a, _value(await evse.read(a)), expected=_value(before[a]))

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
