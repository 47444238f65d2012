"""TC-EEVSE-2.1: Attributes with DUT as Server (test plan 265.1.2).

Reads every Energy EVSE attribute and checks its type, range and nullability against the cluster (revision 3);
writes the writable ones (UserMaximumChargeCurrent, RandomizationDelayWindow, ApproximateEVEfficiency) and
reads them back; the values found are written back at the end, whatever the verdict (the DUT is left with its user's
settings, and a later case does not start from the plan's test values). Each step is gated on its attribute's PICS
code, as in the test plan: the PICS file's, or without one the PICS derived from the DUT (an attribute not in its
AttributeList); a step whose PICS are not supported is visibly skipped with the reason. SupplyState follows the
spec, not the plan's 0..4 range: with V2X the values 2 (DischargingEnabled) and 5 (Enabled) are valid.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from rig.matter.eevse import Evse, is_null
from rig.steps import StepRunner, TestStep
from suites.tc_eevse.support import (
    check_attr,
    check_attr_one_of,
    check_attr_range,
    has_feature,
    write_and_check,
)

pytestmark = [pytest.mark.tc("TC-EEVSE-2.1", "Attributes with DUT as Server"), pytest.mark.pics("EEVSE.S")]

READ = "TH reads from the DUT the {} attribute"

STEPS = [
    TestStep("1", "Wait for the commissioned device to be retrieved", is_commissioning=True),
    TestStep("2", READ.format("State"), "enum8, 0 to 6, or null"),
    TestStep("3", READ.format("SupplyState"), "enum8, 0 to 4; 2 and 5 with V2X", pics="EEVSE.S.A0001"),
    TestStep("4", READ.format("FaultState"), "enum8, one of 0 to 15 or 255", pics="EEVSE.S.A0002"),
    TestStep("5", READ.format("ChargingEnabledUntil"), "epoch-s, 0 to 4294967295, or null", pics="EEVSE.S.A0003"),
    TestStep("6", READ.format("DischargingEnabledUntil"), "epoch-s, 0 to 4294967295, or null", pics="EEVSE.S.A0004"),
    TestStep("7", READ.format("CircuitCapacity"), "amperage_ma, min 0", pics="EEVSE.S.A0005"),
    TestStep("8", READ.format("MinimumChargeCurrent"), "amperage_ma, min 0", pics="EEVSE.S.A0006"),
    TestStep("9", READ.format("MaximumChargeCurrent"), "amperage_ma, min 0", pics="EEVSE.S.A0007"),
    TestStep("10", READ.format("MaximumDischargeCurrent"), "amperage_ma, min 0", pics="EEVSE.S.A0008"),
    TestStep(
        "11",
        "TH writes to the DUT the UserMaximumChargeCurrent attribute value 30000",
        "Verify DUT responds w/ status SUCCESS(0x00)",
        pics="EEVSE.S.A0009",
    ),
    TestStep("11a", READ.format("UserMaximumChargeCurrent"), "amperage_ma, value 30000", pics="EEVSE.S.A0009"),
    TestStep(
        "12",
        "TH writes to the DUT the RandomizationDelayWindow attribute value 600",
        "Verify DUT responds w/ status SUCCESS(0x00)",
        pics="EEVSE.S.A000A",
    ),
    TestStep("12a", READ.format("RandomizationDelayWindow"), "elapsed_s, value 600", pics="EEVSE.S.A000A"),
    TestStep("13", READ.format("NextChargeStartTime"), "epoch-s, 0 to 4294967295, or null", pics="EEVSE.S.A0023"),
    TestStep("14", READ.format("NextChargeTargetTime"), "epoch-s, 0 to 4294967295, or null", pics="EEVSE.S.A0024"),
    TestStep("15", READ.format("NextChargeRequiredEnergy"), "energy-mWh, min 0, or null", pics="EEVSE.S.A0025"),
    TestStep("16", READ.format("NextChargeTargetSoC"), "percent, 0 to 100, or null", pics="EEVSE.S.A0026"),
    TestStep(
        "17",
        "TH writes to the DUT the ApproximateEVEfficiency attribute value 3500",
        "Verify DUT responds w/ status SUCCESS(0x00)",
        pics="EEVSE.S.A0027",
    ),
    TestStep("17a", READ.format("ApproximateEVEfficiency"), "int16u, value 3500", pics="EEVSE.S.A0027"),
    TestStep("18", READ.format("StateOfCharge"), "percent, 0 to 100, or null", pics="EEVSE.S.A0030"),
    TestStep("19", READ.format("BatteryCapacity"), "energy-mWh, min 0, or null", pics="EEVSE.S.A0031"),
    TestStep("20", READ.format("VehicleID"), "char_string, max length 32, or null", pics="EEVSE.S.A0032"),
    TestStep("21", READ.format("SessionID"), "int32u, 0 to 2147483647, or null", pics="EEVSE.S.A0040"),
    TestStep("22", READ.format("SessionDuration"), "elapsed_s, 0 to 2147483647, or null", pics="EEVSE.S.A0041"),
    TestStep("23", READ.format("SessionEnergyCharged"), "energy-mWh, min 0, or null", pics="EEVSE.S.A0042"),
    TestStep("24", READ.format("SessionEnergyDischarged"), "energy-mWh, min 0, or null", pics="EEVSE.S.A0043"),
]

EPOCH_S_MAX = 4294967295
INT32_MAX = 2147483647
USER_MAXIMUM_CHARGE_CURRENT_MA = 30000
RANDOMIZATION_DELAY_WINDOW_S = 600
APPROXIMATE_EV_EFFICIENCY = 3500
VEHICLE_ID_MAX_LENGTH = 32

Check = Callable[[StepRunner, Evse, int], Awaitable[Any]]


def _range(name: str, **limits: Any) -> Check:
    return lambda steps, evse, _fm: check_attr_range(steps, evse, name, **limits)


def _written(name: str, value: int) -> Check:
    return lambda steps, evse, _fm: write_and_check(steps, evse, name, value)


def _read_back(name: str, value: int) -> Check:
    return lambda steps, evse, _fm: check_attr(steps, evse, name, value)


def _supply_state(steps: StepRunner, evse: Evse, feature_map: int) -> Awaitable[Any]:
    # 2 (DischargingEnabled) and 5 (Enabled) are valid only with V2X: the spec, not the plan's 0..4
    allowed = [0, 1, 3, 4] + ([2, 5] if has_feature(feature_map, "V2X") else [])
    return check_attr_one_of(steps, evse, "SupplyState", allowed)


async def _vehicle_id(steps: StepRunner, evse: Evse, _fm: int) -> None:
    vehicle_id = await evse.read("VehicleID")
    if is_null(vehicle_id):
        steps.note("VehicleID = null")
        return
    if not isinstance(vehicle_id, str):
        raise AssertionError(f"VehicleID: expected a char_string, read {vehicle_id!r}")
    steps.note(f"VehicleID = {vehicle_id!r}")
    steps.measure("VehicleID length", len(vehicle_id), "chars", low=0, high=VEHICLE_ID_MAX_LENGTH)


EPOCH = {"low": 0, "high": EPOCH_S_MAX, "nullable": True, "unit": "s"}
CHECKS: dict[str, Check] = {
    "2": lambda steps, evse, _fm: check_attr_one_of(steps, evse, "State", range(0, 7), nullable=True),
    "3": _supply_state,
    "4": lambda steps, evse, _fm: check_attr_one_of(steps, evse, "FaultState", [*range(0, 16), 255]),
    "5": _range("ChargingEnabledUntil", **EPOCH),
    "6": _range("DischargingEnabledUntil", **EPOCH),
    "7": _range("CircuitCapacity", low=0, unit="mA"),
    "8": _range("MinimumChargeCurrent", low=0, unit="mA"),
    "9": _range("MaximumChargeCurrent", low=0, unit="mA"),
    "10": _range("MaximumDischargeCurrent", low=0, unit="mA"),
    "11": _written("UserMaximumChargeCurrent", USER_MAXIMUM_CHARGE_CURRENT_MA),
    "11a": _read_back("UserMaximumChargeCurrent", USER_MAXIMUM_CHARGE_CURRENT_MA),
    "12": _written("RandomizationDelayWindow", RANDOMIZATION_DELAY_WINDOW_S),
    "12a": _read_back("RandomizationDelayWindow", RANDOMIZATION_DELAY_WINDOW_S),
    "13": _range("NextChargeStartTime", **EPOCH),
    "14": _range("NextChargeTargetTime", **EPOCH),
    "15": _range("NextChargeRequiredEnergy", low=0, nullable=True, unit="mWh"),
    "16": _range("NextChargeTargetSoC", low=0, high=100, nullable=True, unit="%"),
    "17": _written("ApproximateEVEfficiency", APPROXIMATE_EV_EFFICIENCY),
    "17a": _read_back("ApproximateEVEfficiency", APPROXIMATE_EV_EFFICIENCY),
    "18": _range("StateOfCharge", low=0, high=100, nullable=True, unit="%"),
    "19": _range("BatteryCapacity", low=0, nullable=True, unit="mWh"),
    "20": _vehicle_id,
    "21": _range("SessionID", low=0, high=INT32_MAX, nullable=True),
    "22": _range("SessionDuration", low=0, high=INT32_MAX, nullable=True, unit="s"),
    "23": _range("SessionEnergyCharged", low=0, nullable=True, unit="mWh"),
    "24": _range("SessionEnergyDischarged", low=0, nullable=True, unit="mWh"),
}
"""Step number -> its check; every step after 1 has one (tests/test_suites.py checks it)."""


WRITTEN = ("UserMaximumChargeCurrent", "RandomizationDelayWindow", "ApproximateEVEfficiency")
"""The attributes the case writes: noted before, written back after."""


async def _settings(evse: Evse) -> dict[str, Any]:
    """The values of the writable attributes the DUT has (its AttributeList), as found."""
    present = set(await evse.attribute_list())
    return {name: await evse.read(name) for name in WRITTEN if evse.attribute(name).attribute_id in present}


async def _give_back(evse: Evse, found: dict[str, Any]) -> None:
    """Write back each noted value the DUT no longer has."""
    for name, value in found.items():
        if await evse.read(name) != value:
            await evse.write(name, value)


async def test_tc_eevse_2_1(steps, evse: Evse) -> None:
    steps.step("1")  # commissioned by the session fixture
    feature_map = await evse.feature_map()  # the SupplyState values allowed depend on the DUT's V2X feature
    steps.note(f"FeatureMap = 0x{feature_map:X}")
    found = await _settings(evse)
    try:
        for declared in STEPS[1:]:
            steps.step(declared.number)
            # each step with a PICS code runs only when the PICS (the file's, or the DUT's without one) support it
            if declared.pics is None or steps.pics_guard():
                await CHECKS[declared.number](steps, evse, feature_map)
    except BaseException:
        with contextlib.suppress(Exception):  # the case's own failure is the verdict
            await _give_back(evse, found)
        raise
    await _give_back(evse, found)
