"""The virtual DUT: the virtual EVSE (matter.js) the rig starts in the run's network namespace, with the virtual
bench (plant and instrument servers) coupled to its hardware port.

Its start is mostly Node.js loading matter.js, so that begins as early as it can: in a process preloaded in the run's
sandbox as soon as the sandbox exists (:meth:`VirtualDut.preload`, from :func:`rig.session.run_in_sandbox`), which
the session's bench stage adopts. What does not need the EVSE runs meanwhile: the virtual bench's servers start at the
same time (their link to the EVSE's hardware port waits for the port), and so does the preparation of the
attestation trust store (the test PAA, exported once per matter.js version).

The virtual bench tells the DUT when the EVSE's supply is lost or back (:mod:`rig.sim.supply`: the AC source's output
off or the mains below what the supply needs, for longer than its hold-up time). Without a backup supply
(``virtual_evse.backup_supply: false``, a charger's usual build) the EVSE then loses power as a real one does: its
process is killed where it is (no goodbye to the controller) and boots again from its storage when the supply is
back. With a backup supply it stays on the network and its firmware reports the PowerLoss fault.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from rig.bench import Bench
from rig.config import RigConfig
from rig.dut.attestation import TEST_PAA_NOTE, check_paa_store, controller_store
from rig.dut.base import DutDescription, HostNeeds
from rig.errors import ConfigError, SetupError
from rig.sandbox import SandboxInfo
from rig.station import station_dir

if TYPE_CHECKING:
    from rig.sim.virtual_evse import VirtualEvse, VirtualEvseSettings

log = logging.getLogger("rig.dut")

T = TypeVar("T")
INSTALLED_BUILD = "vevse-build.json"
"""The build the virtual EVSE installed over OTA, in its storage (virtual_evse/src/build.js ``BUILD_FILE``)."""


def _in_background(fn: Callable[[], T], name: str) -> Future[T]:
    """Run ``fn`` in a thread of its own; its result (or exception) in the future."""
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(fn())
        except BaseException as exc:  # handed to whoever waits on the future
            future.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


@dataclass(frozen=True)
class Boot:
    """One boot of the virtual EVSE after its power returned (``time.monotonic`` seconds)."""

    powered_at: float
    """When the power returned (the supply back on the plant clock, or the power cycle's end)."""
    ready_at: float | None
    """When the EVSE was online (its ready line); None if it did not come up."""
    error: str | None = None

    @property
    def boot_s(self) -> float | None:
        """Get the boot time, from power back to online, s (None if it did not come up)."""
        return None if self.ready_at is None else self.ready_at - self.powered_at


class VirtualDut:
    """The virtual EVSE and the virtual bench around it (rig.yaml ``dut.kind: virtual``)."""

    def __init__(self, config: RigConfig) -> None:
        self.config = config
        self.attestation = config.dut.attestation or "allow-test-paa"
        self._evse: object | None = None
        self._paa: Future[Path] | None = None
        self._power = threading.Lock()  # held while the EVSE is switched off or boots
        self._powered_off = False  # by a loss of supply or a power cycle, until it boots again
        self._power_changes = 0  # a boot goes ahead only if no power change came after the one that asked for it
        self._stopping = False
        self._boots: list[threading.Thread] = []
        self.boots: list[Boot] = []
        """Every boot after a loss of power, in order."""

    def describe(self) -> DutDescription:
        """The DUT as rig.yaml describes it."""
        defects = self._build_defects()
        label = "VIRTUAL bench (virtual EVSE)"
        if defects:
            label += ", firmware defects: " + ", ".join(defects)
        return {
            "bench": "virtual",
            "kind": "virtual",
            "node_id": self.config.dut.node_id,
            "endpoint": self.config.dut.endpoint,
            "defects": defects,
            "label": label,
            "attestation": self._attestation_text(),
        }

    def _build_defects(self) -> list[str]:
        """The defects of the build the virtual EVSE boots: a build installed over OTA in its kept storage
        (``vevse-build.json``, virtual_evse/src/build.js) replaces rig.yaml's; otherwise rig.yaml's."""
        configured = list(self.config.virtual_evse.defects)
        if not self.config.virtual_evse.keep_storage:
            return configured
        path = self._kept_storage() / INSTALLED_BUILD
        try:
            build = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return configured  # none installed, or unreadable: the EVSE boots its configured build too
        defects = build.get("defects") if isinstance(build, dict) else None
        if not isinstance(defects, list) or not all(isinstance(d, str) for d in defects):
            return configured
        return list(defects)

    def _attestation_text(self) -> str:
        if self.attestation == "allow-test-paa":
            return TEST_PAA_NOTE + " (the virtual EVSE's matter.js test chain)"
        return f"strict: the PAAs of {self.config.dut.paa_trust_store}"

    def host_needs(self) -> HostNeeds:
        """A network namespace (veth pair for the EVSE and the controller) and Node.js."""
        return HostNeeds(netns=True, node=True)

    def check_installed(self) -> None:
        """Node.js and the virtual EVSE's npm packages."""
        from rig.sim.virtual_evse import check_installed

        check_installed()

    def storage_path(self, sandbox: SandboxInfo) -> Path:
        """The virtual EVSE's storage (its fabrics, its Energy EVSE settings, an installed build): in the run's state
        folder, gone with the run, or with ``virtual_evse.keep_storage`` in the station's folder, kept from run to
        run (private as the station's fabric is; one run at a time holds the station)."""
        if self.config.virtual_evse.keep_storage:
            return self._kept_storage()
        return sandbox.state_dir / "dut" / "storage"

    def _kept_storage(self) -> Path:
        return station_dir(self.config) / "virtual-evse" / "storage"

    def _settings(self, sandbox: SandboxInfo) -> VirtualEvseSettings:
        """The virtual EVSE's settings in ``sandbox`` (storage, hardware port and interface of the run)."""
        from rig.sim.virtual_evse import VirtualEvseSettings

        cfg, v = self.config, self.config.virtual_evse
        if sandbox.device_iface is None:
            raise SetupError("the virtual EVSE needs the run's network namespace (start the run with `rig run`)")
        return VirtualEvseSettings(
            storage_path=self.storage_path(sandbox),
            port=v.port,
            passcode=cfg.dut.passcode,
            discriminator=cfg.dut.discriminator,
            interface=sandbox.device_iface,
            features=list(v.features),
            optional=v.optional.model_dump(),
            enable_key=cfg.dut.pixit.test_event_trigger_key,
            defects=list(v.defects),
            hardware_port=sandbox.state_dir / "dut" / "hardware.sock",
            hardware=dict(v.hardware),
            vendor_id=v.vendor_id,
            product_id=v.product_id,
            serial_number=v.serial_number,
            software_version=v.software_version,
            software_version_string=v.software_version_string,
            firmware=v.firmware,
        )

    @contextlib.contextmanager
    def preload(self, sandbox: SandboxInfo) -> Iterator[None]:
        """From the process that made the run's sandbox, before the session's process starts: load the virtual
        EVSE's modules (seconds) in a process waiting to be told to start, which :meth:`hardware` adopts. Ended and
        reaped on exit, whether it was adopted or not."""
        from rig.sim.virtual_evse import end_preloaded, preload

        proc = preload(self._settings(sandbox), sandbox.netns)
        try:
            yield
        finally:
            end_preloaded(proc)

    @contextlib.contextmanager
    def hardware(self, sandbox: SandboxInfo, run_dir: Path | None) -> Iterator[None]:
        """Start the virtual EVSE on fresh storage (unless ``virtual_evse.keep_storage``) and, while it loads, the
        virtual bench's servers and plant coupled to its hardware port and the preparation of the trust store;
        return once the EVSE is ready and the bench attached. Both stop on exit (the session has stopped the EVSE
        first, with :meth:`stop`). The EVSE is the process :meth:`preload` left in the sandbox, if there is one (its
        modules are loaded already).

        Raises:
            DutError: the EVSE did not start (this wins over the bench's failure to attach to it).
            SetupError: no network namespace, or the virtual bench did not start.
        """
        from rig.sim.launch import virtual_bench
        from rig.sim.virtual_evse import PRELOADED, VirtualEvse

        cfg, v = self.config, self.config.virtual_evse
        settings = self._settings(sandbox)
        logs = run_dir if run_dir is not None else sandbox.state_dir
        evse = VirtualEvse(
            settings,
            logs / "virtual-evse.log",
            start_timeout_s=cfg.dut.timeouts.dut_start,
            preloaded=settings.storage_path.parent / f"{PRELOADED}.json",
        )
        self._evse = evse
        evse.on_reboot = self._rebooted
        with contextlib.ExitStack() as stack:
            stack.callback(self.stop)
            if cfg.dut.paa_trust_store is None:
                self._paa = _in_background(lambda: self._export_paa(sandbox), "virtual-evse-paa")
                stack.callback(self._paa.exception)  # an export still running is waited for, not left behind
            evse.launch(fresh=not v.keep_storage)
            ready = _in_background(evse.wait_ready, "virtual-evse-start")
            try:
                if cfg.instruments:
                    folder = logs / "virtual-bench"
                    folder.mkdir(parents=True, exist_ok=True)
                    stack.enter_context(
                        virtual_bench(cfg, workdir=folder, evse_port=settings.hardware_port, on_event=self._bench_event)
                    )
            except Exception as exc:
                failed = ready.exception()  # the EVSE's own failure explains the bench's: report that one
                if failed is not None:
                    raise failed from exc
                raise
            ready.result()
            yield

    @contextlib.contextmanager
    def instrument_servers(self, run_dir: Path | None) -> Iterator[None]:
        """The virtual bench's instrument servers alone (no EVSE attached), on rig.yaml's addresses."""
        from rig.sim.launch import virtual_bench

        if not self.config.instruments:
            yield
            return
        with virtual_bench(self.config, workdir=run_dir):
            yield

    def instrument_servers_need_sandbox(self) -> bool:
        """The virtual CAN bus is UDP multicast: it stays inside a network namespace, never on the host's network."""
        return any(
            getattr(inst.transport, "interface", None) == "udp_multicast" for inst in self.config.instruments.values()
        )

    def check_session(self) -> None:
        """The virtual EVSE's chain is the matter.js test chain: strict attestation needs a store that signs it.

        Raises:
            ConfigError: ``dut.attestation: strict`` without ``dut.paa_trust_store``.
        """
        if self.attestation == "strict" and self.config.dut.paa_trust_store is None:
            raise ConfigError(
                f"{self.config.config_path or 'rig.yaml'}: dut.attestation: strict needs dut.paa_trust_store: the "
                "virtual EVSE's attestation chain is the matter.js test chain, trusted only with allow-test-paa"
            )

    def station_folder(self, state_dir: Path | None) -> Path | None:
        """``station.state_dir`` when rig.yaml sets it, or when the virtual EVSE keeps its storage (and so its
        fabrics) from run to run; otherwise a station in the run's own state folder: the virtual EVSE starts
        factory-new in every run, so a kept fabric would only pile up records, and two virtual runs at once must not
        wait for each other's station."""
        if self.config.station.state_dir is not None or self.config.virtual_evse.keep_storage:
            return station_dir(self.config)
        return None if state_dir is None else state_dir / "station"

    def trust_store(self, sandbox: SandboxInfo) -> Path | None:
        """The matter.js test PAA that signs the virtual EVSE's attestation chain (in the run's state folder; made
        while the EVSE starts), unless rig.yaml names a trust store."""
        self.check_session()
        store = self.config.dut.paa_trust_store
        if store is not None:
            checked = check_paa_store(store)
            if self.attestation == "strict":
                return controller_store(checked, sandbox.state_dir / "paa-strict")
        if self._paa is not None:
            return self._paa.result()
        return self._export_paa(sandbox)

    def _export_paa(self, sandbox: SandboxInfo) -> Path:
        from rig.sim.virtual_evse import cached_paa

        return cached_paa(sandbox.state_dir / "paa", timeout_s=self.config.dut.timeouts.dut_start)

    def power_cycle_needs(self) -> tuple[type, ...]:
        """Nothing: the virtual EVSE's power is switched off and on directly (its backup supply too, if it has one)."""
        return ()

    async def power_cycle(self, bench: Bench | None) -> str:
        """Switch the virtual EVSE's power off (its process killed where it is) and on again; return once the power
        is back: the EVSE boots from its storage meanwhile, as a real one does after a power cycle."""
        from rig.sim.virtual_evse import VirtualEvse

        if not isinstance(self._evse, VirtualEvse):
            raise SetupError("the virtual EVSE is not running: no power cycle possible")
        await asyncio.to_thread(self._supply_lost)
        self._supply_back(time.monotonic())
        return "virtual EVSE: power off (process killed, no goodbye) and on again; it boots from its storage"

    def _running_evse(self) -> VirtualEvse:
        from rig.sim.virtual_evse import VirtualEvse

        if not isinstance(self._evse, VirtualEvse):
            raise SetupError("the virtual EVSE is not running")
        return self._evse

    def _hardware_port(self) -> Path:
        port = self._running_evse().settings.hardware_port
        if port is None:
            raise SetupError("the virtual EVSE was started without a hardware port")
        return port

    def rating_unavailable(self) -> str | None:
        """None: the virtual EVSE's rating is set through its hardware port (a test hook, see :meth:`rating`)."""
        return None

    @contextlib.asynccontextmanager
    async def rating(self, charge_ma: int) -> AsyncIterator[str]:
        """For the block, the virtual EVSE as a build rated ``charge_ma`` (its hardware charge limit) on a circuit of
        that capacity (CircuitCapacity, the installer's setting), through its hardware port's ``rating`` test hook;
        its own rating given back on exit. Yields the note for the step."""
        from rig.sim.evse_link import one_request

        port = self._hardware_port()
        reply = await one_request(
            port, {"op": "rating", "maxHardwareChargeCurrent": charge_ma, "circuitCapacity": charge_ma}
        )
        previous = {k: int(v) for k, v in dict(reply["previous"]).items()}
        try:
            yield (
                f"virtual EVSE rated {charge_ma} mA (hardware limit) on a {charge_ma} mA circuit (CircuitCapacity) "
                f"through its hardware port; its own rating: {previous['maxHardwareChargeCurrent']} mA, "
                f"CircuitCapacity {previous['circuitCapacity']} mA, given back at the end"
            )
        finally:
            await one_request(self._hardware_port(), {"op": "rating", **previous})

    def installed_build_lost(self) -> str | None:
        """Without ``virtual_evse.keep_storage`` every session starts the virtual EVSE on fresh storage: the build
        installed in the last one is gone."""
        if self.config.virtual_evse.keep_storage:
            return None
        return (
            "virtual_evse.keep_storage is false: every session starts the virtual EVSE factory-new, so a build "
            "installed over OTA is gone before the next run; set it (--set virtual_evse.keep_storage=true)"
        )

    def factory_reset_unavailable(self) -> str | None:
        """None: the virtual EVSE's Energy EVSE data can be erased (see :meth:`factory_reset`)."""
        return None

    async def factory_reset(self, bench: Bench | None) -> str:
        """The virtual EVSE's Energy EVSE factory-new: its power off (process killed), its firmware store erased,
        power on; it boots with every Energy EVSE value at its factory default. Its Matter fabrics are kept (matter.js
        storage), so the run's commissioning stays valid: the rig's own commissioning from factory-new is the
        session's start on fresh storage. Return once the power is back (the EVSE is then reached anew)."""
        evse = self._running_evse()
        erased: list[bool] = []
        await asyncio.to_thread(self._supply_lost, lambda: erased.append(evse.erase_firmware_store()))
        self._supply_back(time.monotonic())
        what = "erased" if erased and erased[0] else "absent (nothing stored yet)"
        return (
            f"virtual EVSE: power off, its firmware store {what} (the Energy EVSE's settings and session data; its "
            "Matter fabrics kept), power on: it boots with the Energy EVSE factory-new"
        )

    def backup_supply(self) -> bool:
        """Whether the EVSE rides through a loss of mains on a backup supply (``virtual_evse.backup_supply``)."""
        return self.config.virtual_evse.backup_supply

    def _bench_event(self, event: dict[str, Any]) -> None:
        """A line of the virtual bench: the EVSE's supply lost or back (the bench's thread)."""
        if event.get("event") != "evse_supply":
            return
        if self.backup_supply():
            log.info("the EVSE's mains supply is %s: its backup supply keeps it on", _lost_or_back(event))
            return
        log.info("the EVSE's supply is %s", _lost_or_back(event))
        if event.get("supplied"):
            self._supply_back(float(event.get("t_s") or time.monotonic()))
        else:
            self._supply_lost()

    def _rebooted(self) -> None:
        """The virtual EVSE reboots into a build it installed over OTA (its process says so, then exits): once it has
        exited (its orderly shutdown, bounded), it boots again on the same storage, as after a power cycle."""
        from rig.sim.virtual_evse import VirtualEvse

        evse = self._evse
        if not isinstance(evse, VirtualEvse) or evse.proc is None:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            evse.proc.wait(timeout=5.0)
        self._supply_lost()
        self._supply_back(time.monotonic())

    def _supply_lost(self, while_off: Callable[[], object] | None = None) -> None:
        """Power gone: the EVSE's process is killed where it is (a boot in progress ends first); ``while_off`` runs
        once it is off, before any boot can begin."""
        from rig.sim.virtual_evse import VirtualEvse

        with self._power:
            self._power_changes += 1
            evse = self._evse
            if self._stopping or not isinstance(evse, VirtualEvse):
                return
            evse.power_off()
            self._powered_off = True
            if while_off is not None:
                while_off()

    def _supply_back(self, powered_at: float) -> None:
        """Power back: the EVSE boots (in a thread of its own) if a loss switched it off."""
        with self._power:
            if self._stopping or not self._powered_off:
                return
            self._powered_off = False
            self._power_changes += 1
            boot = threading.Thread(
                target=self._boot, args=(self._power_changes, powered_at), name="virtual-evse-boot", daemon=True
            )
            self._boots = [t for t in self._boots if t.is_alive()] + [boot]
            boot.start()

    def _boot(self, change: int, powered_at: float) -> None:
        from rig.sim.virtual_evse import VirtualEvse

        with self._power:
            evse = self._evse
            if self._stopping or change != self._power_changes or not isinstance(evse, VirtualEvse):
                return  # power lost again before the boot began, or the run ends
            try:
                evse.power_on()
                evse.wait_ready()
            except Exception as exc:  # recorded: the controller's reconnection then fails naming the DUT
                log.error("the virtual EVSE did not boot after its power returned: %s", exc)
                self.boots.append(Boot(powered_at, None, str(exc)))
                return
            self.boots.append(Boot(powered_at, evse.ready_at))

    def stop(self) -> None:
        """Stop the virtual EVSE process (idempotent); a boot in progress ends first."""
        from rig.sim.virtual_evse import VirtualEvse

        with self._power:
            self._stopping = True
        for boot in self._boots:
            boot.join(timeout=self.config.dut.timeouts.dut_start)
        evse, self._evse = self._evse, None
        if isinstance(evse, VirtualEvse):
            evse.stop()


def _lost_or_back(event: dict[str, Any]) -> str:
    return "back" if event.get("supplied") else "lost"
