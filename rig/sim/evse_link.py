"""The plant's connection to the virtual EVSE's hardware port (virtual_evse/README.md "Hardware port").

A client of the unix-socket NDJSON port: it sends the plant's inputs, attaches (the plant becomes the source of the
EVSE's physical inputs), subscribes to outputs and then pushes the changed input fields after every plant change (and
the meter every ``meter_period_s``). Output events carry ``t_wall_ms`` (the EVSE's ``performance.timeOrigin +
performance.now()``); it is mapped to the plant clock with the offset between ``time.time_ns`` and
``time.monotonic_ns`` measured at connect, so edges are stamped when the EVSE changed its output, not when the
message arrived. That mapping needs the plant on its real clock (:class:`rig.sim.plant.MonotonicClock`); on another
clock an output is stamped when it arrives (on the plant's clock).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from pathlib import Path
from typing import Any

from rig.sim.plant import MonotonicClock, Plant

log = logging.getLogger(__name__)


def wall_to_monotonic_offset_ns(samples: int = 16) -> int:
    """Offset ``time.time_ns() - time.monotonic_ns()``, taken from the tightest of ``samples`` readings."""
    best: tuple[int, int] | None = None
    for _ in range(samples):
        a = time.monotonic_ns()
        w = time.time_ns()
        b = time.monotonic_ns()
        if best is None or b - a < best[0]:
            best = (b - a, w - (a + b) // 2)
    assert best is not None
    return best[1]


async def one_request(socket_path: Path, msg: dict[str, Any], timeout_s: float = 5.0) -> dict[str, Any]:
    """Send one request to the EVSE's hardware port on a connection of its own and return its reply.

    Raises:
        TimeoutError: no reply within ``timeout_s`` (the message names the request and the socket).
        ConnectionError: the port refused the request (``ok`` false: its error is in the message).
    """
    what = f"EVSE hardware port {socket_path}: request {msg.get('op')!r}"
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_unix_connection(str(socket_path))
            try:
                writer.write((json.dumps(msg) + "\n").encode())
                await writer.drain()
                line = await reader.readline()
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
    except TimeoutError as exc:
        raise TimeoutError(f"{what}: no reply within {timeout_s:g} s") from exc
    reply: dict[str, Any] = json.loads(line) if line else {"ok": False, "error": "connection closed without a reply"}
    if not reply.get("ok"):
        raise ConnectionError(f"{what} refused: {reply.get('error')} (sent {msg})")
    return reply


HANDSHAKE_TIMEOUT_S = 1.0
"""Bound on each reply of the (re)connect handshake (inputs, attach, subscribe)."""


class EvseLink:
    """Client of the EVSE hardware port driving it from the plant.

    Args:
        plant: the plant whose state is pushed and which receives the EVSE's outputs.
        socket_path: the EVSE's hardware-port socket.
        meter_period_s: period of meter pushes while power flows.
        connect_timeout_s: bound on waiting for the socket to appear and answer.
    """

    def __init__(
        self, plant: Plant, socket_path: Path, *, meter_period_s: float = 1.0, connect_timeout_s: float = 10.0
    ) -> None:
        self.plant = plant
        self.socket_path = Path(socket_path)
        self.meter_period_s = meter_period_s
        self.connect_timeout_s = connect_timeout_s
        self.offset_ns = wall_to_monotonic_offset_ns()
        self.outputs: dict[str, Any] = {}
        self.latencies_ms: deque[float] = deque(maxlen=200)  # receive time - EVSE timestamp, per output event
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._replies: deque[asyncio.Future[dict[str, Any]]] = deque()
        self._sent: dict[str, Any] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._reconnecting = False

    async def start(self) -> None:
        """Connect, push all inputs, attach and subscribe (raises TimeoutError naming the socket)."""
        await self._attach(deadline=time.monotonic() + self.connect_timeout_s)
        self.plant.add_listener(self._on_plant_change)
        self._tasks.append(asyncio.create_task(self._meter_loop()))

    async def _connect(self) -> None:
        """Open the socket, push every input, attach and subscribe."""
        deadline = time.monotonic() + self.connect_timeout_s
        while True:
            try:
                self._reader, self._writer = await asyncio.open_unix_connection(str(self.socket_path), limit=2**20)
                break
            except (FileNotFoundError, ConnectionRefusedError) as exc:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"EVSE hardware port {self.socket_path} not reachable within {self.connect_timeout_s:g} s"
                    ) from exc
                await asyncio.sleep(0.05)
        self._tasks.append(asyncio.create_task(self._read_loop(self._reader, self._writer)))
        # The EVSE answers a local request in milliseconds: a handshake left unanswered for a second is a
        # connection that will never be served (caught by an EVSE that was closing); the caller retries.
        # Its outputs first: an EVSE that has just booted drives its pilot, and the inputs it is given must be the
        # pilot it drives, not the dead one of before (which it would read as a short to PE).
        reply = await self.request({"op": "get"}, HANDSHAKE_TIMEOUT_S)
        self._apply_outputs(reply.get("outputs", {}), None)
        inputs = self.plant.evse_inputs()
        await self.request({"op": "inputs", **inputs}, HANDSHAKE_TIMEOUT_S)
        self._sent = dict(inputs)
        reply = await self.request({"op": "attach"}, HANDSHAKE_TIMEOUT_S)
        self._apply_outputs(reply.get("outputs", {}), None)
        reply = await self.request({"op": "subscribe"}, HANDSHAKE_TIMEOUT_S)
        self._apply_outputs(reply.get("outputs", {}), None)

    async def _reconnect(self) -> None:
        """The EVSE went away (power cycle, restart): reconnect as soon as its port is back, then re-attach.

        A powered-down EVSE drives nothing: its outputs are off (no pilot source, contactor open) until it is back.
        """
        self._reconnecting = True
        self._apply_outputs({"cp_mode": "off", "duty_pct": None, "contactor": False}, None)
        try:
            await self._attach(deadline=None)
            log.info("EVSE hardware port %s: reconnected and re-attached", self.socket_path)
        finally:
            self._reconnecting = False

    async def _attach(self, *, deadline: float | None) -> None:
        """Connect and handshake, again after every failure, until it succeeds or ``deadline`` (monotonic) passes."""
        while True:
            self._drop_connection()
            try:
                await self._connect()
                return
            except OSError as exc:  # TimeoutError and ConnectionError included
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(
                        f"EVSE hardware port {self.socket_path}: no handshake within {self.connect_timeout_s:g} s "
                        f"({exc})"
                    ) from exc
                log.info("EVSE hardware port %s not ready yet: %s", self.socket_path, exc)
                await asyncio.sleep(0.1)

    def _drop_connection(self) -> None:
        """Close the present connection (if any) and fail the requests waiting on it."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
        while self._replies:
            fut = self._replies.popleft()
            if not fut.done():
                fut.set_exception(ConnectionError("EVSE hardware port closed"))

    async def stop(self) -> None:
        """Detach and disconnect (idempotent; the EVSE may already be gone)."""
        self.plant.remove_listener(self._on_plant_change)
        writer, self._writer = self._writer, None  # no reconnect from here on
        if writer is not None and not writer.is_closing():
            self._writer = writer
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.request({"op": "detach"}), 1.0)
            self._writer = None
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()
        while self._replies:
            fut = self._replies.popleft()
            if not fut.done():
                fut.cancel()

    async def request(self, msg: dict[str, Any], timeout_s: float = 5.0) -> dict[str, Any]:
        """Send one request and await its reply line."""
        fut = self._send(msg)
        try:
            return await asyncio.wait_for(fut, timeout_s)
        except TimeoutError as exc:
            raise TimeoutError(f"EVSE hardware port: no reply to {msg.get('op')!r} within {timeout_s:g} s") from exc

    async def get(self) -> dict[str, Any]:
        """The EVSE's ``get`` reply (attached, inputs, outputs, state)."""
        return await self.request({"op": "get"})

    def _send(self, msg: dict[str, Any]) -> asyncio.Future[dict[str, Any]]:
        if self._writer is None or self._writer.is_closing():
            raise ConnectionError(f"EVSE hardware port {self.socket_path} is not connected")
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies.append(fut)
        self._writer.write((json.dumps(msg) + "\n").encode())
        return fut

    def _push(self, fields: dict[str, Any]) -> None:
        changed = {k: v for k, v in fields.items() if self._sent.get(k, object()) != v}
        if not changed or self._writer is None or self._writer.is_closing():
            return
        self._sent.update(changed)
        fut = self._send({"op": "inputs", **changed})
        fut.add_done_callback(self._check_reply)

    @staticmethod
    def _check_reply(fut: asyncio.Future[dict[str, Any]]) -> None:
        if fut.cancelled() or fut.exception() is not None:
            return
        if not fut.result().get("ok"):
            log.warning("EVSE hardware port refused inputs: %s", fut.result())

    def _on_plant_change(self, plant: Plant) -> None:
        self._push(plant.evse_inputs())  # only the changed fields go out

    async def _meter_loop(self) -> None:
        while True:
            await asyncio.sleep(self.meter_period_s)
            inputs = self.plant.evse_inputs()
            self._push({k: inputs[k] for k in ("meter_energy_mwh", "meter_power_mw")})

    async def _read_loop(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                line = await reader.readline()
            except (OSError, ValueError) as exc:  # reset by the peer (a connection caught by a closing EVSE), overlong
                log.info("EVSE hardware port read failed: %s", exc)
                line = b""
            if not line:
                log.info("EVSE hardware port closed")
                if writer is not self._writer:
                    return  # an old connection, or stopping: nothing to do
                self._drop_connection()
                if not self._reconnecting:  # the EVSE restarts (power cycle): attach again when it is back
                    self._tasks.append(asyncio.create_task(self._reconnect()))
                return
            recv_ns = self.plant.now_ns()
            try:
                msg = json.loads(line)
            except ValueError:
                log.warning("EVSE hardware port sent bad JSON: %r", line[:200])
                continue
            if msg.get("event") == "outputs":
                t_ns = self._map_time(msg.get("t_wall_ms"), recv_ns)
                self._apply_outputs(msg, t_ns)
            elif self._replies:
                fut = self._replies.popleft()
                if not fut.done():
                    fut.set_result(msg)

    def _map_time(self, t_wall_ms: float | None, recv_ns: int) -> int:
        """EVSE wall-clock timestamp → plant clock; the receive time if absent or implausible."""
        if t_wall_ms is None or not isinstance(self.plant.clock, MonotonicClock):
            return recv_ns
        t_ns = int(float(t_wall_ms) * 1e6) - self.offset_ns
        self.latencies_ms.append((recv_ns - t_ns) / 1e6)
        if t_ns > recv_ns or recv_ns - t_ns > 1_000_000_000:
            return recv_ns
        return t_ns

    def _apply_outputs(self, outputs: dict[str, Any], t_ns: int | None) -> None:
        if not outputs:
            return
        self.outputs = {k: outputs.get(k) for k in ("cp_mode", "duty_pct", "contactor", "t_ms", "t_wall_ms")}
        self.plant.set_evse_outputs(
            str(outputs.get("cp_mode", "+12V")), outputs.get("duty_pct"), bool(outputs.get("contactor")), t_ns
        )
