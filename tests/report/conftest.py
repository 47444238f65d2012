"""Helpers for the report tests: a small demo suite run by a real pytest in a subprocess (no DUT needed)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

DEMO_SUITE = textwrap.dedent("""
    import logging, os, time
    from pathlib import Path
    import pytest
    from rig.steps import TestStep
    from rig.pytest_plugin.attach import attach_file, attach_series

    pytestmark = [pytest.mark.pics("EEVSE.S")]
    STEPS = [TestStep("1", "Commission DUT to TH"), TestStep("2", "TH reads State", "NotPluggedIn"),
             TestStep("3", "TH reads MaximumChargeCurrent", "6000 <= x <= 32000", pics="EEVSE.S.A0007")]

    @pytest.mark.tc("TC-DEMO-1.1", "A passing case <b>with markup</b>")
    def test_pass(steps, request, tmp_path):
        steps.step("1")
        logging.getLogger("rig").warning("hello from the log")
        steps.step("2")
        steps.note("State = 0")
        steps.step("3")
        steps.measure("MaximumChargeCurrent", 16000, "mA", low=6000, high=32000)
        attach_series(request, "Pilot state", "", [(0, "A"), (1, "B"), (2, "C")], plot="pilot", step=True)
        attach_series(request, "PWM duty", "%", [(0, 100), (1, 26.7), (2, 26.7)], plot="pilot", step=True)
        f = tmp_path / "capture.txt"
        f.write_text("scope capture")
        attach_file(request, f)

    @pytest.mark.tc("TC-DEMO-1.2", "A failing case")
    def test_fail(steps):
        steps.step("1")
        steps.step("2")
        steps.measure("State", 1, expected=0)

    @pytest.mark.tc("TC-DEMO-1.3", "A skipped case")
    def test_skip():
        pytest.skip("not applicable")

    @pytest.mark.tc("TC-DEMO-1.4", "A case that waits for a flag file")
    def test_wait():
        flag = os.environ.get("DEMO_HANG")
        if flag:
            Path(flag).write_text("waiting")
            time.sleep(120)
""")


def demo_pytest_cmd(suite: Path, run_dir: Path, *extra: str) -> list[str]:
    """The pytest command `rig run` uses (minus the sandbox), for a suite outside the rig's tests.

    No --junitxml and no --html: the reporting plugin writes junit.xml and report.html from report.json at session
    end.
    """
    return [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(ROOT),
        "-c",
        str(ROOT / "pyproject.toml"),
        "--rig-config",
        str(ROOT / "rig.yaml"),
        "--rig-run-dir",
        str(run_dir),
        "-o",
        "testpaths=",
        *extra,
        str(suite),
    ]


@pytest.fixture
def demo_suite(tmp_path: Path) -> Path:
    """A folder holding the demo suite."""
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_demo.py").write_text(DEMO_SUITE)
    return suite


@pytest.fixture
def demo_run(demo_suite: Path, tmp_path: Path) -> Callable[..., tuple[subprocess.CompletedProcess[str], Path]]:
    """Run the demo suite with the rig plugins into a fresh run folder; returns (process, run folder)."""

    def run(*extra: str, name: str = "20260101-000000-demo01") -> tuple[subprocess.CompletedProcess[str], Path]:
        run_dir = tmp_path / "reports" / name
        run_dir.mkdir(parents=True)
        args = [str(run_dir / a[4:]) if a.startswith("RUN/") else a for a in extra]  # RUN/x: x in the run folder
        proc = subprocess.run(
            demo_pytest_cmd(demo_suite, run_dir, *args),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return proc, run_dir

    return run


def rig(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the `rig` command."""
    return subprocess.run(
        [sys.executable, "-m", "rig.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
