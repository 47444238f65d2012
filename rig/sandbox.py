"""One machine, real Matter: the per-run sandbox.

A run gets:

* a network namespace ``rig-<run id>`` holding a veth pair (``veth0`` for the controller, ``veth1`` for a
  virtual EVSE) with IPv6 ULA addresses (``nodad``) and an IPv4 multicast route, so mDNS works and nothing is
  advertised on the host's interfaces;
* a private mount namespace in which the run's state folder is bind-mounted on ``/data`` and a private folder
  on ``/tmp`` (the CHIP wheel writes ``/data/chip_*.ini`` and ``/tmp/chip_kvs`` at fixed paths);
* a state folder ``/run/rig/<run id>`` for the controller's and the virtual EVSE's storage and the PAA store.

All of it is removed on every exit path of the outer process (normal end, error, Ctrl-C, SIGTERM). Nothing of
the run outlives it: the process inside gets SIGTERM when the outer process dies, even by SIGKILL (the parent-death
signal), and tears down as on Ctrl-C (the bench to its safe state); a watcher it forks before it starts ends every
process of the sandbox that is left once it has exited. The namespace and state folder of a run killed with SIGKILL
are reaped by the next run, once none of the run's processes is alive (their PIDs are recorded).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from rig import PROJECT_ROOT
from rig.errors import SetupError

log = logging.getLogger(__name__)

STATE_ROOT = Path("/run/rig")
NETNS_PREFIX = "rig-"
CONTROLLER_IFACE = "veth0"
DEVICE_IFACE = "veth1"
ENV_SANDBOX = "RIG_SANDBOX"  # state folder, set inside the sandbox
ENV_NETNS = "RIG_NETNS"
ENV_DEVICE_IFACE = "RIG_DEVICE_IFACE"
ENV_KEEP = "RIG_SANDBOX_KEEP"  # folders under /tmp that must stay visible inside (e.g. the report folder)
ENV_PARENT = "RIG_SANDBOX_PARENT"  # PID of the outer process, which the process inside must die with
DATA_DIR = Path("/data")
_DATA_MARKER = "created-data-dir"
PID_FILES = ("owner.pid", "inner.pid", "watcher.pid")
"""The run's processes, in its state folder: the outer one, the one inside, the watcher; alive while any runs."""
WATCHER_GRACE_S = 3.0
"""How long the watcher waits for a process it sent SIGTERM before it sends SIGKILL."""
_PR_SET_PDEATHSIG = 1
CLONE_NEWNET = 0x40000000


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Have the kernel send ``sig`` to this process when its parent dies (Linux ``PR_SET_PDEATHSIG``; kept across
    exec). The caller checks afterwards that its parent is still the one it expects (it may have died before).

    Raises:
        OSError: the kernel refused (or this is not Linux).
    """
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_PDEATHSIG): {os.strerror(err)}")


@dataclass(frozen=True)
class SandboxInfo:
    """What a process inside the sandbox knows about it."""

    state_dir: Path
    netns: str | None
    device_iface: str | None


def current() -> SandboxInfo | None:
    """The sandbox this process runs in, or None outside any."""
    state = os.environ.get(ENV_SANDBOX)
    if not state:
        return None
    return SandboxInfo(Path(state), os.environ.get(ENV_NETNS) or None, os.environ.get(ENV_DEVICE_IFACE) or None)


def new_run_id() -> str:
    """A run id: sortable UTC time plus a random suffix, so parallel runs never collide."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def preflight(*, need_netns: bool, need_node: bool) -> None:
    """Check the machine can host a run; raise SetupError saying exactly what is missing."""
    missing: list[str] = []
    if os.geteuid() != 0:
        missing.append(
            "root privileges (network and mount namespaces need CAP_SYS_ADMIN): run as root, e.g. `sudo make run`"
        )
    if need_netns and shutil.which("ip") is None:
        missing.append("the `ip` command (Debian package iproute2): apt-get install iproute2")
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        missing.append("`unshare` and `mount` (Debian package util-linux)")
    if need_node and shutil.which("node") is None:
        missing.append("Node.js (`node`, 20 or newer) for the virtual EVSE: apt-get install nodejs npm")
    if missing:
        raise SetupError("this machine cannot host a rig run; missing:\n  - " + "\n  - ".join(missing))


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise SetupError(f"`ip {' '.join(args)}` failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def _pid_exists(pid: int) -> bool:
    """Whether a process has PID ``pid`` on this host (kill(pid, 0)): another user's counts, and so does a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _proc_state(pid: int) -> str | None:
    """The state letter in ``/proc/<pid>/stat`` (``R``, ``S``, ``Z``, ``X``, ...); None when it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0].decode("ascii", "replace")
    except (OSError, IndexError):
        return None


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host, in doubt yes: it counts as gone only when no process has the PID or
    ``/proc`` shows it a zombie (state ``Z``); one whose ``/proc`` entry cannot be read counts as alive.

    For ``rig lab reap`` (a lease's owner): a live run taken for dead would have its place freed under it, while a
    dead one taken for alive is only reaped at a later look. Compare :func:`pid_surely_alive`, which decides the other
    way in doubt.
    """
    return _pid_exists(pid) and _proc_state(pid) != "Z"


def pid_surely_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host, in doubt no: it counts as alive only when a process has the PID and
    ``/proc`` shows it in a state other than zombie or dead (``Z``, ``X``); one whose ``/proc`` entry cannot be read
    (it ended since the PID was looked for) counts as gone.

    For the sandbox's processes (a run's recorded PIDs, the watcher, what the watcher ends): a process taken for
    alive that has ended would keep a killed run's sandbox from being reaped, or be waited for until the deadline.
    Compare :func:`pid_alive`, which decides the other way in doubt.
    """
    return _pid_exists(pid) and _proc_state(pid) not in (None, "Z", "X")


def _setns(fd: int) -> None:
    """Move this thread into the network namespace open as ``fd`` (setns(2); os.setns needs Python 3.12)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


@contextlib.contextmanager
def in_netns(name: str | None) -> Iterator[None]:
    """The calling thread inside network namespace ``name`` (``/run/netns/NAME``) for the block, back in its own
    after it: what it starts (a process, a socket) runs there. Only this thread moves. Nothing for "" or None."""
    if not name:
        yield
        return
    with open("/proc/thread-self/ns/net", "rb") as home, open(f"/run/netns/{name}", "rb") as target:
        _setns(target.fileno())
        try:
            yield
        finally:
            _setns(home.fileno())


def _netns_pids(netns: str) -> list[int]:
    proc = _ip("netns", "pids", netns, check=False)
    return [int(p) for p in proc.stdout.split() if p.strip().isdigit()]


def _kill_netns_processes(netns: str, grace_s: float = 3.0) -> None:
    pids = _netns_pids(netns)
    if not pids:
        return
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        pids = [p for p in _netns_pids(netns) if _pid_exists(p)]
        if not pids:
            return
        time.sleep(0.05)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 2.0
    while _netns_pids(netns) and time.monotonic() < deadline:
        time.sleep(0.05)


def _existing_netns() -> list[str]:
    proc = _ip("netns", "list", check=False)
    return [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]


def make_netns(ns: str) -> None:
    """Create network namespace ``ns`` with a veth pair: ``veth0`` (controller) and ``veth1`` (device), IPv6 ULA
    addresses without duplicate-address detection and an IPv4 multicast route, so mDNS works inside it."""
    _ip("netns", "add", ns)
    # Addresses must be usable at once: no duplicate-address detection in this private namespace.
    subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            ns,
            "sh",
            "-c",
            "echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad; echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad",
        ],
        capture_output=True,
        check=False,
    )
    _ip("-n", ns, "link", "set", "lo", "up")
    _ip("-n", ns, "link", "add", CONTROLLER_IFACE, "type", "veth", "peer", "name", DEVICE_IFACE)
    prefix = "fd" + secrets.token_hex(1) + ":" + secrets.token_hex(2) + ":" + secrets.token_hex(2)
    _ip("-n", ns, "addr", "add", f"{prefix}::1/64", "dev", CONTROLLER_IFACE, "nodad")
    _ip("-n", ns, "addr", "add", f"{prefix}::2/64", "dev", DEVICE_IFACE, "nodad")
    _ip("-n", ns, "link", "set", CONTROLLER_IFACE, "up")
    _ip("-n", ns, "link", "set", DEVICE_IFACE, "up")
    _ip("-n", ns, "route", "add", "224.0.0.0/4", "dev", CONTROLLER_IFACE)


def remove_netns(ns: str) -> None:
    """End the processes running in network namespace ``ns`` and delete it (with its veth pair), if it exists."""
    if shutil.which("ip") and ns in _existing_netns():
        _kill_netns_processes(ns)
        _ip("netns", "del", ns, check=False)


def reap_stale() -> list[str]:
    """Remove sandboxes whose owner process is gone (a run killed with SIGKILL). Returns what was removed."""
    removed: list[str] = []
    if not STATE_ROOT.is_dir():
        return removed
    for state in STATE_ROOT.iterdir():
        pids = _recorded_pids(state)
        # Not a run's folder, or the run still tears down (a zombie has ended: its killed parent's orphans are
        # reaped by whatever adopted them, perhaps never).
        if not pids or any(pid_surely_alive(p) for p in pids):
            continue
        remove_netns(NETNS_PREFIX + state.name)
        shutil.rmtree(state, ignore_errors=True)
        removed.append(state.name)
    if removed:
        _release_shared()
    return removed


def _recorded_pids(state: Path) -> list[int]:
    pids = []
    for name in PID_FILES:
        try:
            pids.append(int((state / name).read_text().strip()))
        except (OSError, ValueError):
            continue
    return pids


def _release_shared() -> None:
    """Once no run is left in the state root: remove /data if a run created it (and it is empty), then the root."""
    if not STATE_ROOT.is_dir() or any(p.is_dir() for p in STATE_ROOT.iterdir()):
        return
    marker = STATE_ROOT / _DATA_MARKER
    if marker.exists():
        with contextlib.suppress(OSError):
            DATA_DIR.rmdir()  # only if still empty
        if not DATA_DIR.exists():
            marker.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        STATE_ROOT.rmdir()  # only if nothing is left in it


class Sandbox:
    """Creates and removes one run's namespaces and state folder.

    Args:
        run_id: unique id of the run (see new_run_id).
        with_netns: create the Matter network namespace (virtual DUT); False runs on the host network
            (a real DUT on the lab network) with only the private mount namespace.
        keep_state: leave the state folder in place at the end (for debugging or reconnecting).
        visible: folders that must stay visible inside although they lie under /tmp (e.g. the report folder).
    """

    TEARDOWN_GRACE_S = 15.0

    def __init__(
        self, run_id: str, *, with_netns: bool = True, keep_state: bool = False, visible: Sequence[Path] = ()
    ) -> None:
        self.run_id = run_id
        self.visible = [Path(p).resolve() for p in visible]
        self.with_netns = with_netns
        self.keep_state = keep_state
        self.state_dir = STATE_ROOT / run_id
        # Linux interface/netns names are short; the run id's random tail keeps them unique.
        self.netns = (NETNS_PREFIX + run_id) if with_netns else None
        self._created = False

    # -- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> Sandbox:
        reap_stale()
        STATE_ROOT.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.state_dir.mkdir(mode=0o700, exist_ok=False)
        self._created = True
        try:
            os.chmod(self.state_dir, 0o700)  # the controller's and the DUT's storage, keys included: private
            (self.state_dir / "owner.pid").write_text(str(os.getpid()))
            for sub in ("data", "tmp", "dut", "controller"):
                (self.state_dir / sub).mkdir()
            # The marker is shared: whichever run ends last removes /data. Two runs starting at once may both find
            # it missing: the one whose mkdir wins writes the marker, the other uses the folder as it is.
            with contextlib.suppress(FileExistsError):
                DATA_DIR.mkdir()
                (STATE_ROOT / _DATA_MARKER).write_text("1")
            if self.netns:
                make_netns(self.netns)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove everything this sandbox created. Safe to call more than once."""
        if self.netns:
            remove_netns(self.netns)
        if not self._created:
            return
        if not self.keep_state:
            shutil.rmtree(self.state_dir, ignore_errors=True)
        else:
            for name in PID_FILES:  # a kept folder is no run's: never reaped
                with contextlib.suppress(OSError):
                    (self.state_dir / name).unlink()
        self._created = False
        _release_shared()

    # -- running inside --------------------------------------------------------------------------
    def command(self, argv: Sequence[str]) -> list[str]:
        """The command line that runs ``argv`` inside this sandbox."""
        inner = [sys.executable, "-m", "rig.sandbox", str(self.state_dir), self.netns or "", "--", *argv]
        unshare = ["unshare", "--mount", "--propagation", "private", *inner]
        if self.netns:
            return ["ip", "netns", "exec", self.netns, *unshare]
        return unshare

    def run(self, argv: Sequence[str], *, env: dict[str, str] | None = None, pass_fds: Sequence[int] = ()) -> int:
        """Run ``argv`` inside the sandbox and return its exit code.

        SIGINT and SIGTERM received by this process are passed on to the child, which gets time to tear
        down cleanly (the pytest plugin puts the bench in its safe state); then it is killed. If this process dies
        (even by SIGKILL) the child gets SIGTERM. ``pass_fds`` stay open in the child (e.g. the bench lock, held
        as long as the child lives).
        """
        # Own process group: a terminal Ctrl-C reaches only this process, which passes it on once, so the
        # child tears down once instead of being interrupted twice.
        env = dict(os.environ if env is None else env)
        env[ENV_KEEP] = os.pathsep.join(str(p) for p in self.visible)
        env[ENV_PARENT] = str(os.getpid())
        child = subprocess.Popen(self.command(argv), env=env, process_group=0, pass_fds=tuple(pass_fds))
        received: list[int] = []

        def forward(signum: int, _frame: object) -> None:
            received.append(signum)
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signum)

        old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
        kill_at: float | None = None
        try:
            while True:
                try:
                    code = child.wait(timeout=0.2)
                    break
                except subprocess.TimeoutExpired:
                    if received and kill_at is None:
                        kill_at = time.monotonic() + self.TEARDOWN_GRACE_S
                    if kill_at is not None and time.monotonic() > kill_at:
                        child.kill()
        finally:
            for s, h in old.items():
                signal.signal(s, h)
        self._wait_watcher()
        if received and code == 0:
            code = 128 + received[0]
        return code

    def _wait_watcher(self, timeout_s: float = WATCHER_GRACE_S + 2.0) -> None:
        """Wait until the watcher of the process inside has ended what that process left."""
        try:
            pid = int((self.state_dir / "watcher.pid").read_text().strip())
        except (OSError, ValueError):
            return
        deadline = time.monotonic() + timeout_s
        while pid_surely_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.01)


