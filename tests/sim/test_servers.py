"""Each server's protocol with plain clients (raw socket, pymodbus client, python-can bus), and the process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import can
import pytest
from pymodbus.client import AsyncModbusTcpClient

from rig.sim.can_board import encode_command, unpack
from rig.sim.virtual_bench import VirtualBench
from tests.sim.manual_clock import ManualClock

WIRING = {"cp_connect": 1, "s2_c": 2, "pp_220": 10}
SPEC = {
    "plant": {"ac_on": True},
    "roles": {
        "wt": {"driver": "yokogawa_wt"},
        "daq": {"driver": "keysight_daq970a", "wiring": WIRING},
        "sdm": {"driver": "eastron_sdm630"},
        "em": {"driver": "carlo_gavazzi_em340"},
        "io": {"driver": "waveshare_relay", "wiring": {"cp_connect": 1, "s2_c": 2}},
        "ev": {"driver": "can_ev_board", "channel": "rig-test-servers", "params": {"interface": "virtual"}},
    },
}


async def scpi(port: int, *lines: str) -> list[str]:
    r, w = await asyncio.open_connection("127.0.0.1", port, limit=2**20)
    out = []
    for line in lines:
        w.write(line.encode() + b"\n")
        if "?" in line.split(" ")[0]:
            out.append((await asyncio.wait_for(r.readline(), 2)).decode().strip())
    w.close()
    return out


async def test_scpi_servers() -> None:
    clock = ManualClock()  # the plant on simulated time: the list program moves only when the test moves it
    bench = VirtualBench(SPEC, clock=clock)
    roles = (await bench.start())["roles"]
    try:
        d = roles["daq"]["port"]
        await scpi(d, "ROUT:CLOS (@301,310)")  # cp_connect and the 32 A PP coding on the DAQM903A in slot 3
        assert await scpi(d, "ROUT:CLOS? (@301,302)", "SYST:ERR?") == ["1,0", '+0,"No error"']
        assert bench.plant.pilot().state == "B" and bench.plant.pp_ohm() == 220.0
        for line in ("SENS:PWM:DUTY? (@301)", "FETC:WAV? (@301),20000", "SENS:EDGE:COUN?", "MEAS:VOLT:DC? (@201)"):
            r, w = await asyncio.open_connection("127.0.0.1", d)
            w.write(f"{line}\nSYST:ERR?\n".encode())  # no such command on a DAQ970A: no answer, -113 queued
            assert (await asyncio.wait_for(r.readline(), 2)).decode().strip() == '-113,"Undefined header"', line
            w.close()
        w = roles["wt"]["port"]
        assert (await scpi(w, ":NUM:FORM ASC", ":INTEG:START", ":INTEG:STAT?", ":NUM:NORM:VAL?"))[0] == "STAR"
    finally:
        await bench.stop()


AC_SPEC = {
    "plant": {"ac_on": True},
    "roles": {
        "chroma": {"driver": "chroma_61500"},
        "sequoia": {"driver": "ametek_sequoia"},
        "ac6800": {"driver": "keysight_ac6800"},
    },
}
NO_ERROR = '0,"No error"'
CONFLICT = '-221,"Settings conflict"'


async def test_ac_source_servers() -> None:
    """Each AC source answers its own model's commands in its manual's formats, and no other model's (-113)."""
    clock = ManualClock()  # the plant on simulated time: a list moves only when the test moves it
    bench = VirtualBench(AC_SPEC, clock=clock)
    roles = (await bench.start())["roles"]
    try:
        c, s, k = (roles[r]["port"] for r in ("chroma", "sequoia", "ac6800"))
        assert await scpi(c, "*IDN?") == ["Chroma ATE,61504,SIM0001,1.0"]
        assert await scpi(s, "*IDN?") == ["California Instruments,SQ45-1,SIM0001,1.0"]
        assert await scpi(k, "*IDN?") == ["Keysight Technologies,AC6803B,SIM0001,1.0"]
        foreign = [(c, "VOLT 231"), (c, "*RST"), (s, "OUTP:MODE LIST"), (k, "LIST:VOLT 0"), (k, "TRIG:TRAN:SOUR BUS")]
        for port, line in foreign:
            assert await scpi(port, line, "SYST:ERR?", "SYST:ERR?") == ['-113,"Undefined header"', NO_ERROR], line
        for port, line in ((c, "SOUR:LIST:TRIG:TIME?"), (k, "LIST:TRIG:TIME?"), (s, "FETC:VOLT:ACDC?")):
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(f"{line}\nSYST:ERR?\n".encode())  # the unknown query gets no answer: the next line is the error
            assert (await asyncio.wait_for(r.readline(), 2)).decode().strip() == '-113,"Undefined header"', line
            w.close()

        # Chroma: fixed setpoints, then a list that ends on the setpoint; TRIG:STATE? follows the plant
        ans = await scpi(
            c,
            "SOUR:VOLT:AC 229",
            "SOUR:VOLT:AC?",
            "SOUR:FREQ 50",
            "OUTP?",
            "OUTP:MODE LIST",
            "LIST:BASE TIME",
            "LIST:VOLT:AC:STAR 100.0,229.0",
            "LIST:VOLT:AC:END 100.0,229.0",
            "LIST:FREQ:STAR 50.00,50.00",
            "LIST:FREQ:END 50.00,50.00",
            "LIST:DWEL 50.0,100.0",
            "LIST:COUN 1",
            "TRIG ON",
            "TRIG:STATE?",
            "FETC:VOLT:ACDC?",
            "SYST:ERR?",
        )
        assert ans == ["229.00", "1", "RUNNING", "100.00", NO_ERROR]
        clock.advance(0.05)
        assert await scpi(c, "FETC:VOLT:ACDC?", "TRIG:STATE?") == ["229.00", "RUNNING"]
        clock.advance(0.1)
        assert await scpi(c, "TRIG:STATE?", "OUTP:MODE FIXED", "SYST:ERR?") == ["OFF", NO_ERROR]
        # a ramping point, TRIG ON in fixed mode and a cycle time base are refused
        ans = await scpi(
            c,
            "OUTP:MODE LIST",
            "LIST:VOLT:AC:END 0.0,229.0",
            "TRIG ON",
            "TRIG:STATE?",
            "SYST:ERR?",
            "TRIG OFF",
            "OUTP:MODE FIXED",
            "TRIG ON",
            "SYST:ERR?",
            "LIST:BASE CYCLE",
            "SYST:ERR?",
        )
        assert ans == ["OFF", CONFLICT, CONFLICT, '-224,"Illegal parameter value"']

        # Sequoia: *TRG needs INIT first; the trigger-out pulse is at the start of the transient
        ans = await scpi(
            s,
            "VOLT 230",
            "OUTP?",
            "MEAS:VOLT:AC?",
            "LIST:VOLT 0.0,230.0",
            "LIST:DWEL 0.02,0.1",
            "LIST:COUN 1",
            "LIST:STEP AUTO",
            "VOLT:MODE LIST",
            "OUTP:TTLT:STAT ON",
            "OUTP:TTLT:SOUR BOT",
            "TRIG:SOUR BUS",
            "*TRG",
            "MEAS:VOLT:AC?",
            "INIT",
            "*TRG",
            "MEAS:VOLT:AC?",
            "SYST:ERR?",
        )
        assert ans == ["1", "230.00", "230.00", "0.00", NO_ERROR]
        sequoia = bench.servers["sequoia"]
        assert sequoia.trigger_out_ns == [clock.now_ns()]  # type: ignore[attr-defined]
        clock.advance(0.02)
        assert await scpi(s, "MEAS:VOLT:AC?") == ["230.00"]
        clock.advance(0.1)
        ans = await scpi(s, "INIT", "*TRG", "MEAS:VOLT:AC?", "ABOR", "MEAS:VOLT:AC?", "VOLT:MODE FIX", "SYST:ERR?")
        assert ans == ["0.00", "230.00", NO_ERROR]

        # AC6800: setpoints and measurements (<NR3>), no list
        ans = await scpi(k, "VOLT 231", "VOLT?", "MEAS:VOLT:AC?", "MEAS:FREQ?", "OUTP OFF", "OUTP?", "MEAS:VOLT:AC?")
        assert ans == ["+2.31000E+02", "+2.31000E+02", "+5.00000E+01", "0", "+0.00000E+00"]
    finally:
        await bench.stop()


