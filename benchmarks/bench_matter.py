"""Benchmark: session set-up time per stage, and attribute read latency bare vs through the rig, on the virtual bench.

    sudo .venv/bin/python benchmarks/bench_matter.py [--sessions N] [--reads R] [--set KEY=VALUE]... [--suite]

Every session is made exactly as a run makes it: :func:`rig.session.run_in_sandbox` (the sandbox) starts this
script again inside the sandbox, where :func:`rig.session.open_session` opens the session (bench, DUT, controller,
commissioning) from the default ``rig.yaml``. N sessions are opened one after the other (each a fresh sandbox, a
fresh virtual EVSE, a fresh fabric) and the median of each stage is printed:

* ``sandbox``: from the call of ``run_in_sandbox`` until this script runs inside it (the namespaces and the state
  folder, what the DUT kind preloads in it, the interpreter's start);
* ``process start``: this script's own imports and rig.yaml, until it calls ``open_session`` (pytest's start-up
  stands here in a run);
* the stages of ``Session.timings`` (``bench``, ``dut``, ``controller``, ``commissioning``);
* ``total``: from the call of ``run_in_sandbox`` until ``open_session`` has returned the session (the sum of the
  rows above).

In every session the same attribute (Energy EVSE State) of the same DUT is then read R times with a bare
``ReadAttribute`` of the CHIP controller and R times with the rig's ``Node.read`` (alternating, after a warm-up); the
medians over all sessions are printed side by side with their ratio. ``--suite`` also runs TC-EEVSE-2.2 and 2.4
with ``rig run`` and prints their duration beyond the ChargingEnabledUntil window.

Targets: session set-up (total) at most 3 s; median ``Node.read`` at most 3 ms. Exit 1 when one is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

T_START = time.monotonic()  # the inner process's first instant (CLOCK_MONOTONIC is system-wide)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SETUP_TARGET_S = 3.0
READ_TARGET_MS = 3.0
WARMUP_READS = 20
STAGES = ("sandbox", "process start", "bench", "dut", "controller", "commissioning")


# ------------------------------------------------------------------------------------------ inside the sandbox
async def _inside(config: Path, overrides: list[str], reads: int, t_outer: float) -> dict[str, Any]:
    from rig.config import load_config, parse_override
    from rig.session import open_session

    cfg = load_config(config, overrides=dict(parse_override(o) for o in overrides))
    t_config = time.monotonic()
    async with open_session(cfg) as session:  # loads the CHIP wheel itself, while the bench comes up
        t_open = time.monotonic()
        from rig.matter.controller import Clusters

        attribute = Clusters.EnergyEvse.Attributes.State
        node, ctrl = session.node, session.controller.ctrl
        ep, cluster = node.endpoint, Clusters.EnergyEvse

        async def bare() -> Any:
            res = await ctrl.ReadAttribute(node.node_id, [(ep, attribute)])
            return res[ep][cluster][attribute]

        async def rig() -> Any:
            return await node.read(attribute)

        for _ in range(WARMUP_READS):
            await bare()
            await rig()
        bare_ms: list[float] = []
        rig_ms: list[float] = []
        for _ in range(reads):
            for fn, sink in ((bare, bare_ms), (rig, rig_ms)):
                t = time.perf_counter()
                await fn()
                sink.append((time.perf_counter() - t) * 1e3)
        t_close = time.monotonic()
    t_closed = time.monotonic()
    stages = {"sandbox": T_START - t_outer, "process start": t_config - T_START, **session.timings}
    return {
        "stages": stages,
        "total": t_open - t_outer,
        "teardown": t_closed - t_close,
        "bare_ms": bare_ms,
        "rig_ms": rig_ms,
    }


def _inside_main(args: argparse.Namespace) -> int:
    import logging

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    figures = asyncio.run(_inside(Path(args.config), args.set, args.reads, args.t_outer))
    Path(args.result).write_text(json.dumps(figures), encoding="utf-8")
    return 0


# -------------------------------------------------------------------------------------------------- outside
def _one_session(config: Path, overrides: list[str], reads: int, folder: Path, index: int) -> dict[str, Any]:
    from benchmarks.sandboxed import figures_from_sandbox

    result = folder / f"session-{index}.json"
    t_outer = time.monotonic()
    args = ["--inside", "--config", str(config), "--reads", str(reads), "--t-outer", repr(t_outer)]
    out: dict[str, Any] = figures_from_sandbox(
        __file__,
        [*args, "--result", str(result)],
        result,
        config=config,
        overrides=overrides,
        what=f"session {index}",
    )
    return out


def _suite_figures() -> dict[str, float]:
    from suites.tc_eevse.test_tc_eevse_2_2 import ENABLE_WINDOW_S

    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "rig.cli",
                "run",
                "--tc",
                "TC-EEVSE-2.2",
                "--tc",
                "TC-EEVSE-2.4",
                "--set",
                f"report.dir={tmp}",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        runs = sorted(Path(tmp).glob("2*/report.json"))
        if proc.returncode != 0 or not runs:
            raise SystemExit(f"the suite run failed:\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}")
        results = {c["id"]: c for c in json.loads(runs[-1].read_text())["cases"]}
    # From the first step of 2.2 to the last of 2.4: both case bodies plus what runs between them.
    a, b = results["TC-EEVSE-2.2"], results["TC-EEVSE-2.4"]
    span = float(b["phases"]["call"]["stop"]) - float(a["phases"]["call"]["start"])
    return {
        "TC-EEVSE-2.2 body (s)": float(a["phases"]["call"]["duration"]),
        "TC-EEVSE-2.4 body (s)": float(b["phases"]["call"]["duration"]),
        "2.2 start to 2.4 end (s)": span,
        "2.2 + 2.4 beyond the ChargingEnabledUntil window (s)": span - float(ENABLE_WINDOW_S),
    }


def _loadavg() -> str:
    """The 1-minute load average (other work on the machine's cores slows every figure here)."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _p95(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.95)] if values else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=int, default=5, help="sessions to open one after the other (default 5)")
    ap.add_argument("--reads", type=int, default=200, help="reads of each kind per session (default 200)")
    ap.add_argument("--config", default=str(ROOT / "rig.yaml"))
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="rig.yaml override")
    ap.add_argument("--suite", action="store_true", help="also time TC-EEVSE-2.2 + 2.4 with rig run")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--t-outer", type=float, default=0.0, help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inside:
        return _inside_main(args)

    sessions: list[dict[str, Any]] = []
    load_before = _loadavg()
    folder = Path(tempfile.mkdtemp(prefix="rig-bench-matter-"))
    try:
        for i in range(1, args.sessions + 1):
            s = _one_session(Path(args.config), args.set, args.reads, folder, i)
            sessions.append(s)
            stages = "  ".join(f"{k} {v:.3f}" for k, v in s["stages"].items())
            print(
                f"session {i}/{args.sessions}: set-up {s['total']:.3f} s ({stages}); "
                f"teardown {s['teardown']:.3f} s; load {_loadavg()}",
                file=sys.stderr,
                flush=True,
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    n = len(sessions)
    print(
        f"Session set-up on the virtual bench, median of {n} sessions (s); load average before: {load_before}, "
        f"after: {_loadavg()}"
    )

    def row(label: str, vals: list[float], note: str = "") -> None:
        print(f"  {label:<18} {_median(vals):7.3f}   (min {min(vals):.3f}, max {max(vals):.3f}){note}")

    for stage in STAGES:
        row(stage, [s["stages"].get(stage, 0.0) for s in sessions])
    setup = _median([s["total"] for s in sessions])
    row("total", [s["total"] for s in sessions], f"   target <= {SETUP_TARGET_S:g}")
    row("(teardown)", [s["teardown"] for s in sessions], "   not part of the set-up")

    bare = [x for s in sessions for x in s["bare_ms"]]
    rig = [x for s in sessions for x in s["rig_ms"]]
    bare_med, rig_med = _median(bare), _median(rig)
    print(f"Attribute read (Energy EVSE State), same DUT, same session; {len(rig)} reads of each kind (ms):")
    print(f"  {'':<26} {'median':>8} {'p95':>8} {'min':>8}")
    print(f"  {'bare ReadAttribute':<26} {bare_med:8.3f} {_p95(bare):8.3f} {min(bare):8.3f}")
    print(f"  {'rig Node.read':<26} {rig_med:8.3f} {_p95(rig):8.3f} {min(rig):8.3f}   target <= {READ_TARGET_MS:g}")
    print(f"  {'ratio rig / bare':<26} {rig_med / bare_med:8.2f}")

    if args.suite:
        for key, value in _suite_figures().items():
            print(f"{key:<54} {value:8.3f}")

    missed = []
    if setup > SETUP_TARGET_S:
        missed.append(f"session set-up {setup:.3f} s > {SETUP_TARGET_S:g} s")
    if rig_med > READ_TARGET_MS:
        missed.append(f"Node.read median {rig_med:.3f} ms > {READ_TARGET_MS:g} ms")
    print("VERDICT: " + ("; ".join(missed) + " (target MISSED)" if missed else "every target met"))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
