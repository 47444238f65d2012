"""Event queues and attribute-report accumulators (no dependency on ``chip``).

Events arrive on the Matter stack's thread; they are handed to the asyncio loop with
``call_soon_threadsafe`` and consumed by tests with either a **strict** wait (the next event must be the
expected one, as the test plan requires) or a **skipping** wait (other events are passed over and kept).

Across a reboot of the DUT (or a lost subscription) an :class:`EventCursor` remembers the last event number its
subscription delivered, so that the resubscription delivers each event once and in order, and :func:`continuity`
judges the event numbers the DUT still has: which of them a reboot skipped and which the DUT lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from rig.errors import WaitTimeout


@dataclass(frozen=True)
class ReceivedEvent:
    """One event report as received.

    Attributes:
        name: event name, e.g. ``EnergyTransferStarted``.
        data: the decoded event payload (cluster object or dict).
        endpoint: endpoint of the event path.
        event_number: the DUT's event number.
        priority: priority name or number as reported.
        received_at: local epoch seconds at reception.
    """

    name: str
    data: Any
    endpoint: int | None = None
    event_number: int | None = None
    priority: Any = None
    received_at: float = field(default_factory=time.time)

    def summary(self) -> str:
        """A one-line description for messages and reports."""
        return f"{self.name}({_fields(self.data)})"


def _fields(data: Any) -> str:
    items: Iterable[tuple[str, Any]]
    if data is None:
        return ""
    if isinstance(data, dict):
        items = data.items()
    elif hasattr(data, "__dataclass_fields__"):
        items = ((k, getattr(data, k)) for k in data.__dataclass_fields__)
    else:
        return repr(data)
    return ", ".join(f"{k}={v!r}" for k, v in items)


class EventQueue:
    """A queue of received events with strict and skipping waits.

    Args:
        loop: the asyncio loop the waits run on (producers may be on any thread).
        what: a label used in messages, e.g. ``"Energy EVSE events from node 0x1001"``.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, what: str = "events") -> None:
        self._loop = loop
        self._what = what
        self._pending: deque[ReceivedEvent] = deque()
        self._arrived = asyncio.Event()
        self._failure: BaseException | None = None
        self.history: list[ReceivedEvent] = []
        self.skipped: list[ReceivedEvent] = []

    # -- producing ---------------------------------------------------------------------------------
    def push(self, event: ReceivedEvent) -> None:
        """Add an event; must be called on the loop's thread."""
        self._pending.append(event)
        self.history.append(event)
        self._arrived.set()

    def push_threadsafe(self, event: ReceivedEvent) -> None:
        """Add an event from any thread."""
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self.push(event)
        else:
            self._loop.call_soon_threadsafe(self.push, event)

    def push_in_order(self, event: ReceivedEvent) -> None:
        """Add an event from any thread (the loop's included) through the loop's queue of calls: events handed over
        this way land in the order of the calls, whichever thread made them."""
        self._loop.call_soon_threadsafe(self.push, event)

    async def settled(self) -> None:
        """Return once every event handed over with :meth:`push_in_order` before this call is in the queue."""
        done = self._loop.create_future()
        self._loop.call_soon_threadsafe(done.set_result, None)
        await done

    def fail(self, error: BaseException) -> None:
        """The subscription feeding this queue is broken for good: the waits raise ``error`` once the events already
        received are consumed (loop's thread)."""
        self._failure = error
        self._arrived.set()

    # -- consuming ---------------------------------------------------------------------------------
    async def _next_any(self, deadline: float) -> ReceivedEvent | None:
        while not self._pending:
            if self._failure is not None:
                raise self._failure
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._arrived.clear()
            try:
                async with asyncio.timeout(remaining):  # no task per wait, unlike wait_for
                    await self._arrived.wait()
            except TimeoutError:
                return None
        return self._pending.popleft()

    async def next(self, expected: str | tuple[str, ...], timeout_s: float) -> ReceivedEvent:
        """Strict wait: the next event must be ``expected`` (one of them, given several).

        Raises:
            AssertionError: the next event is another one (named in the message).
            WaitTimeout: nothing arrived within ``timeout_s``.
        """
        names = (expected,) if isinstance(expected, str) else expected
        wanted = " or ".join(names)
        deadline = time.monotonic() + timeout_s
        ev = await self._next_any(deadline)
        if ev is None:
            raise WaitTimeout(f"timed out after {timeout_s:g} s waiting for event {wanted} ({self._what})")
        if ev.name not in names:
            raise AssertionError(f"expected event {wanted} next, but the next event was {ev.summary()} ({self._what})")
        return ev

    async def wait_for(self, expected: str, timeout_s: float) -> ReceivedEvent:
        """Skipping wait: return the first ``expected`` event, passing over (and keeping) any others."""
        deadline = time.monotonic() + timeout_s
        passed: list[ReceivedEvent] = []
        while True:
            ev = await self._next_any(deadline)
            if ev is None:
                seen = ", ".join(e.name for e in passed) or "none"
                raise WaitTimeout(
                    f"timed out after {timeout_s:g} s waiting for event {expected} ({self._what}); "
                    f"other events seen meanwhile: {seen}"
                )
            if ev.name == expected:
                self.skipped.extend(passed)
                return ev
            passed.append(ev)

    async def expect_none(self, within_s: float) -> None:
        """Assert that no event arrives within ``within_s`` (also fails on an event already queued)."""
        ev = await self._next_any(time.monotonic() + within_s)
        if ev is not None:
            raise AssertionError(f"expected no event within {within_s:g} s, got {ev.summary()} ({self._what})")

    def flush(self) -> list[ReceivedEvent]:
        """Drop and return the events not consumed yet."""
        out = list(self._pending)
        self._pending.clear()
        return out

    @property
    def pending(self) -> int:
        """Number of events received and not consumed."""
        return len(self._pending)


