"""Tests of rig.ledger: every event field judged against the rig's evidence, and what a wrong value's failure says.

A fake EVSE (attributes by name), a fake bench meter and a settable clock stand in for the DUT and the bench; the
events are built the way the controller delivers them (``ReceivedEvent`` with the cluster's payload).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from rig.ledger import Cause, SessionLedger
from rig.matter.eevse import FaultState, State, StoppedReason
from rig.matter.events import ReceivedEvent
from rig.steps import StepRunner, TestStep


class FakeEvse:
    """Attributes by name; ``read_many`` returns their current values."""

    def __init__(self, **attrs: Any) -> None:
        self.attrs = {"State": State.kNotPluggedIn, "FaultState": FaultState.kNoError, "SessionID": None, **attrs}

    async def read_many(self, *names: str) -> dict[str, Any]:
        return {n: self.attrs[n] for n in names}


class FakeMeter:
    """Cumulative import/export energy (Wh) and active power (W), set by the test."""

    phases = 1

    def __init__(self) -> None:
        self.imported = 100.0
        self.exported = 0.0
        self.power = 0.0

    def energy_import_wh(self) -> float:
        return self.imported

    def energy_export_wh(self) -> float:
        return self.exported

    def active_power(self, phase: int | None = None) -> float:
        return self.power


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Bench:
    """The DUT's side of a session, as the conformant virtual EVSE reports it."""

    def __init__(self, meter: FakeMeter | None = None) -> None:
        self.steps = StepRunner([TestStep(str(n), f"step {n}") for n in range(1, 10)])
        self.steps.step("1")
        self.evse = FakeEvse()
        self.meter = meter if meter is not None else FakeMeter()
        self.clock = Clock()
        self.ledger = SessionLedger(
            self.steps,
            self.evse,  # type: ignore[arg-type]
            self.meter,
            energy_tolerance_pct=2.0,
            clock=self.clock,
        )
        self.number = 0

    def event(self, name: str, delay_s: float = 0.05, **data: Any) -> ReceivedEvent:
        """The event the DUT sends ``delay_s`` after the stimulus (the clock moves on to its arrival)."""
        self.clock.now += delay_s
        self.number += 1
        return ReceivedEvent(name, SimpleNamespace(**data), 1, self.number, received_at=self.clock.now)

    async def plug_in(self, session_id: int = 0) -> ReceivedEvent:
        mark = await self.ledger.mark(Cause.PLUG_IN)
        self.evse.attrs.update(State=State.kPluggedInNoDemand, SessionID=session_id)
        return await self.ledger.judge(self.event("EVConnected", sessionID=session_id), mark)

    async def start(self, max_ma: int = 16000, **wrong: Any) -> ReceivedEvent:
        mark = await self.ledger.mark(Cause.DEMAND)
        self.evse.attrs.update(State=State.kPluggedInCharging, MaximumChargeCurrent=max_ma)
        data = {"sessionID": self.evse.attrs["SessionID"], "state": State.kPluggedInCharging, "maximumCurrent": max_ma}
        return await self.ledger.judge(self.event("EnergyTransferStarted", **{**data, **wrong}), mark)

    def charge(self, wh: float, seconds: float) -> None:
        self.meter.power = wh * 3600 / seconds
        self.clock.now += seconds
        self.meter.imported += wh

    async def stop(self, mwh: int, cause: Cause = Cause.EV_STOP, **wrong: Any) -> ReceivedEvent:
        mark = await self.ledger.mark(cause)
        self.meter.power = 0.0
        reason = StoppedReason.kEVStopped if cause is Cause.EV_STOP else StoppedReason.kEVSEStopped
        self.evse.attrs.update(State=State.kPluggedInNoDemand)
        data = {
            "sessionID": self.evse.attrs["SessionID"],
            "state": State.kPluggedInCharging,
            "reason": reason,
            "energyTransferred": mwh,
        }
        return await self.ledger.judge(self.event("EnergyTransferStopped", **{**data, **wrong}), mark)

    async def unplug(self, seconds: int, mwh: int, **wrong: Any) -> ReceivedEvent:
        mark = await self.ledger.mark(Cause.UNPLUG)
        self.evse.attrs.update(State=State.kNotPluggedIn, SessionDuration=seconds, SessionEnergyCharged=mwh)
        data = {
            "sessionID": self.evse.attrs["SessionID"],
            "state": State.kPluggedInNoDemand,
            "sessionDuration": seconds,
            "sessionEnergyCharged": mwh,
        }
        return await self.ledger.judge(self.event("EVNotDetected", **{**data, **wrong}), mark)


