"""``rig sim export --bench NAME``: a virtual bench served as a bench of the labgrid farm, until SIGINT/SIGTERM.

What it starts, all on this host:

1. a network namespace ``rigbench-<NAME>`` (:func:`rig.sandbox.make_netns`: ``veth0`` for the controller, ``veth1``
   for the device); it is the bench's network, the one a farm run joins (the DUT resource's ``netns``);
2. in it, the virtual EVSE as ``rig sim dut`` runs it (:class:`rig.sim.dut_server.DutServer`), factory-new, with its
   hardware port coupled to
3. the virtual bench's plant and instrument servers (:func:`rig.sim.launch.serve_spec`, the roles of rig.yaml's
   ``instruments``) on free ports of a loopback address of the bench's own (``127.<a>.<b>.1``, from a hash of its
   name, so that two benches' instrument addresses differ: the rig's bench lock keys on them), a CAN role on a
   multicast group of the bench's own (likewise);
4. the exporter YAML of those resources (:func:`exporter_groups`, the classes of :mod:`rig.lab.resources` with the
   real addresses, plus a ``RigBenchControl`` FIFO), and ``python -m rig.lab.exporter`` on it, in the host's
   network (it talks to the coordinator), started again whenever it exits (exit code 100: the coordinator went
   away).

When the place is released (the exporter writes ``release TOKEN`` into the FIFO: a run's end, or ``rig lab reap``
freeing a dead run's place) the bench is reset: the EV emulator to state A with every fault path released, the AC
source on at nominal mains (through the rig's own drivers, as a real bench host would), and the virtual EVSE started
again on fresh storage (factory-new: no fabric of the last run, no test state). ``acquire PLACE`` lines are logged.
The bench keeps the control protocol's state file (:mod:`rig.lab.control`): the exporter marks it ``resetting`` with
each release, the bench ``ready`` when that reset is done, and a farm run that acquired the place waits for that.
When the exporter ends while the place is held, the bench is marked ``resetting`` before the new exporter registers;
once it is back, the bench is reset if the place was released (or changed hands) meanwhile: labgrid would not tell
the new exporter of that release.

One JSON line goes to stdout once the coordinator lists the exporter's resources (:meth:`SimExport.ready_line`).
On SIGINT or SIGTERM everything started is stopped and removed: the exporter, the EVSE, the bench's servers, the
namespace, the FIFO, its state file and the exporter YAML (and the state folder, unless ``--state`` named one: it
keeps the logs).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from rig.config import RigConfig, load_config
from rig.errors import ConfigError, DutError, SetupError
from rig.lab import control
from rig.lab.resources import CONTROL_CLASS

BENCH_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,30}")
"""A bench name: it names the namespace (``rigbench-<NAME>``), the exporter and its group."""
NETNS_PREFIX = "rigbench-"
"""Not ``rig-``: that prefix is the runs' (their sandboxes are reaped by it)."""
EXPORTER_GROUP = "bench"
EXPORTER_EXIT_COORDINATOR_GONE = 100
"""labgrid 26.0.1 exporter.py's exit code when the coordinator is down or went away."""
RESTART_AFTER_S = (1.0, 10.0)
"""The exporter is started again after the first (coordinator gone) or the second (anything else) delay."""
REGISTER_TIMEOUT_S = 30.0
"""Bound on the exporter's resources appearing on the coordinator after its start."""
RESYNC_S = 15.0
"""labgrid 26.0.1 coordinator.py acquires a held place's orphaned resources again on a new exporter every 15 s."""
RECOVER_TIMEOUT_S = REGISTER_TIMEOUT_S + 3 * RESYNC_S
"""Bound on learning, after the exporter came back, whether the place it lost while held was released meanwhile."""
ORPHAN_RETRY_S = 5.0
"""When the coordinator did not answer that question: how long until it is asked again."""
POLL_S = 0.2
DUT_RESOURCE = "dut"
EV_RESOURCE = "ev"
CONTROL_RESOURCE = "control"
TRANSPORT_CLASS = {"visa": "RigScpiSocket", "modbus_tcp": "RigModbusDevice", "can": "RigCanBoard"}


