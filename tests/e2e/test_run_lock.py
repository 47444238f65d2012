"""Killed runs and the bench lock, with real `rig run` processes.

* SIGKILL of `rig run` mid charging session on the virtual bench: the process inside gets SIGTERM (parent-death
  signal) and drives the bench to its safe state; every process of the run ends; the next run records the killed
  run as ``killed`` (its record and the results database) and reaps what is left of its sandbox
  (``nothing_left_behind`` checks, for both runs).
* A real bench held by another run: `rig run` stops within 2 s, exit code 2, naming the run, its pid and start.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from rig.bench.lock import BenchLock, holders, resources_for
from rig.config import load_config
from tests.e2e.conftest import RIG, ROOT
from tests.e2e.test_safe_state import CASE, _plant_states, _wait_for_session

pytestmark = pytest.mark.e2e

GONE_TIMEOUT_S = 60.0  # the process inside tears down (safe state, fabric removal, DUT stopped) after the SIGKILL
BUSY_LIMIT_S = 2.0


def _run_processes(run_id: str) -> list[str]:
    """Processes of the run still alive: those started inside its sandbox, and those in its network namespace."""
    marker = f"RIG_SANDBOX=/run/rig/{run_id}\0".encode()
    netns = subprocess.run(["ip", "netns", "pids", f"rig-{run_id}"], capture_output=True, text=True, check=False)
    pids = {int(p) for p in netns.stdout.split() if p.isdigit()}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if marker in (proc / "environ").read_bytes() + b"\0":
                    pids.add(int(proc.name))
            except OSError:
                pass
    alive = []
    for pid in sorted(pids):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[0] != "Z":
            alive.append(f"{pid} {cmd[:120]}")
    return alive


def test_a_run_killed_with_sigkill_leaves_nothing_and_the_next_run_records_it(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    output = tmp_path / "rig-run.out"
    with output.open("w") as out:
        proc = subprocess.Popen(
            [*RIG, "run", "--set", f"report.dir={reports}", str(CASE)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        run_dir = _wait_for_session(proc, reports, output)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    killed = run_dir.name

    deadline = time.monotonic() + GONE_TIMEOUT_S
    while (left := _run_processes(killed)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, f"processes of the killed run alive {GONE_TIMEOUT_S:g} s after SIGKILL: {left}"

    # The process inside drove the bench to its safe state before it ended.
    final = _plant_states(run_dir / "virtual-bench" / "plant.jsonl")[-1]
    assert final.get("final") is True, f"the virtual bench was not stopped cleanly: {final}"
    assert not final["ac_on"] and not final["contactor"] and not final["switches"], f"not safe: {final}"

    # The next run on the virtual bench records the killed one and reaps its sandbox (checked by the fixture).
    nxt = subprocess.run(
        [*RIG, "run", "--set", f"report.dir={reports}", str(CASE), "-k", "no_case_has_this_name"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    text = nxt.stdout + nxt.stderr
    assert f"run {killed} (pid {proc.pid}, since " in text and "recorded as killed" in text, text[-3000:]
    with sqlite3.connect(reports / "results.sqlite") as db:
        rows = db.execute("SELECT status FROM runs WHERE run_id = ?", (killed,)).fetchall()
    assert rows == [("killed",)], f"results database: {rows}"
    assert '"status":"killed"' in (run_dir / "report.json").read_text()
    runs = {killed, *(p.name for p in reports.glob("2*") if p.is_dir())}
    assert not [h for _, h in holders() if h is not None and h.run_id in runs], "a lock of these runs is left"


REAL_BENCH = """
station:
  name: lock-test-bench
dut:
  kind: network
  node_id: 0x2001
  attestation: allow-test-paa
instruments:
  ac_source:
    driver: chroma_61500
    transport:
      kind: visa
      resource: TCPIP0::192.0.2.21::5025::SOCKET
"""


def test_a_second_run_on_a_held_real_bench_stops_at_once_naming_the_holder(tmp_path: Path) -> None:
    config = tmp_path / "rig.yaml"
    config.write_text(REAL_BENCH)
    holder_id = "20260101-000000-10c4ed"
    held = BenchLock(resources_for(load_config(config), holder_id, private=False), holder_id)
    held.acquire()
    try:
        t0 = time.monotonic()
        proc = subprocess.run(
            [*RIG, "run", "--config", str(config), "--set", f"report.dir={tmp_path / 'reports'}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        took = time.monotonic() - t0
    finally:
        held.release()
    text = proc.stdout + proc.stderr
    assert proc.returncode == 2, text
    assert f"bench in use by run {holder_id} (pid {os.getpid()}, since " in text, text
    assert took <= BUSY_LIMIT_S, f"took {took:.2f} s to stop"
    assert not (tmp_path / "reports").exists() or not any((tmp_path / "reports").iterdir()), "no run folder"
    assert "Traceback" not in text
