"""``rig regress``: the firmware regression loop.

    rig regress BUILD.ota... [--tc ID]... [-k EXPR] [--suite PATH]... [--restore IMAGE] [--spread [--jobs N]]
                [--config ...] [--set ...]

Each build is installed on rig.yaml's DUT over Matter OTA in turn (as ``rig firmware install`` does:
:func:`rig.cli.firmware.install_image`), then the selection runs against it as a normal ``rig run`` (a run folder,
record and results database row of its own); the regression report (``<report dir>/regress-<id>/report.html`` and
``regress.json``, :mod:`rig.report.regress`) puts builds x cases side by side. The bench is held for the whole loop:
its lock (:mod:`rig.bench.lock`) lent to each install and run, so that no other run comes between two builds.

With ``farm:`` in rig.yaml, the loop holds one place of the labgrid farm from the first install to the end
(:func:`rig.lab.farm.farm_bench`: reserved, acquired, its lease beating, released on every exit path). With
``--spread`` each build is installed and tested on a place of its own instead, up to ``--jobs`` builds at once (each
a ``rig regress`` of that one build, holding its place), and the report compares each build with the one before it
across places: a lab's faster loop where every place's DUT accepts the builds (Matter OTA installs only a newer
version than the DUT runs).

With ``dut.firmware.method: command`` each install uses the vendor's flashing command instead of Matter OTA
(:mod:`rig.firmware.flash`): the builds may come in any order and ``--restore`` may be older than every build (the
production build given back).

Exit codes: 0 no regression, 1 a case that passed on the previous build fails (or an install failed: the report says
which), 2 bad input (an image that is missing or damaged, images for different products, builds not in increasing
version order over Matter OTA, an image that does not fit the DUT, a bench that cannot keep an installed build, a
flashing command whose program is missing, the bench or place in use), 3 the DUT could not be reached.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rig import sandbox
from rig.cli import common
from rig.config import RigConfig, load_config
from rig.errors import ConfigError, RigError

COMMANDS = ("regress",)
ALREADY_COMMISSIONED = "already-commissioned"
CHILD_STOP_S = 120.0
"""How long a spread build's ``rig regress`` is given to give its place back after SIGTERM before it is killed."""


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
        help="install this image after the last build (over Matter OTA: newer than every build, OTA only moves "
        "forward; with dut.firmware.method: command, any version, e.g. the production build)",
    )
    p.add_argument(
        "--spread",
        action="store_true",
        help="farm only: each build on a place of its own, several at once, instead of all builds in turn on one",
    )
    p.add_argument(
        "--jobs",
        type=_positive,
        default=None,
        metavar="N",
        help="with --spread: at most N builds at once (default: every build)",
    )
    p.add_argument("--into", default=None, help=argparse.SUPPRESS)  # a spread build's folder, given by its parent
    for stage, default in (("query", 660), ("download", 600), ("reboot", 180)):
        p.add_argument(
            f"--{stage}-timeout",
            type=float,
            default=float(default),
            metavar="S",
            help=f"install: {stage} ({default} s)",
        )


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: at least 1")
    return value


def dispatch(args: argparse.Namespace) -> int | None:
    """Run ``rig regress``; None for another command."""
    return regress(args) if args.command == "regress" else None