class EventCursor:
    """The event numbers one subscription has delivered into its queue: each event goes in once, in order.

    The DUT numbers its events node-wide, monotonically (Matter core 7.14.2.1); a resubscription that asks for the
    events from :attr:`last` + 1 on (its event number filter) gets again any it had delivered already, and the live
    reports may race with its priming report. :meth:`offer` lets through only what comes after :attr:`last`.

    Args:
        queue: the queue the subscription feeds.
    """

    def __init__(self, queue: EventQueue) -> None:
        self.queue = queue
        self.lock = threading.RLock()
        """Held by :meth:`offer`; hold it to hand over a batch that no live report may overtake."""
        self.last: int | None = None
        """The number of the last event delivered (or passed over at the start), None before the first."""

    def offer(self, event: ReceivedEvent) -> bool:
        """Deliver ``event`` unless its number is not after :attr:`last`; whether it was delivered (any thread)."""
        with self.lock:
            number = event.event_number
            if number is not None and self.last is not None and number <= self.last:
                return False
            if number is not None:
                self.last = number
            self.queue.push_in_order(event)
            return True

    def pass_over(self, numbers: Iterable[int]) -> None:
        """Start after these numbers without delivering them (the events a new subscription's priming report
        replays from before it started)."""
        with self.lock:
            for number in numbers:
                if self.last is None or number > self.last:
                    self.last = number


NumberRange = tuple[int, int]
"""An inclusive range of event numbers."""


@dataclass(frozen=True)
class Continuity:
    """What the event numbers a DUT still has after a gap say about it.

    Attributes:
        after: the last number delivered before the gap (None: nothing was, the check starts at the first number).
        last: the highest number read (None: no event since ``after``).
        startups: numbers of the Basic Information StartUp events among them (one per reboot).
        skipped: ranges a reboot skipped: the DUT continues from its persisted epoch, Matter core 7.14.2.1, which
            may leave numbers unused. Events of the boot before it, sent after ``after``, that the DUT no longer has
            fall in here too: a DUT keeping its events in RAM loses them with its power, and they cannot be told
            from unused numbers.
        missing: ranges the DUT no longer has although it numbered them in a boot whose numbers are known (a buffer
            that overflowed, an event never delivered).
    """

    after: int | None
    last: int | None
    startups: tuple[int, ...]
    skipped: tuple[NumberRange, ...]
    missing: tuple[NumberRange, ...]

    def describe(self) -> str:
        """One line for a step note."""
        start = "the first" if self.after is None else f"{self.after + 1}"
        if self.last is None:
            return f"no event numbered from {start} on"
        parts = [f"event numbers {start}..{self.last}"]
        if self.startups:
            parts.append(f"StartUp (a boot) at {', '.join(map(str, self.startups))}")
        if self.skipped:
            parts.append(
                f"skipped at the reboot: {ranges_text(self.skipped)} (numbers its new epoch left unused, and any "
                "event it sent before its power went that was not delivered: lost with it)"
            )
        parts.append(f"missing: {ranges_text(self.missing)}" if self.missing else "none missing")
        return "; ".join(parts)


