"""A network DUT: an EVSE already on the lab network, powered from the bench's AC source."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from rig.bench import Bench
from rig.config import RigConfig
from rig.dut.attestation import TEST_PAA_NOTE, check_paa_store, controller_store
from rig.dut.base import DutDescription, HostNeeds, nothing
from rig.errors import ConfigError, SetupError
from rig.instruments.capabilities import AcSource
from rig.sandbox import SandboxInfo
from rig.station import station_dir

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
        self.attestation = config.dut.attestation or "strict"

    def describe(self) -> DutDescription:
        """The DUT as rig.yaml describes it."""
        return {
            "bench": "real",
            "kind": "network",
            "node_id": self.config.dut.node_id,
            "endpoint": self.config.dut.endpoint,
            "defects": [],
            "label": "REAL bench (EVSE on the network)",
            "attestation": self._attestation_text(),
        }

    def _attestation_text(self) -> str:
        store = self.config.dut.paa_trust_store
        if self.attestation == "allow-test-paa":
            return TEST_PAA_NOTE + (f"; plus the PAAs of {store}" if store else "")
        return f"strict: the PAAs of {store}"

    def host_needs(self) -> HostNeeds:
        """No network namespace (the EVSE is on the host's network); Node.js only to export the test PAAs."""
        return HostNeeds(netns=False, node=self.attestation == "allow-test-paa")

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

    def check_session(self) -> None:
        """A network DUT's attestation is checked against PAAs rig.yaml names (strict), or the test PAAs by choice.

        Raises:
            ConfigError: strict attestation without ``dut.paa_trust_store``.
        """
        if self.attestation == "strict" and self.config.dut.paa_trust_store is None:
            raise ConfigError(
                f"{self.config.config_path or 'rig.yaml'}: dut.paa_trust_store: a network DUT needs a folder of PAA "
                "certificates to check its attestation against (e.g. the DCL's production PAAs); to trust the Matter "
                "test PAAs instead set dut.attestation: allow-test-paa (the run is then not a certification result)"
            )

    def station_folder(self, state_dir: Path | None) -> Path | None:
        """``station.state_dir`` (default ``/var/lib/rig/<station name>``): the fabric the EVSE keeps."""
        return station_dir(self.config)

    def trust_store(self, sandbox: SandboxInfo) -> Path | None:
        """The PAAs of ``dut.paa_trust_store``, checked to hold at least one valid PAA (strict), plus the Matter
        test PAAs with ``dut.attestation: allow-test-paa``; written as the controller reads them."""
        self.check_session()
        target = sandbox.state_dir / "paa"
        store = self.config.dut.paa_trust_store
        if store is not None:
            controller_store(check_paa_store(store), target)
        if self.attestation == "allow-test-paa":
            from rig.sim.virtual_evse import cached_paa  # the matter.js test PAAs (public development roots)

            cached_paa(target, timeout_s=self.config.dut.timeouts.dut_start)
        return target

    def power_cycle_needs(self) -> tuple[type, ...]:
        """An AC source feeding the EVSE."""
        return (AcSource,)

    async def power_cycle(self, bench: Bench | None) -> str:
        """Switch the bench's AC source off for :data:`POWER_OFF_S`, then on again."""
        found = None if bench is None else bench.first(AcSource)
        if found is None:
            raise SetupError("a power cycle of a network DUT needs an AC source on the bench")
        source = found[1]
        await asyncio.to_thread(source.set_output, False)
        await asyncio.sleep(POWER_OFF_S)  # the power-off time of the procedure, not a settling guess
        await asyncio.to_thread(source.set_output, True)
        return f"AC source off for {POWER_OFF_S:g} s, then on"

    def rating_unavailable(self) -> str | None:
        """A real EVSE's current rating is its hardware's and its CircuitCapacity its installer's setting."""
        return (
            "a network DUT's current rating is its hardware's and its CircuitCapacity its installer's setting: the rig "
            "cannot change them, it checks what the DUT supports as installed"
        )

    def rating(self, charge_ma: int) -> contextlib.AbstractAsyncContextManager[str]:
        """Not offered (see :meth:`rating_unavailable`)."""
        raise SetupError(str(self.rating_unavailable()))

    def installed_build_lost(self) -> str | None:
        """None: a network DUT keeps the firmware installed on it."""
        return None

    def factory_reset_unavailable(self) -> str | None:
        """No factory-reset means is declared for a network DUT."""
        return (
            "the bench declares no factory-reset means for a network DUT; a Matter factory reset also removes every "
            "fabric (the rig's too), and the rig does not re-commission in the middle of a run"
        )

    async def factory_reset(self, bench: Bench | None) -> str:
        """Not offered (see :meth:`factory_reset_unavailable`)."""
        raise SetupError(str(self.factory_reset_unavailable()))

    def backup_supply(self) -> bool:
        """Whether the EVSE has a backup supply: PIXIT ``dut.pixit.extra.backup_supply`` (default false, a charger's
        usual build: it loses power with its mains)."""
        return self.config.dut.pixit.extra.get("backup_supply") is True

    def stop(self) -> None:
        """Nothing to stop: the EVSE stays where it is."""
