"""CAN frame transport (python-can): the only module importing ``can``.

``can.Bus(..., ignore_config=True)``: no implicit config files or environment variables; the interface and
channel come from rig.yaml (``socketcan``/``can0``, ``pcan``/``PCAN_USBBUS1``, ``virtual``/``evb`` on the virtual
bench, ...).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from rig.errors import InstrumentError
from rig.instruments.transport import log_exchange

if TYPE_CHECKING:
    import can


class CanTransport:
    """FrameTransport over python-can.

    Args:
        role: the bench role.
        interface: python-can interface name (``socketcan``, ``pcan``, ``virtual``, ...).
        channel: interface channel.
        bitrate: bit/s, or None to leave the interface's setting.
        timeout_s: send timeout, s.
        receive_own_messages: deliver our own frames back (virtual bus tests).
    """

    def __init__(
        self,
        role: str,
        interface: str,
        channel: str | int,
        *,
        bitrate: int | None = None,
        timeout_s: float = 1.0,
        receive_own_messages: bool = False,
    ) -> None:
        self.role = role
        self.interface = interface
        self.channel = channel
        self.bitrate = bitrate
        self.timeout_s = timeout_s
        self.receive_own_messages = receive_own_messages
        self.address = f"{interface}:{channel}"
        self.last_command = ""
        self._bus: can.BusABC | None = None
        self._send_lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        """Get whether the bus is open."""
        return self._bus is not None

    def open(self) -> None:
        """Open the bus (idempotent); raise InstrumentError naming role and channel when it cannot."""
        if self._bus is not None:
            return
        try:
            import can
        except ImportError as exc:  # pragma: no cover - pinned dependency
            raise InstrumentError(self.role, self.address, f"python-can is not installed ({exc})") from None
        kwargs: dict[str, Any] = {"receive_own_messages": self.receive_own_messages}
        if self.bitrate is not None:
            kwargs["bitrate"] = self.bitrate
        try:
            self._bus = can.Bus(channel=self.channel, interface=self.interface, ignore_config=True, **kwargs)
        except Exception as exc:  # CanError, OSError, ImportError of an interface's backend
            message = f"cannot open CAN bus ({type(exc).__name__}: {exc}); check the interface is up"
            log_exchange(self.role, self.address, "(open)", error=message)
            raise InstrumentError(self.role, self.address, message) from None

    def close(self) -> None:
        """Shut the bus down (idempotent)."""
        bus, self._bus = self._bus, None
        if bus is not None:
            bus.shutdown()

    def send(self, arbitration_id: int, data: bytes, *, remote: bool = False) -> None:
        """Send one frame (11-bit id up to 0x7FF, 29-bit above); remote frames carry no data, DLC = len(data)."""
        import can

        command = f"0x{arbitration_id:03X}#{bytes(data).hex()}" + (" remote" if remote else "")
        with self._send_lock:
            self.last_command = command
            if self._bus is None:
                raise InstrumentError(self.role, self.address, "transport not open (call open() first)", command)
            msg = can.Message(
                arbitration_id=arbitration_id,
                is_extended_id=arbitration_id > 0x7FF,
                is_remote_frame=remote,
                data=None if remote else bytes(data),
                dlc=len(data),
            )
            try:
                self._bus.send(msg, timeout=self.timeout_s)
            except can.CanError as exc:
                message = f"send failed ({exc})"
                log_exchange(self.role, self.address, command, error=message)
                raise InstrumentError(self.role, self.address, message, command) from None
            log_exchange(self.role, self.address, command)

    def receive(self, timeout_s: float) -> tuple[int, bytes, float] | None:
        """Return the next frame (id, data, timestamp s) or None after ``timeout_s``; remote frames have no data."""
        import can

        bus = self._bus
        if bus is None:
            raise InstrumentError(self.role, self.address, "transport not open (call open() first)", self.last_command)
        try:
            msg = bus.recv(timeout=timeout_s)
        except can.CanError as exc:
            message = f"receive failed ({exc})"
            log_exchange(self.role, self.address, "(receive)", error=message)
            raise InstrumentError(self.role, self.address, message, self.last_command) from None
        if msg is None:
            return None
        frame = (int(msg.arbitration_id), bytes(msg.data), float(msg.timestamp))
        log_exchange(
            self.role,
            self.address,
            "(receive)",
            f"0x{frame[0]:03X}#{frame[1].hex()}" + (" remote" if msg.is_remote_frame else ""),
        )
        if msg.is_remote_frame:
            return (frame[0], b"", frame[2])
        return frame
