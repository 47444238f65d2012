"""Start, stop and restart the virtual EVSE (``virtual_evse/``, a real Matter device on matter.js).

The process is configured with one JSON file (matter.js parses argv itself), announces readiness with a JSON
line on stdout and logs to stderr, which goes to a log file in the run's folder.

A restart (the virtual power cycle) is a new process on the same storage. Most of a cold start is module loading
(~2.5 s), so after each successful start a spare process is pre-started with ``VEVSE_WAIT_FOR_START=1``: it loads
its config and every module, then waits for ``start`` on stdin before it touches the storage, binds a socket or
creates the node. ``restart()`` stops the running process and tells the spare to start: a new process that reads
its state from storage like any other, only without the module loading. A loss of supply is :meth:`power_off`
(the process killed where it is, as a power loss stops a firmware) and its return :meth:`power_on` (the spare boots,
as after a restart).

The spare loads at the lowest CPU priority (nice 19), so that its seconds of loading do not delay the running EVSE's
reactions (2 ms timing checks); it gets the normal priority back, every thread of it, before it is told to start.
Where that cannot be undone (not root, RLIMIT_NICE too low) no spare is kept and a restart is a cold start.

The first start can use a spare too: :func:`preload` starts one (at the normal priority) as soon as the run's
sandbox exists, from the process that made it, so that matter.js loads while the process that opens the session
starts. That process adopts it (:class:`VirtualEvse` ``preloaded=``): its stdin, stdout and stderr are named pipes
in the run's DUT folder, and it is told to start exactly as a spare is, once the storage is wiped. A preloaded
process whose config differs from the run's is ended and the start is a cold one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import resource
import select
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rig import PROJECT_ROOT
from rig.errors import DutError, SetupError

log = logging.getLogger(__name__)


EVSE_DIR = PROJECT_ROOT / "virtual_evse"
MAIN_JS = EVSE_DIR / "src" / "main.js"
EXPORT_PAA_JS = EVSE_DIR / "src" / "export-paa.js"


@dataclass
class VirtualEvseSettings:
    """Everything the virtual EVSE is started with (see virtual_evse/README.md for the meaning)."""

    storage_path: Path
    port: int = 5540
    passcode: int = 20202021
    discriminator: int = 3840
    interface: str | None = None
    features: list[str] = field(default_factory=lambda: ["PREF", "SOC", "PNC", "RFID", "V2X"])
    optional: dict[str, bool] = field(default_factory=dict)
    enable_key: str = "000102030405060708090a0b0c0d0e0f"
    defects: list[str] = field(default_factory=list)
    hardware_port: Path | None = None
    hardware: dict[str, float] = field(default_factory=dict)
    vendor_id: int = 0xFFF1
    product_id: int = 0x8000
    serial_number: str = "VEVSE-0001"
    software_version: int = 1
    software_version_string: str = "1.0.0"
    log_level: str = "notice"
    supported_fabrics: int | None = None
    """Size of the fabric table (5..254); None leaves matter.js's default (254)."""
    certification: dict[str, str] | None = None
    """A custom attestation chain: paths under ``privateKey``, ``certificate`` (DAC) and ``intermediateCertificate``
    (PAI), e.g. :meth:`rig.sim.attestation.Chain.certification`; None signs with the matter.js test chain."""
    firmware: Path | None = None
    """The folder of firmware sources to run (``main.js`` and the modules beside it, e.g. a mutant's copy); None runs
    ``virtual_evse/src``. Node resolves ``@matter/*`` and reads ``package.json`` from its parent folder."""

    @property
    def main_js(self) -> Path:
        """The entry point to run: ``main.js`` of :attr:`firmware`, else :data:`MAIN_JS`.

        Raises:
            SetupError: :attr:`firmware` holds no ``main.js``.
        """
        if self.firmware is None:
            return MAIN_JS
        main = self.firmware / "main.js"
        if not main.is_file():
            raise SetupError(f"virtual_evse.firmware: {self.firmware} holds no main.js (the firmware's entry point)")
        return main

    def to_json(self) -> dict[str, Any]:
        """The JSON config understood by virtual_evse/src/main.js."""
        cfg: dict[str, Any] = {
            "storagePath": str(self.storage_path),
            "port": self.port,
            "passcode": self.passcode,
            "discriminator": self.discriminator,
            "features": list(self.features),
            "optional": {
                "userMaximumChargeCurrent": self.optional.get("user_maximum_charge_current", True),
                "randomizationDelayWindow": self.optional.get("randomization_delay_window", True),
                "approximateEvEfficiency": self.optional.get("approximate_ev_efficiency", True),
                "startDiagnostics": self.optional.get("start_diagnostics", True),
            },
            "enableKey": self.enable_key,
            "defects": list(self.defects),
            "vendorId": self.vendor_id,
            "productId": self.product_id,
            "serialNumber": self.serial_number,
            "softwareVersion": self.software_version,
            "softwareVersionString": self.software_version_string,
            "logLevel": self.log_level,
        }
        if self.interface:
            cfg["interface"] = self.interface
        if self.hardware_port:
            cfg["hardwarePort"] = str(self.hardware_port)
        if self.hardware:
            cfg["hardware"] = dict(self.hardware)
        if self.supported_fabrics is not None:
            cfg["supportedFabrics"] = self.supported_fabrics
        if self.certification is not None:
            cfg["certification"] = dict(self.certification)
        return cfg


