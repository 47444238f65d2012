"""TC-EEVSE-2.1: Attributes with DUT as Server (test plan 265.1.2).

Reads every Energy EVSE attribute and checks its type, range and nullability against the cluster (revision 3);
writes the writable ones (UserMaximumChargeCurrent, RandomizationDelayWindow, ApproximateEVEfficiency) and
reads them back. Each step is gated on its attribute's PICS code, as in the test plan: the PICS file's, or without
one the PICS derived from the DUT (an attribute not in its AttributeList); a step whose PICS are not supported is
visibly skipped with the reason. SupplyState follows the spec, not the plan's 0..4 range: with V2X the values 2
(DischargingEnabled) and 5 (Enabled) are valid.
"""

from __future__ import annotations

import pytest

from rig.matter.eevse import Evse, is_null
from rig.steps import TestStep
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
    TestStep("6", READ.format("DischargingEnabledUntil"), "epoch-s, 0 to 4294967295, or null",
             pics="EEVSE.S.A0004"),
    TestStep("7", READ.format("CircuitCapacity"), "amperage_ma, min 0", pics="EEVSE.S.A0005"),
    TestStep("8", READ.format("MinimumChargeCurrent"), "amperage_ma, min 0", pics="EEVSE.S.A0006"),
    TestStep("9", READ.format("MaximumChargeCurrent"), "amperage_ma, min 0", pics="EEVSE.S.A0007"),
    TestStep("10", READ.format("MaximumDischargeCurrent"), "amperage_ma, min 0", pics="EEVSE.S.A0008"),
    TestStep("11", "TH writes to the DUT the UserMaximumChargeCurrent attribute value 30000",
             "Verify DUT responds w/ status SUCCESS(0x00)", pics="EEVSE.S.A0009"),
    TestStep("11a", READ.format("UserMaximumChargeCurrent"), "amperage_ma, value 30000", pics="EEVSE.S.A0009"),
    TestStep("12", "TH writes to the DUT the RandomizationDelayWindow attribute value 600",
             "Verify DUT responds w/ status SUCCESS(0x00)", pics="EEVSE.S.A000A"),
    TestStep("12a", READ.format("RandomizationDelayWindow"), "elapsed_s, value 600", pics="EEVSE.S.A000A"),
    TestStep("13", READ.format("NextChargeStartTime"), "epoch-s, 0 to 4294967295, or null", pics="EEVSE.S.A0023"),
    TestStep("14", READ.format("NextChargeTargetTime"), "epoch-s, 0 to 4294967295, or null", pics="EEVSE.S.A0024"),
    TestStep("15", READ.format("NextChargeRequiredEnergy"), "energy-mWh, min 0, or null", pics="EEVSE.S.A0025"),
    TestStep("16", READ.format("NextChargeTargetSoC"), "percent, 0 to 100, or null", pics="EEVSE.S.A0026"),
    TestStep("17", "TH writes to the DUT the ApproximateEVEfficiency attribute value 3500",
             "Verify DUT responds w/ status SUCCESS(0x00)", pics="EEVSE.S.A0027"),
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


