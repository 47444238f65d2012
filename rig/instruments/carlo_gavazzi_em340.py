"""Carlo Gavazzi EM340 three-phase DIN-rail energy analyser, Modbus RTU.

Manual: Carlo Gavazzi EM340 / ET340 communication protocol (holding registers, INT32 least significant word
first, fixed scale factors). Registers used: docs/bench-protocols.md section 2.2 (PDU addresses).
"""

from __future__ import annotations

from typing import Any, ClassVar

from rig.instruments.capabilities import Identity
from rig.instruments.driver_base import Driver, check_channel
from rig.instruments.registers import ascii_decode, int16_decode, int32_lswf_decode
from rig.instruments.transport import RegisterTransport


class CarloGavazziEm340(Driver[RegisterTransport]):
    """Carlo Gavazzi EM340 energy meter: per-phase V, A, W, system W, Hz and kWh(+)/kWh(-).

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

    VOLTAGE_L1: ClassVar[int] = 0x0000  # x0.1 V
    CURRENT_L1: ClassVar[int] = 0x000C  # x0.001 A
    POWER_L1: ClassVar[int] = 0x0012  # x0.1 W
    SYSTEM_POWER: ClassVar[int] = 0x0028  # x0.1 W
    FREQUENCY: ClassVar[int] = 0x0033  # int16 x0.1 Hz
    IMPORT_KWH: ClassVar[int] = 0x0034  # x0.1 kWh
    EXPORT_KWH: ClassVar[int] = 0x004E  # x0.1 kWh
    MODEL_CODE: ClassVar[int] = 0x000B
    SERIAL: ClassVar[int] = 0x5000  # 7 registers ASCII
    EM340_CODE: ClassVar[int] = 0x0154

    def _int32(self, address: int) -> int:
        return int32_lswf_decode(self.transport.read_holding_registers(address, 2))

    def identity(self) -> Identity:
        """Get the identity: model code (0x000B) and serial number (0x5000, 14 ASCII chars)."""
        code = self.transport.read_holding_registers(self.MODEL_CODE, 1)[0]
        serial = ascii_decode(self.transport.read_holding_registers(self.SERIAL, 7))
        model = "EM340" if code == self.EM340_CODE else f"model code {code}"
        return Identity("Carlo Gavazzi", model, serial)

    def voltage(self, phase: int = 1) -> float:
        """Measure the line-to-neutral voltage of ``phase`` (1..phases), V rms."""
        check_channel(phase, self.phases, "phase")
        return self._int32(self.VOLTAGE_L1 + 2 * (phase - 1)) * 0.1

    def current(self, phase: int = 1) -> float:
        """Measure the current of ``phase`` (1..phases), A rms."""
        check_channel(phase, self.phases, "phase")
        return self._int32(self.CURRENT_L1 + 2 * (phase - 1)) * 0.001

    def active_power(self, phase: int | None = None) -> float:
        """Measure active power of ``phase`` (1..phases) or the system total when None, W."""
        if phase is None:
            return self._int32(self.SYSTEM_POWER) * 0.1
        check_channel(phase, self.phases, "phase")
        return self._int32(self.POWER_L1 + 2 * (phase - 1)) * 0.1

    def frequency(self) -> float:
        """Measure the supply frequency, Hz."""
        return int16_decode(self.transport.read_holding_registers(self.FREQUENCY, 1)[0]) * 0.1

    def energy_import_wh(self) -> float:
        """Measure the imported active energy kWh(+) (register x0.1 kWh), Wh, cumulative."""
        return self._int32(self.IMPORT_KWH) * 100.0

    def energy_export_wh(self) -> float:
        """Measure the exported active energy kWh(-) (register x0.1 kWh), Wh, cumulative."""
        return self._int32(self.EXPORT_KWH) * 100.0

    def safe_state(self) -> None:
        """Control: nothing to do; a meter only measures."""
