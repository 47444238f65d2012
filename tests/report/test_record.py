"""The run record: canonical, atomic per case, valid after a kill, immutable once finished, strict on reading."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from rig.cli.report import after_run
from rig.report.record import (
    SCHEMA_VERSION,
    RecordError,
    RecordWriter,
    dumps_record,
    load_record,
    truncate_log,
    utc_iso,
    write_atomic,
)
from rig.report.synthetic import make_record
from tests.report.conftest import ROOT, demo_pytest_cmd


def test_canonical_text_is_sorted_stable_and_one_case_per_line() -> None:
    rec = make_record(3)
    text = dumps_record(rec)
    assert text == dumps_record(json.loads(text)), "re-encoding the parsed record gives the same bytes"
    lines = text.splitlines()
    assert len(lines) == 5 and lines[1].startswith('{"attachments"'), "head, one line per case, tail"
    head = json.loads(text)
    assert list(head) == sorted(head)
    shuffled = dict(reversed(list(rec.items())))
    assert dumps_record(shuffled) == text


def test_writer_rewrites_after_each_case_and_is_immutable_once_finished(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    w = RecordWriter(path, {"run_id": "r1", "started": 1.0})
    w.write()
    assert load_record(path)["status"] == "running"
    w.add_case({"id": "TC-1", "outcome": "passed"}, build="2.0")
    rec = load_record(path)
    assert [c["id"] for c in rec["cases"]] == ["TC-1"] and rec["build"] == "2.0"
    w.finish("finished", 0, 2.0)
    before = path.read_bytes()
    with pytest.raises(RecordError, match="immutable"):
        w.add_case({"id": "TC-2", "outcome": "passed"})
    with pytest.raises(RecordError, match="immutable"):
        w.update(build="3")
    assert path.read_bytes() == before


def test_a_failed_write_leaves_the_previous_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "report.json"
    write_atomic(path, dumps_record(make_record(1)))
    before = path.read_bytes()

    def boom(*a: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, dumps_record(make_record(2)))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"], "no temporary file left behind"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"kind": "rig-run-record", "schema_version": 1, "cases": [', "not valid JSON"),
        ('{"tests": [], "summary": {}}', "not a rig run record"),
        ("[1, 2, 3]", "not a rig run record"),
        (
            '{"kind": "rig-run-record", "schema_version": 99, "status": "finished", "run_id": "x", "cases": []}',
            "newer than this rig",
        ),
        ('{"kind": "rig-run-record", "schema_version": 1, "status": "done", "run_id": "x", "cases": []}', "status"),
        (
            '{"kind": "rig-run-record", "schema_version": 1, "status": "finished", "run_id": "x", "cases": [{}]}',
            "case 1",
        ),
    ],
)
def test_bad_records_are_refused_with_a_clear_message(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "report.json"
    path.write_text(content)
    with pytest.raises(RecordError, match=message):
        load_record(path)


def test_a_schema_1_record_is_still_read(tmp_path: Path) -> None:
    rec = make_record(2)
    rec["schema_version"] = 1
    for key in ("spec", "test_plan", "energy_tolerance_pct"):
        del rec[key]
    write_atomic(tmp_path / "report.json", dumps_record(rec))
    assert load_record(tmp_path)["schema_version"] == 1


def test_times_are_iso_utc_with_the_zone() -> None:
    assert utc_iso(1_796_284_862.345) == "2026-12-03T08:01:02.345Z"
    assert utc_iso(1_767_225_599.9996) == "2026-01-01T00:00:00.000Z", "milliseconds round up into the next second"
    assert utc_iso(0) == "1970-01-01T00:00:00.000Z"
    for never in (None, float("nan"), float("inf"), True, "1.0", 1e300):
        assert utc_iso(never) is None


def test_missing_record_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(RecordError, match="no run record"):
        load_record(tmp_path)


def test_logs_are_cut_in_the_middle() -> None:
    text, cut = truncate_log("a" * 100 + "b" * 100, limit=40)
    assert cut and text.startswith("a" * 20) and text.endswith("b" * 20) and "160 characters cut" in text
    assert truncate_log("short") == ("short", False)


def test_plugin_writes_the_record_fields(demo_run) -> None:
    proc, run_dir = demo_run()
    assert proc.returncode == 1, proc.stdout[-3000:]
    rec = load_record(run_dir / "report.json")
    assert rec["status"] == "finished" and rec["exit_status"] == 1 and rec["schema_version"] == SCHEMA_VERSION == 2
    assert rec["rig"]["version"] and rec["config"]["sha256"] and rec["stimulus"] in ("trigger", "emulator")
    assert rec["station"]["name"] and rec["bench"] == "virtual"
    assert rec["spec"] == {
        "cluster": "Energy EVSE",
        "cluster_id": "0x0099",
        "revision": 3,
        "source": "spec/EnergyEVSE.xml",
    }
    assert rec["test_plan"].startswith("Matter Energy EVSE cluster test plan")
    assert rec["title"] == "EVSE conformance report" and rec["energy_tolerance_pct"] == 2.0
    assert rec["dut"]["kind"] == "virtual" and "label" not in rec["dut"] and rec["dut"]["identity"] is None
    assert rec["pics"]["given"] is False and rec["pics"]["contradictions"] == [], rec["pics"]
    cases = {c["id"]: c for c in rec["cases"]}
    assert {k: c["outcome"] for k, c in cases.items()} == {
        "TC-DEMO-1.1": "passed",
        "TC-DEMO-1.2": "failed",
        "TC-DEMO-1.3": "skipped",
        "TC-DEMO-1.4": "passed",
    }
    ok = cases["TC-DEMO-1.1"]
    assert ok["pics"] == ["EEVSE.S"] and ok["title"].startswith("A passing case")
    assert [s["outcome"] for s in ok["steps"]] == ["passed"] * 3
    assert all(s["started"] <= s["ended"] for s in ok["steps"])
    m = ok["steps"][2]["measurements"][0]
    assert (m["name"], m["value"], m["unit"], m["low"], m["high"], m["verdict"]) == (
        "MaximumChargeCurrent",
        16000,
        "mA",
        6000,
        32000,
        "pass",
    )
    assert [s["name"] for s in ok["series"]] == ["Pilot state", "PWM duty"]
    assert "hello from the log" in ok["logs"]
    assert ok["attachments"] == [{"name": "capture.txt", "path": "attachments/TC-DEMO-1.1/capture.txt"}]
    assert (run_dir / ok["attachments"][0]["path"]).read_text() == "scope capture"
    bad = cases["TC-DEMO-1.2"]
    assert bad["failed_step"] == "2" and "fails its limits" in bad["error"]
    assert cases["TC-DEMO-1.3"]["error"] == "Skipped: not applicable"


def test_a_run_killed_half_way_leaves_a_valid_renderable_record(demo_suite: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "reports" / "20260101-000000-kill01"
    run_dir.mkdir(parents=True)
    flag = tmp_path / "hanging"
    env = dict(os.environ, DEMO_HANG=str(flag))
    proc = subprocess.Popen(
        demo_pytest_cmd(demo_suite, run_dir), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while not flag.exists():
            assert time.monotonic() < deadline, "the demo suite never reached its hanging case"
            assert proc.poll() is None, "pytest ended early"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    rec = load_record(run_dir / "report.json")
    assert rec["status"] == "running"
    assert [c["id"] for c in rec["cases"]] == ["TC-DEMO-1.1", "TC-DEMO-1.2", "TC-DEMO-1.3"]
    assert not (run_dir / "report.html").exists(), "pytest-html never got to write"
    after_run(run_dir, -9)  # what `rig run` does once pytest is gone
    rec = load_record(run_dir / "report.json")
    assert rec["status"] == "interrupted" and rec["exit_status"] == -9
    html = (run_dir / "report.html").read_text()
    assert "This run did not finish (interrupted)" in html and "TC-DEMO-1.2" in html
    assert "TC-DEMO-1.1" in (run_dir / "junit.xml").read_text()
    assert (run_dir.parent / "results.sqlite").is_file()


def test_a_lone_surrogate_from_the_dut_is_written_escaped_and_loads_back() -> None:
    """A DUT string with a lone surrogate (undecodable bytes) must not stop the record being written as UTF-8."""
    from rig.report.record import dumps_canonical

    value = {"serial": "SN\udc80\ud83d-1", "label": "é"}
    text = dumps_canonical(value)
    assert "\\udc80" in text and "é" in text
    text.encode("utf-8")  # raises on a lone surrogate left in the text
    assert json.loads(text) == value
