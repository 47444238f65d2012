"""The PICS element tables are derived from spec/EnergyEVSE.xml and say what the hand-written tables said.

The expectations below are the tables rig.pics carried before they were derived from the spec parser: if the
derivation (the parser, ``Conformance.pics`` or rig/pics/reading.py) breaks, these fail. A second, hand-written
table of the cluster's elements in rig/pics fails ``test_no_element_table_is_written_in_rig_pics``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rig.pics import KNOWN_EEVSE, derive_pics, inferred_events
from rig.pics import reading as r
from rig.pics.writing import write_pics_xml
from rig.spec import energy_evse

ROOT = Path(__file__).resolve().parents[2]

FEATURES = {
    0: ("PREF", "ChargingPreferences", "M"),
    1: ("SOC", "SoCReporting", "O"),
    2: ("PNC", "PlugAndCharge", "O"),
    3: ("RFID", "RFID", "O"),
    4: ("V2X", "V2X", "O"),
}
ATTRIBUTES = {
    0x0000: ("State", "M", ""),
    0x0001: ("SupplyState", "M", ""),
    0x0002: ("FaultState", "M", ""),
    0x0003: ("ChargingEnabledUntil", "M", ""),
    0x0004: ("DischargingEnabledUntil", "M", "V2X"),
    0x0005: ("CircuitCapacity", "M", ""),
    0x0006: ("MinimumChargeCurrent", "M", ""),
    0x0007: ("MaximumChargeCurrent", "M", ""),
    0x0008: ("MaximumDischargeCurrent", "M", "V2X"),
    0x0009: ("UserMaximumChargeCurrent", "O", ""),
    0x000A: ("RandomizationDelayWindow", "O", ""),
    0x0023: ("NextChargeStartTime", "M", "PREF"),
    0x0024: ("NextChargeTargetTime", "M", "PREF"),
    0x0025: ("NextChargeRequiredEnergy", "M", "PREF"),
    0x0026: ("NextChargeTargetSoC", "M", "PREF"),
    0x0027: ("ApproximateEVEfficiency", "O", "PREF"),
    0x0030: ("StateOfCharge", "M", "SOC"),
    0x0031: ("BatteryCapacity", "M", "SOC"),
    0x0032: ("VehicleID", "M", "PNC"),
    0x0040: ("SessionID", "M", ""),
    0x0041: ("SessionDuration", "M", ""),
    0x0042: ("SessionEnergyCharged", "M", ""),
    0x0043: ("SessionEnergyDischarged", "M", "V2X"),
}
GLOBAL_ATTRIBUTES = {
    0xFFF8: "GeneratedCommandList",
    0xFFF9: "AcceptedCommandList",
    0xFFFA: "EventList",
    0xFFFB: "AttributeList",
    0xFFFC: "FeatureMap",
    0xFFFD: "ClusterRevision",
}
ACCEPTED_COMMANDS = {
    0x01: ("Disable", "M", ""),
    0x02: ("EnableCharging", "M", ""),
    0x03: ("EnableDischarging", "M", "V2X"),
    0x04: ("StartDiagnostics", "O", ""),
    0x05: ("SetTargets", "M", "PREF"),
    0x06: ("GetTargets", "M", "PREF"),
    0x07: ("ClearTargets", "M", "PREF"),
}
GENERATED_COMMANDS = {0x00: ("GetTargetsResponse", "M", "PREF")}
EVENTS = {
    0x00: ("EVConnected", "M", ""),
    0x01: ("EVNotDetected", "M", ""),
    0x02: ("EnergyTransferStarted", "M", ""),
    0x03: ("EnergyTransferStopped", "M", ""),
    0x04: ("Fault", "M", ""),
    0x05: ("RFID", "O", "RFID"),
}


def test_cluster_identity_from_the_spec() -> None:
    assert (r.EEVSE, r.EEVSE_CLUSTER_ID) == ("EEVSE", 0x0099)
    assert r.CLUSTER_TITLE == "Energy EVSE cluster (0x0099) revision 3"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("FEATURES", FEATURES),
        ("ATTRIBUTES", ATTRIBUTES),
        ("GLOBAL_ATTRIBUTES", GLOBAL_ATTRIBUTES),
        ("ACCEPTED_COMMANDS", ACCEPTED_COMMANDS),
        ("GENERATED_COMMANDS", GENERATED_COMMANDS),
        ("EVENTS", EVENTS),
    ],
)
def test_derived_table_equals_the_hand_written_one(name: str, expected: dict[int, object]) -> None:
    table = getattr(r, name)
    assert table == expected
    assert list(table) == sorted(expected), f"{name} is in id order"


def test_known_eevse_codes() -> None:
    expected: dict[str, tuple[str, str, str, str]] = {"EEVSE.S": ("usage", "Energy EVSE server", "M", "")}
    for bit, (short, name, status) in FEATURES.items():
        expected[f"EEVSE.S.F{bit:02X}"] = ("features", name if name == short else f"{name} ({short})", status, "")
    for aid, (name, status, cond) in ATTRIBUTES.items():
        expected[f"EEVSE.S.A{aid:04X}"] = ("attributes", name, status, cond)
    for aid, name in GLOBAL_ATTRIBUTES.items():
        expected[f"EEVSE.S.A{aid:04X}"] = ("attributes", name, "M", "")
    for cid, (name, status, cond) in ACCEPTED_COMMANDS.items():
        expected[f"EEVSE.S.C{cid:02X}.Rsp"] = ("commandsReceived", name, status, cond)
    for cid, (name, status, cond) in GENERATED_COMMANDS.items():
        expected[f"EEVSE.S.C{cid:02X}.Tx"] = ("commandsGenerated", name, status, cond)
    for eid, (name, status, cond) in EVENTS.items():
        expected[f"EEVSE.S.E{eid:02X}"] = ("events", name, status, cond)
    expected["EEVSE.S.M.ManuallyControlledPluggedIn"] = ("manually", "ManuallyControlledPluggedIn", "O", "")
    assert expected == KNOWN_EEVSE
    assert KNOWN_EEVSE["EEVSE.S.F00"][1] == "ChargingPreferences (PREF)"


@pytest.mark.parametrize(
    ("feature_map", "events"),
    [(0x00, [0, 1, 2, 3, 4]), (0x01, [0, 1, 2, 3, 4]), (0x08, [0, 1, 2, 3, 4, 5]), (0x1F, [0, 1, 2, 3, 4, 5])],
)
def test_events_inferred_from_the_spec_conformance(feature_map: int, events: list[int]) -> None:
    assert inferred_events(feature_map) == events


def test_derive_lists_every_spec_element() -> None:
    codes = derive_pics(0, [], [], [], None)
    assert [k for k in codes if ".A" in k] == [f"EEVSE.S.A{a:04X}" for a in ATTRIBUTES]
    assert [k for k in codes if ".C" in k] == ["EEVSE.S.C01.Rsp", "EEVSE.S.C02.Rsp", "EEVSE.S.C03.Rsp",
                                              "EEVSE.S.C04.Rsp", "EEVSE.S.C05.Rsp", "EEVSE.S.C06.Rsp",
                                              "EEVSE.S.C07.Rsp", "EEVSE.S.C00.Tx"]  # fmt: skip


def test_written_conditions_are_feature_pics_codes(tmp_path: Path) -> None:
    text = write_pics_xml({"EEVSE.S.A0004": True, "EEVSE.S.A0027": False, "EEVSE.S.E05": True}, tmp_path / "p.xml")
    body = text.read_text(encoding="utf-8")
    assert '<status cond="EEVSE.S.F04">M</status>' in body
    assert '<status cond="EEVSE.S.F00">O</status>' in body
    assert '<status cond="EEVSE.S.F03">O</status>' in body
    assert "<reference>Energy EVSE cluster (0x0099) revision 3</reference>" in body


def test_no_element_table_is_written_in_rig_pics() -> None:
    """rig/pics names no attribute, command or event of the cluster: their names come from the spec only."""
    cluster = energy_evse()
    names = {e.name for e in (*cluster.attributes, *cluster.commands, *cluster.events) if len(e.name) > 6}
    found = []
    for path in sorted((ROOT / "rig" / "pics").glob("*.py")):
        words = set(re.findall(r"[A-Za-z]+", path.read_text(encoding="utf-8")))
        found += [f"{path.relative_to(ROOT)}: {n}" for n in sorted(names & words)]
    assert not found, "derive these from rig.spec.energy_evse() instead of writing them down: " + ", ".join(found)
