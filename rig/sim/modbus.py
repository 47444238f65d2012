"""Modbus TCP servers of the virtual bench (docs/bench-protocols.md §2.1, §2.2, §3.1), on pymodbus 3.16.

pymodbus 3.16's non-deprecated server datastore is ``pymodbus.simulator.SimDevice`` (the ``ModbusServerContext`` /
``ModbusDeviceContext`` path logs "deprecated, removed in v4"). A ``SimDevice`` with four separate blocks
``(coils, discrete inputs, holding, input)`` and an async ``action`` callback is used: the callback runs before every
request with the block's register list, so registers are computed live from the plant (reads) and writes are applied
to the plant (coils → relays). This is the only module of rig/sim importing pymodbus.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from typing import Any, TypeGuard

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


def u32_hi_first(x: int) -> list[int]:
    """uint32, high word first."""
    return [(x >> 16) & 0xFFFF, x & 0xFFFF]


def i16(x: float) -> int:
    """int16 as a register value (clamped)."""
    return int(max(-32768, min(32767, round(x)))) & 0xFFFF


def ascii_regs(text: str, count: int) -> list[int]:
    """ASCII text, 2 characters per register (first in the high byte), padded with NUL."""
    raw = text.encode("ascii")[: 2 * count].ljust(2 * count, b"\0")
    return [raw[i] << 8 | raw[i + 1] for i in range(0, 2 * count, 2)]


def _put(regs: list[int], start: int, address: int, values: list[int]) -> None:
    regs[address - start : address - start + len(values)] = values


def _register_words(values: list[int] | list[bool] | None) -> TypeGuard[list[int]]:
    """Whether a request's values are register words (FC 06/16 writes), not coil bits (FC 05/15)."""
    return values is not None and not any(isinstance(v, bool) for v in values)


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

    def blocks(self) -> tuple[list[SimData], list[SimData], list[SimData], list[SimData]]:
        """(coils, discrete inputs, holding, input) register layout (override)."""
        raise NotImplementedError

    async def action(
        self, fc: int, start: int, address: int, count: int, regs: list[int], values: list[int] | list[bool] | None
    ) -> None:
        """Fill ``regs`` from the plant before a read; apply ``values`` of a write (override)."""

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


class EastronSdm630(ModbusDevice):
    """Eastron SDM630: FC 04 float32 ABCD measurements, FC 03 identity (§2.1)."""

    def blocks(self) -> tuple[list[SimData], list[SimData], list[SimData], list[SimData]]:
        """Input registers 0x0000..0x004B, holding 0xFC00..0xFC02."""
        return (
            list(_NO_BITS),
            list(_NO_BITS),
            [SimData(0xFC00, count=3, datatype=DataType.REGISTERS)],
            [SimData(0x0000, count=0x4C, datatype=DataType.REGISTERS)],
        )

    async def action(
        self, fc: int, start: int, address: int, count: int, regs: list[int], values: list[int] | list[bool] | None
    ) -> None:
        """Compute the registers."""
        p = self.plant
        if fc == 4:
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
        elif fc == 3:
            _put(regs, start, 0xFC00, u32_hi_first(int(self.params.get("serial", 12345678))))
            _put(regs, start, 0xFC02, [0x0070])


class CarloGavazziEm340(ModbusDevice):
    """Carlo Gavazzi EM340: FC 03 int32 low word first, scaled (§2.2)."""

    def blocks(self) -> tuple[list[SimData], list[SimData], list[SimData], list[SimData]]:
        """Holding 0x0000..0x004F and 0x5000..0x5006."""
        return (
            list(_NO_BITS),
            list(_NO_BITS),
            [
                SimData(0x0000, count=0x50, datatype=DataType.REGISTERS),
                SimData(0x5000, count=7, datatype=DataType.REGISTERS),
            ],
            [SimData(0x0000, count=1, datatype=DataType.REGISTERS)],
        )

    async def action(
        self, fc: int, start: int, address: int, count: int, regs: list[int], values: list[int] | list[bool] | None
    ) -> None:
        """Compute the registers."""
        if fc != 3:
            return
        p = self.plant
        v = p.mains_v()
        i = p.ev_current_a()
        for ph in range(3):
            on = ph < p.phases
            _put(regs, start, 0x00 + 2 * ph, i32_lsw_first(round(v * 10) if on else 0))
            _put(regs, start, 0x0C + 2 * ph, i32_lsw_first(round(i * 1000) if on else 0))
            _put(regs, start, 0x12 + 2 * ph, i32_lsw_first(round(v * i * 10) if on else 0))
        _put(regs, start, 0x0B, [0x0154])
        _put(regs, start, 0x28, i32_lsw_first(round(p.power_w() * 10)))
        _put(regs, start, 0x33, [i16(p.ac_frequency_hz * 10 if p.ac_on else 0)])
        _put(regs, start, 0x34, i32_lsw_first(int(p.energy_wh() / 100.0)))  # 0.1 kWh units, truncated like the meter
        _put(regs, start, 0x4E, i32_lsw_first(0))
        _put(regs, start, 0x5000, ascii_regs(str(self.params.get("serial", "SIM0001")), 7))
