"""pytest plugin of the report: the run record (``report.json``), and at session end its outputs; progress lines.

Active when the run has a run folder (``--rig-run-dir``, set by ``rig run``); progress is shown whenever the rig
config is loaded. Everything it needs comes from :mod:`rig.pytest_plugin.state`: the config (``CONFIG_KEY``), the
open session (``SESSION_KEY``, whose ``describe()`` gives the bench, the DUT with its identity and the instruments;
before it opens, :func:`rig.dut.dut_for` describes the DUT as rig.yaml does), the PICS (``PICS_KEY``) and, per case,
the step runner, events, series and attachments.

The record is written at session start and after every case. At session end the plugin closes it and writes, from
the record alone, ``report.html`` (:func:`rig.report.html.render_report`) and ``junit.xml``
(:func:`rig.report.junit.render_junit`) in the run folder: the same bytes ``rig report render RUN --junit`` gives.
pytest's own ``--junitxml`` and pytest-html's ``--html`` must not write those two files (they are switched off, with
a warning, if pointed there). pytest-html may still write a live report under another name: it then shows the same
fragments (first page, each case, plots) through the hooks below.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import warnings
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from rig import PROJECT_ROOT
from rig.errors import RigError
from rig.pytest_plugin.state import (
    ATTACH_KEY,
    CONFIG_KEY,
    EVENTS_KEY,
    PICS_KEY,
    RUNNER_KEY,
    SERIES_KEY,
    SESSION_KEY,
    case_pics,
    run_was_interrupted,
    run_was_stopped_by_loss,
)
from rig.report.outputs import HTML_NAME, JUNIT_NAME
from rig.report.plan import TEST_PLAN, spec_of
from rig.report.progress import Progress
from rig.report.record import RECORD_NAME, RecordWriter, build_label, jsonable, rig_provenance, truncate_log

WRITER_KEY = pytest.StashKey[RecordWriter]()
LIVE_HTML_KEY = pytest.StashKey["LiveHtml"]()
PROGRESS_KEY = pytest.StashKey[Progress]()
_CASE_KEY = pytest.StashKey[dict[str, Any]]()

RUN_ATTACHMENTS = ("virtual-evse.log", "dut.json")
"""Run-level files the record links when they are in the run folder."""
SPEC_XML = PROJECT_ROOT / "spec" / "EnergyEVSE.xml"


class RigReportWarning(UserWarning):
    """A report output could not be written as asked (the run's verdict stands)."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rig", "EVSE conformance rig")
    group.addoption(
        "--rig-progress",
        default="auto",
        choices=("auto", "tty", "plain", "off"),
        help="progress lines (case, step, elapsed): auto = during suite runs (--rig-run-dir), a live "
        "line on a terminal and plain lines otherwise",
    )


# -- the DUT and bench as the record states them ---------------------------------------------------------------
def describe(config: pytest.Config) -> dict[str, Any]:
    """Return ``{"bench", "dut", "instruments"}``: from the open session, else as rig.yaml describes the DUT.

    Raises:
        RigError: rig.yaml's DUT settings do not fit its kind (before the session opens).
    """
    session = config.stash.get(SESSION_KEY, None)
    if session is not None:
        desc = dict(session.describe())
    else:
        from rig.dut import dut_for

        desc = dict(dut_for(config.stash[CONFIG_KEY]).describe())
    if "dut" not in desc:  # a flat DUT description (rig.dut before the session): bench and DUT fields side by side
        desc = {"bench": desc.pop("bench", None), "dut": desc}
    dut = {k: v for k, v in dict(desc.get("dut") or {}).items() if k != "label"}  # label: a header line, not data
    dut.setdefault("defects", [])
    dut.setdefault("identity", None)
    instruments = desc.get("instruments") or {}
    out: dict[str, Any] = jsonable({"bench": desc.get("bench"), "dut": dut, "instruments": instruments})
    return out


# -- session start ------------------------------------------------------------------------------------------------
@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    cfg = config.stash.get(CONFIG_KEY, None)
    if cfg is None:
        return
    mode = config.getoption("--rig-progress")
    run_dir_opt = config.getoption("--rig-run-dir", None)
    if mode in ("tty", "plain") or (mode == "auto" and run_dir_opt):  # auto: suite runs, not the rig's own tests
        progress = Progress(config, mode, runner_of=lambda item: item.stash.get(RUNNER_KEY, None))
        config.stash[PROGRESS_KEY] = progress
        config.pluginmanager.register(progress, "rig-report-progress")
    if not run_dir_opt or hasattr(config, "workerinput"):
        return
    run_dir = Path(run_dir_opt)
    _keep_outputs_ours(config, run_dir)
    try:
        desc = describe(config)
    except RigError as exc:
        raise pytest.UsageError(str(exc)) from None
    header = {
        "run_id": run_dir.name,
        "started": time.time(),
        "ended": None,
        "exit_status": None,
        "title": cfg.report.title,
        "energy_tolerance_pct": cfg.report.energy_tolerance_pct,
        "rig": rig_provenance(PROJECT_ROOT),
        "station": {"name": cfg.station.name, "location": cfg.station.location, "operator": cfg.station.operator},
        "bench": desc["bench"],
        "config": {"path": str(cfg.config_path) if cfg.config_path else None, "sha256": cfg.raw_digest},
        "stimulus": cfg.stimulus,
        "spec": spec_of(SPEC_XML, SPEC_XML.relative_to(PROJECT_ROOT).as_posix()),
        "test_plan": TEST_PLAN,
        "dut": desc["dut"],
        "build": build_label(desc["dut"]["identity"], desc["dut"]["defects"]),
        "pics": None,
        "instruments": desc["instruments"],
        "attachments": [],
    }
    farm = os.environ.get("RIG_FARM_RUN")  # a farm run: its place, exporters, owner, labgrid version (rig.lab.run)
    if farm:
        header["farm"] = json.loads(farm)
    writer = RecordWriter(run_dir / RECORD_NAME, jsonable(header))
    writer.write()
    config.stash[WRITER_KEY] = writer
    _live_html(config)


def _keep_outputs_ours(config: pytest.Config, run_dir: Path) -> None:
    """Switch off pytest's ``--junitxml`` and pytest-html's ``--html`` when they would write our two files."""
    ours = {(run_dir / HTML_NAME).resolve(), (run_dir / JUNIT_NAME).resolve()}

    def aimed_at_ours(option: str) -> bool:
        value = config.getoption(option, None)
        return bool(value) and Path(str(value)).expanduser().resolve() in ours

    if aimed_at_ours("xmlpath"):
        from _pytest.junitxml import xml_key

        xml = config.stash.get(xml_key, None)
        if xml is not None:
            del config.stash[xml_key]
            config.pluginmanager.unregister(xml)
        _warn(
            config,
            f"--junitxml {config.getoption('xmlpath')} ignored: the rig writes {JUNIT_NAME} from "
            f"{RECORD_NAME} at session end",
        )
    if aimed_at_ours("htmlpath"):
        try:
            from pytest_html.basereport import BaseReport
        except ImportError:  # pragma: no cover - pytest-html is a dependency
            return
        for plugin in list(config.pluginmanager.get_plugins()):
            if isinstance(plugin, BaseReport):
                config.pluginmanager.unregister(plugin)
        _warn(
            config,
            f"--html {config.getoption('htmlpath')} ignored: the rig writes {HTML_NAME} from {RECORD_NAME} "
            "at session end (give pytest-html another name, e.g. pytest-html.html)",
        )


def _warn(config: pytest.Config, text: str) -> None:
    config.issue_config_time_warning(RigReportWarning(f"rig: {text}"), stacklevel=2)


def _session_fields(config: pytest.Config, writer: RecordWriter) -> dict[str, Any]:
    """Top-level fields known only once the session is under way (DUT identity, instruments, PICS, run files)."""
    run_dir = writer.path.parent
    fields: dict[str, Any] = {}
    if config.stash.get(SESSION_KEY, None) is not None:
        desc = describe(config)
        fields.update(bench=desc["bench"], dut=desc["dut"], instruments=desc["instruments"])
    dut = fields.get("dut", writer.record["dut"])
    pics = config.stash.get(PICS_KEY, None)
    fields.update(
        pics=jsonable(pics.to_record()) if pics is not None else None,
        build=build_label(dut.get("identity"), dut.get("defects") or []),
        attachments=[{"name": n, "path": n} for n in RUN_ATTACHMENTS if (run_dir / n).is_file()],
    )
    return fields


# -- per case ------------------------------------------------------------------------------------------------
@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    writer = item.config.stash.get(WRITER_KEY, None)
    if writer is None:  # not a suite run (no run folder): nothing to record
        return report
    case = item.stash.get(_CASE_KEY, None)
    if case is None:
        case = _new_case(item)
        item.stash[_CASE_KEY] = case
    _add_phase(case, item, call, report)
    if call.when == "call":
        _add_extras(report, case, item)
    if call.when == "teardown" and not writer.finished:
        _close_case(case, item, writer)
        writer.add_case(case, **_session_fields(item.config, writer))
    return report


def _new_case(item: pytest.Item) -> dict[str, Any]:
    tc = item.get_closest_marker("tc")
    return {
        "id": str(tc.args[0]) if tc and tc.args else item.nodeid,
        "title": str(tc.args[1]) if tc and len(tc.args) > 1 else item.name,
        "nodeid": item.nodeid,
        "pics": case_pics(item),
        "outcome": "passed",
        "started": None,
        "ended": None,
        "duration": 0.0,
        "phases": {},
        "failed_step": None,
        "error": None,
        "steps": [],
        "events": [],
        "series": [],
        "logs": "",
        "logs_truncated": False,
        "attachments": [],
        "_logs": [],
    }


def _add_phase(case: dict[str, Any], item: pytest.Item, call: pytest.CallInfo[None], report: Any) -> None:
    if case["started"] is None:
        case["started"] = call.start
    case["ended"] = call.stop
    case["duration"] = round(case["duration"] + report.duration, 6)
    case["phases"][call.when] = {"start": call.start, "stop": call.stop, "duration": round(report.duration, 6)}
    runner = item.stash.get(RUNNER_KEY, None)
    if report.failed:
        if case["outcome"] in ("passed", "skipped"):
            case["outcome"] = "failed" if call.when == "call" else "error"
        if case["error"] is None:
            if call.when == "call" and runner is not None and runner.error:
                case["error"] = runner.error
            elif call.excinfo is not None:
                case["error"] = call.excinfo.exconly()[:4000]
            else:
                case["error"] = str(report.longreprtext)[-4000:]
    elif report.skipped and case["outcome"] == "passed":
        case["outcome"] = "skipped"
        longrepr = report.longrepr
        case["error"] = str(longrepr[2]) if isinstance(longrepr, tuple) and len(longrepr) == 3 else None
    for title, content in report.sections if call.when == "teardown" else ():  # teardown has every phase's
        if content and (title.startswith("Captured") or title.startswith("rig")):
            case["_logs"].append(f"----- {title} -----\n{content.rstrip()}")
    if runner is not None:
        case["steps"] = runner.to_dicts()
        failed = runner.failed_step
        case["failed_step"] = failed.number if failed else None
    case["events"] = [_event(e) for e in item.stash.get(EVENTS_KEY, [])]
    series: list[dict[str, Any]] = item.stash.get(SERIES_KEY, [])
    case["series"] = list(series)


def _event(event: Any) -> dict[str, Any]:
    return {
        "name": getattr(event, "name", str(event)),
        "data": jsonable(getattr(event, "data", None)),
        "endpoint": getattr(event, "endpoint", None),
        "event_number": getattr(event, "event_number", None),
        "priority": jsonable(getattr(event, "priority", None)),
        "received_at": getattr(event, "received_at", None),
        "summary": event.summary() if hasattr(event, "summary") else str(event),
    }


def _close_case(case: dict[str, Any], item: pytest.Item, writer: RecordWriter) -> None:
    logs, cut = truncate_log("\n".join(case.pop("_logs")))
    case["logs"], case["logs_truncated"] = logs, cut
    run_dir = writer.path.parent
    for att in item.stash.get(ATTACH_KEY, []):
        src = Path(att["source"])
        try:
            rel = src.relative_to(run_dir.resolve())
        except ValueError:
            safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in case["id"])
            dest = run_dir / "attachments" / safe / src.name
            try:
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest)
            except OSError as exc:
                case["attachments"].append({"name": att["name"], "path": None, "error": str(exc)})
                continue
            rel = dest.relative_to(run_dir)
        case["attachments"].append({"name": att["name"], "path": rel.as_posix()})


