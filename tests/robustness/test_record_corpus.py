"""Robustness corpus, run records: malformed and hostile ``report.json`` files through ``rig report render`` and
``rig report import``. Every case: exit 2, one line naming the file (and the field or line), no traceback,
bounded in time, no HTML, JUnit or database written.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rig.report.record import dumps_record
from rig.report.synthetic import make_record
from tests.robustness.cli import run_rig, snapshot
from tests.robustness.expect import assert_refused

GOOD = make_record(2, series_every=1)
GOOD_TEXT = dumps_record(GOOD)


def changed(edit: Callable[[dict[str, Any]], object]) -> bytes:
    record = copy.deepcopy(GOOD)
    edit(record)
    return json.dumps(record).encode()


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], object]:
    def edit(record: dict[str, Any]) -> None:
        node: Any = record
        parts = [int(p) if p.isdigit() else p for p in path.split(".")]
        for part in parts[:-1]:
            node = node[part]
        node[parts[-1]] = value

    return edit


def _drop(key: str) -> Callable[[dict[str, Any]], object]:
    return lambda record: record.pop(key)


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# (id, file content, fragments besides the file name)
RECORD_CASES: list[tuple[str, bytes, tuple[str, ...]]] = [
    ("empty", b"", ("not valid JSON",)),
    ("whitespace", b"  \n\n", ("not valid JSON",)),
    ("truncated", GOOD_TEXT[: len(GOOD_TEXT) // 2].encode(), ("not valid JSON", "truncated")),
    ("one-brace", b"{", ("not valid JSON",)),
    ("trailing-garbage", GOOD_TEXT.encode() + b"}}", ("not valid JSON",)),
    ("json-list", b"[]", ("not a rig run record",)),
    ("json-null", b"null", ("not a rig run record",)),
    ("json-number", b"42", ("not a rig run record",)),
    ("json-string", b'"report"', ("not a rig run record",)),
    ("foreign-json", b'{"name": "package.json", "version": "1.0.0"}', ("not a rig run record",)),
    ("kind-wrong", changed(_set("kind", "pytest-report")), ("not a rig run record",)),
    ("schema-missing", changed(_drop("schema_version")), ("schema_version missing",)),
    ("schema-string", changed(_set("schema_version", "2")), ("schema_version missing or not an integer",)),
    ("schema-bool", changed(_set("schema_version", True)), ("schema_version",)),
    ("schema-future", changed(_set("schema_version", 99)), ("schema_version 99 is newer",)),
    ("status-unknown", changed(_set("status", "exploded")), ("status must be one of", "'exploded'")),
    ("run-id-missing", changed(_drop("run_id")), ("run_id missing",)),
    ("run-id-number", changed(_set("run_id", 5)), ("run_id missing",)),
    ("cases-object", changed(_set("cases", {})), ("cases must be a list",)),
    ("cases-missing", changed(_drop("cases")), ("cases must be a list",)),
    ("case-not-object", changed(_set("cases.0", "case")), ("case 1 needs a string id",)),
    ("case-id-missing", changed(lambda r: r["cases"][1].pop("id")), ("case 2 needs a string id",)),
    ("case-outcome-unknown", changed(_set("cases.0.outcome", "meh")), ("case 1 needs", "outcome")),
    ("nan", GOOD_TEXT.replace('"started":1767225600.0', '"started":NaN', 1).encode(), ("NaN is not JSON",)),
    ("infinity", GOOD_TEXT.replace('"started":1767225600.0', '"started":Infinity', 1).encode(), ("Infinity",)),
    ("minus-infinity", GOOD_TEXT.replace('"ended":', '"ended":-Infinity,"x":', 1).encode(), ("-Infinity",)),
    ("nan-in-measurement", GOOD_TEXT.replace('"value":', '"value":NaN,"v0":', 1).encode(), ("line 2: NaN",)),
    ("deep-nesting-top", _nested(200_000).encode(), ("nested too deeply",)),
    ("deep-nesting-in-case", GOOD_TEXT.replace('"logs":""', '"logs":' + _nested(5000), 1).encode(), ("nested",)),
    ("dut-string", changed(_set("dut", "EVSE")), ("dut must be an object or null",)),
    ("dut-identity-list", changed(_set("dut.identity", [1])), ("dut.identity must be an object",)),
    ("dut-defects-number", changed(_set("dut.defects", 3)), ("dut.defects must be a list",)),
    ("station-list", changed(_set("station", ["lab"])), ("station must be an object",)),
    ("rig-number", changed(_set("rig", 1)), ("rig must be an object",)),
    ("config-string", changed(_set("config", "rig.yaml")), ("config must be an object",)),
    ("spec-list", changed(_set("spec", [])), ("spec must be an object",)),
    ("instruments-list", changed(_set("instruments", [])), ("instruments must be an object",)),
    ("pics-list", changed(_set("pics", ["EEVSE.S"])), ("pics must be an object",)),
    ("pics-without-items", changed(_set("pics", {"origin": "file"})), ("pics.items must be an object",)),
    ("attachments-string", changed(_set("attachments", "a.txt")), ("attachments must be a list",)),
    ("steps-string", changed(_set("cases.0.steps", "1,2,3")), ("cases[0].steps must be a list",)),
    ("step-number", changed(_set("cases.1.steps.0", 7)), ("cases[1].steps[0] must be an object",)),
    ("measurements-object", changed(_set("cases.0.steps.2.measurements", {})), ("measurements must be a list",)),
    ("notes-number", changed(_set("cases.0.steps.0.notes", 1)), ("notes must be a list",)),
    ("events-object", changed(_set("cases.0.events", {"a": 1})), ("cases[0].events must be a list",)),
    ("series-number", changed(_set("cases.0.series", 1.5)), ("cases[0].series must be a list",)),
    ("series-points-string", changed(_set("cases.0.series.0.points", "1,2")), ("points must be a list",)),
    ("case-attachments-bool", changed(_set("cases.0.attachments", True)), ("attachments must be a list",)),
    ("phases-list", changed(_set("cases.0.phases", [])), ("phases must be an object",)),
    ("not-utf8", GOOD_TEXT.replace("Lab 2", "Lab \udcff", 1).encode("utf-8", "surrogateescape"), ("not UTF-8",)),
    ("utf8-bom", b"\xef\xbb\xbf" + GOOD_TEXT.encode(), ("not valid JSON",)),
    ("utf16", GOOD_TEXT.encode("utf-16"), ("not UTF-8",)),
]


def _fifo(folder: Path) -> Path:
    os.mkfifo(folder / "report.json")
    return folder / "report.json"


def _loop(folder: Path) -> Path:
    (folder / "report.json").symlink_to(folder / "other.json")
    (folder / "other.json").symlink_to(folder / "report.json")
    return folder / "report.json"


def _folder_without_record(folder: Path) -> Path:
    (folder / "run").mkdir()
    return folder / "run"


def _record_is_a_folder(folder: Path) -> Path:
    (folder / "run" / "report.json").mkdir(parents=True)
    return folder / "run"


def _device(folder: Path) -> Path:
    return Path("/dev/zero")


SPECIAL_CASES: list[tuple[str, Callable[[Path], Path], tuple[str, ...]]] = [
    ("fifo", _fifo, ("report.json", "FIFO")),
    ("symlink-loop", _loop, ("report.json", "loop of symbolic links")),
    ("folder-without-record", _folder_without_record, ("report.json", "no run record there")),
    ("record-is-a-folder", _record_is_a_folder, ("report.json", "is a folder")),
    ("device", _device, ("/dev/zero", "device")),
]


def _refused(case_dir: Path, path: Path, fragments: tuple[str, ...]) -> None:
    out = case_dir / "out"
    out.mkdir()
    for argv in (
        ["report", "render", str(path), "-o", str(out / "r.html"), "--junit", str(out / "j.xml")],
        ["report", "import", str(path), "--db", str(out / "results.sqlite")],
    ):
        before = snapshot(case_dir)
        outcome = run_rig(argv, cwd=case_dir)
        assert_refused(outcome, *fragments)
        assert snapshot(case_dir) == before, f"rig {' '.join(argv[:2])} wrote something"


@pytest.mark.parametrize(("content", "fragments"), [c[1:] for c in RECORD_CASES], ids=[c[0] for c in RECORD_CASES])
def test_bad_record(case_dir: Path, content: bytes, fragments: tuple[str, ...]) -> None:
    path = case_dir / "report.json"
    path.write_bytes(content)
    _refused(case_dir, path, ("report.json", *fragments))


@pytest.mark.parametrize(("make", "fragments"), [c[1:] for c in SPECIAL_CASES], ids=[c[0] for c in SPECIAL_CASES])
def test_record_that_is_no_file(case_dir: Path, make: Callable[[Path], Path], fragments: tuple[str, ...]) -> None:
    _refused(case_dir, make(case_dir), fragments)
