"""The certification-style HTML report, rendered purely from a run record with Jinja2 templates.

``report.html`` in a run folder is only ever written from ``report.json`` by :func:`render_report`: at session end by
the reporting plugin and by ``rig report render RUN``, the same bytes both ways (every time shown comes from the
record, in UTC ISO 8601; plots are deterministic, see :mod:`rig.report.plots`).

The page: a first page a lab signs (overall verdict, DUT identity, station and operator, spec revision and test
plan, PICS, counts by verdict, signatures), the cases grouped as the test plan groups them, then the annexes (plots,
captured output, files, PICS). No script: cases fold with ``<details>``; a Content-Security-Policy forbids script.

Each kind of fragment is rendered by exactly one macro of ``templates/fragments.html.j2``, reached through one
function here (:func:`first_page_html`, :func:`case_html`, :func:`steps_table_html`,
:func:`measurements_table_html`, :func:`chart_html`); the page and the pytest-html hooks of
:mod:`rig.pytest_plugin.reporting` both use them. Autoescaping is on; record strings are also cleaned of control
characters (:mod:`rig.report.text`), and links made from record fields are checked (:func:`~rig.report.text.safe_href`).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from rig.report.plan import Groups, group_cases, group_of
from rig.report.plots import Chart, charts
from rig.report.record import gc_paused, utc_iso
from rig.report.text import clean, clean_output, safe_href

OUTCOME_ORDER = ("passed", "failed", "error", "skipped")
_OUTCOME_TOKENS = frozenset((*OUTCOME_ORDER, "not-run"))
_VERDICT_TOKENS = frozenset(("pass", "fail"))
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'none'; base-uri 'none'; "
    "form-action 'none'"
)
"""The page's Content-Security-Policy: no script at all, nothing loaded from anywhere (styles are inline)."""
LIVE_CSP = (
    "default-src 'none'; script-src {scripts}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "media-src 'self' data:; base-uri 'none'; form-action 'none'; object-src 'none'"
)
"""pytest-html's live report's policy: only its own script (by hash), its styles, images and videos of its own."""
_LIVE_SCRIPT = re.compile(r'<div id="data-container" [^>]*></div>\s*<script>(.*?)</script>', re.S)
_RELOAD_HANDLER = "location.reload()"
DASH = "—"
DEFAULT_TITLE = "EVSE conformance report"


