"""``rig run`` on a farm bench: the run as always, inside :func:`rig.lab.farm.farm_bench`.

The place's addresses become rig.yaml overrides for the run (the run inside the sandbox reads them as it reads
``--set``); where the bench's network is a network namespace of this host (a virtual bench of ``rig sim export``),
the run's sandbox is made inside it, as a controller on that bench's LAN. The farm part of the run record (place,
exporters, owner, labgrid version, scheduling times) travels to the run in ``RIG_FARM_RUN``.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rig import sandbox
from rig.config import RigConfig, load_config
from rig.lab.farm import ENV_FARM, database_url, farm_bench

CLONE_NEWNET = 0x40000000


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
        try:
            with joined_netns(got.bench.netns):
                return inner(args, run_cfg, merged)
        finally:
            os.environ.pop(ENV_FARM, None)
    raise AssertionError("not reached")  # mypy: the context manager may swallow exceptions


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


@contextlib.contextmanager
def joined_netns(name: str) -> Iterator[None]:
    """This thread (and what it starts) in network namespace ``name`` for the block; nothing for ""."""
    if not name:
        yield
        return
    with open("/proc/thread-self/ns/net", "rb") as home, open(f"/run/netns/{name}", "rb") as target:
        _setns(target.fileno())
        try:
            yield
        finally:
            _setns(home.fileno())
