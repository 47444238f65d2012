"""The rig's pytest plugin: rig.yaml → DUT → Matter controller → fixtures for the suites; step records → report.

Registered from the root ``conftest.py`` only (never auto-loaded into unrelated pytest runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import signal
import threading
import time
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from rig import sandbox
from rig.config import RigConfig, load_config, parse_override
from rig.errors import RigError
from rig.steps import StepRunner

log = logging.getLogger("rig")

CONFIG_KEY = pytest.StashKey[RigConfig]()
RUNNER_KEY = pytest.StashKey[StepRunner]()
EVENTS_KEY = pytest.StashKey[list[Any]]()
IDENTITY_KEY = pytest.StashKey[dict[str, Any]]()
# role -> {"driver": ..., "address": ..., "identity": str}; filled when the bench is opened (bench issue)
INSTRUMENTS_KEY = pytest.StashKey[dict[str, dict[str, str]]]()
RUN_ID_KEY = pytest.StashKey[str]()


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


INTERRUPTED_PREFIX = "interrupted"


def run_was_interrupted(session: pytest.Session) -> bool:
    """Whether an interrupt (Ctrl-C, SIGTERM) inside a case stopped the session (see pytest_runtest_call)."""
    return isinstance(session.shouldstop, str) and session.shouldstop.startswith(INTERRUPTED_PREFIX)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    # A case that caught the interrupt failed like any failure; the run as a whole was still interrupted.
    if run_was_interrupted(session):
        session.exitstatus = pytest.ExitCode.INTERRUPTED


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
    meta = _metadata(config)
    if meta is not None:
        meta["Bench"] = "virtual (simulated instruments, virtual EVSE)" if cfg.is_virtual else "real"
        meta["Station"] = cfg.station.name
        meta["Stimulus"] = cfg.stimulus
        meta["rig.yaml"] = f"{cfg.config_path} (sha256 {cfg.raw_digest[:16]})"
        if cfg.is_virtual:
            meta["Virtual EVSE defects"] = ", ".join(cfg.virtual_evse.defects) or "none (conformant)"


def _metadata(config: pytest.Config) -> dict[str, Any] | None:
    try:
        from pytest_metadata.plugin import metadata_key
    except ImportError:  # pragma: no cover
        return None
    return config.stash.get(metadata_key, None)


def pytest_report_header(config: pytest.Config) -> list[str]:
    cfg = config.stash.get(CONFIG_KEY, None)
    if cfg is None:
        return []
    bench = "VIRTUAL bench (virtual EVSE)" if cfg.is_virtual else "REAL bench"
    lines = [f"rig: {bench}, station {cfg.station.name!r}, stimulus {cfg.stimulus}, config {cfg.config_path}"]
    if cfg.is_virtual and cfg.virtual_evse.defects:
        lines.append("rig: virtual EVSE defects: " + ", ".join(cfg.virtual_evse.defects))
    return lines


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


def _sandbox_or_exit() -> sandbox.SandboxInfo:
    info = sandbox.current()
    if info is None:
        pytest.exit(
            "the suites need the run sandbox (network namespace for Matter, private /data): "
            "start them with `rig run` (or `make run`), not plain pytest",
            returncode=4,
        )
    return info


@pytest.fixture(scope="session")
def dut_process(rig_config: RigConfig, run_dir: Path) -> Iterator[Any]:
    """The virtual EVSE process when the DUT is virtual (None for a real DUT)."""
    if not rig_config.is_virtual:
        yield None
        return
    from rig.sim.virtual_evse import VirtualEvse, VirtualEvseSettings

    info = _sandbox_or_exit()
    v = rig_config.virtual_evse
    settings = VirtualEvseSettings(
        storage_path=info.state_dir / "dut" / "storage",
        port=v.port,
        passcode=rig_config.dut.passcode,
        discriminator=rig_config.dut.discriminator,
        interface=info.device_iface,
        features=list(v.features),
        optional=v.optional.model_dump(),
        enable_key=rig_config.dut.pixit.test_event_trigger_key,
        defects=list(v.defects),
        hardware_port=info.state_dir / "dut" / "hardware.sock",
        hardware=dict(v.hardware),
        vendor_id=v.vendor_id,
        product_id=v.product_id,
        serial_number=v.serial_number,
        software_version=v.software_version,
        software_version_string=v.software_version_string,
    )
    evse = VirtualEvse(settings, run_dir / "virtual-evse.log", start_timeout_s=rig_config.dut.timeouts.dut_start)
    try:
        evse.start(fresh=not v.keep_storage)
    except RigError as exc:
        evse.stop()
        pytest.exit(f"virtual EVSE: {exc}", returncode=3)
    try:
        yield evse
    finally:
        evse.stop()


NOMINAL_MAINS_V = 230.0
NOMINAL_MAINS_HZ = 50.0


@pytest.fixture(scope="session")
def bench(rig_config: RigConfig, dut_process: Any, run_dir: Path, pytestconfig: pytest.Config) -> Iterator[Any]:
    """The instruments of rig.yaml, opened in order, the DUT powered from the AC source; safe state on every exit.

    On the virtual bench the simulated instruments (and the plant coupling them to the virtual EVSE's hardware
    port) are started first, in the run's network namespace. None when rig.yaml declares no instruments.
    """
    if not rig_config.instruments:
        yield None
        return
    from rig.bench import Bench
    from rig.instruments.capabilities import AcSource
    from rig.sim.launch import virtual_bench

    with contextlib.ExitStack() as stack:
        try:
            if rig_config.is_virtual:
                _sandbox_or_exit()
                evse_port = dut_process.settings.hardware_port if dut_process is not None else None
                folder = run_dir / "virtual-bench"
                folder.mkdir(exist_ok=True)
                stack.enter_context(virtual_bench(rig_config, workdir=folder, evse_port=evse_port))
            instruments = stack.enter_context(Bench(rig_config))
        except RigError as exc:
            pytest.exit(f"bench: {exc}", returncode=3)
        pytestconfig.stash[INSTRUMENTS_KEY] = {
            role: {
                "driver": rig_config.instruments[role].driver,
                "address": instruments.address(role),
                "identity": str(instruments.identities.get(role, "")),
            }
            for role in instruments.roles
        }
        meta = _metadata(pytestconfig)
        if meta is not None:
            for role, info in pytestconfig.stash[INSTRUMENTS_KEY].items():
                meta[f"Instrument {role}"] = f"{info['identity']} ({info['driver']} at {info['address']})"
        # Power the DUT: nominal mains from the (first) AC source.
        for role in instruments.roles:
            source = instruments.role(role)
            if isinstance(source, AcSource):
                source.set_voltage(NOMINAL_MAINS_V)
                source.set_frequency(NOMINAL_MAINS_HZ)
                source.set_output(True)
                if not source.output_on():  # also orders the write before anything measures the mains
                    pytest.exit(f"bench: the AC source {role!r} did not switch its output on", returncode=3)
                log.info("DUT powered from %s: %.0f V %.0f Hz", role, NOMINAL_MAINS_V, NOMINAL_MAINS_HZ)
                break
        yield instruments
        # Leaving the with-block: Bench puts every instrument in its safe state (EV emulator released,
        # AC output off, relays open) and closes them in reverse order, then the virtual bench stops.


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def matter(
    rig_config: RigConfig, dut_process: Any, bench: Any, pytestconfig: pytest.Config, run_dir: Path
) -> AsyncIterator[Any]:
    """The session's Matter controller, with the DUT commissioned (or connected)."""
    from rig.matter.controller import MatterController

    info = _sandbox_or_exit()
    dut = rig_config.dut
    paa = dut.paa_trust_store
    try:
        if paa is None:
            from rig.sim.virtual_evse import export_paa

            paa = export_paa(info.state_dir / "paa")
        controller = MatterController(info.state_dir / "controller" / "chip-storage.json", paa)
    except Exception as exc:
        pytest.exit(f"Matter controller could not start: {exc}", returncode=3)
    try:
        t = (
            await controller.connect(dut.node_id, dut.timeouts.commissioning)
            if dut.commissioning == "already-commissioned"
            else await controller.commission(
                dut.node_id,
                passcode=dut.passcode,
                discriminator=dut.discriminator,
                setup_code=dut.setup_code,
                timeout_s=dut.timeouts.commissioning,
            )
        )
        log.info("DUT 0x%x ready after %.3f s", dut.node_id, t)
        from rig.matter.eevse import read_identity

        node = controller.node(dut.node_id, dut.endpoint, timeout_s=dut.timeouts.command)
        identity = await read_identity(node)
    except RigError as exc:
        controller.shutdown()
        pytest.exit(f"DUT: {exc}", returncode=3)
    pytestconfig.stash[IDENTITY_KEY] = identity
    meta = _metadata(pytestconfig)
    if meta is not None:
        meta["DUT"] = (
            f"{identity.get('VendorName')} {identity.get('ProductName')} "
            f"(VID 0x{int(identity.get('VendorID') or 0):04X}, PID 0x{int(identity.get('ProductID') or 0):04X})"
        )
        meta["DUT software"] = f"{identity.get('SoftwareVersionString')} ({identity.get('SoftwareVersion')})"
        meta["DUT hardware"] = str(identity.get("HardwareVersionString"))
        meta["DUT serial"] = str(identity.get("SerialNumber"))
        meta["DUT node / endpoint"] = f"0x{dut.node_id:X} / {dut.endpoint}"
    (run_dir / "dut.json").write_text(json.dumps(identity, indent=2, default=str))
    try:
        yield controller
    finally:
        if dut_process is not None:
            # The bench reaches its safe state (EV released, AC off, relays open) while the DUT still drives the
            # pilot: the EVSE is never switched off under a connected EV or a closed contactor.
            if bench is not None:
                try:
                    await asyncio.to_thread(bench.safe_state)
                except RigError as exc:
                    log.error("safe state before stopping the virtual EVSE: %s", exc)
            # The virtual EVSE ends its sessions while the controller can still answer: stopped after the
            # controller, matter.js waits on reports nobody acknowledges until its bounded shutdown gives up (~2 s).
            await asyncio.to_thread(dut_process.stop)
        controller.shutdown()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def dut_node(matter: Any, rig_config: RigConfig) -> Any:
    """The DUT's node handle on the EVSE endpoint."""
    dut = rig_config.dut
    return matter.node(dut.node_id, dut.endpoint, timeout_s=dut.timeouts.command)


