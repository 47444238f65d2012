"""HTML and JUnit from the record: pure functions of it, byte-identical on every render, safe with hostile strings;
the run folder's report.html and junit.xml are written only from report.json."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from rig.report.html import (
    CSP,
    case_html,
    chart_html,
    first_page_html,
    measurements_table_html,
    render_report,
    steps_table_html,
)
from rig.report.junit import render_junit
from rig.report.plots import charts
from rig.report.record import dumps_record, load_record, write_atomic
from rig.report.synthetic import make_record
from rig.report.text import safe_href
from tests.report.conftest import rig

HOSTILE = "<script>alert(1)</script>\x00\x07\x1b[31m\ud800\x7f\x85\ufffe\"'&"
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
ISO = re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\b")


def _plan_record(n: int = 6, **kw: Any) -> dict[str, Any]:
    """A record whose cases carry test-plan ids: TC-EEVSE-2.x, TC-EEVSE-SPEC-*, HIL-*."""
    rec = make_record(n, series_every=3, **kw)
    ids = ["TC-EEVSE-2.2", "HIL-PWM", "TC-EEVSE-SPEC-A0000", "TC-EEVSE-2.4", "HIL-ENERGY", "TC-EEVSE-SPEC-C01"]
    for case, cid in zip(rec["cases"], ids, strict=False):
        case["id"] = cid
    return rec


def _hostile_record() -> dict[str, Any]:
    rec = _plan_record(3, fail=frozenset({1}))
    ident = rec["dut"]["identity"]
    for key in ("VendorName", "ProductName", "SerialNumber", "SoftwareVersionString", "HardwareVersionString"):
        ident[key] = f"{key} {HOSTILE}"
    rec["dut"]["attestation"] = f"PAA {HOSTILE}"
    rec["station"]["operator"] = f"op {HOSTILE}"
    case = rec["cases"][1]
    case["title"] = f"title {HOSTILE}"
    case["id"] = f"TC-EEVSE-9.9 {HOSTILE}"
    case["outcome"] = f"failed {HOSTILE}"  # not a known outcome: shown escaped, counted as an error in JUnit
    case["error"] = f"AssertionError: {HOSTILE}"
    case["logs"] = f"log {HOSTILE}"
    step = case["steps"][0]
    step["description"] = f"step {HOSTILE}"
    step["expectation"] = f"expected {HOSTILE}"
    step["outcome"] = f"passed {HOSTILE}"
    step["notes"] = [f"note {HOSTILE}"]
    m = case["steps"][2]["measurements"][0]
    m["name"], m["verdict"], m["unit"] = f"m {HOSTILE}", f"pass {HOSTILE}", f"mA {HOSTILE}"
    case["events"][0]["summary"] = f"EVConnected {HOSTILE}"
    case["attachments"] = [
        {"name": f"capture {HOSTILE}", "path": "javascript:alert(document.cookie)"},
        {"name": "scope.csv", "path": "attachments/TC/scope capture.csv"},
        {"name": "outside", "path": "../../etc/passwd"},
    ]
    case["series"].append(
        {
            "name": f"s {HOSTILE}",
            "unit": HOSTILE,
            "plot": f"p {HOSTILE}",
            "step": True,
            "points": [[0, f"A {HOSTILE}"], [1, "B"]],
        }
    )
    rec["attachments"] = [{"name": "log", "path": "JaVaScRiPt:alert(2)"}]
    rec["pics"] = {
        "given": True,
        "path": f"/pics/{HOSTILE}",
        "origin": "file",
        "items": {f"X.{HOSTILE}": True},
        "contradictions": [f"PICS says {HOSTILE}"],
        "warnings": [],
        "not_applicable": [],
    }
    return rec


class _Tags(HTMLParser):
    """Collects the start tags and attributes of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(page)
    return parser.tags