@dataclass(frozen=True)
class ExportOptions:
    """What ``rig sim export`` was asked for."""

    bench: str
    config: RigConfig
    coordinator: str
    state: Path | None = None
    chain: Path | None = None
    node_id: int | None = None
    exporter: str | None = None

    def check(self) -> None:
        """Raise ConfigError naming the first option that is not usable."""
        if BENCH_NAME.fullmatch(self.bench) is None:
            raise ConfigError(f"--bench {self.bench!r}: 1..31 lowercase letters, digits or '-', not starting with '-'")
        if not self.config.instruments:
            raise ConfigError(f"{self.config.config_path}: no instruments: a bench to export needs its roles")
        if self.node_id is not None and not 0 < self.node_id <= 0xFFFFFFEFFFFFFFFF:
            raise ConfigError(f"--node-id {self.node_id:#x}: must be 1..0xFFFFFFEFFFFFFFFF")

    @property
    def netns(self) -> str:
        """The bench's network namespace."""
        return NETNS_PREFIX + self.bench

    @property
    def exporter_name(self) -> str:
        """The exporter's name (``-n``): ``--exporter``, else the bench's name."""
        return self.exporter or self.bench

    @property
    def dut_node_id(self) -> int:
        """The node id runs give the DUT: ``--node-id``, else one of the bench's own (the rig's bench lock keys on
        it: benches on one host must not share one)."""
        return self.node_id if self.node_id is not None else 0x10000 + (zlib.crc32(self.bench.encode()) & 0xFFFF)

    @property
    def loopback(self) -> str:
        """The bench's own loopback address (inside its namespace), ``127.<a>.<b>.1`` from its name."""
        h = zlib.crc32(b"loop:" + self.bench.encode())
        return f"127.{1 + (h >> 8) % 254}.{h % 256}.1"

    @property
    def can_group(self) -> str:
        """The bench's own virtual CAN bus (python-can ``udp_multicast`` group, inside its namespace): the bench lock
        keys on the channel too."""
        h = zlib.crc32(b"can:" + self.bench.encode())
        return f"239.74.{(h >> 8) % 256}.{1 + h % 254}"


# -- pure parts: the spec served and the resources exported -----------------------------------------------------------
def bench_spec(config: RigConfig, host: str, can_group: str) -> dict[str, Any]:
    """The virtual bench spec of rig.yaml's roles, every TCP role on ``host`` and a free port, a CAN role on the
    multicast group ``can_group``.

    Raises:
        ConfigError: a role the virtual bench cannot serve.
    """
    from rig.config.bench import virtual_bench_spec

    try:
        spec = virtual_bench_spec(config.instruments, config.ev_emulator)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    for role in spec["roles"].values():
        if "port" in role:
            role.update(host=host, port=0)
        elif "channel" in role:
            role["channel"] = can_group
    spec["host"] = host
    return spec


def exporter_groups(
    config: RigConfig,
    ready: dict[str, Any],
    *,
    group: str,
    dut: dict[str, Any],
    fifo: Path,
) -> dict[str, dict[str, dict[str, Any]]]:
    """The exporter YAML (labgrid's ``group: {name: {cls: ..., params}}``) of a served virtual bench.

    Args:
        config: the rig.yaml whose roles were served (resource names are the role names).
        ready: the virtual bench's ready line (the roles' real addresses).
        group: the group's name.
        dut: the MatterDevice's parameters (host, port, node_id, discriminator, netns).
        fifo: the ``RigBenchControl`` FIFO.
    """
    resources: dict[str, dict[str, Any]] = {DUT_RESOURCE: {"cls": "MatterDevice", **dut}}
    for role, inst in config.instruments.items():
        where = ready["roles"][role]
        kind = inst.transport.kind
        cls = TRANSPORT_CLASS.get(kind)
        if cls is None:
            raise ConfigError(f"instruments.{role}: a {kind} transport cannot be exported")
        if kind == "can":
            bitrate = getattr(inst.transport, "bitrate", None) or 500000
            resources[role] = {"cls": cls, "interface": where["interface"], "channel": str(where["channel"]),
                               "bitrate": int(bitrate)}  # fmt: skip
        elif kind == "modbus_tcp":
            resources[role] = {"cls": cls, "host": where["host"], "port": int(where["port"]),
                               "unit": int(getattr(inst.transport, "unit", 1))}  # fmt: skip
        else:
            resources[role] = {"cls": cls, "host": where["host"], "port": int(where["port"])}
    if config.ev_emulator is not None:
        resources[EV_RESOURCE] = {"cls": "RigEvEmulator", "via": config.ev_emulator.via}
    resources[CONTROL_RESOURCE] = {"cls": CONTROL_CLASS, "fifo": str(fifo)}
    return {group: resources}


