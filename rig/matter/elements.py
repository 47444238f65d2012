"""What a DUT's Energy EVSE cluster says about itself (FeatureMap and element lists), read in one interaction."""

from __future__ import annotations

from rig.errors import RigError
from rig.matter.controller import Clusters, Node
from rig.pics.derive import DutElements


async def read_dut_elements(node: Node) -> DutElements:
    """Read the Energy EVSE FeatureMap and element lists of ``node``'s endpoint in one interaction.

    ``event_ids`` is None when EventList cannot be read (the CHIP wheel's cluster model has no EventList class).
    """
    attrs = Clusters.EnergyEvse.Attributes
    wanted = [
        attrs.FeatureMap,
        attrs.AttributeList,
        attrs.AcceptedCommandList,
        attrs.GeneratedCommandList,
    ]
    values = await node.read_many(wanted)
    missing = [a.__name__ for a in wanted if not isinstance(values.get(a), int | list)]
    if missing:
        raise AssertionError(f"the DUT returned no {', '.join(missing)} for the Energy EVSE cluster")
    events: tuple[int, ...] | None = None
    event_list = getattr(attrs, "EventList", None)
    if event_list is not None:
        try:
            value = await node.read(event_list)
            events = tuple(int(e) for e in value) if isinstance(value, list) else None
        except (AssertionError, RigError):
            events = None
    return DutElements(
        int(values[attrs.FeatureMap]),
        tuple(int(a) for a in values[attrs.AttributeList]),
        tuple(int(c) for c in values[attrs.AcceptedCommandList]),
        tuple(int(c) for c in values[attrs.GeneratedCommandList]),
        events,
    )