def check_images(paths: list[str], restore: str | None, *, any_order: bool = False) -> list[tuple[Path, Any]]:
    """Read every image (and the restore image, last) and check them against each other before anything starts.

    ``any_order``: the builds are installed with the vendor's flashing command (``dut.firmware.method: command``),
    which installs any version: the builds may come in any order and ``--restore`` may be older than them; the
    version order and applicable ranges (Matter OTA's rules) are then not checked, the ids still are.

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
        if any_order:
            continue
        if header.software_version <= prev.software_version:
            raise ConfigError(
                f"{name}: SoftwareVersion {header.software_version} is not newer than {prev_name}'s "
                f"{prev.software_version}: give the builds oldest first, in strictly increasing version order "
                "(Matter OTA installs only a newer version; with dut.firmware.method: command, the vendor's flasher, "
                "any order goes)"
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
    """Check the inputs, hold the bench (or a place, or spread the builds over places), run the loop, write the
    report; the exit code (module doc)."""
    cfg, values = common.load(args)
    if cfg.farm is None and (args.spread or args.jobs is not None):
        raise ConfigError(
            f"{'--spread' if args.spread else '--jobs'}: spreads builds over the places of a labgrid farm; "
            f"{cfg.config_path} has no farm: section (without it the builds are installed in turn on its bench)"
        )
    if args.jobs is not None and not args.spread:
        raise ConfigError("--jobs: only with --spread (without it one place takes the builds in turn)")
    if args.spread and args.restore is not None:
        raise ConfigError(
            "--restore with --spread: each place gives its DUT back after its own build; restore a place's DUT with "
            "`rig firmware install` on it"
        )
    images = check_images(args.images, args.restore, any_order=cfg.dut.firmware.method == "command")
    if cfg.dut.firmware.method == "command":
        from rig.cli.firmware import flasher_paths

        flasher_paths(cfg.dut.firmware.command, cfg.config_path)  # its program missing: exit 2 before anything starts
    reports = cfg.report.folder()
    from rig.cli.run import check_inputs

    check_inputs(args, cfg, reports)  # suite paths, PICS, database URL: bad input stops here (exit 2)
    regress_id = "regress-" + sandbox.new_run_id()
    folder = Path(args.into).resolve() if args.into else reports / regress_id
    if args.spread:
        return _spread(args, cfg, values, images, folder, regress_id)
    if cfg.farm is None:
        return _loop(args, cfg, values, images, folder, regress_id, reports)
    from rig.lab.run import farm_place

    with farm_place(args, cfg, values, regress_id) as (place_cfg, merged, got):
        return _loop(args, place_cfg, merged, images, folder, regress_id, reports, place=got.bench.place)
    raise AssertionError("not reached")  # mypy: the context manager may swallow exceptions


def _loop(
    args: argparse.Namespace,
    cfg: RigConfig,
    values: dict[str, Any],
    images: list[tuple[Path, Any]],
    folder: Path,
    regress_id: str,
    reports: Path,
    *,
    place: str | None = None,
) -> int:
    """Install each build, run the selection on it, write the regression report, all on the one bench ``cfg``
    describes (held for the whole loop); the exit code."""
    from rig.cli.firmware import install_image
    from rig.cli.run import _cmd_run
    from rig.dut import dut_for
    from rig.lab.run import bench_network, bench_safe_state
    from rig.session import lock_bench

    lost = dut_for(cfg).installed_build_lost()
    if lost:
        raise ConfigError(f"rig regress: {lost}")
    restore = images.pop() if args.restore is not None else None
    folder.mkdir(parents=True, exist_ok=False)
    timeouts = {"query": args.query_timeout, "download": args.download_timeout, "reboot": args.reboot_timeout}
    started = time.time()
    builds: list[dict[str, Any]] = []
    records: list[dict[str, Any] | None] = []
    code = 0
    where = f" on place {place}" if place else ""
    print(f"rig: regress {regress_id}: {len(images)} builds{where}; report in {folder}", flush=True)
    # the bench for the whole loop: each install and run borrows this lock (a bench of a run's own, the virtual
    # EVSE in the run's sandbox, locks nothing another run could want: then each step locks for itself)
    lock = lock_bench(cfg, regress_id, run_dir=folder, safe_state=bench_safe_state(args))

    def install(index: int, image: Path, header: Any) -> tuple[int, dict[str, Any]]:
        step_cfg, step_values = _step_config(args, values, _station_holds_dut(cfg))
        logs = folder / f"install-{index}-v{header.software_version}"
        print(f"rig: regress: installing {image.name} ({header.software_version}){where}", flush=True)
        t0 = time.monotonic()
        with bench_network(args), lock.lent():
            rc, result = install_image(step_cfg, step_values, image, config_arg=args.config, logs=logs,
                                       timeouts=timeouts, lock=lock)  # fmt: skip
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
            if place:
                entry["place"] = place
            builds.append(entry)
            records.append(None)
            rc, entry["install"] = install(index, image, header)
            if rc != 0:
                entry["status"] = "install failed"
                code = rc if rc in (2, 3) else 1
                break
            step_cfg, step_values = _step_config(args, values, _station_holds_dut(cfg))
            run_id = sandbox.new_run_id()
            run_args = argparse.Namespace(**vars(args))
            run_args.__dict__.update(run_id=run_id, keep_state=False, legacy_triggers=False, pytest_args=[])
            run_args.bench_lock = lock
            with lock.lent():
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
    except RigError as exc:  # a run that could not start: the report still says how far it got
        print(f"rig: error: {exc}", file=sys.stderr)
        builds[-1].setdefault("status", f"error: {exc}")
        code = exc.exit_code
    except KeyboardInterrupt:
        print("rig: interrupted", file=sys.stderr)
        builds[-1].setdefault("status", "interrupted")
        code = 130
    finally:
        lock.release()
    left = next((b for b in reversed(builds) if (b.get("install") or {}).get("code") == 0), None)
    if restored and restored["install"]["code"] == 0:
        left = restored
    return _write_report(args, folder, regress_id, started, builds, records, code, restored, left)


def _write_report(
    args: argparse.Namespace,
    folder: Path,
    regress_id: str,
    started: float,
    builds: list[dict[str, Any]],
    records: list[dict[str, Any] | None],
    code: int,
    restored: dict[str, Any] | None,
    left: dict[str, Any] | None,
) -> int:
    """The regression report (JSON, page, terminal lines); the exit code (1 for a regression where all else ran)."""
    from rig.report.record import write_atomic
    from rig.report.regress import HTML_NAME, JSON_NAME, build_report, format_html, format_text

    report = build_report(builds, records)
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
        spread=bool(args.spread),
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


# -- builds spread over the farm's places ------------------------------------------------------------------------------
def _child_argv(args: argparse.Namespace, values: dict[str, Any], image: Path, into: Path) -> list[str]:
    """``rig regress IMAGE`` of one spread build, with this command's selection, overrides and timeouts."""
    argv = [sys.executable, "-m", "rig.cli", "regress", str(image), "--into", str(into)]
    if args.config:
        argv += ["--config", str(args.config)]
    for key, value in values.items():
        argv += ["--set", f"{key}={json.dumps(value)}"]
    for tc in args.tc:
        argv += ["--tc", tc]
    if args.keyword:
        argv += ["-k", args.keyword]
    for path in args.paths:
        argv += ["--suite", path]
    for stage in ("query", "download", "reboot"):
        argv += [f"--{stage}-timeout", str(getattr(args, f"{stage}_timeout"))]
    return argv


