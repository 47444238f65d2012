"""Benchmark: EVSE reaction times and pilot duty measured on oscilloscope captures, against the plant's truth.

Run as root: ``.venv/bin/python benchmarks/bench_reaction.py [--reps N] [--no-load]``. The session is made as a run
makes it: :func:`rig.session.run_in_sandbox` starts this script again inside the run's sandbox, where
:func:`rig.session.open_session` brings up the default ``rig.yaml``'s bench (the virtual EVSE, the virtual bench with
its virtual InfiniiVision, the instruments opened by role, the AC source on at 230 V) and commissions the EVSE over
Matter. The script then sends EnableCharging (null, 6 A, 32 A) and, N times, with a 32 A cable coded on PP:

* A -> B: PWM start (``pwmStartDelayMs``),
* B -> C: contactor closing (``contactorDelayMs``),
* C -> B: contactor opening (``contactorOpenDelayMs``),

each measured as a HIL case measures it (:mod:`rig.bench.timing`): one single-shot capture triggered on the AC
source's output, the EV emulator switching after the trigger, the stimulus (the pilot's level change) and the
reaction (the PWM's first edge, the EVSE output on/off) found in the record by :mod:`rig.analysis`. The plant log
(microsecond timestamps of what the plant did) is the ground truth; each captured time is paired with the plant's
interval for the same transition. The pilot duty is read 3N times from the scope's ``:MEASure:DUTYcycle?`` and
compared with the duty the plant ran (the EVSE's offer: 32 A asked, limited by the bench's CircuitCapacity). The
series runs idle and, unless ``--no-load``, while CPU burners load both cores (bounded in time).

Targets: every captured time within one sample interval + 1 ms of the plant's; every duty within +-0.2 pp. Prints
figures, not a test; exit 0 even when a target is missed (the verdict is printed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

EXTRA_MS = 1.0
"""Allowed disagreement beyond one sample interval, ms."""
DUTY_TARGET_PP = 0.2
DEFAULT_DELAYS_MS = {"pwmStartDelayMs": 100.0, "contactorDelayMs": 200.0, "contactorOpenDelayMs": 20.0}
MEASURES = (  # name, from state, to state, what reacts, configured delay key
    ("PWM start (A->B)", "A", "B", "pwm", "pwmStartDelayMs"),
    ("contactor close (B->C)", "B", "C", "on", "contactorDelayMs"),
    ("contactor open (C->B)", "C", "B", "off", "contactorOpenDelayMs"),
)
CAPTURE_S = 0.7
"""How long each capture runs after its trigger, s (the configured delays are at most 200 ms)."""
EDGE_TIMEOUT_S = 3.0
DUTY_READS = 3
"""Duty readings per cycle (34 cycles: 102 readings, and 102 timed transitions)."""
LOAD_MAX_S = 180.0  # a burner never outlives this, whatever happens to the benchmark
BURN = "import time, sys\nend = time.monotonic() + float(sys.argv[1])\nwhile time.monotonic() < end:\n    pass\n"


# ------------------------------------------------------------------------------------------ inside the sandbox
def _plant_intervals(plant_log: Path, t_from: float, t_to: float) -> dict[str, list[float]]:
    """The same reactions from the plant log (plant clock, us): cp_state change -> output change, ms."""
    rows = []
    for line in plant_log.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    before = [r for r in rows if r["t_s"] < t_from]
    rows = [r for r in rows if t_from <= r["t_s"] <= t_to]
    out: dict[str, list[float]] = {name: [] for name, *_ in MEASURES}
    out["duty"] = sorted({float(r["duty_pct"]) for r in rows if r["cp_mode"] == "pwm" and r.get("duty_pct")})
    prev: dict[str, Any] | None = before[-1] if before else None  # the state the window starts from
    cause: dict[str, float] = {}
    for r in rows:
        if prev is not None:
            if r["cp_state"] != prev["cp_state"]:
                cause[f"{prev['cp_state']}{r['cp_state']}"] = r["t_s"]
            pwm_on = r["cp_mode"] == "pwm" and prev["cp_mode"] != "pwm"
            if pwm_on and "AB" in cause:
                out["PWM start (A->B)"].append((r["t_s"] - cause.pop("AB")) * 1e3)
            if r["contactor"] and not prev["contactor"] and "BC" in cause:
                out["contactor close (B->C)"].append((r["t_s"] - cause.pop("BC")) * 1e3)
            if not r["contactor"] and prev["contactor"] and "CB" in cause:
                out["contactor open (C->B)"].append((r["t_s"] - cause.pop("CB")) * 1e3)
        prev = r
    return out


def _settle_in_a(ev: Any) -> None:
    """EV unplugged and the EVSE back at a steady +12 V (bounded)."""
    ev.set_state("A")
    deadline = time.monotonic() + EDGE_TIMEOUT_S
    while True:
        p = ev.pilot()
        if p.state == "A" and not p.pwm_on:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the EVSE did not return to A without PWM within {EDGE_TIMEOUT_S:g} s: {p}")


async def _series(ev: Any, scope: Any, reps: int) -> dict[str, Any]:
    """N cycles A -> B -> C -> B -> A, each transition in its own capture; times in ms, sample intervals in ms,
    and N duty readings in %."""
    from rig.bench import timing

    out: dict[str, Any] = {name: [] for name, *_ in MEASURES}
    out["sample_ms"] = []
    out["duty"] = []
    for _ in range(reps):
        await asyncio.to_thread(_settle_in_a, ev)
        for name, src, dst, reacts, _key in MEASURES:
            plan = timing.CapturePlan(name, ("cp", "evse_output"), CAPTURE_S)
            cap = await timing.capture(scope, plan, lambda d=dst: asyncio.to_thread(ev.set_state, d))
            t0 = timing.cp_change(cap, src, dst)
            if reacts == "pwm":
                t1 = timing.pwm_start(cap, t0)
                for _ in range(DUTY_READS):
                    out["duty"].append(round((await asyncio.to_thread(ev.pilot)).reading.duty_pct, 3))
            else:
                t1 = timing.output_switched(cap, reacts == "on", t0)
            out[name].append(round((t1 - t0) * 1e3, 4))
            out["sample_ms"].append(cap.sample_interval_s * 1e3)
    await asyncio.to_thread(ev.set_state, "A")
    return out


def _start_load(seconds: float) -> list[subprocess.Popen[bytes]]:
    n = os.cpu_count() or 2
    return [
        subprocess.Popen([sys.executable, "-c", BURN, str(min(seconds, LOAD_MAX_S))], stdin=subprocess.DEVNULL)
        for _ in range(n)
    ]


def _stop_load(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


async def _inside(reps: int, with_load: bool, run_dir: Path) -> dict[str, Any]:
    from rig.config import load_config
    from rig.session import open_session

    cfg = load_config(ROOT / "rig.yaml")
    hw = dict(cfg.virtual_evse.hardware)
    delays = {k: float(hw.get(k, v)) for k, v in DEFAULT_DELAYS_MS.items()}
    run_dir.mkdir(parents=True, exist_ok=True)
    async with open_session(cfg, run_dir=run_dir) as session:
        from rig.matter.eevse import Evse

        assert session.bench is not None and session.bench.ev_emulator is not None, "rig.yaml has no ev_emulator"
        from rig.instruments.capabilities import WaveformCapture

        ev = session.bench.ev_emulator
        found = session.bench.first(WaveformCapture)
        assert found is not None, "rig.yaml has no scope role"
        scope = found[1]
        evse = Evse(session.node, cfg.dut.pixit.test_event_trigger_key_bytes)
        await evse.enable_charging(None, 6000, 32000)
        ev.set_cable(32)
        ev.set_state("A")
        await _series(ev, scope, 1)  # warm-up (first session, Python code paths)

        figures: dict[str, Any] = {"delays_ms": delays, "reps": reps, "cores": os.cpu_count(), "runs": {}}
        plant_log = run_dir / "virtual-bench" / "plant.jsonl"
        conditions = [("idle", 0.0)] + ([("2 CPU burners", 1.0)] if with_load else [])
        for label, load in conditions:
            procs = _start_load(LOAD_MAX_S) if load else []
            try:
                if procs:
                    time.sleep(1.0)  # let the burners reach full speed
                t_from = time.monotonic()
                capture = await _series(ev, scope, reps)
                t_to = time.monotonic()
            finally:
                _stop_load(procs)
            time.sleep(0.2)
            figures["runs"][label] = {"capture": capture, "plant": _plant_intervals(plant_log, t_from, t_to)}
        return figures


# -------------------------------------------------------------------------------------------------- outside
def _pairs(captured: list[float], truth: list[float]) -> list[tuple[float, float]]:
    """Pair each captured time with the plant's, in order (the plant logs every transition the series made)."""
    return list(zip(captured, truth[: len(captured)], strict=False))


