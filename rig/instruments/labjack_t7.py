"""LabJack T7 (and T7-Pro) as a low-cost pilot meter, Modbus TCP.

Manuals: LabJack T-Series Datasheet (section 3.1 Modbus map, section 13.2 DIO Extended Features, section 14.0 analog
inputs) and the register list of the LabJack LJM constants file (``ljm_constants.json``). Every register used, with
its source, is listed in docs/bench-protocols.md section 6; nothing else is read or written.

The pilot reaches the T7 through a front end (docs/bench-protocols.md section 6): a resistive divider into an analog
input (the CP levels) and a comparator into DIO0 or DIO1 (the PWM, measured by the DIO-EF "Pulse Width In").
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from typing import Any, ClassVar

from rig.instruments.capabilities import Identity, PilotReading
from rig.instruments.driver_base import Driver
from rig.instruments.registers import float32_abcd_decode, float32_abcd_encode, uint32_hwf_decode, uint32_hwf_encode
from rig.instruments.transport import RegisterTransport

_monotonic: Callable[[], float] = time.monotonic
"""Host clock used to count CORE_TIMER wraps between two reads (replaced in tests)."""


class LabJackT7(Driver[RegisterTransport]):
    """LabJack T7 pilot meter: PWM duty/frequency from DIO-EF Pulse Width In, CP levels from an analog input.

    ``pilot()`` opens a measurement window by reading ``DIO#_EF_READ_A_AND_RESET`` (the feature forgets what it
    measured before), samples the analog input until the window has lasted ``window_s`` on the T7's CORE_TIMER and
    holds at least ``ain_samples`` samples, then reads ``DIO#_EF_READ_A`` (high time, ticks) and ``DIO#_EF_READ_B``
    (low time, latched by the READ_A read). Both non-zero: a PWM period completed inside the window, and the samples
    are split into the high and the low level (median of each). Zero ticks: no full period inside the window, so the
    pilot is DC (frequency 0, duty 100 above 0 V and 0 at or below, high == low == the median of the samples).

    Args:
        role: the bench role.
        transport: a RegisterTransport addressing the T7 (Modbus TCP, port 502, unit 1).
        dio: DIO line the comparator drives (Pulse Width In exists on DIO0 and DIO1 of the T7).
        ain: analog input the CP divider feeds, 0..13.
        ain_divider: CP volts per analog-input volt (the divider ratio, e.g. 2.0 for two equal resistors), > 0.
        ain_range_v: analog input range written to ``AIN#_RANGE``: 10, 1, 0.1 or 0.01 (±V).
        clock_divisor: DIO-EF Clock0 divisor of the 80 MHz core clock: 1, 2, 4, 8, 16, 32, 64 or 256.
        ain_samples: analog samples taken per round (at least 2).
        ain_max_samples: analog samples at most per measurement (before it gives up on a level).
        window_s: shortest measurement window, s (a 1 kHz PWM completes a period within 2 ms of the reset).
        min_swing_v: CP samples spreading less than this are one level, V.
    """

    CAPABILITIES: ClassVar[tuple[str, ...]] = ("PilotMeter",)

    def __init__(
        self,
        role: str,
        transport: RegisterTransport,
        *,
        dio: int = 0,
        ain: int = 0,
        ain_divider: float = 2.0,
        ain_range_v: float = 10.0,
        clock_divisor: int = 1,
        ain_samples: int = 8,
        ain_max_samples: int = 200,
        window_s: float = 0.005,
        min_swing_v: float = 2.0,
        **params: Any,
    ) -> None:
        if params:
            raise TypeError(f"{type(self).__name__}: unknown parameters {sorted(params)}")
        if not _integer(dio) or dio not in self.PULSE_WIDTH_LINES:
            raise ValueError(f"dio must be 0 or 1 (the T7 lines with Pulse Width In), got {dio!r}")
        if not _integer(ain) or not 0 <= ain <= self.AIN_COUNT - 1:
            raise ValueError(f"ain must be an analog input 0..{self.AIN_COUNT - 1}, got {ain!r}")
        if not _positive(ain_divider):
            raise ValueError(f"ain_divider must be a number > 0 (CP volts per input volt), got {ain_divider!r}")
        if isinstance(ain_range_v, bool) or ain_range_v not in self.AIN_RANGES_V:
            raise ValueError(
                f"ain_range_v must be one of {', '.join(map(str, self.AIN_RANGES_V))}, got {ain_range_v!r}"
            )
        if not _integer(clock_divisor) or clock_divisor not in self.CLOCK_DIVISORS:
            raise ValueError(
                f"clock_divisor must be one of {', '.join(map(str, self.CLOCK_DIVISORS))}, got {clock_divisor!r}"
            )
        if not _integer(ain_samples) or ain_samples < 2:
            raise ValueError(f"ain_samples must be an integer >= 2, got {ain_samples!r}")
        if not _integer(ain_max_samples) or ain_max_samples < ain_samples:
            raise ValueError(
                f"ain_max_samples must be an integer >= ain_samples ({ain_samples}), got {ain_max_samples!r}"
            )
        if not _positive(window_s):
            raise ValueError(f"window_s must be a number > 0, got {window_s!r}")
        if not _positive(min_swing_v):
            raise ValueError(f"min_swing_v must be a number > 0, got {min_swing_v!r}")
        super().__init__(role, transport)
        self.dio = dio
        self.ain = ain
        self.ain_divider = float(ain_divider)
        self.ain_range_v = float(ain_range_v)
        self.clock_divisor = clock_divisor
        self.ain_samples = ain_samples
        self.ain_max_samples = ain_max_samples
        self.window_s = float(window_s)
        self.min_swing_v = float(min_swing_v)
        self._ef_enabled = False
        self._last_core: tuple[int, float, int] | None = None  # raw CORE_TIMER, host time, unwrapped ticks

    # -- constants: registers (PDU addresses; 32-bit values high word first) ---------------------------------------
    AIN0: ClassVar[int] = 0  # AIN#(0:249), FLOAT32, +2 per channel
    DIO0_EF_READ_A: ClassVar[int] = 3000  # DIO#(0:22)_EF_READ_A, UINT32, +2 per line
    DIO0_EF_READ_A_AND_RESET: ClassVar[int] = 3100
    DIO0_EF_READ_B: ClassVar[int] = 3200
    AIN0_RANGE: ClassVar[int] = 40000  # FLOAT32, +2 per channel
    AIN0_NEGATIVE_CH: ClassVar[int] = 41000  # UINT16, +1 per channel
    DIO0_EF_ENABLE: ClassVar[int] = 44000  # UINT32, +2 per line
    DIO0_EF_INDEX: ClassVar[int] = 44100
    DIO0_EF_CLOCK_SOURCE: ClassVar[int] = 44200
    DIO0_EF_CONFIG_A: ClassVar[int] = 44300
    DIO_EF_CLOCK0_ENABLE: ClassVar[int] = 44900  # UINT16
    DIO_EF_CLOCK0_DIVISOR: ClassVar[int] = 44901  # UINT16
    DIO_EF_CLOCK0_ROLL_VALUE: ClassVar[int] = 44904  # UINT32, 0 = 2**32
    PRODUCT_ID: ClassVar[int] = 60000  # FLOAT32
    SERIAL_NUMBER: ClassVar[int] = 60028  # UINT32
    CORE_TIMER: ClassVar[int] = 61520  # UINT32, half the core clock

    # -- constants: values ---------------------------------------------------------------------------------------
    T7_PRODUCT_ID: ClassVar[float] = 7.0
    PULSE_WIDTH_IN: ClassVar[int] = 5  # DIO#_EF_INDEX of Pulse Width In
    PULSE_WIDTH_LINES: ClassVar[tuple[int, ...]] = (0, 1)
    CONTINUOUS: ClassVar[int] = 0  # DIO#_EF_CONFIG_A: continuous measurement (the default)
    CLOCK0: ClassVar[int] = 0  # DIO#_EF_CLOCK_SOURCE: the 32-bit Clock0
    SINGLE_ENDED: ClassVar[int] = 199  # AIN#_NEGATIVE_CH
    AIN_COUNT: ClassVar[int] = 14
    AIN_RANGES_V: ClassVar[tuple[float, ...]] = (10.0, 1.0, 0.1, 0.01)
    CLOCK_DIVISORS: ClassVar[tuple[int, ...]] = (1, 2, 4, 8, 16, 32, 64, 256)
    CORE_CLOCK_HZ: ClassVar[float] = 80e6
    CORE_TIMER_HZ: ClassVar[float] = 40e6
    MIN_PER_LEVEL: ClassVar[int] = 2  # samples each PWM level needs before the measurement stops early

    # -- properties ------------------------------------------------------------------------------------------------
    @property
    def clock_hz(self) -> float:
        """Get the DIO-EF Clock0 tick rate: 80 MHz / clock_divisor, Hz."""
        return self.CORE_CLOCK_HZ / self.clock_divisor

    def identity(self) -> Identity:
        """Get the identity from PRODUCT_ID (7 for a T7 or T7-Pro) and SERIAL_NUMBER; another product raises."""
        product = float32_abcd_decode(self.transport.read_holding_registers(self.PRODUCT_ID, 2))
        if product != self.T7_PRODUCT_ID:
            raise self._error(
                f"PRODUCT_ID (register {self.PRODUCT_ID}) reads {product:g}, not 7 (T7 / T7-Pro): "
                "the device at this address is not a T7; check the role's host and unit"
            )
        serial = uint32_hwf_decode(self.transport.read_holding_registers(self.SERIAL_NUMBER, 2))
        return Identity("LabJack", "T7", str(serial))

    # -- actions -----------------------------------------------------------------------------------------------------
    def open(self) -> None:
        """Control: open the transport, check it is a T7, set up Pulse Width In on ``dio`` and the analog input."""
        super().open()
        self.identity()
        self._configure_pulse_width()
        self.transport.write_register(self.AIN0_NEGATIVE_CH + self.ain, self.SINGLE_ENDED)
        self._write_f32(self.AIN0_RANGE + 2 * self.ain, self.ain_range_v)

    def pilot(self) -> PilotReading:
        """Measure the pilot: PWM frequency (Hz) and duty (%), high and low level (V), T7 CORE_TIMER time (s).

        A retry follows when the comparator saw no PWM period but the analog input saw two levels (the pilot changed
        during the window); a second such window raises InstrumentError.
        """
        try:
            return self._measure()
        except _LevelsChanged:
            pass
        try:
            return self._measure()
        except _LevelsChanged as exc:
            raise self._error(
                f"AIN{self.ain} saw two levels ({exc.low_v:.2f} V and {exc.high_v:.2f} V) in two windows in which "
                f"DIO{self.dio}'s Pulse Width In saw no full PWM period: check that the comparator drives DIO{self.dio}"
            ) from None

    def safe_state(self) -> None:
        """Control: disable the Pulse Width In feature this driver enabled (the next pilot() enables it again)."""
        self._write_u32(self.DIO0_EF_ENABLE + 2 * self.dio, 0)
        self._ef_enabled = False

    # -- internals ---------------------------------------------------------------------------------------------------
    def _configure_pulse_width(self) -> None:
        """The documented order: feature off, clock off, clock divisor and roll, index, clock source, config, feature
        on, clock on."""
        line = 2 * self.dio
        self._write_u32(self.DIO0_EF_ENABLE + line, 0)
        self.transport.write_register(self.DIO_EF_CLOCK0_ENABLE, 0)
        self.transport.write_register(self.DIO_EF_CLOCK0_DIVISOR, self.clock_divisor)
        self._write_u32(self.DIO_EF_CLOCK0_ROLL_VALUE, 0)
        self._write_u32(self.DIO0_EF_INDEX + line, self.PULSE_WIDTH_IN)
        self._write_u32(self.DIO0_EF_CLOCK_SOURCE + line, self.CLOCK0)
        self._write_u32(self.DIO0_EF_CONFIG_A + line, self.CONTINUOUS)
        self._write_u32(self.DIO0_EF_ENABLE + line, 1)
        self.transport.write_register(self.DIO_EF_CLOCK0_ENABLE, 1)
        self._ef_enabled = True

    def _measure(self) -> PilotReading:
        if not self._ef_enabled:
            self._write_u32(self.DIO0_EF_ENABLE + 2 * self.dio, 1)
            self._ef_enabled = True
        self._read_u32(self.DIO0_EF_READ_A_AND_RESET + 2 * self.dio)  # the window starts: older periods forgotten
        start = self._core_ticks()
        samples: list[float] = []
        while True:
            for _ in range(self.ain_samples):
                samples.append(self._ain_cp_volts())
            end = self._core_ticks()
            window_s = (end - start) / self.CORE_TIMER_HZ
            if window_s < self.window_s:
                if len(samples) + self.ain_samples > self.ain_max_samples:
                    raise self._error(
                        f"CORE_TIMER advanced {window_s * 1e3:.3f} ms over {len(samples)} analog reads, less than the "
                        f"{self.window_s * 1e3:g} ms window a PWM period needs; raise ain_max_samples or lower window_s"
                    )
                continue
            high_ticks = self._read_u32(self.DIO0_EF_READ_A + 2 * self.dio)
            low_ticks = self._read_u32(self.DIO0_EF_READ_B + 2 * self.dio)
            levels = self._levels(samples)
            if high_ticks == 0 or low_ticks == 0:
                if levels is not None:
                    raise _LevelsChanged(statistics.median(levels[0]), statistics.median(levels[1]))
                level = statistics.median(samples)
                return PilotReading(0.0, 100.0 if level > 0 else 0.0, level, level, end / self.CORE_TIMER_HZ)
            if levels is not None and min(len(levels[0]), len(levels[1])) >= self.MIN_PER_LEVEL:
                return self._pwm_reading(levels, high_ticks, low_ticks, end)
            if len(samples) + self.ain_samples > self.ain_max_samples:
                if levels is None:
                    duty = 100.0 * high_ticks / (high_ticks + low_ticks)
                    raise self._error(
                        f"DIO{self.dio} measured a PWM (duty {duty:.2f} %) but all {len(samples)} AIN{self.ain} "
                        f"samples show one level ({statistics.median(samples):.2f} V): raise ain_max_samples for a "
                        f"duty this close to 0 or 100 %, or check the divider into AIN{self.ain}"
                    )
                return self._pwm_reading(levels, high_ticks, low_ticks, end)

    def _levels(self, samples: list[float]) -> tuple[list[float], list[float]] | None:
        """The samples split into the high and the low level; None when they spread less than ``min_swing_v``."""
        if max(samples) - min(samples) < self.min_swing_v:
            return None
        return _split_levels(samples)

    def _pwm_reading(
        self, levels: tuple[list[float], list[float]], high_ticks: int, low_ticks: int, end_ticks: int
    ) -> PilotReading:
        """A PWM period completed in the window: duty and frequency from the ticks, the two levels from the samples."""
        high, low = levels
        return PilotReading(
            frequency_hz=self.clock_hz / (high_ticks + low_ticks),
            duty_pct=100.0 * high_ticks / (high_ticks + low_ticks),
            high_v=statistics.median(high),
            low_v=statistics.median(low),
            t_s=end_ticks / self.CORE_TIMER_HZ,
        )

    def _ain_cp_volts(self) -> float:
        """One analog sample, scaled back to CP volts; NaN or a reading at the end of the range raises."""
        volts = float32_abcd_decode(self.transport.read_holding_registers(self.AIN0 + 2 * self.ain, 2))
        if not math.isfinite(volts) or abs(volts) >= self.ain_range_v:
            raise self._error(
                f"AIN{self.ain} reads {volts:g} V, at or beyond its ±{self.ain_range_v:g} V range: the CP "
                f"(±{self.ain_range_v * self.ain_divider:g} V through the 1:{self.ain_divider:g} divider) is clipped; "
                "check ain_divider, ain_range_v and the divider wiring"
            )
        return volts * self.ain_divider

    def _core_ticks(self) -> int:
        """CORE_TIMER (40 MHz, wraps every 107 s) extended past its wraps; the host clock counts whole wraps."""
        raw = self._read_u32(self.CORE_TIMER)
        now = _monotonic()
        if self._last_core is None:
            ticks = raw
        else:
            last_raw, last_host, last_ticks = self._last_core
            delta = (raw - last_raw) & 0xFFFF_FFFF
            wraps = max(0, round(((now - last_host) * self.CORE_TIMER_HZ - delta) / 2**32))
            ticks = last_ticks + delta + wraps * 2**32
        self._last_core = (raw, now, ticks)
        return ticks

    def _read_u32(self, address: int) -> int:
        return uint32_hwf_decode(self.transport.read_holding_registers(address, 2))

    def _write_u32(self, address: int, value: int) -> None:
        self.transport.write_registers(address, uint32_hwf_encode(value))

    def _write_f32(self, address: int, value: float) -> None:
        self.transport.write_registers(address, float32_abcd_encode(value))


class _LevelsChanged(Exception):
    """The window saw two levels but no PWM period."""

    def __init__(self, high_v: float, low_v: float) -> None:
        super().__init__(high_v, low_v)
        self.high_v = high_v
        self.low_v = low_v


def _integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value) and value > 0


def _split_levels(samples: list[float]) -> tuple[list[float], list[float]]:
    """Split samples into the high and the low cluster: the threshold starts half-way between the extremes and moves
    to half-way between the two clusters' medians (robust to unequal duty and to a sample taken on an edge)."""
    threshold = (max(samples) + min(samples)) / 2.0
    for _ in range(4):
        high = [v for v in samples if v > threshold]
        low = [v for v in samples if v <= threshold]
        if not high or not low:
            break
        threshold = (statistics.median(high) + statistics.median(low)) / 2.0
    return [v for v in samples if v > threshold], [v for v in samples if v <= threshold]
