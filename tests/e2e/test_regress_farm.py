"""`rig regress` on the labgrid bench farm, on loopback: two `rig sim export` benches as places, builds through OTA.

Three virtual EVSE builds (v2 clean, v3 with the defect ``state-change-not-reported``, which breaks TC-EEVSE-2.2 at
step 4a, v4 clean again; every exported bench starts at v1, factory-new) regressed twice on the same farm:

1. in turn on one place: the loop holds one place from the first install to the end (every build's run names that
   place), finds exactly the regression (v3) and the fix (v4), exits 1, gives the place back and closes its lease;
2. ``--spread``: v2 and v3 at once on the two places, v4 on whichever is free next (each place reset factory-new on
   release, so each build is installed on v1); the one report still finds exactly the regression and the fix, and
   the builds ran on both places.

Every run lands in the lab's PostgreSQL under its build and place; no place stays acquired, no reservation stays.
Then `rig firmware install` on a place named in rig.yaml holds it for the install and gives it back; a build that
does not boot stops that install at its reboot stage, and the place, given back and reset, passes the next run.
The farm's rig.yaml asks for strict attestation: the DUTs' PAA only (the rig's OTA provider attests with the
station's own chain, which only install sessions trust).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import RIG, ROOT
from tests.e2e.test_farm import Farm, coordinator, farm, postgres  # noqa: F401  (fixtures)
from tests.e2e.test_regress import DEFECT, _image

pytestmark = pytest.mark.e2e

CASES = ("TC-EEVSE-2.1", "TC-EEVSE-2.2")
REGRESS_TIMEOUT_S = 900.0


def _regress(lab: Farm, images: list[Path], *extra: str) -> tuple[int, str, dict[str, Any]]:
    cmd = [*RIG, "regress", *map(str, images), "--config", str(lab.tmp / "lab.yaml"), *extra]
    for tc in CASES:
        cmd += ["--tc", tc]
    cmd += ["--query-timeout", "60", "--download-timeout", "60", "--reboot-timeout", "60"]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=REGRESS_TIMEOUT_S, check=False)
    output = proc.stdout + proc.stderr
    print(f"rig regress {' '.join(extra)}: exit {proc.returncode} in {time.monotonic() - t0:.0f} s")
    print(proc.stdout)
    folders = sorted(lab.reports.glob("regress-*"), key=lambda p: p.stat().st_mtime)
    assert folders, output[-6000:]
    report = json.loads((folders[-1] / "regress.json").read_text(encoding="utf-8"))
    return proc.returncode, output, report


def _check_verdict(code: int, output: str, report: dict[str, Any]) -> None:
    builds = report["builds"]
    assert code == 1, output[-6000:] + "\n" + json.dumps(report, indent=1)[-6000:]
    assert [b["software_version"] for b in builds] == [2, 3, 4]
    assert [b["status"] for b in builds] == ["tested"] * 3, output[-6000:]
    # a network DUT's build is the version string it reports (the rig knows no defects of a DUT it did not start)
    assert [b["build"] for b in builds] == ["2.0.0", "3.0.0", "4.0.0"]
    assert report["regressions"] == [{"case": "TC-EEVSE-2.2", "build": 1, "previous": 0}], output[-4000:]
    assert report["fixes"] == [{"case": "TC-EEVSE-2.2", "build": 2, "previous": 1}]
    rows = {row["id"]: [c["outcome"] for c in row["cells"]] for row in report["cases"]}
    assert rows == {"TC-EEVSE-2.1": ["passed"] * 3, "TC-EEVSE-2.2": ["passed", "failed", "passed"]}


def _check_farm_after(lab: Farm, builds: list[dict[str, Any]], places: set[str]) -> None:
    """Every build's run in PostgreSQL under its build and place; no place acquired and no reservation left."""
    run_places = {}
    for b in builds:
        record = json.loads((lab.reports / b["run"]["run_id"] / "report.json").read_text(encoding="utf-8"))
        assert record["build"] == b["build"], record["build"]
        run_places[b["run"]["run_id"]] = record["farm"]["place"]
        assert b.get("place") == record["farm"]["place"], (b, record["farm"])
    assert set(run_places.values()) == places, run_places
    rows = {r["run_id"]: r for r in lab._rows("SELECT run_id, build, bench FROM runs")}
    for b in builds:
        row = rows.get(b["run"]["run_id"])
        assert row is not None and row["build"] == b["build"], (b["run"], sorted(rows))
    state = lab.places()
    assert all(p["acquired"] is None for p in state["places"].values()), state
    assert state["reservations"] == {}, state
    open_leases = {k: v for k, v in lab.leases().items() if v.get("ended") is None}
    assert open_leases == {}, open_leases


