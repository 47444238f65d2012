"""Hostile strings (as a DUT, an instrument or a careless record could carry them) through every output the rig
shows: the HTML report, JUnit XML, ``rig history`` and ``rig compare``.

Each value goes into the DUT's Basic Information, the station, a case (id, title, outcome, error, logs, steps,
measurements, events, attachments with the value as link) and the PICS. Then: the page has no markup, attribute or
link the value brought in, no control or bidi character and encodes as UTF-8; the JUnit parses; every terminal line
is inert; nothing raises. A Hypothesis property checks the escaping functions for any text.
"""

from __future__ import annotations

import argparse
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import escape

from rig.cli.report import cmd_history
from rig.report.compare import compare, format_html, format_text, side_from_record
from rig.report.db import ResultsDb, ResultsDbError
from rig.report.html import case_html, first_page_html, render_report
from rig.report.junit import render_junit
from rig.report.synthetic import make_record
from rig.report.text import clean, safe_href, terminal_safe

HOSTILE: dict[str, str] = {
    # markup and attribute breakers
    "script": "<script>alert(1)</script>",
    "script-src": "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "img-onerror": "<img src=x onerror=alert(1)>",
    "svg-onload": "<svg/onload=alert(1)>",
    "close-attr-dq": '"><script>alert(1)</script>',
    "close-attr-sq": "' onmouseover='alert(1)",
    "autofocus": '" onfocus="alert(1)" autofocus="',
    "close-table": "</td></tr></table><script>alert(1)</script>",
    "comment": "<!-- x",
    "cdata": "]]><script>alert(1)</script>",
    "iframe": '<iframe src="javascript:alert(1)">',
    "anchor": '<a href="javascript:alert(1)">x</a>',
    "style": "<style>*{display:none}</style>",
    "base": '<base href="https://evil.example/">',
    "meta-refresh": '<meta http-equiv="refresh" content="0;url=https://evil.example">',
    "mxss": "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "pre-escaped": "&lt;script&gt;alert(1)&lt;/script&gt;",
    "char-refs": "&#x3C;script&#x3E;alert(1)&#60;/script&#62;",
    "template": "{{ 7*7 }}{% raw %}${7*7}",
    # links
    "javascript": "javascript:alert(document.cookie)",
    "javascript-case": " JaVaScRiPt:alert(1)",
    "javascript-tab": "java\tscript:alert(1)",
    "data-url": "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript": "vbscript:msgbox(1)",
    "protocol-relative": "//evil.example/x",
    "traversal": "../../../etc/passwd",
    "absolute": "/etc/shadow",
    # control characters and terminal escapes
    "nul": "\x00",
    "nul-inside": "NUL\x00in the middle",
    "c0": "\x07\x08\x0b\x0c\x1f",
    "sgr": "\x1b[31mred\x1b[0m",
    "osc-title": "\x1b]0;owned title\x07",
    "clear-screen": "\x1b[2J\x1b[H",
    "dcs": "\x1bP+q\x1b\\",
    "c1-csi": "\x9b31m",
    "nel": "\x85next line",
    "del": "\x7fDEL",
    "cr-lf": "line1\nline2\roverwritten",
    # bidi, separators, surrogates, noncharacters
    "rtl-override": "\u202eexe.txt",
    "isolates": "\u2066isolate\u2069\u202d",
    "separators": "a\u2028b\u2029c",
    "high-surrogate": "\ud800",
    "low-surrogate": "\udfff low",
    "invalid-utf8": b"\xff\xfe\xc3(".decode("utf-8", "surrogateescape"),
    "noncharacters": "\ufffe\uffff",
    "astral": "\U0001f4a5\U0010ffff",
    # size
    "long": "A" * 100_000,
    "many-brackets": "<" * 5_000,
    "many-escapes": "\x1b[" * 3_000,
}

UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]")
"""What must never reach a page or an XML file: C0 but tab/newline/CR, DEL, C1, bidi controls, surrogates."""
NOT_ON_TERMINAL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff]")
BAD_SCHEME = re.compile(r"^\s*(?:javascript|vbscript|data|file):", re.IGNORECASE)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(page)
    parser.close()
    return parser.tags


