"""The real transports against real peers on 127.0.0.1: pyvisa-py SOCKET, pymodbus TCP, python-can virtual."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from rig.errors import InstrumentError
from rig.instruments.can_ev_board import CanEvBoard, load_dbc
from rig.instruments.can_transport import CanTransport
from rig.instruments.capabilities import EvBoardCommand
from rig.instruments.eastron_sdm630 import EastronSdm630
from rig.instruments.modbus_transport import ModbusRtuTransport, ModbusTcpTransport
from rig.instruments.registers import float32_abcd_encode
from rig.instruments.transport import FrameTransport, MessageTransport, RegisterTransport
from rig.instruments.visa_transport import VisaTransport
from tests.support import refusing_port


# -- VISA over a raw TCP socket --------------------------------------------------------------------
class LineServer:
    """A tiny SCPI-ish line server: answers ``*IDN?`` and ``VOLT?``, records writes, never answers ``SLOW?``."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self._closing = threading.Event()
        self.port = self.sock.getsockname()[1]
        self.received: list[str] = []
        self.volt = "230"
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._serve, name="line-server", daemon=True)
        self._accept.start()

    def _serve(self) -> None:
        while not self._closing.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            self._conns.append(conn)
            th = threading.Thread(target=self._handle, args=(conn,), name="line-conn", daemon=True)
            self._threads.append(th)
            th.start()

    def _handle(self, conn: socket.socket) -> None:
        buf = b""
        with conn:
            while True:
                try:
                    chunk = conn.recv(4096)
                except OSError:
                    return
                if not chunk:
                    return
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    text = line.decode()
                    self.received.append(text)
                    if text == "*IDN?":
                        conn.sendall(b"RIG,LINE-SERVER,0001,1.0\n")
                    elif text == "VOLT?":
                        conn.sendall(f"{self.volt}\n".encode())
                    elif text.startswith("VOLT "):
                        self.volt = text.split()[1]

    def close(self) -> None:
        self._closing.set()
        self._accept.join(2)
        self.sock.close()
        for c in self._conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
        for th in self._threads:
            th.join(2)


@pytest.fixture
def line_server() -> Iterator[LineServer]:
    server = LineServer()
    yield server
    server.close()


def test_visa_socket_exchanges_timeout_and_log(line_server: LineServer, caplog: pytest.LogCaptureFixture) -> None:
    resource = f"TCPIP0::127.0.0.1::{line_server.port}::SOCKET"
    t = VisaTransport("ac_source", resource, timeout_s=0.3)
    assert isinstance(t, MessageTransport)
    caplog.set_level(logging.DEBUG, logger="rig.exchange")
    t.open()
    t.open()  # idempotent
    try:
        assert t.query("*IDN?") == "RIG,LINE-SERVER,0001,1.0"
        t.write("VOLT 207.0")
        assert t.query("VOLT?") == "207.0"
        assert t.last_command == "VOLT?"
        with pytest.raises(InstrumentError) as info:
            t.query("SLOW?")
        err = info.value
        assert (err.role, err.address, err.last_command) == ("ac_source", resource, "SLOW?")
        assert "timeout after 0.3 s" in str(err)
    finally:
        t.close()
        t.close()
    assert line_server.received == ["*IDN?", "VOLT 207.0", "VOLT?", "SLOW?"]
    log = caplog.text
    assert f"ac_source@{resource} >> *IDN? << RIG,LINE-SERVER,0001,1.0" in log
    assert f"ac_source@{resource} >> VOLT 207.0" in log
    assert f"ac_source@{resource} >> SLOW? !! timeout" in log


def test_visa_unreachable_and_not_open() -> None:
    with refusing_port() as port:  # held by this test, listening nowhere
        resource = f"TCPIP0::127.0.0.1::{port}::SOCKET"
        t = VisaTransport("meter", resource, timeout_s=0.5)
        # pyvisa-py opens a SOCKET resource without connecting; the refusal surfaces on the first exchange
        try:
            t.open()
            t.query("*IDN?")
        except InstrumentError as exc:
            info_value = exc
        else:  # pragma: no cover
            pytest.fail("no InstrumentError for a refused connection")
    assert info_value.role == "meter" and info_value.address == resource
    assert "ConnectionRefused" in str(info_value) or "cannot open" in str(info_value)
    t.close()
    assert not t.is_open
    with pytest.raises(InstrumentError, match="not open") as info2:
        t.write("OUTP ON")
    assert info2.value.last_command == "OUTP ON"


