"""Keysight DAQ970A data acquisition system (34937A-style GP switch module in slot 1, analog inputs in slot 2,
pilot digitizer/counter channel 301), SCPI over LAN/USB.

Manual: Keysight DAQ970A/DAQ973A User's Guide and Programming Reference (ROUTe, MEASure, SENSe, FETCh).
Commands used: docs/bench-protocols.md section 3.2.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rig.instruments.capabilities import Edge, PilotReading
from rig.instruments.driver_base import ScpiDriver, check_channel
from rig.instruments.transport import MessageTransport

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


class KeysightDaq970a(ScpiDriver):
    """Keysight DAQ970A: relays (channels 101..116), analog inputs (2nn), pilot measurement and edge log (301).

    Args:
        role: the bench role.
        transport: a MessageTransport.
        relay_count: relays on the switch module (channels 101..100+relay_count).
        analog_count: analog input channels (201..200+analog_count).
    """

    CAPABILITIES: ClassVar[tuple[str, ...]] = ("RelayIo", "PilotCapture")

    def __init__(
        self, role: str, transport: MessageTransport, relay_count: int = 16, analog_count: int = 20, **params: Any
    ) -> None:
        if params:
            raise TypeError(f"{type(self).__name__}: unknown parameters {sorted(params)}")
        super().__init__(role, transport)
        self.relay_count = relay_count
        self.analog_count = analog_count

    PILOT_CHANNEL: ClassVar[str] = "(@301)"
    MAX_SAMPLES: ClassVar[int] = 20000

    @property
    def sample_rate_hz(self) -> float:
        """Get the pilot digitizer's sample rate (``SENS:WAV:SRAT?``), Hz."""
        return self.query_float("SENS:WAV:SRAT?")

    def set_relay(self, channel: int, closed: bool) -> None:
        """Set relay ``channel`` (1..relay_count) closed or open (``ROUT:CLOS|OPEN (@1nn)``)."""
        check_channel(channel, self.relay_count, "relay channel")
        self.write(f"ROUT:{'CLOS' if closed else 'OPEN'} (@1{channel:02d})")

    def relay(self, channel: int) -> bool:
        """Get whether relay ``channel`` (1..relay_count) is closed (``ROUT:CLOS? (@1nn)``)."""
        check_channel(channel, self.relay_count, "relay channel")
        return self.query_bool(f"ROUT:CLOS? (@1{channel:02d})")

    def open_all(self) -> None:
        """Control: open every relay, one ``ROUT:OPEN`` per channel."""
        for channel in range(1, self.relay_count + 1):
            self.write(f"ROUT:OPEN (@1{channel:02d})")

    def analog_input(self, channel: int) -> float:
        """Measure DC volts on analog input ``channel`` (1..analog_count) (``MEAS:VOLT:DC? (@2nn)``), V."""
        check_channel(channel, self.analog_count, "analog channel")
        return self.query_float(f"MEAS:VOLT:DC? (@2{channel:02d})")

    def pilot(self) -> PilotReading:
        """Measure the pilot: frequency (Hz), duty (%), high and low level (V), timestamped on the edge clock (s)."""
        t = self.now_s()
        ch = self.PILOT_CHANNEL
        return PilotReading(
            frequency_hz=self.query_float(f"MEAS:FREQ? {ch}"),
            duty_pct=self.query_float(f"SENS:PWM:DUTY? {ch}"),
            high_v=self.query_float(f"SENS:PWM:HIGH? {ch}"),
            low_v=self.query_float(f"SENS:PWM:LOW? {ch}"),
            t_s=t,
        )

    def now_s(self) -> float:
        """Get the edge-log clock (``SENS:EDGE:TIME?``), s."""
        return self.query_float("SENS:EDGE:TIME?")

    def waveform(self, n: int) -> tuple[npt.NDArray[np.float64], float]:
        """Measure ``n`` pilot samples (1..20000) taken now: (volts as a numpy array, sample rate in Hz)."""
        import numpy as np

        check_channel(n, self.MAX_SAMPLES, "sample count")
        rate = self.sample_rate_hz
        samples = self.query_floats(f"FETC:WAV? {self.PILOT_CHANNEL},{n}")
        if len(samples) != n:
            raise self._error(f"asked for {n} samples, got {len(samples)}")
        return np.asarray(samples, dtype=np.float64), rate

    def edges(self) -> list[Edge]:
        """Get the edges logged since the last clear, oldest first (``SENS:EDGE:COUN?``, ``SENS:EDGE:DATA? n``)."""
        count = self.query_int("SENS:EDGE:COUN?")
        result: list[Edge] = []
        for n in range(count):
            answer = self.query(f"SENS:EDGE:DATA? {n}")
            parts = [p.strip() for p in answer.split(",")]
            try:
                result.append(Edge(parts[0], float(parts[1]), int(float(parts[2]))))
            except (IndexError, ValueError):
                raise self._error(f"expected 'signal,time_s,level' for edge {n}, got {answer!r}") from None
        return result

    def clear_edges(self) -> None:
        """Control: clear the edge log (``SENS:EDGE:CLE``)."""
        self.write("SENS:EDGE:CLE")

    def safe_state(self) -> None:
        """Control: open every relay."""
        self.open_all()
