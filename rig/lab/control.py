"""The bench control protocol between a ``RigBenchControl`` exporter and its bench host: a FIFO and a state file.

The exporter (:mod:`rig.lab.exporter`) tells its bench of the place's acquisitions and releases through a FIFO, one
line per event; the bench host reads it (``rig sim export`` does; a lab's own bench host may):

* ``acquire PLACE``: the place was acquired;
* ``release TOKEN``: the place was released; the bench is to be reset. ``TOKEN`` is new for every release.

A bench host that also keeps the **state file** next to the FIFO (``<fifo>.state``: the host creates it, e.g. with
``ready -``, when it starts reading the FIFO) lets the exporter publish whether the bench is being reset. The file
holds one line:

* ``resetting TOKEN``: written by the exporter just before it writes ``release TOKEN`` into the FIFO (and by the bench
  host itself when it resets on its own account);
* ``ready TOKEN``: written by the bench host once the reset of ``release TOKEN`` is done, only if the file still says
  ``resetting TOKEN`` (compare-and-write under an exclusive ``flock`` of the file: a reset that finishes late never
  marks a newer release ready). When no one reads the FIFO, the exporter writes ``ready TOKEN`` itself at once.

The exporter publishes ``resetting: true|false`` among the ``RigBenchControl`` resource's parameters (labgrid 26.0.1
exporter.py polls each export every 0.25 s and sends changed parameters to the coordinator; a release's parameter
update is queued before the release's answer, so the coordinator sees ``resetting: true`` before the release is
complete). A farm run that acquired the place waits until no ``RigBenchControl`` resource of it says ``resetting:
true`` (:func:`rig.lab.farm.await_bench_ready`). Without the state file the exporter publishes ``resetting: false``
and a bench without ``RigBenchControl`` (or with an exporter that publishes no ``resetting``) counts as ready.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

STATE_SUFFIX = ".state"
RESETTING = "resetting"
READY = "ready"


@dataclass(frozen=True)
class BenchState:
    """The state file's line: ``resetting`` or ``ready``, and the token of the release (or reset) it is about."""

    state: str
    token: str

    @property
    def resetting(self) -> bool:
        return self.state == RESETTING


def state_path(fifo: str | Path) -> Path:
    """The state file of the control FIFO ``fifo``: next to it, ``<fifo>.state``."""
    return Path(str(fifo) + STATE_SUFFIX)


def new_token() -> str:
    """A token for one release or reset (unique across exporters and their restarts)."""
    return secrets.token_hex(6)


def notify(fifo: str | Path, line: str) -> bool:
    """Write ``line`` to the FIFO at ``fifo`` without blocking; False when no one reads it."""
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno in (errno.ENXIO, errno.ENOENT):
            return False
        raise
    try:
        os.write(fd, (line.rstrip("\n") + "\n").encode())
    finally:
        os.close(fd)
    return True


@contextlib.contextmanager
def _locked(path: Path, create: bool) -> Iterator[int | None]:
    """The state file open read-write under an exclusive lock; None when it does not exist (and ``create`` is off)."""
    flags = os.O_RDWR | (os.O_CREAT if create else 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileNotFoundError:
        yield None
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)  # closing drops the lock


def _read(fd: int) -> BenchState | None:
    os.lseek(fd, 0, os.SEEK_SET)
    words = os.read(fd, 256).decode(errors="replace").split()
    if len(words) == 2 and words[0] in (RESETTING, READY):
        return BenchState(words[0], words[1])
    return None


def _write(fd: int, state: BenchState) -> None:
    os.lseek(fd, 0, os.SEEK_SET)
    os.ftruncate(fd, 0)
    os.write(fd, f"{state.state} {state.token}\n".encode())


def read_state(path: Path) -> BenchState | None:
    """The state file's line; None when there is no state file (or no line of the protocol in it)."""
    with _locked(path, create=False) as fd:
        return None if fd is None else _read(fd)


def write_state(path: Path, state: str, token: str, *, create: bool = False) -> bool:
    """Write ``state token`` into the state file; False (nothing written) when there is none and not ``create``."""
    with _locked(path, create=create) as fd:
        if fd is None:
            return False
        _write(fd, BenchState(state, token))
        return True


def mark_ready(path: Path, token: str) -> bool:
    """``ready TOKEN`` if the state file says ``resetting TOKEN`` (compare-and-write); whether it was written."""
    with _locked(path, create=False) as fd:
        if fd is None:
            return False
        now = _read(fd)
        if now is None or now != BenchState(RESETTING, token):
            return False
        _write(fd, BenchState(READY, token))
        return True


def release(fifo: str | Path) -> str:
    """The exporter's side of a release: ``resetting TOKEN`` into the state file (if the bench keeps one), then
    ``release TOKEN`` into the FIFO; ``ready TOKEN`` at once when no one reads the FIFO. Returns the token."""
    token = new_token()
    state = state_path(fifo)
    with contextlib.suppress(OSError):  # the bench is told all the same
        write_state(state, RESETTING, token)
    try:
        told = notify(fifo, f"release {token}")
    except OSError:
        told = False
    if not told:
        with contextlib.suppress(OSError):
            mark_ready(state, token)
    return token


def published_resetting(fifo: str | Path) -> bool:
    """What the exporter publishes as ``resetting``: the state file says ``resetting`` (False without one)."""
    try:
        got = read_state(state_path(fifo))
    except OSError:
        return False
    return got is not None and got.resetting
