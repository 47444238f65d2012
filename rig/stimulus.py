"""The EV stimulus seam: the same case runs with Matter test event triggers, the physical EV emulator, or an operator.

A case asks for *what happens to the EVSE* (``await stimulus.apply(Action.PLUG_IN)``), never *how*; the mode comes
from rig.yaml ``stimulus`` or ``--stimulus`` and is written in the report header, and every stimulus applied is
noted on the step in progress (``stimulus [emulator]: EV emulator CP state B, 32 A cable``). A stimulus a mode
cannot produce raises ``StimulusUnavailable`` with the reason; cases turn that into a visibly skipped step
(``steps.skip_current``, see ``suites/tc_eevse/support.apply_or_skip``).

Modes:
    trigger: Energy EVSE test event triggers (as certification does). Instantaneous: the DUT has changed its
        state when the TestEventTrigger command returns.
    emulator: the bench's EV emulator and AC source (:class:`EmulatorStimulus`). The physical action returns once
        the bench has applied it (relays switched, pilot at the expected level); the EVSE's *reaction* is awaited by
        the case through the event it already waits for (``evse_events.next(...)``), so strict event checks stay
        strict. Actions without a physical means fall back to test event triggers when the DUT has them enabled.
    manual: an operator at a terminal does what the prompt says and presses Enter (:class:`ManualStimulus`); the
        same fallback to test event triggers applies.

Physical meaning of the actions in ``emulator`` mode (IEC 61851-1, ``/work/shared/reference/hil-domain.md`` §1):

=====================  ===============================================================================================
INSTALL                the EVSE is installed and powered: AC source output on at nominal mains (230 V, 50 Hz) if it is
                       not, EV emulator in state A with every fault path released and no cable. CircuitCapacity is the
                       installer's setting in the EVSE's own configuration: the bench does not change it (the
                       ``basic`` trigger forces 32 A instead). UserMaximumChargeCurrent is noted, to be put back at
                       UNINSTALL as ``basic clear`` does.
UNINSTALL              EV emulator released (state A, no cable, no fault paths); mains stay on; the
                       UserMaximumChargeCurrent noted at INSTALL is written back if a case changed it.
PLUG_IN                cable coded on PP (the smallest standard rating, 13/20/32/63 A, not below the EVSE's
                       CircuitCapacity, so the cable never hides the circuit limit), then CP state B (2.74 kOhm).
DEMAND / DEMAND_CLEAR  CP state C (S2 closed, 1.3 kOhm) / back to state B.
UNPLUG                 CP state A, then the cable removed from PP.
GROUND_FAULT           30 mA AC residual current injected through the EVSE's RCD sensor.
FAULT_CLEAR            every injected fault path removed (residual current, diode short, PE break); a fault raised
                       by a fallback trigger is then cleared with the ``fault clear`` trigger.
others                 SoC, VehicleID (ISO 15118), RFID (a reader), over-temperature (a climatic chamber),
                       diagnostics complete (firmware), time-of-use mode (a tariff): no physical means on this bench;
                       test event trigger when TestEventTriggersEnabled is true, else ``StimulusUnavailable``.
=====================  ===============================================================================================
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import select
import time
from collections.abc import Callable
from typing import Any, Protocol


class Action(enum.Enum):
    """What a case can ask to happen to the EVSE."""

    INSTALL = "install"  # the EVSE is installed: circuit capacity and limits known (trigger: basic)
    UNINSTALL = "uninstall"  # end of the installation simulation (trigger: basic clear)
    PLUG_IN = "plug_in"
    UNPLUG = "unplug"
    DEMAND = "demand"
    DEMAND_CLEAR = "demand_clear"
    GROUND_FAULT = "ground_fault"
    OVER_TEMPERATURE_FAULT = "over_temperature_fault"
    FAULT_CLEAR = "fault_clear"
    DIAGNOSTICS_COMPLETE = "diagnostics_complete"
    SOC_LOW = "soc_low"
    SOC_HIGH = "soc_high"
    SOC_CLEAR = "soc_clear"
    VEHICLE_ID = "vehicle_id"
    RFID = "rfid"
    TIME_OF_USE_MODE = "time_of_use_mode"
    TIME_OF_USE_MODE_CLEAR = "time_of_use_mode_clear"


log = logging.getLogger("rig.stimulus")

MODES = ("trigger", "emulator", "manual")


class StimulusUnavailable(Exception):  # noqa: N818 - the name other modules already use
    """The mode cannot produce this stimulus; the message says why (shown as the skip reason)."""


class Stimulus(Protocol):
    """One stimulus mode."""

    mode: str

    def supports(self, action: Action) -> str | None:
        """None if ``action`` can be produced, else the reason it cannot."""
        ...

    async def apply(self, action: Action) -> None:
        """Make ``action`` happen; raise StimulusUnavailable if this mode cannot."""
        ...


TRIGGER_FOR = {
    Action.INSTALL: "BASIC",
    Action.UNINSTALL: "BASIC_CLEAR",
    Action.PLUG_IN: "PLUGGED_IN",
    Action.UNPLUG: "PLUGGED_IN_CLEAR",
    Action.DEMAND: "CHARGE_DEMAND",
    Action.DEMAND_CLEAR: "CHARGE_DEMAND_CLEAR",
    Action.GROUND_FAULT: "GROUND_FAULT",
    Action.OVER_TEMPERATURE_FAULT: "OVER_TEMPERATURE_FAULT",
    Action.FAULT_CLEAR: "FAULT_CLEAR",
    Action.DIAGNOSTICS_COMPLETE: "DIAGNOSTICS_COMPLETE",
    Action.SOC_LOW: "SOC_LOW",
    Action.SOC_HIGH: "SOC_HIGH",
    Action.SOC_CLEAR: "SOC_CLEAR",
    Action.VEHICLE_ID: "VEHICLE_ID",
    Action.RFID: "RFID",
    Action.TIME_OF_USE_MODE: "TIME_OF_USE_MODE",
    Action.TIME_OF_USE_MODE_CLEAR: "TIME_OF_USE_MODE_CLEAR",
}


NoteFn = Callable[[str], None]
"""Receives one line per stimulus applied (the fixture notes it on the step in progress)."""

ACTION_WORDS = {
    Action.INSTALL: "installation (basic functionality)",
    Action.UNINSTALL: "end of the installation (basic functionality clear)",
    Action.PLUG_IN: "EV plug-in",
    Action.UNPLUG: "EV unplug",
    Action.DEMAND: "EV charge demand",
    Action.DEMAND_CLEAR: "EV charge demand clear",
    Action.GROUND_FAULT: "ground fault",
    Action.OVER_TEMPERATURE_FAULT: "over-temperature fault",
    Action.FAULT_CLEAR: "fault clear",
    Action.DIAGNOSTICS_COMPLETE: "diagnostics complete",
    Action.SOC_LOW: "EV state of charge low",
    Action.SOC_HIGH: "EV state of charge high",
    Action.SOC_CLEAR: "EV state of charge clear",
    Action.VEHICLE_ID: "EV vehicle identification",
    Action.RFID: "RFID card presented",
    Action.TIME_OF_USE_MODE: "time-of-use mode",
    Action.TIME_OF_USE_MODE_CLEAR: "time-of-use mode clear",
}

NO_PHYSICAL_MEANS = {
    Action.SOC_LOW: "the EV's state of charge needs ISO 15118",
    Action.SOC_HIGH: "the EV's state of charge needs ISO 15118",
    Action.SOC_CLEAR: "the EV's state of charge needs ISO 15118",
    Action.VEHICLE_ID: "the vehicle identity needs ISO 15118 (PnC)",
    Action.RFID: "an RFID card needs a reader actuator",
    Action.OVER_TEMPERATURE_FAULT: "over-temperature needs a climatic chamber",
    Action.DIAGNOSTICS_COMPLETE: "diagnostics completion is internal to the firmware",
    Action.TIME_OF_USE_MODE: "the time-of-use mode is a tariff setting",
    Action.TIME_OF_USE_MODE_CLEAR: "the time-of-use mode is a tariff setting",
}
"""Actions no bench actuator produces, with the reason (they fall back to test event triggers)."""


def _no_note(_text: str) -> None:
    return None


class TriggerStimulus:
    """Stimulus by Energy EVSE test event triggers (General Diagnostics TestEventTrigger, endpoint 0).

    Args:
        evse: the rig.matter.eevse.Evse under test (sends the triggers with the PIXIT enable key).
        note: receives one line per trigger sent (for the report).
    """

    mode = "trigger"

    def __init__(self, evse: Any, note: NoteFn | None = None) -> None:
        self.evse = evse
        self.note = note or _no_note

    def supports(self, action: Action) -> str | None:
        """Every action has a test event trigger."""
        return None if action in TRIGGER_FOR else f"no test event trigger for {action.value}"

    async def apply(self, action: Action) -> None:
        """Send the action's test event trigger."""
        from rig.matter.triggers import Trigger

        reason = self.supports(action)
        if reason:
            raise StimulusUnavailable(reason)
        await self.evse.trigger(Trigger[TRIGGER_FOR[action]])
        self.note(f"stimulus [{self.mode}]: test event trigger {TRIGGER_FOR[action]}")

    async def close(self) -> None:
        """Nothing to release."""


