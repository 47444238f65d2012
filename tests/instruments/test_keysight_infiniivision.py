"""Byte-exact dialogues of the Keysight InfiniiVision driver (docs/bench-protocols.md section 5.1).

Every exchange is played twice (the ``wire`` fixture): on the in-process scripted transport and on a TCP socket
through VisaTransport and pyvisa-py, so the bytes below are the bytes on the wire, IEEE 488.2 blocks included.
"""

from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest

from rig.errors import ConfigError, InstrumentError
from rig.instruments import registry
from rig.instruments.capabilities import CaptureSetup, SignalSetup, TriggerSetup, WaveformCapture
from rig.instruments.keysight_infiniivision import KeysightInfiniiVision
from rig.instruments.scripted import TIMEOUT, ScriptedMessageTransport
from rig.instruments.scripted_block import BlockEntry, ScriptedBlockTransport
from rig.instruments.visa_transport import VisaTransport
from tests.instruments import scope_dialogues
from tests.instruments.scope_dialogues import ROLE, SCRIPTED_ADDRESS, Wire, WireFactory

wire = scope_dialogues.wire

IDN = b"KEYSIGHT TECHNOLOGIES,DSOX3024T,MY59100001,07.50.2021102830\n"
CHANNELS = {"cp": {"channel": 1, "probe": 10}, "contactor": {"channel": 2, "probe": 100}}
PARAMS = {"channels": CHANNELS, "points": 1000, "poll_s": 0.0}
SETUP = CaptureSetup(
    signals=(SignalSetup("cp", 5.0), SignalSetup("contactor", 100.0, 50.0)),
    time_scale_s_div=2e-4,
    trigger=TriggerSetup("cp", 1.0),
)

OPEN: list[BlockEntry] = [(b"*IDN?\n", IDN), (b"*CLS\n", None)]
CONFIGURE: list[BlockEntry] = [
    (b":CHANnel1:DISPlay 1\n", None),
    (b":CHANnel1:PROBe 10\n", None),
    (b":CHANnel1:SCALe 5\n", None),
    (b":CHANnel1:OFFSet 0\n", None),
    (b":CHANnel2:DISPlay 1\n", None),
    (b":CHANnel2:PROBe 100\n", None),
    (b":CHANnel2:SCALe 100\n", None),
    (b":CHANnel2:OFFSet 50\n", None),
    (b":TIMebase:SCALe 0.0002\n", None),
    (b":TIMebase:POSition 0\n", None),
    (b":ACQuire:TYPE NORMal\n", None),
    (b":TRIGger:MODE EDGE\n", None),
    (b":TRIGger:EDGE:SOURce CHANnel1\n", None),
    (b":TRIGger:EDGE:LEVel 1\n", None),
    (b":TRIGger:EDGE:SLOPe POSitive\n", None),
    (b":TRIGger:SWEep NORMal\n", None),
    (b":WAVeform:POINts:MODE RAW\n", None),
    (b":WAVeform:POINts 1000\n", None),
    (b":WAVeform:FORMat BYTE\n", None),
    (b":WAVeform:UNSigned 1\n", None),
]
NO_ERROR: list[BlockEntry] = [(b":SYSTem:ERRor?\n", b'+0,"No error"\n')]
ARM: list[BlockEntry] = [(b":STOP\n", None), (b":TER?\n", b"+0\n"), (b":SINGle\n", None)]
WAIT: list[BlockEntry] = [
    (b":OPERegister:CONDition?\n", b"+40\n"),  # Run + Wait Trig
    (b":OPERegister:CONDition?\n", b"+8\n"),  # Run: triggered, filling the record
    (b":OPERegister:CONDition?\n", b"+0\n"),
    (b":TER?\n", b"+1\n"),
]
PREAMBLE = b"+0,+0,+1000,+1,+2.00000000E-06,-1.00000000E-03,+0,+1.95312500E-01,+0.00000000E+00,+128\n"
HIGH, LOW = 189, 67  # (code - 128) x 0.1953125 V = +11.91 / -11.91 V
CODES = [LOW] * 233 + [HIGH] * 533 + [LOW] * 234
CODES[100] = 0x0A  # a line feed inside the payload: the length field, not the terminator, ends the block
CODES[500] = 0x00  # no data at this point
PAYLOAD = bytes(CODES)
SOURCE_CP: list[BlockEntry] = [(b":WAVeform:SOURce CHANnel1\n", None), (b":WAVeform:PREamble?\n", PREAMBLE)]
DATA = b"#800001000" + PAYLOAD + b"\n"