async def test_modbus_servers() -> None:
    clock = ManualClock()
    bench = VirtualBench(SPEC, clock=clock)
    roles = (await bench.start())["roles"]
    clock.advance(0.001)  # the edge log starts empty at the bench's start; the EV comes after it
    try:
        io = AsyncModbusTcpClient("127.0.0.1", port=roles["io"]["port"])
        await io.connect()
        await io.write_coils(0, [True, True], device_id=1)  # relays 1 and 2: cp_connect, s2_c
        assert bench.plant.pilot().state == "C"
        assert (await io.read_coils(0, count=8, device_id=1)).bits[:4] == [True, True, False, False]
        assert (await io.read_input_registers(0x20, count=1, device_id=1)).isError()  # no edge log on a relay board
        io.close()
        bench.plant.set_evse_outputs("pwm", 26.7, True)
        clock.advance(60.0)  # a minute of charging at 16 A
        sdm = AsyncModbusTcpClient("127.0.0.1", port=roles["sdm"]["port"])
        await sdm.connect()
        r = (await sdm.read_input_registers(0x0006, count=2, device_id=1)).registers
        assert sdm.convert_from_registers(r, sdm.DATATYPE.FLOAT32) == pytest.approx(16.02, abs=0.01)
        r = (await sdm.read_input_registers(0x0048, count=2, device_id=1)).registers
        kwh = sdm.convert_from_registers(r, sdm.DATATYPE.FLOAT32)
        assert kwh == pytest.approx(230 * 16.02 * 60 / 3600 / 1000, rel=1e-6)
        assert (await sdm.read_holding_registers(0xFC02, count=1, device_id=1)).registers == [0x0070]
        sdm.close()
        em = AsyncModbusTcpClient("127.0.0.1", port=roles["em"]["port"])
        await em.connect()
        r = (await em.read_input_registers(0x000C, count=2, device_id=1)).registers
        assert em.convert_from_registers(r, em.DATATYPE.INT32, word_order="little") == 16020
        em.close()
    finally:
        await bench.stop()


