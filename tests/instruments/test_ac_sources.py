"""The AC source drivers: byte-exact dialogues on the scripted transport (docs/bench-protocols.md section 1), then each
driver against its virtual-bench server over TCP (VisaTransport and pyvisa-py) with the plant on simulated time."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from rig.errors import ConfigError, InstrumentError, Unsupported
from rig.instruments import registry
from rig.instruments.ametek_sequoia import AmetekSequoia
from rig.instruments.capabilities import AcSource, Identity, ProgramStep
from rig.instruments.chroma_61500 import Chroma61500
from rig.instruments.keysight_ac6800 import KeysightAc6800
from rig.instruments.scripted import TIMEOUT, MessageEntry, ScriptedMessageTransport, ScriptMismatchError
from rig.sim.virtual_bench import VirtualBench
from tests.sim.manual_clock import ManualClock

ROLE = "ac_source"
ADDRESS = "TCPIP0::10.0.0.5::inst0::INSTR"
NO_ERR: MessageEntry = ("?", "SYST:ERR?", '0,"No error"')
CHROMA_IDN: MessageEntry = ("?", "*IDN?", "Chroma ATE,61604,616040001234,1.20")
SEQUOIA_IDN: MessageEntry = ("?", "*IDN?", "California Instruments,SQ90-3,12345,Rev. 1.00")
AC6800_IDN: MessageEntry = ("?", "*IDN?", "Keysight Technologies,AC6803B,MY59000123,A.01.02")
T = TypeVar("T")


def scripted(script: list[MessageEntry]) -> ScriptedMessageTransport:
    return ScriptedMessageTransport(script, role=ROLE, address=ADDRESS)


def opened(driver: str, script: list[MessageEntry], **params: Any) -> tuple[Any, ScriptedMessageTransport]:
    """The driver built and opened by the registry (``*IDN?`` and the error drain are the script's first entries)."""
    t = scripted(script)
    return registry.make_instrument(ROLE, driver, t, **params), t


def cmd(command: str) -> list[MessageEntry]:
    """A configuration command and the error drain after it."""
    return [(">", command), NO_ERR]


# -- identity, shared by every driver ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("driver", "answer"),
    [
        ("chroma_61500", "Chroma ATE,61512,615120001,1.0"),  # a three-phase 61500: not a 61501-61504
        ("chroma_61500", "Keysight Technologies,AC6803B,MY1,A.01"),
        ("ametek_sequoia", "California Instruments,CSW5550,1,Rev 1.0"),
        ("ametek_sequoia", "Chroma ATE,61604,1,1.0"),
        ("keysight_ac6800", "Keysight Technologies,AC6903H,MY1,A.01"),
        ("keysight_ac6800", "no identity"),
    ],
)
def test_another_model_is_refused_naming_role_address_idn_and_answer(driver: str, answer: str) -> None:
    t = scripted([("?", "*IDN?", answer)])
    with pytest.raises(InstrumentError) as info:
        registry.make_instrument(ROLE, driver, t)
    err = info.value
    assert (err.role, err.address, err.last_command) == (ROLE, ADDRESS, "*IDN?")
    assert f"{driver} does not drive the instrument that answered *IDN? with {answer!r}" in str(err)
    assert not t.is_open  # the registry closes the transport of an instrument that failed to open
    t.assert_done()


