"""The constraints data file and the probes made from it (rig.spec.probes), and the state matrix (rig.spec.matrix)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from rig.spec import Context, energy_evse
from rig.spec.matrix import MATRIX_FILE, load_matrix, parse_matrix
from rig.spec.probes import CONSTRAINTS_FILE, ConstraintsError, load_constraints, parse_constraints, probes_for

EEVSE = energy_evse()
RAW = yaml.safe_load(CONSTRAINTS_FILE.read_text())
ACTIONS = ["install", "uninstall", "plug_in", "unplug", "demand", "demand_clear", "ground_fault", "fault_clear",
           "diagnostics_complete"]  # fmt: skip
ALL = Context.of(["PREF", "SOC", "PNC", "RFID", "V2X"])


def _probes(ctx: Context = ALL) -> dict[str, list[Any]]:
    return probes_for(EEVSE, load_constraints(EEVSE), ctx)


def _find(probes: list[Any], what: str) -> Any:
    return next(p for p in probes if p.what == what)


def test_the_repository_data_file_loads_and_every_entry_has_a_source() -> None:
    data = load_constraints(EEVSE)
    assert data.bounds and data.counts and data.rules
    assert all(e.source.strip() for e in (*data.bounds, *data.counts, *data.rules))


def test_every_field_is_probed_at_its_edges_with_negatives_where_the_type_is_signed() -> None:
    enable = _probes()["EnableCharging"]
    assert _find(enable, "MinimumChargeCurrent = -1 (min - 1)").expect == ("CONSTRAINT_ERROR",)
    most_negative = _find(enable, f"MinimumChargeCurrent = {-(1 << 63)} (the most negative value of the type)")
    assert most_negative.expect == ("CONSTRAINT_ERROR",)
    assert _find(enable, "MinimumChargeCurrent = 0 (min)").payload == {
        "ChargingEnabledUntil": None,
        "MinimumChargeCurrent": 0,
        "MaximumChargeCurrent": 32000,
    }
    # MaximumChargeCurrent = 0 only makes sense with MinimumChargeCurrent 0 (the entry's `with`)
    assert _find(enable, "MaximumChargeCurrent = 0 (min)").payload["MinimumChargeCurrent"] == 0
    # nullable: null accepted; the null encoding is no valid value
    assert _find(enable, "ChargingEnabledUntil = null").expect == ("SUCCESS",)
    assert _find(enable, "ChargingEnabledUntil = 4294967295 (max + 1)").expect == ("CONSTRAINT_ERROR",)
    assert _find(enable, "MinimumChargeCurrent above MaximumChargeCurrent").expect == ("CONSTRAINT_ERROR",)


def test_nested_fields_and_list_lengths() -> None:
    targets = _probes()["SetTargets"]
    minutes = "ChargingTargetSchedules[].ChargingTargets[].TargetTimeMinutesPastMidnight"
    over = _find(targets, f"{minutes} = 1440 (max + 1)")
    assert over.payload["ChargingTargetSchedules"][0]["ChargingTargets"][0]["TargetTimeMinutesPastMidnight"] == 1440
    assert not any(p.what.startswith(f"{minutes} = -1") for p in targets)  # a uint16 cannot be sent negative
    eleven = _find(targets, "ChargingTargetSchedules[].ChargingTargets with 11 entries (maxCount + 1)")
    entries = eleven.payload["ChargingTargetSchedules"][0]["ChargingTargets"]
    assert eleven.expect == ("RESOURCE_EXHAUSTED",) and len(entries) == 11
    assert len({e["TargetTimeMinutesPastMidnight"] for e in entries}) == 11  # distinct entries, from `values`
    seven = _find(targets, "ChargingTargetSchedules with 7 entries (maxCount)")
    days = [s["DayOfWeekForSequence"] for s in seven.payload["ChargingTargetSchedules"]]
    assert seven.expect == ("SUCCESS",) and days == [1, 2, 4, 8, 16, 32, 64]


def test_feature_dependent_entries() -> None:
    soc = "ChargingTargetSchedules[].ChargingTargets[].TargetSoC"
    with_soc, without = _probes()["SetTargets"], _probes(Context.of(["PREF"]))["SetTargets"]
    assert _find(with_soc, f"{soc} = 0 (min)").expect == ("SUCCESS",)
    assert _find(without, f"{soc} = 99 (min - 1)").expect == ("CONSTRAINT_ERROR",)
    assert _find(with_soc, "TargetSoC absent with the SOC feature").expect == ("INVALID_COMMAND", "FAILURE")
    assert "TargetSoC absent with the SOC feature" not in {p.what for p in without}
    assert _find(without, "neither TargetSoC nor AddedEnergy").payload["ChargingTargetSchedules"][0][
        "ChargingTargets"
    ] == [{"TargetTimeMinutesPastMidnight": 480}]


def test_writable_attributes_including_desc_bounds() -> None:
    probes = _probes()
    assert set(probes) >= {"UserMaximumChargeCurrent", "RandomizationDelayWindow", "ApproximateEVEfficiency"}
    assert _find(probes["UserMaximumChargeCurrent"], "UserMaximumChargeCurrent = -1 (min - 1)").payload == -1
    assert _find(probes["ApproximateEVEfficiency"], "ApproximateEVEfficiency = 65535 (max + 1)").expect == (
        "CONSTRAINT_ERROR",
    )
    assert not any(t in probes for t in ("State", "SupplyState", "CircuitCapacity"))  # read-only: not probed


def _bad(change: Any) -> str:
    raw = copy.deepcopy(RAW)
    change(raw)
    with pytest.raises(ConstraintsError) as err:
        parse_constraints(EEVSE, raw, origin="constraints.yaml")
    return str(err.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r["bounds"][0].update(path="EnableCharging.Foo"), "bounds[0] (EnableCharging.Foo): no field 'Foo'"),
        (lambda r: r["bounds"][0].pop("source"), "bounds[0] (EnableCharging.MinimumChargeCurrent): every entry needs"),
        (lambda r: r["bounds"][1].update(below="OOPS"), "(EnableCharging.MaximumChargeCurrent) below: unknown"),
        (lambda r: r["bounds"][0].update(min=5, max=1), "min 5 is above max 1"),
        (lambda r: r["bounds"][0].update(path="State"), "bounds[0] (State): State is read-only"),
        (lambda r: r["bounds"][0].update(when="XYZ"), "`when` must be a feature code"),
        (lambda r: r["bounds"][0].update(colour="red"), "bounds[0]: unknown key(s) colour"),
        (lambda r: r["counts"][1].update(values=[0, 1]), "`values` has 2 entries; max + 1 = 11 are needed"),
        (lambda r: r["counts"][0].update(vary="Nope"), "`vary` must name a field of the list's entries"),
        (lambda r: r["rules"][0].update(expect="MAYBE"), "rules[0] (MinimumChargeCurrent equal to Maximum"),
        (lambda r: r["rules"][0].update(command="Reboot"), "the cluster has no command 'Reboot'"),
        (lambda r: r["base"]["EnableCharging"].update(Speed=1), "base.EnableCharging: the command EnableCharging has"),
        (lambda r: r.update(version=2), "version must be 1"),
    ],
)
def test_a_bad_entry_is_refused_naming_it(change: Any, message: str) -> None:
    assert message in _bad(change)


def test_a_list_the_xml_bounds_needs_a_count_entry() -> None:
    raw = copy.deepcopy(RAW)
    raw["counts"] = raw["counts"][:1]
    data = parse_constraints(EEVSE, raw, origin="constraints.yaml")
    with pytest.raises(ConstraintsError, match=r"SetTargets.ChargingTargetSchedules\[\].ChargingTargets: the XML"):
        probes_for(EEVSE, data, ALL)


def test_an_unreadable_file_names_it(tmp_path: Any) -> None:
    bad = tmp_path / "constraints.yaml"
    bad.write_text("bounds: [\n")
    with pytest.raises(ConstraintsError, match="cannot read the constraints data file"):
        load_constraints(EEVSE, bad)


# -- the state matrix -------------------------------------------------------------------------------------------------
def test_the_matrix_covers_every_command_in_every_state() -> None:
    matrix = load_matrix(EEVSE, ACTIONS)
    commands = {c.name for c in EEVSE.commands if c.direction == "commandToServer"}
    assert set(matrix.states) == {"Disabled", "Enabled", "Charging", "Fault", "Diagnostics", "Discharging"}
    for state, cells in matrix.cells.items():
        assert {c.command for c in cells} == commands, state
    fault = {c.command: c for c in matrix.cells["Fault"]}
    assert fault["EnableCharging"].expect == "FAILURE"
    faulted = {"State": "Fault", "SupplyState": "DisabledError", "FaultState": "GroundFault"}
    assert fault["EnableCharging"].then == faulted
    assert matrix.enum_value(EEVSE, "SupplyState", "DisabledDiagnostics") == 4


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r["cells"]["Fault"]["Disable"].pop("source"), "cells.Fault.Disable: every cell needs its `source`"),
        (lambda r: r["cells"]["Fault"]["Disable"].update(expect="NOPE"), "cells.Fault.Disable: unknown status"),
        (lambda r: r["cells"]["Charging"]["Disable"]["then"].update(State="Flying"), "State has no value 'Flying'"),
        (lambda r: r["states"]["Charging"].update(enter=["teleport"]), "states.Charging.enter: 'teleport' is neither"),
        (lambda r: r["cells"].update(Nowhere={}), "cells.Nowhere: no such state"),
        (lambda r: r["states"]["Fault"].update(requires=["XYZ"]), "neither a feature code nor a command"),
    ],
)
def test_a_bad_matrix_entry_is_refused_naming_it(change: Any, message: str) -> None:
    raw = yaml.safe_load(MATRIX_FILE.read_text())
    change(raw)
    with pytest.raises(ConstraintsError) as err:
        parse_matrix(EEVSE, raw, ACTIONS)
    assert message in str(err.value)
