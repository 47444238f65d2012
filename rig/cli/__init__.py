"""The ``rig`` command, one module per command group.

    rig run [--tc ID]... [--dut-defect NAME]... [--set KEY=VALUE]... [-k EXPR] [PATH...]   run suites (run.py)
    rig sim --list-defects                                            the virtual EVSE's defects (sim.py)
    rig sim dut --state DIR [--netns NAME] [--chain DIR]              the virtual EVSE as a network DUT (sim.py)
    rig triggers [--encode NAME] [--endpoint N]                       test event trigger codes (triggers.py)
    rig config check|schema                                           validate rig.yaml / JSON schema (config.py)
    rig bench check                                                   every instrument answers? (bench.py)
    rig pics derive [-o FILE] | check FILE                            PICS of / against the live DUT (pics.py)
    rig report render|import, rig history, rig compare                run records and results (report.py)
    rig station show                                                  the station's fabric and DUT records (station.py)
    rig station forget|window|fabrics|remove-fabric NODE              a DUT over the station's fabric (station_ops.py)
    rig sim build-image --out FILE --software-version N [...]         an OTA image of a virtual EVSE build (sim.py)
    rig firmware show|install IMAGE.ota                               a build over Matter OTA (firmware.py)
    rig regress BUILD.ota... [--tc ID]... [--restore IMAGE]           each build installed and tested (regress.py)
    rig lab sync PLACES_YAML | reap                                   the labgrid bench farm's places, leases (lab.py)
    rig sim export --bench NAME [--coordinator HOST:PORT]             a virtual bench as a farm bench (sim.py)

Exit codes: 0 success, 1 a case failed (or a regression, a contradiction), 2 bad input, 3 the DUT or the bench
could not be started, reached or commissioned, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from types import ModuleType

from rig.cli import bench, config, firmware, lab, pics, regress, report, run, sim, station, triggers
from rig.errors import RigError

GROUPS: tuple[ModuleType, ...] = (run, sim, triggers, config, bench, report, pics, station, lab, firmware, regress)
"""Each module offers ``add_subcommands(sub)``, ``COMMANDS`` and ``dispatch(args) -> int | None``; None lets the next
module listing the command take it (a command group spread over modules, such as ``rig station``)."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rig", description="EVSE conformance rig (Matter Energy EVSE, cluster 0x0099)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.add_subcommands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rig`` console script."""
    given = sys.argv[1:] if argv is None else list(argv)
    passed: list[str] = []
    if "--" in given:  # what follows goes to pytest (rig run); argparse would read it as suite paths
        cut = given.index("--")
        given, passed = given[:cut], given[cut + 1 :]
    parser = _parser()
    args = parser.parse_args(given)
    if passed:
        if not hasattr(args, "pytest_args"):
            parser.error(f"arguments after -- are passed to pytest by `rig run` only, not by `rig {args.command}`")
        args.pytest_args = passed
    try:
        for group in GROUPS:
            if args.command in group.COMMANDS:
                code = group.dispatch(args)
                if code is not None:
                    return int(code)
    except RigError as exc:
        print(f"rig: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("rig: interrupted", file=sys.stderr)
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
