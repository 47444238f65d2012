"""``rig station show``: the station's Matter fabric and the DUTs it has commissioned (the operator commands on a
DUT, ``forget``, ``window``, ``fabrics`` and ``remove-fabric``, are in :mod:`rig.cli.station_ops`).

``rig station`` is one parser whose actions are registered in :func:`station_parsers`; another module adds its own
actions to the subparsers object it returns and dispatches them itself (:func:`dispatch` returns None for actions it
does not know). Reading never takes the station's lock and never creates a folder or a fabric.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rig.cli import common

if TYPE_CHECKING:
    from rig.station import Station

COMMANDS = ("station",)


def station_parsers(sub: Any) -> Any:
    """Add ``rig station`` and its actions; return its subparsers object (``dest="station_command"``)."""
    p = sub.add_parser("station", help="the station's Matter fabric and its DUT records")
    actions = p.add_subparsers(dest="station_command", required=True, metavar="ACTION")
    show = actions.add_parser(
        "show", help="the station's folder, root key fingerprint, compressed fabric id and DUT records"
    )
    common.add_config_options(show, defects=False)
    from rig.cli.station_ops import add_station_ops

    add_station_ops(actions)
    return actions


def add_subcommands(sub: Any) -> None:
    """Add ``rig station``."""
    station_parsers(sub)


def dispatch(args: argparse.Namespace) -> int | None:
    """Run a ``rig station`` action of this module; None for another command or an action another module adds."""
    if args.command != "station":
        return None
    handler = _HANDLERS.get(getattr(args, "station_command", None) or "")
    if handler is None:
        from rig.cli.station_ops import dispatch_op

        return dispatch_op(args)
    return handler(args)


def cmd_show(args: argparse.Namespace) -> int:
    """Print the station (see :func:`describe`)."""
    from rig.station import Station

    cfg, _ = common.load(args)
    print("\n".join(describe(Station.from_config(cfg))))
    return 0


_HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {"show": cmd_show}


def describe(station: Station) -> list[str]:
    """The lines ``rig station show`` prints for ``station``.

    Text that came from a DUT (its serial number) is shown as a Python string literal, so control characters and
    escape sequences are printed escaped instead of acting on the terminal.
    """
    lines = [f"station {station.name} at {station.folder}"]
    if not station.exists():
        lines.append("  not created yet: the first run creates the folder and the station's fabric")
        return lines
    if not station.identity_path.exists():
        lines.append(f"  no {station.identity_path.name} yet: the first run sets the station up in this folder")
        return lines
    station.check()
    holder = station.holder()
    if holder is not None:
        lines.append(f"  in use by a run ({f'pid {holder}' if holder else 'pid not written yet'})")
    identity = station.identity
    rows = [
        ("root key SHA-256", station.root_fingerprint()),
        ("compressed fabric id", station.compressed_fabric_id() or "none yet"),
        ("controller node id", f"{identity.controller_node_id} (0x{identity.controller_node_id:016X})"),
        ("fabric id", f"{identity.fabric_id} (0x{identity.fabric_id:016X})"),
        ("vendor id", f"0x{identity.vendor_id:04X}"),
        ("CA index", "none yet" if identity.ca_index is None else str(identity.ca_index)),
        ("created", identity.created_at),
        ("fabric store", str(station.storage_path)),
    ]
    lines += [f"  {label:<21} {value}" for label, value in rows]
    records = station.records()
    lines.append(f"DUTs on this fabric: {len(records) or 'none'}")
    for rec in records:
        lines.append(
            f"  node 0x{rec.node_id:016X}  VID 0x{rec.vendor_id:04X}  PID 0x{rec.product_id:04X}  "
            f"serial {rec.serial_number!r}  fabric index {rec.fabric_index}  commissioned {rec.commissioned_at}  "
            f"{rec.mode}"
        )
    return lines