class _TriggerFallback:
    """Test event triggers for the actions a physical mode cannot produce (when the DUT has them enabled)."""

    mode = "?"

    def __init__(self, evse: Any, note: NoteFn | None) -> None:
        self.evse = evse
        self.note = note or _no_note
        self._triggers_enabled: bool | None = None
        self.trigger_fault = False  # a fault was raised by a fallback trigger (FAULT_CLEAR must clear it)

    async def _fallback(self, action: Action) -> None:
        from rig.matter.triggers import Trigger

        why = NO_PHYSICAL_MEANS.get(action, f"no physical means for {action.value}")
        if self._triggers_enabled is None:
            self._triggers_enabled = bool(await self.evse.triggers_enabled())
        if not self._triggers_enabled:
            raise StimulusUnavailable(
                f"{ACTION_WORDS[action]}: not available in {self.mode} mode ({why}) and the DUT's "
                "TestEventTriggersEnabled is false, so no test event trigger can stand in"
            )
        await self.evse.trigger(Trigger[TRIGGER_FOR[action]])
        if action is Action.OVER_TEMPERATURE_FAULT:
            self.trigger_fault = True
        self.note(f"stimulus [{self.mode}]: {why}: test event trigger {TRIGGER_FOR[action]} instead")

    def supports(self, action: Action) -> str | None:
        """None if ``action`` can be produced (physically or by a fallback trigger), else the reason."""
        if action in NO_PHYSICAL_MEANS and self._triggers_enabled is False:
            return f"{NO_PHYSICAL_MEANS[action]} and the DUT's TestEventTriggersEnabled is false"
        return None


