"""pytest plugin of the report: the run record (``report.json``), our pytest-html sections, progress lines.

Registered from the root ``conftest.py`` after ``rig.pytest_plugin.fixtures`` (whose stash keys it reads). Active when the run
has a run folder (``--rig-run-dir``, set by ``rig run``); progress is shown whenever the rig config is loaded.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from rig import PROJECT_ROOT
from rig.pytest_plugin.fixtures import (
    CONFIG_KEY,
    EVENTS_KEY,
    IDENTITY_KEY,
    INSTRUMENTS_KEY,
    RUN_ID_KEY,
    RUNNER_KEY,
    run_was_interrupted,
)
from rig.report.progress import Progress
from rig.report.record import (
    RECORD_NAME,
    RecordWriter,
    build_label,
    jsonable,
    rig_provenance,
    truncate_log,
)

SERIES_KEY = pytest.StashKey[list[dict[str, Any]]]()
ATTACH_KEY = pytest.StashKey[list[dict[str, str]]]()
WRITER_KEY = pytest.StashKey[RecordWriter]()
PROGRESS_KEY = pytest.StashKey[Progress]()
_CASE_KEY = pytest.StashKey[dict[str, Any]]()


RUN_ATTACHMENTS = ("virtual-evse.log", "dut.json")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rig", "EVSE conformance rig")
    group.addoption(
        "--rig-progress",
        default="auto",
        choices=("auto", "tty", "plain", "off"),
        help="progress lines (case, step, elapsed): auto = during suite runs (--rig-run-dir), a live "
        "line on a terminal and plain lines otherwise",
    )


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    cfg = config.stash.get(CONFIG_KEY, None)
    if cfg is None:
        return
    mode = config.getoption("--rig-progress")
    run_dir_opt = config.getoption("--rig-run-dir", None)
    if mode in ("tty", "plain") or (mode == "auto" and run_dir_opt):  # auto: suite runs, not the rig's own tests
        progress = Progress(config, mode)
        config.stash[PROGRESS_KEY] = progress
        config.pluginmanager.register(progress, "rig-report-progress")
    if not run_dir_opt or hasattr(config, "workerinput"):
        return
    run_dir = Path(run_dir_opt)
    run_id = config.stash.get(RUN_ID_KEY, None) or run_dir.name
    defects = list(cfg.virtual_evse.defects) if cfg.is_virtual else []
    header = {
        "run_id": run_id,
        "started": time.time(),
        "ended": None,
        "exit_status": None,
        "title": cfg.report.title,
        "rig": rig_provenance(PROJECT_ROOT),
        "station": {"name": cfg.station.name, "location": cfg.station.location, "operator": cfg.station.operator},
        "bench": "virtual" if cfg.is_virtual else "real",
        "config": {"path": str(cfg.config_path) if cfg.config_path else None, "sha256": cfg.raw_digest},
        "stimulus": cfg.stimulus,
        "dut": {
            "kind": cfg.dut.kind,
            "node_id": cfg.dut.node_id,
            "endpoint": cfg.dut.endpoint,
            "defects": defects,
            "identity": None,
        },
        "build": build_label(None, defects),
        "pics": None,
        "instruments": {},
        "attachments": [],
    }
    writer = RecordWriter(run_dir / RECORD_NAME, jsonable(header))
    writer.write()
    config.stash[WRITER_KEY] = writer


def _session_fields(config: pytest.Config, run_dir: Path) -> dict[str, Any]:
    """Top-level fields known only once the session is under way (DUT identity, instruments, run files)."""
    writer = config.stash[WRITER_KEY]
    identity = config.stash.get(IDENTITY_KEY, None)
    dut = dict(writer.record["dut"])
    if identity is not None:
        dut["identity"] = jsonable(identity)
    from rig.pytest_plugin.collection import PICS_KEY

    pics = config.stash.get(PICS_KEY, None)
    return {
        "dut": dut,
        "pics": pics.to_record() if pics is not None else None,
        "build": build_label(dut["identity"], dut["defects"]),
        "instruments": jsonable(config.stash.get(INSTRUMENTS_KEY, {})),
        "attachments": [{"name": n, "path": n} for n in RUN_ATTACHMENTS if (run_dir / n).is_file()],
    }


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
        writer.add_case(case, **_session_fields(item.config, writer.path.parent))
    return report


def _new_case(item: pytest.Item) -> dict[str, Any]:
    from rig.pytest_plugin.collection import case_pics

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
    if report.failed:
        if case["outcome"] in ("passed", "skipped"):
            case["outcome"] = "failed" if call.when == "call" else "error"
        if case["error"] is None:
            runner = item.stash.get(RUNNER_KEY, None)
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
    runner = item.stash.get(RUNNER_KEY, None)
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
    """Measurement tables and plots in the pytest-html report (the step table comes from rig.pytest_plugin.fixtures)."""
    try:
        from pytest_html import extras as html_extras
    except ImportError:  # pragma: no cover
        return
    from rig.report.html import case_measurements_html, case_plots_html

    fragment = case_measurements_html(case) + case_plots_html(case)
    if fragment:
        extras = getattr(report, "extras", [])
        extras.append(html_extras.html(fragment))
        report.extras = extras


# -- session -----------------------------------------------------------------------------------------------------
@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    writer = session.config.stash.get(WRITER_KEY, None)
    if writer is None or writer.finished:
        return
    code = int(exitstatus)
    interrupted = run_was_interrupted(session)  # its exit status may not be set yet (hook order)
    status = "finished" if code in (0, 1, 5) and not interrupted else "interrupted"
    if interrupted:
        code = int(pytest.ExitCode.INTERRUPTED)
    writer.finish(status, code, time.time(), **_session_fields(session.config, writer.path.parent))


def pytest_html_results_summary(prefix: list[str], summary: list[str], postfix: list[str], session: Any) -> None:
    writer = session.config.stash.get(WRITER_KEY, None)
    if writer is None:
        return
    from rig.report.html import case_list_html, header_html, style_html

    record = {**writer.record, **_session_fields(session.config, writer.path.parent)}
    prefix.append(style_html() + header_html(record))
    postfix.append(case_list_html(record, link=False))
