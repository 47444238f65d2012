"""Every field of every Energy EVSE event cross-checked against evidence the rig holds on its own.

A case's event checks compare a field with the value the case itself expects; a firmware that sends a present,
well-typed but wrong value (an energy counted from the wrong start, a duration in the wrong unit, a stale state)
passes them. A :class:`SessionLedger` records, around each stimulus the rig causes, what the rig knows
independently of the event:

* its own clock: when the stimulus began (:attr:`Mark.t0`) and when the event it caused arrived (:attr:`Mark.t1`);
* the bench meter: imported (and exported) energy at both instants, and the active power before the stimulus;
* the attributes read just before the stimulus (State, FaultState, SessionID) and just after the event;
* the events judged before: the session's id, the transfer's and the session's start, the last fault reported.

:meth:`SessionLedger.judge` then checks each field of the event against that evidence, records each judgment as a
measurement of the step in progress (value, limits) with a note naming the evidence and the tolerance, and fails
naming the event, the field, the value received, the evidence and the tolerance. Usage::

    mark = await ledger.mark(Cause.PLUG_IN)   # just before the stimulus
    await stimulus.apply(Action.PLUG_IN)
    await ledger.judge(await events.next("EVConnected", t_event), mark)

The rules, from the Energy EVSE cluster (Matter Application Cluster specification, section 9.3.10 "Events") unless
named otherwise: EVConnected carries the new session's id (one more than the last, 0 for the first: test plan
TC-EEVSE-2.2 step 14b); every event of a session carries that id; EnergyTransferStarted.state is State when it is
generated and maximumCurrent the MaximumChargeCurrent then; EnergyTransferStopped.state is State before stopping,
its reason who stopped (EVStopped: the EV; EVSEStopped: the EVSE, e.g. on Disable or ChargingEnabledUntil expiry)
and energyTransferred the energy of this transfer; EVNotDetected.state is State before the unplug, sessionDuration
and sessionEnergyCharged the session's; Fault.state is State before the fault, faultStatePreviousState the
FaultState before and faultStateCurrentState the FaultState after it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from rig.instruments.capabilities import EnergyMeter
from rig.matter.eevse import Evse, StoppedReason, enum_name, is_null
from rig.matter.events import ReceivedEvent
from rig.steps import StepRunner

CLOCK_TOLERANCE_S = 1.0
"""Allowed difference between the DUT's and the rig's count of seconds over one session, s."""
DURATION_RESOLUTION_S = 1.0
"""SessionDuration and EVNotDetected.sessionDuration are whole seconds (elapsed-s): truncated or rounded, s."""
DUT_METER_LATENCY_S = 1.0
"""How old the energy reading a DUT takes at a transfer or session boundary may be (an EVSE's meter is read about
once a second): the energy the bench meter sees flow in that time at the power it read is allowed on each side, s."""
METER_RESOLUTION_WH = 0.01
"""The bench meter's energy resolution allowed on each comparison, Wh."""


class Cause(StrEnum):
    """What the rig did to cause an event (the stop reason it implies, the boundaries it opens or closes)."""

    PLUG_IN = "plug-in"
    UNPLUG = "unplug"
    DEMAND = "EV demand (state C)"
    ENABLE = "EnableCharging"
    EV_STOP = "EV stopped"
    """The EV stopped its demand (state C -> B): EnergyTransferStopped.reason EVStopped."""
    EVSE_STOP = "EVSE stopped"
    """The TH stopped the EVSE (Disable, or a ChargingEnabledUntil it set expired): reason EVSEStopped."""
    FAULT = "fault raised"
    FAULT_CLEAR = "fault cleared"


STOP_REASONS = {Cause.EV_STOP: StoppedReason.kEVStopped, Cause.EVSE_STOP: StoppedReason.kEVSEStopped}
"""The EnergyTransferStopped.reason each stop the rig causes implies."""


