"""``rig firmware``: firmware builds on the DUT over Matter OTA (Matter Core specification, section 11.20), or with
the vendor's flashing command (``dut.firmware.method: command``, :mod:`rig.firmware.flash`).

    rig firmware show IMAGE.ota                      the image's header, checked (digest included)
    rig firmware install IMAGE.ota [--config ...]    install it on rig.yaml's DUT (rig.firmware.install)

``install`` opens the session of rig.yaml as ``rig run`` does (in the run's sandbox, as
``python -m rig.cli.inner firmware-install``), installs the image and checks the new version. Exit codes: 0 installed
and reported, 1 the install failed (the stage named), 2 bad input (an image that is damaged or does not fit the DUT:
the field named), 3 the DUT could not be started, reached or commissioned (or, on a labgrid farm, no place was
held: the coordinator, the place or its resources named).

With ``farm:`` in rig.yaml the install holds a place of the farm for its duration (``farm.place`` names the bench
whose DUT is to be updated; with tags, whichever place is free): its addresses, its network, given back at the end.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rig.cli import common
from rig.config import RigConfig

if TYPE_CHECKING:
    from rig.bench.lock import BenchLock

COMMANDS = ("firmware",)


def add_subcommands(sub: Any) -> None:
    """Add ``rig firmware show|install``."""
    fw = sub.add_parser("firmware", help="firmware builds on the DUT over Matter OTA (or rig.yaml's flashing command)")
    tools = fw.add_subparsers(dest="firmware_command", metavar="ACTION", required=True)
    show = tools.add_parser("show", help="print an OTA image's header, checked (digest included)")
    show.add_argument("image", help="the OTA image file (Matter Core 11.20.2)")
    show.add_argument("--json", action="store_true", help="as JSON")
    inst = tools.add_parser(
        "install",
        help="install an OTA image on the DUT (over Matter OTA, or rig.yaml's flashing command) and check the new "
        "version",
        description=(
            "Check the image against the DUT's Basic Information (vendor id, product id, a newer software version), "
            "start an OTA provider serving it, announce it to the DUT, follow the download, await the reboot and "
            "check the version the DUT reports; the provider is then removed from the fabric. With "
            "dut.firmware.method: command in rig.yaml, the vendor's flashing command installs it instead (any "
            "version, downgrades included; its output in DIR/flash.log with --logs), then the rig awaits the DUT "
            "(--reboot-timeout) and checks the version it reports."
        ),
    )
    inst.add_argument("image", help="the OTA image file (Matter Core 11.20.2)")
    common.add_config_options(inst, defects=True)
    inst.add_argument("--requestor-endpoint", type=int, default=0, help="the DUT's OTA Requestor endpoint (0)")
    inst.add_argument("--provider-port", type=int, default=5550, help="the OTA provider's UDP port (5550)")
    for stage, default, what in (
        ("query", 660, "the query (announcement until the download starts)"),
        ("download", 600, "the download"),
        ("apply", 120, "the apply (the DUT asked to apply the image until it goes away to reboot)"),
        ("reboot", 180, "the reboot (the DUT gone until it answers with the new version)"),
    ):
        inst.add_argument(
            f"--{stage}-timeout",
            type=float,
            default=float(default),
            metavar="S",
            help=f"bound on {what} ({default} s)",
        )
    inst.add_argument(
        "--logs", metavar="DIR", help="keep the logs here (the virtual EVSE's, the OTA provider's, dut.json)"
    )
    inst.add_argument("--json", action="store_true", help="print the outcome as JSON")


def dispatch(args: argparse.Namespace) -> int | None:
    """Run ``rig firmware``; None for another command."""
    if args.command != "firmware":
        return None
    from rig.firmware.image import read_image

    image = read_image(common.input_path(args.image, "IMAGE"))  # a damaged image stops here (exit 2)
    if args.firmware_command == "show":
        if args.json:
            print(json.dumps({"file": str(image.path), "size": image.size, **image.header.to_json()}, indent=2))
        else:
            print(f"{image.path}: {image.size} bytes; {image.header.describe()}")
        return 0
    return _install(args, image.path)


def _install(args: argparse.Namespace, image: Path) -> int:
    cfg, values = common.load(args)
    if cfg.dut.firmware.method == "command":
        flasher_paths(cfg.dut.firmware.command, cfg.config_path)  # its program missing: exit 2 before anything starts
    timeouts = {
        "query": args.query_timeout,
        "download": args.download_timeout,
        "apply": args.apply_timeout,
        "reboot": args.reboot_timeout,
    }

    def install(config: RigConfig, merged: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
        return install_image(
            config,
            merged,
            image,
            config_arg=args.config,
            logs=Path(args.logs) if args.logs else None,
            timeouts=timeouts,
            requestor_endpoint=args.requestor_endpoint,
            provider_port=args.provider_port,
        )

    if cfg.farm is None:
        code, result = install(cfg, values)
    else:  # on a place of the farm, held for the install; the sandbox joins the bench's network
        from rig import sandbox
        from rig.lab.run import bench_network, farm_place

        with farm_place(args, cfg, values, "install-" + sandbox.new_run_id()) as (place_cfg, merged, got):
            print(f"rig: firmware: installing on place {got.bench.place}", file=sys.stderr, flush=True)
            with bench_network(args):
                code, result = install(place_cfg, merged)
    if result is None:
        return code
    print(json.dumps(result, indent=2) if args.json else result["summary"])
    return 0


def install_image(
    cfg: RigConfig,
    values: dict[str, Any],
    image: Path,
    *,
    config_arg: str | None,
    logs: Path | None = None,
    timeouts: dict[str, float] | None = None,
    requestor_endpoint: int = 0,
    provider_port: int = 5550,
    lock: BenchLock | None = None,
) -> tuple[int, dict[str, Any] | None]:
    """Install ``image`` on the DUT of ``cfg`` in a sandbox of its own (``python -m rig.cli.inner
    firmware-install``), as ``rig firmware install`` does; ``rig regress`` calls it for each build.

    Returns:
        The exit code (0, or as ``rig firmware install`` documents) and, when 0, the outcome as JSON (``summary``,
        ``before``, ``after``, ``stages_s``, ``total_s``, ``image``).

    ``lock``: the bench's lock when the caller holds it (``rig regress``, for its whole loop); else it is taken here.
    """
    from rig import sandbox
    from rig.session import run_in_sandbox

    bounds = {"query": 660.0, "download": 600.0, "apply": 120.0, "reboot": 180.0, **(timeouts or {})}
    tmp = Path(tempfile.mkdtemp(prefix="rig-firmware-"))
    out = tmp / "outcome.json"
    argv = [sys.executable, "-m", "rig.cli.inner", "firmware-install", str(image)]
    argv += ["--config", common.config_path(cfg, config_arg), "--out", str(out)]
    argv += ["--requestor-endpoint", str(requestor_endpoint), "--provider-port", str(provider_port)]
    argv += ["--query-timeout", str(bounds["query"]), "--download-timeout", str(bounds["download"])]
    argv += ["--apply-timeout", str(bounds["apply"]), "--reboot-timeout", str(bounds["reboot"])]
    shown = [tmp, image.parent, image]
    if cfg.dut.firmware.method == "command":
        shown += flasher_paths(cfg.dut.firmware.command, cfg.config_path)
    if logs is not None:
        logs = logs.resolve()
        logs.mkdir(mode=0o700, parents=True, exist_ok=True)
        argv += ["--logs", str(logs)]
        shown.append(logs)
    for key, value in values.items():
        argv += ["--set", f"{key}={json.dumps(value)}"]
    try:
        code = common.stdout_to_stderr(
            lambda: run_in_sandbox(cfg, argv, run_id=sandbox.new_run_id(), visible=tuple(shown), lock=lock)
        )
        if code != 0 or not out.is_file():
            return (code or 1), None
        result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0, result


def flasher_paths(command: list[str], source: Path | str | None = None) -> list[Path]:
    """Check that ``dut.firmware.command``'s program can be run, and return the files and folders its words name
    (``/path`` or ``--option=/path``): they stay visible in the install's sandbox, whose /tmp is private. ``source``:
    the rig.yaml the command comes from (its name starts the message).

    Raises:
        ConfigError: the program is not found or not executable (exit code 2, before anything starts).
    """
    import os

    from rig.errors import ConfigError

    prog = command[0]
    found = shutil.which(prog)
    if found is None:
        where = "not an executable file" if "/" in prog else "not found on PATH"
        file = f"{Path(source).name}: " if source is not None else ""
        raise ConfigError(f"{file}dut.firmware.command: the flashing command's program {prog!r} is {where}")
    paths: list[Path] = [Path(found).resolve().parent]
    for word in command[1:]:
        text = word.rsplit("=", 1)[-1]
        if not text.startswith("/") or "{" in text:
            continue
        path = Path(os.path.normpath(text))
        while not path.exists() and path != path.parent:
            path = path.parent
        if path != Path("/"):
            paths.append(path)
    return paths
