"""The PICS commands of ``rig``: the PICS of the live DUT, and a PICS file checked against it.

    rig pics derive [-o FILE] [--format xml|text] [--config FILE] [--set KEY=VALUE]...
    rig pics check FILE [--config FILE] [--set KEY=VALUE]...

Both need the live DUT of rig.yaml. They get it the way ``rig run`` does, in one path: a run sandbox (network
namespace and private mounts for the virtual bench) in which pytest runs the internal module
``rig/pics_probe.py``; its ``dut_node`` fixture starts the virtual EVSE and bench (or reaches the real DUT),
commissions or connects, reads the Energy EVSE FeatureMap, AttributeList, AcceptedCommandList,
GeneratedCommandList and EventList on ``dut.endpoint`` and writes them as JSON. pytest's output goes to stderr,
so ``rig pics derive`` without ``-o`` prints only the PICS on stdout.

Exit codes: ``derive`` 0 written; ``check`` 0 the file agrees with the DUT, 1 it does not (every disagreement
printed, one a line); both 2 on bad input (a malformed PICS file names its file and line), 3 when the DUT could
not be started, reached or read.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from rig.errors import DutError
from rig.pics import DutElements, contradictions, derive_pics, load_pics, write_pics_text, write_pics_xml

COMMANDS = ("pics",)


class ProbeError(DutError):
    """The DUT could not be started, reached or read for ``rig pics`` (exit 3, as ``rig run``)."""

    exit_code = 3


PROBE = "rig/pics_probe.py"


def add_subcommands(sub: Any) -> None:
    """Add ``rig pics`` to the ``rig`` sub-parser collection ``sub``."""
    pics = sub.add_parser("pics", help="PICS: derive them from the live DUT, check a PICS file against it")
    actions = pics.add_subparsers(dest="pics_action", required=True, metavar="ACTION")
    derive = actions.add_parser("derive", help="write the Energy EVSE PICS of the live DUT")
    derive.add_argument("-o", "--output", default=None, metavar="FILE", help="file to write (default: stdout)")
    derive.add_argument(
        "--format",
        choices=("xml", "text"),
        default=None,
        help="CSA PICS XML or KEY=1|0 text (default: text for a .txt FILE, else xml)",
    )
    check = actions.add_parser("check", help="compare a PICS file with the live DUT; exit 1 on any disagreement")
    check.add_argument("file", help="PICS XML file, folder of XML files, zip, or KEY=1|0 text file")
    for p in (derive, check):
        p.add_argument("--config", "-c", default=None, help="bench description (default: ./rig.yaml)")
        p.add_argument(
            "--set",
            dest="overrides",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a rig.yaml value, e.g. --set virtual_evse.features=[PREF,V2X]",
        )
        p.add_argument("--dut-defect", action="append", default=[], metavar="NAME", help="virtual EVSE firmware defect")


def dispatch(args: argparse.Namespace) -> int | None:
    """Run a PICS command; None when ``args.command`` is not one of them."""
    if args.command != "pics":
        return None
    return cmd_derive(args) if args.pics_action == "derive" else cmd_check(args)


def cmd_derive(args: argparse.Namespace) -> int:
    """``rig pics derive``: probe the DUT, write its PICS (XML or text) to a file or stdout."""
    fmt = args.format or ("text" if args.output and str(args.output).endswith(".txt") else "xml")
    dut = probe_dut(args.config, args.overrides, args.dut_defect)
    items = derive_pics(dut.feature_map, dut.attribute_ids, dut.accepted_cmds, dut.generated_cmds, dut.event_ids)
    with tempfile.TemporaryDirectory(prefix="rig-pics-") as tmp:
        target = Path(args.output) if args.output else Path(tmp) / "pics"
        if fmt == "xml":
            write_pics_xml(items, target)
        else:
            header = [
                "Energy EVSE PICS derived from the live DUT by `rig pics derive`",
                f"FeatureMap 0x{dut.feature_map:X}"
                + (
                    "; events inferred from the FeatureMap (the DUT serves no EventList)"
                    if dut.event_ids is None
                    else ""
                ),
            ]
            write_pics_text(items, target, header=header)
        if args.output:
            supported = sum(items.values())
            print(f"rig: wrote {target} ({fmt}, {supported} of {len(items)} items supported)", file=sys.stderr)
        else:
            sys.stdout.write(target.read_text(encoding="utf-8"))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """``rig pics check FILE``: every disagreement between the file and the DUT; exit 1 if any."""
    pics = load_pics(args.file)  # a malformed file stops here, before anything starts
    for w in pics.warnings:
        print(f"rig: PICS warning: {w}", file=sys.stderr)
    dut = probe_dut(args.config, args.overrides, args.dut_defect)
    found = contradictions(pics, dut)
    for text in found:
        print(text)
    if dut.event_ids is None:
        print(
            "rig: note: EventList could not be read (the controller's cluster model or the DUT lacks it); "
            "event PICS (EEVSE.S.Exx) were not compared",
            file=sys.stderr,
        )
    if found:
        print(f"rig: PICS {args.file} contradicts the DUT in {len(found)} place(s)", file=sys.stderr)
        return 1
    print(f"rig: PICS {args.file} agrees with the DUT (FeatureMap 0x{dut.feature_map:X})", file=sys.stderr)
    return 0


def probe_dut(config: str | None, overrides: list[str], defects: list[str]) -> DutElements:
    """Start (or reach) the DUT of rig.yaml as ``rig run`` does and read its Energy EVSE elements.

    Runs pytest on ``rig/pics_probe.py`` inside a run sandbox; pytest's output goes to stderr.

    Raises:
        ConfigError: bad rig.yaml or override.
        SetupError: the machine lacks what a run needs (root, ``ip``, ``node``).
        ProbeError: the DUT could not be started, reached, commissioned or read.
    """
    from rig import cli, sandbox
    from rig.config import load_config

    values = cli._overrides(overrides)
    if defects:
        values["virtual_evse.defects"] = list(defects)
    cfg = load_config(config, overrides=values)
    sandbox.preflight(need_netns=cfg.is_virtual, need_node=cfg.is_virtual)
    if cfg.is_virtual:
        from rig.sim.virtual_evse import check_installed

        check_installed()
    config_path = str(cfg.config_path) if cfg.config_path else str(Path(config or "rig.yaml").resolve())
    tmp = Path(tempfile.mkdtemp(prefix="rig-pics-"))
    out = tmp / "dut-elements.json"
    argv = [
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rig-progress", "off",
        "--rootdir", str(cli.PROJECT_ROOT), "-c", str(cli.PROJECT_ROOT / "pyproject.toml"), "-o", "testpaths=",
        "--rig-config", config_path, "--rig-set", "dut.pics=null", "--pics-probe-out", str(out),
    ]  # fmt: skip
    for key, value in values.items():
        argv += ["--rig-set", f"{key}={json.dumps(value)}"]
    argv.append(str(cli.PROJECT_ROOT / PROBE))
    env = dict(os.environ, PYTHONPATH=str(cli.PROJECT_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    bench = "virtual" if cfg.is_virtual else "real"
    run_id = sandbox.new_run_id()
    print(
        f"rig: reading the DUT's Energy EVSE elements ({bench} bench, endpoint {cfg.dut.endpoint}, run {run_id})",
        file=sys.stderr,
    )
    try:
        with sandbox.Sandbox(run_id, with_netns=cfg.is_virtual, visible=[tmp]) as sb:
            code = _stdout_to_stderr(lambda: sb.run(argv, env=env))
        if code != 0 or not out.is_file():
            raise ProbeError(
                f"could not read the DUT's Energy EVSE elements (probe exit {code}); see the pytest output above"
            )
        return DutElements.from_dict(json.loads(out.read_text(encoding="utf-8")))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _stdout_to_stderr(fn: Any) -> int:
    """Run ``fn`` with file descriptor 1 pointing at stderr (child processes inherit it)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        return int(fn())
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
