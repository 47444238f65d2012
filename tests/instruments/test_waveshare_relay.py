"""The Waveshare Modbus POE ETH Relay (B) driver (docs/bench-protocols.md section 3.1): recorded requests on a
scripted transport, the same requests as Modbus TCP bytes through pymodbus to a scripted peer, refusals, exception
responses, and the driver against the virtual bench's module."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from rig.errors import ConfigError, InstrumentError
from rig.instruments import registry
from rig.instruments.capabilities import Identity, RelayIo
from rig.instruments.modbus_transport import ModbusTcpTransport
from rig.instruments.scripted import Fail, RegisterEntry, ScriptedRegisterTransport
from rig.instruments.waveshare_relay import WaveshareRelay
from rig.sim.virtual_bench import VirtualBench
from tests.sim.manual_clock import ManualClock

ROLE = "relays"
ADDRESS = "192.0.2.9:502/unit1"
OFF8 = [False] * 8
OPEN: list[RegisterEntry] = [("fc03", 0x8000, [0x0064])]


def opened(script: list[RegisterEntry], **params: Any) -> tuple[WaveshareRelay, ScriptedRegisterTransport]:
    t = ScriptedRegisterTransport(script, role=ROLE, address=ADDRESS)
    relays = registry.make_instrument(ROLE, "waveshare_relay", t, **params)
    assert isinstance(relays, WaveshareRelay)
    return relays, t


def test_dialogue() -> None:
    """Open (firmware word), close relay 3, open relay 8, read relay 3 and 4, open all, safe state."""
    relays, t = opened(
        [
            *OPEN,
            ("fc05", 0x0002, True),
            ("fc05", 0x0007, False),
            ("fc01", 0x0000, [False, False, True, False, False, False, False, False]),
            ("fc01", 0x0000, [False, False, True, False, False, False, False, False]),
            ("fc15", 0x0000, OFF8),
            ("fc15", 0x0000, OFF8),
            ("fc03", 0x8000, [0x0064]),
        ]
    )
    assert isinstance(relays, RelayIo) and relays.relay_count == 8 and relays.firmware == "0x0064"
    relays.set_relay(3, True)
    relays.set_relay(8, False)
    assert relays.relay(3) is True
    assert relays.relay(4) is False
    relays.open_all()
    relays.safe_state()
    assert relays.identity() == Identity("Waveshare", "Modbus POE ETH Relay (B)", "", "0x0064")
    relays.close()
    t.assert_done()


def test_register_bases_and_count_come_from_params() -> None:
    relays, t = opened(
        [
            ("fc03", 0x9000, [0x0102]),
            ("fc05", 0x0013, True),
            ("fc01", 0x0010, [True, False, False, True]),
            ("fc15", 0x0010, [False] * 4),
        ],
        relay_count=4,
        coil_base=0x0010,
        version_register=0x9000,
        model="Modbus POE ETH Relay",
    )
    relays.set_relay(4, True)
    assert relays.relay(4) is True
    relays.open_all()
    assert relays.model == "Modbus POE ETH Relay" and relays.firmware == "0x0102"
    t.assert_done()


@pytest.mark.parametrize("channel", [0, 9, -1, True, 3.0, "3"])
def test_a_relay_out_of_range_is_refused_and_nothing_is_sent(channel: object) -> None:
    relays, t = opened(list(OPEN))
    for call in (lambda: relays.set_relay(channel, True), lambda: relays.relay(channel)):  # type: ignore[arg-type]
        with pytest.raises(ValueError) as info:
            call()
        text = str(info.value)
        assert f"role {ROLE!r}" in text and f"relay {channel!r} is outside 1..8" in text
        assert f"instruments.{ROLE}.params.relay_count" in text and "nothing sent" in text
    t.assert_done()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"relay_count": 0}, r"instruments\.relays\.params\.relay_count must be an integer 1\.\.2000, got 0"),
        ({"relay_count": "8"}, r"relay_count must be an integer"),
        ({"coil_base": -1}, r"instruments\.relays\.params\.coil_base must be a register address"),
        ({"version_register": 0x10000}, r"version_register must be a register address"),
        ({"coil_base": 0xFFFF, "relay_count": 2}, r"passes the last coil"),
        ({"model": ""}, r"model must be a non-empty string"),
    ],
)
def test_bad_params_name_the_yaml_path(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        WaveshareRelay(ROLE, ScriptedRegisterTransport([]), **params)


def test_an_unknown_param_is_refused() -> None:
    with pytest.raises(ValueError, match="bad parameters for driver 'waveshare_relay'"):
        registry.make_instrument(ROLE, "waveshare_relay", ScriptedRegisterTransport([]), relay_base=1)


def test_an_exception_response_names_role_address_and_request() -> None:
    relays, t = opened([*OPEN, ("fc05", 0x0002, Fail("Modbus exception response 2 (illegal data address)"))])
    with pytest.raises(InstrumentError) as info:
        relays.set_relay(3, True)
    assert (info.value.role, info.value.address, info.value.last_command) == (ROLE, ADDRESS, "FC05 0x0002 value=True")
    t.assert_done()


def test_no_answer_at_open_fails_the_open_and_closes_the_transport() -> None:
    t = ScriptedRegisterTransport([("fc03", 0x8000, Fail("no valid response within 1 s"))], role=ROLE, address=ADDRESS)
    with pytest.raises(InstrumentError, match="no valid response"):
        registry.make_instrument(ROLE, "waveshare_relay", t)
    assert not t.is_open
    t.assert_done()


# -- the same requests as Modbus TCP bytes -------------------------------------------------------------------------
class ModbusPeer:
    """A Modbus TCP peer playing ``(request PDU, response PDU)`` pairs for unit 1: it checks the MBAP header
    (protocol 0, length, unit) and the request PDU byte for byte and answers with the request's transaction id."""

    def __init__(self, script: list[tuple[bytes, bytes]]) -> None:
        self.script = script
        self.played = 0
        self.failure: str | None = None
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(10)
        self.port = int(self._listener.getsockname()[1])
        self._thread = threading.Thread(target=self._run, name="modbus-script-peer", daemon=True)
        self._thread.start()

    def _read(self, conn: socket.socket, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def _run(self) -> None:
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(10)
            try:
                for request, response in self.script:
                    tid, protocol, length, unit = struct.unpack(">HHHB", self._read(conn, 7))
                    pdu = self._read(conn, length - 1)
                    if (protocol, unit, pdu) != (0, 1, request):
                        self.failure = f"expected unit 1 PDU {request.hex()}, got unit {unit} PDU {pdu.hex()}"
                        return
                    conn.sendall(struct.pack(">HHHB", tid, 0, len(response) + 1, 1) + response)
                    self.played += 1
                extra = conn.recv(65536)
                if extra:
                    self.failure = f"unexpected bytes after the script: {extra.hex()}"
            except (EOFError, OSError):
                return

    def finish(self) -> None:
        self._thread.join(10)
        self._listener.close()
        assert self.failure is None, self.failure
        assert self.played == len(self.script), f"script not finished: {self.script[self.played :]}"


@contextlib.contextmanager
def on_the_wire(script: list[tuple[bytes, bytes]]) -> Iterator[tuple[WaveshareRelay, ModbusTcpTransport]]:
    peer = ModbusPeer(script)
    transport = ModbusTcpTransport(ROLE, "127.0.0.1", port=peer.port, unit=1, timeout_s=2.0, retries=0)
    relays = registry.make_instrument(ROLE, "waveshare_relay", transport)
    assert isinstance(relays, WaveshareRelay)
    try:
        yield relays, transport
    finally:
        relays.close()
        peer.finish()


def test_the_requests_on_the_wire() -> None:
    """FC03 0x8000 x1; FC05 0x0002 = 0xFF00 and 0x0007 = 0x0000; FC01 0x0000 x8 (bit 0 = relay 1); FC15 0x0000 x8."""
    with on_the_wire(
        [
            (bytes.fromhex("03 8000 0001"), bytes.fromhex("03 02 0064")),
            (bytes.fromhex("05 0002 FF00"), bytes.fromhex("05 0002 FF00")),
            (bytes.fromhex("05 0007 0000"), bytes.fromhex("05 0007 0000")),
            (bytes.fromhex("01 0000 0008"), bytes.fromhex("01 01 84")),
            (bytes.fromhex("0F 0000 0008 01 00"), bytes.fromhex("0F 0000 0008")),
        ]
    ) as (relays, _):
        assert relays.firmware == "0x0064"
        relays.set_relay(3, True)
        relays.set_relay(8, False)
        assert relays.relay(3) is True  # 0x84: relays 3 and 8
        relays.open_all()


def test_an_exception_response_on_the_wire() -> None:
    script = [
        (bytes.fromhex("03 8000 0001"), bytes.fromhex("03 02 0064")),
        (bytes.fromhex("05 0002 FF00"), b"\x85\x02"),
    ]
    with on_the_wire(script) as (relays, transport), pytest.raises(InstrumentError) as info:
        relays.set_relay(3, True)
    assert info.value.role == ROLE and info.value.address == transport.address
    assert info.value.last_command == "FC05 0x0002 value=True" and "exception response 2" in str(info.value)


# -- against the virtual bench's module ------------------------------------------------------------------------------
WIRING = {"cp_connect": 1, "s2_c": 2, "pp_220": 8}


@contextlib.contextmanager
def virtual_module(params: dict[str, Any] | None = None) -> Iterator[tuple[VirtualBench, int]]:
    """The virtual bench serving one waveshare_relay role on simulated time, its loop in a thread; (bench, port)."""
    role = {"driver": "waveshare_relay", "wiring": WIRING, "params": params or {}}
    bench = VirtualBench({"roles": {ROLE: role}}, clock=ManualClock())
    loop = asyncio.new_event_loop()
    ready = loop.run_until_complete(bench.start())
    thread = threading.Thread(target=loop.run_forever, name="virtual-bench", daemon=True)
    thread.start()
    try:
        yield bench, int(ready["roles"][ROLE]["port"])
    finally:
        asyncio.run_coroutine_threadsafe(bench.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def connect(port: int, **params: Any) -> WaveshareRelay:
    transport = registry.make_transport("modbus_tcp", ROLE, host="127.0.0.1", port=port, unit=1, timeout_s=2.0)
    relays = registry.make_instrument(ROLE, "waveshare_relay", transport, **params)
    assert isinstance(relays, WaveshareRelay)
    return relays


def test_the_driver_switches_the_plant_through_the_virtual_module() -> None:
    with virtual_module({"firmware": 0x0123}) as (bench, port):
        relays = connect(port)
        try:
            assert relays.identity() == Identity("Waveshare", "Modbus POE ETH Relay (B)", "", "0x0123")
            relays.set_relay(8, True)  # PP 220 ohm: a 32 A cable
            relays.set_relay(1, True)  # CP connected: state B
            relays.set_relay(5, True)  # not wired: only the relay moves
            assert bench.plant.switches["pp_220"] and bench.plant.switches["cp_connect"]
            assert bench.plant.pilot().state == "B"
            assert [relays.relay(k) for k in range(1, 9)] == [True, False, False, False, True, False, False, True]
            relays.set_relay(2, True)
            assert bench.plant.pilot().state == "C"
            relays.safe_state()
            assert not any(relays.relay(k) for k in range(1, 9))
            assert not any(bench.plant.switches[name] for name in WIRING)
        finally:
            relays.close()


def test_the_virtual_module_refuses_other_addresses_with_exception_2() -> None:
    with virtual_module() as (bench, port):
        relays = connect(port, relay_count=9)  # one relay more than the module has
        try:
            with pytest.raises(InstrumentError, match="exception response 2") as info:
                relays.set_relay(9, True)
            assert info.value.last_command == "FC05 0x0008 value=True"
            with pytest.raises(InstrumentError, match="exception response 2"):
                relays.open_all()  # FC15 of 9 coils
            with pytest.raises(InstrumentError, match="exception response 2"):
                relays.transport.read_input_registers(0, 1)
            with pytest.raises(InstrumentError, match="exception response 2"):
                relays.transport.write_register(0x8000, 1)  # the version register is read-only
            assert not bench.plant.switches["cp_connect"]
        finally:
            relays.close()


def test_the_virtual_module_refuses_wiring_to_a_relay_it_does_not_have() -> None:
    bench = VirtualBench(
        {"roles": {ROLE: {"driver": "waveshare_relay", "wiring": {"cp_connect": 9}}}}, clock=ManualClock()
    )
    with pytest.raises(ValueError, match=r"relay 9 outside 1\.\.8"):
        asyncio.run(bench.start())
