"""The certification-style HTML report, rendered purely from a run record.

Two users:

* the live report: during a run pytest-html writes ``report.html`` and :mod:`rig.pytest_plugin.reporting` adds the header,
  the case list, the measurement tables and the plots built by the functions below;
* ``rig report render RUN``: :func:`render_report` rebuilds one self-contained page from ``report.json`` alone
  (no pytest-html: it must render 10,000 cases in well under 5 s, and a killed run has no pytest-html page).

The page has no script: cases fold with ``<details>``, so it opens the same with JavaScript off.
"""

from __future__ import annotations

import time
from collections import Counter
from html import escape
from typing import Any

from rig.report.svg import charts

OUTCOME_ORDER = ("passed", "failed", "error", "skipped")

_CSS = """
.rig{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;font-size:14px;color:#222}
.rig h1{font-size:22px;margin:8px 0}.rig h2{font-size:18px;margin:18px 0 6px}.rig h3{font-size:15px;margin:10px 0 4px}
.rig table{border-collapse:collapse;margin:4px 0 10px}
.rig td,.rig th{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}
.rig th{background:#f3f3f3}
.rig .hdr th{width:12em}
.rig .o-passed,.rig .v-pass{color:#176f2c;font-weight:bold}
.rig .o-failed,.rig .o-error,.rig .v-fail{color:#b00020;font-weight:bold}
.rig .o-skipped,.rig .o-not-run{color:#777;font-weight:bold}
.rig tr.s-failed{background:#fde8e8}.rig tr.s-skipped{background:#f4f4f4}.rig tr.s-not-run{color:#999}
.rig .badge{display:inline-block;padding:4px 12px;margin-right:8px;border-radius:4px;color:#fff;font-weight:bold}
.rig .b-passed{background:#2e7d32}.rig .b-failed{background:#c62828}.rig .b-error{background:#6a1b9a}
.rig .b-skipped{background:#757575}.rig .b-total{background:#37474f}
.rig .banner{padding:8px;background:#fff3cd;border:1px solid #e0c060;margin:8px 0}
.rig details.case{border:1px solid #ddd;margin:6px 0;padding:4px 8px}
.rig details.case>summary{cursor:pointer;font-weight:bold}
.rig pre{background:#f7f7f7;padding:6px;overflow:auto;max-height:30em;white-space:pre-wrap}
.rig .num{text-align:right;font-variant-numeric:tabular-nums}
"""


def style_html() -> str:
    """Return the report's ``<style>`` element."""
    return f"<style>{_CSS}</style>"


def _t(epoch: Any) -> str:
    if not isinstance(epoch, int | float):
        return "—"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


def _dur(seconds: Any) -> str:
    return f"{seconds:.2f} s" if isinstance(seconds, int | float) else "—"


def _v(value: Any) -> str:
    return "—" if value is None else escape(str(value))


# -- header and summary -----------------------------------------------------------------------------------
def _pics_html(pics: dict[str, Any] | None) -> str:
    """The header's PICS cell: which PICS decided, the cases they made not applicable, contradictions."""
    if not pics:
        return "none given (every case ran)"
    items = pics.get("items") or {}
    supported = [k for k, v in items.items() if v]
    unsupported = [k for k, v in items.items() if not v]
    what = pics.get("path") or pics.get("origin") or "?"
    html = escape(f"{what}: {len(supported)} of {len(items)} items supported")
    if pics.get("origin") and pics.get("path"):
        html += escape(f" ({pics['origin']})")
    if supported:
        html += f"<details><summary>supported</summary>{escape(', '.join(supported))}</details>"
    if unsupported:
        html += f"<details><summary>not supported</summary>{escape(', '.join(unsupported))}</details>"
    for na in pics.get("not_applicable") or []:
        case = escape(str(na.get("case") or na.get("nodeid")))
        html += f"<br>not applicable: {case} lacks {escape(', '.join(na.get('lacks') or []))}"
    contradictions = pics.get("contradictions") or []
    if contradictions:
        items = "".join(f"<li>{escape(c)}</li>" for c in contradictions)
        html += f"<br><b>the PICS contradict the DUT:</b><ul>{items}</ul>"
    for warning in pics.get("warnings") or []:
        html += f"<br>warning: {escape(warning)}"
    if pics.get("error"):
        html += f" <b>{escape(pics['error'])}</b>"
    return html


