"""What the ``rig`` command groups share: reading rig.yaml with the command line's overrides, checking the files a
command line names (inputs that exist and can be read, outputs that can be written) before anything starts."""

from __future__ import annotations

import argparse
import errno
import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rig.config import RigConfig, load_config, parse_override
from rig.errors import ConfigError


def overrides(items: list[str]) -> dict[str, Any]:
    """``--set KEY=VALUE`` items as dotted rig.yaml paths -> values (:func:`rig.config.parse_override` reads each)."""
    return dict(parse_override(item) for item in items)


def add_config_options(p: argparse.ArgumentParser, *, defects: bool = True) -> None:
    """``--config``, ``--set`` (and ``--dut-defect``) on a sub-command that reads rig.yaml."""
    p.add_argument("--config", "-c", default=None, help="bench description (default: ./rig.yaml)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a rig.yaml value, e.g. --set dut.timeouts.event=5",
    )
    if defects:
        p.add_argument(
            "--dut-defect",
            action="append",
            default=[],
            metavar="NAME",
            help="start the virtual EVSE with this firmware defect (repeatable; `rig sim --list-defects`)",
        )


def config_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The dotted overrides a command's arguments make (``--set``, ``--dut-defect``, ``--stimulus``, ``--pics``)."""
    values = overrides(getattr(args, "overrides", []) or [])
    if getattr(args, "dut_defect", None):
        values["virtual_evse.defects"] = list(args.dut_defect)
    if getattr(args, "stimulus", None):
        values["stimulus"] = args.stimulus
    if getattr(args, "pics", None) is not None:  # `--pics ""` is a bad path, not no PICS
        values["dut.pics"] = str(input_path(args.pics, "--pics"))
    return values


def input_path(value: str, option: str) -> Path:
    """The absolute path of an input file or folder given as ``option``, checked now rather than late.

    Raises:
        ConfigError: nothing there, a loop of symbolic links, or a path that cannot be looked at.
    """
    if not value.strip() or "\0" in value:
        raise ConfigError(f"{option} {value!r}: not a path")
    path = Path(os.path.abspath(Path(value).expanduser()))
    try:
        path.stat()
    except FileNotFoundError:
        raise ConfigError(f"{option} {value}: no such file or folder") from None
    except OSError as exc:
        what = "a loop of symbolic links" if exc.errno == errno.ELOOP else (exc.strerror or str(exc))
        raise ConfigError(f"{option} {value}: {what}") from None
    return Path(os.path.realpath(path))


def output_path(value: str, option: str) -> Path:
    """The file an output option names, checked before anything is made: it must be (or become) a regular file.

    Raises:
        ConfigError: a folder, a FIFO or device, a loop of symbolic links, or a parent that is not a folder.
    """
    if not value.strip() or "\0" in value:
        raise ConfigError(f"{option} {value!r}: not a file name")
    path = Path(value).expanduser()
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        what = "a loop of symbolic links" if exc.errno == errno.ELOOP else (exc.strerror or str(exc))
        raise ConfigError(f"{option} {value}: {what}") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise ConfigError(f"{option} {value}: is a folder; name a file in it, e.g. {path / 'out'}")
    if mode is not None and not stat.S_ISREG(mode):
        raise ConfigError(f"{option} {value}: not a regular file (a FIFO or a device); name a file")
    parent = path.parent
    for up in (parent, *parent.parents):
        if up.exists():
            if not up.is_dir():
                raise ConfigError(f"{option} {value}: {up} is not a folder")
            break
    return path


def load(args: argparse.Namespace) -> tuple[RigConfig, dict[str, Any]]:
    """rig.yaml (``--config`` or ./rig.yaml) with the command line's overrides; the overrides too."""
    values = config_overrides(args)
    return load_config(args.config, overrides=values), values


def config_path(cfg: RigConfig, given: str | None) -> str:
    """The absolute path of the rig.yaml read (for a process started inside the sandbox)."""
    return str(cfg.config_path) if cfg.config_path else str(Path(given or "rig.yaml").resolve())


def stdout_to_stderr(fn: Callable[[], int]) -> int:
    """Run ``fn`` with file descriptor 1 pointing at stderr (child processes inherit it): what a command prints on
    stdout stays its result alone (the CHIP stack writes its start-up lines to stdout)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        return int(fn())
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
