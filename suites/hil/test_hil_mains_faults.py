"""HIL-MAINS: over voltage, under voltage and power loss from the AC source give their FaultState and recover.

While the EV charges, the AC source goes to 265 V (above +10 % of 230 V), then 190 V (below -10 %), then drops out
for 1 s (list program). Over and under voltage give a Fault event with the matching FaultState (OverVoltage,
UnderVoltage), State Fault and SupplyState DisabledError with the contactor open; back at nominal mains a Fault event
to NoError, and State/SupplyState return to charging. No EnergyTransferStopped/Started is sent around the faults
(the event checks are strict).

The dropout depends on the charger's build (the DUT's ``backup_supply``: PIXIT ``dut.pixit.extra.backup_supply``,
or ``virtual_evse.backup_supply``):

* with a backup supply it stays online: a Fault event to PowerLoss, and back to NoError when mains returns;
* without one (the usual build) it loses power: it drops off the network and boots when mains returns. The TH then
  re-establishes CASE, resubscribes and recovers every event sent in the gap (event numbers continue from the DUT's
  persisted epoch, Matter core 7.14.2.1; a number the DUT no longer has fails the case). After the boot: the
  attributes the Energy EVSE cluster marks non-volatile (its XML's persistence) read as before the dropout, except
  the session's; the EV still plugged in starts a new session (EVConnected with SessionID + 1, never reset), then
  EnergyTransferStarted; State PluggedInCharging, SupplyState ChargingEnabled (ChargingEnabledUntil is null, so the
  EnableCharging still holds), FaultState NoError (the volatile state starts afresh). A Fault(PowerLoss) event sent
  within the supply's hold-up time, before it gave out, is accepted, not required.
"""

from __future__ import annotations

import pytest

from rig.bench.mains import NOMINAL_MAINS_V
from rig.errors import Unsupported
from rig.instruments.capabilities import AcSource, EnergyMeter, ProgramStep
from rig.matter.eevse import FaultState, State, SupplyState, is_null
from rig.spec import energy_evse
from rig.steps import TestStep
from rig.stimulus import Action
from suites.hil.support import (
    ac_source,
    after_reboot,
    call,
    check_event_fields,
    fault_event,
    meter,
    plug_in,
    require_bench,
    start_charging,
    wait_current,
    wait_mains_back,
)
from suites.tc_eevse.support import check_attr

pytestmark = [pytest.mark.tc("HIL-MAINS", "Mains faults from the AC source"), pytest.mark.pics("EEVSE.S")]

OVER_V = 265.0
UNDER_V = 190.0
DROPOUT_S = 1.0
MAX_MA = 16000
SESSION_ATTRIBUTES = ("SessionID", "SessionDuration", "SessionEnergyCharged", "SessionEnergyDischarged")
"""Non-volatile, but the session's: a new session starts when the boot finds the EV plugged in."""
NON_VOLATILE = tuple(
    a.name
    for a in energy_evse().attributes
    if a.quality.persistence == "nonVolatile" and a.name not in SESSION_ATTRIBUTES
)

STEPS = [
    TestStep("1", "Commission DUT to TH (done by the session)", is_commissioning=True),
    TestStep(
        "2",
        "Installation; EV plugs in (state B); EnableCharging(null, 6000, 16000); EV state C",
        "EnergyTransferStarted; contactor closed",
    ),
    TestStep(
        "3",
        f"AC source to {OVER_V:g} V",
        "Fault event NoError -> OverVoltage; State Fault, SupplyState DisabledError; contactor open",
    ),
    TestStep(
        "4",
        f"AC source back to {NOMINAL_MAINS_V:g} V",
        "Fault event OverVoltage -> NoError; State PluggedInCharging, SupplyState ChargingEnabled; contactor closed",
    ),
    TestStep("5", f"AC source to {UNDER_V:g} V", "Fault event NoError -> UnderVoltage; State Fault; contactor open"),
    TestStep(
        "6", f"AC source back to {NOMINAL_MAINS_V:g} V", "Fault event UnderVoltage -> NoError; State PluggedInCharging"
    ),
    TestStep(
        "7",
        f"AC source drops out to 0 V for {DROPOUT_S:g} s (list program)",
        "Backup supply: Fault event NoError -> PowerLoss; contactor open. Without: the EVSE loses power (contactor "
        "open) and drops off the network",
    ),
    TestStep(
        "8",
        "Mains back at the end of the program",
        "Backup supply: Fault event PowerLoss -> NoError; State PluggedInCharging; contactor closed. Without: the EVSE "
        "boots; TH re-establishes CASE, resubscribes, no event lost; non-volatile attributes as before; "
        "EVConnected (SessionID + 1), EnergyTransferStarted; State PluggedInCharging, SupplyState ChargingEnabled, "
        "FaultState NoError; contactor closed",
    ),
    TestStep("9", "EV stops and unplugs; end of the installation", "EVNotDetected sent"),
]


async def _fault(steps, evse, events, m, t_event: float, previous, current) -> None:
    await fault_event(steps, events, t_event, faultStatePreviousState=previous, faultStateCurrentState=current)
    await check_attr(steps, evse, "State", State.kFault)
    await check_attr(steps, evse, "SupplyState", SupplyState.kDisabledError)
    await wait_current(m, flowing=False, what=f"contactor opening on {current.name}")
    steps.note("contactor open: no current")