def header_html(record: dict[str, Any]) -> str:
    """Return the header: run, DUT, bench, instruments, PICS, stimulus, rig.yaml, rig version."""
    dut = record.get("dut") or {}
    ident = dut.get("identity") or {}
    station = record.get("station") or {}
    rig = record.get("rig") or {}
    cfg = record.get("config") or {}
    rows: list[tuple[str, str]] = [
        (
            "Run",
            f"{_v(record.get('run_id'))} — {_v(record.get('status'))}"
            + (f" (exit {record['exit_status']})" if record.get("exit_status") not in (None, 0) else ""),
        ),
        ("Started / ended", f"{_t(record.get('started'))} / {_t(record.get('ended'))}"),
        (
            "DUT",
            escape(f"{ident.get('VendorName', '?')} {ident.get('ProductName', '?')}")
            + (
                f" (VID 0x{int(ident['VendorID']):04X}, PID 0x{int(ident['ProductID']):04X})"
                if isinstance(ident.get("VendorID"), int) and isinstance(ident.get("ProductID"), int)
                else ""
            )
            if ident
            else "identity not read (the DUT was not commissioned)",
        ),
        (
            "DUT software",
            escape(f"{ident.get('SoftwareVersionString', '?')} ({ident.get('SoftwareVersion', '?')})")
            if ident
            else "—",
        ),
        (
            "DUT hardware / serial",
            escape(f"{ident.get('HardwareVersionString', '?')} / {ident.get('SerialNumber', '?')}") if ident else "—",
        ),
        ("Build under test", _v(record.get("build"))),
        (
            "Bench",
            escape(f"{record.get('bench', '?')} — station {station.get('name', '?')}")
            + (escape(f", {station['location']}") if station.get("location") else "")
            + (escape(f", operator {station['operator']}") if station.get("operator") else ""),
        ),
        ("Stimulus", _v(record.get("stimulus"))),
        ("rig.yaml", escape(f"{cfg.get('path')} (sha256 {str(cfg.get('sha256') or '')[:16]}…)")),
        (
            "rig",
            escape(
                f"{rig.get('version')} (git {str(rig.get('git_sha') or 'unknown')[:12]}"
                f"{', local changes' if rig.get('git_dirty') else ''})"
            ),
        ),
    ]
    if dut.get("defects"):
        rows.append(("Virtual EVSE defects", escape(", ".join(dut["defects"]))))
    rows.append(("PICS", _pics_html(record.get("pics"))))
    instruments = record.get("instruments") or {}
    if instruments:
        inst = "".join(
            f"<tr><td>{escape(role)}</td><td>{_v(i.get('driver'))}</td><td>{_v(i.get('address'))}</td>"
            f"<td>{_v(i.get('identity'))}</td></tr>"
            for role, i in sorted(instruments.items())
            if isinstance(i, dict)
        )
        rows.append(
            (
                "Instruments",
                f"<table><tr><th>Role</th><th>Driver</th><th>Address</th><th>Identity</th></tr>{inst}</table>",
            )
        )
    else:
        rows.append(("Instruments", "none recorded"))
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    banner = ""
    if record.get("status") != "finished":
        n = len(record.get("cases") or [])
        banner = (
            f'<div class="banner">This run did not finish ({escape(str(record.get("status")))}): '
            f"the report shows the {n} case(s) recorded before it stopped.</div>"
        )
    return f'<div class="rig">{banner}<table class="hdr">{body}</table></div>'


def summary_html(record: dict[str, Any]) -> str:
    """Return the summary by outcome (badges)."""
    cases = record.get("cases") or []
    counts = Counter(c.get("outcome") for c in cases)
    total_s = sum(c.get("duration") or 0 for c in cases)
    badges = "".join(f'<span class="badge b-{o}">{counts.get(o, 0)} {o}</span>' for o in OUTCOME_ORDER)
    return (
        f'<div class="rig"><h2>Summary</h2><p><span class="badge b-total">{len(cases)} cases</span>{badges}'
        f" in {total_s:.1f} s</p></div>"
    )


