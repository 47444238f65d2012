"""``rig sim``: the virtual EVSE's tools.

rig sim --list-defects          the firmware defects, one per line
rig sim dut --state DIR [...]   the virtual EVSE as a long-lived network DUT (rig.sim.dut_server)
rig sim export --bench NAME [...]  a virtual bench served as a labgrid farm bench (rig.lab.sim_export)
rig sim flash IMAGE --state DIR [--erase]
                                the virtual bench's stand-in for a vendor's flashing tool: the image's build flashed
                                onto the EVSE of `rig sim dut --state DIR` (power off, write, power on)
rig sim build-image --out FILE --software-version N [--version-string S] [--defect NAME]... [--hardware-version N]
                                an OTA image (Matter Core 11.20.2) of a virtual EVSE build (rig.sim.ota_image)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rig.errors import DutError

COMMANDS = ("sim",)


def add_subcommands(sub: Any) -> None:
    """Add ``rig sim`` and ``rig sim dut``."""
    sim = sub.add_parser("sim", help="the virtual EVSE")
    sim.add_argument("--list-defects", action="store_true", help="print the firmware defects, one per line")
    tools = sim.add_subparsers(dest="sim_command", metavar="TOOL")
    dut = tools.add_parser(
        "dut",
        help="run the virtual EVSE as a long-lived network DUT until SIGINT/SIGTERM",
        description=(
            "Run the virtual EVSE until SIGINT or SIGTERM, for a run with dut.kind: network. When it is up, one JSON "
            "line goes to stdout (ready, netns, interface, port, passcode, discriminator, manual_code, vendor_id, "
            "product_id, supported_fabrics, commissioned, paa_trust_store, enable_key, state, log, pid, server_pid, "
            "control: the power control channel's socket, used by `rig sim flash`). "
            "At the end the EVSE is stopped and a namespace made here deleted; DIR stays."
        ),
    )
    dut.add_argument("--state", required=True, metavar="DIR", help="the EVSE's storage (DIR/storage) and log")
    dut.add_argument(
        "--netns",
        metavar="NAME",
        help="run in network namespace NAME (made with a veth pair if missing; needs root); default: the host",
    )
    dut.add_argument("--supported-fabrics", metavar="N", help="fabric table size, 5..254 (default 5)")
    dut.add_argument(
        "--chain", metavar="DIR", help="attest with a chain of the rig's own in DIR (made if missing or stale)"
    )
    dut.add_argument("--passcode", help="setup passcode (default 20202021)")
    dut.add_argument("--discriminator", help="12-bit discriminator (default 3840)")
    dut.add_argument("--port", help="Matter UDP port (default 5540)")
    dut.add_argument("--vendor-id", metavar="VID", help="vendor id (default 0xFFF1)")
    dut.add_argument("--product-id", metavar="PID", help="product id (default 0x8000)")
    dut.add_argument("--serial", help="serial number (default VEVSE-0001)")
    dut.add_argument(
        "--enable-key",
        metavar="HEX",
        help="test event trigger enable key, 32 hex digits (default 000102…0f)",
    )
    dut.add_argument("--fresh", action="store_true", help="wipe DIR/storage first (a factory-new device)")
    fl = tools.add_parser(
        "flash",
        help="the virtual bench's stand-in for a vendor's flashing tool: flash a build onto a running `rig sim dut`",
        description=(
            "Flash the build of a virtual EVSE OTA image onto the EVSE of `rig sim dut --state DIR`, as a vendor's "
            "USB flasher flashes a board: over the server's control channel the EVSE is powered off, the build "
            "written into its storage (any version, older ones too), with --erase the whole storage erased first "
            "(fabrics included: the EVSE is factory-new afterwards), and the EVSE powered on again. For "
            "dut.firmware.method: command in rig.yaml. Exit codes: 0 flashed and up again, 1 the flash failed, 2 bad "
            "input."
        ),
    )
    fl.add_argument("image", help="the OTA image of a virtual EVSE build (rig sim build-image)")
    fl.add_argument("--state", required=True, metavar="DIR", help="the state folder of the running `rig sim dut`")
    fl.add_argument(
        "--erase", action="store_true", help="erase the EVSE's storage first (fabrics, access control, settings)"
    )
    _add_export(tools)
    img = tools.add_parser(
        "build-image",
        help="make a Matter OTA image of a virtual EVSE build (version, version string, defects)",
        description=(
            "Make a Matter OTA image file (Matter Core 11.20.2, with matter.js's OtaImageWriter) whose payload is a "
            "virtual EVSE build: installed with `rig firmware install`, the virtual EVSE reboots into it and reports "
            "its version, with its defects active."
        ),
    )
    img.add_argument("--out", required=True, metavar="FILE", help="the image file to write (e.g. build-2.ota)")
    img.add_argument("--software-version", required=True, metavar="N", help="SoftwareVersion, 1..4294967295")
    img.add_argument("--version-string", metavar="S", help="SoftwareVersionString (default: N.0.0)")
    img.add_argument("--defect", action="append", default=[], metavar="NAME", help="a defect of the build (repeat)")
    img.add_argument("--vendor-id", metavar="VID", default="0xFFF1", help="vendor id (default 0xFFF1)")
    img.add_argument("--product-id", metavar="PID", default="0x8000", help="product id (default 0x8000)")
    img.add_argument("--payload-size", metavar="BYTES", default="0", help="pad the payload to this size")
    img.add_argument(
        "--hardware-version",
        metavar="N",
        help="the board revision (HardwareVersion) the build is for; an EVSE of another revision refuses it after the "
        "download (default: any)",
    )


def dispatch(args: argparse.Namespace) -> int | None:
    """Run ``rig sim``; None for another command."""
    if args.command != "sim":
        return None
    if args.sim_command == "dut":
        return _dut(args)
    if args.sim_command == "export":
        from rig.cli import common
        from rig.lab.sim_export import export, options_from

        return export(options_from(args, common.load(args)[0]))
    if args.sim_command == "build-image":
        return _build_image(args)
    if args.sim_command == "flash":
        from rig.sim.dut_server import flash_main

        return flash_main(args.image, args.state, erase=args.erase)
    from rig.config import known_defects

    if args.list_defects:
        for name, text in known_defects().items():
            print(f"{name}  {text}")
        return 0
    print("rig sim: nothing to do (try --list-defects or dut)", file=sys.stderr)
    return 2


def _dut(args: argparse.Namespace) -> int:
    """``rig sim dut``: bad input raises ConfigError/SetupError (exit 2); an EVSE that does not start, exit 3."""
    from rig.sim.dut_server import DutServerOptions, parse_int, serve

    given: dict[str, Any] = {"state": Path(args.state), "netns": args.netns, "fresh": args.fresh, "control": True}
    for name in ("supported_fabrics", "passcode", "discriminator", "port", "vendor_id", "product_id"):
        text = getattr(args, name)
        if text is not None:
            given[name] = parse_int(text, "--" + name.replace("_", "-"))
    if args.chain is not None:
        given["chain"] = Path(args.chain)
    if args.serial is not None:
        given["serial"] = args.serial
    if args.enable_key is not None:
        given["enable_key"] = args.enable_key
    options = DutServerOptions(**given)  # the defaults are DutServerOptions's
    try:
        return serve(options)
    except DutError as exc:
        print(f"rig: error: {exc}", file=sys.stderr)
        return 3


def _add_export(tools: Any) -> None:
    from rig.cli import common

    exp = tools.add_parser(
        "export",
        help="serve a virtual bench as a bench of the labgrid farm until SIGINT/SIGTERM",
        description=(
            "Start the virtual EVSE and the virtual bench's instrument servers (rig.yaml's roles) in network namespace "
            "rigbench-NAME, write their exporter YAML and run `python -m rig.lab.exporter` on it against the "
            "coordinator (started again when it exits); reset the bench whenever its place is released. One JSON "
            "line goes to stdout when the coordinator lists the bench. SIGINT or SIGTERM stops and removes everything."
        ),
    )
    exp.add_argument("--bench", required=True, metavar="NAME", help="the bench's name (exporter, namespace)")
    common.add_config_options(exp, defects=False)
    exp.add_argument("--coordinator", metavar="HOST:PORT", help="default: farm.coordinator, $LG_COORDINATOR")
    exp.add_argument("--state", metavar="DIR", help="keep the logs here (default: a temporary folder, removed)")
    exp.add_argument("--chain", metavar="DIR", help="attest with a chain of the rig's own in DIR (as rig sim dut)")
    exp.add_argument("--node-id", metavar="N", help="the DUT's node id for runs (default: one of the bench's own)")
    exp.add_argument("--exporter", metavar="NAME", help="the exporter's name (default: the bench's)")


def _build_image(args: argparse.Namespace) -> int:
    """``rig sim build-image``: a refused build (unknown defect, bad number) raises ConfigError (exit 2)."""
    from rig.cli import common
    from rig.sim.dut_server import parse_int
    from rig.sim.ota_image import build_virtual_evse_image

    version = parse_int(args.software_version, "--software-version")
    image = build_virtual_evse_image(
        common.output_path(args.out, "--out"),
        vendor_id=parse_int(args.vendor_id, "--vendor-id"),
        product_id=parse_int(args.product_id, "--product-id"),
        software_version=version,
        software_version_string=args.version_string or f"{version}.0.0",
        defects=list(args.defect),
        payload_size=parse_int(args.payload_size, "--payload-size"),
        hardware_version=None if (hw := args.hardware_version) is None else parse_int(hw, "--hardware-version"),
    )
    print(f"{image.path}: {image.size} bytes; {image.header.describe()}")
    return 0
