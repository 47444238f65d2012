"""The DUT seam: what differs between the virtual EVSE the rig starts and an EVSE already on the lab network.

Everything that depends on the kind of DUT (and so on the kind of bench: the virtual EVSE comes with the virtual
bench) is a method of :class:`Dut`. No code outside :mod:`rig.dut` and :mod:`rig.sim` asks which kind it has.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypedDict

from rig.bench import Bench
from rig.sandbox import SandboxInfo


class DutDescription(TypedDict):
    """What the run record and the report headers say about the DUT before it is reached."""

    bench: str
    """``virtual`` (the rig's virtual bench and EVSE) or ``real``."""
    kind: str
    """``virtual`` or ``network`` (rig.yaml ``dut.kind``)."""
    node_id: int
    endpoint: int
    defects: list[str]
    """Firmware defects the virtual EVSE was started with (empty for a real DUT)."""
    label: str
    """One line for a run header, e.g. ``VIRTUAL bench (virtual EVSE)``."""
    attestation: str
    """What the controller trusts for device attestation (a test-PAA run says it is not a certification result)."""


@dataclass(frozen=True)
class HostNeeds:
    """What the machine must offer to host a run with this DUT (checked before anything starts)."""

    netns: bool
    """A private network namespace (the virtual EVSE and the controller meet on a veth pair there)."""
    node: bool
    """Node.js and the virtual EVSE's npm packages."""
    tools: tuple[str, ...] = field(default=())


class Dut(Protocol):
    """One DUT kind. Constructing one starts nothing; :meth:`hardware` starts what the kind brings."""

    def describe(self) -> DutDescription:
        """The DUT as rig.yaml describes it (no I/O)."""
        ...

    def host_needs(self) -> HostNeeds:
        """What the machine must offer (namespaces, Node.js)."""
        ...

    def check_installed(self) -> None:
        """Raise :class:`~rig.errors.SetupError` when something this kind needs is not installed."""
        ...

    def check_session(self) -> None:
        """Raise :class:`~rig.errors.ConfigError` when rig.yaml's DUT settings cannot open a session (e.g. strict
        attestation without a trust store); called before anything starts."""
        ...

    def preload(self, sandbox: SandboxInfo) -> contextlib.AbstractContextManager[None]:
        """What may start in the run's sandbox before the session's process does (the virtual EVSE loading its
        modules); the session adopts it, or starts cold without it. Nothing for a DUT that is already there."""
        ...

    def hardware(self, sandbox: SandboxInfo, run_dir: Path | None) -> contextlib.AbstractContextManager[None]:
        """Bring up what stands on the bench besides the instruments' wiring, for the whole session.

        Virtual: the virtual EVSE process (its hardware port) and the virtual bench's instrument servers and
        plant, coupled to it. Network: nothing (the EVSE and the instruments are real).
        """
        ...

    def instrument_servers(self, run_dir: Path | None) -> contextlib.AbstractContextManager[None]:
        """Only the instruments' side (``rig bench check``): the virtual bench's servers, or nothing."""
        ...

    def instrument_servers_need_sandbox(self) -> bool:
        """Whether :meth:`instrument_servers` must run inside a sandbox (e.g. a virtual CAN bus on multicast)."""
        ...

    def station_folder(self, state_dir: Path | None) -> Path | None:
        """The station's fabric folder for this DUT kind; ``state_dir`` is the run's state folder (None before the
        sandbox exists: then None when the folder is the run's own)."""
        ...

    def trust_store(self, sandbox: SandboxInfo) -> Path | None:
        """The folder of PAA certificates the controller trusts for device attestation."""
        ...

    def power_cycle_needs(self) -> tuple[type, ...]:
        """The bench capabilities :meth:`power_cycle` needs (e.g. an AC source)."""
        ...

    async def power_cycle(self, bench: Bench | None) -> str:
        """Remove and restore the DUT's power; return a note for the step. The DUT must then be reached anew."""
        ...

    def rating_unavailable(self) -> str | None:
        """Why the rig cannot run this DUT at another current rating (None: :meth:`rating` can)."""
        ...

    def rating(self, charge_ma: int) -> contextlib.AbstractAsyncContextManager[str]:
        """For the block, the DUT as a build rated ``charge_ma`` on a circuit of that capacity (its hardware charge
        limit and CircuitCapacity); its own rating given back on exit. Yields a note for the step."""
        ...

    def installed_build_lost(self) -> str | None:
        """Why a build installed over Matter OTA in one session would not be the one the next session finds (None:
        it would; ``rig regress`` refuses to start otherwise)."""
        ...

    def factory_reset_unavailable(self) -> str | None:
        """Why the rig cannot factory-reset this DUT (None: :meth:`factory_reset` can)."""
        ...

    async def factory_reset(self, bench: Bench | None) -> str:
        """Return the DUT's Energy EVSE to factory-new (its power is cycled meanwhile); return a note for the step.
        The DUT must then be reached anew."""
        ...

    def backup_supply(self) -> bool:
        """Whether the EVSE rides through a loss of mains on a backup supply (stays on the network and reports the
        PowerLoss fault) rather than losing power and booting again when mains returns."""
        ...

    def stop(self) -> None:
        """End what :meth:`hardware` started of the DUT itself (idempotent); the bench is already safe."""
        ...


@contextlib.contextmanager
def nothing() -> Iterator[None]:
    """A context that brings up nothing (a real bench is already there)."""
    yield
