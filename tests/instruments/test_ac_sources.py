"""Exact SCPI exchanges of the AC source drivers (docs/bench-protocols.md section 1)."""

from __future__ import annotations

import pytest

from rig.errors import InstrumentError
from rig.instruments.capabilities import AcSource, Identity, ProgramStep
from rig.instruments.chroma_61500 import Chroma61500
from rig.instruments.scpi_ac_source import ScpiAcSource
from rig.instruments.scripted import TIMEOUT, ScriptedMessageTransport, ScriptMismatchError

NO_ERR = ("?", "SYST:ERR?", '0,"No error"')


def scpi(script: list[tuple[str, ...]]) -> tuple[ScpiAcSource, ScriptedMessageTransport]:
    t = ScriptedMessageTransport(script, role="ac_source", address="TCPIP0::127.0.0.1::5025::SOCKET")  # type: ignore[arg-type]
    return ScpiAcSource("ac_source", t), t


def chroma(script: list[tuple[str, ...]]) -> tuple[Chroma61500, ScriptedMessageTransport]:
    t = ScriptedMessageTransport(script, role="ac_source", address="TCPIP0::10.0.0.5::INSTR")  # type: ignore[arg-type]
    return Chroma61500("ac_source", t), t


# -- generic SCPI ----------------------------------------------------------------------------------
def test_scpi_setters_and_queries() -> None:
    src, t = scpi(
        [
            (">", "OUTP ON"),
            (">", "OUTP OFF"),
            ("?", "OUTP?", "1"),
            (">", "VOLT 230.0"),
            ("?", "VOLT?", "230"),
            (">", "FREQ 50.00"),
            ("?", "FREQ?", "50"),
            (">", "CURR 32.0"),
            ("?", "CURR?", "32.5"),
            ("?", "MEAS:VOLT:AC?", "229.87"),
            ("?", "MEAS:CURR:AC?", "15.5"),
            ("?", "MEAS:POW:AC?", "3562.1"),
            ("?", "MEAS:FREQ?", "49.998"),
            ("?", "*IDN?", "Keysight Technologies,AC6803B,MY123,A.01.02"),
        ]
    )
    assert isinstance(src, AcSource)
    src.set_output(True)
    src.set_output(False)
    assert src.output_on() is True
    src.set_voltage(230)
    assert src.voltage_setpoint == 230.0
    src.set_frequency(50)
    assert src.frequency_setpoint == 50.0
    src.set_current_limit(32)
    assert src.current_limit == 32.5
    assert src.measure_voltage() == 229.87
    assert src.measure_current() == 15.5
    assert src.measure_power() == 3562.1
    assert src.measure_frequency() == 49.998
    assert src.identity() == Identity("Keysight Technologies", "AC6803B", "MY123", "A.01.02")
    t.assert_done()


def test_scpi_run_program_and_sag() -> None:
    src, t = scpi(
        [
            (">", "LIST:VOLT 230.0,0.0,230.0"),
            (">", "LIST:DWEL 0.1,0.02,0.1"),
            (">", "VOLT:MODE LIST"),
            (">", "TRIG:TRAN:SOUR BUS"),
            NO_ERR,
            (">", "INIT:TRAN"),
            (">", "*TRG"),
            ("?", "LIST:TRIG:TIME?", "1234.5"),
            (">", "LIST:VOLT 161.0"),
            (">", "LIST:DWEL 0.5"),
            (">", "VOLT:MODE LIST"),
            (">", "TRIG:TRAN:SOUR BUS"),
            NO_ERR,
            (">", "INIT:TRAN"),
            (">", "*TRG"),
            ("?", "LIST:TRIG:TIME?", "1240.25"),
            (">", "LIST:VOLT 0.0"),
            (">", "LIST:DWEL 0.01"),
            (">", "VOLT:MODE LIST"),
            (">", "TRIG:TRAN:SOUR BUS"),
            NO_ERR,
            (">", "INIT:TRAN"),
            (">", "*TRG"),
            ("?", "LIST:TRIG:TIME?", "1250"),
            (">", "LIST:VOLT 253.0"),
            (">", "LIST:DWEL 1"),
            (">", "VOLT:MODE LIST"),
            (">", "TRIG:TRAN:SOUR BUS"),
            NO_ERR,
            (">", "INIT:TRAN"),
            (">", "*TRG"),
            ("?", "LIST:TRIG:TIME?", "1260"),
        ]
    )
    steps = [ProgramStep(230, 0.1), ProgramStep(0, 0.02), ProgramStep(230, 0.1)]
    assert src.run_program(steps) == 1234.5
    assert src.sag(161, 0.5) == 1240.25
    assert src.dropout(0.01) == 1250.0
    assert src.swell(253, 1.0) == 1260.0
    t.assert_done()


