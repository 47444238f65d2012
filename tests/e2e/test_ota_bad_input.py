"""`rig firmware install` with a bad build or a DUT that fails the update, end to end on the virtual bench.

Three firmware faults a real charger can have, one install attempt each (Matter Core specification, section 11.20):

* **rejects**: the image is for another board revision (`rig sim build-image --hardware-version 2`; the virtual EVSE is
  revision 1): the EVSE downloads it, refuses it (DownloadError, PlatformCode 5, then StateTransition Downloading ->
  Idle for a Failure) and the rig stops at once, at the download stage, naming what the DUT said;
* **never applies**: the running firmware has the defect `ota-never-applies` (it asks to apply the image, is told
  Proceed, and never reboots into it): the rig stops at its apply bound;
* **never comes back**: the build carries the defect `build-does-not-boot` (it crashes at start, so the EVSE never
  comes back on the network): the rig stops at its reboot bound, naming the version it awaited.

Each must exit 1 (`rig firmware install`: the install failed, the stage named) with one error line naming the stage,
the DUT and the image, no traceback; the bench ends in its safe state (AC off, EV emulator in state A, no relay or fault
path closed); no process or sandbox of the run is left (the OTA provider, the virtual EVSE); the provider left the
station's fabric (it resets itself when its last fabric goes); and the DUT holds the fabrics it held before (the
rig's own only), no access control entry naming the provider and, where it is still reachable, no DefaultOTAProviders
entry naming it (read from its kept storage, not from the rig's account). matter.js's requestor keeps a peer record
(the provider's address on the station's fabric) that no Matter command removes; it grants nothing and is not checked.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import RIG, ROOT, _leftovers_of
from tests.e2e.test_network_dut import READY_TIMEOUT_S, _await_ready
from tests.e2e.test_safe_state import _plant_states

pytestmark = pytest.mark.e2e

PROVIDER_NODE_ID = 0x0F7A0001  # rig.firmware.install.PROVIDER_NODE_ID
DUT = "the DUT (node 0x1001)"
HANG_GUARD_S = 400.0  # only so a hang fails the test instead of blocking the suite; no time is judged


@dataclass(frozen=True)
class Fault:
    image_args: tuple[str, ...]
    install_args: tuple[str, ...]
    stage: str
    says: tuple[str, ...]
    """Words the error line must hold besides the stage, the DUT and the image."""
    evse_says: str
    """What the virtual EVSE's log shows of the fault (the fault happened as designed, not something else)."""
    dut_reachable: bool


FAULTS = {
    "rejects": Fault(
        ("--hardware-version", "2"),
        (),
        "download",
        ("rejected", "after downloading it", "DownloadError(", "PlatformCode 5", "Downloading -> Idle, reason Failure"),
        '"event":"ota-refused"',
        True,
    ),
    "never-applies": Fault(
        (),
        ("--dut-defect", "ota-never-applies"),
        "apply",
        ("never rebooted into", "running SoftwareVersion 1 ('1.0.0')"),
        '"event":"ota-apply-stalled"',
        True,
    ),
    "never-comes-back": Fault(
        ("--defect", "build-does-not-boot"),
        (),
        "reboot",
        ("did not come back", "SoftwareVersion 2 awaited"),
        "crashed at start (defect build-does-not-boot)",
        False,
    ),
}


def _image(tmp_path: Path, name: str, *args: str) -> Path:
    out = tmp_path / f"{name}-2.ota"
    cmd = [*RIG, "sim", "build-image", "--out", str(out), "--software-version", "2", "--version-string", "2.0.0", *args]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, f"rig sim build-image {' '.join(args)}: exit {proc.returncode}\n{proc.stderr[-3000:]}"
    return out


