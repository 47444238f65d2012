"""Soak: N charging sessions through the EV emulator on one session of the virtual bench.

Run as root: ``.venv/bin/python benchmarks/soak.py [--sessions 1000]``. As a run does it,
:func:`rig.session.run_in_sandbox` starts this script again in the run's sandbox, where
:func:`rig.session.open_session` brings up the default ``rig.yaml``'s bench and commissions the virtual EVSE. The
rig subscribes to the Energy EVSE events, sends EnableCharging (null, 6 A, 16 A) and then, N times, with a 32 A cable:
plug in (state B: EVConnected), charge (state C: EnergyTransferStarted), stop (state B: EnergyTransferStopped) and
unplug (state A: EVNotDetected), each event awaited with the DUT's event timeout.

Prints the RSS of the rig's process and of the virtual EVSE's process at the start, every 100 sessions and at the
end, their growth, events expected vs received and sessions lost (a session with an event missing; the emulator is
then unplugged and the queue flushed, and the soak goes on). Targets: RSS growth at most 20 MB per process, 0 lost
events, 0 lost sessions. Exit 0 even when a target is missed (the verdict is printed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RSS_TARGET_MB = 20.0
STEPS = (("B", "EVConnected"), ("C", "EnergyTransferStarted"), ("B", "EnergyTransferStopped"), ("A", "EVNotDetected"))
"""Per session: the CP state the emulator applies and the event it must bring."""
REPORT_EVERY = 100


def _rss_mb(pid: int | str = "self") -> float:
    """VmRSS of a process, MB (NaN when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def _evse_pid(session: Any) -> int | None:
    evse = getattr(session.dut, "_evse", None)
    proc = getattr(evse, "proc", None)
    pid = getattr(proc, "pid", None)
    return pid if isinstance(pid, int) else None


async def _inside(sessions: int) -> dict[str, Any]:
    from rig.config import load_config
    from rig.matter.controller import Clusters
    from rig.matter.eevse import Evse
    from rig.session import open_session

    cfg = load_config(ROOT / "rig.yaml")
    t_event = cfg.dut.timeouts.event
    figures: dict[str, Any] = {"sessions": sessions, "samples": [], "expected": 0, "received": 0, "lost": []}
    async with open_session(cfg) as session:
        assert session.bench is not None and session.bench.ev_emulator is not None, "rig.yaml has no ev_emulator"
        ev = session.bench.ev_emulator
        evse = Evse(session.node, cfg.dut.pixit.test_event_trigger_key_bytes)
        evse_pid = _evse_pid(session)
        queue = await session.node.subscribe_events(Clusters.EnergyEvse)
        try:
            await evse.enable_charging(None, 6000, 16000)
            await asyncio.to_thread(ev.set_cable, 32)
            t0 = time.monotonic()
            for n in range(sessions + 1):
                if n % REPORT_EVERY == 0 or n == sessions:
                    sample = {"session": n, "t_s": time.monotonic() - t0, "rig_mb": _rss_mb()}
                    sample["evse_mb"] = _rss_mb(evse_pid) if evse_pid else float("nan")
                    figures["samples"].append(sample)
                    print(f"soak: {json.dumps(sample)}", file=sys.stderr, flush=True)
                if n == sessions:
                    break
                for state, event in STEPS:
                    figures["expected"] += 1
                    await asyncio.to_thread(ev.set_state, state)
                    try:
                        await queue.next(event, t_event)
                    except AssertionError as exc:  # a missing or unexpected event: this session is lost
                        figures["lost"].append({"session": n, "event": event, "error": str(exc)[:200]})
                        await asyncio.to_thread(ev.set_state, "A")
                        await asyncio.sleep(1.0)
                        queue.flush()
                        break
                    figures["received"] += 1
        finally:
            session.controller.close_subscription(queue)
            await asyncio.to_thread(ev.release_all)
    return figures


def report(figures: dict[str, Any]) -> bool:
    samples = figures["samples"]
    first, last = samples[0], samples[-1]
    rig_growth = last["rig_mb"] - first["rig_mb"]
    evse_growth = last["evse_mb"] - first["evse_mb"]
    lost_sessions = len({x["session"] for x in figures["lost"]})
    print(f"soak: {figures['sessions']} charging sessions in {last['t_s']:.0f} s on one session of the virtual bench")
    print(f"  {'session':>8} {'t (s)':>8} {'rig RSS (MB)':>13} {'EVSE RSS (MB)':>14}")
    for s in samples:
        print(f"  {s['session']:>8} {s['t_s']:>8.0f} {s['rig_mb']:>13.1f} {s['evse_mb']:>14.1f}")
    print(
        f"  RSS growth: rig {rig_growth:+.1f} MB, virtual EVSE {evse_growth:+.1f} MB (target <= {RSS_TARGET_MB:g} MB)"
    )
    print(f"  events: {figures['expected']} expected, {figures['received']} received; sessions lost: {lost_sessions}")
    for x in figures["lost"][:10]:
        print(f"    lost: session {x['session']}, {x['event']}: {x['error']}")
    ok = (
        rig_growth <= RSS_TARGET_MB
        and not evse_growth > RSS_TARGET_MB
        and figures["expected"] == figures["received"]
        and lost_sessions == 0
    )
    print("VERDICT: every target met" if ok else "VERDICT: a target is MISSED (above)")
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=int, default=1000)
    ap.add_argument("--inside", metavar="RESULT", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.sessions < 1:
        ap.error(f"--sessions must be at least 1, got {args.sessions}")
    if args.inside:
        figures = asyncio.run(_inside(args.sessions))
        Path(args.inside).write_text(json.dumps(figures), encoding="utf-8")
        return 0

    from benchmarks.sandboxed import figures_from_sandbox

    folder = Path(tempfile.mkdtemp(prefix="rig-soak-"))
    try:
        result = folder / "figures.json"
        report(figures_from_sandbox(__file__, ["--inside", str(result), "--sessions", str(args.sessions)], result))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