CABLE_RATINGS_A = (13, 20, 32, 63)
"""Standard PP codings (IEC 61851-1: 1.5 kOhm, 680 Ohm, 220 Ohm, 100 Ohm)."""

NOMINAL_V = 230.0
NOMINAL_HZ = 50.0
MAINS_TOLERANCE_V = 2.0
PILOT_SETTLE_S = 2.0
"""Bound on the pilot reaching the level the EV emulator applied (relays, capture refresh)."""


def cable_for(circuit_capacity_ma: int | None) -> int:
    """The smallest standard cable rating not below ``circuit_capacity_ma`` (63 A when unknown or above)."""
    if circuit_capacity_ma is None:
        return CABLE_RATINGS_A[-1]
    return next((a for a in CABLE_RATINGS_A if a * 1000 >= circuit_capacity_ma), CABLE_RATINGS_A[-1])


class EmulatorStimulus(_TriggerFallback):
    """Stimulus by the bench's IEC 61851-1 EV emulator and AC source (see the module docstring for each action).

    Args:
        bench: the open ``rig.bench.Bench`` (needs ``ev_emulator``; the AC source role is found by capability).
        evse: the Evse under test (CircuitCapacity, UserMaximumChargeCurrent, fallback triggers).
        note: receives one line per stimulus applied.
        cable_a: cable rating plugged in at PLUG_IN, A; None = from the EVSE's CircuitCapacity (:func:`cable_for`).

    Raises:
        StimulusUnavailable: the bench has no EV emulator.
    """

    mode = "emulator"

    def __init__(self, bench: Any, evse: Any, note: NoteFn | None = None, *, cable_a: int | None = None) -> None:
        super().__init__(evse, note)
        if bench is None or getattr(bench, "ev_emulator", None) is None:
            raise StimulusUnavailable(
                "emulator stimulus needs a bench with an EV emulator (rig.yaml instruments and ev_emulator.via)"
            )
        self.bench = bench
        self.ev = bench.ev_emulator
        self.cable_a = cable_a
        self._user_max: int | None = None

    # -------------------------------------------------------------------------------------------- helpers
    def ac_source(self) -> Any:
        """Return the first AC source role of the bench, or None."""
        from rig.instruments.capabilities import AcSource

        for role in self.bench.roles:
            inst = self.bench.role(role)
            if isinstance(inst, AcSource):
                return inst
        return None

    async def _ev(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def _wait_pilot(self, state: str, timeout_s: float = PILOT_SETTLE_S) -> str:
        """Wait until the capture sees the EV-side state (or F: the EVSE is unavailable); return what it saw."""
        accept = {state, "F"}
        deadline = time.monotonic() + timeout_s
        seen = "?"
        while True:
            status = await self._ev(self.ev.pilot)
            seen = str(status.classified.label)
            if status.state in accept:
                return seen
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"EV emulator: applied CP state {state}, but the pilot capture still reads {seen} after "
                    f"{timeout_s:g} s; check the emulator wiring (ev_emulator.wiring) and the capture input"
                )
            await asyncio.sleep(0.02)

    async def _state(self, state: str) -> str:
        await self._ev(self.ev.set_state, state)
        return await self._wait_pilot(state)

    async def _cable(self) -> int:
        if self.cable_a is None:
            try:
                capacity = int(await self.evse.read("CircuitCapacity"))
            except Exception:  # unknown capacity: the largest cable never limits
                capacity = None
            self.cable_a = cable_for(capacity)
        return self.cable_a

    # -------------------------------------------------------------------------------------------- actions
    async def apply(self, action: Action) -> None:
        """Make ``action`` happen physically (or by a fallback trigger); StimulusUnavailable if impossible."""
        if action in NO_PHYSICAL_MEANS:
            await self._fallback(action)
            return
        done = await self._physical(action)
        self.note(f"stimulus [{self.mode}]: {done}")

    async def _physical(self, action: Action) -> str:
        ev = self.ev
        if action is Action.INSTALL:
            parts = []
            source = self.ac_source()
            if source is not None:
                on = await self._ev(source.output_on)
                volts = await self._ev(source.measure_voltage) if on else 0.0
                if not on or abs(volts - NOMINAL_V) > MAINS_TOLERANCE_V:
                    await self._ev(source.set_voltage, NOMINAL_V)
                    await self._ev(source.set_frequency, NOMINAL_HZ)
                    await self._ev(source.set_output, True)
                    parts.append(f"AC source on at {NOMINAL_V:g} V {NOMINAL_HZ:g} Hz")
                else:
                    parts.append(f"mains already at {volts:.0f} V")
            await self._ev(ev.release_all)
            seen = await self._wait_pilot("A")
            parts.append(f"EV emulator released (CP {seen}, no cable, no fault paths)")
            if await self.evse.has_attribute("UserMaximumChargeCurrent"):
                self._user_max = int(await self.evse.read("UserMaximumChargeCurrent"))
                parts.append(f"UserMaximumChargeCurrent {self._user_max} mA noted")
            return "; ".join(parts)
        if action is Action.UNINSTALL:
            await self._ev(ev.release_all)
            text = "EV emulator released (state A, no cable, no fault paths)"
            if self._user_max is not None:
                now = int(await self.evse.read("UserMaximumChargeCurrent"))
                if now != self._user_max:
                    await self.evse.write("UserMaximumChargeCurrent", self._user_max)
                    text += f"; UserMaximumChargeCurrent {now} -> {self._user_max} mA restored"
                self._user_max = None
            return text
        if action is Action.PLUG_IN:
            cable = await self._cable()
            await self._ev(ev.set_cable, cable)
            seen = await self._state("B")
            return f"{cable} A cable coded on PP, EV emulator CP state B (pilot {seen})"
        if action is Action.UNPLUG:
            seen = await self._state("A")
            await self._ev(ev.set_cable, None)
            return f"EV emulator CP state A (pilot {seen}), cable removed"
        if action is Action.DEMAND:
            return f"EV emulator CP state C, S2 closed (pilot {await self._state('C')})"
        if action is Action.DEMAND_CLEAR:
            return f"EV emulator CP state B, S2 open (pilot {await self._state('B')})"
        if action is Action.GROUND_FAULT:
            await self._ev(ev.residual_current, ac_30ma=True)
            return "30 mA AC residual current injected"
        if action is Action.FAULT_CLEAR:
            await self._ev(ev.residual_current)
            await self._ev(ev.diode_fault, False)
            await self._ev(ev.pe_break, False)
            text = "injected faults removed (residual current, diode short, PE break)"
            if self.trigger_fault:
                from rig.matter.triggers import Trigger

                await self.evse.trigger(Trigger.FAULT_CLEAR)
                self.trigger_fault = False
                text += "; test event trigger FAULT_CLEAR for the fault raised by trigger"
            return text
        raise StimulusUnavailable(f"no physical means for {action.value}")  # pragma: no cover

    async def close(self) -> None:
        """Release the EV emulator (state A, no cable, no fault paths) after the case."""
        with contextlib.suppress(Exception):
            await self._ev(self.ev.release_all)


