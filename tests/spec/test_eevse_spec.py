"""The parser and conformance rules on the real spec: spec/EnergyEVSE.xml (Energy EVSE, revision 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rig.spec import (
    CURRENT,
    ENERGY_EVSE_XML,
    Context,
    SpecError,
    check_list,
    context,
    energy_evse,
    evaluate,
    feature_problems,
    parse_cluster,
)
from rig.spec.checks import GLOBAL_ATTRIBUTES, attribute_steps, check_value, timed_commands, value_spec, write_cases
from rig.spec.model import Conformance, Expr

EEVSE = energy_evse()
ALL = 0x1F  # PREF SOC PNC RFID V2X


def test_cluster_header_and_features() -> None:
    assert (EEVSE.id, EEVSE.revision, EEVSE.pics_code) == (0x0099, 3, "EEVSE")
    assert [(f.bit, f.code) for f in EEVSE.features] == [(0, "PREF"), (1, "SOC"), (2, "PNC"), (3, "RFID"), (4, "V2X")]
    assert str(EEVSE.features[0].conformance) == "M"
    assert str(EEVSE.features[1].conformance) == "P, O"  # otherwiseConform(provisional, optional)
    assert evaluate(EEVSE.features[1].conformance, Context()).kind == "provisional"


def test_energy_evse_is_the_repository_spec_parsed_once() -> None:
    assert Path(__file__).resolve().parents[2] / "spec" / "EnergyEVSE.xml" == ENERGY_EVSE_XML
    assert energy_evse() is EEVSE
    assert parse_cluster(ENERGY_EVSE_XML) == EEVSE


@pytest.mark.parametrize(
    ("kind", "name", "pics"),
    [
        ("feature", "PREF", ("M", "")),
        ("feature", "SOC", ("O", "")),  # otherwiseConform(provisional, optional): P is passed over
        ("feature", "RFID", ("O", "")),
        ("attribute", "State", ("M", "")),
        ("attribute", "DischargingEnabledUntil", ("M", "V2X")),
        ("attribute", "UserMaximumChargeCurrent", ("O", "")),
        ("attribute", "ApproximateEVEfficiency", ("O", "PREF")),
        ("command", "GetTargetsResponse", ("M", "PREF")),
        ("event", "RFID", ("O", "RFID")),
    ],
)
def test_conformance_as_pics_status_and_condition(kind: str, name: str, pics: tuple[str, str]) -> None:
    if kind == "feature":
        conformance = next(f.conformance for f in EEVSE.features if f.code == name)
    else:
        conformance = getattr(EEVSE, kind)(name).conformance
    assert conformance.pics == pics


def test_conformance_pics_of_rules_the_spec_does_not_use_here() -> None:
    only_provisional = Conformance("otherwise", otherwise=(Conformance("provisional"),))
    assert only_provisional.pics == ("P", "")
    both = Conformance("optional", Expr("and", terms=(Expr("feature", "PREF"), Expr("feature", "SOC"))))
    assert both.pics == ("O", "(PREF & SOC)")
    assert Conformance("deprecated").pics == ("D", "")


def test_data_types() -> None:
    state = EEVSE.data_types["StateEnum"]
    assert state.kind == "enum" and [i.value for i in state.items] == [0, 1, 2, 3, 4, 5, 6]
    fault = EEVSE.data_types["FaultStateEnum"]
    assert fault.items[-1].value == 255 and fault.items[-1].name == "Other"
    days = EEVSE.data_types["TargetDayOfWeekBitmap"]
    assert days.kind == "bitmap" and [b.value for b in days.items] == list(range(7))
    target = EEVSE.data_types["ChargingTargetStruct"]
    assert [f.name for f in target.fields] == ["TargetTimeMinutesPastMidnight", "TargetSoC", "AddedEnergy"]
    assert target.fields[0].constraints[0].type == "max" and target.fields[0].constraints[0].value == 1439
    assert str(target.fields[1].conformance) == "SOC, O.a+"
    sched = EEVSE.data_types["ChargingTargetScheduleStruct"].fields[1]
    assert (sched.type, sched.entry_type, sched.constraints[0].type, sched.constraints[0].value) == (
        "list",
        "ChargingTargetStruct",
        "maxCount",
        10,
    )
    assert EEVSE.data_types["ChargingTargets Field"].kind == "number"


def test_attributes_access_quality_defaults_constraints() -> None:
    assert len(EEVSE.attributes) == 23
    state = EEVSE.attribute("State")
    assert state.quality.nullable and state.access.read and not state.writable and state.access.read_privilege == "view"
    assert not EEVSE.attribute("SupplyState").quality.nullable  # no quality element: spec defaults
    user_max = EEVSE.attribute(0x0009)
    assert user_max.writable and user_max.access.write_privilege == "manage"
    assert user_max.quality.persistence == "nonVolatile" and user_max.constraints[0].type == "desc"
    window = EEVSE.attribute("RandomizationDelayWindow")
    assert (window.default, window.constraints[0].type, window.constraints[0].value) == (600, "max", 86400)
    assert EEVSE.attribute("NextChargeStartTime").default == "null"
    assert EEVSE.attribute("VehicleID").constraints[0].value == 32
    assert [a.name for a in EEVSE.attributes if a.quality.quieter_reporting] == [
        "SessionDuration",
        "SessionEnergyCharged",
        "SessionEnergyDischarged",
    ]


def test_commands_and_events() -> None:
    assert [c.name for c in timed_commands(EEVSE)] == [
        "Disable",
        "EnableCharging",
        "EnableDischarging",
        "StartDiagnostics",
        "SetTargets",
        "GetTargets",
        "ClearTargets",
    ]
    assert all(c.access.invoke_privilege == "operate" for c in timed_commands(EEVSE))
    get = EEVSE.command("GetTargets")
    assert get.response == "GetTargetsResponse" and get.direction == "commandToServer"
    rsp = EEVSE.command("GetTargetsResponse")
    assert rsp.direction == "responseFromServer" and rsp.fields[0].constraints[0].value == 7
    enable = EEVSE.command(0x02)
    assert [f.name for f in enable.fields] == ["ChargingEnabledUntil", "MinimumChargeCurrent", "MaximumChargeCurrent"]
    assert enable.fields[0].quality.nullable and enable.fields[0].default == "null"
    assert EEVSE.event("Fault").priority == "critical" and EEVSE.event("Fault").fields[0].quality.nullable
    assert str(EEVSE.event("RFID").conformance) == "[RFID]"
    assert EEVSE.event("EnergyTransferStopped").fields[-1].name == "EnergyDischarged"


def _required(feature_map: int, kind: str = "attribute") -> set[str]:
    ctx = context(EEVSE, feature_map)
    return {n for n, v in check_list(EEVSE, kind, [], ctx).verdicts.items() if v.required}  # type: ignore[arg-type]


def test_conformance_per_feature_map() -> None:
    base = {
        "State",
        "SupplyState",
        "FaultState",
        "ChargingEnabledUntil",
        "CircuitCapacity",
        "MinimumChargeCurrent",
        "MaximumChargeCurrent",
        "SessionID",
        "SessionDuration",
        "SessionEnergyCharged",
    }
    pref = {"NextChargeStartTime", "NextChargeTargetTime", "NextChargeRequiredEnergy", "NextChargeTargetSoC"}
    assert _required(0x01) == base | pref
    assert _required(0x01 | 0x02) == base | pref | {"StateOfCharge", "BatteryCapacity"}
    assert _required(0x01 | 0x10) == base | pref | {
        "DischargingEnabledUntil",
        "MaximumDischargeCurrent",
        "SessionEnergyDischarged",
    }
    assert _required(0x01, "accepted") == {"Disable", "EnableCharging", "SetTargets", "GetTargets", "ClearTargets"}
    ctx = context(EEVSE, 0x01)
    verdicts = check_list(EEVSE, "attribute", [], ctx).verdicts
    assert verdicts["ApproximateEVEfficiency"].kind == "optional"  # [PREF]
    assert verdicts["VehicleID"].kind == "disallowed"
    assert evaluate(EEVSE.event("RFID").conformance, ctx).kind == "disallowed"
    assert evaluate(EEVSE.event("RFID").conformance, context(EEVSE, 0x09)).kind == "optional"
    assert evaluate(EEVSE.attribute("ApproximateEVEfficiency").conformance, context(EEVSE, 0)).kind == "disallowed"


def test_feature_map_rules() -> None:
    assert feature_problems(EEVSE, ALL) == []
    assert feature_problems(EEVSE, 0x1E) == ["feature PREF (bit 0, M) is mandatory but not in FeatureMap"]
    assert feature_problems(EEVSE, 0x21) == ["FeatureMap bit 5 is not defined by the spec"]


def test_list_findings_for_a_dut() -> None:
    attrs = [a.id for a in EEVSE.attributes if a.id not in (0x0004, 0x0008, 0x0043)] + list(GLOBAL_ATTRIBUTES)
    no_v2x = context(EEVSE, 0x0F, attributes=attrs)
    assert check_list(EEVSE, "attribute", attrs, no_v2x).ok
    with_v2x = context(EEVSE, ALL, attributes=attrs)
    findings = check_list(EEVSE, "attribute", attrs, with_v2x)
    assert findings.missing == [
        "0x0004 DischargingEnabledUntil (V2X)",
        "0x0008 MaximumDischargeCurrent (V2X)",
        "0x0043 SessionEnergyDischarged (V2X)",
    ]
    extra = context(EEVSE, 0x01, attributes=attrs)
    findings = check_list(EEVSE, "attribute", [*attrs, 0x0044, 0xFFF1_0001], extra)
    assert "0x0032 VehicleID (PNC)" in findings.forbidden and findings.unknown == [0x0044]
    accepted = context(EEVSE, 0x01, accepted=[1, 2, 3, 5, 6, 7])
    assert check_list(EEVSE, "accepted", [1, 2, 3, 5, 6, 7], accepted).forbidden == ["0x03 EnableDischarging (V2X)"]


def test_value_rules() -> None:
    ctx = context(EEVSE, 0x0F)  # no V2X
    supply = value_spec(EEVSE, EEVSE.attribute("SupplyState"), ctx)
    assert supply.enum == {0: "Disabled", 1: "ChargingEnabled", 3: "DisabledError", 4: "DisabledDiagnostics"}
    assert check_value(supply, 5) and not check_value(supply, 4)
    assert check_value(supply, None) == ["null, but the attribute is not nullable"]
    assert set(value_spec(EEVSE, EEVSE.attribute("SupplyState"), context(EEVSE, ALL)).enum or {}) == {0, 1, 2, 3, 4, 5}
    soc = value_spec(EEVSE, EEVSE.attribute("StateOfCharge"), ctx)
    assert (soc.low, soc.high, soc.nullable) == (0, 100, True) and check_value(soc, 101) and not check_value(soc, None)
    session = value_spec(EEVSE, EEVSE.attribute("SessionID"), ctx)
    assert session.high == 0xFFFF_FFFE  # nullable uint32: the top value encodes null
    assert check_value(value_spec(EEVSE, EEVSE.attribute("CircuitCapacity"), ctx), -1) == ["-1 is below the minimum 0"]
    vid = value_spec(EEVSE, EEVSE.attribute("VehicleID"), ctx)
    assert check_value(vid, "x" * 33) == ["length 33 exceeds maxLength 32"] and not check_value(vid, "x" * 32)
    assert check_value(vid, 5) == ["expected a string, got 5"]


def test_write_cases() -> None:
    ctx = context(EEVSE, ALL)
    window = write_cases(EEVSE, EEVSE.attribute("RandomizationDelayWindow"), ctx)
    assert [(c.value, c.expect) for c in window] == [(0, "SUCCESS"), (86400, "SUCCESS"), (86401, "CONSTRAINT_ERROR")]
    user_max = write_cases(EEVSE, EEVSE.attribute("UserMaximumChargeCurrent"), ctx)  # desc: write the value back
    assert [(c.value, c.expect) for c in user_max] == [(CURRENT, "SUCCESS")]
    state = write_cases(EEVSE, EEVSE.attribute("State"), ctx)
    assert [(c.value, c.expect) for c in state] == [(CURRENT, "UNSUPPORTED_WRITE")]
    steps = attribute_steps(EEVSE, EEVSE.attribute("RandomizationDelayWindow"), ctx)
    assert [s.number for s in steps] == ["1", "2", "3", "4", "5", "6"]
    assert "within 0..86400" in steps[1].expectation and "CONSTRAINT_ERROR" in steps[4].expectation
    assert "restore" in steps[5].description


def test_malformed_documents() -> None:
    with pytest.raises(SpecError, match="expected <cluster>"):
        parse_cluster("<clusters/>")
    with pytest.raises(SpecError, match="not a number"):
        parse_cluster(
            '<cluster id="0x99" revision="1"><attributes><attribute id="zz" name="A" type="uint8"/>'
            "</attributes></cluster>"
        )
    with pytest.raises(SpecError, match="notTerm"):
        parse_cluster(
            '<cluster id="1" revision="1"><attributes><attribute id="0" name="A" type="uint8">'
            "<mandatoryConform><notTerm/></mandatoryConform></attribute></attributes></cluster>"
        )