def _storage_value(folder: Path, key: str) -> Any:
    """A value matter.js stored under ``key`` in a node's storage folder (one JSON file per key), or None."""
    path = folder / key
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _processes_naming(text: str) -> list[str]:
    """Processes whose command line or environment names ``text`` (this test's folder: the provider's and the EVSE's
    config paths are in theirs)."""
    found = []
    needle = text.encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            if needle in cmdline or needle in (proc / "environ").read_bytes():
                found.append(f"{proc.name}: {cmdline.replace(bytes(1), b' ').decode(errors='replace')[:200]}")
        except OSError:
            continue
    return found


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_failed_install_stops_named_safe_and_clean(tmp_path: Path, fault: str) -> None:
    f = FAULTS[fault]
    image = _image(tmp_path, fault, *f.image_args)
    logs, station = tmp_path / "logs", tmp_path / "station"
    cmd = [*RIG, "firmware", "install", str(image), "--logs", str(logs), *f.install_args]
    cmd += ["--set", "virtual_evse.keep_storage=true", "--set", f"station.state_dir={station}"]
    # the bounds a stop is awaited at (a refusal must beat the query and download bounds: it is reported at once)
    cmd += ["--query-timeout", "120", "--download-timeout", "120", "--apply-timeout", "8", "--reboot-timeout", "12"]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=HANG_GUARD_S, check=False)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"rig firmware install ({fault}) hung: still running after {HANG_GUARD_S:g} s\n{exc.stderr!r}")
    output = proc.stdout + proc.stderr

    # exit code and message
    assert proc.returncode == 1, f"{fault}: exit {proc.returncode}, expected 1 (the install failed)\n{output[-6000:]}"
    assert "Traceback" not in output, f"{fault}: a traceback\n{output[-6000:]}"
    errors = [line for line in output.splitlines() if line.startswith("rig: error: ")]
    assert len(errors) == 1, f"{fault}: expected one error line, got {errors}\n{output[-4000:]}"
    error = errors[0].removeprefix("rig: error: ")
    named_image = f"image {image.name} (SoftwareVersion 2, '2.0.0')"
    assert error.startswith(f"{f.stage}: {DUT} "), f"{fault}: the stage {f.stage!r} and the DUT not named: {error}"
    assert named_image in error, f"{fault}: the image not named ({named_image!r}): {error}"
    for words in f.says:
        assert words in error, f"{fault}: {words!r} not in the error: {error}"
    if fault == "rejects":  # reported as the DUT said it, not found by a bound running out
        assert "timed out" not in error, error

    # the fault happened as designed (the virtual EVSE's own account)
    evse_said = (logs / "virtual-evse.jsonl").read_text(encoding="utf-8") + (logs / "virtual-evse.log").read_text(
        encoding="utf-8"
    )
    assert f.evse_says in evse_said, f"{fault}: the virtual EVSE's log does not show {f.evse_says!r}"

    # the bench in its safe state
    states = _plant_states(logs / "virtual-bench" / "plant.jsonl")
    final = states[-1] if states else {}
    assert final.get("final") is True, f"{fault}: the virtual bench wrote no final state; last: {states[-1:]}"
    assert not final["ac_on"] and final["ac_v"] == 0, f"{fault}: AC output still on: {final}"
    assert not final["switches"], f"{fault}: relays / fault paths still closed: {final}"
    assert final["cp_state"] == "A" or final["cp_mode"] == "off", f"{fault}: EV not in state A: {final}"
    assert not final["contactor"] and not final["ev_current_a"], f"{fault}: still charging: {final}"

    # nothing of the run left: its sandbox, the OTA provider, the virtual EVSE
    config = (logs / "virtual-evse.config.json").read_text(encoding="utf-8")
    run_ids = set(re.findall(r"/run/rig/(\d{8}-\d{6}-[0-9a-f]{6})/", config))
    assert len(run_ids) == 1, f"{fault}: the run id not found in the EVSE's config: {run_ids}"
    (run_id,) = run_ids
    assert not _leftovers_of(run_id), f"{fault}: left behind by run {run_id}: {_leftovers_of(run_id)}"
    assert not _processes_naming(str(tmp_path)), f"{fault}: processes left: {_processes_naming(str(tmp_path))}"

    # the provider left the station's fabric: with its last fabric removed it reset itself (no fabric stored)
    provider = logs / "ota-provider" / "storage" / "ota-provider"
    assert provider.is_dir(), f"{fault}: no provider storage in {provider.parent}"
    kept = _storage_value(provider, "root.operationalCredentials.fabrics")
    assert not kept, f"{fault}: the OTA provider still holds a fabric: {kept}"

    # the DUT, read from its kept storage: the fabrics it had (the rig's own only), no provider as its default
    dut = station / "virtual-evse" / "storage" / "vevse"
    fabrics = _storage_value(dut, "root.operationalCredentials.fabrics")
    assert isinstance(fabrics, list) and [x.get("label") for x in fabrics] == ["rig:virtual-bench"], (
        f"{fault}: the DUT's fabric table is not the rig's fabric alone: {fabrics}"
    )
    acl = _storage_value(dut, "root.accessControl.acl")
    assert acl and str(PROVIDER_NODE_ID) not in json.dumps(acl), f"{fault}: the DUT's ACL names the provider: {acl}"
    if f.dut_reachable:
        defaults = _storage_value(dut, "root.otaSoftwareUpdateRequestor.defaultOtaProviders") or []
        assert str(PROVIDER_NODE_ID) not in json.dumps(defaults), f"{fault}: DefaultOTAProviders kept: {defaults}"
        assert "could not be checked" not in output, f"{fault}: the DUT's DefaultOTAProviders went unchecked"
        build = _storage_value(dut.parent, "vevse-build.json")
        assert build is None, f"{fault}: the DUT installed the build after all: {build}"
    else:  # the DUT installed the build, which does not boot
        build = _storage_value(dut.parent, "vevse-build.json")
        assert build and build["softwareVersion"] == 2 and build["defects"] == ["build-does-not-boot"], build


