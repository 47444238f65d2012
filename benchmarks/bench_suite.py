"""Full-suite duration vs the waits the test plan imposes (the speed target: at most 10 s more).

    sudo .venv/bin/python benchmarks/bench_suite.py [--run-dir reports/<run>] [-- extra rig run arguments]

Without ``--run-dir`` it makes one full default run. From the run record (report.json, per-case phase timings) it
prints the run's wall time, the session set-up (virtual EVSE start, bench, commissioning: inside the first case's
set-up) and teardown (inside the last case's), the time spent in cases, and the imposed waits: the windows the test
plan (and the HIL cases' own observation windows) make a conformant DUT wait for, read from the suites' constants,
so they follow the code. Overhead = case time - imposed waits; it is printed with and without the session set-up
and teardown. Inside it, the time the DUT itself takes is shown apart: its boot in the power-cycle case and, on
the virtual bench, its configured hardware reaction delays (PWM start, contactor close) counted from the plant log;
the rest is the rig's own share.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def imposed_waits() -> dict[str, tuple[float, str]]:
    """Case id -> (seconds, what): the waits a conformant DUT cannot shorten."""
    from suites.hil import test_hil_diode_fault as diode
    from suites.hil import test_hil_enabled_until as until
    from suites.hil import test_hil_mains_faults as mains
    from suites.hil import test_hil_session_energy as energy
    from suites.tc_eevse import test_tc_eevse_2_2 as tc22

    waits = {
        "TC-EEVSE-2.2": (float(tc22.ENABLE_WINDOW_S), "ChargingEnabledUntil window (step 7)"),
        "HIL-UNTIL": (float(until.WINDOW_S), "ChargingEnabledUntil window"),
        "HIL-ENERGY": (float(energy.CHARGE_S), "charging to have energy to compare"),
        "HIL-DIODE": (2 * float(diode.HOLD_S), "diode kept shorted, then restored with the EV plugged in (steps 4, 5)"),
        "HIL-MAINS": (float(mains.DROPOUT_S), "mains dropout program"),
    }
    try:
        from suites.tc_eevse import test_tc_eevse_2_6 as tc26

        waits["TC-EEVSE-2.6"] = (
            float(tc26.CHARGING_QUIET_WINDOW_S + 2 * tc26.SESSION_BOUNDARY_WINDOW_S),
            "Q-quality observation windows (steps 10, 15, 18)",
        )
    except (ImportError, AttributeError):
        pass
    try:
        from suites.tc_eevse import test_tc_eevse_2_10 as tc210

        waits["TC-EEVSE-2.10"] = (
            float(max(tc210.CHARGING_WINDOW_S, tc210.DISCHARGING_WINDOW_S)),
            "charging/discharging windows (run concurrently)",
        )
    except (ImportError, AttributeError):
        pass
    return waits


def virtual_evse_delays(run_dir: Path) -> tuple[float, str] | None:
    """The virtual EVSE's configured reaction delays that the run waited through, counted from the plant log.

    Every PWM start costs ``pwmStartDelayMs`` and every contactor close ``contactorDelayMs`` (virtual_evse/src/config.js
    defaults, unless the run's virtual-evse.config.json overrides them): time a conformant DUT takes, not the rig.
    None for a run without the virtual bench's plant log.
    """
    plant_log = run_dir / "virtual-bench" / "plant.jsonl"
    if not plant_log.is_file():
        return None
    defaults = (ROOT / "virtual_evse" / "src" / "config.js").read_text()
    hw: dict[str, float] = {}
    for key in ("pwmStartDelayMs", "contactorDelayMs"):
        m = re.search(rf"{key}:\s*(\d+)", defaults)
        hw[key] = float(m.group(1)) if m else 0.0
    cfg_file = run_dir / "virtual-evse.config.json"
    if cfg_file.is_file():
        hw.update({k: float(v) for k, v in json.loads(cfg_file.read_text()).get("hardware", {}).items() if k in hw})
    rows = [json.loads(line) for line in plant_log.read_text().splitlines() if line.strip()]
    pwm = sum(1 for a, b in itertools.pairwise(rows) if b.get("cp_mode") == "pwm" and a.get("cp_mode") != "pwm")
    closes = sum(1 for a, b in itertools.pairwise(rows) if b.get("contactor") and not a.get("contactor"))
    seconds = (pwm * hw["pwmStartDelayMs"] + closes * hw["contactorDelayMs"]) / 1000
    text = (
        f"{pwm} PWM starts x {hw['pwmStartDelayMs']:g} ms + {closes} contactor closes x {hw['contactorDelayMs']:g} ms"
    )
    return seconds, text


def run_once(extra: list[str]) -> tuple[Path, float, tempfile.TemporaryDirectory[str]]:
    tmp = tempfile.TemporaryDirectory(prefix="rig-bench-suite-")
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "rig.cli", "run", "--set", f"report.dir={tmp.name}", *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.monotonic() - t0
    if proc.returncode not in (0, 1):
        sys.exit(f"rig run failed to run (exit {proc.returncode}): {proc.stdout[-800:]}{proc.stderr[-800:]}")
    return (Path(tmp.name) / "latest").resolve(), wall, tmp


def main(argv: list[str]) -> int:
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = argv[: argv.index("--")] if "--" in argv else argv
    keep = None
    if "--run-dir" in args:
        run_dir, wall = Path(args[args.index("--run-dir") + 1]), None
    else:
        run_dir, wall, keep = run_once(extra)
    cases = {c["id"]: c for c in json.loads((run_dir / "report.json").read_text())["cases"]}
    ran = [c for c in cases.values() if c.get("phases")]
    if not ran:
        sys.exit(f"{run_dir}: the run record has no case phase timings")
    ordered = sorted(ran, key=lambda c: c["phases"].get("setup", c["phases"].get("call", {}))["start"])
    first, last = ordered[0], ordered[-1]
    span = max(ph["stop"] for c in ran for ph in c["phases"].values()) - first["phases"]["setup"]["start"]
    session_setup = first["phases"]["setup"]["duration"]  # virtual EVSE start, bench start, commissioning
    session_teardown = last["phases"].get("teardown", {}).get("duration", 0.0)  # safe state, DUT stop
    in_cases = span - session_setup - session_teardown
    waits = imposed_waits()
    imposed = sum(s for case, (s, _) in waits.items() if cases.get(case, {}).get("outcome") == "passed")
    passed = sum(c["outcome"] == "passed" for c in cases.values())
    print(f"run {run_dir.resolve().name}: {len(cases)} cases, {passed} passed")
    if wall is not None:
        print(f"rig run wall time (sandbox, DUT start, commissioning, cases, report): {wall:.1f} s")

    def line(label: str, seconds: float, extra: str = "") -> None:
        print(f"{label:78s} {seconds:5.1f} s{extra}")

    line("session set-up (in the first case's set-up: DUT start, bench, commissioning):", session_setup)
    line("session teardown (in the last case's teardown: safe state, DUT stop):", session_teardown)
    line("cases (everything between the two):", in_cases)
    line("imposed waits (test plan windows + HIL observation windows):", imposed)
    for case, (s, what) in sorted(waits.items()):
        print(f"    {case:16s} {s:5.1f} s  {what}")
    line("overhead (cases - imposed waits):", in_cases - imposed, " (target: <= 10 s)")
    power = cases.get("HIL-POWER", {})
    cycle = next((s for s in power.get("steps", []) if s.get("number") == "5"), None)
    boot = cycle["duration"] if cycle and cycle.get("duration") else 0.0
    if boot:
        line("    of which the DUT's power cycle (HIL-POWER step 5, the DUT's boot):", boot)
    dut_delays = virtual_evse_delays(run_dir)
    if dut_delays is not None:
        seconds, text = dut_delays
        line("    of which the virtual EVSE's own hardware reaction delays:", seconds, f" ({text})")
        line(
            "    the rest: the rig's own share (Matter round trips, fixtures, stimuli):",
            in_cases - imposed - seconds - boot,
        )
    line("overhead with the session set-up and teardown:", span - imposed)

    def body(c: dict) -> float:
        return (
            sum(ph["duration"] for ph in c["phases"].values())
            - (session_setup if c is first else 0.0)
            - (session_teardown if c is last else 0.0)
        )

    slow = sorted(((body(c) - waits.get(c["id"], (0.0, ""))[0], c["id"]) for c in ran), reverse=True)[:8]
    print("largest case overheads: " + ", ".join(f"{c} {d:.1f} s" for d, c in slow))
    if keep is not None:
        keep.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
