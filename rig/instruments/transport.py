"""Transport interfaces and the one place every instrument exchange is logged.

Drivers talk to a transport, never to pyvisa / pymodbus / python-can: those are imported lazily by exactly one
module each (``visa_transport``, ``modbus_transport``, ``can_transport``). A scripted transport
(``scripted.py``) replays exact exchanges in driver tests.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy.typing as npt

EXCHANGE_LOG = logging.getLogger("rig.exchange")


def log_exchange(role: str, address: str, sent: str, received: str | None = None, *, error: str | None = None) -> None:
    """Record one exchange (the only logging call transports make)."""
    t = time.time()
    if error is not None:
        EXCHANGE_LOG.warning("%.3f %s@%s >> %s !! %s", t, role, address, sent, error)
    elif received is None:
        EXCHANGE_LOG.debug("%.3f %s@%s >> %s", t, role, address, sent)
    else:
        EXCHANGE_LOG.debug("%.3f %s@%s >> %s << %s", t, role, address, sent, received)


@runtime_checkable
class Transport(Protocol):
    """Any transport: it knows its role and address (for error messages) and has a timeout on every exchange."""

    role: str
    address: str
    timeout_s: float
    last_command: str

    def open(self) -> None:
        """Connect; raise InstrumentError naming role and address when it cannot."""
        ...

    def close(self) -> None:
        """Disconnect (idempotent)."""
        ...


@runtime_checkable
class MessageTransport(Transport, Protocol):
    """Line-oriented messages (SCPI over VISA: TCPIP SOCKET/INSTR, USB, GPIB, serial)."""

    def write(self, command: str) -> None:
        """Send one command line."""
        ...

    def query(self, command: str) -> str:
        """Send one command line and return the answer line (terminator stripped)."""
        ...


@runtime_checkable
class RegisterTransport(Transport, Protocol):
    """Modbus (TCP or RTU) registers and coils of one unit id; addresses are PDU (0-based) addresses."""

    def read_input_registers(self, address: int, count: int) -> list[int]:
        """FC 04."""
        ...

    def read_holding_registers(self, address: int, count: int) -> list[int]:
        """FC 03."""
        ...

    def write_register(self, address: int, value: int) -> None:
        """FC 06."""
        ...

    def write_registers(self, address: int, values: list[int]) -> None:
        """FC 16."""
        ...

    def read_coils(self, address: int, count: int) -> list[bool]:
        """FC 01."""
        ...

    def write_coil(self, address: int, value: bool) -> None:
        """FC 05."""
        ...

    def write_coils(self, address: int, values: list[bool]) -> None:
        """FC 15."""
        ...


@runtime_checkable
class FrameTransport(Transport, Protocol):
    """CAN frames."""

    def send(self, arbitration_id: int, data: bytes, *, remote: bool = False) -> None:
        """Send one frame."""
        ...

    def receive(self, timeout_s: float) -> tuple[int, bytes, float] | None:
        """The next frame (id, data, timestamp s) or None after ``timeout_s``."""
        ...


@runtime_checkable
class BlockTransport(MessageTransport, Protocol):
    """A MessageTransport that also reads IEEE 488.2 definite-length blocks (``#<n><length><bytes>``): waveforms."""

    def query_binary_values(
        self, command: str, datatype: str, is_big_endian: bool, *, expect_termination: bool = True
    ) -> npt.NDArray[Any]:
        """Send one command and return the block of its answer as a numpy array of ``datatype`` (a struct code:
        ``B`` uint8, ``H`` uint16, ...); ``expect_termination`` when the instrument ends the block with the read
        terminator. A malformed block or a short one raises InstrumentError naming role, address and command."""
        ...