def test_scpi_program_error_queue_reported() -> None:
    src, t = scpi(
        [
            (">", "LIST:VOLT 0.0"),
            (">", "LIST:DWEL 0.02"),
            (">", "VOLT:MODE LIST"),
            (">", "TRIG:TRAN:SOUR BUS"),
            ("?", "SYST:ERR?", '-113,"Undefined header"'),
            NO_ERR,
        ]
    )
    with pytest.raises(InstrumentError, match="-113") as info:
        src.dropout(0.02)
    assert info.value.role == "ac_source" and info.value.last_command == "SYST:ERR?"
    t.assert_done()


def test_scpi_safe_state() -> None:
    src, t = scpi([(">", "VOLT:MODE FIX"), (">", "OUTP OFF")])
    src.safe_state()
    t.assert_done()


def test_scpi_limits_rejected_without_exchange() -> None:
    src, t = scpi([])
    with pytest.raises(ValueError, match="voltage"):
        src.set_voltage(400)
    with pytest.raises(ValueError, match="frequency"):
        src.set_frequency(70)
    with pytest.raises(ValueError, match="frequency steps"):
        src.run_program([ProgramStep(230, 0.1, frequency=60)])
    with pytest.raises(ValueError, match="at least one"):
        src.run_program([])
    with pytest.raises(ValueError, match="dwell"):
        src.sag(100, 0)
    t.assert_done()


def test_scpi_timeout_names_role_address_and_command() -> None:
    src, t = scpi([("?", "MEAS:VOLT:AC?", TIMEOUT)])
    with pytest.raises(InstrumentError) as info:
        src.measure_voltage()
    err = info.value
    assert (err.role, err.address, err.last_command) == (
        "ac_source",
        "TCPIP0::127.0.0.1::5025::SOCKET",
        "MEAS:VOLT:AC?",
    )
    assert "timeout" in str(err) and "MEAS:VOLT:AC?" in str(err)
    t.assert_done()


def test_scpi_garbage_answer() -> None:
    src, t = scpi([("?", "OUTP?", "maybe"), ("?", "VOLT?", "abc")])
    with pytest.raises(InstrumentError, match="expected 0 or 1"):
        src.output_on()
    with pytest.raises(InstrumentError, match="expected a number") as info:
        _ = src.voltage_setpoint
    assert info.value.last_command == "VOLT?"
    t.assert_done()


def test_unexpected_command_fails_the_test() -> None:
    src, t = scpi([(">", "OUTP ON")])
    with pytest.raises(ScriptMismatchError, match="expected write 'OUTP ON', got write 'OUTP OFF'"):
        src.set_output(False)
    with pytest.raises(ScriptMismatchError):
        t.assert_done()


def test_unknown_parameter_rejected() -> None:
    with pytest.raises(TypeError, match="unknown parameters"):
        ScpiAcSource("ac", ScriptedMessageTransport([]), volts=3)  # type: ignore[arg-type]


