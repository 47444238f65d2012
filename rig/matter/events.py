"""Event queues and attribute-report accumulators (no dependency on ``chip``).

Events arrive on the Matter stack's thread; they are handed to the asyncio loop with
``call_soon_threadsafe`` and consumed by tests with either a **strict** wait (the next event must be the
expected one, as the test plan requires) or a **skipping** wait (other events are passed over and kept).
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

    # -- consuming ---------------------------------------------------------------------------------
    async def _next_any(self, deadline: float) -> ReceivedEvent | None:
        while not self._pending:
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

    async def next(self, expected: str, timeout_s: float) -> ReceivedEvent:
        """Strict wait: the next event must be ``expected``.

        Raises:
            AssertionError: the next event is another one (named in the message).
            WaitTimeout: nothing arrived within ``timeout_s``.
        """
        deadline = time.monotonic() + timeout_s
        ev = await self._next_any(deadline)
        if ev is None:
            raise WaitTimeout(f"timed out after {timeout_s:g} s waiting for event {expected} ({self._what})")
        if ev.name != expected:
            raise AssertionError(
                f"expected event {expected} next, but the next event was {ev.summary()} ({self._what})"
            )
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