@dataclass
class Mark:
    """The rig's evidence around one stimulus: filled by :meth:`SessionLedger.mark` before it and by
    :meth:`SessionLedger.judge` after the event it caused arrived.

    Attributes:
        cause: what the rig did.
        t0: wall clock just before the stimulus (after the reads below), Unix s.
        state, fault_state, session_id: State, FaultState and SessionID read just before the stimulus.
        import_wh, export_wh, power_w: the bench meter just before the stimulus (None: no meter, or no export
            register).
        t1: when the event arrived, Unix s.
        import_after_wh, export_after_wh: the bench meter right after the event arrived.
    """

    cause: Cause
    t0: float
    state: Any
    fault_state: Any
    session_id: Any
    import_wh: float | None = None
    export_wh: float | None = None
    power_w: float | None = None
    t1: float | None = None
    import_after_wh: float | None = None
    export_after_wh: float | None = None
    after: dict[str, Any] = field(default_factory=dict)
    """Attributes read right after the event, by name."""


@dataclass(frozen=True)
class Bracket:
    """What the bench meter says the DUT's count between two boundaries must be, with its tolerance.

    Attributes:
        low_wh, high_wh: the limits, tolerance included, Wh.
        inner_wh, outer_wh: the metered energy from the first event's arrival to the second stimulus and from the
            first stimulus to the second event's arrival, Wh (the DUT took its readings in between).
        tolerance: how the limits widen ``inner_wh``..``outer_wh``, for messages.
    """

    low_wh: float
    high_wh: float
    inner_wh: float
    outer_wh: float
    tolerance: str


def _show(value: Any) -> Any:
    """A field value for a measurement: enums as ``Name (n)``, null as ``"null"``, octets as hex."""
    if is_null(value):
        return "null"
    if hasattr(value, "name") and hasattr(value, "value"):
        return enum_name(value)
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    return value


def _as_int(value: Any) -> int | None:
    return None if is_null(value) else int(value)


