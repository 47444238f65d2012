"""rig.spec works for any cluster XML of the data-model format: a made-up cluster (tests/spec/data/PumpMonitor.xml)
with three features (one depending on another), an enum and a bitmap with feature-conditional values, a struct
with a choice group, optional, feature-conditional, element-conditional, otherwise/disallowed/deprecated
attributes, a timed and an untimed command, a response, and events. No DUT: the generated expectations are
checked against fake FeatureMaps and element lists.
"""

from __future__ import annotations

from pathlib import Path

from rig.spec import CURRENT, check_list, check_value, context, evaluate, feature_problems, parse_cluster, value_spec
from rig.spec.checks import (
    GLOBAL_ATTRIBUTES,
    attribute_steps,
    command_steps,
    list_steps,
    timed_commands,
    write_cases,
)
from rig.spec.conformance import choice_problems

PUMP = parse_cluster(Path(__file__).with_name("data") / "PumpMonitor.xml")
FLOW, PRES, LEAK = 0x1, 0x2, 0x4
GLOBALS = list(GLOBAL_ATTRIBUTES)


def test_parsed() -> None:
    assert (PUMP.id, PUMP.name, PUMP.revision, PUMP.pics_code) == (0xFFF1FC10, "Pump Monitor Cluster", 2, "PMON")
    assert [f.code for f in PUMP.features] == ["FLOW", "PRES", "LEAK"]
    assert str(PUMP.features[2].conformance) == "[PRES]"
    assert [a.name for a in PUMP.attributes][:3] == ["Mode", "FlowRate", "Pressure"]
    between = PUMP.attribute("Pressure").constraints[0]
    assert (between.type, between.value, between.to) == ("between", -100, 1000)
    assert str(PUMP.attribute("SetPoint").conformance) == "[(FLOW | PRES)]"
    assert str(PUMP.attribute("LeakSensitivity").conformance) == "(LEAK & !FLOW)"
    assert str(PUMP.attribute("LegacyCounter").conformance) == "X(LEAK), D"
    assert PUMP.attribute("FlowRate").quality.quieter_reporting
    assert PUMP.command("GetReadings").response == "GetReadingsResponse"
    assert PUMP.command("GetReadingsResponse").fields[0].entry_type == "ReadingStruct"
    assert [c.name for c in timed_commands(PUMP)] == ["Flush"]
    assert PUMP.event("DryRunDetected").priority == "critical"


def test_feature_rules() -> None:
    assert feature_problems(PUMP, FLOW) == []
    assert feature_problems(PUMP, PRES) == ["feature FLOW (bit 0, M) is mandatory but not in FeatureMap"]
    assert feature_problems(PUMP, FLOW | LEAK) == ["feature LEAK (bit 2, [PRES]) is not allowed with ['FLOW', 'LEAK']"]


def test_attribute_expectations_for_feature_maps() -> None:
    def verdicts(feature_map: int, present: list[int]) -> dict[str, str]:
        ctx = context(PUMP, feature_map, attributes=present)
        return {n: v.kind for n, v in check_list(PUMP, "attribute", present, ctx).verdicts.items()}

    flow = verdicts(FLOW, [])
    assert flow == {
        "Mode": "mandatory",
        "FlowRate": "mandatory",
        "Pressure": "disallowed",
        "Alarms": "mandatory",
        "Label": "optional",
        "SetPoint": "optional",
        "LastReading": "disallowed",
        "LegacyCounter": "deprecated",
        "LeakSensitivity": "disallowed",
    }
    # an element-conditional attribute: LastReading is mandatory once SetPoint is present
    assert verdicts(FLOW, [0x0005])["LastReading"] == "mandatory"
    leak = verdicts(PRES | LEAK, [])
    assert leak["LegacyCounter"] == "disallowed" and leak["LeakSensitivity"] == "mandatory"
    assert leak["Pressure"] == "mandatory" and leak["FlowRate"] == "disallowed"


def test_list_findings_against_fake_lists() -> None:
    good = [0x0000, 0x0001, 0x0003, *GLOBALS]
    assert check_list(PUMP, "attribute", good, context(PUMP, FLOW, attributes=good)).ok
    bad = [0x0000, 0x0002, 0x0005, 0x0009, 0xFFFC, 0xFFFB]
    findings = check_list(PUMP, "attribute", bad, context(PUMP, FLOW, attributes=bad))
    assert findings.missing == [
        "0x0001 FlowRate (FLOW)",
        "0x0003 Alarms (M)",
        "0x0006 LastReading (SetPoint)",
        "0xFFFD ClusterRevision (global, M)",
        "0xFFF9 AcceptedCommandList (global, M)",
        "0xFFF8 GeneratedCommandList (global, M)",
    ]
    assert findings.forbidden == ["0x0002 Pressure (PRES)"] and findings.unknown == [0x0009]
    # commands: the response is required once the optional request is accepted
    ctx = context(PUMP, FLOW, accepted=[0, 1])
    assert check_list(PUMP, "generated", [], ctx).missing == ["0x01 GetReadingsResponse (GetReadings)"]
    assert check_list(PUMP, "generated", [], context(PUMP, FLOW, accepted=[0])).ok
    assert check_list(PUMP, "accepted", [1], ctx).missing == ["0x00 Flush (M)"]
    assert check_list(PUMP, "event", [0, 1], context(PUMP, FLOW)).forbidden == ["0x01 LeakDetected (LEAK)"]


