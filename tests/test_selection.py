"""``--tc ID`` (``rig run --tc``) selects exactly the case with that test-plan id; an unknown id is a usage error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _collect(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args, "suites"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_tc_selects_exactly_that_case() -> None:
    res = _collect("--rig-tc", "TC-EEVSE-2.1")
    assert res.returncode == 0, res.stdout + res.stderr
    collected = [line for line in res.stdout.splitlines() if "::" in line]
    assert collected == ["suites/tc_eevse/test_tc_eevse_2_1.py::test_tc_eevse_2_1"], collected


def test_tc_is_repeatable() -> None:
    res = _collect("--rig-tc", "TC-EEVSE-2.10", "--rig-tc", "HIL-POWER")
    collected = sorted(line.split("::")[0] for line in res.stdout.splitlines() if "::" in line)
    assert collected == ["suites/hil/test_hil_power_cycle.py", "suites/tc_eevse/test_tc_eevse_2_10.py"], res.stdout


def test_unknown_tc_is_a_usage_error_listing_the_cases() -> None:
    res = _collect("--rig-tc", "TC-EEVSE-9.9")
    assert res.returncode == 4
    assert "--tc TC-EEVSE-9.9: no such case" in res.stderr and "TC-EEVSE-2.1," in res.stderr
    assert "Traceback" not in res.stderr