async def _recovered(steps, evse, events, m, t_event: float, previous) -> None:
    await fault_event(
        steps, events, t_event, faultStatePreviousState=previous, faultStateCurrentState=FaultState.kNoError
    )
    await check_attr(steps, evse, "State", State.kPluggedInCharging)
    await check_attr(steps, evse, "SupplyState", SupplyState.kChargingEnabled)
    await wait_current(m, flowing=True, what=f"contactor closing after {previous.name}")
    steps.note("contactor closed again: current flows")


async def _program(steps, source) -> None:
    """Run the dropout list program; a source without one skips the rest of the case with its reason. (The EVSE's
    output follows the mains through its contactor: it goes with the mains, so there is no reaction time to take;
    what matters is that the contactor is open once the mains is back, which the meter shows.)"""
    try:
        await call(source.run_program, [ProgramStep(0.0, DROPOUT_S)])
    except Unsupported as exc:
        steps.skip_remaining(str(exc))
        pytest.skip(str(exc))


def _value(value):
    """An attribute value as a measurement (null spelt out, so that it is compared too)."""
    return "null" if is_null(value) else value


async def _non_volatile(evse) -> dict[str, object]:
    """The non-volatile attributes the DUT has (AttributeList), by name."""
    return {a: await evse.read(a) for a in NON_VOLATILE if await evse.has_attribute(a)}


async def _rebooted(steps, evse, events, m, since: float, kept, session_id: int) -> None:
    """After the dropout, a charger without backup supply has rebooted: events, attributes, contactor."""
    t_event = evse.event_timeout_s
    await after_reboot(steps, evse, events, since)
    first = await events.next(("Fault", "EVConnected"), t_event)
    if first.name == "Fault":  # sent in the supply's hold-up time, delivered before the power went
        check_event_fields(
            steps,
            first,
            faultStatePreviousState=FaultState.kNoError,
            faultStateCurrentState=FaultState.kPowerLoss,
        )
        steps.note("the Fault event above was sent before the supply gave out")
        first = await events.next("EVConnected", t_event)
    check_event_fields(steps, first, sessionID=session_id + 1)
    started = await events.next("EnergyTransferStarted", t_event)
    check_event_fields(steps, started, sessionID=session_id + 1, state=State.kPluggedInCharging, maximumCurrent=MAX_MA)
    await check_attr(steps, evse, "State", State.kPluggedInCharging)
    await check_attr(steps, evse, "SupplyState", SupplyState.kChargingEnabled)
    await check_attr(steps, evse, "FaultState", FaultState.kNoError)
    await check_attr(steps, evse, "SessionID", session_id + 1)
    for name, now in (await _non_volatile(evse)).items():
        steps.measure(name, _value(now), expected=_value(kept[name]))
    await wait_current(m, flowing=True, what="contactor closing after the boot")
    steps.note("contactor closed again: current flows")


async def test_hil_mains_faults(steps, evse, evse_events, stimulus, bench, dut) -> None:
    require_bench(steps, stimulus, bench, AcSource, EnergyMeter)
    source = ac_source(bench)
    m = meter(bench)
    t_event = evse.event_timeout_s
    backup = dut.backup_supply()

    steps.step("1")
    steps.step("2")
    await plug_in(steps, stimulus, evse_events, t_event)
    await start_charging(steps, evse, stimulus, evse_events, MAX_MA)
    await wait_current(m, flowing=True, what="contactor closing after state C")
    events = evse_events

    try:
        steps.step("3")
        await call(source.set_voltage, OVER_V)
        await _fault(steps, evse, events, m, t_event, FaultState.kNoError, FaultState.kOverVoltage)
        steps.step("4")
        await call(source.set_voltage, NOMINAL_MAINS_V)
        await _recovered(steps, evse, events, m, t_event, FaultState.kOverVoltage)

        steps.step("5")
        await call(source.set_voltage, UNDER_V)
        await _fault(steps, evse, events, m, t_event, FaultState.kNoError, FaultState.kUnderVoltage)
        steps.step("6")
        await call(source.set_voltage, NOMINAL_MAINS_V)
        await _recovered(steps, evse, events, m, t_event, FaultState.kUnderVoltage)

        steps.step("7")
        steps.note("the DUT has a backup supply" if backup else "the DUT has no backup supply: it loses power")
        kept = {} if backup else await _non_volatile(evse)
        session_id = int(await evse.read("SessionID"))
        await _program(steps, source)
        if backup:
            await fault_event(
                steps,
                events,
                t_event,
                faultStatePreviousState=FaultState.kNoError,
                faultStateCurrentState=FaultState.kPowerLoss,
            )
            await check_attr(steps, evse, "State", State.kFault)
        else:
            await wait_current(m, flowing=False, what="contactor opening at the dropout")
            steps.note("contactor open: no current")
            since = await wait_mains_back(source, DROPOUT_S + t_event)
        steps.step("8")
        if backup:
            await _recovered(steps, evse, events, m, DROPOUT_S + t_event, FaultState.kPowerLoss)
        else:
            await _rebooted(steps, evse, events, m, since, kept, session_id)
    finally:
        await call(source.set_voltage, NOMINAL_MAINS_V)

    steps.step("9")
    await stimulus.apply(Action.DEMAND_CLEAR)
    await stimulus.apply(Action.UNPLUG)
    await evse_events.wait_for("EVNotDetected", t_event)
    await stimulus.apply(Action.UNINSTALL)
