"""HIL-POWER: a power cycle keeps every nonVolatile Energy EVSE attribute and resets every volatile one.

Which attribute is which comes from spec/EnergyEVSE.xml (the ``quality`` element's ``persistence``, read by
``rig.spec``), filtered by the DUT's PICS. The TH sets every nonVolatile attribute it can to a value other than its
XML default (writes to the writable ones, EnableCharging with ChargingEnabledUntil an hour ahead, with V2X
EnableDischarging too, a session for SessionID, SessionDuration and the session energies; CircuitCapacity is the
installer's setting, read-only) and gives the EV a state of charge and a vehicle id (volatile values the EVSE learns
from the EV; fallback triggers where no ISO 15118 exists), then power-cycles the EVSE: on the virtual bench the EVSE
process is switched off (its process killed where it is, no goodbye) and on again, booting from its storage; on a
real bench the AC source is switched off and on again (the DUT kind decides: ``rig.dut``). The TH then re-establishes
CASE, resubscribes and recovers every event sent in the gap (event numbers continue from the DUT's persisted epoch,
Matter core 7.14.2.1; a number the DUT no longer has fails the case), and requires the DUT's StartUp event, the proof
that it rebooted. Afterwards every nonVolatile attribute reads the same as before, and every volatile one reads what
a boot gives it, not what it held: State NotPluggedIn (the EV unplugged), FaultState NoError, SupplyState derived
from the stored enable windows (ChargingEnabled, or Enabled with V2X: both still open), NextCharge* null (no EV),
StateOfCharge, BatteryCapacity and VehicleID null (no EV information after a boot).
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import pytest

from rig.matter.eevse import FaultState, State, SupplyState, matter_epoch_s
from rig.steps import TestStep
from rig.stimulus import Action, StimulusUnavailable
from suites.hil.spec_values import NULL, measured, non_default_write, non_volatile, present, spec_default
from suites.hil.support import after_reboot, plug_in, require_bench

pytestmark = [pytest.mark.tc("HIL-POWER", "Power cycle keeps non-volatile attributes"), pytest.mark.pics("EEVSE.S")]

INSTALLATION = "CircuitCapacity"
"""Read-only, the installer's setting: the TH cannot set it apart from its default (it is compared all the same)."""
SOC_FEATURE = "EEVSE.S.F01"
PNC_FEATURE = "EEVSE.S.F02"
V2X_FEATURE = "EEVSE.S.F04"
FROM_THE_EV = ("StateOfCharge", "BatteryCapacity", "VehicleID")
"""Volatile values the EVSE learns from the EV: set before the power cycle, null after it."""


def boot_values(v2x: bool) -> dict[str, Any]:
    """What a boot gives each volatile attribute here (the EV unplugged, both enable windows an hour ahead)."""
    supply = SupplyState.kEnabled if v2x else SupplyState.kChargingEnabled
    values: dict[str, Any] = {
        "State": int(State.kNotPluggedIn),
        "SupplyState": int(supply),
        "FaultState": int(FaultState.kNoError),
    }
    for name in ("NextChargeStartTime", "NextChargeTargetTime", "NextChargeRequiredEnergy", "NextChargeTargetSoC"):
        values[name] = NULL
    for name in FROM_THE_EV:
        values[name] = NULL
    return values


STEPS = [
    TestStep("1", "Commission DUT to TH (done by the session)", is_commissioning=True),
    TestStep(
        "2",
        "TH writes each writable attribute a value other than its XML default (UserMaximumChargeCurrent=20000, "
        "RandomizationDelayWindow=1234, ApproximateEVEfficiency=4321), sends EnableCharging(ChargingEnabledUntil = "
        "now + 1 h, 7000, 16000) and, with V2X, EnableDischarging(now + 1 h, 10000)",
        "SUCCESS",
    ),
    TestStep(
        "3",
        "EV plugs in; the EV's state of charge and vehicle id become known; EV unplugs",
        "EVConnected, EVNotDetected; StateOfCharge and VehicleID not null while plugged in (SOC, PNC features)",
    ),
    TestStep(
        "4",
        "TH reads every attribute of spec/EnergyEVSE.xml the DUT has",
        "Each nonVolatile one differs from its XML default (CircuitCapacity, read-only: noted); values noted",
    ),
    TestStep(
        "5",
        "Power cycle of the EVSE (virtual: its power off and on; real: AC source off/on)",
        "The DUT reboots (StartUp event); TH re-establishes CASE and resubscribes; no event lost",
    ),
    TestStep("6", "TH reads every nonVolatile attribute", "Each equals its value before the power cycle"),
    TestStep(
        "7",
        "TH reads every volatile attribute",
        "Its boot value: State NotPluggedIn, SupplyState ChargingEnabled (Enabled with V2X: both windows open), "
        "FaultState NoError, NextCharge* null, StateOfCharge, BatteryCapacity, VehicleID null",
    ),
    TestStep(
        "8",
        "TH sends Disable, writes back the writable attributes; end of the installation",
        "Each writable attribute back at its value before the case",
    ),
]


