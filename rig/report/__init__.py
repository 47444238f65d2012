"""Run record → JSON / HTML / JUnit; results database; comparing builds.

The run record (``report.json`` in the run folder, :mod:`rig.report.record`) is the canonical artefact of a run:
written atomically after every case, immutable once finished; every other output (the HTML report,
:mod:`rig.report.html` with its templates in ``templates/`` and its plots from :mod:`rig.report.plots`; JUnit,
:mod:`rig.report.junit`; the results database, :mod:`rig.report.db`; comparisons, :mod:`rig.report.compare`) is a
pure function of it. Nothing here imports the pytest plugin: suites attach series and files with
:mod:`rig.pytest_plugin.attach`.
"""

from __future__ import annotations

from rig.report.record import SCHEMA_VERSION, RecordError, load_record

__all__ = ["SCHEMA_VERSION", "RecordError", "load_record"]
