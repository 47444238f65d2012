"""Generic SCPI programmable AC source (Keysight AC6800 series, ITECH IT7900 style).

Manuals: Keysight AC6800 Series Operating and Service Guide (SCPI chapter: OUTPut, VOLTage, FREQuency, CURRent,
MEASure, LIST, TRIGger); ITECH IT7900 Programming Guide. Commands used: docs/bench-protocols.md section 1.1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from rig.instruments.capabilities import ProgramStep
from rig.instruments.driver_base import ScpiDriver, check_range, num
from rig.instruments.transport import MessageTransport


class ScpiAcSource(ScpiDriver):
    """Generic SCPI AC source: output, setpoints, measurements and a voltage list program (sag/dropout/swell).

    Args:
        role: the bench role.
        transport: a MessageTransport.
        max_voltage: highest voltage setpoint accepted, V rms.
    """

    CAPABILITIES: ClassVar[tuple[str, ...]] = ("AcSource",)

    def __init__(self, role: str, transport: MessageTransport, max_voltage: float = 300.0, **params: Any) -> None:
        if params:
            raise TypeError(f"{type(self).__name__}: unknown parameters {sorted(params)}")
        super().__init__(role, transport)
        self.max_voltage = max_voltage

    MIN_FREQUENCY_HZ: ClassVar[float] = 45.0
    MAX_FREQUENCY_HZ: ClassVar[float] = 65.0

    @property
    def voltage_setpoint(self) -> float:
        """Get the voltage setpoint (``VOLT?``), V rms, 0..max_voltage."""
        return self.query_float("VOLT?")

    @property
    def frequency_setpoint(self) -> float:
        """Get the frequency setpoint (``FREQ?``), Hz, 45..65."""
        return self.query_float("FREQ?")

    @property
    def current_limit(self) -> float:
        """Get the current limit (``CURR?``), A, 0..the source's rating."""
        return self.query_float("CURR?")

    def set_output(self, on: bool) -> None:
        """Set the output relay on or off (``OUTP ON|OFF``), bool."""
        self.write("OUTP ON" if on else "OUTP OFF")

    def output_on(self) -> bool:
        """Get whether the output is on (``OUTP?``), bool."""
        return self.query_bool("OUTP?")

    def set_voltage(self, volts: float) -> None:
        """Set the output voltage (``VOLT``), V rms, 0..max_voltage."""
        check_range(volts, 0.0, self.max_voltage, "voltage (V)")
        self.write(f"VOLT {volts:.1f}")

    def set_frequency(self, hertz: float) -> None:
        """Set the output frequency (``FREQ``), Hz, 45..65."""
        check_range(hertz, self.MIN_FREQUENCY_HZ, self.MAX_FREQUENCY_HZ, "frequency (Hz)")
        self.write(f"FREQ {hertz:.2f}")

    def set_current_limit(self, amps: float) -> None:
        """Set the output current limit (``CURR``), A, 0..the source's rating."""
        check_range(amps, 0.0, 1000.0, "current limit (A)")
        self.write(f"CURR {amps:.1f}")

    def measure_voltage(self) -> float:
        """Measure the output voltage (``MEAS:VOLT:AC?``), V rms."""
        return self.query_float("MEAS:VOLT:AC?")

    def measure_current(self) -> float:
        """Measure the output current (``MEAS:CURR:AC?``), A rms."""
        return self.query_float("MEAS:CURR:AC?")

    def measure_power(self) -> float:
        """Measure the output active power (``MEAS:POW:AC?``), W."""
        return self.query_float("MEAS:POW:AC?")

    def measure_frequency(self) -> float:
        """Measure the output frequency (``MEAS:FREQ?``), Hz."""
        return self.query_float("MEAS:FREQ?")

    def run_program(self, steps: Sequence[ProgramStep]) -> float:
        """Control: run a voltage list once (bus trigger); return the trigger time, s on the source's clock.

        After the last step the source returns to its ``VOLT`` setpoint by itself. Frequency steps are not part of
        the bench contract and raise ValueError.
        """
        _check_steps(steps, self.max_voltage)
        self.write("LIST:VOLT " + ",".join(f"{s.voltage:.1f}" for s in steps))
        self.write("LIST:DWEL " + ",".join(num(s.dwell_s) for s in steps))
        self.write("VOLT:MODE LIST")
        self.write("TRIG:TRAN:SOUR BUS")
        self.check_errors()
        self.write("INIT:TRAN")
        self.write("*TRG")
        return self.query_float("LIST:TRIG:TIME?")

    def sag(self, voltage: float, duration_s: float) -> float:
        """Control: hold ``voltage`` (V rms, 0..max_voltage) for ``duration_s`` (s, > 0), then back; trigger time, s."""
        return self.run_program([ProgramStep(voltage, duration_s)])

    def dropout(self, duration_s: float) -> float:
        """Control: drop the output to 0 V for ``duration_s`` (s, > 0), then back; return the trigger time, s."""
        return self.sag(0.0, duration_s)

    def swell(self, voltage: float, duration_s: float) -> float:
        """Control: raise to ``voltage`` (V rms, 0..max_voltage) for ``duration_s`` (s, > 0); return trigger time, s."""
        return self.sag(voltage, duration_s)

    def cancel_program(self) -> None:
        """Control: cancel any list program (``VOLT:MODE FIX``)."""
        self.write("VOLT:MODE FIX")

    def safe_state(self) -> None:
        """Control: cancel the list program and switch the output off."""
        self.cancel_program()
        self.set_output(False)


def _check_steps(steps: Sequence[ProgramStep], max_voltage: float) -> None:
    if not steps:
        raise ValueError("a list program needs at least one step")
    for i, s in enumerate(steps):
        check_range(s.voltage, 0.0, max_voltage, f"step {i} voltage (V)")
        if s.dwell_s <= 0:
            raise ValueError(f"step {i} dwell must be > 0 s, got {s.dwell_s:g}")
        if s.frequency is not None:
            raise ValueError(f"step {i}: frequency steps are not in the bench contract (docs/bench-protocols.md)")
