"""Stimulus modes without hardware: the emulator mode on a fake bench, the manual mode on a pty, the fallbacks."""

from __future__ import annotations

import asyncio
import os
import pty
import threading
from dataclasses import dataclass, field
from typing import Any

import pytest

from rig.matter.triggers import Trigger
from rig.stimulus import (
    NO_OPERATOR,
    Action,
    EmulatorStimulus,
    ManualStimulus,
    StimulusUnavailable,
    TriggerStimulus,
    cable_for,
    make_stimulus,
)


@dataclass
class FakeEvse:
    triggers: bool = True
    attrs: dict[str, Any] = field(default_factory=lambda: {"CircuitCapacity": 24000, "UserMaximumChargeCurrent": 32000})
    sent: list[int] = field(default_factory=list)
    writes: list[tuple[str, Any]] = field(default_factory=list)

    async def triggers_enabled(self) -> bool:
        return self.triggers

    async def trigger(self, code: int) -> None:
        self.sent.append(code)

    async def read(self, name: str) -> Any:
        return self.attrs[name]

    async def write(self, name: str, value: Any) -> None:
        self.writes.append((name, value))
        self.attrs[name] = value

    async def has_attribute(self, name: str) -> bool:
        return name in self.attrs


class FakePilot:
    def __init__(self, state: str) -> None:
        self.state = state
        self.classified = type("C", (), {"label": state, "state": state})()


class FakeEv:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.cp = "A"
        self.cable_a: int | None = None

    def set_state(self, s: str) -> None:
        self.calls.append(("state", s))
        self.cp = s

    def set_cable(self, a: int | None) -> None:
        self.calls.append(("cable", a))
        self.cable_a = a

    def residual_current(self, *, ac_30ma: bool = False, dc_6ma: bool = False) -> None:
        self.calls.append(("rcd", (ac_30ma, dc_6ma)))

    def diode_fault(self, on: bool) -> None:
        self.calls.append(("diode", on))

    def pe_break(self, on: bool) -> None:
        self.calls.append(("pe", on))

    def release_all(self) -> None:
        self.calls.append(("release", None))
        self.cp, self.cable_a = "A", None

    def pilot(self) -> FakePilot:
        return FakePilot(self.cp)


class FakeBench:
    def __init__(self) -> None:
        self.ev_emulator = FakeEv()
        self.roles: list[str] = []


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_cable_never_below_the_circuit_capacity() -> None:
    assert cable_for(24000) == 32 and cable_for(13000) == 13 and cable_for(32000) == 32
    assert cable_for(70000) == 63 and cable_for(None) == 63


def test_emulator_maps_actions_to_physical_states() -> None:
    evse, bench = FakeEvse(), FakeBench()
    notes: list[str] = []
    stim = EmulatorStimulus(bench, evse, notes.append)
    for action in (
        Action.INSTALL,
        Action.PLUG_IN,
        Action.DEMAND,
        Action.DEMAND_CLEAR,
        Action.GROUND_FAULT,
        Action.FAULT_CLEAR,
        Action.UNPLUG,
    ):
        run(stim.apply(action))
    calls = bench.ev_emulator.calls
    assert ("cable", 32) in calls  # CircuitCapacity 24 A -> 32 A cable
    states = [v for k, v in calls if k == "state"]
    assert states == ["B", "C", "B", "A"]
    assert ("rcd", (True, False)) in calls and ("rcd", (False, False)) in calls
    assert calls[-1] == ("cable", None)
    assert evse.sent == [], "physical actions send no trigger"
    assert any("CP state B" in n for n in notes)


def test_emulator_falls_back_to_triggers_and_clears_their_fault() -> None:
    evse, bench = FakeEvse(), FakeBench()
    stim = EmulatorStimulus(bench, evse)
    run(stim.apply(Action.OVER_TEMPERATURE_FAULT))
    run(stim.apply(Action.FAULT_CLEAR))
    assert evse.sent == [Trigger.OVER_TEMPERATURE_FAULT, Trigger.FAULT_CLEAR]


def test_emulator_without_triggers_says_why() -> None:
    stim = EmulatorStimulus(FakeBench(), FakeEvse(triggers=False))
    with pytest.raises(StimulusUnavailable, match=r"ISO 15118.*TestEventTriggersEnabled is false"):
        run(stim.apply(Action.SOC_LOW))


def test_emulator_restores_user_maximum_at_uninstall() -> None:
    evse, bench = FakeEvse(), FakeBench()
    stim = EmulatorStimulus(bench, evse)
    run(stim.apply(Action.INSTALL))
    evse.attrs["UserMaximumChargeCurrent"] = 6000  # the case wrote it
    run(stim.apply(Action.UNINSTALL))
    assert evse.writes == [("UserMaximumChargeCurrent", 32000)]


def test_emulator_needs_an_ev_emulator() -> None:
    with pytest.raises(StimulusUnavailable, match="EV emulator"):
        EmulatorStimulus(None, FakeEvse())


def test_emulator_names_a_pilot_that_does_not_follow() -> None:
    bench = FakeBench()
    bench.ev_emulator.set_state = lambda s: None  # type: ignore[method-assign]  # relay not wired
    stim = EmulatorStimulus(bench, FakeEvse())
    bench.ev_emulator.set_state("C")
    with pytest.raises(AssertionError, match=r"applied CP state C.*still reads A"):
        run(stim._wait_pilot("C", 0.1))


def test_trigger_mode_sends_triggers() -> None:
    evse = FakeEvse()
    run(TriggerStimulus(evse).apply(Action.PLUG_IN))
    assert evse.sent == [Trigger.PLUGGED_IN]


def test_manual_without_terminal_is_unavailable(tmp_path) -> None:
    stim = ManualStimulus(FakeEvse(), tty=str(tmp_path / "no-tty"))
    with pytest.raises(StimulusUnavailable, match=NO_OPERATOR):
        run(stim.apply(Action.PLUG_IN))


def test_manual_prompts_and_waits_for_enter(monkeypatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    master, slave = pty.openpty()
    name = os.ttyname(slave)
    notes: list[str] = []
    stim = ManualStimulus(FakeEvse(), notes.append, timeout_s=5, tty=name)
    seen = bytearray()

    def operator() -> None:
        while b"press Enter" not in seen:
            seen.extend(os.read(master, 1024))
        os.write(master, b"\n")

    t = threading.Thread(target=operator)
    t.start()
    run(stim.apply(Action.PLUG_IN))
    t.join(5)
    os.close(master)
    os.close(slave)
    assert b"Plug the EV in (state B" in seen
    assert notes and "operator confirmed" in notes[0]


def test_manual_times_out_naming_the_prompt(monkeypatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    master, slave = pty.openpty()
    stim = ManualStimulus(FakeEvse(), timeout_s=0.2, tty=os.ttyname(slave))
    try:
        with pytest.raises(AssertionError, match="did not confirm 'Unplug the EV"):
            run(stim.apply(Action.UNPLUG))
    finally:
        os.close(master)
        os.close(slave)


def test_make_stimulus_knows_the_modes() -> None:
    assert make_stimulus("trigger", FakeEvse(), None).mode == "trigger"
    assert make_stimulus("emulator", FakeEvse(), FakeBench()).mode == "emulator"
    assert make_stimulus("manual", FakeEvse(), None).mode == "manual"
    with pytest.raises(ValueError, match="modes: trigger, emulator, manual"):
        make_stimulus("robot", FakeEvse(), None)
