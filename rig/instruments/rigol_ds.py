"""Rigol DS1000Z / MSO1000Z and MSO5000 oscilloscopes, SCPI over LAN or USB.

Manuals: Rigol MSO1000Z/DS1000Z Series Digital Oscilloscope Programming Guide (the MSO5000 Series Programming Guide
keeps the same :WAVeform and :MEASure:ITEM model). Every command below, and the manual section or second public
source it was checked against, is listed in docs/bench-protocols.md section 5.2; nothing else is sent.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, ClassVar

from rig.instruments.capabilities import CaptureSetup, Trace
from rig.instruments.scope_common import Preamble, ScopeDriver
from rig.instruments.transport import MessageTransport

if TYPE_CHECKING:
    import numpy.typing as npt


class RigolDs(ScopeDriver):
    """Rigol DS1000Z/MSO1000Z/MSO5000 scope: single-shot edge captures, BYTE waveforms in chunks, :MEAS:ITEM? items.

    Args:
        role: the bench role.
        transport: a MessageTransport; waveforms need one that reads blocks (the visa transport).
        channels: signal name -> ``{channel: 1..channel_count, probe: attenuation}`` (rig.yaml params).
        channel_count: analog inputs of the model (2 or 4).
        waveform_mode: ``NORM`` (the screen's record) or ``RAW`` (the acquisition memory, read in chunks).
        block_termination: whether the scope ends a data block with ``\\n`` (pyvisa's ``expect_termination``).
        poll_s: interval between status polls while waiting for an acquisition, s.
    """

    DRIVER: ClassVar[str] = "rigol_ds"
    VENDORS: ClassVar[tuple[str, ...]] = ("RIGOL TECHNOLOGIES",)
    MODELS: ClassVar[tuple[tuple[str, str], ...]] = (
        (r"DS1\d{3}Z(-S)?( Plus)?", "DS1000Z (DS1054Z, DS1104Z, ... Plus)"),
        (r"MSO1\d{3}Z(-S)?", "MSO1000Z (MSO1074Z, MSO1104Z)"),
        (r"MSO5\d{3}", "MSO5000 (MSO5074, MSO5354, ...)"),
    )
    ERROR_QUERY: ClassVar[str] = ":SYST:ERR?"
    SCALE_V_DIV: ClassVar[tuple[float, float]] = (1e-3, 10.0)
    """Vertical scale at a 1:1 probe (times the probe attenuation), V/div."""
    PROBE: ClassVar[tuple[float, float]] = (1e-4, 5e4)
    TIME_SCALE_S_DIV: ClassVar[tuple[float, float]] = (1e-9, 1000.0)
    CHUNK_POINTS: ClassVar[int] = 250_000
    """Most BYTE points one ``:WAV:DATA?`` returns; longer records are read in ``:WAV:STAR``/``:WAV:STOP`` windows."""
    MODES: ClassVar[tuple[str, ...]] = ("NORM", "RAW")
    DONE: ClassVar[str] = "STOP"
    RUNNING: ClassVar[tuple[str, ...]] = ("WAIT", "TD", "RUN", "AUTO")
    """``:TRIG:STAT?`` answers of an acquisition not finished yet."""

    def __init__(
        self,
        role: str,
        transport: MessageTransport,
        *,
        channels: object = None,
        channel_count: int = 4,
        waveform_mode: str = "NORM",
        block_termination: bool = True,
        poll_s: float = 0.01,
    ) -> None:
        super().__init__(role, transport, channels=channels, channel_count=channel_count, poll_s=poll_s)
        if waveform_mode not in self.MODES:
            raise ValueError(
                f"role {role!r} ({self.DRIVER}): instruments.{role}.params.waveform_mode must be one of "
                f"{self.MODES}, got {waveform_mode!r}"
            )
        self.waveform_mode = waveform_mode
        self.block_termination = bool(block_termination)
        self._window_s = 0.0
        self._armed_at: float | None = None

    # -- configuration -------------------------------------------------------------------------------------------
    def _apply_setup(self, setup: CaptureSetup) -> None:
        """Control: set channels, timebase, acquisition and edge trigger; then drain ``:SYST:ERR?``.

        Raises:
            ValueError: a value out of range (nothing is sent); ConfigError: a signal missing from the channel map.
            InstrumentError: the scope queued an error (listed with the commands sent).
        """
        self._validate(setup, ":CHAN<n>:DISP 1")
        scale_cmd = f":TIM:MAIN:SCAL {setup.time_scale_s_div!r}"
        time_scale = self._checked(setup.time_scale_s_div, *self.TIME_SCALE_S_DIV, "time_scale_s_div", scale_cmd)
        offset_cmd = f":TIM:MAIN:OFFS {setup.time_position_s!r}"
        position = self._checked(setup.time_position_s, -1e6, 1e6, "time_position_s", offset_cmd)
        trigger = self._channel(setup.trigger.signal, ":TRIG:EDGE:SOUR CHAN<n>")
        level_cmd = f":TRIG:EDGE:LEV {setup.trigger.level_v!r}"
        level = self._checked(setup.trigger.level_v, -1e6, 1e6, "trigger level_v", level_cmd)
        vertical: list[tuple[int, str, str, str]] = []
        for s in setup.signals:
            ch = self._channel(s.signal, f":CHAN<n>:SCAL {s.scale_v_div!r}")
            n = ch.number
            probe = self._checked(ch.probe, *self.PROBE, f"probe of {s.signal!r}", f":CHAN{n}:PROB {ch.probe!r}")
            low, high = (limit * ch.probe for limit in self.SCALE_V_DIV)
            scale = self._checked(
                s.scale_v_div, low, high, f"scale_v_div of {s.signal!r}", f":CHAN{n}:SCAL {s.scale_v_div!r}"
            )
            offset = self._checked(s.offset_v, -1e6, 1e6, f"offset_v of {s.signal!r}", f":CHAN{n}:OFFS {s.offset_v!r}")
            vertical.append((n, probe, scale, offset))
        self._sent = []
        for n, probe, scale, offset in vertical:
            self._send(f":CHAN{n}:DISP 1")
            self._send(f":CHAN{n}:PROB {probe}")  # before SCAL: the scale is at the probe tip
            self._send(f":CHAN{n}:SCAL {scale}")
            self._send(f":CHAN{n}:OFFS {offset}")
        self._send(f":TIM:MAIN:SCAL {time_scale}")
        self._send(f":TIM:MAIN:OFFS {position}")
        self._send(":ACQ:TYPE NORM")
        self._send(":TRIG:MODE EDGE")
        self._send(f":TRIG:EDGE:SOUR CHAN{trigger.number}")
        self._send(f":TRIG:EDGE:LEV {level}")
        self._send(f":TRIG:EDGE:SLOP {'POS' if setup.trigger.slope == 'rising' else 'NEG'}")
        self._send(f":TRIG:SWE {'NORM' if setup.trigger.sweep == 'normal' else 'AUTO'}")
        self.drain_errors()
        self._window_s = 12 * setup.time_scale_s_div  # 12 horizontal divisions

    # -- acquisition ---------------------------------------------------------------------------------------------
    def arm(self) -> None:
        """Control: ``:SING`` (single sweep: the scope stops after one triggered acquisition)."""
        self.write(":SING")
        self._armed_at = time.monotonic()

    def wait_triggered(self, timeout_s: float) -> None:
        """Wait until ``:TRIG:STAT?`` answers ``TD`` (triggered) or ``STOP`` after the acquisition ran (it triggered
        and finished). Raises InstrumentError naming the command after ``timeout_s``."""
        seen_running = False

        def done(answer: str) -> bool:
            nonlocal seen_running
            state = answer.strip().upper()
            if state == "TD":
                return True
            if state in self.RUNNING:
                seen_running = True
                return False
            if state != self.DONE:
                raise self._error(f"unexpected answer {answer!r} to :TRIG:STAT? (expected {self.RUNNING} or STOP)")
            return seen_running

        self._wait(":TRIG:STAT?", done, timeout_s, ":TRIG:STAT? not TD")

    def wait_complete(self, timeout_s: float) -> bool:
        """Wait until ``:TRIG:STAT?`` answers ``STOP`` after the acquisition ran; True (a single sweep only ends on a
        trigger). A ``STOP`` before any running state counts only once a screen's time has passed since arming
        (it may still be the state before ``:SING``). Raises InstrumentError naming the command after timeout_s."""
        armed = time.monotonic() if self._armed_at is None else self._armed_at
        seen_running = False

        def done(answer: str) -> bool:
            nonlocal seen_running
            state = answer.strip().upper()
            if state in self.RUNNING:
                seen_running = True
                return False
            if state != self.DONE:
                raise self._error(f"unexpected answer {answer!r} to :TRIG:STAT? (expected {self.RUNNING} or STOP)")
            return seen_running or time.monotonic() - armed >= self._window_s

        self._wait(":TRIG:STAT?", done, timeout_s, ":TRIG:STAT? not STOP")
        return True

    # -- transfer ------------------------------------------------------------------------------------------------
    def read_raw(self, signal: str) -> tuple[str, npt.NDArray[Any]]:
        """Get the preamble text and the raw uint8 codes of ``signal`` (``:WAV:DATA?`` in windows of at most
        250 000 points)."""
        text, _, codes = self._transfer(signal)
        return text, codes

    def read_trace(self, signal: str) -> Trace:
        """Get ``signal`` in volts: V = (code - yorigin - yreference) x yincrement, t = (i - xreference) x
        xincrement + xorigin (s from the trigger)."""
        import numpy as np

        text, pre, codes = self._transfer(signal)
        i = np.arange(codes.size, dtype=np.float64)
        t_s = (i - pre.x_reference) * pre.x_increment + pre.x_origin
        volts = (codes.astype(np.float64) - pre.y_origin - pre.y_reference) * pre.y_increment
        return self._trace(signal, text, t_s, volts)

    def _transfer(self, signal: str) -> tuple[str, Preamble, npt.NDArray[Any]]:
        import numpy as np

        ch = self._channel(signal, ":WAV:SOUR CHAN<n>")
        self.write(f":WAV:SOUR CHAN{ch.number}")
        self.write(f":WAV:MODE {self.waveform_mode}")
        self.write(":WAV:FORM BYTE")
        text, pre = self._preamble(":WAV:PRE?")
        if pre.format_code != 0:
            raise self._error(f"preamble format {pre.format_code} is not BYTE (0)")
        chunks = []
        for start in range(1, pre.points + 1, self.CHUNK_POINTS):
            stop = min(start + self.CHUNK_POINTS - 1, pre.points)
            self.write(f":WAV:STAR {start}")
            self.write(f":WAV:STOP {stop}")
            chunk = self._block(":WAV:DATA?", "B", False, expect_termination=self.block_termination)
            if chunk.size != stop - start + 1:
                raise self._error(f"asked for points {start}..{stop}, the block holds {chunk.size}")
            chunks.append(chunk)
        codes = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.uint8)
        return text, pre, codes

    # -- measurements --------------------------------------------------------------------------------------------
    def _item(self, item: str, signal: str) -> float:
        ch = self._channel(signal, f":MEAS:ITEM? {item},CHAN<n>")
        return self._measure(f":MEAS:ITEM? {item},CHAN{ch.number}")

    def measure_duty_pct(self, signal: str) -> float:
        """Measure the positive duty (``:MEAS:ITEM? PDUT,CHAN<n>`` answers a ratio), % (0..100)."""
        return 100.0 * self._item("PDUT", signal)

    def measure_frequency_hz(self, signal: str) -> float:
        """Measure the frequency (``:MEAS:ITEM? FREQ,CHAN<n>``), Hz."""
        return self._item("FREQ", signal)

    def measure_top_v(self, signal: str) -> float:
        """Measure the top level (``:MEAS:ITEM? VTOP,CHAN<n>``), V."""
        return self._item("VTOP", signal)

    def measure_base_v(self, signal: str) -> float:
        """Measure the base level (``:MEAS:ITEM? VBAS,CHAN<n>``), V."""
        return self._item("VBAS", signal)
