"""Keysight InfiniiVision 2000 X-, 3000T X- and 4000 X-Series oscilloscopes, SCPI over LAN or USB.

Manuals: Keysight InfiniiVision 2000 X-Series, 3000T X-Series and 4000 X-Series Oscilloscopes Programmer's Guides
(one command set). Every command below, and the manual page or second public source it was checked against, is
listed in docs/bench-protocols.md section 5.1; nothing else is sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rig.instruments.capabilities import CaptureSetup, Trace
from rig.instruments.scope_common import Preamble, ScopeDriver
from rig.instruments.transport import MessageTransport

if TYPE_CHECKING:
    import numpy.typing as npt


class KeysightInfiniiVision(ScopeDriver):
    """Keysight InfiniiVision 2000X/3000T/4000X scope: single-shot edge captures, BYTE/WORD waveforms, duty/freq/levels.

    Args:
        role: the bench role.
        transport: a MessageTransport; waveforms need one that reads blocks (the visa transport).
        channels: signal name -> ``{channel: 1..channel_count, probe: attenuation}`` (rig.yaml params).
        channel_count: analog inputs of the model (2 or 4).
        points: waveform points asked for (``:WAVeform:POINts``, RAW points mode); the scope may send fewer.
        waveform_format: ``BYTE`` (uint8 codes) or ``WORD`` (uint16 codes, most significant byte first).
        poll_s: interval between status polls while waiting for an acquisition, s.
    """

    DRIVER: ClassVar[str] = "keysight_infiniivision"
    VENDORS: ClassVar[tuple[str, ...]] = ("KEYSIGHT TECHNOLOGIES", "AGILENT TECHNOLOGIES")
    MODELS: ClassVar[tuple[tuple[str, str], ...]] = (
        (r"(DSO|MSO)-?X ?2\d{3}A", "2000 X-Series (DSOX2xxxA, MSOX2xxxA)"),
        (r"(DSO|MSO)X3\d{3}T", "3000T X-Series (DSOX3xxxT, MSOX3xxxT)"),
        (r"(DSO|MSO)-?X ?4\d{3}A", "4000 X-Series (DSOX4xxxA, MSOX4xxxA)"),
    )
    ERROR_QUERY: ClassVar[str] = ":SYSTem:ERRor?"
    RUN_BIT: ClassVar[int] = 8
    """Bit 3 (Run) of the Operation Status Condition Register: set while an acquisition is armed or running."""
    SCALE_V_DIV: ClassVar[tuple[float, float]] = (1e-3, 5.0)
    """Vertical scale at a 1:1 probe (times the probe attenuation), V/div."""
    PROBE: ClassVar[tuple[float, float]] = (0.1, 10000.0)
    TIME_SCALE_S_DIV: ClassVar[tuple[float, float]] = (1e-9, 50.0)
    POINTS: ClassVar[tuple[int, int]] = (100, 8_000_000)
    FORMATS: ClassVar[dict[str, tuple[int, str]]] = {"BYTE": (0, "B"), "WORD": (1, "H")}
    """``:WAVeform:FORMat`` -> (preamble format code, struct code of the block's values)."""
    HOLE: ClassVar[int] = 0
    """BYTE code of a sample the scope has no data for."""

    def __init__(
        self,
        role: str,
        transport: MessageTransport,
        *,
        channels: object = None,
        channel_count: int = 4,
        points: int = 1000,
        waveform_format: str = "BYTE",
        poll_s: float = 0.01,
    ) -> None:
        super().__init__(role, transport, channels=channels, channel_count=channel_count, poll_s=poll_s)
        where = f"role {role!r} ({self.DRIVER}): instruments.{role}.params"
        if isinstance(points, bool) or not isinstance(points, int) or not self.POINTS[0] <= points <= self.POINTS[1]:
            raise ValueError(f"{where}.points must be an integer {self.POINTS[0]}..{self.POINTS[1]}, got {points!r}")
        if waveform_format not in self.FORMATS:
            raise ValueError(f"{where}.waveform_format must be one of {sorted(self.FORMATS)}, got {waveform_format!r}")
        self.points = points
        self.waveform_format = waveform_format
        self._triggered = False

    # -- configuration -------------------------------------------------------------------------------------------
    def _apply_setup(self, setup: CaptureSetup) -> None:
        """Control: set channels, timebase, acquisition, edge trigger and transfer; then drain ``:SYSTem:ERRor?``.

        Raises:
            ValueError: a value out of range (nothing is sent); ConfigError: a signal missing from the channel map.
            InstrumentError: the scope queued an error (listed with the commands sent).
        """
        self._validate(setup, ":CHANnel<n>:DISPlay 1")
        scale_cmd = f":TIMebase:SCALe {setup.time_scale_s_div!r}"
        time_scale = self._checked(setup.time_scale_s_div, *self.TIME_SCALE_S_DIV, "time_scale_s_div", scale_cmd)
        position_cmd = f":TIMebase:POSition {setup.time_position_s!r}"
        position = self._checked(setup.time_position_s, -1e6, 1e6, "time_position_s", position_cmd)
        trigger = self._channel(setup.trigger.signal, ":TRIGger:EDGE:SOURce CHANnel<n>")
        level_cmd = f":TRIGger:EDGE:LEVel {setup.trigger.level_v!r}"
        level = self._checked(setup.trigger.level_v, -1e6, 1e6, "trigger level_v", level_cmd)
        vertical: list[tuple[int, str, str, str]] = []
        for s in setup.signals:
            ch = self._channel(s.signal, f":CHANnel<n>:SCALe {s.scale_v_div!r}")
            n = ch.number
            probe = self._checked(ch.probe, *self.PROBE, f"probe of {s.signal!r}", f":CHANnel{n}:PROBe {ch.probe!r}")
            low, high = (limit * ch.probe for limit in self.SCALE_V_DIV)
            scale = self._checked(
                s.scale_v_div, low, high, f"scale_v_div of {s.signal!r}", f":CHANnel{n}:SCALe {s.scale_v_div!r}"
            )
            offset = self._checked(
                s.offset_v, -1e6, 1e6, f"offset_v of {s.signal!r}", f":CHANnel{n}:OFFSet {s.offset_v!r}"
            )
            vertical.append((n, probe, scale, offset))
        self._sent = []
        for n, probe, scale, offset in vertical:
            self._send(f":CHANnel{n}:DISPlay 1")
            self._send(f":CHANnel{n}:PROBe {probe}")  # before SCALe: the scale is at the probe tip
            self._send(f":CHANnel{n}:SCALe {scale}")
            self._send(f":CHANnel{n}:OFFSet {offset}")
        self._send(f":TIMebase:SCALe {time_scale}")
        self._send(f":TIMebase:POSition {position}")
        self._send(":ACQuire:TYPE NORMal")
        self._send(":TRIGger:MODE EDGE")
        self._send(f":TRIGger:EDGE:SOURce CHANnel{trigger.number}")
        self._send(f":TRIGger:EDGE:LEVel {level}")
        self._send(f":TRIGger:EDGE:SLOPe {'POSitive' if setup.trigger.slope == 'rising' else 'NEGative'}")
        self._send(f":TRIGger:SWEep {'NORMal' if setup.trigger.sweep == 'normal' else 'AUTO'}")
        self._send(":WAVeform:POINts:MODE RAW")
        self._send(f":WAVeform:POINts {self.points}")
        self._send(f":WAVeform:FORMat {self.waveform_format}")
        self._send(":WAVeform:UNSigned 1")
        if self.waveform_format == "WORD":
            self._send(":WAVeform:BYTeorder MSBFirst")
        self.drain_errors()

    # -- acquisition ---------------------------------------------------------------------------------------------
    def arm(self) -> None:
        """Control: stop, clear the trigger event register (``:TER?`` reads and clears it), then ``:SINGle``."""
        self.write(":STOP")
        self.query(":TER?")
        self.write(":SINGle")
        self._triggered = False

    def wait_triggered(self, timeout_s: float) -> None:
        """Wait until the armed acquisition's trigger event (``:TER?`` answers 1; reading clears it, so it is
        remembered for :meth:`wait_complete`). Raises InstrumentError naming the command after ``timeout_s``."""
        self._wait(":TER?", self._ter_set, timeout_s, "no trigger event (:TER? still 0)")
        self._triggered = True

    def wait_complete(self, timeout_s: float) -> bool:
        """Wait until bit 3 (Run) of ``:OPERegister:CONDition?`` clears; return ``:TER?`` (a trigger event occurred,
        False after an auto trigger). Raises InstrumentError naming role, address and the command after timeout_s."""
        self._wait(":OPERegister:CONDition?", self._run_bit_clear, timeout_s, "bit 3 (Run) still set")
        triggered = self.query_int(":TER?") == 1 or self._triggered
        self._triggered = False
        return triggered

    def _ter_set(self, answer: str) -> bool:
        try:
            return int(answer.strip().lstrip("+")) == 1
        except ValueError:
            raise self._error(f"expected 0 or 1 in answer to :TER?, got {answer!r}") from None

    def _run_bit_clear(self, answer: str) -> bool:
        try:
            return not int(answer.strip().lstrip("+")) & self.RUN_BIT
        except ValueError:
            raise self._error(f"expected an integer in answer to :OPERegister:CONDition?, got {answer!r}") from None

    # -- transfer ------------------------------------------------------------------------------------------------
    def read_raw(self, signal: str) -> tuple[str, npt.NDArray[Any]]:
        """Get the preamble text and the raw codes (uint8 for BYTE, uint16 for WORD) of ``signal``."""
        text, _, codes = self._transfer(signal)
        return text, codes

    def read_trace(self, signal: str) -> Trace:
        """Get ``signal`` in volts: V = (code - yreference) x yincrement + yorigin, t = (i - xreference) x
        xincrement + xorigin (s from the trigger); BYTE code 0 (no data) becomes NaN."""
        import numpy as np

        text, pre, codes = self._transfer(signal)
        i = np.arange(codes.size, dtype=np.float64)
        t_s = (i - pre.x_reference) * pre.x_increment + pre.x_origin
        volts = (codes.astype(np.float64) - pre.y_reference) * pre.y_increment + pre.y_origin
        if self.waveform_format == "BYTE":
            volts[codes == self.HOLE] = np.nan
        return self._trace(signal, text, t_s, volts)

    def _transfer(self, signal: str) -> tuple[str, Preamble, npt.NDArray[Any]]:
        ch = self._channel(signal, ":WAVeform:SOURce CHANnel<n>")
        self.write(f":WAVeform:SOURce CHANnel{ch.number}")
        text, pre = self._preamble(":WAVeform:PREamble?")
        format_code, datatype = self.FORMATS[self.waveform_format]
        if pre.format_code != format_code:
            raise self._error(f"preamble format {pre.format_code} is not {self.waveform_format} ({format_code})")
        codes = self._block(":WAVeform:DATA?", datatype, is_big_endian=self.waveform_format == "WORD")
        if codes.size != pre.points:
            raise self._error(f"the preamble announces {pre.points} points, the block holds {codes.size}")
        return text, pre, codes

    # -- measurements --------------------------------------------------------------------------------------------
    def measure_duty_pct(self, signal: str) -> float:
        """Measure the positive duty cycle (``:MEASure:DUTYcycle? CHANnel<n>``), % (0..100)."""
        return self._measure(f":MEASure:DUTYcycle? CHANnel{self._channel(signal, ':MEASure:DUTYcycle?').number}")

    def measure_frequency_hz(self, signal: str) -> float:
        """Measure the frequency (``:MEASure:FREQuency? CHANnel<n>``), Hz."""
        return self._measure(f":MEASure:FREQuency? CHANnel{self._channel(signal, ':MEASure:FREQuency?').number}")

    def measure_top_v(self, signal: str) -> float:
        """Measure the top level (``:MEASure:VTOP? CHANnel<n>``), V."""
        return self._measure(f":MEASure:VTOP? CHANnel{self._channel(signal, ':MEASure:VTOP?').number}")

    def measure_base_v(self, signal: str) -> float:
        """Measure the base level (``:MEASure:VBASe? CHANnel<n>``), V."""
        return self._measure(f":MEASure:VBASe? CHANnel{self._channel(signal, ':MEASure:VBASe?').number}")
