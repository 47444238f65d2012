"""``rig lab``: the labgrid bench farm's places and leases.

rig lab sync places.yaml [--coordinator HOST:PORT]      create and tag places, add named matches (idempotent)
rig lab reap [--config rig.yaml] [--coordinator HOST:PORT] [--db URL]
                                                        free the places of dead farm runs (stale leases)
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rig.cli import common

COMMANDS = ("lab",)


def add_subcommands(sub: Any) -> None:
    """Add ``rig lab sync`` and ``rig lab reap``."""
    lab = sub.add_parser("lab", help="the labgrid bench farm: places and leases")
    tools = lab.add_subparsers(dest="lab_command", metavar="TOOL", required=True)
    sync = tools.add_parser("sync", help="create and tag the places of places.yaml and add their matches")
    sync.add_argument("places", metavar="PLACES_YAML")
    sync.add_argument("--coordinator", metavar="HOST:PORT", help="default: $LG_COORDINATOR, else 127.0.0.1:20408")
    reap = tools.add_parser("reap", help="free the places of farm runs whose lease is stale or whose process is gone")
    common.add_config_options(reap)
    reap.add_argument(
        "--coordinator", metavar="HOST:PORT", help="default: rig.yaml's farm.coordinator, $LG_COORDINATOR"
    )
    reap.add_argument("--db", metavar="URL", help="results database holding the leases (default: the run's)")


def dispatch(args: argparse.Namespace) -> int | None:
    """Run ``rig lab``; None for another command."""
    if args.command != "lab":
        return None
    from rig.lab.coordinator import Coordinator, coordinator_address

    if args.lab_command == "sync":
        from rig.lab.sync import load_places, sync_places

        specs = load_places(common.input_path(args.places, "places file"))
        with Coordinator(coordinator_address(args.coordinator), "rig-lab") as coord:
            for line in sync_places(coord, specs) or ["nothing to change"]:
                print(f"rig lab sync: {line}")
        return 0
    return _reap(args, Coordinator, coordinator_address)


def _reap(args: argparse.Namespace, coordinator_cls: Any, address_of: Any) -> int:
    from rig.lab.farm import database_url, killed_run_recorder
    from rig.lab.lease import LeaseStore
    from rig.lab.reap import reap
    from rig.report.db import resolve_url

    cfg, _ = common.load(args)
    reports = cfg.report.folder()
    url = resolve_url(args.db, reports, cfg.report.database) if args.db else database_url(cfg, reports)
    address = address_of(args.coordinator or (cfg.farm.coordinator if cfg.farm else None))
    store = LeaseStore(url)
    try:
        with coordinator_cls(address, "rig-lab") as coord:
            decisions = reap(coord, store, say=lambda text: print(f"rig lab reap: {text}"),
                             record=killed_run_recorder(reports, url))  # fmt: skip
    finally:
        store.close()
    kept = [d for d in decisions if d.action == "keep"]
    print(f"rig lab reap: {len(decisions) - len(kept)} lease(s) ended, {len(kept)} alive", file=sys.stderr)
    return 0
