"""Yokogawa WT300E / WT300 digital power meters (WT310E, WT310EH, WT332E, WT333E; WT310, WT310HC, WT332, WT333),
SCPI-style commands over USB-TMC, GPIB or Ethernet.

Commands: the WT series' NUMeric, INTEGrate, COMMunicate and STATus groups as in the Yokogawa WT3000E Communication
Interface User's Manual IM WT3001E-17EN (pp.6-24, 6-74/75, 6-95/96; the same command tree), each also sent to a
WT310/WT33x by working public code: Intel ``yokotool`` (``yokolibs/_wt310.py``, ``_yokobase.py``) and a WT330
Ethernet client (``UlWT330EthernetClient``). The watt-hour item names WH/WHP/WHM are those of the WT300 family;
other WT families name them differently, so only the WT300(E) models are accepted. Every command, with its
sources, is listed in docs/bench-protocols.md section 2.3; nothing else is sent.
"""

from __future__ import annotations

import re
import time
from typing import ClassVar

from rig.errors import InstrumentError
from rig.instruments.capabilities import Identity
from rig.instruments.driver_base import ScpiDriver, check_channel
from rig.instruments.meter_common import CURRENT, ENERGY, POWER, VOLTAGE, Quantity, checked
from rig.instruments.transport import MessageTransport


