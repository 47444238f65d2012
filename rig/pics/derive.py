"""PICS of a live DUT: what its Energy EVSE cluster says about itself, PICS derived from it, contradictions."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rig.pics.reading import (
    _CODE,
    ACCEPTED_COMMANDS,
    ATTRIBUTES,
    EEVSE,
    EVENTS,
    FEATURES,
    GENERATED_COMMANDS,
    GLOBAL_ATTRIBUTES,
    Pics,
    _what,
    accepted_command_code,
    attribute_code,
    event_code,
    feature_code,
    generated_command_code,
)
from rig.spec.conformance import Context, evaluate
from rig.spec.eevse import energy_evse


# -- deriving from a live DUT and comparing ------------------------------------------------------------------
@dataclass(frozen=True)
class DutElements:
    """What a DUT's Energy EVSE cluster says about itself (the inputs of ``derive_pics``).

    ``event_ids`` is None when EventList could not be read (the DUT or the controller's cluster model lacks it;
    the CHIP 2025 wheel has no EventList attribute class).
    """

    feature_map: int
    attribute_ids: tuple[int, ...]
    accepted_cmds: tuple[int, ...]
    generated_cmds: tuple[int, ...]
    event_ids: tuple[int, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (``from_dict`` reads it back)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DutElements:
        """Inverse of ``to_dict``."""
        events = data.get("event_ids")
        return cls(
            int(data["feature_map"]),
            tuple(int(i) for i in data["attribute_ids"]),
            tuple(int(i) for i in data["accepted_cmds"]),
            tuple(int(i) for i in data["generated_cmds"]),
            None if events is None else tuple(int(i) for i in events),
        )


def inferred_events(feature_map: int) -> list[int]:
    """The events the spec gives an EVSE with this FeatureMap (E00-E04, and E05 RFID with the RFID feature).

    An event counts when its conformance makes it mandatory, or optional under a condition the FeatureMap meets
    (``[RFID]``); an unconditionally optional event cannot be inferred.
    """
    cluster = energy_evse()
    ctx = Context.of(cluster.feature_codes(feature_map))
    out = []
    for event in cluster.events:
        verdict = evaluate(event.conformance, ctx)
        conditional = verdict.rule is not None and verdict.rule.expr is not None
        if verdict.required or (verdict.kind == "optional" and conditional):
            out.append(event.id)
    return out


def derive_pics(
    feature_map: int,
    attribute_ids: Iterable[int],
    accepted_cmds: Iterable[int],
    generated_cmds: Iterable[int],
    event_ids: Iterable[int] | None = None,
    *,
    include_globals: bool = False,
) -> dict[str, bool]:
    """The Energy EVSE server PICS of a DUT, as the SDK's ``generate_device_element_pics`` builds them.

    Every known EEVSE code appears (True or False, so the result is a complete PICS file); codes the DUT has but
    the rig does not know are added as True. Attribute codes have four upper-case hex digits (``EEVSE.S.A000A``).

    Args:
        feature_map: the cluster's FeatureMap (bits 0..31).
        attribute_ids: its AttributeList.
        accepted_cmds: its AcceptedCommandList.
        generated_cmds: its GeneratedCommandList.
        event_ids: its EventList; None when it could not be read: the events are then inferred from the
            FeatureMap by the spec's conformance (``inferred_events``).
        include_globals: also list the global attributes (0xFFF8..0xFFFD), as the SDK does; CSA PICS files
            do not carry them.
    """
    attrs = set(attribute_ids)
    accepted, generated = set(accepted_cmds), set(generated_cmds)
    events = set(inferred_events(feature_map) if event_ids is None else event_ids)
    out: dict[str, bool] = {f"{EEVSE}.S": True}
    for bit in sorted(set(FEATURES) | {b for b in range(32) if feature_map >> b & 1}):
        out[feature_code(bit)] = bool(feature_map >> bit & 1)
    for aid in sorted(set(ATTRIBUTES) | attrs):
        if aid in GLOBAL_ATTRIBUTES and not include_globals:
            continue
        out[attribute_code(aid)] = aid in attrs
    for cid in sorted(set(ACCEPTED_COMMANDS) | accepted):
        out[accepted_command_code(cid)] = cid in accepted
    for cid in sorted(set(GENERATED_COMMANDS) | generated):
        out[generated_command_code(cid)] = cid in generated
    for eid in sorted(set(EVENTS) | events):
        out[event_code(eid)] = eid in events
    return out


def contradictions(pics: Pics, dut: DutElements) -> list[str]:
    """Every disagreement between a PICS file and the DUT, one sentence each.

    Compared: ``EEVSE.S``, features, attributes (global ones excluded), accepted and generated commands, and
    events when EventList was read. A derivable code the PICS does not mention counts as ``=0`` (as the
    SDK reads a missing key), so a PICS file that omits what the DUT has is reported too. Manual (``.M.``) codes
    and other clusters' codes are not compared.
    """
    if pics.permissive:
        return []
    derived = derive_pics(dut.feature_map, dut.attribute_ids, dut.accepted_cmds, dut.generated_cmds, dut.event_ids)
    if dut.event_ids is None:
        derived = {k: v for k, v in derived.items() if not _is_event(k)}
    keys = list(derived) + [k for k in pics.items if k not in derived and _CODE.match(k) and not _skip(k, dut)]
    out: list[str] = []
    for key in keys:
        said, has = pics.check(key), derived.get(key, False)
        if said == has:
            continue
        claim = f"PICS says {key}=1" if said else (f"PICS says {key}=0" if key in pics.items else f"PICS omits {key}")
        out.append(f"{claim} but {_what(key, has)}")
    return out


def _is_event(key: str) -> bool:
    m = _CODE.match(key)
    return bool(m and m["kind"] == "E")


def _skip(key: str, dut: DutElements) -> bool:
    m = _CODE.match(key)
    if m is None or (m["kind"] == "E" and dut.event_ids is None):
        return True
    return m["kind"] == "A" and int(m["id"], 16) in GLOBAL_ATTRIBUTES


def pics_of(dut: DutElements) -> Pics:
    """The PICS of a live DUT (no PICS file given): what its FeatureMap and element lists say it supports.

    Events are inferred from the FeatureMap when EventList could not be read (see ``derive_pics``).
    """
    items = derive_pics(dut.feature_map, dut.attribute_ids, dut.accepted_cmds, dut.generated_cmds, dut.event_ids)
    return Pics(items=items, dut=dut)