def opened(w: WireFactory, script: list[BlockEntry], **params: object) -> tuple[KeysightInfiniiVision, Wire]:
    wired = w(script, **({"timeout_s": params.pop("timeout_s")} if "timeout_s" in params else {}))
    scope = registry.make_instrument(ROLE, "keysight_infiniivision", wired.transport, **{**PARAMS, **params})
    assert isinstance(scope, KeysightInfiniiVision)
    return scope, wired


def test_capture_dialogue(wire: WireFactory) -> None:
    """Open, configure, arm, wait, read one channel and the four measurements: every byte both ways."""
    measure: list[BlockEntry] = [
        (b":MEASure:DUTYcycle? CHANnel1\n", b"+5.33000E+01\n"),
        (b":MEASure:FREQuency? CHANnel1\n", b"+1.00000E+03\n"),
        (b":MEASure:VTOP? CHANnel1\n", b"+1.19000E+01\n"),
        (b":MEASure:VBASe? CHANnel1\n", b"-1.19000E+01\n"),
    ]
    script = OPEN + CONFIGURE + NO_ERROR + ARM + WAIT + SOURCE_CP + [(b":WAVeform:DATA?\n", DATA)] + measure
    scope, wired = opened(wire, script)
    assert isinstance(scope, WaveformCapture)
    assert scope.model == "DSOX3024T" and scope.signals() == ("cp", "contactor")
    scope.configure(SETUP)
    scope.arm()
    assert scope.wait_complete(timeout_s=2.0) is True
    trace = scope.read_trace("cp")
    assert trace.preamble == PREAMBLE.decode().strip()
    assert trace.points == 1000 and trace.sample_interval_s == pytest.approx(2e-6)
    assert trace.t_s[0] == pytest.approx(-1e-3) and trace.t_s[-1] == pytest.approx(-1e-3 + 999 * 2e-6)
    expected = (np.array(CODES, dtype=float) - 128) * 0.1953125
    expected[500] = np.nan
    np.testing.assert_allclose(trace.volts, expected, equal_nan=True)
    assert trace.volts[300] == pytest.approx(11.9140625)
    assert scope.measure_duty_pct("cp") == pytest.approx(53.3)
    assert scope.measure_frequency_hz("cp") == pytest.approx(1000.0)
    assert scope.measure_top_v("cp") == pytest.approx(11.9)
    assert scope.measure_base_v("cp") == pytest.approx(-11.9)
    scope.close()
    wired.finish()


def test_read_raw_is_the_preamble_text_and_the_codes(wire: WireFactory) -> None:
    scope, wired = opened(wire, OPEN + SOURCE_CP + [(b":WAVeform:DATA?\n", DATA)])
    text, codes = scope.read_raw("cp")
    assert text == PREAMBLE.decode().strip()
    assert codes.dtype == np.uint8 and codes.tobytes() == PAYLOAD
    scope.close()
    wired.finish()


def test_word_format_is_unsigned_msb_first(wire: WireFactory) -> None:
    configure = [*CONFIGURE[:-2], (b":WAVeform:FORMat WORD\n", None), (b":WAVeform:UNSigned 1\n", None)]
    configure.append((b":WAVeform:BYTeorder MSBFirst\n", None))
    preamble = b"+1,+0,+4,+1,+5.00000000E-04,-1.00000000E-03,+0,+7.62939453E-04,+2.00000000E+00,+32768\n"
    read: list[BlockEntry] = [
        (b":WAVeform:SOURce CHANnel1\n", None),
        (b":WAVeform:PREamble?\n", preamble),
        (b":WAVeform:DATA?\n", b"#800000008\x80\x00\x0a\x0a\xff\xff\x00\x01\n"),
    ]
    scope, wired = opened(wire, OPEN + configure + NO_ERROR + read, waveform_format="WORD")
    scope.configure(SETUP)
    _, codes = scope.read_raw("cp")
    assert (codes.dtype.kind, codes.dtype.itemsize) == ("u", 2)
    assert codes.tolist() == [32768, 2570, 65535, 1]  # read little-endian: 128, 2570, 65535, 256
    scope.close()
    wired.finish()


