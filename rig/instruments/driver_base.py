"""Small shared parts of drivers: the transport handle, error construction, SCPI answer parsing.

Composition helpers, not a god class: a driver subclasses ``Driver`` (or ``ScpiDriver``) for ``open``/``close``,
``_error`` and the typed query helpers, and implements its capabilities itself.
"""

from __future__ import annotations

import logging
from typing import ClassVar, Generic, TypeVar

from rig.errors import InstrumentError, InstrumentFault
from rig.instruments.capabilities import Identity
from rig.instruments.transport import MessageTransport, Transport

T = TypeVar("T", bound=Transport)
log = logging.getLogger(__name__)


class Driver(Generic[T]):
    """Base of every driver: a role, a transport, open/close and errors naming role, address and last command."""

    CAPABILITIES: ClassVar[tuple[str, ...]] = ()

    def __init__(self, role: str, transport: T) -> None:
        self.role = role
        self.transport = transport

    def open(self) -> None:
        """Control: open the transport and prepare the instrument (idempotent)."""
        self.transport.open()

    def close(self) -> None:
        """Control: release the transport (idempotent)."""
        self.transport.close()

    def _error(self, message: str) -> InstrumentError:
        """What the instrument answered is wrong or unusable (it answered: :class:`~rig.errors.InstrumentFault`)."""
        return InstrumentFault(self.role, self.transport.address, message, self.transport.last_command or None)


def check_channel(channel: int, count: int, what: str = "channel") -> int:
    """Return ``channel`` if it is within 1..count, else raise ValueError naming the range."""
    if not isinstance(channel, int) or not 1 <= channel <= count:
        raise ValueError(f"{what} must be 1..{count}, got {channel!r}")
    return channel


def check_range(value: float, low: float, high: float, what: str) -> float:
    """Return ``value`` if low <= value <= high, else raise ValueError naming the range and unit."""
    if not low <= value <= high:
        raise ValueError(f"{what} must be within {low:g}..{high:g}, got {value:g}")
    return value


def num(value: float) -> str:
    """Format a number the contract's way (``%.6g``)."""
    return f"{value:.6g}"


class ScpiDriver(Driver[MessageTransport]):
    """Base of SCPI drivers: typed queries, ``*IDN?`` identity and the error queue."""

    def __init__(self, role: str, transport: MessageTransport) -> None:
        super().__init__(role, transport)
        self._sent: list[str] = []

    def write(self, command: str) -> None:
        """Control: send one SCPI command."""
        self.transport.write(command)

    def query(self, command: str) -> str:
        """Get the answer line to one SCPI query."""
        return self.transport.query(command)

    def query_float(self, command: str) -> float:
        """Get a numeric answer; an unparseable one raises InstrumentError."""
        answer = self.transport.query(command)
        try:
            return float(answer)
        except ValueError:
            raise self._error(f"expected a number in answer to {command!r}, got {answer!r}") from None

    def query_int(self, command: str) -> int:
        """Get an integer answer; an unparseable one raises InstrumentError."""
        value = self.query_float(command)
        if value != int(value):
            raise self._error(f"expected an integer in answer to {command!r}, got {value!r}")
        return int(value)

    def query_bool(self, command: str) -> bool:
        """Get a boolean answer (``0|1``, ``ON|OFF``); anything else raises InstrumentError."""
        answer = self.transport.query(command).strip().upper()
        if answer in ("1", "ON"):
            return True
        if answer in ("0", "OFF"):
            return False
        raise self._error(f"expected 0 or 1 in answer to {command!r}, got {answer!r}")

    def query_floats(self, command: str) -> list[float]:
        """Get a comma-separated list of numbers; an unparseable one raises InstrumentError."""
        answer = self.transport.query(command)
        try:
            return [float(x) for x in answer.split(",")]
        except ValueError:
            raise self._error(
                f"expected comma-separated numbers in answer to {command!r}, got {answer[:80]!r}"
            ) from None

    def identity(self) -> Identity:
        """Get the identity from ``*IDN?`` (vendor, model, serial, firmware)."""
        answer = self.query("*IDN?")
        parts = [p.strip() for p in answer.split(",")]
        if len(parts) < 2 or not parts[0]:
            raise self._error(f"unexpected *IDN? answer {answer!r}")
        parts += [""] * (4 - len(parts))
        return Identity(parts[0], parts[1], parts[2], ",".join(parts[3:]).strip(","))

    # -- the error queue ----------------------------------------------------------------------------------------
    ERROR_QUERY: ClassVar[str] = "SYST:ERR?"
    """The error-queue query of the instrument's dialect (answers ``<code>,"<text>"``, code 0 = empty)."""
    MAX_ERRORS: ClassVar[int] = 32
    """The most entries read from the queue in one go (a real queue holds fewer)."""

    def _instrument(self) -> str:
        """Name the instrument in messages (drivers add the model they read)."""
        return f"{type(self).__name__} at {self.transport.address}"

    def _send(self, command: str) -> None:
        """Control: write one command and remember it for the report of :meth:`drain_errors`."""
        self.write(command)
        self._sent.append(command)

    def read_errors(self) -> list[str]:
        """Get the queued errors (:attr:`ERROR_QUERY` until it answers code 0), oldest first.

        Raises:
            InstrumentError: an answer that is not ``<code>,"<text>"``.
        """
        errors: list[str] = []
        for _ in range(self.MAX_ERRORS):
            answer = self.query(self.ERROR_QUERY)
            code = answer.split(",", 1)[0].strip()
            try:
                empty = int(code) == 0
            except ValueError:
                raise self._error(
                    f"expected '<code>,\"<text>\"' in answer to {self.ERROR_QUERY}, got {answer!r}"
                ) from None
            if empty:
                return errors
            errors.append(answer.strip())
        errors.append(f"(more than {self.MAX_ERRORS}, queue not emptied)")
        return errors

    def drain_errors(self) -> None:
        """Read the error queue empty; raise InstrumentError naming the instrument, the errors and the commands sent
        since the last drain."""
        errors = self.read_errors()
        sent, self._sent = self._sent, []
        if errors:
            raise self._error(
                f"{self._instrument()} reported {'; '.join(errors)} after: {'; '.join(sent) or '(nothing)'}"
            )

    def drain_errors_quietly(self) -> None:
        """Read the error queue empty and log what it held (safe state: never raises for a queued error)."""
        try:
            errors = self.read_errors()
        finally:
            sent, self._sent = self._sent, []
        if errors:
            log.warning("%s reported %s after: %s", self._instrument(), "; ".join(errors), "; ".join(sent))

    def check_errors(self) -> None:
        """Read the error queue (``rig bench check``); raise InstrumentError listing what it held."""
        self.drain_errors()
