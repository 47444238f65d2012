"""AMETEK / California Instruments Sequoia series programmable AC sources, SCPI over GPIB, RS-232 or LAN.

Manual: AMETEK Programmable Power, Sequoia Series User and Programming Manual (SCPI chapter 4: OUTPut p.67 and 72,
current and voltage measurement p.57 and 64, LIST p.92-93; chapter 5: ``*IDN?`` p.146; chapter 6 "Programming
Output Transients" p.161-168). Every command sent, with its page, is in docs/bench-protocols.md section 1.2; nothing
else is sent.

The Sequoia has a trigger-out: with ``OUTP:TTLT:SOUR BOT`` it pulses the function strobe (Trig Out) pin of the rear
system interface connector at the beginning of the transient; wired to a scope channel, that pulse time-stamps a
dropout.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import ClassVar

from rig.instruments.ac_source_common import AcSourceDriver, number
from rig.instruments.capabilities import ProgramStep
from rig.instruments.transport import MessageTransport


class AmetekSequoia(AcSourceDriver):
    """AMETEK/California Instruments Sequoia AC source: setpoints, V/A measurements, LIST transients with trigger-out.

    A program is a voltage list (``LIST:VOLT``, ``LIST:DWEL`` in s, ``LIST:COUN 1``, ``LIST:STEP AUTO``,
    ``VOLT:MODE LIST``), the trigger-out enabled at the beginning of the transient (``OUTP:TTLT:STAT ON``,
    ``OUTP:TTLT:SOUR BOT``), started by a bus trigger (``TRIG:SOUR BUS``, ``INIT``, ``*TRG``). It ends with one more
    point at the voltage setpoint this driver last set. The manual gives no query for the end of a list: the driver
    waits out the programmed length (plus :data:`END_MARGIN_S`) before its next setpoint or program and returns to
    ``VOLT:MODE FIX``; ``safe_state`` stops a list at once (``ABOR``).

    Not in this driver (their commands were not verified in the manual pages read): the current limit, power and
    frequency measurements; they raise :class:`rig.errors.Unsupported`.

    Args:
        role: the bench role.
        transport: a MessageTransport.
        max_voltage: highest voltage setpoint accepted, V rms.
        max_current: unused (no current limit command here); accepted for a uniform rig.yaml.
        poll_s: unused (the Sequoia is not polled); accepted for a uniform rig.yaml.
    """

    DRIVER: ClassVar[str] = "ametek_sequoia"
    FAMILY: ClassVar[str] = "Sequoia"
    VENDORS: ClassVar[tuple[str, ...]] = ("CALIFORNIA INSTRUMENTS",)
    MODELS: ClassVar[tuple[tuple[str, str], ...]] = ((r"SQ.*", "Sequoia (model field SQ...)"),)
    DWELL_S: ClassVar[tuple[float, float]] = (0.001, 9e4)
    """``LIST:DWEL`` range, s (p.93)."""
    MAX_POINTS: ClassVar[int] = 100
    """Points of a list (p.92); one is taken by the point back at the setpoint."""
    RESTORE_DWELL_S: ClassVar[float] = 0.1
    """Dwell of the point at the voltage setpoint that ends every program, s."""
    END_MARGIN_S: ClassVar[float] = 0.1
    """Wait after a list's programmed end before leaving list mode, s (the host starts counting at ``*TRG``)."""

    def __init__(
        self,
        role: str,
        transport: MessageTransport,
        *,
        max_voltage: float = 300.0,
        max_current: float | None = None,
        poll_s: float = 0.05,
    ) -> None:
        super().__init__(role, transport, max_voltage=max_voltage, max_current=max_current, poll_s=poll_s)
        self._volts: float | None = None
        self._in_list = False
        self._list_end: float | None = None

    # -- setpoints -----------------------------------------------------------------------------------------------
    def set_output(self, on: bool) -> None:
        """Set the output relay on or off (``OUTP ON|OFF``), bool."""
        self._configure(f"OUTP {'ON' if on else 'OFF'}")

    def output_on(self) -> bool:
        """Get whether the output is on (``OUTP?``), bool."""
        return self.query_bool("OUTP?")

    def set_voltage(self, volts: float) -> None:
        """Set the output voltage (``VOLT``), V rms, 0..max_voltage."""
        command = f"VOLT {number(volts, '.1f')}"
        self._voltage(volts, command)
        self._configure(command)
        self._volts = float(volts)

    def set_frequency(self, hertz: float) -> None:
        """Set the output frequency (``FREQ``), Hz, 45..65."""
        command = f"FREQ {number(hertz, '.2f')}"
        self._frequency(hertz, command)
        self._configure(command)

    def set_current_limit(self, amps: float) -> None:
        """Not in this driver: raises Unsupported (the current limit command was not verified)."""
        raise self._unsupported("no current limit in this driver (its command was not verified in the manual)")

    # -- measurements --------------------------------------------------------------------------------------------
    def measure_voltage(self) -> float:
        """Measure the output voltage (``MEAS:VOLT:AC?``), V rms."""
        return self.query_float("MEAS:VOLT:AC?")

    def measure_current(self) -> float:
        """Measure the output current (``MEAS:CURR:AC?``), A rms."""
        return self.query_float("MEAS:CURR:AC?")

    def measure_power(self) -> float:
        """Not in this driver: raises Unsupported (measure power on the bench's meter)."""
        raise self._unsupported("no power measurement in this driver (its query was not verified in the manual)")

    def measure_frequency(self) -> float:
        """Not in this driver: raises Unsupported (measure frequency on the bench's meter or scope)."""
        raise self._unsupported("no frequency measurement in this driver (its query was not verified in the manual)")

    # -- list program --------------------------------------------------------------------------------------------
    def run_program(self, steps: Sequence[ProgramStep]) -> None:
        """Control: run the voltage list ``steps`` once, then the voltage setpoint; return once ``*TRG`` is sent.

        The trigger-out pulses at the beginning of the transient. Frequency steps are not programmed here.

        Raises:
            ValueError: a step out of range, or no voltage setpoint set through this driver yet (nothing sent).
            InstrumentError: the source reported an error (naming the commands sent).
        """
        self._check_steps(steps, self.DWELL_S, self.MAX_POINTS - 1, "LIST:VOLT", frequencies=False)
        if self._volts is None:
            raise self._refusal(
                "set_voltage first: a program ends on the voltage setpoint, which this driver knows once it has set it",
                "LIST:VOLT",
            )
        self._finish_list()
        points = [(s.voltage, s.dwell_s) for s in steps] + [(self._volts, self.RESTORE_DWELL_S)]
        self._send("LIST:VOLT " + ",".join(f"{v:.1f}" for v, _ in points))
        self._send("LIST:DWEL " + ",".join(f"{d:.6g}" for _, d in points))
        self._send("LIST:COUN 1")
        self._send("LIST:STEP AUTO")
        self._send("VOLT:MODE LIST")
        self._in_list = True
        self._send("OUTP:TTLT:STAT ON")
        self._send("OUTP:TTLT:SOUR BOT")
        self._send("TRIG:SOUR BUS")
        self.drain_errors()
        self._send("INIT")
        self._send("*TRG")
        self._list_end = time.monotonic() + sum(d for _, d in points)
        self.drain_errors()

    def safe_state(self) -> None:
        """Control: stop any list (``ABOR``), back to fixed mode (``VOLT:MODE FIX``), output off (``OUTP OFF``); errors
        the source queued are logged, not raised."""
        self._in_list, self._list_end = False, None
        self._send("ABOR")
        self._send("VOLT:MODE FIX")
        self._send("OUTP OFF")
        self.drain_errors_quietly()

    # -- helpers -------------------------------------------------------------------------------------------------
    def _configure(self, command: str) -> None:
        """Leave a finished list, send ``command`` and drain the error queue."""
        self._finish_list()
        self._send(command)
        self.drain_errors()

    def _finish_list(self) -> None:
        """If a program left list mode on: wait out its programmed end (plus :data:`END_MARGIN_S`), then
        ``VOLT:MODE FIX``."""
        if not self._in_list:
            return
        if self._list_end is not None:
            left = self._list_end + self.END_MARGIN_S - time.monotonic()
            if left > 0:
                time.sleep(left)
        self._in_list, self._list_end = False, None
        self._send("VOLT:MODE FIX")
        self.drain_errors()
