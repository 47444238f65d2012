"""The virtual InfiniiVision scope: its SCPI (read and clear, status bits, errors, formats) on a fake clock, and the
real driver reading a synthetic +-12 V 1 kHz PWM back through a TCP socket with pyvisa-py."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from rig.errors import InstrumentError
from rig.instruments import registry
from rig.instruments.capabilities import CaptureSetup, SignalSetup, TriggerSetup
from rig.instruments.keysight_infiniivision import KeysightInfiniiVision
from rig.sim.scope import VirtualInfiniiVision, pwm_source

DUTY = 0.533  # 32 A on the pilot (IEC 61851-1: duty = A / 0.6)
PWM = pwm_source(1, frequency_hz=1000.0, duty=DUTY, high_v=12.0, low_v=-12.0)


class FakeClock:
    def __init__(self) -> None:
        self.t = 10.0

    def __call__(self) -> float:
        return self.t


def lines(scope: VirtualInfiniiVision, *commands: str) -> list[bytes | None]:
    return [scope.handle_line(c) for c in commands]


# -- the SCPI, on a fake clock -------------------------------------------------------------------------------------
def test_single_status_bits_and_ter_read_and_clear() -> None:
    clock = FakeClock()
    scope = VirtualInfiniiVision(PWM, clock=clock, noise_v=0.0)
    lines(scope, ":TIMebase:SCALe 0.0002", ":TRIGger:SWEep NORMal", ":TRIGger:EDGE:LEVel 0")
    assert lines(scope, ":OPERegister:CONDition?", ":TER?") == [b"+0\n", b"+0\n"]
    scope.handle_line(":SINGle")
    assert scope.handle_line(":OPERegister:CONDition?") == b"+40\n"  # Run + Wait Trig: pre-trigger filling
    clock.t += 0.001005  # 1 ms pre-trigger passed, and the rising edge at 10.001 s
    assert scope.handle_line(":OPER:COND?") == b"+8\n"  # triggered, post-trigger part filling
    # 0 V is half-way up the 2 us (10-90 %) ramp the front end makes of the edge: 1.25 us after it
    assert scope._pending is not None and scope._pending.t_trigger == pytest.approx(10.001 + 1.25e-6, abs=1e-7)
    clock.t += 0.001
    assert lines(scope, ":oper:cond?", ":TER?", ":TER?") == [b"+0\n", b"+1\n", b"+0\n"]  # read clears it
    assert scope.last is not None and scope.last.triggered


def test_no_edge_in_normal_sweep_stays_armed_auto_sweep_triggers_itself() -> None:
    clock = FakeClock()
    scope = VirtualInfiniiVision(PWM, clock=clock)
    lines(scope, ":TIMebase:SCALe 0.0002", ":TRIGger:EDGE:LEVel 20", ":TRIGger:SWEep NORMal", ":SINGle")
    clock.t += 1.0
    assert scope.handle_line(":OPERegister:CONDition?") == b"+40\n"
    assert scope.handle_line(":WAVeform:DATA?") is None  # nothing acquired yet
    assert scope.handle_line(":SYSTem:ERRor?") == b'-230,"Data corrupt or stale"\n'
    lines(scope, ":STOP", ":TRIGger:SWEep AUTO", ":SINGle")
    clock.t += 0.05
    assert lines(scope, ":OPERegister:CONDition?", ":TER?") == [b"+0\n", b"+0\n"]  # auto trigger: no event
    assert scope.last is not None and not scope.last.triggered


def test_preamble_and_blocks() -> None:
    clock = FakeClock()
    scope = VirtualInfiniiVision(PWM, clock=clock, noise_v=0.0, rise_time_s=0.0)
    lines(scope, ":CHAN1:SCAL 5", ":CHANnel1:OFFSet 1", ":TIMebase:SCALe 0.0005", ":TIMebase:POSition 0.001")
    lines(scope, ":TRIG:SWE NORM", ":WAV:POIN:MODE RAW", ":WAVeform:POINts 3000", ":SINGle")  # 3000 -> 2000
    clock.t += 0.1
    preamble = scope.handle_line(":WAVeform:PREamble?")
    assert preamble == b"+0,+0,+2000,+1,+2.50000000E-06,-1.50000000E-03,+0,+1.95312500E-01,+1.00000000E+00,+128\n"
    data = scope.handle_line(":WAVeform:DATA?")
    assert data is not None and data[:10] == b"#800002000" and len(data) == 2011 and data.endswith(b"\n")
    codes = np.frombuffer(data[10:-1], dtype=np.uint8)
    assert set(codes.tolist()) == {round(11 / 0.1953125) + 128, round(-13 / 0.1953125) + 128}
    lines(scope, ":WAVeform:FORMat WORD", ":WAVeform:BYTeorder LSBFirst")
    word = scope.handle_line(":WAV:DATA?")
    assert word is not None and word[:10] == b"#800004000"
    assert int.from_bytes(word[10:12], "little") == round(11 / (50 / 65536)) + 32768  # first sample: high
    assert scope.handle_line(
        ":WAV:PRE?",
    ).startswith(b"+1,+0,+2000,")  # type: ignore[union-attr]


def test_errors_as_the_instrument_queues_them() -> None:
    scope = VirtualInfiniiVision(PWM, clock=FakeClock())
    assert scope.handle_line(":MEASure:NOPE? CHANnel1") is None  # unknown query: no answer
    assert (
        lines(scope, ":TRIGger:EDGE:SLOPe SIDEways", ":CHANnel1:SCALe -1", ":CHANnel5:SCALe 1", ":TIMEBASE:SCA 1")
        == [None] * 4
    )
    assert lines(scope, *[":SYSTem:ERRor?"] * 6) == [
        b'-113,"Undefined header"\n',
        b'-224,"Illegal parameter value"\n',
        b'-222,"Data out of range"\n',
        b'-113,"Undefined header"\n',  # channel 5 of a 4-channel scope
        b'-113,"Undefined header"\n',  # neither the short (SCAL) nor the long form (SCALE)
        b'+0,"No error"\n',
    ]
    assert lines(scope, ":TRIG:EDGE:SLOP NEG", ":trigger:edge:slope positive", ":SYST:ERR?") == [
        None,
        None,
        b'+0,"No error"\n',
    ]
    assert scope.handle_line(":MEASure:VTOP? CHANnel1") == b"+9.90000E+37\n"  # no acquisition


# -- the driver through TCP and pyvisa-py -------------------------------------------------------------------------
class ServerThread:
    """The virtual scope's asyncio server on 127.0.0.1 (a port it binds itself) in its own thread and loop."""

    def __init__(self, scope: VirtualInfiniiVision) -> None:
        self.scope = scope
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), name="virtual-scope", daemon=True)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        _, self.port = await self.scope.start("127.0.0.1", 0)
        self._ready.set()
        await self._stop.wait()
        await self.scope.stop()

    def __enter__(self) -> ServerThread:
        self._thread.start()
        assert self._ready.wait(10), "virtual scope did not start"
        return self

    def __exit__(self, *_exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


@pytest.fixture
def served() -> Iterator[tuple[VirtualInfiniiVision, str]]:
    scope = VirtualInfiniiVision(PWM, rise_time_s=2e-6, noise_v=0.05, seed=7)
    with ServerThread(scope) as server:
        yield scope, f"TCPIP0::127.0.0.1::{server.port}::SOCKET"


def open_driver(resource: str, **params: object) -> KeysightInfiniiVision:
    transport = registry.make_transport("visa", "scope", resource=resource, timeout_s=5.0)
    channels = {"cp": {"channel": 1, "probe": 10}, "pe": {"channel": 2, "probe": 1}}
    scope = registry.make_instrument("scope", "keysight_infiniivision", transport, channels=channels, **params)
    assert isinstance(scope, KeysightInfiniiVision)
    return scope


def capture(level_v: float = 0.0, sweep: str = "normal") -> CaptureSetup:
    return CaptureSetup(
        signals=(SignalSetup("cp", 5.0), SignalSetup("pe", 1.0)),
        time_scale_s_div=5e-4,  # 5 ms on screen: five periods
        trigger=TriggerSetup("cp", level_v, "rising", sweep),
    )


def crossings(t: np.ndarray, v: np.ndarray, rising: bool) -> np.ndarray:
    above = v > 0
    idx = np.nonzero(above[1:] & ~above[:-1] if rising else ~above[1:] & above[:-1])[0]
    return t[idx] + (0 - v[idx]) / (v[idx + 1] - v[idx]) * (t[idx + 1] - t[idx])


@pytest.mark.parametrize("waveform_format", ["BYTE", "WORD"])
def test_the_driver_reads_a_pwm_back(served: tuple[VirtualInfiniiVision, str], waveform_format: str) -> None:
    server, resource = served
    scope = open_driver(resource, points=2000, waveform_format=waveform_format)
    try:
        assert scope.identity().model == "DSOX3024T"
        scope.configure(capture())
        scope.arm()
        assert scope.wait_complete(timeout_s=5.0) is True
        text, raw = scope.read_raw("cp")
        assert raw.size == 2000 and raw.dtype.itemsize == (1 if waveform_format == "BYTE" else 2)
        trace = scope.read_trace("cp")
        assert trace.preamble == text and trace.sample_interval_s == pytest.approx(2.5e-6)
        assert trace.t_s[0] == pytest.approx(-2.5e-3) and not np.isnan(trace.volts).any()
        # the samples themselves: levels, a rising edge at the trigger, duty and frequency from the crossings
        assert np.median(trace.volts[trace.volts > 0]) == pytest.approx(12.0, abs=0.15)
        assert np.median(trace.volts[trace.volts < 0]) == pytest.approx(-12.0, abs=0.15)
        rising, falling = crossings(trace.t_s, trace.volts, True), crossings(trace.t_s, trace.volts, False)
        assert np.min(np.abs(rising)) < 5e-6  # triggered on a rising edge through 0 V at t = 0
        period = float(np.mean(np.diff(rising)))
        assert 1 / period == pytest.approx(1000.0, rel=0.005)
        highs = [f - r for r in rising for f in falling[falling > r][:1] if f - r < period]
        assert 100 * np.mean(highs) / period == pytest.approx(100 * DUTY, abs=0.5)
        pe = scope.read_trace("pe")  # the other channel: 0 V and noise
        assert abs(float(np.mean(pe.volts))) < 0.02 and pe.points == 2000
        # the scope's own measurements
        assert scope.measure_duty_pct("cp") == pytest.approx(100 * DUTY, abs=0.3)
        assert scope.measure_frequency_hz("cp") == pytest.approx(1000.0, rel=0.002)
        assert scope.measure_top_v("cp") == pytest.approx(12.0, abs=0.1)
        assert scope.measure_base_v("cp") == pytest.approx(-12.0, abs=0.1)
        with pytest.raises(InstrumentError, match=r"could not measure.*:MEASure:DUTYcycle\? CHANnel2"):
            scope.measure_duty_pct("pe")
    finally:
        scope.close()
    assert ":WAVeform:DATA?" in server.log and server.log.count(":SINGle") == 1


def test_no_trigger_times_out_and_auto_sweep_does_not(served: tuple[VirtualInfiniiVision, str]) -> None:
    _, resource = served
    scope = open_driver(resource, poll_s=0.02)
    try:
        scope.configure(capture(level_v=20.0))  # above the PWM: never crossed
        scope.arm()
        with pytest.raises(InstrumentError, match=r"no acquisition completed within 0\.3 s") as info:
            scope.wait_complete(timeout_s=0.3)
        assert info.value.last_command == ":OPERegister:CONDition?" and info.value.role == "scope"
        scope.configure(capture(level_v=20.0, sweep="auto"))
        scope.arm()
        assert scope.wait_complete(timeout_s=5.0) is False  # it triggered by itself
        assert scope.read_trace("cp").points == 1000
    finally:
        scope.close()


def test_an_unknown_command_is_queued_as_113_and_reported(served: tuple[VirtualInfiniiVision, str]) -> None:
    _, resource = served
    scope = open_driver(resource)
    try:
        scope.transport.write(":TRIGger:HOLDoff 1e-3")  # not modelled: the server queues -113 as the scope does
        with pytest.raises(InstrumentError, match=r'DSOX3024T at .* reported -113,"Undefined header" after: :CHANnel1'):
            scope.configure(capture())
        scope.configure(capture())  # the queue was drained
    finally:
        scope.close()


def test_read_raw_feeds_the_waveform_analysis(served: tuple[VirtualInfiniiVision, str]) -> None:
    """The driver's (preamble text, codes) is what rig.analysis scales; both scalings agree."""
    from rig.analysis.waveform import Preamble, Waveform

    _, resource = served
    scope = open_driver(resource, points=1000)
    try:
        scope.configure(capture())
        scope.arm()
        assert scope.wait_complete(timeout_s=5.0)
        text, raw = scope.read_raw("cp")
        trace = scope.read_trace("cp")
    finally:
        scope.close()
    waveform = Waveform.from_raw(Preamble.from_keysight(text), raw, "CP")
    np.testing.assert_allclose(waveform.t, trace.t_s)
    np.testing.assert_allclose(waveform.v, trace.volts)
