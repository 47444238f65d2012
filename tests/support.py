"""Helpers of the rig's own tests: bounded waits for a condition (never a fixed sleep) and a port that refuses."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

from rig.ev_emulator.channels import EV_CHANNELS

T = TypeVar("T")

POLL_S = 0.01

FULL_WIRING = {name: relay for relay, name in enumerate(EV_CHANNELS, start=1)}
"""Every EV emulator channel on relays 1..12, in the order rig.ev_emulator.channels lists them."""


def wait_until(read: Callable[[], T], done: Callable[[T], bool], *, timeout_s: float, what: str) -> T:
    """Read until ``done(value)``; return that value. The bound only stops a hang: it fails naming ``what``.

    Args:
        read: what to read again (a measurement, a file, a process state).
        done: whether the value read is the one awaited.
        timeout_s: how long to wait at most, s.
        what: what is awaited, for the failure message.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not seen within {timeout_s:g} s; last read: {value!r}")
        time.sleep(POLL_S)


async def await_until(
    read: Callable[[], Awaitable[T]] | Callable[[], T], done: Callable[[T], bool], *, timeout_s: float, what: str
) -> T:
    """:func:`wait_until` inside the event loop (``read`` may be a coroutine function)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        value = read()
        if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
            value = await value
        if done(value):  # type: ignore[arg-type]
            return value  # type: ignore[return-value]
        if loop.time() > deadline:
            raise AssertionError(f"{what}: not seen within {timeout_s:g} s; last read: {value!r}")
        await asyncio.sleep(POLL_S)


@contextlib.contextmanager
def refusing_port(host: str = "127.0.0.1") -> Iterator[int]:
    """A TCP port held (bound, not listening) for the block: a connection to it is refused, and no other process
    can take it meanwhile (a port bound, closed and then named is anyone's)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((host, 0))
        yield sock.getsockname()[1]
    finally:
        sock.close()
