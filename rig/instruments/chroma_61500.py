"""Chroma 61500/61600 series programmable AC source (61512, 61604, ...).

Manual: Chroma Programmable AC Source 61501/61502/61503/61504/61505/61511/61512 User's Manual, chapter
"Remote Operation" (OUTPut, SOURce:VOLTage/FREQuency/CURRent, FETCh, OUTPut:MODE LIST, SOURce:LIST, TRIG).
Commands used: docs/bench-protocols.md section 1.2.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, ClassVar

from rig.instruments.capabilities import ProgramStep
from rig.instruments.driver_base import ScpiDriver, check_range, num
from rig.instruments.scpi_ac_source import _check_steps
from rig.instruments.transport import MessageTransport


class Chroma61500(ScpiDriver):
    """Chroma 61500/61600 AC source: output, setpoints, FETCh measurements and LIST mode (sag/dropout/swell).

    A list runs in ``OUTP:MODE LIST``; the driver leaves list mode (``TRIG OFF``, ``OUTP:MODE FIXED``) once the
    list has had time to finish, before the next setpoint or program, and in ``safe_state``.

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
        self._list_end: float | None = None

    MIN_FREQUENCY_HZ: ClassVar[float] = 45.0
    MAX_FREQUENCY_HZ: ClassVar[float] = 65.0

    @property
    def voltage_setpoint(self) -> float:
        """Get the voltage setpoint (``SOUR:VOLT:AC?``), V rms, 0..max_voltage."""
        return self.query_float("SOUR:VOLT:AC?")

    @property
    def frequency_setpoint(self) -> float:
        """Get the frequency setpoint (``SOUR:FREQ?``), Hz, 45..65."""
        return self.query_float("SOUR:FREQ?")

    @property
    def current_limit(self) -> float:
        """Get the current limit (``SOUR:CURR:LIM?``), A, 0..the source's rating."""
        return self.query_float("SOUR:CURR:LIM?")

    @property
    def list_running(self) -> bool:
        """Get whether a list started by this driver may still be running (local estimate), bool."""
        return self._list_end is not None and time.monotonic() < self._list_end

    def set_output(self, on: bool) -> None:
        """Set the output on or off (``OUTP:STAT ON|OFF``), bool."""
        self._leave_list()
        self.write("OUTP:STAT ON" if on else "OUTP:STAT OFF")

    def output_on(self) -> bool:
        """Get whether the output is on (``OUTP:STAT?``), bool."""
        return self.query_bool("OUTP:STAT?")

    def set_voltage(self, volts: float) -> None:
        """Set the output voltage (``SOUR:VOLT:LEV:IMM:AC``), V rms, 0..max_voltage."""
        check_range(volts, 0.0, self.max_voltage, "voltage (V)")
        self._leave_list()
        self.write(f"SOUR:VOLT:LEV:IMM:AC {volts:.1f}")

    def set_frequency(self, hertz: float) -> None:
        """Set the output frequency (``SOUR:FREQ:IMM``), Hz, 45..65."""
        check_range(hertz, self.MIN_FREQUENCY_HZ, self.MAX_FREQUENCY_HZ, "frequency (Hz)")
        self._leave_list()
        self.write(f"SOUR:FREQ:IMM {hertz:.2f}")

    def set_current_limit(self, amps: float) -> None:
        """Set the output current limit (``SOUR:CURR:LIM``), A, 0..the source's rating."""
        check_range(amps, 0.0, 1000.0, "current limit (A)")
        self._leave_list()
        self.write(f"SOUR:CURR:LIM {amps:.1f}")

    def measure_voltage(self) -> float:
        """Measure the output voltage (``FETC:VOLT:ACDC?``), V rms."""
        return self.query_float("FETC:VOLT:ACDC?")

    def measure_current(self) -> float:
        """Measure the output current (``FETC:CURR:AC?``), A rms."""
        return self.query_float("FETC:CURR:AC?")

    def measure_power(self) -> float:
        """Measure the output active power (``FETC:POW:AC?``), W."""
        return self.query_float("FETC:POW:AC?")

    def measure_frequency(self) -> float:
        """Measure the output frequency (``FETC:FREQ?``), Hz."""
        return self.query_float("FETC:FREQ?")

    def run_program(self, steps: Sequence[ProgramStep]) -> float:
        """Control: run a voltage list once (time base); return the trigger time, s on the source's clock.

        Each step holds its voltage (start = end) for its dwell. Frequency steps are not in the bench contract and
        raise ValueError.
        """
        _check_steps(steps, self.max_voltage)
        self._leave_list()
        volts = ",".join(f"{s.voltage:.1f}" for s in steps)
        self.write("OUTP:MODE LIST")
        self.write("SOUR:LIST:COUN 1")
        self.write("SOUR:LIST:BASE TIME")
        self.write("SOUR:LIST:DWEL " + ",".join(num(s.dwell_s) for s in steps))
        self.write("SOUR:LIST:VOLT:AC:STAR " + volts)
        self.write("SOUR:LIST:VOLT:AC:END " + volts)
        self.check_errors()
        self.write("TRIG ON")
        self._list_end = time.monotonic() + sum(s.dwell_s for s in steps)
        return self.query_float("SOUR:LIST:TRIG:TIME?")

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
        """Control: stop any list at once and return to fixed mode (``TRIG OFF``, ``OUTP:MODE FIXED``)."""
        self._list_end = None
        self.write("TRIG OFF")
        self.write("OUTP:MODE FIXED")

    def safe_state(self) -> None:
        """Control: cancel the list program and switch the output off."""
        self.cancel_program()
        self.write("OUTP:STAT OFF")

    def _leave_list(self) -> None:
        """Wait for a running list to finish (bounded by its own length), then return to fixed mode."""
        if self._list_end is None:
            return
        left = self._list_end - time.monotonic()
        if left > 0:
            time.sleep(left + 0.01)
        self.cancel_program()
