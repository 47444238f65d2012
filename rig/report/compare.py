"""Comparing two runs (or two builds): what regressed, what was fixed, what drifted, what is flaky.

A side is one run (from its record or the results database) or a build/software version (every run of it in the
database; the latest run stands for the build, the others only feed flakiness). A case is *failing* when its
outcome is ``failed`` or ``error``. A regression is a case failing in B that was not failing in A.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rig.report.db import ResultsDb
from rig.report.record import RecordError
from rig.report.text import terminal_safe

FAILING = ("failed", "error")
MeasKey = tuple[str, str, str, int]  # case id, step, name, occurrence


@dataclass
class Side:
    """One side of a comparison.

    Attributes:
        label: what the user named (run id, path, build or version).
        run_id: the run standing for this side.
        build: the build it tested.
        runs: every run id this side covers (several when named by build or version).
        cases: case id → (outcome, title, failed step).
        measurements: (case, step, name, occurrence) → (numeric value or None, unit).
    """

    label: str
    run_id: str
    build: str
    runs: list[str]
    cases: dict[str, tuple[str, str | None, str | None]]
    measurements: dict[MeasKey, tuple[float | None, str | None]] = field(default_factory=dict)


@dataclass
class Drift:
    """A measurement whose value moved by more than the threshold."""

    case: str
    step: str
    name: str
    a: float
    b: float
    unit: str
    pct: float  # inf when A was 0


@dataclass
class Comparison:
    """The result of comparing A (before) with B (after)."""

    a: Side
    b: Side
    threshold_pct: float
    newly_failing: list[str]
    newly_passing: list[str]
    still_failing: list[str]
    only_in_a: list[str]
    only_in_b: list[str]
    drifted: list[Drift]
    flaky: dict[str, list[str]]  # case id → builds on which it had different outcomes

    @property
    def regression(self) -> bool:
        """Get whether B has a case failing that was not failing in A."""
        return bool(self.newly_failing)


# -- building sides ---------------------------------------------------------------------------------------------
class _Measurements:
    """Builds ``(case, step, name, occurrence) → (value, unit)``; repeated names in a step count up."""

    def __init__(self) -> None:
        self.out: dict[MeasKey, tuple[float | None, str | None]] = {}
        self._seen: dict[tuple[str, str, str], int] = {}

    def add(self, case: str, step: str | None, name: str, value: Any, unit: str | None) -> None:
        base = (case, step or "", name)
        n = self._seen.get(base, 0)
        self._seen[base] = n + 1
        num = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
        self.out[(*base, n)] = (num if num is None or math.isfinite(num) else None, unit)


def side_from_record(record: dict[str, Any], label: str) -> Side:
    """Return a side from a run record."""
    cases: dict[str, tuple[str, str | None, str | None]] = {}
    meas = _Measurements()
    for c in record["cases"]:
        if c["id"] in cases:
            continue
        cases[c["id"]] = (c["outcome"], c.get("title"), c.get("failed_step"))
        for s in c.get("steps") or []:
            for m in s.get("measurements") or []:
                meas.add(c["id"], s.get("number"), str(m.get("name")), m.get("value"), m.get("unit"))
    return Side(label, record["run_id"], str(record.get("build") or "unknown"), [record["run_id"]], cases, meas.out)


def side_from_db(db: ResultsDb, key: str) -> Side:
    """Return a side from the database: ``key`` is a run id, a build or a software version.

    Raises:
        RecordError: nothing in the database matches ``key``, or a version matches several builds.
    """
    runs = db.find(key)
    if not runs:
        raise RecordError(
            f"{key!r}: no run id, build or software version of that name in the results database "
            f"{db.url} (see `rig history`)"
        )
    builds = sorted({r.build for r in runs})
    if len(builds) > 1:
        raise RecordError(f"{key!r} matches several builds ({', '.join(builds)}): name one of them")
    latest = runs[-1]
    meas = _Measurements()
    for case, step, name, value, unit in db.measurements(latest.run_id):
        meas.add(case, step, name, value, unit)
    return Side(key, latest.run_id, latest.build, [r.run_id for r in runs], db.cases(latest.run_id), meas.out)


# -- comparing ----------------------------------------------------------------------------------------------------
def compare(a: Side, b: Side, threshold_pct: float = 10.0, db: ResultsDb | None = None) -> Comparison:
    """Compare side A (before) with side B (after); ``db`` (optional) supplies flakiness over each build's runs."""
    newly_failing, newly_passing, still_failing = [], [], []
    for cid in sorted(a.cases.keys() & b.cases.keys()):
        oa, ob = a.cases[cid][0], b.cases[cid][0]
        if ob in FAILING and oa not in FAILING:
            newly_failing.append(cid)
        elif oa in FAILING and ob == "passed":
            newly_passing.append(cid)
        elif oa in FAILING and ob in FAILING:
            still_failing.append(cid)
    drifted: list[Drift] = []
    for key in sorted(a.measurements.keys() & b.measurements.keys()):
        (va, unit), (vb, _) = a.measurements[key], b.measurements[key]
        if va is None or vb is None or va == vb:
            continue
        pct = math.inf if va == 0 else abs(vb - va) / abs(va) * 100.0
        if pct > threshold_pct:
            drifted.append(Drift(key[0], key[1], key[2], va, vb, unit or "", pct))
    flaky: dict[str, list[str]] = {}
    if db is not None:
        for build in sorted({a.build, b.build}):
            for cid, outcomes in db.outcomes_by_build(build).items():
                if len(outcomes) > 1 and (cid in a.cases or cid in b.cases):
                    flaky.setdefault(cid, []).append(build)
    return Comparison(
        a,
        b,
        threshold_pct,
        newly_failing,
        newly_passing,
        still_failing,
        sorted(a.cases.keys() - b.cases.keys()),
        sorted(b.cases.keys() - a.cases.keys()),
        drifted,
        dict(sorted(flaky.items())),
    )