def check_installed() -> None:
    """Raise SetupError unless node and the virtual EVSE's npm packages are installed."""
    if shutil.which("node") is None:
        raise SetupError("Node.js (`node`) is not installed; the virtual EVSE needs it: run `make setup`")
    if not (EVSE_DIR / "node_modules" / "@matter" / "main").is_dir():
        raise SetupError(
            f"the virtual EVSE's packages are not installed in {EVSE_DIR / 'node_modules'}: run `make setup`"
        )


SPARE_NICE = 19
"""Niceness the spare loads with (the lowest CPU priority)."""


def spare_supported() -> str | None:
    """None if a spare can be pre-started and given the normal priority back, else the reason it cannot."""
    if shutil.which("nice") is None:
        return "no `nice` command"
    if os.geteuid() == 0:
        return None
    if not hasattr(resource, "RLIMIT_NICE") or not Path("/proc/self/task").is_dir():
        return "not Linux"
    # an unprivileged process may lower its niceness down to 20 - RLIMIT_NICE (Linux setpriority(2))
    soft, _ = resource.getrlimit(resource.RLIMIT_NICE)
    if soft != resource.RLIM_INFINITY and 20 - soft > os.getpriority(os.PRIO_PROCESS, 0):
        return "the spare's priority could not be restored (not root, RLIMIT_NICE too low)"
    return None


def _set_niceness(pid: int, niceness: int) -> None:
    """Set the niceness of every thread of ``pid`` (Linux: a niceness is per thread)."""
    tasks = [int(t.name) for t in Path(f"/proc/{pid}/task").iterdir()]
    for tid in tasks:
        with contextlib.suppress(ProcessLookupError):
            os.setpriority(os.PRIO_PROCESS, tid, niceness)


def _end_spare(spare: subprocess.Popen[bytes]) -> None:
    """End a spare that was not told to start (it holds nothing yet: no storage lock, no socket) and reap it."""
    if spare.poll() is None:
        spare.terminate()
        try:
            spare.wait(timeout=2)
        except subprocess.TimeoutExpired:
            spare.kill()
            spare.wait(timeout=5)
    for pipe in (spare.stdin, spare.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()


def export_paa(target: Path, timeout_s: float = 30.0) -> Path:
    """Write the test PAA that signs the virtual EVSE's attestation chain into ``target`` (DER files)."""
    check_installed()
    target.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["node", str(EXPORT_PAA_JS), str(target)], capture_output=True, text=True, timeout=timeout_s, check=False
    )
    if proc.returncode != 0 or not any(target.glob("*.der")):
        raise DutError(f"could not export the virtual EVSE's test PAA: {proc.stderr.strip()[-2000:]}")
    return target


