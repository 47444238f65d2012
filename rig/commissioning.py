"""Reaching the DUT on the station's fabric, and leaving it as it was found.

The session's commissioning stage and its last act (see :mod:`rig.session`):

* ``on-network`` and ``join``: find the commissionable DUT, open a PASE session with the setup code, read its
  fabric table over PASE and refuse when it is full (listing the fabrics) or already holds this station's fabric;
  commission; label the fabric ``rig:<station>``; record the DUT in the station (node id, VID/PID, serial, fabric
  index, when). ``join`` takes the code of a window another admin opened (a vendor app's "share" code).
* ``already-commissioned``: the station's record of the node must exist; reconnect over CASE with bounded retries,
  then check the DUT's vendor id, product id and serial number against the record.
* At the end, unless ``dut.keep_fabric`` or ``already-commissioned``: read ``CurrentFabricIndex``, revoke any window
  the rig opened, send ``RemoveFabric`` and check its status, then drop the record. A DUT's last fabric is never
  removed without ``dut.remove_last_fabric`` (many devices factory-reset then; matter.js erases itself).

Sources: Matter core specification 11.18 (Operational Credentials: Fabrics, SupportedFabrics, CommissionedFabrics,
RemoveFabric, NOCResponse status TableFull), 11.19 (Administrator Commissioning), 5.5 (commissioning flows).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rig.config import RigConfig
from rig.errors import CommissioningError, DutError, RigError
from rig.station import DutRecord, Station, utc_now

if TYPE_CHECKING:
    from rig.matter.controller import MatterController, Node, PaseFabrics

log = logging.getLogger("rig.commissioning")


@dataclass
class Reached:
    """How the session reached the DUT, and what the end of the session must undo."""

    mode: str
    node: Node
    identity: dict[str, Any]
    added_fabric: bool
    """The rig added its fabric to the DUT in this session (on-network, join)."""
    took_s: float
    notes: list[str] = field(default_factory=list)


def _fabric_list(table: PaseFabrics) -> str:
    if not table.entries:
        return "none listed"
    return "; ".join(
        f"index {e['index']}: vendor 0x{e['vendor_id']:04X}, label {e['label']!r}"
        if isinstance(e.get("vendor_id"), int)
        else f"index {e['index']}: label {e['label']!r}"
        for e in table.entries
    )


def precheck(table: PaseFabrics, *, node_id: int, root_public_key: bytes, fabric_id: int, station: str) -> None:
    """Refuse to commission a DUT whose fabric table is full, or that already holds this station's fabric.

    Raises:
        CommissioningError: naming the DUT's fabrics and what to do.
    """
    for entry in table.entries:
        if entry.get("root_public_key") == root_public_key and entry.get("fabric_id") == fabric_id:
            raise CommissioningError(
                f"node 0x{node_id:x} already holds the fabric of station {station!r} (fabric index {entry['index']}): "
                "reach it with dut.commissioning: already-commissioned, or remove it first with "
                f"`rig station forget 0x{node_id:x}`"
            )
    if table.supported is not None and table.commissioned is not None and table.commissioned >= table.supported:
        raise CommissioningError(
            f"the DUT's fabric table is full ({table.commissioned} of {table.supported} fabrics used: "
            f"{_fabric_list(table)}); nothing was added. Remove a fabric the DUT no longer needs with its owner's app "
            "(or, for a stale rig fabric, `rig station fabrics` and `rig station remove-fabric`), then run again"
        )


async def reach_dut(config: RigConfig, controller: MatterController, station: Station) -> Reached:
    """Commission the DUT or reconnect to it, as ``dut.commissioning`` says; record it in the station.

    Raises:
        DutError: the DUT could not be commissioned or reached, or is not the DUT the station's record names.
    """
    from rig.matter.eevse import read_identity

    dut = config.dut
    mode = dut.commissioning
    if mode == "already-commissioned":
        record = station.record(dut.node_id)
        if record is None:
            known = ", ".join(f"0x{r.node_id:x}" for r in station.records()) or "none"
            raise DutError(
                f"dut.commissioning: already-commissioned, but station {config.station.name!r} holds no record of node "
                f"0x{dut.node_id:x} (it holds: {known}): commission it once with on-network or join and "
                "dut.keep_fabric: true"
            )
        took = await controller.connect(dut.node_id, dut.timeouts.commissioning)
        node = controller.node(dut.node_id, dut.endpoint, timeout_s=dut.timeouts.command)
        identity = await read_identity(node)
        check_identity(record, identity, station)
        return Reached(mode, node, identity, added_fabric=False, took_s=took)

    def check(table: PaseFabrics) -> None:
        precheck(
            table,
            node_id=dut.node_id,
            root_public_key=controller.root_public_key,
            fabric_id=controller.fabric_id,
            station=config.station.name,
        )

    took = await controller.commission(
        dut.node_id,
        passcode=dut.passcode,
        discriminator=dut.discriminator,
        setup_code=dut.setup_code,
        timeout_s=dut.timeouts.commissioning,
        precheck=check,
    )
    node = controller.node(dut.node_id, dut.endpoint, timeout_s=dut.timeouts.command)
    reached = Reached(mode, node, {}, added_fabric=True, took_s=took)
    try:
        reached.identity = await read_identity(node)
        index = await current_fabric_index(controller, dut.node_id, dut.timeouts.command)
    except BaseException:
        log.error(
            "node 0x%x holds the fabric of station %r, but could not be read after commissioning: no record was "
            "made; `rig station fabrics` lists the fabric",
            dut.node_id,
            config.station.name,
        )
        raise
    record_dut(station, reached, index)  # before anything else can fail: the station knows the DUT holds its fabric
    return reached


async def current_fabric_index(controller: MatterController, node_id: int, timeout_s: float) -> int:
    """The DUT's ``CurrentFabricIndex`` on the rig's session (1..254).

    Raises:
        DutError: the DUT sent something that is not a fabric index.
    """
    from rig.matter.controller import Clusters

    value = await controller.node(node_id, 0, timeout_s=timeout_s).read(
        Clusters.OperationalCredentials.Attributes.CurrentFabricIndex
    )
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 254:
        raise DutError(f"node 0x{node_id:x}: CurrentFabricIndex read {value!r}, not a fabric index (1..254)")
    return value


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def record_dut(station: Station, reached: Reached, fabric_index: int) -> None:
    """Complete the station's record of a DUT the session commissioned (identity, fabric index)."""
    ident = reached.identity
    station.save_record(
        DutRecord(
            node_id=reached.node.node_id,
            vendor_id=_int(ident.get("VendorID")),
            product_id=_int(ident.get("ProductID")),
            serial_number=str(ident.get("SerialNumber") or ""),
            fabric_index=fabric_index,
            commissioned_at=utc_now(),
            mode="join" if reached.mode == "join" else "on-network",
        )
    )