# -- Modbus TCP against a pymodbus server ----------------------------------------------------------
class ModbusServerThread:
    """A pymodbus TCP server on 127.0.0.1 (ephemeral port) in its own thread and event loop."""

    def __init__(self, unit: int = 1) -> None:
        from pymodbus.datastore import ModbusDeviceContext, ModbusSequentialDataBlock, ModbusServerContext

        ir = [0] * 0x100
        ir[0x0048:0x004A] = float32_abcd_encode(12.5)
        ir[0x0000:0x0002] = float32_abcd_encode(230.0)
        hr = [0] * 0x100
        self.device = ModbusDeviceContext(
            ir=ModbusSequentialDataBlock(1, ir),
            hr=ModbusSequentialDataBlock(1, hr),
            co=ModbusSequentialDataBlock(1, [False] * 0x20),
            di=ModbusSequentialDataBlock(1, [False] * 0x20),
        )
        self.context = ModbusServerContext(devices={unit: self.device}, single=False)
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), name="modbus-server", daemon=True)
        self._thread.start()
        assert self._ready.wait(5), "pymodbus server did not start"

    async def _main(self) -> None:
        from pymodbus.server import ModbusTcpServer

        server = ModbusTcpServer(self.context, address=("127.0.0.1", 0))
        await server.serve_forever(background=True)
        self.port = server.transport.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        await self._stop.wait()
        await server.shutdown()

    def close(self) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)


@pytest.fixture
def modbus_server() -> Iterator[ModbusServerThread]:
    server = ModbusServerThread()
    yield server
    server.close()


def test_modbus_tcp_registers_coils_and_errors(modbus_server: ModbusServerThread) -> None:
    t = ModbusTcpTransport("meter", "127.0.0.1", port=modbus_server.port, unit=1, timeout_s=0.5, retries=0)
    assert isinstance(t, RegisterTransport)
    t.open()
    try:
        meter = EastronSdm630("meter", t)
        assert meter.energy_import_wh() == 12500.0
        assert meter.voltage(1) == 230.0
        t.write_register(0x10, 0xBEEF)
        t.write_registers(0x20, [1, 2, 3])
        assert t.read_holding_registers(0x10, 1) == [0xBEEF]
        assert t.read_holding_registers(0x20, 3) == [1, 2, 3]
        t.write_coil(3, True)
        t.write_coils(8, [True, False, True])
        assert t.read_coils(0, 11) == [False, False, False, True] + [False] * 4 + [True, False, True]
        with pytest.raises(InstrumentError, match="Modbus exception response 2") as info:
            t.read_input_registers(0x0FFE, 2)  # outside the block: illegal data address
        assert (info.value.role, info.value.address, info.value.last_command) == (
            "meter",
            f"127.0.0.1:{modbus_server.port}/unit1",
            "FC04 0x0FFE count=2",
        )
    finally:
        t.close()
        t.close()


def test_modbus_tcp_no_device_times_out(modbus_server: ModbusServerThread) -> None:
    t = ModbusTcpTransport("meter", "127.0.0.1", port=modbus_server.port, unit=9, timeout_s=0.3, retries=0)
    t.open()
    try:
        with pytest.raises(InstrumentError) as info:
            t.read_input_registers(0, 2)
        assert info.value.last_command == "FC04 0x0000 count=2" and info.value.address.endswith("/unit9")
    finally:
        t.close()


def test_modbus_tcp_sends_the_unit_as_device_id() -> None:
    """pymodbus 3.16 takes the unit id as ``device_id=``: a server of unit 7 only answers the transport's unit 7."""
    server = ModbusServerThread(unit=7)
    t = ModbusTcpTransport("meter", "127.0.0.1", port=server.port, unit=7, timeout_s=0.5, retries=0)
    try:
        t.open()
        assert t.read_input_registers(0x0000, 2) == float32_abcd_encode(230.0)
        assert t.address == f"127.0.0.1:{server.port}/unit7"
    finally:
        t.close()
        server.close()