PAA_CACHE = EVSE_DIR / "node_modules" / ".cache" / "rig-test-paa"
"""Where the exported test PAA is kept, one folder per matter.js version (``npm ci`` starts it afresh)."""


def _private(st: os.stat_result, *, folder: bool) -> bool:
    """A folder (file) owned by this user, not a symlink, with no access (no write access) for group and others."""
    kind_ok = stat.S_ISDIR(st.st_mode) if folder else stat.S_ISREG(st.st_mode)
    return kind_ok and st.st_uid == os.geteuid() and not st.st_mode & (0o077 if folder else 0o022)


def _private_folder(path: Path) -> bool:
    try:
        return _private(path.lstat(), folder=True)
    except OSError:
        return False


def _paa_cache_folder() -> Path:
    """The cache folder of the installed matter.js and export script (a change of either makes a new one)."""
    package = json.loads((EVSE_DIR / "node_modules" / "@matter" / "protocol" / "package.json").read_text())
    script = hashlib.sha256(EXPORT_PAA_JS.read_bytes()).hexdigest()[:12]
    return PAA_CACHE / f"matter.js-{package['version']}-{script}"


def _read_private_ders(folder: Path) -> dict[str, bytes] | None:
    """The certificates of a private folder, or None if one of them is not a regular file private to this user."""
    found = {}
    for der in sorted(folder.glob("*.der")):
        fd = os.open(der, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as f:
            if not _private(os.fstat(fd), folder=False):
                log.warning("%s is not a regular file of this user closed to others: not trusted", der)
                return None
            found[der.name] = f.read()
    return found


def _fill_paa_cache(folder: Path, timeout_s: float) -> bool:
    """Export the test PAA into ``folder`` (replacing a private but empty one); False where no private cache can be."""
    with contextlib.suppress(OSError):
        PAA_CACHE.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not _private_folder(PAA_CACHE):
        log.warning("%s is not private to this user: the test PAA is exported for this run only", PAA_CACHE)
        return False
    if _private_folder(folder):
        shutil.rmtree(folder)  # ours, but without certificates
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=PAA_CACHE))  # mode 0700
    try:
        export_paa(staging, timeout_s)
        with contextlib.suppress(OSError):  # another run made it meanwhile: theirs is as good
            staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return _private_folder(folder)


def cached_paa(target: Path, timeout_s: float = 30.0) -> Path:
    """The test PAA, as :func:`export_paa` writes it into ``target``, exported once per matter.js version.

    The export starts Node.js and loads matter.js (seconds) for certificates that are constant for a matter.js
    version, so they are kept in :data:`PAA_CACHE`, a folder only this user (root) can open, and copied from there.
    Where that folder is not private (another owner, access for group or others, a symlink) the export runs for
    this run alone, as without a cache.
    """
    try:
        folder = _paa_cache_folder()
    except (OSError, ValueError, KeyError):
        return export_paa(target, timeout_s)
    ders = None
    if _private_folder(PAA_CACHE) and _private_folder(folder):
        ders = _read_private_ders(folder)
    if not ders and (not _fill_paa_cache(folder, timeout_s) or not (ders := _read_private_ders(folder))):
        return export_paa(target, timeout_s)
    target.mkdir(parents=True, exist_ok=True)
    for name, data in ders.items():
        (target / name).write_bytes(data)
    return target


PRELOADED = "preloaded-evse"
"""File stem, in the DUT folder, of a preloaded process's record (``.json``), config and named pipes."""


