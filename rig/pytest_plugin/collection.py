"""pytest plugin: case applicability from the DUT's PICS, the ``pics`` fixture, PICS/DUT contradictions.

Part of the rig's one pytest plugin; it shares the run's state through :mod:`rig.pytest_plugin.state`.

* The PICS file is ``--pics PATH`` or else rig.yaml ``dut.pics``. With one, each case's ``pics`` marker
  (``@pytest.mark.pics("EEVSE.S", "EEVSE.S.F03")``) is checked at collection: a case whose PICS are not all
  supported is **skipped** (not deselected, so the report lists it) with a reason naming the PICS it lacks.
* Without one, the DUT's PICS are derived from the live DUT (FeatureMap, AttributeList, AcceptedCommandList,
  GeneratedCommandList, read once at the first case that uses ``dut_node``), and a case whose marker asks for
  what the DUT lacks is skipped at set-up with the reason (``the DUT's FeatureMap lacks V2X (bit 4)``).
* The ``pics`` fixture returns those PICS (the file's, or the derived ones); the step runner of each case gets
  them, so ``steps.pics_guard()`` skips a step whose declared ``pics`` code they do not support, with the reason.
* With a PICS file, once the DUT is commissioned (at the first case that uses ``dut_node``; an autouse fixture,
  a no-op otherwise), the DUT's Energy EVSE FeatureMap, AttributeList, AcceptedCommandList, GeneratedCommandList
  and EventList are read and compared with the PICS. Each disagreement is logged, printed, listed in the
  terminal summary and the run record, and attached to failing cases.
* Everything is in ``config.stash[PICS_KEY]`` (a :class:`rig.pics.run.PicsRunState`) for the report.

"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from rig.errors import RigError
from rig.pics import DutElements, Pics, contradictions, load_pics, pics_of
from rig.pics.run import PicsRunState
from rig.pytest_plugin.state import CONFIG_KEY, PICS_KEY, case_id, case_pics

log = logging.getLogger("rig.pics")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rig", "EVSE conformance rig")
    group.addoption(
        "--pics",
        default=None,
        metavar="PATH",
        help="the DUT's PICS (XML file, folder of XML files, zip, or KEY=1|0 text); overrides rig.yaml dut.pics",
    )
    group.addoption(
        "--rig-tc",
        action="append",
        default=[],
        metavar="ID",
        help="select exactly the case with this test-plan id (tc marker), e.g. TC-EEVSE-2.1; repeatable",
    )


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    cfg = config.stash.get(CONFIG_KEY, None)
    opt = config.getoption("--pics")
    path: Path | None = Path(opt) if opt else (cfg.dut.pics if cfg is not None else None)
    if path is None:
        state = PicsRunState(Pics.everything(), given=False)
    else:
        try:
            state = PicsRunState(load_pics(path), given=True)
        except RigError as exc:
            raise pytest.UsageError(str(exc)) from None
    config.stash[PICS_KEY] = state
    meta = _metadata(config)
    if meta is not None:
        meta["PICS"] = state.pics.describe()


def _metadata(config: pytest.Config) -> dict[str, Any] | None:
    try:
        from pytest_metadata.plugin import metadata_key
    except ImportError:  # pragma: no cover
        return None
    return config.stash.get(metadata_key, None)


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = config.stash.get(PICS_KEY, None)
    if state is None:
        return []
    if not state.given:
        return ["rig: PICS: none given: derived from the DUT's FeatureMap and element lists at the first case"]
    lines = [f"rig: PICS: {state.pics.describe()}"]
    lines += [f"rig: PICS warning: {w}" for w in state.pics.warnings]
    return lines


def _select_cases(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``--rig-tc ID``: keep exactly the cases with these ids (an exact match: 2.1 never selects 2.10)."""
    wanted = [str(w).strip() for w in config.getoption("--rig-tc", None) or []]
    if not wanted:
        return
    known = sorted({i for i in (case_id(item) for item in items) if i is not None})
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise pytest.UsageError(
            f"--tc {', '.join(unknown)}: no such case among the collected suites; cases: {', '.join(known)}"
        )
    keep = [item for item in items if case_id(item) in wanted]
    deselected = [item for item in items if case_id(item) not in wanted]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
    items[:] = keep


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _select_cases(config, items)
    state = config.stash.get(PICS_KEY, None)
    if state is None or not state.given:
        return
    for item in items:
        missing = state.pics.missing(case_pics(item))
        if missing:
            state.skipped[item.nodeid] = missing
            tc = item.get_closest_marker("tc")
            if tc is not None and tc.args:
                state.case_ids[item.nodeid] = str(tc.args[0])
            item.add_marker(pytest.mark.skip(reason=state.skip_reason(missing)))


