"""``rig station forget|window|fabrics|remove-fabric``: operator commands on a DUT over the station's fabric.

    rig station forget NODE                     remove the station's fabric from the DUT, then its record
    rig station window NODE [--window-s S]      open an enhanced commissioning window; print its codes
    rig station fabrics NODE                    list the DUT's fabrics (every admin, free slots, stale rig fabrics)
    rig station remove-fabric NODE --index I --yes   remove another admin's fabric (explicit, logged)

Each runs the Matter controller on the station's storage in a sandbox of its own (a private ``/data`` and ``/tmp``
for the CHIP wheel; the host's network, where the DUT is), as ``python -m rig.cli.inner station-op``. They apply to
a network DUT (``dut.kind: network``): the virtual EVSE exists only during a run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from rig.cli import common
from rig.errors import ConfigError

OPS = ("forget", "window", "fabrics", "remove-fabric")


def _node_id(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a node id (decimal or 0x hex)") from None
    if not 1 <= value <= 0xFFFF_FFEF_FFFF_FFFF:
        raise argparse.ArgumentTypeError(f"{text!r} is not an operational node id (1 .. 0xFFFFFFEFFFFFFFFF)")
    return value


def add_station_ops(station_sub: Any) -> None:
    """Add the operator commands to ``rig station``'s sub-parsers."""
    for op, text in (
        ("forget", "remove the station's fabric from the DUT (RemoveFabric), then the station's record of it"),
        ("window", "open an enhanced commissioning window on the DUT and print its manual code and QR payload"),
        ("fabrics", "list the DUT's fabrics: every admin's entry, free slots, stale rig fabrics"),
        ("remove-fabric", "remove ANOTHER admin's fabric from the DUT (explicit operator action, logged)"),
    ):
        p = station_sub.add_parser(op, help=text, description=text)
        p.add_argument("node", type=_node_id, help="the DUT's operational node id (e.g. 0x1001)")
        common.add_config_options(p, defects=False)
        if op == "window":
            p.add_argument("--window-s", type=int, default=900, help="window length, 180..900 s (default 900)")
            p.add_argument("--discriminator", type=int, default=None, help="discriminator to advertise (random)")
        if op == "remove-fabric":
            p.add_argument("--index", type=int, required=True, help="the fabric index to remove (1..254)")
            p.add_argument("--yes", action="store_true", help="confirm: the fabric's owner loses the DUT")
        p.add_argument("--json", action="store_true", help="print the result as JSON")


def dispatch_op(args: argparse.Namespace) -> int | None:
    """Run an operator command; None when ``args`` is another ``rig station`` command."""
    op = getattr(args, "station_command", None)
    if op not in OPS:
        return None
    from rig import sandbox
    from rig.session import run_in_sandbox

    if op == "window" and not 180 <= args.window_s <= 900:
        raise ConfigError(
            f"--window-s {args.window_s}: a commissioning window lasts 180 .. 900 s (Matter core 5.4.2.3)"
        )
    if op == "window" and args.discriminator is not None and not 0 <= args.discriminator <= 4095:
        raise ConfigError(f"--discriminator {args.discriminator}: must be 0 .. 4095")
    if op == "remove-fabric":
        if not 1 <= args.index <= 254:
            raise ConfigError(f"--index {args.index}: a fabric index is 1 .. 254")
        if not args.yes:
            raise ConfigError("remove-fabric removes another admin's fabric: its owner loses the DUT; add --yes")
    cfg, values = common.load(args)
    if cfg.dut.kind != "network":
        raise ConfigError(
            f"{cfg.config_path or 'rig.yaml'}: dut.kind is {cfg.dut.kind}: `rig station {op}` acts on a network DUT "
            "(the virtual EVSE exists only during a run)"
        )
    out = Path(tempfile.mkdtemp(prefix="rig-station-")) / "result.json"
    argv = [sys.executable, "-m", "rig.cli.inner", "station-op", op, "--node", str(args.node)]
    argv += ["--config", common.config_path(cfg, args.config), "--out", str(out)]
    for key, value in values.items():
        argv += ["--set", f"{key}={json.dumps(value)}"]
    if op == "window":
        argv += ["--window-s", str(args.window_s)]
        if args.discriminator is not None:
            argv += ["--discriminator", str(args.discriminator)]
    if op == "remove-fabric":
        argv += ["--index", str(args.index)]
    try:
        code = common.stdout_to_stderr(
            lambda: run_in_sandbox(cfg, argv, run_id=sandbox.new_run_id(), preload=False, visible=(out.parent,))
        )
        if code != 0:
            return code
        result = json.loads(out.read_text(encoding="utf-8"))
    finally:
        out.unlink(missing_ok=True)
        out.parent.rmdir()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(_text(op, result))
    return 0


def _text(op: str, result: dict[str, Any]) -> str:
    if op == "window":
        return (
            f"commissioning window open on node {result['node']} for {result['window_s']} s\n"
            f"manual pairing code: {result['manual_code']}\nQR payload: {result['qr_payload']}"
        )
    if op == "fabrics":
        t = result["fabrics"]
        lines = [
            f"node {result['node']}: {t.get('commissioned')} of {t.get('supported')} fabrics used "
            f"(free {t.get('free')}); this station's fabric index: {t.get('current_index')}"
        ]
        for e in t.get("entries", []):
            mark = "  <- this station" if e["index"] == t.get("current_index") else ""
            stale = "  (stale rig fabric)" if e["index"] in t.get("stale_rig_fabrics", []) else ""
            lines.append(
                f"  index {e['index']}: vendor 0x{e['vendor_id']:04X}, fabric id 0x{e['fabric_id']:X}, node "
                f"0x{e['node_id']:X}, label {e['label']!r}{mark}{stale}"
            )
        lines += [f"  problem: {p!r}" for p in t.get("problems", [])]
        return "\n".join(lines)
    return str(result["message"])