def preload(settings: VirtualEvseSettings, netns: str | None) -> subprocess.Popen[bytes]:
    """Start a spare on ``settings`` in the run's network namespace (from outside it) for the session to adopt.

    Its record and named pipes go beside the storage folder. The caller reaps the process (it stays its child).
    """
    check_installed()
    folder = settings.storage_path.parent
    folder.mkdir(parents=True, exist_ok=True)
    config = json.dumps(settings.to_json(), indent=2)
    _write_private(folder / f"{PRELOADED}.config.json", config)
    fds = []
    try:
        for name in ("in", "out", "err"):
            fifo = folder / f"{PRELOADED}.{name}"
            os.mkfifo(fifo, 0o600)
            fds.append(os.open(fifo, os.O_RDWR))  # the spare holds both ends: no end of input before adoption
        cmd = ["node", str(settings.main_js)]
        env = dict(os.environ, VEVSE_CONFIG=str(folder / f"{PRELOADED}.config.json"), VEVSE_WAIT_FOR_START="1")
        proc = subprocess.Popen(
            ["ip", "netns", "exec", netns, *cmd] if netns else cmd,
            stdin=fds[0],
            stdout=fds[1],
            stderr=fds[2],
            env=env,
            process_group=0,  # no terminal signals
        )
    finally:
        for fd in fds:
            os.close(fd)
    _write_private(folder / f"{PRELOADED}.json", json.dumps({"pid": proc.pid, "config": config}))
    # Reaped as soon as it exits: a zombie's pid still exists, and matter.js takes a storage lock whose owner pid
    # exists for held, so the next process could not start on the storage of one killed by a loss of power.
    threading.Thread(target=proc.wait, name="preloaded-evse-reaper", daemon=True).start()
    return proc


def end_preloaded(proc: subprocess.Popen[bytes]) -> None:
    """End a preloaded process (adopted and stopped already, or never adopted) and reap it."""
    _end_spare(proc)


class _Adopted:
    """A preloaded process adopted by this process (not its child: no exit code), as much of Popen as is used."""

    def __init__(self, pid: int, stdout: Any) -> None:
        self.pid = pid
        self.stdout = stdout
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                state = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                state = "X"
            if state in ("Z", "X"):  # exited (a zombie until the process that preloaded it reaps it)
                self.returncode = 0
        return self.returncode

    def send_signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def wait_reaped(self, timeout: float) -> bool:
        """Wait until the process that preloaded it has reaped it (its pid gone); whether it was within ``timeout``."""
        deadline = time.monotonic() + timeout
        while Path(f"/proc/{self.pid}").exists():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout or 0.0)
            time.sleep(0.01)
        return code


def _write_private(path: Path, text: str) -> None:
    """Write ``path`` readable by its owner only (it holds the setup passcode and the enable key)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        os.fchmod(fd, 0o600)
        f.write(text)


def _append_private(path: Path) -> Any:
    """Open ``path`` to append, readable by its owner only (the matter.js log shows the setup passcode, the manual
    pairing code and the QR payload)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "ab")


def _open_fifo(path: Path, flags: int) -> int:
    """Open a named pipe without blocking (OSError if its other end is gone), then make it blocking."""
    fd = os.open(path, flags | os.O_NONBLOCK)
    os.set_blocking(fd, True)
    return fd


REBOOT_LINE = b'{"event":"reboot"'
"""The stdout line the virtual EVSE writes before it exits to reboot (virtual_evse/src/main.js)."""
REBOOT_EXIT_CODE = 75
"""Its exit code then (virtual_evse/src/build.js)."""

FIRMWARE_STORE = "vevse-state.json"
"""The virtual EVSE's firmware store in its storage folder (virtual_evse/src/store.js): the Energy EVSE's
non-volatile values; matter.js keeps its fabrics and its own copies of attribute values beside it."""


