"""What a failed commissioning tells the user: a full fabric table is named as such, other failures point at the
settings to check."""

from __future__ import annotations

from rig.matter.controller import commissioning_failure


def test_no_memory_is_explained_as_a_full_fabric_table() -> None:
    text = commissioning_failure(0x1001, "discriminator 3840", RuntimeError("CHIP Error 0x0000000B: No memory"))
    assert "node 0x1001" in text and "No memory" in text
    assert "full fabric table" in text and "SupportedFabrics" in text and "remove a fabric" in text


def test_other_failures_point_at_the_settings() -> None:
    text = commissioning_failure(0x1001, "discriminator 3840", RuntimeError("CHIP Error 0x00000032: Timeout"))
    assert "full fabric table" not in text
    assert "dut.passcode" in text and "dut.paa_trust_store" in text