class YokogawaWt(ScpiDriver):
    """Yokogawa WT300E/WT300 power meter as an energy meter: U, I, P and WHP per element, integration from open.

    ``open()`` checks ``*IDN?``, clears the status, sets remote, no headers, ASCII numeric output with items U, I, P,
    WHP for each element (element n measures phase n), reads the error queue, then resets and starts integration,
    so ``energy_import_wh`` counts from the moment the bench opened the analyser (or from ``reset_energy()``). The
    analyser's integration mode and timer are left as set on the instrument (manual mode, timer 0 needed: a timer
    that runs out stops the count).

    Args:
        role: the bench role.
        transport: a MessageTransport.
        phases: elements wired, 1..3 (the model must have as many).
        integration_settle_s: pause after ``:INTEGrate:STARt`` before the next command, s (yokotool waits 0.2 s:
            commands right after a start may fail).
    """

    DRIVER: ClassVar[str] = "yokogawa_wt"
    CAPABILITIES: ClassVar[tuple[str, ...]] = ("EnergyMeter",)
    VENDOR: ClassVar[str] = "YOKOGAWA"
    MODELS: ClassVar[tuple[tuple[str, int], ...]] = (
        (r"WT31\d[A-Z]*", 1),
        (r"WT332[A-Z]*", 2),
        (r"WT333[A-Z]*", 3),
    )
    """(``*IDN?`` model field pattern, input elements): WT310(E/EH/HC), WT332(E), WT333(E)."""
    FUNCTIONS: ClassVar[tuple[str, ...]] = ("U", "I", "P", "WHP")
    """Numeric item functions per element: voltage (V), current (A), active power (W), positive watt-hours (Wh)."""
    QUANTITIES: ClassVar[tuple[Quantity, ...]] = (VOLTAGE, CURRENT, POWER, ENERGY)
    ERROR_QUERY: ClassVar[str] = ":STATus:ERRor?"
    NO_DATA: ClassVar[float] = 9.9e37
    """NAN is sent as 9.91E+37 (INF as 9.9E+37): a magnitude from here up is no measurement."""
    STATES: ClassVar[tuple[tuple[str, str], ...]] = (
        ("RES", "RESET"),
        ("REA", "READY"),
        ("STAR", "START"),
        ("STOP", "STOP"),
        ("ERR", "ERROR"),
        ("TIM", "TIMEUP"),
    )
    """``:INTEGrate:STATe?`` answer (short or long form) -> state."""

    def __init__(
        self, role: str, transport: MessageTransport, *, phases: int = 1, integration_settle_s: float = 0.2
    ) -> None:
        where = f"role {role!r} ({self.DRIVER}): params"
        if isinstance(phases, bool) or phases not in (1, 2, 3):
            raise ValueError(f"{where}.phases must be 1, 2 or 3, got {phases!r}")
        if not isinstance(integration_settle_s, int | float) or not 0 <= integration_settle_s <= 5:
            raise ValueError(f"{where}.integration_settle_s must be 0..5 s, got {integration_settle_s!r}")
        super().__init__(role, transport)
        self.phases = phases
        self.integration_settle_s = float(integration_settle_s)
        self.model = ""

    @property
    def integration_state(self) -> str:
        """Get the integration state (``:INTEGrate:STATe?``): RESET, READY, START, STOP, ERROR or TIMEUP."""
        answer = self.query(":INTEGrate:STATe?").strip().upper()
        for prefix, state in self.STATES:
            if answer.startswith(prefix):
                return state
        raise self._error(f"unexpected answer {answer!r} to :INTEGrate:STATe?")

    def open(self) -> None:
        """Control: open the transport, check the model, configure the numeric items and restart integration.

        Raises:
            InstrumentError: another instrument or model (names the ``*IDN?`` answer), a model with fewer elements
                than ``phases``, or an error the analyser queued during configuration (names the commands sent).
        """
        super().open()
        ident = self.identity()
        elements = self._elements(ident)
        if elements is None:
            accepted = "WT310/WT310E/WT310EH/WT310HC (1 element), WT332/WT332E (2), WT333/WT333E (3)"
            raise InstrumentError(
                self.role,
                self.transport.address,
                f"{self.DRIVER} does not drive {ident.vendor} {ident.model!r} (*IDN? answered "
                f"{','.join(p for p in (ident.vendor, ident.model, ident.serial, ident.firmware))!r}); it accepts "
                f"{self.VENDOR} {accepted}",
                "*IDN?",
            )
        if elements < self.phases:
            raise InstrumentError(
                self.role,
                self.transport.address,
                f"params.phases is {self.phases} but the {ident.model} (from *IDN?) has {elements} input element(s)",
                "*IDN?",
            )
        self.model = ident.model
        self.write("*CLS")
        self.configure()
        self.reset_energy()

    def configure(self) -> None:
        """Control: remote, no headers, ASCII numeric output, items U, I, P, WHP per element; then read the error
        queue (an error raises InstrumentError listing the errors and the commands sent)."""
        self._sent = []
        self._send(":COMMunicate:REMote ON")
        self._send(":COMMunicate:HEADer OFF")
        self._send(":NUMeric:FORMat ASCii")
        self._send(f":NUMeric:NORMal:NUMber {len(self.FUNCTIONS) * self.phases}")
        item = 1
        for element in range(1, self.phases + 1):
            for function in self.FUNCTIONS:
                self._send(f":NUMeric:NORMal:ITEM{item} {function},{element}")
                item += 1
        self.drain_errors()

    def reset_energy(self) -> None:
        """Control: stop integration if it runs, reset and start it (energy counts from now); then read the error
        queue. A running integration cannot be reset, and a stop when it does not run is an error (yokotool)."""
        self._sent = []
        if self.integration_state == "START":
            self._send(":INTEGrate:STOP")
        self._send(":INTEGrate:RESet")
        self._send(":INTEGrate:STARt")
        self.drain_errors()
        if self.integration_settle_s:
            time.sleep(self.integration_settle_s)

    def values(self) -> list[float]:
        """Measure every numeric item (``:NUMeric:NORMal:VALue?``): per element U (V), I (A), P (W), WHP (Wh).

        Raises:
            InstrumentError: another number of items, an item that is no number or NAN (9.91E+37), or one outside
                its plausible range (names the item and the query).
        """
        command = ":NUMeric:NORMal:VALue?"
        answer = self.query(command)
        fields = [f.strip() for f in answer.split(",")]
        expected = len(self.FUNCTIONS) * self.phases
        if len(fields) != expected:
            raise self._error(f"expected {expected} comma-separated items in answer to {command}, got {answer[:120]!r}")
        result = []
        for n, text in enumerate(fields):
            element, k = divmod(n, len(self.FUNCTIONS))
            source = f"item {n + 1} ({self.FUNCTIONS[k]},{element + 1}) of {command}"
            try:
                value = float(text)
            except ValueError:
                raise self._error(f"{source} is {text!r}, not a number") from None
            if abs(value) >= self.NO_DATA:
                raise self._error(
                    f"{source} is {text} (NAN/INF: the analyser has no value; is element {element + 1} wired, "
                    "in range, and is integration running?)"
                )
            result.append(checked(self, value, self.QUANTITIES[k], source))
        return result

    def voltage(self, phase: int = 1) -> float:
        """Measure the voltage U of element ``phase`` (1..phases), V rms."""
        check_channel(phase, self.phases, "phase")
        return self.values()[4 * (phase - 1)]

    def current(self, phase: int = 1) -> float:
        """Measure the current I of element ``phase`` (1..phases), A rms."""
        check_channel(phase, self.phases, "phase")
        return self.values()[4 * (phase - 1) + 1]

    def active_power(self, phase: int | None = None) -> float:
        """Measure the active power P of element ``phase`` (1..phases) or the sum over the elements when None, W."""
        if phase is not None:
            check_channel(phase, self.phases, "phase")
        vals = self.values()
        if phase is None:
            return sum(vals[4 * e + 2] for e in range(self.phases))
        return vals[4 * (phase - 1) + 2]

    def energy_import_wh(self) -> float:
        """Measure the integrated positive energy WHP summed over the elements since open/reset_energy, Wh."""
        vals = self.values()
        return sum(vals[4 * e + 3] for e in range(self.phases))

    def safe_state(self) -> None:
        """Control: nothing to do; the analyser only measures (integration keeps running)."""

    def _elements(self, ident: Identity) -> int | None:
        """The input elements of the ``*IDN?`` model, or None for a vendor or model this driver does not drive."""
        if ident.vendor.upper() != self.VENDOR:
            return None
        for pattern, elements in self.MODELS:
            if re.fullmatch(pattern, ident.model.upper()):
                return elements
        return None

    def _instrument(self) -> str:
        return f"{self.DRIVER} {self.model or '(model not read yet)'} at {self.transport.address}"
