"""The EVSE's supply on the virtual bench (rig.sim.supply) and what the virtual DUT does when it is lost or back.

The supply rides through a missing mains for its hold-up time (20 ms) and needs 85 V; on simulated time (the plant on
a manual clock) a loss is reported exactly at the end of the hold-up time and a return at once. The virtual DUT kills
its EVSE on a loss and boots it on the return, unless the EVSE has a backup supply.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rig.config import load_config, parse_override
from rig.dut.virtual import VirtualDut
from rig.sim.plant import Plant
from rig.sim.supply import HOLDUP_S, EvseSupply
from rig.sim.virtual_evse import VirtualEvse
from tests.sim.manual_clock import ManualClock
from tests.support import wait_until

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def plant() -> tuple[Plant, ManualClock]:
    clock = ManualClock()
    p = Plant(clock=clock)
    p.set_ac_output(True)
    return p, clock


def _watch(p: Plant) -> tuple[EvseSupply, list[tuple[bool, int]]]:
    changes: list[tuple[bool, int]] = []
    return EvseSupply(p, lambda supplied, t_ns: changes.append((supplied, t_ns))), changes


def test_a_dip_shorter_than_the_hold_up_time_is_ridden_through(plant) -> None:
    p, clock = plant
    supply, changes = _watch(p)
    p.run_program([(0.0, HOLDUP_S / 2)])
    clock.advance(1.0)
    assert supply.supplied and changes == []


def test_a_dropout_loses_the_supply_after_the_hold_up_time_and_returns_with_the_mains(plant) -> None:
    p, clock = plant
    supply, changes = _watch(p)
    t0 = p.run_program([(0.0, 1.0)])
    clock.advance(2.0)
    assert changes == [(False, t0 + round(HOLDUP_S * 1e9)), (True, t0 + 1_000_000_000)]
    assert supply.supplied


def test_output_off_and_on(plant) -> None:
    p, clock = plant
    supply, changes = _watch(p)
    t_off = clock.now_ns()
    p.set_ac_output(False)
    clock.advance(HOLDUP_S * 0.99)
    assert supply.supplied, "still within the hold-up time"
    clock.advance(0.1)
    p.set_ac_output(True)
    assert changes == [(False, t_off + round(HOLDUP_S * 1e9)), (True, clock.now_ns())]


@pytest.mark.parametrize(("volts", "supplied"), [(190.0, True), (85.0, True), (80.0, False)])
def test_the_supply_needs_85_volts(plant, volts: float, supplied: bool) -> None:
    p, clock = plant
    supply, _ = _watch(p)
    p.set_ac_voltage(volts)
    clock.advance(1.0)
    assert supply.supplied is supplied


def test_the_initial_state_is_the_mains_of_then_without_a_report() -> None:
    p = Plant(clock=ManualClock())  # output off
    supply, changes = _watch(p)
    assert not supply.supplied and changes == []


def test_close_drops_a_pending_loss(plant) -> None:
    p, clock = plant
    supply, changes = _watch(p)
    p.set_ac_output(False)
    supply.close()
    clock.advance(1.0)
    assert changes == [] and clock.pending() == []


# -- the virtual DUT ------------------------------------------------------------------------------------------------
class FakeEvse(VirtualEvse):
    """A VirtualEvse that records what the DUT does to it (no process)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.ready_at: float | None = None

    def power_off(self) -> int | None:
        self.calls.append("power_off")
        return -9

    def power_on(self) -> None:
        self.calls.append("power_on")

    def wait_ready(self) -> dict[str, Any]:
        self.calls.append("wait_ready")
        self.ready_at = 12.5
        return {}

    def stop(self, timeout_s: float = 5.0) -> int | None:
        self.calls.append("stop")
        return 0


def _dut(*overrides: str) -> tuple[VirtualDut, FakeEvse]:
    cfg = load_config(REPO / "rig.yaml", environ={}, overrides=dict(parse_override(o) for o in overrides))
    dut = VirtualDut(cfg)
    evse = FakeEvse()
    dut._evse = evse
    return dut, evse


def test_without_backup_supply_a_loss_kills_and_the_return_boots() -> None:
    dut, evse = _dut()
    assert dut.backup_supply() is False
    dut._bench_event({"event": "evse_supply", "supplied": True, "t_s": 1.0})  # the bench powering it at the start
    assert evse.calls == [], "a running EVSE is not booted again"
    dut._bench_event({"event": "evse_supply", "supplied": False, "t_s": 10.0})
    assert evse.calls == ["power_off"]
    dut._bench_event({"event": "evse_supply", "supplied": True, "t_s": 11.0})
    wait_until(lambda: list(dut.boots), bool, timeout_s=5.0, what="the boot after the supply returned")
    assert evse.calls == ["power_off", "power_on", "wait_ready"]
    assert dut.boots[0].powered_at == 11.0 and dut.boots[0].boot_s == pytest.approx(1.5)
    dut.stop()
    assert evse.calls[-1] == "stop"


def test_with_a_backup_supply_the_evse_stays_on() -> None:
    dut, evse = _dut("virtual_evse.backup_supply=true")
    assert dut.backup_supply() is True
    dut._bench_event({"event": "evse_supply", "supplied": False, "t_s": 10.0})
    dut._bench_event({"event": "evse_supply", "supplied": True, "t_s": 11.0})
    dut.stop()
    assert evse.calls == ["stop"] and dut.boots == []


def test_no_boot_once_the_run_ends() -> None:
    dut, evse = _dut()
    dut._bench_event({"event": "evse_supply", "supplied": False, "t_s": 10.0})
    dut.stop()
    dut._bench_event({"event": "evse_supply", "supplied": True, "t_s": 11.0})
    assert evse.calls == ["power_off", "stop"] and dut.boots == []
