"""TC-EEVSE-1.1: Global Attributes with DUT as Server (test plan 272.1.1).

Reads the Energy EVSE cluster's global attributes and checks them against the cluster (revision 3) and the
DUT's own FeatureMap: ClusterRevision 3; the mandatory attributes and commands present; the feature-dependent
ones present exactly when their feature is; nothing that neither the cluster nor the DUT's features allow.
"""

from __future__ import annotations

import pytest

from rig.steps import TestStep
from suites.tc_eevse.support import feature_codes, has_feature

pytestmark = [pytest.mark.tc("TC-EEVSE-1.1", "Global Attributes with DUT as Server"), pytest.mark.pics("EEVSE.S")]

STEPS = [
    TestStep("1", "Commission DUT to TH (can be skipped if done in a preceding test)", is_commissioning=True),
    TestStep("2", "TH reads from the DUT the ClusterRevision attribute", "Verify that the value is 3"),
    TestStep(
        "3",
        "TH reads from the DUT the FeatureMap attribute",
        "Verify that the FeatureMap contains the value: PREF (bit 0) mandatory; SOC, PNC, RFID, V2X optional; "
        "no other bit set",
    ),
    TestStep(
        "4",
        "TH reads from the DUT the AttributeList attribute",
        "Verify that the AttributeList contains the mandatory entries 0x0000, 0x0001, 0x0002, 0x0003, 0x0005, "
        "0x0006, 0x0007, 0x0040, 0x0041, 0x0042, 0xfff8, 0xfff9, 0xfffb, 0xfffc and 0xfffd; the optional "
        "entries 0x0009, 0x000A may be present; based on feature support: 0x0004, 0x0008, 0x0043 (V2X), "
        "0x0023-0x0026 and optionally 0x0027 (PREF), 0x0030, 0x0031 (SOC), 0x0032 (PNC)",
    ),
    TestStep(
        "5",
        "TH reads from the DUT the EventList attribute",
        "EventList is currently not supported and SHALL be skipped",
    ),
    TestStep(
        "6",
        "TH reads from the DUT the AcceptedCommandList attribute",
        "Verify that the AcceptedCommandList contains 0x01 (Disable), 0x02 (EnableCharging); 0x03 "
        "(EnableDischarging) if V2X; 0x05, 0x06, 0x07 (SetTargets, GetTargets, ClearTargets) if PREF; "
        "0x04 (StartDiagnostics) may be present",
    ),
    TestStep(
        "7",
        "TH reads from the DUT the GeneratedCommandList attribute",
        "Verify that the GeneratedCommandList contains 0x00 (GetTargetsResponse) if PREF, else is empty",
    ),
]

CLUSTER_REVISION = 3
GLOBAL_ATTRIBUTES = {0xFFF8, 0xFFF9, 0xFFFB, 0xFFFC, 0xFFFD}
MANDATORY_ATTRIBUTES = {0x0000, 0x0001, 0x0002, 0x0003, 0x0005, 0x0006, 0x0007, 0x0040, 0x0041, 0x0042}
OPTIONAL_ATTRIBUTES = {0x0009, 0x000A}
FEATURE_ATTRIBUTES = {  # feature -> (mandatory with the feature, optional with the feature)
    "V2X": ({0x0004, 0x0008, 0x0043}, set()),
    "PREF": ({0x0023, 0x0024, 0x0025, 0x0026}, {0x0027}),
    "SOC": ({0x0030, 0x0031}, set()),
    "PNC": ({0x0032}, set()),
}
MANDATORY_COMMANDS = {0x01, 0x02}
OPTIONAL_COMMANDS = {0x04}
FEATURE_COMMANDS = {"V2X": {0x03}, "PREF": {0x05, 0x06, 0x07}}
FEATURE_GENERATED = {"PREF": {0x00}}
KNOWN_FEATURE_BITS = 0b11111


def _hex(ids: set[int] | list[int]) -> str:
    return ", ".join(f"0x{i:04X}" for i in sorted(ids)) or "none"


def check_list(name: str, present: list[int], required: set[int], allowed: set[int]) -> str:
    """Require ``required`` ⊆ ``present`` ⊆ ``allowed``; return a note naming the optional entries present."""
    have = set(present)
    if len(have) != len(present):
        raise AssertionError(f"{name} has duplicate entries: {present}")
    missing, extra = required - have, have - allowed
    if missing or extra:
        raise AssertionError(
            f"{name}: missing {_hex(missing)}; not allowed by the cluster and the DUT's "
            f"FeatureMap: {_hex(extra)} (read {_hex(have)})"
        )
    return f"{name} = [{_hex(present)}]; optional present: {_hex(have - required)}"


async def test_tc_eevse_1_1(steps, evse) -> None:
    steps.step("1")  # commissioned by the session fixture

    steps.step("2")
    revision = await evse.read("ClusterRevision")
    steps.measure("ClusterRevision", int(revision), expected=CLUSTER_REVISION)

    steps.step("3")
    feature_map = await evse.feature_map()
    steps.note(f"FeatureMap = 0x{feature_map:X}: {', '.join(feature_codes(feature_map)) or 'no features'}")
    if feature_map & ~KNOWN_FEATURE_BITS:
        raise AssertionError(
            f"FeatureMap 0x{feature_map:X} sets bits the cluster does not define "
            f"(0x{feature_map & ~KNOWN_FEATURE_BITS:X})"
        )
    if not has_feature(feature_map, "PREF"):
        raise AssertionError("FeatureMap lacks PREF (ChargingPreferences), mandatory in cluster revision 3")

    steps.step("4")
    required = MANDATORY_ATTRIBUTES | GLOBAL_ATTRIBUTES
    allowed = required | OPTIONAL_ATTRIBUTES
    for code, (mandatory, optional) in FEATURE_ATTRIBUTES.items():
        if has_feature(feature_map, code):
            required |= mandatory
            allowed |= mandatory | optional
    steps.note(check_list("AttributeList", await evse.attribute_list(), required, allowed))

    steps.step("5")
    steps.skip_current("EventList is currently not supported and SHALL be skipped (test plan step 5*)")

    steps.step("6")
    required = set(MANDATORY_COMMANDS)
    allowed = required | OPTIONAL_COMMANDS
    for code, commands in FEATURE_COMMANDS.items():
        if has_feature(feature_map, code):
            required |= commands
            allowed |= commands
    steps.note(check_list("AcceptedCommandList", list(await evse.read("AcceptedCommandList")), required, allowed))

    steps.step("7")
    generated: set[int] = set()
    for code, commands in FEATURE_GENERATED.items():
        if has_feature(feature_map, code):
            generated |= commands
    steps.note(check_list("GeneratedCommandList", list(await evse.read("GeneratedCommandList")), generated, generated))
