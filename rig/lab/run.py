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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rig import sandbox
from rig.config import RigConfig, load_config
from rig.lab.farm import ENV_FARM, database_url, farm_bench


def farm_run(
    args: argparse.Namespace,
    cfg: RigConfig,
    values: dict[str, Any],
    inner: Callable[[argparse.Namespace, RigConfig, dict[str, Any]], int],
) -> int:
    """Hold a place for the run, run ``inner`` (``rig run``'s own steps) on it, give it back."""
    from rig.session import open_bench

    args.run_id = args.run_id or sandbox.new_run_id()
    reports = cfg.report.dir if cfg.report.dir.is_absolute() else Path.cwd() / cfg.report.dir

    def safe_state(config: RigConfig) -> None:
        with open_bench(config) as bench:
            bench.safe_state()

    t0 = time.monotonic()
    with farm_bench(cfg, args.run_id, database_url(cfg, reports), safe_state=safe_state) as got:
        merged = {**values, **got.bench.overrides}
        run_cfg = load_config(cfg.config_path, overrides=merged)
        got.timings["scheduling_s"] = time.monotonic() - t0
        os.environ[ENV_FARM] = json.dumps(got.describe())
        args.bench_netns = got.bench.netns  # only the sandbox joins it: see bench_network
        try:
            return inner(args, run_cfg, merged)
        finally:
            os.environ.pop(ENV_FARM, None)
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