def check_identity(record: DutRecord, identity: dict[str, Any], station: Station) -> None:
    """The DUT reached must be the one the station's record names (vendor id, product id, serial number).

    Raises:
        DutError: naming each field that differs.
    """
    seen = {
        "vendor id": (_int(identity.get("VendorID")), record.vendor_id),
        "product id": (_int(identity.get("ProductID")), record.product_id),
        "serial number": (str(identity.get("SerialNumber") or ""), record.serial_number),
    }
    wrong = [f"{name} {got!r} (the record says {want!r})" for name, (got, want) in seen.items() if got != want]
    if wrong:
        raise DutError(
            f"node 0x{record.node_id:x} is not the DUT station {station.name!r} recorded on {record.commissioned_at}: "
            + "; ".join(wrong)
            + ". Another device answers at this node id; check the bench, or forget the record with "
            f"`rig station forget 0x{record.node_id:x}`"
        )


@dataclass
class Departure:
    """What the end of the session did with the rig's fabric."""

    removed: bool
    note: str


async def leave_dut(
    config: RigConfig, controller: MatterController, station: Station, reached: Reached, fabrics: dict[str, Any]
) -> Departure:
    """Remove the fabric the session added (unless kept), checking ``RemoveFabric``'s status; never raises."""
    dut = config.dut
    node_id = reached.node.node_id
    if not reached.added_fabric:
        return Departure(False, "kept: the DUT was already commissioned on this station's fabric")
    if dut.keep_fabric:
        return Departure(False, "kept (dut.keep_fabric: true): reach it again with already-commissioned")
    try:
        return await _remove_own_fabric(config, controller, station, reached)
    except (RigError, AssertionError, OSError) as exc:
        note = f"NOT removed: {exc}; the station keeps its record (remove it with `rig station forget 0x{node_id:x}`)"
        log.error("the rig's fabric on node 0x%x: %s", node_id, note)
        return Departure(False, note)


