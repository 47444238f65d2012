"""Byte-exact dialogues of the Rigol DS1000Z/MSO5000 driver (docs/bench-protocols.md section 5.2).

Every exchange is played twice (the ``wire`` fixture): on the in-process scripted transport and on a TCP socket
through VisaTransport and pyvisa-py.
"""

from __future__ import annotations

import numpy as np
import pytest

from rig.errors import ConfigError, InstrumentError
from rig.instruments import registry
from rig.instruments.capabilities import CaptureSetup, SignalSetup, TriggerSetup, WaveformCapture
from rig.instruments.rigol_ds import RigolDs
from rig.instruments.scripted import ScriptedMessageTransport
from rig.instruments.scripted_block import BlockEntry, ScriptedBlockTransport
from tests.instruments import scope_dialogues
from tests.instruments.scope_dialogues import ROLE, SCRIPTED_ADDRESS, Wire, WireFactory

wire = scope_dialogues.wire

IDN = b"RIGOL TECHNOLOGIES,DS1104Z,DS1ZA000000001,00.04.04.SP3\n"
PARAMS = {"channels": {"cp": {"channel": 1, "probe": 10}, "contactor": {"channel": 3, "probe": 100}}, "poll_s": 0.0}
SETUP = CaptureSetup(
    signals=(SignalSetup("cp", 5.0, -2.0),),
    time_scale_s_div=5e-4,
    trigger=TriggerSetup("cp", 0.5, slope="falling", sweep="auto"),
    time_position_s=1e-3,
)

OPEN: list[BlockEntry] = [(b"*IDN?\n", IDN), (b"*CLS\n", None)]
CONFIGURE: list[BlockEntry] = [
    (b":CHAN1:DISP 1\n", None),
    (b":CHAN1:PROB 10\n", None),
    (b":CHAN1:SCAL 5\n", None),
    (b":CHAN1:OFFS -2\n", None),
    (b":TIM:MAIN:SCAL 0.0005\n", None),
    (b":TIM:MAIN:OFFS 0.001\n", None),
    (b":ACQ:TYPE NORM\n", None),
    (b":TRIG:MODE EDGE\n", None),
    (b":TRIG:EDGE:SOUR CHAN1\n", None),
    (b":TRIG:EDGE:LEV 0.5\n", None),
    (b":TRIG:EDGE:SLOP NEG\n", None),
    (b":TRIG:SWE AUTO\n", None),
    (b":SYST:ERR?\n", b'0,"No error"\n'),
]
ARM_WAIT: list[BlockEntry] = [
    (b":SING\n", None),
    (b":TRIG:STAT?\n", b"WAIT\n"),
    (b":TRIG:STAT?\n", b"TD\n"),
    (b":TRIG:STAT?\n", b"STOP\n"),
]
PREAMBLE = b"0,0,1200,1,5.000000e-06,-2.000000e-03,0,4.000000e-01,-75,127\n"  # V = (code + 75 - 127) x 0.4
CODES = ([82] * 300 + [22] * 300) * 2  # +12 V / -12 V
CODES[7] = 0x0A  # a line feed inside the payload
SOURCE: list[BlockEntry] = [
    (b":WAV:SOUR CHAN1\n", None),
    (b":WAV:MODE NORM\n", None),
    (b":WAV:FORM BYTE\n", None),
    (b":WAV:PRE?\n", PREAMBLE),
]
DATA: list[BlockEntry] = [
    (b":WAV:STAR 1\n", None),
    (b":WAV:STOP 1200\n", None),
    (b":WAV:DATA?\n", b"#9000001200" + bytes(CODES) + b"\n"),
]


def opened(w: WireFactory, script: list[BlockEntry], **params: object) -> tuple[RigolDs, Wire]:
    wired = w(script, **({"timeout_s": params.pop("timeout_s")} if "timeout_s" in params else {}))
    scope = registry.make_instrument(ROLE, "rigol_ds", wired.transport, **{**PARAMS, **params})
    assert isinstance(scope, RigolDs)
    return scope, wired


