"""HTML and JUnit from the record: pure functions of it; the live pytest-html report carries our sections."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from pathlib import Path

from rig.report.html import render_report
from rig.report.junit import render_junit
from rig.report.record import dumps_record, load_record, write_atomic
from rig.report.svg import charts
from rig.report.synthetic import make_record
from tests.report.conftest import rig


def test_render_is_a_pure_function_of_the_record() -> None:
    rec = make_record(20, fail=frozenset({3}))
    snapshot = copy.deepcopy(rec)
    first = render_report(rec)
    assert rec == snapshot, "rendering does not touch the record"
    assert render_report(json.loads(json.dumps(rec))) == first, "same record, same bytes"
    assert render_junit(rec) == render_junit(snapshot)


def test_rendered_page_has_the_certification_sections() -> None:
    rec = make_record(3, fail=frozenset({1}))
    rec["instruments"] = {
        "ac_source": {"driver": "chroma_61500", "address": "TCPIP::10.0.0.5::INSTR", "identity": "Chroma,61512,123,1.0"}
    }
    rec["pics"] = {"given": True, "path": "/pics/evse.txt", "origin": "file",
                   "items": {"EEVSE.S": True, "EEVSE.S.A0007": False},
                   "not_applicable": [{"case": "TC-EEVSE-2.10", "nodeid": "x", "lacks": ["EEVSE.S.F04"]}],
                   "contradictions": ["PICS says EEVSE.S.F04=0 but the DUT's FeatureMap has V2X (bit 4)"]}
    page = render_report(rec)
    for text in (
        "Gen EVSE",
        "VID 0xFFF1",
        "1.0.0 (1)",
        "GEN-1",
        "gen-bench",
        "Stimulus",
        "trigger",
        "chroma_61500",
        "TCPIP::10.0.0.5::INSTR",
        "/pics/evse.txt: 1 of 2 items supported",
        "not applicable: TC-EEVSE-2.10 lacks EEVSE.S.F04",
        "the PICS contradict the DUT",
        "PICS says EEVSE.S.F04=0 but the DUT&#x27;s FeatureMap has V2X (bit 4)",
        '<span class="badge b-passed">2 passed</span>',
        '<span class="badge b-failed">1 failed</span>',
        "TC-GEN-00001",
        "Failed at step 4",
        "MaximumChargeCurrent",
        "6000 ≤ x ≤ 32000",
        "EVConnected",
        "Pilot state and PWM duty over time",
        "<svg",
    ):
        assert text in page, text
    assert page.count('<details class="case"') == 3
    assert "<script" not in page, "the page needs no script"


def test_markup_in_record_values_is_escaped() -> None:
    rec = make_record(1)
    rec["cases"][0]["title"] = "<script>alert(1)</script>"
    rec["cases"][0]["steps"][0]["notes"] = ['<img src=x onerror="alert(2)">']
    page = render_report(rec)
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_series_of_any_name_are_plotted_grouped_by_plot() -> None:
    series = [
        {"name": "EVSE current", "unit": "A", "plot": "current", "step": False, "points": [[0, 6.0], [1, 15.9]]},
        {"name": "Advertised limit", "unit": "A", "plot": "current", "step": True, "points": [[0, 16], [1, 16]]},
        {"name": "Temperature", "unit": "°C", "plot": "Temperature", "step": False, "points": [[0, 40], [5, 41]]},
        {"name": "Empty", "unit": "", "plot": "Empty", "step": False, "points": []},
    ]
    svgs = charts(series)
    assert len(svgs) == 2
    assert "EVSE current against the advertised limit" in svgs[0] and svgs[0].count("<polyline") == 2
    assert "Temperature" in svgs[1]
    ET.fromstring(svgs[0])  # well-formed SVG


def test_junit_from_the_record_names_cases_by_tc_id() -> None:
    rec = make_record(3, fail=frozenset({2}))
    rec["cases"][1]["outcome"] = "skipped"
    root = ET.fromstring(render_junit(rec).split("\n", 1)[1])
    suite = root.find("testsuite")
    assert suite is not None and suite.get("tests") == "3" and suite.get("failures") == "1"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert list(cases) == ["TC-GEN-00000", "TC-GEN-00001", "TC-GEN-00002"]
    failure = cases["TC-GEN-00002"].find("failure")
    assert failure is not None and failure.get("message", "").startswith("step 4: AssertionError")
    assert cases["TC-GEN-00001"].find("skipped") is not None


def test_rig_report_render_rebuilds_html_and_junit(tmp_path: Path) -> None:
    run = tmp_path / "20260101-000000-abcdef"
    write_atomic(run / "report.json", dumps_record(make_record(5)))
    proc = rig("report", "render", str(run), "--junit")
    assert proc.returncode == 0, proc.stderr
    assert "TC-GEN-00004" in (run / "report.html").read_text()
    assert ET.parse(run / "junit.xml").getroot().tag == "testsuites"
    out = tmp_path / "elsewhere.html"
    assert rig("report", "render", str(run / "report.json"), "-o", str(out)).returncode == 0
    assert out.read_text() == (run / "report.html").read_text()


def test_render_of_bad_input_fails_clearly_and_writes_nothing(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "report.json").write_text('{"kind": "rig-run-record", "cases": [{"id": "TC-1"')
    (run / "report.html").write_text("previous")
    proc = rig("report", "render", str(run))
    assert proc.returncode == 2 and "not valid JSON" in proc.stderr and "Traceback" not in proc.stderr
    assert (run / "report.html").read_text() == "previous"
    proc = rig("report", "render", "no-such-run-id", "-c", "rig.yaml")
    assert proc.returncode == 2 and "no such run" in proc.stderr


def test_live_pytest_html_report_has_our_sections_and_progress_lines(demo_run) -> None:
    proc, run_dir = demo_run("--rig-progress", "plain")
    html = (run_dir / "report.html").read_text()
    assert "Build under test" in html and "Instruments" in html, "our header in pytest-html's summary"
    assert "Failing step" in html and "TC-DEMO-1.3" in html, "our case list"
    # pytest-html keeps per-test extras in an escaped JSON blob
    assert "Measurements&lt;/h3&gt;" in html and "6000 \\u2264 x \\u2264 32000" in html, "measurements with limits"
    assert "Pilot state and PWM duty over time" in html, "plots"
    out = proc.stdout
    assert "[rig] (1/4) TC-DEMO-1.1  A passing case" in out
    assert "[rig]   TC-DEMO-1.1 step 3  TH reads MaximumChargeCurrent  +" in out
    assert "[rig] (2/4) TC-DEMO-1.2 FAILED in" in out
    assert "\r" not in out, "plain lines when not on a terminal"
    names = [c.get("name") for c in ET.parse(run_dir / "junit.xml").iter("testcase")]
    assert names == ["TC-DEMO-1.1", "TC-DEMO-1.2", "TC-DEMO-1.3", "TC-DEMO-1.4"]
    rec = load_record(run_dir / "report.json")
    assert render_report(rec) == render_report(load_record(run_dir / "report.json"))


def test_progress_on_a_terminal_rewrites_one_live_line(demo_run) -> None:
    proc, _ = demo_run("--rig-progress", "tty")
    out = proc.stdout
    # (text mode turned the carriage returns into newlines)
    assert "\x1b[K[rig]   TC-DEMO-1.1 step 2  TH reads State  +" in out, "the step line is rewritten in place"
    assert "[rig] (1/4) TC-DEMO-1.1 PASSED in" in out
