"""The bench lock: one run at a time on a bench's resources; a lock left by a killed run is taken over safely."""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from rig.bench import lock as lock_mod
from rig.bench.lock import BenchBusy, BenchLock, Holder, lock_path, reap_dead, resources_for
from rig.config import RigConfig, config_from_dict
from rig.dut import dut_for
from rig.errors import RigError, SessionError
from rig.report.record import RECORD_NAME, dumps_record, load_record
from rig.report.synthetic import make_record

ROOT = Path(__file__).resolve().parents[2]
AC = {"driver": "chroma_61500", "transport": {"kind": "visa", "resource": "TCPIP0::10.0.0.5::5025::SOCKET"}}
METER = {"driver": "eastron_sdm630", "transport": {"kind": "modbus_tcp", "host": "10.0.0.6", "port": 502, "unit": 1}}


@pytest.fixture(autouse=True)
def lock_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "locks"
    monkeypatch.setattr(lock_mod, "LOCK_DIR", folder)
    return folder


def _real(instruments: dict[str, Any], **dut: Any) -> RigConfig:
    return config_from_dict(
        {
            "station": {},
            "dut": {"kind": "network", "attestation": "allow-test-paa", **dut},
            "instruments": instruments,
            "report": {"dir": "reports"},
        }
    )


def _virtual() -> RigConfig:
    return config_from_dict({"station": {}, "dut": {"kind": "virtual"}})


def _lock(config: RigConfig, run_id: str, run_dir: Path | None = None) -> BenchLock:
    private = dut_for(config).host_needs().netns
    return BenchLock(resources_for(config, run_id, private=private), run_id, run_dir=run_dir, virtual=private)


def test_a_second_run_on_the_same_bench_is_refused_naming_the_holder(lock_dir: Path) -> None:
    cfg = _real({"ac_source": AC, "meter": METER})
    with _lock(cfg, "20260101-000000-aaaaaa"):
        with pytest.raises(BenchBusy) as exc:
            _lock(cfg, "20260101-000000-bbbbbb").acquire()
        assert exc.value.exit_code == 2
        text = str(exc.value)
        assert f"bench in use by run 20260101-000000-aaaaaa (pid {os.getpid()}, since " in text
    # released: the next run takes it at once, and nothing is left to reap
    with _lock(cfg, "20260101-000000-cccccc") as third:
        assert third.taken_over == []
    assert list(lock_dir.iterdir()) == []


def test_benches_sharing_an_instrument_or_the_dut_are_one_bench() -> None:
    other_meter = {**METER, "transport": {**METER["transport"], "host": "10.0.0.7"}}
    with _lock(_real({"ac_source": AC, "meter": METER}), "20260101-000000-aaaaaa"):
        with pytest.raises(BenchBusy):  # the same AC source (spelt in another case)
            resource = AC["transport"]["resource"].lower()  # type: ignore[index]
            _lock(_real({"ac": {**AC, "transport": {"kind": "visa", "resource": resource}}}), "b").acquire()
        with pytest.raises(BenchBusy):  # the same DUT on other instruments
            _lock(_real({"meter": other_meter}), "c").acquire()
        with _lock(_real({"meter": other_meter}, node_id=0x2002), "d"):  # nothing shared
            pass


def test_two_virtual_runs_never_wait_for_each_other() -> None:
    cfg = _virtual()
    with _lock(cfg, "20260101-000000-aaaaaa"), _lock(cfg, "20260101-000000-bbbbbb"):
        pass


def test_lock_files_are_private(lock_dir: Path) -> None:
    with _lock(_real({"ac_source": AC}), "20260101-000000-aaaaaa") as held:
        assert stat.S_IMODE(lock_dir.stat().st_mode) == 0o700
        for resource in held.resources:
            assert stat.S_IMODE(lock_path(resource).stat().st_mode) == 0o600


