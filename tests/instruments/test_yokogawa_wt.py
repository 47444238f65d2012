"""Byte-exact dialogues of the Yokogawa WT300E driver (docs/bench-protocols.md section 2.3), and the driver against
the virtual analyser of the virtual bench.

Every recorded exchange is played twice (the ``wire`` fixture): on the in-process scripted transport and on a TCP
socket through VisaTransport and pyvisa-py, so the bytes below are the bytes on the wire.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence

import pytest

from rig.errors import InstrumentError
from rig.instruments import registry
from rig.instruments.capabilities import EnergyMeter, Identity
from rig.instruments.scripted import TIMEOUT
from rig.instruments.scripted_block import BlockEntry, ScriptedBlockTransport
from rig.instruments.visa_transport import VisaTransport
from rig.instruments.yokogawa_wt import YokogawaWt
from rig.sim.plant import Plant
from rig.sim.scpi import YokogawaWt as VirtualWt
from tests.instruments.scope_dialogues import ScriptPeer, Wire, WireFactory

ROLE = "analyser"
SCRIPTED_ADDRESS = "TCPIP0::192.0.2.23::inst0::INSTR"
IDN = b"YOKOGAWA,WT333E,C3UE12345E,F1.05\n"
NO_ERROR: list[BlockEntry] = [(b":STATus:ERRor?\n", b'0,"No error"\n')]


def configure(phases: int) -> list[BlockEntry]:
    items: list[BlockEntry] = []
    for element in range(1, phases + 1):
        for n, fn in enumerate(("U", "I", "P", "WHP")):
            items.append((f":NUMeric:NORMal:ITEM{4 * (element - 1) + n + 1} {fn},{element}\n".encode(), None))
    return [
        (b":COMMunicate:REMote ON\n", None),
        (b":COMMunicate:HEADer OFF\n", None),
        (b":NUMeric:FORMat ASCii\n", None),
        (f":NUMeric:NORMal:NUMber {4 * phases}\n".encode(), None),
        *items,
        *NO_ERROR,
    ]


RESTART_FROM_RESET: list[BlockEntry] = [
    (b":INTEGrate:STATe?\n", b"RES\n"),
    (b":INTEGrate:RESet\n", None),
    (b":INTEGrate:STARt\n", None),
    *NO_ERROR,
]
RESTART_FROM_START: list[BlockEntry] = [
    (b":INTEGrate:STATe?\n", b"STAR\n"),
    (b":INTEGrate:STOP\n", None),
    (b":INTEGrate:RESet\n", None),
    (b":INTEGrate:STARt\n", None),
    *NO_ERROR,
]


def open_script(phases: int = 1, idn: bytes = IDN) -> list[BlockEntry]:
    return [(b"*IDN?\n", idn), (b"*CLS\n", None), *configure(phases), *RESTART_FROM_RESET]


VALUES_1P = b"2.30100E+02,1.60000E+01,3.68160E+03,1.25000E+01\n"
VALUE: BlockEntry = (b":NUMeric:NORMal:VALue?\n", VALUES_1P)


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


def opened(
    w: WireFactory, script: list[BlockEntry], timeout_s: float = 2.0, **params: object
) -> tuple[YokogawaWt, Wire]:
    wired = w(script, timeout_s=timeout_s)
    analyser = registry.make_instrument(ROLE, "yokogawa_wt", wired.transport, integration_settle_s=0, **params)
    assert isinstance(analyser, YokogawaWt)
    return analyser, wired


def test_open_and_every_measurement(wire: WireFactory) -> None:
    script = [
        *open_script(),
        VALUE,
        VALUE,
        VALUE,
        VALUE,
        VALUE,
        (b":INTEGrate:STATe?\n", b"STAR\n"),
        *RESTART_FROM_START,
        (b":INTEGrate:STATe?\n", b"RESET\n"),  # the long form (VERBose ON) is understood too
        (b"*IDN?\n", IDN),
    ]
    m, wired = opened(wire, script)
    assert isinstance(m, EnergyMeter)
    assert m.model == "WT333E" and m.phases == 1
    assert m.voltage() == 230.1
    assert m.current(1) == 16.0
    assert m.active_power(1) == 3681.6
    assert m.active_power() == 3681.6
    assert m.energy_import_wh() == 12.5
    assert m.integration_state == "START"
    m.reset_energy()
    assert m.integration_state == "RESET"
    assert m.identity() == Identity("YOKOGAWA", "WT333E", "C3UE12345E", "F1.05")
    m.safe_state()
    m.close()
    wired.finish()


def test_three_elements(wire: WireFactory) -> None:
    values = b"2.30E+02,1.0E+01,2.3E+03,1.5E+00,2.31E+02,1.1E+01,2.5E+03,2.0E+00,2.29E+02,1.2E+01,2.7E+03,2.5E+00\n"
    read: BlockEntry = (b":NUMeric:NORMal:VALue?\n", values)
    m, wired = opened(wire, [*open_script(phases=3), read, read, read, read], phases=3)
    assert m.voltage(2) == 231.0
    assert m.current(3) == 12.0
    assert m.active_power() == 7500.0
    assert m.energy_import_wh() == 6.0
    with pytest.raises(ValueError, match=r"phase must be 1\.\.3"):
        m.voltage(4)
    m.close()
    wired.finish()


@pytest.mark.parametrize(
    ("idn", "seen"),
    [
        (b"KEYSIGHT TECHNOLOGIES,DSOX3024T,MY59100001,07.50\n", "KEYSIGHT TECHNOLOGIES 'DSOX3024T'"),
        (b"YOKOGAWA,WT1806E,C2QD00001,F2.01\n", "YOKOGAWA 'WT1806E'"),  # another WT family: WP items, not WHP
        (b"YOKOGAWA,WT3004E,C2QD00002,F1.10\n", "YOKOGAWA 'WT3004E'"),
    ],
)
def test_another_model_is_refused(wire: WireFactory, idn: bytes, seen: str) -> None:
    wired = wire([(b"*IDN?\n", idn)])
    with pytest.raises(InstrumentError) as info:
        registry.make_instrument(ROLE, "yokogawa_wt", wired.transport)
    text = str(info.value)
    assert (info.value.role, info.value.address, info.value.last_command) == (ROLE, wired.transport.address, "*IDN?")
    assert seen in text and repr(idn.decode().strip()) in text and "WT333/WT333E (3)" in text
    assert not wired.transport.is_open  # type: ignore[attr-defined]
    wired.finish()


def test_more_phases_than_the_model_has_elements(wire: WireFactory) -> None:
    wired = wire([(b"*IDN?\n", b"YOKOGAWA,WT310E,C3UE00001,F1.05\n")])
    with pytest.raises(InstrumentError, match=r"params.phases is 3 but the WT310E \(from \*IDN\?\) has 1 input") as e:
        registry.make_instrument(ROLE, "yokogawa_wt", wired.transport, phases=3)
    assert e.value.last_command == "*IDN?"
    wired.finish()


def test_an_error_after_configuration_names_the_commands(wire: WireFactory) -> None:
    script = [
        (b"*IDN?\n", IDN),
        (b"*CLS\n", None),
        *configure(1)[:-1],
        (b":STATus:ERRor?\n", b'-224,"Illegal parameter value"\n'),
        (b":STATus:ERRor?\n", b'113,"Undefined header"\n'),
        *NO_ERROR,
    ]
    wired = wire(script)
    with pytest.raises(InstrumentError) as info:
        registry.make_instrument(ROLE, "yokogawa_wt", wired.transport)
    text = str(info.value)
    assert (info.value.role, info.value.address) == (ROLE, wired.transport.address)
    assert info.value.last_command == ":STATus:ERRor?"
    assert '-224,"Illegal parameter value"; 113,"Undefined header"' in text
    assert ":COMMunicate:REMote ON" in text and ":NUMeric:NORMal:ITEM4 WHP,1" in text
    wired.finish()


def test_an_error_after_the_integration_restart_names_its_commands(wire: WireFactory) -> None:
    script = [
        *open_script()[:-1],
        (b":STATus:ERRor?\n", b'845,"Execution error"\n'),
        *NO_ERROR,
    ]
    wired = wire(script)
    with pytest.raises(InstrumentError, match=r'845,"Execution error" after: :INTEGrate:RESet; :INTEGrate:STARt'):
        registry.make_instrument(ROLE, "yokogawa_wt", wired.transport, integration_settle_s=0)
    wired.finish()


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"2.30100E+02,1.60000E+01,3.68160E+03,9.91E+37\n", r"item 4 \(WHP,1\) .* is 9\.91E\+37 \(NAN/INF"),
        (b"9.91E+37,1.60000E+01,3.68160E+03,1.2E+01\n", r"item 1 \(U,1\) .* is 9\.91E\+37 \(NAN/INF"),
        (b"5.00000E+03,1.60000E+01,3.68160E+03,1.2E+01\n", r"item 1 \(U,1\) .* gave 5000 V for the voltage, outside"),
        (b"2.3E+02,1.6E+01,3.7E+03,-1.0E+00\n", r"gave -1 Wh for the energy, outside 0\.\.1e\+12 Wh"),
        (b"2.3E+02,1.6E+01,3.7E+03\n", r"expected 4 comma-separated items"),
        (b"2.3E+02,1.6E+01,3.7E+03,NAN\n", r"item 4 \(WHP,1\) .* gave nan for the energy: not a number"),
        (b"2.3E+02,1.6E+01,3.7E+03,--\n", r"item 4 \(WHP,1\) .* is '--', not a number"),
    ],
)
def test_no_value_or_an_implausible_one_is_refused(wire: WireFactory, answer: bytes, message: str) -> None:
    m, wired = opened(wire, [*open_script(), (b":NUMeric:NORMal:VALue?\n", answer)])
    with pytest.raises(InstrumentError, match=message) as info:
        m.energy_import_wh()
    assert (info.value.role, info.value.last_command) == (ROLE, ":NUMeric:NORMal:VALue?")
    m.close()
    wired.finish()


def test_an_unknown_integration_state(wire: WireFactory) -> None:
    m, wired = opened(wire, [*open_script(), (b":INTEGrate:STATe?\n", b"BUSY\n")])
    with pytest.raises(InstrumentError, match=r"unexpected answer 'BUSY' to :INTEGrate:STATe\?"):
        _ = m.integration_state
    m.close()
    wired.finish()


def test_silence_times_out_naming_the_query() -> None:
    t = ScriptedBlockTransport([*open_script(), (b":NUMeric:NORMal:VALue?\n", TIMEOUT)], role=ROLE, timeout_s=0.3)
    m = registry.make_instrument(ROLE, "yokogawa_wt", t, integration_settle_s=0)
    with pytest.raises(InstrumentError, match=r"timeout after 0\.3 s") as info:
        m.voltage()  # type: ignore[attr-defined]
    assert info.value.last_command == ":NUMeric:NORMal:VALue?"
    t.assert_done()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"phases": 4}, r"params.phases must be 1, 2 or 3, got 4"),
        ({"phases": True}, r"params.phases must be 1, 2 or 3"),
        ({"integration_settle_s": -1}, r"params.integration_settle_s must be 0..5 s"),
        ({"elements": 3}, r"bad parameters for driver 'yokogawa_wt'"),
    ],
)
def test_bad_params_are_refused_before_anything_is_sent(params: dict[str, object], message: str) -> None:
    t = ScriptedBlockTransport([], role=ROLE)
    with pytest.raises(ValueError, match=message):
        registry.make_instrument(ROLE, "yokogawa_wt", t, **params)
    t.assert_done()


# -- the driver against the virtual analyser ------------------------------------------------------------------------
class ServedWt:
    """The virtual WT analyser on 127.0.0.1 in its own event loop thread."""

    def __init__(self, plant: Plant, params: dict[str, object]) -> None:
        self.server = VirtualWt(plant, params)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="virtual-wt", daemon=True)
        self.thread.start()
        _, self.port = asyncio.run_coroutine_threadsafe(self.server.start("127.0.0.1", 0), self.loop).result(5)

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


def test_the_driver_against_the_virtual_analyser(plant: Plant) -> None:
    served = ServedWt(plant, {"model": "WT333E", "serial": "SIM0042"})
    t = VisaTransport(ROLE, f"TCPIP0::127.0.0.1::{served.port}::SOCKET", timeout_s=2.0)
    try:
        m = registry.make_instrument(ROLE, "yokogawa_wt", t, phases=1, integration_settle_s=0)
        assert isinstance(m, YokogawaWt)
        assert m.identity() == Identity("YOKOGAWA", "WT333E", "SIM0042", "1.0")
        assert m.voltage() == pytest.approx(230.0)
        assert m.current() == 0.0 and m.active_power() == 0.0
        assert m.energy_import_wh() == 0.0
        assert m.integration_state == "START"
        m.reset_energy()  # from START: stop, reset, start
        assert m.integration_state == "START"
        t.write(":NUMeric:NORMal:VALUE")  # not a command: the analyser queues -113
        t.write(":NUMERIC:NORMAL:ITEM1 WP,1")  # a WT3000's item name: not this analyser's
        assert t.query(":STAT:ERR?") == '-113,"Undefined header"'
        assert t.query(":STATUS:ERROR?") == '-224,"Illegal parameter value"'
        assert t.query(":stat:err?") == '0,"No error"'
        m.close()
    finally:
        t.close()
        served.close()


def test_the_virtual_analyser_refuses_an_element_it_lacks(plant: Plant) -> None:
    served = ServedWt(plant, {"model": "WT332E"})
    t = VisaTransport(ROLE, f"TCPIP0::127.0.0.1::{served.port}::SOCKET", timeout_s=2.0)
    try:
        m = registry.make_instrument(ROLE, "yokogawa_wt", t, phases=2, integration_settle_s=0)
        assert m.voltage(2) == 0.0  # type: ignore[attr-defined]  # the plant has one phase: nothing on element 2
        t.write(":NUMeric:NORMal:ITEM9 U,3")
        assert t.query(":STATus:ERRor?") == '-224,"Illegal parameter value"'
        m.close()
    finally:
        t.close()
        served.close()
