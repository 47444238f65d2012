"""The Keysight DAQ970A + DAQM903A driver (docs/bench-protocols.md section 3.2) and its virtual instrument.

Every dialogue is played twice (the ``wire`` fixture): on the in-process scripted transport and on a TCP socket
through VisaTransport and pyvisa-py, so the bytes below are the bytes on the wire. Then the driver runs against the
virtual bench's DAQ970A over TCP, on simulated time.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from rig.errors import ConfigError, InstrumentError
from rig.instruments import registry
from rig.instruments.capabilities import Identity, RelayIo
from rig.instruments.keysight_daq970a import KeysightDaq970a
from rig.instruments.scripted_block import BlockEntry, ScriptedBlockTransport
from rig.instruments.visa_transport import VisaTransport
from rig.sim.daq import KeysightDaq970a as VirtualDaq970a
from rig.sim.daq import parse_channel_list
from rig.sim.plant import Plant
from rig.sim.virtual_bench import VirtualBench
from tests.instruments.scope_dialogues import ScriptPeer, Wire, WireFactory
from tests.sim.manual_clock import ManualClock

ROLE = "daq"
SCRIPTED_ADDRESS = "TCPIP0::192.0.2.8::5025::SOCKET"
IDN = b"Keysight Technologies,DAQ970A,MY58000001,A.03.02-01.00-03.02-00.02-01-02\n"
OPEN: list[BlockEntry] = [(b"*IDN?\n", IDN), (b"*CLS\n", None)]
NO_ERROR: BlockEntry = (b"SYST:ERR?\n", b'+0,"No error"\n')


@pytest.fixture(params=["scripted", "socket"])
def wire(request: pytest.FixtureRequest) -> Iterator[WireFactory]:
    """``wire(script, timeout_s=2.0)``: the script on a scripted transport, then again on a real socket."""
    peers: list[tuple[ScriptPeer, VisaTransport]] = []

    def make(script: Sequence[BlockEntry], timeout_s: float = 2.0) -> Wire:
        if request.param == "scripted":
            t = ScriptedBlockTransport(script, role=ROLE, address=SCRIPTED_ADDRESS, timeout_s=timeout_s)

            def finish_scripted() -> None:
                t.close()
                t.assert_done()

            return Wire(t, finish_scripted)
        peer = ScriptPeer(script)
        v = VisaTransport(ROLE, f"TCPIP0::127.0.0.1::{peer.port}::SOCKET", timeout_s=timeout_s)
        peers.append((peer, v))

        def finish_socket() -> None:
            v.close()
            peer.finish()

        return Wire(v, finish_socket)

    yield make
    for peer, transport in peers:  # a failed test may leave both open: the peer ends when the driver's side closes
        transport.close()
        peer._listener.close()
        peer._thread.join(10)


def opened(w: WireFactory, script: list[BlockEntry], **params: Any) -> tuple[KeysightDaq970a, Wire]:
    wired = w(script)
    daq = registry.make_instrument(ROLE, "keysight_daq970a", wired.transport, **params)
    assert isinstance(daq, KeysightDaq970a)
    return daq, wired


def test_dialogue(wire: WireFactory) -> None:
    """Open (model check, *CLS), close relay 1, open relay 12, read relay 3, open all, safe state, identity."""
    script: list[BlockEntry] = [
        *OPEN,
        (b"ROUT:CLOS (@301)\n", None),
        NO_ERROR,
        (b"ROUT:OPEN (@312)\n", None),
        NO_ERROR,
        (b"ROUT:CLOS? (@303)\n", b"1\n"),
        (b"ROUT:CLOS? (@320)\n", b"0\n"),
        (b"ROUT:OPEN (@301:320)\n", None),
        NO_ERROR,
        (b"ROUT:OPEN (@301:320)\n", None),
        NO_ERROR,
        (b"*IDN?\n", IDN),
    ]
    daq, wired = opened(wire, script)
    assert isinstance(daq, RelayIo) and daq.relay_count == 20 and daq.model == "DAQ970A"
    daq.set_relay(1, True)
    daq.set_relay(12, False)
    assert daq.relay(3) is True
    assert daq.relay(20) is False
    daq.open_all()
    daq.safe_state()
    assert daq.identity() == Identity(
        "Keysight Technologies", "DAQ970A", "MY58000001", "A.03.02-01.00-03.02-00.02-01-02"
    )
    daq.close()
    wired.finish()


def test_slot_and_relay_count_come_from_params(wire: WireFactory) -> None:
    script: list[BlockEntry] = [
        (b"*IDN?\n", b"Keysight Technologies,DAQ973A,MY60000002,A.03.02\n"),
        (b"*CLS\n", None),
        (b"ROUT:CLOS (@112)\n", None),
        NO_ERROR,
        (b"ROUT:OPEN (@101:120)\n", None),  # the whole module, not only the relays the rig uses
        NO_ERROR,
    ]
    daq, wired = opened(wire, script, slot=1, relay_count=12)
    assert daq.model == "DAQ973A"
    daq.set_relay(12, True)
    with pytest.raises(ValueError, match=r"relay 13 is outside 1\.\.12"):
        daq.set_relay(13, True)
    daq.open_all()
    daq.close()
    wired.finish()


@pytest.mark.parametrize(
    "idn",
    [
        b"Agilent Technologies,34970A,0,13-2-2\n",
        b"Keysight Technologies,34980A,MY00000001,2.51-2.43-2.07-1.05\n",
        b"KEYSIGHT TECHNOLOGIES,DSOX3024T,MY59100001,07.50.2021102830\n",
        b"no identity\n",
    ],
)
def test_another_instrument_is_refused(wire: WireFactory, idn: bytes) -> None:
    wired = wire([(b"*IDN?\n", idn)])
    with pytest.raises(InstrumentError) as info:
        registry.make_instrument(ROLE, "keysight_daq970a", wired.transport)
    assert info.value.role == ROLE and info.value.address == wired.transport.address
    assert info.value.last_command == "*IDN?"
    text = str(info.value)
    assert repr(idn.decode().strip()) in text and "DAQ970A or DAQ973A" in text
    assert not wired.transport.is_open  # type: ignore[attr-defined]
    wired.finish()


def test_an_error_in_the_queue_names_role_instrument_and_command(wire: WireFactory) -> None:
    script: list[BlockEntry] = [
        *OPEN,
        (b"ROUT:CLOS (@305)\n", None),
        (b"SYST:ERR?\n", b'-221,"Settings conflict"\n'),
        (b"SYST:ERR?\n", b'-113,"Undefined header"\n'),
        NO_ERROR,
    ]
    daq, wired = opened(wire, script)
    with pytest.raises(InstrumentError) as info:
        daq.set_relay(5, True)
    text = str(info.value)
    assert info.value.role == ROLE and info.value.address == wired.transport.address
    assert info.value.last_command == "ROUT:CLOS (@305)"
    assert "keysight_daq970a DAQ970A slot 3" in text
    assert '-221,"Settings conflict"; -113,"Undefined header" after ROUT:CLOS (@305)' in text
    daq.close()
    wired.finish()


def test_an_unreadable_error_answer_is_reported(wire: WireFactory) -> None:
    daq, wired = opened(wire, [*OPEN, (b"ROUT:OPEN (@301:320)\n", None), (b"SYST:ERR?\n", b"garbage\n")])
    with pytest.raises(InstrumentError, match=r"expected '<code>,\"<text>\"' in answer to SYST:ERR\?, got 'garbage'"):
        daq.safe_state()
    daq.close()
    wired.finish()


def test_an_unexpected_state_answer_is_reported(wire: WireFactory) -> None:
    daq, wired = opened(wire, [*OPEN, (b"ROUT:CLOS? (@302)\n", b"1,0\n")])
    with pytest.raises(InstrumentError) as info:
        daq.relay(2)
    assert info.value.last_command == "ROUT:CLOS? (@302)" and "expected 1 or 0" in str(info.value)
    daq.close()
    wired.finish()


@pytest.mark.parametrize("channel", [0, 21, -3, True, 1.0, "1"])
def test_a_relay_out_of_range_is_refused_and_nothing_is_sent(wire: WireFactory, channel: object) -> None:
    daq, wired = opened(wire, list(OPEN))
    for call in (lambda: daq.set_relay(channel, True), lambda: daq.relay(channel)):  # type: ignore[arg-type]
        with pytest.raises(ValueError) as info:
            call()
        text = str(info.value)
        assert f"role {ROLE!r}" in text and f"relay {channel!r} is outside 1..20" in text
        assert f"instruments.{ROLE}.params.relay_count" in text and "nothing sent" in text
    daq.close()
    wired.finish()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"slot": 0}, r"instruments\.daq\.params\.slot must be the DAQM903A's slot 1\.\.3, got 0"),
        ({"slot": 4}, r"slot 1\.\.3, got 4"),
        ({"relay_count": 21}, r"instruments\.daq\.params\.relay_count must be an integer 1\.\.20, got 21"),
        ({"relay_count": 0}, r"relay_count must be an integer 1\.\.20"),
        ({"slot": True}, r"slot must be"),
    ],
)
def test_bad_params_name_the_yaml_path(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        KeysightDaq970a(ROLE, ScriptedBlockTransport([]), **params)


def test_an_unknown_param_is_refused() -> None:
    with pytest.raises(ValueError, match="bad parameters for driver 'keysight_daq970a'"):
        registry.make_instrument(ROLE, "keysight_daq970a", ScriptedBlockTransport([]), analog_count=4)


# -- the virtual DAQ970A -------------------------------------------------------------------------------------------
WIRING = {"cp_connect": 1, "s2_c": 2, "pp_220": 10}


def test_channel_lists() -> None:
    assert parse_channel_list("(@301)") == [301]
    assert parse_channel_list("(@301,305)") == [301, 305]
    assert parse_channel_list("(@301:304, 320)") == [301, 302, 303, 304, 320]
    for bad in ("301", "(@)", "(@304:301)", "(@3a1)"):
        with pytest.raises(ValueError):
            parse_channel_list(bad)


def test_the_virtual_daq_answers_only_the_drivers_commands() -> None:
    plant = Plant(clock=ManualClock())
    try:
        daq = VirtualDaq970a(plant, {"serial": "VIRT0001", "firmware": "1.0"}, WIRING)
        assert daq.handle_line("*IDN?") == "Keysight Technologies,DAQ970A,VIRT0001,1.0"
        assert daq.handle_line("SYST:ERR?") == '+0,"No error"'
        daq.handle_line("ROUT:CLOS (@301,310)")
        assert plant.switches["cp_connect"] and plant.switches["pp_220"] and not plant.switches["s2_c"]
        assert daq.handle_line("ROUT:CLOS? (@301:303,310)") == "1,0,0,1"
        for unknown in ("*RST", "MEAS:VOLT:DC? (@101)", "SENS:PWM:DUTY? (@301)", "ROUT:SCAN (@301)"):
            assert daq.handle_line(unknown) is None
            assert daq.handle_line("SYST:ERR?") == '-113,"Undefined header"'
        for wrong in ("ROUT:CLOS (@101)", "ROUT:OPEN (@321)", "ROUT:CLOS? (@401)", "ROUT:OPEN 301"):
            assert daq.handle_line(wrong) is None
            assert daq.handle_line("SYST:ERR?") == '-224,"Illegal parameter value"'
        assert plant.switches["cp_connect"]  # the refused commands changed nothing
        daq.handle_line("ROUT:OPEN (@301:320)")
        assert not any(plant.switches[name] for name in WIRING)
        daq.handle_line("NOPE")
        daq.handle_line("*CLS")
        assert daq.handle_line("SYST:ERR?") == '+0,"No error"'
    finally:
        plant.close()


@contextlib.contextmanager
def virtual_daq(params: dict[str, Any] | None = None) -> Iterator[tuple[VirtualBench, str]]:
    """The virtual bench serving one keysight_daq970a role on simulated time, its loop in a thread; (bench,
    VISA resource)."""
    role = {"driver": "keysight_daq970a", "wiring": WIRING, "params": params or {}}
    bench = VirtualBench({"roles": {ROLE: role}}, clock=ManualClock())
    loop = asyncio.new_event_loop()
    ready = loop.run_until_complete(bench.start())
    thread = threading.Thread(target=loop.run_forever, name="virtual-bench", daemon=True)
    thread.start()
    where = ready["roles"][ROLE]
    try:
        yield bench, f"TCPIP0::{where['host']}::{where['port']}::SOCKET"
    finally:
        asyncio.run_coroutine_threadsafe(bench.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def connect(resource: str, **params: Any) -> KeysightDaq970a:
    transport = registry.make_transport("visa", ROLE, resource=resource, timeout_s=2.0)
    daq = registry.make_instrument(ROLE, "keysight_daq970a", transport, **params)
    assert isinstance(daq, KeysightDaq970a)
    return daq


def test_the_driver_switches_the_plant_through_the_virtual_daq() -> None:
    with virtual_daq({"serial": "VIRT0001"}) as (bench, resource):
        daq = connect(resource)
        try:
            assert daq.identity().model == "DAQ970A" and daq.identity().serial == "VIRT0001"
            daq.set_relay(10, True)  # PP 220 ohm: a 32 A cable
            daq.set_relay(1, True)  # CP connected: state B
            daq.set_relay(15, True)  # not wired: only the relay moves
            assert bench.plant.switches["pp_220"] and bench.plant.switches["cp_connect"]
            assert bench.plant.pilot().state == "B"
            assert [k for k in range(1, 21) if daq.relay(k)] == [1, 10, 15]
            daq.set_relay(2, True)
            assert bench.plant.pilot().state == "C"
            daq.set_relay(2, False)
            assert bench.plant.pilot().state == "B"
            daq.safe_state()
            assert not any(daq.relay(k) for k in range(1, 21))
            assert not any(bench.plant.switches[name] for name in WIRING)
        finally:
            daq.close()


def test_a_wrong_slot_is_reported_by_the_virtual_daq() -> None:
    """The driver says slot 1, the module is in slot 3: the instrument queues -224 and the driver raises."""
    with virtual_daq() as (bench, resource):
        daq = connect(resource, slot=1)
        try:
            with pytest.raises(InstrumentError) as info:
                daq.set_relay(1, True)
            assert info.value.last_command == "ROUT:CLOS (@101)"
            assert '-224,"Illegal parameter value" after ROUT:CLOS (@101)' in str(info.value)
            assert not bench.plant.switches["cp_connect"]
        finally:
            daq.close()


def test_the_virtual_daq_in_another_slot() -> None:
    with virtual_daq({"slot": 2}) as (bench, resource):
        daq = connect(resource, slot=2)
        try:
            daq.set_relay(1, True)
            assert daq.relay(1) is True and bench.plant.switches["cp_connect"]
            daq.open_all()
            assert not bench.plant.switches["cp_connect"]
        finally:
            daq.close()
