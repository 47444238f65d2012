"""Loss mid-case on the virtual bench: an instrument switched off, or the DUT killed, while a case charges.

The run executes ``tests/e2e/bench_cases/test_lose_mid_session.py`` (BENCH-LOSE: a charging session on the virtual
bench, watched by reading the meter and the DUT's State again and again) and then ``test_after_loss.py``
(BENCH-AFTER: every EV emulator relay reads back open). Once BENCH-LOSE says it watches:

* **instrument**: the meter is switched off through the virtual bench's control FIFO (its server closes its
  listener and every connection, as a powered-off instrument's network does), with ``on_loss: stop``;
* **DUT**: the virtual EVSE's process gets SIGKILL, with ``on_loss: continue``.

Then BENCH-LOSE must fail as a loss naming the meter or the DUT, saying every other instrument reached its safe
state within 1 s; the records written so far stay (report.json and junit.xml list the case with that verdict);
BENCH-AFTER is not run (stop) or runs and passes (continue: the mains came on again and the DUT, power-cycled,
answered again); the fabric removal at the end reached the DUT (the mains are switched on again for it); the plant's
final state is the safe state; the run exits 1; and ``nothing_left_behind`` (autouse, conftest) finds no process,
namespace or state folder of the run.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from rig.sim.launch import CONTROL_FIFO
from tests.e2e.bench_cases.test_lose_mid_session import WATCHING_FILE
from tests.e2e.conftest import RIG, ROOT
from tests.e2e.test_safe_state import _junit_outcome, _plant_states

pytestmark = pytest.mark.e2e

CASES = ROOT / "tests" / "e2e" / "bench_cases"
SESSION_TIMEOUT_S = 120.0  # sandbox + virtual EVSE + bench + commissioning + the session itself (2 shared cores)
RUN_END_S = 120.0  # the loss found (a DUT read times out, then the probe), the safe state, teardown and exit


def _wait_watching(proc: subprocess.Popen[str], reports: Path, output: Path) -> tuple[Path, int | None]:
    """Wait until BENCH-LOSE watches its session; return the run folder and the virtual EVSE's pid."""
    deadline = time.monotonic() + SESSION_TIMEOUT_S
    while time.monotonic() < deadline:
        for mark in reports.glob(f"2*/{WATCHING_FILE}"):
            try:
                pid = json.loads(mark.read_text())["virtual_evse_pid"]
            except (ValueError, KeyError):
                continue  # half written
            return mark.parent, pid
        if proc.poll() is not None:
            pytest.fail(
                f"`rig run` ended (exit {proc.returncode}) before BENCH-LOSE watched its session:\n"
                + output.read_text(errors="replace")[-4000:]
            )
        time.sleep(0.1)
    pytest.fail(
        f"BENCH-LOSE did not start watching within {SESSION_TIMEOUT_S:g} s:\n"
        + output.read_text(errors="replace")[-4000:]
    )


def _switch_off(run_dir: Path, role: str) -> None:
    fifo = run_dir / "virtual-bench" / CONTROL_FIFO
    fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # the bench holds it open: never blocks
    try:
        os.write(fd, json.dumps({"power": "off", "role": role}).encode() + b"\n")
    finally:
        os.close(fd)


def _case(record: dict[str, Any], case_id: str) -> dict[str, Any] | None:
    return next((c for c in record["cases"] if c["id"] == case_id), None)


@pytest.mark.parametrize(
    ("lost", "on_loss"), [("instrument", "stop"), ("dut", "continue")], ids=["meter-off-stop", "dut-killed-continue"]
)
def test_loss_mid_case(tmp_path: Path, lost: str, on_loss: str) -> None:
    reports = tmp_path / "reports"
    output = tmp_path / "rig-run.out"
    argv = [*RIG, "run", "--set", f"report.dir={reports}", "--set", f"on_loss={on_loss}"]
    argv += [str(CASES / "test_lose_mid_session.py"), str(CASES / "test_after_loss.py")]
    with output.open("w") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, text=True)
    try:
        run_dir, evse_pid = _wait_watching(proc, reports, output)
        if lost == "instrument":
            _switch_off(run_dir, "meter")
        else:
            assert evse_pid is not None, "BENCH-LOSE did not name the virtual EVSE's process"
            os.kill(evse_pid, signal.SIGKILL)
        try:
            code = proc.wait(RUN_END_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`rig run` did not end within {RUN_END_S:g} s of losing the {lost}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    text = output.read_text(errors="replace")
    assert code == 1, f"a run with a case failed by a loss exits 1, got {code}:\n{text[-4000:]}"

    record = json.loads((run_dir / "report.json").read_text())
    entry = _case(record, "BENCH-LOSE")
    assert entry is not None, f"report.json does not list BENCH-LOSE: {[c['id'] for c in record['cases']]}"
    error = str(entry.get("error"))
    problems = []
    if entry["outcome"] != "failed":
        problems.append(f"BENCH-LOSE outcome {entry['outcome']!r}, expected 'failed'")
    named = "instrument 'meter' lost during this case" if lost == "instrument" else "the DUT lost during this case"
    if named not in error:
        problems.append(f"BENCH-LOSE's verdict does not say {named!r}: {error}")
    safe = re.search(r"every other instrument is in its safe state \((\d+\.\d+) s\)", error)
    if not safe:
        problems.append(f"BENCH-LOSE's verdict does not say the rest of the bench reached its safe state: {error}")
    elif float(safe.group(1)) > 1.0:
        problems.append(f"the safe state took {safe.group(1)} s, more than 1 s")
    if f"(on_loss: {on_loss})" not in error:
        problems.append(f"BENCH-LOSE's verdict does not say what the run does next (on_loss: {on_loss}): {error}")
    if _junit_outcome(run_dir / "junit.xml", "BENCH-LOSE") != "failed":
        problems.append(f"junit.xml: BENCH-LOSE {_junit_outcome(run_dir / 'junit.xml', 'BENCH-LOSE')!r}")
    if lost == "dut" and "the DUT answered after" not in error:
        problems.append(f"with on_loss: continue the lost DUT was not power-cycled and reached again: {error}")
    removal = str(record["dut"].get("fabrics", {}).get("removal", ""))
    if not removal or removal.startswith("NOT removed"):
        problems.append(f"the run's fabric was not dealt with at the end (the DUT left unpowered?): {removal!r}")
    after = _case(record, "BENCH-AFTER")
    if on_loss == "stop" and after is not None and after["outcome"] in ("passed", "failed", "error"):
        problems.append(f"on_loss: stop, yet BENCH-AFTER ran: {after['outcome']}")
    if on_loss == "continue" and (after is None or after["outcome"] != "passed"):
        problems.append(f"on_loss: continue, yet BENCH-AFTER did not run and pass: {after}")

    states = _plant_states(run_dir / "virtual-bench" / "plant.jsonl")
    final = states[-1] if states else {}
    if final.get("final") is not True:
        problems.append(f"the virtual bench did not write its final state; last: {states[-1:]}")
    elif final["ac_on"] or final["switches"] or final["contactor"] or final["ev_current_a"]:
        problems.append(f"the plant did not end safe: {final}")
    assert not problems, "\n".join(problems) + f"\n--- rig run output (tail):\n{text[-3000:]}"
