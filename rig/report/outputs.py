"""The outputs of a run folder, each a pure function of its ``report.json``: ``report.html`` and ``junit.xml``.

Written at session end by the reporting plugin, by ``rig run`` for a run whose pytest died, and by
``rig report render``: the same record gives the same bytes every time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rig.report.record import RECORD_NAME, load_record, write_atomic

HTML_NAME = "report.html"
JUNIT_NAME = "junit.xml"


def renderers() -> dict[str, Callable[[dict[str, Any]], str]]:
    """Return output file name → the function rendering it from a record."""
    from rig.report.html import render_report
    from rig.report.junit import render_junit

    return {HTML_NAME: render_report, JUNIT_NAME: render_junit}


def write_outputs(
    run_dir: Path, record: dict[str, Any] | None = None, names: tuple[str, ...] = (HTML_NAME, JUNIT_NAME)
) -> list[Path]:
    """Write the outputs ``names`` of ``run_dir`` from its record (read from ``report.json`` unless given).

    Raises:
        RecordError: the record is missing, truncated or foreign.
        OSError: an output cannot be written (an output written before stays).
    """
    rec = load_record(run_dir / RECORD_NAME) if record is None else record
    made = renderers()
    written = []
    for name in names:
        write_atomic(run_dir / name, made[name](rec))
        written.append(run_dir / name)
    return written
