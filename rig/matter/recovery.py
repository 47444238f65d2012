"""Event subscriptions that survive a reboot of the DUT: CASE again, resubscribe, recover the events of the gap.

A rebooted DUT has forgotten its sessions and subscriptions. :class:`EventStream` is the rig's subscription to one
cluster's events on one endpoint; :meth:`EventStream.recover` brings it back after a reboot (called by a case's
power-cycle or mains step, or by the stream itself when the stack reports the subscription lost):

1. the old subscription is shut down and the node's sessions expired (their peer forgot them);
2. a CASE session is established again (operational discovery while the DUT boots, bounded retries:
   :meth:`MatterController.connect`, whose failure names the node);
3. the stream subscribes again with the event number filter set to the last number it delivered + 1 (Matter core
   8.5, EventFilterIB): the priming report carries every event of its paths the DUT still buffers from there on,
   delivered into the queue in order, each once (:class:`~rig.matter.events.EventCursor`);
4. every event the DUT has from that number on, on all paths, is read (one Read Request, same filter) and its
   numbers judged (:func:`~rig.matter.events.continuity`): numbers a reboot skipped (the DUT continues from its
   persisted epoch, Matter core 7.14.2.1) are noted, numbers the DUT no longer has fail the recovery
   (:class:`~rig.errors.EventsLost`, naming them).

Limits: a fabric-sensitive event of another fabric is never reported to this one and shows as a missing number; a DUT
keeping its events in RAM loses those it sent after the last one delivered and before its power went, and they
cannot be told from the numbers its reboot skipped.

Only :mod:`rig.matter.controller` imports this module (no ``chip`` import here: the stack is reached through the
node's controller).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rig.errors import EventsLost
from rig.matter.events import Continuity, EventCursor, EventQueue, ReceivedEvent, continuity, ranges_text

if TYPE_CHECKING:
    from rig.matter.controller import Node, Subscription

log = logging.getLogger(__name__)

BASIC_INFORMATION = 0x0028
"""Basic Information cluster id (Matter core 11.1)."""
STARTUP_EVENT = 0x00
"""Its StartUp event id: the first event a node sends after each boot (Matter core 11.1.6.1)."""
AUTO_RECOVER_S = 60.0
"""Bound on a recovery the stream starts itself, when the stack reports its subscription lost."""


@dataclass(frozen=True)
class Recovery:
    """What a reconnection after a reboot (or a lost subscription) found; times from ``since``, s."""

    case_s: float
    """Until the CASE session."""
    resubscribed_s: float
    """Until the resubscription was up and the gap's events were in the queue."""
    recovered: tuple[ReceivedEvent, ...]
    """Events of the stream's paths delivered from the gap, in order."""
    continuity: Continuity

    @property
    def rebooted(self) -> bool:
        """Get whether the DUT's events show a boot since the last event delivered (a StartUp event)."""
        return bool(self.continuity.startups)

    def describe(self) -> str:
        """One line for a step note."""
        events = ", ".join(f"#{e.event_number} {e.name}" for e in self.recovered) or "none"
        return (
            f"CASE after {self.case_s:.2f} s, resubscribed after {self.resubscribed_s:.2f} s; events recovered from "
            f"the gap: {events}; {self.continuity.describe()}"
        )


def received(result: Any) -> ReceivedEvent:
    """A CHIP ``EventReadResult`` as the queue holds it."""
    header = result.Header
    return ReceivedEvent(
        name=type(result.Data).__name__,
        data=result.Data,
        endpoint=header.EndpointId,
        event_number=header.EventNumber,
        priority=header.Priority,
    )


def _number(result: Any) -> int:
    return int(result.Header.EventNumber)