def test_errors_queued_before_the_session_are_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="rig.instruments.ac_source_common")
    script = [CHROMA_IDN, ("?", "SYST:ERR?", '-113,"Undefined header"'), NO_ERR]
    src, t = opened("chroma_61500", script)
    assert src.model == "61604" and isinstance(src, AcSource)
    assert 'errors queued before this session (discarded): -113,"Undefined header"' in caplog.text
    t.assert_done()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"max_voltage": 400}, "instruments.ac_source.params.max_voltage must be a number within 0..300 V, got 400"),
        ({"max_current": -1}, "instruments.ac_source.params.max_current must be a positive number of A, got -1"),
        ({"poll_s": 5}, "instruments.ac_source.params.poll_s must be within 0..1 s, got 5"),
    ],
)
def test_bad_params_name_their_rig_yaml_path(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Chroma61500(ROLE, scripted([]), **params)


def test_unknown_param_is_refused_by_the_registry() -> None:
    with pytest.raises(ValueError, match="bad parameters for driver 'ametek_sequoia'"):
        registry.make_instrument(ROLE, "ametek_sequoia", scripted([]), volts=3)


# -- Chroma 61500/61600 ------------------------------------------------------------------------------------------
CHROMA_OPEN = [CHROMA_IDN, NO_ERR]


def test_chroma_setpoints_and_measurements() -> None:
    script = [
        *CHROMA_OPEN,
        *cmd("OUTP ON"),
        ("?", "OUTP?", "1"),
        *cmd("SOUR:VOLT:AC 230.0"),
        ("?", "SOUR:VOLT:AC?", "230.00"),
        *cmd("SOUR:FREQ 50.00"),
        ("?", "SOUR:FREQ?", "50.00"),
        *cmd("SOUR:CURR:LIM 16.00"),
        ("?", "SOUR:CURR:LIM?", "16.00"),
        ("?", "FETC:VOLT:ACDC?", "229.87"),
        ("?", "FETC:CURR:AC?", "15.50"),
        ("?", "FETC:POW:AC?", "3562.10"),
        ("?", "FETC:FREQ?", "50.00"),
        ("?", "*IDN?", "Chroma ATE,61604,616040001234,1.20"),
        *cmd("OUTP OFF"),
    ]
    src, t = opened("chroma_61500", script, max_current=16)
    src.set_output(True)
    assert src.output_on() is True
    src.set_voltage(230)
    assert src.voltage_setpoint == 230.0
    src.set_frequency(50)
    assert src.frequency_setpoint == 50.0
    src.set_current_limit(16)
    assert src.current_limit == 16.0
    assert (src.measure_voltage(), src.measure_current()) == (229.87, 15.5)
    assert (src.measure_power(), src.measure_frequency()) == (3562.1, 50.0)
    assert src.identity() == Identity("Chroma ATE", "61604", "616040001234", "1.20")
    src.set_output(False)
    t.assert_done()


def chroma_program(
    volts: str, hertz: str, dwell_ms: str, setpoints: tuple[str, str] = ("230.00", "50.00")
) -> list[MessageEntry]:
    """The LIST-mode dialogue of one program, up to and including the ``TRIG:STATE?`` confirming it runs."""
    return [
        ("?", "SOUR:VOLT:AC?", setpoints[0]),
        ("?", "SOUR:FREQ?", setpoints[1]),
        (">", "OUTP:MODE LIST"),
        (">", "LIST:BASE TIME"),
        (">", f"LIST:VOLT:AC:STAR {volts}"),
        (">", f"LIST:VOLT:AC:END {volts}"),
        (">", f"LIST:FREQ:STAR {hertz}"),
        (">", f"LIST:FREQ:END {hertz}"),
        (">", f"LIST:DWEL {dwell_ms}"),
        (">", "LIST:COUN 1"),
        NO_ERR,
        (">", "TRIG ON"),
        NO_ERR,
        ("?", "TRIG:STATE?", "RUNNING"),
    ]


def test_chroma_dropout_runs_in_list_mode_then_back_to_fixed() -> None:
    script = [
        *CHROMA_OPEN,
        *chroma_program("0.0,230.0", "50.00,50.00", "20.0,100.0"),
        ("?", "FETC:VOLT:ACDC?", "0.10"),  # measurements go on while the list runs
        # the next setpoint: the list is polled to its end, then fixed mode again
        ("?", "TRIG:STATE?", "RUNNING"),
        ("?", "TRIG:STATE?", "OFF"),
        (">", "OUTP:MODE FIXED"),
        NO_ERR,
        *cmd("SOUR:VOLT:AC 207.0"),
    ]
    src, t = opened("chroma_61500", script, poll_s=0)
    assert src.run_program([ProgramStep(0.0, 0.02)]) is None  # no source reports when its program started
    assert src.list_pending
    assert src.measure_voltage() == 0.1
    src.set_voltage(207)
    assert not src.list_pending
    t.assert_done()


def test_chroma_sag_with_frequency_steps_and_a_second_program() -> None:
    script = [
        *CHROMA_OPEN,
        *chroma_program("230.0,161.0,230.0", "50.00,49.50,50.00", "100.0,500.0,100.0"),
        ("?", "TRIG:STATE?", "OFF"),
        (">", "OUTP:MODE FIXED"),
        NO_ERR,
        *chroma_program("253.0,230.0", "50.00,50.00", "1000.0,100.0"),
    ]
    src, t = opened("chroma_61500", script)
    src.run_program([ProgramStep(230, 0.1), ProgramStep(161, 0.5, frequency=49.5)])
    src.run_program([ProgramStep(253, 1.0)])  # the first one is finished before the second is loaded
    t.assert_done()


def test_chroma_error_queued_by_a_setpoint_names_instrument_and_command() -> None:
    script = [*CHROMA_OPEN, (">", "SOUR:VOLT:AC 230.0"), ("?", "SYST:ERR?", '-222,"Data out of range"'), NO_ERR]
    src, t = opened("chroma_61500", script)
    with pytest.raises(InstrumentError) as info:
        src.set_voltage(230)
    err = info.value
    assert (err.role, err.address) == (ROLE, ADDRESS)
    assert 'chroma_61500 61604 reported -222,"Data out of range" after: SOUR:VOLT:AC 230.0' in str(err)
    t.assert_done()


def test_chroma_error_in_the_loaded_list_stops_before_trig_on_and_fixed_mode_follows() -> None:
    script = [
        *CHROMA_OPEN,
        *chroma_program("0.0,230.0", "50.00,50.00", "20.0,100.0")[:10],
        ("?", "SYST:ERR?", '-221,"Settings conflict"'),
        NO_ERR,
        # the next setpoint leaves list mode first
        ("?", "TRIG:STATE?", "OFF"),
        (">", "OUTP:MODE FIXED"),
        NO_ERR,
        *cmd("SOUR:VOLT:AC 230.0"),
    ]
    src, t = opened("chroma_61500", script)
    with pytest.raises(InstrumentError, match=r"-221,\"Settings conflict\" after: OUTP:MODE LIST; LIST:BASE TIME;"):
        src.run_program([ProgramStep(0.0, 0.02)])
    src.set_voltage(230)
    t.assert_done()


def test_chroma_list_that_does_not_start_is_an_error() -> None:
    script = [*CHROMA_OPEN, *chroma_program("0.0,230.0", "50.00,50.00", "20.0,100.0")[:-1]]
    script.append(("?", "TRIG:STATE?", "OFF"))
    src, t = opened("chroma_61500", script)
    with pytest.raises(InstrumentError, match="the list did not start: TRIG:STATE\\? answered 'OFF' after TRIG ON"):
        src.run_program([ProgramStep(0.0, 0.02)])
    t.assert_done()


def test_chroma_list_still_running_after_its_end_is_an_error() -> None:
    script = [*CHROMA_OPEN, *chroma_program("0.0,230.0", "50.00,50.00", "20.0,100.0")]
    script.append(("?", "TRIG:STATE?", "RUNNING"))
    src, t = opened("chroma_61500", script, poll_s=0)
    src.run_program([ProgramStep(0.0, 0.02)])
    src.END_MARGIN_S = -1.0  # the programmed end plus the margin is past
    with pytest.raises(InstrumentError, match="the list still answers TRIG:STATE\\? 'RUNNING'") as info:
        src.set_voltage(230)
    assert info.value.last_command == "TRIG:STATE?"
    t.assert_done()


def test_chroma_safe_state_stops_the_list_at_once(caplog: pytest.LogCaptureFixture) -> None:
    script = [
        *CHROMA_OPEN,
        *chroma_program("0.0,230.0", "50.00,50.00", "5000.0,100.0"),
        (">", "TRIG OFF"),
        (">", "OUTP:MODE FIXED"),
        (">", "OUTP OFF"),
        ("?", "SYST:ERR?", '-221,"Settings conflict"'),
        NO_ERR,
    ]
    src, t = opened("chroma_61500", script)
    src.run_program([ProgramStep(0.0, 5.0)])
    src.safe_state()  # does not wait for the 5 s list; a queued error is logged, not raised
    assert not src.list_pending
    assert "Settings conflict" in caplog.text
    t.assert_done()


def test_chroma_out_of_range_values_are_refused_before_anything_is_sent() -> None:
    src, t = opened("chroma_61500", CHROMA_OPEN, max_current=16)
    refusals: list[tuple[Callable[[], object], str]] = [
        (lambda: src.set_voltage(301), "voltage must be within 0..300 V rms, got 301; not sent: SOUR:VOLT:AC 301.0"),
        (lambda: src.set_frequency(70), "frequency must be within 45..65 Hz, got 70; not sent: SOUR:FREQ 70.00"),
        (lambda: src.set_current_limit(20), "current limit must be within 0..16 A, got 20; not sent: SOUR:CURR"),
        (lambda: src.set_voltage(float("nan")), "voltage must be a finite number of V rms, got nan"),
        (lambda: src.run_program([]), "a list program needs at least one step"),
        (lambda: src.run_program([ProgramStep(0, 0)]), "step 0 dwell must be within 0.0001..100000 s, got 0"),
        (lambda: src.run_program([ProgramStep(350, 1)]), "step 0 voltage must be within 0..300 V rms, got 350"),
        (lambda: src.run_program([ProgramStep(0, 1, 70)]), "step 0 frequency must be within 45..65 Hz, got 70"),
    ]
    for call, message in refusals:
        with pytest.raises(ValueError, match=r"^role 'ac_source' \(chroma_61500 61604\): ") as info:
            call()
        assert message in str(info.value)
    t.assert_done()


def test_chroma_timeout_and_garbage_name_role_address_and_command() -> None:
    script: list[MessageEntry] = [("?", "FETC:POW:AC?", TIMEOUT), ("?", "OUTP?", "maybe")]
    src = Chroma61500(ROLE, scripted(script))  # queries need no open
    with pytest.raises(InstrumentError) as info:
        src.measure_power()
    assert (info.value.role, info.value.address, info.value.last_command) == (ROLE, ADDRESS, "FETC:POW:AC?")
    with pytest.raises(InstrumentError, match="expected 0 or 1 in answer to 'OUTP\\?', got 'MAYBE'"):
        src.output_on()


def test_an_unexpected_command_fails_the_test() -> None:
    src, t = opened("chroma_61500", [*CHROMA_OPEN, (">", "OUTP ON")])
    with pytest.raises(ScriptMismatchError, match="expected write 'OUTP ON', got write 'OUTP OFF'"):
        src.set_output(False)
    with pytest.raises(ScriptMismatchError):
        t.assert_done()


# -- AMETEK Sequoia ----------------------------------------------------------------------------------------------
SEQUOIA_OPEN = [SEQUOIA_IDN, NO_ERR]


def sequoia_program(volts: str, dwell: str) -> list[MessageEntry]:
    return [
        (">", f"LIST:VOLT {volts}"),
        (">", f"LIST:DWEL {dwell}"),
        (">", "LIST:COUN 1"),
        (">", "LIST:STEP AUTO"),
        (">", "VOLT:MODE LIST"),
        (">", "OUTP:TTLT:STAT ON"),
        (">", "OUTP:TTLT:SOUR BOT"),
        (">", "TRIG:SOUR BUS"),
        NO_ERR,
        (">", "INIT"),
        (">", "*TRG"),
        NO_ERR,
    ]


def test_sequoia_setpoints_measurements_and_what_it_leaves_out() -> None:
    script = [
        *SEQUOIA_OPEN,
        *cmd("OUTP ON"),
        ("?", "OUTP?", "1"),
        *cmd("VOLT 230.0"),
        *cmd("FREQ 50.00"),
        ("?", "MEAS:VOLT:AC?", "229.9"),
        ("?", "MEAS:CURR:AC?", "16.02"),
    ]
    src, t = opened("ametek_sequoia", script)
    assert isinstance(src, AmetekSequoia) and isinstance(src, AcSource) and src.model == "SQ90-3"
    src.set_output(True)
    assert src.output_on()
    src.set_voltage(230)
    src.set_frequency(50)
    assert (src.measure_voltage(), src.measure_current()) == (229.9, 16.02)
    for call in (lambda: src.set_current_limit(16), src.measure_power, src.measure_frequency):
        with pytest.raises(Unsupported, match=r"^instrument 'ac_source' at .*: ametek_sequoia SQ90-3: no "):
            call()
    t.assert_done()


def test_sequoia_dropout_with_trigger_out_then_back_to_fixed() -> None:
    script = [
        *SEQUOIA_OPEN,
        *cmd("VOLT 230.0"),
        *sequoia_program("0.0,230.0", "0.02,0.1"),
        ("?", "MEAS:VOLT:AC?", "0.0"),
        # the next setpoint waits out the list (0.12 s + margin), then fixed mode again
        (">", "VOLT:MODE FIX"),
        NO_ERR,
        *cmd("VOLT 207.0"),
    ]
    src, t = opened("ametek_sequoia", script)
    src.set_voltage(230)
    t0 = time.monotonic()
    src.run_program([ProgramStep(0.0, 0.02)])
    assert src.measure_voltage() == 0.0
    src.set_voltage(207)
    assert time.monotonic() - t0 >= 0.02 + 0.1 + 0.1
    t.assert_done()


def test_sequoia_refusals_before_anything_is_sent() -> None:
    src, t = opened("ametek_sequoia", SEQUOIA_OPEN)
    with pytest.raises(ValueError, match="set_voltage first: a program ends on the voltage setpoint"):
        src.run_program([ProgramStep(0.0, 0.02)])
    with pytest.raises(
        ValueError, match=re.escape("step 0 dwell must be within 0.001..90000 s, got 0.0005; not sent: LIST")
    ):
        src.run_program([ProgramStep(0.0, 0.0005)])
    with pytest.raises(ValueError, match="step 1 has a frequency \\(60 Hz\\): this driver programs voltage lists"):
        src.run_program([ProgramStep(0.0, 0.02), ProgramStep(230.0, 0.02, 60)])
    with pytest.raises(ValueError, match="a list program takes at most 99 steps here, got 100"):
        src.run_program([ProgramStep(0.0, 0.01)] * 100)
    with pytest.raises(ValueError, match=re.escape("voltage must be within 0..300 V rms, got -1; not sent: VOLT -1.0")):
        src.set_voltage(-1)
    t.assert_done()


def test_sequoia_error_after_the_trigger_names_the_commands() -> None:
    script = [*SEQUOIA_OPEN, *cmd("VOLT 230.0"), *sequoia_program("0.0,230.0", "0.02,0.1")[:-1]]
    script += [("?", "SYST:ERR?", '-221,"Settings conflict"'), NO_ERR]
    script += [(">", "ABOR"), (">", "VOLT:MODE FIX"), (">", "OUTP OFF"), NO_ERR]
    src, t = opened("ametek_sequoia", script)
    src.set_voltage(230)
    with pytest.raises(InstrumentError, match='SQ90-3 reported -221,"Settings conflict" after: INIT; \\*TRG '):
        src.run_program([ProgramStep(0.0, 0.02)])
    src.safe_state()  # stops the list at once
    t.assert_done()


# -- Keysight AC6800 ---------------------------------------------------------------------------------------------
AC6800_OPEN = [AC6800_IDN, NO_ERR]


def test_ac6800_setpoints_and_measurements() -> None:
    script = [
        *AC6800_OPEN,
        *cmd("OUTP ON"),
        ("?", "OUTP?", "1"),
        *cmd("VOLT 230.0"),
        ("?", "VOLT?", "+2.30000E+02"),
        *cmd("FREQ 50.00"),
        *cmd("CURR 10.00"),
        ("?", "MEAS:VOLT:AC?", "+2.29870E+02"),
        ("?", "MEAS:CURR:AC?", "+9.80000E+00"),
        ("?", "MEAS:FREQ?", "+5.00000E+01"),
        (">", "OUTP OFF"),
        NO_ERR,
    ]
    src, t = opened("keysight_ac6800", script)
    assert isinstance(src, KeysightAc6800) and isinstance(src, AcSource)
    src.set_output(True)
    assert src.output_on()
    src.set_voltage(230)
    assert src.voltage_setpoint == 230.0
    src.set_frequency(50)
    src.set_current_limit(10)
    assert (src.measure_voltage(), src.measure_current(), src.measure_frequency()) == (229.87, 9.8, 50.0)
    src.safe_state()
    t.assert_done()


def test_ac6800_has_no_list_program() -> None:
    src, t = opened("keysight_ac6800", AC6800_OPEN)
    with pytest.raises(Unsupported) as info:
        src.run_program([ProgramStep(0.0, 0.02)])
    err = info.value
    assert (err.role, err.address) == (ROLE, ADDRESS)
    assert "keysight_ac6800 AC6803B: no list program" in str(err)
    with pytest.raises(Unsupported, match="keysight_ac6800 AC6803B: no power measurement"):
        src.measure_power()
    t.assert_done()


def test_ac6800_queued_error_and_out_of_range() -> None:
    script = [*AC6800_OPEN, (">", "CURR 10.00"), ("?", "SYST:ERR?", '-222,"Data out of range"'), NO_ERR]
    src, t = opened("keysight_ac6800", script, max_voltage=270)
    with pytest.raises(
        ValueError, match=re.escape("voltage must be within 0..270 V rms, got 280; not sent: VOLT 280.0")
    ):
        src.set_voltage(280)
    with pytest.raises(InstrumentError, match=re.escape('AC6803B reported -222,"Data out of range" after: CURR 10.00')):
        src.set_current_limit(10)
    t.assert_done()


# -- each driver against its virtual-bench server, over TCP ------------------------------------------------------
class BenchThread:
    """A :class:`VirtualBench` on simulated time in its own thread and asyncio loop; the driver runs in the test's."""

    def __init__(self, driver: str) -> None:
        self.clock = ManualClock()
        self.bench = VirtualBench({"plant": {"ac_on": False}, "roles": {ROLE: {"driver": driver}}}, clock=self.clock)
        self.port = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self._started = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), name="ac-source-bench", daemon=True)

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.port = (await self.bench.start())["roles"][ROLE]["port"]
        self._started.set()
        await self._stop.wait()
        await self.bench.stop()

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn()`` on the bench's loop (the plant is not thread-safe)."""
        assert self.loop is not None

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=5)

    def advance(self, seconds: float) -> None:
        """Move the plant's simulated time on."""
        self.call(lambda: self.clock.advance(seconds))

    def mains_v(self) -> float:
        return self.call(self.bench.plant.mains_v)

    def __enter__(self) -> BenchThread:
        self._thread.start()
        assert self._started.wait(10), "virtual bench did not start"
        return self

    def __exit__(self, *_exc: object) -> None:
        assert self.loop is not None and self._stop is not None
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