MANUAL_PROMPTS = {
    Action.INSTALL: "Power the EVSE from its circuit at nominal mains, nothing plugged in, no fault",
    Action.UNINSTALL: "Unplug everything from the EVSE and leave it powered",
    Action.PLUG_IN: "Plug the EV in (state B, not asking for energy)",
    Action.UNPLUG: "Unplug the EV (state A)",
    Action.DEMAND: "Make the EV ask for energy (state C)",
    Action.DEMAND_CLEAR: "Make the EV stop asking for energy (back to state B)",
    Action.GROUND_FAULT: "Inject a 30 mA AC residual current (RCD test)",
    Action.FAULT_CLEAR: "Remove every injected fault",
}

DEFAULT_MANUAL_TIMEOUT_S = 120.0
NO_OPERATOR = "manual stimulus needs an operator at a terminal"


class ManualStimulus(_TriggerFallback):
    """Stimulus by an operator: a prompt on the terminal, confirmed with Enter within a timeout.

    Actions no operator can produce on a bench without actuators (:data:`NO_PHYSICAL_MEANS`) fall back to test event
    triggers like the emulator mode.

    Args:
        evse: the Evse under test (fallback triggers).
        note: receives one line per stimulus applied.
        timeout_s: how long the operator has to confirm, s.
        tty: the terminal to prompt on (default ``/dev/tty``); without one (CI) every prompt is unavailable.
    """

    mode = "manual"

    def __init__(
        self, evse: Any, note: NoteFn | None = None, *, timeout_s: float = DEFAULT_MANUAL_TIMEOUT_S,
        tty: str = "/dev/tty",
    ) -> None:
        super().__init__(evse, note)
        self.timeout_s = timeout_s
        self.tty = tty

    def _terminal(self) -> int | None:
        if os.environ.get("CI"):
            return None
        try:
            fd = os.open(self.tty, os.O_RDWR | os.O_NOCTTY)
        except OSError:
            return None
        if not os.isatty(fd):
            os.close(fd)
            return None
        return fd

    def _prompt(self, text: str) -> bool:
        """Prompt and wait for Enter; True if confirmed, False on timeout. StimulusUnavailable without a terminal."""
        fd = self._terminal()
        if fd is None:
            raise StimulusUnavailable(NO_OPERATOR)
        try:
            os.write(fd, f"\n[rig] OPERATOR: {text}, then press Enter (within {self.timeout_s:g} s): ".encode())
            ready, _, _ = select.select([fd], [], [], self.timeout_s)
            if not ready:
                os.write(fd, b"\n[rig] no confirmation: timed out\n")
                return False
            os.read(fd, 1024)
            return True
        finally:
            os.close(fd)

    async def apply(self, action: Action) -> None:
        """Prompt the operator for ``action`` (or send its fallback trigger)."""
        if action in NO_PHYSICAL_MEANS:
            await self._fallback(action)
            return
        text = MANUAL_PROMPTS[action]
        if not await asyncio.to_thread(self._prompt, text):
            raise AssertionError(f"manual stimulus: the operator did not confirm {text!r} within {self.timeout_s:g} s")
        self.note(f"stimulus [{self.mode}]: operator confirmed: {text}")

    async def close(self) -> None:
        """Nothing to release."""