class VirtualEvse:
    """One virtual EVSE process.

    Args:
        settings: how to start it.
        log_path: file receiving the process's stderr (matter.js log), the spare's included.
        start_timeout_s: bound on the wait for the ready line (for the spare: from the ``start`` line on).
        spare: keep a pre-started spare process for :meth:`restart` (see the module docstring).
        preloaded: the record of a process :func:`preload` started for the first start, to adopt if it still waits
            and was loaded with this config.
    """

    def __init__(
        self,
        settings: VirtualEvseSettings,
        log_path: Path,
        start_timeout_s: float = 30.0,
        *,
        spare: bool = True,
        preloaded: Path | None = None,
    ) -> None:
        self.settings = settings
        self.preloaded = preloaded
        self.log_path = log_path
        self.start_timeout_s = start_timeout_s
        self.spare_unsupported = spare_supported() if spare else "disabled"
        self.use_spare = self.spare_unsupported is None
        if spare and self.spare_unsupported:
            log.info("virtual EVSE: no spare process, restarts are cold starts: %s", self.spare_unsupported)
        self.proc: subprocess.Popen[bytes] | _Adopted | None = None
        self.spare: subprocess.Popen[bytes] | None = None
        self.ready_info: dict[str, Any] = {}
        self.ready_at: float | None = None  # time.monotonic() of the last ready line
        self._config_path = log_path.with_suffix(".config.json")
        self._config_text = ""  # the config the running process (and the spare) were started with
        self._drain: threading.Thread | None = None
        self.on_reboot: Callable[[], None] | None = None
        """Called (in a thread of its own) when the process says it reboots (after installing a build over OTA): it
        exits with :data:`REBOOT_EXIT_CODE` and expects to be booted again on the same storage (:meth:`power_on`)."""

    @property
    def running(self) -> bool:
        """True while the process is alive."""
        return self.proc is not None and self.proc.poll() is None

    def start(self, *, fresh: bool = True) -> dict[str, Any]:
        """Start the process and wait for its ready line; ``fresh`` wipes the storage first."""
        self.launch(fresh=fresh)
        return self.wait_ready()

    def launch(self, *, fresh: bool = True) -> None:
        """Start the process and return at once (:meth:`wait_ready` waits for it); ``fresh`` wipes the storage."""
        check_installed()
        if self.running:
            raise DutError("the virtual EVSE is already running")
        self._stop_spare()  # a cold start: a spare left from before is not used
        if fresh and self.settings.storage_path.exists():
            shutil.rmtree(self.settings.storage_path)
        self.settings.storage_path.mkdir(parents=True, exist_ok=True)
        self._config_text = json.dumps(self.settings.to_json(), indent=2)
        self._config_path.parent.mkdir(parents=True, exist_ok=True)
        _write_private(self._config_path, self._config_text)
        self.proc = self._adopt_preloaded() or self._spawn(wait_for_start=False)

    def _adopt_preloaded(self) -> _Adopted | None:
        """Tell the preloaded process to start, if there is one loaded with this config (once); else end it."""
        record, self.preloaded = self.preloaded, None
        if record is None or not record.is_file():
            return None
        info = json.loads(record.read_text())
        record.unlink()
        pid, fifos = int(info["pid"]), record.with_suffix("")
        if info.get("config") != self._config_text:
            log.info("virtual EVSE: the preloaded process (pid %s) has another config: cold start", pid)
            _Adopted(pid, None).send_signal(signal.SIGTERM)
            return None
        try:
            start = _open_fifo(fifos.with_suffix(".in"), os.O_WRONLY)  # fails once it is gone (no reader left)
        except OSError as exc:
            log.info("virtual EVSE: the preloaded process (pid %s) is gone (%s): cold start", pid, exc)
            return None
        try:
            out = _open_fifo(fifos.with_suffix(".out"), os.O_RDONLY)
            err = _open_fifo(fifos.with_suffix(".err"), os.O_RDONLY)
            threading.Thread(target=self._copy_log, args=(err,), name="virtual-evse-stderr", daemon=True).start()
            os.write(start, b"start\n")
        finally:
            os.close(start)
        log.info("virtual EVSE: adopted the preloaded process (pid %s)", pid)
        return _Adopted(pid, os.fdopen(out, "rb"))

    def _copy_log(self, fd: int) -> None:
        """Append an adopted process's stderr to the log file until it exits."""
        with os.fdopen(fd, "rb") as src, _append_private(self.log_path) as sink:
            for line in iter(src.readline, b""):
                sink.write(line)
                sink.flush()

    def wait_ready(self) -> dict[str, Any]:
        """Wait (up to ``start_timeout_s``) for the ready line of the process :meth:`launch` started."""
        if self.proc is None:
            raise DutError("the virtual EVSE was not launched")
        return self._started()

    def _spawn(self, *, wait_for_start: bool) -> subprocess.Popen[bytes]:
        env = dict(os.environ, VEVSE_CONFIG=str(self._config_path))
        cmd = ["node", str(self.settings.main_js)]
        if wait_for_start:
            env["VEVSE_WAIT_FOR_START"] = "1"
            cmd = ["nice", "-n", str(SPARE_NICE), *cmd]  # nice execs node: same PID, every thread niced
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with _append_private(self.log_path) as errlog:
            return subprocess.Popen(
                cmd,
                stdout=subprocess.PIPE,
                stderr=errlog,
                stdin=subprocess.PIPE if wait_for_start else subprocess.DEVNULL,
                env=env,
            )

    def _started(self) -> dict[str, Any]:
        """Wait for the ready line of ``self.proc``, drain its stdout, pre-start the next spare."""
        assert self.proc is not None
        self.ready_info = self._await_ready()
        self.ready_at = time.monotonic()
        self._start_drain()
        shown = {k: v for k, v in self.ready_info.items() if k != "passcode"}
        log.info("virtual EVSE ready (pid %s): %s", self.proc.pid, shown)
        if self.use_spare:
            self.spare = self._spawn(wait_for_start=True)  # loads its modules while this one runs
        return self.ready_info

    def _await_ready(self) -> dict[str, Any]:
        proc = self.proc  # stop() may run meanwhile (from another thread): this process is the one awaited
        assert proc is not None and proc.stdout is not None
        deadline = time.monotonic() + self.start_timeout_s
        buf = b""
        fd = proc.stdout.fileno()
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                how = "" if isinstance(proc, _Adopted) else f" with code {proc.returncode}"
                raise DutError(f"the virtual EVSE exited{how} before it was ready: {self._log_tail()}")
            try:
                ready, _, _ = select.select([fd], [], [], 0.1)
                chunk = os.read(fd, 65536) if ready else b""
            except (OSError, ValueError):  # its pipe was closed by stop()
                continue
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                if isinstance(msg, dict) and msg.get("event") == "ready":
                    return msg
        self.stop()
        raise DutError(f"the virtual EVSE did not report ready within {self.start_timeout_s:g} s: {self._log_tail()}")

    def _start_drain(self) -> None:
        """Keep reading the process's stdout (JSON lines: events, triggers, outputs) into a file beside the log.

        Nothing else reads the pipe after the ready line; left alone it would fill and stall the EVSE.
        """
        assert self.proc is not None and self.proc.stdout is not None
        proc, out = self.proc, self.proc.stdout
        path = self.log_path.with_suffix(".jsonl")

        def drain() -> None:
            with _append_private(path) as sink:
                for line in iter(out.readline, b""):
                    sink.write(line)
                    sink.flush()
                    if line.startswith(REBOOT_LINE) and self.on_reboot is not None:
                        log.info("virtual EVSE (pid %s) reboots into an installed build", getattr(proc, "pid", None))
                        threading.Thread(target=self.on_reboot, name="virtual-evse-reboot", daemon=True).start()

        self._drain = threading.Thread(target=drain, name="virtual-evse-stdout", daemon=True)
        self._drain.start()

    def _log_tail(self, n: int = 1500) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:].strip() or "(no log output)"
        except OSError:
            return "(no log)"

    def stop(self, timeout_s: float = 5.0) -> int | None:
        """SIGTERM, wait up to ``timeout_s`` for the PID to exit (restart races), then SIGKILL; the spare too."""
        try:
            return self._stop_running(timeout_s)
        finally:
            self._stop_spare()

    def _stop_spare(self) -> None:
        spare, self.spare = self.spare, None
        if spare is not None:
            _end_spare(spare)

    def _stop_running(self, timeout_s: float) -> int | None:
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        drain = self._drain
        if drain is not None:
            drain.join(timeout=2)  # ends at EOF, once the process has exited
            self._drain = None
        if proc.stdout:
            proc.stdout.close()
        return proc.returncode

    def restart(self) -> dict[str, Any]:
        """Stop the process (SIGTERM, its orderly shutdown), start a new one on the same storage (non-volatile state
        kept) as :meth:`power_on` does, and wait for its ready line."""
        self._stop_running(5.0)
        self.power_on()
        return self._started()

    def power_off(self) -> int | None:
        """Loss of supply: the process is killed where it is (SIGKILL: no goodbye to its peers, no orderly close of
        its storage) and reaped; the spare stays loaded. Return the exit code (None if nothing ran)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        proc.kill()
        proc.wait(timeout=5)
        if isinstance(proc, _Adopted) and not proc.wait_reaped(2.0):
            log.warning("virtual EVSE (pid %s) killed but not reaped: its storage lock may hold", proc.pid)
        drain, self._drain = self._drain, None
        if drain is not None:
            drain.join(timeout=2)  # ends at EOF: the process has exited
        if proc.stdout:
            with contextlib.suppress(OSError):
                proc.stdout.close()
        log.info("virtual EVSE (pid %s) lost its supply", proc.pid)
        return proc.returncode

    def erase_firmware_store(self) -> bool:
        """Erase the firmware store (its Energy EVSE settings and session data, ``FIRMWARE_STORE``) while the EVSE is
        off, keeping matter.js's storage (its fabrics); return whether there was one. The next boot finds the Energy
        EVSE factory-new: every cluster value comes from this store or from the boot defaults.

        Raises:
            DutError: the EVSE is running (its store would be written again).
        """
        if self.running:
            raise DutError("the virtual EVSE is running: its firmware store is erased only while it is off")
        store = self.settings.storage_path / FIRMWARE_STORE
        existed = store.exists()
        store.unlink(missing_ok=True)
        return existed

    def power_on(self) -> None:
        """Supply back: a new process boots from the storage the last one left; return at once (:meth:`wait_ready`
        waits for it to be ready).

        The new process is the pre-started spare when there is one (the old process has exited, so it finds the
        storage unlocked and the ports free); otherwise, or if the spare has died or was started with a config that
        has changed since, a cold start.
        """
        if self.running:
            raise DutError("the virtual EVSE is already running")
        spare, self.spare = self.spare, None
        if spare is not None:
            why_not = self._tell_to_start(spare)
            if why_not is None:
                self.proc = spare
                return
            log.warning("virtual EVSE spare (pid %s) not used, cold start: %s", spare.pid, why_not)
            _end_spare(spare)
        self.launch(fresh=False)

    def _tell_to_start(self, spare: subprocess.Popen[bytes]) -> str | None:
        """Give the spare the normal priority back and send it ``start``; the reason it cannot be used, or None."""
        if spare.poll() is not None:
            return f"it exited with code {spare.returncode}"
        if json.dumps(self.settings.to_json(), indent=2) != self._config_text:
            return "the settings changed since it loaded its config"
        assert spare.stdin is not None
        self.settings.storage_path.mkdir(parents=True, exist_ok=True)
        try:
            _set_niceness(spare.pid, os.getpriority(os.PRIO_PROCESS, 0))  # what a cold start inherits
            spare.stdin.write(b"start\n")
            spare.stdin.close()
        except PermissionError as exc:
            return f"its priority could not be restored ({exc})"
        except OSError:  # no /proc entry, broken pipe: it died since the check above, nothing was started
            return "it exited before it was told to start"
        return None
