"""JUnit XML from a run record, for CI systems: the rig's one JUnit writer.

One ``testcase`` per case: ``name`` is the case id (``TC-EEVSE-2.2``), ``classname`` its title. The suite's
properties name the run, the station, the DUT's identity and, when the record has one, how the DUT's attestation
was checked. Times are ISO 8601 UTC with the zone. Every string from the record is cleaned of what XML 1.0 cannot
hold (control characters, lone surrogates: shown as ``\\x07`` / ``\\ud800``), so a DUT string never makes the file
invalid. A pure function of the record: the same record gives the same bytes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from typing import Any

from rig.report.record import utc_iso
from rig.report.text import clean

MESSAGE_LIMIT = 500
"""Characters of the error kept in a failure's ``message`` attribute (the element's text has all of it)."""


def _s(value: Any) -> str:
    return clean(value if isinstance(value, str) else "" if value is None else str(value))


def _hex(name: Any, number: Any) -> str:
    text = _s(name)
    if isinstance(number, int) and not isinstance(number, bool):
        text += f" (0x{number:04X})"
    return text


def _version(text: Any, number: Any) -> str:
    out = _s(text)
    if number not in (None, ""):
        out += f" ({_s(number)})"
    return out


def properties(record: dict[str, Any]) -> list[tuple[str, str]]:
    """Return the suite's properties: run, station, DUT identity, attestation, spec, test plan, PICS."""
    station = record.get("station") or {}
    dut = record.get("dut") or {}
    ident = dut.get("identity") or {}
    spec = record.get("spec") or {}
    pics = record.get("pics") or {}
    props: list[tuple[str, Any]] = [
        ("run_id", record.get("run_id")),
        ("status", record.get("status")),
        ("exit_status", record.get("exit_status")),
        ("started", utc_iso(record.get("started"))),
        ("ended", utc_iso(record.get("ended"))),
        ("station.name", station.get("name")),
        ("station.location", station.get("location")),
        ("station.operator", station.get("operator")),
        ("bench", record.get("bench")),
        ("stimulus", record.get("stimulus")),
        ("build", record.get("build")),
        ("dut.vendor", _hex(ident.get("VendorName"), ident.get("VendorID")) if ident else None),
        ("dut.product", _hex(ident.get("ProductName"), ident.get("ProductID")) if ident else None),
        ("dut.serial", ident.get("SerialNumber")),
        (
            "dut.hardware_version",
            _version(ident.get("HardwareVersionString"), ident.get("HardwareVersion")) if ident else None,
        ),
        (
            "dut.software_version",
            _version(ident.get("SoftwareVersionString"), ident.get("SoftwareVersion")) if ident else None,
        ),
        ("dut.kind", dut.get("kind")),
        ("dut.node_id", dut.get("node_id")),
        ("dut.endpoint", dut.get("endpoint")),
        ("dut.defects", ",".join(_s(d) for d in dut.get("defects") or []) or None),
        ("dut.attestation", dut.get("attestation")),
        ("dut.commissioning", dut.get("commissioning")),
        ("rig.matter_controller", (record.get("rig") or {}).get("matter_controller")),
        (
            "dut.fabric_removal",
            (dut.get("fabrics") or {}).get("removal") if isinstance(dut.get("fabrics"), dict) else None,
        ),
        (
            "spec",
            f"{spec.get('cluster')} cluster {spec.get('cluster_id')} revision {spec.get('revision')}" if spec else None,
        ),
        ("test_plan", record.get("test_plan")),
        ("pics", pics.get("summary") or pics.get("origin") if pics else None),
    ]
    return [(name, _s(value)) for name, value in props if value not in (None, "")]


def render_junit(record: dict[str, Any], suite_name: str = "rig") -> str:
    """Return JUnit XML for ``record`` (test names are the case ids, class names the case titles).

    Failing and erroring cases carry the failing step and the error text; skipped cases their reason; a case
    with an outcome the rig does not know is an error; the captured output goes to ``system-out``.
    """
    cases = record.get("cases") or []
    counts = Counter(c.get("outcome") for c in cases)
    unknown = sum(n for o, n in counts.items() if o not in ("passed", "failed", "error", "skipped"))
    total = f"{sum(c.get('duration') or 0 for c in cases if isinstance(c.get('duration'), int | float)):.3f}"
    attrs = {
        "name": _s(record.get("title") or suite_name),
        "tests": str(len(cases)),
        "failures": str(counts.get("failed", 0)),
        "errors": str(counts.get("error", 0) + unknown),
        "skipped": str(counts.get("skipped", 0)),
        "time": total,
    }
    root = ET.Element("testsuites", attrs)
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            **attrs,
            "name": suite_name,
            "timestamp": utc_iso(record.get("started")) or "",
            "hostname": _s((record.get("station") or {}).get("name")),
        },
    )
    props = ET.SubElement(suite, "properties")
    for name, value in properties(record):
        ET.SubElement(props, "property", {"name": name, "value": value})
    for c in cases:
        duration = c.get("duration")
        tc = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": _s(c.get("title")),
                "name": _s(c.get("id")),
                "time": f"{duration if isinstance(duration, int | float) else 0:.3f}",
            },
        )
        outcome = c.get("outcome")
        message = _s(c.get("error"))
        step = c.get("failed_step")
        if outcome == "skipped":
            ET.SubElement(tc, "skipped", {"message": message[:MESSAGE_LIMIT]})
        elif outcome != "passed":
            tag = "failure" if outcome == "failed" else "error"
            if outcome not in ("failed", "error"):
                message = f"unknown outcome {_s(outcome)!r}" + (f": {message}" if message else "")
            head = f"step {_s(step)}: " if step else ""
            first = message.splitlines()[0] if message else ""
            el = ET.SubElement(tc, tag, {"message": (head + first)[:MESSAGE_LIMIT]})
            el.text = message
        if c.get("logs"):
            ET.SubElement(tc, "system-out").text = _s(c["logs"])
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