def test_regress_on_one_place_then_spread_over_two(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    lab: Farm = request.getfixturevalue("farm")  # tests/e2e/test_farm.py's: a coordinator, PostgreSQL, benches
    images = [_image(tmp_path, 2), _image(tmp_path, 3, DEFECT), _image(tmp_path, 4)]
    first, second = lab.export(), lab.export()
    lab.sync()
    lab.config()

    code, output, report = _regress(lab, images)
    _check_verdict(code, output, report)
    places = {b.get("place") for b in report["builds"]}
    assert len(places) == 1 and places <= {first.name, second.name}, report["builds"]
    assert f"on place {places.copy().pop()}" in output, output[-3000:]
    _check_farm_after(lab, report["builds"], places)

    code, output, report = _regress(lab, images, "--spread")
    _check_verdict(code, output, report)
    assert report["spread"] is True
    _check_farm_after(lab, report["builds"], {first.name, second.name})

    # `rig firmware install` on a place named: held for the install, given back (its bench then reset factory-new)
    cmd = [*RIG, "firmware", "install", str(images[0]), "--config", str(lab.tmp / "lab.yaml"), "--json"]
    cmd += ["--set", f"farm.place={second.name}", "--set", "farm.tags={}"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=REGRESS_TIMEOUT_S, check=False)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
    assert f"installing on place {second.name}" in proc.stderr, proc.stderr[-3000:]
    outcome = json.loads(proc.stdout)
    assert outcome["after"]["software_version"] == 2, outcome
    state = lab.places()
    assert all(p["acquired"] is None for p in state["places"].values()) and state["reservations"] == {}, state

    # a build that does not boot, on that place: the install stops at the reboot stage naming the DUT and the image,
    # the place is given back, the bench keeps serving (its EVSE silent until the release) and is reset: a run passes
    dead = _image(tmp_path, 5, "build-does-not-boot")
    cmd = [*RIG, "firmware", "install", str(dead), "--config", str(lab.tmp / "lab.yaml")]
    cmd += ["--set", f"farm.place={second.name}", "--set", "farm.tags={}", "--apply-timeout", "8"]
    cmd += ["--reboot-timeout", "12"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=REGRESS_TIMEOUT_S, check=False)
    message = proc.stderr[-3000:]
    assert proc.returncode == 1, message
    assert "rig: error: reboot:" in message and dead.name in message and "Traceback" not in message, message
    assert second.proc.poll() is None, "rig sim export keeps serving"
    assert "did not come back after rebooting into its installed build" in second.log.read_text(), "said so"
    state = lab.places()
    assert all(p["acquired"] is None for p in state["places"].values()) and state["reservations"] == {}, state
    run = subprocess.run([*RIG, "run", "--config", str(lab.tmp / "lab.yaml"), "--tc", "TC-EEVSE-2.1",
                          "--set", f"farm.place={second.name}", "--set", "farm.tags={}"],
                         cwd=ROOT, capture_output=True, text=True, timeout=REGRESS_TIMEOUT_S, check=False)  # fmt: skip
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
