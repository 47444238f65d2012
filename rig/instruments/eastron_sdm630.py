"""Eastron SDM630 (v2) three-phase DIN-rail energy meter, Modbus RTU (or TCP through a gateway).

Manual: Eastron SDM630 Modbus Protocol (input registers 3xxxx, float32 high word first; holding 4xxxx).
Registers used: docs/bench-protocols.md section 2.1 (PDU addresses).
"""

from __future__ import annotations

from typing import Any, ClassVar

from rig.instruments.capabilities import Identity
from rig.instruments.driver_base import Driver, check_channel
from rig.instruments.registers import float32_abcd_decode, uint32_hwf_decode
from rig.instruments.transport import RegisterTransport


class EastronSdm630(Driver[RegisterTransport]):
    """Eastron SDM630 energy meter: per-phase V, A, W, total W, Hz and import/export energy.

    Args:
        role: the bench role.
        transport: a RegisterTransport addressing the meter's unit id.
        phases: phases wired and reported, 1 or 3.
    """

    CAPABILITIES: ClassVar[tuple[str, ...]] = ("EnergyMeter",)

    def __init__(self, role: str, transport: RegisterTransport, phases: int = 3, **params: Any) -> None:
        if params:
            raise TypeError(f"{type(self).__name__}: unknown parameters {sorted(params)}")
        if phases not in (1, 3):
            raise ValueError(f"phases must be 1 or 3, got {phases!r}")
        super().__init__(role, transport)
        self.phases = phases

    VOLTAGE_L1: ClassVar[int] = 0x0000
    CURRENT_L1: ClassVar[int] = 0x0006
    POWER_L1: ClassVar[int] = 0x000C
    TOTAL_POWER: ClassVar[int] = 0x0034
    FREQUENCY: ClassVar[int] = 0x0046
    IMPORT_KWH: ClassVar[int] = 0x0048
    EXPORT_KWH: ClassVar[int] = 0x004A
    SERIAL: ClassVar[int] = 0xFC00
    METER_CODE: ClassVar[int] = 0xFC02
    SDM630_CODE: ClassVar[int] = 0x0070

    def _float(self, address: int) -> float:
        return float32_abcd_decode(self.transport.read_input_registers(address, 2))

    def identity(self) -> Identity:
        """Get the identity: serial number (holding 0xFC00) and meter code (holding 0xFC02)."""
        serial = uint32_hwf_decode(self.transport.read_holding_registers(self.SERIAL, 2))
        code = self.transport.read_holding_registers(self.METER_CODE, 1)[0]
        model = "SDM630" if code == self.SDM630_CODE else f"SDM meter code 0x{code:04X}"
        return Identity("Eastron", model, str(serial))

    def voltage(self, phase: int = 1) -> float:
        """Measure the line-to-neutral voltage of ``phase`` (1..phases), V rms."""
        check_channel(phase, self.phases, "phase")
        return self._float(self.VOLTAGE_L1 + 2 * (phase - 1))

    def current(self, phase: int = 1) -> float:
        """Measure the current of ``phase`` (1..phases), A rms."""
        check_channel(phase, self.phases, "phase")
        return self._float(self.CURRENT_L1 + 2 * (phase - 1))

    def active_power(self, phase: int | None = None) -> float:
        """Measure active power of ``phase`` (1..phases) or the system total when None, W."""
        if phase is None:
            return self._float(self.TOTAL_POWER)
        check_channel(phase, self.phases, "phase")
        return self._float(self.POWER_L1 + 2 * (phase - 1))

    def frequency(self) -> float:
        """Measure the supply frequency, Hz."""
        return self._float(self.FREQUENCY)

    def energy_import_wh(self) -> float:
        """Measure the imported active energy (register in kWh), Wh, cumulative."""
        return self._float(self.IMPORT_KWH) * 1000.0

    def energy_export_wh(self) -> float:
        """Measure the exported active energy (register in kWh), Wh, cumulative."""
        return self._float(self.EXPORT_KWH) * 1000.0

    def safe_state(self) -> None:
        """Control: nothing to do; a meter only measures."""
