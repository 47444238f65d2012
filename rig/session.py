"""One run's lifecycle, in one place: ``open_session(config)``.

    async with open_session(config, run_dir=run_dir) as session:
        value = await session.node.read(...)
    # every exit path: the bench in its safe state, the DUT stopped, the controller shut down, all closed

Set-up, in order (each stage bounded by its timeout, a failure raises :class:`~rig.errors.SessionError` naming the
stage, and whatever was already up is taken down again). The CHIP wheel (seconds of Python imports) is loaded in a
thread from the start, while the bench comes up; the controller stage waits for it. ``Session.timings`` holds the
seconds each stage waited:

1. **sandbox**: the run's private state folder, ``/data`` and network namespace (made by :mod:`rig.sandbox` before
   this process started, with what the DUT kind preloads in it, see :func:`run_in_sandbox`; this stage adopts it).
2. **bench**: what the DUT kind brings (:meth:`Dut.hardware`: for the virtual DUT, the virtual EVSE and the virtual
   bench's servers wired to it, started together), then every instrument role opened in declaration order, and the
   DUT powered at nominal mains from the AC source. The instruments open in a thread while stages 3 and 4 run
   (neither needs them); the bench stage is complete, and its time counted, before commissioning starts.
3. **DUT**: its trust store for device attestation.
4. **controller**: the CHIP controller on the run's storage (once the CHIP wheel is loaded).
5. **commissioning**: commission the DUT (or reconnect), read its Basic Information.

Tear-down, the reverse, the same for every kind of DUT: the bench to its safe state (EV emulator in state A, fault
paths released, AC output off) while the DUT still drives its pilot, then the DUT stopped, then the controller shut
down, then the instruments closed (safe state again first) and what the DUT kind brought stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rig import PROJECT_ROOT
from rig import sandbox as sandbox_mod
from rig.bench import Bench
from rig.bench.mains import NOMINAL_MAINS_HZ, NOMINAL_MAINS_V
from rig.commissioning import Departure, Reached, leave_dut, reach_dut
from rig.config import RigConfig
from rig.dut import Dut, dut_for
from rig.errors import ConfigError, RigError, SessionError
from rig.redaction import redacting_logs, secrets_of
from rig.sandbox import SandboxInfo
from rig.station import Station, station_dir

if TYPE_CHECKING:
    from rig.bench.lock import BenchLock, Holder
    from rig.matter.controller import MatterController, Node

log = logging.getLogger("rig.session")


@dataclass
class Session:
    """An open run: the bench, the DUT, the controller and the commissioned node.

    Attributes:
        config: the validated rig.yaml.
        run_dir: the run's output folder (None: no outputs are kept).
        sandbox: the run's sandbox.
        dut: the DUT (its kind's behaviour).
        bench: the instruments (None when rig.yaml declares none).
        controller: the Matter controller.
        node: the DUT's node handle on its Energy EVSE endpoint.
        identity: the DUT's Basic Information (vendor, product, serial, versions).
        timings: seconds the set-up waited for each stage (``bench``, ``dut``, ``controller``, ``commissioning``;
            their sum is the set-up's time inside this process).
    """

    config: RigConfig
    run_dir: Path | None
    sandbox: SandboxInfo
    dut: Dut
    bench: Bench | None
    controller: MatterController
    node: Node
    identity: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    fabrics: dict[str, Any] = field(default_factory=dict)
    station: Station | None = None
    attestation_chain: dict[str, Any] = field(default_factory=dict)

    def instruments(self) -> dict[str, dict[str, str]]:
        """Role -> driver, address and the identity the instrument gave."""
        if self.bench is None:
            return {}
        return {
            role: {
                "driver": self.config.instruments[role].driver,
                "address": self.bench.address(role),
                "identity": str(self.bench.identities.get(role, "")),
            }
            for role in self.bench.roles
        }

    def describe(self) -> dict[str, Any]:
        """The session for the run record: bench kind, DUT (as configured, plus its identity), instruments."""
        dut: dict[str, Any] = dict(self.dut.describe())
        dut["commissioning"] = self.config.dut.commissioning
        if self.station is not None:
            dut["station"] = {
                "name": self.station.name,
                "root_fingerprint": self.station.root_fingerprint(),
                "compressed_fabric_id": self.station.compressed_fabric_id(),
                "controller_node_id": self.station.identity.controller_node_id,
            }
        if self.attestation_chain:
            dut["attestation_chain"] = dict(self.attestation_chain)
        return {
            "bench": dut.pop("bench"),
            "dut": {**dut, "identity": dict(self.identity), "fabrics": dict(self.fabrics)},
            "instruments": self.instruments(),
        }

    async def power_cycle(self) -> str:
        """Power-cycle the DUT as its kind does (see :meth:`Dut.power_cycle`); its sessions are then stale."""
        note = await self.dut.power_cycle(self.bench)
        self.node.expire_sessions()
        return note


def _power_dut(bench: Bench) -> None:
    """Nominal mains from the first AC source, confirmed by a query before anything relies on it."""
    from rig.instruments.capabilities import AcSource

    found = bench.first(AcSource)
    if found is None:
        return
    role, source = found
    source.set_voltage(NOMINAL_MAINS_V)
    source.set_frequency(NOMINAL_MAINS_HZ)
    source.set_output(True)
    if not source.output_on():
        raise SessionError("bench", f"the AC source {role!r} did not switch its output on")
    log.info("DUT powered from %s: %.0f V %.0f Hz", role, NOMINAL_MAINS_V, NOMINAL_MAINS_HZ)


async def power_back_after_loss(session: Session) -> str:
    """After a loss drove the bench to its safe state mid-run (AC off: :meth:`Bench.note_loss`), switch the mains on
    again with the EV emulator still in state A, as a run's start does, and reach the DUT again (a fresh CASE
    session, within the commissioning timeout: a DUT switched off boots first; a DUT that had stopped answering gets a
    power cycle as its kind does one), so the next case, or the fabric
    removal at the end, finds it powered. Returns what happened, "" when nothing was to be done; never raises.
    """
    from rig.instruments.capabilities import AcSource

    bench = session.bench
    if bench is None or not bench.unpowered_by_loss:
        return ""
    found = bench.first(AcSource)
    if found is None:
        bench.unpowered_by_loss = False
        return ""
    if found[0] in bench.lost:
        return f"the DUT stays unpowered: its AC source {found[0]!r} is lost"
    try:
        await asyncio.to_thread(_power_dut, bench)
    except (RigError, OSError) as exc:
        return f"the mains could not be switched on again: {exc}"
    bench.unpowered_by_loss = False
    cycled = ""
    if bench.dut_lost:  # the mains may have been off too briefly for it to restart: a power cycle of its own
        try:
            cycled = f" after a power cycle ({await session.power_cycle()})"
        except RigError as exc:
            return f"the mains are on again, but the DUT that stopped answering could not be power-cycled: {exc}"
        bench.dut_lost = False
    timeout_s = session.config.dut.timeouts.commissioning
    session.node.expire_sessions()
    try:
        took = await session.controller.connect(session.config.dut.node_id, timeout_s=timeout_s)
    except RigError as exc:
        return f"the mains are on again{cycled}, but the DUT was not reached again: {exc}"
    return f"the mains are on again{cycled} and the DUT answered after {took:.1f} s"


@contextlib.contextmanager
def _stage(name: str) -> Iterator[None]:
    """Turn a RigError of one stage into a SessionError naming it."""
    try:
        yield
    except SessionError:
        raise
    except RigError as exc:
        raise SessionError(name, str(exc)) from exc


@contextlib.asynccontextmanager
async def open_session(
    config: RigConfig,
    *,
    run_dir: Path | None = None,
    sandbox: SandboxInfo | None = None,
    dut: Dut | None = None,
    also_trust: Callable[[Path], Path] | None = None,
) -> AsyncIterator[Session]:
    """Open the run described by ``config``; take it down on every exit path, ending in the bench's safe state.

    Args:
        config: the validated rig.yaml.
        run_dir: folder for the run's outputs (logs, ``dut.json``); None keeps them in the sandbox's state folder.
        sandbox: the run's sandbox (default: the one this process runs in).
        dut: the DUT (default: the kind rig.yaml names).
        also_trust: given the station's folder, a folder of PAAs (DER) the controller trusts too in this session, on
            top of the DUT's trust store (``rig firmware install``: the PAA of the station's own OTA provider).

    Raises:
        SessionError: a stage failed; its message names the stage.
    """
    info = sandbox or sandbox_mod.current()
    if info is None:
        raise SessionError(
            "sandbox",
            "a run needs its sandbox (private /data for the Matter controller, a network namespace for the virtual "
            "EVSE): start it with `rig run` (or `make run`), not plain pytest",
        )
    the_dut = dut or dut_for(config)
    timings: dict[str, float] = {}
    redacted = redacting_logs(secrets_of(config))  # the setup codes and PIXIT keys never reach a log or a record
    # The CHIP wheel loads (seconds of imports, a CPU of its own) while the bench comes up.
    chip_loaded = asyncio.get_running_loop().run_in_executor(None, _load_controller)
    chip_loaded.add_done_callback(lambda f: f.cancelled() or f.exception())  # a failure is the controller stage's
    async with contextlib.AsyncExitStack() as stack:
        stack.enter_context(redacted)
        # 2. bench: what the DUT kind brings; then the instruments open and mains comes on, in a thread, while the
        # DUT and controller stages run (neither needs them). The bench stage is waited for before commissioning.
        t0 = time.monotonic()
        with _stage("bench"):
            await asyncio.to_thread(stack.enter_context, the_dut.hardware(info, run_dir))
        opened: list[Bench] = []  # the bench, once its context is on the stack
        instruments = (
            asyncio.ensure_future(asyncio.to_thread(_open_instruments, config, stack, opened))
            if config.instruments
            else None
        )
        timings["bench"] = time.monotonic() - t0

        # Tear-down, the same for every DUT kind: the safe state while the DUT still drives its pilot (it is never
        # switched off under a connected EV or a closed contactor), then the DUT stopped, then the controller shut
        # down (a virtual EVSE ends its sessions while the controller can still answer); after that the
        # instruments close and what the DUT kind brought stops (the contexts entered above).
        held: list[MatterController] = []
        reached: list[Reached] = []  # once the DUT is reached
        yielded: list[Session] = []

        async def end_of_run() -> None:
            for b in opened:
                await _release_ev(b)
            # The fabric the session added is removed while the DUT is still powered (the safe state switches its
            # supply off; after a loss that did, the mains come on again first); bounded, and it never raises.
            for s in yielded:
                note = await power_back_after_loss(s)
                if note:
                    log.warning("before the fabric removal: %s", note)
            for c, r in zip(held, reached, strict=False):
                departure = await _leave(config, c, station, r, yielded[0].fabrics if yielded else {})
                for s in yielded:
                    s.fabrics.update(removed=departure.removed, removal=departure.note)
            for b in opened:
                await _safe_state(b)
            await asyncio.to_thread(the_dut.stop)
            for c in held:
                c.shutdown()

        try:
            # 3. DUT: its attestation trust store.
            t0 = time.monotonic()
            with _stage("DUT"):
                paa = await asyncio.to_thread(the_dut.trust_store, info)
            timings["dut"] = time.monotonic() - t0

            # 4. controller, on the station's fabric (reopened, never replaced; the station is locked for the run).
            t0 = time.monotonic()
            with _stage("station"):
                folder = the_dut.station_folder(info.state_dir)
                assert folder is not None  # given the run's state folder, every DUT kind names one
                station = Station(folder, config.station.name)
                stack.enter_context(station.open())
            trusted = paa if also_trust is None else _trusting(paa, also_trust(folder), info.state_dir / "paa-session")
            controller = _start_controller(await _chip_class(chip_loaded), station, trusted)
            held.append(controller)
            timings["controller"] = time.monotonic() - t0
        finally:
            # The instruments settle first (on the stack, or failed), then the tear-down goes on the stack: it runs
            # before they close.
            if instruments is not None:
                t0 = time.monotonic()
                await asyncio.wait([instruments])
                timings["bench"] += time.monotonic() - t0
            stack.push_async_callback(end_of_run)
        if instruments is not None:
            with _stage("bench"):
                instruments.result()
        bench = opened[0] if opened else None

        # 5. commissioning (or reconnecting), then the fabric label and the DUT's fabric table.
        t0 = time.monotonic()
        with _stage("commissioning"):
            arrived = await reach_dut(config, controller, station)
        reached.append(arrived)
        log.info("DUT 0x%x ready after %.3f s (%s)", config.dut.node_id, arrived.took_s, arrived.mode)
        timings["commissioning"] = time.monotonic() - t0
        node, identity = arrived.node, arrived.identity
        fabrics = await _fabrics(config, controller, node, labelled=arrived.added_fabric)
        chain = await _attestation_chain(controller, node, paa)
        if run_dir is not None:
            (run_dir / "dut.json").write_text(json.dumps(identity, indent=2, default=str), encoding="utf-8")
        session = Session(
            config, run_dir, info, the_dut, bench, controller, node, identity, timings, fabrics, station, chain
        )
        yielded.append(session)
        yield session


async def _chip_class(loading: Awaitable[type[MatterController]]) -> type[MatterController]:
    try:
        return await loading
    except RigError as exc:
        raise SessionError("controller", str(exc)) from exc
    except Exception as exc:  # the CHIP wheel's own errors
        raise SessionError("controller", f"the Matter controller could not start: {exc}") from exc


def _trusting(paa: Path | None, extra: Path, target: Path) -> Path:
    """A trust store of this session's own (``target``, in the run's state folder): the PAAs of the DUT's trust store
    ``paa`` and those of ``extra``, as the controller reads them (flat DER files); neither folder is written."""
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    for n, folder in enumerate(f for f in (paa, extra) if f is not None):
        for cert in sorted(folder.glob("*.der")):
            (target / f"{n}-{cert.name}").write_bytes(cert.read_bytes())
    return target


def _start_controller(cls: type[MatterController], station: Station, paa: Path | None) -> MatterController:
    """The controller on the station's fabric: its storage, controller node id, fabric id and CA (kept, or made
    once and remembered)."""
    ident = station.identity
    try:
        controller = cls(
            station.storage_path,
            paa,
            controller_node_id=ident.controller_node_id,
            vendor_id=ident.vendor_id,
            fabric_id=ident.fabric_id,
            ca_index=ident.ca_index,
        )
    except RigError as exc:
        raise SessionError("controller", str(exc)) from exc
    except Exception as exc:  # the CHIP stack's own errors
        raise SessionError("controller", f"the Matter controller could not start: {exc}") from exc
    if ident.ca_index is None:
        try:
            station.set_ca_index(controller.ca_index)
        except BaseException:
            controller.shutdown()
            raise
    return controller


@contextlib.asynccontextmanager
async def open_controller(config: RigConfig) -> AsyncIterator[tuple[MatterController, Station]]:
    """The Matter controller on the station's fabric alone (no bench, no commissioning), for the station's operator
    commands; inside a sandbox. The station stays locked while it is open; the controller is shut down on exit.

    Raises:
        SessionError: the station or the controller could not be opened.
    """
    if sandbox_mod.current() is None:
        raise SessionError("sandbox", "the controller needs its sandbox (private /data and /tmp): use `rig station`")
    with contextlib.ExitStack() as stack:
        with _stage("station"):
            station = Station(station_dir(config), config.station.name)
            stack.enter_context(station.open())
        controller = _start_controller(_load_controller(), station, None)
        try:
            yield controller, station
        finally:
            controller.shutdown()


def _open_instruments(config: RigConfig, stack: contextlib.AsyncExitStack[bool | None], opened: list[Bench]) -> None:
    """Open every instrument role (the bench's context goes on ``stack``), then nominal mains on."""
    bench = Bench(config)
    stack.enter_context(bench)
    opened.append(bench)
    _power_dut(bench)


def _load_controller() -> type[MatterController]:
    """Import the controller module, and with it the CHIP wheel (loaded only for a run).

    The wheel creates thousands of classes; the cyclic garbage collector is paused meanwhile (it would pass over
    them again and again: some 7 % of the import's time).
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        from rig.matter.controller import MatterController
    finally:
        if collecting:
            gc.enable()
    return MatterController


async def _safe_state(bench: Bench) -> None:
    try:
        await asyncio.to_thread(bench.safe_state)
    except RigError as exc:
        log.error("safe state at the end of the session: %s", exc)


async def _release_ev(bench: Bench) -> None:
    """The EV emulator to state A with every fault path released (the DUT stays powered)."""
    emulator = bench.ev_emulator
    if emulator is None:
        return
    try:
        await asyncio.to_thread(emulator.release_all)
    except Exception as exc:  # the safe state that follows tries again and reports it
        log.error("EV emulator release at the end of the session: %s", exc)


async def _leave(
    config: RigConfig, controller: MatterController, station: Station, reached: Reached, fabrics: dict[str, Any]
) -> Departure:
    """The fabric removal at the end of the session, bounded by twice the command timeout."""
    try:
        async with asyncio.timeout(2 * config.dut.timeouts.command + 1):
            return await leave_dut(config, controller, station, reached, fabrics)
    except TimeoutError:
        note = "NOT removed: the DUT did not answer in time; `rig station forget` removes it later"
        log.error("the rig's fabric on node 0x%x: %s", config.dut.node_id, note)
        return Departure(False, note)


async def _attestation_chain(controller: MatterController, node: Node, paa: Path | None) -> dict[str, Any]:
    """The subjects of the DUT's DAC, PAI and the PAA that signs it (for the report); a failure is a note."""
    from rig.dut.attestation import describe_chain
    from rig.matter.fabrics import read_attestation_chain

    root = controller.node(node.node_id, 0, timeout_s=node.timeout_s)
    try:
        dac, pai = await read_attestation_chain(root)
        return describe_chain(dac, pai, paa).to_record()
    except Exception as exc:  # noted for the report, never fatal
        log.warning("the DUT's attestation chain could not be read: %s", exc)
        return {"problem": f"not read: {exc}"}


async def _fabrics(config: RigConfig, controller: MatterController, node: Node, *, labelled: bool) -> dict[str, Any]:
    """Label the rig's fabric ``rig:<station>`` (on a DUT the rig commissioned) and read the DUT's fabric table."""
    from rig.matter.fabrics import label_fabric, read_fabric_table, rig_label

    root = controller.node(node.node_id, 0, timeout_s=config.dut.timeouts.command)
    label = rig_label(config.station.name)
    problem = None
    if labelled:
        problem = await label_fabric(root, label)
    table = await read_fabric_table(controller, root, config.dut.timeouts.command, station_label=label)
    if problem is None and labelled:
        table.label = label
    elif problem is not None:
        table.problems.insert(0, problem)
    for text in table.problems:
        log.warning("DUT fabric table: %s", text)
    stale = table.stale_rig_fabrics()
    if stale:
        log.warning(
            "the DUT holds %d stale rig fabric(s) from earlier runs: %s",
            len(stale),
            ", ".join(f"index {e.index} {e.label!r}" for e in stale),
        )
    return table.to_record()


def run_in_sandbox(
    config: RigConfig,
    argv: list[str],
    *,
    run_id: str | None = None,
    keep_state: bool = False,
    visible: tuple[Path, ...] = (),
    preload: bool = True,
    lock: BenchLock | None = None,
) -> int:
    """Stage 1 seen from outside: make the run's sandbox for the DUT kind of ``config`` and run ``argv`` in it.

    ``argv`` is a process that opens the session itself (pytest with the rig plugin, or an inner ``rig`` command).
    The machine is checked first (root, ``ip``, ``unshare``, Node.js as the DUT kind needs), and the sandbox is
    removed on every exit path. A DUT kind that starts slowly preloads in the sandbox while ``argv`` starts (the
    virtual EVSE: its modules, see :meth:`VirtualDut.preload <rig.dut.VirtualDut.preload>`), unless ``preload`` is
    False (``argv`` opens no session). Returns the process's exit code.

    The process holds the bench's lock (``lock``, taken with :func:`lock_bench`, or taken here) as long as it
    lives, even after this process is gone; the lock is released here at the end.

    Raises:
        BenchBusy: another run holds the bench.
        ConfigError: settings that do not apply to the DUT kind.
        SetupError: the machine lacks what the run needs (the message says what).
    """
    with contextlib.ExitStack() as stack:
        if lock is not None:
            stack.callback(lock.release)
        the_dut = dut_for(config)
        if preload:  # a process that opens a session: its DUT settings must allow one
            the_dut.check_session()
        needs = the_dut.host_needs()
        sandbox_mod.preflight(need_netns=needs.netns, need_node=needs.node)
        the_dut.check_installed()
        env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        ident = run_id or sandbox_mod.new_run_id()
        shown = [*visible, *_inputs(config, the_dut)]
        if lock is None:  # whatever runs against rig.yaml's bench and DUT holds them
            lock = lock_bench(config, ident)
            stack.callback(lock.release)
        sb = stack.enter_context(
            sandbox_mod.Sandbox(ident, with_netns=needs.netns, keep_state=keep_state, visible=shown)
        )
        inside = SandboxInfo(sb.state_dir, sb.netns, sandbox_mod.DEVICE_IFACE if sb.netns else None)
        with _preloaded(the_dut, inside) if preload else contextlib.nullcontext():
            return sb.run(argv, env=env, pass_fds=lock.fds)
    raise AssertionError("not reached")  # mypy: ExitStack may swallow exceptions


def _inputs(config: RigConfig, dut: Dut) -> list[Path]:
    """Folders and files rig.yaml names that the run reads or keeps (the file's own, the trust store, the PICS, the
    station, the virtual EVSE's firmware), so that they stay visible in the sandbox even under /tmp, which the sandbox
    replaces with a private one. The station's folder is made (private) here when it does not exist yet: made inside,
    it would vanish with the run."""
    from rig.station.files import make_private_dir

    folders: list[Path] = []
    if config.config_path is not None:  # the file too: straight under /tmp, its folder is /tmp itself
        folders += [Path(config.config_path).parent, Path(config.config_path)]
    if config.virtual_evse.firmware is not None:  # with its parent: node reads package.json and node_modules there
        folders.append(config.virtual_evse.firmware.parent)
    for path in (config.dut.paa_trust_store, config.dut.pics):
        if path is not None and path.exists():
            folders += [path] if path.is_dir() else [path.parent, path]
    station = dut.station_folder(None)
    if station is not None:  # a station of its own (not in the run's state folder): made before the run
        make_private_dir(station)
        folders.append(station)
    return folders


@contextlib.contextmanager
def _preloaded(dut: Dut, sandbox: SandboxInfo) -> Iterator[None]:
    """What the DUT kind preloads in the sandbox (nothing for most); without it the session starts it cold."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(dut.preload(sandbox))
        except (OSError, RigError) as exc:
            log.warning("nothing preloaded for the DUT (it starts cold): %s", exc)
        yield


@contextlib.contextmanager
def open_bench(config: RigConfig, *, run_dir: Path | None = None) -> Iterator[Bench]:
    """The instruments alone, without a DUT or a controller (``rig bench check``): what the DUT kind brings of
    them (the virtual bench's servers, or nothing) and every role opened; the safe state and close on every exit.

    Raises:
        ConfigError: rig.yaml declares no instruments.
        SessionError: the bench could not be opened (the role, address and command are named).
    """
    if not config.instruments:
        raise ConfigError(f"{config.config_path or 'rig.yaml'}: no instruments declared; add an instruments: section")
    the_dut = dut_for(config)
    with contextlib.ExitStack() as stack, _stage("bench"):
        stack.enter_context(the_dut.instrument_servers(run_dir))
        bench = stack.enter_context(Bench(config))
        yield bench


def lock_bench(
    config: RigConfig,
    run_id: str,
    *,
    run_dir: Path | None = None,
    safe_state: Callable[[RigConfig], None] | None = None,
) -> BenchLock:
    """Take the lock of the bench ``config`` describes for run ``run_id`` (see :mod:`rig.bench.lock`), before
    anything of the run starts; the caller releases it (:func:`run_in_sandbox` does).

    A lock left by a run that died (SIGKILL) is taken over: that run's bench is first opened and put in its safe
    state (``safe_state``, default: every instrument role opened and :meth:`Bench.safe_state`), then the run is
    recorded as ``killed`` (:func:`record_killed`). Virtual runs that died are recorded as killed too (their
    bench, private to them, ended with them; their sandboxes are reaped when the next sandbox is made).

    Raises:
        BenchBusy: a live run holds the bench (exit code 2; the message names the run, its pid and start).
        SessionError: the bench of a killed run could not be put in its safe state (the lock is left as found).
    """
    from rig.bench.lock import BenchLock, reap_dead, resources_for

    private = dut_for(config).host_needs().netns  # its own network namespace: nothing shared with another run
    lock = BenchLock(resources_for(config, run_id, private=private), run_id, run_dir=run_dir, virtual=private)
    dead = lock.acquire()
    try:
        if dead and config.instruments:
            names = ", ".join(h.describe() for h in dead)
            _say(f"the bench was left by {names}, which was killed: putting the bench in its safe state first")
            try:
                (safe_state or _bench_safe_state)(config)
            except RigError as exc:
                raise SessionError(
                    "bench", f"the bench of the killed {names} could not be put in its safe state: {exc}"
                ) from exc
    except BaseException:
        lock.release(restore=dead)
        raise
    for holder in [*dead, *reap_dead(lambda h: h.virtual)]:
        _say(f"{holder.describe()} was killed (SIGKILL): {record_killed(holder, config.report.database)}")
    return lock


def _say(text: str) -> None:
    log.warning("%s", text)
    print(f"rig: {text}", file=sys.stderr, flush=True)


def _bench_safe_state(config: RigConfig) -> None:
    """Open every instrument role of ``config`` and put the bench in its safe state (the close does it again)."""
    with open_bench(config) as bench:
        bench.safe_state()


def killed_before_record(holder: Holder) -> dict[str, Any]:
    """The run record of a run killed before it wrote one (during its set-up): what its lock says, no case."""
    from rig.report.record import RECORD_KIND, SCHEMA_VERSION

    return {
        "kind": RECORD_KIND,
        "schema_version": SCHEMA_VERSION,
        "run_id": holder.run_id,
        "status": "killed",
        "exit_status": None,
        "started": holder.started,
        "ended": time.time(),
        "title": f"run {holder.run_id} (pid {holder.pid}), killed during its set-up, before any case",
        "bench": "virtual" if holder.virtual else "real",
        "dut": None,
        "cases": [],
    }


def record_killed(holder: Holder, database: str | None = None) -> str:
    """Close the run record of a run whose ``rig run`` was killed as ``killed`` (still ``running``, or
    ``interrupted`` by its own tear-down; one killed before it wrote its record gets one,
    :func:`killed_before_record`) and import it into the results database (as ``rig run`` would have at its
    end: ``$RIG_RESULTS_DB``, else ``database``, else ``results.sqlite`` beside the run folder). Never raises;
    returns what was done, for a message."""
    from rig.report.db import ResultsDb, resolve_url
    from rig.report.outputs import write_outputs
    from rig.report.record import RECORD_NAME, dumps_record, load_record, write_atomic

    if holder.run_dir is None:
        return "it kept no run folder"
    run_dir = Path(holder.run_dir)
    path = run_dir / RECORD_NAME
    try:
        if not path.exists() and not path.is_symlink():  # killed before its record was first written
            run_dir.mkdir(parents=True, exist_ok=True)
            write_atomic(path, dumps_record(killed_before_record(holder)))
            write_outputs(run_dir)
        record = load_record(path)
        if record["status"] in ("running", "interrupted"):
            record.update(status="killed", ended=record.get("ended") or time.time())
            write_atomic(path, dumps_record(record))
            write_outputs(run_dir)
        url = resolve_url(None, run_dir.parent, database)
        with ResultsDb(url, create=True) as db:
            db.import_record(record, str(path.resolve()))
    except (RigError, OSError) as exc:
        return f"its record {path} could not be closed: {exc}"
    return f"recorded as {record['status']} ({path})"
