"""What a run is tested against: the specification and the test plan, and how the plan groups its cases.

The run record names both (``spec``, ``test_plan``); the report groups the cases by :data:`GROUPS`, as the test
plan does: the test plan's own cases (TC-EEVSE-1.x, 2.x), the spec conformance items generated from the cluster XML
(TC-EEVSE-SPEC-*), then the bench-measured HIL cases (HIL-*).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

TEST_PLAN = (
    "Matter Energy EVSE cluster test plan (TC-EEVSE-*), with the rig's spec conformance items (TC-EEVSE-SPEC-*) "
    "and hardware-in-the-loop cases (HIL-*)"
)
"""The test plan a run follows, as the run record names it."""

GROUPS: tuple[tuple[str, str, str], ...] = (
    ("spec", "TC-EEVSE-SPEC-", "Spec conformance items (TC-EEVSE-SPEC-*)"),
    ("plan", "TC-EEVSE-", "Test plan cases (TC-EEVSE-*)"),
    ("hil", "HIL-", "Hardware-in-the-loop cases (HIL-*)"),
)
"""(key, case id prefix, title); the first matching prefix wins, so the longer prefix comes first."""

ORDER = ("plan", "spec", "hil", "other")
"""The order of the groups in the report."""

OTHER = ("other", "", "Other cases")


def group_of(case_id: str) -> tuple[str, str]:
    """Return the (key, title) of the test-plan group of ``case_id``."""
    for key, prefix, title in GROUPS:
        if case_id.startswith(prefix):
            return key, title
    return OTHER[0], OTHER[2]


Groups = list[tuple[str, str, list[tuple[int, dict[str, Any]]]]]
"""Cases by group: (key, title, [(index in the record, case)])."""


def group_cases(cases: list[dict[str, Any]]) -> Groups:
    """Return the cases by group, in :data:`ORDER`, each as (key, title, [(index in the record, case)])."""
    by_key: dict[str, tuple[str, list[tuple[int, dict[str, Any]]]]] = {}
    for index, case in enumerate(cases):
        key, title = group_of(str(case.get("id", "")))
        by_key.setdefault(key, (title, []))[1].append((index, case))
    return [(key, *by_key[key]) for key in ORDER if key in by_key]


def spec_of(xml: Path, source: str | None = None) -> dict[str, Any] | None:
    """Return the run record's ``spec`` section for a cluster XML (None when it cannot be read).

    Args:
        xml: the cluster XML.
        source: how the record names the file (default: its name).
    """
    from rig.errors import RigError
    from rig.spec.parser import parse_cluster

    try:
        cluster = parse_cluster(xml)
    except (RigError, OSError):
        return None
    name = cluster.name.removesuffix(" Cluster")
    return {
        "cluster": name,
        "cluster_id": f"0x{cluster.id:04X}",
        "revision": cluster.revision,
        "source": source or xml.name,
    }
