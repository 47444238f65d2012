"""Test event trigger codes: encoding with the endpoint in bits 32-47, parsing names and numbers."""

from __future__ import annotations

import pytest

from rig.matter import triggers
from rig.matter.triggers import Trigger


def test_seventeen_energy_evse_triggers() -> None:
    assert len(Trigger) == 17
    assert all((int(t) >> 48) == 0x0099 for t in Trigger)


def test_legacy_form_is_unchanged() -> None:
    assert triggers.encode(Trigger.PLUGGED_IN, None) == 0x0099000000000002


def test_endpoint_goes_into_bits_32_to_47() -> None:
    assert triggers.encode(Trigger.PLUGGED_IN, 1) == 0x0099000100000002
    assert triggers.encode(Trigger.RFID, 0xABCD) == 0x0099ABCD00000050
    # An endpoint already present is replaced, not or-ed.
    assert triggers.encode(0x0099000500000004, 2) == 0x0099000200000004


def test_decode_inverts_encode() -> None:
    for t in Trigger:
        assert triggers.decode(triggers.encode(t, 7)) == (int(t), 7)


def test_bad_endpoint_is_refused() -> None:
    with pytest.raises(ValueError, match=r"0\.\.65535"):
        triggers.encode(Trigger.BASIC, 70000)


@pytest.mark.parametrize(
    "text", ["plugged-in", "PLUGGED_IN", "Plugged-In", "0x0099000000000002", str(0x0099000000000002)]
)
def test_parse_names_and_numbers(text: str) -> None:
    assert triggers.parse(text) == 0x0099000000000002


def test_unknown_trigger_lists_the_known_ones() -> None:
    expected = r"unknown test event trigger 'plugged'; known: basic, basic-clear, plugged-in"
    with pytest.raises(ValueError, match=expected):
        triggers.parse("plugged")
