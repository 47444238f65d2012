"""The ``rig`` command.

    rig run [--dut-defect NAME]... [--set KEY=VALUE]... [-k EXPR] [PATH...]   run suites, write the report
    rig sim --list-defects                                                    the virtual EVSE's defects
    rig triggers [--encode NAME] [--endpoint N]                               test event trigger codes
    rig config check|schema                                                   validate rig.yaml / JSON schema
    rig bench check [--config FILE]                                           every instrument answers?
    rig pics derive [-o FILE] [--format xml|text] | check FILE                PICS of / against the live DUT
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from rig import PROJECT_ROOT, sandbox
from rig.cli import pics as pics_cli
from rig.cli import report as report_cli
from rig.errors import ConfigError, RigError

DEFAULT_SUITES = ["suites/tc_eevse", "suites/hil"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rig", description="EVSE conformance rig (Matter Energy EVSE, cluster 0x0099)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run test suites against the DUT of rig.yaml and write the report")
    run.add_argument("paths", nargs="*", help=f"suite files or folders (default: {' '.join(DEFAULT_SUITES)})")
    run.add_argument("--config", "-c", default=None, help="bench description (default: ./rig.yaml)")
    run.add_argument("--dut-defect", action="append", default=[], metavar="NAME",
                     help="start the virtual EVSE with this firmware defect (repeatable)")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a rig.yaml value, e.g. --set dut.timeouts.event=5")
    run.add_argument("--stimulus", choices=["trigger", "emulator", "manual"], default=None,
                     help="how the EV is simulated: test event triggers, the bench's EV emulator, or an operator "
                          "(same as --set stimulus=MODE)")
    run.add_argument("--pics", default=None, metavar="PATH",
                     help="the DUT's PICS (CSA XML file, folder or zip, or KEY=1|0 text): they decide which cases "
                          "and steps apply (same as --set dut.pics=PATH; without one they are derived from the DUT)")
    run.add_argument("-k", dest="keyword", default=None, help="only cases matching this pytest -k expression")
    run.add_argument("--keep-state", action="store_true", help="keep the run's state folder (/run/rig/<id>)")
    run.add_argument("--legacy-triggers", action="store_true",
                     help="send test event triggers without the endpoint in bits 32-47")
    run.add_argument("--run-id", default=None, help=argparse.SUPPRESS)
    run.add_argument("pytest_args", nargs=argparse.REMAINDER, help="after --: passed to pytest")

    sim = sub.add_parser("sim", help="the virtual EVSE")
    sim.add_argument("--list-defects", action="store_true", help="print the firmware defects, one per line")

    trig = sub.add_parser("triggers", help="Energy EVSE test event trigger codes")
    trig.add_argument("--encode", metavar="NAME", help="print the 64-bit value to send for this trigger")
    trig.add_argument("--endpoint", type=int, default=None, help="carry this endpoint in bits 32-47")

    cfg = sub.add_parser("config", help="rig.yaml tools")
    cfg.add_argument("action", choices=["check", "schema"])
    cfg.add_argument("--config", "-c", default=None)

    bench = sub.add_parser("bench", help="the instruments of rig.yaml")
    bench.add_argument("action", choices=["check"], help="check: open every role, print identity and one reading")
    bench.add_argument("--config", "-c", default=None, help="bench description (default: ./rig.yaml)")
    bench.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a rig.yaml value")
    report_cli.add_subcommands(sub)
    pics_cli.add_subcommands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rig`` console script."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return cmd_run(args)
        if args.command == "sim":
            return cmd_sim(args)
        if args.command == "triggers":
            return cmd_triggers(args)
        if args.command == "config":
            return cmd_config(args)
        if args.command == "bench":
            return cmd_bench(args)
        if args.command in report_cli.COMMANDS:
            return report_cli.dispatch(args) or 0
        if args.command in pics_cli.COMMANDS:
            return pics_cli.dispatch(args) or 0
    except RigError as exc:
        print(f"rig: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("rig: interrupted", file=sys.stderr)
        return 130
    return 2


def _overrides(items: list[str]) -> dict[str, Any]:
    """``--set KEY=VALUE`` items as dotted rig.yaml paths → values (rig.config.parse_override reads each)."""
    from rig.config import parse_override

    return dict(parse_override(item) for item in items)


def cmd_run(args: argparse.Namespace) -> int:
    """Prepare the sandbox, run pytest inside it, point reports/latest at the run."""
    from rig.config import load_config

    overrides = _overrides(args.overrides)
    if args.dut_defect:
        overrides["virtual_evse.defects"] = list(args.dut_defect)
    if args.stimulus:
        overrides["stimulus"] = args.stimulus
    if args.pics:
        overrides["dut.pics"] = str(Path(args.pics).resolve())
    cfg = load_config(args.config, overrides=overrides)
    if cfg.virtual_evse.defects and not cfg.is_virtual:
        raise ConfigError("--dut-defect applies to the virtual EVSE only, but rig.yaml has dut.kind: network")
    sandbox.preflight(need_netns=cfg.is_virtual, need_node=cfg.is_virtual)
    if cfg.is_virtual:
        from rig.sim.virtual_evse import check_installed

        check_installed()

    run_id = args.run_id or sandbox.new_run_id()
    reports = cfg.report.dir if cfg.report.dir.is_absolute() else Path.cwd() / cfg.report.dir
    run_dir = reports / run_id
    run_dir.mkdir(parents=True, exist_ok=False)
    config_path = str(cfg.config_path) if cfg.config_path else str(Path(args.config or "rig.yaml").resolve())
    argv = [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
        "--rootdir", str(PROJECT_ROOT), "-c", str(PROJECT_ROOT / "pyproject.toml"),
        "--rig-config", config_path, "--rig-run-dir", str(run_dir),
        "--junitxml", str(run_dir / "junit.xml"),
        "--html", str(run_dir / "report.html"), "--self-contained-html",
        "-o", "testpaths=", "-o", "junit_suite_name=rig",
    ]
    for key, value in overrides.items():
        argv += ["--rig-set", f"{key}={json.dumps(value)}"]
    if args.legacy_triggers:
        argv.append("--legacy-triggers")
    if args.keyword:
        argv += ["-k", args.keyword]
    extra = [a for a in args.pytest_args if a != "--"]
    paths = args.paths or [str(PROJECT_ROOT / p) for p in DEFAULT_SUITES]
    argv += extra + paths

    print(f"rig: run {run_id} on the {'virtual' if cfg.is_virtual else 'real'} bench "
          f"({cfg.station.name}); outputs in {run_dir}", flush=True)
    t0 = time.monotonic()
    with sandbox.Sandbox(run_id, with_netns=cfg.is_virtual, keep_state=args.keep_state, visible=[run_dir]) as sb:
        env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        code = sb.run(argv, env=env)
    report_cli.after_run(run_dir, code, cfg.report.database)
    _point_latest(reports, run_id)
    verdict = {0: "PASSED", 1: "FAILED"}.get(code, f"ERROR (exit {code})")
    print(f"rig: run {run_id} {verdict} in {time.monotonic() - t0:.1f} s; report: {run_dir / 'report.html'}",
          flush=True)
    return code


def _point_latest(reports: Path, run_id: str) -> None:
    latest = reports / "latest"
    tmp = reports / f".latest-{run_id}"
    try:
        if tmp.is_symlink():
            tmp.unlink()
        tmp.symlink_to(run_id)
        os.replace(tmp, latest)
    except OSError as exc:
        print(f"rig: warning: could not point {latest} at {run_id}: {exc}", file=sys.stderr)


def cmd_sim(args: argparse.Namespace) -> int:
    """Virtual EVSE tools."""
    from rig.config import known_defects

    if args.list_defects:
        for name, text in known_defects().items():
            print(f"{name}  {text}")
        return 0
    print("rig sim: nothing to do (try --list-defects)", file=sys.stderr)
    return 2


def cmd_triggers(args: argparse.Namespace) -> int:
    """List or encode test event triggers."""
    from rig.matter import triggers

    if args.encode:
        try:
            code = triggers.parse(args.encode)
            value = triggers.encode(code, args.endpoint)
        except ValueError as exc:
            print(f"rig: error: {exc}", file=sys.stderr)
            return 2
        print(f"0x{value:016x}")
        return 0
    for t in triggers.Trigger:
        print(f"0x{int(t):016x}  {t.label}")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    """Check rig.yaml or print its JSON schema."""
    from rig.config import config_json_schema, load_config

    if args.action == "schema":
        print(json.dumps(config_json_schema(), indent=2))
        return 0
    cfg = load_config(args.config)
    print(f"rig: {cfg.config_path}: valid ({'virtual' if cfg.is_virtual else 'real'} bench, station "
          f"{cfg.station.name!r})")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """``rig bench check``: open every role, print its identity and one reading, leave the bench safe.

    On the virtual bench (``dut.kind: virtual``) the virtual bench servers are started first, on the loopback
    addresses rig.yaml gives.
    """
    import contextlib

    from rig.bench import Bench
    from rig.config import load_config
    from rig.sim.launch import virtual_bench

    cfg = load_config(args.config, overrides=_overrides(args.overrides))
    if not cfg.instruments:
        raise ConfigError(f"{cfg.config_path}: no instruments declared; add an instruments: section")
    if cfg.is_virtual and _uses_multicast(cfg) and sandbox.current() is None:
        # The virtual CAN bus is UDP multicast: keep it inside a network namespace of our own, never on the
        # host's network. Re-run this command there.
        sandbox.preflight(need_netns=True, need_node=False)
        argv = [sys.executable, "-m", "rig.cli", "bench", "check", "--config", str(cfg.config_path)]
        for item in args.overrides:
            argv += ["--set", item]
        env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        with sandbox.Sandbox(sandbox.new_run_id()) as sb:
            return sb.run(argv, env=env)
    with contextlib.ExitStack() as stack:
        if cfg.is_virtual:
            stack.enter_context(virtual_bench(cfg))
            print(f"rig: virtual bench started ({len(cfg.instruments)} roles)", flush=True)
        bench = stack.enter_context(Bench(cfg))
        bench.install_signal_handlers()
        for role in bench.roles:
            print(f"{role:<12} {cfg.instruments[role].driver:<20} {bench.address(role)}", flush=True)
            print(f"{'':<12} identity: {bench.identities[role]}", flush=True)
            print(f"{'':<12} {_one_reading(bench.role(role))}", flush=True)
    print(f"rig: bench check passed: {len(cfg.instruments)} instrument(s) answered; bench left in its safe state")
    return 0


def _uses_multicast(cfg: Any) -> bool:
    return any(
        getattr(inst.transport, "interface", None) == "udp_multicast" for inst in cfg.instruments.values()
    )


def _one_reading(instrument: object) -> str:
    """One characteristic reading per capability (what ``rig bench check`` prints)."""
    from rig.ev_emulator.pilot import classify
    from rig.instruments.capabilities import AcSource, EnergyMeter, EvEmulatorBoard, PilotCapture

    parts: list[str] = []
    if isinstance(instrument, AcSource):
        state = "on" if instrument.output_on() else "off"
        parts.append(f"measured {instrument.measure_voltage():.1f} V (output {state})")
    if isinstance(instrument, EnergyMeter):
        parts.append(f"energy {instrument.energy_import_wh():.1f} Wh, power {instrument.active_power():.1f} W")
    if isinstance(instrument, PilotCapture):
        p = instrument.pilot()
        pwm = p.frequency_hz > 0 and 0.5 < p.duty_pct < 99.5
        label = classify(p.high_v, p.low_v if pwm else p.high_v, pwm).label
        parts.append(
            f"pilot {p.frequency_hz:.0f} Hz, {p.duty_pct:.1f} %, high {p.high_v:.2f} V, low {p.low_v:.2f} V "
            f"(state {label})"
        )
    if isinstance(instrument, EvEmulatorBoard):
        parts.append(f"EV current {instrument.ev_current():.1f} A")
    return "; ".join(parts) or "(identity only: no reading for this capability)"


if __name__ == "__main__":
    sys.exit(main())
