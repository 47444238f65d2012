"""Modbus TCP servers of the virtual bench: the energy meters (docs/bench-protocols.md §2.1, §2.2) and the base the
relay module's server builds on, on pymodbus 3.16.

pymodbus 3.16's non-deprecated server datastore is ``pymodbus.simulator.SimDevice`` (the ``ModbusServerContext`` /
``ModbusDeviceContext`` path logs "deprecated, removed in v4"). A ``SimDevice`` with four separate blocks
``(coils, discrete inputs, holding, input)`` and an async ``action`` callback is used: the callback runs before every
request with the block's register list, so registers are computed live from the plant (reads) and writes are applied
to the plant; it may answer a Modbus exception instead. A register outside every block, or in a gap between blocks,
answers exception 2 (illegal data address). This is the only module of rig/sim importing pymodbus.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from typing import Any, ClassVar

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from rig.sim.plant import Plant


def f32_abcd(x: float) -> list[int]:
    """float32, big-endian, high word first."""
    hi, lo = struct.unpack(">HH", struct.pack(">f", x))
    return [hi, lo]


def i32_lsw_first(x: int) -> list[int]:
    """int32, low word first (Carlo Gavazzi)."""
    hi, lo = struct.unpack(">HH", struct.pack(">i", int(x)))
    return [lo, hi]


def i16(x: float) -> int:
    """int16 as a register value (clamped)."""
    return int(max(-32768, min(32767, round(x)))) & 0xFFFF


def _put(regs: list[int], start: int, address: int, values: list[int]) -> None:
    """Write ``values`` at ``address`` into a block's register list starting at ``start`` (where the block has it)."""
    for n, value in enumerate(values):
        if 0 <= address + n - start < len(regs):
            regs[address + n - start] = value


class ModbusDevice:
    """One Modbus TCP instrument (one server, one unit id).

    Args:
        plant: the plant.
        params: ``unit_id`` (default 1) and instrument-specific parameters.
    """

    def __init__(self, plant: Plant, params: dict[str, Any] | None = None) -> None:
        self.plant = plant
        self.params = dict(params or {})
        self.unit_id = int(self.params.get("unit_id", 1))
        self._server: ModbusTcpServer | None = None

    def blocks(self) -> list[SimData] | tuple[list[SimData], list[SimData], list[SimData], list[SimData]]:
        """(coils, discrete inputs, holding, input) register layout, or one map every function code shares
        (override)."""
        raise NotImplementedError

    async def action(
        self, fc: int, start: int, address: int, count: int, regs: list[int], values: list[int] | list[bool] | None
    ) -> ExcCodes | None:
        """Fill ``regs`` before a read, apply ``values`` of a write, or answer an exception code (override)."""
        return None

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen; returns the bound (host, port)."""
        device = SimDevice(self.unit_id, simdata=self.blocks(), action=self.action)
        self._server = ModbusTcpServer(device, address=(host, port))
        await self._server.serve_forever(background=True)
        listener = self._server.transport  # the asyncio.Server of loop.create_server, typed BaseTransport in pymodbus
        if not isinstance(listener, asyncio.Server):
            raise RuntimeError(f"Modbus server on {host}:{port}: pymodbus did not start a TCP listener")
        sock = listener.sockets[0].getsockname()
        return str(sock[0]), int(sock[1])

    async def stop(self) -> None:
        """Stop listening and drop connections."""
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.shutdown()
            self._server = None


_NO_BITS = [SimData(0, count=16, datatype=DataType.BITS)]
_NO_REGISTERS = [SimData(0, count=1, datatype=DataType.INVALID)]
_BIT_FUNCTIONS = (1, 2, 5, 15)


def _register_blocks(ranges: tuple[tuple[int, int], ...], *, readonly: bool = True) -> list[SimData]:
    """Blocks holding exactly the (first address, register count) ranges; the gaps answer exception 2."""
    if not ranges:
        return list(_NO_REGISTERS)
    return [SimData(a, count=n, datatype=DataType.REGISTERS, readonly=readonly) for a, n in ranges]


class _Meter(ModbusDevice):
    """An energy meter: the registers its driver reads (``INPUT`` for FC 04, ``HOLDING`` for FC 03), read-only;
    any other address, a write or a coil/discrete-input request answers exception 2 (illegal data address)."""

    INPUT: ClassVar[tuple[tuple[int, int], ...]] = ()
    HOLDING: ClassVar[tuple[tuple[int, int], ...]] = ()

    def blocks(self) -> tuple[list[SimData], list[SimData], list[SimData], list[SimData]]:
        """No coils or discrete inputs; holding and input registers at ``HOLDING`` / ``INPUT`` only."""
        return list(_NO_BITS), list(_NO_BITS), _register_blocks(self.HOLDING), _register_blocks(self.INPUT)

    async def action(
        self, fc: int, start: int, address: int, count: int, regs: list[int], values: list[int] | list[bool] | None
    ) -> ExcCodes | None:
        """Exception 2 for coils and discrete inputs; otherwise fill the registers from the plant."""
        if fc in _BIT_FUNCTIONS:
            return ExcCodes.ILLEGAL_ADDRESS
        if fc == 4:
            self.fill_input(start, regs)
        elif fc == 3:
            self.fill_holding(start, regs)
        return None

    def fill_input(self, start: int, regs: list[int]) -> None:
        """Write the input registers' present values into ``regs`` (block starting at ``start``) (override)."""

    def fill_holding(self, start: int, regs: list[int]) -> None:
        """Write the holding registers' present values into ``regs`` (override)."""