async def _remove_own_fabric(
    config: RigConfig, controller: MatterController, station: Station, reached: Reached
) -> Departure:
    from rig.matter.controller import Clusters

    dut = config.dut
    node_id = reached.node.node_id
    oc = Clusters.OperationalCredentials
    index = await current_fabric_index(controller, node_id, dut.timeouts.command)
    count = await controller.node(node_id, 0, timeout_s=dut.timeouts.command).read(oc.Attributes.CommissionedFabrics)
    if count == 1 and not dut.remove_last_fabric:
        note = (
            f"kept: fabric index {index} is the DUT's last fabric (removing it may factory-reset the DUT; "
            "dut.remove_last_fabric: true allows it)"
        )
        log.warning("node 0x%x: %s", node_id, note)
        return Departure(False, note)
    if node_id in controller.opened_windows:
        await controller.revoke_window(node_id, dut.timeouts.command)
    status = await controller.remove_fabric(node_id, index, dut.timeouts.command)
    if status not in ("kOk", "OK", "0"):
        raise DutError(f"RemoveFabric({index}) answered NOCResponse status {status}")
    station.forget_record(node_id)
    log.info("node 0x%x: the rig's fabric (index %d) removed", node_id, index)
    return Departure(True, f"removed: fabric index {index} (RemoveFabric answered {status})")


# -- operator commands (rig station forget|window|fabrics|remove-fabric), inside a sandbox --------------------------
async def forget_dut(config: RigConfig, controller: MatterController, station: Station, node_id: int) -> str:
    """Remove the station's fabric from ``node_id`` (RemoveFabric, status checked), then its record.

    Without a record, or when the DUT no longer answers, nothing is forgotten unless the caller says so (a fabric
    that stays on the DUT and is forgotten by the station is a stale fabric for ever).

    Raises:
        DutError: the DUT could not be reached or refused; the record is kept.
    """
    timeout = config.dut.timeouts.command
    await controller.connect(node_id, config.dut.timeouts.commissioning)
    index = await current_fabric_index(controller, node_id, timeout)
    from rig.matter.controller import Clusters

    count = await controller.node(node_id, 0, timeout_s=timeout).read(
        Clusters.OperationalCredentials.Attributes.CommissionedFabrics
    )
    if count == 1 and not config.dut.remove_last_fabric:
        raise DutError(
            f"node 0x{node_id:x}: the station's fabric (index {index}) is the DUT's last fabric; removing it may "
            "factory-reset the DUT. Allow it with --set dut.remove_last_fabric=true"
        )
    status = await controller.remove_fabric(node_id, index, timeout)
    if status not in ("kOk", "OK", "0"):
        raise DutError(f"node 0x{node_id:x}: RemoveFabric({index}) answered NOCResponse status {status}; record kept")
    station.forget_record(node_id)
    message = f"node 0x{node_id:x}: fabric index {index} removed (RemoveFabric answered {status}); record forgotten"
    station.audit(f"forget: {message}")
    return message


async def fabric_table(config: RigConfig, controller: MatterController, node_id: int) -> dict[str, Any]:
    """The DUT's fabric table as the run record gives it (every admin's entry, free slots, stale rig fabrics)."""
    from rig.matter.fabrics import read_fabric_table, rig_label

    await controller.connect(node_id, config.dut.timeouts.commissioning)
    root = controller.node(node_id, 0, timeout_s=config.dut.timeouts.command)
    table = await read_fabric_table(
        controller, root, config.dut.timeouts.command, station_label=rig_label(config.station.name)
    )
    return table.to_record()


async def remove_foreign_fabric(
    config: RigConfig, controller: MatterController, station: Station, node_id: int, index: int
) -> str:
    """Remove fabric ``index`` (another admin's) from ``node_id``: an explicit operator action, logged.

    Raises:
        DutError: the DUT refused, or ``index`` is the station's own fabric (use forget) or the DUT's last one.
    """
    timeout = config.dut.timeouts.command
    await controller.connect(node_id, config.dut.timeouts.commissioning)
    own = await current_fabric_index(controller, node_id, timeout)
    if index == own:
        raise DutError(
            f"fabric index {index} is this station's own fabric on node 0x{node_id:x}: use `rig station forget`"
        )
    log.warning("operator removes fabric index %d from node 0x%x (another admin's fabric)", index, node_id)
    station.audit(
        f"remove-fabric: node 0x{node_id:x}: removing fabric index {index} (another admin's), by the operator"
    )
    status = await controller.remove_fabric(node_id, index, timeout)
    message = f"node 0x{node_id:x}: fabric index {index} removed (RemoveFabric answered {status})"
    station.audit(f"remove-fabric: {message}")
    if status not in ("kOk", "OK", "0"):
        raise DutError(f"node 0x{node_id:x}: RemoveFabric({index}) answered NOCResponse status {status}")
    return message