@pytest.fixture
def pics(request: pytest.FixtureRequest) -> Pics:
    """The DUT's PICS, which decide the optional steps (``steps.pics_guard()``).

    The PICS file when one is given. Without one, the PICS derived from the live DUT (its FeatureMap and element
    lists, read once per session) for a case that uses the DUT; ``Pics.everything()`` for one that does not.
    """
    state: PicsRunState = request.config.stash[PICS_KEY]
    if state.given:
        return state.pics
    if "dut_node" not in request.fixturenames:
        return Pics.everything()
    if state.effective is None:
        state.effective = pics_of(request.getfixturevalue("pics_dut_elements"))
        log.info("PICS: %s", state.effective.describe())
    return state.effective


# -- contradictions with the live DUT ------------------------------------------------------------------------
@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def pics_dut_elements(dut_node: Any) -> DutElements:
    """The DUT's Energy EVSE elements (FeatureMap and the four lists), read once per session."""
    from rig.matter.elements import read_dut_elements

    return await read_dut_elements(dut_node)


@pytest.fixture(autouse=True)
def _pics_vs_dut(request: pytest.FixtureRequest) -> None:
    """For a case that uses the DUT: with a PICS file, compare it with the DUT (once per session); without one,
    skip the case when the PICS derived from the DUT lack a code of its ``pics`` marker.

    A cheap no-op for a case that does not use ``dut_node`` (so the rig's own tests never start a DUT for it).
    """
    state = request.config.stash.get(PICS_KEY, None)
    if state is None or "dut_node" not in request.fixturenames:
        return
    if not state.given:
        derived: Pics = request.getfixturevalue("pics")
        missing = derived.missing(case_pics(request.node))
        if missing:
            item = request.node
            state.skipped[item.nodeid] = missing
            tc = item.get_closest_marker("tc")
            if tc is not None and tc.args:
                state.case_ids[item.nodeid] = str(tc.args[0])
            pytest.skip("not applicable: " + "; ".join(derived.why_not(code) for code in missing))
        return
    if not state.compared:
        state.compared = True
        _compare_with_dut(request, state)


def _compare_with_dut(request: pytest.FixtureRequest, state: PicsRunState) -> None:
    try:
        state.dut = request.getfixturevalue("pics_dut_elements")
    except (AssertionError, RigError) as exc:
        state.error = f"could not read the DUT's Energy EVSE elements to compare with the PICS: {exc}"
        log.warning("PICS: %s", state.error)
        return
    state.contradictions = contradictions(state.pics, state.dut)
    meta = _metadata(request.config)
    if meta is not None and state.contradictions:
        meta["PICS contradictions"] = "; ".join(state.contradictions)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capman = request.config.pluginmanager.get_plugin("capturemanager")
    for text in state.contradictions:
        log.warning("PICS contradiction: %s", text)
        if reporter is not None:  # on the terminal now, not in the case's captured output
            with capman.global_and_fixture_disabled() if capman else contextlib.nullcontext():
                reporter.write_line(f"rig: PICS contradiction: {text}", yellow=True)
    if not state.contradictions:
        log.info("PICS %s agrees with the DUT", state.pics.source)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    state = item.config.stash.get(PICS_KEY, None)
    if state is not None and report.failed and state.contradictions:
        report.sections.append(
            ("rig: the PICS file contradicts the DUT", "\n".join(state.contradictions)),
        )
    return report


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(PICS_KEY, None)
    if state is None:
        return
    if state.skipped:
        terminalreporter.section("PICS: cases not applicable")
        for nodeid, missing in state.skipped.items():
            case = state.case_ids.get(nodeid)
            terminalreporter.write_line(f"{case + ' ' if case else ''}{nodeid}: lacks {', '.join(missing)}")
    if state.contradictions or state.error:
        terminalreporter.section("PICS contradicts the DUT", yellow=True)
        for text in state.contradictions:
            terminalreporter.write_line(text)
        if state.error:
            terminalreporter.write_line(state.error)
    elif state.dut is not None:
        terminalreporter.write_line(f"rig: PICS {state.pics.source} agrees with the DUT")