async def test_hil_power_cycle(steps, evse, evse_events, stimulus, bench, dut, pics) -> None:
    require_bench(steps, stimulus, bench, *dut.power_cycle_needs())
    t_event = evse.event_timeout_s
    attrs, missing = present(pics)
    names = {a.name for a in attrs}
    v2x = pics.check(V2X_FEATURE)

    steps.step("1")
    steps.step("2")
    await stimulus.apply(Action.INSTALL)  # notes UserMaximumChargeCurrent, put back at UNINSTALL
    settings = {a.name: await evse.read(a.name) for a in attrs if a.writable}
    steps.note("before the case: " + ", ".join(f"{n} = {measured(v)}" for n, v in settings.items()))

    async def give_back() -> None:
        await evse.disable()
        for name, value in settings.items():
            if measured(await evse.read(name)) != measured(value):
                await evse.write(name, value)
                steps.note(f"{name} = {measured(value)} written back")

    try:
        await _walk(steps, evse, evse_events, stimulus, bench, dut, pics, attrs, missing, names, v2x, t_event)
    except BaseException:
        with contextlib.suppress(Exception):  # the DUT as found, as far as it answers; the failure stays the case's
            await give_back()
        raise
    steps.step("8")
    await give_back()
    await stimulus.apply(Action.UNINSTALL)


async def _learn_from_ev(steps, stimulus, evse, pics, action: Action, feature: str, attribute: str) -> None:
    """Make the EV tell the EVSE ``attribute`` (physically, or by the fallback trigger); note it."""
    if not pics.check(feature):
        steps.note(f"{attribute} not set: {pics.why_not(feature)}")
        return
    try:
        await stimulus.apply(action)
        steps.note(f"{attribute} = {measured(await evse.read(attribute))} while plugged in")
    except StimulusUnavailable as exc:
        steps.note(f"{attribute} not set: {exc}")


async def _walk(steps, evse, evse_events, stimulus, bench, dut, pics, attrs, missing, names, v2x, t_event) -> None:
    for a in attrs:
        if a.writable:
            await evse.write(a.name, non_default_write(a))
    await evse.enable_charging(matter_epoch_s() + 3600, 7000, 16000)
    if v2x:
        await evse.enable_discharging(matter_epoch_s() + 3600, 10000)

    steps.step("3")
    await plug_in(steps, stimulus, evse_events, t_event, install=False)
    await _learn_from_ev(steps, stimulus, evse, pics, Action.SOC_HIGH, SOC_FEATURE, "StateOfCharge")
    await _learn_from_ev(steps, stimulus, evse, pics, Action.VEHICLE_ID, PNC_FEATURE, "VehicleID")
    await stimulus.apply(Action.UNPLUG)
    await evse_events.wait_for("EVNotDetected", t_event)

    steps.step("4")
    for text in missing:
        steps.note(f"not checked: {text}")
    before = {a.name: measured(await evse.read(a.name)) for a in attrs}
    steps.note(", ".join(f"{n} = {v}" for n, v in before.items()))
    for a in attrs:
        if not non_volatile(a):
            continue
        if a.name == INSTALLATION:
            steps.note(f"{a.name} = {before[a.name]}: read-only (the installer's setting), XML default {a.default}")
        else:
            steps.measure(
                f"{a.name} = {before[a.name]} differs from its XML default {spec_default(a)}",
                before[a.name] != spec_default(a),
                expected=True,
            )

    steps.step("5")
    steps.note(await dut.power_cycle(bench))
    await after_reboot(steps, evse, evse_events, time.monotonic())

    steps.step("6")
    for a in attrs:
        if non_volatile(a):
            steps.measure(f"{a.name} (nonVolatile)", measured(await evse.read(a.name)), expected=before[a.name])

    steps.step("7")
    boot = boot_values(v2x and "DischargingEnabledUntil" in names)
    for a in attrs:
        if non_volatile(a):
            continue
        if a.name not in boot:
            raise AssertionError(f"{a.name} is volatile in spec/EnergyEVSE.xml, and this case knows no boot value")
        value = measured(await evse.read(a.name))
        if a.name in FROM_THE_EV and before[a.name] != NULL:
            steps.note(f"{a.name} was {before[a.name]} before the power cycle")
        steps.measure(f"{a.name} (volatile: its boot value)", value, expected=boot[a.name])
