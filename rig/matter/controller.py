"""The Matter controller: the only module that imports ``chip`` (the CHIP Python controller).

One ChipStack per process (it is a singleton that cannot be recreated after shutdown), hence one
``MatterController`` per pytest session. Every interaction is bounded by a timeout whose message names what
was awaited; Interaction Model statuses become ``MatterStatusError`` carrying the status name.

Attribute reads (:meth:`Node.read`, :meth:`Node.read_many`) are real Interaction Model reads, each one a
ReadRequest answered by a ReportData, but they take the short way through the CHIP wheel. Its ``ReadAttribute``
looks the node's session up twice (PASE, then CASE), frees that lookup again and blocks the event loop while the
request is handed over, each time a round trip to the stack's thread, and decodes every value with ``dacite``.
Here the CASE session of the last interaction that succeeded is kept (dropped on any failure or
:meth:`Node.expire_sessions`, and looked up afresh when the stack has released it). The request goes to the
stack's thread without waiting, and the only wake-up of the event loop is the report's end. Values are decoded on
the loop's thread, and decoded scalars are remembered by their TLV bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import ctypes
import functools
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from rig.errors import (
    CommissioningError,
    DutError,
    DutLost,
    DutUnreachable,
    MatterStatusError,
    SetupError,
    WaitTimeout,
)
from rig.matter.events import AttributeAccumulator, EventQueue

if TYPE_CHECKING:
    from rig.matter.recovery import Recovery

log = logging.getLogger(__name__)

T = TypeVar("T")

try:  # imported lazily so `import rig` works without the chip wheel (e.g. on a docs machine)
    import chip.CertificateAuthority
    import chip.ChipStack
    import chip.clusters as Clusters  # noqa: N812  (the SDK's own spelling)
    import chip.discovery
    import chip.interaction_model as im
    import chip.logging
    import chip.native
    from chip.ChipDeviceCtrl import ChipDeviceController
    from chip.exceptions import ChipStackError
except OSError as exc:  # pragma: no cover - depends on the machine
    raise SetupError(
        f"the CHIP controller library cannot load ({exc}); on Debian install libnl-3-200 and libnl-route-3-200 "
        "(`make setup` does)"
    ) from exc

from rig.matter.reads import AttributeKey, _ReadTransaction, decode_attribute  # noqa: E402 (after chip loads)

__all__ = ["Clusters", "MatterController", "Node", "decode_attribute", "status_name"]


def commissioning_failure(node_id: int, what: str, exc: BaseException) -> str:
    """The message of a failed commissioning, explaining the stack's generic errors where their cause is known.

    The CHIP commissioner turns a DUT's ``NOCResponse`` status TableFull into ``CHIP_ERROR_NO_MEMORY`` (its
    ``ConvertFromOperationalCertStatus``): "no memory" then most probably means the DUT's fabric table is full.
    """
    text = f"commissioning node 0x{node_id:x} ({what}) failed: {exc}"
    if "no memory" in str(exc).lower() or "0x0000000b" in str(exc).lower():
        return (
            f"{text}. The DUT most probably has a full fabric table (Operational Credentials SupportedFabrics = "
            "CommissionedFabrics; the commissioner reports the DUT's TableFull status as 'no memory'): remove a fabric "
            "the DUT no longer needs with its owner's app, then run again"
        )
    if any(status in str(exc).upper() for status in ("RESOURCE_EXHAUSTED", "CONSTRAINT_ERROR", "0X89", "0X87")):
        return (
            f"{text}. A DUT with a full fabric table refuses the new trusted root certificate (RESOURCE_EXHAUSTED "
            "from an SDK device, CONSTRAINT_ERROR from matter.js): check its fabric table (`rig station fabrics`)"
        )
    return f"{text}. Check dut.passcode / dut.setup_code and dut.paa_trust_store in rig.yaml"


def status_name(status: Any) -> str:
    """``ConstraintError`` → ``CONSTRAINT_ERROR`` (the spelling of the Matter specification)."""
    name = getattr(status, "name", str(status))
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).upper()


def _status_error(exc: im.InteractionModelError, what: str) -> MatterStatusError:
    name = status_name(exc.status)
    cluster_status = exc.clusterStatus if exc.hasClusterStatus else None
    return MatterStatusError(
        f"{what}: the DUT answered {name} (0x{int(exc.status):02x})"
        + (f", cluster status {cluster_status}" if cluster_status is not None else ""),
        name,
        int(exc.status),
        cluster_status,
    )


_UNTIMED: dict[type, type] = {}


def untimed(command: Any) -> Any:
    """A copy of ``command`` whose class does not ask for a timed invoke, to prove the DUT enforces it.

    The chip client refuses to send a must-be-timed command without a TimedRequest, so the copy's class
    says it need not be timed; the DUT must still answer NEEDS_TIMED_INTERACTION.
    """
    cls = type(command)
    sub = _UNTIMED.get(cls)
    if sub is None:
        from chip.clusters import ClusterObjects

        registry = ClusterObjects.ALL_ACCEPTED_COMMANDS.get(cls.cluster_id, {})
        original = registry.get(cls.command_id)
        sub = type(cls.__name__, (cls,), {"must_use_timed_invoke": False, "__module__": cls.__module__})
        if original is not None:  # subclassing re-registers the command id: put the real class back
            registry[cls.command_id] = original
        _UNTIMED[cls] = sub
    clone = copy.copy(command)
    clone.__class__ = sub
    return clone


@dataclass(frozen=True)
class PaseFabrics:
    """The DUT's fabric table as read over PASE before commissioning (values as the DUT sent them)."""

    supported: int | None
    commissioned: int | None
    entries: list[dict[str, Any]]


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _atomic_storage_commits() -> None:
    """Make the CHIP wheel write its storage file atomically and privately.

    ``PersistentStorage.Commit`` rewrites the JSON file in place (open for writing, truncate, write): a crash in
    between leaves a truncated file, and the wheel answers a file it cannot parse by starting empty, i.e. with a new
    fabric. Here each commit writes a temporary file (mode 0600) beside it, syncs it and renames it over the old one.
    """
    from chip.storage import PersistentStorage

    from rig.station import atomic_write

    if getattr(PersistentStorage.Commit, "_rig_atomic", False):
        return

    def commit(self: Any) -> None:
        path = getattr(self, "_path", None)
        if path is None:
            return
        atomic_write(Path(path), json.dumps(self._jsonData, ensure_ascii=True, indent=4))

    commit._rig_atomic = True  # type: ignore[attr-defined]
    PersistentStorage.Commit = commit


