"""Instrument tests leave no thread running (sockets and processes: the check of tests/conftest.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

THREAD_GRACE_S = 2.0
"""How long a thread told to stop may take to end before it counts as left behind."""


@pytest.fixture(autouse=True)
def no_thread_left() -> Iterator[None]:
    """Fail a test that leaves a thread running (a transport's reader, a scripted peer)."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + THREAD_GRACE_S
    while True:
        threads = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not threads or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not threads, f"test left threads running: {[t.name for t in threads]}"