# -- a pure function of the record ------------------------------------------------------------------------------
def test_render_twice_from_the_same_record_is_byte_identical(tmp_path: Path) -> None:
    rec = _plan_record(12, fail=frozenset({3}))
    snapshot = copy.deepcopy(rec)
    first = render_report(rec)
    assert rec == snapshot, "rendering does not touch the record"
    assert render_report(json.loads(json.dumps(rec))) == first, "same record, same bytes"
    render_report(make_record(4, series_every=1))  # other charts in between change nothing
    assert render_report(rec) == first
    assert render_junit(rec) == render_junit(snapshot)
    # and in another process (matplotlib's SVG ids are salted per chart, not per process)
    run = tmp_path / "20260101-000000-twice1"
    write_atomic(run / "report.json", dumps_record(rec))
    assert rig("report", "render", str(run)).returncode == 0
    assert (run / "report.html").read_text(encoding="utf-8") == first
    assert (run / "junit.xml").read_text(encoding="utf-8") == render_junit(load_record(run))


def test_first_page_has_what_a_lab_signs() -> None:
    rec = _plan_record(6, fail=frozenset({1}))
    rec["dut"]["attestation"] = "verified against the PAA trust store /etc/paa (DAC chain valid)"
    rec["instruments"] = {
        "ac_source": {"driver": "chroma_61500", "address": "TCPIP::10.0.0.5::INSTR", "identity": "Chroma,61512,123,1.0"}
    }
    rec["pics"] = {
        "given": True,
        "path": "/pics/evse.txt",
        "origin": "file",
        "items": {"EEVSE.S": True, "EEVSE.S.A0007": False},
        "not_applicable": [{"case": "TC-EEVSE-2.10", "nodeid": "x", "lacks": ["EEVSE.S.F04"]}],
        "contradictions": ["PICS says EEVSE.S.F04=0 but the DUT's FeatureMap has V2X (bit 4)"],
    }
    page = render_report(rec)
    first = page[: page.index('<section id="results">')]
    for text in (
        '<span class="verdict FAIL">FAIL</span>',
        "Gen (VID 0xFFF1)",
        "Gen EVSE (PID 0x8000)",
        "<th>Serial number</th><td>GEN-1</td>",
        "<th>Hardware version</th><td>1 (1)</td>",
        "<th>Software version</th><td>1.0.0 (1)</td>",
        "verified against the PAA trust store",
        "<th>Station</th><td>gen-bench</td>",
        "<th>Operator</th><td>A. Tester</td>",
        "Energy EVSE cluster 0x0099, revision 3 (spec/EnergyEVSE.xml)",
        "Matter Energy EVSE cluster test plan",
        "/pics/evse.txt: 1 of 2 items supported (file); 1 case(s) not applicable",
        "Warning: the PICS contradict the DUT:",
        "PICS says EEVSE.S.F04=0 but the DUT&#39;s FeatureMap has V2X (bit 4)",
        "chroma_61500",
        "TCPIP::10.0.0.5::INSTR",
        "<th>Started (UTC)</th><td>2026-01-01T00:00:00.000Z</td>",
        "<h2>Signatures</h2>",
        "<th>Tested by</th><td>A. Tester</td>",
        "Reviewed by",
        "Approved by",
        "±2 % of the bench meter",
    ):
        assert text in first, text
    counts = re.search(r"<tr><td>All cases</td>(.*?)</tr>", first)
    assert counts is not None and re.findall(r">(\d+)<", counts.group(1)) == ["5", "1", "0", "0", "6"]
    assert first.count("Gen EVSE") == 1 and page.count("Gen EVSE") == 1, "the DUT summary appears once"
    assert first.count("GEN-1") == 1 and page.count("GEN-1") == 1
    assert "<title>EVSE conformance report — 20260101-000000-aaaaaa</title>" in page
    assert "<li>not applicable: TC-EEVSE-2.10 lacks EEVSE.S.F04</li>" in page, "Annex D"