@pytest.fixture
def served(request: pytest.FixtureRequest) -> Iterator[tuple[Any, BenchThread]]:
    """The driver named by the test's parameter, opened on the virtual bench's server for it."""
    with BenchThread(request.param) as bench:
        resource = f"TCPIP0::127.0.0.1::{bench.port}::SOCKET"
        transport = registry.make_transport("visa", ROLE, resource=resource, timeout_s=2.0)
        src = registry.make_instrument(ROLE, request.param, transport, poll_s=0.01)
        try:
            yield src, bench
        finally:
            src.close()


@pytest.mark.parametrize("served", ["chroma_61500"], indirect=True)
def test_chroma_on_its_server(served: tuple[Chroma61500, BenchThread]) -> None:
    src, bench = served
    assert src.model == "61504"
    src.set_voltage(230)
    src.set_frequency(50)
    src.set_current_limit(32)
    src.set_output(True)
    assert src.output_on() and src.measure_voltage() == 230.0 and src.measure_frequency() == 50.0
    src.run_program([ProgramStep(0.0, 0.02)])
    assert bench.mains_v() == 0.0 and src.measure_voltage() == 0.0
    bench.advance(0.02)
    assert src.measure_voltage() == 230.0  # the point back at the setpoint
    assert src.query("TRIG:STATE?") == "RUNNING"
    bench.advance(0.1)
    assert src.query("TRIG:STATE?") == "OFF"
    src.set_voltage(207)  # leaves LIST mode (TRIG:STATE? OFF, OUTP:MODE FIXED), then sets
    assert src.measure_voltage() == 207.0 and not src.list_pending
    src.safe_state()
    assert not src.output_on()


