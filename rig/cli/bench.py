"""``rig bench check``: open every instrument of rig.yaml, print its identity, drain its error queue and print one
reading; with ``--wiring`` switch each EV-emulator channel and compare the pilot with what the IEC 61851-1 circuit
predicts. The bench is left in its safe state."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rig import sandbox
from rig.cli import common

COMMANDS = ("bench",)


def add_subcommands(sub: Any) -> None:
    """Add ``rig bench``."""
    bench = sub.add_parser("bench", help="the instruments of rig.yaml")
    bench.add_argument("action", choices=["check"], help="check: open every role, print identity and one reading")
    bench.add_argument(
        "--wiring",
        action="store_true",
        help="also switch each EV-emulator channel and check the pilot level the circuit predicts (the EVSE must be "
        "powered and idle: the AC source role, if any, is turned on at nominal mains for the check)",
    )
    common.add_config_options(bench, defects=False)


def dispatch(args: argparse.Namespace) -> int | None:
    """Run ``rig bench check``; None for another command."""
    return cmd_check(args) if args.command == "bench" else None


def cmd_check(args: argparse.Namespace) -> int:
    """Open every role (on the virtual bench its servers are started first), print identity and one reading."""
    from rig.dut import dut_for
    from rig.session import run_in_sandbox

    cfg, _ = common.load(args)
    if dut_for(cfg).instrument_servers_need_sandbox() and sandbox.current() is None:
        argv = [sys.executable, "-m", "rig.cli", "bench", "check", "--config", common.config_path(cfg, args.config)]
        if args.wiring:
            argv.append("--wiring")
        for item in args.overrides:
            argv += ["--set", item]
        return run_in_sandbox(cfg, argv, preload=False)
    lock = None
    if sandbox.current() is None:  # a real bench checked in this process: hold its lock as a run does
        from rig.session import lock_bench

        lock = lock_bench(cfg, sandbox.new_run_id())  # another run holds the bench: stop here (exit 2)
    try:
        return _check(cfg, args)
    finally:
        if lock is not None:
            lock.release()


def _check(cfg: Any, args: argparse.Namespace) -> int:
    """Open every role, print identity, error queue and one reading; the wiring check when asked."""
    from rig.instruments.registry import driver_info
    from rig.session import open_bench

    with open_bench(cfg) as bench:
        bench.install_signal_handlers()
        for role in bench.roles:
            driver = cfg.instruments[role].driver
            print(f"{role:<12} {driver:<20} {bench.address(role)}", flush=True)
            print(f"{'':<12} driver: {driver_info(driver).describe()}", flush=True)
            print(f"{'':<12} identity: {bench.identities[role]}", flush=True)
            instrument = bench.role(role)
            check_errors = getattr(instrument, "check_errors", None)
            if callable(check_errors):
                check_errors()
                print(f"{'':<12} error queue: empty", flush=True)
            print(f"{'':<12} {_one_reading(instrument)}", flush=True)
        if args.wiring:
            from rig.bench.wiring import check_wiring

            failures = check_wiring(bench, lambda line: print(line, flush=True))
            if failures:
                print(
                    f"rig: bench check --wiring failed: {len(failures)} channel(s) do not give the predicted pilot: "
                    f"{', '.join(failures)}; bench left in its safe state",
                    file=sys.stderr,
                )
                return 1
    wired = " and the EV emulator's wiring gives the predicted pilot levels" if args.wiring else ""
    print(
        f"rig: bench check passed: {len(cfg.instruments)} instrument(s) answered{wired}; bench left in its safe state"
    )
    return 0


def _one_reading(instrument: object) -> str:
    """One characteristic reading per capability (what ``rig bench check`` prints)."""
    from rig.ev_emulator.pilot import classify
    from rig.instruments.capabilities import AcSource, EnergyMeter, EvEmulatorBoard, PilotMeter, WaveformCapture

    parts: list[str] = []
    if isinstance(instrument, AcSource):
        state = "on" if instrument.output_on() else "off"
        parts.append(f"measured {instrument.measure_voltage():.1f} V (output {state})")
    if isinstance(instrument, EnergyMeter):
        parts.append(f"energy {instrument.energy_import_wh():.1f} Wh, power {instrument.active_power():.1f} W")
    measures_pilot = isinstance(instrument, PilotMeter) and (
        not isinstance(instrument, WaveformCapture) or "cp" in instrument.signals()
    )
    if measures_pilot:
        assert isinstance(instrument, PilotMeter)
        p = instrument.pilot()
        pwm = p.frequency_hz > 0 and 0.5 < p.duty_pct < 99.5
        label = classify(p.high_v, p.low_v if pwm else p.high_v, pwm).label
        parts.append(
            f"pilot {p.frequency_hz:.0f} Hz, {p.duty_pct:.1f} %, high {p.high_v:.2f} V, low {p.low_v:.2f} V "
            f"(state {label})"
        )
    if isinstance(instrument, EvEmulatorBoard):
        parts.append(f"EV current {instrument.ev_current():.1f} A")
    if isinstance(instrument, WaveformCapture):  # no acquisition: a capture needs a set-up and a stimulus
        parts.append(f"signals {', '.join(instrument.signals()) or '(none mapped)'}")
    return "; ".join(parts) or "(identity only: no reading for this capability)"