@dataclass
class Subscription:
    """A live subscription; ``close()`` ends it."""

    transaction: Any
    what: str
    owner: Any = None
    stream: Any = None
    """The :class:`~rig.matter.recovery.EventStream` of an event subscription (it replaces the transaction when it
    resubscribes)."""

    def close(self) -> None:
        """Shut the subscription down (idempotent)."""
        if self.stream is not None:
            self.stream.close()
        try:
            self.transaction.Shutdown()
        except Exception:  # best effort at teardown
            log.debug("shutting down %s failed", self.what, exc_info=True)


class MatterController:
    """One controller on one fabric, backed by the process-wide ChipStack.

    Args:
        storage_path: JSON file for the controller's fabric and keys (kept for reconnecting).
        paa_trust_store: folder of PAA certificates (DER) used for device attestation.
        controller_node_id: the controller's own node id on its fabric.
        vendor_id, fabric_id: identity of the controller's fabric.
        chip_log: the CHIP stack's log level (error, progress, detail); its lines go to Python logging. Lines the
            ``chip.native`` logger would drop (its level when the controller starts) are not forwarded at all:
            each forwarded line is a call into Python on the stack's thread, several per interaction.
    """

    _stack: Any = None

    def __init__(
        self,
        storage_path: Path,
        paa_trust_store: Path | None,
        *,
        controller_node_id: int = 112233,
        vendor_id: int = 0xFFF1,
        fabric_id: int = 1,
        ca_index: int | None = None,
        chip_log: str = "progress",
    ) -> None:
        if MatterController._stack is not None:
            raise SetupError("one Matter stack per process: a MatterController already exists")
        if paa_trust_store is not None and not any(paa_trust_store.glob("*.der")):
            raise SetupError(f"the PAA trust store {paa_trust_store} holds no .der certificate")
        chip.native.Init()
        chip.logging.RedirectToPythonLogging()
        levels = {
            "error": chip.logging.LOG_CATEGORY_ERROR,
            "progress": chip.logging.LOG_CATEGORY_PROGRESS,
            "detail": chip.logging.LOG_CATEGORY_DETAIL,
        }
        if chip_log not in levels:
            raise SetupError(f"chip_log must be one of {', '.join(levels)}, not {chip_log!r}")
        native = logging.getLogger("chip.native")
        category = levels[chip_log]
        if not native.isEnabledFor(logging.DEBUG):
            category = min(category, chip.logging.LOG_CATEGORY_PROGRESS)
        if not native.isEnabledFor(logging.INFO):
            category = min(category, chip.logging.LOG_CATEGORY_ERROR)
        chip.logging.SetLogFilter(category)
        storage_path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_storage_commits()
        self._stack = chip.ChipStack.ChipStack(persistentStoragePath=str(storage_path))
        MatterController._stack = self._stack
        self._ca_manager = chip.CertificateAuthority.CertificateAuthorityManager(self._stack)
        # Reopen the stored fabric: a new CA (a new root key, so a new fabric) only when none is stored.
        self._ca_manager.LoadAuthoritiesFromStorage()
        cas = {c.caIndex: c for c in self._ca_manager.activeCaList}
        if ca_index is not None and ca_index not in cas:
            raise SetupError(
                f"the controller storage {storage_path} holds no certificate authority {ca_index} (it holds "
                f"{sorted(cas) or 'none'}): restore the station's storage from its backup"
            )
        if not cas:
            ca = self._ca_manager.NewCertificateAuthority()
        else:
            ca = cas[ca_index] if ca_index is not None else cas[min(cas)]
        admin = next((a for a in ca.adminList if a.fabricId == fabric_id), None)
        if admin is None:
            admin = ca.NewFabricAdmin(vendorId=vendor_id, fabricId=fabric_id)
        self.ca_index: int = ca.caIndex
        self.fabric_id: int = fabric_id
        self.controller_node_id = controller_node_id
        self.ctrl: ChipDeviceController = admin.NewController(
            nodeId=controller_node_id, paaTrustStorePath=str(paa_trust_store) if paa_trust_store else ""
        )
        self._subscriptions: list[Subscription] = []
        self.opened_windows: set[int] = set()  # nodes this controller opened a commissioning window on
        self._sessions: dict[int, Any] = {}  # node id -> the CASE session (device proxy) the last read used

    # -- lifecycle ---------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """End subscriptions, the controller and the stack."""
        for sub in self._subscriptions:
            sub.close()
        self._subscriptions.clear()
        self._sessions.clear()  # their proxies are freed on the stack's thread: before it stops
        try:
            self.ctrl.Shutdown()
            self._ca_manager.Shutdown()
            self._stack.Shutdown()
        except Exception:
            log.warning("Matter stack shutdown raised", exc_info=True)

    def close_subscription(self, owner: Any) -> None:
        """End the subscription that feeds ``owner`` (an EventQueue or AttributeAccumulator)."""
        for sub in [s for s in self._subscriptions if s.owner is owner]:
            sub.close()
            self._subscriptions.remove(sub)

    @contextlib.asynccontextmanager
    async def _deadline(self, timeout_s: float, what: str) -> AsyncIterator[None]:
        """Bound what runs inside by ``timeout_s`` (WaitTimeout naming ``what``); a failure drops the kept sessions."""
        try:
            async with asyncio.timeout(timeout_s):
                yield
        except TimeoutError:
            self._sessions.clear()
            raise WaitTimeout(f"timed out after {timeout_s:g} s waiting for {what}") from None
        except ChipStackError:
            self._sessions.clear()
            raise

    async def _bounded(self, aw: Awaitable[T], timeout_s: float, what: str) -> T:
        async with self._deadline(timeout_s, what):
            return await aw

    def forget_sessions(self, node_id: int) -> None:
        """Stop using the session kept for ``node_id``: the next read looks it up (or establishes one) afresh."""
        self._sessions.pop(node_id, None)

    async def read_attributes(
        self, node_id: int, attributes: Sequence[tuple[int, Any]], timeout_s: float, what: str
    ) -> dict[AttributeKey, Any]:
        """Read concrete attribute paths ``(endpoint, Clusters.X.Attributes.Y)`` in one interaction.

        Returns:
            (endpoint, cluster id, attribute id) -> value (or ValueDecodeFailure) for each path the DUT reported.

        Raises:
            WaitTimeout: no complete report within ``timeout_s`` (the message names ``what``).
            ChipStackError: the stack could not send the request or the interaction failed.
        """
        keys = [(ep, a.cluster_id, a.attribute_id) for ep, a in attributes]
        types = {k: a for k, (_, a) in zip(keys, attributes, strict=True)}
        loop = asyncio.get_running_loop()
        async with self._deadline(timeout_s, what):
            while True:
                device = self._sessions.get(node_id)
                kept = device is not None
                if device is None:
                    device = await self.ctrl.GetConnectedDevice(node_id, allowPASE=False)
                future: asyncio.Future[Any] = loop.create_future()
                transaction = _ReadTransaction(future, loop, self.ctrl)
                ctypes.pythonapi.Py_IncRef(ctypes.py_object(transaction))  # released by the transaction's end
                try:
                    self._stack.PostTaskOnChipThread(functools.partial(transaction.send, device, keys))
                except BaseException:
                    ctypes.pythonapi.Py_DecRef(ctypes.py_object(transaction))
                    raise
                try:
                    await future
                except ChipStackError:
                    if kept and transaction.refused is not None:  # the kept session is gone: look it up again
                        self._sessions.pop(node_id, None)
                        continue
                    raise
                self._sessions[node_id] = device
                return {k: decode_attribute(types[k], *v) for k, v in transaction.values.items() if k in types}

    async def commission(
        self,
        node_id: int,
        *,
        passcode: int,
        discriminator: int,
        setup_code: str | None = None,
        timeout_s: float = 30.0,
        precheck: Callable[[PaseFabrics], None] | None = None,
    ) -> float:
        """Commission a device on the network; return the time it took in seconds.

        The steps: find the commissionable device by its discriminator (checked here: some responders answer any
        subtype query, and commissioning whatever answers would be wrong on a lab network with several EVSEs), open
        a PASE session with the setup code, read the DUT's fabric table over it and hand it to ``precheck`` (which
        raises to refuse, e.g. when the table is full), then commission over that PASE session.

        Raises:
            CommissioningError: the device was found but commissioning failed (e.g. wrong setup code).
            DutUnreachable: no commissionable device answered within ``timeout_s``.
        """
        from rig.matter.onboarding import qr_payload

        t0 = time.monotonic()
        is_short = False
        source = ""
        code = setup_code
        if setup_code:
            passcode, discriminator, is_short = self._parse_setup_code(setup_code)
            source = " (from dut.setup_code)"  # the code itself is a secret: never in a message
        else:
            code = qr_payload(passcode, discriminator)  # long discriminator, on-network only: no BLE search
        assert code is not None
        what = f"{'short ' if is_short else ''}discriminator {discriminator}{source}"
        device = await self._discover(discriminator, is_short, timeout_s, what)

        def remaining() -> float:
            return max(timeout_s - (time.monotonic() - t0), 5.0)

        step = "PASE session (setup code)"
        try:
            await self._bounded(
                self.ctrl.EstablishPASESession(code, node_id), remaining(), f"a PASE session with node 0x{node_id:x}"
            )
            step = "fabric table read over PASE"
            table = await self._pase_fabrics_retried(node_id, remaining)
            if precheck is not None and table is not None:
                precheck(table)
            step = "commissioning over PASE"
            await self._bounded(self.ctrl.Commission(node_id), remaining(), f"commissioning of node 0x{node_id:x}")
        except WaitTimeout as exc:
            raise CommissioningError(
                f"commissioning node 0x{node_id:x} ({what}, found at {device.addresses}): {step} did not finish "
                f"within {timeout_s:g} s: {exc}"
            ) from None
        except ChipStackError as exc:
            raise CommissioningError(commissioning_failure(node_id, f"{what}; {step}", exc)) from None
        return time.monotonic() - t0

    async def _pase_fabrics_retried(self, node_id: int, remaining: Callable[[], float]) -> PaseFabrics | None:
        """The fabric table over PASE, tried three times (a read right after the PASE session is established has been
        seen to fail once in the stack's crypto); None when it cannot be read: the pre-check is then skipped (logged)
        and commissioning itself reports a full table."""
        last: BaseException | None = None
        for attempt in range(3):
            try:
                return await self._pase_fabrics(node_id, min(remaining(), 10.0))
            except (ChipStackError, WaitTimeout) as exc:
                last = exc
                log.info("fabric table of node 0x%x over PASE, attempt %d: %s", node_id, attempt + 1, exc)
                await asyncio.sleep(0.2 * (attempt + 1))  # back-off between attempts
        log.warning(
            "the fabric table of node 0x%x could not be read over PASE (%s): commissioning without the pre-check",
            node_id,
            last,
        )
        return None

    async def _pase_fabrics(self, node_id: int, timeout_s: float) -> PaseFabrics:
        """SupportedFabrics, CommissionedFabrics and every Fabrics entry, read over the PASE session."""
        oc = Clusters.OperationalCredentials
        attrs = [oc.Attributes.SupportedFabrics, oc.Attributes.CommissionedFabrics, oc.Attributes.Fabrics]
        result = await self._bounded(
            self.ctrl.ReadAttribute(node_id, [(0, a) for a in attrs], fabricFiltered=False),
            timeout_s,
            f"the fabric table of node 0x{node_id:x} over PASE",
        )
        values = result.get(0, {}).get(oc, {})
        fabrics = values.get(oc.Attributes.Fabrics)
        return PaseFabrics(
            supported=_int_or_none(values.get(oc.Attributes.SupportedFabrics)),
            commissioned=_int_or_none(values.get(oc.Attributes.CommissionedFabrics)),
            entries=[
                {
                    "index": getattr(f, "fabricIndex", None),
                    "vendor_id": getattr(f, "vendorID", None),
                    "fabric_id": getattr(f, "fabricID", None),
                    "label": getattr(f, "label", None),
                    "root_public_key": bytes(getattr(f, "rootPublicKey", b"") or b""),
                }
                for f in (fabrics if isinstance(fabrics, list) else [])
            ],
        )

    @property
    def root_public_key(self) -> bytes:
        """The public key of this controller's fabric root (65 bytes, uncompressed P-256 point)."""
        return bytes(self.ctrl.GetRootPublicKeyBytesInternal())

    @property
    def compressed_fabric_id(self) -> int:
        """The compressed fabric id (Matter core 4.3.2.2) of this controller's fabric."""
        return int(self.ctrl.GetCompressedFabricId())

    async def remove_fabric(self, node_id: int, fabric_index: int, timeout_s: float) -> str:
        """Send ``RemoveFabric(fabric_index)`` (Operational Credentials, not timed); return the NOCResponse status name.

        Raises:
            MatterStatusError: the DUT refused the command at the Interaction Model level.
            WaitTimeout: no answer within ``timeout_s``.
        """
        oc = Clusters.OperationalCredentials
        what = f"RemoveFabric({fabric_index}) on node 0x{node_id:x}"
        try:
            response = await self._bounded(
                self.ctrl.SendCommand(node_id, 0, oc.Commands.RemoveFabric(fabricIndex=fabric_index)), timeout_s, what
            )
        except im.InteractionModelError as exc:
            raise _status_error(exc, what) from None
        status = getattr(response, "statusCode", None)
        self.forget_sessions(node_id)
        with contextlib.suppress(ChipStackError):
            self.ctrl.ExpireSessions(node_id)
        return str(getattr(status, "name", status))

    async def open_window(
        self, node_id: int, *, window_s: int, discriminator: int, timeout_s: float
    ) -> tuple[str, str]:
        """Open an enhanced commissioning window (random passcode) on ``node_id``; return (manual code, QR payload).

        Raises:
            DutError: the DUT refused (e.g. a window is already open: BUSY).
        """
        try:
            params = await self._bounded(
                self.ctrl.OpenCommissioningWindow(
                    node_id, window_s, 1000, discriminator, ChipDeviceController.CommissioningWindowPasscode(1)
                ),
                timeout_s,
                f"OpenCommissioningWindow on node 0x{node_id:x}",
            )
        except (ChipStackError, im.InteractionModelError) as exc:
            raise DutError(f"node 0x{node_id:x} did not open a commissioning window: {exc}") from None
        self.opened_windows.add(node_id)
        return str(params.setupManualCode), str(params.setupQRCode)

    async def revoke_window(self, node_id: int, timeout_s: float) -> None:
        """Send ``RevokeCommissioning`` (Administrator Commissioning, timed); WINDOW_NOT_OPEN counts as done."""
        ac = Clusters.AdministratorCommissioning
        what = f"RevokeCommissioning on node 0x{node_id:x}"
        try:
            await self._bounded(
                self.ctrl.SendCommand(node_id, 0, ac.Commands.RevokeCommissioning(), timedRequestTimeoutMs=3000),
                timeout_s,
                what,
            )
        except im.InteractionModelError as exc:
            if exc.clusterStatus != int(ac.Enums.StatusCode.kWindowNotOpen):
                raise _status_error(exc, what) from None
        self.opened_windows.discard(node_id)

    async def _discover(self, discriminator: int, is_short: bool, timeout_s: float, what: str) -> Any:
        """The first commissionable node whose discriminator matches, or DutUnreachable after ``timeout_s``."""
        filter_type = (
            chip.discovery.FilterType.SHORT_DISCRIMINATOR if is_short else chip.discovery.FilterType.LONG_DISCRIMINATOR
        )
        deadline = time.monotonic() + timeout_s
        seen: set[str] = set()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                others = f"; other commissionable nodes seen: {', '.join(sorted(seen))}" if seen else ""
                raise DutUnreachable(
                    f"no commissionable DUT with {what} answered within {timeout_s:g} s (is it powered, on this "
                    f"network and in commissioning mode?){others}"
                )
            try:
                found = await self.ctrl.DiscoverCommissionableNodes(
                    filterType=filter_type, filter=discriminator, stopOnFirst=True, timeoutSecond=min(remaining, 3.0)
                )
            except ChipStackError as exc:
                raise DutUnreachable(f"commissionable-node discovery failed: {exc}") from None
            for node in found or []:
                long = node.longDiscriminator
                if long is None:
                    continue
                if (long >> 8 if is_short else long) == discriminator:
                    return node
                seen.add(f"{node.instanceName} (discriminator {long})")
            await asyncio.sleep(0.2)

    @staticmethod
    def _parse_setup_code(code: str) -> tuple[int, int, bool]:
        """(passcode, discriminator, is_short) of a manual pairing code or an ``MT:`` QR payload."""
        from chip.setup_payload import SetupPayload

        try:
            payload = SetupPayload()
            if code.upper().startswith("MT:"):
                parsed = payload.ParseQrCode(code)
            else:
                parsed = payload.ParseManualPairingCode(code)
            passcode = parsed.setup_passcode
        except (ChipStackError, KeyError) as exc:
            raise CommissioningError(
                f"dut.setup_code is not a valid Matter setup code (11 or 21 digits, or an MT: payload): {exc}"
            ) from None
        if parsed.long_discriminator is not None:
            return passcode, parsed.long_discriminator, False
        if parsed.short_discriminator is None:
            raise CommissioningError("dut.setup_code carries no discriminator")
        return passcode, parsed.short_discriminator, True

    async def connect(self, node_id: int, timeout_s: float = 30.0) -> float:
        """Open a CASE session to a node commissioned earlier (operational discovery, then CASE); return the time it
        took. A failed attempt (the DUT still booting, an mDNS record not yet there) is retried with a growing pause
        (0.2 s doubling up to 2 s) until ``timeout_s`` has passed.

        Raises:
            DutUnreachable: no CASE session within ``timeout_s``; the message gives the attempts and the last error.
        """
        t0 = time.monotonic()
        deadline = t0 + timeout_s
        attempts = 0
        pause = 0.2
        last: BaseException | None = None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            attempts += 1
            try:
                await self._bounded(
                    self.ctrl.GetConnectedDevice(node_id, allowPASE=False, timeoutMs=int(remaining * 1000)),
                    remaining,
                    f"a CASE session with node 0x{node_id:x}",
                )
                return time.monotonic() - t0
            except (WaitTimeout, ChipStackError, TimeoutError) as exc:
                last = exc
                log.info("CASE with node 0x%x, attempt %d: %s", node_id, attempts, exc)
            await asyncio.sleep(min(pause, max(deadline - time.monotonic(), 0)))  # back-off between attempts
            pause = min(pause * 2, 2.0)
        raise DutUnreachable(
            f"node 0x{node_id:x} gave no CASE session within {timeout_s:g} s ({attempts} attempt(s); last: {last}): "
            "is it powered and on this network, and does it still hold this station's fabric?"
        )

    def node(self, node_id: int, endpoint: int, *, timeout_s: float = 10.0) -> Node:
        """A handle on one endpoint of one node."""
        return Node(self, node_id, endpoint, timeout_s)


