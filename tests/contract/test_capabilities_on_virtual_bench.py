"""Capability contract tests: every real driver against the virtual bench server for the same instrument.

One test class per capability, parametrised over the drivers that offer it (python-can's contract-test style).
The drivers and transports are the ones a real bench uses; only the address differs. The SCPI and Modbus servers
run as the `rig.sim.virtual_bench` process on loopback, each on a port it bound itself (the drivers are given the
ports its ready line names); the CAN board runs in this process on python-can's
in-process `virtual` interface (UDP multicast is used only inside a run's own network namespace).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rig.config import config_from_dict
from rig.config.bench import transport_params
from rig.errors import Unsupported
from rig.instruments.capabilities import (
    AcSource,
    EnergyMeter,
    EvBoardCommand,
    EvEmulatorBoard,
    PilotMeter,
    ProgramStep,
    RelayIo,
    WaveformCapture,
)
from rig.instruments.registry import make_instrument, make_transport
from rig.sim.launch import instruments_for, serve_spec
from tests.support import wait_until

WIRING = {"cp_connect": 1, "s2_c": 2, "s2_d": 3, "diode_bypass": 4, "cp_pe_short": 5, "pp_220": 10}
ROLES = {
    "chroma_61500": "chroma_61500",
    "ametek_sequoia": "ametek_sequoia",
    "keysight_ac6800": "keysight_ac6800",
    "eastron_sdm630": "eastron_sdm630",
    "carlo_gavazzi_em340": "carlo_gavazzi_em340",
    "yokogawa_wt": "yokogawa_wt",
    "waveshare_relay": "waveshare_relay",
    "keysight_daq970a": "keysight_daq970a",
    "keysight_infiniivision": "keysight_infiniivision",
    "labjack_t7": "labjack_t7",
}
SCOPE_CHANNELS = {"cp": {"channel": 1, "probe": 10}, "evse_output": {"channel": 2, "probe": 100}}
PARAMS: dict[str, dict[str, Any]] = {"keysight_infiniivision": {"channels": SCOPE_CHANNELS}}


@pytest.fixture(scope="module")
def bench() -> Iterator[dict[str, Any]]:
    """The virtual bench serving one role per driver, each on a port it bound itself; yields its ready line."""
    # The relay module carries the EV emulator wiring (the virtual bench wires only the roles given one).
    roles: dict[str, dict[str, Any]] = {role: {"driver": driver} for role, driver in ROLES.items()}
    roles["keysight_daq970a"]["wiring"] = WIRING
    roles["keysight_infiniivision"]["params"] = PARAMS["keysight_infiniivision"]
    with serve_spec({"roles": roles, "plant": {"phases": 1}}) as ready:
        yield ready


@pytest.fixture(scope="module")
def served(bench: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Role -> transport kind and parameters, at the addresses the virtual bench reported."""
    instruments = config_from_dict(
        {"station": {}, "dut": {"kind": "network"}, "instruments": instruments_for(bench, timeout_s=2)}
    ).instruments
    return {role: {"kind": i.transport.kind, **transport_params(i.transport)} for role, i in instruments.items()}


def _open(role: str, served: dict[str, dict[str, Any]]) -> Any:
    params = dict(served[role])
    kind = params.pop("kind")
    return make_instrument(role, ROLES[role], make_transport(kind, role, **params), **PARAMS.get(role, {}))


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


def _plant_log(bench: dict[str, Any]) -> list[dict[str, Any]]:
    """The virtual bench's plant log (a half-written last line left out)."""
    records = []
    for line in Path(bench["plant_log"]).read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(ValueError):
            records.append(json.loads(line))
    return records


