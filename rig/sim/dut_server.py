"""``rig sim dut``: the virtual EVSE as a long-lived device on a network, for runs with ``dut.kind: network``.

A run of the virtual bench starts its own EVSE and throws it away; this one stays up until SIGINT or SIGTERM, keeps
its storage (fabrics, firmware state) across restarts of the command in ``STATE/storage``, and is reached the way a
charger on the lab network is: by mDNS and over UDP, by a controller run that knows nothing about it.

Where it runs:

* ``--netns NAME``: in network namespace NAME, on ``veth1`` of the veth pair :func:`rig.sandbox.make_netns` makes
  when it creates NAME (``veth0``, the other end, is the controller's: ``ip netns exec NAME rig run ...``). A
  namespace that exists already is used as it is (its ``veth1`` if it has one, otherwise every interface) and left
  in place at the end; one made here is deleted with its veth pair.
* otherwise on the host's interfaces (the machine's own network).

The EVSE runs without a hardware port (no instruments: the run's stimulus is ``trigger``); with ``--chain DIR`` it
attests with a chain of the rig's own (:func:`rig.sim.attestation.make_chain`), whose PAA folder is the trust store
a strict run is given; without it, with the matter.js test chain. When the EVSE is up, one JSON line goes to stdout
(:meth:`DutServer.ready_line`); on SIGINT or SIGTERM the EVSE is stopped and what was made here is removed (its
process, the namespace and veth pair); the state folder stays.

The board's power is on a control channel, as a lab bench's programmer has the board's supply and reset: a UNIX
socket ``STATE/control.sock`` (root only) taking one JSON line per request and answering one JSON line,
``{"op": "power-off"}`` (the EVSE killed where it is, as a supply cut), ``{"op": "power-on"}`` (booted again on its
storage, in its namespace; answered once it is up or failed to boot) and ``{"op": "status"}``. A client that leaves
with the EVSE off has it powered on again. ``rig sim flash`` (:mod:`rig.sim.flasher`, the virtual bench's stand-in
for a vendor's flashing tool) uses it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from rig import PROJECT_ROOT
from rig.errors import ConfigError, DutError, SetupError
from rig.matter.onboarding import manual_pairing_code
from rig.sandbox import DEVICE_IFACE, in_netns, make_netns, remove_netns
from rig.sim.attestation import Chain, make_chain
from rig.sim.virtual_evse import REBOOT_EXIT_CODE, VirtualEvse, VirtualEvseSettings, check_installed

DEFAULT_SUPPORTED_FABRICS = 5
"""The fabric table of the DUT: the smallest a device may have, so that a full table is quick to reach."""
DEFAULT_ENABLE_KEY = "000102030405060708090a0b0c0d0e0f"
NETNS_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
"""A namespace name ``ip netns`` accepts as a file name under /run/netns, kept to a plain set of characters."""
INVALID_PASSCODES = frozenset({11111111 * d for d in range(10)} | {12345678, 87654321})
"""Setup passcodes a device must not use (Matter core specification 5.1.7.1)."""
POLL_S = 0.2
"""How often the running EVSE is looked at while nothing happens."""
START_TIMEOUT_S = 60.0
"""Bound on the EVSE's start (matter.js loads for seconds; a first start also makes its storage)."""
CONTROL_SOCKET = "control.sock"
"""The power control channel's UNIX socket in the state folder."""
CONTROL_OPS = ("power-off", "power-on", "status")
UNIX_PATH_MAX = 107
"""The longest path a UNIX socket binds to (sun_path is 108 bytes with its terminating NUL)."""
MAX_REQUEST = 4096