def _hostile_record(value: str, run_id: str = "20260101-000000-hostil") -> dict[str, Any]:
    rec = make_record(2, run_id=run_id, fail=frozenset({1}), series_every=1000, steps_per_case=4)
    ident = rec["dut"]["identity"]
    for key in ("VendorName", "ProductName", "SerialNumber", "SoftwareVersionString", "HardwareVersionString"):
        ident[key] = value
    rec["dut"]["attestation"] = value
    rec["build"] = value
    rec["station"].update(name=value, operator=value, location=value)
    rec["instruments"] = {"meter": {"driver": "eastron_sdm630", "address": value, "identity": value}}
    rec["attachments"] = [{"name": value, "path": value}]
    rec["pics"] = {
        "given": True,
        "path": value,
        "origin": "file",
        "items": {"EEVSE.S": True},
        "contradictions": [value],
        "warnings": [value],
        "not_applicable": [],
    }
    case = rec["cases"][1]
    case.update(id=f"TC-H {value}", title=value, outcome=value, error=value, logs=value, failed_step=value)
    case["attachments"] = [{"name": value, "path": value}, {"name": "x", "path": f"attachments/{value}"}]
    step = case["steps"][0]
    step.update(description=value, expectation=value, outcome=value, notes=[value], skip_reason=value)
    measured = [m for s in case["steps"] for m in s.get("measurements") or []]
    for m in measured:
        m.update(unit=value, verdict=value)
    if case.get("events"):
        case["events"][0]["summary"] = value
    return rec


_BASELINE = _tags(render_report(_hostile_record("plain")))
ALLOWED_TAGS = {tag for tag, _ in _BASELINE}
ALLOWED_ATTRS = {name for _, attrs in _BASELINE for name in attrs}


def _assert_page_safe(page: str, value: str) -> None:
    assert not UNSAFE.search(page), "a control, bidi or surrogate character reached the page"
    page.encode("utf-8")
    for tag, attrs in _tags(page):
        assert tag in ALLOWED_TAGS, f"the value brought in a <{tag}>"
        assert set(attrs) <= ALLOWED_ATTRS, f"the value brought in attributes {set(attrs) - ALLOWED_ATTRS}"
        href = attrs.get("href")
        if href is not None and href != "data:,":  # the favicon: none
            assert not BAD_SCHEME.match(href), href
            assert not href.startswith("/") and ".." not in href.split("/"), href
    if "<" in value and len(value) > 1:
        assert value not in page, "the value is in the page as markup"


@pytest.fixture(params=sorted(HOSTILE), ids=sorted(HOSTILE))
def hostile(request: pytest.FixtureRequest) -> str:
    return HOSTILE[request.param]


def test_the_corpus_is_big_enough() -> None:
    assert len(HOSTILE) >= 40


def test_html_report_shows_a_hostile_value_as_text(hostile: str) -> None:
    rec = _hostile_record(hostile)
    _assert_page_safe(render_report(rec), hostile)
    _assert_page_safe(first_page_html(rec), hostile)
    _assert_page_safe(case_html(rec["cases"][1], 1), hostile)


def test_junit_with_a_hostile_value_is_valid_xml(hostile: str) -> None:
    text = render_junit(_hostile_record(hostile))
    assert not UNSAFE.search(text)
    root = ET.fromstring(text.encode("utf-8"))
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert props["dut.serial"] == clean(hostile), "the value is kept, cleaned"
    assert any((c.get("name") or "").startswith("TC-H ") for c in root.iter("testcase"))