# -- refusals and failures -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("idn", "seen"),
    [
        (b"KEYSIGHT TECHNOLOGIES,EDUX1052A,CN60000001,02.12\n", "EDUX1052A"),
        (b"RIGOL TECHNOLOGIES,DS1104Z,DS1ZA0000001,00.04.04.SP3\n", "DS1104Z"),
        (b"KEYSIGHT TECHNOLOGIES,DSOX3024A,MY50000001,02.50\n", "DSOX3024A"),  # 3000 X without T
    ],
)
def test_another_model_is_refused(wire: WireFactory, idn: bytes, seen: str) -> None:
    wired = wire([(b"*IDN?\n", idn)])
    with pytest.raises(InstrumentError) as info:
        registry.make_instrument(ROLE, "keysight_infiniivision", wired.transport, **PARAMS)
    text = str(info.value)
    assert info.value.role == ROLE and info.value.address == wired.transport.address
    assert info.value.last_command == "*IDN?"
    assert repr(seen) in text and "3000T X-Series (DSOX3xxxT, MSOX3xxxT)" in text and "2000 X-Series" in text
    assert not wired.transport.is_open  # type: ignore[attr-defined]
    wired.finish()


def test_accepted_families() -> None:
    scope = KeysightInfiniiVision(ROLE, ScriptedMessageTransport([]))
    for model in ("DSOX2024A", "DSO-X 2024A", "MSO-X 2014A", "DSOX3034T", "MSOX3104T", "DSOX4154A", "MSOX4024A"):
        assert scope.accepts(scope_identity("KEYSIGHT TECHNOLOGIES", model)), model
    assert scope.accepts(scope_identity("AGILENT TECHNOLOGIES", "DSO-X 2002A"))
    for model in ("DSOX1204G", "DSOX3024A", "DSOX6004A", "DSOX3024TX", "dsox3024t"):
        assert not scope.accepts(scope_identity("KEYSIGHT TECHNOLOGIES", model)), model
    assert not scope.accepts(scope_identity("TEKTRONIX", "DSOX3024T"))


def scope_identity(vendor: str, model: str) -> object:
    from rig.instruments.capabilities import Identity

    return Identity(vendor, model)


def test_an_error_in_the_queue_names_role_address_and_commands(wire: WireFactory) -> None:
    errors: list[BlockEntry] = [
        (b":SYSTem:ERRor?\n", b'-222,"Data out of range"\n'),
        (b":SYSTem:ERRor?\n", b'-113,"Undefined header"\n'),
        (b":SYSTem:ERRor?\n", b'+0,"No error"\n'),
    ]
    scope, wired = opened(wire, OPEN + CONFIGURE + errors)
    with pytest.raises(InstrumentError) as info:
        scope.configure(SETUP)
    text = str(info.value)
    assert info.value.role == ROLE and info.value.address == wired.transport.address
    assert info.value.last_command == ":SYSTem:ERRor?"
    assert '-222,"Data out of range"; -113,"Undefined header"' in text
    assert ":CHANnel1:SCALe 5" in text and ":WAVeform:UNSigned 1" in text
    scope.close()
    wired.finish()


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"#8000x1000" + PAYLOAD + b"\n", "malformed IEEE 488.2 block"),  # length field not digits
        (b"#A" + PAYLOAD + b"\n", "malformed IEEE 488.2 block"),  # header length digit not 1..9
        (b'-113,"Undefined header"\n', "malformed IEEE 488.2 block"),  # text where a block belongs
    ],
)
def test_malformed_block(wire: WireFactory, answer: bytes, message: str) -> None:
    scope, wired = opened(wire, OPEN + SOURCE_CP + [(b":WAVeform:DATA?\n", answer)])
    with pytest.raises(InstrumentError, match=message) as info:
        scope.read_raw("cp")
    assert (info.value.role, info.value.last_command) == (ROLE, ":WAVeform:DATA?")
    assert info.value.address == wired.transport.address
    scope.close()
    wired.finish()


