"""Keysight DAQ970A / DAQ973A data acquisition system with a DAQM903A 20-channel actuator (Form C) module, SCPI over
LAN or USB.

Manuals: Keysight DAQ970A/DAQ973A User's Guide (DAQM903A, p.258) and Programming Guide (channel numbering p.160,
``*IDN?`` and ``SYSTem:ERRor?`` p.149); the ROUTe commands as in the Agilent 34970A/34972A User's Guide. Every
command below, and its source, is listed in docs/bench-protocols.md section 3.2; nothing else is sent. The module's
slot is a bench fact (params ``slot``): channel ``scc`` is slot ``s``, relay ``cc``.
"""

from __future__ import annotations

from typing import ClassVar

from rig.errors import ConfigError, InstrumentError
from rig.instruments.driver_base import ScpiDriver
from rig.instruments.transport import MessageTransport


class KeysightDaq970a(ScpiDriver):
    """Keysight DAQ970A/DAQ973A + DAQM903A actuator: relays s01..s20 (ROUT:CLOS/OPEN/CLOS?), error queue after each.

    Args:
        role: the bench role.
        transport: a MessageTransport (the visa transport).
        slot: the mainframe slot holding the DAQM903A (1..3).
        relay_count: relays the rig may switch (channels 1..relay_count, 1..20).
    """

    DRIVER: ClassVar[str] = "keysight_daq970a"
    CAPABILITIES: ClassVar[tuple[str, ...]] = ("RelayIo",)
    MODELS: ClassVar[tuple[str, ...]] = ("DAQ970A", "DAQ973A")
    SLOTS: ClassVar[int] = 3
    MODULE_CHANNELS: ClassVar[int] = 20
    """Channels of the DAQM903A (s01..s20)."""

    def __init__(self, role: str, transport: MessageTransport, *, slot: int = 3, relay_count: int = 20) -> None:
        super().__init__(role, transport)
        where = f"role {role!r} ({self.DRIVER}): instruments.{role}.params"
        if not _is_int(slot) or not 1 <= slot <= self.SLOTS:
            raise ConfigError(f"{where}.slot must be the DAQM903A's slot 1..{self.SLOTS}, got {slot!r}")
        if not _is_int(relay_count) or not 1 <= relay_count <= self.MODULE_CHANNELS:
            raise ConfigError(f"{where}.relay_count must be an integer 1..{self.MODULE_CHANNELS}, got {relay_count!r}")
        self.slot = slot
        self.relay_count = relay_count
        self.model = ""

    def open(self) -> None:
        """Control: open the transport, check ``*IDN?`` (a DAQ970A or DAQ973A) and clear the status (``*CLS``).

        Raises:
            InstrumentError: another instrument answered (naming role, address, ``*IDN?`` and the answer).
        """
        super().open()
        answer = self.query("*IDN?")
        fields = [f.strip() for f in answer.split(",")]
        if len(fields) < 2 or fields[1] not in self.MODELS:
            raise InstrumentError(
                self.role,
                self.transport.address,
                f"{self.DRIVER} drives a Keysight {' or '.join(self.MODELS)}; *IDN? answered {answer!r}",
                "*IDN?",
            )
        self.model = fields[1]
        self.write("*CLS")

    @property
    def module_channels(self) -> str:
        """Get the channel list of the whole DAQM903A, ``(@s01:s20)``."""
        return f"(@{self._scc(1)}:{self._scc(self.MODULE_CHANNELS)})"

    def set_relay(self, channel: int, closed: bool) -> None:
        """Set relay ``channel`` (1..relay_count) closed, COM-NO (``ROUT:CLOS (@scc)``), or open, COM-NC
        (``ROUT:OPEN (@scc)``); then drain the error queue."""
        command = f"ROUT:{'CLOS' if closed else 'OPEN'} (@{self._scc(self._checked(channel))})"
        self.write(command)
        self._drain_errors(command)

    def relay(self, channel: int) -> bool:
        """Get whether relay ``channel`` (1..relay_count) is closed (``ROUT:CLOS? (@scc)`` answers 1 or 0)."""
        command = f"ROUT:CLOS? (@{self._scc(self._checked(channel))})"
        answer = self.query(command).strip()
        if answer not in ("0", "1"):
            raise InstrumentError(
                self.role, self.transport.address, f"expected 1 or 0 in answer to {command}, got {answer!r}", command
            )
        return answer == "1"

    def open_all(self) -> None:
        """Control: open all 20 relays of the module in one command (``ROUT:OPEN (@s01:s20)``); then drain errors."""
        command = f"ROUT:OPEN {self.module_channels}"
        self.write(command)
        self._drain_errors(command)

    def safe_state(self) -> None:
        """Control: open every relay of the module."""
        self.open_all()

    def _scc(self, channel: int) -> str:
        return f"{self.slot}{channel:02d}"

    def _checked(self, channel: int) -> int:
        """Return ``channel`` if within 1..relay_count; refuse it otherwise (nothing sent)."""
        if not _is_int(channel) or not 1 <= channel <= self.relay_count:
            raise ValueError(
                f"role {self.role!r} ({self._instrument()}): relay {channel!r} is outside 1..{self.relay_count} "
                f"(instruments.{self.role}.params.relay_count); nothing sent"
            )
        return channel

    def _instrument(self) -> str:
        return f"{self.DRIVER} {self.model or '(model not read yet)'} slot {self.slot} at {self.transport.address}"

    def _drain_errors(self, command: str) -> None:
        """Read ``SYST:ERR?`` until it reports no error; raise InstrumentError listing the errors after ``command``."""
        errors = self.read_errors()
        if errors:
            raise InstrumentError(
                self.role,
                self.transport.address,
                f"{self._instrument()} reported {'; '.join(errors)} after {command}",
                command,
            )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
