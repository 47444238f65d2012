"""One run at a time on a bench: an exclusive lock on each of its resources for the run's whole life.

A bench is the set of its resources: every instrument address rig.yaml names and the DUT. Each resource has a lock
file ``<LOCK_DIR>/<hash>.lock`` (folder 0700, file 0600) held with ``fcntl.flock`` and holding, while it is held,
the holder's run id, process id, start time and run folder (JSON). Two benches that share one instrument (the AC
source, say) or the DUT are one bench for the lock: a second run stops at once with
``bench in use by run ID (pid N, since T)``.

A virtual bench is private to its run (its instruments listen inside the run's own network namespace), so its only
resource is the run itself: two virtual runs never wait for each other, and the lock marks the run as alive.

The lock is an open file description: a process the run starts with the descriptor (the run's inner pytest) keeps
it held after ``rig run`` itself is gone, until the bench is driven to its safe state and every process has exited.
A lock file that can be taken and still holds a holder's record was left by a run that died without releasing it
(SIGKILL): :meth:`BenchLock.acquire` takes it over and returns that holder, so that the taker can put the bench in its
safe state and record the run as killed before it proceeds.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rig.errors import RigError

if TYPE_CHECKING:
    from rig.config import RigConfig

LOCK_DIR = Path("/run/lock/rig")
"""Where the lock files live (``/var/lock/rig`` on a Debian machine)."""
SUFFIX = ".lock"
BUSY_RETRY_S = 0.3
"""How long a held lock is tried again (another run's reaper holds each lock it looks at for a moment)."""


class BenchBusy(RigError):
    """Another run holds the bench (exit code 2); the message names it."""

    def __init__(self, holder: Holder | None, resource: str) -> None:
        who = holder.describe() if holder is not None else "another run (starting)"
        super().__init__(f"bench in use by {who}; resource {resource} (wait for it to end, or stop it)")
        self.holder = holder


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) a lock.

    Attributes:
        run_id: the run's id.
        pid: the process that took the lock (``rig run``).
        started: when it took it (epoch seconds).
        resource: the locked resource.
        run_dir: the run's output folder (None: a run without one).
        virtual: the resource is a virtual bench (private to its run).
    """

    run_id: str
    pid: int
    started: float
    resource: str
    run_dir: str | None = None
    virtual: bool = False

    def describe(self) -> str:
        """``run ID (pid N, since T)``."""
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        return f"run {self.run_id} (pid {self.pid}, since {since})"

    @classmethod
    def parse(cls, text: str) -> Holder | None:
        """The holder a lock file records, or None (empty, or not a holder's record)."""
        try:
            data = json.loads(text)
            return cls(
                run_id=str(data["run_id"]),
                pid=int(data["pid"]),
                started=float(data["started"]),
                resource=str(data["resource"]),
                run_dir=None if data.get("run_dir") is None else str(data["run_dir"]),
                virtual=bool(data.get("virtual", False)),
            )
        except (ValueError, TypeError, KeyError):
            return None


def virtual_resource(run_id: str) -> str:
    """The resource of a virtual bench: the run itself."""
    return f"virtual-bench:{run_id}"


def resources_for(config: RigConfig, run_id: str, *, private: bool) -> list[str]:
    """The resources of the bench ``config`` describes: every instrument address (normalised: case and spaces do not
    matter) and the DUT; or, for a run in a network namespace of its own (``private``: a virtual bench, whose
    instruments and DUT listen inside it), the run ``run_id`` alone."""
    if private:
        return [virtual_resource(run_id)]
    found = {f"instrument:{' '.join(inst.address.split()).lower()}" for inst in config.instruments.values()}
    found.add(f"dut:network:node=0x{config.dut.node_id:x}")
    return sorted(found)


def lock_path(resource: str, directory: Path | None = None) -> Path:
    """The lock file of ``resource``."""
    digest = hashlib.sha256(resource.encode()).hexdigest()[:24]
    return (directory or LOCK_DIR) / f"{digest}{SUFFIX}"


def _private_dir(directory: Path) -> None:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = directory.lstat()
    if not directory.is_dir() or directory.is_symlink():
        raise RigError(f"{directory} must be a folder, for the bench locks")
    if st.st_mode & 0o077:
        os.chmod(directory, 0o700)


def _read(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def _open_locked(path: Path) -> int | None:
    """Open ``path`` and take its lock without waiting; the descriptor, or None if another process holds it.

    The file taken is the one at ``path`` (a file unlinked by its holder meanwhile is opened again).
    """
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        try:
            same = os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # released and removed by its holder between open and flock: take the new one


def _holder_of(path: Path) -> Holder | None:
    """The record in a lock file held by another process (read without the lock; may be half-written)."""
    try:
        return Holder.parse(path.read_text(errors="replace"))
    except OSError:
        return None


class BenchLock:
    """The exclusive lock of one run on its bench's resources.

    Args:
        resources: what the run uses (see :func:`resources_for`).
        run_id: the run's id.
        run_dir: the run's output folder, recorded so that a later run can record this one as killed.
        virtual: the resources are a virtual bench.
        directory: where the lock files live (default :data:`LOCK_DIR`).
    """

    def __init__(
        self,
        resources: Iterable[str],
        run_id: str,
        *,
        run_dir: Path | None = None,
        virtual: bool = False,
        directory: Path | None = None,
    ) -> None:
        self.resources = sorted(set(resources))
        self.run_id = run_id
        self.run_dir = run_dir
        self.virtual = virtual
        self.directory = directory or LOCK_DIR
        self.started = time.time()
        self._fds: dict[str, int] = {}
        self._lent = 0
        self.taken_over: list[Holder] = []
        """Holders of dead runs whose locks this one took over (filled by :meth:`acquire`)."""

    @property
    def fds(self) -> tuple[int, ...]:
        """The lock descriptors, for a process that must hold the bench as long as it lives."""
        return tuple(self._fds.values())

    @property
    def held(self) -> bool:
        """Whether the lock is held."""
        return bool(self._fds)

    def acquire(self) -> list[Holder]:
        """Take every resource's lock without waiting; return the holders of dead runs taken over (each run once).

        Raises:
            BenchBusy: a live run holds one of them (none is kept).
        """
        _private_dir(self.directory)
        stale: dict[str, Holder] = {}
        try:
            for resource in self.resources:
                path = lock_path(resource, self.directory)
                fd = _open_locked(path)
                deadline = time.monotonic() + BUSY_RETRY_S
                while fd is None and time.monotonic() < deadline:  # held a moment by a reaper: try again
                    time.sleep(0.02)
                    fd = _open_locked(path)
                if fd is None:
                    raise BenchBusy(_holder_of(path), resource)
                self._fds[resource] = fd
                old = Holder.parse(_read(fd))
                if old is not None and old.run_id != self.run_id:
                    stale.setdefault(old.run_id, old)
                record = Holder(self.run_id, os.getpid(), self.started, resource, _str(self.run_dir), self.virtual)
                os.ftruncate(fd, 0)
                os.pwrite(fd, json.dumps(asdict(record)).encode(), 0)
        except BaseException:
            self.release()
            raise
        self.taken_over = list(stale.values())
        return self.taken_over

    def release(self, restore: Iterable[Holder] = ()) -> None:
        """Remove the lock files and release the locks (a normal end: nothing for a later run to reap).

        Args:
            restore: holders of dead runs taken over whose records go back in their lock files instead (a take-over
                that failed: the next run tries again).
        """
        if self._lent:  # a step's release of a lent lock: the holder releases it at its end
            return
        back = {h.resource: h for h in restore}
        fds, self._fds = self._fds, {}
        for resource, fd in fds.items():
            try:
                if resource in back:
                    os.ftruncate(fd, 0)
                    os.pwrite(fd, json.dumps(asdict(back[resource])).encode(), 0)
                else:
                    lock_path(resource, self.directory).unlink()
            except OSError:
                pass
            finally:
                os.close(fd)

    @contextlib.contextmanager
    def lent(self) -> Iterator[BenchLock]:
        """This held lock lent to one step of a longer holder for the block (``rig regress`` lends it to each install
        and run, so that no other run comes between two builds): the step passes its descriptors on as its own, and
        its release is ignored; the holder releases the lock after the block."""
        self._lent += 1
        try:
            yield self
        finally:
            self._lent -= 1

    def __enter__(self) -> BenchLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def reap_dead(pick: Callable[[Holder], bool], directory: Path | None = None) -> list[Holder]:
    """Remove the locks left by dead runs that ``pick`` chooses (e.g. virtual benches, which no later run takes
    over); return their holders. Locks still held, empty ones and those ``pick`` refuses are left alone."""
    folder = directory or LOCK_DIR
    found: list[Holder] = []
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        try:
            fd = _open_locked(path)
        except OSError:
            continue
        if fd is None:
            continue
        try:
            holder = Holder.parse(_read(fd))
            if holder is None or pick(holder):  # an empty one is left by nobody (or was made just now, by this)
                path.unlink(missing_ok=True)
            if holder is not None and pick(holder):
                found.append(holder)
        finally:
            os.close(fd)
    return found


def holders(directory: Path | None = None) -> Sequence[tuple[Path, Holder | None]]:
    """Every lock file and what it records (for messages and tests)."""
    folder = directory or LOCK_DIR
    if not folder.is_dir():
        return []
    return [(p, _holder_of(p)) for p in sorted(folder.glob(f"*{SUFFIX}"))]


def _str(path: Path | None) -> str | None:
    return None if path is None else str(path)