def test_compare_text_and_page_with_a_hostile_value(hostile: str) -> None:
    a = side_from_record(make_record(2, run_id="a", steps_per_case=4), "a")
    b = side_from_record(_hostile_record(hostile, run_id="b"), hostile)
    result = compare(a, b, 1.0)
    text = format_text(result)
    assert not NOT_ON_TERMINAL.search(text.replace("\n", "")), "every line of compare is inert"
    assert text.count("\n") == format_text(compare(a, side_from_record(_hostile_record("x"), "x"), 1.0)).count("\n")
    page = format_html(result)
    assert not UNSAFE.search(page)
    assert all(tag in ALLOWED_TAGS | {"p"} for tag, _ in _tags(page))
    if "<" in hostile and len(hostile) > 1:
        assert hostile not in page


@pytest.fixture(scope="module")
def history_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """A results database holding one run per hostile value (run id → the value's name)."""
    url = str(tmp_path_factory.mktemp("history") / "results.sqlite")
    names: dict[str, str] = {}
    with ResultsDb(url, create=True) as db:
        for i, name in enumerate(sorted(HOSTILE)):
            run_id = f"20260101-000000-h{i:05d}"
            rec = _hostile_record(HOSTILE[name], run_id=run_id)
            rec["dut"]["identity"]["SoftwareVersion"] = i
            rec["cases"][1]["outcome"] = "failed"  # the database takes only the rig's outcomes
            try:
                db.import_record(rec)
            except ResultsDbError:  # lone surrogates: SQLite stores UTF-8 only (the database refuses, cleanly)
                assert UNSAFE.search(HOSTILE[name]), name
                continue
            names[run_id] = name
    yield url, names


def test_history_lines_are_inert(
    history_db: tuple[str, dict[str, str]], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, names = history_db
    assert len(names) >= len(HOSTILE) - 4
    monkeypatch.delenv("RIG_RESULTS_DB", raising=False)
    monkeypatch.chdir(Path(url).parent)  # no rig.yaml here: --db alone names the database
    assert cmd_history(argparse.Namespace(db=url, dut=None, config=None)) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) == 1 + len(names), "one line per run: no value splits or overwrites a line"
    assert not NOT_ON_TERMINAL.search(out.replace("\n", ""))
    for run_id in names:
        assert sum(run_id in line for line in lines) == 1


# -- properties: any text -------------------------------------------------------------------------------------------
TEXT = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=60)
"""Any text: every code point, lone surrogates included."""


@settings(max_examples=200, deadline=None, database=None)
@given(TEXT)
def test_escaping_functions_give_safe_output_for_any_text(text: str) -> None:
    cleaned = clean(text)
    assert not UNSAFE.search(cleaned)
    assert cleaned == text or "\\" in cleaned, "shown as escapes, not dropped"
    ET.fromstring(f"<a b={_quoteattr(cleaned)}>{escape(cleaned)}</a>".encode())
    html = str(escape(cleaned))
    assert "<" not in html and ">" not in html and '"' not in html and "'" not in html
    line = terminal_safe(text)
    assert not NOT_ON_TERMINAL.search(line) and "\n" not in line
    href = safe_href(text)
    if href is not None:
        assert not BAD_SCHEME.match(href) and not UNSAFE.search(href) and not href.startswith("//")
        assert href.startswith(("http://", "https://")) or (
            ":" not in href.split("/")[0] and ".." not in href.split("/")
        )


def _quoteattr(text: str) -> str:
    from xml.sax.saxutils import quoteattr

    return quoteattr(text)


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXT, TEXT)
def test_outputs_are_safe_for_any_dut_text(serial: str, title: str) -> None:
    rec = _hostile_record("x")
    rec["dut"]["identity"]["SerialNumber"] = serial
    rec["cases"][1]["title"] = title
    rec["cases"][1]["id"] = f"TC-P {title}"
    rec["attachments"] = [{"name": serial, "path": title}]
    page = first_page_html(rec) + case_html(rec["cases"][1], 1)
    _assert_page_safe(page, serial)
    ET.fromstring(render_junit(rec).encode("utf-8"))
    text = format_text(compare(side_from_record(make_record(2, steps_per_case=4), "a"), side_from_record(rec, title)))
    assert not NOT_ON_TERMINAL.search(text.replace("\n", ""))
