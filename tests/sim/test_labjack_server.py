"""The virtual LabJack T7 (rig/sim/labjack.py): its Modbus map with a plain pymodbus client, and the labjack_t7
driver reading the plant's pilot through it over TCP, on simulated time."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator

import pytest
from pymodbus.client import AsyncModbusTcpClient

from rig.instruments.capabilities import PilotReading
from rig.instruments.labjack_t7 import LabJackT7
from rig.instruments.modbus_transport import ModbusTcpTransport
from rig.sim.plant import Plant
from rig.sim.virtual_bench import VirtualBench
from tests.sim.manual_clock import ManualClock

DUTY_PCT = 53.3  # 32 A
SPEC = {"roles": {"pilot": {"driver": "labjack_t7"}}}


class TickingClock(ManualClock):
    """Simulated time that moves on by ``step_s`` whenever it is read: every Modbus request the virtual T7 serves
    happens a little later than the one before, so its analog samples fall at changing phases of the 1 kHz PWM (a
    step that is no simple fraction of the period spreads them over it)."""

    def __init__(self, step_s: float = 0.000_391_7) -> None:
        super().__init__()
        self.step_ns = round(step_s * 1e9)

    def now_ns(self) -> int:
        """Get the simulated time, then move it on by one step."""
        now = super().now_ns()
        self.advance_to(now + self.step_ns)
        return now


@pytest.fixture
async def bench() -> AsyncIterator[VirtualBench]:
    bench = VirtualBench(SPEC, clock=TickingClock())
    await bench.start()
    try:
        yield bench
    finally:
        await bench.stop()


def port(bench: VirtualBench) -> int:
    return int(bench.addresses["pilot"]["port"])


def u32(words: list[int]) -> int:
    return (words[0] << 16) | words[1]


def f32(words: list[int]) -> float:
    return float(struct.unpack(">f", struct.pack(">HH", *words))[0])


# -- the register map with a plain client ---------------------------------------------------------------------------
async def test_register_map_answers_like_the_t7(bench: VirtualBench) -> None:
    client = AsyncModbusTcpClient("127.0.0.1", port=port(bench))
    await client.connect()
    try:
        ident = (await client.read_holding_registers(60000, count=2, device_id=1)).registers
        assert f32(ident) == 7.0
        assert (await client.read_input_registers(60000, count=2, device_id=1)).registers == ident  # one map
        assert u32((await client.read_holding_registers(60028, count=2, device_id=1)).registers) == 470012345
        assert (await client.read_holding_registers(41000, count=1, device_id=1)).registers == [199]
        for address in (28, 3004, 50000, 60002, 61522):  # past AIN13 / DIO1, unknown, between the registers
            rr = await client.read_holding_registers(address, count=2, device_id=1)
            assert rr.isError() and rr.exception_code == 2, address
        rr = await client.write_registers(0, [0, 0], device_id=1)  # AIN0 is read-only
        assert rr.isError() and rr.exception_code == 2
        rr = await client.read_coils(0, count=1, device_id=1)
        assert rr.isError() and rr.exception_code == 1
        # CORE_TIMER: the plant clock since its start at 40 MHz
        t0 = bench.plant.t0_ns
        core = u32((await client.read_holding_registers(61520, count=2, device_id=1)).registers)
        assert abs(core * 25 - (bench.plant.now_ns() - t0)) < 2_000_000
    finally:
        client.close()


async def test_pulse_width_in_latches_b_and_resets(bench: VirtualBench) -> None:
    client = AsyncModbusTcpClient("127.0.0.1", port=port(bench))
    await client.connect()

    async def read(address: int) -> int:
        return u32((await client.read_holding_registers(address, count=2, device_id=1)).registers)

    async def write(address: int, value: int) -> None:
        assert not (await client.write_registers(address, [value >> 16, value & 0xFFFF], device_id=1)).isError()

    try:
        bench.plant.set_switch("cp_connect", True)
        bench.plant.set_evse_outputs("pwm", DUTY_PCT, False)
        assert await read(3000) == 0  # the feature is not configured: no measurement
        await write(44100, 5)
        await write(44000, 1)
        assert not (await client.write_register(44900, 1, device_id=1)).isError()
        assert await read(3000) == 0  # armed now: no full period yet
        bench.plant.clock.advance(0.003)
        assert await read(3200) == 0  # READ_B is latched by a READ_A read only
        assert await read(3000) == round(0.000533 * 80e6)
        assert await read(3200) == round(0.000467 * 80e6)
        assert await read(3002) == 0  # DIO1: no comparator on it
        assert await read(3100) == round(0.000533 * 80e6)  # READ_A_AND_RESET: the value, then forgotten
        assert await read(3000) == 0
        bench.plant.clock.advance(0.003)
        assert await read(3000) == round(0.000533 * 80e6)
        bench.plant.set_evse_outputs("+12V", None, False)  # PWM off: the last period stays until a reset
        bench.plant.clock.advance(0.003)
        assert await read(3100) > 0
        assert await read(3000) == 0
    finally:
        client.close()


def test_unknown_params_are_refused() -> None:
    from rig.sim.labjack import VirtualT7

    with pytest.raises(ValueError, match=r"params \['dio_line'\] unknown"):
        VirtualT7(Plant(), {"dio_line": 2})
    with pytest.raises(ValueError, match="dio must be 0 or 1"):
        VirtualT7(Plant(), {"dio": 2})


# -- the driver through the server ----------------------------------------------------------------------------------
async def test_driver_reads_the_plant_pilot(bench: VirtualBench) -> None:
    plant = bench.plant
    t7 = LabJackT7("pilot", ModbusTcpTransport("pilot", "127.0.0.1", port(bench), timeout_s=2.0))
    await asyncio.to_thread(t7.open)
    try:
        identity = await asyncio.to_thread(t7.identity)
        assert (identity.vendor, identity.model, identity.serial) == ("LabJack", "T7", "470012345")

        async def pilot() -> PilotReading:
            reading = await asyncio.to_thread(t7.pilot)
            levels = plant.pilot()
            assert reading.high_v == pytest.approx(levels.high_v, abs=0.01)
            assert reading.low_v == pytest.approx(levels.low_v if reading.frequency_hz else levels.high_v, abs=0.01)
            return reading

        a = await pilot()  # state A: no EV, +12 V DC
        assert (a.frequency_hz, a.duty_pct, a.high_v) == (0.0, 100.0, pytest.approx(12.0, abs=0.01))
        plant.set_switch("cp_connect", True)
        b1 = await pilot()  # B1: 9 V DC
        assert (b1.frequency_hz, b1.duty_pct, b1.high_v) == (0.0, 100.0, pytest.approx(8.98, abs=0.01))
        plant.set_evse_outputs("pwm", DUTY_PCT, False)
        b2 = await pilot()  # B2: 9 V / -12 V PWM
        assert b2.frequency_hz == pytest.approx(1000.0, rel=1e-3)
        assert b2.duty_pct == pytest.approx(DUTY_PCT, abs=0.2)
        assert (b2.high_v, b2.low_v) == (pytest.approx(8.98, abs=0.01), pytest.approx(-12.0, abs=0.01))
        assert b2.t_s > b1.t_s > a.t_s > 0
        plant.set_switch("s2_c", True)
        c = await pilot()  # C2: 6 V / -12 V PWM
        assert c.duty_pct == pytest.approx(DUTY_PCT, abs=0.2)
        assert (c.high_v, c.low_v) == (pytest.approx(5.99, abs=0.01), pytest.approx(-12.0, abs=0.01))
        plant.set_switch("cp_pe_short", True)
        e = await pilot()  # E: CP shorted to PE, 0 V; the comparator sees no edges
        assert (e.frequency_hz, e.duty_pct, e.high_v, e.low_v) == (0.0, 0.0, 0.0, 0.0)
        plant.set_switches({"cp_pe_short": False, "s2_c": False})
        plant.set_evse_outputs("-12V", None, False)
        f = await pilot()  # F: -12 V DC
        assert (f.frequency_hz, f.duty_pct, f.high_v) == (0.0, 0.0, pytest.approx(-12.0, abs=0.01))
        await asyncio.to_thread(t7.safe_state)
        enable = await asyncio.to_thread(t7.transport.read_holding_registers, 44000, 2)
        assert enable == [0, 0]
    finally:
        await asyncio.to_thread(t7.close)
