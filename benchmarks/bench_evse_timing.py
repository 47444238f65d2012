"""Benchmark: the virtual EVSE's reaction times on its hardware port, and its restart with and without a spare.

    .venv/bin/python benchmarks/bench_evse_timing.py [--reps N]

Needs node and the virtual EVSE's npm packages, not root: the virtual EVSE runs on the loopback interface without
Matter commissioning, attached to the virtual bench's plant over its hardware port (as tests/sim/test_evse_e2e.py
sets it up), booting ChargingEnabled from its stored state. The tests check what must hold whatever the machine's
load (the order of the edges, never early, the spare taking over); the figures, which depend on it, are here.

* Reaction times: N charging sessions driven through the DAQ970A server's relays (PP 220 ohm, then A->B, B->C,
  C->B, B->A); from the plant's record (the EVSE's own timestamps, 1 ms resolution) the PWM start (B after A),
  contactor close (C) and contactor open (B after C) against the configured hardware delays. Target: never early
  (1 ms, the resolution) and at most 10 ms late for the contactor, 50 ms for the PWM start (its readiness can be
  reached in a re-evaluation after a commit, with no input to count from).
* Restarts: N power cycles (``VirtualEvse.restart``) with a loaded spare process, and N cold ones (no spare).
  Target: the median restart with a spare at most 2 s.

Exit 1 when a target is missed. The 2 ms target of a whole run's reactions is bench_reaction.py's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rig.sim.virtual_bench import VirtualBench  # noqa: E402
from rig.sim.virtual_evse import EVSE_DIR, VirtualEvse, VirtualEvseSettings, spare_supported  # noqa: E402

MATTER_PORT = 0  # the system picks the EVSE's Matter port when it binds it (nothing commissions it here)
HW = {"contactorDelayMs": 200, "pwmStartDelayMs": 100, "contactorOpenDelayMs": 20}
MEASURES = (  # name, cause (CP_STATE level), reaction signal, configured delay key, allowed lateness ms
    ("PWM start (A->B)", 1, "PWM_ON", "pwmStartDelayMs", 50.0),
    ("contactor close (B->C)", 2, "CONTACTOR_CLOSED", "contactorDelayMs", 10.0),
    ("contactor open (C->B)", 1, "CONTACTOR_OPEN", "contactorOpenDelayMs", 10.0),
)
EARLY_MS = 1.0
RESTART_TARGET_S = 2.0
WAIT_S = 5.0
WIRING = {"cp_connect": 1, "s2_c": 2, "pp_220": 10}


def _settings(folder: Path, *, enabled: bool) -> VirtualEvseSettings:
    storage = folder / "storage"
    storage.mkdir(parents=True)
    if enabled:  # ChargingEnabledUntil null and an EnableCharging maximum: the EVSE boots ChargingEnabled
        (storage / "vevse-state.json").write_text(json.dumps({"chargingEnabledUntil": None, "commandMaxCharge": 32000}))
    return VirtualEvseSettings(
        storage_path=storage,
        port=MATTER_PORT,
        interface="lo",
        hardware_port=folder / "hw.sock",
        hardware=dict(HW),
    )


class Scpi:
    """A plain SCPI client on the DAQ server."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.r, self.w = reader, writer

    async def cmd(self, line: str) -> str:
        self.w.write(line.encode() + b"\n")
        await self.w.drain()
        if "?" not in line.split(" ")[0]:
            return ""
        return (await asyncio.wait_for(self.r.readline(), WAIT_S)).decode().strip()


async def _until(bench: VirtualBench, what: str, pred: Any) -> None:
    """Wait for the EVSE's ``get`` reply to satisfy ``pred`` (bounded: a hang fails naming ``what``)."""
    assert bench.link is not None
    deadline = time.monotonic() + WAIT_S
    while not pred(await bench.link.get()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} within {WAIT_S:g} s")
        await asyncio.sleep(0.005)