@pytest_asyncio.fixture(loop_scope="session")
async def evse(dut_node: Any, rig_config: RigConfig, pytestconfig: pytest.Config) -> Any:
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
async def evse_events(evse: Any, request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """A fresh subscription to the EVSE's events for one test; its history goes to the report."""
    queue = await evse.subscribe_events()
    request.node.stash[EVENTS_KEY] = queue.history
    try:
        yield queue
    finally:
        evse.node.controller.close_subscription(queue)


@pytest_asyncio.fixture(loop_scope="session")
async def stimulus(
    evse: Any, rig_config: RigConfig, bench: Any, request: pytest.FixtureRequest
) -> AsyncIterator[Any]:
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
        stim = make_stimulus(rig_config.stimulus, evse, bench, note=note,
                             manual_timeout=manual_timeout_s(dict(rig_config.dut.pixit.extra)))
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
    """The ``pics`` fixture (rig.pytest_plugin.pics) when a declared step has a PICS code, else None."""
    if not any(s.pics for s in declared):
        return None
    try:
        return request.getfixturevalue("pics")
    except pytest.FixtureLookupError:  # rig.pytest_plugin.pics not registered: pics_guard() without a condition raises
        return None


@pytest.fixture(autouse=True)
def _junit_case_name(request: pytest.FixtureRequest, record_xml_attribute: Any) -> None:
    """JUnit test names carry the TC id (``TC-EEVSE-2.2``)."""
    marker = request.node.get_closest_marker("tc")
    if marker is not None:
        record_xml_attribute("name", marker.args[0])
        record_xml_attribute("classname", marker.args[1] if len(marker.args) > 1 else "")


# -- hooks: completeness and reporting -------------------------------------------------------------
@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """An interrupt inside a case fails that case (reported like any failure) and stops the session."""
    try:
        return (yield)
    except KeyboardInterrupt as exc:
        item.session.shouldstop = f"{INTERRUPTED_PREFIX} ({exc or 'Ctrl-C'})"
        raise RunInterrupted(
            f"the run was interrupted ({exc or 'Ctrl-C'}) during this case; "
            "the bench is put in its safe state at teardown"
        ) from None


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
        report.user_properties.append(("steps", json.dumps(runner.to_dicts(), default=str)))
        extras = getattr(report, "extras", [])
        try:
            from pytest_html import extras as html_extras

            extras.append(html_extras.html(_steps_html(runner, item.stash.get(EVENTS_KEY, []))))
        except ImportError:  # pragma: no cover
            pass
        report.extras = extras
    return report


def _close_failed_step(item: pytest.Item, call: pytest.CallInfo[None]) -> None:
    """A case body that raised fails its step in progress (the run record and the HTML name that step)."""
    runner = item.stash.get(RUNNER_KEY, None)
    if runner is None or call.when != "call" or call.excinfo is None:
        return
    if not call.excinfo.errisinstance(pytest.skip.Exception):
        runner.fail(call.excinfo.value)


def _steps_html(runner: StepRunner, events: list[Any]) -> str:
    rows = []
    for r in runner.records:
        dur = f"{(r.ended - r.started):.3f} s" if r.started and r.ended else ""
        actual = "; ".join(r.notes)
        if r.measurements:
            actual = "; ".join(
                [actual] * bool(actual)
                + [f"{m.name} = {m.value}{(' ' + m.unit) if m.unit else ''} [{m.verdict}]" for m in r.measurements]
            )
        detail = r.skip_reason or r.error or ""
        rows.append(
            f"<tr class='rig-{r.outcome}'><td>{html.escape(r.number)}</td><td>{html.escape(r.description)}</td>"
            f"<td>{html.escape(r.expectation)}</td><td>{html.escape(actual)}</td>"
            f"<td><b>{r.outcome}</b></td><td>{html.escape(detail)}</td><td>{dur}</td></tr>"
        )
    ev_rows = "".join(
        f"<li>{time.strftime('%H:%M:%S', time.localtime(e.received_at))}.{int(e.received_at * 1000) % 1000:03d} "
        f"{html.escape(e.summary())}</li>"
        for e in events
    )
    style = (
        "<style>.rig-steps td,.rig-steps th{border:1px solid #ccc;padding:2px 6px;text-align:left}"
        ".rig-failed{background:#fdd}.rig-skipped{background:#eee}.rig-not-run{color:#999}</style>"
    )
    return (
        f"{style}<table class='rig-steps'><tr><th>Step</th><th>Description</th><th>Expected</th><th>Actual</th>"
        f"<th>Outcome</th><th>Detail</th><th>Duration</th></tr>{''.join(rows)}</table>"
        + (f"<p>Events received:</p><ul>{ev_rows}</ul>" if ev_rows else "")
    )


def pytest_html_report_title(report: Any) -> None:
    report.title = "EVSE conformance report"


def pytest_html_results_summary(prefix: list[str], summary: list[str], postfix: list[str], session: Any) -> None:
    cfg = session.config.stash.get(CONFIG_KEY, None)
    ident = session.config.stash.get(IDENTITY_KEY, None)
    if cfg is None:
        return
    lines = [f"<p><b>Bench:</b> {'virtual' if cfg.is_virtual else 'real'} — station {html.escape(cfg.station.name)}"
             f" — stimulus <b>{html.escape(cfg.stimulus)}</b></p>"]
    if ident:
        lines.append(
            "<p><b>DUT:</b> "
            + html.escape(
                f"{ident.get('VendorName')} / {ident.get('ProductName')} — software "
                f"{ident.get('SoftwareVersionString')} ({ident.get('SoftwareVersion')}) — serial "
                f"{ident.get('SerialNumber')}"
            )
            + "</p>"
        )
    if cfg.is_virtual and cfg.virtual_evse.defects:
        lines.append("<p><b>Virtual EVSE defects:</b> " + html.escape(", ".join(cfg.virtual_evse.defects)) + "</p>")
    prefix.extend(lines)

