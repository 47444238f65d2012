"""rig.matter.controller.decode_attribute: read values decoded as the CHIP wheel's ReadAttribute decodes them, with
decoded scalars remembered by their TLV bytes (never a mutable value, which a caller could change)."""

from __future__ import annotations

from typing import Any

from chip.clusters import Attribute as ClusterAttribute
from chip.interaction_model import InteractionModelError, Status
from chip.tlv import TLVReader, TLVWriter, uint

from rig.matter import reads
from rig.matter.controller import Clusters, decode_attribute

EVSE = Clusters.EnergyEvse.Attributes


def tlv(value: Any) -> bytes:
    writer = TLVWriter()
    writer.put(None, value)
    return bytes(writer.encoding)


def as_the_wheel_decodes(attribute: Any, data: bytes) -> Any:
    return attribute.FromTagDictOrRawValue(TLVReader(data).get()["Any"])


def test_an_enum_value_decodes_as_the_wheel_decodes_it_and_is_remembered() -> None:
    data = tlv(uint(3))
    first = decode_attribute(EVSE.State, 0, data)
    assert first == as_the_wheel_decodes(EVSE.State, data)
    assert type(first) is Clusters.EnergyEvse.Enums.StateEnum
    assert (EVSE.State, data) in reads._DECODED
    assert decode_attribute(EVSE.State, 0, data) is first


def test_a_list_is_decoded_afresh_every_time() -> None:
    data = tlv([uint(0), uint(1), uint(2)])
    first = decode_attribute(EVSE.AttributeList, 0, data)
    assert first == [0, 1, 2] == as_the_wheel_decodes(EVSE.AttributeList, data)
    first.append(99)  # a caller's change must not reach the next read
    assert decode_attribute(EVSE.AttributeList, 0, data) == [0, 1, 2]


def test_a_nullable_attribute_reported_null_decodes_to_null() -> None:
    data = tlv(None)
    value = decode_attribute(EVSE.ChargingEnabledUntil, 0, data)
    assert value == as_the_wheel_decodes(EVSE.ChargingEnabledUntil, data)


def test_an_error_status_for_the_path_is_a_value_decode_failure_carrying_it() -> None:
    value = decode_attribute(EVSE.State, int(Status.UnsupportedAttribute), b"")
    assert isinstance(value, ClusterAttribute.ValueDecodeFailure)
    assert isinstance(value.Reason, InteractionModelError)
    assert value.Reason.status == Status.UnsupportedAttribute


def test_tlv_of_the_wrong_type_is_a_value_decode_failure() -> None:
    value = decode_attribute(EVSE.CircuitCapacity, 0, tlv("not a number"))
    assert isinstance(value, ClusterAttribute.ValueDecodeFailure)
    assert value.TLVValue == "not a number"
    assert (EVSE.CircuitCapacity, tlv("not a number")) not in reads._DECODED
