"""JUnit XML from a run record, for CI systems: one ``testcase`` per case, named by its TC id."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections import Counter
from typing import Any


def render_junit(record: dict[str, Any], suite_name: str = "rig") -> str:
    """Return JUnit XML for ``record`` (test names are the TC ids, class names the case titles).

    Failing and erroring cases carry the failing step and the error text; skipped cases their reason;
    the captured logs go to ``system-out``.
    """
    cases = record.get("cases") or []
    counts = Counter(c.get("outcome") for c in cases)
    started = record.get("started")
    root = ET.Element("testsuites")
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            "name": suite_name,
            "tests": str(len(cases)),
            "failures": str(counts.get("failed", 0)),
            "errors": str(counts.get("error", 0)),
            "skipped": str(counts.get("skipped", 0)),
            "time": f"{sum(c.get('duration') or 0 for c in cases):.3f}",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(started))
            if isinstance(started, int | float)
            else "",
            "hostname": str((record.get("station") or {}).get("name") or ""),
        },
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("run_id", record.get("run_id")),
        ("status", record.get("status")),
        ("build", record.get("build")),
        ("stimulus", record.get("stimulus")),
    ):
        ET.SubElement(props, "property", {"name": name, "value": str(value)})
    for c in cases:
        tc = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": str(c.get("title") or ""),
                "name": str(c.get("id")),
                "time": f"{c.get('duration') or 0:.3f}",
            },
        )
        outcome = c.get("outcome")
        message = str(c.get("error") or "")
        step = c.get("failed_step")
        if outcome in ("failed", "error"):
            tag = "failure" if outcome == "failed" else "error"
            head = f"step {step}: " if step else ""
            el = ET.SubElement(tc, tag, {"message": (head + message.splitlines()[0] if message else head)[:500]})
            el.text = message
        elif outcome == "skipped":
            ET.SubElement(tc, "skipped", {"message": message[:500]})
        if c.get("logs"):
            ET.SubElement(tc, "system-out").text = str(c["logs"])
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
