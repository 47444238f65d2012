"""``rig lab reap``: free the places of farm runs that died (also done at every farm run's start).

For each open lease that is dead (:func:`rig.lab.lease.stale`): the bench is driven to its safe state (the caller's
``safe_state``, e.g. the place's instruments opened and put safe; a virtual bench's exporter also resets it when the
place is released), then the dead run's reservation is cancelled (labgrid leaves it ``acquired`` otherwise and it
blocks the place's next reservation: labgrid 26.0.1 coordinator.py never expires an acquired reservation; cancelled
first, so that the release hands the place on at once) and labgrid's ``release-from`` the recorded owner frees the
place (only if that owner still holds it, so a newer holder is never kicked); the lease is closed.
A lease whose place is held by someone else already (or by no one) is closed without touching the place.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from rig.lab.coordinator import Coordinator, FarmError, PlaceInfo
from rig.lab.lease import Lease, LeaseStore, stale, this_host
from rig.sandbox import pid_alive

Action = Literal["reap", "close", "keep"]


@dataclass(frozen=True)
class Decision:
    """What to do with one lease, and why."""

    lease: Lease
    action: Action
    reason: str


def decide(
    leases: list[Lease],
    places: Mapping[str, PlaceInfo],
    *,
    now: float,
    host: str,
    alive: Callable[[int], bool],
) -> list[Decision]:
    """Decide each open lease: ``reap`` (dead, its owner still holds the place), ``close`` (dead or not, the place is
    no longer its owner's), ``keep`` (alive)."""
    out = []
    for lease in leases:
        place = places.get(lease.place)
        holder = place.acquired if place is not None else None
        why = stale(lease, now, host, alive)
        if holder != lease.owner:
            if why is None and holder is None and now - lease.started < lease.ttl_s:
                out.append(Decision(lease, "keep", "acquiring"))  # a run between its lease and its acquire
            else:
                out.append(Decision(lease, "close", f"place {lease.place} is held by {holder or 'no one'}"))
        elif why is not None:
            out.append(Decision(lease, "reap", why))
        else:
            out.append(Decision(lease, "keep", "alive"))
    return out


def reap(
    coordinator: Coordinator,
    store: LeaseStore,
    *,
    safe_state: Callable[[str], None] | None = None,
    say: Callable[[str], None] = print,
    now: float | None = None,
    record: Callable[[Lease], str] | None = None,
) -> list[Decision]:
    """Reap the dead leases of ``store`` on ``coordinator`` (see the module's docstring); returns the decisions.
    ``record`` (:func:`rig.lab.farm.killed_run_recorder`) records each reaped lease's run as killed, also one that
    died before it took its bench's lock (the lock's take-over records the others)."""
    decisions = decide(
        store.active(), coordinator.places(), now=time.time() if now is None else now, host=this_host(), alive=pid_alive
    )
    for d in decisions:
        lease = d.lease
        if d.action == "close":
            store.end(lease.run_id, f"closed: {d.reason}")
            if lease.token:
                coordinator.cancel(lease.token)
            say(f"lease of run {lease.run_id} on {lease.place} closed: {d.reason}")
        elif d.action == "reap":
            if safe_state is not None:
                try:
                    safe_state(lease.place)
                except Exception as exc:  # the place is freed all the same: its exporter resets what it exports
                    say(f"place {lease.place}: the safe state failed ({exc}); freeing it all the same")
            if lease.token:  # first: a place released before its reservation is cancelled waits for the
                coordinator.cancel(lease.token)  # coordinator's next scheduling pass (rig.lab.farm._release)
            try:
                coordinator.release(lease.place, from_owner=lease.owner)
            except FarmError as exc:
                say(f"place {lease.place}: release-from {lease.owner} failed: {exc}")
                continue
            store.end(lease.run_id, f"reaped: {d.reason}")
            say(f"place {lease.place} freed from {lease.owner} (run {lease.run_id}): {d.reason}")
            if record is not None:
                say(f"run {lease.run_id}: {record(lease)}")
    return decisions