def test_capture_dialogue(wire: WireFactory) -> None:
    measure: list[BlockEntry] = [
        (b":MEAS:ITEM? PDUT,CHAN1\n", b"5.330000e-01\n"),  # a ratio, the driver answers percent
        (b":MEAS:ITEM? FREQ,CHAN1\n", b"1.000000e+03\n"),
        (b":MEAS:ITEM? VTOP,CHAN1\n", b"1.200000e+01\n"),
        (b":MEAS:ITEM? VBAS,CHAN3\n", b"-1.200000e+01\n"),
    ]
    scope, wired = opened(wire, OPEN + CONFIGURE + ARM_WAIT + SOURCE + DATA + measure)
    assert isinstance(scope, WaveformCapture)
    assert scope.model == "DS1104Z"
    scope.configure(SETUP)
    scope.arm()
    assert scope.wait_complete(timeout_s=2.0) is True
    trace = scope.read_trace("cp")
    assert trace.points == 1200 and trace.sample_interval_s == pytest.approx(5e-6)
    assert trace.t_s[0] == pytest.approx(-2e-3)
    expected = (np.array(CODES, dtype=float) + 75 - 127) * 0.4
    np.testing.assert_allclose(trace.volts, expected)
    assert trace.volts[0] == pytest.approx(12.0) and trace.volts[300] == pytest.approx(-12.0)
    assert scope.measure_duty_pct("cp") == pytest.approx(53.3)
    assert scope.measure_frequency_hz("cp") == pytest.approx(1000.0)
    assert scope.measure_top_v("cp") == pytest.approx(12.0)
    assert scope.measure_base_v("contactor") == pytest.approx(-12.0)
    scope.close()
    wired.finish()


def test_raw_memory_is_read_in_windows_of_250000_points(wire: WireFactory) -> None:
    points = 600_000
    codes = (np.arange(points) % 251).astype(np.uint8)
    pre = f"0,2,{points},1,1.000000e-08,-3.000000e-03,0,4.000000e-01,-75,127\n".encode()
    script: list[BlockEntry] = [
        *OPEN,
        (b":WAV:SOUR CHAN1\n", None),
        (b":WAV:MODE RAW\n", None),
        (b":WAV:FORM BYTE\n", None),
        (b":WAV:PRE?\n", pre),
    ]
    for start, stop in ((1, 250_000), (250_001, 500_000), (500_001, 600_000)):
        chunk = codes[start - 1 : stop].tobytes()
        script += [
            (f":WAV:STAR {start}\n".encode(), None),
            (f":WAV:STOP {stop}\n".encode(), None),
            (b":WAV:DATA?\n", b"#9" + f"{len(chunk):09d}".encode() + chunk + b"\n"),
        ]
    scope, wired = opened(wire, script, waveform_mode="RAW")
    text, raw = scope.read_raw("cp")
    assert text == pre.decode().strip()
    assert raw.size == points and np.array_equal(raw, codes)
    scope.close()
    wired.finish()


def test_a_stop_before_the_run_counts_only_after_a_screen(wire: WireFactory) -> None:
    """``STOP`` right after ``:SING`` may be the state before arming: it counts once 12 divisions have passed."""
    stale: list[BlockEntry] = [(b":SING\n", None), (b":TRIG:STAT?\n", b"STOP\n"), (b":TRIG:STAT?\n", b"STOP\n")]
    configure = [(b":TIM:MAIN:SCAL 0.05\n", None) if w.startswith(b":TIM:MAIN:SCAL") else (w, a) for w, a in CONFIGURE]
    scope, wired = opened(wire, OPEN + configure + stale, poll_s=0.7)
    scope.configure(CaptureSetup(SETUP.signals, 0.05, SETUP.trigger, 1e-3))  # a screen: 12 x 50 ms < one poll
    scope.arm()
    assert scope.wait_complete(timeout_s=2.0) is True
    scope.close()
    wired.finish()


def test_block_termination_off(wire: WireFactory) -> None:
    """A scope that ends the block without a line feed: ``block_termination: false``."""
    short = [(b":WAV:STAR 1\n", None), (b":WAV:STOP 1200\n", None), (b":WAV:DATA?\n", b"#9000001200" + bytes(CODES))]
    scope, wired = opened(wire, OPEN + SOURCE + short, block_termination=False)
    assert scope.read_raw("cp")[1].size == 1200
    scope.close()
    wired.finish()


