"""rig.session: the lifecycle's stages, the errors naming the stage, and the tear-down order on every exit path.

A recording fake DUT stands in for the virtual EVSE (the real one runs in tests/e2e and the suites): these tests
check the order of the stages, not the Matter traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rig.config import RigConfig, config_from_dict
from rig.dut import NetworkDut, VirtualDut, dut_for
from rig.dut.base import DutDescription, HostNeeds
from rig.errors import ConfigError, SessionError, SetupError
from rig.sandbox import SandboxInfo
from rig.session import open_bench, open_session


class RecordingDut:
    """A DUT kind that records what the session asks of it; ``fail`` names the method that raises."""

    def __init__(self, calls: list[str], fail: str | None = None) -> None:
        self.calls = calls
        self.fail = fail

    def _maybe_fail(self, what: str) -> None:
        self.calls.append(what)
        if self.fail == what:
            raise SetupError(f"{what} failed on purpose")

    def describe(self) -> DutDescription:
        return {
            "bench": "real",
            "kind": "network",
            "node_id": 1,
            "endpoint": 1,
            "defects": [],
            "label": "fake",
            "attestation": "none",
        }

    def check_session(self) -> None:
        self.calls.append("check_session")

    def host_needs(self) -> HostNeeds:
        return HostNeeds(netns=False, node=False)

    def check_installed(self) -> None:
        self.calls.append("check_installed")

    def preload(self, sandbox: SandboxInfo) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def hardware(self, sandbox: SandboxInfo, run_dir: Path | None) -> Iterator[None]:
        self._maybe_fail("hardware up")
        try:
            yield
        finally:
            self.calls.append("hardware down")

    def instrument_servers(self, run_dir: Path | None) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def instrument_servers_need_sandbox(self) -> bool:
        return False

    def trust_store(self, sandbox: SandboxInfo) -> Path | None:
        self._maybe_fail("trust_store")
        return None

    def power_cycle_needs(self) -> tuple[type, ...]:
        return ()

    async def power_cycle(self, bench: Any) -> str:
        return "cycled"

    def stop(self) -> None:
        self.calls.append("stop")


def _config(**dut: Any) -> RigConfig:
    return config_from_dict({"station": {}, "dut": {"kind": "network", "attestation": "allow-test-paa", **dut}})


def _sandbox(tmp_path: Path) -> SandboxInfo:
    return SandboxInfo(state_dir=tmp_path, netns=None, device_iface=None)


async def _open(config: RigConfig, dut: RecordingDut, sandbox: SandboxInfo | None) -> None:
    async with open_session(config, sandbox=sandbox, dut=dut):
        raise AssertionError("the session should not have opened")


def test_outside_a_sandbox_the_session_names_the_stage_and_starts_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RIG_SANDBOX", raising=False)
    calls: list[str] = []
    with pytest.raises(SessionError) as err:
        asyncio.run(_open(_config(), RecordingDut(calls), None))
    assert err.value.stage == "sandbox"
    assert "rig run" in str(err.value)
    assert err.value.exit_code == 3
    assert calls == []


def test_a_failing_bench_stage_takes_down_nothing_it_did_not_start(tmp_path: Path) -> None:
    calls: list[str] = []
    with pytest.raises(SessionError) as err:
        asyncio.run(_open(_config(), RecordingDut(calls, fail="hardware up"), _sandbox(tmp_path)))
    assert err.value.stage == "bench"
    assert "hardware up failed on purpose" in str(err.value)
    assert calls == ["hardware up"]


def test_a_failing_dut_stage_stops_the_dut_before_the_hardware_goes_down(tmp_path: Path) -> None:
    calls: list[str] = []
    with pytest.raises(SessionError) as err:
        asyncio.run(_open(_config(), RecordingDut(calls, fail="trust_store"), _sandbox(tmp_path)))
    assert err.value.stage == "DUT"
    assert calls == ["hardware up", "trust_store", "stop", "hardware down"]


def test_the_kind_of_dut_comes_from_the_config() -> None:
    assert isinstance(dut_for(_config()), NetworkDut)
    virtual = dut_for(config_from_dict({"station": {}, "dut": {"kind": "virtual"}}))
    assert isinstance(virtual, VirtualDut)
    assert virtual.describe()["bench"] == "virtual"
    assert virtual.host_needs() == HostNeeds(netns=True, node=True)
    strict = NetworkDut(_config(attestation="strict", paa_trust_store="/"))
    assert strict.host_needs() == HostNeeds(netns=False, node=False)


def test_defects_on_a_network_dut_are_refused_naming_the_setting() -> None:
    cfg = config_from_dict({"station": {}, "dut": {"kind": "network"}, "virtual_evse": {"defects": []}})
    assert dut_for(cfg).describe()["defects"] == []
    from rig.config import known_defects

    name = sorted(known_defects())[0]
    cfg = config_from_dict({"station": {}, "dut": {"kind": "network"}, "virtual_evse": {"defects": [name]}})
    with pytest.raises(ConfigError, match=r"virtual_evse\.defects .*network"):
        dut_for(cfg)


def test_a_network_dut_power_cycle_needs_an_ac_source() -> None:
    dut = NetworkDut(_config())
    with pytest.raises(SetupError, match="needs an AC source"):
        asyncio.run(dut.power_cycle(None))


def test_a_network_trust_store_without_certificates_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "paa"
    empty.mkdir()
    dut = NetworkDut(_config(paa_trust_store=str(empty)))
    with pytest.raises(SetupError, match=r"paa_trust_store .*\*\.der"):
        dut.trust_store(_sandbox(tmp_path))


def test_open_bench_without_instruments_names_the_section() -> None:
    with pytest.raises(ConfigError, match="no instruments declared"), open_bench(_config()):
        pass


class PreloadingDut(RecordingDut):
    """A DUT kind that preloads something in the sandbox (as the virtual EVSE's modules are)."""

    @contextlib.contextmanager
    def preload(self, sandbox: SandboxInfo) -> Iterator[None]:
        self._maybe_fail("preload")
        try:
            yield
        finally:
            self.calls.append("preload ended")


def test_what_a_dut_kind_preloads_lasts_while_the_sandboxed_process_runs(tmp_path: Path) -> None:
    from rig.session import _preloaded

    calls: list[str] = []
    with _preloaded(PreloadingDut(calls), _sandbox(tmp_path)):
        calls.append("process runs")
    assert calls == ["preload", "process runs", "preload ended"]


def test_a_failed_preload_only_means_a_cold_start(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from rig.session import _preloaded

    calls: list[str] = []
    with _preloaded(PreloadingDut(calls, fail="preload"), _sandbox(tmp_path)):
        calls.append("process runs")
    assert calls == ["preload", "process runs"]
    assert "starts cold" in caplog.text


def test_a_dut_kind_without_a_preload_gets_nothing(tmp_path: Path) -> None:
    from rig.session import _preloaded

    calls: list[str] = []
    with _preloaded(RecordingDut(calls), _sandbox(tmp_path)):
        calls.append("process runs")
    assert calls == ["process runs"]
