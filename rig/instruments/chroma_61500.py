"""Chroma 61501-61504 and 61601-61604 programmable AC sources (61500/61600 series), SCPI over GPIB, RS-232 or LAN.

Manual: Chroma Programmable AC Source 61501/61502/61503/61504 User's Manual (also 61601-61604), chapter 8 "Remote
Operation" (SOURce p.8-12, LIST p.8-17..8-18, OUTPut:MODE and TRIG p.8-26) and 61601-61604 User's Manual §7.6.2.1
(FETCh). Every command sent, with its page or second public source, is in docs/bench-protocols.md section 1.1;
nothing else is sent.

The 61500/61600 have no trigger-out: a timed dropout is seen on the scope, the AC output on a channel through a
differential probe.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import ClassVar

from rig.instruments.ac_source_common import AcSourceDriver
from rig.instruments.capabilities import ProgramStep


class Chroma61500(AcSourceDriver):
    """Chroma 61501-61504 / 61601-61604 AC source: output, setpoints, FETCh measurements and LIST-mode programs.

    A program runs in ``OUTP:MODE LIST`` with a time base (``LIST:BASE TIME``, dwell in ms): the steps, then one
    more point at the fixed setpoint so that the output is back at it when the list ends, whatever the source does
    after its last point. ``TRIG ON`` starts it and ``TRIG:STATE?`` must answer ``RUNNING``. The driver returns to
    ``OUTP:MODE FIXED`` before its next setpoint or program, after ``TRIG:STATE?`` answers ``OFF`` (polled, bounded by
    the program's length), and at once in ``safe_state``.

    Args:
        role: the bench role.
        transport: a MessageTransport.
        max_voltage: highest voltage setpoint accepted, V rms (the high range: 300).
        max_current: highest current limit accepted, A (the model's rating; None: the source refuses more itself).
        poll_s: interval between ``TRIG:STATE?`` polls while waiting for a program's end, s.
    """

    DRIVER: ClassVar[str] = "chroma_61500"
    FAMILY: ClassVar[str] = "61500/61600"
    VENDORS: ClassVar[tuple[str, ...]] = ("CHROMA",)
    MODELS: ClassVar[tuple[tuple[str, str], ...]] = (
        (r"6150[1-4]", "61501-61504"),
        (r"6160[1-4]", "61601-61604"),
    )
    DWELL_S: ClassVar[tuple[float, float]] = (0.0001, 99999.9999)
    """A list point's dwell with ``LIST:BASE TIME``: 0.1 ms .. 99 999 999.9 ms, 0.1 ms resolution."""
    RESTORE_DWELL_S: ClassVar[float] = 0.1
    """Dwell of the point at the fixed setpoint that ends every program, s."""
    VOLTAGE_SET: ClassVar[str] = "SOUR:VOLT:AC"
    FREQUENCY_SET: ClassVar[str] = "SOUR:FREQ"
    CURRENT_LIMIT_SET: ClassVar[str | None] = "SOUR:CURR:LIM"
    MEASURE: ClassVar[dict[str, str | None]] = {
        "voltage": "FETC:VOLT:ACDC?",
        "current": "FETC:CURR:AC?",
        "power": "FETC:POW:AC?",
        "frequency": "FETC:FREQ?",
    }
    SAFE_STATE: ClassVar[tuple[str, ...]] = ("TRIG OFF", "OUTP:MODE FIXED", "OUTP OFF")
    END_MARGIN_S: ClassVar[float] = 2.0
    """How long after its programmed end a list may still report ``RUNNING`` before the driver gives up, s."""

    # -- properties ----------------------------------------------------------------------------------------------
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
        """Get the current limit (``SOUR:CURR:LIM?``), A, 0..the model's rating."""
        return self.query_float("SOUR:CURR:LIM?")

    @property
    def list_pending(self) -> bool:
        """Get whether the source is still in LIST mode from a program of this driver (not yet back to FIXED)."""
        return self._in_list

    # -- list program --------------------------------------------------------------------------------------------
    def run_program(self, steps: Sequence[ProgramStep]) -> None:
        """Control: run ``steps`` once in LIST mode and return once ``TRIG:STATE?`` answers ``RUNNING``.

        Each step holds its voltage (start = end) and frequency (the step's, else the frequency setpoint) for its
        dwell; a last point at the setpoints (read with ``SOUR:VOLT:AC?`` and ``SOUR:FREQ?``) follows for
        :data:`RESTORE_DWELL_S`. Every point carries its frequency, so no frequency of an earlier list is left in.

        Raises:
            ValueError: a step out of range (nothing sent). InstrumentError: the source reported an error (naming
                the commands sent) or the list did not start.
        """
        self._check_steps(steps, self.DWELL_S, None, "LIST:VOLT:AC:STAR", frequencies=True)
        self._finish_list()
        volts_set = self.voltage_setpoint
        hertz_set = self.frequency_setpoint
        points = [(s.voltage, hertz_set if s.frequency is None else s.frequency, s.dwell_s) for s in steps]
        points.append((volts_set, hertz_set, self.RESTORE_DWELL_S))
        volts = ",".join(f"{v:.1f}" for v, _, _ in points)
        hertz = ",".join(f"{f:.2f}" for _, f, _ in points)
        self._send("OUTP:MODE LIST")
        self._in_list = True
        self._send("LIST:BASE TIME")
        self._send(f"LIST:VOLT:AC:STAR {volts}")
        self._send(f"LIST:VOLT:AC:END {volts}")
        self._send(f"LIST:FREQ:STAR {hertz}")
        self._send(f"LIST:FREQ:END {hertz}")
        self._send("LIST:DWEL " + ",".join(f"{d * 1000.0:.1f}" for _, _, d in points))
        self._send("LIST:COUN 1")
        self.drain_errors()
        self._send("TRIG ON")
        started = time.monotonic()
        self.drain_errors()
        state = self.query("TRIG:STATE?").strip().upper()
        if state != "RUNNING":
            raise self._error(
                f"{self._instrument()}: the list did not start: TRIG:STATE? answered {state!r} after TRIG ON "
                "(RUNNING expected)"
            )
        self._list_end = started + sum(d for _, _, d in points)

    # -- helpers -------------------------------------------------------------------------------------------------
    def _finish_list(self) -> None:
        """If a program left LIST mode on: poll ``TRIG:STATE?`` until ``OFF`` (bounded by the program's end plus
        :data:`END_MARGIN_S`), then ``OUTP:MODE FIXED``."""
        if not self._in_list:
            return
        deadline = (self._list_end or time.monotonic()) + self.END_MARGIN_S
        while True:
            state = self.query("TRIG:STATE?").strip().upper()
            if state == "OFF":
                break
            if time.monotonic() >= deadline:
                raise self._error(
                    f"{self._instrument()}: the list still answers TRIG:STATE? {state!r} {self.END_MARGIN_S:g} s "
                    "after its programmed end; stop it with safe_state (TRIG OFF)"
                )
            time.sleep(self.poll_s)
        self._in_list, self._list_end = False, None
        self._send("OUTP:MODE FIXED")
        self.drain_errors()
