"""Scripted transports: replay exact exchanges in driver tests (pymeasure's ``expected_protocol``).

Every exchange the driver makes must be the next one in the script, byte for byte; anything else fails the test
with a ``ScriptMismatchError`` (an ``AssertionError``), which ``assert_done()`` raises again even if a driver swallowed
it. ``TIMEOUT`` (or ``Fail("message")`` for registers) as an answer makes the transport raise ``InstrumentError``
the way the real transport does.

Examples:
    >>> t = ScriptedMessageTransport([(">", "OUTP ON"), ("?", "VOLT?", "230.0")])
    >>> r = ScriptedRegisterTransport([("fc04", 0x0048, [0x4048, 0x0000]), ("fc05", 3, True)])
    >>> f = ScriptedFrameTransport([("send", 0x300, bytes(8)), ("recv", 0x301, bytes(8))])
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

from rig.errors import InstrumentError
from rig.instruments.registers import RequestPayload, describe_request
from rig.instruments.transport import log_exchange


class ScriptMismatchError(AssertionError):
    """The driver made an exchange the script did not expect."""


class _Timeout:
    def __repr__(self) -> str:
        return "TIMEOUT"


TIMEOUT: Final = _Timeout()
"""Answer marker: the instrument does not answer (the transport raises InstrumentError)."""


@dataclass(frozen=True)
class Fail:
    """Answer marker for a register exchange: the transport raises InstrumentError with ``message``."""

    message: str = "Modbus exception response 2 (illegal data address)"


MessageEntry = tuple[str, str] | tuple[str, str, "str | _Timeout"]
"""``(">", command)`` or ``("?", command, answer)``."""
RegisterEntry = tuple[str, int, "RequestPayload | Fail"]
"""``(fc, address, values read | value(s) written | Fail(...))``."""
FrameEntry = tuple[str, int, bytes] | tuple[str, int, bytes, str | float]
"""``("send", id, data[, "remote"])`` or ``("recv", id, data[, timestamp])``."""
E = TypeVar("E", bound=tuple[object, ...])


class _Scripted(Generic[E]):
    """Common part: script bookkeeping, open/close, mismatch recording."""

    def __init__(self, script: Sequence[E], role: str, address: str, timeout_s: float) -> None:
        self.role = role
        self.address = address
        self.timeout_s = timeout_s
        self.last_command = ""
        self.is_open = False
        self.opened = 0
        self.closed = 0
        self._script: list[E] = list(script)
        self._pos = 0
        self._failure: ScriptMismatchError | None = None

    def open(self) -> None:
        """Mark the transport open."""
        self.is_open = True
        self.opened += 1

    def close(self) -> None:
        """Mark the transport closed (idempotent)."""
        if self.is_open:
            self.closed += 1
        self.is_open = False

    def _fail(self, message: str) -> ScriptMismatchError:
        failure = ScriptMismatchError(f"{self.role}: {message}")
        if self._failure is None:
            self._failure = failure
        return failure

    def _next(self, got: str) -> E:
        if self._failure is not None:
            raise self._failure
        if self._pos >= len(self._script):
            raise self._fail(f"unexpected exchange after the end of the script: {got}")
        entry = self._script[self._pos]
        self._pos += 1
        return entry

    @property
    def remaining(self) -> list[E]:
        """Get the script entries not yet exchanged."""
        return self._script[self._pos :]

    def assert_done(self) -> None:
        """Fail unless every scripted exchange happened and nothing unexpected did."""
        if self._failure is not None:
            raise self._failure
        if self.remaining:
            raise ScriptMismatchError(f"{self.role}: script not finished, still expected: {self.remaining}")


class ScriptedMessageTransport(_Scripted[MessageEntry]):
    """MessageTransport replaying ``(">", command)`` writes and ``("?", command, answer)`` queries."""

    def __init__(
        self,
        script: Sequence[MessageEntry],
        *,
        role: str = "scripted",
        address: str = "SCRIPTED::INSTR",
        timeout_s: float = 2.0,
    ) -> None:
        super().__init__(script, role, address, timeout_s)

    def write(self, command: str) -> None:
        """Send one command line (must be the next scripted write)."""
        self.last_command = command
        entry = self._next(f"write {command!r}")
        if entry[0] != ">" or entry[1] != command:
            raise self._fail(f"expected {_describe_msg(entry)}, got write {command!r}")
        log_exchange(self.role, self.address, command)

    def query(self, command: str) -> str:
        """Send one command line and return the scripted answer (must be the next scripted query)."""
        self.last_command = command
        entry = self._next(f"query {command!r}")
        if entry[0] != "?" or entry[1] != command or len(entry) != 3:
            raise self._fail(f"expected {_describe_msg(entry)}, got query {command!r}")
        answer = entry[2]
        if isinstance(answer, _Timeout):
            message = f"timeout after {self.timeout_s:g} s waiting for the answer"
            log_exchange(self.role, self.address, command, error=message)
            raise InstrumentError(self.role, self.address, message, command)
        log_exchange(self.role, self.address, command, answer)
        return str(answer)


def _describe_msg(entry: MessageEntry) -> str:
    return f"write {entry[1]!r}" if entry[0] == ">" else f"query {entry[1]!r}"


_READS = {"fc01", "fc03", "fc04"}


class ScriptedRegisterTransport(_Scripted[RegisterEntry]):
    """RegisterTransport replaying ``(fc, address, value(s))`` entries.

    ``fc`` is ``"fc01"``/``"fc03"``/``"fc04"`` (reads: the values returned, their count is the count expected) or
    ``"fc05"``/``"fc06"``/``"fc15"``/``"fc16"`` (writes: the values expected). ``Fail(...)`` instead of values
    makes the exchange fail like a Modbus exception response.
    """

    def __init__(
        self,
        script: Sequence[RegisterEntry],
        *,
        role: str = "scripted",
        address: str = "scripted:502/unit1",
        timeout_s: float = 1.0,
    ) -> None:
        super().__init__(script, role, address, timeout_s)

    def _expect(self, fc: str, address: int, payload: RequestPayload, read: bool) -> RequestPayload:
        """Check the next entry against this request; return its values (raise for ``Fail``)."""
        self.last_command = describe_request(fc, address, payload, read)
        fc_e, addr_e, value_e = self._next(self.last_command)
        if isinstance(value_e, Fail):
            if fc_e != fc or addr_e != address:
                raise self._fail(f"expected {fc_e} 0x{addr_e:04X} (failing), got {self.last_command}")
            log_exchange(self.role, self.address, self.last_command, error=value_e.message)
            raise InstrumentError(self.role, self.address, value_e.message, self.last_command)
        if fc_e != fc or addr_e != address:
            raise self._fail(
                f"expected {describe_request(fc_e, addr_e, value_e, fc_e in _READS)}, got {self.last_command}"
            )
        return value_e

    def _read(self, fc: str, address: int, count: int) -> list[int] | list[bool]:
        values = self._expect(fc, address, count, True)
        if not isinstance(values, list):
            raise self._fail(f"the script answers {self.last_command} with {values!r}, not a list of values")
        if len(values) != count:
            raise self._fail(f"expected {fc} 0x{address:04X} count={len(values)}, got {self.last_command}")
        log_exchange(self.role, self.address, self.last_command, str(list(values)))
        return list(values)

    def _write(self, fc: str, address: int, payload: RequestPayload) -> None:
        value_e = self._expect(fc, address, payload, False)
        if value_e != payload:
            raise self._fail(f"expected {fc} 0x{address:04X} value={value_e!r}, got {self.last_command}")
        log_exchange(self.role, self.address, self.last_command)

    def read_input_registers(self, address: int, count: int) -> list[int]:
        """FC 04."""
        return [int(v) for v in self._read("fc04", address, count)]

    def read_holding_registers(self, address: int, count: int) -> list[int]:
        """FC 03."""
        return [int(v) for v in self._read("fc03", address, count)]

    def write_register(self, address: int, value: int) -> None:
        """FC 06."""
        self._write("fc06", address, value)

    def write_registers(self, address: int, values: list[int]) -> None:
        """FC 16."""
        self._write("fc16", address, list(values))

    def read_coils(self, address: int, count: int) -> list[bool]:
        """FC 01."""
        return [bool(v) for v in self._read("fc01", address, count)]

    def write_coil(self, address: int, value: bool) -> None:
        """FC 05."""
        self._write("fc05", address, bool(value))

    def write_coils(self, address: int, values: list[bool]) -> None:
        """FC 15."""
        self._write("fc15", address, [bool(v) for v in values])


class ScriptedFrameTransport(_Scripted[FrameEntry]):
    """FrameTransport replaying ``("send", id, data)`` and ``("recv", id, data[, timestamp])`` entries.

    ``receive`` delivers the next ``recv`` entry once every ``send`` before it has happened (so a background reader
    thread sees the board's answer only after the command); it returns None after its timeout otherwise.
    ``("send", id, data, "remote")`` expects a remote frame.
    """

    def __init__(
        self,
        script: Sequence[FrameEntry],
        *,
        role: str = "scripted",
        address: str = "virtual:scripted",
        timeout_s: float = 1.0,
    ) -> None:
        super().__init__(script, role, address, timeout_s)
        self._cond = threading.Condition()

    def send(self, arbitration_id: int, data: bytes, *, remote: bool = False) -> None:
        """Send one frame (must be the next scripted send; waits briefly for earlier scripted frames to be read)."""
        got = f"send 0x{arbitration_id:03X}#{bytes(data).hex()}" + (" remote" if remote else "")
        with self._cond:
            self.last_command = got
            deadline = time.monotonic() + self.timeout_s
            while self._pos < len(self._script) and self._script[self._pos][0] == "recv" and self._failure is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            entry = self._next(got)
            want_remote = len(entry) > 3 and entry[3] == "remote"
            if (
                entry[0] != "send"
                or entry[1] != arbitration_id
                or bytes(entry[2]) != bytes(data)
                or want_remote != remote
            ):
                raise self._fail(f"expected {_describe_frame(entry)}, got {got}")
            log_exchange(self.role, self.address, got)
            self._cond.notify_all()

    def receive(self, timeout_s: float) -> tuple[int, bytes, float] | None:
        """Return the next scripted received frame, or None after ``timeout_s`` when the script has none ready."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not (self._pos < len(self._script) and self._script[self._pos][0] == "recv"):
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
            entry = self._script[self._pos]
            self._pos += 1
            self._cond.notify_all()
        stamp = float(entry[3]) if len(entry) > 3 else time.time()
        log_exchange(self.role, self.address, "(receive)", _describe_frame(entry))
        return int(entry[1]), bytes(entry[2]), stamp

    def wait_consumed(self, timeout_s: float = 2.0) -> None:
        """Wait until a reader has taken every scripted frame (for tests with a background reader)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._pos < len(self._script) and self._failure is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)


def _describe_frame(entry: FrameEntry) -> str:
    return f"{entry[0]} 0x{int(entry[1]):03X}#{bytes(entry[2]).hex()}"
