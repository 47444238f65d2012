"""Eastron SDM630 (v2) three-phase DIN-rail energy meter, Modbus RTU (or Modbus TCP through an RTU gateway).

Register map: Eastron's SDM630 Modbus protocol (input registers 3xxxx, IEEE-754 float32, high word first; the same
map as the Eastron SDM72D-M manual V1.5 p.14, where the energy registers are in kWh), as read by working public
code: Tinkerforge ``evse-v2-bricklet`` ``software/src/sdm.{c,h}`` (registers and the meter code at holding 464515)
and volkszaehler ``mbmd`` ``meters/rs485/sdm.go``. Every request, with its source, is listed in
docs/bench-protocols.md section 2.1; nothing else is sent.
"""

from __future__ import annotations

from typing import ClassVar

from rig.errors import InstrumentError
from rig.instruments.capabilities import Identity
from rig.instruments.driver_base import Driver, check_channel
from rig.instruments.meter_common import CURRENT, ENERGY, FREQUENCY, POWER, VOLTAGE, Quantity, checked
from rig.instruments.registers import float32_abcd_decode
from rig.instruments.transport import RegisterTransport


class EastronSdm630(Driver[RegisterTransport]):
    """Eastron SDM630 energy meter: per-phase V, A, W, total W, Hz and import/export energy (kWh registers, Wh out).

    ``open()`` reads the meter code (holding register 0xFC02) and refuses any meter but an SDM630 (0x0070). The
    serial number register is not verified in a second source, so the serial comes from the role's params.

    Args:
        role: the bench role.
        transport: a RegisterTransport addressing the meter's unit id (the transport's ``unit``).
        phases: phases wired and reported, 1 or 3.
        serial: the meter's serial number as printed on it, for the report (optional).
    """

    DRIVER: ClassVar[str] = "eastron_sdm630"
    CAPABILITIES: ClassVar[tuple[str, ...]] = ("EnergyMeter",)

    def __init__(self, role: str, transport: RegisterTransport, *, phases: int = 3, serial: str = "") -> None:
        if phases not in (1, 3) or isinstance(phases, bool):
            raise ValueError(f"role {role!r} ({self.DRIVER}): params.phases must be 1 or 3, got {phases!r}")
        super().__init__(role, transport)
        self.phases = phases
        self.serial = str(serial)

    VOLTAGE_L1: ClassVar[int] = 0x0000
    """Input registers 30001/3/5: phase 1..3 line-to-neutral volts, float32 V."""
    CURRENT_L1: ClassVar[int] = 0x0006
    """Input registers 30007/9/11: phase 1..3 current, float32 A."""
    POWER_L1: ClassVar[int] = 0x000C
    """Input registers 30013/15/17: phase 1..3 active power, float32 W."""
    TOTAL_POWER: ClassVar[int] = 0x0034
    """Input register 30053: total system power, float32 W."""
    FREQUENCY: ClassVar[int] = 0x0046
    """Input register 30071: frequency of the supply voltages, float32 Hz."""
    IMPORT_KWH: ClassVar[int] = 0x0048
    """Input register 30073: total import active energy, float32 **kWh**."""
    EXPORT_KWH: ClassVar[int] = 0x004A
    """Input register 30075: total export active energy, float32 kWh."""
    METER_CODE: ClassVar[int] = 0xFC02
    """Holding register 464515: meter code, uint16."""
    SDM630_CODE: ClassVar[int] = 0x0070
    KNOWN_CODES: ClassVar[dict[int, str]] = {0x0070: "SDM630", 0x0089: "SDM72D-M V2", 0x0084: "SDM72D-M (V1)"}
    """Meter codes read from 0xFC02 by the Tinkerforge driver."""

    def open(self) -> None:
        """Control: open the transport and check the meter code (raise InstrumentError for another model)."""
        super().open()
        self.identity()

    def identity(self) -> Identity:
        """Get the identity: the model from the meter code (holding 0xFC02), the serial from the params.

        Raises:
            InstrumentError: the meter code is not the SDM630's (names the code read and the model it stands for).
        """
        code = self.transport.read_holding_registers(self.METER_CODE, 1)[0]
        if code != self.SDM630_CODE:
            seen = self.KNOWN_CODES.get(code, "an unknown model")
            raise InstrumentError(
                self.role,
                self.transport.address,
                f"{self.DRIVER} does not drive this meter: holding register 0x{self.METER_CODE:04X} (meter code) "
                f"answered 0x{code:04X} ({seen}); it accepts the Eastron SDM630 (meter code 0x{self.SDM630_CODE:04X})",
                self.transport.last_command,
            )
        return Identity("Eastron", "SDM630", self.serial)

    def voltage(self, phase: int = 1) -> float:
        """Measure the line-to-neutral voltage of ``phase`` (1..phases), V rms (0..1000)."""
        check_channel(phase, self.phases, "phase")
        return self._float(self.VOLTAGE_L1 + 2 * (phase - 1), VOLTAGE)

    def current(self, phase: int = 1) -> float:
        """Measure the current of ``phase`` (1..phases), A rms."""
        check_channel(phase, self.phases, "phase")
        return self._float(self.CURRENT_L1 + 2 * (phase - 1), CURRENT)

    def active_power(self, phase: int | None = None) -> float:
        """Measure the active power of ``phase`` (1..phases), or the total system power when None, W."""
        if phase is None:
            return self._float(self.TOTAL_POWER, POWER)
        check_channel(phase, self.phases, "phase")
        return self._float(self.POWER_L1 + 2 * (phase - 1), POWER)

    def frequency(self) -> float:
        """Measure the supply frequency, Hz (0..100)."""
        return self._float(self.FREQUENCY, FREQUENCY)

    def energy_import_wh(self) -> float:
        """Measure the total imported active energy (register in kWh), Wh, cumulative."""
        return self._kwh(self.IMPORT_KWH)

    def energy_export_wh(self) -> float:
        """Measure the total exported active energy (register in kWh), Wh, cumulative."""
        return self._kwh(self.EXPORT_KWH)

    def safe_state(self) -> None:
        """Control: nothing to do; a meter only measures."""

    def _float(self, address: int, quantity: Quantity) -> float:
        words = self.transport.read_input_registers(address, 2)
        source = f"input register 0x{address:04X} ({words[0]:#06x} {words[1]:#06x})"
        return checked(self, float32_abcd_decode(words), quantity, source)

    def _kwh(self, address: int) -> float:
        words = self.transport.read_input_registers(address, 2)
        source = f"input register 0x{address:04X} ({words[0]:#06x} {words[1]:#06x}, kWh)"
        return checked(self, float32_abcd_decode(words) * 1000.0, ENERGY, source)
