"""The rig's pytest fixtures: rig.yaml → the session (:func:`rig.session.open_session`) → what suites ask for.

The session (bench, DUT, controller, commissioning) is opened once, at the first case that needs it, and closed at
the end of the pytest session, ending in the bench's safe state. This module never asks which kind of DUT or bench
the run has: :mod:`rig.dut` answers that.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import json
import logging
import os
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio

from rig.bench import Bench
from rig.config import RigConfig, load_config, parse_override
from rig.dut import Dut, dut_for
from rig.errors import (
    DutError,
    DutLost,
    DutUnreachable,
    InstrumentError,
    InstrumentFault,
    LostMidCase,
    RigError,
    SessionError,
    Unsupported,
)
from rig.pytest_plugin.state import (
    CONFIG_KEY,
    EVENTS_KEY,
    INNER_SET_ENV,
    INTERRUPTED_PREFIX,
    LOSS_SUFFIX,
    RUNNER_KEY,
    SESSION_KEY,
    run_was_interrupted,
    run_was_stopped_by_loss,
)
from rig.session import Session, open_session, power_back_after_loss
from rig.steps import StepRunner

if TYPE_CHECKING:
    from rig.matter.controller import MatterController, Node
    from rig.matter.eevse import Evse
    from rig.matter.events import EventQueue
    from rig.stimulus import Stimulus

log = logging.getLogger("rig")


# -- options and configuration ---------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rig", "EVSE conformance rig")
    group.addoption("--rig-config", default=None, help="bench description (default: rig.yaml at the rootdir)")
    group.addoption(
        "--dut-defect",
        action="append",
        default=[],
        metavar="NAME",
        help="start the virtual EVSE with this firmware defect (repeatable; see `rig sim --list-defects`)",
    )
    group.addoption("--rig-set", action="append", default=[], metavar="KEY=VALUE", help="override a rig.yaml value")
    group.addoption(
        "--stimulus",
        default=None,
        choices=["trigger", "emulator", "manual"],
        help="how the EV is simulated (overrides rig.yaml stimulus; same as --rig-set stimulus=MODE)",
    )
    group.addoption("--rig-run-dir", default=None, help="folder for this run's outputs (set by `rig run`)")
    group.addoption(
        "--legacy-triggers", action="store_true", help="send test event triggers without the endpoint in bits 32-47"
    )


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    # A case that caught the interrupt failed like any failure; the run as a whole was still interrupted.
    if run_was_interrupted(session):
        session.exitstatus = pytest.ExitCode.INTERRUPTED
    elif run_was_stopped_by_loss(session):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


class RunInterrupted(AssertionError):
    """The run was interrupted (Ctrl-C, SIGTERM) while this case ran; the case fails and the session stops."""


def _interrupt_once(signum: int, _frame: object) -> None:
    """First SIGINT/SIGTERM: unwind like Ctrl-C. Later ones are ignored, so teardown (safe state) completes."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    raise KeyboardInterrupt(signal.Signals(signum).name)


def pytest_configure(config: pytest.Config) -> None:
    # SIGTERM unwinds like Ctrl-C: pytest then runs every teardown, so the bench reaches its safe state.
    if threading.current_thread() is threading.main_thread() and config.getoption("--rig-run-dir"):
        signal.signal(signal.SIGTERM, _interrupt_once)
        signal.signal(signal.SIGINT, _interrupt_once)
    config.addinivalue_line("markers", "tc(case_id, title): the test-plan case this test implements")
    config.addinivalue_line("markers", "pics(*codes): top-level PICS the case requires")
    path = config.getoption("--rig-config") or (Path(str(config.rootpath)) / "rig.yaml")
    try:
        overrides: dict[str, Any] = dict(parse_override(item) for item in config.getoption("--rig-set"))
    except RigError as exc:
        raise pytest.UsageError(f"--rig-set: {exc}") from None
    handed = os.environ.pop(INNER_SET_ENV, None)  # rig run's --set values (kept off the command line)
    if handed:
        try:
            inner = json.loads(handed)
        except ValueError:
            inner = None
        if not isinstance(inner, dict):
            raise pytest.UsageError(f"{INNER_SET_ENV}: expected a JSON object of rig.yaml overrides")
        overrides = {**inner, **overrides}
    if config.getoption("--stimulus"):
        overrides["stimulus"] = config.getoption("--stimulus")
    defects = config.getoption("--dut-defect")
    if defects:
        overrides["virtual_evse.defects"] = list(defects)
    try:
        cfg = load_config(path, overrides=overrides)
    except RigError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[CONFIG_KEY] = cfg