def _add_extras(report: Any, case: dict[str, Any], item: pytest.Item) -> None:
    """pytest-html's live report (if one is written): the case's section and plots, the same fragments."""
    if LIVE_HTML_KEY not in item.config.stash:
        return
    from pytest_html import extras as html_extras

    from rig.report.html import case_charts, case_html, chart_html

    index = len(item.config.stash[WRITER_KEY].record["cases"])
    fragment = case_html(jsonable(case), index, annexes=False)
    fragment += "".join(chart_html(c) for c in case_charts(case, index))
    extras = getattr(report, "extras", [])
    extras.append(html_extras.html(f'<div class="rig">{fragment}</div>'))  # the report's styles are scoped to .rig
    report.extras = extras


# -- session end ---------------------------------------------------------------------------------------------------
@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    writer = session.config.stash.get(WRITER_KEY, None)
    if writer is None or writer.finished:
        return
    code = int(exitstatus)
    interrupted = run_was_interrupted(session)  # its exit status may not be set yet (hook order)
    if run_was_stopped_by_loss(session):  # pytest says INTERRUPTED for any stop; this one failed a case
        code = int(pytest.ExitCode.TESTS_FAILED)
    status = "finished" if code in (0, 1, 5) and not interrupted else "interrupted"
    if interrupted:
        code = int(pytest.ExitCode.INTERRUPTED)
    writer.finish(status, code, time.time(), **_session_fields(session.config, writer))
    write_outputs(writer.path.parent)


