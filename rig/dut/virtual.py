"""The virtual DUT: the virtual EVSE (matter.js) the rig starts in the run's network namespace, with the virtual
bench (plant and instrument servers) coupled to its hardware port.

Its start is mostly Node.js loading matter.js, so that begins as early as it can: in a process preloaded in the run's
sandbox as soon as the sandbox exists (:meth:`VirtualDut.preload`, from :func:`rig.session.run_in_sandbox`), which
the session's bench stage adopts. What does not need the EVSE runs meanwhile: the virtual bench's servers start at the
same time (their link to the EVSE's hardware port waits for the port), and so does the preparation of the
attestation trust store (the test PAA, exported once per matter.js version).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from rig.bench import Bench
from rig.config import RigConfig
from rig.dut.attestation import TEST_PAA_NOTE, check_paa_store, controller_store
from rig.dut.base import DutDescription, HostNeeds
from rig.errors import ConfigError, SetupError
from rig.sandbox import SandboxInfo
from rig.station import station_dir

if TYPE_CHECKING:
    from rig.sim.virtual_evse import VirtualEvseSettings

log = logging.getLogger("rig.dut")

T = TypeVar("T")


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


class VirtualDut:
    """The virtual EVSE and the virtual bench around it (rig.yaml ``dut.kind: virtual``)."""

    def __init__(self, config: RigConfig) -> None:
        self.config = config
        self.attestation = config.dut.attestation or "allow-test-paa"
        self._evse: object | None = None
        self._paa: Future[Path] | None = None

    def describe(self) -> DutDescription:
        """The DUT as rig.yaml describes it."""
        defects = list(self.config.virtual_evse.defects)
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

    def _settings(self, sandbox: SandboxInfo) -> VirtualEvseSettings:
        """The virtual EVSE's settings in ``sandbox`` (storage, hardware port and interface of the run)."""
        from rig.sim.virtual_evse import VirtualEvseSettings

        cfg, v = self.config, self.config.virtual_evse
        if sandbox.device_iface is None:
            raise SetupError("the virtual EVSE needs the run's network namespace (start the run with `rig run`)")
        return VirtualEvseSettings(
            storage_path=sandbox.state_dir / "dut" / "storage",
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
                    stack.enter_context(virtual_bench(cfg, workdir=folder, evse_port=settings.hardware_port))
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
        """Nothing: the virtual EVSE's process is restarted on its storage."""
        return ()

    async def power_cycle(self, bench: Bench | None) -> str:
        """Restart the virtual EVSE's process on its storage (what a power cycle does to the firmware)."""
        from rig.sim.virtual_evse import VirtualEvse

        evse = self._evse
        if not isinstance(evse, VirtualEvse):
            raise SetupError("the virtual EVSE is not running: no power cycle possible")
        await asyncio.to_thread(evse.restart)
        return "virtual EVSE restarted on its storage"

    def stop(self) -> None:
        """Stop the virtual EVSE process (idempotent)."""
        from rig.sim.virtual_evse import VirtualEvse

        evse, self._evse = self._evse, None
        if isinstance(evse, VirtualEvse):
            evse.stop()
