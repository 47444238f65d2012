"""What a DUT's Energy EVSE cluster says about itself (FeatureMap and element lists), read in one interaction.

The values come from the DUT and are checked before use: a wrong-typed one is refused with a message naming the
attribute, the endpoint and what the DUT sent.
"""

from __future__ import annotations

from typing import Any

from rig.errors import RigError
from rig.matter.controller import Clusters, Node
from rig.pics.derive import DutElements


def _bitmap(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise AssertionError(f"{what}: the DUT sent {value!r} ({type(value).__name__}), not an unsigned integer")
    return value


def _id_list(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, list):
        raise AssertionError(f"{what}: the DUT sent {value!r} ({type(value).__name__}), not a list of ids")
    bad = [v for v in value if isinstance(v, bool) or not isinstance(v, int) or v < 0]
    if bad:
        raise AssertionError(f"{what}: the DUT's list holds {bad[0]!r} ({type(bad[0]).__name__}), not an id")
    return tuple(value)


async def read_dut_elements(node: Node) -> DutElements:
    """Read the Energy EVSE FeatureMap and element lists of ``node``'s endpoint in one interaction.

    ``event_ids`` is None when EventList cannot be read (the CHIP wheel's cluster model has no EventList class).

    Raises:
        AssertionError: the DUT sent no value, or a wrong-typed one (the message names the attribute).
    """
    attrs = Clusters.EnergyEvse.Attributes
    where = f"Energy EVSE (0x0099) on endpoint {node.endpoint}"
    wanted = [attrs.FeatureMap, attrs.AttributeList, attrs.AcceptedCommandList, attrs.GeneratedCommandList]
    values = await node.read_many(wanted)
    missing = [a.__name__ for a in wanted if a not in values or values[a] is None]
    if missing:
        raise AssertionError(f"the DUT returned no {', '.join(missing)} for the {where}")
    events: tuple[int, ...] | None = None
    event_list = getattr(attrs, "EventList", None)
    if event_list is not None:
        try:
            value = await node.read(event_list)
            events = _id_list(value, f"{where} EventList") if isinstance(value, list) else None
        except (AssertionError, RigError):
            events = None
    return DutElements(
        _bitmap(values[attrs.FeatureMap], f"{where} FeatureMap"),
        _id_list(values[attrs.AttributeList], f"{where} AttributeList"),
        _id_list(values[attrs.AcceptedCommandList], f"{where} AcceptedCommandList"),
        _id_list(values[attrs.GeneratedCommandList], f"{where} GeneratedCommandList"),
        events,
    )
