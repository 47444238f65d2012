"""A network DUT: an EVSE already on the lab network, powered from the bench's AC source."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from rig.bench import Bench
from rig.config import RigConfig
from rig.dut.base import DutDescription, HostNeeds, nothing
from rig.errors import ConfigError, SetupError
from rig.instruments.capabilities import AcSource
from rig.sandbox import SandboxInfo

POWER_OFF_S = 2.0
"""How long the AC source stays off in a power cycle (long enough for an EVSE's supply to drain)."""


class NetworkDut:
    """An EVSE on the lab network (rig.yaml ``dut.kind: network``): nothing to start, real instruments."""

    def __init__(self, config: RigConfig) -> None:
        if config.virtual_evse.defects:
            raise ConfigError(
                f"{config.config_path or 'rig.yaml'}: virtual_evse.defects (--dut-defect) apply to the virtual "
                "EVSE only, but dut.kind is network"
            )
        self.config = config

    def describe(self) -> DutDescription:
        """The DUT as rig.yaml describes it."""
        return {
            "bench": "real",
            "kind": "network",
            "node_id": self.config.dut.node_id,
            "endpoint": self.config.dut.endpoint,
            "defects": [],
            "label": "REAL bench (EVSE on the network)",
        }

    def host_needs(self) -> HostNeeds:
        """No network namespace (the EVSE is on the host's network), no Node.js."""
        return HostNeeds(netns=False, node=False)

    def check_installed(self) -> None:
        """Nothing beyond the Python environment."""

    def preload(self, sandbox: SandboxInfo) -> contextlib.AbstractContextManager[None]:
        """Nothing: the EVSE is already on the network."""
        return nothing()

    def hardware(self, sandbox: SandboxInfo, run_dir: Path | None) -> contextlib.AbstractContextManager[None]:
        """Nothing to start: the EVSE and the instruments are real."""
        return nothing()

    def instrument_servers(self, run_dir: Path | None) -> contextlib.AbstractContextManager[None]:
        """Nothing to start: the instruments are real."""
        return nothing()

    def instrument_servers_need_sandbox(self) -> bool:
        """Real instruments need no sandbox."""
        return False

    def trust_store(self, sandbox: SandboxInfo) -> Path | None:
        """rig.yaml ``dut.paa_trust_store`` (a folder of PAA certificates, DER)."""
        store = self.config.dut.paa_trust_store
        if store is None:
            return None
        if not store.is_dir() or not any(store.glob("*.der")):
            raise SetupError(f"dut.paa_trust_store {store}: not a folder holding PAA certificates (*.der)")
        return store

    def power_cycle_needs(self) -> tuple[type, ...]:
        """An AC source feeding the EVSE."""
        return (AcSource,)

    async def power_cycle(self, bench: Bench | None) -> str:
        """Switch the bench's AC source off for :data:`POWER_OFF_S`, then on again."""
        source = (
            None
            if bench is None
            else next((bench.role(r) for r in bench.roles if isinstance(bench.role(r), AcSource)), None)
        )
        if not isinstance(source, AcSource):
            raise SetupError("a power cycle of a network DUT needs an AC source on the bench")
        await asyncio.to_thread(source.set_output, False)
        await asyncio.sleep(POWER_OFF_S)  # the power-off time of the procedure, not a settling guess
        await asyncio.to_thread(source.set_output, True)
        return f"AC source off for {POWER_OFF_S:g} s, then on"

    def stop(self) -> None:
        """Nothing to stop: the EVSE stays where it is."""
