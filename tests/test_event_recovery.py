"""Event subscriptions across a reboot: the cursor, the continuity of event numbers, and EventStream's recovery.

No Matter stack: :class:`FakeDut` stands for the DUT and the CHIP controller as EventStream reaches them (ReadEvent
as a subscription or a read, with its event number filter; subscription transactions with their callbacks; CASE).
Its events are numbered node-wide, one after the other within a boot; a reboot continues from an epoch, as a real
node does (Matter core 7.14.2.1), and sends a StartUp event first.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

import pytest

from rig.errors import DutUnreachable, EventsLost, WaitTimeout
from rig.matter.events import EventCursor, EventQueue, ReceivedEvent, continuity, ranges_text
from rig.matter.recovery import BASIC_INFORMATION, STARTUP_EVENT, EventStream

EVSE_ID = 0x0099
EP = 1


class EnergyEvse:
    """Stands for ``Clusters.EnergyEvse`` (its id and name are all EventStream uses)."""

    id = EVSE_ID


def ev(name: str, number: int | None) -> ReceivedEvent:
    return ReceivedEvent(name=name, data={}, event_number=number)


# -- continuity -----------------------------------------------------------------------------------------------------
def test_consecutive_numbers_are_continuous() -> None:
    judged = continuity(10, [11, 12, 13], [])
    assert judged.missing == () and judged.skipped == () and judged.last == 13


def test_a_hole_without_a_reboot_is_missing() -> None:
    judged = continuity(10, [11, 14, 16], [])
    assert judged.missing == ((12, 13), (15, 15))
    assert ranges_text(judged.missing) == "12-13, 15"


def test_the_epoch_jump_before_a_startup_event_is_skipped_not_missing() -> None:
    # the boot's firmware sent 1001 before its StartUp event 1002; 11..1000 were never used (or lost with the RAM)
    judged = continuity(10, [1001, 1002, 1003], [1002])
    assert judged.skipped == ((11, 1000),)
    assert judged.missing == ()
    assert judged.startups == (1002,)


def test_a_hole_after_the_startup_event_is_missing() -> None:
    judged = continuity(10, [1001, 1002, 1005], [1001])
    assert judged.skipped == ((11, 1000),)
    assert judged.missing == ((1003, 1004),)


def test_a_hole_before_the_jump_is_missing() -> None:
    # events of the boot before (kept non-volatile) with a hole, then the reboot
    judged = continuity(10, [11, 13, 2001], [2001])
    assert judged.missing == ((12, 12),)
    assert judged.skipped == ((14, 2000),)


def test_each_reboot_skips_once() -> None:
    judged = continuity(10, [1001, 1002, 2001, 2002], [1001, 2001])
    assert judged.skipped == ((11, 1000), (1003, 2000))
    assert judged.missing == ()


def test_numbers_not_after_the_last_delivered_are_ignored() -> None:
    judged = continuity(10, [9, 10, 11], [9])
    assert judged.startups == () and judged.missing == () and judged.last == 11


def test_without_a_starting_number_the_check_starts_at_the_first_one_read() -> None:
    judged = continuity(None, [5, 6, 8], [])
    assert judged.missing == ((7, 7),)


def test_no_event_since_the_gap() -> None:
    judged = continuity(10, [], [])
    assert judged.last is None and judged.missing == ()
    assert "no event numbered from 11 on" in judged.describe()


# -- queue and cursor -----------------------------------------------------------------------------------------------
async def test_strict_wait_accepts_one_of_several_names_and_names_them_otherwise() -> None:
    q = EventQueue(asyncio.get_running_loop(), "test events")
    q.push(ev("Fault", 1))
    q.push(ev("RFID", 2))
    assert (await q.next(("Fault", "EVConnected"), 1)).name == "Fault"
    with pytest.raises(AssertionError, match="expected event Fault or EVConnected next, but the next event was RFID"):
        await q.next(("Fault", "EVConnected"), 1)


async def test_a_failed_queue_gives_its_events_then_raises() -> None:
    q = EventQueue(asyncio.get_running_loop(), "test events")
    q.push(ev("EVConnected", 1))
    q.fail(DutUnreachable("node 0x1001 gave no CASE session"))
    assert (await q.next("EVConnected", 1)).event_number == 1
    with pytest.raises(DutUnreachable, match="0x1001"):
        await q.next("EVNotDetected", 5)


async def test_a_failure_wakes_a_waiter() -> None:
    q = EventQueue(asyncio.get_running_loop(), "test events")
    waiter = asyncio.create_task(q.wait_for("EVConnected", 5))
    done, _ = await asyncio.wait({waiter}, timeout=0.05)
    assert not done, "the waiter returned before anything arrived"
    q.fail(EventsLost("lost 12-13"))
    with pytest.raises(EventsLost, match="12-13"):
        await waiter


async def test_cursor_delivers_each_number_once_in_order() -> None:
    q = EventQueue(asyncio.get_running_loop(), "test events")
    cursor = EventCursor(q)
    cursor.pass_over([3, 4])
    results = [cursor.offer(ev("A", n)) for n in (4, 5, 5, 3, 6)]
    await q.settled()
    assert results == [False, True, False, False, True]
    assert [e.event_number for e in q.history] == [5, 6]
    assert cursor.last == 6


async def test_a_batch_under_the_lock_is_not_overtaken_by_another_thread() -> None:
    """The resubscription's priming events (held lock) and a live report from the stack's thread: the live one,
    numbered after them, lands after them, not instead of them."""
    q = EventQueue(asyncio.get_running_loop(), "test events")
    cursor = EventCursor(q)
    cursor.pass_over([10])
    offered = threading.Event()
    live = threading.Thread(target=lambda: (cursor.offer(ev("live", 14)), offered.set()))
    with cursor.lock:
        live.start()
        assert not offered.wait(0.2), "the live report went past the held lock"
        for n in (11, 12, 13):
            cursor.offer(ev("primed", n))
    live.join(5)
    await q.settled()
    assert [e.event_number for e in q.history] == [11, 12, 13, 14]


# -- EventStream against a fake DUT -----------------------------------------------------------------------------------
@dataclass
class Header:
    """Stands for an ``EventHeader`` (the CHIP wheel's field names)."""

    EventNumber: int
    EndpointId: int
    ClusterId: int
    EventId: int
    Priority: int = 1


def _data(name: str) -> Any:
    return type(name, (), {})()


@dataclass
class Result:
    """Stands for an ``EventReadResult``."""

    Header: Header
    Data: Any


class Transaction:
    """Stands for a ``SubscriptionTransaction``: priming events, then live ones through the callback."""

    def __init__(self, dut: FakeDut, primed: list[Result]) -> None:
        self.dut = dut
        self.events = list(primed)
        self.on_event: Any = None
        self.on_error: Any = None
        self.on_resubscription: Any = None
        self.shut = False

    def GetEvents(self) -> list[Result]:  # noqa: N802
        return list(self.events)

    def SetEventUpdateCallback(self, callback: Any) -> None:  # noqa: N802
        self.on_event = callback

    def SetErrorCallback(self, callback: Any) -> None:  # noqa: N802
        self.on_error = callback

    def SetResubscriptionAttemptedCallback(self, callback: Any) -> None:  # noqa: N802
        self.on_resubscription = callback

    def Shutdown(self) -> None:  # noqa: N802
        self.shut = True

    def report(self, result: Result) -> None:
        self.events.append(result)
        if self.on_event is not None:
            self.on_event(result, self)


@dataclass
class FakeDut:
    """The DUT's event buffer and boots, and the controller calls EventStream makes."""

    node_id: int = 0x1001
    timeout_s: float = 5.0
    next_number: int = 1
    epoch_block: int = 1000
    buffer: list[Result] = field(default_factory=list)
    subscriptions: list[Transaction] = field(default_factory=list)
    filters: list[int | None] = field(default_factory=list)
    reachable: bool = True
    expired: int = 0
    volatile: bool = True

    # -- the DUT's side
    def emit(self, name: str, *, cluster: int = EVSE_ID, endpoint: int = EP, event_id: int = 1) -> Result:
        result = Result(Header(self.next_number, endpoint, cluster, event_id), _data(name))
        self.next_number += 1
        self.buffer.append(result)
        for sub in self.subscriptions:
            if not sub.shut and endpoint == EP and cluster == EVSE_ID:
                sub.report(result)
        return result

    def reboot(self) -> None:
        """Power loss and boot: the subscriptions are gone, the numbers continue from the next epoch block."""
        self.subscriptions = []
        if self.volatile:
            self.buffer = []
        self.next_number = (self.next_number // self.epoch_block + 1) * self.epoch_block + 1
        self.emit("StartUp", cluster=BASIC_INFORMATION, endpoint=0, event_id=STARTUP_EVENT)

    # -- what EventStream calls, as the node's controller
    @property
    def controller(self) -> FakeDut:
        return self

    @property
    def ctrl(self) -> FakeDut:
        return self

    async def _bounded(self, aw: Any, timeout_s: float, what: str) -> Any:
        return await asyncio.wait_for(aw, timeout_s)

    async def ReadEvent(  # noqa: N802
        self,
        node_id: int,
        paths: list[Any],
        eventNumberFilter: int | None = None,  # noqa: N803 (the CHIP wheel's spelling)
        **kwargs: Any,
    ) -> Any:
        self.filters.append(eventNumberFilter)
        if not self.reachable:
            raise TimeoutError("no answer")
        wanted = [r for r in self.buffer if eventNumberFilter is None or r.Header.EventNumber >= eventNumberFilter]
        if paths == ["*"]:
            return wanted
        if paths == [0]:
            return [r for r in wanted if r.Header.EndpointId == 0]
        mine = [r for r in wanted if r.Header.EndpointId == EP and r.Header.ClusterId == EVSE_ID]
        sub = Transaction(self, mine)
        self.subscriptions.append(sub)
        return sub

    async def connect(self, node_id: int, timeout_s: float = 30.0) -> float:
        if not self.reachable:
            raise DutUnreachable(f"node 0x{node_id:x} gave no CASE session within {timeout_s:g} s")
        return 0.0

    def expire_sessions(self) -> None:
        self.expired += 1


async def _stream(dut: FakeDut) -> EventStream:
    stream = EventStream(dut, EnergyEvse, EP, min_s=0, max_s=30)  # type: ignore[arg-type]
    await stream.open()
    return stream


async def test_a_new_subscription_starts_from_now() -> None:
    dut = FakeDut()
    dut.emit("EVConnected")  # before the subscription: in the priming report, not delivered
    stream = await _stream(dut)
    dut.emit("EVNotDetected")
    await stream.queue.settled()
    assert [e.name for e in stream.queue.history] == ["EVNotDetected"]
    assert stream.cursor.last == 2


async def test_recovery_after_a_reboot_delivers_the_gap_in_order_once() -> None:
    dut = FakeDut()
    stream = await _stream(dut)
    dut.emit("EVConnected")  # 1, delivered
    old = dut.subscriptions[0]
    dut.reboot()  # StartUp 1001
    dut.emit("EVConnected")  # 1002
    dut.emit("OtherClusterEvent", cluster=0x0098)  # 1003, not the stream's
    dut.emit("EnergyTransferStarted")  # 1004
    recovery = await stream.recover(since=0.0, timeout_s=5.0)
    assert old.shut and dut.expired == 1
    assert dut.filters[-2:] == [2, 2], "resubscription and read from the last delivered + 1"
    assert [e.event_number for e in recovery.recovered] == [1002, 1004]
    assert [e.name for e in stream.queue.history] == ["EVConnected", "EVConnected", "EnergyTransferStarted"]
    assert recovery.rebooted and recovery.continuity.skipped == ((2, 1000),)
    dut.emit("EVNotDetected")  # 1005: live on the new subscription
    await stream.queue.settled()
    assert [e.event_number for e in stream.queue.history] == [1, 1002, 1004, 1005]


async def test_events_the_dut_no_longer_has_fail_the_recovery_naming_them() -> None:
    dut = FakeDut()
    stream = await _stream(dut)
    dut.emit("EVConnected")  # 1
    dut.reboot()  # StartUp 1001
    lost = [dut.emit("EVConnected").Header.EventNumber, dut.emit("EnergyTransferStarted").Header.EventNumber]
    dut.emit("EnergyTransferStopped")  # 1004
    dut.buffer = [r for r in dut.buffer if r.Header.EventNumber not in lost]  # evicted from a small buffer
    with pytest.raises(EventsLost, match=r"no longer has event numbers 1002-1003"):
        await stream.recover(since=0.0, timeout_s=5.0)
    await stream.queue.settled()
    assert [e.event_number for e in stream.queue.history] == [1, 1004], "what it still had is delivered"


async def test_a_reboot_without_a_startup_event_after_the_last_delivered_fails() -> None:
    dut = FakeDut()
    stream = await _stream(dut)
    dut.emit("StartUp", cluster=BASIC_INFORMATION, endpoint=0, event_id=STARTUP_EVENT)  # 1
    dut.emit("EVConnected")  # 2, delivered
    dut.subscriptions = []  # the subscription went, the node did not reboot
    with pytest.raises(
        AssertionError, match=r"no StartUp event .* follows event number 2.*latest StartUp event is number 1"
    ):
        await stream.recover(since=0.0, timeout_s=5.0)


async def test_a_recovery_that_finds_no_case_session_names_the_node() -> None:
    dut = FakeDut()
    stream = await _stream(dut)
    dut.reachable = False
    with pytest.raises(DutUnreachable, match="0x1001"):
        await stream.recover(since=0.0, timeout_s=1.0)


async def test_a_lost_subscription_recovers_by_itself() -> None:
    dut = FakeDut()
    stream = await _stream(dut)
    dut.emit("EVConnected")  # 1
    old = dut.subscriptions[0]
    dut.reboot()
    dut.emit("EVNotDetected")  # 1002
    old.on_error(0x32, old)  # the stack reports the subscription lost
    got = await stream.queue.wait_for("EVNotDetected", 5)
    assert got.event_number == 1002
    assert dut.filters[-1] == 2


async def test_a_lost_subscription_that_cannot_be_recovered_fails_the_waits() -> None:
    dut = FakeDut()
    stream = await _stream(dut)
    dut.emit("EVConnected")  # 1
    old = dut.subscriptions[0]
    dut.reachable = False
    old.on_error(0x32, old)
    await stream.queue.next("EVConnected", 1)
    with pytest.raises(DutUnreachable, match="0x1001"):
        await stream.queue.next("EVNotDetected", 5)


async def test_errors_of_a_replaced_subscription_are_ignored() -> None:
    dut = FakeDut()
    stream = await _stream(dut)
    old = dut.subscriptions[0]
    await stream.recover(since=0.0, timeout_s=5.0, reboot=None)
    reads = len(dut.filters)
    old.on_error(0x32, old)
    with pytest.raises(WaitTimeout):
        await stream.queue.next("EVConnected", 0.05)
    assert len(dut.filters) == reads, "a replaced subscription's error started a recovery"