def test_modbus_unreachable() -> None:
    with refusing_port() as port, pytest.raises(InstrumentError, match="cannot connect") as info:
        ModbusTcpTransport("meter", "127.0.0.1", port=port, timeout_s=0.3).open()
    assert info.value.address == f"127.0.0.1:{port}/unit1"
    rtu = ModbusRtuTransport("meter", "/dev/does-not-exist", baudrate=19200, parity="E", unit=2, timeout_s=0.2)
    assert rtu.address == "/dev/does-not-exist@19200E1/unit2"
    with pytest.raises(InstrumentError, match="cannot connect"):
        rtu.open()
    with pytest.raises(ValueError, match="parity"):
        ModbusRtuTransport("meter", "/dev/null", parity="X")


# -- CAN on python-can's virtual interface ---------------------------------------------------------
def test_can_virtual_send_receive_remote() -> None:
    a = CanTransport("ev_board", "virtual", "rig-test-1", timeout_s=0.5)
    b = CanTransport("peer", "virtual", "rig-test-1")
    assert isinstance(a, FrameTransport)
    a.open()
    b.open()
    try:
        a.send(0x300, bytes([1, 2, 3, 4, 5, 6, 7, 8]))
        got = b.receive(1.0)
        assert got is not None and got[0] == 0x300 and got[1] == bytes([1, 2, 3, 4, 5, 6, 7, 8])
        a.send(0x3FF, bytes(8), remote=True)
        remote = b.receive(1.0)
        assert remote is not None and remote[:2] == (0x3FF, b"")
        assert a.last_command == "0x3FF#0000000000000000 remote"
        assert b.receive(0.05) is None
    finally:
        a.close()
        b.close()
        a.close()
    with pytest.raises(InstrumentError, match="not open") as info:
        a.send(0x300, bytes(8))
    assert info.value.address == "virtual:rig-test-1"


def test_can_board_against_a_virtual_peer() -> None:
    """The driver over the real CAN transport: a peer thread acknowledges commands like the board does."""
    db = load_dbc()
    status = db.get_message_by_name("EVB_Status")
    command = db.get_message_by_name("EVB_Command")
    peer = CanTransport("board-sim", "virtual", "rig-test-2")
    peer.open()
    stop = threading.Event()

    def board() -> None:
        while not stop.is_set():
            frame = peer.receive(0.05)
            if frame is None or frame[0] != 0x300:
                continue
            cmd: dict[str, Any] = command.decode(frame[1], decode_choices=False, scaling=False)
            peer.send(
                0x301,
                status.encode(
                    {
                        "cp_state_applied": cmd["cp_state"],
                        "pp_code": cmd["pp_code"],
                        "ack_seq": cmd["seq"],
                        "cp_high_mv": 9000,
                        "cp_low_mv": -12000,
                        "ev_current": 0,
                    },
                    scaling=False,
                ),
            )

    th = threading.Thread(target=board, name="board-sim", daemon=True)
    th.start()
    drv = CanEvBoard("ev_board", CanTransport("ev_board", "virtual", "rig-test-2"), ack_timeout_s=1.0)
    try:
        drv.open()
        drv.apply(EvBoardCommand("B", pp_amps=20))
        drv.apply(EvBoardCommand("C", pp_amps=20, ev_max_current_a=10))
        assert drv.status["cp_high_mv"] == 9000
    finally:
        drv.close()
        stop.set()
        th.join(2)
        peer.close()


def test_closing_one_visa_role_leaves_the_others_open(line_server: LineServer) -> None:
    """pyvisa shares one resource manager per VISA library: a role closing must not close the others' sessions."""
    resource = f"TCPIP0::127.0.0.1::{line_server.port}::SOCKET"
    first, second = VisaTransport("scope", resource, timeout_s=1.0), VisaTransport("ac_source", resource, timeout_s=1.0)
    first.open()
    second.open()
    try:
        first.close()
        assert second.query("*IDN?") == "RIG,LINE-SERVER,0001,1.0"
    finally:
        second.close()
