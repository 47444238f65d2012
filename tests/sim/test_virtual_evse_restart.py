"""The virtual EVSE's power cycle with a pre-started spare process (rig.sim.virtual_evse, VEVSE_WAIT_FOR_START).

A real virtual EVSE process (no Matter commissioning); its state is read and its pilot driven over the hardware
port. restart() must give a new process (another PID) that read its non-volatile state from storage and reset the
volatile state, the spare must hold nothing (storage, sockets) before it is told to start, and stop() must leave
no process behind, the spare included.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rig.errors import DutError
from rig.sim.virtual_evse import EVSE_DIR, MAIN_JS, SPARE_NICE, VirtualEvse, VirtualEvseSettings, spare_supported
from tests.support import wait_until

MATTER_PORT = 0  # the system picks the EVSE's Matter port when it binds it (nothing commissions it here)

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not (EVSE_DIR / "node_modules" / "@matter" / "main").is_dir(),
    reason="the virtual EVSE needs node and its npm packages (make setup)",
)
needs_spare = pytest.mark.skipif(spare_supported() is not None, reason=f"no spare here: {spare_supported()}")


def hw(path: Path, *requests: dict[str, Any]) -> list[dict[str, Any]]:
    """Send hardware-port requests on one connection; return the replies (output pushes skipped)."""
    replies = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(str(path))
        f = s.makefile("rwb")
        for req in requests:
            f.write(json.dumps(req).encode() + b"\n")
            f.flush()
            while True:
                msg = json.loads(f.readline())
                if msg.get("event") != "outputs":
                    break
            assert msg.get("ok"), f"{req} -> {msg}"
            replies.append(msg)
    return replies


def state(evse: VirtualEvse) -> dict[str, Any]:
    assert evse.settings.hardware_port is not None
    return dict(hw(evse.settings.hardware_port, {"op": "get"})[0]["state"])


def alive(pid: int) -> bool:
    """The PID exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def wait_log(evse: VirtualEvse, text: str, timeout_s: float = 20.0) -> None:
    wait_until(
        lambda: evse.log_path.read_text(errors="replace"),
        lambda log: text in log,
        timeout_s=timeout_s,
        what=f"{text!r} in the virtual EVSE's log",
    )


@pytest.fixture
def evse(tmp_path: Path) -> Iterator[VirtualEvse]:
    storage = tmp_path / "storage"
    storage.mkdir()
    # ChargingEnabledUntil null and an EnableCharging maximum: the EVSE boots ChargingEnabled (non-volatile)
    (storage / "vevse-state.json").write_text(
        json.dumps({"chargingEnabledUntil": None, "commandMaxCharge": 32000, "sessionId": 6})
    )
    settings = VirtualEvseSettings(
        storage_path=storage, port=MATTER_PORT, interface="lo", hardware_port=tmp_path / "hw.sock"
    )
    v = VirtualEvse(settings, tmp_path / "evse.log")
    v.start(fresh=False)
    try:
        yield v
    finally:
        v.stop()


@needs_spare
def test_restart_is_a_new_process_on_the_storage(evse: VirtualEvse) -> None:
    assert evse.proc is not None and evse.spare is not None and evse.settings.hardware_port is not None
    old_pid, spare_pid = evse.proc.pid, evse.spare.pid
    hw(
        evse.settings.hardware_port,
        {"op": "attach"},
        {"op": "inputs", "cp_high_v": 12, "cp_low_v": None},
        {"op": "inputs", "cp_high_v": 9},
    )  # EV plugged in: SessionID 7 (stored), State PluggedInNoDemand
    before = state(evse)
    assert (before["SessionID"], before["State"], before["SupplyState"]) == (7, 1, 1)
    wait_log(evse, f"vevse: spare pid {spare_pid} loaded")  # a restart before that would wait for the loading
    # the loaded spare holds nothing yet: no socket (Matter port, hardware port), no storage file, not the lock
    storage = evse.settings.storage_path.resolve()
    fds = [os.readlink(p) for p in Path(f"/proc/{spare_pid}/fd").iterdir()]
    assert not [f for f in fds if f.startswith("socket:")], f"the spare has sockets: {fds}"
    assert not [f for f in fds if f.startswith(str(storage))], f"the spare has storage files open: {fds}"
    owners = [p.read_text().split()[0] for p in storage.rglob("matter.pid")]
    assert owners == [str(old_pid)], "the storage lock belongs to the running process"
    assert {os.getpriority(os.PRIO_PROCESS, int(t.name)) for t in Path(f"/proc/{spare_pid}/task").iterdir()} == {
        min(19, os.getpriority(os.PRIO_PROCESS, 0) + SPARE_NICE)
    }, "the spare loads at the lowest priority"

    evse.restart()

    assert evse.proc is not None and evse.proc.pid == spare_pid != old_pid, "the spare took over"
    assert not alive(old_pid)
    assert evse.spare is not None and evse.spare.pid not in (old_pid, spare_pid), "a new spare after the restart"
    after = state(evse)
    assert after["SessionID"] == 7, "non-volatile: from the storage the old process wrote"
    assert (after["State"], after["SupplyState"], after["FaultState"]) == (0, 1, 0), "volatile: reset at boot"
    assert after["hwState"] == "NotPluggedIn"
    niceness = {
        int(t.name): os.getpriority(os.PRIO_PROCESS, int(t.name)) for t in Path(f"/proc/{spare_pid}/task").iterdir()
    }
    assert set(niceness.values()) == {os.getpriority(os.PRIO_PROCESS, 0)}, f"priority not restored: {niceness}"
    # how long a restart takes with and without a spare: benchmarks/bench_evse_timing.py

    pids = (evse.proc.pid, evse.spare.pid)
    evse.stop()
    assert evse.proc is None and evse.spare is None
    assert not any(alive(p) for p in pids), "stop() leaves no process behind, the spare included"
    assert not evse.settings.hardware_port.exists()