async def test_can_board() -> None:
    # python-can's in-process virtual bus: udp_multicast would send on the host's network (it is used only inside
    # a run's own network namespace).
    bench = VirtualBench(
        {"roles": {"ev": {"driver": "can_ev_board", "channel": "rig-test-can", "params": {"interface": "virtual"}}}}
    )
    await bench.start()
    bus = can.Bus(interface="virtual", channel="rig-test-can")
    try:
        bus.send(
            can.Message(
                arbitration_id=0x300,
                is_extended_id=False,
                data=encode_command({"cp_state": 2, "pp_code": 3, "ev_max_current": 160, "seq": 7}),
            )
        )
        status = None
        for _ in range(200):
            msg = await asyncio.to_thread(bus.recv, 0.5)
            if msg is not None and msg.arbitration_id == 0x301 and unpack(msg.data, 8, 8) == 7:
                status = msg
                break
        assert status is not None
        assert unpack(status.data, 0, 4) == 2 and unpack(status.data, 4, 3) == 3
        assert unpack(status.data, 16, 16, signed=True) == 5995
        assert bench.plant.switches["pp_220"] and bench.plant.ev_max_current_a == 16.0
    finally:
        bus.shutdown()
        await bench.stop()


def test_process_ready_and_sigterm(tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"roles": {"grid": {"driver": "keysight_ac6800"}}}))
    log = tmp_path / "plant.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "rig.sim.virtual_bench", "--spec", str(spec), "--plant-log", str(log)],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
        env=dict(os.environ),
    )
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        assert ready["event"] == "ready" and ready["roles"]["grid"]["port"] > 0
        import socket

        with socket.create_connection(("127.0.0.1", ready["roles"]["grid"]["port"]), timeout=2) as s:
            s.sendall(b"OUTP ON\nOUTP?\n")
            assert s.makefile().readline().strip() == "1"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        last = json.loads(log.read_text().splitlines()[-1])
        assert last["final"] and last["ac_on"] is True
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()


def test_control_fifo_switches_one_instrument_off(tmp_path: Path) -> None:
    """An order on ``--control`` stops that role's server (connections dropped, port closed); the others run on; a
    line that is no order is ignored."""
    import socket

    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps({"roles": {"grid": {"driver": "keysight_ac6800"}, "meter": {"driver": "eastron_sdm630"}}})
    )
    fifo = tmp_path / "control.fifo"
    proc = subprocess.Popen(
        [sys.executable, "-m", "rig.sim.virtual_bench", "--spec", str(spec), "--control", str(fifo)],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
        env=dict(os.environ),
    )
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        grid, meter = ready["roles"]["grid"]["port"], ready["roles"]["meter"]["port"]
        assert stat.S_ISFIFO(fifo.stat().st_mode) and stat.S_IMODE(fifo.stat().st_mode) == 0o600
        held = socket.create_connection(("127.0.0.1", meter), timeout=5)
        # one Modbus TCP request answered first (FC04, 2 input registers at 0x0000), so the connection is the
        # server's before the order comes
        held.sendall(bytes.fromhex("000100000006010400000002"))
        assert held.recv(64)[7] == 0x04, "the meter answers FC04 before it is switched off"
        with open(fifo, "wb", buffering=0) as orders:
            orders.write(b"not an order\n" + json.dumps({"power": "off", "role": "meter"}).encode() + b"\n")
        event = json.loads(proc.stdout.readline())
        assert event == {"event": "power", "role": "meter", "on": False}
        assert held.recv(1) == b"", "the switched-off meter's open connection must be dropped"
        held.close()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", meter), timeout=2)
        with socket.create_connection(("127.0.0.1", grid), timeout=2) as s:
            s.sendall(b"OUTP?\n")
            assert s.makefile().readline().strip() in ("0", "1"), "the other instruments run on"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert not fifo.exists(), "the control FIFO is removed when the bench stops"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()
