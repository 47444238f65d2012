"""Exact register dialogues of the Modbus energy meter drivers (docs/bench-protocols.md sections 2.1 and 2.2), and
each driver against its virtual-bench server over Modbus TCP.

Register values are written out as the meter sends them (float32 high word first; INT32 low word first), not
encoded with the driver's own codecs, so a word-order or scale mistake fails here.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from rig.errors import InstrumentError
from rig.instruments import registry
from rig.instruments.capabilities import EnergyMeter, Identity
from rig.instruments.carlo_gavazzi_em340 import CarloGavazziEm340
from rig.instruments.eastron_sdm630 import EastronSdm630
from rig.instruments.modbus_transport import ModbusTcpTransport
from rig.instruments.scripted import Fail, RegisterEntry, ScriptedRegisterTransport
from rig.sim import modbus as sim
from rig.sim.plant import Plant

ADDR = "192.0.2.30:502/unit1"
SDM_CODE: RegisterEntry = ("fc03", 0xFC02, [0x0070])
NAN32 = [0x7FC0, 0x0000]


def regs(script: list[RegisterEntry]) -> ScriptedRegisterTransport:
    return ScriptedRegisterTransport(script, role="meter", address=ADDR)


def opened(driver: str, script: list[RegisterEntry], **params: Any) -> tuple[Any, ScriptedRegisterTransport]:
    t = regs(script)
    return registry.make_instrument("meter", driver, t, **params), t


# -- Eastron SDM630 --------------------------------------------------------------------------------------------------
def test_sdm630_open_and_every_measurement() -> None:
    m, t = opened(
        "eastron_sdm630",
        [
            SDM_CODE,  # open: the meter code
            ("fc04", 0x0000, [0x4366, 0x8000]),  # 230.5 V
            ("fc04", 0x0002, [0x4367, 0x0000]),  # 231.0 V
            ("fc04", 0x0004, [0x4365, 0x0000]),  # 229.0 V
            ("fc04", 0x0006, [0x4180, 0x0000]),  # 16.0 A
            ("fc04", 0x000A, [0x4178, 0x0000]),  # 15.5 A
            ("fc04", 0x000C, [0x4566, 0x0000]),  # 3680.0 W
            ("fc04", 0x0010, [0x455A, 0xC000]),  # 3500.0 W
            ("fc04", 0x0034, [0x462B, 0xE000]),  # 11000.0 W
            ("fc04", 0x0046, [0x4248, 0x0000]),  # 50.0 Hz
            ("fc04", 0x0048, [0x4148, 0x0000]),  # 12.5 kWh
            ("fc04", 0x004A, [0x3E80, 0x0000]),  # 0.25 kWh
            SDM_CODE,  # identity()
        ],
        phases=3,
        serial="21040123",
    )
    assert isinstance(m, EastronSdm630) and isinstance(m, EnergyMeter)
    assert m.voltage() == 230.5
    assert m.voltage(2) == 231.0
    assert m.voltage(3) == 229.0
    assert m.current(1) == 16.0
    assert m.current(3) == 15.5
    assert m.active_power(1) == 3680.0
    assert m.active_power(3) == 3500.0
    assert m.active_power() == 11000.0
    assert m.frequency() == 50.0
    assert m.energy_import_wh() == 12500.0  # the register is in kWh
    assert m.energy_export_wh() == 250.0
    assert m.identity() == Identity("Eastron", "SDM630", "21040123")
    m.safe_state()
    m.close()
    assert not t.is_open
    t.assert_done()


@pytest.mark.parametrize(
    ("code", "seen"),
    [(0x0089, "answered 0x0089 (SDM72D-M V2)"), (0x0084, "0x0084 (SDM72D-M (V1))"), (0x1234, "(an unknown model)")],
)
def test_sdm630_another_model_is_refused_at_open(code: int, seen: str) -> None:
    t = regs([("fc03", 0xFC02, [code])])
    with pytest.raises(InstrumentError) as info:
        registry.make_instrument("meter", "eastron_sdm630", t)
    assert (info.value.role, info.value.address, info.value.last_command) == ("meter", ADDR, "FC03 0xFC02 count=1")
    assert seen in str(info.value) and "Eastron SDM630 (meter code 0x0070)" in str(info.value)
    assert not t.is_open
    t.assert_done()


@pytest.mark.parametrize(
    ("words", "method", "message"),
    [
        (NAN32, "voltage", r"input register 0x0000 \(0x7fc0 0x0000\) gave nan for the voltage: not a number"),
        ([0x7F80, 0x0000], "voltage", r"gave inf for the voltage: not a number"),
        ([0x44FA, 0x0000], "voltage", r"gave 2000 V for the voltage, outside 0\.\.1000 V"),
        (
            [0xC120, 0x0000],
            "energy_import_wh",
            r"0x0048 .* kWh\) gave -10000 Wh for the energy, outside 0\.\.1e\+12 Wh",
        ),
        (NAN32, "energy_import_wh", r"input register 0x0048 .* gave nan for the energy"),
        ([0x4348, 0x0000], "frequency", r"gave 200 Hz for the frequency, outside 0\.\.100 Hz"),
    ],
)
def test_sdm630_no_value_or_an_implausible_one_is_refused(words: list[int], method: str, message: str) -> None:
    address = {"voltage": 0x0000, "energy_import_wh": 0x0048, "frequency": 0x0046}[method]
    m, t = opened("eastron_sdm630", [SDM_CODE, ("fc04", address, words)])
    with pytest.raises(InstrumentError, match=message) as info:
        getattr(m, method)()
    assert (info.value.role, info.value.address) == ("meter", ADDR)
    assert info.value.last_command == f"FC04 0x{address:04X} count=2"
    t.assert_done()


def test_sdm630_exception_response_names_the_request() -> None:
    m, t = opened("eastron_sdm630", [SDM_CODE, ("fc04", 0x0048, Fail())])
    with pytest.raises(InstrumentError, match="exception response 2") as info:
        m.energy_import_wh()
    assert (info.value.role, info.value.address, info.value.last_command) == ("meter", ADDR, "FC04 0x0048 count=2")
    t.assert_done()


def test_sdm630_params() -> None:
    m = EastronSdm630("meter", regs([]), phases=1)
    with pytest.raises(ValueError, match=r"phase must be 1\.\.1"):
        m.voltage(2)
    with pytest.raises(ValueError, match=r"params.phases must be 1 or 3"):
        EastronSdm630("meter", regs([]), phases=2)
    with pytest.raises(ValueError, match="bad parameters for driver 'eastron_sdm630'"):
        registry.make_instrument("meter", "eastron_sdm630", regs([]), unit_id=3)


# -- Carlo Gavazzi EM340 ---------------------------------------------------------------------------------------------
def test_em340_open_and_every_measurement() -> None:
    m, t = opened(
        "carlo_gavazzi_em340",
        [
            ("fc04", 0x0000, [0x0901, 0x0000]),  # open: V L1 = 2305 x 0.1 V
            ("fc04", 0x0000, [0x0901, 0x0000]),  # 230.5 V
            ("fc04", 0x0004, [0x08F2, 0x0000]),  # 229.0 V
            ("fc04", 0x000C, [0x3E8C, 0x0000]),  # 16012 x 0.001 A
            ("fc04", 0x000E, [0xFFFB, 0xFFFF]),  # -5 x 0.001 A (low word first, signed)
            ("fc04", 0x0012, [0x8FC1, 0x0000]),  # 36801 x 0.1 W
            ("fc04", 0x0016, [0xFC18, 0xFFFF]),  # -1000 x 0.1 W
            ("fc04", 0x0028, [0xADB0, 0x0001]),  # 110000 x 0.1 W: the high word matters
            ("fc04", 0x0033, [0x01F4]),  # 500 x 0.1 Hz
            ("fc04", 0x0034, [0x007D, 0x0000]),  # 125 x 0.1 kWh
            ("fc04", 0x004E, [0x0003, 0x0000]),  # 3 x 0.1 kWh
        ],
        phases=3,
        model="EM330",
        serial="BX1234567890AB",
    )
    assert isinstance(m, CarloGavazziEm340) and isinstance(m, EnergyMeter)
    assert m.voltage() == 230.5
    assert m.voltage(3) == 229.0
    assert m.current(1) == 16.012
    assert m.current(2) == -0.005
    assert m.active_power(1) == 3680.1
    assert m.active_power(3) == -100.0
    assert m.active_power() == 11000.0
    assert m.frequency() == 50.0
    assert m.energy_import_wh() == 12500.0  # 12.5 kWh in 0.1 kWh units
    assert m.energy_export_wh() == 300.0
    assert m.identity() == Identity("Carlo Gavazzi", "EM330", "BX1234567890AB")  # from params: nothing read
    m.safe_state()
    m.close()
    t.assert_done()


@pytest.mark.parametrize(
    ("address", "words", "method", "message"),
    [
        (0x0000, [0x2711, 0x0000], "voltage", r"0x0000 \(0x2711 0x0000, low word first, /10\) gave 1000\.1 V"),
        (0x0034, [0xFFFF, 0xFFFF], "energy_import_wh", r"gave -100 Wh for the energy, outside 0\.\.1e\+12 Wh"),
        (0x0033, [0x8000], "frequency", r"0x0033 \(0x8000, x0\.1 Hz\) gave -3276\.8 Hz for the frequency"),
    ],
)
def test_em340_an_implausible_value_is_refused(address: int, words: list[int], method: str, message: str) -> None:
    t = regs([("fc04", address, words)])
    m = CarloGavazziEm340("meter", t)
    with pytest.raises(InstrumentError, match=message) as info:
        getattr(m, method)()
    assert info.value.last_command == f"FC04 0x{address:04X} count={len(words)}"
    t.assert_done()


def test_em340_the_top_of_a_range_is_still_a_reading() -> None:
    t = regs([("fc04", 0x0000, [0x2710, 0x0000])])
    assert CarloGavazziEm340("meter", t).voltage() == 1000.0
    t.assert_done()


def test_em340_a_meter_that_does_not_answer_fails_at_open() -> None:
    t = regs([("fc04", 0x0000, Fail("no valid response within 1 s (ModbusIOException)"))])
    with pytest.raises(InstrumentError, match="no valid response") as info:
        registry.make_instrument("meter", "carlo_gavazzi_em340", t)
    assert (info.value.address, info.value.last_command) == (ADDR, "FC04 0x0000 count=2")
    assert not t.is_open
    t.assert_done()


def test_em340_params() -> None:
    with pytest.raises(ValueError, match=r"params.model must be one of EM340, EM330, ET340, ET330, got 'EM24'"):
        CarloGavazziEm340("meter", regs([]), model="EM24")
    with pytest.raises(ValueError, match=r"params.phases must be 1 or 3"):
        CarloGavazziEm340("meter", regs([]), phases=0)
    assert CarloGavazziEm340("meter", regs([])).identity() == Identity("Carlo Gavazzi", "EM340", "")


# -- the drivers against the virtual-bench servers -------------------------------------------------------------------
class Served:
    """One virtual meter on 127.0.0.1 in its own event loop thread."""

    def __init__(self, server: sim.ModbusDevice) -> None:
        self.server = server
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="virtual-meter", daemon=True)
        self.thread.start()
        _, self.port = asyncio.run_coroutine_threadsafe(server.start("127.0.0.1", 0), self.loop).result(5)

    def transport(self, unit: int = 1) -> ModbusTcpTransport:
        return ModbusTcpTransport("meter", "127.0.0.1", port=self.port, unit=unit, timeout_s=0.5, retries=0)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def plant() -> Plant:
    p = Plant()
    p.ac_on = True
    return p


@pytest.fixture
def served() -> Iterator[list[Served]]:
    made: list[Served] = []
    yield made
    for s in made:
        s.close()


def test_sdm630_against_its_server(plant: Plant, served: list[Served]) -> None:
    s = Served(sim.EastronSdm630(plant, {"unit_id": 7}))
    served.append(s)
    t = s.transport(unit=7)
    m = registry.make_instrument("meter", "eastron_sdm630", t, phases=3)
    try:
        assert m.identity() == Identity("Eastron", "SDM630", "")
        assert m.voltage(1) == pytest.approx(230.0)  # type: ignore[attr-defined]
        assert m.voltage(3) == 0.0  # type: ignore[attr-defined]  # a one-phase plant
        assert m.frequency() == pytest.approx(50.0)  # type: ignore[attr-defined]
        assert m.energy_import_wh() == 0.0  # type: ignore[attr-defined]
        assert m.energy_export_wh() == 0.0  # type: ignore[attr-defined]
        requests: tuple[Callable[[], object], ...] = (
            lambda: t.read_input_registers(0x0012, 2),  # past the per-phase block
            lambda: t.read_input_registers(0x0048, 6),  # runs past export kWh
            lambda: t.read_holding_registers(0xFC00, 2),  # the serial register: not served
            lambda: t.write_register(0xFC02, 0x0089),  # read-only
            lambda: t.read_coils(0, 1),
        )
        for request in requests:
            with pytest.raises(InstrumentError, match=r"exception response 2 \(illegal data address\)"):
                request()
    finally:
        m.close()


def test_sdm630_server_playing_another_model_is_refused(plant: Plant, served: list[Served]) -> None:
    s = Served(sim.EastronSdm630(plant, {"meter_code": 0x0089}))
    served.append(s)
    with pytest.raises(InstrumentError, match=r"answered 0x0089 \(SDM72D-M V2\)") as info:
        registry.make_instrument("meter", "eastron_sdm630", s.transport())
    assert info.value.last_command == "FC03 0xFC02 count=1"


def test_em340_against_its_server(plant: Plant, served: list[Served]) -> None:
    s = Served(sim.CarloGavazziEm340(plant, {}))
    served.append(s)
    t = s.transport()
    m = registry.make_instrument("meter", "carlo_gavazzi_em340", t, phases=3)
    try:
        assert m.voltage(1) == pytest.approx(230.0)  # type: ignore[attr-defined]
        assert m.current(2) == 0.0 and m.active_power() == 0.0  # type: ignore[attr-defined]
        assert m.frequency() == pytest.approx(50.0)  # type: ignore[attr-defined]
        assert m.energy_import_wh() == 0.0 and m.energy_export_wh() == 0.0  # type: ignore[attr-defined]
        requests: tuple[Callable[[], object], ...] = (
            lambda: t.read_holding_registers(0x000B, 1),  # identification code: not read by the driver, not served
            lambda: t.read_holding_registers(0x0000, 2),  # FC 03: the driver reads FC 04
            lambda: t.read_input_registers(0x5000, 7),
            lambda: t.read_input_registers(0x0006, 2),  # V L-L: not read
        )
        for request in requests:
            with pytest.raises(InstrumentError, match=r"exception response 2"):
                request()
    finally:
        m.close()


def test_the_unit_id_is_the_transports(plant: Plant, served: list[Served]) -> None:
    """The server serves only its ``unit_id`` (pymodbus answers another one with exception 4); the driver addresses
    the transport's ``unit`` (pymodbus 3.16 ``device_id=``)."""
    s = Served(sim.EastronSdm630(plant, {"unit_id": 2}))
    served.append(s)
    t = s.transport(unit=1)
    t.open()
    try:
        with pytest.raises(InstrumentError, match=r"exception response 4 \(server device failure\)") as info:
            t.read_holding_registers(0xFC02, 1)
        assert info.value.address.endswith("/unit1") and info.value.last_command == "FC03 0xFC02 count=1"
    finally:
        t.close()
