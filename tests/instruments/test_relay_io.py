"""Exact exchanges of the relay IO / pilot capture drivers (docs/bench-protocols.md section 3)."""

from __future__ import annotations

import numpy as np
import pytest

from rig.errors import InstrumentError
from rig.instruments.capabilities import Edge, Identity, PilotCapture, PilotReading, RelayIo
from rig.instruments.keysight_daq970a import KeysightDaq970a
from rig.instruments.modbus_relay_io import ModbusRelayIo
from rig.instruments.registers import ascii_encode, int16_encode
from rig.instruments.scripted import TIMEOUT, Fail, ScriptedMessageTransport, ScriptedRegisterTransport

# -- Modbus relay IO -------------------------------------------------------------------------------


def test_modbus_relays_and_analog() -> None:
    t = ScriptedRegisterTransport(
        [
            ("fc05", 1, True),
            ("fc05", 16, False),
            ("fc01", 3, [True]),
            ("fc15", 1, [False] * 16),
            ("fc04", 0x0010, [int16_encode(-1234)]),
            ("fc04", 0x0013, [9000]),
            ("fc15", 1, [False] * 16),
        ],
        role="io",
    )
    io = ModbusRelayIo("io", t)
    assert isinstance(io, RelayIo) and isinstance(io, PilotCapture)
    io.set_relay(1, True)
    io.set_relay(16, False)
    assert io.relay(3) is True
    io.open_all()
    assert io.analog_input(1) == -1.234
    assert io.analog_input(4) == 9.0
    io.safe_state()
    t.assert_done()


def test_modbus_custom_register_map() -> None:
    t = ScriptedRegisterTransport([("fc05", 104, True), ("fc15", 101, [False] * 4), ("fc04", 0x0050, [5])])
    io = ModbusRelayIo("io", t, relay_base=100, relay_count=4, analog_base=0x0050, analog_count=2)
    io.set_relay(4, True)
    io.open_all()
    assert io.analog_input(1) == 0.005
    with pytest.raises(ValueError, match=r"relay channel must be 1\.\.4"):
        io.set_relay(5, True)
    with pytest.raises(TypeError, match="unknown parameters"):
        ModbusRelayIo("io", t, relay_map=1)
    t.assert_done()


def test_modbus_pilot_edges_clock_identity() -> None:
    edge_words = [1, 0x0001, 0x86A0, 1, 3, 0x0001, 0x8A88, 1, 7, 0, 5, 0]  # 100.000 s, 101.000 s, 0.005 s
    t = ScriptedRegisterTransport(
        [
            ("fc04", 0x0000, [1000, 5333, int16_encode(9000), int16_encode(-12000), 42, 0x0001, 0x86A5]),
            ("fc04", 0x0004, [43]),
            ("fc04", 0x0005, [0x0002, 0x0000]),
            ("fc04", 0x0020, [3]),
            ("fc04", 0x0021, edge_words),
            ("fc06", 0x0100, 1),
            ("fc04", 0x0020, [0]),
            ("fc03", 0x0200, ascii_encode("RIG-IO16", 8) + ascii_encode("1.4.2", 8)),
        ]
    )
    io = ModbusRelayIo("io", t)
    assert io.pilot() == PilotReading(1000.0, 53.33, 9.0, -12.0, 100.005)
    assert io.capture_sequence == 43
    assert io.now_s() == 131.072
    assert io.edges() == [Edge("PWM_ON", 100.0, 1), Edge("CONTACTOR_CLOSED", 101.0, 1), Edge("SIGNAL_7", 0.005, 0)]
    io.clear_edges()
    assert io.edges() == []
    assert io.identity() == Identity("Modbus relay IO", "RIG-IO16", "", "1.4.2")
    t.assert_done()


def test_modbus_many_edges_read_in_chunks() -> None:
    words = [2, 0, 10, 0] * 35
    t = ScriptedRegisterTransport(
        [("fc04", 0x0020, [35]), ("fc04", 0x0021, words[:120]), ("fc04", 0x0021 + 120, words[120:])]
    )
    edges = ModbusRelayIo("io", t).edges()
    assert len(edges) == 35 and edges[-1] == Edge("PWM_OFF", 0.01, 0)
    t.assert_done()


def test_modbus_error_names_role_address_command() -> None:
    t = ScriptedRegisterTransport(
        [("fc05", 3, Fail("Modbus exception response 4 (device failure)"))], role="io", address="10.0.0.9:502/unit3"
    )
    with pytest.raises(InstrumentError) as info:
        ModbusRelayIo("io", t).set_relay(3, True)
    assert (info.value.role, info.value.address, info.value.last_command) == (
        "io",
        "10.0.0.9:502/unit3",
        "FC05 0x0003 value=True",
    )
    assert "device failure" in str(info.value)
    t.assert_done()


