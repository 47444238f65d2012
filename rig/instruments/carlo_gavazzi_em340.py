"""Carlo Gavazzi EM340 / EM330 (and ET330 / ET340) three-phase DIN-rail energy analysers, Modbus RTU.

Register map: Carlo Gavazzi "EM300 Series and ET300 Series Communication Protocol" (input registers, INT32 with the
least significant word first, fixed scale factors), as read by working public code: volkszaehler ``mbmd``
``meters/rs485/carlogavazzi-ex3x0.go`` (FC 04, signed word-swapped INT32, V /10, A /1000, W /10, kWh /10, Hz INT16
/10) and OpenEMS ``io.openems.edge.meter.carlo.gavazzi`` (FC 04, LSW first, the same addresses). Every request, with
its source, is listed in docs/bench-protocols.md section 2.2; nothing else is sent. The identification-code and
serial-number registers are not confirmed by a second source: the driver never reads them, the identity comes from
the role's params.
"""

from __future__ import annotations

from typing import ClassVar

from rig.instruments.capabilities import Identity
from rig.instruments.driver_base import Driver, check_channel
from rig.instruments.meter_common import CURRENT, ENERGY, FREQUENCY, POWER, VOLTAGE, Quantity, checked
from rig.instruments.registers import int16_decode, int32_lswf_decode
from rig.instruments.transport import RegisterTransport


class CarloGavazziEm340(Driver[RegisterTransport]):
    """Carlo Gavazzi EM330/EM340 energy meter: per-phase V, A, W, system W, Hz and kWh(+)/kWh(-) (FC 04, scaled).

    ``open()`` reads phase 1's voltage (the request MBMD probes a meter with), so a meter that does not answer
    fails at open. Without a verified identification register another meter answering at the unit id cannot be
    recognised: the identity is the role's params.

    Args:
        role: the bench role.
        transport: a RegisterTransport addressing the meter's unit id (the transport's ``unit``).
        phases: phases wired and reported, 1 or 3.
        model: ``EM340`` (default), ``EM330``, ``ET340`` or ``ET330`` (one register map), for the report.
        serial: the meter's serial number as printed on it, for the report (optional).
    """

    DRIVER: ClassVar[str] = "carlo_gavazzi_em340"
    CAPABILITIES: ClassVar[tuple[str, ...]] = ("EnergyMeter",)
    MODELS: ClassVar[tuple[str, ...]] = ("EM340", "EM330", "ET340", "ET330")

    def __init__(
        self, role: str, transport: RegisterTransport, *, phases: int = 3, model: str = "EM340", serial: str = ""
    ) -> None:
        where = f"role {role!r} ({self.DRIVER}): params"
        if phases not in (1, 3) or isinstance(phases, bool):
            raise ValueError(f"{where}.phases must be 1 or 3, got {phases!r}")
        if model not in self.MODELS:
            raise ValueError(f"{where}.model must be one of {', '.join(self.MODELS)}, got {model!r}")
        super().__init__(role, transport)
        self.phases = phases
        self.model = model
        self.serial = str(serial)

    VOLTAGE_L1: ClassVar[int] = 0x0000
    """Input registers 300001/3/5: V L1/L2/L3-N, INT32 LSW first, x0.1 V."""
    CURRENT_L1: ClassVar[int] = 0x000C
    """Input registers 300013/15/17: A L1/L2/L3, INT32, x0.001 A."""
    POWER_L1: ClassVar[int] = 0x0012
    """Input registers 300019/21/23: W L1/L2/L3, INT32, x0.1 W."""
    SYSTEM_POWER: ClassVar[int] = 0x0028
    """Input register 300041: W system, INT32, x0.1 W."""
    FREQUENCY: ClassVar[int] = 0x0033
    """Input register 300052: Hz, INT16, x0.1 Hz."""
    IMPORT_KWH: ClassVar[int] = 0x0034
    """Input register 300053: kWh (+) total, INT32, x0.1 kWh."""
    EXPORT_KWH: ClassVar[int] = 0x004E
    """Input register 300079: kWh (-) total, INT32, x0.1 kWh."""

    def open(self) -> None:
        """Control: open the transport and read phase 1's voltage (a meter that does not answer fails here)."""
        super().open()
        self.voltage(1)

    def identity(self) -> Identity:
        """Get the identity from the role's params (no identification register is read)."""
        return Identity("Carlo Gavazzi", self.model, self.serial)

    def voltage(self, phase: int = 1) -> float:
        """Measure the line-to-neutral voltage of ``phase`` (1..phases), V rms (0..1000)."""
        check_channel(phase, self.phases, "phase")
        return self._int32(self.VOLTAGE_L1 + 2 * (phase - 1), 10, VOLTAGE)

    def current(self, phase: int = 1) -> float:
        """Measure the current of ``phase`` (1..phases), A rms (signed: the meter's direction)."""
        check_channel(phase, self.phases, "phase")
        return self._int32(self.CURRENT_L1 + 2 * (phase - 1), 1000, CURRENT)

    def active_power(self, phase: int | None = None) -> float:
        """Measure the active power of ``phase`` (1..phases), or the system power when None, W."""
        if phase is None:
            return self._int32(self.SYSTEM_POWER, 10, POWER)
        check_channel(phase, self.phases, "phase")
        return self._int32(self.POWER_L1 + 2 * (phase - 1), 10, POWER)

    def frequency(self) -> float:
        """Measure the supply frequency, Hz (0..100)."""
        word = self.transport.read_input_registers(self.FREQUENCY, 1)[0]
        source = f"input register 0x{self.FREQUENCY:04X} ({word:#06x}, x0.1 Hz)"
        return checked(self, int16_decode(word) / 10, FREQUENCY, source)

    def energy_import_wh(self) -> float:
        """Measure the imported active energy kWh(+) (register in 0.1 kWh), Wh, cumulative."""
        return self._int32(self.IMPORT_KWH, 10, ENERGY, wh_per_unit=1000)

    def energy_export_wh(self) -> float:
        """Measure the exported active energy kWh(-) (register in 0.1 kWh), Wh, cumulative."""
        return self._int32(self.EXPORT_KWH, 10, ENERGY, wh_per_unit=1000)

    def safe_state(self) -> None:
        """Control: nothing to do; a meter only measures."""

    def _int32(self, address: int, divisor: int, quantity: Quantity, wh_per_unit: int = 1) -> float:
        """Read an INT32 (low word first) and return it / divisor (x wh_per_unit for kWh registers), checked."""
        words = self.transport.read_input_registers(address, 2)
        source = f"input register 0x{address:04X} ({words[0]:#06x} {words[1]:#06x}, low word first, /{divisor})"
        return checked(self, int32_lswf_decode(words) * wh_per_unit / divisor, quantity, source)
