"""Relay banks wired to the plant, and the virtual Waveshare Modbus POE ETH Relay (docs/bench-protocols.md §3).

``RelayBank`` is shared with the virtual DAQ970A: a relay wired to a channel name (the EV emulator's wiring, e.g.
``{"cp_connect": 1, "s2_c": 2}``) drives the plant's EV-side switch of that name; unwired relays only keep their
state.

``WaveshareRelay`` is a Modbus TCP server (pymodbus 3.16 ``SimDevice``, through :class:`rig.sim.modbus.ModbusDevice`)
answering exactly what the ``waveshare_relay`` driver sends: coils ``coil_base`` + 0..relay_count-1 (FC01 read,
FC05 write single, FC15 write multiple) and the firmware version in holding register 0x8000 (FC03). Any other
address, and every discrete input, answers exception 2 (illegal data address). The coil store is kept in 16-bit
words, so a write or a read starting past the last relay is refused, but a read that starts on a relay and runs past
the last one returns zeros for the missing coils.
"""

from __future__ import annotations

from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.simulator import DataType, SimData
from pymodbus.simulator.simutils import SimUtils

from rig.sim.modbus import ModbusDevice
from rig.sim.plant import SWITCHES, Plant

VERSION_REGISTER = 0x8000
"""Holding register of the firmware version (Waveshare wiki, Modbus POE ETH Relay command table)."""


class RelayBank:
    """Numbered relays (1-based) wired by channel name to the plant's EV-side switches.

    Args:
        plant: the plant.
        wiring: channel name -> relay number.
        count: number of relays.
    """

    def __init__(self, plant: Plant, wiring: dict[str, int] | None, count: int) -> None:
        self.plant = plant
        self.count = count
        self.wiring = {str(k): int(v) for k, v in (wiring or {}).items()}
        for name, relay in self.wiring.items():
            if name not in SWITCHES:
                raise ValueError(f"wiring channel {name!r} is not a plant switch; known: {', '.join(SWITCHES)}")
            if not 1 <= relay <= count:
                raise ValueError(f"wiring channel {name!r}: relay {relay} outside 1..{count}")
        self.by_relay = {v: k for k, v in self.wiring.items()}
        self.closed = [False] * (count + 1)

    def set(self, changes: dict[int, bool]) -> None:
        """Set relays (1-based) at one instant and apply the wired ones to the plant."""
        for relay in changes:
            if not 1 <= relay <= self.count:
                raise ValueError(f"relay {relay} outside 1..{self.count}")
        plant_changes: dict[str, bool] = {}
        for relay, closed in changes.items():
            self.closed[relay] = bool(closed)
            if relay in self.by_relay:
                plant_changes[self.by_relay[relay]] = bool(closed)
        if plant_changes:
            self.plant.set_switches(plant_changes)

    def open_all(self) -> None:
        """Open every relay."""
        self.set(dict.fromkeys(range(1, self.count + 1), False))


class WaveshareRelay(ModbusDevice):
    """Virtual Waveshare Modbus POE ETH Relay (B).

    Params: ``unit_id`` (1), ``relay_count`` (8), ``coil_base`` (0x0000), ``firmware`` (the word of holding
    register 0x8000, default 0x0064).
    """

    def __init__(
        self, plant: Plant, params: dict[str, Any] | None = None, wiring: dict[str, int] | None = None
    ) -> None:
        super().__init__(plant, params)
        self.relays = RelayBank(plant, wiring, int(self.params.get("relay_count", 8)))
        self.coil_base = int(self.params.get("coil_base", 0x0000))
        self.firmware = int(self.params.get("firmware", 0x0064))
        if self.coil_base % 16:
            raise ValueError(f"coil_base {self.coil_base:#06x}: the virtual module needs a multiple of 16")

    def blocks(self) -> tuple[list[SimData], list[SimData], list[SimData], list[SimData]]:
        """Coils of the relays (16 per word), holding 0x8000; no discrete inputs, no input registers."""
        words = (self.relays.count + 15) // 16
        return (
            [SimData(self.coil_base // 16, count=words, datatype=DataType.BITS)],
            [SimData(0, count=1, datatype=DataType.BITS)],  # refused in action(): the module's inputs are not served
            [SimData(VERSION_REGISTER, count=1, values=self.firmware, datatype=DataType.REGISTERS, readonly=True)],
            [SimData(0, count=1, datatype=DataType.INVALID)],
        )

    async def action(
        self, fc: int, start: int, address: int, count: int, regs: list[int], values: list[int] | list[bool] | None
    ) -> ExcCodes | None:
        """Coils: refuse addresses past the last relay (exception 2); reads see the relays, writes switch them."""
        if fc == 2:
            return ExcCodes.ILLEGAL_ADDRESS
        if fc not in (1, 5, 15):
            return None
        first = address - self.coil_base
        last = first + (len(values) if values is not None else 1) - 1
        if first < 0 or last >= self.relays.count:
            return ExcCodes.ILLEGAL_ADDRESS
        if values is not None:
            self.relays.set({first + 1 + n: bool(v) for n, v in enumerate(values)})
        bits = [False] * (len(regs) * 16)
        for k in range(1, self.relays.count + 1):
            bits[k - 1] = self.relays.closed[k]
        regs[:] = SimUtils.bitsToRegisters(bits)
        return None
