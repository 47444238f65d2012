"""TC-EEVSE-STATE: every command in every reachable state, from the matrix ``rig/spec/state_matrix.yaml``.

One case per state (``TC-EEVSE-STATE-Disabled``, ``-Enabled``, ``-Charging``, ``-Fault``, ``-Diagnostics``,
``-Discharging``): step 1 brings the DUT into the state with the run's EV stimulus and commands and waits until it
reads the state's State / SupplyState / FaultState; then one step per command (Disable, EnableCharging,
EnableDischarging, StartDiagnostics, SetTargets, GetTargets, ClearTargets): the status the matrix gives, the
attributes after it, and the way back into the state when the command changed it; the last step leaves the state and
waits for the idle EVSE. A command the DUT does not accept is skipped with the reason (its bounds and presence are
judged by TC-EEVSE-BOUNDS and TC-EEVSE-SPEC); a state the DUT cannot reach (no V2X, no StartDiagnostics, a stimulus
the run cannot produce) skips its case. A mismatch names the state, the command, the expected and received status
or attribute, and the matrix's source for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest

from rig.errors import MatterStatusError
from rig.matter.eevse import Evse
from rig.pics import accepted_command_code
from rig.pytest_plugin.state import RUNNER_KEY
from rig.spec import energy_evse
from rig.spec.matrix import ATTRIBUTE_ENUMS, MATRIX_FILE, Action, Cell, StateDef, load_matrix
from rig.steps import StepRunner, TestStep
from rig.stimulus import NO_PHYSICAL_MEANS, StimulusUnavailable
from rig.stimulus import Action as Stim
from suites.tc_eevse.spec_payloads import command_object, status_of
from suites.tc_eevse.support import has_feature

CLUSTER = energy_evse()
MATRIX = load_matrix(CLUSTER, [a.value for a in Stim])
CODE = "TC-EEVSE-STATE"
POLL_S = 0.05
IDLE = {"State": "NotPluggedIn", "SupplyState": "Disabled", "FaultState": "NoError"}

pytestmark = [pytest.mark.pics("EEVSE.S")]

STEPS = [TestStep("1", "Generated per state from rig/spec/state_matrix.yaml")]  # documentation only


def _pics(state: StateDef) -> list[str]:
    codes = ["EEVSE.S"]
    for r in state.requires:
        feature = next((f for f in CLUSTER.features if f.code == r), None)
        codes.append(f"EEVSE.S.F{feature.bit:02X}" if feature else accepted_command_code(CLUSTER.command(r).id))
    return codes


STATE_PARAMS = [
    pytest.param(
        s.name,
        id=s.name,
        marks=[pytest.mark.tc(f"{CODE}-{s.name}", f"Every command in state {s.title}"), pytest.mark.pics(*_pics(s))],
    )
    for s in MATRIX.states.values()
]


def _words(actions: tuple[Action, ...]) -> str:
    return ", ".join(a.name for a in actions) or "nothing"


def _shown(values: dict[str, str]) -> str:
    return ", ".join(f"{k} = {v}" for k, v in values.items())


@pytest.fixture
def steps(request: pytest.FixtureRequest) -> StepRunner:
    """This module's step runner: enter the state, a step per command of the matrix row, leave the state."""
    state = MATRIX.states[request.node.callspec.params["state"]]
    cells = MATRIX.cells[state.name]
    declared = [
        TestStep("1", f"TH brings the DUT into {state.title}: {_words(state.enter)}", f"DUT reads {_shown(state.is_)}")
    ]
    for i, cell in enumerate(cells, start=2):
        undo = f"; TH returns to the state with {_words(cell.undo)}" if cell.undo else ""
        declared.append(
            TestStep(
                str(i),
                f"TH sends {cell.command} in state {state.name}",
                f"DUT responds {cell.expect} and reads {_shown(dict(cell.then))} ({cell.source}){undo}",
            )
        )
    declared.append(
        TestStep(str(len(cells) + 2), f"TH leaves the state: {_words(state.leave)}", f"DUT reads {_shown(IDLE)}")
    )
    runner = StepRunner(declared)
    request.node.stash[RUNNER_KEY] = runner
    return runner


async def _read_state(evse: Evse) -> dict[str, int]:
    attrs = [evse.attribute(a) for a in ATTRIBUTE_ENUMS]
    values = await evse.node.read_many(attrs)
    return {a: int(values[c]) for a, c in zip(ATTRIBUTE_ENUMS, attrs, strict=True)}


def _names(values: dict[str, int]) -> dict[str, str]:
    out = {}
    for attr, v in values.items():
        dt = CLUSTER.data_types[ATTRIBUTE_ENUMS[attr]]
        out[attr] = next((i.name for i in dt.items if i.value == v), str(v))
    return out


async def _await_state(evse: Evse, want: dict[str, str], what: str, timeout_s: float) -> dict[str, int]:
    """Read State, SupplyState, FaultState until they are ``want``; fail naming ``what`` after ``timeout_s``."""
    target = {a: MATRIX.enum_value(CLUSTER, a, v) for a, v in want.items()}
    deadline = time.monotonic() + timeout_s
    while True:
        got = await _read_state(evse)
        if all(got[a] == v for a, v in target.items()):
            return got
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: expected {_shown(want)} within {timeout_s:g} s, read {_shown(_names(got))}")
        await asyncio.sleep(POLL_S)