def test_short_payload_times_out_naming_the_command(wire: WireFactory) -> None:
    short = b"#800001000" + PAYLOAD[:10] + b"\n"  # the header announces 1000 bytes, 11 come
    scope, wired = opened(wire, OPEN + SOURCE_CP + [(b":WAVeform:DATA?\n", short)], timeout_s=0.4)
    with pytest.raises(InstrumentError, match=r"timeout after 0\.4 s waiting for the answer") as info:
        scope.read_raw("cp")
    assert (info.value.role, info.value.last_command) == (ROLE, ":WAVeform:DATA?")
    scope.close()
    wired.finish()


def test_block_shorter_than_the_preamble(wire: WireFactory) -> None:
    scope, wired = opened(wire, OPEN + SOURCE_CP + [(b":WAVeform:DATA?\n", b"#800000010" + PAYLOAD[:10] + b"\n")])
    with pytest.raises(InstrumentError, match="the preamble announces 1000 points, the block holds 10") as info:
        scope.read_raw("cp")
    assert info.value.last_command == ":WAVeform:DATA?"
    scope.close()
    wired.finish()


def test_preamble_not_ten_numbers(wire: WireFactory) -> None:
    bad: list[BlockEntry] = [(b":WAVeform:SOURce CHANnel1\n", None), (b":WAVeform:PREamble?\n", b"+0,+0,+1000\n")]
    scope, wired = opened(wire, OPEN + bad)
    with pytest.raises(InstrumentError, match="expected 10 comma-separated preamble numbers") as info:
        scope.read_trace("cp")
    assert info.value.last_command == ":WAVeform:PREamble?"
    scope.close()
    wired.finish()


def test_no_acquisition_within_the_timeout(wire: WireFactory) -> None:
    scope, wired = opened(wire, OPEN + ARM + [(b":OPERegister:CONDition?\n", b"+40\n")])
    scope.arm()
    with pytest.raises(InstrumentError, match=r"no acquisition completed within 0 s.*bit 3 \(Run\)") as info:
        scope.wait_complete(timeout_s=0)
    assert (info.value.role, info.value.last_command) == (ROLE, ":OPERegister:CONDition?")
    assert info.value.address == wired.transport.address
    scope.close()
    wired.finish()


def test_an_auto_trigger_is_reported(wire: WireFactory) -> None:
    script = [*OPEN, (b":OPERegister:CONDition?\n", b"+0\n"), (b":TER?\n", b"+0\n")]
    scope, wired = opened(wire, script)
    assert scope.wait_complete(timeout_s=1.0) is False
    scope.close()
    wired.finish()


def test_not_measurable_names_the_query(wire: WireFactory) -> None:
    scope, wired = opened(wire, [*OPEN, (b":MEASure:DUTYcycle? CHANnel1\n", b"+9.90000E+37\n")])
    with pytest.raises(InstrumentError, match=r"could not measure \(9\.9e\+37\)") as info:
        scope.measure_duty_pct("cp")
    assert info.value.last_command == ":MEASure:DUTYcycle? CHANnel1"
    scope.close()
    wired.finish()


def test_silence_times_out(wire: WireFactory) -> None:
    scope, wired = opened(wire, [*OPEN, (b":MEASure:VTOP? CHANnel2\n", TIMEOUT)], timeout_s=0.3)
    with pytest.raises(InstrumentError, match=r"timeout after 0\.3 s") as info:
        scope.measure_top_v("contactor")
    assert info.value.last_command == ":MEASure:VTOP? CHANnel2"
    scope.close()
    wired.finish()


# -- bad input: refused before anything is sent --------------------------------------------------------------------
def scripted_open(**params: object) -> tuple[KeysightInfiniiVision, ScriptedBlockTransport]:
    t = ScriptedBlockTransport(OPEN, role=ROLE, address=SCRIPTED_ADDRESS)
    scope = KeysightInfiniiVision(ROLE, t, **{**PARAMS, **params})  # type: ignore[arg-type]
    scope.open()
    return scope, t


