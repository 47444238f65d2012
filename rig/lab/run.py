"""``rig run`` on a farm bench: the run as always, inside :func:`rig.lab.farm.farm_bench`.

The place's addresses become rig.yaml overrides for the run (the run inside the sandbox reads them as it reads
``--set``); where the bench's network is a network namespace of this host (a virtual bench of ``rig sim export``),
the run's sandbox is made inside it, as a controller on that bench's LAN (the rest of ``rig run``, the results
database's import among it, stays on the host's network). The farm part of the run record (place,
exporters, owner, labgrid version, scheduling times) travels to the run in ``RIG_FARM_RUN``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from rig import sandbox
from rig.config import RigConfig, load_config
from rig.lab.farm import ENV_FARM, FarmRun, database_url, farm_bench


@contextlib.contextmanager
def farm_place(
    args: argparse.Namespace, cfg: RigConfig, values: dict[str, Any], holder: str
) -> Iterator[tuple[RigConfig, dict[str, Any], FarmRun]]:
    """Hold a place of the farm for the block, for ``holder`` (a run's id, ``regress-<id>``, ``install-<id>``): yields
    rig.yaml with the place's addresses, those overrides merged with ``values``, and the place held. The farm part of
    the record travels in ``RIG_FARM_RUN`` and ``args.bench_netns`` names the bench's network (the sandboxes made in
    the block join it: :func:`bench_network`); the place is given back on every exit path."""
    reports = cfg.report.folder()
    assert cfg.config_path is not None
    t0 = time.monotonic()
    with farm_bench(cfg, holder, database_url(cfg, reports), safe_state=place_safe_state) as got:
        merged = {**values, **got.bench.overrides}
        run_cfg = load_config(cfg.config_path, overrides=merged)
        got.timings["scheduling_s"] = time.monotonic() - t0
        os.environ[ENV_FARM] = json.dumps(got.describe())
        args.bench_netns = got.bench.netns  # only the sandboxes join it: see bench_network
        try:
            yield run_cfg, merged, got
        finally:
            os.environ.pop(ENV_FARM, None)


def place_safe_state(config: RigConfig) -> None:
    """A dead holder's place put in its safe state before it is taken (every instrument role opened, made safe)."""
    from rig.session import open_bench

    with open_bench(config) as bench:
        bench.safe_state()


def farm_run(
    args: argparse.Namespace,
    cfg: RigConfig,
    values: dict[str, Any],
    inner: Callable[[argparse.Namespace, RigConfig, dict[str, Any]], int],
) -> int:
    """Hold a place for the run, run ``inner`` (``rig run``'s own steps) on it, give it back."""
    args.run_id = args.run_id or sandbox.new_run_id()
    with farm_place(args, cfg, values, args.run_id) as (run_cfg, merged, _):
        return inner(args, run_cfg, merged)
    raise AssertionError("not reached")  # mypy: the context manager may swallow exceptions


def bench_network(args: argparse.Namespace) -> contextlib.AbstractContextManager[None]:
    """The farm bench's network namespace (``args.bench_netns``, set by :func:`farm_run`) for the block that makes
    the run's sandbox; nothing for a run on the host's network. The rest of ``rig run`` stays on the host's network:
    the results database (a lab's PostgreSQL) is reached from there, not from the bench's LAN."""
    return sandbox.in_netns(getattr(args, "bench_netns", None))


def bench_safe_state(args: argparse.Namespace) -> Callable[[RigConfig], None] | None:
    """For a farm bench with a network of its own: the safe state a run puts a killed run's bench in before it starts
    (:func:`rig.session.lock_bench`), reached from inside that network; None (the default) otherwise."""
    netns = getattr(args, "bench_netns", "") or ""
    if not netns:
        return None

    def safe_state(config: RigConfig) -> None:
        from rig.session import open_bench

        with sandbox.in_netns(netns), open_bench(config) as bench:
            bench.safe_state()

    return safe_state
