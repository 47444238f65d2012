"""A virtual LabJack T7 on Modbus TCP: the registers the labjack_t7 driver uses, computed from the plant.

The T7 answers FC 03 and FC 04 from one register map (docs/bench-protocols.md section 6), so the server is a
pymodbus ``SimDevice`` with shared registers: an address the map does not hold is answered with exception 2 (illegal
data address), as the real device does; a write to a read-only register too; function codes other than 03, 04, 06 and
16 with exception 1. What the T7's inputs see comes from the plant, behind the front end the driver assumes:

* ``AIN<ain>``: the CP at the sense point at the moment of the read (:class:`rig.sim.scope_signals.PlantSignals`, the
  virtual scope's probe, 2 us edges included) divided by ``ain_divider`` and clipped to the input's range (the T7's
  behaviour beyond its range is not modelled). The other analog inputs read 0 V.
* ``DIO<dio>``: a comparator switching at 0 V CP. Pulse Width In (index 5, enabled, Clock0 enabled) reports the high
  and low time of the last PWM period that completed since the feature was enabled or reset, in Clock0 ticks
  (80 MHz / divisor); 0 before one has. ``READ_B`` is the low time latched by the last ``READ_A`` or
  ``READ_A_AND_RESET`` read. The other DIO line sees no edges.
* ``CORE_TIMER``: the plant clock since the plant started, 40 MHz, wrapping at 2**32.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from typing import Any

import numpy as np
from pymodbus.constants import ExcCodes
from pymodbus.simulator import DataType, SimData

from rig.sim.modbus import ModbusDevice
from rig.sim.plant import PWM_HZ, Plant
from rig.sim.scope_signals import PlantSignals

AIN_COUNT = 14
PULSE_WIDTH_LINES = (0, 1)
PULSE_WIDTH_IN = 5
COMPARATOR_V = 0.0
"""The CP level the front end's comparator switches at, V."""
CORE_CLOCK_HZ = 80e6
CORE_TIMER_NS_PER_TICK = 25  # 40 MHz
DEFAULT_RANGE_V = 10.0
"""``AIN#_RANGE`` 0 means the default ±10 V."""

# registers (PDU addresses), as the driver's
AIN0 = 0
DIO0_EF_READ_A = 3000
DIO0_EF_READ_A_AND_RESET = 3100
DIO0_EF_READ_B = 3200
AIN0_RANGE = 40000
AIN0_NEGATIVE_CH = 41000
DIO0_EF_ENABLE = 44000
DIO0_EF_INDEX = 44100
DIO0_EF_CLOCK_SOURCE = 44200
DIO0_EF_CONFIG_A = 44300
DIO_EF_CLOCK0_ENABLE = 44900
DIO_EF_CLOCK0_DIVISOR = 44901
DIO_EF_CLOCK0_ROLL_VALUE = 44904
PRODUCT_ID = 60000
SERIAL_NUMBER = 60028
CORE_TIMER = 61520

PARAMS = {"unit_id", "serial", "dio", "ain", "ain_divider"}
"""What a ``labjack_t7`` role's params may hold on the virtual bench."""


def _f32(value: float) -> list[int]:
    hi, lo = struct.unpack(">HH", struct.pack(">f", value))
    return [hi, lo]


def _u32(value: int) -> list[int]:
    return [(value >> 16) & 0xFFFF, value & 0xFFFF]