_HOLD_AND_DIE = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from rig.bench import lock as lock_mod
    lock_mod.LOCK_DIR = Path(sys.argv[1])
    held = lock_mod.BenchLock(sys.argv[3:], sys.argv[2], run_dir=Path(sys.argv[1]).parent / "run")
    held.acquire()
    print("held", flush=True)
    sys.stdin.read()
    """
)


def _held_by_a_process(lock_dir: Path, run_id: str, resources: list[str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD_AND_DIE, str(lock_dir), run_id, *resources],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_lock_left_by_a_killed_run_is_taken_over_and_names_that_run(lock_dir: Path) -> None:
    cfg = _real({"ac_source": AC})
    resources = resources_for(cfg, "x", private=False)
    proc = _held_by_a_process(lock_dir, "20260101-000000-dead00", resources)
    try:
        with pytest.raises(BenchBusy, match=rf"run 20260101-000000-dead00 \(pid {proc.pid}, since "):
            _lock(cfg, "20260101-000000-aaaaaa").acquire()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    with _lock(cfg, "20260101-000000-aaaaaa") as taker:
        assert [h.run_id for h in taker.taken_over] == ["20260101-000000-dead00"]
        assert taker.taken_over[0].pid == proc.pid


def test_a_failed_take_over_leaves_the_dead_runs_record_for_the_next_run(lock_dir: Path) -> None:
    cfg = _real({"ac_source": AC})
    proc = _held_by_a_process(lock_dir, "20260101-000000-dead00", resources_for(cfg, "x", private=False))
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    taker = _lock(cfg, "20260101-000000-aaaaaa")
    dead = taker.acquire()
    taker.release(restore=dead)
    again = _lock(cfg, "20260101-000000-bbbbbb")
    assert [h.run_id for h in again.acquire()] == ["20260101-000000-dead00"]
    again.release()


def test_reap_dead_removes_only_what_it_picks_and_never_a_held_lock(lock_dir: Path) -> None:
    live = _lock(_virtual(), "20260101-000000-live00")
    live.acquire()
    dead_virtual = _held_by_a_process(lock_dir, "20260101-000000-dead01", ["virtual-bench:20260101-000000-dead01"])
    dead_real = _held_by_a_process(lock_dir, "20260101-000000-dead02", ["instrument:tcpip0::10.0.0.9::5025::socket"])
    for proc in (dead_virtual, dead_real):
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    found = reap_dead(lambda h: h.resource.startswith("virtual-bench:"))
    assert [h.run_id for h in found] == ["20260101-000000-dead01"]
    left = {h.run_id for _, h in lock_mod.holders() if h is not None}
    assert left == {"20260101-000000-live00", "20260101-000000-dead02"}
    live.release()


def test_holder_records_round_trip_and_bad_ones_are_none() -> None:
    h = Holder("r", 12, 1.0, "dut:x", "/tmp/r", True)
    assert Holder.parse(__import__("json").dumps(h.__dict__)) == h
    assert Holder.parse("") is None and Holder.parse("{}") is None and Holder.parse("[1]") is None


# -- the take-over in a run: safe state first, then the killed run recorded ---------------------------------------


def _killed_run_folder(tmp_path: Path, run_id: str, status: str) -> Path:
    run_dir = tmp_path / "reports" / run_id
    run_dir.mkdir(parents=True)
    (run_dir / RECORD_NAME).write_text(dumps_record(make_record(2, run_id=run_id, status=status)))
    return run_dir


@pytest.mark.parametrize("status", ["running", "interrupted"])
def test_the_taker_puts_the_bench_in_its_safe_state_then_records_the_run_killed(
    lock_dir: Path, tmp_path: Path, status: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rig.session import lock_bench

    monkeypatch.delenv("RIG_RESULTS_DB", raising=False)
    cfg = _real({"ac_source": AC})
    dead_id = "20260101-000000-dead00"
    run_dir = _killed_run_folder(tmp_path, dead_id, status)
    held = BenchLock(resources_for(cfg, dead_id, private=False), dead_id, run_dir=run_dir)
    held.acquire()
    for fd in held.fds:  # the process died: its descriptors are gone, its records stay
        os.close(fd)
    held._fds.clear()

    calls: list[str] = []

    def safe_state(config: RigConfig) -> None:
        assert load_record(run_dir / RECORD_NAME)["status"] == status, "the bench is made safe before anything"
        calls.append("safe state")

    taker = lock_bench(cfg, "20260101-000000-aaaaaa", safe_state=safe_state)
    try:
        assert calls == ["safe state"]
        assert load_record(run_dir / RECORD_NAME)["status"] == "killed"
        with sqlite3.connect(tmp_path / "reports" / "results.sqlite") as db:
            rows = db.execute("SELECT run_id, status FROM runs").fetchall()
        assert rows == [(dead_id, "killed")]
        assert (run_dir / "report.html").is_file()
    finally:
        taker.release()


def test_a_run_killed_before_its_first_record_is_recorded_killed_from_its_lock(
    lock_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed during its set-up (no report.json yet): the taker writes its record from the lock (run id, pid, start)
    as killed, renders it and imports it into the results database."""
    from rig.session import lock_bench

    monkeypatch.delenv("RIG_RESULTS_DB", raising=False)
    cfg = _real({"ac_source": AC})
    dead_id = "20260101-000000-dead01"
    run_dir = tmp_path / "reports" / dead_id  # never made: the run died first
    held = BenchLock(resources_for(cfg, dead_id, private=False), dead_id, run_dir=run_dir)
    held.acquire()
    for fd in held.fds:
        os.close(fd)
    held._fds.clear()

    taker = lock_bench(cfg, "20260101-000000-aaaaab", safe_state=lambda _config: None)
    try:
        record = load_record(run_dir / RECORD_NAME)
        assert (record["status"], record["cases"], record["run_id"]) == ("killed", [], dead_id)
        assert "killed during its set-up" in record["title"]
        with sqlite3.connect(tmp_path / "reports" / "results.sqlite") as db:
            rows = db.execute("SELECT run_id, status FROM runs").fetchall()
        assert rows == [(dead_id, "killed")]
        assert (run_dir / "report.html").is_file() and (run_dir / "junit.xml").is_file()
    finally:
        taker.release()


def test_a_bench_that_cannot_be_made_safe_stops_the_run_and_keeps_the_dead_runs_lock(
    lock_dir: Path, tmp_path: Path
) -> None:
    from rig.session import lock_bench

    cfg = _real({"ac_source": AC})
    dead_id = "20260101-000000-dead00"
    proc = _held_by_a_process(lock_dir, dead_id, resources_for(cfg, "x", private=False))
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)

    def unreachable(config: RigConfig) -> None:
        raise RigError("instrument 'ac_source' at TCPIP0::10.0.0.5::5025::SOCKET: no answer")

    with pytest.raises(SessionError, match="could not be put in its safe state"):
        lock_bench(cfg, "20260101-000000-aaaaaa", safe_state=unreachable)
    assert [h.run_id for _, h in lock_mod.holders() if h is not None] == [dead_id]