def instrument_overrides(config: RigConfig, ready: dict[str, Any]) -> dict[str, Any]:
    """rig.yaml overrides that point every role at the address the virtual bench serves it on."""
    out: dict[str, Any] = {}
    for role, inst in config.instruments.items():
        where = ready["roles"][role]
        prefix = f"instruments.{role}.transport"
        if inst.transport.kind == "visa":
            out[f"{prefix}.resource"] = f"TCPIP0::{where['host']}::{where['port']}::SOCKET"
        elif inst.transport.kind == "modbus_tcp":
            out[f"{prefix}.host"], out[f"{prefix}.port"] = where["host"], int(where["port"])
        elif inst.transport.kind == "can":
            out[f"{prefix}.channel"] = str(where["channel"])
    return out


def places_snippet(exporter: str, group: str, bench: str, config: RigConfig) -> dict[str, Any]:
    """A place for the bench, as ``rig lab sync`` reads it (the resources named as the roles are)."""
    names = [DUT_RESOURCE, *config.instruments, *([EV_RESOURCE] if config.ev_emulator is not None else [])]
    return {
        bench: {
            "tags": {"rig": "virtual"},
            "matches": [{"pattern": f"{exporter}/{group}/*/{n}", "name": n} for n in names]
            + [{"pattern": f"{exporter}/{group}/{CONTROL_CLASS}/{CONTROL_RESOURCE}"}],
        }
    }


@dataclass(frozen=True)
class Orphan:
    """The exporter ended while the bench was held: the place, its holder then (None: unknown), and the token the
    bench was marked ``resetting`` with."""

    place: str
    holder: str | None
    token: str


@dataclass(frozen=True)
class Look:
    """One look at the coordinator after the exporter's restart."""

    registered: bool
    """Every resource of the new exporter is listed."""
    holder: str | None
    """Who holds the place now (None: no one)."""
    reacquired: bool
    """The new exporter's control resource is acquired (the coordinator gave the place's orphaned resources back)."""


def orphan_outcome(orphan: Orphan, look: Look) -> str | None:
    """What a look says of a bench whose exporter ended while it was held: ``reset`` (the place was released while
    the exporter was away, or is someone else's now: the bench was not reset since), ``held`` (the same holder, and
    the new exporter holds its resources for it: its release will reset the bench as always), or None (look again)."""
    if not look.registered:
        return None
    if look.holder is None or look.holder != orphan.holder:
        return "reset"
    return "held" if look.reacquired else None


