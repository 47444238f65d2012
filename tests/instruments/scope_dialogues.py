"""Recorded scope exchanges played two ways: in process (``ScriptedBlockTransport``) and on a real TCP socket
through ``VisaTransport`` and pyvisa-py, so the scripted transport is shown to treat the bytes as pyvisa does.

A script is a list of ``(bytes the driver writes, bytes the instrument answers | None | TIMEOUT)``.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import pytest

from rig.instruments.scripted import TIMEOUT
from rig.instruments.scripted_block import BlockEntry, ScriptedBlockTransport
from rig.instruments.transport import BlockTransport
from rig.instruments.visa_transport import VisaTransport

ROLE = "scope"
SCRIPTED_ADDRESS = "TCPIP0::192.0.2.7::5025::SOCKET"


class ScriptPeer:
    """A TCP peer playing a script: it reads exactly the bytes the driver must write, compares them, and sends the
    recorded answer; ``TIMEOUT`` (or a short answer) leaves the driver waiting. Extra bytes fail the script."""

    def __init__(self, script: Sequence[BlockEntry]) -> None:
        self.script = list(script)
        self.played = 0
        self.failure: str | None = None
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(10)
        self.port = int(self._listener.getsockname()[1])
        self._thread = threading.Thread(target=self._run, name="scope-script-peer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(10)
            pending = self._play(conn)
            while True:  # after the script (or a mismatch): the driver's side may only close
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                if self.failure is None:
                    self.failure = f"unexpected bytes after the script: {pending + chunk!r}"

    def _play(self, conn: socket.socket) -> bytes:
        """Play the script; on a mismatch record it and stop answering (the driver then times out)."""
        pending = b""
        for written, answer in self.script:
            while len(pending) < len(written):
                chunk = conn.recv(65536)
                if not chunk:
                    self.failure = f"the driver closed before writing {written!r} (got {pending!r})"
                    return b""
                pending += chunk
            got, pending = pending[: len(written)], pending[len(written) :]
            if got != written:
                self.failure = f"expected the driver to write {written!r}, it wrote {got!r}"
                return b""
            if isinstance(answer, bytes):
                conn.sendall(answer)
            self.played += 1
            if answer is TIMEOUT:
                break
        return pending

    def finish(self) -> None:
        """Wait for the peer (the driver has closed) and fail unless the whole script was played exactly."""
        self._thread.join(10)
        self._listener.close()
        assert not self._thread.is_alive(), "script peer still running"
        assert self.failure is None, self.failure
        assert self.played == len(self.script), f"script not finished: {self.script[self.played :]}"


@dataclass
class Wire:
    """One played script: the transport a driver gets and the check that the script was played exactly."""

    transport: BlockTransport
    finish: Callable[[], None]


WireFactory = Callable[..., Wire]


def _scripted(script: Sequence[BlockEntry], timeout_s: float) -> Wire:
    t = ScriptedBlockTransport(script, role=ROLE, address=SCRIPTED_ADDRESS, timeout_s=timeout_s)

    def finish() -> None:
        t.close()
        t.assert_done()

    return Wire(t, finish)


def _socket(script: Sequence[BlockEntry], timeout_s: float, peers: list[tuple[ScriptPeer, VisaTransport]]) -> Wire:
    peer = ScriptPeer(script)
    t = VisaTransport(ROLE, f"TCPIP0::127.0.0.1::{peer.port}::SOCKET", timeout_s=timeout_s)
    peers.append((peer, t))

    def finish() -> None:
        t.close()
        peer.finish()

    return Wire(t, finish)


@pytest.fixture(params=["scripted", "socket"])
def wire(request: pytest.FixtureRequest) -> Iterator[WireFactory]:
    """``wire(script, timeout_s=2.0)``: the script on a scripted transport, then again on a real socket."""
    peers: list[tuple[ScriptPeer, VisaTransport]] = []

    def make(script: Sequence[BlockEntry], timeout_s: float = 2.0) -> Wire:
        if request.param == "scripted":
            return _scripted(script, timeout_s)
        return _socket(script, timeout_s, peers)

    yield make
    for peer, transport in peers:  # a failed test may leave both open: the peer ends when the driver's side closes
        transport.close()
        peer._listener.close()
        peer._thread.join(10)