def pytest_report_header(config: pytest.Config) -> list[str]:
    cfg = config.stash.get(CONFIG_KEY, None)
    if cfg is None:
        return []
    try:
        label = dut_for(cfg).describe()["label"]
    except RigError as exc:
        label = f"(DUT settings invalid: {exc})"
    return [f"rig: {label}, station {cfg.station.name!r}, stimulus {cfg.stimulus}, config {cfg.config_path}"]


# -- session fixtures: DUT and controller -----------------------------------------------------------
@pytest.fixture(scope="session")
def rig_config(pytestconfig: pytest.Config) -> RigConfig:
    """The validated bench description."""
    return pytestconfig.stash[CONFIG_KEY]


@pytest.fixture(scope="session")
def run_dir(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder for this run's outputs (logs, attachments)."""
    opt = pytestconfig.getoption("--rig-run-dir")
    path = Path(opt) if opt else tmp_path_factory.mktemp("rig-run")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def rig_session(rig_config: RigConfig, run_dir: Path, pytestconfig: pytest.Config) -> AsyncIterator[Session]:
    """The run's session (bench, DUT, controller, commissioned node); the bench ends in its safe state."""
    async with contextlib.AsyncExitStack() as stack:
        try:
            session = await stack.enter_async_context(open_session(rig_config, run_dir=run_dir))
        except SessionError as exc:
            pytest.exit(str(exc), returncode=exc.exit_code)
        except RigError as exc:
            pytest.exit(f"session: {exc}", returncode=3)
        pytestconfig.stash[SESSION_KEY] = session
        yield session


@pytest.fixture(scope="session")
def bench(rig_session: Session) -> Bench | None:
    """The instruments of rig.yaml by role (None when it declares none)."""
    return rig_session.bench


@pytest.fixture(scope="session")
def dut(rig_session: Session) -> Dut:
    """The DUT (its kind's behaviour, e.g. :meth:`~rig.dut.Dut.power_cycle`)."""
    return rig_session.dut


@pytest.fixture(scope="session")
def matter(rig_session: Session) -> MatterController:
    """The session's Matter controller, with the DUT commissioned (or connected)."""
    return rig_session.controller


@pytest.fixture(scope="session")
def dut_node(rig_session: Session) -> Node:
    """The DUT's node handle on the EVSE endpoint."""
    return rig_session.node


@pytest_asyncio.fixture(loop_scope="session")
async def evse(dut_node: Node, rig_config: RigConfig, pytestconfig: pytest.Config) -> Evse:
    """The Energy EVSE endpoint under test."""
    from rig.matter.eevse import Evse

    client = Evse(
        dut_node,
        rig_config.dut.pixit.test_event_trigger_key_bytes,
        legacy_triggers=bool(pytestconfig.getoption("--legacy-triggers")),
        event_timeout_s=rig_config.dut.timeouts.event,
    )
    problems = await client.return_to_idle()
    if problems:
        log.warning("returning the DUT to idle before the case: %s", "; ".join(problems))
    return client


@pytest_asyncio.fixture(loop_scope="session")
async def evse_events(evse: Evse, request: pytest.FixtureRequest) -> AsyncIterator[EventQueue]:
    """A fresh subscription to the EVSE's events for one test; its history goes to the report."""
    queue = await evse.subscribe_events()
    request.node.stash[EVENTS_KEY] = queue.history
    try:
        yield queue
    finally:
        evse.node.controller.close_subscription(queue)


@pytest_asyncio.fixture(loop_scope="session")
async def stimulus(
    evse: Evse, rig_config: RigConfig, bench: Bench | None, request: pytest.FixtureRequest
) -> AsyncIterator[Stimulus]:
    """The EV stimulus of the run's mode (rig.yaml ``stimulus`` / ``--stimulus``): ``await stimulus.apply(Action.X)``.

    Every stimulus applied is noted on the case's step in progress; in emulator mode the EV emulator is released
    after the case. A mode that cannot run on this bench skips the case with the reason.
    """
    from rig.stimulus import StimulusUnavailable, make_stimulus, manual_timeout_s

    def note(text: str) -> None:
        runner = request.node.stash.get(RUNNER_KEY, None)
        if runner is not None and runner.current is not None:
            runner.note(text)
        log.info(text)

    try:
        stim = make_stimulus(
            rig_config.stimulus,
            evse,
            bench,
            note=note,
            manual_timeout=manual_timeout_s(dict(rig_config.dut.pixit.extra)),
        )
    except StimulusUnavailable as exc:
        pytest.skip(f"stimulus mode {rig_config.stimulus!r}: {exc}")
    try:
        yield stim
    finally:
        await stim.close()


@pytest.fixture
def steps(request: pytest.FixtureRequest) -> StepRunner:
    """The case's step runner, built from the module's ``STEPS``, with the DUT's PICS when a step declares one."""
    declared = getattr(request.module, "STEPS", None)
    if not declared:
        raise pytest.UsageError(f"{request.module.__name__} declares no STEPS")
    runner = StepRunner(declared, pics=case_pics(request, declared))
    request.node.stash[RUNNER_KEY] = runner
    return runner


def case_pics(request: pytest.FixtureRequest, declared: Any) -> Any:
    """The ``pics`` fixture (rig.pytest_plugin.collection) when a declared step has a PICS code, else None."""
    if not any(s.pics for s in declared):
        return None
    try:
        return request.getfixturevalue("pics")
    except pytest.FixtureLookupError:  # collection plugin not registered: pics_guard() without a condition raises
        return None


# -- hooks: completeness and reporting -------------------------------------------------------------
LOSS_SAFE_STATE_S = 1.0
"""The bound on driving the reachable instruments to their safe state after a loss, s (reported if exceeded)."""


def is_loss(exc: InstrumentError | DutError) -> bool:
    """Whether ``exc`` means an instrument or the DUT is gone: an instrument's transport failed, or the DUT does not
    answer (:class:`~rig.errors.DutUnreachable`, :class:`~rig.errors.DutLost`); not an instrument that answered
    wrongly or cannot do what was asked (:class:`~rig.errors.InstrumentFault`, :class:`~rig.errors.Unsupported`), nor
    a DUT that refused something."""
    if isinstance(exc, DutError):
        return isinstance(exc, DutUnreachable | DutLost)
    return not isinstance(exc, InstrumentFault | Unsupported)


def lost_mid_case(item: pytest.Item, exc: InstrumentError | DutError) -> LostMidCase:
    """After an instrument or the DUT was lost during ``item``: drive every reachable instrument to its safe state
    (the lost role is not asked again), stop the run if rig.yaml's ``on_loss`` says so, and return the case's
    verdict naming what was lost."""
    lost_role = exc.role if isinstance(exc, InstrumentError) else None
    what = f"instrument {lost_role!r}" if lost_role else "the DUT"
    funcargs: dict[str, Any] = getattr(item, "funcargs", {})
    bench = funcargs.get("bench")
    t0 = time.monotonic()
    if isinstance(bench, Bench):
        bench.note_loss(lost_role)
        try:
            bench.safe_state()
            reached = "every other instrument is in its safe state"
        except InstrumentError as failed:
            reached = f"the safe state was not reached everywhere ({failed})"
    else:
        reached = "no bench instruments in this case"
    took = time.monotonic() - t0
    if took > LOSS_SAFE_STATE_S:
        reached += f" (it took {took:.2f} s, more than {LOSS_SAFE_STATE_S:g} s)"
    else:
        reached += f" ({took:.2f} s)"
    stop = item.config.stash[CONFIG_KEY].on_loss == "stop"
    if stop:
        item.session.shouldstop = f"{what} lost during {item.name} {LOSS_SUFFIX}"
    then = "the run stops (on_loss: stop)" if stop else "the run continues (on_loss: continue)"
    return LostMidCase(f"{what} lost during this case: {exc}; {reached}; {then}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """An interrupt inside a case fails that case (reported like any failure) and stops the session; an instrument
    or the DUT lost inside a case fails it naming the loss (:func:`lost_mid_case`; a case that timed out or whose
    interaction failed asks whether the DUT is still there first: :func:`_probe_dut_on_failure`)."""
    restore = _probe_dut_on_failure(item)
    try:
        return (yield)
    except (InstrumentError, DutError) as exc:
        if CONFIG_KEY not in item.config.stash or not is_loss(exc):  # not a rig run, or the instrument answered
            raise
        raise lost_mid_case(item, exc) from exc
    except KeyboardInterrupt as exc:
        item.session.shouldstop = f"{INTERRUPTED_PREFIX} ({exc or 'Ctrl-C'})"
        raise RunInterrupted(
            f"the run was interrupted ({exc or 'Ctrl-C'}) during this case; "
            "the bench is put in its safe state at teardown"
        ) from None
    finally:
        restore()


async def _after_loss(item: pytest.Item, session: Session, loss: InstrumentError | DutError) -> LostMidCase:
    """:func:`lost_mid_case`, then, when the run goes on (``on_loss: continue``), the DUT powered and reached again
    (:func:`rig.session.power_back_after_loss`) so the next case finds the bench as a run's start leaves it."""
    verdict = await asyncio.to_thread(lost_mid_case, item, loss)
    if item.config.stash[CONFIG_KEY].on_loss == "continue":
        note = await power_back_after_loss(session)
        if note:
            verdict = LostMidCase(f"{verdict}; {note}")
    return verdict


def _probe_dut_on_failure(item: pytest.Item) -> Callable[[], None]:
    """Wrap an async case of a rig run so that a failure that may mean the DUT is gone (a wait or interaction that
    timed out, an interaction the stack could not complete) is checked with :meth:`rig.matter.controller.Node.
    lost_after` on the case's own event loop: if the DUT no longer answers, the case raises
    :class:`~rig.errors.DutLost` (so it fails as a loss) instead. Returns what undoes the wrapping."""
    test = getattr(item, "obj", None)
    session = item.config.stash.get(SESSION_KEY, None) if CONFIG_KEY in item.config.stash else None
    if session is None or not inspect.iscoroutinefunction(test):
        return lambda: None
    node = session.node

    @functools.wraps(test)
    async def probed(*args: Any, **kwargs: Any) -> Any:
        try:
            return await test(*args, **kwargs)
        except (InstrumentError, DutError) as loss:
            if not is_loss(loss):
                raise
            raise await _after_loss(item, session, loss) from loss
        except Exception as failure:
            lost = await node.lost_after(failure)
            if lost is None:
                raise
            raise await _after_loss(item, session, lost) from failure

    item.obj = probed  # type: ignore[attr-defined]

    def restore() -> None:
        item.obj = test  # type: ignore[attr-defined]

    return restore


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Generator[None, object, object]:
    result = yield
    runner = pyfuncitem.stash.get(RUNNER_KEY, None)
    if runner is not None:
        runner.finish()  # raises StepError naming the steps neither run nor skipped
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    _close_failed_step(item, call)
    runner = item.stash.get(RUNNER_KEY, None)
    if call.when == "call" and runner is not None:
        failed = runner.failed_step
        if failed is not None:
            report.sections.append(("rig: failing step", f"step {failed.number}: {failed.description}"))
    return report


def _close_failed_step(item: pytest.Item, call: pytest.CallInfo[None]) -> None:
    """A case body that raised fails its step in progress (the run record and the HTML name that step)."""
    runner = item.stash.get(RUNNER_KEY, None)
    if runner is None or call.when != "call" or call.excinfo is None:
        return
    if not call.excinfo.errisinstance(pytest.skip.Exception):
        runner.fail(call.excinfo.value)