async def _session(bench: VirtualBench, daq: Scpi) -> dict[str, float]:
    """One charging session; the three reaction delays, ms."""
    await daq.cmd("ROUT:OPEN (@301,302)")  # A
    unplugged = lambda g: g["state"]["hwState"] == "NotPluggedIn" and g["outputs"]["cp_mode"] != "pwm"  # noqa: E731
    await _until(bench, "state A without PWM", unplugged)
    t_start = bench.plant.now_ns()
    await daq.cmd("ROUT:CLOS (@301)")  # B
    await _until(bench, "PWM", lambda g: g["outputs"]["cp_mode"] == "pwm")
    await asyncio.sleep(0.1)  # the EV answers the PWM a while later
    await daq.cmd("ROUT:CLOS (@302)")  # C
    await _until(bench, "contactor closed", lambda g: g["outputs"]["contactor"])
    await asyncio.sleep(0.2)
    await daq.cmd("ROUT:OPEN (@302)")  # B
    await _until(bench, "contactor open", lambda g: not g["outputs"]["contactor"])
    edges = [(e.signal, e.t_ns / 1e9, e.level) for e in bench.plant.edges_after(t_start)]
    delays, at = {}, 0
    for name, cause_level, reaction, _, _ in MEASURES:
        cause = next(i for i in range(at, len(edges)) if edges[i][0] == "CP_STATE" and edges[i][2] == cause_level)
        done = next(i for i in range(cause, len(edges)) if edges[i][0] == reaction)
        delays[name] = (edges[done][1] - edges[cause][1]) * 1e3
        at = done
    return delays


async def reactions(reps: int, folder: Path) -> dict[str, list[float]]:
    """``reps`` charging sessions; the delays of each measure, ms."""
    evse = VirtualEvse(_settings(folder, enabled=True), folder / "evse.log", spare=False)
    await asyncio.to_thread(evse.start, fresh=False)
    spec = {"plant": {"ac_on": True}, "roles": {"daq": {"driver": "keysight_daq970a", "wiring": WIRING}}}
    bench = VirtualBench(spec, evse_port=evse.settings.hardware_port, plant_log=folder / "plant.jsonl")
    writer = None
    try:
        info = await bench.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", info["roles"]["daq"]["port"])
        daq = Scpi(reader, writer)
        await daq.cmd("ROUT:CLOS (@310)")  # PP 220 ohm: a 32 A cable
        series: dict[str, list[float]] = {name: [] for name, *_ in MEASURES}
        for _ in range(reps):
            for name, ms in (await _session(bench, daq)).items():
                series[name].append(ms)
        return series
    finally:
        if writer is not None:
            writer.close()
        await bench.stop()
        evse.stop()


def restarts(reps: int, folder: Path, *, spare: bool) -> list[float]:
    """``reps`` restarts of one virtual EVSE, with a loaded spare or cold; each one's duration, s."""
    evse = VirtualEvse(_settings(folder, enabled=False), folder / "evse.log", spare=spare)
    took = []
    try:
        evse.start()
        for _ in range(reps):
            if spare:
                assert evse.spare is not None
                loaded = f"vevse: spare pid {evse.spare.pid} loaded"
                deadline = time.monotonic() + 30
                while loaded not in evse.log_path.read_text(errors="replace"):
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{loaded!r} not in the log within 30 s")
                    time.sleep(0.05)
            t0 = time.monotonic()
            evse.restart()
            took.append(time.monotonic() - t0)
    finally:
        evse.stop()
    return took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=10, help="charging sessions and restarts (default 10)")
    args = ap.parse_args()
    if shutil.which("node") is None or not (EVSE_DIR / "node_modules" / "@matter" / "main").is_dir():
        print("bench_evse_timing: needs node and the virtual EVSE's npm packages (make setup)", file=sys.stderr)
        return 2
    missed = []
    with tempfile.TemporaryDirectory(prefix="rig-bench-evse-") as tmp:
        folder = Path(tmp)
        series = asyncio.run(reactions(args.reps, folder / "reactions"))
        print(f"reaction times over {args.reps} sessions (ms; configured, median, min, max, target):")
        for name, _, _, key, late in MEASURES:
            values, want = series[name], float(HW[key])
            ok = min(values) >= want - EARLY_MS and max(values) <= want + late
            print(
                f"  {name:<24} {want:6.1f} {statistics.median(values):8.2f} {min(values):8.2f} {max(values):8.2f}"
                f"   -{EARLY_MS:g}/+{late:g}  {'ok' if ok else 'MISSED'}"
            )
            if not ok:
                missed.append(name)
        print(f"restarts over {args.reps} power cycles (s; median, max):")
        why_not = spare_supported()
        if why_not is None:
            spare = restarts(args.reps, folder / "spare", spare=True)
            ok = statistics.median(spare) <= RESTART_TARGET_S
            print(
                f"  {'with a spare':<24} {statistics.median(spare):8.3f} {max(spare):8.3f}"
                f"   <= {RESTART_TARGET_S:g}  {'ok' if ok else 'MISSED'}"
            )
            if not ok:
                missed.append("restart with a spare")
        else:
            print(f"  {'with a spare':<24} not measured: {why_not}")
        cold = restarts(args.reps, folder / "cold", spare=False)
        print(f"  {'cold':<24} {statistics.median(cold):8.3f} {max(cold):8.3f}")
    if missed:
        print(f"bench_evse_timing: target missed: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