def test_a_build_that_does_not_boot_on_a_network_dut_leaves_rig_sim_dut_serving(tmp_path: Path) -> None:
    """The same build on `rig sim dut` (the virtual EVSE as a network DUT, the rig in its network namespace): the
    runner keeps its namespace and waits for SIGTERM (the charger stays on the bench, off the network) instead of
    ending and taking the rig awaiting the reboot with it; the rig stops at its reboot bound as on the virtual bench."""
    netns = f"rignet-{secrets.token_hex(3)}"
    cmd = [*RIG, "sim", "dut", "--netns", netns, "--state", str(tmp_path / "dut"), "--fresh"]
    server = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        ready = _await_ready(server, READY_TIMEOUT_S)
        config = tmp_path / "lab.yaml"
        dut = {"kind": "network", "node_id": 0x2001, "passcode": ready["passcode"]}
        dut |= {"discriminator": ready["discriminator"], "attestation": "allow-test-paa"}
        config.write_text(
            yaml.safe_dump({"station": {"name": "ota-net", "state_dir": str(tmp_path / "station")}, "dut": dut}),
            encoding="utf-8",
        )
        image = _image(tmp_path, "net", "--defect", "build-does-not-boot")
        cmd = ["ip", "netns", "exec", netns, *RIG, "firmware", "install", str(image), "--config", str(config)]
        cmd += ["--logs", str(tmp_path / "logs"), "--apply-timeout", "8", "--reboot-timeout", "12"]
        try:
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=HANG_GUARD_S, check=False)
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"rig firmware install on the network DUT hung: still running after {HANG_GUARD_S:g} s\n{exc}")
        output = proc.stdout + proc.stderr
        assert proc.returncode == 1, f"exit {proc.returncode}, expected 1\n{output[-6000:]}"
        errors = [line for line in output.splitlines() if line.startswith("rig: error: ")]
        assert len(errors) == 1 and errors[0].startswith(
            "rig: error: reboot: the DUT (node 0x2001) did not come back"
        ), errors or output[-4000:]
        assert f"image {image.name} (SoftwareVersion 2, '2.0.0')" in errors[0], errors[0]
        assert server.poll() is None, f"rig sim dut ended (exit {server.returncode}) when the build did not boot"
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            code = server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
            code = None
    said = server.stderr.read() if server.stderr else ""
    assert "did not come back after rebooting into its installed build" in said, said[-3000:]
    assert code == 0, f"rig sim dut: exit {code} on SIGTERM\n{said[-3000:]}"
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    assert netns not in listed, f"`rig sim dut` left its network namespace {netns}"
    assert not _processes_naming(str(tmp_path)), f"processes left: {_processes_naming(str(tmp_path))}"
