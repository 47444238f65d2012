"""EventQueue and AttributeAccumulator: strict and skipping waits, timeouts naming what was awaited."""

from __future__ import annotations

import asyncio
import threading

import pytest

from rig.errors import WaitTimeout
from rig.matter.events import AttributeAccumulator, EventQueue, ReceivedEvent


def ev(name: str, **data: object) -> ReceivedEvent:
    return ReceivedEvent(name=name, data=dict(data))


async def test_strict_wait_returns_the_next_event() -> None:
    q = EventQueue(asyncio.get_running_loop(), "test events")
    q.push(ev("EVConnected", sessionID=3))
    got = await q.next("EVConnected", 1)
    assert got.data == {"sessionID": 3}
    assert q.pending == 0


async def test_strict_wait_fails_on_another_event_and_names_both() -> None:
    q = EventQueue(asyncio.get_running_loop(), "test events")
    q.push(ev("EnergyTransferStopped", reason=2))
    q.push(ev("Fault"))
    expected = r"expected event Fault next, but the next event was EnergyTransferStopped"
    with pytest.raises(AssertionError, match=expected):
        await q.next("Fault", 1)


async def test_strict_wait_times_out_naming_the_event() -> None:
    q = EventQueue(asyncio.get_running_loop(), "EVSE events")
    with pytest.raises(WaitTimeout, match=r"waiting for event EVNotDetected \(EVSE events\)"):
        await q.next("EVNotDetected", 0.05)


async def test_skipping_wait_passes_over_others_and_keeps_them() -> None:
    q = EventQueue(asyncio.get_running_loop())
    q.push(ev("EVConnected"))
    q.push(ev("EnergyTransferStarted"))
    q.push(ev("Fault", cur=7))
    got = await q.wait_for("Fault", 1)
    assert got.data == {"cur": 7}
    assert [e.name for e in q.skipped] == ["EVConnected", "EnergyTransferStarted"]


async def test_skipping_wait_timeout_lists_events_seen() -> None:
    q = EventQueue(asyncio.get_running_loop())
    q.push(ev("EVConnected"))
    with pytest.raises(WaitTimeout, match="other events seen meanwhile: EVConnected"):
        await q.wait_for("RFID", 0.05)


async def test_event_pushed_from_another_thread_wakes_the_waiter() -> None:
    loop = asyncio.get_running_loop()
    q = EventQueue(loop)
    threading.Timer(0.05, q.push_threadsafe, args=(ev("RFID", uid=b"\x01"),)).start()
    got = await q.next("RFID", 2)
    assert got.name == "RFID"


async def test_expect_none_fails_on_an_event() -> None:
    q = EventQueue(asyncio.get_running_loop())
    await q.expect_none(0.02)
    q.push(ev("EnergyTransferStarted"))
    with pytest.raises(AssertionError, match="expected no event"):
        await q.expect_none(0.02)


async def test_history_keeps_every_event_in_order() -> None:
    q = EventQueue(asyncio.get_running_loop())
    for n in ("A", "B", "C"):
        q.push(ev(n))
    await q.next("A", 1)
    assert [e.name for e in q.history] == ["A", "B", "C"]
    assert [e.name for e in q.flush()] == ["B", "C"]


async def test_accumulator_counts_since_reset_and_waits_on_values() -> None:
    loop = asyncio.get_running_loop()
    acc = AttributeAccumulator(loop, "EVSE attributes")
    acc.push_threadsafe("SessionDuration", 1)
    await asyncio.sleep(0)
    assert acc.count("SessionDuration") == 1
    acc.reset()
    assert acc.count("SessionDuration") == 0
    threading.Timer(0.05, acc.push_threadsafe, args=("SessionDuration", 7)).start()
    assert await acc.wait_value("SessionDuration", lambda v: v >= 5, 2, ">= 5") == 7
    assert acc.latest("SessionDuration") == 7
    with pytest.raises(WaitTimeout, match=r"SessionID to be reported \(EVSE attributes\)"):
        await acc.wait_value("SessionID", lambda v: True, 0.05, "to be reported")
