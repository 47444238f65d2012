"""The OTA Software Update clusters over Matter (Matter Core specification, section 11.20): what the rig reads of a
DUT's OTA Requestor, the announcement of a provider, and the Basic Information versions an install changes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chip.exceptions import ChipStackError

from rig.errors import RigError
from rig.matter.controller import Clusters, Node

REQUESTOR = Clusters.OtaSoftwareUpdateRequestor
NullValue = Clusters.Types.NullValue
UPDATE_STATES = {
    0: "Unknown",
    1: "Idle",
    2: "Querying",
    3: "DelayedOnQuery",
    4: "Downloading",
    5: "Applying",
    6: "DelayedOnApply",
    7: "RollingBack",
    8: "DelayedOnUserConsent",
}
"""UpdateStateEnum (Matter Core 11.20.7.4.4)."""
CHANGE_REASONS = {0: "Unknown", 1: "Success", 2: "Failure", 3: "TimeOut", 4: "DelayByProvider"}
"""ChangeReasonEnum (Matter Core 11.20.7.4.3)."""
NO_ANSWER: tuple[type[BaseException], ...] = (RigError, TimeoutError, ChipStackError)
"""What an interaction with a node that is not answering (rebooting, gone) raises: a bounded wait that ran out, no
CASE session, or the stack giving up on the exchange."""


@dataclass(frozen=True)
class Versions:
    """What Basic Information says of the running firmware and the product."""

    vendor_id: int
    product_id: int
    software_version: int
    software_version_string: str


@dataclass(frozen=True)
class RequestorState:
    """UpdateState (by name) and UpdateStateProgress (percent, or None) of the DUT's OTA Requestor."""

    state: str
    progress: int | None


async def versions(node: Node) -> Versions:
    """Basic Information's VendorID, ProductID, SoftwareVersion and SoftwareVersionString (endpoint 0)."""
    bi = Clusters.BasicInformation.Attributes
    got = await node.read_many([bi.VendorID, bi.ProductID, bi.SoftwareVersion, bi.SoftwareVersionString], endpoint=0)
    return Versions(
        int(got[bi.VendorID]),
        int(got[bi.ProductID]),
        int(got[bi.SoftwareVersion]),
        str(got[bi.SoftwareVersionString]),
    )


async def requestor_state(node: Node, endpoint: int) -> RequestorState:
    """The OTA Requestor's UpdateState and UpdateStateProgress."""
    a = REQUESTOR.Attributes
    got = await node.read_many([a.UpdateState, a.UpdateStateProgress], endpoint=endpoint)
    state = got.get(a.UpdateState)
    progress = got.get(a.UpdateStateProgress)
    return RequestorState(
        UPDATE_STATES.get(int(state), f"value {state}") if isinstance(state, int) else f"unreadable ({state!r})",
        int(progress) if isinstance(progress, int) and not isinstance(progress, bool) else None,
    )


async def default_providers(node: Node, endpoint: int) -> list[dict[str, int]]:
    """DefaultOTAProviders as this fabric sees it (a fabric-scoped list: this fabric's entry only)."""
    value = await node.read(REQUESTOR.Attributes.DefaultOTAProviders, endpoint=endpoint)
    return [
        {"provider_node_id": int(p.providerNodeID), "endpoint": int(p.endpoint), "fabric_index": int(p.fabricIndex)}
        for p in (value if isinstance(value, list) else [])
    ]


async def write_default_providers(node: Node, endpoint: int, providers: list[dict[str, int]]) -> None:
    """Write DefaultOTAProviders (this fabric's entries)."""
    entries = [
        REQUESTOR.Structs.ProviderLocation(
            providerNodeID=p["provider_node_id"], endpoint=p["endpoint"], fabricIndex=p["fabric_index"]
        )
        for p in providers
    ]
    await node.write(REQUESTOR.Attributes.DefaultOTAProviders(entries), endpoint=endpoint)


async def announce_provider(
    node: Node, endpoint: int, *, provider_node_id: int, vendor_id: int, provider_endpoint: int = 0
) -> Any:
    """AnnounceOTAProvider (reason UpdateAvailable) on the DUT's OTA Requestor."""
    command = REQUESTOR.Commands.AnnounceOTAProvider(
        providerNodeID=provider_node_id,
        vendorID=vendor_id,
        announcementReason=REQUESTOR.Enums.AnnouncementReasonEnum.kUpdateAvailable,
        endpoint=provider_endpoint,
    )
    return await node.invoke(command, endpoint=endpoint)


