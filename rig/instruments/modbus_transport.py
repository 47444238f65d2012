"""Modbus TCP and RTU register transports (pymodbus 3.16 sync clients): the only module importing pymodbus.

Addresses are PDU (0-based) addresses; the unit id is pymodbus's ``device_id``. An exception response, a timeout
or a broken connection raises InstrumentError naming the role, the address and the request (``FC04 0x0048
count=2``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from rig.errors import InstrumentError
from rig.instruments.registers import RequestPayload, describe_request
from rig.instruments.transport import log_exchange

if TYPE_CHECKING:
    from pymodbus.client import ModbusBaseSyncClient
    from pymodbus.pdu import ModbusPDU

R = TypeVar("R")

EXCEPTION_CODES: dict[int, str] = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}
"""Modbus exception codes (Modbus Application Protocol Specification V1.1b3, section 7) and their names."""


class _ModbusTransport:
    """Shared part of the TCP and RTU transports: one client, one unit id, every request logged and checked."""

    role: str
    address: str
    timeout_s: float
    unit: int
    retries: int

    def __init__(self) -> None:
        self.last_command = ""
        self._client: ModbusBaseSyncClient | None = None
        self._lock = threading.Lock()

    def _make_client(self) -> ModbusBaseSyncClient:
        raise NotImplementedError

    @property
    def is_open(self) -> bool:
        """Get whether the client is connected."""
        return self._client is not None

    def open(self) -> None:
        """Connect (idempotent); raise InstrumentError naming role and address when the peer cannot be reached."""
        if self._client is not None:
            return
        try:
            client = self._make_client()
        except ImportError as exc:  # pragma: no cover - pinned dependency
            raise InstrumentError(self.role, self.address, f"pymodbus is not installed ({exc})") from None
        try:
            ok = client.connect()
        except Exception as exc:
            ok = False
            detail = f" ({type(exc).__name__}: {exc})"
        else:
            detail = ""
        if not ok:
            client.close()
            message = f"cannot connect{detail}; check the address, the wiring and that the device is powered"
            log_exchange(self.role, self.address, "(connect)", error=message)
            raise InstrumentError(self.role, self.address, message)
        self._client = client

    def close(self) -> None:
        """Disconnect (idempotent)."""
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def _request(
        self,
        fc: str,
        address: int,
        payload: RequestPayload,
        read: bool,
        call: Callable[[ModbusBaseSyncClient], ModbusPDU],
        result_of: Callable[[ModbusPDU], R],
    ) -> R:
        """Send one request (``call``), check the response, log the exchange and return ``result_of(response)``."""
        from pymodbus.exceptions import ModbusException

        command = describe_request(fc, address, payload, read)
        with self._lock:
            self.last_command = command
            if self._client is None:
                raise InstrumentError(self.role, self.address, "transport not open (call open() first)", command)
            try:
                response = call(self._client)
            except ModbusException as exc:
                message = f"no valid response within {self.timeout_s:g} s ({type(exc).__name__}: {exc})"
                log_exchange(self.role, self.address, command, error=message)
                raise InstrumentError(self.role, self.address, message, command) from None
            if response.isError():
                code = getattr(response, "exception_code", None)
                meaning = EXCEPTION_CODES.get(code, "see the device's manual") if isinstance(code, int) else "no code"
                message = f"Modbus exception response {code} ({meaning})"
                log_exchange(self.role, self.address, command, error=message)
                raise InstrumentError(self.role, self.address, message, command)
            result = result_of(response)
            log_exchange(self.role, self.address, command, None if result is None else str(result))
            return result

    def read_input_registers(self, address: int, count: int) -> list[int]:
        """FC 04."""
        return self._request(
            "fc04",
            address,
            count,
            True,
            lambda c: c.read_input_registers(address, count=count, device_id=self.unit),
            lambda r: list(r.registers)[:count],
        )

    def read_holding_registers(self, address: int, count: int) -> list[int]:
        """FC 03."""
        return self._request(
            "fc03",
            address,
            count,
            True,
            lambda c: c.read_holding_registers(address, count=count, device_id=self.unit),
            lambda r: list(r.registers)[:count],
        )

    def write_register(self, address: int, value: int) -> None:
        """FC 06."""
        self._request(
            "fc06", address, value, False, lambda c: c.write_register(address, value, device_id=self.unit), _nothing
        )

    def write_registers(self, address: int, values: list[int]) -> None:
        """FC 16."""
        vals = list(values)
        self._request(
            "fc16", address, vals, False, lambda c: c.write_registers(address, vals, device_id=self.unit), _nothing
        )

    def read_coils(self, address: int, count: int) -> list[bool]:
        """FC 01."""
        return self._request(
            "fc01",
            address,
            count,
            True,
            lambda c: c.read_coils(address, count=count, device_id=self.unit),
            lambda r: [bool(b) for b in r.bits[:count]],
        )

    def write_coil(self, address: int, value: bool) -> None:
        """FC 05."""
        bit = bool(value)
        self._request("fc05", address, bit, False, lambda c: c.write_coil(address, bit, device_id=self.unit), _nothing)

    def write_coils(self, address: int, values: list[bool]) -> None:
        """FC 15."""
        vals = [bool(v) for v in values]
        self._request(
            "fc15", address, vals, False, lambda c: c.write_coils(address, vals, device_id=self.unit), _nothing
        )


def _nothing(response: ModbusPDU) -> None:
    """The result of a write: nothing beyond the response not being an exception."""


class ModbusTcpTransport(_ModbusTransport):
    """RegisterTransport over Modbus TCP.

    Args:
        role: the bench role.
        host: IP address or host name.
        port: TCP port.
        unit: unit id (pymodbus ``device_id``).
        timeout_s: timeout of every request, s.
        retries: retries after a timeout (each costs ``timeout_s``).
    """

    def __init__(
        self, role: str, host: str, port: int = 502, unit: int = 1, timeout_s: float = 1.0, retries: int = 1
    ) -> None:
        super().__init__()
        self.role = role
        self.host = host
        self.port = port
        self.unit = unit
        self.timeout_s = timeout_s
        self.retries = retries
        self.address = f"{host}:{port}/unit{unit}"

    def _make_client(self) -> ModbusBaseSyncClient:
        from pymodbus.client import ModbusTcpClient

        return ModbusTcpClient(
            self.host, port=self.port, timeout=self.timeout_s, retries=self.retries, reconnect_delay=0
        )


class ModbusRtuTransport(_ModbusTransport):
    """RegisterTransport over Modbus RTU (serial line).

    Args:
        role: the bench role.
        port: serial device, e.g. ``/dev/ttyUSB0``.
        baudrate: bit/s.
        parity: ``"N"``, ``"E"`` or ``"O"``.
        stopbits: 1 or 2.
        unit: unit id (pymodbus ``device_id``).
        timeout_s: timeout of every request, s.
        retries: retries after a timeout.
    """

    def __init__(
        self,
        role: str,
        port: str,
        baudrate: int = 9600,
        parity: str = "N",
        stopbits: int = 1,
        unit: int = 1,
        timeout_s: float = 1.0,
        retries: int = 1,
    ) -> None:
        super().__init__()
        if parity not in ("N", "E", "O"):
            raise ValueError(f"parity must be N, E or O, got {parity!r}")
        self.role = role
        self.port = port
        self.baudrate = baudrate
        self.parity = parity
        self.stopbits = stopbits
        self.unit = unit
        self.timeout_s = timeout_s
        self.retries = retries
        self.address = f"{port}@{baudrate}{parity}{stopbits}/unit{unit}"

    def _make_client(self) -> ModbusBaseSyncClient:
        from pymodbus.client import ModbusSerialClient

        return ModbusSerialClient(
            self.port,
            baudrate=self.baudrate,
            parity=self.parity,
            stopbits=self.stopbits,
            timeout=self.timeout_s,
            retries=self.retries,
            reconnect_delay=0,
        )