async def test_tc_eevse_2_1(steps, evse: Evse) -> None:
    steps.step("1")  # commissioned by the session fixture; each step is gated on its PICS (file or the DUT's)
    feature_map = await evse.feature_map()  # the SupplyState values allowed depend on the DUT's V2X feature
    steps.note(f"FeatureMap = 0x{feature_map:X}")

    steps.step("2")
    await check_attr_one_of(steps, evse, "State", range(0, 7), nullable=True)
    steps.step("3")
    if steps.pics_guard():
        supply_states = [0, 1, 3, 4] + ([2, 5] if has_feature(feature_map, "V2X") else [])
        await check_attr_one_of(steps, evse, "SupplyState", supply_states)
    steps.step("4")
    if steps.pics_guard():
        await check_attr_one_of(steps, evse, "FaultState", [*range(0, 16), 255])
    steps.step("5")
    if steps.pics_guard():
        await check_attr_range(steps, evse, "ChargingEnabledUntil", low=0, high=EPOCH_S_MAX, nullable=True, unit="s")
    steps.step("6")
    if steps.pics_guard():
        await check_attr_range(steps, evse, "DischargingEnabledUntil", low=0, high=EPOCH_S_MAX, nullable=True,
                               unit="s")
    steps.step("7")
    if steps.pics_guard():
        await check_attr_range(steps, evse, "CircuitCapacity", low=0, unit="mA")
    steps.step("8")
    if steps.pics_guard():
        await check_attr_range(steps, evse, "MinimumChargeCurrent", low=0, unit="mA")
    steps.step("9")
    if steps.pics_guard():
        await check_attr_range(steps, evse, "MaximumChargeCurrent", low=0, unit="mA")
    steps.step("10")
    if steps.pics_guard():
        await check_attr_range(steps, evse, "MaximumDischargeCurrent", low=0, unit="mA")

    steps.step("11")
    if steps.pics_guard():
        await write_and_check(steps, evse, "UserMaximumChargeCurrent", USER_MAXIMUM_CHARGE_CURRENT_MA)
    steps.step("11a")
    if steps.pics_guard():
        await check_attr(steps, evse, "UserMaximumChargeCurrent", USER_MAXIMUM_CHARGE_CURRENT_MA)
    steps.step("12")
    if steps.pics_guard():
        await write_and_check(steps, evse, "RandomizationDelayWindow", RANDOMIZATION_DELAY_WINDOW_S)
    steps.step("12a")
    if steps.pics_guard():
        await check_attr(steps, evse, "RandomizationDelayWindow", RANDOMIZATION_DELAY_WINDOW_S)

    steps.step("13")
    if steps.pics_guard():
        await check_attr_range(steps, evse, "NextChargeStartTime", low=0, high=EPOCH_S_MAX, nullable=True, unit="s")
    steps.step("14")
    if steps.pics_guard():
        await check_attr_range(steps, evse, "NextChargeTargetTime", low=0, high=EPOCH_S_MAX, nullable=True, unit="s")
    steps.step("15")
    if steps.pics_guard():
        await check_attr_range(steps, evse, "NextChargeRequiredEnergy", low=0, nullable=True, unit="mWh")
    steps.step("16")
    if steps.pics_guard():
        await check_attr_range(steps, evse, "NextChargeTargetSoC", low=0, high=100, nullable=True, unit="%")

    steps.step("17")
    if steps.pics_guard():
        await write_and_check(steps, evse, "ApproximateEVEfficiency", APPROXIMATE_EV_EFFICIENCY)
    steps.step("17a")
    if steps.pics_guard():
        await check_attr(steps, evse, "ApproximateEVEfficiency", APPROXIMATE_EV_EFFICIENCY)

    steps.step("18")
    if steps.pics_guard():
        await check_attr_range(steps, evse, "StateOfCharge", low=0, high=100, nullable=True, unit="%")
    steps.step("19")
    if steps.pics_guard():
        await check_attr_range(steps, evse, "BatteryCapacity", low=0, nullable=True, unit="mWh")
    steps.step("20")
    if steps.pics_guard():
        vehicle_id = await evse.read("VehicleID")
        if is_null(vehicle_id):
            steps.note("VehicleID = null")
        else:
            if not isinstance(vehicle_id, str):
                raise AssertionError(f"VehicleID: expected a char_string, read {vehicle_id!r}")
            steps.note(f"VehicleID = {vehicle_id!r}")
            steps.measure("VehicleID length", len(vehicle_id), "chars", low=0, high=VEHICLE_ID_MAX_LENGTH)

    steps.step("21")
    if steps.pics_guard():
        await check_attr_range(steps, evse, "SessionID", low=0, high=INT32_MAX, nullable=True)
    steps.step("22")
    if steps.pics_guard():
        await check_attr_range(steps, evse, "SessionDuration", low=0, high=INT32_MAX, nullable=True, unit="s")
    steps.step("23")
    if steps.pics_guard():
        await check_attr_range(steps, evse, "SessionEnergyCharged", low=0, nullable=True, unit="mWh")
    steps.step("24")
    if steps.pics_guard():
        await check_attr_range(steps, evse, "SessionEnergyDischarged", low=0, nullable=True, unit="mWh")