LOSS_PROBE_S = 8.0
"""Bound on the probe that tells a DUT that is gone from one that did not do what was awaited, s."""


class Node:
    """Read, write, invoke and subscribe on one endpoint of one node, with timeouts.

    Args:
        controller: the session's controller.
        node_id: target node.
        endpoint: default endpoint for attribute and command paths.
        timeout_s: bound on each interaction.
    """

    def __init__(self, controller: MatterController, node_id: int, endpoint: int, timeout_s: float) -> None:
        self.controller = controller
        self.ctrl = controller.ctrl
        self.node_id = node_id
        self.endpoint = endpoint
        self.timeout_s = timeout_s

    def _ep(self, endpoint: int | None) -> int:
        return self.endpoint if endpoint is None else endpoint

    def expire_sessions(self) -> None:
        """Drop the CASE sessions with this node, so the next interaction establishes a fresh one.

        After a power cycle the DUT has forgotten its sessions; without this the controller keeps using the stale
        one until its exchanges time out.
        """
        self.controller.forget_sessions(self.node_id)
        self.ctrl.ExpireSessions(self.node_id)

    async def lost_after(self, failure: BaseException, *, timeout_s: float = LOSS_PROBE_S) -> DutLost | None:
        """Whether the DUT is gone, asked after ``failure`` (what a case raised): for an interaction that timed out or
        that the stack could not complete, read the node's Basic Information (endpoint 0) on the session in use, then
        on a fresh CASE session; the DUT is lost when neither answers within ``timeout_s`` in all. None when the
        failure is of another kind or the DUT answers (the failure then stands as it is: a DUT that is there but
        did not do what was awaited fails the case on its own account).
        """
        if not isinstance(failure, (WaitTimeout, ChipStackError, TimeoutError)):
            return None
        deadline = time.monotonic() + timeout_s
        probe = [(0, Clusters.BasicInformation.Attributes.DataModelRevision)]
        what = f"a probe read of node 0x{self.node_id:x}"
        try:
            await self.controller.read_attributes(self.node_id, probe, timeout_s / 2, what)
            return None
        except (WaitTimeout, ChipStackError, TimeoutError) as exc:
            first: BaseException = exc
        except im.InteractionModelError:  # an answer, if a refusal: the DUT is there
            return None
        self.expire_sessions()
        try:
            await self.controller.connect(self.node_id, timeout_s=max(deadline - time.monotonic(), 0.5))
            await self.controller.read_attributes(self.node_id, probe, max(deadline - time.monotonic(), 0.5), what)
            return None
        except (DutUnreachable, WaitTimeout, ChipStackError, TimeoutError) as exc:
            return DutLost(
                f"the DUT (node 0x{self.node_id:x}) stopped answering: {failure}; then neither a read on the session "
                f"in use ({first}) nor a fresh CASE session ({exc}) got an answer within {timeout_s:g} s"
            )
        except im.InteractionModelError:
            return None

    async def read(self, attribute: Any, *, endpoint: int | None = None) -> Any:
        """Read one attribute (a ``Clusters.X.Attributes.Y`` class); return its value.

        Raises:
            MatterStatusError: the DUT answered with an error status for the path.
        """
        ep = self._ep(endpoint)
        what = f"read of {attribute.__qualname__} on endpoint {ep}"
        try:
            res = await self.controller.read_attributes(self.node_id, [(ep, attribute)], self.timeout_s, what)
        except im.InteractionModelError as exc:
            raise _status_error(exc, what) from None
        try:
            value = res[(ep, attribute.cluster_id, attribute.attribute_id)]
        except KeyError:
            raise AssertionError(f"{what}: the DUT returned no value") from None
        if isinstance(value, Clusters.Attribute.ValueDecodeFailure):
            if isinstance(value.Reason, im.InteractionModelError):
                raise _status_error(value.Reason, what)
            raise AssertionError(f"{what}: could not decode the value ({value.Reason})")
        return value

    async def read_many(self, attributes: Sequence[Any], *, endpoint: int | None = None) -> dict[Any, Any]:
        """Read several attributes of one endpoint in one interaction."""
        ep = self._ep(endpoint)
        what = f"read of {len(attributes)} attributes on endpoint {ep}"
        try:
            res = await self.controller.read_attributes(
                self.node_id, [(ep, a) for a in attributes], self.timeout_s, what
            )
        except im.InteractionModelError as exc:
            raise _status_error(exc, what) from None
        return {a: res.get((ep, a.cluster_id, a.attribute_id)) for a in attributes}

    async def write(self, attribute_value: Any, *, endpoint: int | None = None, timed_ms: int | None = None) -> None:
        """Write one attribute (``Clusters.X.Attributes.Y(value)``); raise MatterStatusError unless SUCCESS."""
        ep = self._ep(endpoint)
        what = f"write of {type(attribute_value).__qualname__} = {attribute_value.value!r} on endpoint {ep}"
        try:
            res = await self.controller._bounded(
                self.ctrl.WriteAttribute(self.node_id, [(ep, attribute_value)], timedRequestTimeoutMs=timed_ms),
                self.timeout_s,
                what,
            )
        except im.InteractionModelError as exc:
            raise _status_error(exc, what) from None
        status = res[0].Status
        if status != im.Status.Success:
            raise _status_error(im.InteractionModelError(status), what)

    async def invoke(
        self, command: Any, *, endpoint: int | None = None, timed_ms: int | None = None, timed: bool | None = None
    ) -> Any:
        """Invoke a command; return its response (or None).

        Timed commands are sent with a TimedRequest (``timed_ms``, default 3000 ms) unless ``timed`` is False,
        in which case the command is sent without one (to prove the DUT enforces timed invoke).
        """
        ep = self._ep(endpoint)
        name = f"{type(command).__qualname__}"
        must_time = bool(command.must_use_timed_invoke)
        if timed is False:
            payload, timeout_ms = (untimed(command) if must_time else command), None
        elif timed or must_time:
            payload, timeout_ms = command, timed_ms or 3000
        else:
            payload, timeout_ms = command, None
        what = f"command {name} on endpoint {ep}" + (" (timed)" if timeout_ms else " (not timed)")
        try:
            return await self.controller._bounded(
                self.ctrl.SendCommand(self.node_id, ep, payload, timedRequestTimeoutMs=timeout_ms),
                self.timeout_s,
                what,
            )
        except im.InteractionModelError as exc:
            raise _status_error(exc, what) from None

    async def subscribe_events(
        self, cluster: Any, *, endpoint: int | None = None, min_s: int = 0, max_s: int = 30
    ) -> EventQueue:
        """Subscribe to every event of ``cluster`` on the endpoint (urgent); return the queue they land in.

        Events the device had buffered before arrive with the priming report: none of them is delivered (a
        subscription starts from now, as the test plan's does). After a reboot :meth:`recover_events` brings the
        subscription back with every event of the gap; a subscription the stack reports lost recovers by itself.
        """
        from rig.matter.recovery import EventStream

        stream = EventStream(self, cluster, self._ep(endpoint), min_s=min_s, max_s=max_s)
        await stream.open()
        stream.record = Subscription(stream.transaction, stream.what, stream.queue, stream)
        self.controller._subscriptions.append(stream.record)
        return stream.queue

    async def recover_events(
        self, queue: EventQueue, *, since: float, timeout_s: float, reboot: bool | None = True
    ) -> Recovery:
        """After a reboot of the DUT: CASE again, resubscribe the subscription feeding ``queue`` and deliver the events
        of the gap (:meth:`rig.matter.recovery.EventStream.recover`, which names what it raises)."""
        stream = next((s.stream for s in self.controller._subscriptions if s.owner is queue and s.stream), None)
        if stream is None:
            raise SetupError(f"no live event subscription feeds {queue!r}: subscribe with subscribe_events")
        recovery: Recovery = await stream.recover(since=since, timeout_s=timeout_s, reboot=reboot)
        return recovery

    async def subscribe_attributes(
        self, cluster: Any, *, endpoint: int | None = None, min_s: int = 0, max_s: int = 10
    ) -> AttributeAccumulator:
        """Subscribe to every attribute of ``cluster``; reports accumulate (priming report excluded)."""
        ep = self._ep(endpoint)
        loop = asyncio.get_running_loop()
        what = f"{cluster.__name__} attribute reports from node 0x{self.node_id:x} endpoint {ep}"
        acc = AttributeAccumulator(loop, what)
        sub = await self.controller._bounded(
            self.ctrl.ReadAttribute(
                self.node_id,
                [(ep, cluster)],
                reportInterval=(min_s, max_s),
                keepSubscriptions=True,
                autoResubscribe=False,
                fabricFiltered=False,
            ),
            self.timeout_s,
            f"the subscription to {what}",
        )

        def on_change(path: Any, transaction: Any) -> None:
            value = transaction.GetAttribute(path)
            acc.push_threadsafe(path.AttributeType.__name__, value)

        sub.SetAttributeUpdateCallback(on_change)
        self.controller._subscriptions.append(Subscription(sub, what, acc))
        return acc