# -- output -------------------------------------------------------------------------------------------------------
def _pct(p: float) -> str:
    return "from 0" if math.isinf(p) else f"{p:+.1f} %" if p else "0 %"


def format_text(c: Comparison) -> str:
    """Return the comparison as text for the terminal or a CI log.

    Every line is made inert (:func:`~rig.report.text.terminal_safe`): labels, ids, outcomes, steps, names and
    units come from records, partly from the DUT, and an escape sequence in one must not reach the terminal.
    """

    def side(s: Side) -> str:
        extra = f", {len(s.runs)} runs of this build" if len(s.runs) > 1 else ""
        return f"{s.label} (run {s.run_id}, build {s.build}{extra})"

    def flag(cid: str) -> str:
        return f"  [flaky on {', '.join(c.flaky[cid])}]" if cid in c.flaky else ""

    lines = [f"A: {side(c.a)}", f"B: {side(c.b)}", ""]
    sections: tuple[tuple[str, list[str], Callable[[str], str]], ...] = (
        (
            "newly failing",
            c.newly_failing,
            lambda cid: (
                f"{c.a.cases[cid][0]} -> {c.b.cases[cid][0]}"
                + (f" at step {c.b.cases[cid][2]}" if c.b.cases[cid][2] else "")
            ),
        ),
        ("newly passing", c.newly_passing, lambda cid: f"{c.a.cases[cid][0]} -> passed"),
        (
            "still failing",
            c.still_failing,
            lambda cid: f"{c.b.cases[cid][0]}" + (f" at step {c.b.cases[cid][2]}" if c.b.cases[cid][2] else ""),
        ),
        ("only in A", c.only_in_a, lambda cid: c.a.cases[cid][0]),
        ("only in B", c.only_in_b, lambda cid: c.b.cases[cid][0]),
    )
    for title, ids, detail in sections:
        lines.append(f"{title}: {len(ids)}")
        lines.extend(f"  {cid}  {detail(cid)}{flag(cid)}" for cid in ids[:200])
        if len(ids) > 200:
            lines.append(f"  … and {len(ids) - 200} more")
    lines.append(f"measurements drifted beyond {c.threshold_pct:g} %: {len(c.drifted)}")
    for d in c.drifted[:200]:
        lines.append(f"  {d.case} step {d.step} {d.name}: {d.a:g} -> {d.b:g} {d.unit} ({_pct(d.pct)})".rstrip())
    if len(c.drifted) > 200:
        lines.append(f"  … and {len(c.drifted) - 200} more")
    lines.append(f"flaky (different outcomes on the same build): {len(c.flaky)}")
    lines.extend(f"  {cid}  on {', '.join(builds)}" for cid, builds in list(c.flaky.items())[:200])
    lines.append("")
    lines.append(
        "REGRESSION: " + ", ".join(c.newly_failing[:20]) + (" …" if len(c.newly_failing) > 20 else "")
        if c.regression
        else "no regression"
    )
    return "\n".join(terminal_safe(line) for line in lines) + "\n"


def format_html(c: Comparison) -> str:
    """Return a self-contained comparison page (``templates/compare.html.j2``; no script, autoescaped)."""
    from markupsafe import Markup

    from rig.report.html import CSP, css, environment
    from rig.report.text import clean_output

    def case_rows(ids: list[str]) -> list[list[str]]:
        return [
            [
                cid,
                str(c.b.cases.get(cid, c.a.cases.get(cid, ("", None, None)))[1] or ""),
                c.a.cases[cid][0] if cid in c.a.cases else "—",
                c.b.cases[cid][0] if cid in c.b.cases else "—",
                str((c.b.cases.get(cid) or ("", None, None))[2] or ""),
                ", ".join(c.flaky.get(cid, [])),
            ]
            for cid in ids
        ]

    sections = [
        (title, case_rows(ids))
        for title, ids in (
            ("Newly failing", c.newly_failing),
            ("Newly passing", c.newly_passing),
            ("Still failing", c.still_failing),
            ("Only in A", c.only_in_a),
            ("Only in B", c.only_in_b),
        )
    ]
    drifted = [(d, f"{d.a:g}", f"{d.b:g}", _pct(d.pct)) for d in c.drifted]
    page = (
        environment()
        .get_template("compare.html.j2")
        .render(
            c=c,
            sections=sections,
            drifted=drifted,
            threshold=f"{c.threshold_pct:g}",
            csp=Markup(CSP),
            css=Markup(css()),
        )
    )
    return clean_output(page)