def write_outputs(run_dir: Path) -> list[Path]:
    """Write ``report.html`` and ``junit.xml`` in ``run_dir`` from its ``report.json`` (as ``rig report render``).

    Rendered from the file, not from memory, so the bytes are those a later render of the record gives. A failure
    is a warning: the record stands, and ``rig run`` (or ``rig report render``) makes them afterwards.
    """
    from rig.report.outputs import write_outputs as write

    try:
        return write(run_dir)
    except (RigError, OSError) as exc:
        warnings.warn(RigReportWarning(f"rig: could not write the reports of {run_dir}: {exc}"), stacklevel=1)
        return []


# -- pytest-html's live report: the same fragments -------------------------------------------------------------------
class LiveHtml:
    """pytest-html's hooks, registered only when pytest-html writes a report: the same fragments as ``report.html``.

    Its title is rig.yaml ``report.title``; the first page (verdict, DUT, station, PICS, counts, signatures) opens its
    summary; each case's row carries the case's section and plots (see :func:`_add_extras`). The DUT's strings are
    only in those fragments (escaped), never in pytest-metadata's environment table (which is escaped all the same,
    see :func:`pytest_sessionstart`).
    """

    def __init__(self, config: pytest.Config) -> None:
        self._config = config

    def pytest_html_report_title(self, report: Any) -> None:
        report.title = self._config.stash[CONFIG_KEY].report.title

    def pytest_html_results_summary(
        self, prefix: list[str], summary: list[str], postfix: list[str], session: pytest.Session
    ) -> None:
        from rig.report.html import first_page_html, style_html

        writer = self._config.stash.get(WRITER_KEY, None)
        if writer is None:
            return
        record = {**writer.record, **_session_fields(self._config, writer)}
        prefix.append(f'{style_html()}<div class="rig">{first_page_html(jsonable(record))}</div>')


