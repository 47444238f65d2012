"""``rig config check|schema``: validate rig.yaml, print its JSON schema."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rig.cli import common

COMMANDS = ("config",)


def add_subcommands(sub: Any) -> None:
    """Add ``rig config``."""
    cfg = sub.add_parser("config", help="rig.yaml tools")
    cfg.add_argument("action", choices=["check", "schema"])
    common.add_config_options(cfg, defects=False)


def dispatch(args: argparse.Namespace) -> int | None:
    """Check rig.yaml or print its JSON schema; None for another command."""
    if args.command != "config":
        return None
    from rig.config import config_json_schema
    from rig.dut import dut_for

    if args.action == "schema":
        print(json.dumps(config_json_schema(), indent=2))
        return 0
    cfg, _ = common.load(args)
    label = dut_for(cfg).describe()["label"]
    print(f"rig: {cfg.config_path}: valid ({label}, station {cfg.station.name!r})")
    return 0
