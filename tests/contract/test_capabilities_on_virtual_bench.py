"""Capability contract tests: every real driver against the virtual bench server for the same instrument.

One test class per capability, parametrised over the drivers that offer it (python-can's contract-test style).
The drivers and transports are the ones a real bench uses; only the address differs. The SCPI and Modbus servers
run as the `rig.sim.virtual_bench` process on loopback; the CAN board runs in this process on python-can's
in-process `virtual` interface (UDP multicast is used only inside a run's own network namespace).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from rig.config import config_from_dict
from rig.instruments.capabilities import AcSource, EnergyMeter, EvBoardCommand, EvEmulatorBoard, PilotCapture, RelayIo
from rig.instruments.registry import make_instrument, make_transport
from rig.sim.launch import virtual_bench

WIRING = {"cp_connect": 1, "s2_c": 2, "s2_d": 3, "diode_bypass": 4, "cp_pe_short": 5, "pp_220": 10}
SCPI = {"scpi_ac_source", "chroma_61500", "yokogawa_wt", "keysight_daq970a"}
ROLES = {
    "scpi_ac_source": "scpi_ac_source",
    "chroma_61500": "chroma_61500",
    "eastron_sdm630": "eastron_sdm630",
    "carlo_gavazzi_em340": "carlo_gavazzi_em340",
    "yokogawa_wt": "yokogawa_wt",
    "modbus_relay_io": "modbus_relay_io",
    "keysight_daq970a": "keysight_daq970a",
}


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@pytest.fixture(scope="module")
def served() -> Iterator[dict[str, dict[str, Any]]]:
    """The virtual bench serving one role per driver; yields role -> transport kind and parameters."""
    ports = dict(zip(ROLES, _free_ports(len(ROLES)), strict=True))
    instruments: dict[str, Any] = {}
    transports: dict[str, dict[str, Any]] = {}
    for role, driver in ROLES.items():
        if driver in SCPI:
            t = {"kind": "visa", "resource": f"TCPIP0::127.0.0.1::{ports[role]}::SOCKET", "timeout_s": 2}
        else:
            t = {"kind": "modbus_tcp", "host": "127.0.0.1", "port": ports[role], "timeout_s": 2}
        instruments[role] = {"driver": driver, "transport": t}
        transports[role] = t
    # The DAQ970A role carries the EV emulator wiring too (the virtual bench wires only the `via` role).
    config = config_from_dict({
        "station": {}, "dut": {"kind": "virtual"}, "instruments": instruments,
        "ev_emulator": {"via": "modbus_relay_io", "wiring": WIRING},
    })
    with virtual_bench(config):
        yield transports


def _open(role: str, served: dict[str, dict[str, Any]]) -> Any:
    params = dict(served[role])
    kind = params.pop("kind")
    if kind == "visa":
        params = {"resource": params["resource"], "timeout_s": params["timeout_s"]}
    return make_instrument(role, ROLES[role], make_transport(kind, role, **params))


@pytest.fixture
def instrument(request: pytest.FixtureRequest, served: dict[str, dict[str, Any]]) -> Iterator[Any]:
    inst = _open(request.param, served)
    try:
        yield inst
    finally:
        inst.safe_state()
        inst.close()


@pytest.fixture
def ac_source(served: dict[str, dict[str, Any]]) -> Iterator[Any]:
    src = _open("chroma_61500", served)
    src.set_voltage(230.0)
    src.set_frequency(50.0)
    src.set_output(True)
    # A query on the same connection: the source has applied the output before another instrument measures it.
    assert src.output_on()
    try:
        yield src
    finally:
        src.safe_state()
        src.close()


@pytest.mark.parametrize("instrument", ["scpi_ac_source", "chroma_61500"], indirect=True)
class TestAcSourceContract:
    def test_is_an_ac_source_with_identity(self, instrument: Any) -> None:
        assert isinstance(instrument, AcSource)
        ident = instrument.identity()
        assert ident.vendor and ident.model

    def test_setpoints_reach_the_output(self, instrument: Any) -> None:
        instrument.set_voltage(230.0)
        instrument.set_frequency(50.0)
        instrument.set_current_limit(32.0)
        instrument.set_output(True)
        assert instrument.output_on()
        assert instrument.measure_voltage() == pytest.approx(230.0, rel=0.01)
        assert instrument.measure_frequency() == pytest.approx(50.0, abs=0.05)
        instrument.set_output(False)
        assert not instrument.output_on()
        assert instrument.measure_voltage() == pytest.approx(0.0, abs=1.0)

    def test_sag_program_returns_its_trigger_time_and_restores_the_setpoint(self, instrument: Any) -> None:
        instrument.set_voltage(230.0)
        instrument.set_output(True)
        before = time.monotonic()
        t_trigger = instrument.sag(115.0, 0.2)
        assert isinstance(t_trigger, float) and t_trigger > 0
        deadline = time.monotonic() + 3
        while instrument.measure_voltage() < 225 and time.monotonic() < deadline:
            time.sleep(0.02)  # polling the measurement until the program has ended
        assert instrument.measure_voltage() == pytest.approx(230.0, rel=0.01), "setpoint restored after the sag"
        assert time.monotonic() - before >= 0.2

    def test_safe_state_turns_the_output_off(self, instrument: Any) -> None:
        instrument.set_output(True)
        instrument.safe_state()
        assert not instrument.output_on()


@pytest.mark.parametrize("instrument", ["eastron_sdm630", "carlo_gavazzi_em340", "yokogawa_wt"], indirect=True)
class TestEnergyMeterContract:
    def test_is_an_energy_meter_with_identity(self, instrument: Any) -> None:
        assert isinstance(instrument, EnergyMeter)
        assert instrument.identity().model

    def test_reads_the_mains_the_ac_source_applies(self, instrument: Any, ac_source: Any) -> None:
        assert instrument.voltage(1) == pytest.approx(230.0, rel=0.01)
        assert instrument.current(1) == pytest.approx(0.0, abs=0.05), "no EV load: no current"
        assert instrument.active_power() == pytest.approx(0.0, abs=5.0)
        e1 = instrument.energy_import_wh()
        assert e1 >= 0.0
        assert instrument.energy_import_wh() >= e1, "imported energy never decreases"


@pytest.mark.parametrize("instrument", ["modbus_relay_io", "keysight_daq970a"], indirect=True)
class TestRelayIoAndPilotCaptureContract:
    def test_offers_relays_and_pilot_capture(self, instrument: Any) -> None:
        assert isinstance(instrument, RelayIo)
        assert isinstance(instrument, PilotCapture)

    def test_relays_round_trip_and_open_all(self, instrument: Any) -> None:
        instrument.set_relay(3, True)
        assert instrument.relay(3)
        assert not instrument.relay(4)
        instrument.open_all()
        assert not instrument.relay(3)

    def test_clock_advances_and_pilot_reads(self, instrument: Any) -> None:
        t1 = instrument.now_s()
        reading = instrument.pilot()
        t2 = instrument.now_s()
        assert t2 >= t1
        assert -13.0 <= reading.low_v <= 13.0 and -13.0 <= reading.high_v <= 13.0

    def test_safe_state_opens_every_relay(self, instrument: Any) -> None:
        instrument.set_relay(1, True)
        instrument.set_relay(2, True)
        instrument.safe_state()
        assert not instrument.relay(1) and not instrument.relay(2)


def test_can_ev_board_contract() -> None:
    """The CAN EV emulator board driver against the simulated board (in-process python-can `virtual` bus)."""
    from rig.sim.virtual_bench import VirtualBench

    channel = f"rig-contract-{time.monotonic_ns()}"
    loop = asyncio.new_event_loop()
    bench = VirtualBench({"roles": {"ev": {"driver": "can_ev_board", "channel": channel,
                                            "params": {"interface": "virtual"}}}})
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(bench.start(), loop).result(10)
    board = make_instrument("ev_board", "can_ev_board", make_transport("can", "ev_board", interface="virtual",
                                                                        channel=channel))
    try:
        assert isinstance(board, EvEmulatorBoard)
        assert board.identity().model
        board.apply(EvBoardCommand(cp_state="B", pp_amps=32, ev_max_current_a=16.0))
        deadline = time.monotonic() + 2
        while board.pilot().high_v > 10 and time.monotonic() < deadline:
            time.sleep(0.02)  # status frames arrive every 10 ms
        # No EVSE attached: the plant's EVSE side is its default; the EV side must show the B resistor.
        assert board.pilot().high_v < 10.0
        board.safe_state()
    finally:
        board.close()
        asyncio.run_coroutine_threadsafe(bench.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