def case_list_html(record: dict[str, Any], *, link: bool = True) -> str:
    """Return the case list: id, title, PICS, verdict, duration, failing step."""
    rows = []
    for i, c in enumerate(record.get("cases") or []):
        cid = escape(c.get("id", ""))
        name = f'<a href="#case-{i}">{cid}</a>' if link else cid
        o = c.get("outcome", "")
        rows.append(
            f"<tr><td>{name}</td><td>{_v(c.get('title'))}</td><td>{escape(' '.join(c.get('pics') or []))}"
            f'</td><td class="o-{o}">{o}</td><td class="num">{_dur(c.get("duration"))}</td>'
            f"<td>{_v(c.get('failed_step'))}</td></tr>"
        )
    return (
        '<div class="rig"><h2>Cases</h2><table><tr><th>Case</th><th>Title</th><th>PICS</th><th>Verdict</th>'
        f"<th>Duration</th><th>Failing step</th></tr>{''.join(rows)}</table></div>"
    )


# -- per case -----------------------------------------------------------------------------------------------
def case_steps_html(case: dict[str, Any]) -> str:
    """Return the step table: expected against actual, outcome, times."""
    t0 = case.get("started")
    rows = []
    for s in case.get("steps") or []:
        actual = "; ".join(s.get("notes") or [])
        ms = s.get("measurements") or []
        if ms:
            actual = "; ".join(
                ([actual] if actual else [])
                + [f"{m.get('name')} = {m.get('value')}{(' ' + m['unit']) if m.get('unit') else ''}" for m in ms]
            )
        st, en = s.get("started"), s.get("ended")
        at = f"+{st - t0:.3f} s" if isinstance(st, int | float) and isinstance(t0, int | float) else ""
        dur = f"{en - st:.3f} s" if isinstance(st, int | float) and isinstance(en, int | float) else ""
        o = s.get("outcome", "")
        rows.append(
            f'<tr class="s-{o}"><td>{_v(s.get("number"))}</td><td>{_v(s.get("description"))}</td>'
            f'<td>{_v(s.get("expectation"))}</td><td>{escape(actual)}</td><td class="o-{o}">{o}</td>'
            f"<td>{escape(s.get('skip_reason') or s.get('error') or '')}</td>"
            f'<td class="num">{at}</td><td class="num">{dur}</td></tr>'
        )
    if not rows:
        return ""
    return (
        "<h3>Steps</h3><table><tr><th>Step</th><th>Description</th><th>Expected</th><th>Actual</th>"
        f"<th>Outcome</th><th>Detail</th><th>Start</th><th>Duration</th></tr>{''.join(rows)}</table>"
    )


def _limits(m: dict[str, Any]) -> str:
    lo, hi, exp = m.get("low"), m.get("high"), m.get("expected")
    parts = []
    if lo is not None and hi is not None:
        parts.append(f"{lo:g} ≤ x ≤ {hi:g}")
    elif lo is not None:
        parts.append(f"x ≥ {lo:g}")
    elif hi is not None:
        parts.append(f"x ≤ {hi:g}")
    if exp is not None:
        parts.append(f"x = {exp}")
    return ", ".join(parts) or "no limits"


def case_measurements_html(case: dict[str, Any]) -> str:
    """Return the measurement table (step, name, value, unit, limits, verdict); empty without measurements."""
    rows = []
    for s in case.get("steps") or []:
        for m in s.get("measurements") or []:
            v = m.get("verdict", "")
            rows.append(
                f"<tr><td>{_v(s.get('number'))}</td><td>{_v(m.get('name'))}</td>"
                f'<td class="num">{_v(m.get("value"))}</td><td>{escape(m.get("unit") or "")}</td>'
                f'<td>{escape(_limits(m))}</td><td class="v-{v}">{v}</td></tr>'
            )
    if not rows:
        return ""
    return (
        '<div class="rig"><h3>Measurements</h3><table><tr><th>Step</th><th>Measurement</th><th>Value</th>'
        f"<th>Unit</th><th>Limits</th><th>Verdict</th></tr>{''.join(rows)}</table></div>"
    )


