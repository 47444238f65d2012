"""A farm run's hold on its place: reap, reserve, acquire, lease, and give everything back on every exit path.

:func:`farm_bench` is what ``rig run`` wraps the run in when rig.yaml has ``farm:``::

    with farm_bench(config, run_id, reports) as got:   # the place acquired as rig-<run id>, its lease beating,
        # its bench's reset after the last release done (rig.lab.control)
        ... run with got.bench.overrides, inside got.bench.netns if it has one ...
    # released, reservation cancelled, lease closed (also on an exception, Ctrl-C or SIGTERM)

A SIGKILLed ``rig run`` gives nothing back; its lease stops beating and its process is gone, and the next farm run
(or ``rig lab reap``) frees the place.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rig.config import RigConfig
from rig.lab.coordinator import Coordinator, FarmError, coordinator_address, labgrid_version
from rig.lab.lease import Lease, LeaseStore, heartbeat, this_host
from rig.lab.place import FarmBench, bench_from_place
from rig.lab.reap import reap
from rig.lab.resources import CONTROL_CLASS

READY_POLL_S = 0.25
"""How often a run that acquired a resetting bench looks again (its exporter polls the bench's state that often)."""
ENV_FARM = "RIG_FARM_RUN"
"""The farm part of the run record, JSON, passed to the run inside the sandbox."""


@dataclass(frozen=True)
class FarmRun:
    """The place a run holds."""

    bench: FarmBench
    owner: str
    token: str
    labgrid: str
    timings: dict[str, float]

    def describe(self) -> dict[str, Any]:
        """The farm part of the run record: place, exporters, owner, labgrid version, roles, scheduling times."""
        return {**self.bench.describe(self.labgrid, self.owner), "timings": dict(self.timings)}


def _say(text: str) -> None:
    print(f"rig: farm: {text}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def farm_bench(
    config: RigConfig,
    run_id: str,
    database_url: str,
    *,
    safe_state: Callable[[RigConfig], None] | None = None,
) -> Iterator[FarmRun]:
    """Hold a place of the farm for run ``run_id`` (see the module's docstring).

    Raises:
        PlaceBusy: no place within ``farm.wait``.
        FarmError: the coordinator refused or did not answer; the bench still resetting after ``farm.reset_wait``;
            a place without the mapped resources.
    """
    farm = config.farm
    assert farm is not None
    address = coordinator_address(farm.coordinator)
    user = f"rig-{run_id}"
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    with contextlib.ExitStack() as stack:
        coord = stack.enter_context(Coordinator(address, user))  # first: an unreachable one stops the run at once
        store = LeaseStore(database_url)
        stack.callback(store.close)
        reports = config.report.folder()
        reap(coord, store, safe_state=_place_safe_state(coord, config, safe_state), say=_say,
             record=killed_run_recorder(reports, database_url))  # fmt: skip
        timings["reap_s"] = time.monotonic() - t0
        tags = dict(farm.tags) if farm.tags else {"name": farm.place or ""}
        _say(f"reserving a place by {farm.selection()} on {address} as {coord.owner} (waiting up to {farm.wait:.0f} s)")
        t1 = time.monotonic()
        token, place = coord.reserve(tags, farm.wait)
        stack.callback(coord.cancel, token)
        timings["wait_s"] = time.monotonic() - t1
        lease = Lease(run_id, place, coord.owner, token, this_host(), os.getpid(), farm.lease_ttl, time.time(),
                      time.time())  # fmt: skip
        store.open(lease)  # before the acquire: a run killed right after it is reaped all the same
        outcome = ["released"]
        stack.callback(_end_lease, store, run_id, outcome)
        coord.acquire(place)
        stack.callback(_release, coord, place, token, outcome)
        stack.enter_context(heartbeat(store, run_id, farm.lease_ttl))
        timings["reset_wait_s"] = await_bench_ready(coord, place, farm.reset_wait)
        bench = bench_from_place(config, place, coord.resources_of(place))
        timings["acquire_s"] = time.monotonic() - t0 - timings["wait_s"] - timings["reset_wait_s"]
        _say(f"acquired place {place} (exporters {', '.join(bench.exporters)}) in {timings['acquire_s']:.2f} s")
        yield FarmRun(bench, coord.owner, token, labgrid_version(), timings)
    return


def await_bench_ready(
    coord: Coordinator,
    place: str,
    timeout_s: float,
    *,
    poll_s: float = READY_POLL_S,
    say: Callable[[str], None] = _say,
) -> float:
    """Wait until no ``RigBenchControl`` resource of acquired ``place`` says ``resetting: true`` (its bench's reset
    after the last release is done: :mod:`rig.lab.control`); a place without one, or whose exporter publishes no
    ``resetting``, is ready. Each look syncs with the coordinator first. Returns the seconds waited.

    Raises:
        FarmError: still resetting after ``timeout_s`` (``farm.reset_wait``); the message names the place and the
            resources that said so.
    """
    t0 = time.monotonic()
    told = False
    while True:
        busy = [r for r in coord.resources_of(place) if r.cls == CONTROL_CLASS and r.params.get("resetting") is True]
        waited = time.monotonic() - t0
        if not busy:
            if told:
                say(f"place {place}: its bench's reset is done (waited {waited:.1f} s)")
            return waited
        names = ", ".join(f"{r.exporter}/{r.group}/{r.cls}/{r.name}" for r in busy)
        if waited >= timeout_s:
            raise FarmError(f"place {place}: its bench was still resetting after {timeout_s:g} s (farm.reset_wait): "
                            f"{names} says resetting: true; its bench host never marked the reset done")  # fmt: skip
        if not told:
            say(f"place {place}: its bench is resetting after the last release ({names}); waiting up to "
                f"{timeout_s:g} s")  # fmt: skip
            told = True
        time.sleep(poll_s)


def _end_lease(store: LeaseStore, run_id: str, outcome: list[str]) -> None:
    """Close the lease once the place is released; a place that could not be released is left to the reaper."""
    if outcome[0] == "released":
        store.end(run_id, outcome[0])


def _release(coord: Coordinator, place: str, token: str, outcome: list[str]) -> None:
    """Cancel the run's reservation ``token``, then release ``place`` (the run's session: grpc.aio binds a process to
    one event loop).

    In this order the place goes to the next waiting reservation at once. labgrid 26.0.1's scheduler
    (coordinator.py, ``schedule_reservations``) finds the free places from each place's copy of its reservation
    before it refreshes those copies: a place released first and its reservation cancelled after stays unallocated
    until the coordinator's next 15 s scheduling pass (measured: 13.5-14.3 s from a release to the next
    allocation, against 0.02-0.05 s in this order). The earlier callback's cancel of the same token is then a no-op.
    """
    coord.cancel(token)
    try:
        coord.release(place)
        _say(f"released place {place}")
    except FarmError as exc:
        outcome[0] = f"release failed: {exc}"
        _say(f"could not release place {place}: {exc} (`rig lab reap` frees it once the lease is stale)")


def _place_safe_state(
    coord: Coordinator, config: RigConfig, safe_state: Callable[[RigConfig], None] | None
) -> Callable[[str], None] | None:
    """A reaper's safe state for a place: rig.yaml's instruments at the place's addresses, opened and put safe."""
    if safe_state is None or not config.instruments:
        return None

    def run(place: str) -> None:
        from rig.config import load_config

        bench = bench_from_place(config, place, coord.resources_of(place))
        assert config.config_path is not None
        safe_state(load_config(config.config_path, overrides=bench.overrides))

    return run


def killed_run_recorder(reports: Path, database: str | None) -> Callable[[Lease], str]:
    """What the reaper does with a reaped lease of a run (``<reports>/<run id>``): its record closed as ``killed``
    (one made from the lease when the run died before it wrote one) and imported into ``database``, as a bench lock's
    take-over does (:func:`rig.session.record_killed`); leases of ``rig regress`` and ``rig firmware install`` hold
    no run of their own and are left as they are."""

    def record(lease: Lease) -> str:
        from rig.bench.lock import Holder
        from rig.report.regress import RUN_ID
        from rig.session import record_killed

        if not RUN_ID.match(lease.run_id):
            return "not a run of its own: nothing to record"
        holder = Holder(lease.run_id, lease.pid, lease.started, f"place {lease.place}", str(reports / lease.run_id))
        return record_killed(holder, database)

    return record


def database_url(config: RigConfig, reports: Path) -> str:
    """The results database the leases live in (the run's: ``$RIG_RESULTS_DB``, else ``report.database``, else
    ``<report.dir>/results.sqlite``)."""
    from rig.report.db import resolve_url

    return resolve_url(None, reports, config.report.database)
