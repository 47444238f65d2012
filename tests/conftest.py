"""The rig's own tests leave nothing behind: an autouse check around every test (and every module) fails one that
leaves a child process, an open socket, a ``rig-*`` network namespace or a mount under /run/rig or /data.

Everything is compared before and after every test, from cheap reads: this process's children and open file
descriptors, the ``/run/netns`` folder (what ``ip netns list`` lists) and ``/proc/self/mountinfo``. What is gone
within ``LEAK_GRACE_S`` (a process already told to exit, a socket dropped with its last reference) does not count.
A new namespace in which a process outside this test's process tree runs belongs to another run on the machine
(``rig run`` by someone else), not to the test; mounts of other runs live in their own mount namespaces. A module's
own fixtures are checked at its end. Cases that a test runs with ``rig run`` (tests/e2e/bench_cases, tests/pics/cases)
are not checked inside that run: what the run leaves is the starting test's to check.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

LEAK_GRACE_S = 2.0
"""How long a process told to exit, or a socket being closed, may take before it counts as left behind."""

NETNS_DIR = Path("/run/netns")
MOUNT_ROOTS = ("/run/rig", "/data")


def _process_wide_contexts() -> None:
    """Make now what a library keeps for the whole process, so that the first test to need it is not blamed for it:
    pyvisa-py's USB backend (with PyUSB installed) initialises libusb when its module loads, whose default context
    keeps a netlink (udev event) socket open until the process ends."""
    with contextlib.suppress(Exception):  # no PyUSB or no libusb: nothing is kept either
        import pyvisa_py.usb  # noqa: F401


_process_wide_contexts()


# ---------------------------------------------------------------------------------------------- what we look at
def _children() -> dict[tuple[int, float], psutil.Process]:
    """This process's descendants, keyed by (pid, start time) so that a reused pid is a new process."""
    found = {}
    for child in psutil.Process().children(recursive=True):
        try:
            found[(child.pid, child.create_time())] = child
        except psutil.NoSuchProcess:
            continue
    return found


def _describe_process(proc: psutil.Process) -> str:
    try:
        status = proc.status()
    except psutil.NoSuchProcess:
        return f"pid {proc.pid} (gone)"
    if status == psutil.STATUS_ZOMBIE:
        return f"pid {proc.pid} [exited, never waited for]"
    try:
        cmd = " ".join(proc.cmdline()) or proc.name()
    except psutil.Error:
        cmd = "?"
    return f"pid {proc.pid} [{status}]: {cmd[:160]}"