async def has_requestor(node: Node, endpoint: int) -> bool:
    """Whether the endpoint's Descriptor lists the OTA Software Update Requestor cluster."""
    servers = await node.read(Clusters.Descriptor.Attributes.ServerList, endpoint=endpoint)
    return isinstance(servers, list) and REQUESTOR.id in servers


async def grant_requestor(provider: Node, requestor_node_id: int, provider_endpoint: int = 0) -> None:
    """Let ``requestor_node_id`` (the DUT, over CASE on this fabric) invoke the provider's OTA Software Update Provider
    cluster: an Access Control entry of privilege Operate (Matter Core 11.20.6.5: the provider's commands need
    Operate), appended to this fabric's entries of the provider's ACL."""
    acl = Clusters.AccessControl
    current = await provider.read(acl.Attributes.Acl, endpoint=0)
    entries = list(current) if isinstance(current, list) else []
    entries.append(
        acl.Structs.AccessControlEntryStruct(
            privilege=acl.Enums.AccessControlEntryPrivilegeEnum.kOperate,
            authMode=acl.Enums.AccessControlEntryAuthModeEnum.kCase,
            subjects=[requestor_node_id],
            targets=[
                acl.Structs.AccessControlTargetStruct(
                    cluster=Clusters.OtaSoftwareUpdateProvider.id, endpoint=provider_endpoint, deviceType=NullValue
                )
            ],
        )
    )
    await provider.write(acl.Attributes.Acl(entries), endpoint=0)


@dataclass(frozen=True)
class RequestorEvent:
    """One event of the DUT's OTA Requestor (Matter Core 11.20.7.7): StateTransition, VersionApplied or DownloadError,
    its fields by the spec's names (enumerations by name)."""

    number: int
    name: str
    fields: dict[str, Any]

    def describe(self) -> str:
        """One line for a message (the values come from the DUT: shown with repr)."""
        if self.name == "StateTransition":
            f = self.fields
            target = f.get("TargetSoftwareVersion")
            return f"StateTransition {f.get('PreviousState')} -> {f.get('NewState')}, reason {f.get('Reason')}" + (
                f" (target version {target!r})" if target is not None else ""
            )
        return f"{self.name}(" + ", ".join(f"{k} {v!r}" for k, v in self.fields.items()) + ")"


def _requestor_event(result: Any) -> RequestorEvent:
    data = result.Data
    name = type(data).__name__
    fields: dict[str, Any] = {}
    if name == "StateTransition":
        fields = {
            "PreviousState": UPDATE_STATES.get(int(data.previousState), f"value {data.previousState}"),
            "NewState": UPDATE_STATES.get(int(data.newState), f"value {data.newState}"),
            "Reason": CHANGE_REASONS.get(int(data.reason), f"value {data.reason}"),
            "TargetSoftwareVersion": None if data.targetSoftwareVersion is NullValue else data.targetSoftwareVersion,
        }
    elif name == "DownloadError":
        fields = {
            "SoftwareVersion": data.softwareVersion,
            "BytesDownloaded": data.bytesDownloaded,
            "ProgressPercent": None if data.progressPercent is NullValue else data.progressPercent,
            "PlatformCode": None if data.platformCode is NullValue else data.platformCode,
        }
    elif name == "VersionApplied":
        fields = {"SoftwareVersion": data.softwareVersion, "ProductID": data.productID}
    return RequestorEvent(int(result.Header.EventNumber), name, fields)


async def requestor_events(node: Node, endpoint: int, after: int | None = None) -> list[RequestorEvent]:
    """The OTA Requestor's events the DUT still buffers, numbered after ``after`` (all when None), in order.

    Raises:
        WaitTimeout: no answer within the node's timeout; ChipStackError: the interaction failed.
    """
    controller = node.controller
    results = await controller._bounded(
        controller.ctrl.ReadEvent(
            node.node_id,
            [(endpoint, REQUESTOR, False)],
            eventNumberFilter=None if after is None else after + 1,
            fabricFiltered=False,
        ),
        node.timeout_s,
        f"a read of the OTA Requestor's events on endpoint {endpoint} of node 0x{node.node_id:x}",
    )
    events = [_requestor_event(r) for r in results if getattr(r, "Data", None) is not None]
    return sorted((e for e in events if after is None or e.number > after), key=lambda e: e.number)