# -- Chroma 61500 ----------------------------------------------------------------------------------
def test_chroma_setters_and_queries() -> None:
    src, t = chroma(
        [
            (">", "OUTP:STAT ON"),
            ("?", "OUTP:STAT?", "1"),
            (">", "SOUR:VOLT:LEV:IMM:AC 230.0"),
            ("?", "SOUR:VOLT:AC?", "230"),
            (">", "SOUR:FREQ:IMM 60.00"),
            ("?", "SOUR:FREQ?", "60"),
            (">", "SOUR:CURR:LIM 40.0"),
            ("?", "SOUR:CURR:LIM?", "40"),
            ("?", "FETC:VOLT:ACDC?", "230.1"),
            ("?", "FETC:CURR:AC?", "16.02"),
            ("?", "FETC:POW:AC?", "3680"),
            ("?", "FETC:FREQ?", "60.001"),
            ("?", "*IDN?", "CHROMA,61512,6151200012,1.20"),
        ]
    )
    src.set_output(True)
    assert src.output_on()
    src.set_voltage(230)
    assert src.voltage_setpoint == 230.0
    src.set_frequency(60)
    assert src.frequency_setpoint == 60.0
    src.set_current_limit(40)
    assert src.current_limit == 40.0
    assert src.measure_voltage() == 230.1
    assert src.measure_current() == 16.02
    assert src.measure_power() == 3680.0
    assert src.measure_frequency() == 60.001
    assert src.identity() == Identity("CHROMA", "61512", "6151200012", "1.20")
    t.assert_done()


def chroma_list(volts: str, dwell: str, trig_time: str) -> list[tuple[str, ...]]:
    return [
        (">", "OUTP:MODE LIST"),
        (">", "SOUR:LIST:COUN 1"),
        (">", "SOUR:LIST:BASE TIME"),
        (">", f"SOUR:LIST:DWEL {dwell}"),
        (">", f"SOUR:LIST:VOLT:AC:STAR {volts}"),
        (">", f"SOUR:LIST:VOLT:AC:END {volts}"),
        NO_ERR,
        (">", "TRIG ON"),
        ("?", "SOUR:LIST:TRIG:TIME?", trig_time),
    ]


def test_chroma_program_then_back_to_fixed_mode() -> None:
    src, t = chroma(
        [
            *chroma_list("230.0,115.0", "0.01,0.02", "10.5"),
            (">", "TRIG OFF"),
            (">", "OUTP:MODE FIXED"),
            (">", "SOUR:VOLT:LEV:IMM:AC 220.0"),
            *chroma_list("0.0", "0.02", "11"),
            (">", "TRIG OFF"),
            (">", "OUTP:MODE FIXED"),
            *chroma_list("150.0", "0.01", "12"),
            (">", "TRIG OFF"),
            (">", "OUTP:MODE FIXED"),
            *chroma_list("260.0", "0.01", "13"),
        ]
    )
    assert src.run_program([ProgramStep(230, 0.01), ProgramStep(115, 0.02)]) == 10.5
    assert src.list_running
    src.set_voltage(220)  # waits for the list to end, then leaves list mode
    assert not src.list_running
    assert src.dropout(0.02) == 11.0
    assert src.sag(150, 0.01) == 12.0
    assert src.swell(260, 0.01) == 13.0
    t.assert_done()


def test_chroma_safe_state_cancels_list() -> None:
    src, t = chroma(
        [*chroma_list("0.0", "5", "1"), (">", "TRIG OFF"), (">", "OUTP:MODE FIXED"), (">", "OUTP:STAT OFF")]
    )
    src.dropout(5)
    src.safe_state()  # does not wait for the 5 s list
    assert not src.list_running
    t.assert_done()


def test_chroma_timeout() -> None:
    src, t = chroma([("?", "FETC:POW:AC?", TIMEOUT)])
    with pytest.raises(InstrumentError) as info:
        src.measure_power()
    assert (info.value.role, info.value.address, info.value.last_command) == (
        "ac_source",
        "TCPIP0::10.0.0.5::INSTR",
        "FETC:POW:AC?",
    )
    t.assert_done()