@needs_spare
def test_dead_or_outdated_spare_means_a_cold_start(evse: VirtualEvse) -> None:
    assert evse.spare is not None
    dead = evse.spare.pid
    evse.spare.kill()
    evse.spare.wait()
    evse.restart()
    assert evse.proc is not None and evse.proc.pid != dead and state(evse)["SessionID"] == 6
    assert evse.spare is not None
    outdated = evse.spare.pid
    evse.settings.log_level = "info"  # the spare loaded the old config
    evse.restart()
    assert evse.proc.pid != outdated and not alive(outdated)
    assert "Node vevse is online" in evse.log_path.read_text(errors="replace")


class _PortTakenDuringPowerCycle(VirtualEvse):
    """While the power is off, something takes the hardware-port path (a directory the EVSE cannot replace)."""

    def _stop_running(self, timeout_s: float) -> int | None:
        code = super()._stop_running(timeout_s)
        assert self.settings.hardware_port is not None
        self.settings.hardware_port.mkdir(exist_ok=True)
        return code


@needs_spare
def test_spare_that_fails_to_start_says_why(tmp_path: Path) -> None:
    settings = VirtualEvseSettings(
        storage_path=tmp_path / "storage",
        port=MATTER_PORT,
        interface="lo",
        hardware_port=tmp_path / "hw.sock",
    )
    evse = _PortTakenDuringPowerCycle(settings, tmp_path / "evse.log")
    try:
        evse.start()
        assert evse.spare is not None
        spare_pid = evse.spare.pid
        with pytest.raises(DutError, match=r"(?s)exited with code 1 before it was ready: .*startup failed: .*hw\.sock"):
            evse.restart()
        assert evse.proc is not None and evse.proc.pid == spare_pid, "the spare was told to start"
        assert evse.spare is None, "no new spare after a failed start"
    finally:
        evse.stop()
    assert not alive(spare_pid)


def test_without_spare_restart_is_a_cold_start(tmp_path: Path) -> None:
    settings = VirtualEvseSettings(
        storage_path=tmp_path / "storage",
        port=MATTER_PORT,
        interface="lo",
        hardware_port=tmp_path / "hw.sock",
    )
    evse = VirtualEvse(settings, tmp_path / "evse.log", spare=False)
    try:
        evse.start()
        assert evse.proc is not None and evse.spare is None
        old = evse.proc.pid
        evse.restart()
        assert evse.proc is not None and evse.proc.pid != old and evse.spare is None
    finally:
        evse.stop()
    assert "spare pid" not in evse.log_path.read_text(errors="replace")


@pytest.mark.parametrize(("stdin", "code"), [(b"", 0), (b"go\n", 2)])
def test_waiting_process_without_start_touches_nothing(tmp_path: Path, stdin: bytes, code: int) -> None:
    """main.js in VEVSE_WAIT_FOR_START mode: end of input exits 0, another line exits 2; no storage, no socket."""
    config = tmp_path / "config.json"
    storage, sock = tmp_path / "storage", tmp_path / "hw.sock"
    config.write_text(json.dumps({"storagePath": str(storage), "hardwarePort": str(sock), "port": 5999}))
    env = dict(os.environ, VEVSE_CONFIG=str(config), VEVSE_WAIT_FOR_START="1")
    proc = subprocess.run(["node", str(MAIN_JS)], input=stdin, capture_output=True, env=env, timeout=60, check=False)
    assert proc.returncode == code, proc.stderr.decode(errors="replace")[-2000:]
    assert b"loaded, waiting for" in proc.stderr
    assert proc.stdout == b"", "no ready line"
    assert not storage.exists() and not sock.exists()


@needs_spare
def test_power_off_kills_where_it_is_and_power_on_boots_from_the_storage(evse: VirtualEvse) -> None:
    """A loss of supply: no orderly shutdown (no goodbye, the storage lock left behind); its return: the spare boots
    on the storage the killed process left, lock and socket file included."""
    assert evse.proc is not None and evse.spare is not None and evse.settings.hardware_port is not None
    old_pid, spare_pid = evse.proc.pid, evse.spare.pid
    hw(evse.settings.hardware_port, {"op": "attach"}, {"op": "inputs", "cp_high_v": 9})  # plugged in: SessionID 7
    assert state(evse)["SessionID"] == 7

    code = evse.power_off()

    assert code == -9, f"killed by SIGKILL, not shut down: exit code {code}"
    assert evse.proc is None and not alive(old_pid)
    outputs = evse.log_path.with_suffix(".jsonl").read_text()
    assert '"shutdown"' not in outputs, "a power loss says no goodbye"
    assert [p.read_text().split()[0] for p in evse.settings.storage_path.rglob("matter.pid")] == [str(old_pid)]
    assert evse.spare is not None and evse.spare.pid == spare_pid, "the spare stays loaded while the power is off"

    evse.power_on()
    evse.wait_ready()

    assert evse.proc is not None and evse.proc.pid == spare_pid
    assert evse.ready_at is not None
    after = state(evse)
    assert after["SessionID"] == 7, "non-volatile: from the storage the killed process wrote"
    assert (after["State"], after["hwState"]) == (0, "NotPluggedIn"), "volatile: reset at boot"
