"""Helpers shared by the TC-EEVSE cases: expected-value checks recorded as measurements, event field checks."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from rig.instruments.capabilities import EnergyMeter
from rig.ledger import DUT_METER_LATENCY_S, SessionLedger
from rig.matter.eevse import Evse, enum_name, is_null
from rig.matter.events import ReceivedEvent
from rig.steps import StepRunner

# A CHIP controller default: a command's response and a device-side change take well under a second here;
# the event timeout comes from rig.yaml (dut.timeouts.event).


def _show(value: Any) -> Any:
    if is_null(value):
        return "null"
    if hasattr(value, "name"):
        return enum_name(value)
    return value


async def check_attr(steps: StepRunner, evse: Evse, name: str, expected: Any) -> Any:
    """Read ``name`` and record it as a measurement that must equal ``expected`` (None = null)."""
    value = await evse.read(name)
    actual = None if is_null(value) else (int(value) if hasattr(value, "name") else value)
    want = None if expected is None else (int(expected) if hasattr(expected, "name") else expected)
    steps.note(f"{name} = {_show(value)}")
    if actual != want:
        raise AssertionError(
            f"{name}: expected {_show(expected) if expected is not None else 'null'}, read {_show(value)}"
        )
    return value


async def check_attr_within(
    steps: StepRunner, evse: Evse, name: str, expected: Any, within_s: float, poll_s: float = 0.05
) -> Any:
    """Read ``name`` until it equals ``expected``; fail if it does not within ``within_s`` (the plan's allowance)."""
    want = int(expected) if hasattr(expected, "name") else expected
    deadline = time.monotonic() + within_s
    t0 = time.monotonic()
    while True:
        value = await evse.read(name)
        actual = int(value) if hasattr(value, "name") else value
        if actual == want:
            steps.note(f"{name} = {_show(value)} after {time.monotonic() - t0:.3f} s")
            return value
        if time.monotonic() >= deadline:
            steps.note(f"{name} = {_show(value)}")
            raise AssertionError(f"{name}: expected {_show(expected)} within {within_s:g} s, still {_show(value)}")
        await asyncio.sleep(poll_s)


async def check_attr_min(steps: StepRunner, evse: Evse, name: str, minimum: float, unit: str = "") -> Any:
    """Read ``name`` and require a non-null value >= ``minimum``."""
    value = await evse.read(name)
    if is_null(value):
        raise AssertionError(f"{name}: expected a value >= {minimum}, read null")
    steps.measure(name, value, unit, low=minimum)
    return value


def check_event(steps: StepRunner, event: ReceivedEvent, **expected: Any) -> ReceivedEvent:
    """Require the event's fields to equal ``expected`` (enum members compare by value)."""
    steps.note(event.summary())
    for field, want in expected.items():
        got = getattr(event.data, field)
        g = int(got) if hasattr(got, "name") else got
        w = int(want) if hasattr(want, "name") else want
        if g != w:
            raise AssertionError(f"{event.name}.{field}: expected {_show(want)}, got {_show(got)}")
    return event


def session_ledger(steps: StepRunner, evse: Evse, bench: Any, rig_config: Any) -> SessionLedger:
    """A :class:`~rig.ledger.SessionLedger` for the case: the bench's first energy meter (None without one),
    rig.yaml's ``report.energy_tolerance_pct`` and the PIXIT ``meter_latency_s`` (``dut.pixit.extra``, default 1 s)."""
    found = None if bench is None else bench.first(EnergyMeter)
    latency = rig_config.dut.pixit.extra.get("meter_latency_s", DUT_METER_LATENCY_S)
    return SessionLedger(
        steps,
        evse,
        None if found is None else found[1],
        energy_tolerance_pct=rig_config.report.energy_tolerance_pct,
        meter_latency_s=float(latency),
    )


# -- helpers for TC-EEVSE-1.1, 2.1, 2.3, 2.5, 2.6 -------------------------------------------------------------

TRIG = (
    "TH sends TestEventTrigger command to General Diagnostics Cluster on Endpoint 0 with EnableKey field set to "
    "PIXIT.EEVSE.TEST_EVENT_TRIGGER_KEY and EventTrigger field set to PIXIT.EEVSE.TEST_EVENT_TRIGGER for "
)

NEXT_CHARGE_ATTRIBUTES = (
    "NextChargeStartTime",
    "NextChargeTargetTime",
    "NextChargeRequiredEnergy",
    "NextChargeTargetSoC",
)
"""The four PREF schedule outputs, in the order the test plan reads them (steps Na-Nd)."""

FEATURE_CODES = {0: "PREF", 1: "SOC", 2: "PNC", 3: "RFID", 4: "V2X"}
"""Energy EVSE FeatureMap bits (cluster revision 3)."""


def feature_codes(feature_map: int) -> list[str]:
    """The feature codes set in ``feature_map`` (unknown bits as ``bitN``)."""
    return [FEATURE_CODES.get(bit, f"bit{bit}") for bit in range(32) if feature_map >> bit & 1]


def has_feature(feature_map: int, code: str) -> bool:
    """True if the feature ``code`` (``PREF``, ``SOC``, ``PNC``, ``RFID``, ``V2X``) is in ``feature_map``."""
    bit = next(b for b, c in FEATURE_CODES.items() if c == code)
    return bool(feature_map >> bit & 1)


async def apply_or_skip(steps: StepRunner, stimulus: Any, action: Any) -> bool:
    """Apply a stimulus; if the run's mode cannot produce it, mark the step in progress skipped and return False."""
    from rig.stimulus import StimulusUnavailable

    try:
        await stimulus.apply(action)
    except StimulusUnavailable as exc:
        steps.skip_current(str(exc))
        return False
    return True


async def check_attr_range(
    steps: StepRunner,
    evse: Evse,
    name: str,
    *,
    low: int | None = None,
    high: int | None = None,
    nullable: bool = False,
    unit: str = "",
) -> Any:
    """Read ``name`` and check its type and range: an integer within [low, high], or null when ``nullable``."""
    value = await evse.read(name)
    if is_null(value):
        steps.note(f"{name} = null")
        if not nullable:
            raise AssertionError(f"{name}: read null, but the attribute is not nullable")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise AssertionError(f"{name}: expected an integer, read {value!r} ({type(value).__name__})")
    steps.measure(name, int(value), unit, low=low, high=high)
    return value


async def check_attr_one_of(steps: StepRunner, evse: Evse, name: str, allowed: Any, *, nullable: bool = False) -> Any:
    """Read an enum attribute and require one of the ``allowed`` values (or null when ``nullable``)."""
    value = await evse.read(name)
    steps.note(f"{name} = {_show(value)}")
    if is_null(value):
        if not nullable:
            raise AssertionError(f"{name}: read null, but the attribute is not nullable")
        return None
    allowed_ints = sorted(int(a) for a in allowed)
    if isinstance(value, bool) or int(value) not in allowed_ints:
        raise AssertionError(f"{name}: read {_show(value)}, allowed values are {allowed_ints}")
    return value


async def write_and_check(steps: StepRunner, evse: Evse, name: str, value: Any) -> None:
    """Write ``name`` = ``value`` (SUCCESS required) and note it; the read-back is the plan's next step."""
    await evse.write(name, value)
    steps.note(f"wrote {name} = {value}: SUCCESS")


def expected_target_time_epoch_s(minutes_past_midnight: int, now: Any = None) -> int:
    """The next occurrence of ``minutes_past_midnight`` in the TH's local time, as Matter-epoch seconds.

    As the SDK helper ``compute_expected_target_time_as_epoch_s``: today at that local wall-clock time, or
    tomorrow if that is already past; TH and DUT must agree on the local time zone.
    """
    from datetime import UTC, datetime, timedelta

    current = datetime.now() if now is None else now
    target = current.replace(
        hour=minutes_past_midnight // 60, minute=minutes_past_midnight % 60, second=0, microsecond=0
    )
    if target < current:
        target += timedelta(days=1)
    matter_epoch = datetime(2000, 1, 1, tzinfo=UTC)
    return int((target.astimezone(UTC) - matter_epoch).total_seconds())


def describe_epoch_s(epoch_s: Any) -> str:
    """``epoch_s`` (Matter epoch) as ``<value> (<local time>)`` for notes; ``null`` for null."""
    from datetime import UTC, datetime, timedelta

    if is_null(epoch_s):
        return "null"
    local = (datetime(2000, 1, 1, tzinfo=UTC) + timedelta(seconds=int(epoch_s))).astimezone()
    return f"{int(epoch_s)} ({local.isoformat(timespec='seconds')})"


def _opt(value: Any) -> Any:
    return None if is_null(value) else value


def schedules_as_tuples(schedules: Any) -> list[tuple[int, list[tuple[int, Any, Any]]]]:
    """ChargingTargetScheduleStructs as ``(dayOfWeek, [(minutes, TargetSoC, AddedEnergy), ...])`` (absent = None)."""
    return [
        (
            int(s.dayOfWeekForSequence),
            [(int(t.targetTimeMinutesPastMidnight), _opt(t.targetSoC), _opt(t.addedEnergy)) for t in s.chargingTargets],
        )
        for s in schedules
    ]


def check_schedules(steps: StepRunner, got: Any, expected: Any, what: str = "GetTargetsResponse") -> None:
    """Require two schedule lists to be equal, entry by entry and in order (notes name each entry)."""
    g, w = schedules_as_tuples(got), schedules_as_tuples(expected)
    for i, (day, targets) in enumerate(g):
        steps.note(f"{what}[{i}]: DayOfWeekForSequence 0x{day:02X}, {len(targets)} targets {targets}")
    if not g:
        steps.note(f"{what}: no schedules")
    if g != w:
        raise AssertionError(f"{what}: expected {w}, got {g}")


async def check_next_charge_null(steps: StepRunner, evse: Evse, step: str) -> None:
    """Steps ``<step>a``-``<step>d``: the four NextCharge* attributes are null."""
    for sub, name in zip("abcd", NEXT_CHARGE_ATTRIBUTES, strict=True):
        steps.step(f"{step}{sub}")
        await check_attr(steps, evse, name, None)


async def observe_reports(accumulator: Any, window_s: float, at_most: dict[str, int]) -> float:
    """Observe a subscription's reports for the plan's window ``window_s``; return the seconds observed.

    The window is a wait on the accumulator: it ends early as soon as an attribute of ``at_most`` has more
    reports (since the last reset) than allowed, since the verdict is then known; otherwise it runs to its end.
    """
    from rig.errors import WaitTimeout

    t0 = time.monotonic()

    async def exceeded(name: str, limit: int) -> str:
        await accumulator.wait_value(
            name, lambda _v: accumulator.count(name) > limit, window_s, f"to exceed {limit} reports"
        )
        return name

    tasks = [asyncio.create_task(exceeded(name, limit)) for name, limit in at_most.items()]
    try:
        for done in asyncio.as_completed(tasks):
            try:
                await done
            except WaitTimeout:
                continue  # this attribute stayed within its limit for the whole window
            break  # one exceeded its limit: the window's verdict is known
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return time.monotonic() - t0


def check_report_count(
    steps: StepRunner, accumulator: Any, name: str, *, low: int | None = None, high: int | None = None
) -> int:
    """Record the number of reports of ``name`` since the last reset as a measurement with its limits."""
    count = int(accumulator.count(name))
    steps.measure(f"{name} reports", count, "reports", low=low, high=high)
    return count


# -- optional features and timed windows (TC-EEVSE-2.7 .. 2.10) -------------------------------------------------


async def require_feature(steps: StepRunner, evse: Evse, code: str) -> int:
    """Read FeatureMap; unless feature ``code`` (``SOC``, ``PNC``, ...) is set, skip every step and the case.

    As the SDK's ``run_if_endpoint_matches(has_feature(...))``: a DUT without the feature is not tested, and the
    report shows why. Returns the FeatureMap.
    """
    import pytest

    feature_map = await evse.feature_map()
    if not has_feature(feature_map, code):
        codes = ", ".join(feature_codes(feature_map)) or "no features"
        reason = f"the DUT does not support {code}: FeatureMap 0x{feature_map:x} ({codes})"
        steps.skip_remaining(reason)
        pytest.skip(reason)
    return feature_map


def check_at_expiry(steps: StepRunner, name: str, happened_at: float, until_epoch_s: int, margin_s: float) -> None:
    """Record when a window's effect was seen relative to its end (``until_epoch_s``, Matter epoch).

    Allowed: from 1 s before (whole-second rounding of the epoch value) to ``margin_s`` after.
    """
    from rig.matter.eevse import MATTER_EPOCH_OFFSET_S

    steps.measure(
        f"{name} after the window end",
        round(happened_at - (until_epoch_s + MATTER_EPOCH_OFFSET_S), 3),
        "s",
        low=-1.0,
        high=margin_s,
    )
