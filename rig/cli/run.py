"""``rig run``: run test suites against the DUT of rig.yaml and write the report.

    rig run [--tc ID]... [--stimulus MODE] [--pics PATH] [--dut-defect NAME]... [--set KEY=VALUE]... [PATH...]

The run's sandbox is made here (:func:`rig.session.run_in_sandbox`); pytest runs inside it with the rig plugin,
which opens the session (:func:`rig.session.open_session`). Exit codes: 0 every case passed, 1 a case failed,
2 bad input, 3 the DUT or the bench could not be started, reached or commissioned.
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
from rig.cli import common
from rig.cli import report as report_cli
from rig.config import RigConfig
from rig.dut import dut_for
from rig.pytest_plugin.state import INNER_SET_ENV
from rig.session import lock_bench, run_in_sandbox
from rig.stimulus import MODES

COMMANDS = ("run",)
DEFAULT_SUITES = ("suites/tc_eevse", "suites/hil")
PYTEST_USAGE_ERROR = 4
"""pytest's exit code for a usage error (``pytest.ExitCode.USAGE_ERROR``)."""


def add_subcommands(sub: Any) -> None:
    """Add ``rig run``."""
    run = sub.add_parser("run", help="run test suites against the DUT of rig.yaml and write the report")
    run.add_argument("paths", nargs="*", help=f"suite files or folders (default: {' '.join(DEFAULT_SUITES)})")
    common.add_config_options(run)
    run.add_argument(
        "--tc",
        action="append",
        default=[],
        metavar="ID",
        help="run exactly this test-plan case, e.g. --tc TC-EEVSE-2.1 (repeatable; ids as in the report)",
    )
    run.add_argument(
        "--stimulus",
        choices=list(MODES),
        default=None,
        help="how the EV is simulated: test event triggers, the bench's EV emulator, or an operator "
        "(same as --set stimulus=MODE)",
    )
    run.add_argument(
        "--pics",
        default=None,
        metavar="PATH",
        help="the DUT's PICS (CSA XML file, folder or zip, or KEY=1|0 text): they decide which cases and steps "
        "apply (same as --set dut.pics=PATH; without one they are derived from the DUT)",
    )
    run.add_argument("-k", dest="keyword", default=None, help="only cases matching this pytest -k expression")
    run.add_argument("--keep-state", action="store_true", help="keep the run's state folder (/run/rig/<id>)")
    run.add_argument(
        "--legacy-triggers", action="store_true", help="send test event triggers without the endpoint in bits 32-47"
    )
    run.add_argument("--run-id", default=None, help=argparse.SUPPRESS)
    run.add_argument("pytest_args", nargs=argparse.REMAINDER, help="after --: passed to pytest")


def dispatch(args: argparse.Namespace) -> int | None:
    """Run ``rig run``; None for another command."""
    return cmd_run(args) if args.command == "run" else None


def cmd_run(args: argparse.Namespace) -> int:
    """Make the sandbox, run pytest inside it, close the run folder, point reports/latest at the run. With
    ``farm:`` in rig.yaml, all of it on a place of the labgrid farm, held for the run (:mod:`rig.lab.farm`)."""
    cfg, values = common.load(args)
    if cfg.farm is not None:
        from rig.lab.run import farm_run

        return farm_run(args, cfg, values, _cmd_run)
    return _cmd_run(args, cfg, values)


def _cmd_run(args: argparse.Namespace, cfg: RigConfig, values: dict[str, Any]) -> int:
    dut = dut_for(cfg)  # refuses settings that do not apply to this kind of DUT
    reports = cfg.report.folder()
    suites = check_inputs(args, cfg, reports)
    run_id = args.run_id or sandbox.new_run_id()
    run_dir = reports / run_id
    from rig.lab.run import bench_network, bench_safe_state

    # another run holds the bench: stop here (exit 2); a run of `rig regress` runs under the loop's lock, lent to it
    lent = getattr(args, "bench_lock", None)
    lock = lent or lock_bench(cfg, run_id, run_dir=run_dir, safe_state=bench_safe_state(args))
    try:
        run_dir.mkdir(parents=True, exist_ok=False)
    except BaseException:
        lock.release()
        raise
    argv = [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
        "--rootdir", str(PROJECT_ROOT), "-c", str(PROJECT_ROOT / "pyproject.toml"),
        "--rig-config", common.config_path(cfg, args.config), "--rig-run-dir", str(run_dir),
        "-o", "testpaths=",
    ]  # fmt: skip
    # Overrides travel in the environment, not on the command line: another local user can read a process's
    # command line (ps), not its environment; a passcode or PIXIT key set with --set stays private. The database
    # URL is used after the run, outside, and is not passed at all.
    inner_set = {key: value for key, value in values.items() if key != "report.database"}
    os.environ[INNER_SET_ENV] = json.dumps(inner_set)
    for tc in args.tc:
        argv += ["--rig-tc", tc]
    if args.legacy_triggers:
        argv.append("--legacy-triggers")
    if args.keyword:
        argv += ["-k", args.keyword]
    argv += args.pytest_args
    argv += [str(path) + node for path, node in suites] or [str(PROJECT_ROOT / p) for p in DEFAULT_SUITES]

    print(f"rig: run {run_id}: {dut.describe()['label']} ({cfg.station.name}); outputs in {run_dir}", flush=True)
    t0 = time.monotonic()
    with bench_network(args):  # a farm bench's own network, if it has one: the sandbox only
        code = run_in_sandbox(cfg, argv, run_id=run_id, keep_state=args.keep_state, visible=(run_dir,), lock=lock)
    if code == PYTEST_USAGE_ERROR:  # a bad --tc, -k or path: bad input, as the rig says it
        code = 2
    report_cli.after_run(run_dir, code, cfg.report.database)
    _point_latest(reports, run_id)
    verdict = {0: "PASSED", 1: "FAILED"}.get(code, f"ERROR (exit {code})")
    print(
        f"rig: run {run_id} {verdict} in {time.monotonic() - t0:.1f} s; report: {run_dir / 'report.html'}",
        flush=True,
    )
    return code


def check_inputs(args: argparse.Namespace, cfg: RigConfig, reports: Path) -> list[tuple[Path, str]]:
    """Check what the command line and rig.yaml name before anything starts: the PICS are read (a missing, empty
    or malformed PICS stops the run here), the suite paths exist, the results database URL has a supported scheme.
    Returns the suite paths, absolute, each with its ``::test`` node part (or ""): they are kept visible in the
    sandbox, as rig.yaml's inputs are.

    Raises:
        ConfigError: a missing or malformed PICS, a missing suite path.
        ResultsDbError: a results database URL of an unsupported scheme.
    """
    from rig.pics import load_pics
    from rig.report.db import resolve_url

    if cfg.dut.pics is not None:
        load_pics(cfg.dut.pics)
    suites = []
    for text in args.paths:
        file_part, sep, node = text.partition("::")
        suites.append((common.input_path(file_part, "suite path"), sep + node))
    resolve_url(None, reports, cfg.report.database)
    return suites


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