# -- the template environment ------------------------------------------------------------------------------------
@functools.cache
def environment() -> Any:
    """Return the Jinja2 environment of the report templates (autoescaping on, package data ``templates/``)."""
    from jinja2 import Environment, PackageLoader

    env = Environment(
        loader=PackageLoader("rig.report", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        v=lambda value: DASH if value is None else value,
        utc=lambda t: utc_iso(t) or DASH,
        duration=_duration,
        outcome_token=_outcome_token,
        words=_words,
        step_rows=_step_rows,
        measurement_rows=_measurement_rows,
        limits=_limits,
        annex_links=_annex_links,
    )
    return env


@functools.cache
def _macros() -> Any:
    return environment().get_template("fragments.html.j2").module


@functools.cache
def css() -> str:
    """Return the report's style sheet."""
    source: str = environment().loader.get_source(environment(), "report.css")[0]
    return source


def style_html() -> Markup:
    """Return the report's ``<style>`` element (for pages that embed fragments: pytest-html, comparisons)."""
    return Markup("<style>") + Markup(css()) + Markup("</style>")


# -- filters -----------------------------------------------------------------------------------------------------
def _words(items: Any, sep: str = " ") -> str:
    """A list of record values as one string (escaped once by the template)."""
    return sep.join(str(i) for i in items) if isinstance(items, list | tuple) else ""


def _outcome_token(outcome: Any) -> str:
    """A CSS class token for an outcome: one of a fixed set (the template does not escape it)."""
    return outcome if type(outcome) is str and outcome in _OUTCOME_TOKENS else "unknown"


def _duration(seconds: Any) -> str:
    return f"{seconds:.3f} s" if isinstance(seconds, int | float) and not isinstance(seconds, bool) else DASH


def _step_time(st: Any, en: Any) -> str:
    """A step's start (ISO UTC) and duration; made from numbers only (the template does not escape it)."""
    start = utc_iso(st)
    if start is None:
        return ""
    if isinstance(en, int | float) and not isinstance(en, bool):
        return f"{start}, {en - st:.3f} s"
    return start


def _actual(step: dict[str, Any]) -> str:
    parts = [str(n) for n in step.get("notes") or []]
    for m in step.get("measurements") or []:
        if isinstance(m, dict):
            unit = f" {m['unit']}" if m.get("unit") else ""
            parts.append(f"{m.get('name')} = {m.get('value')}{unit}")
    return "; ".join(parts)


def _text(value: Any) -> Any:
    return DASH if value is None else value


StepRow = tuple[str, Any, Any, Any, str, Any, Any, str]
MeasurementRow = tuple[Any, Any, Any, Any, str, str, Any]


def _step_rows(case: dict[str, Any]) -> list[StepRow]:
    """The step table's rows: (class token, number, description, expected, actual, outcome, detail, time)."""
    rows = []
    tokens = _OUTCOME_TOKENS
    for s in case.get("steps") or []:
        if not isinstance(s, dict):
            continue
        get = s.get
        outcome, number, description = get("outcome"), get("number"), get("description")
        rows.append(
            (
                outcome if type(outcome) is str and outcome in tokens else "unknown",
                DASH if number is None else number,
                DASH if description is None else description,
                get("expectation") or "",
                _actual(s) if get("notes") or get("measurements") else "",
                DASH if outcome is None else outcome,
                get("skip_reason") or get("error") or "",
                _step_time(get("started"), get("ended")),
            )
        )
    return rows


def _measurement_rows(case: dict[str, Any]) -> list[MeasurementRow]:
    """The measurement table's rows: (step, name, value, unit, limits, verdict class token, verdict)."""
    rows = []
    for s in case.get("steps") or []:
        if not isinstance(s, dict):
            continue
        for m in s.get("measurements") or []:
            if isinstance(m, dict):
                verdict = m.get("verdict")
                token = verdict if type(verdict) is str and verdict in _VERDICT_TOKENS else "unknown"
                rows.append(
                    (
                        _text(s.get("number")),
                        _text(m.get("name")),
                        _text(m.get("value")),
                        m.get("unit") or "",
                        _limits(m),
                        token,
                        _text(verdict),
                    )
                )
    return rows


def _num(v: Any) -> str:
    return f"{v:g}" if isinstance(v, int | float) and not isinstance(v, bool) else str(v)


def _limits(m: dict[str, Any]) -> str:
    lo, hi, exp = m.get("low"), m.get("high"), m.get("expected")
    parts = []
    if lo is not None and hi is not None:
        parts.append(f"{_num(lo)} ≤ x ≤ {_num(hi)}")
    elif lo is not None:
        parts.append(f"x ≥ {_num(lo)}")
    elif hi is not None:
        parts.append(f"x ≤ {_num(hi)}")
    if exp is not None:
        parts.append(f"x = {exp}")
    return ", ".join(parts) or "no limits"


def _has_points(case: dict[str, Any]) -> bool:
    return any(isinstance(s, dict) and s.get("points") for s in case.get("series") or [])


def _annex_links(case: dict[str, Any], index: int) -> list[tuple[str, str]]:
    links = []
    if _has_points(case):
        links.append((f"#plots-{index}", "plots"))
    if case.get("logs"):
        links.append((f"#logs-{index}", "captured output"))
    if case.get("attachments"):
        links.append((f"#files-{index}", "files"))
    return links


# -- the first page ------------------------------------------------------------------------------------------------
@dataclass
class FirstPage:
    """What the first page shows, as label/value rows (values are plain text; the template escapes them)."""

    title: str
    verdict: str
    verdict_text: str
    banner: str | None
    dut: list[tuple[str, Any]]
    station: list[tuple[str, Any]]
    instruments: list[tuple[Any, Any, Any, Any]]
    basis: list[tuple[str, Any]]
    contradictions: list[Any]
    outcomes: tuple[str, ...]
    counts: list[tuple[str, list[int], int]]
    run: list[tuple[str, Any]]
    signatures: list[tuple[str, Any]] = field(default_factory=list)


def _id_hex(name: Any, number: Any, label: str) -> str:
    text = DASH if name in (None, "") else str(name)
    if isinstance(number, int) and not isinstance(number, bool):
        text += f" ({label} 0x{number:04X})"
    return text


def _version(text: Any, number: Any) -> str:
    out = DASH if text in (None, "") else str(text)
    if number not in (None, ""):
        out += f" ({number})"
    return out


def overall_verdict(record: dict[str, Any]) -> tuple[str, str]:
    """Return the run's overall verdict as (CSS token, text): PASS, FAIL, INCOMPLETE or NO RESULT."""
    cases = record.get("cases") or []
    outcomes = Counter(c.get("outcome") for c in cases)
    if any(o not in OUTCOME_ORDER for o in outcomes) or outcomes["failed"] or outcomes["error"]:
        return "FAIL", "FAIL"
    if record.get("status") != "finished":
        return "INCOMPLETE", f"INCOMPLETE (run {record.get('status')})"
    if not outcomes["passed"]:
        return "NO-RESULT", "NO RESULT (no case passed or failed)"
    return "PASS", "PASS"


def first_page_view(record: dict[str, Any], groups: Groups | None = None) -> FirstPage:
    """Return the first page of ``record``: verdict, DUT, station, what was tested against, counts, signatures.

    Args:
        record: the run record.
        groups: its cases grouped (:func:`rig.report.plan.group_cases`), when the caller has them already.
    """
    dut = record.get("dut") or {}
    ident = dut.get("identity") or {}
    station = record.get("station") or {}
    verdict, verdict_text = overall_verdict(record)
    banner = None
    if record.get("status") != "finished":
        banner = (
            f"This run did not finish ({record.get('status')}): the report shows the "
            f"{len(record.get('cases') or [])} case(s) recorded before it stopped."
        )
    dut_rows: list[tuple[str, Any]] = []
    if ident:
        dut_rows += [
            ("Vendor", _id_hex(ident.get("VendorName"), ident.get("VendorID"), "VID")),
            ("Product", _id_hex(ident.get("ProductName"), ident.get("ProductID"), "PID")),
            ("Serial number", ident.get("SerialNumber")),
            ("Hardware version", _version(ident.get("HardwareVersionString"), ident.get("HardwareVersion"))),
            ("Software version", _version(ident.get("SoftwareVersionString"), ident.get("SoftwareVersion"))),
        ]
    else:
        dut_rows.append(("Identity", "not read (the DUT was not commissioned)"))
    dut_rows.append(("Build under test", record.get("build")))
    node = dut.get("node_id")
    dut_rows.append(
        (
            "DUT kind / node / endpoint",
            f"{dut.get('kind', DASH)} / "
            + (f"0x{node:X}" if isinstance(node, int) and not isinstance(node, bool) else str(node))
            + f" / {dut.get('endpoint')}",
        )
    )
    if dut.get("defects"):
        dut_rows.append(("Firmware defects (virtual EVSE)", ", ".join(str(d) for d in dut["defects"])))
    if dut.get("attestation"):
        dut_rows.append(("Device attestation", dut["attestation"]))
    if isinstance(dut.get("attestation_chain"), dict):
        dut_rows.append(("Attestation chain", _chain_text(dut["attestation_chain"])))
    if dut.get("commissioning"):
        dut_rows.append(("Commissioning", dut["commissioning"]))
    if isinstance(dut.get("station"), dict):
        dut_rows.append(("Station fabric", _station_text(dut["station"])))
    if isinstance(dut.get("fabrics"), dict) and dut["fabrics"]:
        dut_rows.append(("Fabrics", _fabrics_text(dut["fabrics"])))
        if dut["fabrics"].get("removal"):
            dut_rows.append(("Rig's fabric at the end", dut["fabrics"]["removal"]))
    rig = record.get("rig") or {}
    cfg = record.get("config") or {}
    station_rows: list[tuple[str, Any]] = [
        ("Station", station.get("name")),
        ("Location", station.get("location")),
        ("Operator", station.get("operator")),
        ("Bench", record.get("bench")),
        ("Stimulus", record.get("stimulus")),
        (
            "rig",
            f"{rig.get('version', DASH)} (git {str(rig.get('git_sha') or 'unknown')[:12]}"
            f"{', local changes' if rig.get('git_dirty') else ''})",
        ),
        ("rig.yaml", f"{cfg.get('path')} (sha256 {str(cfg.get('sha256') or '')[:16]}…)"),
        ("Matter controller", f"home-assistant-chip-core {rig.get('matter_controller') or DASH}"),
    ]
    if record.get("bench") == "virtual":
        station_rows.append(("Virtual EVSE", f"matter.js {rig.get('matter_js') or DASH}"))
    instruments = [
        (role, i.get("driver"), i.get("address"), i.get("identity"))
        for role, i in sorted((record.get("instruments") or {}).items())
        if isinstance(i, dict)
    ]
    spec = record.get("spec") or {}
    pics = record.get("pics") or {}
    basis: list[tuple[str, Any]] = [
        (
            "Specification",
            f"{spec.get('cluster', 'Energy EVSE')} cluster {spec.get('cluster_id', '0x0099')}, revision "
            f"{spec.get('revision')} ({spec.get('source')})"
            if spec
            else "not recorded (the record predates schema 2)",
        ),
        ("Test plan", record.get("test_plan") or "not recorded (the record predates schema 2)"),
        ("PICS", _pics_line(pics)),
    ]
    if record.get("energy_tolerance_pct") is not None:
        basis.append(("Energy tolerance", f"±{_num(record['energy_tolerance_pct'])} % of the bench meter"))
    cases = record.get("cases") or []
    counts = []
    all_counts: Counter[Any] = Counter()
    for _key, title, items in group_cases(cases) if groups is None else groups:
        c = Counter(case.get("outcome") for _, case in items)
        all_counts.update(c)
        counts.append((title, [c.get(o, 0) for o in OUTCOME_ORDER], len(items)))
    counts.append(("All cases", [all_counts.get(o, 0) for o in OUTCOME_ORDER], len(cases)))
    run_rows: list[tuple[str, Any]] = [
        ("Run", record.get("run_id")),
        (
            "Status",
            f"{record.get('status')}"
            + (f" (exit {record['exit_status']})" if record.get("exit_status") not in (None, 0) else ""),
        ),
        ("Started (UTC)", utc_iso(record.get("started"))),
        ("Ended (UTC)", utc_iso(record.get("ended"))),
        ("Cases run for", _duration(sum(d for c in cases if isinstance(d := c.get("duration"), int | float)))),
    ]
    return FirstPage(
        title=str(record.get("title") or DEFAULT_TITLE),
        verdict=verdict,
        verdict_text=verdict_text,
        banner=banner,
        dut=_rows(dut_rows),
        station=_rows(station_rows),
        instruments=[tuple(DASH if v is None else v for v in row) for row in instruments],  # type: ignore[misc]
        basis=_rows(basis),
        contradictions=list(pics.get("contradictions") or []),
        outcomes=OUTCOME_ORDER,
        counts=counts,
        run=_rows(run_rows),
        signatures=[("Tested by", station.get("operator") or ""), ("Reviewed by", ""), ("Approved by", "")],
    )


def _rows(rows: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return [(label, DASH if value is None or value == "" else value) for label, value in rows]


def _pics_line(pics: dict[str, Any]) -> str:
    if not pics:
        return "none recorded (every case ran)"
    items = pics.get("items") or {}
    supported = sum(1 for v in items.values() if v)
    what = pics.get("path") or pics.get("origin") or DASH
    text = f"{what}: {supported} of {len(items)} items supported"
    if pics.get("path") and pics.get("origin"):
        text += f" ({pics['origin']})"
    n_na = len(pics.get("not_applicable") or [])
    if n_na:
        text += f"; {n_na} case(s) not applicable"
    return text + " (Annex D)"


# -- the fragment functions (one per kind) -----------------------------------------------------------------------------
def first_page_html(record: dict[str, Any]) -> Markup:
    """Return the first page (the header) of ``record``."""
    return Markup(clean_output(_macros().first_page(first_page_view(record))))


def case_html(case: dict[str, Any], index: int, *, annexes: bool = True) -> Markup:
    """Return one case's section: times, PICS, error, steps, measurements, events, links to its annexes."""
    return Markup(clean_output(_macros().case(case, index, annexes)))


def steps_table_html(case: dict[str, Any]) -> Markup:
    """Return the step table of ``case`` (expected against actual, outcome, start, duration)."""
    return Markup(clean_output(_macros().steps_table(case)))


def measurements_table_html(case: dict[str, Any]) -> Markup:
    """Return the measurement table of ``case`` (step, name, value, unit, limits, verdict)."""
    return Markup(clean_output(_macros().measurements_table(case)))


def chart_html(chart: Chart) -> Markup:
    """Return one plot: its title, legend and inline SVG."""
    return Markup(clean_output(_macros().chart(chart)))


def case_charts(case: dict[str, Any], index: int) -> list[Chart]:
    """Return the plots of ``case`` (none without series); ``index`` keeps their SVG ids unique in a page."""
    return charts(case.get("series") or [], str(index)) if _has_points(case) else []


# -- pytest-html's live report ---------------------------------------------------------------------------------------
def _csp_hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode("ascii") + "'"


def with_live_csp(page: str) -> str:
    """Return pytest-html's page with a Content-Security-Policy that allows its own script and nothing else.

    Its one script (after the data container) is allowed by its hash, and its reload button's
    ``onclick="location.reload()"`` by the hash of that handler; any other inline script or event handler, one a
    hostile string could have brought in, is refused by the browser. A page that already has a policy is returned
    as it is; one without pytest-html's script gets ``script-src 'none'``.
    """
    if 'http-equiv="Content-Security-Policy"' in page:
        return page
    head = page.find("<head>")
    if head < 0:
        return page
    scripts = [_csp_hash(m.group(1)) for m in _LIVE_SCRIPT.finditer(page)][-1:]
    if scripts and f'onclick="{_RELOAD_HANDLER}"' in page:
        scripts += ["'unsafe-hashes'", _csp_hash(_RELOAD_HANDLER)]
    policy = LIVE_CSP.format(scripts=" ".join(scripts) or "'none'")
    meta = f'\n    <meta http-equiv="Content-Security-Policy" content="{policy}"/>'
    charset = page.find("<meta charset", head)
    at = page.find(">", charset) + 1 if charset >= 0 else head + len("<head>")
    return page[:at] + meta + page[at:]


# -- the page --------------------------------------------------------------------------------------------------------
def _files(atts: Any) -> list[tuple[str | None, str, Any]]:
    out = []
    for a in atts or []:
        if not isinstance(a, dict):
            continue
        name = clean(str(a.get("name") or a.get("path") or DASH))
        out.append((safe_href(a.get("path")), name, a.get("error")))
    return out


def render_report(record: dict[str, Any]) -> str:
    """Return the complete, self-contained HTML page of a run record (a pure function of ``record``)."""
    with gc_paused():
        return _render(record)


def _render(record: dict[str, Any]) -> str:
    cases = record.get("cases") or []
    groups = group_cases(cases)
    page = {
        "title": str(record.get("title") or DEFAULT_TITLE),
        "run_id": record.get("run_id"),
        "first_page": first_page_view(record, groups),
        "groups": groups,
        "plotted": [(i, c, ch) for i, c in enumerate(cases) if (ch := case_charts(c, i))],
        "logged": [(i, c) for i, c in enumerate(cases) if c.get("logs")],
        "run_files": _files(record.get("attachments")),
        "attached": [(i, c, _files(c.get("attachments"))) for i, c in enumerate(cases) if c.get("attachments")],
        "pics": record.get("pics"),
        "schema": record.get("schema_version"),
        "rig_version": (record.get("rig") or {}).get("version"),
    }
    template = environment().get_template("report.html.j2")
    return clean_output(template.render(page=page, csp=Markup(CSP), css=Markup(css())))


__all__ = [
    "CSP",
    "OUTCOME_ORDER",
    "case_charts",
    "case_html",
    "chart_html",
    "first_page_html",
    "first_page_view",
    "group_of",
    "measurements_table_html",
    "overall_verdict",
    "render_report",
    "steps_table_html",
    "style_html",
    "with_live_csp",
]


def _chain_text(chain: dict[str, Any]) -> str:
    """The DUT's DAC, PAI and PAA subjects; a PAI signed by a Matter test PAA is called out."""
    if chain.get("problem"):
        return str(chain["problem"])
    text = f"DAC {chain.get('dac')}; PAI {chain.get('pai')}; PAA {chain.get('paa') or 'not in the trust store'}"
    if chain.get("test_paa"):
        text += f"; TEST DEVICE: the PAI is signed by the {chain['test_paa']}"
    return text


def _station_text(station: dict[str, Any]) -> str:
    """The station's fabric: root public key fingerprint, compressed fabric id, controller node id."""
    parts = [f"root key SHA-256 {station.get('root_fingerprint', DASH)}"]
    if station.get("compressed_fabric_id"):
        parts.append(f"compressed fabric id {station['compressed_fabric_id']}")
    node = station.get("controller_node_id")
    if isinstance(node, int) and not isinstance(node, bool):
        parts.append(f"controller node 0x{node:X}")
    return ", ".join(parts)


def _fabrics_text(fabrics: dict[str, Any]) -> str:
    """One line on the DUT's fabric table: slots, the rig's entry and label, the other admins, stale rig fabrics."""
    parts: list[str] = []
    used, supported, free = fabrics.get("commissioned"), fabrics.get("supported"), fabrics.get("free")
    if used is not None and supported is not None:
        parts.append(f"{used} of {supported} used ({free} free)")
    entries = [e for e in fabrics.get("entries") or [] if isinstance(e, dict)]
    ours = fabrics.get("current_index")
    for e in entries:
        who = "the rig's" if e.get("index") == ours else "other admin"
        vendor = e.get("vendor_id")
        vid = f"VID 0x{vendor:04X}" if isinstance(vendor, int) and not isinstance(vendor, bool) else f"VID {vendor}"
        parts.append(f"index {e.get('index')}: {who}, {vid}, label {str(e.get('label') or '')!r}")
    if fabrics.get("stale_rig_fabrics"):
        parts.append("stale rig fabrics at index " + ", ".join(str(i) for i in fabrics["stale_rig_fabrics"]))
    for problem in fabrics.get("problems") or []:
        parts.append(f"note: {problem}")
    return "; ".join(parts) or DASH