def case_plots_html(case: dict[str, Any]) -> str:
    """Return the case's plots (one SVG per plot group of its series); empty without series."""
    svgs = charts(case.get("series") or [])
    return f'<div class="rig"><h3>Plots</h3>{"".join(svgs)}</div>' if svgs else ""


def case_events_html(case: dict[str, Any]) -> str:
    """Return the Matter events received during the case."""
    events = case.get("events") or []
    if not events:
        return ""
    t0 = case.get("started")
    items = []
    for e in events:
        at = e.get("received_at")
        rel = f"+{at - t0:.3f} s " if isinstance(at, int | float) and isinstance(t0, int | float) else ""
        items.append(f"<li>{rel}{escape(str(e.get('summary') or e.get('name')))}</li>")
    return f"<h3>Matter events received</h3><ul>{''.join(items)}</ul>"


def case_detail_html(case: dict[str, Any], index: int) -> str:
    """Return one case's folding section: error, steps, measurements, plots, events, attachments, logs."""
    o = case.get("outcome", "")
    parts = [
        f'<details class="case" id="case-{index}"{" open" if o in ("failed", "error") else ""}>'
        f'<summary>{escape(case.get("id", ""))} — {_v(case.get("title"))} — <span class="o-{o}">{o}</span>'
        f" ({_dur(case.get('duration'))})</summary>"
    ]
    if case.get("error"):
        where = f" at step {escape(str(case['failed_step']))}" if case.get("failed_step") else ""
        parts.append(
            f"<p><b>{'Failed' if o != 'skipped' else 'Skipped'}{where}:</b></p><pre>{escape(str(case['error']))}</pre>"
        )
    parts.append(case_steps_html(case))
    parts.append(case_measurements_html(case))
    parts.append(case_plots_html(case))
    parts.append(case_events_html(case))
    atts = case.get("attachments") or []
    if atts:
        links = "".join(
            f'<li><a href="{escape(a["path"])}">{escape(a.get("name") or a["path"])}</a></li>'
            if a.get("path")
            else f"<li>{escape(a.get('name') or '')}: {_v(a.get('error'))}</li>"
            for a in atts
        )
        parts.append(f"<h3>Attachments</h3><ul>{links}</ul>")
    if case.get("logs"):
        cut = " (cut in the middle)" if case.get("logs_truncated") else ""
        parts.append(f"<details><summary>Captured output{cut}</summary><pre>{escape(case['logs'])}</pre></details>")
    parts.append("</details>")
    return "".join(parts)


def render_report(record: dict[str, Any]) -> str:
    """Return the complete, self-contained HTML page of a run record (a pure function of ``record``)."""
    title = escape(str(record.get("title") or "EVSE conformance report"))
    cases = record.get("cases") or []
    run_atts = record.get("attachments") or []
    att_html = (
        (
            "<h2>Run files</h2><ul>"
            + "".join(
                f'<li><a href="{escape(a["path"])}">{escape(a.get("name") or a["path"])}</a></li>'
                for a in run_atts
                if a.get("path")
            )
            + "</ul>"
        )
        if run_atts
        else ""
    )
    details = "".join(case_detail_html(c, i) for i, c in enumerate(cases))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title} — {escape(str(record.get('run_id')))}</title>"
        '<link rel="icon" href="data:,">'
        f"{style_html()}</head>\n"
        f'<body class="rig"><h1>{title}</h1>\n{header_html(record)}\n{summary_html(record)}\n'
        f'{case_list_html(record)}\n<div class="rig"><h2>Case details</h2>{details}{att_html}</div>\n'
        f"<footer><p>Rendered from report.json (schema {escape(str(record.get('schema_version')))}) by rig "
        f"{escape(str((record.get('rig') or {}).get('version')))}.</p></footer></body></html>\n"
    )