@dataclass(frozen=True)
class DutServerOptions:
    """What ``rig sim dut`` was asked for (already parsed; :meth:`check` says what is wrong)."""

    state: Path
    netns: str | None = None
    supported_fabrics: int = DEFAULT_SUPPORTED_FABRICS
    chain: Path | None = None
    passcode: int = 20202021
    discriminator: int = 3840
    port: int = 5540
    vendor_id: int = 0xFFF1
    product_id: int = 0x8000
    serial: str = "VEVSE-0001"
    enable_key: str = DEFAULT_ENABLE_KEY
    fresh: bool = False
    hardware_port: Path | None = None
    """The EVSE's hardware-port socket, for a virtual bench coupled to it (``rig sim export``); None: no port."""
    control: bool = False
    """Serve the power control channel (``STATE/control.sock``): ``rig sim dut`` does, for ``rig sim flash``."""

    def check(self) -> None:
        """Raise ConfigError naming the first option out of range."""
        checks = [
            (
                NETNS_NAME.fullmatch(self.netns or "x") is not None,
                "--netns",
                "must be 1..64 letters, digits, '.', '_' or '-', starting with a letter or digit",
            ),
            (5 <= self.supported_fabrics <= 254, "--supported-fabrics", "must be 5..254"),
            (
                0 < self.passcode < 99999999 and self.passcode not in INVALID_PASSCODES,
                "--passcode",
                "must be 1..99999998 and not a trivial one (all digits equal, 12345678, 87654321)",
            ),
            (0 <= self.discriminator <= 0xFFF, "--discriminator", "must be 0..4095"),
            (0 < self.port <= 0xFFFF, "--port", "must be 1..65535"),
            (0 < self.vendor_id <= 0xFFFE, "--vendor-id", "must be 0x0001..0xFFFE"),
            (0 < self.product_id <= 0xFFFF, "--product-id", "must be 0x0001..0xFFFF"),
            (0 < len(self.serial) <= 32, "--serial", "must be 1..32 characters"),
            (re.fullmatch(r"[0-9a-fA-F]{32}", self.enable_key) is not None, "--enable-key", "must be 32 hex digits"),
        ]
        for ok, option, requirement in checks:
            if not ok:
                value = getattr(self, option[2:].replace("-", "_"))
                raise ConfigError(f"{option} {value!r}: {requirement}")
        if self.enable_key.strip("0") == "":
            raise ConfigError("--enable-key: must not be all zeros (test event triggers would be refused)")


def parse_int(text: str, option: str) -> int:
    """An option's integer: decimal, or hex with ``0x``.

    Raises:
        ConfigError: not an integer.
    """
    try:
        return int(text, 16) if text.lower().startswith("0x") else int(text, 10)
    except ValueError:
        raise ConfigError(f"{option} {text!r}: not an integer (decimal, or hex as 0x...)") from None


# -- the network namespace -------------------------------------------------------------------------------------------
def _netns_exists(name: str) -> bool:
    proc = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    return name in (line.split()[0] for line in proc.stdout.splitlines() if line.strip())


def _has_link(netns: str, name: str) -> bool:
    proc = subprocess.run(["ip", "-n", netns, "link", "show", name], capture_output=True, check=False)
    return proc.returncode == 0


# -- the server ------------------------------------------------------------------------------------------------------
def _state_folder(path: Path) -> Path:
    """The state folder, made if needed.

    Raises:
        ConfigError: it is not a folder or cannot be made.
    """
    path = path.resolve()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--state {path}: not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--state {path}: cannot make the folder ({exc.strerror})") from None
    return path


