"""Helpers shared by the TC-EEVSE cases: expected-value checks recorded as measurements, event field checks."""

from __future__ import annotations

import asyncio
import time
from typing import Any

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
        raise AssertionError(f"{name}: expected {_show(expected) if expected is not None else 'null'}, "
                             f"read {_show(value)}")
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


def check_event_min(steps: StepRunner, event: ReceivedEvent, **minimum: float) -> None:
    """Require the event's numeric fields to be >= the given minimums."""
    for field, low in minimum.items():
        steps.measure(f"{event.name}.{field}", getattr(event.data, field), low=low)