def manual_timeout_s(extra: dict[str, Any]) -> float:
    """The operator's timeout from PIXIT ``dut.pixit.extra.manual_stimulus_timeout_s`` (default 120 s)."""
    value = extra.get("manual_stimulus_timeout_s", DEFAULT_MANUAL_TIMEOUT_S)
    try:
        return float(value)
    except (TypeError, ValueError):
        return DEFAULT_MANUAL_TIMEOUT_S


def make_stimulus(mode: str, evse: Any, bench: Any, *, note: NoteFn | None = None,
                  manual_timeout: float = DEFAULT_MANUAL_TIMEOUT_S) -> Any:
    """Build the stimulus of ``mode`` (trigger, emulator, manual).

    Raises:
        StimulusUnavailable: the mode cannot run on this bench (the reason says why).
        ValueError: an unknown mode.
    """
    if mode == "trigger":
        return TriggerStimulus(evse, note)
    if mode == "emulator":
        return EmulatorStimulus(bench, evse, note)
    if mode == "manual":
        return ManualStimulus(evse, note, timeout_s=manual_timeout)
    raise ValueError(f"unknown stimulus mode {mode!r}; modes: {', '.join(MODES)}")


async def check_triggers_enabled(steps: Any, evse: Any, stimulus: Any) -> bool:
    """The test plan's "TestEventTriggersEnabled has to be 1" step: required in trigger mode, noted otherwise.

    A physical mode drives the EVSE without triggers, so a DUT with triggers disabled is still testable there (only
    the fallback stimuli become unavailable, and their steps are skipped with that reason).
    """
    enabled = bool(await evse.triggers_enabled())
    if stimulus.mode == "trigger":
        steps.measure("TestEventTriggersEnabled", enabled, expected=True)
    else:
        steps.note(f"TestEventTriggersEnabled = {enabled} (not required: {stimulus.mode} stimulus)")
    return enabled