def _escaped(value: Any) -> Any:
    from html import escape

    from rig.report.text import clean

    if isinstance(value, dict):
        return {escape(clean(str(k))): _escaped(v) for k, v in value.items()}
    return escape(clean(str(value))) if value is not None else value


class HtmlSafeMetadata(dict[str, Any]):
    """pytest-metadata's values as pytest-html's page inserts them (as HTML): escaped whenever one is set.

    pytest-html keeps a reference to this dict from session start and serialises it when it writes the page, so a
    value set later (by the rig, a conftest or the ``metadata`` fixture, perhaps quoting the DUT) is escaped too.
    """

    def __init__(self, items: dict[str, Any]) -> None:
        super().__init__()
        self.update(items)

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, _escaped(value))

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def __ior__(self, other: Any) -> HtmlSafeMetadata:  # type: ignore[override,misc]
        self.update(other)
        return self


def _pytest_html(config: pytest.Config) -> Any:
    """pytest-html's report plugin when it writes a report in this run, else None."""
    try:
        from pytest_html.basereport import BaseReport
    except ImportError:  # pragma: no cover - pytest-html is a dependency
        return None
    return next((p for p in config.pluginmanager.get_plugins() if isinstance(p, BaseReport)), None)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """When pytest-html writes a report: escape pytest-metadata's values before it reads them, and give its page a CSP.

    Before pytest-html's own session start (which takes the metadata dict): the dict becomes a
    :class:`HtmlSafeMetadata`, the values already there are escaped and those set later will be.
    """
    config = session.config
    plugin = _pytest_html(config)
    if plugin is None or hasattr(config, "workerinput"):
        return
    try:
        from pytest_metadata.plugin import metadata_key
    except ImportError:  # pragma: no cover - a dependency of pytest-html
        metadata_key = None
    if metadata_key is not None and metadata_key in config.stash:
        config.stash[metadata_key] = HtmlSafeMetadata(config.stash[metadata_key])
    path = getattr(plugin, "_report_path", None)
    if isinstance(path, Path):
        config.pluginmanager.register(
            LiveHtmlCsp(path, on_test=bool(config.getini("generate_report_on_test"))), "rig-live-html-csp"
        )


