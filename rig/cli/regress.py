"""``rig regress``: the firmware regression loop.

    rig regress BUILD.ota... [--tc ID]... [-k EXPR] [--suite PATH]... [--restore IMAGE] [--config ...] [--set ...]

Each build is installed on rig.yaml's DUT over Matter OTA in turn (as ``rig firmware install`` does:
:func:`rig.cli.firmware.install_image`), then the selection runs against it as a normal ``rig run`` (a run folder,
record and results database row of its own); the regression report (``<report dir>/regress-<id>/report.html`` and
``regress.json``, :mod:`rig.report.regress`) puts builds x cases side by side. Exit codes: 0 no regression, 1 a case
that passed on the previous build fails (or an install failed: the report says which), 2 bad input (an image that is
missing or damaged, images for different products, builds not in increasing version order, an image that does not
fit the DUT, a bench that cannot keep an installed build), 3 the DUT could not be reached.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from rig import sandbox
from rig.cli import common
from rig.config import RigConfig, load_config
from rig.errors import ConfigError, RigError

COMMANDS = ("regress",)
ALREADY_COMMISSIONED = "already-commissioned"


def add_subcommands(sub: Any) -> None:
    """Add ``rig regress``."""
    from rig.stimulus import MODES

    p = sub.add_parser(
        "regress",
        help="install each build over Matter OTA in turn, run the suites on it, report regressions and fixes",
        description=(
            "Install each OTA image on the DUT in the order given (strictly increasing software versions), run the "
            "selected suites on each as `rig run` does, and write a regression report: builds x cases, new failures "
            "and fixes. Exit 1 when a case that passed on the previous build fails."
        ),
    )
    p.add_argument("images", nargs="+", metavar="BUILD.ota", help="OTA images, oldest first")
    common.add_config_options(p, defects=False)
    p.add_argument("--tc", action="append", default=[], metavar="ID", help="run exactly this case (repeatable)")
    p.add_argument("-k", dest="keyword", default=None, help="only cases matching this pytest -k expression")
    p.add_argument(
        "--suite",
        dest="paths",
        action="append",
        default=[],
        metavar="PATH",
        help="a suite file or folder (repeatable; default: as rig run)",
    )
    p.add_argument("--stimulus", choices=list(MODES), default=None, help="how the EV is simulated (as rig run)")
    p.add_argument("--pics", default=None, metavar="PATH", help="the DUT's PICS (as rig run)")
    p.add_argument(
        "--restore",
        default=None,
        metavar="IMAGE",
        help="install this image after the last build (newer than every build: Matter OTA only moves forward)",
    )
    for stage, default in (("query", 660), ("download", 600), ("reboot", 180)):
        p.add_argument(
            f"--{stage}-timeout",
            type=float,
            default=float(default),
            metavar="S",
            help=f"install: {stage} ({default} s)",
        )


def dispatch(args: argparse.Namespace) -> int | None:
    """Run ``rig regress``; None for another command."""
    return regress(args) if args.command == "regress" else None


def check_images(paths: list[str], restore: str | None) -> list[tuple[Path, Any]]:
    """Read every image (and the restore image, last) and check them against each other before anything starts.

    Raises:
        ConfigError: a missing or damaged image (the field named), images of different vendor or product ids, builds
            not in strictly increasing software version order, or an applicable range excluding the build before.
    """
    from rig.firmware.image import read_image

    named = [(text, "BUILD") for text in paths] + ([(restore, "--restore")] if restore is not None else [])
    images = [
        (common.input_path(text, option), text if option == "BUILD" else f"{option} {text}") for text, option in named
    ]
    headers = [read_image(path).header for path, _ in images]
    first_name, first = images[0][1], headers[0]
    for i in range(1, len(images)):
        name, header = images[i][1], headers[i]
        prev_name, prev = images[i - 1][1], headers[i - 1]
        for field, value, ref in (
            ("VendorID", header.vendor_id, first.vendor_id),
            ("ProductID", header.product_id, first.product_id),
        ):
            if value != ref:
                raise ConfigError(
                    f"{name}: {field} 0x{value:04X}, but {first_name} has 0x{ref:04X}: one product per run"
                )
        if header.software_version <= prev.software_version:
            raise ConfigError(
                f"{name}: SoftwareVersion {header.software_version} is not newer than {prev_name}'s "
                f"{prev.software_version}: give the builds oldest first, in strictly increasing version order "
                "(Matter OTA installs only a newer version)"
            )
        low, high = header.min_applicable, header.max_applicable
        if (low is not None and prev.software_version < low) or (high is not None and prev.software_version > high):
            raise ConfigError(
                f"{name}: MinApplicableSoftwareVersion/MaxApplicableSoftwareVersion {low}..{high} excludes "
                f"{prev_name}'s {prev.software_version}, the version it would be installed on"
            )
    return [(path, header) for (path, _), header in zip(images, headers, strict=True)]


def _step_config(args: argparse.Namespace, values: dict[str, Any], reconnect: bool) -> tuple[RigConfig, dict[str, Any]]:
    """rig.yaml with the command line's overrides, and ``dut.commissioning: already-commissioned`` once the station
    holds the DUT (an earlier step kept the rig's fabric on it: the DUT is reached again rather than commissioned)."""
    step_values = dict(values)
    if reconnect:
        step_values["dut.commissioning"] = ALREADY_COMMISSIONED
    return load_config(args.config, overrides=step_values), step_values


def _station_holds_dut(cfg: RigConfig) -> bool:
    from rig.station import Station

    return Station.from_config(cfg).record_path(cfg.dut.node_id).is_file()


def regress(args: argparse.Namespace) -> int:
    """Install each build, run the selection on it, write the regression report; the exit code (module doc)."""
    from rig.cli.firmware import install_image
    from rig.cli.run import _cmd_run, check_inputs
    from rig.dut import dut_for
    from rig.report.record import write_atomic
    from rig.report.regress import HTML_NAME, JSON_NAME, build_report, format_html, format_text

    cfg, values = common.load(args)
    if cfg.farm is not None:
        raise ConfigError("farm: rig regress on a labgrid farm is not done yet; run it on a bench of its own")
    images = check_images(args.images, args.restore)
    lost = dut_for(cfg).installed_build_lost()
    if lost:
        raise ConfigError(f"rig regress: {lost}")
    restore = images.pop() if args.restore is not None else None
    reports = cfg.report.dir if cfg.report.dir.is_absolute() else Path.cwd() / cfg.report.dir
    check_inputs(args, cfg, reports)  # suite paths, PICS, database URL: bad input stops here (exit 2)
    regress_id = "regress-" + sandbox.new_run_id()
    folder = reports / regress_id
    folder.mkdir(parents=True, exist_ok=False)
    timeouts = {"query": args.query_timeout, "download": args.download_timeout, "reboot": args.reboot_timeout}
    started = time.time()
    builds: list[dict[str, Any]] = []
    records: list[dict[str, Any] | None] = []
    code = 0
    print(f"rig: regress {regress_id}: {len(images)} builds; report in {folder}", flush=True)

    def install(index: int, image: Path, header: Any) -> tuple[int, dict[str, Any]]:
        step_cfg, step_values = _step_config(args, values, _station_holds_dut(cfg))
        logs = folder / f"install-{index}-v{header.software_version}"
        print(f"rig: regress: installing {image.name} ({header.software_version})", flush=True)
        t0 = time.monotonic()
        rc, result = install_image(step_cfg, step_values, image, config_arg=args.config, logs=logs, timeouts=timeouts)
        info = {
            "code": rc,
            "summary": (result or {}).get("summary"),
            "total_s": round(time.monotonic() - t0, 1),
            "logs": logs.name,
        }
        return rc, info

    restored: dict[str, Any] | None = None
    try:
        for index, (image, header) in enumerate(images, start=1):
            entry: dict[str, Any] = {
                "image": image.name,
                "software_version": header.software_version,
                "software_version_string": header.software_version_string,
                "run": None,
            }
            builds.append(entry)
            records.append(None)
            rc, entry["install"] = install(index, image, header)
            if rc != 0:
                entry["status"] = "install failed"
                code = rc if rc in (2, 3) else 1
                break
            step_cfg, step_values = _step_config(args, values, _station_holds_dut(cfg))
            run_id = sandbox.new_run_id()
            run_args = argparse.Namespace(
                **{**vars(args), "run_id": run_id, "keep_state": False, "legacy_triggers": False, "pytest_args": []}
            )
            run_code = _cmd_run(run_args, step_cfg, step_values)
            entry["run"] = {"run_id": run_id, "exit_code": run_code}
            records[-1] = _record(reports / run_id)
            if run_code not in (0, 1):
                entry["status"] = f"run error (exit {run_code})"
                code = run_code
                break
            entry["status"] = "tested"
        if restore is not None and all(b["status"] == "tested" for b in builds):
            image, header = restore
            rc, info = install(len(images) + 1, image, header)
            restored = {"image": image.name, "software_version": header.software_version, "install": info}
            restored["software_version_string"] = header.software_version_string
            restored["status"] = "installed" if rc == 0 else f"install failed (exit {rc})"
            if rc != 0:
                code = rc if rc in (2, 3) else 1
    except RigError as exc:  # a run that could not start (e.g. the bench in use): the report still says how far it got
        print(f"rig: error: {exc}", file=sys.stderr)
        builds[-1].setdefault("status", f"error: {exc}")
        code = exc.exit_code
    except KeyboardInterrupt:
        print("rig: interrupted", file=sys.stderr)
        builds[-1].setdefault("status", "interrupted")
        code = 130
    report = build_report(builds, records)
    left = next((b for b in reversed(builds) if (b.get("install") or {}).get("code") == 0), None)
    if restored and restored["install"]["code"] == 0:
        left = restored
    report.update(
        id=regress_id,
        started=started,
        ended=time.time(),
        selection={
            "tc": list(args.tc),
            "keyword": args.keyword,
            "paths": list(args.paths),
            "description": _selection_text(args),
        },
        restore=restored,
        left_running=f"{left['software_version']} ({left['software_version_string']})" if left else None,
    )
    if code == 0 and report["regression"]:
        code = 1
    report["exit_code"] = code
    write_atomic(folder / JSON_NAME, json.dumps(report, indent=2) + "\n")
    write_atomic(folder / HTML_NAME, format_html(report))
    print(format_text(report), flush=True)
    verdict = "REGRESSION" if report["regression"] else ("no regression" if code == 0 else f"exit {code}")
    print(f"rig: regress {regress_id}: {verdict}; report: {folder / HTML_NAME}", flush=True)
    return code


def _record(run_dir: Path) -> dict[str, Any] | None:
    from rig.errors import RigError
    from rig.report.record import load_record

    try:
        return dict(load_record(run_dir))
    except (RigError, OSError):
        return None


def _selection_text(args: argparse.Namespace) -> str:
    parts = [f"--tc {tc}" for tc in args.tc]
    if args.keyword:
        parts.append(f"-k {args.keyword}")
    parts += list(args.paths)
    return " ".join(parts) or "the default suites"
