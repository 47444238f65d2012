"""IEC 61851-1 duty <-> current has one implementation (rig/ev_emulator/pilot.py), used by the sim and the suites.

The virtual EVSE (virtual_evse/, JavaScript) is a separate product with its own ``dutyFromCurrent``; a test runs it
over a table of currents and compares it with :func:`duty_for_offer`.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from rig.ev_emulator import pilot
from rig.ev_emulator.pilot import current_to_duty, duty_for_offer, duty_to_current
from rig.sim import plant

ROOT = Path(__file__).resolve().parents[2]
EVSE_DIR = ROOT / "virtual_evse"
CURRENTS_MA = [0, 5000, 5999, 6000, 6500, 10000, 13000, 16000, 20000, 24000, 25500, 32000, 40000, 50999, 51000,
               51001, 55000, 63000, 70000, 79999, 80000, 80001, 90000]  # fmt: skip


@pytest.mark.parametrize(
    ("amps", "duty"),
    [(5.9, None), (6, 10.0), (16, 26.7), (32, 53.3), (51, 85.0), (52, 84.8), (63, 89.2), (80, 96.0), (90, 96.0)],
)
def test_duty_for_offer(amps: float, duty: float | None) -> None:
    assert duty_for_offer(amps) == duty
    if duty is not None and amps <= 80:
        assert duty == round(current_to_duty(amps), 1)
    if duty is not None and amps <= 80 and duty != 84.8:  # 52 A -> 84.8 %, which an EV reads in the 0.6 A/% band
        assert duty_to_current(duty) == pytest.approx(amps, abs=0.26)


def test_the_sim_plant_uses_the_pilot_formula() -> None:
    assert plant.duty_to_current is duty_to_current
    assert plant.current_to_duty is duty_for_offer


def _reimplementations(tree: ast.AST) -> list[int]:
    """Lines multiplying or dividing by 0.6, or by 2.5 next to a 64: the Table A.8 slopes written out again."""
    lines = []
    for stmt in ast.walk(tree):
        if not isinstance(stmt, ast.stmt) or isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        numbers = {n.value for n in ast.walk(stmt) if isinstance(n, ast.Constant) and type(n.value) in (int, float)}
        for node in ast.walk(stmt):
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult | ast.Div):
                operands = {n.value for n in (node.left, node.right) if isinstance(n, ast.Constant)}
                if 0.6 in operands or (2.5 in operands and 64 in numbers):
                    lines.append(node.lineno)
    return sorted(set(lines))


def test_no_reimplementation_in_python() -> None:
    found = []
    for folder in ("rig", "suites", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == Path(pilot.__file__).resolve():
                continue
            lines = _reimplementations(ast.parse(path.read_text(encoding="utf-8")))
            found += [f"{path.relative_to(ROOT)}:{n}" for n in lines]
    assert not found, "use rig.ev_emulator.pilot (current_to_duty, duty_to_current, duty_for_offer): " + ", ".join(
        found
    )


def test_the_check_finds_a_reimplementation() -> None:
    assert _reimplementations(ast.parse("duty = round(amps / 0.6, 1)\nd = a / 2.5 + 64\nx = 2.5 * w")) == [1, 2]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.skipif(not (EVSE_DIR / "node_modules").is_dir(), reason="virtual_evse/node_modules missing (npm ci)")
def test_virtual_evse_duty_matches_python() -> None:
    script = (
        'import { dutyFromCurrent } from "./src/hardware-port.js";'
        f"console.log(JSON.stringify({json.dumps(CURRENTS_MA)}.map(dutyFromCurrent)));"
    )
    out = subprocess.run(
        ["node", "--input-type=module", "-e", script], cwd=EVSE_DIR, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    js = json.loads(out.stdout.strip().splitlines()[-1])
    python = [duty_for_offer(ma / 1000) for ma in CURRENTS_MA]
    assert dict(zip(CURRENTS_MA, js, strict=True)) == dict(zip(CURRENTS_MA, python, strict=True))