@pytest.mark.parametrize(
    ("setup", "message", "command"),
    [
        (
            CaptureSetup((SignalSetup("cp", 5.0),), 0.0, TriggerSetup("cp", 0.0)),
            "time_scale_s_div must be within 1e-09..50, got 0",
            ":TIMebase:SCALe 0.0",
        ),
        (
            CaptureSetup((SignalSetup("cp", 100.0),), 1e-3, TriggerSetup("cp", 0.0)),
            "scale_v_div of 'cp' must be within 0.01..50, got 100",  # 1 mV..5 V/div times the 10:1 probe
            ":CHANnel1:SCALe 100.0",
        ),
        (
            CaptureSetup((SignalSetup("cp", 5.0, float("nan")),), 1e-3, TriggerSetup("cp", 0.0)),
            "offset_v of 'cp' must be a finite number, got nan",
            ":CHANnel1:OFFSet nan",
        ),
        (
            CaptureSetup((SignalSetup("cp", 5.0),), 1e-3, TriggerSetup("cp", 0.0, slope="up")),
            "trigger slope must be one of ('rising', 'falling'), got 'up'",
            ":CHANnel<n>:DISPlay 1",
        ),
        (
            CaptureSetup((SignalSetup("cp", 5.0),), 1e-3, TriggerSetup("contactor", 0.0)),
            "the trigger signal 'contactor' is not among ['cp']",
            ":CHANnel<n>:DISPlay 1",
        ),
    ],
)
def test_value_out_of_range_names_role_instrument_and_command(setup: CaptureSetup, message: str, command: str) -> None:
    scope, t = scripted_open()
    with pytest.raises(ValueError) as info:
        scope.configure(setup)
    text = str(info.value)
    assert text.startswith(f"role 'scope' (keysight_infiniivision DSOX3024T at {SCRIPTED_ADDRESS}): ")
    assert message in text and text.endswith(f"not sent: {command}")
    t.assert_done()  # nothing was sent


