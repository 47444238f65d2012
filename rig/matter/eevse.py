"""The Energy EVSE cluster (0x0099) as the suites use it: attributes by name, commands, triggers, events.

Wraps a ``Node`` (controller.py); suites never touch ``chip`` directly.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Sequence
from typing import Any

from rig.errors import MatterStatusError
from rig.matter import triggers
from rig.matter.controller import Clusters, Node
from rig.matter.events import AttributeAccumulator, EventQueue
from rig.matter.triggers import Trigger

EVSE = Clusters.EnergyEvse
NullValue = Clusters.Types.NullValue
State = EVSE.Enums.StateEnum
SupplyState = EVSE.Enums.SupplyStateEnum
FaultState = EVSE.Enums.FaultStateEnum
StoppedReason = EVSE.Enums.EnergyTransferStoppedReasonEnum
ChargingTargetStruct = EVSE.Structs.ChargingTargetStruct
ChargingTargetScheduleStruct = EVSE.Structs.ChargingTargetScheduleStruct

MATTER_EPOCH_OFFSET_S = 946684800  # 2000-01-01T00:00:00Z in Unix seconds
ROOT_ENDPOINT = 0


_TRIGGERS_SINCE_RESET: weakref.WeakKeyDictionary[Node, set[int]] = weakref.WeakKeyDictionary()
"""Per node: the test event triggers sent since the last full return to idle. No entry: unknown (a full reset is
needed, e.g. at the first case of a session, whose DUT may keep an installation or time-of-use trigger active)."""


def matter_epoch_s(unix_s: float | None = None) -> int:
    """Seconds since the Matter epoch (2000-01-01 UTC) for a Unix time (default: now)."""
    return int((time.time() if unix_s is None else unix_s) - MATTER_EPOCH_OFFSET_S)


def is_null(value: Any) -> bool:
    """True for the Matter null value."""
    return value is None or isinstance(value, type(NullValue))


def enum_name(value: Any) -> str:
    """``3`` or ``StateEnum.kPluggedInCharging`` → ``PluggedInCharging (3)``."""
    name = getattr(value, "name", None)
    if name:
        return f"{name.removeprefix('k')} ({int(value)})"
    return repr(value)


class Evse:
    """An Energy EVSE endpoint under test.

    Args:
        node: the node handle (endpoint = the EVSE endpoint).
        enable_key: the test event trigger enable key (PIXIT).
        legacy_triggers: send triggers without the endpoint in bits 32-47.
        event_timeout_s: default bound on event waits.
    """

    cluster = EVSE

    def __init__(
        self, node: Node, enable_key: bytes, *, legacy_triggers: bool = False, event_timeout_s: float = 10.0
    ) -> None:
        self.node = node
        self.enable_key = enable_key
        self.legacy_triggers = legacy_triggers
        self.event_timeout_s = event_timeout_s
        self.sent_triggers: list[int] = []

    @property
    def endpoint(self) -> int:
        """The EVSE endpoint."""
        return self.node.endpoint

    # -- attributes --------------------------------------------------------------------------------
    @staticmethod
    def attribute(name: str) -> Any:
        """The attribute class for a name such as ``SupplyState``."""
        try:
            return getattr(EVSE.Attributes, name)
        except AttributeError:
            known = ", ".join(a for a in dir(EVSE.Attributes) if not a.startswith("_"))
            raise ValueError(f"Energy EVSE has no attribute {name!r}; known: {known}") from None

    async def read(self, name: str) -> Any:
        """Read an Energy EVSE attribute by name."""
        return await self.node.read(self.attribute(name))

    async def read_many(self, *names: str) -> dict[str, Any]:
        """Read several Energy EVSE attributes by name in one interaction; their values by name."""
        got = await self.node.read_many([self.attribute(n) for n in names])
        return {n: got[self.attribute(n)] for n in names}

    async def write(self, name: str, value: Any) -> None:
        """Write an Energy EVSE attribute by name (raises MatterStatusError unless SUCCESS)."""
        await self.node.write(self.attribute(name)(value))

    async def attribute_list(self) -> list[int]:
        """The cluster's AttributeList."""
        return list(await self.read("AttributeList"))

    async def feature_map(self) -> int:
        """The cluster's FeatureMap."""
        return int(await self.read("FeatureMap"))

    async def has_attribute(self, name: str) -> bool:
        """True if the attribute is in AttributeList."""
        return self.attribute(name).attribute_id in await self.attribute_list()

    # -- commands ----------------------------------------------------------------------------------
    async def enable_charging(
        self, until: int | None, minimum_ma: int, maximum_ma: int, *, timed: bool | None = None
    ) -> None:
        """EnableCharging; ``until`` in Matter-epoch seconds or None for null."""
        await self.node.invoke(
            EVSE.Commands.EnableCharging(
                chargingEnabledUntil=NullValue if until is None else until,
                minimumChargeCurrent=minimum_ma,
                maximumChargeCurrent=maximum_ma,
            ),
            timed=timed,
        )

    async def enable_discharging(self, until: int | None, maximum_ma: int, *, timed: bool | None = None) -> None:
        """EnableDischarging (V2X)."""
        await self.node.invoke(
            EVSE.Commands.EnableDischarging(
                dischargingEnabledUntil=NullValue if until is None else until, maximumDischargeCurrent=maximum_ma
            ),
            timed=timed,
        )

    async def disable(self, *, timed: bool | None = None) -> None:
        """Disable."""
        await self.node.invoke(EVSE.Commands.Disable(), timed=timed)

    async def start_diagnostics(self, *, timed: bool | None = None) -> None:
        """StartDiagnostics."""
        await self.node.invoke(EVSE.Commands.StartDiagnostics(), timed=timed)

    async def set_targets(self, schedules: Sequence[Any], *, timed: bool | None = None) -> None:
        """SetTargets with a list of ChargingTargetScheduleStruct."""
        await self.node.invoke(EVSE.Commands.SetTargets(chargingTargetSchedules=list(schedules)), timed=timed)

    async def get_targets(self, *, timed: bool | None = None) -> list[Any]:
        """GetTargets; returns the schedules of GetTargetsResponse."""
        rsp = await self.node.invoke(EVSE.Commands.GetTargets(), timed=timed)
        return list(rsp.chargingTargetSchedules)

    async def clear_targets(self, *, timed: bool | None = None) -> None:
        """ClearTargets."""
        await self.node.invoke(EVSE.Commands.ClearTargets(), timed=timed)

    async def expect_status(self, status: str, coro: Any) -> MatterStatusError:
        """Await ``coro`` and require it to fail with IM status ``status`` (e.g. ``CONSTRAINT_ERROR``)."""
        try:
            await coro
        except MatterStatusError as exc:
            if exc.status != status:
                raise AssertionError(f"expected {status}, got {exc.status}: {exc}") from None
            return exc
        raise AssertionError(f"expected the DUT to answer {status}, but the command succeeded")

    # -- test event triggers -----------------------------------------------------------------------
    async def triggers_enabled(self) -> bool:
        """General Diagnostics TestEventTriggersEnabled on the root endpoint."""
        return bool(
            await self.node.read(
                Clusters.GeneralDiagnostics.Attributes.TestEventTriggersEnabled, endpoint=ROOT_ENDPOINT
            )
        )

    async def trigger(self, code: int) -> None:
        """Send a test event trigger (with this EVSE's endpoint in bits 32-47 unless legacy)."""
        value = triggers.encode(code, None if self.legacy_triggers else self.endpoint)
        self.sent_triggers.append(value)
        _TRIGGERS_SINCE_RESET.setdefault(self.node, set()).add(value)
        await self.node.invoke(
            Clusters.GeneralDiagnostics.Commands.TestEventTrigger(enableKey=self.enable_key, eventTrigger=value),
            endpoint=ROOT_ENDPOINT,
        )

    async def return_to_idle(self) -> list[str]:
        """Best effort between cases: clear faults and EV stimulus, end the installation simulation, Disable.

        Uses only test event triggers and the Disable command, so a case never inherits a plugged-in,
        charging or faulted EVSE from the case before it. Returns what could not be done.
        """
        if await self.is_idle():
            return []
        problems: list[str] = []
        if not await self.triggers_enabled():
            return ["test event triggers are disabled on the DUT: its state was not reset"]
        for code in (
            Trigger.FAULT_CLEAR,
            Trigger.CHARGE_DEMAND_CLEAR,
            Trigger.PLUGGED_IN_CLEAR,
            Trigger.BASIC_CLEAR,
            Trigger.SOC_CLEAR,
            Trigger.TIME_OF_USE_MODE_CLEAR,
        ):
            try:
                await self.trigger(code)
            except MatterStatusError as exc:
                problems.append(f"{code.name}: {exc.status}")
        try:
            await self.disable()
        except MatterStatusError as exc:
            problems.append(f"Disable: {exc.status}")
        self.sent_triggers.clear()
        if not problems:
            _TRIGGERS_SINCE_RESET[self.node] = set()
        return problems

    async def is_idle(self) -> bool:
        """True when nothing can be left over from the case before: the rig has sent no test event trigger since
        its last full return to idle, and the DUT reads NotPluggedIn, Disabled and NoError (one interaction).

        An installation or time-of-use trigger shows in no attribute, hence the trigger bookkeeping; an EnableCharging,
        a diagnostics run, a plugged-in EV or a fault all show in State, SupplyState or FaultState.
        """
        sent = _TRIGGERS_SINCE_RESET.get(self.node)
        if sent is None or sent:
            return False
        attrs = [EVSE.Attributes.State, EVSE.Attributes.SupplyState, EVSE.Attributes.FaultState]
        values = await self.node.read_many(attrs)
        want = (State.kNotPluggedIn, SupplyState.kDisabled, FaultState.kNoError)
        return all(
            isinstance(values.get(a), int) and int(values[a]) == int(w) for a, w in zip(attrs, want, strict=True)
        )

    # -- subscriptions -----------------------------------------------------------------------------
    async def subscribe_events(self) -> EventQueue:
        """Subscribe to all Energy EVSE events of the endpoint."""
        return await self.node.subscribe_events(EVSE)

    async def subscribe_attributes(self, *, min_s: int = 0, max_s: int = 10) -> AttributeAccumulator:
        """Subscribe to all Energy EVSE attributes of the endpoint."""
        return await self.node.subscribe_attributes(EVSE, min_s=min_s, max_s=max_s)


BASIC_INFORMATION_FIELDS = (
    "VendorName",
    "VendorID",
    "ProductName",
    "ProductID",
    "HardwareVersionString",
    "SoftwareVersion",
    "SoftwareVersionString",
    "SerialNumber",
)


async def read_identity(node: Node) -> dict[str, Any]:
    """The DUT's identity from Basic Information on the root endpoint (for report headers)."""
    attrs = [getattr(Clusters.BasicInformation.Attributes, f) for f in BASIC_INFORMATION_FIELDS]
    values = await node.read_many(attrs, endpoint=ROOT_ENDPOINT)
    out: dict[str, Any] = {}
    for f, a in zip(BASIC_INFORMATION_FIELDS, attrs, strict=True):
        v = values.get(a)
        out[f] = None if v is None or isinstance(v, Clusters.Attribute.ValueDecodeFailure) else v
    return out