class SessionLedger:
    """The rig's evidence over one case's sessions, and the judge of every Energy EVSE event against it.

    Args:
        steps: the case's step runner (judgments are measurements of the step in progress).
        evse: the EVSE client (attribute reads before and after).
        meter: the bench's reference energy meter, or None (energies are then not cross-checked, and a note says so).
        energy_tolerance_pct: rig.yaml ``report.energy_tolerance_pct``: the meter accuracy allowed, %.
        meter_latency_s: how old the DUT's energy reading at a boundary may be (PIXIT ``meter_latency_s``), s.
        clock: the rig's wall clock, Unix s (the clock of :attr:`ReceivedEvent.received_at`); injectable for tests.
    """

    def __init__(
        self,
        steps: StepRunner,
        evse: Evse,
        meter: EnergyMeter | None,
        *,
        energy_tolerance_pct: float,
        meter_latency_s: float = DUT_METER_LATENCY_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.steps = steps
        self.clock = clock
        self.evse = evse
        self.meter = meter
        self.energy_tolerance_pct = energy_tolerance_pct
        self.meter_latency_s = meter_latency_s
        self.session_id: int | None = None
        """The id of the open session (from its EVConnected, judged), None outside one."""
        self.session_start: Mark | None = None
        self.transfer_start: Mark | None = None
        self.last_fault: Any = None
        """faultStateCurrentState of the last Fault event judged (None: none yet)."""
        self._failures: list[str] = []
        self._noted: set[str] = set()

    # -- evidence ---------------------------------------------------------------------------------------------------
    async def mark(self, cause: Cause) -> Mark:
        """Read State, FaultState, SessionID and the bench meter, then note the time: call right before the stimulus
        (or, for an event the DUT raises by itself, e.g. at a ChargingEnabledUntil it was given, before the wait)."""
        before = await self.evse.read_many("State", "FaultState", "SessionID")
        m = Mark(cause, 0.0, before["State"], before["FaultState"], before["SessionID"])
        if self.meter is not None:
            m.power_w = float(await asyncio.to_thread(self.meter.active_power))
            m.import_wh, m.export_wh = await self._energies()
        m.t0 = self.clock()
        return m

    async def _energies(self) -> tuple[float | None, float | None]:
        if self.meter is None:
            return None, None
        imported = float(await asyncio.to_thread(self.meter.energy_import_wh))
        export = getattr(self.meter, "energy_export_wh", None)
        exported = None if export is None else float(await asyncio.to_thread(export))
        return imported, exported

    async def _after(self, mark: Mark, event: ReceivedEvent, *names: str) -> None:
        mark.t1 = event.received_at
        mark.import_after_wh, mark.export_after_wh = await self._energies()
        if names:
            mark.after.update(await self.evse.read_many(*names))

    def bracket(self, start: Mark, end: Mark, *, exported: bool = False) -> Bracket | None:
        """The energy the DUT counts between ``start`` and ``end`` (both judged) as the bench meter bounds it; None
        without the meter readings."""
        a0, a1 = (start.export_wh, start.export_after_wh) if exported else (start.import_wh, start.import_after_wh)
        b0, b1 = (end.export_wh, end.export_after_wh) if exported else (end.import_wh, end.import_after_wh)
        if a0 is None or a1 is None or b0 is None or b1 is None:
            return None
        inner, outer = max(b0 - a1, 0.0), max(b1 - a0, 0.0)
        sign = -1.0 if exported else 1.0  # active power is positive while importing
        watts = max(sign * (start.power_w or 0.0), 0.0) + max(sign * (end.power_w or 0.0), 0.0)
        latency_wh = self.meter_latency_s * watts / 3600.0
        pct = self.energy_tolerance_pct / 100.0
        tolerance = (
            f"{self.energy_tolerance_pct:g} % (report.energy_tolerance_pct) + {METER_RESOLUTION_WH:g} Wh meter "
            f"resolution + {latency_wh:.4f} Wh ({self.meter_latency_s:g} s of the DUT's meter latency at the power "
            "read before each boundary)"
        )
        slack = METER_RESOLUTION_WH + latency_wh
        return Bracket(
            round(max(inner * (1 - pct) - slack, 0.0), 4), round(outer * (1 + pct) + slack, 4), inner, outer, tolerance
        )

    # -- judging ----------------------------------------------------------------------------------------------------
    def _check(
        self,
        subject: str,
        value: Any,
        evidence: str,
        *,
        expected: Any = None,
        low: float | None = None,
        high: float | None = None,
        unit: str = "",
        tolerance: str = "exact",
        detail: str = "",
    ) -> None:
        """Record one judgment; collect its failure (raised by :meth:`judge` once every field is judged)."""
        shown = _show(value)
        want = None if expected is None else _show(expected)
        name = f"{subject} vs {evidence}"
        try:
            self.steps.measure(name, shown, unit, low=low, high=high, expected=want)
        except AssertionError:
            limits = f"{want}" if want is not None else f"{low:g} .. {high:g} {unit}".rstrip()
            self._failures.append(
                f"{subject} = {shown}{' ' + unit if unit and want is None else ''}: expected {limits} from "
                f"{evidence}{detail} (tolerance: {tolerance})"
            )

    def _unavailable(self, subject: str, why: str) -> None:
        self._note(f"{subject} not cross-checked: {why}")

    def _note(self, text: str) -> None:
        """Note the evidence once per event (an event field and its attribute share it)."""
        if text not in self._noted:
            self._noted.add(text)
            self.steps.note(text)

    async def judge(self, event: ReceivedEvent, mark: Mark) -> ReceivedEvent:
        """Judge every field of ``event`` (caused by what ``mark`` recorded) against the rig's evidence.

        Raises:
            AssertionError: one field or more disagree; each is named with its value, evidence and tolerance.
        """
        self.steps.note(event.summary())
        self._failures = []
        self._noted = set()
        judge = {
            "EVConnected": self._ev_connected,
            "EnergyTransferStarted": self._transfer_started,
            "EnergyTransferStopped": self._transfer_stopped,
            "EVNotDetected": self._ev_not_detected,
            "Fault": self._fault,
        }.get(event.name)
        if judge is None:
            raise ValueError(f"no cross-check for event {event.name}")
        await judge(event, mark)
        if self._failures:
            raise AssertionError(f"{event.name} (event {event.event_number}): " + "; ".join(self._failures))
        return event

    def _session_id(self, event: ReceivedEvent, mark: Mark) -> None:
        subject, got = f"{event.name}.sessionID", event.data.sessionID
        if self.session_id is not None:
            self._check(subject, got, "the session's id (its EVConnected)", expected=self.session_id)
        else:
            self._check(subject, got, "SessionID read before", expected=mark.session_id)

    async def _ev_connected(self, event: ReceivedEvent, mark: Mark) -> None:
        await self._after(mark, event, "SessionID")
        subject, got = f"{event.name}.sessionID", event.data.sessionID
        before = _as_int(mark.session_id)
        new_id = 0 if before is None else before + 1
        self._check(subject, got, "SessionID read before the plug-in, plus 1 (0 if null)", expected=new_id)
        self._check(subject, got, "SessionID read after", expected=mark.after["SessionID"])
        self.session_id = _as_int(got)
        self.session_start = mark
        self.transfer_start = None

    async def _transfer_started(self, event: ReceivedEvent, mark: Mark) -> None:
        names = ["State", "MaximumChargeCurrent"]
        discharge = getattr(event.data, "maximumDischargeCurrent", None)
        if discharge is not None:
            names.append("MaximumDischargeCurrent")
        await self._after(mark, event, *names)
        self._session_id(event, mark)
        ev = event.name
        self._check(f"{ev}.state", event.data.state, "State read after", expected=mark.after["State"])
        self._check(
            f"{ev}.maximumCurrent",
            event.data.maximumCurrent,
            "MaximumChargeCurrent read after",
            expected=mark.after["MaximumChargeCurrent"],
        )
        if discharge is not None:
            self._check(
                f"{ev}.maximumDischargeCurrent",
                discharge,
                "MaximumDischargeCurrent read after",
                expected=mark.after["MaximumDischargeCurrent"],
            )
        self.transfer_start = mark

    async def _transfer_stopped(self, event: ReceivedEvent, mark: Mark) -> None:
        await self._after(mark, event)
        self._session_id(event, mark)
        ev = event.name
        self._check(f"{ev}.state", event.data.state, "State read before stopping", expected=mark.state)
        reason = STOP_REASONS.get(mark.cause)
        if reason is None:
            self._unavailable(f"{ev}.reason", f"the rig's stimulus ({mark.cause.value}) implies no reason")
        else:
            self._check(f"{ev}.reason", event.data.reason, f"what the rig caused ({mark.cause.value})", expected=reason)
        start = self.transfer_start
        self._energy(f"{ev}.energyTransferred", event.data.energyTransferred, start, mark, "the transfer")
        if getattr(event.data, "energyDischarged", None) is not None:
            self._energy(f"{ev}.energyDischarged", event.data.energyDischarged, start, mark, "the transfer", True)
        self.transfer_start = None

    async def _ev_not_detected(self, event: ReceivedEvent, mark: Mark) -> None:
        names = ["SessionDuration", "SessionEnergyCharged"]
        discharged = getattr(event.data, "sessionEnergyDischarged", None)
        if discharged is not None:
            names.append("SessionEnergyDischarged")
        await self._after(mark, event, *names)
        self._session_id(event, mark)
        ev, start, after = event.name, self.session_start, mark.after
        self._check(f"{ev}.state", event.data.state, "State read before the unplug", expected=mark.state)
        self._duration(f"{ev}.sessionDuration", event.data.sessionDuration, mark)
        self._duration("SessionDuration (read after)", after["SessionDuration"], mark)
        self._energy(f"{ev}.sessionEnergyCharged", event.data.sessionEnergyCharged, start, mark, "the session")
        self._energy("SessionEnergyCharged (read after)", after["SessionEnergyCharged"], start, mark, "the session")
        if discharged is not None:
            self._energy(f"{ev}.sessionEnergyDischarged", discharged, start, mark, "the session", True)
            self._energy(
                "SessionEnergyDischarged (read after)",
                after["SessionEnergyDischarged"],
                start,
                mark,
                "the session",
                True,
            )
        self.session_id = None
        self.session_start = None

    async def _fault(self, event: ReceivedEvent, mark: Mark) -> None:
        await self._after(mark, event, "FaultState")
        ev = event.name
        self._check(f"{ev}.sessionID", event.data.sessionID, "SessionID read before", expected=mark.session_id)
        if self.session_id is not None:
            self._check(
                f"{ev}.sessionID", event.data.sessionID, "the session's id (its EVConnected)", expected=self.session_id
            )
        self._check(f"{ev}.state", event.data.state, "State read before the fault", expected=mark.state)
        previous = event.data.faultStatePreviousState
        self._check(f"{ev}.faultStatePreviousState", previous, "FaultState read before", expected=mark.fault_state)
        if self.last_fault is not None:
            self._check(
                f"{ev}.faultStatePreviousState",
                previous,
                "faultStateCurrentState of the previous Fault event",
                expected=self.last_fault,
            )
        current = event.data.faultStateCurrentState
        self._check(f"{ev}.faultStateCurrentState", current, "FaultState read after", expected=mark.after["FaultState"])
        self.last_fault = current

    def _duration(self, subject: str, value: Any, end: Mark) -> None:
        start = self.session_start
        if start is None or start.t1 is None or end.t1 is None:
            self._unavailable(subject, "the rig did not see this session's plug-in")
            return
        inner, outer = end.t0 - start.t1, end.t1 - start.t0
        slack = CLOCK_TOLERANCE_S + DURATION_RESOLUTION_S
        self._note(
            f"rig clock: the session lasted {inner:.3f} .. {outer:.3f} s (EVConnected arrival to unplug stimulus .. "
            "plug-in stimulus to EVNotDetected arrival)"
        )
        self._check(
            subject,
            None if is_null(value) else int(value),
            "the rig's clock from plug-in to unplug",
            low=math.floor(max(inner - slack, 0.0)),
            high=math.ceil(outer + slack),
            unit="s",
            tolerance=f"{CLOCK_TOLERANCE_S:g} s clock + {DURATION_RESOLUTION_S:g} s resolution",
            detail=f", {inner:.3f} .. {outer:.3f} s",
        )

    def _energy(
        self, subject: str, value: Any, start: Mark | None, end: Mark, span: str, exported: bool = False
    ) -> None:
        if self.meter is None:
            self._unavailable(subject, "the bench has no energy meter")
            return
        if start is None:
            self._unavailable(subject, f"the rig did not see the start of {span}")
            return
        b = self.bracket(start, end, exported=exported)
        direction = "exported" if exported else "imported"
        if b is None:
            self._unavailable(subject, f"the bench meter gives no {direction} energy")
            return
        self._note(
            f"bench meter: {b.inner_wh:.4f} .. {b.outer_wh:.4f} Wh {direction} over {span} (event arrival to the "
            "next stimulus .. stimulus to the next event's arrival)"
        )
        self._check(
            subject,
            None if is_null(value) else round(int(value) / 1000, 4),
            f"the bench meter's {direction} energy over {span}",
            low=b.low_wh,
            high=b.high_wh,
            unit="Wh",
            tolerance=b.tolerance,
            detail=f", {b.inner_wh:.4f} .. {b.outer_wh:.4f} Wh metered",
        )