class EventStream:
    """The subscription to every event of one cluster on one endpoint (urgent), feeding one queue, across reboots.

    Args:
        node: the DUT's node handle.
        cluster: the cluster (a ``Clusters.X`` class).
        endpoint: its endpoint.
        min_s: the subscription's minimum interval floor, s.
        max_s: its maximum interval ceiling, s.
    """

    def __init__(self, node: Node, cluster: Any, endpoint: int, *, min_s: int, max_s: int) -> None:
        self.node = node
        self.cluster = cluster
        self.endpoint = endpoint
        self.report_interval = (min_s, max_s)
        self.what = f"{cluster.__name__} events from node 0x{node.node_id:x} endpoint {endpoint}"
        self.loop = asyncio.get_running_loop()
        self.queue = EventQueue(self.loop, self.what)
        self.cursor = EventCursor(self.queue)
        self.transaction: Any = None
        self.record: Subscription | None = None
        """The controller's record of this subscription (its transaction follows each resubscription)."""
        self._recovering = asyncio.Lock()
        self._auto: asyncio.Task[None] | None = None
        self._closed = False

    async def open(self, *, replay_from: int | None = None, replay: bool = False) -> None:
        """Subscribe. Without ``replay`` the events of the priming report (buffered before this subscription) are
        passed over, as a test plan's subscription starts from now; with it they are delivered, from ``replay_from``
        on (the event number filter; None: all the DUT has)."""
        controller = self.node.controller
        transaction = await controller._bounded(
            controller.ctrl.ReadEvent(
                self.node.node_id,
                [(self.endpoint, self.cluster, True)],
                eventNumberFilter=replay_from,
                fabricFiltered=False,
                reportInterval=self.report_interval,
                keepSubscriptions=True,
                autoResubscribe=False,
            ),
            self.node.timeout_s,
            f"the subscription to {self.what}",
        )
        primed = {_number(r) for r in transaction.GetEvents()}  # the priming report (perhaps a live report too)
        with self.cursor.lock:  # no live report overtakes the events handed over here
            transaction.SetEventUpdateCallback(self._on_event)
            transaction.SetErrorCallback(self._on_error)
            transaction.SetResubscriptionAttemptedCallback(self._on_resubscription_attempt)
            self.transaction = transaction
            if self.record is not None:
                self.record.transaction = transaction
            if not replay:
                self.cursor.pass_over(primed)
            for result in sorted(transaction.GetEvents(), key=_number):
                self.cursor.offer(received(result))

    def _on_event(self, result: Any, transaction: Any) -> None:
        """A live event report (the stack's thread)."""
        if transaction is self.transaction:
            self.cursor.offer(received(result))

    def _on_resubscription_attempt(self, transaction: Any, error: int, next_ms: int) -> None:
        """The stack's own resubscription (its default prints to stdout); this stream recovers by itself instead."""
        log.info("%s: the stack's resubscription after error 0x%x, in %d ms", self.what, error, next_ms)

    def _on_error(self, error: int, transaction: Any) -> None:
        """The stack lost the subscription (the stack's thread): recover, unless that is under way or done."""
        if transaction is self.transaction and not self._closed:
            log.warning("%s: subscription lost (error 0x%x); recovering", self.what, error)
            self.loop.call_soon_threadsafe(self._start_auto_recovery, time.monotonic())

    def _start_auto_recovery(self, since: float) -> None:
        if self._closed or self._recovering.locked() or (self._auto is not None and not self._auto.done()):
            return
        self._auto = self.loop.create_task(self._auto_recover(since), name=f"recover {self.what}")

    async def _auto_recover(self, since: float) -> None:
        try:
            recovery = await self.recover(since=since, timeout_s=AUTO_RECOVER_S, reboot=None)
        except Exception as exc:  # handed to whoever waits on the queue: the case fails with it
            log.error("%s: not recovered: %s", self.what, exc)
            self.queue.fail(exc)
            return
        log.info("%s: recovered: %s", self.what, recovery.describe())

    async def recover(self, *, since: float, timeout_s: float, reboot: bool | None = True) -> Recovery:
        """Reconnect, resubscribe and deliver the events of the gap (module docstring).

        Args:
            since: when the gap's cause ended, ``time.monotonic()`` (e.g. the DUT's power back): the times are
                counted from it.
            timeout_s: bound on the CASE session (the DUT's boot included), and on each interaction after it.
            reboot: True: the DUT rebooted (a StartUp event must follow the last event delivered); None: unknown,
                the events tell.

        Raises:
            DutUnreachable: no CASE session within ``timeout_s`` (the message names the node).
            EventsLost: the DUT no longer has events it numbered after the last one delivered (named).
            AssertionError: ``reboot`` and no StartUp event after the last one delivered.
        """
        async with self._recovering:
            old, self.transaction = self.transaction, None  # its late reports and errors are ignored
            if old is not None:
                with contextlib.suppress(Exception):
                    old.Shutdown()
            with contextlib.suppress(Exception):  # a stack that already dropped them
                self.node.expire_sessions()
            after = self.cursor.last
            start = None if after is None else after + 1
            controller = self.node.controller
            await controller.connect(self.node.node_id, timeout_s=max(timeout_s - (time.monotonic() - since), 1.0))
            case_at = time.monotonic()
            await self.queue.settled()
            delivered = len(self.queue.history)  # every event pushed so far, consumed or not
            await self.open(replay_from=start, replay=True)
            results = await controller._bounded(
                controller.ctrl.ReadEvent(self.node.node_id, ["*"], eventNumberFilter=start, fabricFiltered=False),
                max(timeout_s, self.node.timeout_s),
                f"the events of node 0x{self.node.node_id:x} from number {start if start is not None else 'the first'}",
            )
            mine = sorted(
                (r for r in results if self._mine(r.Header)),
                key=_number,
            )
            for result in mine:  # the priming report had them already, unless the DUT is inconsistent
                self.cursor.offer(received(result))
            await self.queue.settled()
            resubscribed_at = time.monotonic()
            numbers = [_number(r) for r in results]
            startups = [_number(r) for r in results if self._startup(r.Header)]
            judged = continuity(after, numbers, startups)
            recovered = tuple(self.queue.history[delivered:])
        if reboot and not judged.startups:
            raise AssertionError(await self._no_startup(after))
        if judged.missing:
            raise EventsLost(
                f"{self.what}: after the gap the DUT no longer has event numbers {ranges_text(judged.missing)} "
                f"(it numbers its events one after the other within a boot): events it sent are lost. "
                f"{judged.describe()}"
            )
        return Recovery(case_at - since, resubscribed_at - since, recovered, judged)

    def _mine(self, header: Any) -> bool:
        cluster_id = getattr(self.cluster, "id", None)
        return bool(header.EndpointId == self.endpoint and header.ClusterId == cluster_id)

    @staticmethod
    def _startup(header: Any) -> bool:
        return bool(header.ClusterId == BASIC_INFORMATION and header.EventId == STARTUP_EVENT)

    async def _no_startup(self, after: int | None) -> str:
        """Why no StartUp event follows ``after``: the DUT's latest StartUp event (read again), or none."""
        controller = self.node.controller
        try:
            results = await controller._bounded(
                controller.ctrl.ReadEvent(self.node.node_id, [0], fabricFiltered=False),
                self.node.timeout_s,
                f"the root endpoint's events of node 0x{self.node.node_id:x}",
            )
        except Exception as exc:  # the message still says what was expected
            latest = f"its events could not be read ({exc})"
        else:
            numbers = [_number(r) for r in results if self._startup(r.Header)]
            latest = f"its latest StartUp event is number {max(numbers)}" if numbers else "it has no StartUp event"
        return (
            f"node 0x{self.node.node_id:x} was expected to have rebooted, but no StartUp event (Basic Information, "
            f"Matter core 11.1.6.1) follows event number {after}, the last one delivered: {latest}. Either it did not "
            "reboot, or its event numbers went back across the reboot (Matter core 7.14.2.1: they only increase)"
        )

    def close(self) -> None:
        """No more recoveries (the controller shuts the transaction down)."""
        self._closed = True
        if self._auto is not None:
            self._auto.cancel()
