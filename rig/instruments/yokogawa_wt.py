"""Yokogawa WT series power analyser (WT310E/WT330E/WT500/WT1800 family), SCPI over USB-TMC, GPIB or Ethernet.

Manual: Yokogawa WT310E/WT310EH/WT332E/WT333E Communication Interface User's Manual (IM WT310E-17EN), groups
NUMeric and INTEGrate. Commands used: docs/bench-protocols.md section 2.3.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rig.instruments.driver_base import ScpiDriver, check_channel
from rig.instruments.transport import MessageTransport


class YokogawaWt(ScpiDriver):
    """Yokogawa WT power analyser as an energy meter: U, I, P and WHP per element, integration from ``open``.

    Numeric items are set up per element (phase) as U, I, P, WHP; ``open()`` configures them and restarts
    integration, so ``energy_import_wh`` counts from the moment the bench opened the analyser (or from
    ``reset_energy()``).

    Args:
        role: the bench role.
        transport: a MessageTransport.
        phases: elements wired, 1 or 3 (element n measures phase n).
    """

    CAPABILITIES: ClassVar[tuple[str, ...]] = ("EnergyMeter",)

    def __init__(self, role: str, transport: MessageTransport, phases: int = 1, **params: Any) -> None:
        if params:
            raise TypeError(f"{type(self).__name__}: unknown parameters {sorted(params)}")
        if phases not in (1, 3):
            raise ValueError(f"phases must be 1 or 3, got {phases!r}")
        super().__init__(role, transport)
        self.phases = phases

    FUNCTIONS: ClassVar[tuple[str, ...]] = ("U", "I", "P", "WHP")
    STATES: ClassVar[dict[str, str]] = {"RES": "RESET", "STAR": "START", "STOP": "STOP"}

    @property
    def integration_state(self) -> str:
        """Get the integration state (``:INTEG:STAT?``): ``RESET``, ``START`` or ``STOP``."""
        answer = self.query(":INTEG:STAT?").strip().upper()
        for prefix, state in self.STATES.items():
            if answer.startswith(prefix):
                return state
        raise self._error(f"unexpected integration state {answer!r}")

    def values(self) -> list[float]:
        """Measure every numeric item (``:NUM:NORM:VAL?``): per element U (V), I (A), P (W), WHP (Wh)."""
        vals = self.query_floats(":NUM:NORM:VAL?")
        if len(vals) != len(self.FUNCTIONS) * self.phases:
            raise self._error(f"expected {len(self.FUNCTIONS) * self.phases} numeric items, got {len(vals)}")
        return vals

    def voltage(self, phase: int = 1) -> float:
        """Measure the voltage U of element ``phase`` (1..phases), V rms."""
        check_channel(phase, self.phases, "phase")
        return self.values()[4 * (phase - 1)]

    def current(self, phase: int = 1) -> float:
        """Measure the current I of element ``phase`` (1..phases), A rms."""
        check_channel(phase, self.phases, "phase")
        return self.values()[4 * (phase - 1) + 1]

    def active_power(self, phase: int | None = None) -> float:
        """Measure active power P of element ``phase`` (1..phases) or the sum over elements when None, W."""
        vals = self.values()
        if phase is None:
            return sum(vals[4 * e + 2] for e in range(self.phases))
        check_channel(phase, self.phases, "phase")
        return vals[4 * (phase - 1) + 2]

    def energy_import_wh(self) -> float:
        """Measure the integrated positive energy WHP, summed over elements, Wh, since open/reset_energy."""
        vals = self.values()
        return sum(vals[4 * e + 3] for e in range(self.phases))

    def open(self) -> None:
        """Control: open the transport, set up the numeric items and restart integration."""
        super().open()
        self.configure()
        self.reset_energy()

    def configure(self) -> None:
        """Control: set ASCII numeric output with items U, I, P, WHP for each element."""
        self.write(":NUM:FORM ASC")
        self.write(f":NUM:NORM:NUM {len(self.FUNCTIONS) * self.phases}")
        item = 1
        for element in range(1, self.phases + 1):
            for function in self.FUNCTIONS:
                self.write(f":NUM:NORM:ITEM{item} {function},{element}")
                item += 1

    def reset_energy(self) -> None:
        """Control: stop, reset and start integration (energy counts from now)."""
        self.write(":INTEG:STOP")
        self.write(":INTEG:RESET")
        self.write(":INTEG:START")

    def safe_state(self) -> None:
        """Control: nothing to do; the analyser only measures (integration keeps running)."""
