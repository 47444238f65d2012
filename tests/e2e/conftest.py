"""End-to-end tests: they run `rig run` as a user would (sandbox, virtual EVSE, real Matter) and check what is left."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
RIG = [sys.executable, "-m", "rig.cli"]


def _rig_netns() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    return {line.split()[0] for line in out.splitlines() if line.startswith("rig-")}


def _rig_processes() -> set[int]:
    """PIDs of processes started by a run: everything inside a sandbox carries RIG_SANDBOX in its environment."""
    pids = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes()
            env = (proc / "environ").read_bytes()
        except OSError:
            continue
        if b"RIG_SANDBOX=" in env or b"rig.sandbox" in cmd or b"--rig-run-dir" in cmd:
            pids.add(int(proc.name))
    return pids


def _rig_mounts() -> list[str]:
    return [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if "/run/rig/" in line]


@dataclass
class Leftovers:
    netns: set[str]
    processes: set[int]
    state: set[str]

    @classmethod
    def now(cls) -> Leftovers:
        state = {p.name for p in Path("/run/rig").iterdir()} if Path("/run/rig").is_dir() else set()
        return cls(_rig_netns(), _rig_processes(), state)


RUN_ID = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{6}$")


def _run_ids_under(folder: Path) -> set[str]:
    """Run ids of the runs a test made: their report folders lie under its tmp_path."""
    return {p.name for p in folder.rglob("*") if p.is_dir() and RUN_ID.match(p.name)}


def _leftovers_of(run_id: str) -> list[str]:
    problems = []
    if f"rig-{run_id}" in _rig_netns():
        problems.append(f"network namespace rig-{run_id}")
    if Path("/run/rig", run_id).exists():
        problems.append(f"state folder /run/rig/{run_id}")
    marker = f"RIG_SANDBOX=/run/rig/{run_id}".encode()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if marker in (proc / "environ").read_bytes():
                    problems.append(f"process {proc.name}")
            except OSError:
                pass
    problems += [f"mount {line}" for line in _rig_mounts() if f"/run/rig/{run_id}" in line]
    return problems


@pytest.fixture(autouse=True)
def nothing_left_behind(tmp_path: Path) -> Iterator[None]:
    """Every e2e test must leave no network namespace, process, state folder or mount of its runs.

    The runs are identified by the run ids of their report folders under the test's tmp_path, so other rig runs
    on the machine at the same time (another developer's, a parallel CI job) do not count.
    """
    if os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("node") is None:
        pytest.skip("end-to-end tests need root, `ip` and `node` (CI runs them as root)")
    yield
    runs = _run_ids_under(tmp_path)
    problems = [f"{run}: {what}" for run in sorted(runs) for what in _leftovers_of(run)]
    assert not problems, "left behind by this test's runs: " + "; ".join(problems)


@dataclass
class RunResult:
    code: int
    output: str
    run_dir: Path | None

    def junit_cases(self) -> dict[str, str]:
        """TC id → outcome (passed / failed / error / skipped) from junit.xml."""
        assert self.run_dir is not None, f"the run made no report folder:\n{self.output}"
        tree = ET.parse(self.run_dir / "junit.xml")
        out = {}
        for case in tree.iter("testcase"):
            outcome = "passed"
            for tag in ("failure", "error", "skipped"):
                if case.find(tag) is not None:
                    outcome = {"failure": "failed"}.get(tag, tag)
            out[case.get("name", "")] = outcome
        return out

    def results(self) -> dict[str, dict[str, Any]]:
        """TC id → the case of the run record (report.json): outcome, failed_step, error, steps, phases."""
        from rig.report.record import cases_by_id, load_record

        assert self.run_dir is not None, f"the run made no report folder:\n{self.output}"
        return cases_by_id(load_record(self.run_dir))


@pytest.fixture
def rig_run(tmp_path: Path):
    """Run `rig run ARGS` with reports under tmp_path; returns a RunResult."""

    def run(*args: str, timeout: float = 240, config: Path | None = None) -> RunResult:
        reports = tmp_path / "reports"
        cfg = ["--config", str(config)] if config else []
        cmd = [*RIG, "run", *cfg, "--set", f"report.dir={reports}", *args]
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
        output = proc.stdout + proc.stderr
        run_dirs = sorted(p for p in reports.glob("2*") if p.is_dir()) if reports.is_dir() else []
        return RunResult(proc.returncode, output, run_dirs[-1] if run_dirs else None)

    return run