def _mount_bind(src: str | Path, dst: str | Path) -> str | None:
    proc = subprocess.run(["mount", "--bind", str(src), str(dst)], capture_output=True, text=True, check=False)
    return None if proc.returncode == 0 else f"cannot bind {src} on {dst}: {proc.stderr.strip()}"


def kept_visible(candidates: set[Path]) -> list[Path]:
    """The paths to keep visible inside among ``candidates``: those under /tmp (not /tmp itself), outermost only.

    A file is kept as a file (a PICS file straight under /tmp, whose folder is /tmp itself), a folder as a folder.
    """
    tmp = Path("/tmp")
    under_tmp = sorted(p for p in candidates if p != tmp and tmp in p.parents)
    return [p for p in under_tmp if not any(q in p.parents for q in under_tmp)]


def _private_mounts(state_dir: Path) -> str | None:
    """Bind the run's folders on /data and /tmp; paths of this run that live under /tmp stay visible."""
    tmp = Path("/tmp")
    candidates = {PROJECT_ROOT, Path.cwd().resolve(), Path(sys.prefix).resolve()}
    candidates |= {Path(p).resolve() for p in os.environ.get(ENV_KEEP, "").split(os.pathsep) if p}
    keep = kept_visible(candidates)
    held: list[tuple[Path, Path, bool]] = []
    for i, path in enumerate(keep):
        hold = state_dir / f"keep{i}"
        is_file = path.is_file()
        if is_file:
            hold.touch(exist_ok=True)
        else:
            hold.mkdir(exist_ok=True)
        if err := _mount_bind(path, hold):
            return err
        held.append((hold, path, is_file))
    if err := _mount_bind(state_dir / "data", "/data"):
        return err
    if err := _mount_bind(state_dir / "tmp", tmp):
        return err
    for hold, path, is_file in held:
        if is_file:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(exist_ok=True)
        else:
            path.mkdir(parents=True, exist_ok=True)
        if err := _mount_bind(hold, path):
            return err
    return None


