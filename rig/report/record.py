"""The run record: ``report.json`` in the run folder, the canonical artefact of a run.

Shape (``schema_version`` 2; every output of a run is a pure function of this document)::

    {"kind": "rig-run-record", "schema_version": 2, "run_id": "...", "status": "running|finished|interrupted",
     "exit_status": 0, "started": 1.7e9, "ended": 1.7e9, "title": "...", "energy_tolerance_pct": 2.0,
     "rig": {"version", "git_sha", "git_dirty", "python", "pytest", "matter_controller", "matter_js"},
     "station": {"name", "location", "operator"}, "bench": "virtual|real",
     "config": {"path", "sha256"}, "stimulus": "trigger",
     "spec": {"cluster", "cluster_id", "revision", "source"} | null,
     "test_plan": "...",
     "dut": {"kind", "node_id", "endpoint", "defects": [...], "identity": {VendorName, ..., SerialNumber} | null,
             "attestation": "..." (optional: how the DUT's attestation was checked),
             "fabrics": {...} (optional: the DUT's fabric table after commissioning: current_index, supported,
                 commissioned, free, label, entries [{index, vendor_id, fabric_id, node_id, label}],
                 stale_rig_fabrics, problems, removed, removal: what the end of the session did with the rig's
                 fabric),
             "commissioning": "on-network|join|already-commissioned" (optional),
             "station": {"name", "root_fingerprint", "compressed_fabric_id", "controller_node_id"} (optional)},
     "build": "1.0.0" or "1.0.0+defect-a,defect-b" (software version string, plus virtual EVSE defects),
     "pics": {"given", "path", "origin": "file|derived from the DUT|none ...", "summary", "items": {"EEVSE.S": true},
              "warnings", "not_applicable": [{"case", "nodeid", "lacks": [...]}], "compared",
              "contradictions": ["PICS says ... but the DUT ..."], "error"} | null,
     "instruments": {role: {"driver", "address", "identity"}},
     "attachments": [{"name", "path"}],                       # run-level files, relative to the run folder
     "cases": [{"id", "title", "nodeid", "pics": [...], "outcome": "passed|failed|error|skipped",
                "started", "ended", "duration", "failed_step", "error",
                "phases": {"setup|call|teardown": {"start", "stop", "duration"}},
                "steps": [StepRecord.to_dict()...], "events": [{"name", "data", "endpoint", "event_number",
                "priority", "received_at"}], "series": [{"name", "unit", "plot", "step", "points": [[t, v]...]}],
                "logs": "...", "logs_truncated": false, "attachments": [{"name", "path"}]}]}

Times (``started``, ``ended``, a step's ``started``/``ended``, an event's ``received_at``, a phase's
``start``/``stop``) are seconds since the Unix epoch, UTC; every output shows them as ISO 8601 UTC with the zone
(:func:`utc_iso`, e.g. ``2026-12-03T08:01:02.345Z``). Durations are seconds.

Schema 2 added ``spec``, ``test_plan``, ``energy_tolerance_pct`` and ``dut.attestation``; a schema-1 record is read
as it is (the outputs say "not recorded" for what it lacks).

Canonical form: keys sorted, compact separators, one case per line, UTF-8, a final newline. The file is replaced
atomically (temporary file in the same folder, fsync, rename) after every case, so a killed run leaves a valid
record of what ran (``status`` stays ``running``). Once ``finished`` or ``interrupted`` it is never written again,
but for one thing: the next run on the bench of a run whose ``rig run`` was killed (SIGKILL) closes its record as
``killed`` (see :func:`rig.session.record_killed`).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from rig.errors import RigError
from rig.inputs import read_input

SCHEMA_VERSION = 2
RECORD_KIND = "rig-run-record"
RECORD_NAME = "report.json"
STATUSES = ("running", "finished", "interrupted", "killed")
OUTCOMES = ("passed", "failed", "error", "skipped")
LOG_LIMIT = 64_000
"""Characters of captured log kept per case (head and tail, the middle is cut with a note)."""


class RecordError(RigError):
    """A run record is missing, truncated, foreign or of an unknown schema; or it was written after finishing."""


# -- times -----------------------------------------------------------------------------------------------------
def utc_iso(epoch: Any) -> str | None:
    """Return epoch seconds as ISO 8601 UTC with milliseconds and the zone (``2026-12-03T08:01:02.345Z``).

    None for anything that is not a finite number (a time that was never taken).
    """
    if isinstance(epoch, bool) or not isinstance(epoch, int | float) or not math.isfinite(epoch):
        return None
    seconds, millis = divmod(round(epoch * 1000), 1000)
    day_time = _utc_seconds(seconds)
    return None if day_time is None else f"{day_time}.{millis:03d}Z"


@functools.lru_cache(maxsize=4096)
def _utc_seconds(seconds: int) -> str | None:
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    except (OverflowError, OSError, ValueError):
        return None


# -- canonical JSON ----------------------------------------------------------------------------------------
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def dumps_canonical(value: Any) -> str:
    """Return ``value`` as canonical JSON (sorted keys, compact separators, non-ASCII kept).

    A lone surrogate (a DUT string decoded with ``surrogateescape``, or a broken one) cannot be written as UTF-8; it
    is written as its ``\\uXXXX`` escape, which is valid JSON and loads back as the same character.
    """
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def dumps_record(record: dict[str, Any], case_texts: Sequence[str] | None = None) -> str:
    """Return the canonical text of a record: one case per line.

    Args:
        record: the record; its ``cases`` are encoded unless ``case_texts`` (their canonical texts) is given.
        case_texts: pre-encoded cases, in order (lets a writer avoid re-encoding finished cases).
    """
    texts = list(case_texts) if case_texts is not None else [dumps_canonical(c) for c in record.get("cases", [])]
    head = dumps_canonical({**record, "cases": []})
    marker = '"cases":[]'
    at = head.index(marker)  # the only unescaped occurrence: string values escape their quotes
    body = "[\n" + ",\n".join(texts) + "\n]" if texts else "[]"
    return head[:at] + '"cases":' + body + head[at + len(marker) :] + "\n"


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically: a temporary file in the same folder, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def jsonable(value: Any, _depth: int = 0) -> Any:
    """Return ``value`` as plain JSON data (dataclasses and objects as dicts, enums by name, bytes as hex)."""
    if _depth > 12:
        return repr(value)
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)  # IntEnum members as their number (the event summary carries the names)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, bytes | bytearray):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): jsonable(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v, _depth + 1) for v in value]
    fields = getattr(value, "__dataclass_fields__", None)
    if fields is not None:
        return {k: jsonable(getattr(value, k, None), _depth + 1) for k in fields}
    return repr(value)


def truncate_log(text: str, limit: int = LOG_LIMIT) -> tuple[str, bool]:
    """Return ``text`` cut to about ``limit`` characters (head and tail kept) and whether it was cut."""
    if len(text) <= limit:
        return text, False
    half = limit // 2
    cut = len(text) - 2 * half
    return f"{text[:half]}\n… [{cut} characters cut] …\n{text[-half:]}", True


# -- provenance and PICS ------------------------------------------------------------------------------------
def rig_provenance(project_root: Path) -> dict[str, Any]:
    """Return the rig version, git SHA (None outside a checkout) and whether the tree has local changes."""
    import platform

    import pytest

    from rig import __version__

    sha: str | None = None
    dirty: bool | None = None
    git = shutil.which("git")
    if git is not None:
        try:
            out = subprocess.run(
                [git, "-C", str(project_root), "rev-parse", "HEAD"],
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            )
            if out.returncode == 0:
                sha = out.stdout.strip()
                st = subprocess.run(
                    [git, "-C", str(project_root), "status", "--porcelain", "--untracked-files=no"],
                    capture_output=True,
                    text=True,
                    timeout=5,
                    check=False,
                )
                dirty = bool(st.stdout.strip()) if st.returncode == 0 else None
        except (OSError, subprocess.TimeoutExpired):
            pass
    return {
        "version": __version__,
        "git_sha": sha,
        "git_dirty": dirty,
        "python": platform.python_version(),
        "pytest": pytest.__version__,
        "matter_controller": _package_version("home-assistant-chip-core"),
        "matter_js": _matter_js_version(project_root),
    }


def _package_version(name: str) -> str | None:
    """An installed distribution's version (the CHIP controller wheel), read without importing it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _matter_js_version(project_root: Path) -> str | None:
    """The matter.js version the virtual EVSE runs on (its installed @matter/main), or None when not installed."""
    try:
        data = json.loads((project_root / "virtual_evse/node_modules/@matter/main/package.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    value = data.get("version") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def build_label(identity: dict[str, Any] | None, defects: Iterable[str] = ()) -> str:
    """Return the build a run tested: the DUT's SoftwareVersionString (or number), ``+defects`` on a virtual EVSE."""
    ident = identity or {}
    version = ident.get("SoftwareVersionString") or ident.get("SoftwareVersion")
    label = str(version) if version not in (None, "") else "unknown"
    defects = sorted(defects)
    return label + ("+" + ",".join(defects) if defects else "")


# -- the writer ---------------------------------------------------------------------------------------------
class RecordWriter:
    """Keeps a run record and rewrites ``report.json`` atomically after every change.

    Args:
        path: the record file (``<run folder>/report.json``).
        header: every top-level field except ``cases``, ``status`` and ``kind``/``schema_version``.
    """

    def __init__(self, path: Path, header: dict[str, Any]) -> None:
        self.path = path
        self._record: dict[str, Any] = {
            **header,
            "kind": RECORD_KIND,
            "schema_version": SCHEMA_VERSION,
            "status": "running",
            "cases": [],
        }
        self._case_texts: list[str] = []

    @property
    def record(self) -> dict[str, Any]:
        """Get the record as written last (do not mutate)."""
        return self._record

    @property
    def finished(self) -> bool:
        """Get whether the record is closed (``finished`` or ``interrupted``)."""
        return bool(self._record["status"] != "running")

    def update(self, **fields: Any) -> None:
        """Set top-level fields (e.g. the DUT identity once read) and rewrite the file."""
        self._check_open()
        self._record.update(fields)
        self.write()

    def add_case(self, case: dict[str, Any], **fields: Any) -> None:
        """Append a finished case (and set top-level ``fields``), then rewrite the file once."""
        self._check_open()
        case = jsonable(case)
        self._record.update(jsonable(fields))
        self._record["cases"].append(case)
        self._case_texts.append(dumps_canonical(case))
        self.write()

    def finish(self, status: str, exit_status: int | None, ended: float, **fields: Any) -> None:
        """Close the record with ``status`` (``finished`` or ``interrupted``) and write it a last time."""
        self._check_open()
        if status not in STATUSES[1:]:
            raise ValueError(f"status must be finished or interrupted, not {status!r}")
        self._record.update(fields, status=status, exit_status=exit_status, ended=ended)
        self.write()

    def write(self) -> None:
        """Write the record atomically."""
        write_atomic(self.path, dumps_record(self._record, self._case_texts))

    def _check_open(self) -> None:
        if self.finished:
            raise RecordError(f"{self.path}: the run record is {self._record['status']} and immutable")


# -- reading ------------------------------------------------------------------------------------------------
def cases_by_id(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The record's cases keyed by case id (``TC-EEVSE-2.2``; the node id for a case without a ``tc`` marker)."""
    return {case["id"]: case for case in record.get("cases", [])}


def load_record(source: Path | str) -> dict[str, Any]:
    """Read and check a run record.

    Raises:
        RecordError: the file is missing, not a regular file (a FIFO, a symbolic link loop), too large, not JSON
            (e.g. truncated; NaN and Infinity are not JSON), nested too deeply, not a rig run record, of a newer
            schema, or a field the outputs read has the wrong type (the message names it).
    """
    path = Path(source)
    if path.is_dir() and path.name != RECORD_NAME:  # a folder named report.json is no record: read_input says so
        path = path / RECORD_NAME
    try:
        raw = read_input(path, limit=MAX_RECORD_BYTES, what="run record", error=RecordError)
    except FileNotFoundError:
        raise RecordError(f"{path}: no run record there (a run folder holds {RECORD_NAME})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordError(f"{path}: cannot read the run record: not UTF-8 (byte {exc.start})") from None
    try:
        data = _parse(text)
    except json.JSONDecodeError as exc:
        raise RecordError(
            f"{path}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); the file "
            "is truncated or corrupt — a record written by the rig is always complete"
        ) from None
    except _NonFinite as exc:
        line = text[: max(text.find(str(exc)), 0)].count("\n") + 1
        raise RecordError(
            f"{path}: line {line}: {exc} is not JSON (the rig writes no NaN or Infinity); the file is not the rig's"
        ) from None
    except RecursionError:
        raise RecordError(f"{path}: nested too deeply to be a run record") from None
    return check_record(data, str(path))


MAX_RECORD_BYTES = 1 << 30
"""Largest run record read, bytes (a 10,000-case record with full logs stays well under)."""


class _NonFinite(ValueError):
    """``NaN``, ``Infinity`` or ``-Infinity`` in a JSON text."""


def _refuse_constant(name: str) -> Any:
    raise _NonFinite(name)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for a burst of allocation that makes little or no cyclic garbage.

    Parsing or rendering a 10,000-case record allocates millions of containers; the collector's passes over them
    (and over every other record alive in the process) cost more than the work itself. Collection resumes after.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _parse(text: str) -> Any:
    """``json.loads`` with the cyclic garbage collector paused (parsing makes no cycles)."""
    with gc_paused():
        return json.loads(text, parse_constant=_refuse_constant)


def check_record(data: Any, where: str = "record") -> dict[str, Any]:
    """Check the shape of a parsed record and return it.

    Raises:
        RecordError: naming what is wrong.
    """
    if not isinstance(data, dict) or data.get("kind") != RECORD_KIND:
        raise RecordError(f'{where}: not a rig run record (expected an object with "kind": "{RECORD_KIND}")')
    version = data.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise RecordError(f"{where}: schema_version missing or not an integer")
    if version > SCHEMA_VERSION:
        raise RecordError(
            f"{where}: schema_version {version} is newer than this rig reads ({SCHEMA_VERSION}); update the rig"
        )
    if data.get("status") not in STATUSES:
        raise RecordError(f"{where}: status must be one of {', '.join(STATUSES)}, got {data.get('status')!r}")
    if not isinstance(data.get("run_id"), str) or not data["run_id"]:
        raise RecordError(f"{where}: run_id missing")
    cases = data.get("cases")
    if not isinstance(cases, list):
        raise RecordError(f"{where}: cases must be a list")
    _check_shape(data, _RECORD_SHAPE, where, "")
    if data.get("pics") and not isinstance(data["pics"].get("items"), dict):
        raise RecordError(f"{where}: pics.items must be an object (PICS code -> supported)")
    for i, case in enumerate(cases):
        if not isinstance(case, dict) or not isinstance(case.get("id"), str) or case.get("outcome") not in OUTCOMES:
            raise RecordError(f"{where}: case {i + 1} needs a string id and an outcome in {', '.join(OUTCOMES)}")
        _check_shape(case, _CASE_SHAPE, where, f"cases[{i}].")
    return data


_Shape = dict[str, Any]
"""A field -> ``dict`` (an object or null, its own shape inside), ``list`` (a list or null) or ``(list, shape)`` (a
list or null of objects of that shape)."""
_STEP_SHAPE: _Shape = {"measurements": (list, {}), "notes": list}
_CASE_SHAPE: _Shape = {
    "steps": (list, _STEP_SHAPE),
    "events": (list, {}),
    "series": (list, {"points": list}),
    "attachments": (list, {}),
    "phases": {},
    "pics": list,
}
_RECORD_SHAPE: _Shape = {
    "config": {},
    "dut": {"identity": {}, "defects": list},
    "rig": {},
    "spec": {},
    "station": {},
    "pics": {"items": {}, "not_applicable": (list, {}), "warnings": list, "contradictions": list},
    "instruments": {},
    "attachments": (list, {}),
}


def _check_shape(node: dict[str, Any], shape: _Shape, where: str, at: str) -> None:
    """The fields the outputs read as objects or lists are objects or lists (or null), recursively."""
    for key, kind in shape.items():
        value = node.get(key)
        if value is None:
            continue
        if isinstance(kind, dict):
            if not isinstance(value, dict):
                raise RecordError(f"{where}: {at}{key} must be an object or null, got {type(value).__name__}")
            if kind:
                _check_shape(value, kind, where, f"{at}{key}.")
            continue
        if not isinstance(value, list):
            raise RecordError(f"{where}: {at}{key} must be a list or null, got {type(value).__name__}")
        if isinstance(kind, tuple):
            inner = kind[1]
            for j, item in enumerate(value):
                if not isinstance(item, dict):
                    raise RecordError(f"{where}: {at}{key}[{j}] must be an object, got {type(item).__name__}")
                if inner:
                    _check_shape(item, inner, where, f"{at}{key}[{j}].")
