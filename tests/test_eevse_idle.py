"""Evse.return_to_idle between cases: a full reset unless the rig knows the DUT is idle (fake node, no Matter)."""

from __future__ import annotations

from typing import Any

from rig.matter.eevse import EVSE, Evse, FaultState, State, SupplyState
from rig.matter.triggers import Trigger


class FakeNode:
    """Answers reads from ``values``; records invokes and multi-attribute reads."""

    endpoint = 1

    def __init__(self, state: int = State.kNotPluggedIn, supply: int = SupplyState.kDisabled) -> None:
        self.values: dict[Any, Any] = {
            EVSE.Attributes.State: state,
            EVSE.Attributes.SupplyState: supply,
            EVSE.Attributes.FaultState: FaultState.kNoError,
        }
        self.invoked: list[str] = []
        self.read_many_calls = 0

    async def read(self, attribute: Any, *, endpoint: int | None = None) -> Any:
        return True  # TestEventTriggersEnabled

    async def read_many(self, attributes: list[Any], *, endpoint: int | None = None) -> dict[Any, Any]:
        self.read_many_calls += 1
        return {a: self.values.get(a) for a in attributes}

    async def invoke(self, command: Any, *, endpoint: int | None = None, timed: bool | None = None) -> None:
        self.invoked.append(type(command).__name__)


def evse(node: FakeNode) -> Evse:
    return Evse(node, bytes(16))  # type: ignore[arg-type]


async def test_first_case_of_a_session_gets_the_full_reset() -> None:
    node = FakeNode()
    assert await evse(node).return_to_idle() == []
    assert node.invoked.count("TestEventTrigger") == 6 and node.invoked[-1] == "Disable"
    assert node.read_many_calls == 0, "nothing is known yet: no shortcut"


async def test_known_idle_dut_is_only_read() -> None:
    node = FakeNode()
    await evse(node).return_to_idle()
    node.invoked.clear()
    assert await evse(node).return_to_idle() == []
    assert node.invoked == [] and node.read_many_calls == 1


async def test_a_trigger_sent_since_the_reset_forces_the_next_one() -> None:
    node = FakeNode()
    await evse(node).return_to_idle()
    await evse(node).trigger(Trigger.BASIC)  # an installation: visible in no attribute
    node.invoked.clear()
    await evse(node).return_to_idle()
    assert node.invoked.count("TestEventTrigger") == 6 and node.read_many_calls == 0
    node.invoked.clear()
    await evse(node).return_to_idle()
    assert node.invoked == [], "the reset cleared the bookkeeping"


async def test_a_dut_left_charging_gets_the_full_reset() -> None:
    node = FakeNode()
    await evse(node).return_to_idle()
    node.values[EVSE.Attributes.SupplyState] = SupplyState.kChargingEnabled  # an EnableCharging of the last case
    node.invoked.clear()
    await evse(node).return_to_idle()
    assert node.invoked[-1] == "Disable" and node.read_many_calls == 1