def await_orphan_outcome(
    orphan: Orphan,
    look: Callable[[], Look],
    *,
    timeout_s: float = RECOVER_TIMEOUT_S,
    poll_s: float = POLL_S,
    stop: Callable[[], bool] = lambda: False,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Look until :func:`orphan_outcome` decides; ``timeout`` when it did not within ``timeout_s`` (or ``stopped``)."""
    deadline = time.monotonic() + timeout_s
    while not stop():
        got = orphan_outcome(orphan, look())
        if got is not None:
            return got
        if time.monotonic() >= deadline:
            return "timeout"
        sleep(poll_s)
    return "stopped"


# -- the running bench -------------------------------------------------------------------------------------------------
@dataclass
class _Exporter:
    """The supervised ``python -m rig.lab.exporter``."""

    argv: list[str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    restart_at: float | None = None
    exits: list[int] = field(default_factory=list)

    def start(self) -> None:
        from rig import PROJECT_ROOT

        env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=out, env=env, start_new_session=True)
        self.starts += 1
        self.restart_at = None

    def watch(self, say: Any) -> None:
        """Start it again once its delay passed, when it has exited."""
        if self.proc is not None and self.proc.poll() is not None:
            code = self.proc.returncode
            self.exits.append(code)
            self.proc = None
            delay = RESTART_AFTER_S[0] if code == EXPORTER_EXIT_COORDINATOR_GONE else RESTART_AFTER_S[1]
            why = "the coordinator went away" if code == EXPORTER_EXIT_COORDINATOR_GONE else f"exit code {code}"
            say(f"the exporter ended ({why}); starting it again in {delay:g} s (its log: {self.log})")
            self.restart_at = time.monotonic() + delay
        if self.proc is None and self.restart_at is not None and time.monotonic() >= self.restart_at:
            self.start()

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


class SimExport:
    """The exported virtual bench: :meth:`open` starts it, :meth:`serve` runs it, :meth:`close` removes it."""

    def __init__(self, options: ExportOptions, err: TextIO = sys.stderr) -> None:
        from rig.sim.dut_server import Signals

        options.check()
        self.o = options
        self.err = err
        self.signals = Signals()
        self.stack = contextlib.ExitStack()
        self.state = options.state
        self.ready: dict[str, Any] = {}
        self.dut: Any = None  # the DutServer of the running EVSE
        self.dut_info: dict[str, Any] = {}
        self.exporter: _Exporter | None = None
        self.fifo_fd: int | None = None
        self.state_file: Path | None = None  # the control protocol's state (rig.lab.control)
        self.resets = 0
        self.acquisitions: list[str] = []
        self.held: str | None = None  # the place of the last "acquire", until its "release"
        self.orphan: Orphan | None = None
        self.dut_down = False  # an installed build did not boot: the EVSE stays off until the next reset
        self.orphan_retry_at = 0.0  # when the coordinator did not answer about the orphan: ask again from then

    def say(self, text: str) -> None:
        """One line of the bench's log (stderr)."""
        print(f"rig sim export {self.o.bench}: {text}", file=self.err, flush=True)

    # -- start ---------------------------------------------------------------------------------------------------
    def _preflight(self) -> None:
        if os.geteuid() != 0:
            raise SetupError("rig sim export needs root (it makes the bench's network namespace)")
        if shutil.which("ip") is None:
            raise SetupError("rig sim export needs the `ip` command (Debian package iproute2)")
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
        if self.o.netns in (line.split()[0] for line in listed.splitlines() if line.strip()):
            raise SetupError(f"network namespace {self.o.netns} exists: bench {self.o.bench} is exported already "
                             f"(or was left by a killed `rig sim export`: `ip netns del {self.o.netns}`)")  # fmt: skip

    def open(self) -> bool:
        """Start everything; False when a signal came first (:meth:`close` removes what was made).

        Raises:
            ConfigError, SetupError: bad options, not root, the namespace exists, the bench did not start.
            DutError: the virtual EVSE did not start.
        """
        from rig.sandbox import in_netns, make_netns, remove_netns
        from rig.sim.launch import serve_spec

        self._preflight()
        if self.state is None:
            self.state = Path(tempfile.mkdtemp(prefix=f"rig-bench-{self.o.bench}-"))
            self.stack.callback(shutil.rmtree, self.state, True)
        else:
            self.state = self.state.resolve()
            self.state.mkdir(parents=True, exist_ok=True)
        self.stack.callback(remove_netns, self.o.netns)  # also after a failure half way through make_netns
        make_netns(self.o.netns)
        fifo = self.state / "control.fifo"
        fifo.unlink(missing_ok=True)
        os.mkfifo(fifo, 0o600)
        self.stack.callback(fifo.unlink, True)
        self.fifo_fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)  # read-write: never reads as ended
        self.stack.callback(os.close, self.fifo_fd)
        self.state_file = control.state_path(fifo)
        control.write_state(self.state_file, control.READY, "-", create=True)  # this bench keeps the state file
        self.stack.callback(self.state_file.unlink, True)
        if not self._start_dut():
            return False
        folder = self.state / "virtual-bench"
        folder.mkdir(exist_ok=True)
        spec = bench_spec(self.o.config, self.o.loopback, self.o.can_group)
        with in_netns(self.o.netns):  # the servers' process starts in the bench's namespace
            self.ready = self.stack.enter_context(serve_spec(spec, workdir=folder, evse_port=self._hw_port()))
        self.say(f"virtual bench serving {', '.join(self.ready['roles'])} in network namespace {self.o.netns}")
        self.reset_instruments()
        return self._start_exporter(fifo)

    def _hw_port(self) -> Path:
        assert self.state is not None
        return self.state / "dut" / "hardware.sock"

    def _start_dut(self) -> bool:
        """The virtual EVSE, factory-new, in the bench's namespace (``rig sim dut``'s server)."""
        from rig.sim.dut_server import DutServer, DutServerOptions

        assert self.state is not None
        c = self.o.config
        options = DutServerOptions(
            state=self.state / "dut",
            netns=self.o.netns,
            chain=self.o.chain,
            passcode=c.dut.passcode,
            discriminator=c.dut.discriminator,
            port=c.virtual_evse.port,
            vendor_id=c.virtual_evse.vendor_id,
            product_id=c.virtual_evse.product_id,
            serial=c.virtual_evse.serial_number,
            enable_key=c.dut.pixit.test_event_trigger_key,
            fresh=True,
            hardware_port=self._hw_port(),
        )
        server = DutServer(options, self.signals)
        self.dut = server
        try:
            if not server.open():
                server.close()
                self.dut = None
                return False
        except BaseException:
            server.close()
            self.dut = None
            raise
        self.dut_info = server.ready_line()
        return True

    def _stop_dut(self) -> None:
        dut, self.dut = self.dut, None
        if dut is not None:
            dut.close()

    def _dut_address(self) -> str:
        proc = subprocess.run(["ip", "-n", self.o.netns, "-6", "-o", "addr", "show", "dev", "veth1", "scope", "global"],
                              capture_output=True, text=True, check=False)  # fmt: skip
        found = re.search(r"inet6 ([0-9a-f:]+)/", proc.stdout)
        return found.group(1) if found else ""

    def _start_exporter(self, fifo: Path) -> bool:
        assert self.state is not None
        import yaml

        dut = {
            "host": self._dut_address(),
            "port": self.o.config.virtual_evse.port,
            "node_id": self.o.dut_node_id,
            "discriminator": self.o.config.dut.discriminator,
            "netns": self.o.netns,
        }
        groups = exporter_groups(self.o.config, self.ready, group=EXPORTER_GROUP, dut=dut, fifo=fifo)
        yaml_path = self.state / "exporter.yaml"
        yaml_path.write_text(yaml.safe_dump(groups, sort_keys=False), encoding="utf-8")
        self.stack.callback(yaml_path.unlink, True)
        argv = [sys.executable, "-m", "rig.lab.exporter", "-c", self.o.coordinator, "-n", self.o.exporter_name,
                "--hostname", "127.0.0.1", str(yaml_path)]  # fmt: skip
        self.exporter = _Exporter(argv, self.state / "exporter.log")
        self.stack.callback(self.exporter.stop)
        self.exporter.start()
        return self._await_registered(set(groups[EXPORTER_GROUP]))

    def _exporter_names(self) -> set[str]:
        assert self.state is not None
        import yaml

        groups = yaml.safe_load((self.state / "exporter.yaml").read_text(encoding="utf-8"))
        return set(groups[EXPORTER_GROUP])

    def _await_registered(self, names: set[str]) -> bool:
        """Wait until the coordinator lists every resource of the exporter (bounded); False on a signal."""
        from rig.lab.coordinator import Coordinator

        deadline = time.monotonic() + REGISTER_TIMEOUT_S
        with Coordinator(self.o.coordinator, f"rig-export-{self.o.bench}") as coord:
            while self.signals.received is None:
                coord.sync()
                got = coord.session.resources.get(self.o.exporter_name, {}).get(EXPORTER_GROUP, {})
                if names <= set(got):
                    return True
                assert self.exporter is not None
                self.exporter.watch(self.say)
                if time.monotonic() > deadline:
                    raise SetupError(f"the exporter's resources did not appear on the coordinator {self.o.coordinator} "
                                     f"within {REGISTER_TIMEOUT_S:g} s; its log: {self.exporter.log}")  # fmt: skip
                time.sleep(POLL_S)
        return False

    # -- the bench's rest state ------------------------------------------------------------------------------------
    def reset_instruments(self) -> None:
        """EV emulator to state A (fault paths released), every instrument safe, then the AC source on at nominal
        mains: through the rig's own drivers, from inside the bench's network."""
        from rig.bench import Bench
        from rig.bench.mains import NOMINAL_MAINS_HZ, NOMINAL_MAINS_V
        from rig.instruments.capabilities import AcSource
        from rig.sandbox import in_netns

        c = self.o.config
        assert c.config_path is not None
        config = load_config(c.config_path, overrides=instrument_overrides(c, self.ready))
        with in_netns(self.o.netns):
            bench = Bench(config).open()
            try:
                bench.safe_state()
                found = bench.first(AcSource)
                if found is not None:
                    source = found[1]
                    source.set_voltage(NOMINAL_MAINS_V)
                    source.set_frequency(NOMINAL_MAINS_HZ)
                    source.set_output(True)
            finally:
                bench.close()  # closing leaves each instrument as it is: the mains stay on

    def reset(self, why: str, token: str | None = None) -> None:
        """The whole bench to its rest state: instruments, then the virtual EVSE factory-new; then ``ready TOKEN``
        into the state file if it still says ``resetting TOKEN``. Without a token (a reset of the bench's own) the
        bench is marked ``resetting`` under a new one first."""
        assert self.state_file is not None
        if token is None:
            token = control.new_token()
            control.write_state(self.state_file, control.RESETTING, token)
        try:
            self._reset(why)
        finally:
            control.mark_ready(self.state_file, token)

    def _reset(self, why: str) -> None:
        t0 = time.monotonic()
        try:
            self.reset_instruments()
        except Exception as exc:  # the EVSE is reset all the same; the next run's bench check says more
            self.say(f"reset: the instruments did not all reach their rest state: {exc}")
        self._stop_dut()
        self.dut_down = False
        if self.signals.received is None and self._start_dut():
            self.resets += 1
            self.say(f"bench reset ({why}) in {time.monotonic() - t0:.1f} s: EV in state A, AC on at nominal, "
                     f"virtual EVSE factory-new (pid {self.dut_info.get('pid')})")  # fmt: skip

    # -- run -------------------------------------------------------------------------------------------------------
    def ready_line(self) -> dict[str, Any]:
        """What a lab (or a test) needs of the exported bench."""
        assert self.state is not None and self.exporter is not None
        return {
            "ready": True,
            "bench": self.o.bench,
            "exporter": self.o.exporter_name,
            "group": EXPORTER_GROUP,
            "netns": self.o.netns,
            "coordinator": self.o.coordinator,
            "exporter_yaml": str(self.state / "exporter.yaml"),
            "places": places_snippet(self.o.exporter_name, EXPORTER_GROUP, self.o.bench, self.o.config),
            "node_id": self.o.dut_node_id,
            "discriminator": self.o.config.dut.discriminator,
            "paa_trust_store": self.dut_info.get("paa_trust_store"),
            "roles": self.ready.get("roles", {}),
            "state": str(self.state),
            "pid": os.getpid(),
        }

    def _orders(self) -> list[str]:
        assert self.fifo_fd is not None
        readable, _, _ = select.select([self.fifo_fd], [], [], POLL_S)
        if not readable:
            return []
        try:
            data = os.read(self.fifo_fd, 4096)
        except BlockingIOError:
            return []
        return [line.strip() for line in data.decode(errors="replace").splitlines() if line.strip()]

    def serve(self) -> int:
        """Run until SIGINT or SIGTERM: reset on each release, keep the exporter and the EVSE running."""
        from rig.sim.virtual_evse import REBOOT_EXIT_CODE

        assert self.exporter is not None
        while self.signals.received is None:
            for order in self._orders():
                self._order(order)
            self._watch_exporter()
            evse = self.dut.evse if self.dut is not None else None
            code = evse.proc.poll() if evse is not None and evse.proc is not None and not self.dut_down else None
            if self.signals.received is None and code == REBOOT_EXIT_CODE and self.dut is not None:
                # it installed a build over Matter OTA and reboots into it: booted again on its storage, as a
                # charger's bootloader does (a reset would wipe the build the run just installed)
                try:
                    self.dut.reboot()
                    self.say("the virtual EVSE rebooted into its installed build")
                except DutError as exc:  # a build that does not boot: the charger stays silent on the bench
                    self.dut_down = True
                    self.say(f"the virtual EVSE did not come back after rebooting into its installed build ({exc}); "
                             "it stays off the network until the place is released (then reset)")  # fmt: skip
            elif (
                self.signals.received is None
                and not self.dut_down
                and (evse is None or evse.proc is None or code is not None)
            ):
                self.say("the virtual EVSE is gone: starting it again, factory-new")
                self.reset("the virtual EVSE ended")
        return 0

    def _order(self, order: str) -> None:
        word, _, arg = order.partition(" ")
        if word == "acquire":
            self.held = arg
            self.acquisitions.append(arg)
            self.say(f"acquired: place {arg}")
        elif word == "release":
            self.held = None
            self.say("released: resetting the bench")
            if arg:
                self.reset("released", arg)
            else:  # an exporter of the rig's before the state file: no token
                self.reset("released")
        else:
            self.say(f"unknown order on the control FIFO, ignored: {order[:80]!r}")

    def _watch_exporter(self) -> None:
        """Start the exporter again when it ended; when it ended while the bench was held, mark the bench resetting
        at once and decide, once the new one is back, whether to reset it."""
        assert self.exporter is not None
        exits, starts = len(self.exporter.exits), self.exporter.starts
        self.exporter.watch(self.say)
        if len(self.exporter.exits) > exits and self.held is not None and self.orphan is None:
            self._exporter_lost(self.held)
        due = self.exporter.starts > starts or time.monotonic() >= self.orphan_retry_at
        if self.orphan is not None and self.exporter.proc is not None and due:
            self._recover(self.orphan)

    def _exporter_lost(self, place: str) -> None:
        """The exporter ended while ``place`` was held: labgrid will not tell the new exporter of a release that
        comes before it is back (the coordinator skips orphaned resources), so the bench is marked ``resetting``
        before the new exporter registers (it publishes that) and :meth:`_recover` decides once it is back."""
        assert self.state_file is not None
        token = control.new_token()
        control.write_state(self.state_file, control.RESETTING, token)
        holder = self._holder(place)
        self.orphan = Orphan(place, holder, token)
        self.say(f"the exporter ended while place {place} was held (by {holder or 'an owner not known'}): the bench "
                 "is marked resetting until its new exporter is back and the place's fate is known")  # fmt: skip

    def _holder(self, place: str) -> str | None:
        """Who holds ``place`` on the coordinator (None: no one, or the coordinator did not answer)."""
        from rig.errors import RigError
        from rig.lab.coordinator import Coordinator

        try:
            with Coordinator(self.o.coordinator, f"rig-export-{self.o.bench}") as coord:
                info = coord.places().get(place)
        except RigError as exc:
            self.say(f"could not ask the coordinator who holds place {place}: {exc}")
            return None
        return info.acquired if info is not None else None

    def _recover(self, orphan: Orphan) -> None:
        """Once the new exporter is registered: reset the bench if the place was released (or changed hands) while
        its exporter was away; either way mark it ready (bounded by :data:`RECOVER_TIMEOUT_S`)."""
        from rig.errors import RigError
        from rig.lab.coordinator import Coordinator

        assert self.exporter is not None and self.state_file is not None
        names = self._exporter_names()
        outcome = "timeout"
        try:
            with Coordinator(self.o.coordinator, f"rig-export-{self.o.bench}") as coord:

                def look() -> Look:
                    assert self.exporter is not None
                    self.exporter.watch(self.say)
                    coord.sync()
                    got = coord.session.resources.get(self.o.exporter_name, {}).get(EXPORTER_GROUP, {})
                    place = coord.session.places.get(orphan.place)
                    ctl = got.get(CONTROL_RESOURCE)
                    return Look(names <= set(got), (place.acquired or None) if place is not None else None,
                                bool(ctl is not None and ctl.acquired))  # fmt: skip

                outcome = await_orphan_outcome(orphan, look, stop=lambda: self.signals.received is not None)
        except RigError as exc:  # the bench stays marked resetting; asked again later (or at the next restart)
            self.orphan_retry_at = time.monotonic() + ORPHAN_RETRY_S
            self.say(f"after the exporter's restart the coordinator did not answer ({exc}); the bench stays marked "
                     f"resetting, asking again in {ORPHAN_RETRY_S:g} s")  # fmt: skip
            return
        self.orphan = None
        if outcome == "reset":
            self.held = None  # a newer holder's acquisition is in the FIFO still
            self.say(f"place {orphan.place} was released while its exporter was away: resetting the bench")
            self.reset("released while its exporter was away", orphan.token)
            return
        if outcome == "held":
            self.say(f"place {orphan.place} is still held by {orphan.holder}, its new exporter holds the resources")
        elif outcome == "timeout":
            self.say(f"place {orphan.place}: its fate after the exporter's restart is unknown after "
                     f"{RECOVER_TIMEOUT_S:g} s; the bench is marked ready, not reset")  # fmt: skip
        control.mark_ready(self.state_file, orphan.token)

    def close(self) -> None:
        """Stop and remove everything started (idempotent)."""
        self._stop_dut()
        self.stack.close()


