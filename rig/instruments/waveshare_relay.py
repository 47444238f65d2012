"""Waveshare Modbus POE ETH Relay and Modbus POE ETH Relay (B): 8 relays (1NO + 1NC each) on Modbus TCP.

Manual: the Waveshare wiki pages "Modbus_POE_ETH_Relay" and "Modbus_POE_ETH_Relay_(B)" (the Modbus RTU/TCP command
tables). The module answers on TCP port 502 only once its transfer protocol is set to Modbus TCP (VirCom or its web
page). Every request below, with its source, is listed in docs/bench-protocols.md section 3.1; nothing else is sent.
The module has no identity string: vendor and model come from this driver, the firmware from holding register
0x8000.
"""

from __future__ import annotations

from typing import ClassVar

from rig.errors import ConfigError
from rig.instruments.capabilities import Identity
from rig.instruments.driver_base import Driver
from rig.instruments.transport import RegisterTransport


class WaveshareRelay(Driver[RegisterTransport]):
    """Waveshare Modbus POE ETH Relay / (B): relays 1..8 as coils 0x0000..0x0007 (FC05 set, FC01 read, FC15 all open).

    Args:
        role: the bench role.
        transport: a RegisterTransport (Modbus TCP) addressing the module's device address (default 1).
        relay_count: relays the rig may switch (channels 1..relay_count); 8 on both modules.
        coil_base: coil of relay 1 (relay k is coil ``coil_base + k - 1``).
        version_register: holding register of the firmware version.
        model: the model written in the report (the module cannot tell which variant it is).
    """

    DRIVER: ClassVar[str] = "waveshare_relay"
    CAPABILITIES: ClassVar[tuple[str, ...]] = ("RelayIo",)
    VENDOR: ClassVar[str] = "Waveshare"
    MAX_RELAYS: ClassVar[int] = 2000
    """Coils one FC15 request may write (Modbus application protocol limit)."""

    def __init__(
        self,
        role: str,
        transport: RegisterTransport,
        *,
        relay_count: int = 8,
        coil_base: int = 0x0000,
        version_register: int = 0x8000,
        model: str = "Modbus POE ETH Relay (B)",
    ) -> None:
        super().__init__(role, transport)
        where = f"role {role!r} ({self.DRIVER}): instruments.{role}.params"
        if not _is_int(relay_count) or not 1 <= relay_count <= self.MAX_RELAYS:
            raise ConfigError(f"{where}.relay_count must be an integer 1..{self.MAX_RELAYS}, got {relay_count!r}")
        for name, value in (("coil_base", coil_base), ("version_register", version_register)):
            if not _is_int(value) or not 0 <= value <= 0xFFFF:
                raise ConfigError(f"{where}.{name} must be a register address 0..0xFFFF, got {value!r}")
        if coil_base + relay_count - 1 > 0xFFFF:
            raise ConfigError(f"{where}: coil_base + relay_count - 1 passes the last coil 0xFFFF")
        if not isinstance(model, str) or not model:
            raise ConfigError(f"{where}.model must be a non-empty string, got {model!r}")
        self.relay_count = relay_count
        self.coil_base = coil_base
        self.version_register = version_register
        self.model = model
        self.firmware = ""

    def open(self) -> None:
        """Control: open the transport and read the firmware version (the module answers, in Modbus TCP)."""
        super().open()
        self.firmware = self.identity().firmware

    def identity(self) -> Identity:
        """Get the identity: vendor and model from the driver, firmware as the raw word of ``version_register``."""
        word = self.transport.read_holding_registers(self.version_register, 1)[0]
        return Identity(self.VENDOR, self.model, "", f"0x{word:04X}")

    def set_relay(self, channel: int, closed: bool) -> None:
        """Set relay ``channel`` (1..relay_count) closed (FC05 value 0xFF00) or open (FC05 value 0x0000)."""
        self.transport.write_coil(self._coil(channel), bool(closed))

    def relay(self, channel: int) -> bool:
        """Get whether relay ``channel`` (1..relay_count) is closed (FC01 of all relays, the channel's bit)."""
        bit = self._coil(channel) - self.coil_base
        return self.transport.read_coils(self.coil_base, self.relay_count)[bit]

    def open_all(self) -> None:
        """Control: open every relay in one request (FC15, relay_count coils of 0 from coil_base)."""
        self.transport.write_coils(self.coil_base, [False] * self.relay_count)

    def safe_state(self) -> None:
        """Control: open every relay."""
        self.open_all()

    def _coil(self, channel: int) -> int:
        """Return the coil of relay ``channel``; a channel outside 1..relay_count is refused before anything is sent."""
        if not _is_int(channel) or not 1 <= channel <= self.relay_count:
            raise ValueError(
                f"role {self.role!r} ({self.DRIVER} at {self.transport.address}): relay {channel!r} is outside "
                f"1..{self.relay_count} (instruments.{self.role}.params.relay_count); nothing sent"
            )
        return self.coil_base + channel - 1


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