# -- Keysight DAQ970A ------------------------------------------------------------------------------
def daq(script: list[tuple[str, ...]]) -> tuple[KeysightDaq970a, ScriptedMessageTransport]:
    t = ScriptedMessageTransport(script, role="daq", address="TCPIP0::127.0.0.1::5025::SOCKET")  # type: ignore[arg-type]
    return KeysightDaq970a("daq", t), t


def test_daq_relays_and_analog() -> None:
    d, t = daq(
        [
            (">", "ROUT:CLOS (@101)"),
            (">", "ROUT:OPEN (@112)"),
            ("?", "ROUT:CLOS? (@103)", "1"),
            ("?", "ROUT:CLOS? (@116)", "0"),
            *[(">", f"ROUT:OPEN (@1{c:02d})") for c in range(1, 17)],
            ("?", "MEAS:VOLT:DC? (@201)", "+8.97E+00"),
            *[(">", f"ROUT:OPEN (@1{c:02d})") for c in range(1, 17)],
        ]
    )
    assert isinstance(d, RelayIo) and isinstance(d, PilotCapture)
    d.set_relay(1, True)
    d.set_relay(12, False)
    assert d.relay(3) is True
    assert d.relay(16) is False
    d.open_all()
    assert d.analog_input(1) == 8.97
    d.safe_state()
    with pytest.raises(ValueError):
        d.set_relay(17, True)
    t.assert_done()


def test_daq_pilot_edges_waveform() -> None:
    samples = ",".join(["12.0"] * 5 + ["-12.0"] * 5)
    d, t = daq(
        [
            ("?", "SENS:EDGE:TIME?", "12.5"),
            ("?", "MEAS:FREQ? (@301)", "1000.2"),
            ("?", "SENS:PWM:DUTY? (@301)", "53.3"),
            ("?", "SENS:PWM:HIGH? (@301)", "8.95"),
            ("?", "SENS:PWM:LOW? (@301)", "-11.9"),
            ("?", "SENS:EDGE:TIME?", "13"),
            ("?", "SENS:EDGE:COUN?", "2"),
            ("?", "SENS:EDGE:DATA? 0", "PWM_ON,10.001,1"),
            ("?", "SENS:EDGE:DATA? 1", "CONTACTOR_CLOSED,12.25,1"),
            (">", "SENS:EDGE:CLE"),
            ("?", "SENS:WAV:SRAT?", "200000"),
            ("?", "FETC:WAV? (@301),10", samples),
            ("?", "*IDN?", "Keysight Technologies,DAQ970A,MY58000001,A.03.02-01.00-03.02-00.02-01-02"),
        ]
    )
    assert d.pilot() == PilotReading(1000.2, 53.3, 8.95, -11.9, 12.5)
    assert d.now_s() == 13.0
    assert d.edges() == [Edge("PWM_ON", 10.001, 1), Edge("CONTACTOR_CLOSED", 12.25, 1)]
    d.clear_edges()
    volts, rate = d.waveform(10)
    assert rate == 200000.0
    assert isinstance(volts, np.ndarray) and volts.dtype == np.float64
    assert volts.tolist() == [12.0] * 5 + [-12.0] * 5
    assert d.identity().model == "DAQ970A"
    t.assert_done()


def test_daq_errors() -> None:
    d, t = daq(
        [
            ("?", "SENS:WAV:SRAT?", "200000"),
            ("?", "FETC:WAV? (@301),4", "1,2,3"),
            ("?", "SENS:EDGE:COUN?", "1"),
            ("?", "SENS:EDGE:DATA? 0", "PWM_ON"),
            ("?", "MEAS:VOLT:DC? (@202)", TIMEOUT),
        ]
    )
    with pytest.raises(ValueError, match="sample count"):
        d.waveform(20001)
    with pytest.raises(InstrumentError, match="asked for 4 samples, got 3"):
        d.waveform(4)
    with pytest.raises(InstrumentError, match="signal,time_s,level"):
        d.edges()
    with pytest.raises(InstrumentError) as info:
        d.analog_input(2)
    assert (info.value.role, info.value.address, info.value.last_command) == (
        "daq",
        "TCPIP0::127.0.0.1::5025::SOCKET",
        "MEAS:VOLT:DC? (@202)",
    )
    t.assert_done()