class EastronSdm630(_Meter):
    """Eastron SDM630 (§2.1): FC 04 float32 high word first (V, A, W per phase, total W, Hz, import/export **kWh**),
    FC 03 meter code at 0xFC02.

    Params: ``unit_id`` (1), ``meter_code`` (0x0070 = SDM630; another value plays another Eastron model).
    """

    INPUT = ((0x0000, 0x12), (0x0034, 2), (0x0046, 6))
    """V L1..L3, A L1..L3, W L1..L3 (0x0000..0x0011); total W (0x0034); Hz, import kWh, export kWh (0x0046..0x004B)."""
    HOLDING = ((0xFC02, 1),)
    """Meter code."""

    def fill_input(self, start: int, regs: list[int]) -> None:
        """Measurements of the plant (phases beyond the plant's read 0)."""
        p = self.plant
        v = p.mains_v()
        i = p.ev_current_a()
        for ph in range(3):
            on = ph < p.phases
            _put(regs, start, 0x00 + 2 * ph, f32_abcd(v if on else 0.0))
            _put(regs, start, 0x06 + 2 * ph, f32_abcd(i if on else 0.0))
            _put(regs, start, 0x0C + 2 * ph, f32_abcd(v * i if on else 0.0))
        _put(regs, start, 0x34, f32_abcd(p.power_w()))
        _put(regs, start, 0x46, f32_abcd(p.ac_frequency_hz if p.ac_on else 0.0))
        _put(regs, start, 0x48, f32_abcd(p.energy_wh() / 1000.0))
        _put(regs, start, 0x4A, f32_abcd(0.0))

    def fill_holding(self, start: int, regs: list[int]) -> None:
        """The meter code."""
        _put(regs, start, 0xFC02, [int(self.params.get("meter_code", 0x0070)) & 0xFFFF])


class CarloGavazziEm340(_Meter):
    """Carlo Gavazzi EM340 (§2.2): FC 04 INT32 low word first, scaled (V x10, A x1000, W x10, kWh x10), Hz INT16 x10.

    No holding registers (the driver reads none). Params: ``unit_id`` (1).
    """

    INPUT = ((0x0000, 6), (0x000C, 12), (0x0028, 2), (0x0033, 3), (0x004E, 2))
    """V L1..L3 (0x0000..0x0005); A and W L1..L3 (0x000C..0x0017); W system (0x0028); Hz, kWh(+) (0x0033..0x0035);
    kWh(-) (0x004E)."""

    def fill_input(self, start: int, regs: list[int]) -> None:
        """Measurements of the plant (phases beyond the plant's read 0); energy truncated to 0.1 kWh."""
        p = self.plant
        v = p.mains_v()
        i = p.ev_current_a()
        for ph in range(3):
            on = ph < p.phases
            _put(regs, start, 0x00 + 2 * ph, i32_lsw_first(round(v * 10) if on else 0))
            _put(regs, start, 0x0C + 2 * ph, i32_lsw_first(round(i * 1000) if on else 0))
            _put(regs, start, 0x12 + 2 * ph, i32_lsw_first(round(v * i * 10) if on else 0))
        _put(regs, start, 0x28, i32_lsw_first(round(p.power_w() * 10)))
        _put(regs, start, 0x33, [i16(p.ac_frequency_hz * 10 if p.ac_on else 0)])
        _put(regs, start, 0x34, i32_lsw_first(int(p.energy_wh() / 100.0)))
        _put(regs, start, 0x4E, i32_lsw_first(0))