# -- refusals and failures -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("idn", "seen"),
    [
        (b"RIGOL TECHNOLOGIES,DS2072A,DS2A000001,00.03.06\n", "DS2072A"),
        (b"KEYSIGHT TECHNOLOGIES,DSOX3024T,MY59100001,07.50\n", "DSOX3024T"),
        (b"RIGOL TECHNOLOGIES,DHO804,DHO8A0001,00.01.02\n", "DHO804"),
    ],
)
def test_another_model_is_refused(wire: WireFactory, idn: bytes, seen: str) -> None:
    wired = wire([(b"*IDN?\n", idn)])
    with pytest.raises(InstrumentError) as info:
        registry.make_instrument(ROLE, "rigol_ds", wired.transport, **PARAMS)
    text = str(info.value)
    assert (info.value.role, info.value.address, info.value.last_command) == (ROLE, wired.transport.address, "*IDN?")
    assert repr(seen) in text and "DS1000Z (DS1054Z, DS1104Z, ... Plus)" in text and "MSO5000" in text
    wired.finish()


def test_accepted_families() -> None:
    from rig.instruments.capabilities import Identity

    scope = RigolDs(ROLE, ScriptedMessageTransport([]))
    for model in ("DS1054Z", "DS1104Z Plus", "DS1104Z-S Plus", "MSO1104Z", "MSO1074Z-S", "MSO5074", "MSO5354"):
        assert scope.accepts(Identity("RIGOL TECHNOLOGIES", model)), model
    for model in ("DS1102E", "DS2072A", "MSO8104", "DHO924S", "DS1054"):
        assert not scope.accepts(Identity("RIGOL TECHNOLOGIES", model)), model


def test_an_error_in_the_queue_names_role_address_and_commands(wire: WireFactory) -> None:
    errors: list[BlockEntry] = [(b":SYST:ERR?\n", b'-221,"Settings conflict"\n'), (b":SYST:ERR?\n", b'0,"No error"\n')]
    scope, wired = opened(wire, OPEN + CONFIGURE[:-1] + errors)
    with pytest.raises(InstrumentError) as info:
        scope.configure(SETUP)
    text = str(info.value)
    assert (info.value.role, info.value.address, info.value.last_command) == (
        ROLE,
        wired.transport.address,
        ":SYST:ERR?",
    )
    assert '-221,"Settings conflict" after: :CHAN1:DISP 1; :CHAN1:PROB 10;' in text and ":TRIG:SWE AUTO" in text
    scope.close()
    wired.finish()


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"#9000001x00" + bytes(CODES) + b"\n", "malformed IEEE 488.2 block"),
        (b"#0" + bytes(CODES) + b"\n", r"asked for points 1\.\.1200, the block holds 0"),  # indefinite: empty
        (b"#9000000010" + bytes(CODES[:10]) + b"\n", r"asked for points 1\.\.1200, the block holds 10"),
    ],
)
def test_bad_block(wire: WireFactory, answer: bytes, message: str) -> None:
    script = OPEN + SOURCE + [(b":WAV:STAR 1\n", None), (b":WAV:STOP 1200\n", None), (b":WAV:DATA?\n", answer)]
    scope, wired = opened(wire, script)
    with pytest.raises(InstrumentError, match=message) as info:
        scope.read_raw("cp")
    assert (info.value.role, info.value.last_command) == (ROLE, ":WAV:DATA?")
    scope.close()
    wired.finish()


def test_short_payload_times_out(wire: WireFactory) -> None:
    short = b"#9000001200" + bytes(CODES[:100]) + b"\n"
    script = OPEN + SOURCE + [(b":WAV:STAR 1\n", None), (b":WAV:STOP 1200\n", None), (b":WAV:DATA?\n", short)]
    scope, wired = opened(wire, script, timeout_s=0.4)
    with pytest.raises(InstrumentError, match=r"timeout after 0\.4 s waiting for the answer") as info:
        scope.read_raw("cp")
    assert info.value.last_command == ":WAV:DATA?"
    scope.close()
    wired.finish()


def test_no_acquisition_within_the_timeout(wire: WireFactory) -> None:
    scope, wired = opened(wire, [*OPEN, (b":SING\n", None), (b":TRIG:STAT?\n", b"WAIT\n")])
    scope.arm()
    with pytest.raises(InstrumentError, match=r"no acquisition completed within 0 s.*:TRIG:STAT\? not STOP") as info:
        scope.wait_complete(timeout_s=0)
    assert (info.value.role, info.value.last_command) == (ROLE, ":TRIG:STAT?")
    scope.close()
    wired.finish()


