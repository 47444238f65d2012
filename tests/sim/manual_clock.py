"""A manual clock for the plant (:class:`rig.sim.plant.Clock`): simulated time that moves only when a test moves it."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable


class ManualCall:
    """A call scheduled on a :class:`ManualClock` (cancellable until made)."""

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback: Callable[[], None] | None = callback

    def cancel(self) -> None:
        """Do not make the call."""
        self.callback = None


class ManualClock:
    """Simulated time: :meth:`advance` moves it and makes the calls falling due, in time order, each at its time.

    Args:
        start_ns: the time the clock starts at, ns.
    """

    def __init__(self, start_ns: int = 1_000_000_000) -> None:
        self._now = start_ns
        self._calls: list[tuple[int, int, ManualCall]] = []
        self._order = itertools.count()

    def now_ns(self) -> int:
        """Get the simulated time, ns."""
        return self._now

    def call_at(self, t_ns: int, callback: Callable[[], None]) -> ManualCall:
        """Call ``callback()`` when the clock is advanced to ``t_ns`` or past it."""
        call = ManualCall(callback)
        heapq.heappush(self._calls, (int(t_ns), next(self._order), call))
        return call

    def advance(self, seconds: float) -> None:
        """Move the clock on by ``seconds``, making every call due on the way at its own time."""
        self.advance_to(self._now + round(seconds * 1e9))

    def advance_to(self, t_ns: int) -> None:
        """Move the clock to ``t_ns`` (never back), making every call due on the way at its own time."""
        if t_ns < self._now:
            raise ValueError(f"the clock does not go back ({t_ns} < {self._now})")
        while self._calls and self._calls[0][0] <= t_ns:
            due, _, call = heapq.heappop(self._calls)
            self._now = max(self._now, due)
            if call.callback is not None:
                call.callback()
        self._now = t_ns

    def pending(self) -> list[int]:
        """Times of the calls still to be made (not cancelled), ns, soonest first."""
        return sorted(t for t, _, call in self._calls if call.callback is not None)