class VirtualT7(ModbusDevice):
    """A LabJack T7 serving Modbus TCP, its inputs wired to the plant's pilot through the driver's front end.

    Args:
        plant: the plant.
        params: ``unit_id`` (1), ``serial`` (SERIAL_NUMBER, 470012345), ``dio`` (the line the comparator drives,
            0), ``ain`` (the input the CP divider feeds, 0), ``ain_divider`` (CP volts per input volt, 2.0): the
            wiring, matching the driver's params of the same names.
    """

    def __init__(self, plant: Plant, params: Mapping[str, Any] | None = None) -> None:
        p = dict(params or {})
        unknown = sorted(set(p) - PARAMS)
        if unknown:
            raise ValueError(f"labjack_t7 params {unknown} unknown on the virtual bench; known: {sorted(PARAMS)}")
        super().__init__(plant, p)
        self.serial = int(p.get("serial", 470012345))
        self.dio = int(p.get("dio", 0))
        self.ain = int(p.get("ain", 0))
        self.ain_divider = float(p.get("ain_divider", 2.0))
        if self.dio not in PULSE_WIDTH_LINES:
            raise ValueError(f"labjack_t7 params.dio must be 0 or 1 (the Pulse Width In lines), got {self.dio}")
        if not 0 <= self.ain < AIN_COUNT:
            raise ValueError(f"labjack_t7 params.ain must be 0..{AIN_COUNT - 1}, got {self.ain}")
        if not math.isfinite(self.ain_divider) or self.ain_divider <= 0:
            raise ValueError(f"labjack_t7 params.ain_divider must be > 0, got {self.ain_divider}")
        self.signals = PlantSignals(plant, {"cp": 1})
        self._armed_ns = dict.fromkeys(PULSE_WIDTH_LINES, plant.now_ns())
        """Per line: periods completing before this time are not reported (enable, configuration, reset)."""
        self._latched_b = dict.fromkeys(PULSE_WIDTH_LINES, 0)

    def register_map(self) -> list[SimData]:
        """The addresses the T7 answers here (shared by FC 03/04/06/16); every other one is illegal."""
        lines = len(PULSE_WIDTH_LINES)
        read_only = DataType.REGISTERS
        return [
            SimData(AIN0, count=2 * AIN_COUNT, datatype=read_only, readonly=True),
            SimData(DIO0_EF_READ_A, count=2 * lines, datatype=read_only, readonly=True),
            SimData(DIO0_EF_READ_A_AND_RESET, count=2 * lines, datatype=read_only, readonly=True),
            SimData(DIO0_EF_READ_B, count=2 * lines, datatype=read_only, readonly=True),
            SimData(AIN0_RANGE, count=2 * AIN_COUNT, datatype=DataType.REGISTERS),
            SimData(AIN0_NEGATIVE_CH, count=AIN_COUNT, values=199, datatype=DataType.REGISTERS),
            SimData(DIO0_EF_ENABLE, count=2 * lines, datatype=DataType.REGISTERS),
            SimData(DIO0_EF_INDEX, count=2 * lines, datatype=DataType.REGISTERS),
            SimData(DIO0_EF_CLOCK_SOURCE, count=2 * lines, datatype=DataType.REGISTERS),
            SimData(DIO0_EF_CONFIG_A, count=2 * lines, datatype=DataType.REGISTERS),
            SimData(DIO_EF_CLOCK0_ENABLE, values=[0, 1], datatype=DataType.REGISTERS),  # ENABLE, DIVISOR
            SimData(DIO_EF_CLOCK0_ROLL_VALUE, count=2, datatype=DataType.REGISTERS),
            SimData(PRODUCT_ID, values=_f32(7.0), datatype=read_only, readonly=True),
            SimData(SERIAL_NUMBER, values=_u32(self.serial), datatype=read_only, readonly=True),
            SimData(CORE_TIMER, count=2, datatype=read_only, readonly=True),
        ]

    def blocks(self) -> list[SimData]:
        """The one register map FC 03/04/06/16 share (:meth:`register_map`)."""
        return self.register_map()

    async def action(
        self, fc: int, start: int, address: int, count: int, regs: list[int], values: list[int] | list[bool] | None
    ) -> ExcCodes | None:
        """Before a request: refuse other function codes, fill what a read returns, note what a write changes."""
        if fc not in (3, 4, 6, 16):
            return ExcCodes.ILLEGAL_FUNCTION
        t_ns = self.plant.now_ns()
        if fc in (6, 16):
            self._written(address, count, t_ns)
            return None

        def wanted(first: int) -> bool:
            return _overlaps(first, 2, address, count)

        def put(first: int, words: list[int]) -> None:
            regs[first - start : first - start + len(words)] = words

        for n in range(AIN_COUNT):
            if wanted(AIN0 + 2 * n):
                put(AIN0 + 2 * n, _f32(self._ain_volts(n, regs, start, t_ns)))
        for line in PULSE_WIDTH_LINES:
            for first, reset in ((DIO0_EF_READ_A, False), (DIO0_EF_READ_A_AND_RESET, True)):
                if wanted(first + 2 * line):
                    high, self._latched_b[line] = self._pulse_width(line, regs, start, t_ns)
                    put(first + 2 * line, _u32(high))
                    if reset:
                        self._armed_ns[line] = t_ns
            if wanted(DIO0_EF_READ_B + 2 * line):
                put(DIO0_EF_READ_B + 2 * line, _u32(self._latched_b[line]))
        if wanted(CORE_TIMER):
            put(CORE_TIMER, _u32(((t_ns - self.plant.t0_ns) // CORE_TIMER_NS_PER_TICK) & 0xFFFF_FFFF))
        return None

    def _written(self, address: int, count: int, t_ns: int) -> None:
        """A write to a line's DIO-EF registers (or to Clock0's) restarts that line's (every line's) measurement."""
        clock = _overlaps(DIO_EF_CLOCK0_ENABLE, DIO_EF_CLOCK0_ROLL_VALUE + 2 - DIO_EF_CLOCK0_ENABLE, address, count)
        for line in PULSE_WIDTH_LINES:
            line_regs = (DIO0_EF_ENABLE, DIO0_EF_INDEX, DIO0_EF_CLOCK_SOURCE, DIO0_EF_CONFIG_A)
            if clock or any(_overlaps(r + 2 * line, 2, address, count) for r in line_regs):
                self._armed_ns[line] = t_ns
                self._latched_b[line] = 0

    def _ain_volts(self, n: int, regs: list[int], start: int, t_ns: int) -> float:
        """Input ``n`` at ``t_ns``: the divided CP on the wired input (clipped to its range), 0 V on the others."""
        if n != self.ain:
            return 0.0
        cp = float(self.signals(1, np.array([t_ns / 1e9]))[0])
        written = _read_f32(regs, start, AIN0_RANGE + 2 * n)
        span = written if written > 0 else DEFAULT_RANGE_V
        return max(-span, min(span, cp / self.ain_divider))

    def _pulse_width(self, line: int, regs: list[int], start: int, t_ns: int) -> tuple[int, int]:
        """Clock0 ticks high and low of the last PWM period complete on ``line`` since it was armed; (0, 0) if none."""
        enabled = _read_u32(regs, start, DIO0_EF_ENABLE + 2 * line) == 1
        index = _read_u32(regs, start, DIO0_EF_INDEX + 2 * line)
        clock_on = regs[DIO_EF_CLOCK0_ENABLE - start] == 1
        if line != self.dio or not (enabled and clock_on and index == PULSE_WIDTH_IN):
            return 0, 0
        period = self._last_period(self._armed_ns[line], t_ns)
        if period is None:
            return 0, 0
        divisor = regs[DIO_EF_CLOCK0_DIVISOR - start] or 1
        ticks_per_s = CORE_CLOCK_HZ / divisor
        return round(period[0] * ticks_per_s), round(period[1] * ticks_per_s)

    def _last_period(self, since_ns: int, t_ns: int) -> tuple[float, float] | None:
        """High and low time (s) of the last PWM period the comparator saw whole between ``since_ns`` and ``t_ns``.

        A period runs from a rising edge to the next (edges at ``pwm_since + k / PWM_HZ``) and counts when it lies
        inside one state of the plant's signal history with a PWM crossing the comparator's level.
        """
        period_ns = 1e9 / PWM_HZ
        history = self.plant.signal_history(since_ns)
        for i in reversed(range(len(history))):
            state = history[i]
            begin = max(state.t_ns, since_ns)
            end = min(history[i + 1].t_ns if i + 1 < len(history) else t_ns, t_ns)
            pilot = state.pilot
            if end <= begin or not (pilot.pwm and pilot.high_v > COMPARATOR_V > pilot.low_v):
                continue
            last_edge = state.pwm_since_ns + math.floor((end - state.pwm_since_ns) / period_ns) * period_ns
            if last_edge - period_ns >= begin:
                high_s = pilot.duty_pct / 100.0 / PWM_HZ
                return high_s, 1.0 / PWM_HZ - high_s
        return None


def _overlaps(first: int, words: int, address: int, count: int) -> bool:
    """Whether registers ``first .. first + words - 1`` meet a request's ``address .. address + count - 1``."""
    return address < first + words and first < address + count


def _read_u32(regs: list[int], start: int, address: int) -> int:
    return (regs[address - start] << 16) | regs[address - start + 1]


def _read_f32(regs: list[int], start: int, address: int) -> float:
    raw = struct.pack(">HH", regs[address - start], regs[address - start + 1])
    return float(struct.unpack(">f", raw)[0])
