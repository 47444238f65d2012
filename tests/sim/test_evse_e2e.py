"""End to end: a real virtual EVSE process (no Matter commissioning) attached to the plant over its hardware port.

The EV is driven through the DAQ970A server (DAQM903A relays in slot 3) with a plain socket, the EVSE's state is read
with the hardware port's ``get`` and the pilot and the edges from the plant (the ground truth a bench's scope sees).
Charging is enabled without Matter through the EVSE's documented persistence: a firmware store with
ChargingEnabledUntil null and an EnableCharging maximum of 32 A makes the EVSE boot in ChargingEnabled.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rig.sim.virtual_bench import VirtualBench
from rig.sim.virtual_evse import EVSE_DIR, VirtualEvse, VirtualEvseSettings
from tests.support import FULL_WIRING

MATTER_PORT = 0  # the system picks the EVSE's Matter port when it binds it (nothing commissions it here)

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not (EVSE_DIR / "node_modules" / "@matter" / "main").is_dir(),
    reason="the virtual EVSE needs node and its npm packages (make setup)",
)

WIRING = FULL_WIRING
HW = {"contactorDelayMs": 200, "pwmStartDelayMs": 100, "contactorOpenDelayMs": 20}
PILOT_SHORT, GROUND_FAULT, OVER_VOLTAGE, POWER_LOSS = 10, 7, 2, 8


class Scpi:
    """A plain SCPI socket client."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.r, self.w = reader, writer

    async def cmd(self, line: str) -> str | None:
        self.w.write(line.encode() + b"\n")
        await self.w.drain()
        if "?" in line.split(" ")[0]:
            return (await asyncio.wait_for(self.r.readline(), 2)).decode().strip()
        return None


async def start(tmp_path: Path, enabled: bool) -> tuple[VirtualEvse, VirtualBench, Scpi, Scpi]:
    storage = tmp_path / "storage"
    storage.mkdir()
    if enabled:
        (storage / "vevse-state.json").write_text(json.dumps({"chargingEnabledUntil": None, "commandMaxCharge": 32000}))
    sock = tmp_path / "hw.sock"
    settings = VirtualEvseSettings(
        storage_path=storage, port=MATTER_PORT, interface="lo", hardware_port=sock, hardware=dict(HW)
    )
    evse = VirtualEvse(settings, tmp_path / "evse.log")
    await asyncio.to_thread(evse.start, fresh=False)
    spec = {
        "plant": {"ac_on": True},
        "roles": {"daq": {"driver": "keysight_daq970a", "wiring": WIRING}, "grid": {"driver": "keysight_ac6800"}},
    }
    bench = VirtualBench(spec, evse_port=sock, plant_log=tmp_path / "plant.jsonl")
    try:
        info = await bench.start()
        daq = Scpi(*await asyncio.open_connection("127.0.0.1", info["roles"]["daq"]["port"]))
        grid = Scpi(*await asyncio.open_connection("127.0.0.1", info["roles"]["grid"]["port"]))
    except BaseException:
        await bench.stop()
        evse.stop()
        raise
    return evse, bench, daq, grid


@pytest.fixture
async def rig_off(tmp_path: Path) -> AsyncIterator[tuple[VirtualBench, Scpi, Scpi]]:
    evse, bench, daq, grid = await start(tmp_path, enabled=False)
    yield bench, daq, grid
    daq.w.close()
    grid.w.close()
    await bench.stop()
    evse.stop()


@pytest.fixture
async def rig_on(tmp_path: Path) -> AsyncIterator[tuple[VirtualBench, Scpi, Scpi]]:
    evse, bench, daq, grid = await start(tmp_path, enabled=True)
    yield bench, daq, grid
    daq.w.close()
    grid.w.close()
    await bench.stop()
    evse.stop()


async def evse_get(bench: VirtualBench) -> dict[str, Any]:
    return await bench.link.get()


async def wait_for(bench: VirtualBench, pred: Any, what: str, timeout_s: float = 3.0) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        g = await evse_get(bench)
        if pred(g):
            return g
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last: {g}")
        await asyncio.sleep(0.02)


