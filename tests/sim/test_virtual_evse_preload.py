"""The virtual EVSE preloaded in the run's sandbox (rig.sim.virtual_evse.preload) and adopted at the first start.

A real virtual EVSE process on the loopback interface (no network namespace, no commissioning): the session's
process must adopt the preloaded one (same PID, its log in the run's log file, the normal priority), only
once and only when it was loaded with the same config; otherwise it is ended and the start is a cold one. Nothing is
left behind: the adopted process is stopped by ``stop()`` and reaped by whoever preloaded it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from rig.sim.virtual_evse import (
    EVSE_DIR,
    PRELOADED,
    VirtualEvse,
    VirtualEvseSettings,
    end_preloaded,
    preload,
)
from tests.support import wait_until

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not (EVSE_DIR / "node_modules" / "@matter" / "main").is_dir(),
    reason="the virtual EVSE needs node and its npm packages (make setup)",
)


def settings(tmp_path: Path) -> VirtualEvseSettings:
    dut = tmp_path / "dut"
    return VirtualEvseSettings(storage_path=dut / "storage", port=0, interface="lo", hardware_port=dut / "hw.sock")


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def test_the_first_start_adopts_the_preloaded_process(tmp_path: Path) -> None:
    s = settings(tmp_path)
    preloaded = preload(s, None)
    record = s.storage_path.parent / f"{PRELOADED}.json"
    evse = VirtualEvse(s, tmp_path / "run" / "evse.log", spare=False, preloaded=record)
    try:
        info = evse.start()
        assert info["event"] == "ready"
        assert evse.proc is not None and evse.proc.pid == preloaded.pid, "the preloaded process was told to start"
        assert not record.exists(), "a preloaded process is adopted once"
        wait_until(
            lambda: evse.log_path.read_text(errors="replace"),
            lambda log: f"spare pid {preloaded.pid} starting" in log and "Node vevse is online" in log,
            timeout_s=10,
            what="the adopted process's stderr in the run's log",
        )
        normal = os.getpriority(os.PRIO_PROCESS, 0)
        niceness = {os.getpriority(os.PRIO_PROCESS, int(t.name)) for t in Path(f"/proc/{preloaded.pid}/task").iterdir()}
        assert niceness == {normal}, f"the normal priority: {niceness}"
        assert s.hardware_port is not None and s.hardware_port.exists()
        evse.stop()
        assert not alive(preloaded.pid), "stop() ends the adopted process"
    finally:
        evse.stop()
        end_preloaded(preloaded)
    assert preloaded.returncode is not None, "reaped by whoever preloaded it"


def test_a_preloaded_process_with_another_config_is_ended_and_the_start_is_cold(tmp_path: Path) -> None:
    s = settings(tmp_path)
    preloaded = preload(s, None)
    s.log_level = "info"  # the run's config is not the one the process loaded
    evse = VirtualEvse(s, tmp_path / "evse.log", spare=False, preloaded=s.storage_path.parent / f"{PRELOADED}.json")
    try:
        evse.start()
        assert evse.proc is not None and evse.proc.pid != preloaded.pid
        preloaded.wait(timeout=10)  # told to end, not left waiting
    finally:
        evse.stop()
        end_preloaded(preloaded)


def test_a_dead_preloaded_process_means_a_cold_start(tmp_path: Path) -> None:
    s = settings(tmp_path)
    preloaded = preload(s, None)
    preloaded.kill()
    preloaded.wait(timeout=10)
    evse = VirtualEvse(s, tmp_path / "evse.log", spare=False, preloaded=s.storage_path.parent / f"{PRELOADED}.json")
    try:
        evse.start()
        assert evse.proc is not None and evse.proc.pid != preloaded.pid
    finally:
        evse.stop()
        end_preloaded(preloaded)