def ranges_text(ranges: Iterable[NumberRange]) -> str:
    """``[(5, 7), (10, 10)]`` → ``5-7, 10``."""
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in ranges)


def continuity(after: int | None, numbers: Iterable[int], startups: Iterable[int]) -> Continuity:
    """Judge the event numbers a DUT returned from ``after`` + 1 on (all its events, every path).

    Within one boot a node numbers its events one after the other (the SDK and matter.js do); at a reboot it
    continues from its persisted epoch (Matter core 7.14.2.1), and the first event of the new boot it sends is its
    StartUp event (Basic Information, Matter core 11.1.6.1), possibly after others its firmware sent while starting.
    So for each StartUp event, the last hole in the numbers before it is the reboot's epoch jump (skipped); every
    other hole, and any hole when no StartUp event is there (no reboot), is numbers the DUT no longer has (missing).

    Args:
        after: the last number delivered before the gap; None: the check starts at the first number.
        numbers: the numbers returned (every path the rig may read; duplicates ignored).
        startups: the numbers of the StartUp events among them.
    """
    have = sorted({n for n in numbers if after is None or n > after})
    boots = tuple(sorted({n for n in startups if n in set(have)}))
    if not have:
        return Continuity(after, None, boots, (), ())
    holes: list[NumberRange] = []
    previous = have[0] - 1 if after is None else after
    for n in have:
        if n > previous + 1:
            holes.append((previous + 1, n - 1))
        previous = n
    jumps = set()
    for startup in boots:
        before = [h for h in holes if h[1] < startup]
        if before:
            jumps.add(before[-1])
    return Continuity(
        after,
        have[-1],
        boots,
        tuple(h for h in holes if h in jumps),
        tuple(h for h in holes if h not in jumps),
    )


@dataclass(frozen=True)
class AttributeReport:
    """One attribute value as reported by a subscription."""

    name: str
    value: Any
    received_at: float


class AttributeAccumulator:
    """Collects attribute reports of a subscription: counts, history and waits on values.

    Args:
        loop: the asyncio loop the waits run on.
        what: label for messages.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, what: str = "attribute reports") -> None:
        self._loop = loop
        self._what = what
        self._lock = threading.Lock()
        self._reports: list[AttributeReport] = []
        self._since = 0  # index of the first report counted since the last reset
        self._changed = asyncio.Event()

    def push_threadsafe(self, name: str, value: Any) -> None:
        """Record a report (any thread)."""
        with self._lock:
            self._reports.append(AttributeReport(name, value, time.time()))
        self._loop.call_soon_threadsafe(self._changed.set)

    def reset(self) -> None:
        """Start counting afresh (history is kept)."""
        with self._lock:
            self._since = len(self._reports)

    def count(self, name: str) -> int:
        """Reports of ``name`` since the last reset."""
        with self._lock:
            return sum(1 for r in self._reports[self._since :] if r.name == name)

    def values(self, name: str) -> list[Any]:
        """Reported values of ``name`` since the last reset, in order."""
        with self._lock:
            return [r.value for r in self._reports[self._since :] if r.name == name]

    def latest(self, name: str) -> Any:
        """The last reported value of ``name`` (any time), or raise KeyError."""
        with self._lock:
            for r in reversed(self._reports):
                if r.name == name:
                    return r.value
        raise KeyError(name)

    @property
    def history(self) -> list[AttributeReport]:
        """Every report received."""
        with self._lock:
            return list(self._reports)

    async def wait_value(self, name: str, predicate: Callable[[Any], bool], timeout_s: float, what: str) -> Any:
        """Wait until a report of ``name`` since the last reset satisfies ``predicate``; ``what`` names it."""
        deadline = time.monotonic() + timeout_s
        while True:
            for v in self.values(name):
                if predicate(v):
                    return v
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(
                    f"timed out after {timeout_s:g} s waiting for {name} {what} ({self._what}); "
                    f"values reported: {self.values(name)!r}"
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._changed.wait()
