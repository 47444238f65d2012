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

from rig.instruments.ac_source_common import AcSourceDriver
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
    SAFE_STATE: ClassVar[tuple[str, ...]] = ("ABOR", "VOLT:MODE FIX", "OUTP OFF")
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

    # -- setpoints -----------------------------------------------------------------------------------------------
    def set_voltage(self, volts: float) -> None:
        """Set the output voltage (``VOLT``), V rms, 0..max_voltage; remembered: a list program ends on it."""
        super().set_voltage(volts)
        self._volts = float(volts)

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

    # -- helpers -------------------------------------------------------------------------------------------------
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