def _spread(
    args: argparse.Namespace,
    cfg: RigConfig,
    values: dict[str, Any],
    images: list[tuple[Path, Any]],
    folder: Path,
    regress_id: str,
) -> int:
    """Each build a ``rig regress`` of its own on a place of the farm (up to ``--jobs`` at once); one report of all,
    each build compared with the one before it. A station is one run's at a time: the builds running at once each
    use a station of their own, ``<station folder>-spread-<k>`` (k = 1..jobs), each leaving its DUT as it found it."""
    from rig import PROJECT_ROOT
    from rig.station import station_dir

    folder.mkdir(parents=True, exist_ok=False)
    jobs = args.jobs or len(images)
    started = time.time()
    print(f"rig: regress {regress_id}: {len(images)} builds spread over the farm's places, up to {jobs} at once; "
          f"report in {folder}", flush=True)  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    pending = list(enumerate(images, start=1))
    running: dict[int, tuple[subprocess.Popen[bytes], Path, Path]] = {}
    slots: dict[int, int] = {}  # build index -> its station's k
    station = station_dir(cfg)
    done: dict[int, tuple[int, Path]] = {}
    interrupted: str | None = None
    with _forwarding(running) as stopping:
        try:
            while (pending and not stopping) or running:
                while pending and len(running) < jobs and not stopping:
                    index, (image, header) = pending.pop(0)
                    into = folder / f"build-{index}-v{header.software_version}"
                    log = folder / f"build-{index}-v{header.software_version}.log"
                    slots[index] = min(set(range(1, jobs + 1)) - {slots[i] for i in running})
                    own = {**values, "station.state_dir": f"{station}-spread-{slots[index]}"}
                    with open(log, "wb") as out:
                        proc = subprocess.Popen(_child_argv(args, own, image, into), stdout=out,
                                                stderr=subprocess.STDOUT, env=env,
                                                preexec_fn=sandbox.die_with_parent)  # fmt: skip
                    running[index] = (proc, into, log)
                    print(f"rig: regress: {image.name} ({header.software_version}) waits for a place "
                          f"(pid {proc.pid}; log {log})", flush=True)  # fmt: skip
                os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)  # until one of them ends (none reaped here)
                for index, (proc, into, log) in list(running.items()):
                    if proc.poll() is not None:
                        del running[index]
                        done[index] = (proc.returncode, into)
                        print(f"rig: regress: build {index} ended (exit {proc.returncode}; log {log})", flush=True)
        except KeyboardInterrupt:
            interrupted = "interrupted"
            _stop_children(running, done)
        if stopping:
            interrupted = interrupted or f"stopped by {stopping[0]}"
    builds: list[dict[str, Any]] = []
    records: list[dict[str, Any] | None] = []
    code = 0
    reports = folder.parent
    for index, (image, header) in enumerate(images, start=1):
        got = done.get(index)
        child_code = got[0] if got else None
        entry, record = _child_build(image, header, child_code, got[1] if got else None, reports)
        builds.append(entry)
        records.append(record)
        if child_code not in (None, 0) and entry["status"] != "tested":
            code = code or (child_code if child_code in (2, 3) else 1)
    if interrupted:
        print(f"rig: regress: {interrupted}", file=sys.stderr)
        code = 130
    left = None  # each place keeps (or resets to) its own
    return _write_report(args, folder, regress_id, started, builds, records, code, None, left)


