"""``rig sim``: the virtual EVSE's tools."""

from __future__ import annotations

import argparse
import sys
from typing import Any

COMMANDS = ("sim",)


def add_subcommands(sub: Any) -> None:
    """Add ``rig sim``."""
    sim = sub.add_parser("sim", help="the virtual EVSE")
    sim.add_argument("--list-defects", action="store_true", help="print the firmware defects, one per line")


def dispatch(args: argparse.Namespace) -> int | None:
    """Run ``rig sim``; None for another command."""
    if args.command != "sim":
        return None
    from rig.config import known_defects

    if args.list_defects:
        for name, text in known_defects().items():
            print(f"{name}  {text}")
        return 0
    print("rig sim: nothing to do (try --list-defects)", file=sys.stderr)
    return 2
