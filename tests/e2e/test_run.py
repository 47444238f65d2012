"""`rig run` end to end against the virtual EVSE over real Matter: pass, defects caught, bad input, Ctrl-C."""

from __future__ import annotations

import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

from rig.config import load_config
from rig.matter.onboarding import manual_pairing_code
from rig.redaction import secrets_of
from tests.e2e.conftest import RIG, ROOT, _rig_netns

pytestmark = pytest.mark.e2e


def test_conformant_virtual_evse_passes_2_2_and_2_4(rig_run) -> None:
    res = rig_run()
    assert res.code == 0, res.output[-4000:]
    cases = res.junit_cases()
    assert cases.get("TC-EEVSE-2.2") == "passed", cases
    assert cases.get("TC-EEVSE-2.4") == "passed", cases
    html = (res.run_dir / "report.html").read_text()
    assert "TC-EEVSE-2.2" in html or "test_tc_eevse_2_2" in html
    assert "Virtual EVSE" in html, "the report header shows the DUT identity read over Matter"
    latest = res.run_dir.parent / "latest"
    assert latest.is_symlink() and latest.resolve() == res.run_dir.resolve()
    # The setup passcode, the pairing codes and the trigger key appear nowhere in the run folder (its logs, the
    # virtual EVSE's and the CHIP stack's output included) or on the terminal, but in the virtual EVSE's own
    # configuration (its secret store, owner-only).
    secrets = secrets_of(load_config(ROOT / "rig.yaml"))
    leaks = [
        f"{path.relative_to(res.run_dir)}: {secret}"
        for path in sorted(res.run_dir.rglob("*"))
        if path.is_file() and path.name != "virtual-evse.config.json"
        for secret in secrets
        if secret in path.read_text(errors="replace")
    ]
    leaks += [f"rig run output: {secret}" for secret in secrets if secret in res.output]
    assert not leaks, f"secrets in the run's outputs: {leaks}"
    config = res.run_dir / "virtual-evse.config.json"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600, "the virtual EVSE configuration must be owner-only"


# defect → (case, the step at which the suite must catch it)
DEFECTS = {
    "session-id-not-incremented": ("TC-EEVSE-2.2", "14"),
    "no-energy-transfer-started-event": ("TC-EEVSE-2.2", "6"),
    "state-change-not-reported": ("TC-EEVSE-2.2", "4a"),
    "charging-enabled-until-ignored": ("TC-EEVSE-2.2", "7"),
    "fault-does-not-restore-supply-state": ("TC-EEVSE-2.4", "9b"),
    "extra-event-on-fault": ("TC-EEVSE-2.4", "8"),
}


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_defective_evse_fails_at_the_expected_step(rig_run, defect: str) -> None:
    case, step = DEFECTS[defect]
    res = rig_run("--dut-defect", defect, "--tc", case)
    assert res.code == 1, f"the suite must fail on the {defect} EVSE:\n{res.output[-4000:]}"
    result = res.results()[case]
    assert result["outcome"] == "failed", result
    assert result["failed_step"] == step, f"{defect}: failed at step {result['failed_step']}, expected {step}"
    assert f"step {step}:" in (res.run_dir / "report.html").read_text(), "the report names the failing step"


def test_unknown_defect_is_refused_before_anything_starts(rig_run) -> None:
    res = rig_run("--dut-defect", "no-such-defect")
    assert res.code == 2
    assert "no-such-defect" in res.output and "session-id-not-incremented" in res.output
    assert "Traceback" not in res.output
    assert res.run_dir is None


def test_malformed_rig_yaml_names_the_path(rig_run, tmp_path: Path) -> None:
    bad = tmp_path / "rig.yaml"
    bad.write_text("station: {}\ndut:\n  endpoint: one\n  colour: red\n")
    res = rig_run(config=bad)
    assert res.code == 2
    assert "dut.endpoint" in res.output and "dut.colour" in res.output
    assert "Traceback" not in res.output


def _manual_code(passcode: int, discriminator: int) -> str:
    return manual_pairing_code(passcode, discriminator)


def test_wrong_setup_code_fails_with_a_clear_message(rig_run) -> None:
    res = rig_run("--set", f"dut.setup_code={_manual_code(20202022, 3840)}")
    assert res.code != 0
    assert "commissioning" in res.output.lower(), res.output[-3000:]
    assert "Traceback" not in res.output


def test_unreachable_dut_gives_up_at_the_commissioning_timeout(rig_run) -> None:
    # The virtual EVSE answers with discriminator 3840; nothing answers to 1234, so discovery must give up at
    # dut.timeouts.commissioning and say so (naming the node it did see). The run's own timeout bounds a hang.
    res = rig_run("--set", "dut.setup_code=" + _manual_code(20202021, 1234))
    assert res.code != 0
    assert "no commissionable DUT" in res.output, res.output[-3000:]
    assert "Traceback" not in res.output
    assert "within 30 s" in res.output, "the search is bounded by dut.timeouts.commissioning (30 s)"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_leaves_nothing_behind(tmp_path: Path, sig: signal.Signals) -> None:
    proc = subprocess.Popen(
        [*RIG, "run", "--set", f"report.dir={tmp_path}"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    # Wait until the run is in the middle of a case: the virtual EVSE is up and a test is running.
    deadline = time.monotonic() + 60
    log = None
    while time.monotonic() < deadline:
        logs = list(tmp_path.glob("2*/virtual-evse.log"))
        if logs and (logs[0].parent / "dut.json").exists():
            log = logs[0]
            break
        time.sleep(0.05)
    assert log is not None, "the run did not reach its first case within 60 s"
    assert f"rig-{log.parent.name}" in _rig_netns(), "the run's network namespace exists while it runs"
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0, out[-3000:]
    # nothing_left_behind (autouse) checks namespaces, processes, state and mounts.


def test_two_runs_at_the_same_time_do_not_collide(tmp_path: Path) -> None:
    procs = [
        subprocess.Popen(
            [*RIG, "run", "--set", f"report.dir={tmp_path / str(i)}"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    outs = [p.communicate(timeout=240)[0] for p in procs]
    for p, out in zip(procs, outs, strict=True):
        assert p.returncode == 0, out[-3000:]
    runs = [next((tmp_path / str(i)).glob("2*/junit.xml")) for i in range(2)]
    assert runs[0].parent.name != runs[1].parent.name