def _sandbox_processes(state_dir: Path, run_netns: bool) -> list[int]:
    """Processes of the sandbox but this one: those in this network namespace (when it is the run's), and those
    whose environment names the run's state folder."""
    marker = f"{ENV_SANDBOX}={state_dir}".encode() + b"\0"
    own_ns = os.readlink("/proc/self/ns/net") if run_netns else None
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            in_ns = own_ns is not None and os.readlink(entry / "ns" / "net") == own_ns
            if in_ns or marker in (entry / "environ").read_bytes() + b"\0":
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _end_processes(pids: list[int], grace_s: float) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while (pids := [p for p in pids if pid_surely_alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.02)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _start_watcher(state_dir: Path, run_netns: bool) -> None:
    """Fork the watcher: once this process (about to exec the run's command) has exited, however it ended, it ends
    every process of the sandbox still running (SIGTERM, then SIGKILL after WATCHER_GRACE_S), then exits itself."""
    parent = os.getpid()
    pid = os.fork()
    if pid != 0:
        with contextlib.suppress(OSError):
            (state_dir / "watcher.pid").write_text(str(pid))
        return
    code = 0
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT, signal.SIGHUP})
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.setsid()  # no terminal signals
        die_with_parent(signal.SIGTERM)
        while os.getppid() == parent:
            signal.sigwait({signal.SIGTERM, signal.SIGINT, signal.SIGHUP})
        _end_processes(_sandbox_processes(state_dir, run_netns), WATCHER_GRACE_S)
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _inner_main(argv: list[str]) -> int:
    """Entry point inside the namespaces: die with the outer process, mount the private /data and /tmp, start the
    watcher, then exec the command."""
    state, netns, sep, *cmd = argv
    if sep != "--" or not cmd:
        print("usage: python -m rig.sandbox STATE NETNS -- COMMAND...", file=sys.stderr)
        return 2
    parent = os.environ.pop(ENV_PARENT, "")
    if parent:
        try:
            die_with_parent(signal.SIGTERM)
        except OSError as exc:
            print(f"rig: {exc}", file=sys.stderr)
            return 2
        if str(os.getppid()) != parent:
            print("rig: the run's process ended before the sandbox started", file=sys.stderr)
            return 2
    state_dir = Path(state)
    error = _private_mounts(state_dir)
    if error:
        print(f"rig: {error}", file=sys.stderr)
        return 2
    os.environ[ENV_SANDBOX] = str(state_dir)
    if netns:
        os.environ[ENV_NETNS] = netns
        os.environ[ENV_DEVICE_IFACE] = DEVICE_IFACE
    os.environ["TMPDIR"] = "/tmp"
    with contextlib.suppress(OSError):
        (state_dir / "inner.pid").write_text(str(os.getpid()))
    _start_watcher(state_dir, bool(netns))
    try:
        os.execvp(cmd[0], cmd)
    except OSError as exc:
        print(f"rig: cannot start {cmd[0]}: {exc}", file=sys.stderr)
        return 127
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(_inner_main(sys.argv[1:]))
