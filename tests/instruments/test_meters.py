"""Exact register / SCPI exchanges of the energy meter drivers (docs/bench-protocols.md section 2)."""

from __future__ import annotations

from typing import Any

import pytest

from rig.errors import InstrumentError
from rig.instruments.capabilities import EnergyMeter, Identity
from rig.instruments.carlo_gavazzi_em340 import CarloGavazziEm340
from rig.instruments.eastron_sdm630 import EastronSdm630
from rig.instruments.registers import ascii_encode
from rig.instruments.registers import float32_abcd_encode as f32
from rig.instruments.registers import int32_lswf_encode as i32
from rig.instruments.scripted import TIMEOUT, Fail, ScriptedMessageTransport, ScriptedRegisterTransport
from rig.instruments.yokogawa_wt import YokogawaWt

ADDR = "127.0.0.1:5020/unit1"


def regs(script: list[tuple[str, int, Any]]) -> ScriptedRegisterTransport:
    return ScriptedRegisterTransport(script, role="meter", address=ADDR)


# -- Eastron SDM630 --------------------------------------------------------------------------------
def test_sdm630_measurements() -> None:
    t = regs(
        [
            ("fc04", 0x0000, f32(230.5)),
            ("fc04", 0x0002, f32(231.0)),
            ("fc04", 0x0004, f32(229.0)),
            ("fc04", 0x0006, f32(16.0)),
            ("fc04", 0x000A, f32(15.5)),
            ("fc04", 0x000C, f32(3680.0)),
            ("fc04", 0x0010, f32(3500.0)),
            ("fc04", 0x0034, f32(11000.0)),
            ("fc04", 0x0046, f32(50.0)),
            ("fc04", 0x0048, f32(12.5)),
            ("fc04", 0x004A, f32(0.25)),
        ]
    )
    m = EastronSdm630("meter", t, phases=3)
    assert isinstance(m, EnergyMeter)
    assert m.voltage() == 230.5
    assert m.voltage(2) == 231.0
    assert m.voltage(3) == 229.0
    assert m.current(1) == 16.0
    assert m.current(3) == 15.5
    assert m.active_power(1) == 3680.0
    assert m.active_power(3) == 3500.0
    assert m.active_power() == 11000.0
    assert m.frequency() == 50.0
    assert m.energy_import_wh() == 12500.0  # kWh x 1000
    assert m.energy_export_wh() == 250.0
    t.assert_done()


def test_sdm630_identity_and_safe_state() -> None:
    t = regs(
        [
            ("fc03", 0xFC00, [0x0001, 0xE240]),
            ("fc03", 0xFC02, [0x0070]),
            ("fc03", 0xFC00, [0, 7]),
            ("fc03", 0xFC02, [0x0084]),
        ]
    )
    m = EastronSdm630("meter", t)
    assert m.identity() == Identity("Eastron", "SDM630", "123456")
    assert m.identity().model == "SDM meter code 0x0084"
    m.safe_state()
    t.assert_done()


def test_sdm630_phase_checks() -> None:
    m = EastronSdm630("meter", regs([]), phases=1)
    with pytest.raises(ValueError, match=r"phase must be 1\.\.1"):
        m.voltage(2)
    with pytest.raises(ValueError, match="phases must be 1 or 3"):
        EastronSdm630("meter", regs([]), phases=2)


def test_sdm630_exception_response() -> None:
    t = regs([("fc04", 0x0048, Fail("Modbus exception response 2 (illegal data address)"))])
    with pytest.raises(InstrumentError) as info:
        EastronSdm630("meter", t).energy_import_wh()
    assert (info.value.role, info.value.address, info.value.last_command) == ("meter", ADDR, "FC04 0x0048 count=2")
    t.assert_done()


# -- Carlo Gavazzi EM340 ---------------------------------------------------------------------------
def test_em340_measurements() -> None:
    t = regs(
        [
            ("fc03", 0x0000, i32(2305)),
            ("fc03", 0x0004, i32(2290)),
            ("fc03", 0x000C, i32(16012)),
            ("fc03", 0x000E, i32(-5)),
            ("fc03", 0x0012, i32(36801)),
            ("fc03", 0x0016, i32(-1000)),
            ("fc03", 0x0028, i32(110000)),
            ("fc03", 0x0033, [500]),
            ("fc03", 0x0034, i32(125)),
            ("fc03", 0x004E, i32(3)),
        ]
    )
    m = CarloGavazziEm340("meter", t, phases=3)
    assert isinstance(m, EnergyMeter)
    assert m.voltage() == pytest.approx(230.5)
    assert m.voltage(3) == pytest.approx(229.0)
    assert m.current(1) == pytest.approx(16.012)
    assert m.current(2) == pytest.approx(-0.005)
    assert m.active_power(1) == pytest.approx(3680.1)
    assert m.active_power(3) == pytest.approx(-100.0)
    assert m.active_power() == pytest.approx(11000.0)
    assert m.frequency() == pytest.approx(50.0)
    assert m.energy_import_wh() == pytest.approx(12500.0)  # 12.5 kWh in 0.1 kWh units
    assert m.energy_export_wh() == pytest.approx(300.0)
    t.assert_done()