class LiveHtmlCsp:
    """Adds a Content-Security-Policy to pytest-html's page each time it writes it (see ``with_live_csp``)."""

    def __init__(self, path: Path, *, on_test: bool) -> None:
        self._path = path
        self._on_test = on_test

    def _add(self) -> None:
        from rig.report.html import with_live_csp
        from rig.report.record import write_atomic

        try:
            page = self._path.read_text(encoding="utf-8")
            safe = with_live_csp(page)
            if safe != page:
                write_atomic(self._path, safe)
        except OSError as exc:
            warnings.warn(RigReportWarning(f"rig: no CSP in {self._path}: {exc}"), stacklevel=1)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> Generator[None, None, None]:
        try:
            return (yield)
        finally:
            if self._on_test:
                self._add()

    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> Generator[None, None, None]:
        try:
            return (yield)
        finally:
            self._add()


def _live_html(config: pytest.Config) -> None:
    """Register :class:`LiveHtml` when pytest-html writes a report in this run."""
    try:
        from pytest_html.basereport import BaseReport
    except ImportError:  # pragma: no cover - pytest-html is a dependency
        return
    if any(isinstance(p, BaseReport) for p in config.pluginmanager.get_plugins()):
        config.stash[LIVE_HTML_KEY] = LiveHtml(config)
        config.pluginmanager.register(config.stash[LIVE_HTML_KEY], "rig-live-html")