def report(figures: dict[str, Any]) -> bool:
    delays = figures["delays_ms"]
    print(
        f"EVSE reaction times from scope captures vs the plant's truth, ms ({figures['reps']} cycles, "
        f"{figures['cores']} cores; target: within one sample interval + {EXTRA_MS:g} ms) and pilot duty from "
        f":MEASure:DUTYcycle? (target +-{DUTY_TARGET_PP:g} pp)"
    )
    all_ok = True
    for label, run in figures["runs"].items():
        cap, plant = run["capture"], run["plant"]
        sample_ms = max(cap["sample_ms"]) if cap["sample_ms"] else 0.0
        limit = sample_ms + EXTRA_MS
        print(f"[{label}] sample interval {sample_ms:.4f} ms; allowed |capture - plant| {limit:.4f} ms")
        print(
            f"  {'measurement':<24} {'n':>4} {'capture median':>15} {'plant median':>13} {'cfg':>6} {'worst |c-p|':>12}"
        )
        for name, *_rest, key in MEASURES:
            pairs = _pairs(cap.get(name, []), plant.get(name, []))
            if not pairs:
                print(f"  {name:<24} no samples")
                all_ok = False
                continue
            worst = max(abs(c - p) for c, p in pairs)
            ok = worst <= limit
            all_ok &= ok
            print(
                f"  {name:<24} {len(pairs):>4} {statistics.median(c for c, _ in pairs):>15.3f} "
                f"{statistics.median(p for _, p in pairs):>13.3f} {delays[key]:>6.0f} {worst:>12.4f}  "
                + ("OK" if ok else "MISSED")
            )
        duties, truth = cap.get("duty", []), plant.get("duty", [])
        if duties and len(truth) == 1:
            worst_pp = max(abs(d - truth[0]) for d in duties)
            ok = worst_pp <= DUTY_TARGET_PP
            all_ok &= ok
            print(
                f"  duty (the plant ran {truth[0]} %) n={len(duties)} median {statistics.median(duties):.3f} % "
                f"worst |x-plant| {worst_pp:.3f} pp  " + ("OK" if ok else "MISSED")
            )
        else:
            all_ok = False
            print(f"  duty: {len(duties)} readings, plant duties {truth} (expected one): not compared")
    print("VERDICT: every target met" if all_ok else "VERDICT: a target is MISSED (above)")
    return all_ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=34)
    ap.add_argument("--no-load", action="store_true", help="skip the series under CPU load")
    ap.add_argument("--inside", metavar="RESULT", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inside:
        result = Path(args.inside)
        figures = asyncio.run(_inside(args.reps, not args.no_load, result.parent / "run"))
        result.write_text(json.dumps(figures), encoding="utf-8")
        return 0

    from benchmarks.sandboxed import figures_from_sandbox

    folder = Path(tempfile.mkdtemp(prefix="rig-bench-reaction-"))
    try:
        result = folder / "figures.json"
        inner = ["--inside", str(result), "--reps", str(args.reps)] + (["--no-load"] if args.no_load else [])
        report(figures_from_sandbox(__file__, inner, result))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