def test_an_unknown_trigger_status_is_named(wire: WireFactory) -> None:
    scope, wired = opened(wire, [*OPEN, (b":TRIG:STAT?\n", b"ARMED\n")])
    with pytest.raises(InstrumentError, match=r"unexpected answer 'ARMED' to :TRIG:STAT\?"):
        scope.wait_complete(timeout_s=1)
    scope.close()
    wired.finish()


def test_not_measurable_names_the_query(wire: WireFactory) -> None:
    scope, wired = opened(wire, [*OPEN, (b":MEAS:ITEM? PDUT,CHAN1\n", b"9.9E37\n")])
    with pytest.raises(InstrumentError, match="could not measure") as info:
        scope.measure_duty_pct("cp")
    assert info.value.last_command == ":MEAS:ITEM? PDUT,CHAN1"
    scope.close()
    wired.finish()


def scripted_open(**params: object) -> tuple[RigolDs, ScriptedBlockTransport]:
    t = ScriptedBlockTransport(OPEN, role=ROLE, address=SCRIPTED_ADDRESS)
    scope = RigolDs(ROLE, t, **{**PARAMS, **params})  # type: ignore[arg-type]
    scope.open()
    return scope, t


@pytest.mark.parametrize(
    ("setup", "message", "command"),
    [
        (
            CaptureSetup((SignalSetup("cp", 200.0),), 1e-3, TriggerSetup("cp", 0.0)),
            "scale_v_div of 'cp' must be within 0.01..100, got 200",  # 1 mV..10 V/div times the 10:1 probe
            ":CHAN1:SCAL 200.0",
        ),
        (
            CaptureSetup((SignalSetup("cp", 5.0),), -1e-3, TriggerSetup("cp", 0.0)),
            "time_scale_s_div must be within 1e-09..1000, got -0.001",
            ":TIM:MAIN:SCAL -0.001",
        ),
        (
            CaptureSetup((SignalSetup("cp", 5.0),), 1e-3, TriggerSetup("cp", float("inf"))),
            "trigger level_v must be a finite number, got inf",
            ":TRIG:EDGE:LEV inf",
        ),
        (
            CaptureSetup((SignalSetup("cp", 5.0),), 1e-3, TriggerSetup("cp", 0.0, sweep="single")),
            "trigger sweep must be one of ('normal', 'auto'), got 'single'",
            ":CHAN<n>:DISP 1",
        ),
    ],
)
def test_value_out_of_range_names_role_instrument_and_command(setup: CaptureSetup, message: str, command: str) -> None:
    scope, t = scripted_open()
    with pytest.raises(ValueError) as info:
        scope.configure(setup)
    text = str(info.value)
    assert text.startswith(f"role 'scope' (rigol_ds DS1104Z at {SCRIPTED_ADDRESS}): ")
    assert message in text and text.endswith(f"not sent: {command}")
    t.assert_done()


def test_unmapped_signal_names_role_instrument_and_command() -> None:
    scope, t = scripted_open()
    with pytest.raises(ConfigError) as info:
        scope.measure_top_v("pe")
    text = str(info.value)
    assert f"role 'scope' (rigol_ds DS1104Z at {SCRIPTED_ADDRESS}): no channel for signal 'pe'" in text
    assert text.endswith(r"not sent: :MEAS:ITEM? VTOP,CHAN<n>")
    with pytest.raises(ConfigError, match="not sent: :CHAN<n>:DISP 1"):
        scope.configure(CaptureSetup((SignalSetup("pe", 1.0),), 1e-3, TriggerSetup("pe", 0.0)))
    t.assert_done()


def test_params_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"role 'scope' \(rigol_ds\): .*channels\.cp\.probe is missing"):
        RigolDs(ROLE, ScriptedMessageTransport([]), channels={"cp": {"channel": 1}})
    with pytest.raises(ValueError, match=r"params\.waveform_mode must be one of \('NORM', 'RAW'\), got 'MAX'"):
        RigolDs(ROLE, ScriptedMessageTransport([]), waveform_mode="MAX")
    with pytest.raises(ConfigError, match=r"params\.channel_count must be 1, 2 or 4, got 3"):
        RigolDs(ROLE, ScriptedMessageTransport([]), channel_count=3)
