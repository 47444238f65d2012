"""`rig firmware install` with the vendor's flashing command (`dut.firmware.method: command`) instead of Matter OTA,
end to end on `rig sim dut` (the virtual EVSE as a network DUT) with `rig sim flash`, the virtual bench's stand-in for
a vendor's USB flasher (it powers the EVSE off over `rig sim dut`'s control channel, writes the build into its storage,
optionally erases it, and powers it on).

1. v3 with a flasher that keeps the DUT's fabrics: exit 0, and the DUT's Basic Information reports 3 on a new CASE
   session (the rig's outcome), its storage holds build 3, the flasher's output is in the logs folder's flash.log;
2. back to v2 (a downgrade Matter OTA cannot do) with a flasher that erases the chip (`keeps_fabrics: false`): the rig
   commissions the factory-new DUT again and Basic Information reports 2;
3. a flasher that exits non-zero: exit 1, one error line naming the stage, the program, its exit code and its last
   output, no traceback; the DUT still runs v2; nothing of the install is left running.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import RIG, ROOT
from tests.e2e.test_network_dut import SimDut, running_sim_dut

pytestmark = pytest.mark.e2e

HANG_GUARD_S = 240.0  # only so a hang fails the test instead of blocking the suite; no time is judged


@pytest.fixture
def sim_dut(tmp_path: Path) -> Iterator[SimDut]:
    """`rig sim dut` in a network namespace of its own, factory-new, stopped (and its namespace gone) at the end."""
    with running_sim_dut(tmp_path, "rigflash") as dut:
        yield dut
    assert not (tmp_path / "dut" / "control.sock").exists(), "`rig sim dut` left its control socket"


def _image(tmp_path: Path, version: int) -> Path:
    out = tmp_path / f"evse-{version}.ota"
    cmd = [*RIG, "sim", "build-image", "--out", str(out), "--software-version", str(version)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def _config(tmp_path: Path, dut: SimDut, firmware: dict[str, Any], commissioning: str) -> Path:
    config = tmp_path / "lab.yaml"
    data = {
        "station": {"name": "flash-bench", "state_dir": str(tmp_path / "station")},
        "dut": {
            "kind": "network",
            "node_id": 0x3001,
            "passcode": dut.ready["passcode"],
            "discriminator": dut.ready["discriminator"],
            "attestation": "allow-test-paa",
            "commissioning": commissioning,
            "timeouts": {"commissioning": 40, "command": 10, "event": 10},
            "firmware": {"method": "command", "timeout": 60, **firmware},
        },
        "stimulus": "trigger",
        "report": {"dir": str(tmp_path / "reports")},
    }
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    return config


def _install(dut: SimDut, config: Path, image: Path, logs: Path) -> subprocess.CompletedProcess[str]:
    cmd = ["ip", "netns", "exec", dut.netns, *RIG, "firmware", "install", str(image), "--config", str(config)]
    cmd += ["--logs", str(logs), "--reboot-timeout", "60", "--json"]
    try:
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=HANG_GUARD_S, check=False)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"rig firmware install {image.name} hung: still running after {HANG_GUARD_S:g} s\n{exc.stderr!r}")


def _installed_build(dut: SimDut) -> int:
    """The build in the DUT's storage (what it boots), read from the storage, not from the rig's account."""
    build = json.loads((Path(dut.ready["state"]) / "storage" / "vevse-build.json").read_text(encoding="utf-8"))
    return int(build["softwareVersion"])


def _left_running(tmp_path: Path) -> list[str]:
    """Processes of an install (the flasher, the inner install) naming this test's folder."""
    found = []
    needle = str(tmp_path).encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        words = cmdline.split(b"\0")
        flasher = b"flash" in words and b"sim" in words
        install = b"rig.cli.inner" in words or (b"firmware" in words and b"install" in words)
        if needle in cmdline and (flasher or install):
            found.append(f"{proc.name}: {cmdline.replace(bytes(1), b' ').decode(errors='replace')[:200]}")
    return found


def test_a_vendor_flasher_installs_and_goes_back(sim_dut: SimDut, tmp_path: Path) -> None:
    flasher = [*RIG, "sim", "flash", "{image}", "--state", sim_dut.ready["state"]]

    # 1. v3, the flasher keeps the fabrics (the first session commissions the factory-new DUT)
    config = _config(tmp_path, sim_dut, {"command": flasher, "keeps_fabrics": True}, "on-network")
    proc = _install(sim_dut, config, _image(tmp_path, 3), tmp_path / "logs-3")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"install of v3: exit {proc.returncode}\n{output[-6000:]}"
    result = json.loads(proc.stdout)
    assert result["method"] == "command" and result["before"]["software_version"] == 1, result
    assert result["after"]["software_version"] == 3 and result["after"]["software_version_string"] == "3.0.0"
    assert "DUT answers on a new CASE session: 3 ('3.0.0')" in proc.stderr
    assert _installed_build(sim_dut) == 3
    flash_log = (tmp_path / "logs-3" / "flash.log").read_text(encoding="utf-8")
    assert "vevse-flash: build 3 ('3.0.0') written" in flash_log and "[rig] exit code 0" in flash_log, flash_log

    # 2. back to v2 (a downgrade), the flasher erases the chip: the rig commissions the DUT again
    erasing = {"command": [*flasher, "--erase"], "keeps_fabrics": False}
    config = _config(tmp_path, sim_dut, erasing, "already-commissioned")
    proc = _install(sim_dut, config, _image(tmp_path, 2), tmp_path / "logs-2")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"downgrade to v2: exit {proc.returncode}\n{output[-6000:]}"
    result = json.loads(proc.stdout)
    assert result["before"]["software_version"] == 3 and result["after"]["software_version"] == 2, result
    assert "a downgrade with the flashing command" in proc.stderr
    assert "commissioning it again" in proc.stderr and "DUT commissioned again" in proc.stderr
    assert _installed_build(sim_dut) == 2
    assert "vevse-flash: chip erased" in (tmp_path / "logs-2" / "flash.log").read_text(encoding="utf-8")

    # 3. a flasher that fails: exit 1, the program, its exit code and its last output named
    failing = [sys.executable, "-c", "import sys; print('vendor-flash: no target on /dev/ttyACM0'); sys.exit(3)"]
    config = _config(tmp_path, sim_dut, {"command": failing}, "already-commissioned")
    proc = _install(sim_dut, config, _image(tmp_path, 3), tmp_path / "logs-fail")
    assert proc.returncode == 1, f"a failing flasher: exit {proc.returncode}\n{(proc.stdout + proc.stderr)[-6000:]}"
    errors = [line for line in proc.stderr.splitlines() if line.startswith("rig: error:")]
    assert len(errors) == 1, proc.stderr[-3000:]
    error = errors[0]
    assert error.startswith(
        f"rig: error: flash: the flashing command {Path(sys.executable).name} exited with code 3: the DUT "
        "(node 0x3001), image evse-3.ota (SoftwareVersion 3, '3.0.0')"
    ), error
    assert "its last output: vendor-flash: no target on /dev/ttyACM0" in error, error
    assert "Traceback" not in proc.stderr
    assert _installed_build(sim_dut) == 2, "the failed flash changed the DUT's build"
    assert not _left_running(tmp_path), f"left running: {_left_running(tmp_path)}"
