"""The DUT's fabric table (Operational Credentials, cluster 0x003E, on the root endpoint) and the rig's label.

After commissioning the rig labels its own fabric ``rig:<station>`` (``UpdateFabricLabel``) and reads the table:
``CurrentFabricIndex`` (the rig's entry), ``SupportedFabrics`` and ``CommissionedFabrics`` (free slots) and
``Fabrics`` read without fabric filtering (every admin's entry: vendor id, fabric id, node id, label), so the report
lists who else administers the DUT and any stale ``rig:`` fabric left by an earlier run. Values from the DUT are
type-checked; a DUT that refuses a read or the label is noted, not fatal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rig.matter.controller import Clusters, MatterController, Node

ROOT_ENDPOINT = 0
LABEL_MAX = 32
"""Operational Credentials FabricDescriptorStruct.Label: at most 32 bytes."""
RIG_LABEL_PREFIX = "rig:"
OC = Clusters.OperationalCredentials


def rig_label(station: str) -> str:
    """The label of the rig's fabric: ``rig:<station>``, cut to the 32 bytes the spec allows."""
    return (RIG_LABEL_PREFIX + station).encode("utf-8")[:LABEL_MAX].decode("utf-8", "ignore")


@dataclass(frozen=True)
class FabricEntry:
    """One entry of the DUT's fabric table."""

    index: int
    vendor_id: int
    fabric_id: int
    node_id: int
    label: str


@dataclass
class FabricTable:
    """What the DUT's Operational Credentials cluster says about its fabrics."""

    current_index: int | None = None
    supported: int | None = None
    commissioned: int | None = None
    entries: list[FabricEntry] = field(default_factory=list)
    label: str | None = None
    problems: list[str] = field(default_factory=list)
    station_label: str | None = None
    """``rig:<station>`` of the station reading the table: entries with it other than the current one are stale."""

    def stale_rig_fabrics(self) -> list[FabricEntry]:
        """Entries labelled as this station's fabric (``station_label``, else any ``rig:`` label) other than the one
        in use: left by earlier runs (e.g. killed before they removed their fabric, or a station whose storage was
        lost). Other stations' ``rig:`` fabrics are other admins."""

        def ours(label: str) -> bool:
            return label == self.station_label if self.station_label else label.startswith(RIG_LABEL_PREFIX)

        return [e for e in self.entries if ours(e.label) and e.index != self.current_index]

    def to_record(self) -> dict[str, Any]:
        """The run record's ``dut.fabrics``."""
        free = None
        if self.supported is not None and self.commissioned is not None:
            free = self.supported - self.commissioned
        return {
            "current_index": self.current_index,
            "supported": self.supported,
            "commissioned": self.commissioned,
            "free": free,
            "label": self.label,
            "entries": [
                {"index": e.index, "vendor_id": e.vendor_id, "fabric_id": e.fabric_id, "node_id": e.node_id,
                 "label": e.label}
                for e in self.entries
            ],
            "stale_rig_fabrics": [e.index for e in self.stale_rig_fabrics()],
            "problems": list(self.problems),
        }  # fmt: skip


def _uint(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what}: the DUT sent {value!r} ({type(value).__name__}), not an unsigned integer")
    return value


def _entry(item: Any) -> FabricEntry:
    label = getattr(item, "label", "")
    if not isinstance(label, str):
        raise ValueError(f"Fabrics: a label is {label!r} ({type(label).__name__}), not a string")
    return FabricEntry(
        _uint(getattr(item, "fabricIndex", None), "Fabrics: fabricIndex"),
        _uint(getattr(item, "vendorID", None), "Fabrics: vendorID"),
        _uint(getattr(item, "fabricID", None), "Fabrics: fabricID"),
        _uint(getattr(item, "nodeID", None), "Fabrics: nodeID"),
        label,
    )


async def label_fabric(node: Node, label: str) -> str | None:
    """Send ``UpdateFabricLabel(label)`` on the rig's session; None on success, else what went wrong."""
    try:
        response = await node.invoke(OC.Commands.UpdateFabricLabel(label=label), endpoint=ROOT_ENDPOINT)
    except Exception as exc:  # any refusal is a note for the report
        return f"UpdateFabricLabel({label!r}) failed: {exc}"
    status = getattr(response, "statusCode", None)
    if status != OC.Enums.NodeOperationalCertStatusEnum.kOk:
        return f"UpdateFabricLabel({label!r}) answered NOCResponse status {status!r}"
    return None


async def read_fabric_table(
    controller: MatterController, node: Node, timeout_s: float, *, station_label: str | None = None
) -> FabricTable:
    """Read the DUT's fabric table; problems (a refused read, a wrong-typed value) are listed, not raised."""
    table = FabricTable(station_label=station_label)
    counts = [OC.Attributes.CurrentFabricIndex, OC.Attributes.SupportedFabrics, OC.Attributes.CommissionedFabrics]
    try:
        values = await node.read_many(counts, endpoint=ROOT_ENDPOINT)
        table.current_index = _uint(values.get(counts[0]), "CurrentFabricIndex")
        table.supported = _uint(values.get(counts[1]), "SupportedFabrics")
        table.commissioned = _uint(values.get(counts[2]), "CommissionedFabrics")
    except Exception as exc:  # noted for the report, never fatal
        table.problems.append(f"Operational Credentials counts: {exc}")
    try:
        result = await controller._bounded(
            controller.ctrl.ReadAttribute(node.node_id, [(ROOT_ENDPOINT, OC.Attributes.Fabrics)], fabricFiltered=False),
            timeout_s,
            "Fabrics (not fabric-filtered) on endpoint 0",
        )
        fabrics = result.get(ROOT_ENDPOINT, {}).get(OC, {}).get(OC.Attributes.Fabrics)
        if not isinstance(fabrics, list):
            raise ValueError(f"Fabrics: the DUT sent {fabrics!r} ({type(fabrics).__name__}), not a list")
        table.entries = sorted((_entry(f) for f in fabrics), key=lambda e: e.index)
    except Exception as exc:  # noted for the report, never fatal
        table.problems.append(f"Fabrics: {exc}")
    return table


async def read_attestation_chain(node: Node) -> tuple[bytes, bytes]:
    """The DUT's DAC and PAI (DER), from ``CertificateChainRequest`` (Operational Credentials, core 11.18.6.3).

    Raises:
        ValueError: the DUT answered something that is not a certificate.
    """
    out: list[bytes] = []
    for kind in (OC.Enums.CertificateChainTypeEnum.kDACCertificate, OC.Enums.CertificateChainTypeEnum.kPAICertificate):
        response = await node.invoke(OC.Commands.CertificateChainRequest(certificateType=kind), endpoint=ROOT_ENDPOINT)
        cert = getattr(response, "certificate", None)
        if not isinstance(cert, bytes) or not cert:
            raise ValueError(f"CertificateChainRequest({kind.name}): no certificate in the answer")
        out.append(cert)
    return out[0], out[1]
