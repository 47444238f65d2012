"""Instrument tests leave nothing behind: no new threads, no open sockets."""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Iterator

import pytest


def _sockets() -> set[str]:
    found: set[str] = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:"):
            found.add(f"{fd}->{target}")
    return found


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """Fail a test that leaves a thread running or a socket open."""
    threads_before = set(threading.enumerate())
    sockets_before = _sockets()
    yield
    deadline = time.monotonic() + 2.0
    while True:
        gc.collect()
        threads = [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]
        sockets = _sockets() - sockets_before
        if (not threads and not sockets) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not threads, f"test left threads running: {[t.name for t in threads]}"
    assert not sockets, f"test left sockets open: {sorted(sockets)}"
