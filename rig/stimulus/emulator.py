"""Emulator mode: the bench's IEC 61851-1 EV emulator and AC source.

Actions without a physical means fall back to test event triggers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from rig.bench.mains import MAINS_TOLERANCE_V, NOMINAL_MAINS_HZ, NOMINAL_MAINS_V
from rig.ev_emulator.channels import CABLE_RATINGS_A as CABLE_RATINGS_A  # standard PP codings, A (re-exported)
from rig.stimulus.base import NO_PHYSICAL_MEANS, Action, NoteFn, StimulusUnavailable, _TriggerFallback

log = logging.getLogger(__name__)

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
                if not on or abs(volts - NOMINAL_MAINS_V) > MAINS_TOLERANCE_V:
                    await self._ev(source.set_voltage, NOMINAL_MAINS_V)
                    await self._ev(source.set_frequency, NOMINAL_MAINS_HZ)
                    await self._ev(source.set_output, True)
                    parts.append(f"AC source on at {NOMINAL_MAINS_V:g} V {NOMINAL_MAINS_HZ:g} Hz")
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
        """Release the EV emulator (state A, no cable, no fault paths) after the case; when the case ended before its
        UNINSTALL (a failed step), write back the UserMaximumChargeCurrent noted at INSTALL, so that a case failing
        after it changed the limit does not lower the next cases' MaximumChargeCurrent."""
        with contextlib.suppress(Exception):
            await self._ev(self.ev.release_all)
        if self._user_max is not None:
            noted, self._user_max = self._user_max, None
            try:
                if int(await self.evse.read("UserMaximumChargeCurrent")) != noted:
                    await self.evse.write("UserMaximumChargeCurrent", noted)
                    log.info("UserMaximumChargeCurrent %d mA restored after the case", noted)
            except Exception as exc:  # the DUT may be lost: the next case's return to idle reports it
                log.warning("UserMaximumChargeCurrent not restored after the case: %s", exc)
