"""The PICS commands of ``rig``: the PICS of the live DUT, and a PICS file checked against it.

    rig pics derive [-o FILE] [--format xml|text] [--config FILE] [--set KEY=VALUE]...
    rig pics check FILE [--config FILE] [--set KEY=VALUE]...

Both need the live DUT of rig.yaml. They get it the way ``rig run`` does: in the run's sandbox, a process
(``python -m rig.cli.inner pics-probe``) opens the session (:func:`rig.session.open_session`: bench, DUT, controller,
commissioning), reads the Energy EVSE FeatureMap, AttributeList, AcceptedCommandList, GeneratedCommandList and
EventList on ``dut.endpoint`` and writes them as JSON. Its output goes to stderr, so ``rig pics derive`` without
``-o`` prints only the PICS on stdout.

Exit codes: ``derive`` 0 written; ``check`` 0 the file agrees with the DUT, 1 it does not (every disagreement
printed, one a line); both 2 on bad input (a malformed PICS file names its file and line), 3 when the DUT could
not be started, reached or read.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from rig import sandbox
from rig.cli import common
from rig.errors import DutError
from rig.pics import DutElements, contradictions, derive_pics, load_pics, write_pics_text, write_pics_xml

COMMANDS = ("pics",)


class ProbeError(DutError):
    """The DUT could not be started, reached or read for ``rig pics`` (exit 3, as ``rig run``)."""

    exit_code = 3


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
        common.add_config_options(p)


def dispatch(args: argparse.Namespace) -> int | None:
    """Run a PICS command; None when ``args.command`` is not one of them."""
    if args.command != "pics":
        return None
    return cmd_derive(args) if args.pics_action == "derive" else cmd_check(args)


def cmd_derive(args: argparse.Namespace) -> int:
    """``rig pics derive``: probe the DUT, write its PICS (XML or text) to a file or stdout."""
    fmt = args.format or ("text" if args.output and str(args.output).endswith(".txt") else "xml")
    output = common.output_path(args.output, "-o") if args.output else None  # checked before the DUT is probed
    dut = probe_dut(args.config, args.overrides, args.dut_defect)
    items = derive_pics(dut.feature_map, dut.attribute_ids, dut.accepted_cmds, dut.generated_cmds, dut.event_ids)
    with tempfile.TemporaryDirectory(prefix="rig-pics-") as tmp:
        target = output or Path(tmp) / "pics"
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
    pics = load_pics(common.input_path(args.file, "PICS"))  # a malformed file stops here, before anything starts
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
    """Open the session of rig.yaml as ``rig run`` does and read the DUT's Energy EVSE elements.

    The session runs in a process of its own inside the run's sandbox (``python -m rig.cli.inner pics-probe``);
    its output goes to stderr.

    Raises:
        ConfigError: bad rig.yaml or override.
        SetupError: the machine lacks what a run needs (root, ``ip``, ``node``).
        ProbeError: the DUT could not be started, reached, commissioned or read.
    """
    from rig.config import load_config
    from rig.dut import dut_for
    from rig.session import run_in_sandbox

    values = common.overrides(overrides)
    if defects:
        values["virtual_evse.defects"] = list(defects)
    values["dut.pics"] = None
    cfg = load_config(config, overrides=values)
    dut = dut_for(cfg)
    tmp = Path(tempfile.mkdtemp(prefix="rig-pics-"))
    out = tmp / "dut-elements.json"
    argv = [
        sys.executable,
        "-m",
        "rig.cli.inner",
        "pics-probe",
        "--config",
        common.config_path(cfg, config),
        "--out",
        str(out),
    ]
    for key, value in values.items():
        argv += ["--set", f"{key}={json.dumps(value)}"]
    run_id = sandbox.new_run_id()
    print(
        f"rig: reading the DUT's Energy EVSE elements ({dut.describe()['label']}, endpoint {cfg.dut.endpoint}, "
        f"run {run_id})",
        file=sys.stderr,
    )
    try:
        code = common.stdout_to_stderr(lambda: run_in_sandbox(cfg, argv, run_id=run_id, visible=(tmp,)))
        if code != 0 or not out.is_file():
            raise ProbeError(f"could not read the DUT's Energy EVSE elements (exit {code}); see the output above")
        return DutElements.from_dict(json.loads(out.read_text(encoding="utf-8")))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