async def _do(evse: Evse, stimulus: Any, action: Action) -> None:
    if action.kind == "command":
        await evse.node.invoke(command_object(CLUSTER, action.name, MATRIX.commands[action.name]))
    else:
        await stimulus.apply(Stim(action.name))


async def _unreachable(evse: Evse, stimulus: Any, state: StateDef, accepted: list[int], feature_map: int) -> str | None:
    """Why the DUT cannot be brought into (or out of) ``state`` on this run, or None."""
    for r in state.requires:
        if any(f.code == r for f in CLUSTER.features):
            if not has_feature(feature_map, r):
                return f"the DUT does not support {r} (FeatureMap 0x{feature_map:x})"
        elif CLUSTER.command(r).id not in accepted:
            return f"{r} is not in the DUT's AcceptedCommandList"
    for action in (*state.enter, *state.leave):
        if action.kind == "command":
            if CLUSTER.command(action.name).id not in accepted:
                return f"{action.name} is not in the DUT's AcceptedCommandList"
            continue
        stim = Stim(action.name)
        reason = stimulus.supports(stim)
        if reason is None and stim in NO_PHYSICAL_MEANS and not await evse.triggers_enabled():
            reason = f"{NO_PHYSICAL_MEANS[stim]} and the DUT's TestEventTriggersEnabled is false"
        if reason:
            return f"{action.name}: {reason}"
    return None


@pytest.mark.parametrize("state", STATE_PARAMS)
async def test_state_matrix(steps, evse, stimulus, state) -> None:
    definition = MATRIX.states[state]
    cells = MATRIX.cells[state]
    timeout_s = evse.event_timeout_s
    steps.step("1")
    values = await evse.node.read_many([evse.attribute("FeatureMap"), evse.attribute("AcceptedCommandList")])
    feature_map = int(values[evse.attribute("FeatureMap")])
    accepted = list(values[evse.attribute("AcceptedCommandList")])
    reason = await _unreachable(evse, stimulus, definition, accepted, feature_map)
    if reason:
        steps.skip_current(reason)
        steps.skip_remaining(reason)
        pytest.skip(f"state {state} cannot be reached: {reason}")
    get_targets = CLUSTER.command("GetTargets").id in accepted
    targets = await evse.get_targets() if get_targets else []
    left = False
    try:
        for action in definition.enter:
            await _do(evse, stimulus, action)
        entering = f"entering {state} ({_words(definition.enter)})"
        got = await _await_state(evse, dict(definition.is_), entering, timeout_s)
        steps.note(f"in {state}: {_shown(_names(got))}")

        for number, cell in enumerate(cells, start=2):
            steps.step(str(number))
            if CLUSTER.command(cell.command).id not in accepted:
                steps.skip_current(f"{cell.command} is not in the DUT's AcceptedCommandList")
                continue
            await _run_cell(steps, evse, stimulus, cell, timeout_s)

        steps.step(str(len(cells) + 2))
        left = True
        await _leave(evse, stimulus, definition)
        got = await _await_state(evse, IDLE, f"leaving {state} ({_words(definition.leave)})", timeout_s)
        steps.note(f"left {state}: {_shown(_names(got))}")
    finally:  # whatever happened, leave the state (the next case's return to idle does the rest)
        if not left:
            with contextlib.suppress(MatterStatusError, StimulusUnavailable, AssertionError):
                await _leave(evse, stimulus, definition)
        with contextlib.suppress(MatterStatusError):
            if get_targets:
                await evse.clear_targets()
                if targets:
                    await evse.set_targets(targets)


async def _run_cell(steps: StepRunner, evse: Evse, stimulus: Any, cell: Cell, timeout_s: float) -> None:
    payload = MATRIX.commands[cell.command]
    got = await status_of(evse.node.invoke(command_object(CLUSTER, cell.command, payload)))
    steps.note(f"{cell.command} in {cell.state}: {got}")
    if got != cell.expect:
        if got == "SUCCESS" and cell.undo:
            with contextlib.suppress(MatterStatusError, StimulusUnavailable):
                for action in cell.undo:
                    await _do(evse, stimulus, action)
        raise AssertionError(
            f"state {cell.state}: {cell.command}: expected {cell.expect}, received {got} "
            f"(expectation: {cell.source}; {MATRIX_FILE.name})"
        )
    after = await _read_state(evse)
    want = {a: MATRIX.enum_value(CLUSTER, a, v) for a, v in cell.then.items()}
    if after != want:  # a change may take effect shortly after the response: wait for it, bounded
        try:
            after = await _await_state(evse, dict(cell.then), f"{cell.command} in {cell.state}", timeout_s)
        except AssertionError as exc:
            where = f"(expectation: {cell.source}; {MATRIX_FILE.name})"
            raise AssertionError(f"state {cell.state}: {exc} {where}") from None
    steps.note(f"then: {_shown(_names(after))}")
    if cell.undo:
        for action in cell.undo:
            await _do(evse, stimulus, action)
        back = await _await_state(
            evse, dict(MATRIX.states[cell.state].is_), f"back in {cell.state} ({_words(cell.undo)})", timeout_s
        )
        steps.note(f"back with {_words(cell.undo)}: {_shown(_names(back))}")


async def _leave(evse: Evse, stimulus: Any, definition: StateDef) -> None:
    for action in definition.leave:
        try:
            await _do(evse, stimulus, action)
        except MatterStatusError:
            if action.kind != "command":
                raise
            # a command refused while leaving (e.g. Disable in a state it does not apply to) is not the verdict
