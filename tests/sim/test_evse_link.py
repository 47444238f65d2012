"""The plant's link to the EVSE hardware port: a connection that is never served does not hold the pilot off.

A hardware port that accepts a connection and then never answers it (a connection caught by an EVSE that was
closing) once held the reconnect on the 5 s request timeout: the pilot read E for 5 s after a power cycle and the
next case's state A wait failed. The handshake now gives up after ``HANDSHAKE_TIMEOUT_S`` and connects again, and a
read that fails (reset by the peer) is treated like the port closing. An EVSE that has just booted is first asked
for its outputs, so that the inputs it gets are the pilot it drives, not the dead one of before.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from rig.sim import evse_link
from rig.sim.evse_link import EvseLink
from rig.sim.plant import Plant
from tests.support import await_until


class Port:
    """A hardware port on a unix socket: the first ``mute`` connections are accepted and never answered."""

    def __init__(self, path: Path, *, mute: int = 0) -> None:
        self.path = path
        self.mute = mute
        self.connections = 0
        self.ops: list[str] = []
        self.messages: list[dict[str, Any]] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_unix_server(self._serve, str(self.path))

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        for w in self.writers:
            w.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        muted = self.connections <= self.mute
        while line := await reader.readline():
            if muted:
                continue
            message = json.loads(line)
            op = message["op"]
            self.ops.append(op)
            self.messages.append(message)
            driven = op in ("get", "attach", "subscribe")
            outputs = {"cp_mode": "+12V", "duty_pct": None, "contactor": False} if driven else {}
            writer.write((json.dumps({"ok": True, "outputs": outputs}) + "\n").encode())


@pytest.fixture
def socket_path(tmp_path: Path) -> Path:
    return tmp_path / "hw.sock"


@pytest.fixture
async def served(socket_path: Path) -> AsyncIterator[Callable[..., Awaitable[tuple[Port, EvseLink]]]]:
    """Factory of (port, link) on ``socket_path``: the port listening, the link made, both closed at teardown."""
    made: list[tuple[Port, EvseLink]] = []

    async def make(*, mute: int, connect_timeout_s: float = 10.0) -> tuple[Port, EvseLink]:
        port = Port(socket_path, mute=mute)
        await port.start()
        link = EvseLink(Plant(), socket_path, connect_timeout_s=connect_timeout_s)
        made.append((port, link))
        return port, link

    yield make
    for port, link in made:
        await link.stop()
        await port.close()


async def test_unanswered_handshake_is_retried_after_the_handshake_timeout(served, monkeypatch) -> None:
    monkeypatch.setattr(evse_link, "HANDSHAKE_TIMEOUT_S", 0.2)
    port, link = await served(mute=1)
    link.plant.set_evse_outputs("off", None, False)
    waits: list[tuple[str, float]] = []
    request = link.request

    async def recorded(msg: dict[str, Any], timeout_s: float = 5.0) -> dict[str, Any]:
        waits.append((msg["op"], timeout_s))
        return await request(msg, timeout_s)

    link.request = recorded  # type: ignore[method-assign]
    await link.start()
    assert port.connections == 2, f"expected a second connection after the mute one, got {port.connections}"
    assert port.ops[:4] == ["get", "inputs", "attach", "subscribe"], port.ops
    assert link.plant.cp_mode == "+12V", f"the EVSE's outputs were not applied after the retry: {link.plant.cp_mode}"
    # the mute connection was given up after the handshake bound, not the requests' default 5 s
    assert waits == [("get", 0.2), ("get", 0.2), ("inputs", 0.2), ("attach", 0.2), ("subscribe", 0.2)], waits


async def test_a_booted_evse_is_given_the_pilot_it_drives(served) -> None:
    """The plant still holds the outputs of the EVSE that lost its power (no pilot); the new one drives +12 V."""
    port, link = await served(mute=0)
    link.plant.set_evse_outputs("off", None, False)
    await link.start()
    first = next(m for m in port.messages if m["op"] == "inputs")
    assert first["cp_high_v"] == pytest.approx(12.0), f"the first inputs read a pilot of {first['cp_high_v']} V"


async def test_handshake_never_answered_fails_naming_the_socket(served) -> None:
    _, link = await served(mute=1000, connect_timeout_s=1.5)
    with pytest.raises(TimeoutError, match=r"hw\.sock: no handshake within 1\.5 s"):
        await link.start()


async def test_reset_connection_fails_the_waiting_request_at_once(served, socket_path: Path) -> None:
    """A read that raises (connection reset) fails the request waiting for its reply, like an EOF would."""
    _, link = await served(mute=1000)
    reader = asyncio.StreamReader()
    _, writer = await asyncio.open_unix_connection(str(socket_path))
    link._writer = writer
    loop_task = asyncio.create_task(link._read_loop(reader, writer))
    pending = asyncio.create_task(link.request({"op": "get"}, timeout_s=5.0))
    await await_until(lambda: len(link._replies), bool, timeout_s=5.0, what="the request waiting for its reply")
    reader.set_exception(ConnectionResetError("reset by peer"))
    # held until its timeout, it would fail with a TimeoutError naming the 5 s instead
    with pytest.raises(ConnectionError, match="EVSE hardware port closed"):
        await pending
    link._writer = None  # no reconnect from here on
    for task in link._tasks:
        task.cancel()
    await asyncio.gather(loop_task, *link._tasks, return_exceptions=True)
