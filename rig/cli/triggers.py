"""``rig triggers``: the Energy EVSE test event trigger codes."""

from __future__ import annotations

import argparse
import sys
from typing import Any

COMMANDS = ("triggers",)


def add_subcommands(sub: Any) -> None:
    """Add ``rig triggers``."""
    trig = sub.add_parser("triggers", help="Energy EVSE test event trigger codes")
    trig.add_argument("--encode", metavar="NAME", help="print the 64-bit value to send for this trigger")
    trig.add_argument("--endpoint", type=int, default=None, help="carry this endpoint in bits 32-47")


def dispatch(args: argparse.Namespace) -> int | None:
    """List or encode test event triggers; None for another command."""
    if args.command != "triggers":
        return None
    from rig.matter import triggers

    if args.encode:
        try:
            code = triggers.parse(args.encode)
            value = triggers.encode(code, args.endpoint)
        except ValueError as exc:
            print(f"rig: error: {exc}", file=sys.stderr)
            return 2
        print(f"0x{value:016x}")
        return 0
    for t in triggers.Trigger:
        print(f"0x{int(t):016x}  {t.label}")
    return 0
