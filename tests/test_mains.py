"""Nominal mains (230 V, 50 Hz) is defined once, in rig/bench/mains.py, and imported by its users."""

from __future__ import annotations

import ast
from pathlib import Path

from rig.bench import mains
from rig.sim import plant, virtual_bench
from rig.stimulus import emulator as emulator_stimulus

ROOT = Path(__file__).resolve().parents[1]


def test_nominal_mains() -> None:
    assert (mains.NOMINAL_MAINS_V, mains.NOMINAL_MAINS_HZ, mains.MAINS_TOLERANCE_V) == (230.0, 50.0, 2.0)


def test_users_read_the_one_definition() -> None:
    assert emulator_stimulus.NOMINAL_MAINS_V is mains.NOMINAL_MAINS_V
    assert emulator_stimulus.NOMINAL_MAINS_HZ is mains.NOMINAL_MAINS_HZ
    assert emulator_stimulus.MAINS_TOLERANCE_V is mains.MAINS_TOLERANCE_V
    assert virtual_bench.NOMINAL_MAINS_V is mains.NOMINAL_MAINS_V
    p = plant.Plant()
    assert (p.ac_setpoint_v, p.ac_frequency_hz) == (mains.NOMINAL_MAINS_V, mains.NOMINAL_MAINS_HZ)


def test_no_second_nominal_voltage() -> None:
    """No module of rig/, suites/ or benchmarks/ but rig/bench/mains.py writes the number 230."""
    found = []
    for folder in ("rig", "suites", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel == "rig/bench/mains.py":
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            # -230 is not a voltage (e.g. the SCPI error code -230, "Data corrupt or stale")
            negated = {
                id(n.operand) for n in ast.walk(tree) if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub)
            }
            found += [
                f"{rel}:{n.lineno}"
                for n in ast.walk(tree)
                if isinstance(n, ast.Constant)
                and type(n.value) in (int, float)
                and n.value == 230
                and id(n) not in negated
            ]
    assert not found, "import NOMINAL_MAINS_V from rig.bench.mains: " + ", ".join(found)