def _sockets() -> set[str]:
    """Open sockets of this process as ``fd:socket:[inode]`` (a reused fd with a new socket is a new entry)."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # closed meanwhile (or the listing's own fd)
        if target.startswith("socket:"):
            found.add(f"{fd}:{target}")
    return found


def _event_loop_sockets() -> set[str]:
    """The self-pipe sockets of the event loops still open (the test session's own loop lives across tests)."""
    fds = set()
    for obj in gc.get_objects():
        if isinstance(obj, asyncio.BaseEventLoop) and not obj.is_closed():
            for name in ("_ssock", "_csock"):
                sock = getattr(obj, name, None)
                if sock is not None and sock.fileno() >= 0:
                    fds.add(sock.fileno())
    return {s for s in _sockets() if int(s.split(":", 1)[0]) in fds}


def _describe_sockets(entries: set[str]) -> list[str]:
    by_fd = {}
    for conn in psutil.Process().net_connections(kind="all"):
        kind = {1: "unix", 2: "ipv4", 10: "ipv6"}.get(int(conn.family), str(conn.family))
        proto = {1: "tcp", 2: "udp"}.get(int(conn.type), str(conn.type)) if kind != "unix" else ""
        laddr = ":".join(map(str, conn.laddr)) if isinstance(conn.laddr, tuple) else (conn.laddr or "unnamed")
        raddr = ":".join(map(str, conn.raddr)) if isinstance(conn.raddr, tuple) else (conn.raddr or "")
        text = f"{kind} {proto} {laddr}".replace("  ", " ")
        if raddr:
            text += f" -> {raddr}"
        if conn.status and conn.status != psutil.CONN_NONE:
            text += f" {conn.status}"
        by_fd[conn.fd] = text
    described = []
    for entry in sorted(entries, key=lambda e: int(e.split(":", 1)[0])):
        fd = int(entry.split(":", 1)[0])
        described.append(f"fd {fd}: {by_fd.get(fd, entry.split(':', 1)[1])}")
    return described


def _netns() -> set[str]:
    """The ``rig-*`` network namespaces (``ip netns list`` lists this folder)."""
    try:
        return {name for name in os.listdir(NETNS_DIR) if name.startswith("rig-")}
    except FileNotFoundError:
        return set()


def _run_by_others(name: str) -> bool:
    """Whether a process outside this process's tree runs in network namespace ``name`` (another run's)."""
    try:
        ns = os.stat(NETNS_DIR / name)
    except OSError:
        return False
    ours = {os.getpid(), *(p.pid for p in psutil.Process().children(recursive=True))}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            st = os.stat(f"/proc/{pid}/ns/net")
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (ns.st_dev, ns.st_ino) and int(pid) not in ours:
            return True
    return False


def _mounts() -> set[str]:
    """Mount points at or under /run/rig and /data in this process's mount namespace."""
    points = set()
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split(" ")[4]
        if any(point == root or point.startswith(root + "/") for root in MOUNT_ROOTS):
            points.add(point)
    return points


# ------------------------------------------------------------------------------------------------ the check
_blamed: set[object] = set()
"""What a check has already named (a child's key, a socket, a namespace, a mount): not named again by the next."""


@dataclass
class Snapshot:
    """What existed before a test (or module); :meth:`left_behind` names what it added and did not remove."""

    children: dict[tuple[int, float], psutil.Process]
    sockets: set[str]
    netns: set[str]
    mounts: set[str]

    @classmethod
    def take(cls) -> Snapshot:
        return cls(_children(), _sockets(), _netns(), _mounts())

    def _now(self) -> tuple[dict[tuple[int, float], psutil.Process], set[str], set[str], set[str]]:
        procs = {key: p for key, p in _children().items() if key not in self.children and key not in _blamed}
        socks = _sockets() - self.sockets - _blamed
        netns = {name for name in _netns() - self.netns - _blamed if not _run_by_others(name)}
        mounts = _mounts() - self.mounts - _blamed
        return procs, socks, netns, mounts

    def left_behind(self) -> list[str]:
        """What is still there after the grace time (empty when nothing leaked)."""
        procs, socks, netns, mounts = self._now()
        if not (procs or socks or netns or mounts):
            return []
        if socks:
            self.sockets |= _event_loop_sockets()  # the session's event loop, made during this test: not a leak
        deadline = time.monotonic() + LEAK_GRACE_S
        while True:
            gc.collect()  # a socket or subprocess object dropped in a reference cycle is closed by the collector
            procs, socks, netns, mounts = self._now()
            if not (procs or socks or netns or mounts) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        _blamed.update(procs, socks, netns, mounts)
        problems = [f"child process {_describe_process(p)}" for p in procs.values()]
        problems += [f"open socket {text}" for text in _describe_sockets(socks)]
        problems += [f"network namespace {name}" for name in sorted(netns)]
        problems += [f"mount {point}" for point in sorted(mounts)]
        return problems


def _fail(what: str, problems: list[str]) -> None:
    pytest.fail(f"{what} left behind: " + "; ".join(problems), pytrace=False)


def _inside_a_run(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--rig-run-dir", None))


@pytest.fixture(autouse=True)
def leaves_nothing_behind(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test that leaves a child process, an open socket, a ``rig-*`` namespace or a rig mount behind."""
    if _inside_a_run(request):
        yield
        return
    before = Snapshot.take()
    yield
    problems = before.left_behind()
    if problems:
        _fail("the test", problems)


@pytest.fixture(scope="module", autouse=True)
def module_leaves_nothing_behind(request: pytest.FixtureRequest) -> Iterator[None]:
    """The same check around a whole module: its module-scoped fixtures (a server shared by its tests) included."""
    if _inside_a_run(request):
        yield
        return
    before = Snapshot.take()
    yield
    problems = before.left_behind()
    if problems:
        _fail(f"module {request.module.__name__}", problems)
