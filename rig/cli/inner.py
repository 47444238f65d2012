"""Processes the ``rig`` commands start inside a run's sandbox (never imported by :mod:`rig.cli` itself).

    python -m rig.cli.inner pics-probe --config FILE --out FILE [--set KEY=VALUE]...

    python -m rig.cli.inner firmware-install IMAGE --config FILE --out FILE [--set KEY=VALUE]... [timeouts]

``pics-probe`` opens the session of rig.yaml (:func:`rig.session.open_session`) and writes the DUT's Energy EVSE
elements as JSON, for ``rig pics derive|check``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rig.cli import common
from rig.config import RigConfig
from rig.errors import DutError


async def _probe(config: RigConfig, out: Path) -> None:
    """Inside the sandbox: open the session, read the elements, write them as JSON."""
    from rig.matter.elements import read_dut_elements
    from rig.session import open_session

    async with open_session(config) as session:
        elements = await read_dut_elements(session.node)
    out.write_text(json.dumps(elements.to_dict()), encoding="utf-8")


def _probe_main(argv: list[str]) -> int:
    """``pics-probe --config FILE --out FILE [--set KEY=VALUE]...`` (run by :func:`rig.cli.pics.probe_dut`)."""
    import asyncio
    import logging

    from rig.config import load_config
    from rig.errors import RigError

    p = argparse.ArgumentParser(prog="python -m rig.cli.inner pics-probe")
    p.add_argument("--config", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--set", dest="overrides", action="append", default=[])
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config(args.config, overrides=common.overrides(args.overrides))
        asyncio.run(_probe(cfg, Path(args.out)))
    except RigError as exc:
        print(f"rig: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


async def _station_op(config: RigConfig, op: str, node_id: int, args: argparse.Namespace) -> dict[str, object]:
    """Inside the sandbox: the controller on the station's storage (locked), then the operator command."""
    import random

    from rig import commissioning
    from rig.session import open_controller

    async with open_controller(config) as (controller, station):
        if op == "forget":
            return {"message": await commissioning.forget_dut(config, controller, station, node_id)}
        if op == "fabrics":
            return {"node": f"0x{node_id:x}", "fabrics": await commissioning.fabric_table(config, controller, node_id)}
        if op == "remove-fabric":
            message = await commissioning.remove_foreign_fabric(config, controller, station, node_id, args.index)
            return {"message": message}
        await controller.connect(node_id, config.dut.timeouts.commissioning)
        discriminator = args.discriminator if args.discriminator is not None else random.randrange(4096)
        manual, qr = await controller.open_window(
            node_id, window_s=args.window_s, discriminator=discriminator, timeout_s=config.dut.timeouts.command
        )
        station.audit(f"window: node 0x{node_id:x}: commissioning window opened for {args.window_s} s")
        return {
            "node": f"0x{node_id:x}",
            "window_s": args.window_s,
            "discriminator": discriminator,
            "manual_code": manual,
            "qr_payload": qr,
        }


def _station_main(argv: list[str]) -> int:
    """``station-op OP --node N --config FILE --out FILE [--set KEY=VALUE]...`` (run by ``rig station OP``)."""
    import asyncio
    import logging

    from rig.config import load_config
    from rig.errors import RigError

    p = argparse.ArgumentParser(prog="python -m rig.cli.inner station-op")
    p.add_argument("op", choices=["forget", "window", "fabrics", "remove-fabric"])
    p.add_argument("--node", required=True, type=int)
    p.add_argument("--config", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--set", dest="overrides", action="append", default=[])
    p.add_argument("--window-s", type=int, default=900)
    p.add_argument("--discriminator", type=int, default=None)
    p.add_argument("--index", type=int, default=0)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config(args.config, overrides=common.overrides(args.overrides))
        result = asyncio.run(_station_op(cfg, args.op, args.node, args))
    except RigError as exc:
        print(f"rig: error: {exc}", file=sys.stderr)
        return 3 if isinstance(exc, DutError) else exc.exit_code
    Path(args.out).write_text(json.dumps(result), encoding="utf-8")
    return 0


async def _firmware_install(config: RigConfig, image: Path, args: argparse.Namespace) -> dict[str, object]:
    """Inside the sandbox: open the session, install the image over Matter OTA (:mod:`rig.firmware.install`) or,
    with ``dut.firmware.method: command``, with the vendor's flashing command (:mod:`rig.firmware.flash`)."""
    from rig.firmware.image import read_image
    from rig.firmware.install import Timeouts, install, summary
    from rig.firmware.provider import station_paa
    from rig.session import open_session

    ota = read_image(image)
    timeouts = Timeouts(
        query=args.query_timeout, download=args.download_timeout, apply=args.apply_timeout, reboot=args.reboot_timeout
    )
    logs = Path(args.logs) if args.logs else None
    if config.dut.firmware.method == "command":  # the vendor's flashing command (rig.firmware.flash)
        from rig.firmware import flash

        async with open_session(config, run_dir=logs) as session:
            outcome = await flash.install_with_command(
                session,
                ota,
                workdir=logs or session.sandbox.state_dir / "firmware",
                reboot_timeout_s=args.reboot_timeout,
            )
        text = summary(outcome, ota.header, flasher=flash.program(config.dut.firmware.command))
        return {**outcome.to_json(), "image": ota.header.to_json(), "summary": text}
    async with open_session(config, run_dir=logs, also_trust=station_paa) as session:
        outcome = await install(
            session,
            ota,
            workdir=logs or session.sandbox.state_dir / "firmware",
            timeouts=timeouts,
            requestor_endpoint=args.requestor_endpoint,
            provider_port=args.provider_port,
        )
    return {**outcome.to_json(), "image": ota.header.to_json(), "summary": summary(outcome, ota.header)}


def _firmware_main(argv: list[str]) -> int:
    """``firmware-install IMAGE --config FILE --out FILE [...]`` (run by ``rig firmware install``)."""
    import asyncio
    import logging

    from rig.config import load_config
    from rig.errors import RigError

    p = argparse.ArgumentParser(prog="python -m rig.cli.inner firmware-install")
    p.add_argument("image")
    p.add_argument("--config", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--set", dest="overrides", action="append", default=[])
    p.add_argument("--requestor-endpoint", type=int, default=0)
    p.add_argument("--provider-port", type=int, default=5550)
    p.add_argument("--query-timeout", type=float, default=660.0)
    p.add_argument("--download-timeout", type=float, default=600.0)
    p.add_argument("--apply-timeout", type=float, default=120.0)
    p.add_argument("--reboot-timeout", type=float, default=180.0)
    p.add_argument("--logs", default=None)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config(args.config, overrides=common.overrides(args.overrides))
        result = asyncio.run(_firmware_install(cfg, Path(args.image), args))
    except RigError as exc:
        print(f"rig: error: {exc}", file=sys.stderr)
        return 3 if isinstance(exc, DutError) else exc.exit_code
    Path(args.out).write_text(json.dumps(result), encoding="utf-8")
    return 0


def main(argv: list[str]) -> int:
    """Dispatch on the first argument (the inner command)."""
    if argv[:1] == ["pics-probe"]:
        return _probe_main(argv[1:])
    if argv[:1] == ["station-op"]:
        return _station_main(argv[1:])
    if argv[:1] == ["firmware-install"]:
        return _firmware_main(argv[1:])
    print(
        f"rig.cli.inner: unknown inner command {argv[:1]}; known: pics-probe, station-op, firmware-install",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
