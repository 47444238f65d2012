"""The PICS of one run: which PICS decided (a file's, or derived from the DUT), what they skipped, contradictions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rig.pics.derive import DutElements
from rig.pics.reading import Pics


@dataclass
class PicsRunState:
    """What the report needs to know about PICS in this run.

    Attributes:
        pics: the loaded PICS, or ``Pics.everything()`` when no file was given.
        given: True when a PICS file was given.
        skipped: nodeid -> the PICS codes of its marker that the PICS do not support (the case was skipped).
        case_ids: nodeid -> TC id (``tc`` marker) of the skipped cases that have one.
        dut: the DUT's cluster elements once read to compare with the file (None before, or without a file).
        effective: without a PICS file, the PICS derived from the DUT once read (None before).
        contradictions: one sentence per disagreement between the PICS file and the DUT.
        error: why the DUT could not be compared, if it could not.
        compared: True once the comparison was attempted.
    """

    pics: Pics
    given: bool
    skipped: dict[str, list[str]] = field(default_factory=dict)
    case_ids: dict[str, str] = field(default_factory=dict)
    dut: DutElements | None = None
    effective: Pics | None = None
    contradictions: list[str] = field(default_factory=list)
    error: str | None = None
    compared: bool = False

    def to_record(self) -> dict[str, Any]:
        """The run record's ``pics`` section: which PICS decided, what they skipped, where they contradict the DUT."""
        active = self.pics if self.given else self.effective
        if self.given:
            origin = "file"
        elif active is not None:
            origin = "derived from the DUT"
        else:
            origin = "none (no PICS file; the DUT was not read)"
        return {
            "given": self.given,
            "path": str(self.pics.source) if self.given and self.pics.source else None,
            "origin": origin,
            "summary": active.describe() if active is not None else self.pics.describe(),
            "items": dict(sorted(active.items.items())) if active is not None else {},
            "warnings": list(self.pics.warnings),
            "not_applicable": [
                {"case": self.case_ids.get(nodeid), "nodeid": nodeid, "lacks": list(missing)}
                for nodeid, missing in self.skipped.items()
            ],
            "compared": self.compared and self.dut is not None,
            "contradictions": list(self.contradictions),
            "error": self.error,
        }

    def skip_reason(self, missing: list[str]) -> str:
        """The reason text of a case skipped for ``missing`` PICS."""
        name = self.pics.source.name if self.pics.source else "?"
        return f"PICS not supported: {', '.join(missing)} (PICS file {name})"