def _child_build(
    image: Path, header: Any, child_code: int | None, into: Path | None, reports: Path
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A spread build's entry and its run's record, from its ``rig regress``'s report (or what is known without)."""
    entry: dict[str, Any] = {
        "image": image.name,
        "software_version": header.software_version,
        "software_version_string": header.software_version_string,
        "run": None,
        "status": "not started" if child_code is None else f"error (exit {child_code}): see its log",
    }
    if into is None:
        return entry, None
    entry["logs"] = into.name
    try:
        report = json.loads((into / "regress.json").read_text(encoding="utf-8"))
        got = dict(report["builds"][0])
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return entry, None
    for key in ("status", "run", "install", "place"):
        if key in got:
            entry[key] = got[key]
    run_id = (entry.get("run") or {}).get("run_id")
    return entry, (_record(reports / run_id) if isinstance(run_id, str) else None)


@contextlib.contextmanager
def _forwarding(running: dict[int, tuple[subprocess.Popen[bytes], Path, Path]]) -> Iterator[list[str]]:
    """SIGTERM (and SIGHUP) to this process are passed on to the spread builds, which give their places back; no new
    build starts after one. Yields the list the signal's name goes into."""
    stopping: list[str] = []

    def forward(signum: int, _frame: Any) -> None:
        stopping.append(signal.Signals(signum).name)
        for proc, _, _ in running.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)

    old = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield stopping
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def _stop_children(
    running: dict[int, tuple[subprocess.Popen[bytes], Path, Path]], done: dict[int, tuple[int, Path]]
) -> None:
    """SIGTERM to each spread build still running, then wait for it to give its place back (bounded: then SIGKILL,
    and the place is the reaper's)."""
    for proc, _, _ in running.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + CHILD_STOP_S
    for index, (proc, into, _) in list(running.items()):
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        done[index] = (proc.returncode, into)
        del running[index]


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