@contextlib.contextmanager
def _locked(state: Path) -> Iterator[None]:
    """Hold ``STATE/dut.lock`` for the block: one EVSE per state folder (its storage is not shared).

    Raises:
        SetupError: another ``rig sim dut`` holds it.
    """
    with open(state / "dut.lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            owner = lock.read().strip() or "?"
            raise SetupError(f"--state {state}: in use by another `rig sim dut` (pid {owner})") from None
        lock.truncate(0)
        lock.write(str(os.getpid()))
        lock.flush()
        yield


class Signals:
    """SIGINT and SIGTERM, recorded rather than raised: the server looks at them between its steps, so that no step
    (a process being started, a namespace half made) is cut short and everything made is cleaned up."""

    def __init__(self) -> None:
        self.received: int | None = None

    def __call__(self, signum: int, _frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum

    @property
    def name(self) -> str:
        """The signal received (e.g. ``SIGTERM``), or an empty string."""
        return signal.Signals(self.received).name if self.received is not None else ""


class DutServer:
    """The virtual EVSE and what it runs in: :meth:`open` makes them, :meth:`close` removes them (the state folder
    stays).

    Args:
        options: what to run (checked by :meth:`open`).
        signals: where SIGINT and SIGTERM are recorded; a start that one interrupts is given up.
    """

    def __init__(self, options: DutServerOptions, signals: Signals | None = None) -> None:
        self.options = options
        self.signals = signals or Signals()
        self.state = options.state
        self.evse: VirtualEvse | None = None
        self.chain: Chain | None = None
        self.interface: str | None = None
        self.ready_info: dict[str, Any] = {}
        self._waiter: threading.Thread | None = None
        self._stack = contextlib.ExitStack()
        self._power = threading.Lock()
        """Held while the EVSE is looked at or switched (the wait loop, the control channel)."""
        self.held_off = False
        """Powered off on the control channel (not an exit of its own)."""
        self.down = False
        """The installed build did not boot: the EVSE is off the network until powered on again."""
        self._control_stop = threading.Event()
        self.control_open = False

    def _preflight(self) -> None:
        self.options.check()
        if self.options.netns:
            if os.geteuid() != 0:
                raise SetupError("--netns needs root (creating and entering a network namespace): run as root")
            if shutil.which("ip") is None:
                raise SetupError("--netns needs the `ip` command (Debian package iproute2)")
        check_installed()

    def open(self) -> bool:
        """Make the chain and the namespace as asked, start the EVSE and wait until it is up.

        Returns:
            True once it is up; False if a signal arrived first (what was made is removed by :meth:`close`).

        Raises:
            ConfigError, SetupError: see :func:`serve`.
            DutError: the EVSE did not start.
        """
        o = self.options
        self._preflight()
        self.state = _state_folder(o.state)
        self._stack.enter_context(_locked(self.state))
        if o.chain is not None:
            self.chain = make_chain(o.chain, vendor_id=o.vendor_id, product_id=o.product_id)
        if o.netns:
            if not _netns_exists(o.netns):
                self._stack.callback(remove_netns, o.netns)  # also after a failure half way through make_netns
                make_netns(o.netns)
            self.interface = DEVICE_IFACE if _has_link(o.netns, DEVICE_IFACE) else None
        if self.signals.received is not None:
            return False
        settings = VirtualEvseSettings(
            storage_path=self.state / "storage",
            port=o.port,
            passcode=o.passcode,
            discriminator=o.discriminator,
            interface=self.interface,
            enable_key=o.enable_key,
            vendor_id=o.vendor_id,
            product_id=o.product_id,
            serial_number=o.serial,
            supported_fabrics=o.supported_fabrics,
            certification=self.chain.certification() if self.chain else None,
            hardware_port=o.hardware_port,
        )
        evse = VirtualEvse(settings, self.state / "virtual-evse.log", start_timeout_s=START_TIMEOUT_S, spare=False)
        self.evse = evse
        self._stack.callback(self._stop_evse)
        with in_netns(o.netns):
            evse.launch(fresh=o.fresh)  # the process starts in the namespace; this thread goes back
        started: Future[dict[str, Any]] = Future()
        self._waiter = threading.Thread(target=_settle, args=(started, evse.wait_ready), name="rig-sim-dut-start")
        self._waiter.start()
        while self.signals.received is None:
            try:
                self.ready_info = started.result(timeout=POLL_S)
            except FutureTimeout:
                continue
            if self.options.control:
                self._open_control()
            return True
        return False

    # -- the power control channel ---------------------------------------------------------------------------------
    @property
    def control_path(self) -> Path:
        """The control channel's socket."""
        return self.state / CONTROL_SOCKET

    def _open_control(self) -> None:
        """Listen on ``STATE/control.sock`` (a stale one removed: the state folder's lock is held) until close."""
        path = self.control_path
        if len(str(path).encode()) > UNIX_PATH_MAX:
            print(
                f"rig sim dut: no power control channel: {path} is longer than a UNIX socket's {UNIX_PATH_MAX} bytes "
                "(use a shorter --state for `rig sim flash`)",
                file=sys.stderr,
            )
            return
        path.unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            listener.bind(str(path))
        finally:
            os.umask(old)
        listener.listen(1)
        listener.settimeout(POLL_S)
        thread = threading.Thread(target=self._control_loop, args=(listener,), name="rig-sim-dut-control")
        thread.start()

        def stop() -> None:
            self._control_stop.set()
            thread.join(timeout=START_TIMEOUT_S + 10)
            listener.close()
            path.unlink(missing_ok=True)

        self._stack.callback(stop)
        self.control_open = True

    def _control_loop(self, listener: socket.socket) -> None:
        """Serve one client at a time until close."""
        while not self._control_stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                try:
                    self._control_client(conn)
                except OSError as exc:
                    print(f"rig sim dut: control channel: {exc}", file=sys.stderr)
                finally:
                    if self.held_off:  # the client left with the board off: its supply and reset are released
                        print("rig sim dut: the control client left with the EVSE off: powering it on", file=sys.stderr)
                        self.control("power-on")

    def _control_client(self, conn: socket.socket) -> None:
        conn.settimeout(POLL_S)
        pending = b""
        while not self._control_stop.is_set():
            try:
                chunk = conn.recv(MAX_REQUEST)
            except TimeoutError:
                continue
            if not chunk:
                return
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                conn.sendall((json.dumps(self._control_request(line)) + "\n").encode())
            if len(pending) > MAX_REQUEST:
                conn.sendall(b'{"ok": false, "error": "request too long"}\n')
                return

    def _control_request(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
        except ValueError:
            return {"ok": False, "error": "not a JSON line"}
        op = request.get("op") if isinstance(request, dict) else None
        if op not in CONTROL_OPS:
            return {"ok": False, "error": f"unknown op {op!r}; known: {', '.join(CONTROL_OPS)}"}
        return self.control(str(op))

    def control(self, op: str) -> dict[str, Any]:
        """One request of the control channel: ``power-off``, ``power-on`` (answered once the EVSE is up, or did not
        boot) or ``status``; the answer."""
        evse = self.evse
        assert evse is not None
        with self._power:
            if op == "status":
                return {"ok": True, "on": not self.held_off and evse.running, "down": self.down}
            if op == "power-off":
                if not self.held_off:
                    evse.power_off()
                    self.held_off = True
                    print("rig sim dut: the virtual EVSE is powered off (control channel)", file=sys.stderr)
                return {"ok": True, "storage": str(evse.settings.storage_path)}
            if not self.held_off:
                return {"ok": True, "already": "on"}
            self.held_off = False
            try:
                with in_netns(self.options.netns):
                    evse.power_on()
                self.ready_info = evse.wait_ready()
            except DutError as exc:
                self.down = True
                print(
                    f"rig sim dut: the virtual EVSE did not boot after power-on ({exc}); it stays off the network "
                    "until powered on again, SIGINT or SIGTERM",
                    file=sys.stderr,
                )
                return {"ok": False, "error": f"the EVSE did not boot: {exc}"}
            self.down = False
            pid = evse.proc.pid if evse.proc else None
            print(f"rig sim dut: the virtual EVSE is powered on (pid {pid})", file=sys.stderr)
            return {"ok": True, "pid": pid}

    def _stop_evse(self) -> None:
        """Stop the EVSE (SIGTERM, bounded) and end the wait for its start, if one is still running."""
        assert self.evse is not None
        self.evse.stop()
        if self._waiter is not None:
            self._waiter.join(timeout=START_TIMEOUT_S)  # ends at once: its process is gone

    def close(self) -> None:
        """Stop the EVSE, remove the namespace made here, release the state folder. Safe to call more than once."""
        self._stack.close()

    def ready_line(self) -> dict[str, Any]:
        """What a controller needs to reach the EVSE (the JSON line ``rig sim dut`` prints when it is up)."""
        o, evse = self.options, self.evse
        assert evse is not None and evse.proc is not None
        return {
            "ready": True,
            "netns": o.netns,
            "interface": self.interface,
            "port": o.port,
            "passcode": o.passcode,
            "discriminator": o.discriminator,
            "manual_code": manual_pairing_code(o.passcode, o.discriminator),
            "vendor_id": o.vendor_id,
            "product_id": o.product_id,
            "supported_fabrics": o.supported_fabrics,
            "commissioned": bool(self.ready_info.get("commissioned")),
            "paa_trust_store": str(self.chain.paa_trust_store) if self.chain else None,
            "enable_key": o.enable_key,
            "state": str(self.state),
            "log": str(evse.log_path),
            "pid": evse.proc.pid,
            "server_pid": os.getpid(),
            "control": str(self.control_path) if self.control_open else None,
        }

    def wait(self) -> int | None:
        """Block while the EVSE runs and no signal arrived; the EVSE's exit code if it ended by itself, else None.

        A build installed over OTA that does not boot leaves the EVSE off the network, as a charger whose new
        firmware does not start stays on the bench, powered and silent: said on stderr, then waited on until SIGINT
        or SIGTERM (the namespace stays, and so does whatever else runs in it, a rig awaiting the reboot included).
        """
        evse = self.evse
        assert evse is not None and evse.proc is not None
        while self.signals.received is None:
            with self._power:  # not while the control channel switches it
                code = evse.proc.poll() if evse.proc is not None and not self.down and not self.held_off else None
                if code == REBOOT_EXIT_CODE:  # it installed a build over OTA: booted again on its storage
                    try:
                        self.reboot()
                    except DutError as exc:
                        self.down = True
                        print(
                            f"rig sim dut: the virtual EVSE did not come back after rebooting into its installed build "
                            f"({exc}); it stays off the network until SIGINT or SIGTERM (or a power-on)",
                            file=sys.stderr,
                        )
                elif code is not None:
                    return code
            time.sleep(POLL_S)
        return None

    def reboot(self) -> None:
        """Boot the EVSE again on its storage, in its namespace, after it exited to reboot into a new build."""
        evse = self.evse
        assert evse is not None
        evse.power_off()  # reaps it
        with in_netns(self.options.netns):
            evse.power_on()
        self.ready_info = evse.wait_ready()
        print(f"rig sim dut: the virtual EVSE rebooted (pid {evse.proc.pid if evse.proc else '?'})", file=sys.stderr)


def _settle(future: Future[dict[str, Any]], fn: Callable[[], dict[str, Any]]) -> None:
    """Run ``fn`` and put its result, or its exception, in ``future``."""
    try:
        future.set_result(fn())
    except BaseException as exc:  # handed to whoever waits on the future
        future.set_exception(exc)


def serve(options: DutServerOptions, out: TextIO = sys.stdout) -> int:
    """Run the EVSE until SIGINT or SIGTERM: print the ready line when it is up, clean up at the end.

    Returns:
        0 once stopped by SIGINT or SIGTERM (also when one arrives during the start).

    Raises:
        ConfigError: an option is out of range, or the state folder unusable.
        SetupError: not root for ``--netns``, ``ip`` or ``node`` missing, the state folder in use, the chain folder
            not writable.
        DutError: the EVSE did not start, or ended by itself.
    """
    signals = Signals()
    old = {s: signal.signal(s, signals) for s in (signal.SIGINT, signal.SIGTERM)}
    server = DutServer(options, signals)
    try:
        if server.open():
            out.write(json.dumps(server.ready_line()) + "\n")
            out.flush()
            where = f"network namespace {options.netns}" if options.netns else "the host's interfaces"
            print(f"rig sim dut: the virtual EVSE is up on {where}; SIGINT or SIGTERM stops it", file=sys.stderr)
            code = server.wait()
            if code is not None:
                log = server.state / "virtual-evse.log"
                raise DutError(f"the virtual EVSE ended by itself (exit code {code}): its log is {log}")
        print(f"rig sim dut: {signals.name}: the virtual EVSE is stopped", file=sys.stderr)
        return 0
    finally:
        server.close()
        for s, handler in old.items():
            signal.signal(s, handler)


# -- rig sim flash: the virtual bench's stand-in for a vendor's flashing tool ----------------------------------------
# It does to a running `rig sim dut` what a USB flasher does to a board on the bench: over the control channel it
# powers the EVSE off, writes the build into its storage (the payload of a virtual EVSE OTA image, written by
# virtual_evse/src/flash.js with installBuild, the function the EVSE's OTA requestor uses), with --erase first erases
# the whole storage (fabrics, access control, settings: a flasher that erases the chip, after which the board is
# factory-new), and powers it on again. Any version goes, older ones included: nothing asks the firmware. Exit codes:
# 0 flashed and the EVSE up again, 1 the flash failed (the EVSE did not power off or on, or did not boot), 2 bad input
# (a damaged image, a payload that is not a build of the virtual EVSE, no `rig sim dut` on the state folder).
FLASH_JS = PROJECT_ROOT / "virtual_evse" / "src" / "flash.js"
POWER_OFF_TIMEOUT_S = 30.0
POWER_ON_TIMEOUT_S = 90.0
"""The EVSE's boot (matter.js loads for seconds); the server answers once it is up."""
WRITE_TIMEOUT_S = 60.0


def _say(text: str) -> None:
    print(f"vevse-flash: {text}", flush=True)


class ControlChannel:
    """A client of ``rig sim dut``'s control channel: one JSON line per request, one per answer."""

    def __init__(self, state: Path) -> None:
        path = state / CONTROL_SOCKET
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.connect(str(path))
        except OSError as exc:
            self.sock.close()
            raise ConfigError(
                f"--state {state}: no `rig sim dut` serves this folder ({path}: {exc.strerror or exc})"
            ) from None
        self._pending = b""

    def request(self, op: str, timeout_s: float) -> dict[str, Any]:
        """Send ``op`` and return the answer (bounded by ``timeout_s``).

        Raises:
            DutError: no answer within the bound, or the server closed the channel.
        """
        self.sock.sendall((json.dumps({"op": op}) + "\n").encode())
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DutError(f"{op}: no answer from `rig sim dut` within {timeout_s:g} s")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(4096)
            except TimeoutError:
                continue
            if not chunk:
                raise DutError(f"{op}: `rig sim dut` closed the control channel")
            self._pending += chunk
        line, self._pending = self._pending.split(b"\n", 1)
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        """Leave (an EVSE left off is powered on by the server)."""
        self.sock.close()


def _erase(storage: Path) -> int:
    """Erase the EVSE's storage (everything in it); return how many entries were removed."""
    count = 0
    for entry in storage.iterdir() if storage.is_dir() else ():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
        count += 1
    return count


def _write_build(storage: Path, payload: bytes, version: int) -> dict[str, Any]:
    """The build written into ``storage`` by ``flash.js`` (installBuild); what it wrote.

    Raises:
        ConfigError: the payload is not a build of this firmware, or not of the header's version.
        DutError: flash.js failed otherwise.
    """
    try:
        proc = subprocess.run(
            ["node", str(FLASH_JS), str(storage), str(version)],
            input=payload,
            capture_output=True,
            timeout=WRITE_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise DutError(f"writing the build: flash.js did not end within {WRITE_TIMEOUT_S:g} s") from None
    err = proc.stderr.decode(errors="replace").strip()
    if proc.returncode == 2:
        raise ConfigError(f"the image's payload is not a build of the virtual EVSE: {err}")
    if proc.returncode != 0:
        raise DutError(f"writing the build: flash.js exited with code {proc.returncode}: {err[-500:]}")
    written: dict[str, Any] = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    return written


def flash_image(image_path: Path, state: Path, *, erase: bool = False) -> int:
    """Flash the image's build onto the EVSE of ``rig sim dut --state STATE``; the exit code (module doc).

    Raises:
        ConfigError: a damaged image, a payload that is not a build, no server on ``state`` (exit code 2).
        DutError: the EVSE did not power off or on, or did not boot (exit code 1 from the command).
    """
    from rig.firmware.image import read_image

    image = read_image(image_path)
    header = image.header
    state = state.resolve()
    payload = image.payload()
    channel = ControlChannel(state)
    try:
        _say(f"image {image.path.name}: {header.describe()}")
        answer = channel.request("power-off", POWER_OFF_TIMEOUT_S)
        if not answer.get("ok"):
            raise DutError(f"power-off refused: {answer.get('error')}")
        storage = Path(str(answer["storage"]))
        _say("board powered off")
        if erase:
            _say(f"chip erased ({_erase(storage)} entries of its storage: fabrics, access control, settings)")
        written = _write_build(storage, payload, header.software_version)
        _say(f"build {written['softwareVersion']} ({written['softwareVersionString']!r}) written")
        answer = channel.request("power-on", POWER_ON_TIMEOUT_S)
        if not answer.get("ok"):
            raise DutError(f"power-on: {answer.get('error')}")
        _say(f"board powered on and running (pid {answer.get('pid')})")
    finally:
        channel.close()  # an EVSE still off is powered on by the server
    return 0


def flash_main(image: str, state: str, *, erase: bool) -> int:
    """``rig sim flash``: the exit code; errors on stderr (2 bad input, 1 the flash failed)."""
    try:
        return flash_image(Path(image), Path(state), erase=erase)
    except ConfigError as exc:
        print(f"vevse-flash: error: {exc}", file=sys.stderr)
        return 2
    except DutError as exc:
        print(f"vevse-flash: error: {exc}", file=sys.stderr)
        return 1
