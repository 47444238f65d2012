"""What the AC source drivers share: the ``*IDN?`` model check at open, the error queue drained after every
configuration and after a program, setpoints checked against their range before anything is sent, and the checks
of a list program's steps.

Params every AC source driver takes (rig.yaml ``instruments.<role>.params``; all optional)::

    max_voltage: 300      # highest voltage setpoint accepted, V rms (0..300, the bench contract)
    max_current: 16       # highest current limit accepted, A (default: none here; the source itself refuses more)
    poll_s: 0.05          # interval between status polls while waiting for a program's end, s

No source reports when its program started: a timed case takes the time on the oscilloscope (the AC output through a
differential probe, or a source's trigger-out, on a scope channel); see docs/bench-protocols.md section 1.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from typing import ClassVar

from rig.errors import ConfigError, InstrumentError, Unsupported
from rig.instruments.capabilities import Identity, ProgramStep
from rig.instruments.driver_base import ScpiDriver
from rig.instruments.transport import MessageTransport

log = logging.getLogger(__name__)

CONTRACT_VOLTAGE_V = 300.0
"""The bench contract's highest voltage setpoint, V rms (``AcSource.set_voltage``)."""
CONTRACT_FREQUENCY_HZ = (45.0, 65.0)
"""The bench contract's frequency range, Hz (``AcSource.set_frequency``)."""


