"""The regression report of ``rig regress``: builds x cases, each cell a case's outcome on one build's run.

A *regression* is a case that passed on the previous build's run and fails (``failed`` or ``error``) on this one;
a *fix* is a case that failed on the previous build's run and passes on this one. The report (``regress.json``) is
made from the builds' descriptions and their runs' records; the page (``report.html``) is a pure function of it.
Everything that came from an image or a DUT (version strings, builds, titles, failed steps) is text the template
escapes; a link is made only from a run id of the rig's own form.
"""

from __future__ import annotations

import re
from typing import Any

from rig.report.compare import FAILING

FORMAT = "rig-regress/1"
JSON_NAME = "regress.json"
HTML_NAME = "report.html"
RUN_ID = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{6}$")
"""A run id as :func:`rig.sandbox.new_run_id` makes it: the only text a link is made from."""
NOT_RUN = "not-run"


def run_link(run_id: Any) -> str | None:
    """The link from the regression folder to a run's report (``../RUN/report.html``), or None for anything that is
    not a run id of the rig's own form."""
    if isinstance(run_id, str) and RUN_ID.match(run_id):
        return f"../{run_id}/report.html"
    return None


def build_report(builds: list[dict[str, Any]], records: list[dict[str, Any] | None]) -> dict[str, Any]:
    """Return the regression report of ``builds`` (in the order installed) and their runs' records (None where a
    build was not tested). Each build is a dict with at least ``software_version``; its ``run`` (if any) gets a
    ``report`` link. The report's ``cases`` hold one cell per build; ``regressions`` and ``fixes`` list
    ``{"case", "build", "previous"}`` by build index."""
    order: list[str] = []
    titles: dict[str, str] = {}
    outcomes: list[dict[str, tuple[str, str | None]]] = []
    for record in records:
        cases: dict[str, tuple[str, str | None]] = {}
        for case in (record or {}).get("cases") or []:
            cid = str(case.get("id"))
            if cid in cases:
                continue
            cases[cid] = (str(case.get("outcome")), case.get("failed_step"))
            if cid not in titles:
                order.append(cid)
                titles[cid] = str(case.get("title") or "")
        outcomes.append(cases)
    regressions: list[dict[str, Any]] = []
    fixes: list[dict[str, Any]] = []
    rows = []
    for cid in order:
        cells = []
        previous: int | None = None
        for index, cases in enumerate(outcomes):
            outcome, failed_step = cases.get(cid, (NOT_RUN, None))
            change = None
            if previous is not None and records[index] is not None:
                before = outcomes[previous].get(cid, (NOT_RUN, None))[0]
                if before == "passed" and outcome in FAILING:
                    change = "regression"
                    regressions.append({"case": cid, "build": index, "previous": previous})
                elif before in FAILING and outcome == "passed":
                    change = "fix"
                    fixes.append({"case": cid, "build": index, "previous": previous})
            cells.append({"outcome": outcome, "failed_step": failed_step, "change": change})
            if records[index] is not None:
                previous = index
        rows.append({"id": cid, "title": titles[cid], "cells": cells})
    out_builds = []
    for build, record in zip(builds, records, strict=True):
        b = dict(build)
        if b.get("run"):
            b["run"] = {**b["run"], "report": run_link(b["run"].get("run_id"))}
        if record is not None:
            b["build"] = record.get("build")
        out_builds.append(b)
    return {
        "format": FORMAT,
        "builds": out_builds,
        "cases": rows,
        "regressions": regressions,
        "fixes": fixes,
        "regression": bool(regressions),
    }


def format_html(report: dict[str, Any]) -> str:
    """Return the self-contained page of a regression report (``templates/regress.html.j2``; no script, autoescaped,
    the report pages' Content-Security-Policy)."""
    from markupsafe import Markup

    from rig.report.html import CSP, css, environment
    from rig.report.text import clean_output

    builds = report["builds"]
    names = {i: _build_name(b) for i, b in enumerate(builds)}
    changes = [
        (kind, [(c["case"], names[c["build"]], names[c["previous"]]) for c in report[key]])
        for kind, key in (("Regressions", "regressions"), ("Fixes", "fixes"))
    ]
    rows = [
        {
            "id": row["id"],
            "title": row["title"],
            "cells": [
                {
                    **cell,
                    "token": cell["outcome"] if cell["outcome"] in _TOKENS else "unknown",
                    "href": run_link((builds[i].get("run") or {}).get("run_id")),
                }
                for i, cell in enumerate(row["cells"])
            ],
        }
        for row in report["cases"]
    ]
    heads = [
        {**b, "name": names[i], "href": run_link((b.get("run") or {}).get("run_id"))} for i, b in enumerate(builds)
    ]
    page = (
        environment()
        .get_template("regress.html.j2")
        .render(r=report, builds=heads, rows=rows, changes=changes, csp=Markup(CSP), css=Markup(css()))
    )
    return clean_output(page)


_TOKENS = frozenset(("passed", "failed", "error", "skipped", NOT_RUN))


def _build_name(build: dict[str, Any]) -> str:
    return f"{build.get('software_version')} ({build.get('software_version_string')})"


def format_text(report: dict[str, Any]) -> str:
    """A few lines for the terminal: each build's verdict, then the regressions and fixes."""
    from rig.report.text import terminal_safe

    builds = report["builds"]
    lines = []
    for b in builds:
        run = b.get("run") or {}
        lines.append(
            f"  {_build_name(b)}: {b.get('status')}"
            + (f", run {run.get('run_id')} exit {run.get('exit_code')}, build {b.get('build')}" if run else "")
        )
    for kind, key in (("regression", "regressions"), ("fix", "fixes")):
        for c in report[key]:
            lines.append(
                f"  {kind}: {c['case']} on {_build_name(builds[c['build']])} (vs {_build_name(builds[c['previous']])})"
            )
    return "\n".join(terminal_safe(line) for line in lines)