@pytest.mark.parametrize("instrument", ["chroma_61500", "ametek_sequoia", "keysight_ac6800"], indirect=True)
class TestAcSourceContract:
    def test_is_an_ac_source_with_identity(self, instrument: Any) -> None:
        assert isinstance(instrument, AcSource)
        ident = instrument.identity()
        assert ident.vendor and ident.model

    def test_setpoints_reach_the_output(self, instrument: Any) -> None:
        instrument.set_voltage(230.0)
        instrument.set_frequency(50.0)
        try:
            instrument.set_current_limit(32.0)
        except Unsupported as exc:  # a model whose current-limit command is not verified says so
            assert instrument.role in str(exc)
        instrument.set_output(True)
        assert instrument.output_on()
        assert instrument.measure_voltage() == pytest.approx(230.0, rel=0.01)
        try:
            assert instrument.measure_frequency() == pytest.approx(50.0, abs=0.05)
        except Unsupported as exc:
            assert instrument.role in str(exc)
        instrument.set_output(False)
        assert not instrument.output_on()
        assert instrument.measure_voltage() == pytest.approx(0.0, abs=1.0)

    def test_a_list_program_runs_on_the_output_or_is_unsupported(self, instrument: Any, bench: dict[str, Any]) -> None:
        instrument.set_voltage(230.0)
        instrument.set_output(True)
        before = len(_plant_log(bench))
        try:
            instrument.run_program([ProgramStep(115.0, 0.2)])
        except Unsupported as exc:  # a model without a list program says so, naming itself
            assert instrument.role in str(exc)
            return
        wait_until(
            instrument.measure_voltage, lambda v: v > 225, timeout_s=5, what="the setpoint restored after the sag"
        )
        # The plant log shows the program the driver asked for: 115 V, then the setpoint again 0.2 s later.
        mains = [(r["t_s"], r["ac_v"]) for r in _plant_log(bench)[before:] if "final" not in r and "ac_v" in r]
        sag = [i for i, (_, v) in enumerate(mains) if v == 115.0]
        assert sag, mains
        t_sag, _ = mains[sag[0]]
        back = next((t, v) for t, v in mains[sag[0] :] if v == 230.0)
        assert back[0] - t_sag == pytest.approx(0.2, abs=2e-6)

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


@pytest.mark.parametrize("instrument", ["waveshare_relay", "keysight_daq970a"], indirect=True)
class TestRelayIoContract:
    def test_offers_relays(self, instrument: Any) -> None:
        assert isinstance(instrument, RelayIo)
        assert instrument.relay_count >= 8

    def test_relays_round_trip_and_open_all(self, instrument: Any) -> None:
        instrument.set_relay(3, True)
        assert instrument.relay(3)
        assert not instrument.relay(4)
        instrument.open_all()
        assert not instrument.relay(3)

    def test_safe_state_opens_every_relay(self, instrument: Any) -> None:
        instrument.set_relay(1, True)
        instrument.set_relay(2, True)
        instrument.safe_state()
        assert not instrument.relay(1) and not instrument.relay(2)


@pytest.mark.parametrize("instrument", ["keysight_infiniivision", "labjack_t7"], indirect=True)
class TestPilotMeterContract:
    def test_reads_the_idle_pilot(self, instrument: Any) -> None:
        assert isinstance(instrument, PilotMeter)
        reading = instrument.pilot()  # no EVSE attached: the plant's generator holds +12 V, nothing plugged in
        assert reading.frequency_hz == 0.0 and reading.duty_pct == 100.0
        assert reading.high_v == pytest.approx(12.0, abs=0.5) and reading.low_v == pytest.approx(12.0, abs=0.5)


def test_the_scope_is_a_waveform_capture_of_its_mapped_signals(served: dict[str, dict[str, Any]]) -> None:
    scope = _open("keysight_infiniivision", served)
    try:
        assert isinstance(scope, WaveformCapture) and scope.signals() == ("cp", "evse_output")
    finally:
        scope.close()


_CHANNELS = itertools.count()


def test_can_ev_board_contract() -> None:
    """The CAN EV emulator board driver against the simulated board (in-process python-can `virtual` bus)."""
    from rig.sim.virtual_bench import VirtualBench

    channel = f"rig-contract-{next(_CHANNELS)}"
    loop = asyncio.new_event_loop()
    bench = VirtualBench(
        {"roles": {"ev": {"driver": "can_ev_board", "channel": channel, "params": {"interface": "virtual"}}}}
    )
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(bench.start(), loop).result(10)
    board = make_instrument(
        "ev_board", "can_ev_board", make_transport("can", "ev_board", interface="virtual", channel=channel)
    )
    try:
        assert isinstance(board, EvEmulatorBoard)
        assert board.identity().model
        board.apply(EvBoardCommand(cp_state="B", pp_amps=32, ev_max_current_a=16.0))
        # No EVSE attached: the plant's EVSE side is its default; the EV side must show the B resistor.
        wait_until(board.pilot, lambda p: p.high_v < 10.0, timeout_s=5, what="a status frame with the pilot of state B")
        board.safe_state()
    finally:
        board.close()
        asyncio.run_coroutine_threadsafe(bench.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