def test_em340_identity() -> None:
    t = regs([("fc03", 0x000B, [340]), ("fc03", 0x5000, ascii_encode("BX1234567890AB", 7))])
    assert CarloGavazziEm340("meter", t).identity() == Identity("Carlo Gavazzi", "EM340", "BX1234567890AB")
    t.assert_done()


def test_em340_error() -> None:
    t = regs([("fc03", 0x0034, Fail("no valid response within 1 s (ModbusIOException)"))])
    with pytest.raises(InstrumentError, match="no valid response") as info:
        CarloGavazziEm340("meter", t).energy_import_wh()
    assert info.value.last_command == "FC03 0x0034 count=2"
    t.assert_done()


# -- Yokogawa WT -----------------------------------------------------------------------------------
SETUP_1P = [
    (">", ":NUM:FORM ASC"),
    (">", ":NUM:NORM:NUM 4"),
    (">", ":NUM:NORM:ITEM1 U,1"),
    (">", ":NUM:NORM:ITEM2 I,1"),
    (">", ":NUM:NORM:ITEM3 P,1"),
    (">", ":NUM:NORM:ITEM4 WHP,1"),
    (">", ":INTEG:STOP"),
    (">", ":INTEG:RESET"),
    (">", ":INTEG:START"),
]


def wt(script: list[tuple[str, ...]], phases: int = 1) -> tuple[YokogawaWt, ScriptedMessageTransport]:
    t = ScriptedMessageTransport(script, role="analyser", address="TCPIP0::127.0.0.1::10001::SOCKET")  # type: ignore[arg-type]
    return YokogawaWt("analyser", t, phases=phases), t


def test_wt_open_configures_and_starts_integration() -> None:
    vals = "230.1,16.0,3681.6,12.5"
    m, t = wt(
        [
            *SETUP_1P,
            ("?", ":NUM:NORM:VAL?", vals),
            ("?", ":NUM:NORM:VAL?", vals),
            ("?", ":NUM:NORM:VAL?", vals),
            ("?", ":NUM:NORM:VAL?", vals),
            ("?", ":NUM:NORM:VAL?", vals),
            ("?", ":INTEG:STAT?", "STAR"),
            (">", ":INTEG:STOP"),
            (">", ":INTEG:RESET"),
            (">", ":INTEG:START"),
            ("?", ":INTEG:STAT?", "RESet"),
            ("?", "*IDN?", "YOKOGAWA,WT333E,C2QD12345,F1.01"),
        ]
    )
    m.open()
    assert t.is_open
    assert m.voltage() == 230.1
    assert m.current() == 16.0
    assert m.active_power(1) == 3681.6
    assert m.active_power() == 3681.6
    assert m.energy_import_wh() == 12.5
    assert m.integration_state == "START"
    m.reset_energy()
    assert m.integration_state == "RESET"
    assert m.identity() == Identity("YOKOGAWA", "WT333E", "C2QD12345", "F1.01")
    m.safe_state()
    m.close()
    assert not t.is_open
    t.assert_done()


def test_wt_three_phases() -> None:
    setup = [(">", ":NUM:FORM ASC"), (">", ":NUM:NORM:NUM 12")]
    item = 1
    for element in (1, 2, 3):
        for fn in ("U", "I", "P", "WHP"):
            setup.append((">", f":NUM:NORM:ITEM{item} {fn},{element}"))
            item += 1
    vals = "230,10,2300,1.5,231,11,2500,2.0,229,12,2700,2.5"
    m, t = wt([*setup, ("?", ":NUM:NORM:VAL?", vals), ("?", ":NUM:NORM:VAL?", vals), ("?", ":NUM:NORM:VAL?", vals)], 3)
    m.configure()
    assert m.voltage(2) == 231.0
    assert m.active_power() == 7500.0
    assert m.energy_import_wh() == 6.0
    t.assert_done()


def test_wt_wrong_item_count_and_timeout() -> None:
    m, t = wt([("?", ":NUM:NORM:VAL?", "1,2,3"), ("?", ":NUM:NORM:VAL?", TIMEOUT)])
    with pytest.raises(InstrumentError, match="expected 4 numeric items, got 3"):
        m.voltage()
    with pytest.raises(InstrumentError) as info:
        m.energy_import_wh()
    assert (info.value.role, info.value.address, info.value.last_command) == (
        "analyser",
        "TCPIP0::127.0.0.1::10001::SOCKET",
        ":NUM:NORM:VAL?",
    )
    t.assert_done()