async def test_plug_in_not_enabled_and_cp_short(rig_off: tuple[VirtualBench, Scpi, Scpi]) -> None:
    bench, daq, _ = rig_off
    g = await evse_get(bench)
    assert g["attached"] and g["state"]["hwState"] == "NotPluggedIn"
    assert bench.plant.pilot().high_v == pytest.approx(12.0, abs=0.2)
    await daq.cmd("ROUT:CLOS (@301)")  # cp_connect: state B
    g = await wait_for(bench, lambda g: g["state"]["hwState"] == "PluggedInNoDemand", "state B")
    assert g["state"]["State"] == 1 and g["outputs"]["cp_mode"] == "+12V"
    assert bench.plant.pilot().high_v == pytest.approx(8.98, abs=0.2)
    assert not bench.plant.pilot().pwm
    await daq.cmd("ROUT:CLOS (@302)")  # S2: state C, but the EVSE is not enabled
    await wait_for(bench, lambda g: g["state"]["hwState"] == "PluggedInDemand", "state C")
    await asyncio.sleep(2 * HW["contactorDelayMs"] / 1000)  # an absence is watched over a window: twice the delay
    g = await evse_get(bench)
    assert g["outputs"]["contactor"] is False and g["outputs"]["cp_mode"] == "+12V"
    await daq.cmd("ROUT:CLOS (@305)")  # CP-PE short: state E
    g = await wait_for(bench, lambda g: g["state"]["FaultState"] == PILOT_SHORT, "PilotShortCircuit")
    assert g["state"]["State"] == 6 and g["outputs"]["cp_mode"] == "-12V"
    await daq.cmd("ROUT:OPEN (@305)")
    await wait_for(bench, lambda g: g["state"]["FaultState"] == 0, "fault cleared")


async def test_mains_and_rcd_faults(rig_off: tuple[VirtualBench, Scpi, Scpi]) -> None:
    bench, daq, grid = rig_off
    await daq.cmd("ROUT:CLOS (@301)")
    await grid.cmd("VOLT 260")
    await wait_for(bench, lambda g: g["state"]["FaultState"] == OVER_VOLTAGE, "OverVoltage")
    await grid.cmd("VOLT 230")
    await wait_for(bench, lambda g: g["state"]["FaultState"] == 0, "OverVoltage cleared")
    await grid.cmd("OUTP OFF")
    g = await wait_for(bench, lambda g: g["state"]["FaultState"] == POWER_LOSS, "PowerLoss")
    assert g["outputs"]["cp_mode"] == "off"
    await grid.cmd("OUTP ON")
    await daq.cmd("ROUT:CLOS (@307)")
    await wait_for(bench, lambda g: g["state"]["FaultState"] == GROUND_FAULT, "GroundFault")


async def test_charging_timing_and_energy(rig_on: tuple[VirtualBench, Scpi, Scpi]) -> None:
    bench, daq, _ = rig_on
    await daq.cmd("ROUT:CLOS (@310)")  # PP 220 Ω: 32 A cable
    t_start = bench.plant.now_ns()
    await daq.cmd("ROUT:CLOS (@301)")  # B
    await wait_for(bench, lambda g: g["outputs"]["cp_mode"] == "pwm", "PWM on")
    assert bench.plant.pilot().duty_pct == pytest.approx(53.3)
    assert bench.plant.pilot().low_v == pytest.approx(-12.0, abs=0.2)
    await asyncio.sleep(0.1)  # the EV answers the PWM a while later, as an EV does
    await daq.cmd("ROUT:CLOS (@302)")  # C
    await wait_for(bench, lambda g: g["outputs"]["contactor"], "contactor closed")
    await asyncio.sleep(0.5)  # the EV charges for a while
    await daq.cmd("ROUT:OPEN (@302)")  # back to B
    await wait_for(bench, lambda g: not g["outputs"]["contactor"], "contactor open")
    edges = [(e.signal, e.t_ns / 1e9, e.level) for e in bench.plant.edges_after(t_start)]
    names = [(s, lv) for s, _, lv in edges]
    assert names == [
        ("CP_STATE", 1),
        ("PWM_ON", 1),
        ("CP_STATE", 2),
        ("CONTACTOR_CLOSED", 1),
        ("CP_STATE", 1),
        ("CONTACTOR_OPEN", 0),
    ], edges
    t = [e[1] for e in edges]
    close_ms, open_ms, pwm_ms = (t[3] - t[2]) * 1e3, (t[5] - t[4]) * 1e3, (t[1] - t[0]) * 1e3
    # Never early (the edges carry the EVSE's own timestamps, at 1 ms resolution). How late is a figure of the
    # machine's load: benchmarks/bench_evse_timing.py (this set-up) and bench_reaction.py (a whole run) print it.
    assert close_ms >= HW["contactorDelayMs"] - 1, f"contactor closed {close_ms:.2f} ms after C"
    assert open_ms >= HW["contactorOpenDelayMs"] - 1, f"contactor opened {open_ms:.2f} ms after B"
    assert pwm_ms >= HW["pwmStartDelayMs"] - 1, f"PWM started {pwm_ms:.2f} ms after B"
    expected_wh = 31.98 * 230 * (t[4] - t[3]) / 3600  # the EV stops drawing when it opens S2
    assert bench.plant.energy_wh() == pytest.approx(expected_wh, rel=0.005)
    g = await evse_get(bench)
    assert g["state"]["meter_energy_mwh"] == pytest.approx(expected_wh * 1000, rel=0.01)