def export(options: ExportOptions, out: TextIO = sys.stdout) -> int:
    """``rig sim export``: open, print the ready line, serve until a signal, close."""
    export = SimExport(options)
    old = {s: signal.signal(s, export.signals) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        if export.open():
            out.write(json.dumps(export.ready_line()) + "\n")
            out.flush()
            export.say(f"exported as {options.exporter_name} on {options.coordinator}; SIGINT or SIGTERM stops it")
            export.serve()
        export.say(f"{export.signals.name or 'stopped'}: stopping the bench")
        return 0
    finally:
        export.close()
        for s, handler in old.items():
            signal.signal(s, handler)


def options_from(args: Any, cfg: RigConfig) -> ExportOptions:
    """The options of ``rig sim export``'s parsed arguments (``cfg``: the rig.yaml they name)."""
    from rig.lab.coordinator import coordinator_address
    from rig.sim.dut_server import parse_int

    return ExportOptions(
        bench=args.bench,
        config=cfg,
        coordinator=coordinator_address(args.coordinator or (cfg.farm.coordinator if cfg.farm else None)),
        state=Path(args.state) if args.state else None,
        chain=Path(args.chain) if args.chain else None,
        node_id=parse_int(args.node_id, "--node-id") if args.node_id else None,
        exporter=args.exporter,
    )
