"""Run record → JSON / HTML / JUnit; results database; comparing builds.

The run record (``report.json`` in the run folder, :mod:`rig.report.record`) is the canonical artefact of a run:
written atomically after every case, immutable once finished; every other output (the rendered HTML,
:mod:`rig.report.html`; JUnit, :mod:`rig.report.junit`; the results database, :mod:`rig.report.db`; comparisons,
:mod:`rig.report.compare`) is a pure function of it.
"""

from __future__ import annotations

from rig.report.record import SCHEMA_VERSION, RecordError, attach_file, attach_series, load_record

__all__ = ["SCHEMA_VERSION", "RecordError", "attach_file", "attach_series", "load_record"]