def test_unmapped_signal_names_role_instrument_and_command() -> None:
    scope, t = scripted_open()
    with pytest.raises(ConfigError) as info:
        scope.read_raw("pp")
    text = str(info.value)
    assert f"role 'scope' (keysight_infiniivision DSOX3024T at {SCRIPTED_ADDRESS})" in text
    assert "no channel for signal 'pp' in rig.yaml instruments.scope.params.channels (mapped: contactor, cp)" in text
    assert text.endswith("not sent: :WAVeform:SOURce CHANnel<n>")
    with pytest.raises(ConfigError, match=r"not sent: :MEASure:FREQuency\?"):
        scope.measure_frequency_hz("pp")
    t.assert_done()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"channels": {"cp": {"channel": 1}}}, r"instruments\.scope\.params\.channels\.cp\.probe is missing"),
        ({"channels": {"cp": {"probe": 10}}}, r"instruments\.scope\.params\.channels\.cp\.channel is missing"),
        ({"channels": {"cp": {"channel": 5, "probe": 10}}}, r"channels\.cp\.channel must be 1\.\.4, got 5"),
        ({"channels": {"cp": {"channel": 3, "probe": 10}}, "channel_count": 2}, r"must be 1\.\.2, got 3"),
        ({"channels": {"cp": {"channel": 1, "probe": 0}}}, r"channels\.cp\.probe must be a positive"),
        ({"channels": {"cp": {"channel": 1, "probe": 10, "gain": 2}}}, r"unknown keys \['gain'\]"),
        (
            {"channels": {"cp": {"channel": 1, "probe": 10}, "pe": {"channel": 1, "probe": 1}}},
            r"'cp' and 'pe' are both on channel 1",
        ),
        ({"channels": ["cp"]}, r"params\.channels must map signal names"),
    ],
)
def test_channel_params_are_checked(params: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        KeysightInfiniiVision(ROLE, ScriptedMessageTransport([]), **params)  # type: ignore[arg-type]
    assert str(info.value).startswith("role 'scope' (keysight_infiniivision): ")


def test_other_params_are_checked() -> None:
    with pytest.raises(ValueError, match=r"params\.points must be an integer 100\.\.8000000, got 50"):
        KeysightInfiniiVision(ROLE, ScriptedMessageTransport([]), points=50)
    with pytest.raises(ValueError, match=r"params\.waveform_format must be one of \['BYTE', 'WORD'\]"):
        KeysightInfiniiVision(ROLE, ScriptedMessageTransport([]), waveform_format="ASCii")
    with pytest.raises(ValueError, match="bad parameters for driver 'keysight_infiniivision'"):
        registry.make_instrument(ROLE, "keysight_infiniivision", ScriptedMessageTransport([]), probe=10)


def test_a_transport_without_blocks_is_named() -> None:
    t = ScriptedMessageTransport(
        [
            ("?", "*IDN?", IDN.decode().strip()),
            (">", "*CLS"),
            (">", ":WAVeform:SOURce CHANnel1"),
            ("?", ":WAVeform:PREamble?", PREAMBLE.decode().strip()),
        ],
        role=ROLE,
    )
    scope = registry.make_instrument(ROLE, "keysight_infiniivision", t, **PARAMS)
    assert isinstance(scope, KeysightInfiniiVision)
    with pytest.raises(InstrumentError, match="ScriptedMessageTransport transport cannot read binary blocks"):
        scope.read_raw("cp")
    t.assert_done()


def test_safe_state_sends_nothing() -> None:
    scope, t = scripted_open()
    scope.safe_state()
    t.assert_done()


def test_connection_lost_in_the_middle_of_a_block_times_out() -> None:
    """The scope closes its socket after 10 of 1000 bytes: a timeout naming the command, not a hang."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def scope_side() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(100)
            conn.sendall(b"#800001000" + PAYLOAD[:10])

    peer = threading.Thread(target=scope_side, name="closing-scope", daemon=True)
    peer.start()
    t = VisaTransport(ROLE, f"TCPIP0::127.0.0.1::{port}::SOCKET", timeout_s=0.5)
    try:
        t.open()
        started = time.monotonic()
        with pytest.raises(InstrumentError, match=r"timeout after 0\.5 s waiting for the answer") as info:
            t.query_binary_values(":WAVeform:DATA?", "B", False)
        assert info.value.last_command == ":WAVeform:DATA?"
        assert time.monotonic() - started < 3.0
    finally:
        t.close()
        peer.join(5)
        listener.close()


def test_a_status_that_is_not_a_number_is_named(wire: WireFactory) -> None:
    scope, wired = opened(wire, [*OPEN, (b":OPERegister:CONDition?\n", b"RUN\n")])
    with pytest.raises(InstrumentError, match="expected an integer in answer to :OPERegister:CONDition") as info:
        scope.wait_complete(timeout_s=1.0)
    assert info.value.last_command == ":OPERegister:CONDition?"
    scope.close()
    wired.finish()


def test_a_pilot_capture_that_straddles_a_change_is_taken_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """Levels apart but no full period measurable (the PWM started during the capture): one more capture; a second
    such capture raises the InstrumentFault (the instrument answered: no loss)."""
    from rig.errors import InstrumentFault

    scope, _t = scripted_open()
    captures: list[int] = []
    monkeypatch.setattr(scope, "configure", lambda _setup: None)
    monkeypatch.setattr(scope, "arm", lambda: captures.append(1))
    monkeypatch.setattr(scope, "wait_complete", lambda _timeout: True)
    monkeypatch.setattr(scope, "measure_top_v", lambda _signal: 9.0)
    monkeypatch.setattr(scope, "measure_base_v", lambda _signal: -12.0)
    answers: list[float | None] = [None, 1000.0]

    def frequency(_signal: str) -> float:
        value = answers.pop(0)
        if value is None:
            raise InstrumentFault(ROLE, SCRIPTED_ADDRESS, "the scope could not measure (9.9e+37)")
        return value

    monkeypatch.setattr(scope, "measure_frequency_hz", frequency)
    monkeypatch.setattr(scope, "measure_duty_pct", lambda _signal: 26.7)
    reading = scope.pilot()
    assert (reading.frequency_hz, reading.duty_pct, len(captures)) == (1000.0, 26.7, 2)

    answers[:] = [None, None]
    captures.clear()
    with pytest.raises(InstrumentFault, match="could not measure"):
        scope.pilot()
    assert len(captures) == 2, "two captures, then the fault"