def judged(steps: StepRunner) -> dict[str, str]:
    return {m.name: m.verdict for r in steps.records for m in r.measurements}


async def test_a_conformant_session_passes_every_field() -> None:
    b = Bench()
    await b.plug_in()
    await b.start()
    b.charge(2.0, 2.0)
    await b.stop(2000)
    await b.start()
    await b.stop(0)
    await b.unplug(2, 2000)
    verdicts = judged(b.steps)
    assert set(verdicts.values()) == {"pass"}
    for name in (
        "EVConnected.sessionID vs SessionID read before the plug-in, plus 1 (0 if null)",
        "EnergyTransferStarted.maximumCurrent vs MaximumChargeCurrent read after",
        "EnergyTransferStopped.reason vs what the rig caused (EV stopped)",
        "EnergyTransferStopped.energyTransferred vs the bench meter's imported energy over the transfer",
        "EVNotDetected.sessionDuration vs the rig's clock from plug-in to unplug",
        "SessionEnergyCharged (read after) vs the bench meter's imported energy over the session",
    ):
        assert name in verdicts, sorted(verdicts)


async def test_a_later_transfer_reporting_the_sessions_energy_fails_naming_field_value_evidence_and_tolerance() -> None:
    b = Bench()
    await b.plug_in()
    await b.start()
    b.charge(2.0, 2.0)
    await b.stop(2000)
    await b.start()
    with pytest.raises(AssertionError) as failure:
        await b.stop(2000)  # the session's 2 Wh again: nothing flowed in this transfer
    text = str(failure.value)
    assert "EnergyTransferStopped.energyTransferred = 2.0 Wh" in text
    assert "the bench meter's imported energy over the transfer, 0.0000 .. 0.0000 Wh metered" in text
    assert "tolerance: 2 % (report.energy_tolerance_pct)" in text


async def test_a_session_duration_in_the_wrong_unit_fails_against_the_rigs_clock() -> None:
    b = Bench()
    await b.plug_in()
    b.clock.now += 30.0
    with pytest.raises(AssertionError) as failure:
        await b.unplug(30, 0, sessionDuration=30_050)  # milliseconds
    text = str(failure.value)
    assert "EVNotDetected.sessionDuration = 30050 s: expected 28 .. 33 s from the rig's clock" in text
    assert "1 s clock + 1 s resolution" in text


async def test_state_reason_and_maximum_current_are_judged_against_reads_and_the_cause() -> None:
    b = Bench()
    await b.plug_in()
    with pytest.raises(AssertionError, match=r"maximumCurrent = 32000: expected 16000 from MaximumChargeCurrent"):
        await b.start(maximumCurrent=32000)
    b = Bench()
    await b.plug_in()
    await b.start()
    with pytest.raises(AssertionError, match=r"reason = EVStopped \(0\): expected EVSEStopped \(1\) from what the rig"):
        await b.stop(0, Cause.EVSE_STOP, reason=StoppedReason.kEVStopped)


async def test_session_ids_continue_and_a_repeated_id_fails() -> None:
    b = Bench()
    await b.plug_in(0)
    await b.unplug(0, 0)
    await b.plug_in(1)
    await b.unplug(0, 0)
    with pytest.raises(AssertionError, match=r"EVConnected.sessionID = 1: expected 2 from SessionID read before"):
        await b.plug_in(1)


async def test_fault_states_chain_from_event_to_event() -> None:
    b = Bench()
    await b.plug_in()

    async def fault(current: Any, previous: Any, state_before: Any) -> ReceivedEvent:
        mark = await b.ledger.mark(Cause.FAULT)
        b.evse.attrs.update(FaultState=current, State=State.kFault)
        data = {
            "sessionID": 0,
            "state": state_before,
            "faultStatePreviousState": previous,
            "faultStateCurrentState": current,
        }
        return await b.ledger.judge(b.event("Fault", **data), mark)

    await fault(FaultState.kGroundFault, FaultState.kNoError, State.kPluggedInNoDemand)
    with pytest.raises(AssertionError) as failure:
        await fault(FaultState.kOverTemperature, FaultState.kNoError, State.kFault)
    text = str(failure.value)
    assert "faultStatePreviousState = NoError (0): expected GroundFault (7) from FaultState read before" in text
    assert "from faultStateCurrentState of the previous Fault event" in text


async def test_without_a_meter_energies_are_noted_not_judged() -> None:
    b = Bench()
    b.ledger.meter = None
    await b.plug_in()
    await b.unplug(0, 123456)
    notes = [n for r in b.steps.records for n in r.notes]
    assert "EVNotDetected.sessionEnergyCharged not cross-checked: the bench has no energy meter" in notes