@pytest.mark.parametrize("served", ["ametek_sequoia"], indirect=True)
def test_sequoia_on_its_server_pulses_its_trigger_out_at_the_dropout(
    served: tuple[AmetekSequoia, BenchThread],
) -> None:
    src, bench = served
    src.set_voltage(230)
    src.set_frequency(50)
    src.set_output(True)
    assert src.output_on() and src.measure_voltage() == 230.0
    src.run_program([ProgramStep(0.0, 0.05)])
    server = bench.bench.servers[ROLE]
    start = bench.call(lambda: bench.bench.plant.program_trigger_ns)
    assert server.trigger_out_ns == [start]  # type: ignore[attr-defined]
    assert src.measure_voltage() == 0.0
    bench.advance(0.05)
    assert src.measure_voltage() == 230.0
    bench.advance(0.1)
    src.set_voltage(230)  # waits out the list on the host's clock, then VOLT:MODE FIX
    src.safe_state()
    assert not src.output_on()


@pytest.mark.parametrize("served", ["keysight_ac6800"], indirect=True)
def test_ac6800_on_its_server_which_has_no_list_either(served: tuple[KeysightAc6800, BenchThread]) -> None:
    src, bench = served
    src.set_voltage(230)
    src.set_frequency(50)
    src.set_current_limit(16)
    src.set_output(True)
    assert src.voltage_setpoint == 230.0 and src.measure_voltage() == 230.0 and src.measure_frequency() == 50.0
    with pytest.raises(Unsupported):
        src.run_program([ProgramStep(0.0, 0.02)])
    src._send("LIST:VOLT 0")  # what the invented generic driver used to send
    with pytest.raises(InstrumentError, match='reported -113,"Undefined header" after: LIST:VOLT 0'):
        src.drain_errors()
    src.safe_state()
    assert not src.output_on() and bench.mains_v() == 0.0
