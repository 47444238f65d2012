"""Leases: what labgrid lacks to free the place of a run that died.

labgrid 26.0.1 keeps a place acquired after its client is gone (the lock is the owner string, not the session:
coordinator.py ``ReleasePlace``/FIXME near ``AcquirePlace``), and an acquired reservation never expires. So each farm
run keeps a **lease** row in the results database (SQLite or PostgreSQL, the same portable SQL as
:mod:`rig.report.db`): run id, place, its labgrid owner and reservation token, host, pid, and a heartbeat renewed
every quarter of the lease's time-to-live. :func:`stale` says when a lease is dead: its process is gone (same host),
or its heartbeat is older than its TTL. ``rig lab reap`` acts on that (:mod:`rig.lab.reap`).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from rig.report.db import ResultsDb

_TABLE = """CREATE TABLE IF NOT EXISTS farm_leases (
    run_id TEXT PRIMARY KEY, place TEXT NOT NULL, owner TEXT NOT NULL, token TEXT, host TEXT NOT NULL,
    pid INTEGER NOT NULL, ttl_s DOUBLE PRECISION NOT NULL, started DOUBLE PRECISION NOT NULL,
    heartbeat DOUBLE PRECISION NOT NULL, ended DOUBLE PRECISION, outcome TEXT)"""
_COLS = "run_id, place, owner, token, host, pid, ttl_s, started, heartbeat, ended, outcome"


@dataclass(frozen=True)
class Lease:
    """One farm run's hold on a place (``ended`` is None while it holds it)."""

    run_id: str
    place: str
    owner: str
    token: str | None
    host: str
    pid: int
    ttl_s: float
    started: float
    heartbeat: float
    ended: float | None = None
    outcome: str | None = None


def stale(lease: Lease, now: float, host: str, pid_alive: Callable[[int], bool]) -> str | None:
    """Why ``lease`` is dead, or None while it lives: its process gone (a lease of this host), its heartbeat older than
    its TTL (any host)."""
    if lease.ended is not None:
        return None
    if lease.host == host and not pid_alive(lease.pid):
        return f"its process {lease.pid} on {host} is gone"
    age = now - lease.heartbeat
    if age > lease.ttl_s:
        return f"its heartbeat is {age:.0f} s old (lease TTL {lease.ttl_s:.0f} s)"
    return None


def this_host() -> str:
    """The host name leases record."""
    return socket.gethostname()


class LeaseStore:
    """The ``farm_leases`` table of the results database at ``url`` (made when missing)."""

    def __init__(self, url: str) -> None:
        self.db = ResultsDb(url, create=True)
        self._lock = threading.Lock()
        self.db.create_table(_TABLE)

    def _exec(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            rows = self.db.execute(sql, params)
            return rows

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    def open(self, lease: Lease) -> None:
        """Record ``lease`` (a run id seen before is replaced)."""
        self._exec("DELETE FROM farm_leases WHERE run_id = ?", (lease.run_id,))
        self._exec(
            f"INSERT INTO farm_leases ({_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (lease.run_id, lease.place, lease.owner, lease.token, lease.host, lease.pid, lease.ttl_s, lease.started,
             lease.heartbeat, lease.ended, lease.outcome),
        )  # fmt: skip

    def beat(self, run_id: str, now: float | None = None) -> None:
        """Renew the heartbeat of ``run_id``."""
        self._exec(
            "UPDATE farm_leases SET heartbeat = ? WHERE run_id = ? AND ended IS NULL", (now or time.time(), run_id)
        )

    def end(self, run_id: str, outcome: str, now: float | None = None) -> None:
        """Close the lease of ``run_id`` with ``outcome`` (``released``, ``reaped: ...``)."""
        self._exec(
            "UPDATE farm_leases SET ended = ?, outcome = ? WHERE run_id = ? AND ended IS NULL",
            (now or time.time(), outcome, run_id),
        )

    def active(self) -> list[Lease]:
        """Every lease not ended."""
        rows = self._exec(f"SELECT {_COLS} FROM farm_leases WHERE ended IS NULL ORDER BY started")
        return [_lease(r) for r in rows]

    def spans(self) -> list[tuple[str, str, float, float | None]]:
        """Every lease's run id, place, start and end (None while open), oldest first: how the places were shared."""
        rows = self._exec("SELECT run_id, place, started, ended FROM farm_leases ORDER BY started")
        return [(str(r[0]), str(r[1]), float(r[2]), None if r[3] is None else float(r[3])) for r in rows]

    def get(self, run_id: str) -> Lease | None:
        """The lease of ``run_id``."""
        rows = self._exec(f"SELECT {_COLS} FROM farm_leases WHERE run_id = ?", (run_id,))
        return _lease(rows[0]) if rows else None


def _lease(row: tuple[Any, ...]) -> Lease:
    return Lease(str(row[0]), str(row[1]), str(row[2]), row[3], str(row[4]), int(row[5]), float(row[6]),
                 float(row[7]), float(row[8]), None if row[9] is None else float(row[9]), row[10])  # fmt: skip


@contextlib.contextmanager
def heartbeat(store: LeaseStore, run_id: str, ttl_s: float) -> Iterator[None]:
    """Renew ``run_id``'s heartbeat every quarter of ``ttl_s`` on a thread, for the block."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(ttl_s / 4):
            with contextlib.suppress(Exception):  # a missed beat is one of four before the lease is stale
                store.beat(run_id)

    thread = threading.Thread(target=beat, name=f"rig-lease-{run_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