class AcSourceDriver(ScpiDriver):
    """Base of the AC source drivers: params, model check at open, error drain naming the commands, refusals."""

    CAPABILITIES: ClassVar[tuple[str, ...]] = ("AcSource",)
    DRIVER: ClassVar[str] = ""
    """The registry name (in messages)."""
    FAMILY: ClassVar[str] = ""
    """The product family (in messages before ``*IDN?`` was read)."""
    VENDORS: ClassVar[tuple[str, ...]] = ()
    """Accepted ``*IDN?`` manufacturer fields (upper case; a field starting with one of them is accepted)."""
    MODELS: ClassVar[tuple[tuple[str, str], ...]] = ()
    """(regular expression the ``*IDN?`` model field must match in full, what it stands for) per accepted family."""
    ERROR_QUERY: ClassVar[str] = "SYST:ERR?"
    FREQUENCY_HZ: ClassVar[tuple[float, float]] = CONTRACT_FREQUENCY_HZ
    VOLTAGE_SET: ClassVar[str] = "VOLT"
    """The model's voltage setpoint command (the value follows, V rms, one decimal)."""
    FREQUENCY_SET: ClassVar[str] = "FREQ"
    """The model's frequency setpoint command (the value follows, Hz, two decimals)."""
    CURRENT_LIMIT_SET: ClassVar[str | None] = None
    """The model's rms current limit command (A, two decimals); None: not in the driver (Unsupported)."""
    MEASURE: ClassVar[dict[str, str | None]] = {
        "voltage": "MEAS:VOLT:AC?",
        "current": "MEAS:CURR:AC?",
        "power": None,
        "frequency": None,
    }
    """The model's measurement query per quantity; None: not in the driver (Unsupported)."""
    MANUAL: ClassVar[str] = "manual"
    """What the model's reference is called, in the message of a function left out as not verified there."""
    SAFE_STATE: ClassVar[tuple[str, ...]] = ("OUTP OFF",)
    """The commands of the safe state, in order (a list program stopped first where the model has one)."""

    def __init__(
        self,
        role: str,
        transport: MessageTransport,
        *,
        max_voltage: float = CONTRACT_VOLTAGE_V,
        max_current: float | None = None,
        poll_s: float = 0.05,
    ) -> None:
        super().__init__(role, transport)
        where = f"role {role!r} ({self.DRIVER}): instruments.{role}.params"
        if not _is_number(max_voltage) or not 0 < max_voltage <= CONTRACT_VOLTAGE_V:
            raise ConfigError(
                f"{where}.max_voltage must be a number within 0..{CONTRACT_VOLTAGE_V:g} V, got {max_voltage!r}"
            )
        if max_current is not None and (not _is_number(max_current) or max_current <= 0):
            raise ConfigError(f"{where}.max_current must be a positive number of A, got {max_current!r}")
        if not _is_number(poll_s) or not 0 <= poll_s <= 1:
            raise ConfigError(f"{where}.poll_s must be within 0..1 s, got {poll_s!r}")
        self.max_voltage = float(max_voltage)
        self.max_current = None if max_current is None else float(max_current)
        self.poll_s = float(poll_s)
        self.model = ""
        self._in_list = False
        self._list_end: float | None = None

    # -- setpoints -----------------------------------------------------------------------------------------------
    def set_output(self, on: bool) -> None:
        """Set the output on or off (``OUTP ON|OFF``), bool."""
        self._configure(f"OUTP {'ON' if on else 'OFF'}")

    def output_on(self) -> bool:
        """Get whether the output is on (``OUTP?``), bool."""
        return self.query_bool("OUTP?")

    def set_voltage(self, volts: float) -> None:
        """Set the output voltage (:attr:`VOLTAGE_SET`), V rms, 0..max_voltage."""
        command = f"{self.VOLTAGE_SET} {number(volts, '.1f')}"
        self._voltage(volts, command)
        self._configure(command)

    def set_frequency(self, hertz: float) -> None:
        """Set the output frequency (:attr:`FREQUENCY_SET`), Hz, 45..65."""
        command = f"{self.FREQUENCY_SET} {number(hertz, '.2f')}"
        self._frequency(hertz, command)
        self._configure(command)

    def set_current_limit(self, amps: float) -> None:
        """Set the rms current limit (:attr:`CURRENT_LIMIT_SET`), A, 0..max_current; Unsupported without one."""
        if self.CURRENT_LIMIT_SET is None:
            raise self._unsupported(
                f"no current limit in this driver (its command was not verified in the {self.MANUAL})"
            )
        command = f"{self.CURRENT_LIMIT_SET} {number(amps, '.2f')}"
        self._current(amps, command)
        self._configure(command)

    # -- measurements --------------------------------------------------------------------------------------------
    def measure_voltage(self) -> float:
        """Measure the output voltage (:attr:`MEASURE`), V rms."""
        return self._measure("voltage", "")

    def measure_current(self) -> float:
        """Measure the output current (:attr:`MEASURE`), A rms."""
        return self._measure("current", "")

    def measure_power(self) -> float:
        """Measure the output true power (:attr:`MEASURE`), W; Unsupported where the driver has no query for it."""
        return self._measure("power", " (measure power on the bench's meter)")

    def measure_frequency(self) -> float:
        """Measure the output frequency (:attr:`MEASURE`), Hz; Unsupported where the driver has no query for it."""
        return self._measure("frequency", " (measure frequency on the bench's meter or scope)")

    def _measure(self, quantity: str, instead: str) -> float:
        query = self.MEASURE.get(quantity)
        if query is None:
            raise self._unsupported(
                f"no {quantity} measurement in this driver (its query was not verified in the {self.MANUAL}){instead}"
            )
        return self.query_float(query)

    # -- safe state ----------------------------------------------------------------------------------------------
    def safe_state(self) -> None:
        """Control: :attr:`SAFE_STATE` (any list program stopped, fixed mode, output off); errors the source queued
        are logged, not raised."""
        self._in_list, self._list_end = False, None
        for command in self.SAFE_STATE:
            self._send(command)
        self.drain_errors_quietly()

    def _configure(self, command: str) -> None:
        """Leave a finished list program (:meth:`_finish_list`), send ``command`` and drain the error queue."""
        self._finish_list()
        self._send(command)
        self.drain_errors()

    def _finish_list(self) -> None:
        """A model with list programs leaves list mode here once the last one has ended (none: nothing to do)."""

    # -- open, identity ------------------------------------------------------------------------------------------
    def open(self) -> None:
        """Control: open the transport, check ``*IDN?`` against the accepted models, then read out (and log) the
        errors queued before this session so that later drains report only this session's."""
        super().open()
        answer = self.query("*IDN?")
        ident = _parse_identity(answer)
        if ident is None or not self.accepts(ident):
            accepted = "; ".join(description for _, description in self.MODELS)
            raise InstrumentError(
                self.role,
                self.transport.address,
                f"{self.DRIVER} does not drive the instrument that answered *IDN? with {answer!r}; it accepts "
                f"{' / '.join(self.VENDORS)} {accepted}",
                "*IDN?",
            )
        self.model = ident.model
        stale = self.read_errors()
        if stale:
            log.warning("%s: errors queued before this session (discarded): %s", self._instrument(), "; ".join(stale))

    def accepts(self, ident: Identity) -> bool:
        """Get whether ``ident`` (from ``*IDN?``) is a model this driver speaks to."""
        vendor = ident.vendor.upper()
        return any(vendor.startswith(v) for v in self.VENDORS) and any(
            re.fullmatch(pattern, ident.model.strip(), re.IGNORECASE) for pattern, _ in self.MODELS
        )

    # -- shared pieces -------------------------------------------------------------------------------------------
    def _instrument(self) -> str:
        return f"{self.DRIVER} {self.model or self.FAMILY}"

    def _checked(self, value: float, low: float, high: float, what: str, unit: str, command: str) -> float:
        """Return ``value`` if finite and within low..high, else refuse (ValueError) naming value, range and the
        command not sent."""
        if not _is_number(value) or not math.isfinite(value):
            raise self._refusal(f"{what} must be a finite number of {unit}, got {value!r}", command)
        if not low <= value <= high:
            raise self._refusal(f"{what} must be within {low:g}..{high:g} {unit}, got {value:g}", command)
        return float(value)

    def _refusal(self, message: str, command: str) -> ValueError:
        return ValueError(f"role {self.role!r} ({self._instrument()}): {message}; not sent: {command}")

    def _voltage(self, volts: float, command: str) -> float:
        return self._checked(volts, 0.0, self.max_voltage, "voltage", "V rms", command)

    def _frequency(self, hertz: float, command: str) -> float:
        return self._checked(hertz, *self.FREQUENCY_HZ, "frequency", "Hz", command)

    def _current(self, amps: float, command: str) -> float:
        high = math.inf if self.max_current is None else self.max_current
        return self._checked(amps, 0.0, high, "current limit", "A", command)

    def _unsupported(self, what: str) -> Unsupported:
        return Unsupported(self.role, self.transport.address, f"{self._instrument()}: {what}")

    def _check_steps(
        self,
        steps: Sequence[ProgramStep],
        dwell_s: tuple[float, float],
        max_points: int | None,
        command: str,
        *,
        frequencies: bool,
    ) -> None:
        """Refuse a program that is empty, too long, or has a step out of range (nothing is sent)."""
        if not steps:
            raise self._refusal("a list program needs at least one step", command)
        if max_points is not None and len(steps) > max_points:
            raise self._refusal(f"a list program takes at most {max_points} steps here, got {len(steps)}", command)
        for i, s in enumerate(steps):
            self._checked(s.voltage, 0.0, self.max_voltage, f"step {i} voltage", "V rms", command)
            self._checked(s.dwell_s, *dwell_s, f"step {i} dwell", "s", command)
            if s.frequency is not None:
                if not frequencies:
                    raise self._refusal(
                        f"step {i} has a frequency ({s.frequency!r} Hz): this driver programs voltage lists only",
                        command,
                    )
                self._checked(s.frequency, *self.FREQUENCY_HZ, f"step {i} frequency", "Hz", command)


def number(value: object, spec: str) -> str:
    """Format ``value`` for a command with ``spec`` (e.g. ``.1f``); anything but a number as its repr (for the
    refusal message naming the command not sent)."""
    return format(value, spec) if _is_number(value) else repr(value)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _parse_identity(answer: str) -> Identity | None:
    parts = [p.strip() for p in answer.split(",")]
    if len(parts) < 2 or not parts[0] or not parts[1]:
        return None
    parts += [""] * (4 - len(parts))
    return Identity(parts[0], parts[1], parts[2], ",".join(parts[3:]).strip(","))