def test_report_title_comes_from_the_record() -> None:
    rec = make_record(1)
    rec["title"] = "Lab 2 — EVSE certification <pre-test>"
    page = render_report(rec)
    assert "<h1>Lab 2 — EVSE certification &lt;pre-test&gt;</h1>" in page
    assert "<title>Lab 2 — EVSE certification &lt;pre-test&gt; — " in page


def test_cases_are_grouped_as_the_test_plan_groups_them_and_annexes_come_last() -> None:
    rec = _plan_record(6, fail=frozenset({3}))
    rec["cases"][0]["logs"] = "hello from the log"
    rec["cases"][4]["attachments"] = [{"name": "scope.csv", "path": "attachments/HIL-ENERGY/scope.csv"}]
    rec["attachments"] = [{"name": "virtual-evse.log", "path": "virtual-evse.log"}]
    page = render_report(rec)
    order = [
        page.index(h)
        for h in (
            '<section class="first-page"',
            'id="group-plan">Test plan cases (TC-EEVSE-*): 2 case(s)',
            'id="group-spec">Spec conformance items (TC-EEVSE-SPEC-*): 2 case(s)',
            'id="group-hil">Hardware-in-the-loop cases (HIL-*): 2 case(s)',
            'id="annex-plots">Annex A — Plots',
            'id="annex-logs">Annex B — Captured output',
            'id="annex-files">Annex C — Captures and files',
            'id="annex-pics">Annex D — PICS',
        )
    ]
    assert order == sorted(order)
    plan = page[order[1] : order[2]]
    assert "TC-EEVSE-2.2" in plan and "TC-EEVSE-2.4" in plan and "HIL-" not in plan
    assert '<details class="case" id="case-3" open>' in page, "a failed case is open"
    assert page.count('<details class="case"') == 6
    annex_a = page[order[4] : order[5]]
    assert annex_a.count("<svg") == 2 and "Pilot state and PWM duty over time" in annex_a
    assert 'href="#plots-0"' in page and 'id="plots-0"' in page and 'id="plots-3"' in page
    assert 'id="logs-0"' in page and "hello from the log" in page[order[5] : order[6]]
    assert '<a href="attachments/HIL-ENERGY/scope.csv">scope.csv</a>' in page[order[6] : order[7]]
    assert '<a href="virtual-evse.log">virtual-evse.log</a>' in page
    assert page.index("hello from the log") > order[4], "logs only in the annex"
    ids = re.findall(r' id="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "element ids are unique in the page (charts included)"


def test_steps_measurements_events_and_times_are_shown_in_iso_utc() -> None:
    rec = _plan_record(2, fail=frozenset({0}))
    page = render_report(rec)
    for text in (
        "Failed at step 4:",
        "<td>TH reads attribute 3 from the DUT</td>",
        "MaximumChargeCurrent",
        "6000 ≤ x ≤ 32000",
        "x = 3",
        "2026-01-01T00:00:00.010Z EVConnected(sessionID=0)",
        '<td class="t">2026-01-01T00:00:00.150Z, 0.050 s</td>',
        "Started / ended (UTC)</th><td>2026-01-01T00:00:00.000Z / 2026-01-01T00:00:00.400Z",
        "Time axis in seconds from 2026-01-01T00:00:00.000Z.",
        '<td class="oc">failed: AssertionError: State = 1, expected 3</td>',
        "<td>value 2; MaximumChargeCurrent = ",
    ):
        assert text in page, text
    times = ISO.findall(page)
    assert len(times) > 20
    assert not re.search(r"\d\d:\d\d:\d\d(?!\.\d{3}Z)", page.replace("sha256", "")), "every time is ISO UTC with Z"
    assert " UTC<" not in page and "GMT" not in page


def test_page_has_a_csp_that_forbids_script_and_no_script() -> None:
    page = render_report(_plan_record(6))
    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in page
    assert "script-src 'none'" in CSP and "default-src 'none'" in CSP
    assert not any(tag == "script" for tag, _ in _tags(page))
    assert not any(k.startswith("on") for _, attrs in _tags(page) for k in attrs), "no event handler attributes"


def test_hostile_strings_are_escaped_in_html_and_junit_stays_valid() -> None:
    rec = _hostile_record()
    page = render_report(rec)
    assert "<script" not in page.lower() and "alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert not CONTROL.search(page), "no control character or lone surrogate reaches the page"
    assert "\\x07" in page and "\\x00" in page and "\\ud800" in page, "shown as escapes"
    page.encode("utf-8")  # encodable (no lone surrogates)
    for tag, attrs in _tags(page):
        href = attrs.get("href")
        if href is not None:
            assert href.startswith(("#", "attachments/", "data:,", "virtual-evse.log")), href
        assert not any(k.startswith("on") for k in attrs), (tag, attrs)
        assert attrs.get("class", "") is None or "<" not in (attrs.get("class") or "")
    assert 'href="attachments/TC/scope%20capture.csv"' in page
    assert "javascript:" not in page.lower().replace("javascript:alert(document.cookie)", "")
    assert 'class="o-unknown"' in page and 'class="v-unknown"' in page and 'class="s-unknown"' in page
    # every fragment function escapes the same way
    case = rec["cases"][1]
    for fragment in (
        first_page_html(rec),
        case_html(case, 1),
        steps_table_html(case),
        measurements_table_html(case),
        *(chart_html(c) for c in charts(case["series"], "x")),
    ):
        assert "<script" not in fragment.lower() and not CONTROL.search(fragment)
    text = render_junit(rec)
    assert not CONTROL.search(text)
    root = ET.fromstring(text.encode("utf-8"))  # expat refuses control characters: the XML is valid
    suite = root.find("testsuite")
    assert suite is not None and suite.get("errors") == "1", "the unknown outcome is an error"
    names = [c.get("name") for c in suite.iter("testcase")]
    assert names[1] is not None and names[1].startswith("TC-EEVSE-9.9 <script>alert(1)</script>\\x00\\x07")
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["dut.vendor"] is not None and "<script>" in props["dut.vendor"] and "\\x07" in props["dut.vendor"]


def test_safe_links_only() -> None:
    assert safe_href("attachments/TC-1/cap file.txt") == "attachments/TC-1/cap%20file.txt"
    assert safe_href("https://lab.example/runs/1") == "https://lab.example/runs/1"
    for bad in (
        "javascript:alert(1)",
        " javascript:x",
        "JAVASCRIPT:x",
        "data:text/html,x",
        "vbscript:x",
        "/etc/passwd",
        "../up",
        "a/../../up",
        "//host/x",
        "http:///nohost",
        "a\\b",
        "x\x07",
        "",
        None,
        3,
    ):
        assert safe_href(bad) is None, bad


def test_series_of_any_name_are_plotted_with_matplotlib_grouped_by_plot() -> None:
    series = [
        {"name": "EVSE current", "unit": "A", "plot": "current", "step": False, "points": [[0, 6.0], [1, 15.9]]},
        {"name": "Advertised limit", "unit": "A", "plot": "current", "step": True, "points": [[0, 16], [1, 16]]},
        {"name": "Temperature", "unit": "°C", "plot": "Temperature", "step": False, "points": [[0, 40], [5, 41]]},
        {"name": "Empty", "unit": "", "plot": "Empty", "step": False, "points": []},
        {"name": "Pilot", "unit": "", "plot": "current", "step": True, "points": [[0, "A"], [1, "C"]]},
        {"name": "Duty", "unit": "%", "plot": "current", "step": True, "points": [[0, 100], [1, 26.7]]},
    ]
    made = charts(series, "t")
    assert [c.title for c in made] == [
        "EVSE current against the advertised limit",
        "EVSE current against the advertised limit (continued)",
        "Temperature",
    ]
    assert [(ln.name, ln.axis) for ln in made[0].lines] == [
        ("EVSE current", "left"),
        ("Advertised limit", "left"),
        ("Pilot", "right"),
    ]
    for c in made:
        root = ET.fromstring(c.svg)  # well-formed SVG, from matplotlib
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert "<?xml" not in c.svg and "<metadata>" not in c.svg and "Matplotlib" not in c.svg
    assert charts(series, "t") == made, "deterministic"
    assert charts(series, "u")[0].svg != made[0].svg, "the salt makes the ids unique in a page"


def test_junit_from_the_record_names_cases_by_tc_id_with_run_properties() -> None:
    rec = _plan_record(3, fail=frozenset({2}))
    rec["cases"][1]["outcome"] = "skipped"
    rec["dut"]["attestation"] = "DAC chain verified against the test PAA"
    text = render_junit(rec)
    assert text == render_junit(json.loads(json.dumps(rec)))
    root = ET.fromstring(text.split("\n", 1)[1])
    suite = root.find("testsuite")
    assert suite is not None and suite.get("tests") == "3" and suite.get("failures") == "1"
    assert suite.get("timestamp") == "2026-01-01T00:00:00.000Z"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert list(cases) == ["TC-EEVSE-2.2", "HIL-PWM", "TC-EEVSE-SPEC-A0000"]
    assert cases["TC-EEVSE-2.2"].get("classname") == "Generated case 0"
    failure = cases["TC-EEVSE-SPEC-A0000"].find("failure")
    assert failure is not None and failure.get("message", "").startswith("step 4: AssertionError")
    assert cases["HIL-PWM"].find("skipped") is not None
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["station.name"] == "gen-bench" and props["station.operator"] == "A. Tester"
    assert props["dut.vendor"] == "Gen (0xFFF1)" and props["dut.product"] == "Gen EVSE (0x8000)"
    assert props["dut.serial"] == "GEN-1" and props["dut.software_version"] == "1.0.0 (1)"
    assert props["dut.attestation"] == "DAC chain verified against the test PAA"
    assert props["spec"] == "Energy EVSE cluster 0x0099 revision 3"
    assert props["started"] == "2026-01-01T00:00:00.000Z"
    assert "dut.attestation" not in render_junit(make_record(1)), "only when the record has one"


def test_an_older_record_renders() -> None:
    rec = make_record(2)
    rec["schema_version"] = 1
    for key in ("spec", "test_plan", "energy_tolerance_pct"):
        del rec[key]
    page = render_report(rec)
    assert "not recorded (the record predates schema 2)" in page
    ET.fromstring(render_junit(rec).split("\n", 1)[1])


# -- the CLI ---------------------------------------------------------------------------------------------------------
def test_rig_report_render_rebuilds_html_and_junit(tmp_path: Path) -> None:
    run = tmp_path / "20260101-000000-abcdef"
    write_atomic(run / "report.json", dumps_record(make_record(5)))
    proc = rig("report", "render", str(run))
    assert proc.returncode == 0, proc.stderr
    assert "TC-GEN-00004" in (run / "report.html").read_text()
    assert ET.parse(run / "junit.xml").getroot().tag == "testsuites"
    out = tmp_path / "elsewhere.html"
    assert rig("report", "render", str(run / "report.json"), "-o", str(out)).returncode == 0
    assert out.read_text() == (run / "report.html").read_text()
    junit = tmp_path / "elsewhere.xml"
    assert rig("report", "render", str(run), "--junit", str(junit)).returncode == 0
    assert junit.read_text() == (run / "junit.xml").read_text()


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


# -- the plugin ------------------------------------------------------------------------------------------------------
def test_the_run_writes_report_html_and_junit_from_the_record_and_render_recreates_them(demo_run) -> None:
    proc, run_dir = demo_run("--rig-progress", "plain")
    html = (run_dir / "report.html").read_bytes()
    junit = (run_dir / "junit.xml").read_bytes()
    rec = load_record(run_dir / "report.json")
    assert html == render_report(rec).encode("utf-8"), "report.html is the record's rendering"
    assert junit == render_junit(rec).encode("utf-8")
    names = [c.get("name") for c in ET.parse(run_dir / "junit.xml").iter("testcase")]
    assert names == ["TC-DEMO-1.1", "TC-DEMO-1.2", "TC-DEMO-1.3", "TC-DEMO-1.4"]
    classes = [c.get("classname") for c in ET.parse(run_dir / "junit.xml").iter("testcase")]
    assert classes[0] == "A passing case <b>with markup</b>"
    page = html.decode()
    assert "A passing case &lt;b&gt;with markup&lt;/b&gt;" in page and "<b>with markup</b>" not in page
    assert "Pilot state and PWM duty over time" in page and "<svg" in page
    assert '<a href="attachments/TC-DEMO-1.1/capture.txt">capture.txt</a>' in page
    (run_dir / "report.html").unlink()
    (run_dir / "junit.xml").unlink()
    done = rig("report", "render", str(run_dir))
    assert done.returncode == 0, done.stderr
    assert (run_dir / "report.html").read_bytes() == html, "rig report render recreates it byte for byte"
    assert (run_dir / "junit.xml").read_bytes() == junit
    out = proc.stdout
    assert "[rig] (1/4) TC-DEMO-1.1  A passing case" in out
    assert "[rig]   TC-DEMO-1.1 step 3  TH reads MaximumChargeCurrent  +" in out
    assert "[rig] (2/4) TC-DEMO-1.2 FAILED in" in out
    assert "\r" not in out, "plain lines when not on a terminal"


def test_pytest_html_and_junitxml_cannot_overwrite_the_run_outputs(demo_run) -> None:
    proc, run_dir = demo_run("--html", "RUN/report.html", "--junitxml", "RUN/junit.xml")
    assert "--html" in proc.stdout + proc.stderr and "ignored" in proc.stdout + proc.stderr
    rec = load_record(run_dir / "report.json")
    assert (run_dir / "report.html").read_text(encoding="utf-8") == render_report(rec)
    assert (run_dir / "junit.xml").read_text(encoding="utf-8") == render_junit(rec)


def test_pytest_html_live_report_shows_the_same_fragments(demo_run) -> None:
    _, run_dir = demo_run(
        "--html", "RUN/pytest-html.html", "--self-contained-html", "--metadata", "Lab note", "<script>alert(9)</script>"
    )
    live = (run_dir / "pytest-html.html").read_text(encoding="utf-8")
    # pytest-html inserts metadata values as HTML (from a JSON blob in an attribute): they are escaped first
    assert "&amp;lt;script&amp;gt;alert(9)" in live and "&lt;script&gt;alert(9)" not in live
    rec = load_record(run_dir / "report.json")
    assert '<title id="head-title">EVSE conformance report</title>' in live, "report.title"
    assert '<div class="rig"><section class="first-page" id="first-page">' in live, "in the report's style scope"
    assert "Overall verdict" in live
    assert "Matter Energy EVSE cluster test plan" in live
    # pytest-html keeps per-test extras in an escaped JSON blob: the case's section and its plot are there
    assert "A passing case &amp;lt;b&amp;gt;with markup" in live or "A passing case &lt;b&gt;with markup" in live
    assert "6000 \\u2264 x \\u2264 32000" in live and "Pilot state and PWM duty over time" in live
    assert "DUT serial" not in live and "DUT software" not in live, "no DUT strings in pytest-metadata"
    assert (run_dir / "report.html").read_text(encoding="utf-8") == render_report(rec)


def test_progress_on_a_terminal_rewrites_one_live_line(demo_run) -> None:
    proc, _ = demo_run("--rig-progress", "tty")
    out = proc.stdout
    # (text mode turned the carriage returns into newlines)
    assert "\x1b[K[rig]   TC-DEMO-1.1 step 2  TH reads State  +" in out, "the step line is rewritten in place"
    assert "[rig] (1/4) TC-DEMO-1.1 PASSED in" in out


FAKE_SESSION = '''
import pytest
from rig.pytest_plugin.state import SESSION_KEY


class FakeSession:
    """What rig.session.Session.describe() gives, with a DUT whose strings are hostile."""

    def describe(self):
        bad = "<script>alert(1)</script>\\x07\\x1b"
        return {
            "bench": "real",
            "dut": {"kind": "network", "node_id": 4660, "endpoint": 1, "defects": [], "label": "REAL bench",
                    "identity": {"VendorName": "ACME " + bad, "VendorID": 65521, "ProductName": "Wallbox " + bad,
                                 "ProductID": 32769, "SerialNumber": "SN-42 " + bad, "HardwareVersion": 2,
                                 "HardwareVersionString": "rev B", "SoftwareVersion": 7,
                                 "SoftwareVersionString": "2.0.1"},
                    "attestation": "DAC chain verified against /etc/paa " + bad},
            "instruments": {"meter": {"driver": "eastron_sdm630", "address": "modbus-tcp://10.0.0.7:502/1",
                                      "identity": "SDM630 " + bad}},
        }


@pytest.fixture(autouse=True)
def _open_session(pytestconfig):
    pytestconfig.stash[SESSION_KEY] = FakeSession()
'''


def test_the_session_describes_the_dut_and_its_strings_are_escaped_end_to_end(demo_suite: Path, demo_run) -> None:
    (demo_suite / "conftest.py").write_text(FAKE_SESSION)
    _, run_dir = demo_run("-k", "test_pass or test_skip")
    rec = load_record(run_dir / "report.json")
    assert rec["bench"] == "real" and rec["dut"]["kind"] == "network" and "label" not in rec["dut"]
    assert rec["dut"]["identity"]["VendorName"].startswith("ACME <script>") and rec["build"] == "2.0.1"
    assert rec["instruments"]["meter"]["driver"] == "eastron_sdm630"
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert page == render_report(rec)
    assert "<script" not in page and not CONTROL.search(page)
    assert "ACME &lt;script&gt;alert(1)&lt;/script&gt;\\x07\\x1b (VID 0xFFF1)" in page
    assert "<th>Serial number</th><td>SN-42 &lt;script&gt;" in page and "rev B (2)" in page and "2.0.1 (7)" in page
    assert "DAC chain verified against /etc/paa" in page and "modbus-tcp://10.0.0.7:502/1" in page
    assert page.count("Wallbox") == 1, "the DUT summary appears once"
    root = ET.parse(run_dir / "junit.xml").getroot()  # valid XML despite the control characters
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert props["bench"] == "real" and props["dut.serial"] == "SN-42 <script>alert(1)</script>\\x07\\x1b"
    assert props["dut.attestation"].startswith("DAC chain verified") and props["build"] == "2.0.1"


def test_bidi_controls_are_shown_as_escapes_in_html_and_junit() -> None:
    rec = _plan_record(2)
    rec["dut"]["identity"]["SerialNumber"] = "SN-\u202eLIVE\u202c-\u2066x\u2069"
    rec["cases"][0]["title"] = "charge \u202dfast"
    page = render_report(rec)
    assert not re.search("[\u202a-\u202e\u2066-\u2069]", page), "no text reads differently from what it is"
    assert "SN-\\u202eLIVE\\u202c-\\u2066x\\u2069" in page and "charge \\u202dfast" in page
    text = render_junit(rec)
    assert not re.search("[\u202a-\u202e\u2066-\u2069]", text)
    props = {p.get("name"): p.get("value") for p in ET.fromstring(text.encode()).iter("property")}
    assert props["dut.serial"] == "SN-\\u202eLIVE\\u202c-\\u2066x\\u2069"


METADATA_CONFTEST = """
import pytest


@pytest.fixture(autouse=True)
def _dut_strings_in_metadata(metadata):
    # set while the run goes on, after pytest-html took the dict at session start
    metadata["DUT serial"] = "<img src=x onerror=alert(1)>"
    metadata["DUT labels"] = {"<b>label</b>": "<svg onload=alert(2)>"}
"""


def test_pytest_html_live_report_escapes_metadata_set_during_the_run(demo_suite: Path, demo_run) -> None:
    (demo_suite / "conftest.py").write_text(METADATA_CONFTEST)
    _, run_dir = demo_run("-k", "test_pass", "--html", "RUN/pytest-html.html", "--self-contained-html")
    live = (run_dir / "pytest-html.html").read_text(encoding="utf-8")
    # the page holds the metadata in a JSON blob in an attribute (escaped once) that its script inserts as HTML
    assert "&lt;img src=x" not in live and "&lt;svg onload" not in live, "inserted as markup"
    assert "&amp;lt;img src=x onerror=alert(1)&amp;gt;" in live, "escaped, then shown as text"
    assert "&amp;lt;svg onload=alert(2)&amp;gt;" in live and "&amp;lt;b&amp;gt;label" in live


def test_pytest_html_live_report_has_a_csp_allowing_only_its_own_script(demo_run) -> None:
    from rig.report.html import with_live_csp

    _, run_dir = demo_run("-k", "test_pass", "--html", "RUN/pytest-html.html", "--self-contained-html")
    live = (run_dir / "pytest-html.html").read_text(encoding="utf-8")
    tags = _tags(live)
    csp = [a["content"] for t, a in tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert len(csp) == 1 and [t for t, _ in tags[:4]] == ["html", "head", "meta", "meta"], "before any script"
    policy = dict(d.partition(" ")[::2] for d in (csp[0] or "").split("; "))
    assert policy["default-src"] == "'none'" and policy["object-src"] == "'none'" and policy["base-uri"] == "'none'"
    scripts = re.findall(r"<script>(.*?)</script>", live, re.S)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    allowed = policy["script-src"].split()
    assert allowed[0] == f"'sha256-{digest}'" and "'unsafe-inline'" not in allowed, "its own script, by hash"
    assert with_live_csp(live) == live, "added once"
    # a script that is not pytest-html's own is not allowed, wherever it is
    page = "<html><head><meta charset='utf-8'></head><body><script>alert(1)</script></body></html>"
    assert "script-src 'none'" in with_live_csp(page)
    forged = live.replace("<footer>", "<footer><script>alert(1)</script>", 1).replace(csp[0] or "", "x")
    forged = forged.replace('<meta http-equiv="Content-Security-Policy" content="x"/>', "")
    assert f"'sha256-{digest}'" in with_live_csp(forged)
    bad = base64.b64encode(hashlib.sha256(b"alert(1)").digest()).decode()
    assert bad not in with_live_csp(forged)


JUNIT_SUITE = """
import pytest

SERIAL = "SN\\x00\\x1b[31m\\x07<x>\\ufffe\\u202e"


def test_dut(record_property, record_testsuite_property):
    record_property("dut.serial", SERIAL)
    record_testsuite_property("dut.serial", SERIAL)
    print(SERIAL)
    assert SERIAL == "x", SERIAL
"""


def test_pytest_junitxml_under_another_name_stays_valid_with_dut_control_characters(demo_suite: Path, demo_run) -> None:
    (demo_suite / "test_demo.py").write_text(JUNIT_SUITE)
    _, run_dir = demo_run("--junitxml", "RUN/pytest-junit.xml", "-o", "include_metadata_in_junit_xml=true")
    pytests = ET.parse(run_dir / "pytest-junit.xml").getroot()  # expat refuses what XML 1.0 forbids
    assert any((p.get("value") or "").startswith("SN") for p in pytests.iter("property"))
    rigs = ET.parse(run_dir / "junit.xml").getroot()
    failure = rigs.find("testsuite/testcase/failure")
    assert failure is not None and "SN\\x00\\x1b[31m\\x07<x>\\ufffe\\u202e" in (failure.text or "")