def test_value_expectations() -> None:
    ctx = context(PUMP, FLOW)
    mode = value_spec(PUMP, PUMP.attribute("Mode"), ctx)
    assert mode.enum == {0: "Off", 1: "Normal", 7: "Service"}  # Boost needs PRES
    assert check_value(mode, 2) and not check_value(mode, 7)
    assert value_spec(PUMP, PUMP.attribute("Mode"), context(PUMP, FLOW | PRES)).enum == {
        0: "Off",
        1: "Normal",
        2: "Boost",
        7: "Service",
    }
    alarms = value_spec(PUMP, PUMP.attribute("Alarms"), ctx)
    assert alarms.bitmap_mask == 0x1 and check_value(alarms, 0x8) and not check_value(alarms, 0x1)
    assert value_spec(PUMP, PUMP.attribute("Alarms"), context(PUMP, PRES | LEAK)).bitmap_mask == 0x9
    flow_rate = value_spec(PUMP, PUMP.attribute("FlowRate"), ctx)
    assert (flow_rate.low, flow_rate.high, flow_rate.nullable) == (0, 5000, True)
    assert check_value(flow_rate, 5001) == ["5001 is above the maximum 5000"] and check_value(flow_rate, None) == []
    pressure = value_spec(PUMP, PUMP.attribute("Pressure"), ctx)
    assert (pressure.low, pressure.high) == (-100, 1000) and check_value(pressure, None)
    label = value_spec(PUMP, PUMP.attribute("Label"), ctx)
    assert check_value(label, "x" * 17) == ["length 17 exceeds maxLength 16"]
    assert value_spec(PUMP, PUMP.attribute("LastReading"), ctx).kind == "struct"


def test_generated_writes_and_steps() -> None:
    ctx = context(PUMP, FLOW | PRES)
    assert [(c.value, c.expect) for c in write_cases(PUMP, PUMP.attribute("SetPoint"), ctx)] == [
        (10, "SUCCESS"),
        (90, "SUCCESS"),
        (9, "CONSTRAINT_ERROR"),
        (91, "CONSTRAINT_ERROR"),
    ]
    assert [(c.value, c.expect) for c in write_cases(PUMP, PUMP.attribute("Mode"), ctx)] == [
        (CURRENT, "SUCCESS"),
        (3, "CONSTRAINT_ERROR"),
    ]
    assert [(c.value, c.expect) for c in write_cases(PUMP, PUMP.attribute("Label"), ctx)] == [
        ("x" * 16, "SUCCESS"),
        ("x" * 17, "CONSTRAINT_ERROR"),
    ]
    assert [(c.value, c.expect) for c in write_cases(PUMP, PUMP.attribute("FlowRate"), ctx)] == [
        (CURRENT, "UNSUPPORTED_WRITE")
    ]
    steps = attribute_steps(PUMP, PUMP.attribute("SetPoint"), ctx)
    assert [s.number for s in steps] == ["1", "2", "3", "4", "5", "6", "7"]
    assert "write manage" in steps[2].description and "restore" in steps[-1].description
    flush = command_steps(PUMP.command("Flush"))
    assert "NEEDS_TIMED_INTERACTION" in flush[1].expectation and "0x00 Flush (M)" in flush[0].expectation
    assert [s.number for s in list_steps(PUMP, "attribute")] == ["1", "2", "3", "4", "5"]
    assert "ClusterRevision = 2" in list_steps(PUMP, "attribute")[0].expectation


def test_choice_groups_of_a_struct() -> None:
    reading = PUMP.data_types["ReadingStruct"]
    no_flow = context(PUMP, PRES)
    verdicts = {f.name: evaluate(f.conformance, no_flow) for f in reading.fields}
    assert verdicts["Flow"].choice == ("a", True) and verdicts["Pressure"].choice == ("a", True)
    assert choice_problems(verdicts, ["Timestamp"]) == ["choice a: one of Flow, Pressure must be present, none is"]
    assert choice_problems(verdicts, ["Timestamp", "Flow", "Pressure"]) == []  # "+": more than one allowed
    with_flow = {f.name: evaluate(f.conformance, context(PUMP, FLOW)) for f in reading.fields}
    declared = {f.name: f.conformance for f in reading.fields}
    assert with_flow["Flow"].required and choice_problems(with_flow, ["Timestamp", "Flow"], declared) == []
    assert choice_problems(with_flow, ["Timestamp"], declared) == ["choice a: one of Pressure must be present, none is"]
